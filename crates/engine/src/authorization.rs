//! Who may do what: every operation's required actions, decided over the lab's role assignments
//! (shared/reference/peering-rules.md §1.7). A write needs its resource type's `write` or
//! `delete` action at the resource; a peering also needs `peer/action` on the remote VNet, and
//! when that VNet lies in another tenant the request must carry a token for that tenant too.
//! Reads need the type's `read` action.

use vnetlab_model::{AzureError, Change, Kind, Resource, ResourceId, State, View, ViewExt};

use crate::errors;
use crate::operation::Operation;

/// The principal a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub object_id: String,
    /// How errors name it: a service principal's application id, a user's sign-in name.
    pub client: String,
    /// The tenant of the request's token.
    pub tenant_id: String,
    /// Tenants of auxiliary tokens (`x-ms-authorization-auxiliary`).
    pub auxiliary_tenants: Vec<String>,
}

impl Caller {
    /// Whether the request carries a token for `tenant_id`.
    pub fn speaks_for(&self, tenant_id: &str) -> bool {
        self.tenant_id.eq_ignore_ascii_case(tenant_id)
            || self.auxiliary_tenants.iter().any(|t| t.eq_ignore_ascii_case(tenant_id))
    }
}

/// The peering's right on its remote VNet.
pub const PEER_ACTION: &str = "Microsoft.Network/virtualNetworks/peer/action";

/// An action at a scope that a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub action: String,
    pub scope: String,
    /// A right on a resource the request links to rather than on its target.
    pub linked: bool,
}

/// The RBAC action for `verb` (`read`, `write`, `delete`) on resources of `kind`.
pub fn action(kind: Kind, verb: &str) -> String {
    match kind {
        Kind::ResourceGroup => format!("Microsoft.Resources/subscriptions/resourceGroups/{verb}"),
        Kind::Subscription => format!("Microsoft.Resources/subscriptions/{verb}"),
        other => format!("{}/{verb}", other.arm_type()),
    }
}

/// What `op` needs, in the order ARM checks it: the target first, then linked resources.
/// `None` for operations only the lab itself makes (tenants, subscriptions, principals, the
/// completion of long-running operations).
pub fn requirements(view: &impl View, op: &Operation) -> Option<Vec<Requirement>> {
    use Operation::*;
    let own = |id: &ResourceId, verb: &str| -> Option<Requirement> {
        Some(Requirement { action: action(id.kind()?, verb), scope: id.to_string(), linked: false })
    };
    match op {
        TenantPut { .. }
        | TenantDelete { .. }
        | SubscriptionPut { .. }
        | SubscriptionDelete { .. }
        | PrincipalPut { .. }
        | PrincipalDelete { .. }
        | CompleteOperation { .. } => None,
        RoleAssignmentPut { spec, .. } => Some(vec![Requirement {
            action: action(Kind::RoleAssignment, "write"),
            scope: spec.scope.clone(),
            linked: false,
        }]),
        RoleAssignmentDelete { id } => {
            let scope = view.resource(id).and_then(Resource::as_role_assignment).map(|a| a.properties.scope.clone())?;
            Some(vec![Requirement { action: action(Kind::RoleAssignment, "delete"), scope, linked: false }])
        }
        PeeringPut { id, spec, .. } => Some(
            own(id, "write")
                .into_iter()
                .chain(std::iter::once(Requirement {
                    action: PEER_ACTION.to_owned(),
                    scope: spec.remote_virtual_network.to_string(),
                    linked: true,
                }))
                .collect(),
        ),
        other => {
            let id = other.target()?;
            Some(own(&id, if other.is_delete() { "delete" } else { "write" }).into_iter().collect())
        }
    }
}

/// The tenant of the subscription `scope` lies in, if the lab has it.
pub fn tenant_of(state: &State, scope: &str) -> Option<String> {
    tenant_of_id(state, &ResourceId::parse(scope).ok()?).map(str::to_owned)
}

/// Whether `caller` may perform `action` at `scope`.
pub fn permits(state: &State, caller: &Caller, action: &str, scope: &str) -> bool {
    state.authorizer().permits(&caller.object_id, action, scope)
}

/// Checks one action at the request's own scope: `AuthorizationFailed` when not allowed.
pub fn check(state: &State, caller: &Caller, action: &str, scope: &str) -> Result<(), AzureError> {
    if permits(state, caller, action, scope) {
        Ok(())
    } else {
        Err(errors::authorization_failed(&caller.client, &caller.object_id, action, scope))
    }
}

/// Whether `caller` may read `id`: the type's `read` right there, in a tenant the request has a
/// token for.
pub fn can_read(state: &State, caller: &Caller, id: &ResourceId) -> bool {
    // The decision first: it is the cheaper of the two, and a list decides for every item.
    let permitted = id.kind().is_some_and(|k| permits(state, caller, &action(k, "read"), id.as_str()));
    permitted && tenant_of_id(state, id).is_none_or(|t| caller.speaks_for(t))
}

/// The tenant of the subscription `id` lies in, if the lab has it.
fn tenant_of_id<'s>(state: &'s State, id: &ResourceId) -> Option<&'s str> {
    let subscription = state.resource(&id.subscription_resource_id()?)?.as_subscription()?;
    Some(subscription.tenant_id.as_str())
}

/// `AuthorizationFailed` unless `caller` may read `id`. Ids of kinds vnetlab does not model are
/// left to the caller to refuse as it refuses them.
pub fn check_read(state: &State, caller: &Caller, id: &ResourceId) -> Result<(), AzureError> {
    let Some(kind) = id.kind() else {
        return Ok(());
    };
    if can_read(state, caller, id) {
        Ok(())
    } else {
        Err(errors::authorization_failed(&caller.client, &caller.object_id, &action(kind, "read"), id.as_str()))
    }
}

/// Whether `caller` may see `stored` in a listing: a resource it may read, a tenant it has a
/// token for, a subscription of such a tenant where it holds a role, a principal of its tenants,
/// a role assignment at a scope where it may read assignments.
pub fn can_see(state: &State, caller: &Caller, stored: &vnetlab_model::Stored) -> bool {
    let member = |tenant: &str| caller.speaks_for(tenant);
    match &stored.resource {
        Resource::Tenant(t) => member(&t.tenant_id),
        Resource::Subscription(s) => {
            member(&s.tenant_id) && state.authorizer().has_any_near(&caller.object_id, s.id.as_str())
        }
        Resource::Principal(p) => member(p.home_tenant()) || p.guest_of.iter().any(|t| member(t)),
        Resource::RoleAssignment(a) => {
            permits(state, caller, &action(Kind::RoleAssignment, "read"), &a.properties.scope)
        }
        other => can_read(state, caller, other.id()),
    }
}

/// Checks everything `op` needs. Operations only the lab makes are refused to any caller.
pub fn authorize(state: &State, caller: &Caller, op: &Operation) -> Result<(), AzureError> {
    let Some(needed) = requirements(state, op) else {
        let scope = op.target().map(|t| t.to_string()).unwrap_or_else(|| "/".to_owned());
        let kind = op.target().and_then(|t| t.kind()).unwrap_or(Kind::Tenant);
        let verb = if op.is_delete() { "delete" } else { "write" };
        return Err(errors::authorization_failed(&caller.client, &caller.object_id, &action(kind, verb), &scope));
    };
    let mut own: Option<&Requirement> = None;
    for r in &needed {
        if !r.linked {
            check(state, caller, &r.action, &r.scope)?;
            own.get_or_insert(r);
            continue;
        }
        let (action, scope) = own.map(|o| (o.action.as_str(), o.scope.as_str())).unwrap_or(("", ""));
        if let Some(tenant) = tenant_of(state, &r.scope)
            && !caller.speaks_for(&tenant)
        {
            let subscription = ResourceId::parse(&r.scope).ok();
            let subscription = subscription.as_ref().and_then(|s| s.subscription_id()).unwrap_or_default();
            return Err(errors::linked_tenant_not_authorized(&r.action, scope, &caller.tenant_id, subscription));
        }
        if !permits(state, caller, &r.action, &r.scope) {
            return Err(errors::linked_authorization_failed(
                &caller.client,
                &caller.object_id,
                action,
                scope,
                &r.action,
                &r.scope,
            ));
        }
    }
    Ok(())
}

/// The right a write needs on a resource it links to (a NIC's subnet, a subnet's NSG): Azure's
/// `join/action`. [gap] A connection's gateways need `write` on them. A peering's remote VNet is
/// checked on its own (`peer/action`, with the tenant's token).
pub fn join_action(kind: Kind) -> Option<String> {
    Some(match kind {
        Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets/join/action".to_owned(),
        Kind::NetworkSecurityGroup => "Microsoft.Network/networkSecurityGroups/join/action".to_owned(),
        Kind::RouteTable => "Microsoft.Network/routeTables/join/action".to_owned(),
        Kind::PublicIpAddress => "Microsoft.Network/publicIPAddresses/join/action".to_owned(),
        Kind::NetworkInterface => "Microsoft.Network/networkInterfaces/join/action".to_owned(),
        Kind::VirtualNetworkGateway | Kind::LocalNetworkGateway => action(kind, "write"),
        _ => return None,
    })
}

/// Checks what `op`'s `changes` newly link to: every reference a resource written at or under
/// the operation's target has that it did not have in `before`. `LinkedAuthorizationFailed` when
/// the caller lacks the join right there, or a token for its tenant.
pub fn authorize_links(before: &State, caller: &Caller, op: &Operation, changes: &[Change]) -> Result<(), AzureError> {
    let Some(target) = op.target() else {
        return Ok(());
    };
    let own = requirements(before, op).and_then(|r| r.into_iter().find(|r| !r.linked));
    let (own_action, own_scope) = own.map(|r| (r.action, r.scope)).unwrap_or_default();
    for change in changes {
        let Change::Put(stored) = change else { continue };
        let id = stored.id();
        if id != &target && !id.is_under(&target) {
            continue;
        }
        let had: Vec<&ResourceId> = before.get(id).map(|s| s.resource.references()).unwrap_or_default();
        for linked in stored.resource.references() {
            if had.contains(&linked) {
                continue;
            }
            let Some(join) = linked.kind().and_then(join_action) else { continue };
            if let Some(tenant) = tenant_of(before, linked.as_str())
                && !caller.speaks_for(&tenant)
            {
                let subscription = linked.subscription_id().unwrap_or_default();
                return Err(errors::linked_tenant_not_authorized(&join, &own_scope, &caller.tenant_id, subscription));
            }
            if !permits(before, caller, &join, linked.as_str()) {
                return Err(errors::linked_authorization_failed(
                    &caller.client,
                    &caller.object_id,
                    &own_action,
                    &own_scope,
                    &join,
                    linked.as_str(),
                ));
            }
        }
    }
    Ok(())
}
