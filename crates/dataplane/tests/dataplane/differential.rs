//! The analysis and the kernel must agree: random topologies (overlapping unpeered VNets,
//! one-way and subnet peerings, peering flags, NSGs on subnets and NICs, user routes to
//! appliances, None and VnetLocal, VNets in two regions, hence on two hosts), random probes
//! (ICMP, TCP, UDP) between their VMs, and for each probe the verdict of `Tracer::reaches` must
//! equal what real packets do.
//!
//! `VNETLAB_DIFF_SEED` replays one seed; `VNETLAB_DIFF_TOPOLOGIES` sets how many are drawn.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::trace::{Probe, TraceEnd, Tracer};
use vnetlab_analysis::layers::Protocol;
use vnetlab_dataplane::desired::Desired;
use vnetlab_model::State;

use crate::probe::{self, listen};
use crate::{lab, try_up};

/// splitmix64: small, seedable, good enough to draw topologies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SPACES: [&str; 3] = ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"];
const PORTS: [u16; 3] = [22, 80, 1500];

/// Two regions: each is a host of its own, so a peering between them crosses hosts in VXLAN.
const REGIONS: [(&str, &str); 2] = [("westus", "w"), ("eastus", "e")];

struct Vnet {
    name: String,
    space: usize,
    subnets: usize,
    region: usize,
}

/// A random topology file.
fn topology(rng: &mut Rng) -> String {
    let mut y = String::from("name: diff\nresourceGroup: diff-rg\nlocation: westus\n");
    let count = 3 + rng.below(3);
    let vnets: Vec<Vnet> = (0..count)
        .map(|i| Vnet {
            name: format!("v{i}"),
            space: rng.below(SPACES.len()),
            subnets: 1 + rng.below(2),
            region: rng.below(REGIONS.len()),
        })
        .collect();
    let third = |space: usize| space; // 10.<space>.x.y
    // VMs first: appliances get fixed addresses the routes can name.
    let mut vms = String::new();
    let mut appliances: Vec<(usize, String)> = Vec::new();
    for v in &vnets {
        for s in 1..=v.subnets {
            for m in 0..1 + rng.below(2) {
                let name = format!("{}s{s}m{m}", v.name);
                let _ = write!(vms, "  - {{name: {name}, location: {}, subnet: {}/s{s}", REGIONS[v.region].0, v.name);
                if m == 0 && rng.chance(35) {
                    let ip = format!("10.{}.{s}.10", third(v.space));
                    let _ = write!(vms, ", privateIp: {ip}, ipForwarding: {}", rng.chance(80));
                    appliances.push((v.space, ip));
                }
                if rng.chance(15) {
                    let _ = write!(vms, ", nsg: nsg{}{}", rng.below(2), REGIONS[v.region].1);
                }
                vms.push_str("}\n");
            }
        }
    }
    y.push_str("vnets:\n");
    for v in &vnets {
        let _ = writeln!(
            y,
            "  - name: {}\n    location: {}\n    addressSpace: [{}]\n    subnets:",
            v.name, REGIONS[v.region].0, SPACES[v.space]
        );
        let suffix = REGIONS[v.region].1;
        for s in 1..=v.subnets {
            let _ = write!(y, "      - {{name: s{s}, addressPrefix: 10.{}.{s}.0/24", third(v.space));
            if rng.chance(30) {
                let _ = write!(y, ", nsg: nsg{}{suffix}", rng.below(2));
            }
            if rng.chance(30) {
                let _ = write!(y, ", routeTable: rt{}{suffix}", rng.below(2));
            }
            y.push_str("}\n");
        }
    }
    // NSGs: a few random rules each (source ports always open: a probe's is ephemeral).
    y.push_str("nsgs:\n");
    for n in 0..2 {
        // The same rules in each region (a subnet's NSG must be in its region).
        let mut body = String::new();
        let rules = rng.below(4);
        if rules == 0 {
            body.push_str("      []\n");
        }
        for r in 0..rules {
            let address = |rng: &mut Rng| -> String {
                match rng.below(4) {
                    0 => "\"*\"".into(),
                    1 => "VirtualNetwork".into(),
                    _ => SPACES[rng.below(SPACES.len())].into(),
                }
            };
            let ports = ["\"*\"", "\"22\"", "\"80\"", "\"1000-2000\""];
            let _ = writeln!(
                body,
                "      - {{name: r{r}, priority: {}, direction: {}, access: {}, protocol: \"{}\", source: {}, destination: {}, destinationPorts: {}}}",
                100 + 10 * r,
                rng.pick(&["Inbound", "Outbound"]),
                rng.pick(&["Allow", "Deny", "Deny"]),
                rng.pick(&["Tcp", "Udp", "Icmp", "*"]),
                address(rng),
                address(rng),
                rng.pick(&ports),
            );
        }
        for (region, suffix) in REGIONS {
            let _ = write!(y, "  - name: nsg{n}{suffix}\n    location: {region}\n    rules:\n{body}");
        }
    }
    // Route tables, likewise.
    y.push_str("routeTables:\n");
    for t in 0..2 {
        let mut body = String::new();
        let routes = 1 + rng.below(2);
        let mut used = Vec::new();
        for r in 0..routes {
            let prefix = *rng.pick(&["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.0.0.0/8", "0.0.0.0/0"]);
            if used.contains(&prefix) {
                continue;
            }
            used.push(prefix);
            let hop = if !appliances.is_empty() && rng.chance(60) {
                let (_, ip) = rng.pick(&appliances);
                format!("VirtualAppliance, nextHopIpAddress: {ip}")
            } else {
                (*rng.pick(&["None", "VnetLocal"])).to_owned()
            };
            let _ = writeln!(body, "      - {{name: r{r}, addressPrefix: {prefix}, nextHopType: {hop}}}");
        }
        for (region, suffix) in REGIONS {
            let _ = write!(y, "  - name: rt{t}{suffix}\n    location: {region}\n    routes:\n{body}");
        }
    }
    y.push_str("vms:\n");
    y.push_str(&vms);
    // Peerings between VNets whose spaces do not overlap.
    y.push_str("peerings:\n");
    let mut any = false;
    // The spaces of each VNet's peers: a VNet cannot peer with two that overlap each other.
    let mut peer_spaces: Vec<Vec<usize>> = vec![Vec::new(); vnets.len()];
    for i in 0..vnets.len() {
        for j in i + 1..vnets.len() {
            let (si, sj) = (vnets[i].space, vnets[j].space);
            if si == sj || peer_spaces[i].contains(&sj) || peer_spaces[j].contains(&si) || !rng.chance(55) {
                continue;
            }
            peer_spaces[i].push(sj);
            peer_spaces[j].push(si);
            any = true;
            let flags = |rng: &mut Rng| {
                format!("allowVirtualNetworkAccess: {}, allowForwardedTraffic: {}", !rng.chance(15), rng.chance(50))
            };
            let subnets = if rng.chance(15) { ", localSubnets: [s1], remoteSubnets: [s1]" } else { "" };
            let _ = write!(
                y,
                "  - {{vnet: {}, remote: {}, name: p{i}{j}, {}{subnets}",
                vnets[i].name,
                vnets[j].name,
                flags(rng)
            );
            if rng.chance(10) {
                y.push_str(", oneWay: true}\n");
            } else {
                let _ = writeln!(y, ", reverse: {{name: p{j}{i}, {}}}}}", flags(rng));
            }
        }
    }
    if !any {
        y.push_str("  []\n");
    }
    y
}

struct Vm {
    name: String,
    addresses: Vec<Ipv4Addr>,
    namespace: String,
    nic: vnetlab_model::ResourceId,
    ip: Ipv4Addr,
}

fn vms(state: &State, network: &Network, want: &Desired) -> Vec<Vm> {
    let mut out = Vec::new();
    for m in want.machines.values() {
        let Some(nic) = network.nics().find(|n| n.vm.as_ref() == Some(&m.vm)) else { continue };
        let Some(IpAddr::V4(ip)) = nic.primary().map(|a| a.ip) else { continue };
        let addresses = m.interfaces.iter().flat_map(|i| i.addresses.iter().map(|a| a.addr())).collect();
        out.push(Vm { name: m.name.clone(), addresses, namespace: m.namespace.clone(), nic: nic.id.clone(), ip });
    }
    let _ = state;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn analysis_verdicts_equal_real_packets() {
    let Some(mut lab) = lab() else { return };
    let topologies: u64 = std::env::var("VNETLAB_DIFF_TOPOLOGIES").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let seeds: Vec<u64> = match std::env::var("VNETLAB_DIFF_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=topologies).collect(),
    };
    let mut probes_run = 0;
    let mut reached = 0;
    let (mut across, mut reached_across, mut vxlan_devices) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for seed in seeds {
        let mut rng = Rng(seed);
        let text = topology(&mut rng);
        let state = match try_up(&text) {
            Ok(s) => s,
            Err(e) => panic!("seed {seed}: the engine refused the generated topology: {e}\n{text}"),
        };
        lab.apply(&state);
        let network = Network::compile(&state);
        let want = Desired::build(&state, &network);
        let tracer = Tracer::new(&network, &state);
        let vms = vms(&state, &network, &want);
        let host = |ns: &str| want.machines.get(ns).and_then(|m| m.interfaces.first()).map(|i| i.fabric.clone());
        let hop_devices = want.fabrics.values().flat_map(|f| f.vxlans.keys()).count();
        vxlan_devices += hop_devices;
        let _listeners: Vec<_> = vms.iter().map(|v| listen(&v.namespace, &v.name, &PORTS)).collect();
        let mut cases = Vec::new();
        for _ in 0..40 {
            let (a, b) = (rng.below(vms.len()), rng.below(vms.len()));
            // A VM's own address never leaves it.
            if a == b || vms[a].addresses.contains(&vms[b].ip) {
                continue;
            }
            let protocol = *rng.pick(&[Protocol::Icmp, Protocol::Tcp, Protocol::Udp]);
            let port = if protocol == Protocol::Icmp { 0 } else { *rng.pick(&PORTS) };
            cases.push((a, b, protocol, port));
        }
        let verdicts: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .chunks(8)
                .map(|chunk| {
                    let vms = &vms;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|&(a, b, protocol, port)| {
                                let (src, dst) = (&vms[a], &vms[b]);
                                // TCP and UDP answers name the VM that answered; a ping's
                                // answer could come from any VM with that address.
                                match protocol {
                                    Protocol::Icmp => probe::ping(&src.namespace, dst.ip),
                                    Protocol::Tcp => probe::tcp(&src.namespace, dst.ip, port) == Some(dst.name.clone()),
                                    _ => probe::udp(&src.namespace, dst.ip, port) == Some(dst.name.clone()),
                                }
                            })
                            .collect::<Vec<bool>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        for (&(a, b, protocol, port), &real) in cases.iter().zip(&verdicts) {
            probes_run += 1;
            reached += usize::from(real);
            let (src, dst) = (&vms[a], &vms[b]);
            if host(&src.namespace) != host(&dst.namespace) {
                across += 1;
                reached_across += usize::from(real);
            }
            let from = TraceEnd::Nic { nic: src.nic.clone(), ip: IpAddr::V4(src.ip) };
            let to = if protocol == Protocol::Icmp {
                TraceEnd::Address(IpAddr::V4(dst.ip))
            } else {
                TraceEnd::Nic { nic: dst.nic.clone(), ip: IpAddr::V4(dst.ip) }
            };
            let probe = Probe { protocol, port };
            let analysed = tracer.reaches(&from, &to, probe).unwrap();
            if analysed != real {
                let trace = tracer.trace(&from, &to, probe).unwrap();
                disagreements.push(format!(
                    "seed {seed}: {} ({}) -> {} ({}) {protocol} {port}: analysis says {}, packets say {}\n  blockers: {:#?}\n  forward: {:#?}\n  back: {:#?}",
                    src.name,
                    src.ip,
                    dst.name,
                    dst.ip,
                    if analysed { "reaches" } else { "blocked" },
                    if real { "reaches" } else { "blocked" },
                    trace.blockers.iter().map(|b| &b.problem).collect::<Vec<_>>(),
                    trace.forward.iter().map(|h| &h.detail).collect::<Vec<_>>(),
                    trace.back.iter().map(|h| &h.detail).collect::<Vec<_>>(),
                ));
            }
        }
        if disagreements.iter().any(|d| d.starts_with(&format!("seed {seed}:"))) {
            disagreements.push(format!("seed {seed} topology:\n{text}"));
        }
    }
    eprintln!(
        "{probes_run} probes ({reached} reached; {across} between hosts, {reached_across} of them reached; {vxlan_devices} VXLAN devices), {} disagreements",
        disagreements.iter().filter(|d| !d.contains("topology:")).count()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
