//! The whole lab in memory, indexed: by id, by kind, and by who references whom. The store keeps one
//! up to date from its change feed; the engine reads it through [`View`] and writes into a [`Draft`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::id::ResourceId;
use crate::kind::Kind;
use crate::resources::{
    GATEWAY_SUBNET, Resource, Stored, Subnet, VirtualNetwork, VirtualNetworkGateway, VirtualNetworkPeering,
};

/// One change to the state: a resource written or removed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(Box<Stored>),
    Delete(ResourceId),
}

impl Change {
    pub fn id(&self) -> &ResourceId {
        match self {
            Change::Put(s) => s.id(),
            Change::Delete(id) => id,
        }
    }
}

/// Read access to a state, committed or drafted.
pub trait View {
    fn get(&self, id: &ResourceId) -> Option<&Stored>;

    /// Direct children of `parent` of one kind (subnets of a VNet, resource groups of a
    /// subscription, VNets of a resource group), in id order.
    fn children_of(&self, parent: &ResourceId, kind: Kind) -> Vec<&Stored>;

    /// Every resource below `ancestor` in ARM's hierarchy, in id order.
    fn descendants(&self, ancestor: &ResourceId) -> Vec<&Stored>;

    /// Resources of `kind` that reference `target`, in id order.
    fn referrers(&self, target: &ResourceId, kind: Kind) -> Vec<&Stored>;

    /// Every resource of `kind`, in id order.
    fn all_of(&self, kind: Kind) -> Vec<&Stored>;

    /// The peering link under `from` whose remote is `to`.
    fn link_from_to(&self, from: &ResourceId, to: &ResourceId) -> Option<&Stored>;
}

/// Whether `key` is the key of a direct child of the resource keyed `parent`
/// (`{parent}/{collection}/{name}`), without building ids.
fn is_direct_child(key: &str, parent: &str) -> bool {
    key.len() > parent.len() + 1
        && key.starts_with(parent)
        && key.as_bytes()[parent.len()] == b'/'
        && key[parent.len() + 1..].matches('/').count() == 1
}

/// The committed state at one revision.
#[derive(Debug, Clone, Default)]
pub struct State {
    revision: u64,
    resources: BTreeMap<String, Stored>,
    by_kind: HashMap<Kind, BTreeSet<String>>,
    referrers: HashMap<String, BTreeSet<String>>,
    /// (local VNet key, remote VNet key) → link key.
    links: HashMap<(String, String), String>,
    /// Who may do what: the role assignments, indexed for decisions.
    grants: Grants,
}

/// The lab's role assignments over Azure's built-in roles.
#[derive(Debug, Clone)]
struct Grants(vnetlab_authz::Authorizer);

impl Default for Grants {
    fn default() -> Grants {
        Grants(vnetlab_authz::Authorizer::new(vnetlab_authz::builtin_roles(), &[]))
    }
}

fn grant(stored: &Stored) -> Option<vnetlab_authz::RoleAssignment> {
    let a = stored.resource.as_role_assignment()?;
    Some(vnetlab_authz::RoleAssignment {
        id: a.id.key().to_owned(),
        principal_id: a.properties.principal_id.clone(),
        role_definition_id: a.role_guid().to_owned(),
        scope: a.properties.scope.clone(),
    })
}

fn link_pair(stored: &Stored) -> Option<(String, String)> {
    let link = stored.resource.as_peering()?;
    let key = stored.id().key();
    let local = &key[..key.rfind('/')?];
    let local = &local[..local.rfind('/')?];
    Some((local.to_owned(), link.remote_vnet_id().key().to_owned()))
}

/// What [`State::apply`] replaced, to put it back if the transaction fails.
#[derive(Debug, Default)]
pub struct Undo {
    revision: u64,
    previous: Vec<(ResourceId, Option<Stored>)>,
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Decisions over the lab's role assignments.
    pub fn authorizer(&self) -> &vnetlab_authz::Authorizer {
        &self.grants.0
    }

    /// Every resource, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.resources.values()
    }

    /// Writes a resource, keeping the indexes; returns what it replaced.
    pub fn insert(&mut self, stored: Stored) -> Option<Stored> {
        let key = stored.id().key().to_owned();
        let previous = self.remove_key(&key);
        self.by_kind.entry(stored.kind()).or_default().insert(key.clone());
        for target in stored.resource.references() {
            self.referrers.entry(target.key().to_owned()).or_default().insert(key.clone());
        }
        if let Some(pair) = link_pair(&stored) {
            self.links.insert(pair, key.clone());
        }
        if let Some(g) = grant(&stored) {
            self.grants.0.insert(&g);
        }
        self.resources.insert(key, stored);
        previous
    }

    pub fn remove(&mut self, id: &ResourceId) -> Option<Stored> {
        self.remove_key(id.key())
    }

    fn remove_key(&mut self, key: &str) -> Option<Stored> {
        let old = self.resources.remove(key)?;
        if let Some(set) = self.by_kind.get_mut(&old.kind()) {
            set.remove(key);
        }
        for target in old.resource.references() {
            if let Some(set) = self.referrers.get_mut(target.key()) {
                set.remove(key);
                if set.is_empty() {
                    self.referrers.remove(target.key());
                }
            }
        }
        if let Some(pair) = link_pair(&old)
            && self.links.get(&pair).is_some_and(|k| k == key)
        {
            self.links.remove(&pair);
        }
        if let Some(g) = grant(&old) {
            self.grants.0.remove(&g);
        }
        Some(old)
    }

    /// Applies `changes` as revision `revision` and returns how to take them back.
    pub fn apply(&mut self, changes: &[Change], revision: u64) -> Undo {
        let mut undo = Undo { revision: self.revision, previous: Vec::with_capacity(changes.len()) };
        for change in changes {
            match change {
                Change::Put(stored) => {
                    let mut stored = (**stored).clone();
                    stored.revision = revision;
                    let id = stored.id().clone();
                    let previous = self.insert(stored);
                    undo.previous.push((id, previous));
                }
                Change::Delete(id) => {
                    let previous = self.remove(id);
                    undo.previous.push((id.clone(), previous));
                }
            }
        }
        self.revision = revision;
        undo
    }

    /// Takes back what one `apply` did.
    pub fn undo(&mut self, undo: Undo) {
        for (id, previous) in undo.previous.into_iter().rev() {
            match previous {
                Some(stored) => {
                    self.insert(stored);
                }
                None => {
                    self.remove(&id);
                }
            }
        }
        self.revision = undo.revision;
    }

    fn sorted<'a>(&'a self, keys: impl Iterator<Item = &'a String>) -> Vec<&'a Stored> {
        keys.filter_map(|k| self.resources.get(k)).collect()
    }

    fn under<'a>(&'a self, ancestor: &ResourceId) -> impl Iterator<Item = &'a Stored> + 'a {
        let prefix = format!("{}/", ancestor.key());
        self.resources.range(prefix.clone()..).take_while(move |(k, _)| k.starts_with(&prefix)).map(|(_, v)| v)
    }
}

impl View for State {
    fn get(&self, id: &ResourceId) -> Option<&Stored> {
        self.resources.get(id.key())
    }

    fn children_of(&self, parent: &ResourceId, kind: Kind) -> Vec<&Stored> {
        self.under(parent).filter(|s| s.kind() == kind && is_direct_child(s.id().key(), parent.key())).collect()
    }

    fn link_from_to(&self, from: &ResourceId, to: &ResourceId) -> Option<&Stored> {
        let key = self.links.get(&(from.key().to_owned(), to.key().to_owned()))?;
        self.resources.get(key)
    }

    fn descendants(&self, ancestor: &ResourceId) -> Vec<&Stored> {
        self.under(ancestor).collect()
    }

    fn referrers(&self, target: &ResourceId, kind: Kind) -> Vec<&Stored> {
        match self.referrers.get(target.key()) {
            Some(keys) => self.sorted(keys.iter()).into_iter().filter(|s| s.kind() == kind).collect(),
            None => Vec::new(),
        }
    }

    fn all_of(&self, kind: Kind) -> Vec<&Stored> {
        match self.by_kind.get(&kind) {
            Some(keys) => self.sorted(keys.iter()),
            None => Vec::new(),
        }
    }
}

/// Changes drafted on top of a state, readable as if applied. The engine writes into one and returns
/// its changes; nothing touches the committed state.
pub struct Draft<'a> {
    base: &'a State,
    overlay: BTreeMap<String, Option<Stored>>,
    order: Vec<String>,
}

impl<'a> Draft<'a> {
    pub fn new(base: &'a State) -> Draft<'a> {
        Draft { base, overlay: BTreeMap::new(), order: Vec::new() }
    }

    pub fn base(&self) -> &'a State {
        self.base
    }

    fn touch(&mut self, key: &str) {
        if !self.overlay.contains_key(key) {
            self.order.push(key.to_owned());
        }
    }

    pub fn put(&mut self, stored: Stored) {
        let key = stored.id().key().to_owned();
        self.touch(&key);
        self.overlay.insert(key, Some(stored));
    }

    pub fn delete(&mut self, id: &ResourceId) {
        let key = id.key().to_owned();
        self.touch(&key);
        self.overlay.insert(key, None);
    }

    /// The changes, in the order resources were first touched. Writes that leave a resource as it
    /// was are dropped. A real change to a child resource changes its parent's etag too, as ARM
    /// reports one etag for a VNet and everything inline in it: the written child's etag, or for a
    /// removed child a fresh one from `fresh_etag`.
    pub fn into_changes(self, mut fresh_etag: impl FnMut() -> String) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut touched_parents: Vec<(ResourceId, Option<String>)> = Vec::new();
        for key in &self.order {
            let Some(new) = self.overlay.get(key) else {
                continue;
            };
            let old = self.base.resources.get(key);
            match (old, new) {
                (None, None) => {}
                (Some(old), None) => {
                    if old.kind().parent().is_some() {
                        touched_parents.extend(old.id().parent().map(|p| (p, None)));
                    }
                    changes.push(Change::Delete(old.id().clone()));
                }
                (old, Some(new)) => {
                    let unchanged = old.is_some_and(|o| o.resource == new.resource && o.meta == new.meta);
                    if unchanged {
                        continue;
                    }
                    if new.kind().parent().is_some() {
                        touched_parents.extend(new.id().parent().map(|p| (p, Some(new.etag.clone()))));
                    }
                    changes.push(Change::Put(Box::new(new.clone())));
                }
            }
        }
        for (parent, etag) in touched_parents {
            let already = changes.iter().any(|c| c.id() == &parent);
            if already {
                continue;
            }
            if let Some(current) = self.get(&parent) {
                let mut touched = current.clone();
                touched.etag = etag.unwrap_or_else(&mut fresh_etag);
                changes.push(Change::Put(Box::new(touched)));
            }
        }
        changes
    }

    /// `base` (in id order) with the overlay's versions instead, plus overlay entries that match.
    fn merged<'b>(&'b self, base: Vec<&'b Stored>, extra: impl Fn(&Stored) -> bool) -> Vec<&'b Stored> {
        let added: Vec<&Stored> = self.overlay.values().flatten().filter(|s| extra(s)).collect();
        let mut out: Vec<&Stored> = base.into_iter().filter(|s| !self.overlay.contains_key(s.id().key())).collect();
        if added.is_empty() {
            return out;
        }
        out.extend(added);
        out.sort_by(|a, b| a.id().key().cmp(b.id().key()));
        out
    }
}

impl View for Draft<'_> {
    fn get(&self, id: &ResourceId) -> Option<&Stored> {
        match self.overlay.get(id.key()) {
            Some(value) => value.as_ref(),
            None => self.base.get(id),
        }
    }

    fn children_of(&self, parent: &ResourceId, kind: Kind) -> Vec<&Stored> {
        self.merged(self.base.children_of(parent, kind), |s| {
            s.kind() == kind && is_direct_child(s.id().key(), parent.key())
        })
    }

    fn descendants(&self, ancestor: &ResourceId) -> Vec<&Stored> {
        self.merged(self.base.descendants(ancestor), |s| s.id().is_under(ancestor))
    }

    fn referrers(&self, target: &ResourceId, kind: Kind) -> Vec<&Stored> {
        self.merged(self.base.referrers(target, kind), |s| {
            s.kind() == kind && s.resource.references().contains(&target)
        })
    }

    fn all_of(&self, kind: Kind) -> Vec<&Stored> {
        self.merged(self.base.all_of(kind), |s| s.kind() == kind)
    }

    fn link_from_to(&self, from: &ResourceId, to: &ResourceId) -> Option<&Stored> {
        let drafted = self.overlay.iter().find_map(|(key, value)| {
            let stored = value.as_ref()?;
            let link = stored.resource.as_peering()?;
            (link.remote_vnet_id() == to && is_direct_child(key, from.key())).then_some(stored)
        });
        drafted.or_else(|| self.base.link_from_to(from, to).filter(|s| !self.overlay.contains_key(s.id().key())))
    }
}

/// Typed lookups over any view.
pub trait ViewExt: View {
    fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.get(id).map(|s| &s.resource)
    }

    fn exists(&self, id: &ResourceId) -> bool {
        self.get(id).is_some()
    }

    fn vnet(&self, id: &ResourceId) -> Option<&VirtualNetwork> {
        self.resource(id).and_then(Resource::as_virtual_network)
    }

    fn subnet(&self, id: &ResourceId) -> Option<&Subnet> {
        self.resource(id).and_then(Resource::as_subnet)
    }

    fn peering(&self, id: &ResourceId) -> Option<&VirtualNetworkPeering> {
        self.resource(id).and_then(Resource::as_peering)
    }

    fn gateway(&self, id: &ResourceId) -> Option<&VirtualNetworkGateway> {
        self.resource(id).and_then(Resource::as_virtual_network_gateway)
    }

    fn subnets_of(&self, vnet: &ResourceId) -> Vec<&Subnet> {
        self.children_of(vnet, Kind::Subnet).into_iter().filter_map(|s| s.resource.as_subnet()).collect()
    }

    /// The peering links that live under `vnet`.
    fn links_of(&self, vnet: &ResourceId) -> Vec<&VirtualNetworkPeering> {
        self.children_of(vnet, Kind::VirtualNetworkPeering)
            .into_iter()
            .filter_map(|s| s.resource.as_peering())
            .collect()
    }

    /// The peering links of other VNets whose remote is `vnet`.
    fn links_to(&self, vnet: &ResourceId) -> Vec<&VirtualNetworkPeering> {
        self.referrers(vnet, Kind::VirtualNetworkPeering).into_iter().filter_map(|s| s.resource.as_peering()).collect()
    }

    /// The link from `from` to `to`, if `from` has one.
    fn link_between(&self, from: &ResourceId, to: &ResourceId) -> Option<&VirtualNetworkPeering> {
        self.link_from_to(from, to).and_then(|s| s.resource.as_peering())
    }

    /// The other half of a link: the link under its remote VNet that points back.
    fn reverse_link(&self, link: &VirtualNetworkPeering) -> Option<&VirtualNetworkPeering> {
        let local = link.local_vnet_id()?;
        self.link_between(link.remote_vnet_id(), &local)
    }

    /// The virtual network gateways in a VNet's GatewaySubnet.
    fn gateways_of(&self, vnet: &ResourceId) -> Vec<&VirtualNetworkGateway> {
        let Ok(gateway_subnet) = vnet.child(Kind::Subnet, GATEWAY_SUBNET) else {
            return Vec::new();
        };
        self.referrers(&gateway_subnet, Kind::VirtualNetworkGateway)
            .into_iter()
            .filter_map(|s| s.resource.as_virtual_network_gateway())
            .collect()
    }
}

impl<T: View + ?Sized> ViewExt for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::ProvisioningState;
    use crate::location::Location;
    use crate::resources::{Meta, ResourceGroup, ResourceGroupProperties};

    fn rg(name: &str) -> Stored {
        let id = ResourceId::resource_group("s", name).unwrap();
        Stored {
            resource: Resource::ResourceGroup(ResourceGroup {
                id,
                name: name.into(),
                location: Location::parse("westus").unwrap(),
                tags: Default::default(),
                managed_by: None,
                properties: ResourceGroupProperties { provisioning_state: ProvisioningState::Succeeded },
            }),
            etag: "W/\"1\"".into(),
            revision: 0,
            meta: Meta::default(),
        }
    }

    #[test]
    fn apply_and_undo_restore_the_state() {
        let mut state = State::new();
        state.insert(rg("a"));
        let sub = ResourceId::subscription("s").unwrap();
        let undo = state.apply(&[Change::Put(Box::new(rg("b"))), Change::Delete(rg("a").id().clone())], 7);
        assert_eq!(state.revision(), 7);
        let names: Vec<_> =
            state.children_of(&sub, Kind::ResourceGroup).iter().map(|s| s.resource.name().to_owned()).collect();
        assert_eq!(names, ["b"]);
        state.undo(undo);
        assert_eq!(state.revision(), 0);
        let names: Vec<_> =
            state.children_of(&sub, Kind::ResourceGroup).iter().map(|s| s.resource.name().to_owned()).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(state.all_of(Kind::ResourceGroup).len(), 1);
    }

    #[test]
    fn draft_reads_its_own_writes_and_drops_no_ops() {
        let mut state = State::new();
        state.insert(rg("a"));
        let mut draft = Draft::new(&state);
        draft.put(rg("a"));
        draft.put(rg("b"));
        let sub = ResourceId::subscription("s").unwrap();
        assert_eq!(draft.children_of(&sub, Kind::ResourceGroup).len(), 2);
        draft.delete(rg("a").id());
        assert_eq!(draft.children_of(&sub, Kind::ResourceGroup).len(), 1);
        assert!(draft.get(rg("a").id()).is_none());
        let changes = draft.into_changes(|| "W/\"fresh\"".to_owned());
        assert_eq!(changes.len(), 2);
        assert!(matches!(&changes[0], Change::Delete(id) if id == rg("a").id()));
        let mut again = Draft::new(&state);
        again.put(rg("a"));
        assert!(again.into_changes(String::new).is_empty());
    }
}
