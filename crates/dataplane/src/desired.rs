//! What the kernel should hold for a lab: derived from the compiled view alone (the same one
//! Network Watcher answers from), so that packets and the analysis cannot drift apart.
//!
//! - Every VM is a namespace; each of its NICs an interface there, joined by a veth pair to a
//!   port in the fabric.
//! - Each subnet has a routing table in the fabric. It mirrors the subnet's active effective
//!   routes: a VNet or peering route becomes an unreachable prefix plus a /32 to the port of
//!   every NIC of that VNet the route selects (so a peering reaches only the peer's NICs and
//!   nothing further: non-transitive by construction), a route to a virtual appliance goes via
//!   the appliance's address on its port, everything else is a blackhole (Azure drops silently).
//! - The fabric's nftables table enforces what routes cannot: NSGs (stateful, each NIC's
//!   egress and ingress gates), IP forwarding of NICs, `allowForwardedTraffic` and subnet
//!   peering on every crossing of a link, and meters each link's bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::ptr;

use ipnet::Ipv4Net;
use vnetlab_analysis::azure::routes::{EffectiveRoute, NextHopType, Origin, RouteState};
use vnetlab_analysis::azure::security::CompiledNsg;
use vnetlab_analysis::azure::{Network, NicView, SubnetView, crossing};
use vnetlab_analysis::layers::{Addresses, Layer, Match, Ports, Protocol};
use vnetlab_model::{
    Kind, PeeringState, Resource, ResourceId, SecurityRuleAccess, SecurityRuleDirection, State, View, ViewExt,
    VirtualNetworkPeering,
};

use crate::firewall::{Action, Cond, FwRule, Hook, Ruleset};
use crate::names;

/// Where a route in a subnet's table sends a packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hop {
    /// Out of this fabric port (to the NIC behind it).
    Port(String),
    /// To this address, reached through this port (a virtual appliance).
    Via(Ipv4Addr, String),
    /// To a NIC on another host: out of the VXLAN device of the NIC's VNet, via that host's
    /// next-hop address on it.
    Remote(String, Ipv4Addr),
    /// Dropped without a word.
    Blackhole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub id: u32,
    pub subnet: ResourceId,
    pub routes: BTreeMap<Ipv4Net, Hop>,
}

/// A NIC's fabric end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub mac: [u8; 6],
    /// The machine (namespace) and interface at the other end, and its MAC.
    pub machine: String,
    pub ifname: String,
    pub peer_mac: [u8; 6],
    /// The NIC's addresses (neighbours of the port).
    pub addresses: Vec<Ipv4Addr>,
    /// The routing table of the NIC's subnet.
    pub table: u32,
    pub nic: ResourceId,
    /// The VNet of the NIC's subnet.
    pub vnet: ResourceId,
    /// A VPN gateway's port (the `nic` field is then the gateway's id).
    pub gateway: bool,
    /// The namespace the port lives in.
    pub fabric: String,
}

/// A NIC as its VM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub ifname: String,
    /// The namespace the port is in: the fabric, or the internet for a public interface.
    pub fabric: String,
    pub mac: [u8; 6],
    pub port: String,
    pub port_mac: [u8; 6],
    /// Addresses with their subnet's prefix length.
    pub addresses: Vec<Ipv4Net>,
    /// The subnet's first address (Azure's default gateway), mapped to the port's MAC.
    pub gateway: Ipv4Addr,
    /// Routes of the VM: `default` on the primary NIC, the subnet's prefix on the others.
    pub routes: Vec<Ipv4Net>,
}

/// A VM: its namespace and NICs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub namespace: String,
    pub vm: ResourceId,
    /// The VM's name (what `vnetlab exec` takes).
    pub name: String,
    /// Its host name (`osProfile.computerName`, else its name): what Azure DNS answers for.
    pub hostname: String,
    /// The primary address of its primary NIC.
    pub address: Option<Ipv4Addr>,
    /// On when any NIC has IP forwarding: the VM routes what it receives, as an appliance's OS
    /// would be set up to.
    pub forwarding: bool,
    pub interfaces: Vec<Interface>,
    /// Addresses on its loopback (a site router's own).
    pub local: Vec<Ipv4Net>,
    /// A router's ports to the machines of its LAN (a site's branch VMs).
    pub lan: Vec<SwitchPort>,
}

/// One fabric: a host's switch. Each region is a host of its own; hosts meet on the underlay,
/// where VXLAN (one VNI per VNet) carries what crosses from one to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Fabric {
    pub namespace: String,
    pub host: String,
    /// Its address on the underlay (the outer address of its VXLAN packets).
    pub underlay: Ipv4Addr,
    pub ports: BTreeMap<String, Port>,
    pub tables: BTreeMap<u32, Table>,
    pub firewall: Ruleset,
    /// VXLAN devices by name: for VNets of other hosts it sends to, and for its own VNets that
    /// other hosts send to.
    pub vxlans: BTreeMap<String, Vxlan>,
}

/// A VXLAN device of a fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    pub name: String,
    pub vni: u32,
    pub vnet: ResourceId,
    pub mac: [u8; 6],
    /// Other hosts' ends: their next-hop address on this device → (their device's MAC, their
    /// underlay address).
    pub remotes: BTreeMap<Ipv4Addr, ([u8; 6], Ipv4Addr)>,
    /// For a VNet of this host: the table that delivers what arrives to its NICs' ports.
    pub delivery: Option<u32>,
}

/// What a peering link meters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    /// The fabric holding the counter (the sending VNet's).
    pub fabric: String,
    pub counter: String,
    pub link: ResourceId,
    pub from_vnet: ResourceId,
    pub to_vnet: ResourceId,
}

/// Everything the kernel should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The fabrics, by namespace.
    pub fabrics: BTreeMap<String, Fabric>,
    /// Where the fabrics meet (their VXLAN packets travel here).
    pub underlay: Internet,
    pub machines: BTreeMap<String, Machine>,
    pub meters: Vec<Meter>,
    /// VPN gateways and on-premises sites, by namespace.
    pub edges: BTreeMap<String, Edge>,
    /// Where the edges' public interfaces meet.
    pub internet: Internet,
}

/// The host of a region: the fabric its VNets live on.
pub fn host_of(location: &vnetlab_model::Location) -> String {
    names::sanitize(&location.to_string(), 20)
}

/// The next-hop address of each host on VXLAN devices, and its underlay address: hashes of the
/// host's name, moved on a collision (hosts in name order).
fn host_addresses(hosts: &BTreeSet<String>) -> HashMap<String, (Ipv4Addr, Ipv4Addr)> {
    let mut used_overlay = BTreeSet::new();
    let mut used_underlay = BTreeSet::new();
    let mut out = HashMap::new();
    for host in hosts {
        let h = names::hash(host);
        // 169.254.1.1 – 169.254.254.254: link-local, never a VM's address.
        let mut o = (h % (254 * 254)) as u32;
        while !used_overlay.insert(o) {
            o = (o + 1) % (254 * 254);
        }
        let overlay = Ipv4Addr::new(169, 254, (o / 254 + 1) as u8, (o % 254 + 1) as u8);
        // 100.64.0.1 – 100.127.255.254: the shared address space, inside the underlay only.
        let span: u32 = (1 << 22) - 2;
        let mut u = ((h >> 20) % u64::from(span)) as u32;
        while !used_underlay.insert(u) {
            u = (u + 1) % span;
        }
        let underlay = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 1)) + u);
        out.insert(host.clone(), (overlay, underlay));
    }
    out
}

/// Where a route's hop lands when it is on another host: a VNet's NICs (`hop: None`), or one
/// appliance or gateway (the hop itself).
struct Target {
    fabric: String,
    vnet: ResourceId,
    hop: Option<Hop>,
    /// Its VXLAN device, once VNIs are given out.
    device: String,
}

/// A VXLAN device of a fabric towards a VNet on another host: the VNet's own, or one that
/// delivers to an appliance (`hop`: the subnet of its NIC) or a gateway (`hop: Some(None)`).
struct RemoteDevice {
    name: String,
    hop: Option<Option<ResourceId>>,
}

impl Target {
    /// The target of `hop` from fabric `here` (with its key), when it is on another host.
    fn of(hop: &Hop, ports: &BTreeMap<String, Port>, here: &str) -> Option<(String, Target)> {
        let (Hop::Port(p) | Hop::Via(_, p)) = hop else { return None };
        let port = ports.get(p).filter(|port| port.fabric != here)?;
        let (key, hop) = match hop {
            Hop::Via(ip, _) => (format!("hop:{p}|{ip}"), Some(hop.clone())),
            _ => (port.vnet.key().to_owned(), None),
        };
        Some((key, Target { fabric: port.fabric.clone(), vnet: port.vnet.clone(), hop, device: String::new() }))
    }
}

/// Table ids for `keys`, clear of the ones `taken` holds, as [`table_ids`] gives them.
fn more_table_ids<'a>(taken: &HashMap<String, u32>, keys: impl Iterator<Item = &'a str>) -> HashMap<String, u32> {
    let span = 0x7fff_0000 - names::FIRST_TABLE;
    let mut used: BTreeSet<u32> = taken.values().copied().collect();
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    let mut out = HashMap::new();
    for key in keys {
        let mut id = names::FIRST_TABLE + (names::hash(key) % u64::from(span)) as u32;
        while !used.insert(id) {
            id = names::FIRST_TABLE + (id - names::FIRST_TABLE + 1) % span;
        }
        out.insert(key.to_owned(), id);
    }
    out
}

/// VNIs, one per VNet: a hash of its id in 1..2^24-1, moved on a collision (VNets in id order).
fn vnis<'a>(vnets: impl Iterator<Item = &'a str>) -> HashMap<String, u32> {
    let mut keys: Vec<&str> = vnets.collect();
    keys.sort_unstable();
    keys.dedup();
    let span: u32 = (1 << 24) - 2;
    let mut used = BTreeSet::new();
    let mut out = HashMap::new();
    for key in keys {
        let mut v = (names::hash(key) % u64::from(span)) as u32;
        while !used.insert(v) {
            v = (v + 1) % span;
        }
        out.insert(key.to_owned(), v + 1);
    }
    out
}

/// NIC lookup by the VNet it is in and an address it holds.
struct Hosts<'a> {
    by_vnet: HashMap<&'a str, Vec<(Ipv4Addr, &'a NicView)>>,
}

impl<'a> Hosts<'a> {
    fn new(network: &'a Network, machines: &BTreeSet<String>) -> Hosts<'a> {
        let mut by_vnet: HashMap<&str, Vec<(Ipv4Addr, &NicView)>> = HashMap::new();
        for nic in network.nics().filter(|n| machines.contains(n.id.key())) {
            for a in &nic.addresses {
                let (IpAddr::V4(ip), Some(subnet)) = (a.ip, network.subnet(&a.subnet)) else {
                    continue;
                };
                by_vnet.entry(subnet.vnet.key()).or_default().push((ip, nic));
            }
        }
        for list in by_vnet.values_mut() {
            list.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.key().cmp(b.1.id.key())));
        }
        Hosts { by_vnet }
    }

    fn get(&self, vnet: &ResourceId, ip: Ipv4Addr) -> Option<&'a NicView> {
        let list = self.by_vnet.get(vnet.key())?;
        list.binary_search_by(|(a, _)| a.cmp(&ip)).ok().map(|i| list[i].1)
    }

    fn within(&self, vnet: &ResourceId, net: Ipv4Net) -> impl Iterator<Item = (Ipv4Addr, &'a NicView)> + '_ {
        self.by_vnet.get(vnet.key()).into_iter().flatten().filter(move |(ip, _)| net.contains(ip)).copied()
    }
}

fn v4(prefix: &vnetlab_model::Prefix) -> Option<Ipv4Net> {
    match prefix.net() {
        ipnet::IpNet::V4(n) => Some(n),
        ipnet::IpNet::V6(_) => None,
    }
}

/// Routing table ids, one per subnet, stable while the subnet exists: a hash of its id, moved
/// to the next free id on a collision (subnets in id order).
fn table_ids<'a>(keys: impl Iterator<Item = &'a str>) -> HashMap<String, u32> {
    more_table_ids(&HashMap::new(), keys)
}

impl Desired {
    /// The kernel state for `state`, whose compiled view is `network`.
    pub fn build(state: &State, network: &Network) -> Desired {
        // A table per subnet, and one per VNet for what arrives from other hosts.
        let tables = table_ids(network.subnets().flat_map(|s| [s.id.key(), s.vnet.key()]));
        let fabric_of = |subnet: &SubnetView| names::fabric(&host_of(&subnet.location));

        // VMs and their NICs.
        let mut machines = BTreeMap::new();
        let mut ports = BTreeMap::new();
        let mut nic_port: HashMap<String, String> = HashMap::new();
        for stored in state.all_of(Kind::VirtualMachine) {
            let Resource::VirtualMachine(vm) = &stored.resource else {
                continue;
            };
            let namespace = names::namespace("", &vm.name, vm.id.key());
            let mut interfaces = Vec::new();
            let mut forwarding = false;
            let mut address = None;
            for (index, key) in Network::vm_nics(vm).iter().enumerate() {
                let Some(nic) = network.nic_by_key(key) else {
                    continue;
                };
                let Some(home) = nic.primary().and_then(|a| network.subnet(&a.subnet)) else {
                    continue;
                };
                let Some(&table) = tables.get(home.id.key()) else {
                    continue;
                };
                let fabric_ns = fabric_of(home);
                let port = names::port(nic.id.key());
                let ifname = format!("eth{index}");
                let mac = names::mac(&format!("nic:{}", nic.id.key()));
                let port_mac = names::mac(&format!("port:{}", nic.id.key()));
                let mut addresses = Vec::new();
                let mut gateway = None;
                for a in &nic.addresses {
                    let IpAddr::V4(ip) = a.ip else { continue };
                    let Some(subnet) = network.subnet(&a.subnet) else { continue };
                    let Some(net) = subnet.prefixes.iter().filter_map(v4).find(|n| n.contains(&ip)) else {
                        continue;
                    };
                    addresses.push(Ipv4Net::new(ip, net.prefix_len()).unwrap_or(net));
                    if a.primary && address.is_none() {
                        address = Some(ip);
                    }
                    if a.primary || gateway.is_none() {
                        gateway = Some((net, first_host(net)));
                    }
                }
                let Some((subnet_net, gateway)) = gateway else { continue };
                forwarding |= nic.enable_ip_forwarding;
                let routes = if index == 0 { vec![Ipv4Net::default()] } else { vec![subnet_net] };
                interfaces.push(Interface {
                    ifname: ifname.clone(),
                    fabric: fabric_ns.clone(),
                    mac,
                    port: port.clone(),
                    port_mac,
                    addresses: addresses.clone(),
                    gateway,
                    routes,
                });
                ports.insert(
                    port.clone(),
                    Port {
                        name: port.clone(),
                        mac: port_mac,
                        machine: namespace.clone(),
                        ifname,
                        peer_mac: mac,
                        addresses: addresses.iter().map(Ipv4Net::addr).collect(),
                        table,
                        nic: nic.id.clone(),
                        vnet: home.vnet.clone(),
                        gateway: false,
                        fabric: fabric_ns.clone(),
                    },
                );
                nic_port.insert(nic.id.key().to_owned(), port);
            }
            if interfaces.is_empty() {
                continue;
            }
            machines.insert(
                namespace.clone(),
                Machine {
                    namespace,
                    vm: vm.id.clone(),
                    name: vm.name.clone(),
                    hostname: hostname(vm),
                    address,
                    forwarding,
                    interfaces,
                    local: Vec::new(),
                    lan: Vec::new(),
                },
            );
        }

        let (edges, internet, gateway_ports, branch) = edges(state, network, &tables, &mut ports);
        machines.extend(branch);

        let realized: BTreeSet<String> = nic_port.keys().cloned().collect();
        let hosts = Hosts::new(network, &realized);
        let port_of = |nic: &NicView| nic_port.get(nic.id.key()).cloned();

        // Hosts: one per region with VNets.
        let host_names: BTreeSet<String> = network.subnets().map(|s| host_of(&s.location)).collect();
        let addresses = host_addresses(&host_names);
        let mut fabrics: BTreeMap<String, Fabric> = BTreeMap::new();
        for host in &host_names {
            let namespace = names::fabric(host);
            let (_, underlay) = addresses[host];
            fabrics.insert(
                namespace.clone(),
                Fabric {
                    namespace,
                    host: host.clone(),
                    underlay,
                    ports: BTreeMap::new(),
                    tables: BTreeMap::new(),
                    firewall: Ruleset::default(),
                    vxlans: BTreeMap::new(),
                },
            );
        }

        // Routing tables, in the fabric of the subnet's host. What a route sends to another
        // host goes out of a VXLAN device: the one of the destination NIC's VNet, or, for an
        // appliance or a gateway there, one of its own that delivers to it.
        let mut built = Vec::new();
        let mut targets: BTreeMap<String, Target> = BTreeMap::new();
        for subnet in network.subnets() {
            let Some(&id) = tables.get(subnet.id.key()) else { continue };
            let here = fabric_of(subnet);
            let routes = subnet_routes(state, subnet, &hosts, &port_of, &gateway_ports);
            for hop in routes.values() {
                if let Some((key, target)) = Target::of(hop, &ports, &here) {
                    targets.insert(key, target);
                }
            }
            built.push((subnet, here, id, routes));
        }
        let vni_of = vnis(network.subnets().map(|s| s.vnet.key()).chain(targets.keys().map(String::as_str)));
        let delivery = more_table_ids(&tables, targets.keys().map(String::as_str));
        let device_of = |key: &str| format!("vx{:06x}", vni_of.get(key).copied().unwrap_or(0));
        for (key, target) in targets.iter_mut() {
            target.device = device_of(key);
        }
        let mut crossings: BTreeSet<(String, String, String)> = BTreeSet::new();
        for (subnet, here, id, mut routes) in built {
            for hop in routes.values_mut() {
                let Some((key, target)) = Target::of(hop, &ports, &here) else { continue };
                let there = fabrics.get(&target.fabric).map(|f| f.host.clone()).unwrap_or_default();
                crossings.insert((here.clone(), key.clone(), target.fabric.clone()));
                *hop = Hop::Remote(device_of(&key), addresses[&there].0);
            }
            if let Some(f) = fabrics.get_mut(&here) {
                f.tables.insert(id, Table { id, subnet: subnet.id.clone(), routes });
            }
        }
        for port in ports.values() {
            if let Some(f) = fabrics.get_mut(&port.fabric) {
                f.ports.insert(port.name.clone(), port.clone());
            }
        }

        // VXLAN devices: the sender's, with the receiver's end, and the receiver's, with a table
        // that delivers what arrives (to the VNet's NICs, or to the appliance or gateway).
        for (from, key, to) in &crossings {
            let (Some(vni), Some(target), Some(to_host)) =
                (vni_of.get(key), targets.get(key), fabrics.get(to).map(|f| f.host.clone()))
            else {
                continue;
            };
            let name = device_of(key);
            let device = |fabric: &str| Vxlan {
                name: name.clone(),
                vni: *vni,
                vnet: target.vnet.clone(),
                mac: names::mac(&format!("vxlan:{key}|{fabric}")),
                remotes: BTreeMap::new(),
                delivery: None,
            };
            let remote_mac = names::mac(&format!("vxlan:{key}|{to}"));
            let (overlay, underlay) = addresses[&to_host];
            if let Some(f) = fabrics.get_mut(from) {
                f.vxlans
                    .entry(name.clone())
                    .or_insert_with(|| device(from))
                    .remotes
                    .insert(overlay, (remote_mac, underlay));
            }
            if let Some(f) = fabrics.get_mut(to) {
                let routes: BTreeMap<Ipv4Net, Hop> = match &target.hop {
                    Some(hop) => BTreeMap::from([(Ipv4Net::default(), hop.clone())]),
                    None => f
                        .ports
                        .values()
                        .filter(|p| p.vnet == target.vnet && !p.gateway)
                        .flat_map(|p| p.addresses.iter().map(|a| (Ipv4Net::from(*a), Hop::Port(p.name.clone()))))
                        .collect(),
                };
                let table = delivery.get(key).copied().or_else(|| tables.get(target.vnet.key()).copied());
                if let Some(id) = table {
                    f.tables.insert(id, Table { id, subnet: target.vnet.clone(), routes });
                }
                f.vxlans.entry(name.clone()).or_insert_with(|| device(to)).delivery = table;
            }
        }

        // Each fabric's firewall and meters.
        let mut meters = Vec::new();
        for f in fabrics.values_mut() {
            let mut remote: HashMap<String, Vec<RemoteDevice>> = HashMap::new();
            for x in f.vxlans.values().filter(|x| x.delivery.is_none()) {
                // A device delivering to one appliance: the subnet of its NIC (none for a gateway).
                let hop = targets.values().find(|t| t.hop.is_some() && t.device == x.name);
                let hop = hop.map(|t| match &t.hop {
                    Some(Hop::Via(_, p)) => ports
                        .get(p)
                        .filter(|p| !p.gateway)
                        .and_then(|p| network.nic(&p.nic))
                        .and_then(|n| n.primary())
                        .map(|a| a.subnet.clone()),
                    _ => None,
                });
                remote.entry(x.vnet.key().to_owned()).or_default().push(RemoteDevice { name: x.name.clone(), hop });
            }
            let (firewall, mut m) = firewall(state, network, &f.ports, &ports, &remote);
            for meter in &mut m {
                meter.fabric = f.namespace.clone();
            }
            f.firewall = firewall;
            meters.extend(m);
        }

        // The underlay: each fabric's `u0` meets the others here.
        let mut underlay = Internet { namespace: names::underlay(), ports: BTreeMap::new() };
        if fabrics.len() > 1 {
            for f in fabrics.values() {
                let port = names::port(&format!("underlay:{}", f.host));
                underlay.ports.insert(
                    port.clone(),
                    SwitchPort {
                        name: port.clone(),
                        mac: names::mac(&format!("underlay-port:{}", f.host)),
                        machine: f.namespace.clone(),
                        ifname: UNDERLAY_LINK.into(),
                        peer_mac: names::mac(&format!("underlay:{}", f.host)),
                        addresses: vec![f.underlay],
                    },
                );
            }
        }
        Desired { fabrics, underlay, machines, meters, edges, internet }
    }

    /// The VPN gateway or on-premises site named `name` (case-insensitive).
    pub fn edge(&self, name: &str) -> Vec<&Edge> {
        self.edges.values().filter(|e| vnetlab_model::same_name(&e.machine.name, name)).collect()
    }

    /// The machine of the VM named `name` (case-insensitive), or of the VM with that id.
    pub fn machine(&self, name: &str) -> Vec<&Machine> {
        self.machines
            .values()
            .filter(|m| vnetlab_model::same_name(&m.name, name) || m.vm.key() == name.to_ascii_lowercase())
            .collect()
    }
}

/// A VM's host name: its OS profile's computer name, else the VM's name.
fn hostname(vm: &vnetlab_model::VirtualMachine) -> String {
    vm.properties.os_profile.get("computerName").and_then(|v| v.as_str()).unwrap_or(&vm.name).to_owned()
}

/// Azure's default gateway of a subnet: its first address after the network address.
fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(1))
}

/// A subnet's table: its active effective routes, as the kernel can hold them.
fn subnet_routes(
    state: &State,
    subnet: &SubnetView,
    hosts: &Hosts<'_>,
    port_of: &impl Fn(&NicView) -> Option<String>,
    gateways: &GatewayPorts,
) -> BTreeMap<Ipv4Net, Hop> {
    let mut out = BTreeMap::new();
    out.insert(Ipv4Net::default(), Hop::Blackhole);
    for route in subnet.routes.routes.iter().filter(|r| r.state == RouteState::Active) {
        let Some(net) = route.prefix().as_ref().and_then(v4) else { continue };
        let target = match (route.next_hop_type, &route.origin) {
            (NextHopType::VnetLocal, _) => Some(&subnet.vnet),
            (NextHopType::VnetPeering | NextHopType::VnetGlobalPeering, Origin::Peering { remote, .. }) => Some(remote),
            _ => None,
        };
        if let Some(vnet) = target {
            // The NICs this route (and not a longer one) selects.
            for (ip, nic) in hosts.within(vnet, net) {
                let selected = subnet.routes.lookup(IpAddr::V4(ip)).is_some_and(|r| ptr::eq(r, route));
                if let (true, Some(port)) = (selected, port_of(nic)) {
                    out.insert(Ipv4Net::from(ip), Hop::Port(port));
                }
            }
            out.insert(net, Hop::Blackhole);
            continue;
        }
        let hop = match route.next_hop_type {
            NextHopType::VirtualAppliance => appliance(state, subnet, route, hosts, port_of).unwrap_or(Hop::Blackhole),
            NextHopType::VirtualNetworkGateway => gateway_hop(state, subnet, route, gateways).unwrap_or(Hop::Blackhole),
            _ => Hop::Blackhole,
        };
        out.insert(net, hop);
    }
    out
}

/// The appliance a user route leads to, where the analysis finds it.
fn appliance(
    state: &State,
    subnet: &SubnetView,
    route: &EffectiveRoute,
    hosts: &Hosts<'_>,
    port_of: &impl Fn(&NicView) -> Option<String>,
) -> Option<Hop> {
    let IpAddr::V4(ip) = *route.next_hop_ip_address.first()? else {
        return None;
    };
    let host = |vnet: &ResourceId, ip: IpAddr| match ip {
        IpAddr::V4(ip) => hosts.get(vnet, ip),
        IpAddr::V6(_) => None,
    };
    let (nva, _) = crossing::appliance(state, subnet, IpAddr::V4(ip), host)?;
    Some(Hop::Via(ip, port_of(nva)?))
}

/// The VPN gateway a route leads to, where the analysis finds it.
fn gateway_hop(state: &State, subnet: &SubnetView, route: &EffectiveRoute, gateways: &GatewayPorts) -> Option<Hop> {
    let (gateway, _) = crossing::route_gateway(state, subnet, route)?;
    let (port, ip) = gateways.get(gateway.id.key())?;
    Some(Hop::Via(*ip, port.clone()))
}

/// The protocol number nftables matches.
fn protocol_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Icmp => 1,
        Protocol::Esp => 50,
        Protocol::Ah => 51,
    }
}

fn v4_set(addresses: &Addresses) -> Option<Option<Vec<Ipv4Net>>> {
    match addresses {
        Addresses::Any => Some(None),
        Addresses::Set(set) => {
            let nets: Vec<Ipv4Net> = set.prefixes().iter().filter_map(v4).collect();
            // An empty set (unknown tags only, or IPv6 only) matches no IPv4 packet.
            if nets.is_empty() { None } else { Some(Some(nets)) }
        }
    }
}

fn port_ranges(ports: &Ports) -> Option<Vec<(u16, u16)>> {
    if ports.is_any() { None } else { Some(ports.0.clone()) }
}

/// The conditions of an NSG rule's match, or `None` when it matches no IPv4 packet.
fn match_conds(m: &Match) -> Option<Vec<Cond>> {
    let sport = port_ranges(&m.source_ports);
    let dport = port_ranges(&m.destination_ports);
    let restricted = sport.is_some() || dport.is_some();
    let mut conds = Vec::new();
    match m.protocol {
        // A flow without ports matches only rules that leave ports open.
        Some(p) if !p.has_ports() && restricted => return None,
        Some(p) => conds.push(Cond::Proto(vec![protocol_number(p)])),
        None if restricted => conds.push(Cond::Proto(vec![6, 17])),
        None => {}
    }
    if let Some(nets) = v4_set(&m.source)? {
        conds.push(Cond::Saddr(nets, false));
    }
    if let Some(nets) = v4_set(&m.destination)? {
        conds.push(Cond::Daddr(nets, false));
    }
    if let Some(r) = sport {
        conds.push(Cond::Sport(r));
    }
    if let Some(r) = dport {
        conds.push(Cond::Dport(r));
    }
    Some(conds)
}

/// An NSG layer as a chain: a deny drops, an allow returns to the caller (the next gate).
fn nsg_chain(layer: &Layer<vnetlab_analysis::azure::security::Verdict>) -> Vec<FwRule> {
    let mut rules = Vec::new();
    for rule in layer.rules() {
        let Some(conds) = match_conds(&rule.matcher) else { continue };
        let action = if rule.action.access == SecurityRuleAccess::Allow { Action::Return } else { Action::Drop };
        rules.push(FwRule::new(conds, action));
    }
    // Every NSG ends in DenyAll rules; this is the layer's own fallback should one be missing.
    rules.push(FwRule::new(Vec::new(), Action::Drop));
    rules
}

/// The fabric's table and the meters it holds.
fn firewall(
    state: &State,
    network: &Network,
    ports: &BTreeMap<String, Port>,
    all_ports: &BTreeMap<String, Port>,
    remote: &HashMap<String, Vec<RemoteDevice>>,
) -> (Ruleset, Vec<Meter>) {
    let mut rs = Ruleset::default();
    let mut meters = Vec::new();
    let mut nsg_chains: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut nsg_chain_name = |rs: &mut Ruleset, nsg: &CompiledNsg, subnet: &SubnetView, inbound: bool| -> String {
        let key = (nsg.id.key().to_owned(), subnet.id.key().to_owned());
        let base = nsg_chains
            .entry(key)
            .or_insert_with(|| names::object("nsg", &format!("{}|{}", nsg.id.key(), subnet.id.key())));
        let name = format!("{base}-{}", if inbound { "in" } else { "out" });
        if !rs.chains.contains_key(&name) {
            let layer = if inbound { &nsg.inbound } else { &nsg.outbound };
            rs.chain(&name).rules = nsg_chain(layer);
        }
        name
    };

    // Ports by VNet and by subnet.
    let mut vnet_ports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut subnet_ports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut port_vnet: BTreeMap<String, ResourceId> = BTreeMap::new();
    let mut from_chains = Vec::new();
    let mut to_chains = Vec::new();
    let mut out_chains = Vec::new();
    let mut in_chains = Vec::new();
    let mut gateway_ports: BTreeSet<String> = BTreeSet::new();
    for port in ports.values() {
        if port.gateway {
            // A gateway forwards (no address checks) and has no NSG; its GatewaySubnet is not
            // subject to subnet peering ([gap], as in the trace).
            vnet_ports.entry(port.vnet.key().to_owned()).or_default().push(port.name.clone());
            gateway_ports.insert(port.name.clone());
            continue;
        }
        let Some(nic) = network.nic(&port.nic) else { continue };
        let Some(subnet) = nic.primary().and_then(|a| network.subnet(&a.subnet)) else { continue };
        vnet_ports.entry(subnet.vnet.key().to_owned()).or_default().push(port.name.clone());
        subnet_ports.entry(subnet.id.key().to_owned()).or_default().push(port.name.clone());
        port_vnet.insert(port.name.clone(), subnet.vnet.clone());

        let own: Vec<Ipv4Net> = port.addresses.iter().map(|a| Ipv4Net::from(*a)).collect();
        if !nic.enable_ip_forwarding {
            // A NIC without IP forwarding sends only from its addresses and takes only packets
            // for them.
            let from = names::object("from", &port.name);
            rs.chain(&from).rules.push(FwRule::new(vec![Cond::Saddr(own.clone(), true)], Action::Drop));
            from_chains.push((port.name.clone(), from));
            let to = names::object("to", &port.name);
            rs.chain(&to).rules.push(FwRule::new(vec![Cond::Daddr(own, true)], Action::Drop));
            to_chains.push((port.name.clone(), to));
        }
        for (direction, prefix, list) in [
            (SecurityRuleDirection::Outbound, "out", &mut out_chains),
            (SecurityRuleDirection::Inbound, "in", &mut in_chains),
        ] {
            let gates = network.gates(nic, subnet, direction);
            if gates.is_empty() {
                continue;
            }
            let inbound = direction == SecurityRuleDirection::Inbound;
            let name = names::object(prefix, &port.name);
            rs.chain(&name).rules = gates
                .iter()
                .map(|(nsg, _)| FwRule::new(Vec::new(), Action::Jump(nsg_chain_name(&mut rs, nsg, subnet, inbound))))
                .collect();
            list.push((port.name.clone(), name));
        }
    }

    // Crossings of peering links: the guards of the receiving side, and the meter.
    let mut cross: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut cross_gw: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut meter: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for stored in state.all_of(Kind::VirtualNetworkPeering) {
        let Some(link) = stored.resource.as_peering() else { continue };
        if link.properties.peering_state != PeeringState::Connected {
            continue;
        }
        let Some(from) = link.local_vnet_id() else { continue };
        let to = link.remote_vnet_id();
        if !vnet_ports.contains_key(from.key()) {
            continue;
        }
        // The receiving VNet's ports here, or the VXLAN devices to its host.
        let (to_ports, hop_devices): (Vec<String>, Vec<&RemoteDevice>) =
            match (vnet_ports.get(to.key()), remote.get(to.key())) {
                (Some(local), _) => (local.clone(), Vec::new()),
                (None, Some(devices)) => (
                    devices.iter().filter(|d| d.hop.is_none()).map(|d| d.name.clone()).collect(),
                    devices.iter().filter(|d| d.hop.is_some()).collect(),
                ),
                (None, None) => continue,
            };
        let to_ports = &to_ports;
        let (forwarded, subnets) = if remote.contains_key(to.key()) {
            link_guards_remote(state, network, link, &from, &subnet_ports, all_ports)
        } else {
            link_guards(state, network, link, &from, &subnet_ports)
        };
        let chain = names::object("link", link.id.key());
        rs.chain(&chain).rules = forwarded.iter().cloned().chain(subnets.iter().cloned()).collect();
        for port in to_ports {
            cross.entry(from.key().to_owned()).or_default().push((port.clone(), chain.clone()));
        }
        // Towards an appliance or a gateway on another host: the packet is for somewhere beyond
        // it, so the subnet peering is checked on the appliance's subnet, here.
        for device in &hop_devices {
            let carried = match &device.hop {
                Some(Some(subnet)) => crossing::carries_to(link, subnet),
                _ => true,
            };
            let chain = names::object("linkhop", &format!("{}|{}", link.id.key(), device.name));
            rs.chain(&chain).rules = if carried {
                forwarded
                    .iter()
                    .cloned()
                    .chain(subnets.iter().filter(|r| r.conds.iter().any(|c| matches!(c, Cond::Iif(..)))).cloned())
                    .collect()
            } else {
                vec![FwRule::new(Vec::new(), Action::Drop)]
            };
            cross.entry(from.key().to_owned()).or_default().push((device.name.clone(), chain));
        }
        let to_ports: Vec<String> =
            to_ports.iter().cloned().chain(hop_devices.iter().map(|d| d.name.clone())).collect();
        let to_ports = &to_ports;
        // What a gateway forwards is not subject to allowForwardedTraffic (1.18).
        if !subnets.is_empty() {
            let chain = names::object("linkgw", link.id.key());
            rs.chain(&chain).rules = subnets;
            for port in to_ports {
                cross_gw.entry(from.key().to_owned()).or_default().push((port.clone(), chain.clone()));
            }
        }
        let counter = names::object("peer", link.id.key());
        let count_chain = names::object("count", link.id.key());
        rs.chain(&count_chain).rules = vec![FwRule::new(Vec::new(), Action::Count(counter.clone()))];
        rs.counters.insert(counter.clone());
        for port in to_ports {
            meter.entry(from.key().to_owned()).or_default().push((port.clone(), count_chain.clone()));
        }
        meters.push(Meter {
            fabric: String::new(),
            counter,
            link: link.id.clone(),
            from_vnet: from.clone(),
            to_vnet: to.clone(),
        });
    }
    let mut from_map: BTreeMap<String, Vec<FwRule>> = from_chains
        .iter()
        .map(|(port, chain)| (port.clone(), vec![FwRule::new(Vec::new(), Action::Jump(chain.clone()))]))
        .collect();
    let mut meter_entries = Vec::new();
    for (vnet, entries) in &cross {
        let chain = names::object("vnet", vnet);
        rs.chain(&chain).rules = vec![FwRule::new(Vec::new(), Action::OifMap(entries.clone()))];
        for port in vnet_ports.get(vnet).into_iter().flatten().filter(|p| !gateway_ports.contains(*p)) {
            from_map.entry(port.clone()).or_default().push(FwRule::new(Vec::new(), Action::Jump(chain.clone())));
        }
    }
    for (vnet, entries) in &cross_gw {
        let chain = names::object("vnetgw", vnet);
        rs.chain(&chain).rules = vec![FwRule::new(Vec::new(), Action::OifMap(entries.clone()))];
        for port in vnet_ports.get(vnet).into_iter().flatten().filter(|p| gateway_ports.contains(*p)) {
            from_map.entry(port.clone()).or_default().push(FwRule::new(Vec::new(), Action::Jump(chain.clone())));
        }
    }
    for (vnet, entries) in &meter {
        let chain = names::object("meter", vnet);
        rs.chain(&chain).rules = vec![FwRule::new(Vec::new(), Action::OifMap(entries.clone()))];
        for port in vnet_ports.get(vnet).into_iter().flatten() {
            meter_entries.push((port.clone(), chain.clone()));
        }
    }
    // A port whose sending side has more than one stateless check gets a chain of its own.
    let mut from_entries = Vec::new();
    for (port, rules) in from_map {
        if let [FwRule { action: Action::Jump(only), conds }] = rules.as_slice()
            && conds.is_empty()
        {
            from_entries.push((port, only.clone()));
            continue;
        }
        let chain = names::object("send", &port);
        rs.chain(&chain).rules = rules;
        from_entries.push((port, chain));
    }

    let forward = rs.chain("forward");
    forward.hook = Some(Hook::Forward);
    let mut rules = Vec::new();
    if !from_entries.is_empty() {
        rules.push(FwRule::new(Vec::new(), Action::IifMap(from_entries)));
    }
    if !to_chains.is_empty() {
        rules.push(FwRule::new(Vec::new(), Action::OifMap(to_chains)));
    }
    rules.push(FwRule::new(vec![Cond::Established], Action::Accept));
    if !out_chains.is_empty() {
        rules.push(FwRule::new(Vec::new(), Action::IifMap(out_chains)));
    }
    if !in_chains.is_empty() {
        rules.push(FwRule::new(Vec::new(), Action::OifMap(in_chains)));
    }
    forward.rules = rules;
    let post = rs.chain("meter");
    post.hook = Some(Hook::Postrouting);
    post.rules = if meter_entries.is_empty() {
        Vec::new()
    } else {
        vec![FwRule::new(Vec::new(), Action::IifMap(meter_entries))]
    };
    (rs, meters)
}

/// The guards of a link whose receiving VNet is on another host: as [`link_guards`], with the
/// subnet peering's receivers told by their addresses (the packet leaves by the VNet's VXLAN
/// device, not by the receiver's port).
fn link_guards_remote(
    state: &State,
    network: &Network,
    link: &VirtualNetworkPeering,
    from: &ResourceId,
    subnet_ports: &BTreeMap<String, Vec<String>>,
    all_ports: &BTreeMap<String, Port>,
) -> (Option<FwRule>, Vec<FwRule>) {
    let (forwarded, mut rules) = link_guards(state, network, link, from, subnet_ports);
    rules.retain(|r| !r.conds.iter().any(|c| matches!(c, Cond::Oif(..))));
    if !link.properties.peer_complete_vnets {
        let to = link.remote_vnet_id();
        let receivers: Vec<Ipv4Net> = all_ports
            .values()
            .filter(|p| !p.gateway && p.vnet == *to)
            .filter(|p| {
                network.nic(&p.nic).and_then(|n| n.primary()).is_some_and(|a| !crossing::carries_to(link, &a.subnet))
            })
            .flat_map(|p| p.addresses.iter().map(|a| Ipv4Net::from(*a)))
            .collect();
        if !receivers.is_empty() {
            rules.push(FwRule::new(vec![Cond::Daddr(receivers, false)], Action::Drop));
        }
    }
    (forwarded, rules)
}

/// What the receiving side of `link` (from `from` to its remote) lets across: the check of
/// forwarded traffic's source, and the subnet peering's checks.
fn link_guards(
    state: &State,
    network: &Network,
    link: &VirtualNetworkPeering,
    from: &ResourceId,
    subnet_ports: &BTreeMap<String, Vec<String>>,
) -> (Option<FwRule>, Vec<FwRule>) {
    let mut forwarded = None;
    let mut rules = Vec::new();
    let to = link.remote_vnet_id();
    if let Some(back) = state.reverse_link(link)
        && let Some(vnet) = state.vnet(from)
        && let Some(space) = crossing::admitted_sources(back, &vnet.properties.address_space.address_prefixes)
    {
        let nets: Vec<Ipv4Net> = space.iter().filter_map(v4).collect();
        forwarded = Some(if nets.is_empty() {
            FwRule::new(Vec::new(), Action::Drop)
        } else {
            FwRule::new(vec![Cond::Saddr(nets, true)], Action::Drop)
        });
    }
    if !link.properties.peer_complete_vnets {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for subnet in network.subnets() {
            let ports = subnet_ports.get(subnet.id.key()).cloned().unwrap_or_default();
            if subnet.vnet == *from && !crossing::carries_from(link, &subnet.id) {
                senders.extend(ports);
            } else if subnet.vnet == *to && !crossing::carries_to(link, &subnet.id) {
                receivers.extend(ports);
            }
        }
        if !senders.is_empty() {
            rules.push(FwRule::new(vec![Cond::Iif(senders, false)], Action::Drop));
        }
        if !receivers.is_empty() {
            rules.push(FwRule::new(vec![Cond::Oif(receivers, false)], Action::Drop));
        }
    }
    (forwarded, rules)
}

/// What an edge is in Azure's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeKind {
    /// A VPN gateway: a namespace in its VNet's GatewaySubnet, with a public interface.
    Gateway,
    /// An on-premises site (a local network gateway): the branch's VPN device and network.
    Site,
}

/// A VPN gateway or an on-premises site: a namespace that forwards between its interfaces and
/// its IPsec tunnels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub kind: EdgeKind,
    pub resource: ResourceId,
    pub machine: Machine,
    /// Its address on the internet.
    pub public: Ipv4Addr,
    /// One per connection, as this end sees it.
    pub tunnels: Vec<crate::ipsec::Tunnel>,
    /// A gateway's byte counters of its connections, by connection name: (into the tunnel, out
    /// of it).
    pub counters: BTreeMap<String, (String, String)>,
    /// The nftables table that holds them.
    pub meters: Ruleset,
}

/// The internet between gateways and sites: a namespace routing their public addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Internet {
    pub namespace: String,
    /// The other end of each interface plugged in here, by port name.
    pub ports: BTreeMap<String, SwitchPort>,
}

/// A port of the internet or the underlay: a veth end whose other end is `ifname` in
/// `machine`, holding `addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchPort {
    pub name: String,
    pub mac: [u8; 6],
    pub machine: String,
    pub ifname: String,
    pub peer_mac: [u8; 6],
    pub addresses: Vec<Ipv4Addr>,
}

/// A fabric's interface on the underlay.
pub const UNDERLAY_LINK: &str = "u0";

/// The address the edges' public interfaces route through (the internet's side; never
/// assigned, only resolved to the internet port's MAC).
pub const INTERNET_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);

/// The gateway ports of the fabric, by gateway key: the port and the instance address.
type GatewayPorts = HashMap<String, (String, Ipv4Addr)>;

fn public_ip(state: &State, gateway: &vnetlab_model::VirtualNetworkGateway) -> Option<Ipv4Addr> {
    let pip = gateway.properties.ip_configurations.first()?.properties.public_ip_address.as_ref()?;
    match state.resource(&pip.id)?.as_public_ip_address()?.properties.ip_address? {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

fn v4_prefixes(prefixes: &[vnetlab_model::Prefix]) -> Vec<Ipv4Net> {
    let mut out: Vec<Ipv4Net> = prefixes.iter().filter_map(v4).map(|n| n.trunc()).collect();
    out.sort();
    out.dedup();
    out
}

/// A public interface of an edge: `ethN` in the edge, a port in the internet.
fn public_interface(
    internet: &mut Internet,
    edge_ns: &str,
    id: &ResourceId,
    ifname: &str,
    address: Ipv4Addr,
    peers: &[Ipv4Addr],
) -> Interface {
    let port = names::port(&format!("public:{}", id.key()));
    let mac = names::mac(&format!("public-nic:{}", id.key()));
    let port_mac = names::mac(&format!("public-port:{}", id.key()));
    internet.ports.insert(
        port.clone(),
        SwitchPort {
            name: port.clone(),
            mac: port_mac,
            machine: edge_ns.to_owned(),
            ifname: ifname.to_owned(),
            peer_mac: mac,
            addresses: vec![address],
        },
    );
    Interface {
        ifname: ifname.to_owned(),
        fabric: internet.namespace.clone(),
        mac,
        port,
        port_mac,
        addresses: vec![Ipv4Net::from(address)],
        gateway: INTERNET_GATEWAY,
        routes: peers.iter().map(|p| Ipv4Net::from(*p)).collect(),
    }
}

/// VPN gateways and on-premises sites with the tunnels of their connections; each gateway's
/// port joins `ports`.
fn edges(
    state: &State,
    network: &Network,
    tables: &HashMap<String, u32>,
    ports: &mut BTreeMap<String, Port>,
) -> (BTreeMap<String, Edge>, Internet, GatewayPorts, BTreeMap<String, Machine>) {
    let mut internet = Internet { namespace: names::internet(), ports: BTreeMap::new() };
    let mut branch = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut gateway_ports = GatewayPorts::new();

    // Public addresses and what each side advertises.
    let mut gateways = Vec::new();
    for stored in state.all_of(Kind::VirtualNetworkGateway) {
        let Some(gw) = stored.resource.as_virtual_network_gateway() else { continue };
        if gw.properties.gateway_type != vnetlab_model::GatewayType::Vpn {
            continue;
        }
        let Some(public) = public_ip(state, gw) else { continue };
        let advertised = v4_prefixes(&vnetlab_analysis::azure::routes::advertised(state, gw));
        gateways.push((gw, public, advertised));
    }
    let gateway_by_key: HashMap<&str, (Ipv4Addr, &Vec<Ipv4Net>)> =
        gateways.iter().map(|(g, p, a)| (g.id.key(), (*p, a))).collect();
    let mut sites = Vec::new();
    for stored in state.all_of(Kind::LocalNetworkGateway) {
        let Some(site) = stored.resource.as_local_network_gateway() else { continue };
        let Some(IpAddr::V4(public)) = site.properties.gateway_ip_address else { continue };
        let prefixes = v4_prefixes(&site.properties.local_network_address_space.address_prefixes);
        sites.push((site, public, prefixes));
    }
    let site_by_key: HashMap<&str, (Ipv4Addr, &Vec<Ipv4Net>)> =
        sites.iter().map(|(s, p, a)| (s.id.key(), (*p, a))).collect();

    // Tunnels, from each connection's own side; a site answers every connection made to it.
    let mut gateway_tunnels: HashMap<&str, Vec<crate::ipsec::Tunnel>> = HashMap::new();
    let mut site_tunnels: HashMap<&str, Vec<crate::ipsec::Tunnel>> = HashMap::new();
    for stored in state.all_of(Kind::Connection) {
        let Some(c) = stored.resource.as_connection() else { continue };
        let p = &c.properties;
        let Some(psk) = p.shared_key.clone().filter(|k| !k.is_empty()) else { continue };
        let Some(&(local, advertised)) = gateway_by_key.get(p.virtual_network_gateway1.id.key()) else { continue };
        match p.connection_type {
            vnetlab_model::ConnectionType::IPsec => {
                let Some(site) = p.local_network_gateway2.as_ref() else { continue };
                let Some(&(remote, prefixes)) = site_by_key.get(site.id.key()) else { continue };
                if advertised.is_empty() || prefixes.is_empty() {
                    continue;
                }
                let tunnel = |name: &str,
                              local_addr,
                              remote_addr,
                              local_ts: &Vec<Ipv4Net>,
                              remote_ts: &Vec<Ipv4Net>,
                              initiate| {
                    crate::ipsec::Tunnel {
                        name: name.to_owned(),
                        local_addr,
                        remote_addr,
                        local_ts: local_ts.clone(),
                        remote_ts: remote_ts.clone(),
                        psk: psk.clone(),
                        initiate,
                    }
                };
                gateway_tunnels
                    .entry(p.virtual_network_gateway1.id.key())
                    .or_default()
                    .push(tunnel(&c.name, local, remote, advertised, prefixes, false));
                // The on-premises device starts the tunnel.
                site_tunnels
                    .entry(site.id.key())
                    .or_default()
                    .push(tunnel(&c.name, remote, local, prefixes, advertised, true));
            }
            vnetlab_model::ConnectionType::Vnet2Vnet => {
                let Some(other) = p.virtual_network_gateway2.as_ref() else { continue };
                let Some(&(remote, remote_ts)) = gateway_by_key.get(other.id.key()) else { continue };
                if advertised.is_empty() || remote_ts.is_empty() {
                    continue;
                }
                gateway_tunnels.entry(p.virtual_network_gateway1.id.key()).or_default().push(crate::ipsec::Tunnel {
                    name: c.name.clone(),
                    local_addr: local,
                    remote_addr: remote,
                    local_ts: advertised.clone(),
                    remote_ts: remote_ts.clone(),
                    psk,
                    // One side starts: the gateway whose id sorts first.
                    initiate: p.virtual_network_gateway1.id.key() < other.id.key(),
                });
            }
            _ => {}
        }
    }

    for (gw, public, _) in &gateways {
        let Some(subnet) = gw.subnet_id().and_then(|s| network.subnet(s)) else { continue };
        let Some(&table) = tables.get(subnet.id.key()) else { continue };
        let Some(IpAddr::V4(instance)) = gw.instance_addresses().into_iter().find(IpAddr::is_ipv4) else {
            continue;
        };
        let Some(net) = subnet.prefixes.iter().filter_map(v4).find(|n| n.contains(&instance)) else { continue };
        let fabric_ns = names::fabric(&host_of(&subnet.location));
        let namespace = names::namespace("gw-", &gw.name, gw.id.key());
        let tunnels = one_per_peer(gateway_tunnels.remove(gw.id.key()).unwrap_or_default());
        let peers: Vec<Ipv4Addr> = tunnels.iter().map(|t| t.remote_addr).collect();
        let port = names::port(gw.id.key());
        let mac = names::mac(&format!("gateway:{}", gw.id.key()));
        let port_mac = names::mac(&format!("port:{}", gw.id.key()));
        let inside = Interface {
            ifname: "eth0".into(),
            fabric: fabric_ns.clone(),
            mac,
            port: port.clone(),
            port_mac,
            addresses: vec![Ipv4Net::new(instance, net.prefix_len()).unwrap_or(net)],
            gateway: first_host(net),
            routes: vec![Ipv4Net::default()],
        };
        ports.insert(
            port.clone(),
            Port {
                name: port.clone(),
                mac: port_mac,
                machine: namespace.clone(),
                ifname: "eth0".into(),
                peer_mac: mac,
                addresses: vec![instance],
                table,
                nic: gw.id.clone(),
                vnet: subnet.vnet.clone(),
                gateway: true,
                fabric: fabric_ns.clone(),
            },
        );
        gateway_ports.insert(gw.id.key().to_owned(), (port, instance));
        let outside = public_interface(&mut internet, &namespace, &gw.id, "eth1", *public, &peers);
        // The tunnel needs an address of the gateway inside each prefix it carries from here:
        // for the peers' spaces (gateway transit), their first address on the loopback.
        let mut local: Vec<Ipv4Net> = tunnels
            .iter()
            .flat_map(|t| t.local_ts.iter())
            .filter(|n| !n.contains(&instance))
            .map(|n| Ipv4Net::from(ipsec_first_host(*n)))
            .collect();
        local.sort();
        local.dedup();
        let machine = Machine {
            namespace: namespace.clone(),
            vm: gw.id.clone(),
            name: gw.name.clone(),
            hostname: gw.name.clone(),
            address: Some(instance),
            forwarding: true,
            interfaces: vec![inside, outside],
            local,
            lan: Vec::new(),
        };
        let (counters, meters) = connection_meters(&gw.id, &tunnels);
        out.insert(
            namespace,
            Edge {
                kind: EdgeKind::Gateway,
                resource: gw.id.clone(),
                machine,
                public: *public,
                tunnels,
                counters,
                meters,
            },
        );
    }
    for (site, public, prefixes) in &sites {
        let tunnels = one_per_peer(site_tunnels.remove(site.id.key()).unwrap_or_default());
        let namespace = names::namespace("site-", &site.name, site.id.key());
        let peers: Vec<Ipv4Addr> = tunnels.iter().map(|t| t.remote_addr).collect();
        let outside = public_interface(&mut internet, &namespace, &site.id, "eth0", *public, &peers);
        // The branch: the site's router (this namespace, holding the last address of each
        // prefix of the site's space, which the tunnel needs) and a VM per prefix at its first
        // address: `<site>-vm`, `<site>-vm2`…
        let local: Vec<Ipv4Net> = prefixes.iter().map(|n| Ipv4Net::from(last_host(*n))).collect();
        let mut lan = Vec::new();
        for (i, net) in prefixes.iter().enumerate() {
            let name = if i == 0 { format!("{}-vm", site.name) } else { format!("{}-vm{}", site.name, i + 1) };
            let seed = format!("branch:{}|{i}", site.id.key());
            let vm_ns = names::namespace("", &name, &seed);
            let port = SwitchPort {
                name: names::port(&seed),
                mac: names::mac(&format!("port:{seed}")),
                machine: vm_ns.clone(),
                ifname: "eth0".into(),
                peer_mac: names::mac(&format!("nic:{seed}")),
                addresses: vec![ipsec_first_host(*net)],
            };
            let interface = Interface {
                ifname: "eth0".into(),
                fabric: namespace.clone(),
                mac: port.peer_mac,
                port: port.name.clone(),
                port_mac: port.mac,
                addresses: vec![Ipv4Net::new(ipsec_first_host(*net), net.prefix_len()).unwrap_or(*net)],
                gateway: last_host(*net),
                routes: vec![Ipv4Net::default()],
            };
            branch.insert(
                vm_ns.clone(),
                Machine {
                    namespace: vm_ns,
                    vm: site.id.clone(),
                    name: name.clone(),
                    hostname: name,
                    address: Some(ipsec_first_host(*net)),
                    forwarding: false,
                    interfaces: vec![interface],
                    local: Vec::new(),
                    lan: Vec::new(),
                },
            );
            lan.push(port);
        }
        let machine = Machine {
            namespace: namespace.clone(),
            vm: site.id.clone(),
            name: site.name.clone(),
            hostname: site.name.clone(),
            address: local.first().map(Ipv4Net::addr),
            forwarding: true,
            interfaces: vec![outside],
            local,
            lan,
        };
        out.insert(
            namespace,
            Edge {
                kind: EdgeKind::Site,
                resource: site.id.clone(),
                machine,
                public: *public,
                tunnels,
                counters: BTreeMap::new(),
                meters: Ruleset::default(),
            },
        );
    }
    (out, internet, gateway_ports, branch)
}

/// The interface strongSwan's kernel-libipsec sends and receives a namespace's ESP traffic on.
const TUNNEL_LINK: &str = "ipsec0";

/// A gateway's connection meters: a counter of what goes into each tunnel (to the prefixes
/// behind its peer) and of what comes out of it (from them).
fn connection_meters(
    gateway: &ResourceId,
    tunnels: &[crate::ipsec::Tunnel],
) -> (BTreeMap<String, (String, String)>, Ruleset) {
    let mut rs = Ruleset::default();
    let mut counters = BTreeMap::new();
    let mut rules = Vec::new();
    for t in tunnels {
        let key = format!("{}|{}", gateway.key(), t.name);
        let (out, into) = (names::object("egress", &key), names::object("ingress", &key));
        rules.push(FwRule::new(
            vec![Cond::Oif(vec![TUNNEL_LINK.into()], false), Cond::Daddr(t.remote_ts.clone(), false)],
            Action::Count(out.clone()),
        ));
        rules.push(FwRule::new(
            vec![Cond::Iif(vec![TUNNEL_LINK.into()], false), Cond::Saddr(t.remote_ts.clone(), false)],
            Action::Count(into.clone()),
        ));
        rs.counters.insert(out.clone());
        rs.counters.insert(into.clone());
        counters.insert(t.name.clone(), (out, into));
    }
    if !rules.is_empty() {
        let chain = rs.chain("meter");
        chain.hook = Some(Hook::Forward);
        chain.rules = rules;
    }
    (counters, rs)
}

/// A site router's address in a prefix of its space: the last host (the prefix's last address
/// for a /31 or /32).
fn last_host(net: Ipv4Net) -> Ipv4Addr {
    if net.prefix_len() >= 31 { net.broadcast() } else { Ipv4Addr::from(u32::from(net.broadcast()).wrapping_sub(1)) }
}

/// A branch host's address: the first host of the prefix (the prefix itself for a /31 or /32).
fn ipsec_first_host(net: Ipv4Net) -> Ipv4Addr {
    if net.prefix_len() >= 31 { net.network() } else { first_host(net) }
}

/// strongSwan joins a pair of addresses once: of several connections between the same two
/// ends, the first (by name) makes the tunnel.
fn one_per_peer(mut tunnels: Vec<crate::ipsec::Tunnel>) -> Vec<crate::ipsec::Tunnel> {
    tunnels.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = BTreeSet::new();
    tunnels.retain(|t| seen.insert(t.remote_addr));
    tunnels
}
