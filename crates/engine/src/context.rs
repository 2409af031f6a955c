//! What an operation needs from outside the engine: the time, fresh ids and the lab's settings.
//! Time and ids are inputs so that the engine stays a pure function of its arguments.

use std::time::{Duration, SystemTime};

use uuid::Uuid;
use vnetlab_model::Prefix;

/// Where fresh guids come from (resource guids, etags, operation ids, MAC addresses).
pub trait IdSource {
    fn next_guid(&mut self) -> Uuid;
}

/// Deterministic guids: 00000000-0000-4000-8000-<counter>. For tests and replays.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    next: u64,
}

impl SequentialIds {
    pub fn starting_at(next: u64) -> SequentialIds {
        SequentialIds { next }
    }
}

impl IdSource for SequentialIds {
    fn next_guid(&mut self) -> Uuid {
        self.next += 1;
        Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(self.next))
    }
}

/// When a write completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provisioning {
    /// Every write is `Succeeded` when it returns.
    #[default]
    Immediate,
    /// Writes leave the resources they lock `Updating` until [`crate::Operation::CompleteOperation`]
    /// runs, as a long-running operation does in Azure (a gateway takes 45 minutes there).
    Deferred,
}

/// Limits and behaviour a lab may tune. The defaults are Azure's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Peerings per VNet (Azure: 500).
    pub max_peerings_per_vnet: usize,
    /// Peerings per VNet when a hub-and-spoke connectivity configuration manages them (Azure: 1,000).
    pub max_peerings_per_vnet_connectivity: usize,
    /// Subnets named by one subnet peering, both sides together (Azure: 200).
    pub max_subnets_per_subnet_peering: usize,
    pub provisioning: Provisioning,
    /// Where public IP addresses come from. The default, 198.18.0.0/15 (RFC 2544, benchmarking), is
    /// never routed on the internet, so nothing vnetlab builds can send traffic off this machine.
    pub public_ip_pool_v4: Prefix,
    /// IPv6 public addresses: 2001:db8::/32 (RFC 3849, documentation), likewise never routed.
    pub public_ip_pool_v6: Prefix,
    /// The host named in operation-status URIs inside error messages.
    pub management_endpoint: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_peerings_per_vnet: 500,
            max_peerings_per_vnet_connectivity: 1000,
            max_subnets_per_subnet_peering: 200,
            provisioning: Provisioning::Immediate,
            public_ip_pool_v4: Prefix::parse("198.18.0.0/15").expect("constant prefix"),
            public_ip_pool_v6: Prefix::parse("2001:db8::/32").expect("constant prefix"),
            management_endpoint: "https://management.azure.com".to_owned(),
        }
    }
}

/// The inputs of one operation besides the state.
pub struct Context<'a> {
    pub now: SystemTime,
    pub ids: &'a mut dyn IdSource,
    pub settings: &'a Settings,
    /// The api-version the client sent, when it came through the REST API.
    pub api_version: Option<String>,
    /// What made the request (a topology file, say): recorded on the resources it creates.
    pub origin: Option<String>,
}

impl<'a> Context<'a> {
    pub fn new(ids: &'a mut dyn IdSource, settings: &'a Settings) -> Context<'a> {
        Context {
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            ids,
            settings,
            api_version: None,
            origin: None,
        }
    }

    pub fn at(mut self, now: SystemTime) -> Context<'a> {
        self.now = now;
        self
    }

    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Context<'a> {
        self.api_version = Some(api_version.into());
        self
    }

    pub fn guid(&mut self) -> Uuid {
        self.ids.next_guid()
    }

    /// A fresh ARM etag, `W/"<guid>"`.
    pub fn etag(&mut self) -> String {
        format!("W/\"{}\"", self.guid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_distinct_and_stable() {
        let mut ids = SequentialIds::default();
        let a = ids.next_guid();
        let b = ids.next_guid();
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "00000000-0000-4000-8000-000000000001");
    }
}
