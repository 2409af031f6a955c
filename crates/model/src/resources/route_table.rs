//! Route tables and user-defined routes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{ProvisioningState, Tags};
use crate::id::ResourceId;
use crate::location::Location;
use crate::prefix::Prefix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: RouteTableProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    /// "Propagate gateway routes" off: subnets using the table get no VirtualNetworkGateway routes.
    pub disable_bgp_route_propagation: bool,
}

arm_enum!(
    /// `nextHopType` of a user-defined route.
    RouteNextHopType {
        VirtualNetworkGateway => "VirtualNetworkGateway",
        VnetLocal => "VnetLocal",
        Internet => "Internet",
        VirtualAppliance => "VirtualAppliance",
        VirtualApplianceEcmp => "VirtualApplianceEcmp",
        None => "None",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub id: ResourceId,
    pub name: String,
    pub properties: RouteProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteProperties {
    pub provisioning_state: ProvisioningState,
    pub address_prefix: RoutePrefix,
    pub next_hop_type: RouteNextHopType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_ip_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<NextHop>,
    #[serde(default)]
    pub has_bgp_override: bool,
}

/// `nextHop` of a `VirtualApplianceEcmp` route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextHop {
    pub next_hop_ip_addresses: Vec<IpAddr>,
}

/// The destination of a route: a prefix, or a service tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoutePrefix {
    Prefix(Prefix),
    ServiceTag(String),
}

impl fmt::Display for RoutePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutePrefix::Prefix(p) => write!(f, "{p}"),
            RoutePrefix::ServiceTag(t) => f.write_str(t),
        }
    }
}

impl FromStr for RoutePrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('/') || s.parse::<IpAddr>().is_ok() {
            return Prefix::parse(s).map(RoutePrefix::Prefix).map_err(|e| e.to_string());
        }
        let mut chars = s.chars();
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            return Ok(RoutePrefix::ServiceTag(s.to_owned()));
        }
        Err(format!("'{s}' is not an address prefix in CIDR notation or a service tag"))
    }
}

impl Serialize for RoutePrefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RoutePrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
