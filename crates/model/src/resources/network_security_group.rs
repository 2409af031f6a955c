//! Network security groups and their rules, with the six default rules every NSG carries.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{ProvisioningState, SubResource, Tags};
use crate::id::ResourceId;
use crate::location::Location;
use crate::prefix::Prefix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroup {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: NetworkSecurityGroupProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroupProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    #[serde(default)]
    pub flush_connection: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRule {
    pub id: ResourceId,
    pub name: String,
    pub properties: SecurityRuleProperties,
}

arm_enum!(
    /// `protocol` of a security rule; `*` means any.
    SecurityRuleProtocol {
        Tcp => "Tcp",
        Udp => "Udp",
        Icmp => "Icmp",
        Esp => "Esp",
        Ah => "Ah",
        Any => "*",
    }
);

arm_enum!(
    /// `access` of a security rule.
    SecurityRuleAccess {
        Allow => "Allow",
        Deny => "Deny",
    }
);

arm_enum!(
    /// `direction` of a security rule.
    SecurityRuleDirection {
        Inbound => "Inbound",
        Outbound => "Outbound",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRuleProperties {
    pub provisioning_state: ProvisioningState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub protocol: SecurityRuleProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port_range: Option<PortRange>,
    #[serde(default)]
    pub source_port_ranges: Vec<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port_range: Option<PortRange>,
    #[serde(default)]
    pub destination_port_ranges: Vec<PortRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address_prefix: Option<AddressMatch>,
    #[serde(default)]
    pub source_address_prefixes: Vec<AddressMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address_prefix: Option<AddressMatch>,
    #[serde(default)]
    pub destination_address_prefixes: Vec<AddressMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_application_security_groups: Vec<SubResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_application_security_groups: Vec<SubResource>,
    pub access: SecurityRuleAccess,
    pub priority: u32,
    pub direction: SecurityRuleDirection,
}

impl SecurityRuleProperties {
    /// Source ports, whichever property holds them.
    pub fn source_ports(&self) -> Vec<PortRange> {
        one_or_many(&self.source_port_range, &self.source_port_ranges)
    }

    pub fn destination_ports(&self) -> Vec<PortRange> {
        one_or_many(&self.destination_port_range, &self.destination_port_ranges)
    }

    pub fn source_addresses(&self) -> Vec<AddressMatch> {
        one_or_many(&self.source_address_prefix, &self.source_address_prefixes)
    }

    pub fn destination_addresses(&self) -> Vec<AddressMatch> {
        one_or_many(&self.destination_address_prefix, &self.destination_address_prefixes)
    }
}

fn one_or_many<T: Clone>(one: &Option<T>, many: &[T]) -> Vec<T> {
    match one {
        Some(x) => vec![x.clone()],
        None => many.to_vec(),
    }
}

/// A port or port range of a security rule: `*`, `80` or `1000-2000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRange {
    Any,
    Range { low: u16, high: u16 },
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        match self {
            PortRange::Any => true,
            PortRange::Range { low, high } => (*low..=*high).contains(&port),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRange::Any => f.write_str("*"),
            PortRange::Range { low, high } if low == high => write!(f, "{low}"),
            PortRange::Range { low, high } => write!(f, "{low}-{high}"),
        }
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(PortRange::Any);
        }
        let bad = || format!("'{s}' is not a port or port range: use *, a port (0-65535) or a range such as 1000-2000");
        let port = |p: &str| p.trim().parse::<u16>().map_err(|_| bad());
        match s.split_once('-') {
            None => {
                let p = port(s)?;
                Ok(PortRange::Range { low: p, high: p })
            }
            Some((a, b)) => {
                let (low, high) = (port(a)?, port(b)?);
                if low > high {
                    return Err(bad());
                }
                Ok(PortRange::Range { low, high })
            }
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A source or destination of a security rule: `*`, a prefix, an address or a service tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressMatch {
    Any,
    Prefix(Prefix),
    Address(IpAddr),
    ServiceTag(String),
}

/// Service tags every NSG understands without a region suffix.
pub const VIRTUAL_NETWORK_TAG: &str = "VirtualNetwork";
pub const INTERNET_TAG: &str = "Internet";
pub const AZURE_LOAD_BALANCER_TAG: &str = "AzureLoadBalancer";

impl fmt::Display for AddressMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressMatch::Any => f.write_str("*"),
            AddressMatch::Prefix(p) => write!(f, "{p}"),
            AddressMatch::Address(a) => write!(f, "{a}"),
            AddressMatch::ServiceTag(t) => f.write_str(t),
        }
    }
}

impl FromStr for AddressMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(AddressMatch::Any);
        }
        if s.contains('/') {
            return Prefix::parse(s).map(AddressMatch::Prefix).map_err(|e| e.to_string());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AddressMatch::Address(ip));
        }
        let mut chars = s.chars();
        let tag_like = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
        if tag_like {
            return Ok(AddressMatch::ServiceTag(s.to_owned()));
        }
        Err(format!("'{s}' is not an address prefix, an IP address, a service tag or *"))
    }
}

impl Serialize for AddressMatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddressMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The six rules Azure puts in every NSG. They cannot be deleted, only overridden by rules with
/// lower priority numbers.
pub fn default_security_rules(nsg: &ResourceId) -> Vec<SecurityRule> {
    use SecurityRuleAccess::{Allow, Deny};
    use SecurityRuleDirection::{Inbound, Outbound};
    let tag = |t: &str| AddressMatch::ServiceTag(t.to_owned());
    let rows = [
        (
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            tag(VIRTUAL_NETWORK_TAG),
            tag(VIRTUAL_NETWORK_TAG),
            Allow,
            65000,
            Inbound,
        ),
        (
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            tag(AZURE_LOAD_BALANCER_TAG),
            AddressMatch::Any,
            Allow,
            65001,
            Inbound,
        ),
        ("DenyAllInBound", "Deny all inbound traffic", AddressMatch::Any, AddressMatch::Any, Deny, 65500, Inbound),
        (
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            tag(VIRTUAL_NETWORK_TAG),
            tag(VIRTUAL_NETWORK_TAG),
            Allow,
            65000,
            Outbound,
        ),
        (
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            AddressMatch::Any,
            tag(INTERNET_TAG),
            Allow,
            65001,
            Outbound,
        ),
        ("DenyAllOutBound", "Deny all outbound traffic", AddressMatch::Any, AddressMatch::Any, Deny, 65500, Outbound),
    ];
    rows.into_iter()
        .filter_map(|(name, description, source, destination, access, priority, direction)| {
            let id = ResourceId::parse(&format!("{nsg}/defaultSecurityRules/{name}")).ok()?;
            Some(SecurityRule {
                id,
                name: name.to_owned(),
                properties: SecurityRuleProperties {
                    provisioning_state: ProvisioningState::Succeeded,
                    description: Some(description.to_owned()),
                    protocol: SecurityRuleProtocol::Any,
                    source_port_range: Some(PortRange::Any),
                    source_port_ranges: Vec::new(),
                    destination_port_range: Some(PortRange::Any),
                    destination_port_ranges: Vec::new(),
                    source_address_prefix: Some(source),
                    source_address_prefixes: Vec::new(),
                    destination_address_prefix: Some(destination),
                    destination_address_prefixes: Vec::new(),
                    source_application_security_groups: Vec::new(),
                    destination_application_security_groups: Vec::new(),
                    access,
                    priority,
                    direction,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_print() {
        assert_eq!("*".parse::<PortRange>().unwrap(), PortRange::Any);
        assert_eq!("80".parse::<PortRange>().unwrap().to_string(), "80");
        assert_eq!("1000-2000".parse::<PortRange>().unwrap().to_string(), "1000-2000");
        for bad in ["70000", "20-10", "a", "-", ""] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_parse() {
        assert_eq!("*".parse::<AddressMatch>().unwrap(), AddressMatch::Any);
        assert!(matches!("10.0.0.0/8".parse::<AddressMatch>().unwrap(), AddressMatch::Prefix(_)));
        assert!(matches!("10.0.0.4".parse::<AddressMatch>().unwrap(), AddressMatch::Address(_)));
        assert!(matches!("Storage.WestUS".parse::<AddressMatch>().unwrap(), AddressMatch::ServiceTag(_)));
        assert!("10.0.0.1/8".parse::<AddressMatch>().is_err());
        assert!("10.0.0.0/8 ".parse::<AddressMatch>().is_ok());
        assert!("$$".parse::<AddressMatch>().is_err());
    }

    #[test]
    fn six_default_rules() {
        let nsg =
            ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n")
                .unwrap();
        let rules = default_security_rules(&nsg);
        assert_eq!(rules.len(), 6);
        assert_eq!(rules[0].id.to_string(), format!("{nsg}/defaultSecurityRules/AllowVnetInBound"));
        assert_eq!(rules[5].properties.priority, 65500);
    }
}
