//! Virtual network gateways (VPN and ExpressRoute) and local network gateways (on-premises sites).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{AddressSpace, AllocationMethod, BgpSettings, ProvisioningState, SubResource, Tags};
use crate::id::ResourceId;
use crate::location::Location;

pub const GATEWAY_IP_CONFIGURATION_TYPE: &str = "Microsoft.Network/virtualNetworkGateways/ipConfigurations";

arm_enum!(GatewayType {
    Vpn => "Vpn",
    ExpressRoute => "ExpressRoute",
    LocalGateway => "LocalGateway",
});

arm_enum!(VpnType {
    RouteBased => "RouteBased",
    PolicyBased => "PolicyBased",
});

arm_enum!(
    /// Gateway SKUs; which apply depends on the gateway type.
    GatewaySkuName {
        Basic => "Basic",
        Standard => "Standard",
        HighPerformance => "HighPerformance",
        UltraPerformance => "UltraPerformance",
        VpnGw1 => "VpnGw1",
        VpnGw2 => "VpnGw2",
        VpnGw3 => "VpnGw3",
        VpnGw4 => "VpnGw4",
        VpnGw5 => "VpnGw5",
        VpnGw1AZ => "VpnGw1AZ",
        VpnGw2AZ => "VpnGw2AZ",
        VpnGw3AZ => "VpnGw3AZ",
        VpnGw4AZ => "VpnGw4AZ",
        VpnGw5AZ => "VpnGw5AZ",
        ErGw1AZ => "ErGw1AZ",
        ErGw2AZ => "ErGw2AZ",
        ErGw3AZ => "ErGw3AZ",
        ErGwScale => "ErGwScale",
    }
);

impl GatewaySkuName {
    /// Whether a gateway of `gateway_type` may use this SKU.
    pub fn fits(self, gateway_type: GatewayType) -> bool {
        use GatewaySkuName::*;
        match gateway_type {
            GatewayType::Vpn => matches!(
                self,
                Basic
                    | Standard
                    | HighPerformance
                    | VpnGw1
                    | VpnGw2
                    | VpnGw3
                    | VpnGw4
                    | VpnGw5
                    | VpnGw1AZ
                    | VpnGw2AZ
                    | VpnGw3AZ
                    | VpnGw4AZ
                    | VpnGw5AZ
            ),
            GatewayType::ExpressRoute => {
                matches!(self, Standard | HighPerformance | UltraPerformance | ErGw1AZ | ErGw2AZ | ErGw3AZ | ErGwScale)
            }
            GatewayType::LocalGateway => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySku {
    pub name: GatewaySkuName,
    pub tier: GatewaySkuName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkGateway {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: VirtualNetworkGatewayProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkGatewayProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    pub ip_configurations: Vec<GatewayIpConfiguration>,
    pub gateway_type: GatewayType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_type: Option<VpnType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway_generation: Option<String>,
    pub sku: GatewaySku,
    pub active_active: bool,
    pub enable_bgp: bool,
    pub enable_private_ip_address: bool,
    /// Always present: Azure reports the gateway's ASN and instance addresses even with BGP off.
    pub bgp_settings: BgpSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayIpConfiguration {
    pub id: ResourceId,
    pub name: String,
    pub properties: GatewayIpConfigurationProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayIpConfigurationProperties {
    pub provisioning_state: ProvisioningState,
    #[serde(rename = "privateIPAllocationMethod")]
    pub private_ip_allocation_method: AllocationMethod,
    pub subnet: SubResource,
    #[serde(rename = "publicIPAddress", default, skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<SubResource>,
}

impl VirtualNetworkGateway {
    /// The private addresses of the gateway's instances inside GatewaySubnet: the next hop of the
    /// routes it gives to its own VNet and, through gateway transit, to peers.
    pub fn instance_addresses(&self) -> Vec<IpAddr> {
        self.properties
            .bgp_settings
            .bgp_peering_addresses
            .iter()
            .flat_map(|a| a.default_bgp_ip_addresses.iter())
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    /// The GatewaySubnet this gateway sits in.
    pub fn subnet_id(&self) -> Option<&ResourceId> {
        self.properties.ip_configurations.first().map(|c| &c.properties.subnet.id)
    }

    /// The VNet this gateway belongs to.
    pub fn vnet_id(&self) -> Option<ResourceId> {
        self.subnet_id().and_then(|s| s.parent())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalNetworkGateway {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: LocalNetworkGatewayProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalNetworkGatewayProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    pub local_network_address_space: AddressSpace,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ip_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_settings: Option<BgpSettings>,
}
