//! Checks shared by many operations: names, parents, locations, resources busy with another
//! operation.

use vnetlab_model::{AzureError, Kind, Location, ProvisioningState, Resource, ResourceId, Stored, View, ViewExt};

use crate::context::Context;
use crate::errors;

/// ARM's rule for Microsoft.Network names: up to 80 word characters, '.', '-' or '_', starting
/// with a word character and ending with a word character or '_'.
pub fn check_name(name: &str) -> Result<(), AzureError> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let ok = !name.is_empty()
        && name.chars().count() <= 80
        && name.chars().next().is_some_and(word)
        && name.chars().last().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '.' || c == '-');
    if ok { Ok(()) } else { Err(errors::invalid_resource_name(name)) }
}

/// ARM's rule for resource group names.
pub fn check_resource_group_name(name: &str) -> Result<(), AzureError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 90
        && !name.ends_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'));
    if ok { Ok(()) } else { Err(errors::invalid_resource_group_name(name)) }
}

/// The resource group of a top-level resource must exist (and its subscription).
pub fn require_resource_group(view: &impl View, id: &ResourceId) -> Result<(), AzureError> {
    let subscription = id.subscription_resource_id().ok_or_else(|| errors::resource_not_found(id))?;
    if !view.exists(&subscription) {
        return Err(errors::subscription_not_found(id.subscription_id().unwrap_or_default()));
    }
    let group = id.resource_group_id().ok_or_else(|| errors::resource_not_found(id))?;
    if !view.exists(&group) {
        return Err(errors::resource_group_not_found(id.resource_group_name().unwrap_or_default()));
    }
    Ok(())
}

/// A child resource's parent must exist; Azure answers as for the missing parent itself.
pub fn require_parent<'v>(view: &'v impl View, id: &ResourceId) -> Result<&'v Stored, AzureError> {
    require_resource_group(view, id)?;
    let parent = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    view.get(&parent).ok_or_else(|| errors::resource_not_found(&parent))
}

/// A tracked resource keeps the location it was created in.
pub fn check_location_unchanged(existing: Option<&Resource>, requested: Location) -> Result<(), AzureError> {
    if let Some(existing) = existing
        && let Some(current) = existing.location()
        && current != requested
    {
        let id = existing.id();
        return Err(errors::invalid_resource_location(
            id.name(),
            id.resource_group_name().unwrap_or_default(),
            current,
            requested,
        ));
    }
    Ok(())
}

/// A referenced resource must exist, be of the expected kind and sit in the referencing resource's
/// region; Azure reports all three the same way.
pub fn require_reference<'v>(
    view: &'v impl View,
    referenced: &ResourceId,
    kind: Kind,
    referencing: &ResourceId,
    location: Location,
) -> Result<&'v Resource, AzureError> {
    let resource = view
        .resource(referenced)
        .filter(|r| r.kind() == kind)
        .ok_or_else(|| errors::invalid_resource_reference(referenced, referencing))?;
    if resource_location(view, resource) != Some(location) {
        return Err(errors::invalid_resource_reference(referenced, referencing));
    }
    Ok(resource)
}

/// The region of any resource: its own, or its parent's for child resources.
pub fn resource_location(view: &impl View, resource: &Resource) -> Option<Location> {
    resource.location().or_else(|| {
        let parent = resource.id().parent()?;
        view.resource(&parent).and_then(|p| p.location())
    })
}

/// The operation-status URI Azure names in `AnotherOperationInProgress`.
fn status_uri(ctx: &Context<'_>, stored: &Stored, view: &impl View) -> String {
    let sub = stored.id().subscription_id().unwrap_or_default();
    let location = resource_location(view, &stored.resource).map(|l| l.to_string()).unwrap_or_default();
    let operation = stored.meta.pending.as_ref().map(|p| p.operation_id.to_string()).unwrap_or_default();
    let api = ctx.api_version.clone().unwrap_or_else(|| "2024-05-01".to_owned());
    format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Network/locations/{location}/operations/{operation}?api-version={api}",
        ctx.settings.management_endpoint
    )
}

fn is_busy(stored: &Stored) -> bool {
    !matches!(stored.resource.provisioning_state(), ProvisioningState::Succeeded | ProvisioningState::Failed)
}

/// A resource being changed by another running operation refuses new changes (1.9).
pub fn ensure_idle(view: &impl View, ctx: &Context<'_>, id: &ResourceId) -> Result<(), AzureError> {
    match view.get(id) {
        Some(stored) if is_busy(stored) => Err(errors::another_operation_in_progress(&status_uri(ctx, stored, view))),
        _ => Ok(()),
    }
}

/// A resource another one depends on must be `Succeeded` (1.8).
pub fn ensure_provisioned(view: &impl View, id: &ResourceId, used_by: &ResourceId) -> Result<(), AzureError> {
    match view.get(id) {
        Some(stored) if is_busy(stored) => {
            let operation =
                stored.meta.pending.as_ref().map(|p| p.name.as_str()).unwrap_or("PutVirtualNetworkOperation");
            Err(errors::referenced_resource_not_provisioned(
                id,
                used_by,
                stored.resource.provisioning_state().as_str(),
                operation,
            ))
        }
        _ => Ok(()),
    }
}

/// The checks every create-or-update of a top-level resource starts with: its group exists, its
/// name is valid, it stays in its region, and no other operation is running on it.
pub fn check_put(view: &impl View, ctx: &Context<'_>, id: &ResourceId, location: Location) -> Result<(), AzureError> {
    require_resource_group(view, id)?;
    check_name(id.name())?;
    check_location_unchanged(view.resource(id), location)?;
    ensure_idle(view, ctx, id)
}

/// The start of every delete of a top-level resource: its group must exist, a resource that is
/// not there is no error (HTTP 204: `Ok(false)`), and a busy one refuses.
pub fn check_delete(view: &impl View, ctx: &Context<'_>, id: &ResourceId, kind: Kind) -> Result<bool, AzureError> {
    require_resource_group(view, id)?;
    if view.resource(id).is_none_or(|r| r.kind() != kind) {
        return Ok(false);
    }
    ensure_idle(view, ctx, id)?;
    Ok(true)
}

/// The children of `parent` of `kind` whose names are not in `keep`: what a PUT carrying the whole
/// child set removes.
pub fn children_not_in(view: &impl View, parent: &ResourceId, kind: Kind, keep: &[&str]) -> Vec<ResourceId> {
    view.children_of(parent, kind)
        .into_iter()
        .filter(|c| !keep.iter().any(|n| vnetlab_model::same_name(n, c.id().name())))
        .map(|c| c.id().clone())
        .collect()
}

/// Every child of `parent` of `kind`.
pub fn children(view: &impl View, parent: &ResourceId, kind: Kind) -> Vec<ResourceId> {
    children_not_in(view, parent, kind, &[])
}
