//! One operation's drafted changes, with the context that stamps them (etags, deferred provisioning).

use vnetlab_model::{
    AzureError, Change, Draft, Meta, PendingOperation, ProvisioningState, Resource, ResourceId, State, Stored, View,
};

use uuid::Uuid;

use crate::Effect;
use crate::context::{Context, Provisioning};

pub(crate) struct Tx<'s, 'c, 'a> {
    pub draft: Draft<'s>,
    pub ctx: &'c mut Context<'a>,
    /// Resources the operation keeps `Updating` while provisioning is deferred, with Azure's
    /// internal operation name.
    locks: Vec<(ResourceId, &'static str)>,
}

impl<'s, 'c, 'a> Tx<'s, 'c, 'a> {
    pub fn new(state: &'s State, ctx: &'c mut Context<'a>) -> Self {
        Tx { draft: Draft::new(state), ctx, locks: Vec::new() }
    }

    pub fn view(&self) -> &Draft<'s> {
        &self.draft
    }

    /// Writes `resource` with a fresh etag, keeping the bookkeeping it had; a new resource records
    /// the request's origin.
    pub fn put(&mut self, resource: Resource) {
        let meta = match self.draft.get(resource.id()) {
            Some(existing) => existing.meta.clone(),
            None => Meta { origin: self.ctx.origin.clone(), ..Meta::default() },
        };
        self.put_with_meta(resource, meta);
    }

    pub fn put_with_meta(&mut self, resource: Resource, meta: Meta) {
        let etag = self.ctx.etag();
        self.draft.put(Stored { resource, etag, revision: 0, meta });
    }

    pub fn delete(&mut self, id: &ResourceId) {
        self.draft.delete(id);
    }

    /// Deletes a child that nothing else depends on (an NSG rule, a route): its parent must exist;
    /// a child already gone is no error.
    pub fn delete_leaf(&mut self, id: &ResourceId) -> Result<Effect, AzureError> {
        crate::common::require_parent(&self.draft, id)?;
        if self.draft.get(id).is_none() {
            return Ok(Effect::Absent);
        }
        self.delete(id);
        Ok(Effect::Deleted)
    }

    /// Writes the target of a create-or-update and keeps it locked while provisioning is
    /// deferred; the effect to report.
    pub fn finish_put(&mut self, resource: Resource, created: bool, operation_name: &'static str) -> Effect {
        let id = resource.id().clone();
        self.put(resource);
        self.lock(&id, operation_name);
        if created { Effect::Created } else { Effect::Updated }
    }

    /// As [`Tx::finish_put`] for a resource whose PUT carries its children (an NSG's rules, a route
    /// table's routes): writes them and removes the children it no longer lists.
    pub fn finish_put_with_children(
        &mut self,
        parent: Resource,
        children: Vec<Resource>,
        removed: &[ResourceId],
        created: bool,
        operation_name: &'static str,
    ) -> Effect {
        let effect = self.finish_put(parent, created, operation_name);
        for child in children {
            self.put(child);
        }
        for r in removed {
            self.delete(r);
        }
        effect
    }

    /// Deletes a resource and its children of `kind`.
    pub fn delete_with_children(&mut self, id: &ResourceId, kind: vnetlab_model::Kind) {
        for child in crate::common::children(&self.draft, id, kind) {
            self.delete(&child);
        }
        self.delete(id);
    }

    /// Keeps `id` `Updating` until the operation completes, when provisioning is deferred.
    pub fn lock(&mut self, id: &ResourceId, operation_name: &'static str) {
        if self.ctx.settings.provisioning == Provisioning::Deferred && !self.locks.iter().any(|(l, _)| l == id) {
            self.locks.push((id.clone(), operation_name));
        }
    }

    /// The changes, and the long-running operation that holds what the write locked (when
    /// provisioning is deferred and something was locked).
    pub fn into_changes(mut self) -> (Vec<Change>, Option<Uuid>) {
        let mut started = None;
        if !self.locks.is_empty() {
            let operation_id = self.ctx.guid();
            for (id, name) in std::mem::take(&mut self.locks) {
                let Some(current) = self.draft.get(&id).cloned() else {
                    continue;
                };
                // A resource another running operation holds keeps that operation: completing it
                // is what frees the resource. (The engine's checks refuse such writes; this is
                // a safety net.)
                if current.meta.pending.is_some() {
                    continue;
                }
                let mut resource = current.resource;
                resource.set_provisioning_state(ProvisioningState::Updating);
                let meta =
                    Meta { pending: Some(PendingOperation { name: name.to_owned(), operation_id }), ..current.meta };
                self.draft.put(Stored { resource, etag: current.etag, revision: 0, meta });
                started = Some(operation_id);
            }
        }
        let ctx = self.ctx;
        (self.draft.into_changes(|| ctx.etag()), started)
    }
}
