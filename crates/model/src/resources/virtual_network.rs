//! Virtual networks. Subnets and peerings are resources of their own (see `subnet` and `peering`);
//! the ARM rendering puts them back inline.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{AddressSpace, BgpCommunities, ProvisioningState, Tags, VirtualNetworkEncryption};
use crate::id::ResourceId;
use crate::location::Location;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetwork {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: VirtualNetworkProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    pub address_space: AddressSpace,
    #[serde(default)]
    pub dhcp_options: DhcpOptions,
    #[serde(default)]
    pub enable_ddos_protection: bool,
    #[serde(default)]
    pub enable_vm_protection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<VirtualNetworkEncryption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_timeout_in_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_communities: Option<BgpCommunities>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DhcpOptions {
    pub dns_servers: Vec<IpAddr>,
}
