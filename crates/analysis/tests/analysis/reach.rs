//! The reachability matrix, its diff between two states, and declared intents.

use std::path::PathBuf;

use vnetlab_analysis::azure::intents::{Intents, verify};
use vnetlab_analysis::azure::reach::{By, diff, reach};
use vnetlab_analysis::azure::trace::Probe;
use vnetlab_analysis::layers::Protocol;

use crate::{example, up};

const SSH: Probe = Probe { protocol: Protocol::Tcp, port: 22 };

fn cell(m: &vnetlab_analysis::azure::reach::Matrix, from: &str, to: &str) -> bool {
    let i = m.members.iter().position(|x| x.name == from).unwrap_or_else(|| panic!("{from}"));
    let j = m.members.iter().position(|x| x.name == to).unwrap_or_else(|| panic!("{to}"));
    m.cells[i][j]
}

#[test]
fn the_hub_and_spoke_matrix_by_vm_subnet_and_vnet() {
    let state = example("hub-and-spoke.yaml");
    let by_vm = reach(&state, By::Vm, SSH).unwrap();
    let names: Vec<&str> = by_vm.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["nva", "shared-vm", "spoke1-vm", "spoke2-vm", "spoke3-vm", "branch-office"]);
    // Everything reaches everything: spokes through the NVA, on-premises through the gateway.
    assert!(by_vm.cells.iter().all(|row| row.iter().all(|c| *c)), "{:?}", by_vm.cells);
    let by_vnet = reach(&state, By::Vnet, SSH).unwrap();
    let names: Vec<&str> = by_vnet.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["hub", "spoke1", "spoke2", "spoke3", "branch-office"]);
    let by_subnet = reach(&state, By::Subnet, SSH).unwrap();
    assert!(by_subnet.members.iter().all(|m| !m.name.ends_with("GatewaySubnet")));
    let json = by_vnet.to_json();
    assert_eq!(json["by"], "vnet");
    assert_eq!(json["reaches"].as_array().unwrap().len(), 5);
}

#[test]
fn non_transitive_spokes_show_as_blocked_and_the_diff_names_what_a_file_changes() {
    // Without the UDR the spokes reach the hub but not each other.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hub-and-spoke.yaml");
    let full = std::fs::read_to_string(path).unwrap();
    let without = full.replace("        routeTable: spokes-via-nva\n", "");
    let before_state = up(&without);
    let before = reach(&before_state, By::Vnet, SSH).unwrap();
    assert!(cell(&before, "spoke1", "hub") && cell(&before, "hub", "spoke2"));
    assert!(!cell(&before, "spoke1", "spoke2") && !cell(&before, "spoke3", "spoke1"));
    // Applying the full example on top adds the route table: the spokes gain each other.
    let after_state = crate::up_on(&before_state, &full);
    let after = reach(&after_state, By::Vnet, SSH).unwrap();
    let changes = diff(&before, &after);
    let pairs: Vec<(String, String)> = changes.iter().map(|c| (c.from.clone(), c.to.clone())).collect();
    assert_eq!(changes.len(), 6, "{pairs:?}");
    assert!(changes.iter().all(|c| c.before == Some(false) && c.after == Some(true)), "{changes:?}");
    assert!(pairs.contains(&("spoke1".into(), "spoke2".into())), "{pairs:?}");
    assert!(diff(&after, &after).is_empty());
}

#[test]
fn a_subnet_without_vms_is_probed_at_its_first_address() {
    let state = up(r#"
resourceGroup: r
location: westeurope
vnets:
  - { name: a, addressSpace: [10.10.0.0/16], subnets: [{ name: s, addressPrefix: 10.10.1.0/24 }] }
  - { name: b, addressSpace: [10.20.0.0/16], subnets: [{ name: s, addressPrefix: 10.20.1.0/24, nsg: b-nsg }] }
nsgs:
  - { name: b-nsg, rules: [{ name: no-ssh, priority: 100, direction: Inbound, access: Deny, protocol: Tcp, source: '*', destination: '*', destinationPorts: '22' }] }
peerings:
  - { vnet: a, remote: b }
"#);
    let m = reach(&state, By::Subnet, SSH).unwrap();
    assert!(!cell(&m, "a/s", "b/s"), "the NSG of b/s keeps ssh out");
    assert!(cell(&m, "b/s", "a/s"));
    let web = reach(&state, By::Subnet, Probe { protocol: Protocol::Tcp, port: 443 }).unwrap();
    assert!(cell(&web, "a/s", "b/s"));
}

const INTENTS: &str = r#"
resourceGroup: hub-and-spoke-rg
intents:
  - name: spokes reach on-premises through the hub gateway
    from: [spoke1, spoke2, spoke3]
    to: branch-office
    port: 443
    through: hub-vpngw
  - name: spoke1 never reaches spoke2 on 22
    from: spoke1
    to: spoke2
    reach: false
  - name: spoke traffic to spoke2 passes the appliance
    from: spoke1-vm
    to: spoke2-vm
    through: nva
  - name: hub reaches all
    from: hub
    to: "*"
"#;

#[test]
fn intents_hold_or_fail_with_an_explanation() {
    let state = example("hub-and-spoke.yaml");
    let intents = Intents::parse("intents.yaml", INTENTS).unwrap();
    let outcomes = verify(&state, &intents).unwrap();
    let verdicts: Vec<(&str, bool)> = outcomes.iter().map(|o| (o.name.as_str(), o.holds)).collect();
    assert_eq!(
        verdicts,
        [
            ("spokes reach on-premises through the hub gateway", true),
            ("spoke1 never reaches spoke2 on 22", false),
            ("spoke traffic to spoke2 passes the appliance", true),
            ("hub reaches all", true),
        ]
    );
    // The failing one says which path lets the packet through.
    let failure = &outcomes[1].failures[0];
    assert!(failure.starts_with("spoke1-vm → spoke2-vm gets through"), "{failure}");
    assert!(failure.contains("nva"), "{failure}");

    // Without gateway transit, the first intent fails and names both missing flags.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hub-and-spoke.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace("useHubAsGateway: true", "useHubAsGateway: false");
    let outcomes = verify(&up(&text), &intents).unwrap();
    assert!(!outcomes[0].holds);
    assert_eq!(outcomes[0].failures.len(), 3, "{:?}", outcomes[0].failures);
    assert!(outcomes[0].failures[0].contains("useRemoteGateways"), "{}", outcomes[0].failures[0]);
    assert!(outcomes[0].failures[0].contains("allowGatewayTransit"), "{}", outcomes[0].failures[0]);
}

#[test]
fn a_broken_intents_file_is_a_precise_error() {
    let e = Intents::parse("i.yaml", "intents:\n  - from: a\n    too: b\n").unwrap_err();
    assert_eq!(e.position, Some((3, 5)), "{e}");
    assert!(e.to_string().starts_with("i.yaml:3:5: intents[0]: unknown field `too`"), "{e}");
    assert!(Intents::parse("i.yaml", "intents: []\n").is_err());
    let e = Intents::parse("i.yaml", "intents:\n  - { from: a, to: b, protocol: smtp }\n").unwrap_err();
    assert!(e.to_string().contains("intents[0]: protocol"), "{e}");
    let e = Intents::parse("i.yaml", "intents:\n  - { from: a, to: b, port: 70000 }\n").unwrap_err();
    assert!(e.position.is_some(), "{e}");
    let state = example("hub-and-spoke.yaml");
    let typo = Intents::parse("i.yaml", "intents:\n  - { name: t, from: spoke1, to: spoke9 }\n").unwrap();
    let e = verify(&state, &typo).unwrap_err();
    assert_eq!(e, "intents[0] (t): to: no VM, NIC, VNet, subnet (vnet/subnet) or site named 'spoke9'");
}
