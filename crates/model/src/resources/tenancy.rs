//! Tenants, subscriptions and resource groups: where every other resource lives.

use serde::{Deserialize, Serialize};

use crate::common::{ProvisioningState, Tags};
use crate::id::ResourceId;
use crate::location::Location;

/// A Microsoft Entra tenant (`GET /tenants`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: ResourceId,
    pub tenant_id: String,
    pub display_name: String,
    pub default_domain: String,
    pub tenant_category: String,
}

/// A subscription, always inside one tenant (`GET /subscriptions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: ResourceId,
    pub subscription_id: String,
    pub display_name: String,
    pub tenant_id: String,
    pub state: String,
}

/// A resource group (`Microsoft.Resources/resourceGroups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    pub id: ResourceId,
    pub name: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub properties: ResourceGroupProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    pub provisioning_state: ProvisioningState,
}
