//! Network watchers: the regional resource Azure's diagnostics (next hop, IP flow verify,
//! connectivity checks) are asked through. One per subscription and region.

use serde::{Deserialize, Serialize};

use crate::common::{ProvisioningState, Tags};
use crate::id::ResourceId;
use crate::location::Location;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkWatcher {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: NetworkWatcherProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkWatcherProperties {
    pub provisioning_state: ProvisioningState,
}
