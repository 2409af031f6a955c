//! Gateway connections: site-to-site (IPsec), VNet-to-VNet and ExpressRoute.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{ProvisioningState, SubResource, Tags};
use crate::id::ResourceId;
use crate::location::Location;

arm_enum!(ConnectionType {
    IPsec => "IPsec",
    Vnet2Vnet => "Vnet2Vnet",
    ExpressRoute => "ExpressRoute",
    VPNClient => "VPNClient",
});

arm_enum!(ConnectionProtocol {
    IKEv2 => "IKEv2",
    IKEv1 => "IKEv1",
});

arm_enum!(ConnectionStatus {
    Unknown => "Unknown",
    Connecting => "Connecting",
    Connected => "Connected",
    NotConnected => "NotConnected",
});

arm_enum!(ConnectionMode {
    Default => "Default",
    ResponderOnly => "ResponderOnly",
    InitiatorOnly => "InitiatorOnly",
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: ConnectionProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionProperties {
    pub provisioning_state: ProvisioningState,
    pub resource_guid: Uuid,
    pub connection_type: ConnectionType,
    pub virtual_network_gateway1: SubResource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_gateway2: Option<SubResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_network_gateway2: Option<SubResource>,
    /// The ExpressRoute circuit, for ExpressRoute connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<SubResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_key: Option<String>,
    pub connection_protocol: ConnectionProtocol,
    pub connection_mode: ConnectionMode,
    pub routing_weight: u32,
    pub enable_bgp: bool,
    pub use_policy_based_traffic_selectors: bool,
    pub connection_status: ConnectionStatus,
    pub ingress_bytes_transferred: u64,
    pub egress_bytes_transferred: u64,
}
