//! Paths hop by hop on the example topologies, and every blocker of a blocked one.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::measured::{Measured, RoundTrips};
use vnetlab_analysis::azure::trace::{BlockerKind, HopKind, Leg, Probe, Trace, TraceEnd, Tracer};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::{PeeringState, Resource, State, View};

use crate::{id, ip_of, nic, up};

const G: &str = "hub-and-spoke-rg";

/// The hub-and-spoke example with some text replaced, applied to a fresh lab.
fn hub_and_spoke(changes: &[(&str, &str)]) -> State {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hub-and-spoke.yaml");
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in changes {
        assert!(text.contains(from), "the example has no '{from}'");
        text = text.replace(from, to);
    }
    up(&text)
}

fn vm(network: &Network, group: &str, name: &str) -> TraceEnd {
    TraceEnd::Nic { nic: nic(network, group, name).id.clone(), ip: ip_of(network, group, name) }
}

fn tcp(port: u16) -> Probe {
    Probe { protocol: Protocol::Tcp, port }
}

fn trace(state: &State, from: &str, to: &str, probe: Probe) -> Trace {
    let network = Network::compile(state);
    let tracer = Tracer::new(&network, state);
    let source = vm(&network, G, from);
    let destination = match to.parse() {
        Ok(ip) => tracer.end_for_address(ip),
        Err(_) => vm(&network, G, to),
    };
    tracer.trace(&source, &destination, probe).unwrap()
}

fn kinds(hops: &[vnetlab_analysis::azure::trace::Hop]) -> Vec<HopKind> {
    hops.iter().map(|h| h.kind).collect()
}

fn blockers(t: &Trace) -> Vec<(Leg, BlockerKind, String)> {
    t.blockers
        .iter()
        .map(|b| (b.leg, b.kind, b.resource.as_ref().map_or(String::new(), |r| r.name().to_owned())))
        .collect()
}

#[test]
fn a_spoke_reaches_the_hub_over_its_peering() {
    let state = hub_and_spoke(&[]);
    let t = trace(&state, "spoke1-vm", "shared-vm", tcp(22));
    assert!(t.reachable(), "{:#?}", t.blockers);
    use HopKind::*;
    assert_eq!(kinds(&t.forward), [Source, SecurityGroup, Route, Peering, Destination]);
    assert_eq!(kinds(&t.back), [Source, Route, Peering, Destination]);
    assert!(t.forward[2].detail.contains("VNetPeering"), "{}", t.forward[2].detail);
}

#[test]
fn spoke_to_spoke_goes_through_the_appliance_both_ways() {
    let state = hub_and_spoke(&[]);
    let t = trace(&state, "spoke1-vm", "spoke2-vm", tcp(22));
    assert!(t.reachable(), "{:#?}", t.blockers);
    use HopKind::*;
    assert_eq!(
        kinds(&t.forward),
        [Source, SecurityGroup, Route, Peering, VirtualAppliance, Route, Peering, Destination, SecurityGroup]
    );
    assert!(t.forward[2].detail.contains("VirtualAppliance 10.0.1.4"), "{}", t.forward[2].detail);
    assert!(t.forward[8].detail.contains("securityRules/allow-ssh-from-vnets"), "{}", t.forward[8].detail);
    assert!(kinds(&t.back).contains(&VirtualAppliance), "{:?}", kinds(&t.back));
}

#[test]
fn without_forwarded_traffic_on_the_receiving_links_both_directions_are_blocked() {
    let state = hub_and_spoke(&[("    allowForwardedTraffic: true\n", "    allowForwardedTraffic: false\n")]);
    let t = trace(&state, "spoke1-vm", "spoke2-vm", tcp(22));
    assert_eq!(
        blockers(&t),
        [
            (Leg::Forward, BlockerKind::ForwardedTraffic, "spoke2-to-hub".into()),
            (Leg::Return, BlockerKind::ForwardedTraffic, "spoke1-to-hub".into()),
        ]
    );
    assert!(t.blockers[0].fix.contains("--set allowForwardedTraffic=true"), "{}", t.blockers[0].fix);
    // Traffic that starts in the hub is not forwarded traffic.
    let direct = trace(&state, "spoke1-vm", "shared-vm", tcp(22));
    assert!(direct.reachable(), "{:#?}", direct.blockers);
}

#[test]
fn an_appliance_without_ip_forwarding_drops_what_it_is_sent() {
    let state = hub_and_spoke(&[("    ipForwarding: true\n", "")]);
    let t = trace(&state, "spoke1-vm", "spoke2-vm", tcp(22));
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::IpForwarding, "nva-nic".into()), "{b:?}");
    assert!(t.blockers[0].fix.contains("--ip-forwarding true"), "{}", t.blockers[0].fix);
    assert!(b.iter().all(|(_, k, _)| *k == BlockerKind::IpForwarding), "{b:?}");
}

#[test]
fn without_a_route_to_the_appliance_the_spokes_are_not_transitive_and_every_blocker_is_listed() {
    // No UDR, and the hub's links do not accept forwarded traffic: both are reported.
    let state = hub_and_spoke(&[
        ("        routeTable: spokes-via-nva\n", ""),
        ("    allowForwardedTraffic: true\n", "    allowForwardedTraffic: false\n"),
    ]);
    let t = trace(&state, "spoke1-vm", "spoke2-vm", tcp(22));
    let b = blockers(&t);
    assert_eq!(b[0].1, BlockerKind::NotTransitive, "{b:?}");
    assert!(t.blockers[0].problem.contains("not transitive"), "{}", t.blockers[0].problem);
    assert!(t.blockers[0].fix.contains("VirtualAppliance 10.0.1.4"), "{}", t.blockers[0].fix);
    assert_eq!(b[1], (Leg::Forward, BlockerKind::ForwardedTraffic, "spoke2-to-hub".into()), "{b:?}");
    assert!(t.forward.iter().any(|h| h.kind == HopKind::VirtualAppliance && h.assumed), "{:#?}", t.forward);
    // The way back has the same problems: the missing path between the two spokes is named once
    // (its fix covers both ways), the other spoke's link is named on its own.
    assert_eq!(b.iter().filter(|x| x.1 == BlockerKind::NotTransitive).count(), 1, "{b:?}");
    assert_eq!(b[2], (Leg::Return, BlockerKind::ForwardedTraffic, "spoke1-to-hub".into()), "{b:?}");
    assert!(t.back.iter().any(|h| h.blocked), "{:#?}", t.back);
}

#[test]
fn spokes_reach_on_premises_through_the_hub_gateway_and_back() {
    let state = hub_and_spoke(&[]);
    let t = trace(&state, "spoke1-vm", "192.168.10.20", tcp(443));
    assert!(t.reachable(), "{:#?}", t.blockers);
    use HopKind::*;
    assert_eq!(kinds(&t.forward), [Source, SecurityGroup, Route, Peering, Gateway, Route, Connection, OnPremises]);
    assert!(matches!(&t.destination, TraceEnd::Site { site, .. } if site.name() == "branch-office"));
    // On-premises learned spoke1's space from the gateway, so the answer comes back.
    assert_eq!(kinds(&t.back)[..3], [Source, Connection, Gateway]);
    assert_eq!(t.back.last().unwrap().kind, Destination);
}

#[test]
fn without_gateway_transit_both_flags_are_named() {
    let state = hub_and_spoke(&[("    useHubAsGateway: true\n", "    useHubAsGateway: false\n")]);
    let t = trace(&state, "spoke1-vm", "192.168.10.20", tcp(443));
    let b = blockers(&t);
    assert!(b.contains(&(Leg::Forward, BlockerKind::GatewayTransit, "spoke1-to-hub".into())), "{b:?}");
    assert!(b.contains(&(Leg::Forward, BlockerKind::GatewayTransit, "hub-to-spoke1".into())), "{b:?}");
    // On-premises does not learn spoke1's space either: the way back is blocked by the same two
    // settings, named once.
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(t.back.iter().any(|h| h.blocked), "{:#?}", t.back);
    // The hub itself still reaches the branch.
    assert!(trace(&state, "shared-vm", "192.168.10.20", tcp(443)).reachable());
}

#[test]
fn an_nsg_deny_on_the_peered_range_is_the_blocker_with_a_rule_that_fixes_it() {
    let state = hub_and_spoke(&[
        ("priority: 100", "priority: 150"),
        (
            "    rules:\n",
            "    rules:\n      - { name: deny-hub-ssh, priority: 120, direction: Inbound, access: Deny, protocol: Tcp, source: 10.0.0.0/16, destination: '*', destinationPorts: '22' }\n",
        ),
    ]);
    let t = trace(&state, "shared-vm", "spoke1-vm", tcp(22));
    let b = blockers(&t);
    assert_eq!(b, [(Leg::Forward, BlockerKind::NetworkSecurityRule, "deny-hub-ssh".into())]);
    assert!(t.blockers[0].problem.contains("priority 120"), "{}", t.blockers[0].problem);
    assert!(t.blockers[0].fix.contains("--priority 119"), "{}", t.blockers[0].fix);
    let web = trace(&state, "shared-vm", "spoke1-vm", tcp(3389));
    assert!(web.reachable(), "{:#?}", web.blockers);
}

const TWO: &str = r#"
resourceGroup: two-rg
location: westeurope
vnets:
  - { name: a, addressSpace: [10.10.0.0/16], subnets: [{ name: s, addressPrefix: 10.10.1.0/24, nsg: a-nsg }] }
  - { name: b, addressSpace: [10.20.0.0/16], subnets: [{ name: s, addressPrefix: 10.20.1.0/24, nsg: b-nsg }] }
nsgs:
  - { name: a-nsg }
  - { name: b-nsg, rules: RULES }
vms:
  - { name: a-vm, subnet: a/s }
  - { name: b-vm, subnet: b/s }
peerings:
  - PEERING
"#;

fn two(peering: &str, rules: &str) -> State {
    up(&TWO.replace("PEERING", peering).replace("RULES", rules))
}

fn trace_two(state: &State) -> Trace {
    let network = Network::compile(state);
    let tracer = Tracer::new(&network, state);
    let a = vm(&network, "two-rg", "a-vm");
    let b = vm(&network, "two-rg", "b-vm");
    tracer.trace(&a, &b, tcp(22)).unwrap()
}

#[test]
fn a_missing_reverse_peering_and_an_nsg_rule_are_both_reported() {
    let state = two(
        "{ vnet: a, remote: b, oneWay: true }",
        "[{ name: no-ssh, priority: 200, direction: Inbound, access: Deny, protocol: Tcp, source: '*', destination: '*', destinationPorts: '22' }]",
    );
    let t = trace_two(&state);
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::Peering, "a-to-b".into()), "{b:?}");
    assert!(t.blockers[0].problem.contains("Initiated"), "{}", t.blockers[0].problem);
    assert!(t.blockers[0].fix.contains("--vnet-name b"), "{}", t.blockers[0].fix);
    assert_eq!(b[1], (Leg::Forward, BlockerKind::NetworkSecurityRule, "no-ssh".into()), "{b:?}");
    // The way back needs the same reverse link: it is not blamed twice.
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(t.back.iter().any(|h| h.blocked), "{:#?}", t.back);
}

#[test]
fn vnet_access_off_blocks_through_the_default_rules_unless_a_rule_allows_it() {
    let off = "{ vnet: a, remote: b, allowVirtualNetworkAccess: false, reverse: { allowVirtualNetworkAccess: false } }";
    let t = trace_two(&two(off, "[]"));
    let b = blockers(&t);
    assert_eq!(
        b,
        [
            (Leg::Forward, BlockerKind::NetworkSecurityRule, "DenyAllOutBound".into()),
            (Leg::Forward, BlockerKind::NetworkSecurityRule, "DenyAllInBound".into()),
        ]
    );
    assert!(t.blockers[1].problem.contains("allowVirtualNetworkAccess=false"), "{}", t.blockers[1].problem);
    assert!(t.blockers[1].fix.contains("allowVirtualNetworkAccess=true"), "{}", t.blockers[1].fix);
    // The routes stay: explicit rules on both sides let it through.
    let rules = "[{ name: from-a, priority: 100, direction: Inbound, access: Allow, protocol: Tcp, source: 10.10.0.0/16, destination: '*', destinationPorts: '22' }]";
    let state = two(off, rules);
    let out_rule = up_on_nsg_rule(&state);
    let t = trace_two(&out_rule);
    assert!(t.reachable(), "{:#?}", t.blockers);
}

/// Adds an outbound allow to b's space on a-nsg.
fn up_on_nsg_rule(state: &State) -> State {
    crate::up_on(
        state,
        r#"
resourceGroup: two-rg
location: westeurope
nsgs:
  - { name: a-nsg, rules: [{ name: to-b, priority: 100, direction: Outbound, access: Allow, protocol: Tcp, source: '*', destination: 10.20.0.0/16, destinationPorts: '22' }] }
"#,
    )
}

#[test]
fn a_disconnected_link_is_deleted_before_the_pair_is_made_again() {
    // Peered both ways, then b's link deleted: a's link is Disconnected, and Azure refuses a new
    // b-to-a while it is (RemotePeeringIsDisconnected).
    let mut state = two("{ vnet: a, remote: b }", "[]");
    state.remove(&id("two-rg", "Microsoft.Network/virtualNetworks/b/virtualNetworkPeerings/b-to-a"));
    let mut link =
        state.get(&id("two-rg", "Microsoft.Network/virtualNetworks/a/virtualNetworkPeerings/a-to-b")).unwrap().clone();
    if let Resource::VirtualNetworkPeering(p) = &mut link.resource {
        p.properties.peering_state = PeeringState::Disconnected;
    }
    state.insert(link);
    let t = trace_two(&state);
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::Peering, "a-to-b".into()), "{b:?}");
    let fix = &t.blockers[0].fix;
    assert!(fix.starts_with("Delete the Disconnected link 'a-to-b' on 'a'"), "{fix}");
    assert!(fix.contains("az network vnet peering delete -g two-rg --vnet-name a -n a-to-b"), "{fix}");
    assert!(fix.contains("then peer both ways again"), "{fix}");
}

#[test]
fn unpeered_vnets_are_blocked_with_a_peering_to_make() {
    let state = up(&TWO.replace("peerings:\n  - PEERING\n", "").replace("RULES", "[]"));
    let t = trace_two(&state);
    let b = blockers(&t);
    assert_eq!(b[0].1, BlockerKind::Peering, "{b:?}");
    assert!(t.blockers[0].fix.contains("az network vnet peering create"), "{}", t.blockers[0].fix);
}

#[test]
fn bad_ends_are_errors() {
    let state = hub_and_spoke(&[]);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let missing =
        TraceEnd::Nic { nic: id(G, "Microsoft.Network/networkInterfaces/nope"), ip: "10.1.1.4".parse().unwrap() };
    let to = TraceEnd::Address("10.2.1.4".parse().unwrap());
    assert!(tracer.trace(&missing, &to, tcp(22)).is_err());
    let source = vm(&network, G, "spoke1-vm");
    let v6 = TraceEnd::Address("fd00::1".parse().unwrap());
    assert!(tracer.trace(&source, &v6, tcp(22)).is_err());
    assert!(tracer.trace(&TraceEnd::Address("10.1.1.4".parse().unwrap()), &to, tcp(22)).is_err());
}

#[test]
fn an_unused_address_is_reported_as_no_host() {
    let state = hub_and_spoke(&[]);
    let t = trace(&state, "spoke1-vm", "10.0.2.200", tcp(22));
    assert_eq!(blockers(&t), [(Leg::Forward, BlockerKind::NoHost, "shared".into())]);
}

#[test]
fn a_subnet_peering_carries_only_its_subnets() {
    let state = up(r#"
resourceGroup: sp-rg
location: westeurope
vnets:
  - { name: a, addressSpace: [10.10.0.0/16], subnets: [{ name: web, addressPrefix: 10.10.1.0/24 }, { name: batch, addressPrefix: 10.10.2.0/24 }] }
  - { name: b, addressSpace: [10.20.0.0/16], subnets: [{ name: api, addressPrefix: 10.20.1.0/24 }] }
vms:
  - { name: web-vm, subnet: a/web }
  - { name: batch-vm, subnet: a/batch }
  - { name: api-vm, subnet: b/api }
peerings:
  - { vnet: a, remote: b, localSubnets: [web], remoteSubnets: [api], reverse: { localSubnets: [api], remoteSubnets: [web] } }
"#);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let end = |name: &str| vm(&network, "sp-rg", name);
    let ok = tracer.trace(&end("web-vm"), &end("api-vm"), tcp(22)).unwrap();
    assert!(ok.reachable(), "{:#?}", ok.blockers);
    // Azure's documented limitation: batch gets the route, but its packets are dropped.
    let t = tracer.trace(&end("batch-vm"), &end("api-vm"), tcp(22)).unwrap();
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::SubnetPeering, "a-to-b".into()), "{b:?}");
    assert!(t.blockers[0].problem.contains("'batch'"), "{}", t.blockers[0].problem);
}

#[test]
fn the_connectivity_answer_has_the_shape_of_network_watchers() {
    let state = hub_and_spoke(&[("    ipForwarding: true\n", "")]);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let t = tracer.trace(&vm(&network, G, "spoke1-vm"), &vm(&network, G, "spoke2-vm"), tcp(22)).unwrap();
    let answer = tracer.connectivity(&t);
    let types: Vec<&str> = answer["hops"].as_array().unwrap().iter().map(|h| h["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Source", "VirtualAppliance", "VirtualNetwork"]);
    assert_eq!(answer["connectionStatus"], "Unreachable");
    assert_eq!(answer["hops"][0]["nextHopIds"][0], answer["hops"][1]["id"]);
    assert!(answer["hops"][0]["resourceId"].as_str().unwrap().contains("/ipConfigurations/"), "{answer}");
    let issue = &answer["hops"][1]["issues"][0];
    assert_eq!((issue["type"].as_str(), issue["severity"].as_str()), (Some("Platform"), Some("Error")), "{issue}");
    let reachable = tracer.trace(&vm(&network, G, "spoke1-vm"), &vm(&network, G, "shared-vm"), tcp(22)).unwrap();
    let answer = tracer.connectivity(&reachable);
    assert_eq!(answer["connectionStatus"], "Connected");
    assert_eq!(answer["probesFailed"], 0);
}

fn round_trips(sent: u32, answered_us: &[u64], refused: u32) -> RoundTrips {
    RoundTrips { sent, answered: answered_us.iter().map(|us| Duration::from_micros(*us)).collect(), refused }
}

#[test]
fn a_measured_answer_gives_what_the_packets_did_and_round_trips_on_each_link() {
    let state = hub_and_spoke(&[]);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let t = tracer.trace(&vm(&network, G, "spoke1-vm"), &vm(&network, G, "spoke2-vm"), tcp(22)).unwrap();
    assert!(t.reachable(), "{:#?}", t.blockers);
    let connectivity = tracer.connectivity_hops(&t);
    let nva: std::net::IpAddr = "10.0.1.4".parse().unwrap();
    assert_eq!(connectivity.intermediate_addresses(), [nva], "the appliance is measured besides the destination");
    let measured = Measured {
        probes: round_trips(10, &[80, 1_200, 2_500, 150, 90, 100, 110, 120, 130, 140], 0),
        hops: vec![(nva, round_trips(10, &[40, 60], 0))],
    };
    let answer = connectivity.measured_json(&measured);
    assert_eq!(answer["connectionStatus"], "Reachable");
    assert_eq!((answer["probesSent"].as_u64(), answer["probesFailed"].as_u64()), (Some(10), Some(0)));
    // Whole milliseconds, rounded up: 0.08 ms is 1, the average of 0.462 ms is 1, 2.5 ms is 3.
    let latency = |k: &str| answer[k].as_u64();
    assert_eq!(
        (latency("minLatencyInMs"), latency("avgLatencyInMs"), latency("maxLatencyInMs")),
        (Some(1), Some(1), Some(3))
    );
    let hops = answer["hops"].as_array().unwrap();
    let types: Vec<&str> = hops.iter().map(|h| h["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Source", "VirtualAppliance", "VirtualNetwork"]);
    // The source's link leads to the appliance, with the echo round trips to its address; the
    // appliance's to the destination, with the check's own.
    let link = |n: usize| &hops[n]["links"][0];
    assert_eq!(link(0)["nextHopId"], hops[1]["id"]);
    assert_eq!(link(0)["properties"], json!({"roundTripTimeMin": 1, "roundTripTimeAvg": 1, "roundTripTimeMax": 1}));
    assert_eq!(link(1)["properties"]["roundTripTimeMax"], 3);
    assert_eq!(hops[2]["links"], json!([]));
    assert_eq!(hops[2]["previousHopIds"], json!([hops[1]["id"]]));
    assert_eq!(hops[2]["previousLinks"][0]["nextHopId"], hops[1]["id"]);
    // The static answer of the same trace is unchanged: one probe, no latency, no links.
    let fixed = connectivity.to_json();
    assert_eq!((fixed["connectionStatus"].as_str(), fixed["probesSent"].as_u64()), (Some("Connected"), Some(1)));
    assert!(fixed["hops"][0].get("links").is_none(), "{fixed}");
}

#[test]
fn a_measured_answer_keeps_the_traces_issues_and_says_when_nothing_listens() {
    let state = hub_and_spoke(&[("    ipForwarding: true\n", "")]);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    // Blocked: every probe lost, no latency, the trace's issue still explains why.
    let blocked = tracer.trace(&vm(&network, G, "spoke1-vm"), &vm(&network, G, "spoke2-vm"), tcp(22)).unwrap();
    let connectivity = tracer.connectivity_hops(&blocked);
    let lost = Measured { probes: round_trips(10, &[], 0), hops: Vec::new() };
    let answer = connectivity.measured_json(&lost);
    assert_eq!(answer["connectionStatus"], "Unreachable");
    assert_eq!((answer["probesSent"].as_u64(), answer["probesFailed"].as_u64()), (Some(10), Some(10)));
    assert!(answer.get("avgLatencyInMs").is_none(), "{answer}");
    assert_eq!(answer["hops"][1]["issues"], connectivity.to_json()["hops"][1]["issues"]);
    assert!(answer["hops"][0]["links"][0].get("properties").is_none(), "nothing measured: {answer}");
    // Reachable by the trace, refused by the destination: the packets decide, and Azure's issue
    // for a port nobody listens on says why.
    let open = tracer.trace(&vm(&network, G, "spoke1-vm"), &vm(&network, G, "shared-vm"), tcp(22)).unwrap();
    let refused = Measured { probes: round_trips(10, &[], 10), hops: Vec::new() };
    let answer = tracer.connectivity_hops(&open).measured_json(&refused);
    assert_eq!(answer["connectionStatus"], "Unreachable");
    let last = answer["hops"].as_array().unwrap().last().unwrap();
    assert_eq!(last["issues"][0]["type"], "NoListenerOnDestination", "{last}");
    assert_eq!(last["issues"][0]["origin"], "Local");
    // Blocked by the trace, answered by the packets: the status is what the packets did.
    let answered = Measured { probes: round_trips(10, &[100; 10], 0), hops: Vec::new() };
    let answer = connectivity.measured_json(&answered);
    assert_eq!(answer["connectionStatus"], "Reachable");
    assert_eq!(answer["hops"][1]["issues"], connectivity.to_json()["hops"][1]["issues"]);
}

#[test]
fn a_vnet_to_vnet_connection_carries_traffic_between_gateways_and_a_wrong_key_stops_it() {
    let doc = r#"
resourceGroup: v2v-rg
location: westeurope
vnets:
  - { name: east, addressSpace: [10.50.0.0/16], subnets: [{ name: GatewaySubnet, addressPrefix: 10.50.255.0/27 }, { name: app, addressPrefix: 10.50.1.0/24 }] }
  - { name: west, addressSpace: [10.60.0.0/16], subnets: [{ name: GatewaySubnet, addressPrefix: 10.60.255.0/27 }, { name: app, addressPrefix: 10.60.1.0/24 }] }
vms:
  - { name: east-vm, subnet: east/app }
  - { name: west-vm, subnet: west/app }
gateways:
  - { name: east-gw, vnet: east, sku: VpnGw1 }
  - { name: west-gw, vnet: west, sku: VpnGw1 }
connections:
  - { name: east-to-west, type: Vnet2Vnet, gateway: east-gw, remoteGateway: west-gw, sharedKey: KEY, bothWays: true }
"#;
    let state = up(doc);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let end = |name: &str| vm(&network, "v2v-rg", name);
    let t = tracer.trace(&end("east-vm"), &end("west-vm"), tcp(22)).unwrap();
    assert!(t.reachable(), "{:#?}", t.blockers);
    use HopKind::*;
    assert_eq!(
        kinds(&t.forward),
        [Source, Route, Gateway, Route, Connection, Gateway, Route, Destination],
        "{:#?}",
        t.forward
    );
    assert!(kinds(&t.back).contains(&Connection));

    // Each side's connection with its own key: the keys differ, nothing is Connected.
    let wrong = doc.replace(
        "  - { name: east-to-west, type: Vnet2Vnet, gateway: east-gw, remoteGateway: west-gw, sharedKey: KEY, bothWays: true }\n",
        "  - { name: east-to-west, type: Vnet2Vnet, gateway: east-gw, remoteGateway: west-gw, sharedKey: one, bothWays: false }\n  - { name: west-to-east, type: Vnet2Vnet, gateway: west-gw, remoteGateway: east-gw, sharedKey: two, bothWays: false }\n",
    );
    assert_ne!(wrong, doc);
    let state = up(&wrong);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let end = |name: &str| vm(&network, "v2v-rg", name);
    let t = tracer.trace(&end("east-vm"), &end("west-vm"), tcp(22)).unwrap();
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::Connection, "east-to-west".into()), "{b:?}");
    assert!(t.blockers[0].problem.contains("NotConnected"), "{}", t.blockers[0].problem);
    assert!(t.blockers[0].fix.contains("shared-key update"), "{}", t.blockers[0].fix);
    assert!(!t.reachable());
}

#[test]
fn a_user_route_that_sends_a_peered_prefix_to_the_internet_is_the_blocker() {
    let state = up(r#"
resourceGroup: ui-rg
location: westeurope
vnets:
  - { name: a, addressSpace: [10.10.0.0/16], subnets: [{ name: s, addressPrefix: 10.10.1.0/24, routeTable: out }] }
  - { name: b, addressSpace: [10.20.0.0/16], subnets: [{ name: s, addressPrefix: 10.20.1.0/24 }] }
routeTables:
  - { name: out, routes: [{ name: b-via-internet, addressPrefix: 10.20.0.0/16, nextHopType: Internet }] }
vms:
  - { name: a-vm, subnet: a/s }
  - { name: b-vm, subnet: b/s }
peerings:
  - { vnet: a, remote: b }
"#);
    let network = Network::compile(&state);
    let tracer = Tracer::new(&network, &state);
    let (a, b) = (vm(&network, "ui-rg", "a-vm"), vm(&network, "ui-rg", "b-vm"));
    let t = tracer.trace(&a, &b, tcp(22)).unwrap();
    assert_eq!(blockers(&t), [(Leg::Forward, BlockerKind::Route, "b-via-internet".into())]);
    assert!(!tracer.reaches(&a, &b, tcp(22)).unwrap());
    assert!(tracer.trace(&b, &a, tcp(22)).unwrap().blockers.iter().all(|x| x.leg == Leg::Return));
}

/// The verdict-only walk of the reachability matrix agrees with the full trace on every pair
/// of VMs and subnets of many labs.
#[test]
fn the_verdict_only_walk_agrees_with_the_full_trace() {
    use vnetlab_analysis::azure::reach::{By, members};
    let variants: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("    allowForwardedTraffic: true\n", "    allowForwardedTraffic: false\n")],
        vec![("    ipForwarding: true\n", "")],
        vec![("        routeTable: spokes-via-nva\n", "")],
        vec![("    useHubAsGateway: true\n", "    useHubAsGateway: false\n")],
        vec![("destinationPorts: \"22\"", "destinationPorts: \"2222\"")],
        vec![
            ("        routeTable: spokes-via-nva\n", ""),
            ("    ipForwarding: true\n", ""),
            ("    useHubAsGateway: true\n", "    useHubAsGateway: false\n"),
        ],
        vec![
            ("connectivity:\n", SUBNET_PEERED_SPOKE1),
            ("spokes: [spoke1, spoke2, spoke3]", "spokes: [spoke2, spoke3]"),
        ],
    ];
    for changes in variants {
        let state = hub_and_spoke(&changes);
        let network = Network::compile(&state);
        let tracer = Tracer::new(&network, &state);
        for by in [By::Vm, By::Subnet] {
            let all = members(&network, &state, by);
            let ends: Vec<TraceEnd> = all.iter().flat_map(|m| m.end_list().to_vec()).collect();
            for probe in [tcp(22), tcp(443), Probe { protocol: Protocol::Icmp, port: 0 }] {
                for a in &ends {
                    for b in &ends {
                        if a == b {
                            continue;
                        }
                        let full = tracer.trace(a, b, probe).unwrap().reachable();
                        let fast = tracer.reaches(a, b, probe).unwrap();
                        assert_eq!(full, fast, "{changes:?} {a:?} → {b:?} {probe:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_hub_with_an_expressroute_gateway_beside_the_vpn_gateway_still_gives_transit() {
    let state = hub_and_spoke(&[(
        "gateways:\n",
        "gateways:\n  - { name: a-er-gw, vnet: hub, type: ExpressRoute, sku: ErGw1AZ }\n",
    )]);
    let t = trace(&state, "spoke1-vm", "192.168.10.20", tcp(443));
    assert!(t.reachable(), "{:#?}", t.blockers);
    assert!(
        t.forward.iter().any(|h| h.kind == HopKind::Gateway && h.detail == "gateway hub-vpngw"),
        "{:#?}",
        t.forward
    );
}

/// spoke1 peered with the hub by a subnet peering of the hub's "shared" subnet only.
const SUBNET_PEERED_SPOKE1: &str = "peerings:\n  - { vnet: spoke1, remote: hub, name: spoke1-to-hub-sp, localSubnets: [workload], remoteSubnets: [shared], reverse: { name: hub-to-spoke1-sp, localSubnets: [shared], remoteSubnets: [workload] } }\nconnectivity:\n";

#[test]
fn a_subnet_peering_that_leaves_out_the_appliance_subnet_blocks_the_way_to_it() {
    // spoke1's link to the hub peers only the hub's "shared" subnet: the NVA is out of reach.
    let state = hub_and_spoke(&[
        ("connectivity:\n", SUBNET_PEERED_SPOKE1),
        ("spokes: [spoke1, spoke2, spoke3]", "spokes: [spoke2, spoke3]"),
    ]);
    let t = trace(&state, "spoke1-vm", "spoke2-vm", tcp(22));
    let b = blockers(&t);
    assert_eq!(b[0], (Leg::Forward, BlockerKind::SubnetPeering, "spoke1-to-hub-sp".into()), "{b:?}");
    assert!(t.blockers[0].problem.contains("'nva'"), "{}", t.blockers[0].problem);
    // The peered subnet is reached.
    assert!(trace(&state, "spoke1-vm", "shared-vm", tcp(22)).reachable());
}
