//! Subnets of a virtual network.

use serde::{Deserialize, Serialize};

use crate::common::{ProvisioningState, SubResource};
use crate::id::ResourceId;
use crate::prefix::Prefix;

/// The subnet that holds virtual network gateways must have exactly this name.
pub const GATEWAY_SUBNET: &str = "GatewaySubnet";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub id: ResourceId,
    pub name: String,
    pub properties: SubnetProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetProperties {
    pub provisioning_state: ProvisioningState,
    /// Set when the subnet was given one prefix in `addressPrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<Prefix>,
    /// Set when the subnet was given `addressPrefixes` (dual stack, or several ranges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefixes: Option<Vec<Prefix>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<SubResource>,
    pub private_endpoint_network_policies: String,
    pub private_link_service_network_policies: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_outbound_access: Option<bool>,
}

impl Subnet {
    /// Every prefix of the subnet, whichever of the two properties holds them.
    pub fn prefixes(&self) -> Vec<Prefix> {
        let p = &self.properties;
        match (&p.address_prefix, &p.address_prefixes) {
            (Some(one), None) => vec![*one],
            (None, Some(many)) => many.clone(),
            (Some(one), Some(many)) => {
                let mut all = vec![*one];
                all.extend(many.iter().filter(|m| *m != one));
                all
            }
            (None, None) => Vec::new(),
        }
    }

    pub fn is_gateway_subnet(&self) -> bool {
        self.name.eq_ignore_ascii_case(GATEWAY_SUBNET)
    }
}
