//! Several hosts: each region's VNets live on a fabric of their own, and what crosses a global
//! peering travels between the hosts in VXLAN, one VNI per VNet.

use std::net::Ipv4Addr;

use vnetlab_analysis::azure::Network;
use vnetlab_dataplane::desired::Desired;

use crate::probe::{listen, ping, tcp};
use crate::{example, lab, up_on};

fn want(state: &vnetlab_model::State) -> Desired {
    Desired::build(state, &Network::compile(state))
}

fn ns(want: &Desired, vm: &str) -> String {
    want.machine(vm)[0].namespace.clone()
}

const WEU: Ipv4Addr = Ipv4Addr::new(10, 20, 1, 4);
const EUS: Ipv4Addr = Ipv4Addr::new(10, 30, 1, 4);

#[test]
fn global_peering_joins_two_hosts_and_keeps_an_overlapping_vnet_apart() {
    let Some(mut lab) = lab() else { return };
    // The example, plus a VNet in eastus with vnet-weu's address space, peered with nothing.
    let state = up_on(
        &example("global-peering.yaml"),
        r#"
name: global-overlap
resourceGroup: global-eus-rg
location: eastus
vnets:
  - name: twin
    addressSpace: [10.20.0.0/16]
    subnets: [{ name: apps, addressPrefix: 10.20.1.0/24 }]
vms:
  - { name: twin-vm, subnet: twin/apps }
"#,
    );
    lab.apply(&state);
    let w = want(&state);
    assert_eq!(w.fabrics.len(), 2, "one host per region: {:?}", w.fabrics.keys().collect::<Vec<_>>());
    for f in w.fabrics.values() {
        assert!(vnetlab_dataplane::netns::exists(&f.namespace), "{}", f.namespace);
        assert!(!f.vxlans.is_empty(), "{} has a VXLAN device", f.namespace);
    }
    let (weu, eus, twin) = (ns(&w, "vm-weu"), ns(&w, "vm-eus"), ns(&w, "twin-vm"));
    assert_ne!(
        w.machine("vm-weu")[0].interfaces[0].fabric,
        w.machine("vm-eus")[0].interfaces[0].fabric,
        "the two VMs are on different hosts"
    );
    assert!(ping(&weu, EUS), "westeurope → eastus across the global peering");
    assert!(ping(&eus, WEU), "eastus → westeurope");

    // 10.20.1.4 is vm-weu for vm-eus (peered), and twin-vm for itself; nothing else crosses.
    let _weu = listen(&weu, "vm-weu", &[7000]);
    let _twin = listen(&twin, "twin-vm", &[7000]);
    assert_eq!(tcp(&eus, WEU, 7000).as_deref(), Some("vm-weu"));
    assert_eq!(tcp(&twin, WEU, 7000).as_deref(), Some("twin-vm"), "the twin reaches its own VM");
    assert!(!ping(&twin, EUS), "the twin is not peered with vnet-eus");
    assert!(!ping(&weu, Ipv4Addr::new(10, 20, 1, 5)), "nothing else answers");

    // A second run changes nothing; so does a fresh reconciler.
    let second = lab.apply(&state);
    assert!(second.is_empty(), "{second}");
    lab.reconciler = vnetlab_dataplane::reconcile::Reconciler::new();
    let again = lab.apply(&state);
    assert!(again.is_empty(), "{again}");
}
