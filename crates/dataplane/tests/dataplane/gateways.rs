//! VPN gateways and on-premises sites with real tunnels (strongSwan, IKEv2 with the
//! connection's shared key, ESP in user space): site-to-site through a hub with gateway
//! transit, VNet-to-VNet, a wrong shared key, and a peering preferred over a tunnel.

use std::net::Ipv4Addr;

use vnetlab_analysis::azure::Network;
use vnetlab_dataplane::desired::Desired;
use vnetlab_dataplane::ipsec::{Gateway, TunnelStatus};
use vnetlab_dataplane::reconcile::IPSEC_DIR;
use vnetlab_model::View;

use crate::probe::ping;
use crate::{example, lab, up};

fn want(state: &vnetlab_model::State) -> Desired {
    Desired::build(state, &Network::compile(state))
}

/// The namespace of a VM, gateway or site.
fn ns(want: &Desired, name: &str) -> String {
    match want.machine(name).first() {
        Some(m) => m.namespace.clone(),
        None => want.edge(name).first().unwrap_or_else(|| panic!("no {name}")).machine.namespace.clone(),
    }
}

/// Pings until one answer comes back, for a tunnel that is still being negotiated.
fn ping_soon(ns: &str, ip: Ipv4Addr) -> bool {
    (0..10).any(|_| ping(ns, ip))
}

/// The tunnel status of connection `connection` as gateway `gateway` sees it.
fn status(want: &Desired, gateway: &str, connection: &str) -> TunnelStatus {
    let edge = want.edge(gateway)[0];
    let gw = Gateway::new(&edge.machine.namespace, std::path::Path::new(IPSEC_DIR).join(&edge.machine.namespace));
    gw.status().unwrap().remove(connection).unwrap_or_else(|| panic!("no tunnel {connection} on {gateway}"))
}

const BRANCH: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

#[test]
fn spokes_reach_on_premises_through_the_hub_gateway_only_with_transit() {
    let Some(mut lab) = lab() else { return };
    let state = example("hub-and-spoke.yaml");
    lab.apply(&state);
    let w = want(&state);
    assert_eq!(status(&w, "hub-vpngw", "hub-to-branch-office"), TunnelStatus::Connected);
    let spoke1 = ns(&w, "spoke1-vm");
    assert!(ping_soon(&spoke1, BRANCH), "spoke → branch over the hub's tunnel");
    assert!(ping(&ns(&w, "shared-vm"), BRANCH), "hub → branch");
    // With gateways, sites and tunnels, a second run from a fresh reconciler changes nothing.
    lab.reconciler = vnetlab_dataplane::reconcile::Reconciler::new();
    let again = lab.apply(&state);
    assert!(again.is_empty(), "{again}");
    assert!(ping(&ns(&w, "branch-office-vm"), Ipv4Addr::new(10, 1, 1, 4)), "a branch VM → spoke");
    assert!(ping(&ns(&w, "branch-office"), Ipv4Addr::new(10, 0, 2, 4)), "the site's router → hub");

    // Without gateway transit the spokes have no route to the branch, and the branch learns
    // only the hub's space.
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hub-and-spoke.yaml"),
    )
    .unwrap();
    let no_transit = up(&text.replace("useHubAsGateway: true", "useHubAsGateway: false"));
    lab.apply(&no_transit);
    let w = want(&no_transit);
    assert!(!ping(&ns(&w, "spoke1-vm"), BRANCH), "no transit: the spoke cannot use the hub's gateway");
    assert!(!ping(&ns(&w, "branch-office-vm"), Ipv4Addr::new(10, 1, 1, 4)), "no transit: the branch cannot reach it");
    assert!(ping_soon(&ns(&w, "shared-vm"), BRANCH), "the hub still can");
}

/// Two VNets with a VPN gateway each and a VNet-to-VNet connection each way; `extra` adds to it.
fn vnet_to_vnet(key_a: &str, key_b: &str, extra: &str) -> vnetlab_model::State {
    up(&format!(
        r#"
name: v2v
resourceGroup: v2v-rg
location: westus
vnets:
  - name: A
    addressSpace: [10.10.0.0/16]
    subnets: [{{name: GatewaySubnet, addressPrefix: 10.10.255.0/27}}, {{name: s, addressPrefix: 10.10.1.0/24}}]
  - name: B
    addressSpace: [10.20.0.0/16]
    subnets: [{{name: GatewaySubnet, addressPrefix: 10.20.255.0/27}}, {{name: s, addressPrefix: 10.20.1.0/24}}]
vms:
  - {{name: a1, subnet: A/s}}
  - {{name: b1, subnet: B/s}}
gateways:
  - {{name: gw-a, vnet: A, sku: VpnGw1}}
  - {{name: gw-b, vnet: B, sku: VpnGw1}}
connections:
  - {{name: a-to-b, type: Vnet2Vnet, gateway: gw-a, remoteGateway: gw-b, sharedKey: "{key_a}"}}
  - {{name: b-to-a, type: Vnet2Vnet, gateway: gw-b, remoteGateway: gw-a, sharedKey: "{key_b}"}}
{extra}
"#
    ))
}

const B1: Ipv4Addr = Ipv4Addr::new(10, 20, 1, 4);

#[test]
fn vnet_to_vnet_carries_traffic_through_the_tunnel_and_a_wrong_key_stops_it() {
    let Some(mut lab) = lab() else { return };
    let state = vnet_to_vnet("same-key", "same-key", "");
    lab.apply(&state);
    let w = want(&state);
    assert_eq!(status(&w, "gw-a", "a-to-b"), TunnelStatus::Connected);
    assert!(ping_soon(&ns(&w, "a1"), B1));
    let before = tunnel_bytes(&w, "gw-a", "a-to-b");
    assert!(ping(&ns(&w, "a1"), B1));
    assert!(tunnel_bytes(&w, "gw-a", "a-to-b") > before, "the packets went through the tunnel");

    // One side's key changes: the connection is NotConnected and nothing crosses.
    let wrong = vnet_to_vnet("same-key", "another-key", "");
    lab.apply(&wrong);
    let w = want(&wrong);
    assert!(!ping(&ns(&w, "a1"), B1), "a wrong shared key carries nothing");
    let connection = wrong
        .all_of(vnetlab_model::Kind::Connection)
        .into_iter()
        .find_map(|s| s.resource.as_connection().filter(|c| c.name == "a-to-b").cloned())
        .unwrap();
    assert_eq!(connection.properties.connection_status, vnetlab_model::ConnectionStatus::NotConnected);
    let tunnel = status(&w, "gw-a", "a-to-b");
    assert!(matches!(tunnel, TunnelStatus::NotConnected { .. } | TunnelStatus::Connecting), "{tunnel}");
}

/// What the gateway's meter counted into the connection's tunnel, and what strongSwan says the
/// tunnel carried.
fn tunnel_bytes(want: &Desired, gateway: &str, connection: &str) -> u64 {
    let edge = want.edge(gateway)[0];
    let seen = vnetlab_dataplane::netns::run_in(&edge.machine.namespace, vnetlab_dataplane::firewall::observe)
        .unwrap()
        .unwrap();
    let (out, _) = &edge.counters[connection];
    let metered = seen.counters.get(out).map_or(0, |(_, bytes)| *bytes);
    let gw = Gateway::new(&edge.machine.namespace, std::path::Path::new(IPSEC_DIR).join(&edge.machine.namespace));
    let t = gw.traffic().unwrap().remove(connection).unwrap_or_default();
    assert!(t.egress_bytes >= metered, "strongSwan carried {} bytes, the meter counted {metered}", t.egress_bytes);
    metered
}

#[test]
fn a_peering_is_preferred_over_a_vnet_to_vnet_connection() {
    let Some(mut lab) = lab() else { return };
    let state = vnet_to_vnet("k", "k", "peerings:\n  - {vnet: A, remote: B, name: a-b, reverse: {name: b-a}}\n");
    lab.apply(&state);
    let w = want(&state);
    assert!(ping_soon(&ns(&w, "a1"), B1));
    let before = tunnel_bytes(&w, "gw-a", "a-to-b");
    for _ in 0..3 {
        assert!(ping(&ns(&w, "a1"), B1));
    }
    assert_eq!(tunnel_bytes(&w, "gw-a", "a-to-b"), before, "nothing went through the tunnel");
    let meter = w.meters.iter().find(|m| m.link.name() == "a-b").unwrap();
    let seen = vnetlab_dataplane::netns::run_in(&meter.fabric, vnetlab_dataplane::firewall::observe).unwrap().unwrap();
    assert!(seen.counters.get(&meter.counter).is_some_and(|(packets, _)| *packets >= 3), "the peering carried them");
}
