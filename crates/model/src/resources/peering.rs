//! Virtual network peerings: one link under each VNet of a pair.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::arm_enum;
use crate::common::{AddressSpace, BgpCommunities, ProvisioningState, SubResource, VirtualNetworkEncryption};
use crate::id::ResourceId;

arm_enum!(
    /// `peeringState`.
    PeeringState {
        Initiated => "Initiated",
        Connected => "Connected",
        Disconnected => "Disconnected",
    }
);

arm_enum!(
    /// `peeringSyncLevel`: whether each side's view of the other's address space is current.
    PeeringSyncLevel {
        FullyInSync => "FullyInSync",
        RemoteNotInSync => "RemoteNotInSync",
        LocalNotInSync => "LocalNotInSync",
        LocalAndRemoteNotInSync => "LocalAndRemoteNotInSync",
    }
);

impl PeeringSyncLevel {
    pub fn from_flags(local_not_in_sync: bool, remote_not_in_sync: bool) -> PeeringSyncLevel {
        match (local_not_in_sync, remote_not_in_sync) {
            (false, false) => PeeringSyncLevel::FullyInSync,
            (true, false) => PeeringSyncLevel::LocalNotInSync,
            (false, true) => PeeringSyncLevel::RemoteNotInSync,
            (true, true) => PeeringSyncLevel::LocalAndRemoteNotInSync,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkPeering {
    pub id: ResourceId,
    pub name: String,
    pub properties: VirtualNetworkPeeringProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkPeeringProperties {
    pub provisioning_state: ProvisioningState,
    /// Shared by the two links of a pair.
    pub resource_guid: Uuid,
    pub peering_state: PeeringState,
    pub peering_sync_level: PeeringSyncLevel,
    pub remote_virtual_network: SubResource,
    pub allow_virtual_network_access: bool,
    pub allow_forwarded_traffic: bool,
    pub allow_gateway_transit: bool,
    pub use_remote_gateways: bool,
    pub do_not_verify_remote_gateways: bool,
    pub peer_complete_vnets: bool,
    #[serde(rename = "enableOnlyIPv6Peering")]
    pub enable_only_ipv6_peering: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_subnet_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_subnet_names: Vec<String>,
    /// The local prefixes this link peers (all of the VNet, or the named subnets').
    pub local_address_space: AddressSpace,
    /// The local VNet's address space right now.
    pub local_virtual_network_address_space: AddressSpace,
    /// The remote prefixes this link peers, as of its last sync. Peering routes come from here.
    pub remote_address_space: AddressSpace,
    /// The remote VNet's address space right now; differs from `remote_address_space` until a sync.
    pub remote_virtual_network_address_space: AddressSpace,
    /// The remote VNet's BGP communities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_bgp_communities: Option<BgpCommunities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_virtual_network_encryption: Option<VirtualNetworkEncryption>,
    /// The remote VNet's gateways, while `use_remote_gateways` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_gateways: Vec<SubResource>,
}

impl VirtualNetworkPeering {
    /// The VNet this link lives under.
    pub fn local_vnet_id(&self) -> Option<ResourceId> {
        self.id.parent()
    }

    pub fn remote_vnet_id(&self) -> &ResourceId {
        &self.properties.remote_virtual_network.id
    }
}
