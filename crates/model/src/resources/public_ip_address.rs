//! Public IP addresses. vnetlab hands them out from a pool that is never routed outside this machine.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{AllocationMethod, IpVersion, ProvisioningState, Tags};
use crate::id::ResourceId;
use crate::location::Location;

arm_enum!(PublicIpSkuName {
    Basic => "Basic",
    Standard => "Standard",
    StandardV2 => "StandardV2",
});

arm_enum!(PublicIpSkuTier {
    Regional => "Regional",
    Global => "Global",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpSku {
    pub name: PublicIpSkuName,
    pub tier: PublicIpSkuTier,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicIpAddress {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub sku: PublicIpSku,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    pub properties: PublicIpAddressProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicIpAddressProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    #[serde(rename = "publicIPAllocationMethod")]
    pub public_ip_allocation_method: AllocationMethod,
    #[serde(rename = "publicIPAddressVersion")]
    pub public_ip_address_version: IpVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddr>,
    pub idle_timeout_in_minutes: u32,
}
