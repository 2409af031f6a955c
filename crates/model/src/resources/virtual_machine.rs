//! Virtual machines: as much as networking needs (location and NICs). Hardware, storage and OS
//! profiles are kept as given.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{ProvisioningState, Tags};
use crate::id::ResourceId;
use crate::location::Location;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachine {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: VirtualMachineProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineProperties {
    pub provisioning_state: ProvisioningState,
    pub vm_id: Uuid,
    pub hardware_profile: HardwareProfile,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub storage_profile: serde_json::Value,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub os_profile: serde_json::Value,
    pub network_profile: NetworkProfile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    pub vm_size: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfile {
    pub network_interfaces: Vec<NetworkInterfaceReference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceReference {
    pub id: ResourceId,
    pub properties: NetworkInterfaceReferenceProperties,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceReferenceProperties {
    pub primary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<String>,
}

impl VirtualMachine {
    pub fn nic_ids(&self) -> impl Iterator<Item = &ResourceId> {
        self.properties.network_profile.network_interfaces.iter().map(|n| &n.id)
    }

    /// The primary NIC: the one marked primary, else the first.
    pub fn primary_nic_id(&self) -> Option<&ResourceId> {
        let nics = &self.properties.network_profile.network_interfaces;
        nics.iter().find(|n| n.properties.primary).or_else(|| nics.first()).map(|n| &n.id)
    }
}
