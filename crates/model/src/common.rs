//! Pieces shared by many resources: string enums as ARM spells them, references, address spaces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::ResourceId;
use crate::prefix::Prefix;

/// Declares a string enum as ARM uses them: serialized in its canonical spelling, parsed
/// case-insensitively (the az CLI sends `IPSec` where the spec says `IPsec`).
#[macro_export]
macro_rules! arm_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a value case-insensitively.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            }

            /// The accepted values, for error messages.
            pub fn expected() -> String {
                $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s).ok_or_else(|| {
                    format!("'{}' is not a valid value; expected one of: {}", s, $name::expected())
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

arm_enum!(
    /// `provisioningState` of every network resource.
    ProvisioningState {
        Succeeded => "Succeeded",
        Updating => "Updating",
        Deleting => "Deleting",
        Failed => "Failed",
        Creating => "Creating",
        Canceled => "Canceled",
    }
);

arm_enum!(
    /// `privateIPAllocationMethod` / `publicIPAllocationMethod`.
    AllocationMethod {
        Static => "Static",
        Dynamic => "Dynamic",
    }
);

arm_enum!(
    /// `privateIPAddressVersion` / `publicIPAddressVersion`.
    IpVersion {
        IPv4 => "IPv4",
        IPv6 => "IPv6",
    }
);

impl IpVersion {
    pub fn of(ip: std::net::IpAddr) -> IpVersion {
        if ip.is_ipv4() { IpVersion::IPv4 } else { IpVersion::IPv6 }
    }

    pub fn matches(self, prefix: &Prefix) -> bool {
        prefix.is_ipv4() == (self == IpVersion::IPv4)
    }
}

/// A reference to another resource: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubResource {
    pub id: ResourceId,
}

impl SubResource {
    pub fn new(id: ResourceId) -> SubResource {
        SubResource { id }
    }
}

impl From<ResourceId> for SubResource {
    fn from(id: ResourceId) -> SubResource {
        SubResource { id }
    }
}

/// `addressSpace` / `localNetworkAddressSpace`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressSpace {
    pub address_prefixes: Vec<Prefix>,
}

impl AddressSpace {
    pub fn new(address_prefixes: Vec<Prefix>) -> AddressSpace {
        AddressSpace { address_prefixes }
    }

    pub fn is_empty(&self) -> bool {
        self.address_prefixes.is_empty()
    }

    /// The same prefixes, ignoring order.
    pub fn same_set(&self, other: &AddressSpace) -> bool {
        let mut a = self.address_prefixes.clone();
        let mut b = other.address_prefixes.clone();
        a.sort();
        a.dedup();
        b.sort();
        b.dedup();
        a == b
    }
}

/// Resource tags.
pub type Tags = BTreeMap<String, String>;

/// `bgpCommunities` of a VNet, echoed on peerings as `remoteBgpCommunities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpCommunities {
    pub virtual_network_community: String,
    /// Azure's community for the VNet's region (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_community: Option<String>,
}

/// `encryption` of a VNet, echoed on peerings as `remoteVirtualNetworkEncryption`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkEncryption {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<EncryptionEnforcement>,
}

arm_enum!(EncryptionEnforcement {
    DropUnencrypted => "DropUnencrypted",
    AllowUnencrypted => "AllowUnencrypted",
});

/// BGP settings of a virtual network gateway or an on-premises site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpSettings {
    pub asn: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_peering_address: Option<String>,
    #[serde(default)]
    pub peer_weight: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bgp_peering_addresses: Vec<BgpPeeringAddress>,
}

/// One gateway instance's BGP and tunnel addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeeringAddress {
    #[serde(rename = "ipconfigurationId")]
    pub ipconfiguration_id: ResourceId,
    #[serde(default)]
    pub default_bgp_ip_addresses: Vec<String>,
    #[serde(default)]
    pub custom_bgp_ip_addresses: Vec<String>,
    #[serde(default)]
    pub tunnel_ip_addresses: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_case_insensitively_and_print_canonically() {
        assert_eq!(AllocationMethod::parse("STATIC"), Some(AllocationMethod::Static));
        assert_eq!(serde_json::to_string(&IpVersion::IPv6).unwrap(), "\"IPv6\"");
        assert_eq!(serde_json::from_str::<ProvisioningState>("\"succeeded\"").unwrap(), ProvisioningState::Succeeded);
        assert!("nope".parse::<AllocationMethod>().unwrap_err().contains("Static, Dynamic"));
    }
}
