//! The example topologies with real packets.

use std::net::{IpAddr, Ipv4Addr};

use vnetlab_analysis::azure::Network;
use vnetlab_dataplane::desired::Desired;
use vnetlab_model::View;

use crate::probe::ping;
use crate::{example, lab};

fn ip(network: &Network, vm: &str) -> Ipv4Addr {
    let nic = network.nics().find(|n| n.vm.as_ref().is_some_and(|v| v.name().eq_ignore_ascii_case(vm))).unwrap();
    match nic.primary().unwrap().ip {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => panic!("IPv6"),
    }
}

fn ns(state: &vnetlab_model::State, vm: &str) -> String {
    let network = Network::compile(state);
    let want = Desired::build(state, &network);
    want.machine(vm)[0].namespace.clone()
}

#[test]
fn learn_exercise_pings_across_the_peering() {
    let Some(mut lab) = lab() else { return };
    let state = example("sales-marketing.yaml");
    let report = lab.apply(&state);
    assert!(report.namespaces_created >= 3, "{report}");
    let network = Network::compile(&state);
    let (sales, marketing) = (ns(&state, "SalesVM"), ns(&state, "MarketingVM"));
    assert!(ping(&sales, ip(&network, "MarketingVM")));
    assert!(ping(&marketing, ip(&network, "SalesVM")));
    // A second run changes nothing, even from a reconciler that starts afresh.
    assert!(lab.apply(&state).is_empty());
    lab.reconciler = vnetlab_dataplane::reconcile::Reconciler::new();
    let again = lab.apply(&state);
    assert!(again.is_empty(), "{again}");
}

fn peering_id(group: &str, vnet: &str, name: &str) -> vnetlab_model::ResourceId {
    vnetlab_model::ResourceId::parse(&format!(
        "/subscriptions/{}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}/virtualNetworkPeerings/{name}",
        crate::SUB
    ))
    .unwrap()
}

#[test]
fn deleting_one_side_of_a_peering_stops_packets() {
    let Some(mut lab) = lab() else { return };
    let state = example("sales-marketing.yaml");
    lab.apply(&state);
    let network = Network::compile(&state);
    let (sales, marketing_ip) = (ns(&state, "SalesVM"), ip(&network, "MarketingVM"));
    assert!(ping(&sales, marketing_ip));
    let id = peering_id("learn-rg", "SalesVNet", "SalesVNet-To-MarketingVNet");
    let after = crate::apply_ops(&state, &[vnetlab_engine::Operation::PeeringDelete { id }]);
    let report = lab.apply(&after);
    assert!(report.routes > 0 && report.namespaces_created == 0, "{report}");
    assert!(!ping(&sales, marketing_ip));
    assert!(!ping(&ns(&after, "MarketingVM"), ip(&network, "SalesVM")));
    // And back.
    lab.apply(&state);
    assert!(ping(&sales, marketing_ip));
}

#[test]
fn overlapping_unpeered_vnets_never_see_each_other() {
    let Some(mut lab) = lab() else { return };
    let state = crate::up(
        r#"
name: overlap
resourceGroup: overlap-rg
location: westus
vnets:
  - name: A
    addressSpace: [10.0.0.0/16]
    subnets: [{name: s, addressPrefix: 10.0.0.0/24}]
  - name: B
    addressSpace: [10.1.0.0/16]
    subnets: [{name: s, addressPrefix: 10.1.0.0/24}]
  - name: C
    addressSpace: [10.0.0.0/16]
    subnets: [{name: s, addressPrefix: 10.0.0.0/24}]
vms:
  - {name: a1, subnet: A/s}
  - {name: b1, subnet: B/s}
  - {name: c1, subnet: C/s}
  - {name: c2, subnet: C/s}
peerings:
  - {vnet: A, remote: B, name: a-b, reverse: {name: b-a}}
"#,
    );
    lab.apply(&state);
    let network = Network::compile(&state);
    let (a1, b1, c1, c2) = (ns(&state, "a1"), ns(&state, "b1"), ns(&state, "c1"), ns(&state, "c2"));
    assert_eq!(ip(&network, "a1"), ip(&network, "c1"), "the test wants the same address twice");
    assert!(ping(&a1, ip(&network, "b1")));
    assert!(ping(&b1, ip(&network, "a1")));
    assert!(!ping(&c1, ip(&network, "b1")), "C is not peered with B");
    assert!(ping(&c1, ip(&network, "c2")), "inside C");
    assert!(ping(&c2, ip(&network, "c1")));
}

#[test]
fn hub_and_spoke_through_the_appliance() {
    let Some(mut lab) = lab() else { return };
    let state = example("hub-and-spoke.yaml");
    lab.apply(&state);
    let network = Network::compile(&state);
    let _listeners: Vec<_> = ["shared-vm", "spoke2-vm", "spoke1-vm"]
        .iter()
        .map(|vm| crate::probe::listen(&ns(&state, vm), vm, &[22]))
        .collect();
    let spoke1 = ns(&state, "spoke1-vm");
    // Spoke to hub over the peering; spoke to spoke only through the NVA's user route.
    assert_eq!(crate::probe::tcp(&spoke1, ip(&network, "shared-vm"), 22).as_deref(), Some("shared-vm"));
    assert_eq!(crate::probe::tcp(&spoke1, ip(&network, "spoke2-vm"), 22).as_deref(), Some("spoke2-vm"));
    // Without IP forwarding on the appliance, spoke to spoke stops; the hub is still reached.
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hub-and-spoke.yaml"),
    )
    .unwrap()
    .replace("ipForwarding: true", "ipForwarding: false");
    let after = crate::up(&text);
    lab.apply(&after);
    assert_eq!(crate::probe::tcp(&spoke1, ip(&network, "spoke2-vm"), 22), None);
    assert_eq!(crate::probe::tcp(&spoke1, ip(&network, "shared-vm"), 22).as_deref(), Some("shared-vm"));
}

#[test]
fn a_mesh_connects_every_pair_and_removing_one_link_cuts_only_that_pair() {
    let Some(mut lab) = lab() else { return };
    let state = example("mesh.yaml");
    lab.apply(&state);
    let network = Network::compile(&state);
    let vms = ["vm-a", "vm-b", "vm-c", "vm-d"];
    for from in vms {
        for to in vms.iter().filter(|v| **v != from) {
            assert!(ping(&ns(&state, from), ip(&network, to)), "{from} → {to}");
        }
    }
    // One link of the pair a–d gone: a and d are cut off from each other (no detour through
    // b or c: peering is not transitive), every other pair still talks.
    let link = state
        .all_of(vnetlab_model::Kind::VirtualNetworkPeering)
        .into_iter()
        .find_map(|s| {
            s.resource.as_peering().filter(|l| {
                l.local_vnet_id().is_some_and(|v| v.name() == "mesh-a") && l.remote_vnet_id().name() == "mesh-d"
            })
        })
        .map(|l| l.id.clone())
        .expect("the mesh links mesh-a to mesh-d");
    let state = crate::apply_ops(&state, &[vnetlab_engine::Operation::PeeringDelete { id: link }]);
    lab.apply(&state);
    for from in vms {
        for to in vms.iter().filter(|v| **v != from) {
            let cut = matches!((from, *to), ("vm-a", "vm-d") | ("vm-d", "vm-a"));
            assert_eq!(ping(&ns(&state, from), ip(&network, to)), !cut, "{from} → {to}");
        }
    }
}
