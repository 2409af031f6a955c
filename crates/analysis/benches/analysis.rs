//! Benchmarks of the compiled view on a generated lab of 10,000 VNets and 100,000 NICs: a full
//! compile (time, and the memory the view holds), a next-hop query, and incremental updates after
//! one peering, route or NSG rule change. Run `cargo bench -p vnetlab-analysis --bench analysis`;
//! figures are in BENCHMARKS.md.
//!
//! The lab: 900 hub-and-spoke groups (a hub with a VPN gateway connected to its own on-premises
//! site, an NVA NIC with IP forwarding, and ten spokes peered with the hub that use its gateway,
//! send 10.0.0.0/8 to the NVA through a route table and share an NSG) and ten full meshes of ten
//! VNets in another region. Every VNet holds ten NICs. It is built through the engine, one
//! operation at a time, before anything is measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::reach::{self, By};
use vnetlab_analysis::azure::trace::{Probe, Tracer};
use vnetlab_analysis::layers::Protocol;
use vnetlab_engine::{
    ConnectionSpec, Context, LocalNetworkGatewaySpec, NetworkInterfaceSpec, NetworkSecurityGroupSpec,
    NicIpConfigurationSpec, Operation, PeeringSpec, PublicIpAddressSpec, RouteSpec, RouteTableSpec, SecurityRuleSpec,
    SequentialIds, Settings, SubnetSpec, VirtualNetworkGatewaySpec, VirtualNetworkSpec,
};
use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    ConnectionType, GatewayType, Kind, Location, Prefix, ResourceId, RouteNextHopType, RoutePrefix, SecurityRuleAccess,
    SecurityRuleDirection, SecurityRuleProtocol, State, View,
};

/// Counts the bytes the program holds, and the most it held since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = HELD.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call goes to the system allocator with the caller's arguments unchanged; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const GROUPS: usize = 900;
const SPOKES: usize = 10;
const MESHES: usize = 10;
const MESH_SIZE: usize = 10;
const NICS_PER_VNET: usize = 10;

fn p(s: &str) -> Prefix {
    Prefix::parse(s).expect("generated prefix")
}

fn location(name: &str) -> Location {
    Location::parse(name).expect("known location")
}

/// The /24 of VNet number `i`: 10.{i / 256}.{i % 256}.0/24.
fn block(i: usize) -> (usize, usize) {
    (i / 256, i % 256)
}

/// A lab built through the engine.
struct Lab {
    state: State,
    ids: SequentialIds,
    settings: Settings,
}

impl Lab {
    /// Runs operations that must succeed; returns the ids they changed.
    fn run(&mut self, ops: &[Operation]) -> Vec<ResourceId> {
        let mut changed = Vec::new();
        for op in ops {
            let mut ctx = Context::new(&mut self.ids, &self.settings);
            let outcome = vnetlab_engine::apply(&self.state, op, &mut ctx)
                .unwrap_or_else(|e| panic!("generating the lab: {e}\n{op:?}"));
            let revision = self.state.revision() + 1;
            let _ = self.state.apply(&outcome.changes, revision);
            changed.extend(outcome.changes.iter().map(|c| c.id().clone()));
        }
        changed
    }
}

fn group_rg(g: usize) -> ResourceId {
    ResourceId::resource_group(SUB, &format!("group{g}")).expect("valid name")
}

fn mesh_rg(m: usize) -> ResourceId {
    ResourceId::resource_group(SUB, &format!("mesh{m}")).expect("valid name")
}

fn top(rg: &ResourceId, kind: Kind, name: &str) -> ResourceId {
    rg.top_level(kind, name).expect("valid name")
}

fn child(parent: &ResourceId, kind: Kind, name: &str) -> ResourceId {
    parent.child(kind, name).expect("valid name")
}

fn hub(g: usize) -> ResourceId {
    top(&group_rg(g), Kind::VirtualNetwork, "hub")
}

fn spoke(g: usize, s: usize) -> ResourceId {
    top(&group_rg(g), Kind::VirtualNetwork, &format!("spoke{s}"))
}

/// The VNet number of group `g`'s hub (its spokes follow it).
fn hub_number(g: usize) -> usize {
    g * (SPOKES + 1)
}

fn nva_ip(g: usize) -> IpAddr {
    let (a, b) = block(hub_number(g));
    format!("10.{a}.{b}.36").parse().expect("generated address")
}

fn rule(priority: u32, access: SecurityRuleAccess, source: &str, port: &str) -> SecurityRuleSpec {
    SecurityRuleSpec {
        description: None,
        protocol: SecurityRuleProtocol::Tcp,
        source_port_range: Some(PortRange::Any),
        source_port_ranges: Vec::new(),
        destination_port_range: Some(port.parse().expect("generated port")),
        destination_port_ranges: Vec::new(),
        source_address_prefix: Some(source.parse::<AddressMatch>().expect("generated address")),
        source_address_prefixes: Vec::new(),
        destination_address_prefix: Some(AddressMatch::Any),
        destination_address_prefixes: Vec::new(),
        access,
        priority,
        direction: SecurityRuleDirection::Inbound,
    }
}

fn nva_route(g: usize, hop: IpAddr) -> (ResourceId, RouteSpec) {
    let table = top(&group_rg(g), Kind::RouteTable, "spokes-via-nva");
    let spec = RouteSpec {
        address_prefix: RoutePrefix::Prefix(p("10.0.0.0/8")),
        next_hop_type: RouteNextHopType::VirtualAppliance,
        next_hop_ip_address: Some(hop),
        next_hop_ip_addresses: Vec::new(),
    };
    (child(&table, Kind::Route, "to-nva"), spec)
}

fn hub_link(g: usize, s: usize, allow_access: bool) -> Operation {
    let mut spec = PeeringSpec::new(spoke(g, s));
    spec.allow_virtual_network_access = allow_access;
    spec.allow_forwarded_traffic = true;
    spec.allow_gateway_transit = true;
    Operation::PeeringPut {
        id: child(&hub(g), Kind::VirtualNetworkPeering, &format!("hub-to-spoke{s}")),
        spec,
        sync_remote_address_space: false,
    }
}

fn spoke_link(g: usize, s: usize) -> Operation {
    let mut spec = PeeringSpec::new(hub(g));
    spec.allow_virtual_network_access = true;
    spec.allow_forwarded_traffic = true;
    spec.use_remote_gateways = true;
    Operation::PeeringPut {
        id: child(&spoke(g, s), Kind::VirtualNetworkPeering, "spoke-to-hub"),
        spec,
        sync_remote_address_space: false,
    }
}

fn nics(rg: &ResourceId, loc: Location, prefix: &str, subnet: &ResourceId, count: usize) -> Vec<Operation> {
    (0..count)
        .map(|n| Operation::NetworkInterfacePut {
            id: top(rg, Kind::NetworkInterface, &format!("{prefix}-nic{n}")),
            spec: NetworkInterfaceSpec::new(loc, vec![NicIpConfigurationSpec::new("ipconfig1", subnet.clone())]),
        })
        .collect()
}

/// The operations of hub-and-spoke group `g`.
fn group_ops(g: usize) -> Vec<Operation> {
    let west = location("westeurope");
    let rg = group_rg(g);
    let mut ops = vec![Operation::ResourceGroupPut { id: rg.clone(), location: west, tags: Default::default() }];
    let table = top(&rg, Kind::RouteTable, "spokes-via-nva");
    ops.push(Operation::RouteTablePut {
        id: table.clone(),
        spec: RouteTableSpec {
            location: west,
            tags: Default::default(),
            disable_bgp_route_propagation: false,
            routes: None,
        },
    });
    let (route, spec) = nva_route(g, nva_ip(g));
    ops.push(Operation::RoutePut { id: route, spec });
    let nsg = top(&rg, Kind::NetworkSecurityGroup, "workload-nsg");
    ops.push(Operation::NetworkSecurityGroupPut {
        id: nsg.clone(),
        spec: NetworkSecurityGroupSpec {
            location: west,
            tags: Default::default(),
            flush_connection: false,
            security_rules: None,
        },
    });
    for (name, spec) in [
        ("allow-ssh-from-vnets", rule(100, SecurityRuleAccess::Allow, "VirtualNetwork", "22")),
        ("allow-branch-web", rule(110, SecurityRuleAccess::Allow, "192.168.0.0/16", "443")),
        ("deny-internet-rdp", rule(120, SecurityRuleAccess::Deny, "Internet", "3389")),
    ] {
        ops.push(Operation::SecurityRulePut { id: child(&nsg, Kind::SecurityRule, name), spec });
    }

    // The hub: gateway, NVA and shared subnets.
    let (a, b) = block(hub_number(g));
    let hub = hub(g);
    ops.push(Operation::VirtualNetworkPut {
        id: hub.clone(),
        spec: VirtualNetworkSpec::new(west, vec![p(&format!("10.{a}.{b}.0/24"))]),
    });
    for (name, prefix) in [("GatewaySubnet", "0/27"), ("nva", "32/27"), ("shared", "64/26")] {
        ops.push(Operation::SubnetPut {
            id: child(&hub, Kind::Subnet, name),
            spec: SubnetSpec::with_prefix(p(&format!("10.{a}.{b}.{prefix}"))),
        });
    }
    let nva_subnet = child(&hub, Kind::Subnet, "nva");
    let mut nva = NetworkInterfaceSpec::new(
        west,
        vec![NicIpConfigurationSpec {
            private_ip_address: Some(nva_ip(g)),
            ..NicIpConfigurationSpec::new("ipconfig1", nva_subnet)
        }],
    );
    nva.enable_ip_forwarding = true;
    ops.push(Operation::NetworkInterfacePut { id: top(&rg, Kind::NetworkInterface, "nva-nic"), spec: nva });
    ops.extend(nics(&rg, west, "hub", &child(&hub, Kind::Subnet, "shared"), NICS_PER_VNET - 1));
    let pip = top(&rg, Kind::PublicIpAddress, "hub-gw-pip");
    ops.push(Operation::PublicIpAddressPut { id: pip.clone(), spec: PublicIpAddressSpec::new(west) });
    let gateway = top(&rg, Kind::VirtualNetworkGateway, "hub-gw");
    ops.push(Operation::VirtualNetworkGatewayPut {
        id: gateway.clone(),
        spec: VirtualNetworkGatewaySpec::new(west, GatewayType::Vpn, &hub, Some(pip)).expect("valid ids"),
    });
    let site = top(&rg, Kind::LocalNetworkGateway, "branch");
    ops.push(Operation::LocalNetworkGatewayPut {
        id: site.clone(),
        spec: LocalNetworkGatewaySpec {
            location: west,
            tags: Default::default(),
            address_prefixes: vec![p(&format!("172.{}.{}.0/24", 16 + g / 256, g % 256))],
            gateway_ip_address: None,
            fqdn: None,
            bgp_asn: None,
            bgp_peering_address: None,
        },
    });
    ops.push(Operation::ConnectionPut {
        id: top(&rg, Kind::Connection, "hub-to-branch"),
        spec: ConnectionSpec {
            location: west,
            tags: Default::default(),
            connection_type: ConnectionType::IPsec,
            virtual_network_gateway1: gateway,
            virtual_network_gateway2: None,
            local_network_gateway2: Some(site),
            peer: None,
            shared_key: Some("bench".into()),
            connection_protocol: None,
            connection_mode: None,
            routing_weight: 0,
            enable_bgp: false,
            use_policy_based_traffic_selectors: false,
        },
    });

    // The spokes.
    for s in 0..SPOKES {
        let (a, b) = block(hub_number(g) + 1 + s);
        let vnet = spoke(g, s);
        ops.push(Operation::VirtualNetworkPut {
            id: vnet.clone(),
            spec: VirtualNetworkSpec::new(west, vec![p(&format!("10.{a}.{b}.0/24"))]),
        });
        let workload = child(&vnet, Kind::Subnet, "workload");
        ops.push(Operation::SubnetPut {
            id: workload.clone(),
            spec: SubnetSpec {
                address_prefix: Some(p(&format!("10.{a}.{b}.0/25"))),
                route_table: Some(table.clone()),
                network_security_group: Some(nsg.clone()),
                ..SubnetSpec::default()
            },
        });
        ops.extend(nics(&rg, west, &format!("spoke{s}"), &workload, NICS_PER_VNET));
        ops.push(hub_link(g, s, true));
        ops.push(spoke_link(g, s));
    }
    ops
}

/// The operations of mesh `m`: every VNet peered with every other one.
fn mesh_ops(m: usize) -> Vec<Operation> {
    let east = location("eastus");
    let rg = mesh_rg(m);
    let mut ops = vec![Operation::ResourceGroupPut { id: rg.clone(), location: east, tags: Default::default() }];
    let vnet = |i: usize| top(&rg, Kind::VirtualNetwork, &format!("v{i}"));
    for i in 0..MESH_SIZE {
        let (a, b) = block(GROUPS * (SPOKES + 1) + m * MESH_SIZE + i);
        ops.push(Operation::VirtualNetworkPut {
            id: vnet(i),
            spec: VirtualNetworkSpec::new(east, vec![p(&format!("10.{a}.{b}.0/24"))]),
        });
        let subnet = child(&vnet(i), Kind::Subnet, "default");
        ops.push(Operation::SubnetPut {
            id: subnet.clone(),
            spec: SubnetSpec::with_prefix(p(&format!("10.{a}.{b}.0/25"))),
        });
        ops.extend(nics(&rg, east, &format!("v{i}"), &subnet, NICS_PER_VNET));
    }
    for i in 0..MESH_SIZE {
        for j in (0..MESH_SIZE).filter(|&j| j != i) {
            let mut spec = PeeringSpec::new(vnet(j));
            spec.allow_virtual_network_access = true;
            ops.push(Operation::PeeringPut {
                id: child(&vnet(i), Kind::VirtualNetworkPeering, &format!("to-v{j}")),
                spec,
                sync_remote_address_space: false,
            });
        }
    }
    ops
}

fn generate() -> Lab {
    generate_sized(GROUPS, MESHES)
}

/// A lab of `groups` hub-and-spoke groups and `meshes` meshes.
fn generate_sized(groups: usize, meshes: usize) -> Lab {
    let mut lab = Lab { state: State::new(), ids: SequentialIds::default(), settings: Settings::default() };
    lab.run(&[
        Operation::TenantPut {
            tenant_id: "0000aaaa-0000-0000-0000-000000000001".into(),
            display_name: "bench".into(),
            default_domain: None,
        },
        Operation::SubscriptionPut {
            subscription_id: SUB.into(),
            display_name: "bench".into(),
            tenant_id: "0000aaaa-0000-0000-0000-000000000001".into(),
        },
    ]);
    for g in 0..groups {
        lab.run(&group_ops(g));
    }
    for m in 0..meshes {
        lab.run(&mesh_ops(m));
    }
    lab
}

/// The reachability matrix by VNet of a lab of 1,000 VNets (90 hub-and-spoke groups of 11 and
/// one mesh of 10): every VNet against every other, on every core.
fn bench_reach(c: &mut Criterion) {
    let lab = generate_sized(90, 1);
    let state = &lab.state;
    let network = Network::compile(state);
    let tracer = Tracer::new(&network, state);
    let members = reach::members(&network, state, By::Vnet);
    let vnets = members.iter().filter(|m| m.id.kind() == Some(Kind::VirtualNetwork)).count();
    let ends: usize = members.iter().map(|m| m.ends()).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ssh = Probe { protocol: Protocol::Tcp, port: 22 };
    let m = reach::matrix(&tracer, members.clone(), By::Vnet, ssh, threads).expect("matrix");
    let reached: usize = m.cells.iter().map(|r| r.iter().filter(|c| **c).count()).sum();
    println!(
        "reach: {vnets} VNets ({} members with sites, {ends} probe addresses), {threads} threads, {reached} of {} cells reach",
        m.members.len(),
        m.members.len() * m.members.len()
    );
    let mut group = c.benchmark_group("reach");
    group.sample_size(10);
    group.bench_function("matrix by VNet, 1,000 VNets", |b| {
        b.iter(|| reach::matrix(&tracer, members.clone(), By::Vnet, ssh, threads).expect("matrix"))
    });
    group.finish();
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Compile time, and the memory the compiled view holds (bytes allocated by the compile and
/// still held while the view lives) and the most the compile held at once.
fn bench_compile(c: &mut Criterion, state: &State) {
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let network = Network::compile(state);
    let held = HELD.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "compiled view: {} subnets, {} NICs; holds {held} bytes ({:.1} MiB); the compile peaked at {peak} bytes ({:.1} MiB) above the state",
        network.subnets().count(),
        network.nics().count(),
        mib(held),
        mib(peak)
    );
    drop(network);
    let mut group = c.benchmark_group("compile");
    // Ten compiles of one iteration each: about ten seconds.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("10k VNets, 100k NICs", |b| b.iter_with_large_drop(|| Network::compile(state)));
    group.finish();
}

/// Next hop from spoke NICs to other spokes (through the NVA), the hub (peering), the branch
/// (gateway), the internet and a mesh VNet (no route: None), round robin.
fn bench_next_hop(c: &mut Criterion, network: &Network) {
    let mut queries: Vec<(ResourceId, IpAddr)> = Vec::new();
    for g in (0..GROUPS).step_by(9) {
        let rg = group_rg(g);
        let nic = top(&rg, Kind::NetworkInterface, &format!("spoke{}-nic{}", g % SPOKES, g % NICS_PER_VNET));
        let (a, b) = block(hub_number((g + 7) % GROUPS) + 3);
        let (ha, hb) = block(hub_number(g));
        let (ma, mb) = block(GROUPS * (SPOKES + 1) + g % (MESHES * MESH_SIZE));
        for destination in [
            format!("10.{a}.{b}.9"),
            format!("10.{ha}.{hb}.70"),
            format!("172.{}.{}.20", 16 + g / 256, g % 256),
            "20.30.40.50".to_owned(),
            format!("10.{ma}.{mb}.5"),
        ] {
            queries.push((nic.clone(), destination.parse().expect("generated address")));
        }
    }
    for (nic, _) in &queries {
        assert!(network.nic(nic).is_some(), "no NIC {nic}");
    }
    let mut group = c.benchmark_group("next hop");
    group.bench_function("spoke NIC, mixed destinations", |b| {
        let mut i = 0;
        b.iter(|| {
            let (id, destination) = &queries[i % queries.len()];
            i += 1;
            let nic = network.nic(id).expect("checked above");
            black_box(network.next_hop(nic, None, *destination).expect("a spoke NIC has a subnet"))
        });
    });
    group.finish();
}

/// Times `Network::update` after the operations `forward`, undoing them with `back` (not timed)
/// between iterations, so every iteration starts from the generated lab.
fn toggled(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    lab: &mut Lab,
    network: &mut Network,
    forward: &[Operation],
    back: &[Operation],
) {
    let changed = lab.run(forward);
    let stats = network.update(&lab.state, &changed);
    println!("update/{name}: {} changed ids, {stats:?}", changed.len());
    let changed = lab.run(back);
    network.update(&lab.state, &changed);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let changed = lab.run(forward);
                let start = Instant::now();
                black_box(network.update(&lab.state, &changed));
                total += start.elapsed();
                let changed = lab.run(back);
                network.update(&lab.state, &changed);
            }
            total
        })
    });
}

fn bench_updates(c: &mut Criterion, lab: &mut Lab, network: &mut Network) {
    let g = GROUPS / 2;
    let s = 3;
    let create = [hub_link(g, s, true), spoke_link(g, s)];
    let delete = [
        Operation::PeeringDelete { id: child(&spoke(g, s), Kind::VirtualNetworkPeering, "spoke-to-hub") },
        Operation::PeeringDelete { id: child(&hub(g), Kind::VirtualNetworkPeering, &format!("hub-to-spoke{s}")) },
    ];
    let (route, spec) = nva_route(g, nva_ip(g));
    let moved = RouteSpec { next_hop_ip_address: Some("10.200.0.4".parse().expect("address")), ..spec.clone() };
    let nsg = top(&group_rg(g), Kind::NetworkSecurityGroup, "workload-nsg");
    let rule_id = child(&nsg, Kind::SecurityRule, "allow-ssh-from-vnets");

    let mut group = c.benchmark_group("update");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    toggled(&mut group, "peering pair delete", lab, network, &delete, &create);
    let changed = lab.run(&delete);
    network.update(&lab.state, &changed);
    toggled(&mut group, "peering pair create", lab, network, &create, &delete);
    let changed = lab.run(&create);
    network.update(&lab.state, &changed);
    toggled(&mut group, "peering flag change", lab, network, &[hub_link(g, s, false)], &[hub_link(g, s, true)]);
    toggled(
        &mut group,
        "route change",
        lab,
        network,
        &[Operation::RoutePut { id: route.clone(), spec: moved }],
        &[Operation::RoutePut { id: route, spec }],
    );
    toggled(
        &mut group,
        "NSG rule change",
        lab,
        network,
        &[Operation::SecurityRulePut {
            id: rule_id.clone(),
            spec: rule(100, SecurityRuleAccess::Deny, "VirtualNetwork", "22"),
        }],
        &[Operation::SecurityRulePut {
            id: rule_id,
            spec: rule(100, SecurityRuleAccess::Allow, "VirtualNetwork", "22"),
        }],
    );
    group.finish();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches without it: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let start = Instant::now();
    let mut lab = generate();
    let state = &lab.state;
    println!(
        "generated through the engine in {:.1} s: {} resources, {} VNets, {} subnets, {} links, {} NICs; the state holds {:.1} MiB",
        start.elapsed().as_secs_f64(),
        state.len(),
        state.all_of(Kind::VirtualNetwork).len(),
        state.all_of(Kind::Subnet).len(),
        state.all_of(Kind::VirtualNetworkPeering).len(),
        state.all_of(Kind::NetworkInterface).len(),
        mib(HELD.load(Ordering::Relaxed)),
    );
    let mut c = Criterion::default().configure_from_args();
    bench_compile(&mut c, &lab.state);
    let mut network = Network::compile(&lab.state);
    bench_next_hop(&mut c, &network);
    bench_updates(&mut c, &mut lab, &mut network);
    drop(network);
    drop(lab);
    bench_reach(&mut c);
    c.final_summary();
}
