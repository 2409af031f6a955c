//! Incremental recompile: after a change, only the parts of the compiled view that read a changed
//! resource are compiled again, and the result is the view a full compile of the new state gives.
//!
//! What each part of the view reads (`Network::compile`, `routes::subnet_routes`,
//! `security::Tags::for_subnet`, `security::compile_nsg`):
//!
//! - a subnet's routes and tags: its VNet (location, address space), the subnet (prefixes, route
//!   table and NSG bindings), the route table and its routes, the links under its VNet and the
//!   locations of their remote VNets, the links back (gateway transit), the gateways of its VNet
//!   or of the VNet whose gateway it uses, and what those gateways learn: their connections, the
//!   connections' local network gateways, and for VNet-to-VNet connections the other gateway and
//!   the address space of that gateway's VNet;
//! - a compiled NSG: the NSG, its rules and the tags of the subnet it is compiled for;
//! - a NIC: the NIC, the VMs that name it and, for its own NSG, the tags of its primary subnet;
//! - a VM's entry: the VM.
//!
//! So a changed resource marks what reads it, following each relation both as the last compile
//! saw it (the `Index`, since deleted resources are gone from the state) and as the new state
//! has it. Relations found by looking from the read resource towards its readers (who links to
//! this VNet, which subnets use this route table) are looked up in the new state only: a reader
//! whose relation to it went away was itself changed, and is marked by its own change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use vnetlab_model::{
    Kind, Location, Prefix, Resource, ResourceId, State, Subnet, View, ViewExt, VirtualNetwork, VirtualNetworkGateway,
};

use super::security::{CompiledNsg, Tags};
use super::{Network, NicView, NsgCache, SubnetView};

/// What a VNet's subnets were compiled from that only the VNet holds, and which subnets it has.
#[derive(Debug, Clone, PartialEq)]
struct VnetEntry {
    location: Location,
    address_space: Vec<Prefix>,
    /// The keys of its subnets' views.
    subnets: BTreeSet<String>,
}

/// Relations of the compiled state that a later change needs after the resource holding them was
/// deleted or rewritten.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Index {
    vnets: HashMap<ResourceId, VnetEntry>,
    /// Peering link → its remote VNet.
    links: HashMap<ResourceId, ResourceId>,
    /// Gateway → the VNets of its IP configurations' subnets.
    gateways: HashMap<ResourceId, Vec<ResourceId>>,
    /// Connection → its first gateway, the one that learns routes from it.
    connections: HashMap<ResourceId, ResourceId>,
}

impl Index {
    /// Records a VNet and its subnets, as compiled.
    pub(crate) fn record_vnet(&mut self, vnet: &VirtualNetwork, subnets: &[&Subnet]) {
        let entry = VnetEntry {
            location: vnet.location,
            address_space: vnet.properties.address_space.address_prefixes.clone(),
            subnets: subnets.iter().map(|s| s.id.key().to_owned()).collect(),
        };
        self.vnets.insert(vnet.id.clone(), entry);
    }

    /// Records what a link, gateway or connection relates; other resources hold nothing kept here.
    pub(crate) fn record(&mut self, resource: &Resource) {
        match resource {
            Resource::VirtualNetworkPeering(link) => {
                self.links.insert(link.id.clone(), link.remote_vnet_id().clone());
            }
            Resource::VirtualNetworkGateway(gateway) => {
                self.gateways.insert(gateway.id.clone(), gateway_vnets(gateway));
            }
            Resource::Connection(c) => {
                self.connections.insert(c.id.clone(), c.properties.virtual_network_gateway1.id.clone());
            }
            _ => {}
        }
    }

    /// Records a link, gateway or connection as `state` has it, or forgets it when it is gone.
    fn refresh(&mut self, state: &State, id: &ResourceId) {
        self.links.remove(id);
        self.gateways.remove(id);
        self.connections.remove(id);
        if let Some(resource) = state.resource(id) {
            self.record(resource);
        }
    }
}

/// The VNets a gateway sits in (the parents of its IP configurations' subnets).
fn gateway_vnets(gateway: &VirtualNetworkGateway) -> Vec<ResourceId> {
    let mut vnets: Vec<ResourceId> =
        gateway.properties.ip_configurations.iter().filter_map(|c| c.properties.subnet.id.parent()).collect();
    vnets.sort();
    vnets.dedup();
    vnets
}

/// An update that would compile more VNets than this, and more than half of them, compiles the
/// whole state instead.
const FULL_COMPILE_MIN_VNETS: usize = 64;

/// What [`Network::update`] compiled again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// The whole state was compiled: the change list named something the dependency rules do not
    /// cover, or most VNets needed compiling anyway. The counts are then those of the whole view.
    pub full: bool,
    /// VNets whose every subnet was compiled again (or removed).
    pub vnets: usize,
    /// Subnet views built again (routes, tags and NSG) or removed.
    pub subnets: usize,
    /// Subnet views of which only the NSG was compiled again.
    pub subnet_nsgs: usize,
    /// NIC views built again or removed.
    pub nics: usize,
    /// VM entries built again or removed.
    pub vms: usize,
    /// NSGs compiled (an NSG counts once per subnet whose tags it was compiled with); compiled
    /// NSGs whose inputs did not change are kept, not counted.
    pub nsgs_compiled: usize,
}

/// What one update compiles again.
#[derive(Debug, Default)]
struct Plan {
    /// VNets whose every subnet is compiled again.
    vnets: HashSet<ResourceId>,
    /// Subnets compiled again on their own.
    subnets: HashSet<ResourceId>,
    /// NSGs whose every compiled form is redone (the NSG or one of its rules changed).
    nsgs: HashSet<ResourceId>,
    nics: HashSet<ResourceId>,
    vms: HashSet<ResourceId>,
    /// Gateways whose users are marked already.
    gateways_seen: HashSet<ResourceId>,
    /// Links, gateways and connections whose index entries are refreshed.
    recorded: Vec<ResourceId>,
}

impl Plan {
    /// Marks what reads resource `id` of `kind`; false when the rules cannot say.
    fn add(&mut self, network: &Network, state: &State, id: &ResourceId, kind: Kind) -> bool {
        match kind {
            // Nothing in the view reads these. (A deleted group or subscription lists every
            // resource it took along as a change of its own.)
            Kind::Tenant
            | Kind::Subscription
            | Kind::Principal
            | Kind::RoleAssignment
            | Kind::ResourceGroup
            | Kind::PublicIpAddress
            | Kind::NetworkWatcher => {}
            Kind::VirtualNetwork => self.vnet_changed(network, state, id),
            Kind::Subnet => {
                let Some(vnet) = id.parent() else {
                    return false;
                };
                // A subnet of a VNet the last compile did not see: compile the VNet, which
                // records it.
                if !network.index.vnets.contains_key(&vnet) {
                    self.vnets.insert(vnet);
                }
                self.subnets.insert(id.clone());
            }
            Kind::VirtualNetworkPeering => {
                // The local VNet reads the link; the remote reads it as the link back when it
                // uses gateway transit.
                let Some(local) = id.parent() else {
                    return false;
                };
                self.vnets.insert(local);
                if let Some(link) = state.peering(id) {
                    self.vnets.insert(link.remote_vnet_id().clone());
                }
                if let Some(remote) = network.index.links.get(id) {
                    self.vnets.insert(remote.clone());
                }
                self.recorded.push(id.clone());
            }
            Kind::RouteTable => self.bound_to_table(state, id),
            Kind::Route => {
                let Some(table) = id.parent() else {
                    return false;
                };
                self.bound_to_table(state, &table);
            }
            Kind::NetworkSecurityGroup => {
                self.nsgs.insert(id.clone());
            }
            Kind::SecurityRule => {
                let Some(nsg) = id.parent() else {
                    return false;
                };
                self.nsgs.insert(nsg);
            }
            Kind::VirtualNetworkGateway => {
                self.gateway_users(network, state, id);
                // VNet-to-VNet connections whose other end is this gateway learn its VNet's space.
                for stored in state.referrers(id, Kind::Connection) {
                    if let Some(c) = stored.resource.as_connection() {
                        self.gateway_users(network, state, &c.properties.virtual_network_gateway1.id);
                    }
                }
                self.recorded.push(id.clone());
            }
            Kind::Connection => {
                if let Some(c) = state.resource(id).and_then(Resource::as_connection) {
                    self.gateway_users(network, state, &c.properties.virtual_network_gateway1.id);
                }
                if let Some(gateway) = network.index.connections.get(id) {
                    self.gateway_users(network, state, gateway);
                }
                self.recorded.push(id.clone());
            }
            Kind::LocalNetworkGateway => {
                for stored in state.referrers(id, Kind::Connection) {
                    if let Some(c) = stored.resource.as_connection() {
                        self.gateway_users(network, state, &c.properties.virtual_network_gateway1.id);
                    }
                }
            }
            Kind::NetworkInterface => {
                self.nics.insert(id.clone());
            }
            Kind::VirtualMachine => {
                self.vms.insert(id.clone());
                // The NICs it names now and those it named before take their VM from it.
                if let Some(vm) = state.resource(id).and_then(Resource::as_virtual_machine) {
                    self.nics.extend(vm.nic_ids().cloned());
                }
                for key in network.vms.get(id.key()).into_iter().flatten() {
                    if let Some(nic) = network.nics.get(key) {
                        self.nics.insert(nic.id.clone());
                    }
                }
            }
        }
        true
    }

    /// A VNet put or deleted. Its subnets read only its location and address space (a subnet
    /// added or removed is a change of its own), so a VNet rewritten with both as they were (a
    /// child's write touches its parent's etag) changes nothing. Otherwise (or when it is new or
    /// gone): its subnets, the VNets whose links point at it and those it links to, and the VNets
    /// that learn its space through a VNet-to-VNet connection, with their transit users.
    fn vnet_changed(&mut self, network: &Network, state: &State, id: &ResourceId) {
        let before = network.index.vnets.get(id);
        let now = state.vnet(id);
        let moved = match (before, now) {
            (Some(b), Some(n)) => {
                b.location != n.location || b.address_space != n.properties.address_space.address_prefixes
            }
            _ => true,
        };
        if !moved {
            return;
        }
        self.vnets.insert(id.clone());
        for link in state.links_to(id) {
            self.vnets.extend(link.local_vnet_id());
        }
        for link in state.links_of(id) {
            self.vnets.insert(link.remote_vnet_id().clone());
        }
        let mut gateways: Vec<ResourceId> = state.gateways_of(id).iter().map(|g| g.id.clone()).collect();
        if before.is_some() {
            gateways
                .extend(network.index.gateways.iter().filter(|(_, vnets)| vnets.contains(id)).map(|(g, _)| g.clone()));
        }
        for gateway in gateways {
            for stored in state.referrers(&gateway, Kind::Connection) {
                if let Some(c) = stored.resource.as_connection()
                    && c.properties.virtual_network_gateway1.id != gateway
                {
                    self.gateway_users(network, state, &c.properties.virtual_network_gateway1.id);
                }
            }
        }
    }

    /// The subnets that use a route table.
    fn bound_to_table(&mut self, state: &State, table: &ResourceId) {
        for stored in state.referrers(table, Kind::Subnet) {
            self.subnets.insert(stored.id().clone());
        }
    }

    /// The VNets whose routes read what `gateway` learned or its addresses: its own VNet and the
    /// VNets linked to it, which may use it through gateway transit.
    fn gateway_users(&mut self, network: &Network, state: &State, gateway: &ResourceId) {
        if !self.gateways_seen.insert(gateway.clone()) {
            return;
        }
        let mut vnets = state.gateway(gateway).map(gateway_vnets).unwrap_or_default();
        vnets.extend(network.index.gateways.get(gateway).into_iter().flatten().cloned());
        for vnet in vnets {
            for link in state.links_to(&vnet) {
                self.vnets.extend(link.local_vnet_id());
            }
            self.vnets.insert(vnet);
        }
    }
}

/// Scratch state of one update.
#[derive(Default)]
struct Work {
    /// NSGs compiled in this update, by (NSG, subnet).
    cache: NsgCache,
    /// Subnets whose view was built again or removed and whose tags are not what they were: the
    /// NSGs of the NICs they hold compile again.
    retagged: HashSet<ResourceId>,
    /// Subnet views built again in this update.
    rebuilt: HashSet<String>,
    stats: UpdateStats,
}

/// Whether two subnets' tags expand alike.
fn same_tags(a: &Tags, b: &Tags) -> bool {
    // Spelled out so that a new tag field fails to compile here until it is compared.
    let Tags { virtual_network } = a;
    *virtual_network == b.virtual_network
}

/// The VM whose NIC `nic` is, as `Network::compile` picks it: the last in id order naming it.
fn vm_of(state: &State, nic: &ResourceId) -> Option<ResourceId> {
    state
        .referrers(nic, Kind::VirtualMachine)
        .iter()
        .rev()
        .filter_map(|s| s.resource.as_virtual_machine())
        .find(|vm| vm.nic_ids().any(|n| n == nic))
        .map(|vm| vm.id.clone())
}

impl Network {
    /// Brings the view to `state` by compiling again only what reads a resource in `changed`.
    ///
    /// Contract: `changed` holds the id of every resource put or deleted between the state this
    /// view was compiled from and `state` (the ids of the store's change feed over those
    /// revisions, in any order, repeats allowed). The view then equals `Network::compile(state)`,
    /// revision included. An id of a kind vnetlab does not model makes it compile everything, as
    /// does a change that reaches most VNets.
    pub fn update(&mut self, state: &State, changed: &[ResourceId]) -> UpdateStats {
        let mut plan = Plan::default();
        for id in changed {
            let covered = id.kind().is_some_and(|kind| plan.add(self, state, id, kind));
            if !covered {
                return self.recompile(state);
            }
        }
        // Past half the VNets, compiling everything costs no more and reads the state once.
        if plan.vnets.len() > FULL_COMPILE_MIN_VNETS && plan.vnets.len() * 2 > self.index.vnets.len() {
            return self.recompile(state);
        }
        let stats = self.apply(state, &plan);
        self.revision = state.revision();
        stats
    }

    /// The whole state compiled again.
    fn recompile(&mut self, state: &State) -> UpdateStats {
        *self = Network::compile(state);
        let nsgs: HashSet<*const CompiledNsg> = self
            .subnets
            .values()
            .filter_map(|s| s.nsg.as_ref())
            .chain(self.nics.values().filter_map(|n| n.nsg.as_ref()))
            .map(Arc::as_ptr)
            .collect();
        UpdateStats {
            full: true,
            vnets: self.index.vnets.len(),
            subnets: self.subnets.len(),
            subnet_nsgs: 0,
            nics: self.nics.len(),
            vms: self.vms.len(),
            nsgs_compiled: nsgs.len(),
        }
    }

    fn apply(&mut self, state: &State, plan: &Plan) -> UpdateStats {
        let mut work = Work::default();
        for vnet_id in &plan.vnets {
            self.vnet_recompile(state, plan, vnet_id, &mut work);
        }
        for subnet_id in &plan.subnets {
            let Some(vnet_id) = subnet_id.parent() else {
                continue;
            };
            if plan.vnets.contains(&vnet_id) {
                continue;
            }
            let vnet = state.vnet(&vnet_id);
            let subnet = state.subnet(subnet_id);
            let entry = self.index.vnets.get_mut(&vnet_id);
            match (vnet, subnet, entry) {
                (Some(vnet), Some(subnet), Some(entry)) => {
                    entry.subnets.insert(subnet_id.key().to_owned());
                    self.subnet_recompile(state, plan, vnet, subnet, &mut work);
                }
                (_, _, entry) => {
                    if let Some(entry) = entry {
                        entry.subnets.remove(subnet_id.key());
                    }
                    self.subnet_drop(subnet_id.key(), &mut work);
                }
            }
        }
        // Subnets whose NSG changed but nothing else.
        for nsg in &plan.nsgs {
            for stored in state.referrers(nsg, Kind::Subnet) {
                let key = stored.id().key();
                if work.rebuilt.contains(key) {
                    continue;
                }
                let Some(view) = self.subnets.get_mut(key) else {
                    continue;
                };
                view.nsg = Network::compiled_nsg(state, &mut work.cache, nsg, view);
                work.rebuilt.insert(key.to_owned());
                work.stats.subnet_nsgs += 1;
            }
        }
        let mut nics = plan.nics.clone();
        for subnet in &work.retagged {
            nics.extend(state.referrers(subnet, Kind::NetworkInterface).iter().map(|s| s.id().clone()));
        }
        for nsg in &plan.nsgs {
            nics.extend(state.referrers(nsg, Kind::NetworkInterface).iter().map(|s| s.id().clone()));
        }
        for nic in &nics {
            self.nic_recompile(state, plan, nic, &mut work);
        }
        for vm_id in &plan.vms {
            work.stats.vms += 1;
            match state.resource(vm_id).and_then(Resource::as_virtual_machine) {
                Some(vm) => self.vms.insert(vm_id.key().to_owned(), Network::vm_nics(vm)),
                None => self.vms.remove(vm_id.key()),
            };
        }
        for id in &plan.recorded {
            self.index.refresh(state, id);
        }
        work.stats.nsgs_compiled = work.cache.len();
        work.stats
    }

    /// Every subnet of a VNet built again, those it no longer has removed, and its index entry
    /// rewritten.
    fn vnet_recompile(&mut self, state: &State, plan: &Plan, vnet_id: &ResourceId, work: &mut Work) {
        work.stats.vnets += 1;
        let before = self.index.vnets.remove(vnet_id);
        let mut kept: HashSet<&str> = HashSet::new();
        if let Some(vnet) = state.vnet(vnet_id) {
            let subnets = state.subnets_of(vnet_id);
            for subnet in &subnets {
                self.subnet_recompile(state, plan, vnet, subnet, work);
                kept.insert(subnet.id.key());
            }
            self.index.record_vnet(vnet, &subnets);
        }
        for key in before.map(|e| e.subnets).unwrap_or_default() {
            if !kept.contains(key.as_str()) {
                self.subnet_drop(&key, work);
            }
        }
    }

    /// One subnet's view built again. Its compiled NSG is kept when neither the NSG nor the
    /// subnet's tags changed.
    fn subnet_recompile(
        &mut self,
        state: &State,
        plan: &Plan,
        vnet: &VirtualNetwork,
        subnet: &Subnet,
        work: &mut Work,
    ) {
        work.stats.subnets += 1;
        let key = subnet.id.key().to_owned();
        let mut view = Network::subnet_view(state, vnet, subnet);
        let before = self.subnets.remove(&key);
        let same = before.as_ref().is_some_and(|b| same_tags(&b.tags, &view.tags));
        if !same {
            work.retagged.insert(subnet.id.clone());
        }
        view.nsg = match &subnet.properties.network_security_group {
            None => None,
            Some(n) => {
                let kept = before.and_then(|b| b.nsg).filter(|c| same && c.id == n.id && !plan.nsgs.contains(&n.id));
                match kept {
                    Some(c) => Some(c),
                    None => Network::compiled_nsg(state, &mut work.cache, &n.id, &view),
                }
            }
        };
        work.rebuilt.insert(key.clone());
        self.subnets.insert(key, view);
    }

    fn subnet_drop(&mut self, key: &str, work: &mut Work) {
        if let Some(before) = self.subnets.remove(key) {
            work.stats.subnets += 1;
            work.retagged.insert(before.id);
        }
    }

    /// One NIC's view built again, or removed. Its compiled NSG is its subnet's when they share
    /// the NSG, else the one it had when neither the NSG, its primary subnet nor that subnet's
    /// tags changed, else compiled.
    fn nic_recompile(&mut self, state: &State, plan: &Plan, id: &ResourceId, work: &mut Work) {
        work.stats.nics += 1;
        let before = self.nics.remove(id.key());
        let Some(nic) = state.resource(id).and_then(Resource::as_network_interface) else {
            return;
        };
        let vm = vm_of(state, id);
        let cache = &mut work.cache;
        let retagged = &work.retagged;
        let view = Network::nic_view(nic, vm, &self.subnets, |n: &ResourceId, home: &SubnetView| {
            if let Some(c) = home.nsg.as_ref().filter(|c| c.id == *n) {
                return Some(c.clone());
            }
            let kept = before
                .and_then(|b| kept_nic_nsg(b, n, home))
                .filter(|_| !retagged.contains(&home.id) && !plan.nsgs.contains(n));
            kept.or_else(|| Network::compiled_nsg(state, cache, n, home))
        });
        self.nics.insert(id.key().to_owned(), view);
    }
}

/// A NIC's previous compiled NSG, if it is `nsg` compiled for the same primary subnet as `home`.
fn kept_nic_nsg(before: NicView, nsg: &ResourceId, home: &SubnetView) -> Option<Arc<CompiledNsg>> {
    let same_home = before.addresses.iter().find(|a| a.primary).is_some_and(|a| a.subnet == home.id);
    before.nsg.filter(|c| same_home && c.id == *nsg)
}

/// Fingerprints for tests.
impl Network {
    /// Every part of the view (and of what it keeps for updates) as text, one line per subnet, NIC,
    /// VM and index entry, sorted: two views with equal fingerprints answer every question alike.
    /// Meant for tests comparing an updated view with a fresh compile.
    #[doc(hidden)]
    pub fn fingerprint(&self) -> Vec<String> {
        let mut out = vec![format!("revision {}", self.revision)];
        out.extend(self.subnets.iter().map(|(k, s)| format!("subnet {k} {s:?}")));
        out.extend(self.nics.iter().map(|(k, n)| format!("nic {k} {n:?}")));
        out.extend(self.vms.iter().map(|(k, v)| format!("vm {k} {v:?}")));
        let index = &self.index;
        out.extend(index.vnets.iter().map(|(k, e)| format!("index vnet {} {e:?}", k.key())));
        out.extend(index.links.iter().map(|(k, r)| format!("index link {} {}", k.key(), r.key())));
        out.extend(index.gateways.iter().map(|(k, v)| {
            format!("index gateway {} {:?}", k.key(), v.iter().map(ResourceId::key).collect::<Vec<_>>())
        }));
        out.extend(index.connections.iter().map(|(k, g)| format!("index connection {} {}", k.key(), g.key())));
        out.sort();
        out
    }
}
