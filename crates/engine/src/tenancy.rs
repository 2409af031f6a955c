//! Tenants, subscriptions and resource groups. Deleting a resource group deletes what it holds, in
//! dependency order, through each resource's own delete rules.

use vnetlab_model::{
    AzureError, Kind, ProvisioningState, Resource, ResourceGroup, ResourceGroupProperties, ResourceId, Subscription,
    Tenant, View, ViewExt,
};

use crate::Effect;
use crate::common::check_resource_group_name;
use crate::errors;
use crate::operation::Operation;
use crate::tx::Tx;

pub(crate) fn tenant_put(
    tx: &mut Tx<'_, '_, '_>,
    tenant_id: &str,
    display_name: &str,
    default_domain: Option<&str>,
) -> Result<Effect, AzureError> {
    let id = ResourceId::tenant(tenant_id).map_err(|_| errors::tenant_not_found(tenant_id))?;
    let created = !tx.draft.exists(&id);
    let domain = default_domain.map(str::to_owned).unwrap_or_else(|| {
        let label: String =
            display_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        format!("{}.onmicrosoft.com", if label.is_empty() { "tenant".to_owned() } else { label })
    });
    tx.put(Resource::Tenant(Tenant {
        id,
        tenant_id: tenant_id.to_owned(),
        display_name: display_name.to_owned(),
        default_domain: domain,
        tenant_category: "Home".to_owned(),
    }));
    Ok(if created { Effect::Created } else { Effect::Updated })
}

pub(crate) fn tenant_delete(tx: &mut Tx<'_, '_, '_>, tenant_id: &str) -> Result<Effect, AzureError> {
    let Ok(id) = ResourceId::tenant(tenant_id) else {
        return Ok(Effect::Absent);
    };
    if !tx.draft.exists(&id) {
        return Ok(Effect::Absent);
    }
    let subscriptions = tx
        .draft
        .all_of(Kind::Subscription)
        .into_iter()
        .filter(|s| s.resource.as_subscription().is_some_and(|s| s.tenant_id.eq_ignore_ascii_case(tenant_id)))
        .count();
    if subscriptions > 0 {
        return Err(errors::tenant_not_empty(tenant_id, subscriptions));
    }
    tx.delete(&id);
    Ok(Effect::Deleted)
}

pub(crate) fn subscription_put(
    tx: &mut Tx<'_, '_, '_>,
    subscription_id: &str,
    display_name: &str,
    tenant_id: &str,
) -> Result<Effect, AzureError> {
    let id = ResourceId::subscription(subscription_id).map_err(|_| errors::subscription_not_found(subscription_id))?;
    let tenant = ResourceId::tenant(tenant_id).map_err(|_| errors::tenant_not_found(tenant_id))?;
    if !tx.draft.exists(&tenant) {
        return Err(errors::tenant_not_found(tenant_id));
    }
    let created = !tx.draft.exists(&id);
    tx.put(Resource::Subscription(Subscription {
        id,
        subscription_id: subscription_id.to_owned(),
        display_name: display_name.to_owned(),
        tenant_id: tenant_id.to_owned(),
        state: "Enabled".to_owned(),
    }));
    Ok(if created { Effect::Created } else { Effect::Updated })
}

pub(crate) fn subscription_delete(tx: &mut Tx<'_, '_, '_>, subscription_id: &str) -> Result<Effect, AzureError> {
    let Ok(id) = ResourceId::subscription(subscription_id) else {
        return Ok(Effect::Absent);
    };
    if !tx.draft.exists(&id) {
        return Ok(Effect::Absent);
    }
    let groups = tx.draft.children_of(&id, Kind::ResourceGroup).len();
    if groups > 0 {
        return Err(errors::subscription_not_empty(subscription_id, groups));
    }
    tx.delete(&id);
    Ok(Effect::Deleted)
}

pub(crate) fn resource_group_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    location: vnetlab_model::Location,
    tags: &vnetlab_model::Tags,
) -> Result<Effect, AzureError> {
    let sub = id.subscription_resource_id().ok_or_else(|| errors::resource_group_not_found(id.name()))?;
    if !tx.draft.exists(&sub) {
        return Err(errors::subscription_not_found(id.subscription_id().unwrap_or_default()));
    }
    check_resource_group_name(id.name())?;
    let existing = tx.draft.resource(id).and_then(Resource::as_resource_group);
    if let Some(e) = existing
        && e.location != location
    {
        return Err(errors::invalid_resource_group_location(location, e.location));
    }
    let created = existing.is_none();
    tx.put(Resource::ResourceGroup(ResourceGroup {
        id: id.clone(),
        name: id.name().to_owned(),
        location,
        tags: tags.clone(),
        managed_by: None,
        properties: ResourceGroupProperties { provisioning_state: ProvisioningState::Succeeded },
    }));
    Ok(if created { Effect::Created } else { Effect::Updated })
}

/// The delete operation for a resource, if it has one of its own (children go with their parent).
pub fn delete_operation(id: &ResourceId, kind: Kind) -> Option<Operation> {
    let id = id.clone();
    Some(match kind {
        Kind::VirtualMachine => Operation::VirtualMachineDelete { id },
        Kind::NetworkInterface => Operation::NetworkInterfaceDelete { id },
        Kind::Connection => Operation::ConnectionDelete { id },
        Kind::VirtualNetworkGateway => Operation::VirtualNetworkGatewayDelete { id },
        Kind::VirtualNetwork => Operation::VirtualNetworkDelete { id },
        Kind::LocalNetworkGateway => Operation::LocalNetworkGatewayDelete { id },
        Kind::NetworkWatcher => Operation::NetworkWatcherDelete { id },
        Kind::PublicIpAddress => Operation::PublicIpAddressDelete { id },
        Kind::RouteTable => Operation::RouteTableDelete { id },
        Kind::NetworkSecurityGroup => Operation::NetworkSecurityGroupDelete { id },
        Kind::ResourceGroup => Operation::ResourceGroupDelete { id },
        Kind::Subnet => Operation::SubnetDelete { id },
        Kind::VirtualNetworkPeering => Operation::PeeringDelete { id },
        Kind::SecurityRule => Operation::SecurityRuleDelete { id },
        Kind::Route => Operation::RouteDelete { id },
        Kind::Subscription => Operation::SubscriptionDelete { subscription_id: id.subscription_id()?.to_owned() },
        Kind::Tenant => Operation::TenantDelete { tenant_id: id.tenant_id()?.to_owned() },
        Kind::Principal => Operation::PrincipalDelete { id },
        Kind::RoleAssignment => Operation::RoleAssignmentDelete { id },
    })
}

/// The order teardown deletes kinds in: whatever references others goes first.
pub fn teardown_order(mut ids: Vec<(ResourceId, Kind)>) -> Vec<(ResourceId, Kind)> {
    ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ids
}

pub(crate) fn resource_group_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    if tx.draft.resource(id).and_then(Resource::as_resource_group).is_none() {
        return Ok(Effect::Absent);
    }
    // Top-level resources only: children go with their parents.
    let members: Vec<(ResourceId, Kind)> = tx
        .draft
        .descendants(id)
        .into_iter()
        .filter(|s| s.kind().parent().is_none())
        .map(|s| (s.id().clone(), s.kind()))
        .collect();
    for (member, kind) in teardown_order(members) {
        if let Some(op) = delete_operation(&member, kind) {
            // Each resource's own rules apply: a resource outside the group that still uses one
            // inside (a NIC in another group on a subnet here) stops the deletion with Azure's error.
            crate::dispatch(tx, &op)?;
        }
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}

/// Completes a deferred operation: everything it locked becomes `Succeeded`.
pub(crate) fn complete_operation(tx: &mut Tx<'_, '_, '_>, operation_id: uuid::Uuid) -> Result<Effect, AzureError> {
    let mut done = Vec::new();
    for kind in Kind::ALL {
        for s in tx.draft.all_of(kind) {
            if s.meta.pending.as_ref().is_some_and(|p| p.operation_id == operation_id) {
                done.push(s.clone());
            }
        }
    }
    if done.is_empty() {
        return Ok(Effect::Absent);
    }
    let mut vnets = Vec::new();
    let mut gateways = Vec::new();
    for mut s in done {
        s.resource.set_provisioning_state(ProvisioningState::Succeeded);
        s.meta.pending = None;
        match s.kind() {
            Kind::VirtualNetwork => vnets.push(s.id().clone()),
            Kind::VirtualNetworkGateway => {
                gateways.push(s.id().clone());
                vnets.extend(s.resource.as_virtual_network_gateway().and_then(|g| g.vnet_id()));
            }
            _ => {}
        }
        tx.put_with_meta(s.resource, s.meta);
    }
    crate::peering::refresh_links(tx, &vnets);
    crate::connection::refresh_connections(tx, &gateways);
    Ok(Effect::Updated)
}
