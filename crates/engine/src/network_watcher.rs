//! Network watchers. Azure allows one per subscription and region (azure-cli issue 15796 quotes
//! the refusal).

use vnetlab_model::{
    AzureError, Kind, NetworkWatcher, NetworkWatcherProperties, ProvisioningState, Resource, ResourceId, View,
};

use crate::Effect;
use crate::common::{check_delete, check_put};
use crate::errors;
use crate::operation::NetworkWatcherSpec;
use crate::tx::Tx;

pub(crate) fn network_watcher_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &NetworkWatcherSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let created = view.get(id).is_none();
    let subscription = id.subscription_id().unwrap_or_default();
    let another = view.all_of(Kind::NetworkWatcher).into_iter().any(|w| {
        w.id() != id
            && w.id().subscription_id().is_some_and(|s| s.eq_ignore_ascii_case(subscription))
            && w.resource.location() == Some(spec.location)
    });
    if another {
        return Err(errors::network_watcher_count_limit_reached());
    }
    let watcher = NetworkWatcher {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: NetworkWatcherProperties { provisioning_state: ProvisioningState::Succeeded },
    };
    Ok(tx.finish_put(Resource::NetworkWatcher(watcher), created, "PutNetworkWatcherOperation"))
}

pub(crate) fn network_watcher_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    if !check_delete(&tx.draft, tx.ctx, id, Kind::NetworkWatcher)? {
        return Ok(Effect::Absent);
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}
