//! A tenant's directory: its principals (users and service principals) and the role assignments
//! that give them rights on subscriptions, resource groups and resources.

use serde::{Deserialize, Serialize};

use crate::id::ResourceId;

/// What kind of identity a principal is (ARM's `principalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalType {
    ServicePrincipal,
    User,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::ServicePrincipal => "ServicePrincipal",
            PrincipalType::User => "User",
        }
    }
}

/// A user or service principal, at home in the tenant its id names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// `/tenants/{home tenant}/principals/{object id}`.
    pub id: ResourceId,
    pub object_id: String,
    pub display_name: String,
    pub principal_type: PrincipalType,
    /// The application (client) id a service principal signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The name a user signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// The secret's salted digest (`sha256:{salt}:{digest}`, hex); none for a principal that only
    /// signs in as a managed identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
    /// Other tenants the principal is a guest in: it can sign in to them and be given roles there.
    /// [gap] In Azure a guest (or a multi-tenant application's service principal) is a distinct
    /// object with an object id of its own in each tenant; vnetlab keeps one object id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest_of: Vec<String>,
}

impl Principal {
    pub fn home_tenant(&self) -> &str {
        self.id.tenant_id().unwrap_or_default()
    }

    /// Whether the principal can sign in to `tenant_id`: its home, or a tenant it is a guest of.
    pub fn is_member_of(&self, tenant_id: &str) -> bool {
        self.home_tenant().eq_ignore_ascii_case(tenant_id)
            || self.guest_of.iter().any(|t| t.eq_ignore_ascii_case(tenant_id))
    }

    /// What sign-ins and messages call it: the app id of a service principal, a user's name.
    pub fn sign_in_name(&self) -> &str {
        self.app_id.as_deref().or(self.user_principal_name.as_deref()).unwrap_or(&self.object_id)
    }
}

/// A role given to a principal at a scope, kept in the directory of the scope's tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// `/tenants/{tenant}/roleAssignments/{name}`; ARM shows it as
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: ResourceId,
    pub name: String,
    pub properties: RoleAssignmentProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role guid}`.
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: PrincipalType,
    /// A subscription, resource group or resource id.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_on: String,
    pub updated_on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl RoleAssignment {
    /// The role's GUID: the last segment of its definition id.
    pub fn role_guid(&self) -> &str {
        self.properties.role_definition_id.rsplit('/').next().unwrap_or_default()
    }

    /// The id ARM shows for it.
    pub fn arm_id(&self) -> String {
        format!("{}/providers/Microsoft.Authorization/roleAssignments/{}", self.properties.scope, self.name)
    }
}
