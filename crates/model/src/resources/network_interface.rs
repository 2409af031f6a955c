//! Network interfaces and their IP configurations.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{AllocationMethod, IpVersion, ProvisioningState, SubResource, Tags};
use crate::id::ResourceId;
use crate::location::Location;

pub const NIC_IP_CONFIGURATION_TYPE: &str = "Microsoft.Network/networkInterfaces/ipConfigurations";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: NetworkInterfaceProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    pub ip_configurations: Vec<NicIpConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// Needed for the NIC to forward traffic not addressed to it (an NVA).
    #[serde(rename = "enableIPForwarding")]
    pub enable_ip_forwarding: bool,
    pub enable_accelerated_networking: bool,
    pub mac_address: String,
    #[serde(default)]
    pub dns_settings: NicDnsSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicDnsSettings {
    pub dns_servers: Vec<IpAddr>,
    pub applied_dns_servers: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicIpConfiguration {
    pub id: ResourceId,
    pub name: String,
    pub properties: NicIpConfigurationProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicIpConfigurationProperties {
    pub provisioning_state: ProvisioningState,
    #[serde(rename = "privateIPAddress")]
    pub private_ip_address: IpAddr,
    #[serde(rename = "privateIPAllocationMethod")]
    pub private_ip_allocation_method: AllocationMethod,
    #[serde(rename = "privateIPAddressVersion")]
    pub private_ip_address_version: IpVersion,
    pub subnet: SubResource,
    pub primary: bool,
    #[serde(rename = "publicIPAddress", default, skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<SubResource>,
}

impl NetworkInterface {
    /// The primary IP configuration (the first one when none is marked).
    pub fn primary_ip_configuration(&self) -> Option<&NicIpConfiguration> {
        let configs = &self.properties.ip_configurations;
        configs.iter().find(|c| c.properties.primary).or_else(|| configs.first())
    }
}
