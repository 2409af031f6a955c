//! Files applied and torn down next to each other: what `down` keeps, what `up` reaches in one
//! step, and the declarations a file may not make twice.

use vnetlab_engine::Settings;
use vnetlab_model::{Kind, ResourceId, State, View, ViewExt};
use vnetlab_topology::{Loaded, TopologyError, simulate};

use crate::{SUB, defaults, fresh_lab, up};

fn applied(state: &State, file: &str, text: &str) -> State {
    up(state, file, text).unwrap_or_else(|e| panic!("{e}"))
}

fn down(state: &State, file: &str, text: &str) -> Result<State, TopologyError> {
    let loaded = Loaded::parse(file, text.to_owned())?;
    let (ops, sources): (Vec<_>, Vec<_>) = loaded.teardown(state, &defaults())?.into_iter().unzip();
    simulate(state, &ops, &Settings::default(), Some(&loaded.origin()))
        .map_err(|(i, e)| loaded.error_at(&sources[i], e.to_string(), Some(Box::new(e))))
}

fn group(name: &str) -> ResourceId {
    ResourceId::resource_group(SUB, name).unwrap()
}

fn vnet(group_name: &str, name: &str) -> ResourceId {
    group(group_name).top_level(Kind::VirtualNetwork, name).unwrap()
}

#[test]
fn down_keeps_a_declared_subscription_that_still_holds_a_group() {
    let a = "subscriptions: [{id: 22222222-0000-0000-0000-000000000001, name: hub}]\nsubscription: hub\nresourceGroup: shared-rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}]\n";
    let b = "subscription: 22222222-0000-0000-0000-000000000001\nresourceGroup: shared-rg\nvnets: [{name: b, addressSpace: [10.2.0.0/16]}]\n";
    let state = applied(&applied(&fresh_lab(), "a.yaml", a), "b.yaml", b);
    let after = down(&state, "a.yaml", a).unwrap_or_else(|e| panic!("{e}"));
    let shared = ResourceId::resource_group("22222222-0000-0000-0000-000000000001", "shared-rg").unwrap();
    assert!(!after.exists(&shared.top_level(Kind::VirtualNetwork, "a").unwrap()));
    assert!(after.exists(&shared.top_level(Kind::VirtualNetwork, "b").unwrap()));
    assert!(after.exists(&shared), "the group still holds b");
    assert!(after.exists(&ResourceId::subscription("22222222-0000-0000-0000-000000000001").unwrap()));
    // Once b goes too, nothing is left of either file.
    let gone = down(&after, "b.yaml", b).unwrap();
    assert!(!gone.exists(&shared.top_level(Kind::VirtualNetwork, "b").unwrap()));
    let empty = down(&gone, "a.yaml", a).unwrap();
    assert_eq!(empty.len(), fresh_lab().len());
}

#[test]
fn down_removes_only_the_groups_a_file_declares_or_made() {
    let a = "resourceGroups: [{name: team-rg, location: westus, tags: {owner: alice}}]\n";
    let b = "resourceGroup: team-rg\nvnets: [{name: b, addressSpace: [10.2.0.0/16]}]\n";
    let state = applied(&applied(&fresh_lab(), "a.yaml", a), "b.yaml", b);
    let after = down(&state, "b.yaml", b).unwrap();
    assert!(!after.exists(&vnet("team-rg", "b")));
    assert!(after.exists(&group("team-rg")), "team-rg is a.yaml's, and used by b.yaml only");
    // A group b.yaml made itself goes with it.
    let alone = applied(&fresh_lab(), "b.yaml", b);
    assert_eq!(alone.get(&group("team-rg")).unwrap().meta.origin.as_deref(), Some("topology:b"));
    assert!(!down(&alone, "b.yaml", b).unwrap().exists(&group("team-rg")));
    // ...but not when another file made it.
    let c = "resourceGroup: team-rg\nvnets: [{name: c, addressSpace: [10.3.0.0/16]}]\n";
    let both = applied(&applied(&fresh_lab(), "c.yaml", c), "b.yaml", b);
    let after = down(&both, "b.yaml", b).unwrap();
    assert!(after.exists(&vnet("team-rg", "c")) && after.exists(&group("team-rg")));
    let after = down(&after, "c.yaml", c).unwrap();
    assert!(!after.exists(&group("team-rg")), "c.yaml made the group and was the last in it");
}

#[test]
fn down_works_after_what_the_file_references_is_gone() {
    let a = "resourceGroup: rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}]\n";
    let b = "resourceGroup: rg\nvnets: [{name: b, addressSpace: [10.2.0.0/16]}]\npeerings: [{vnet: b, remote: a}]\n";
    let state = applied(&applied(&fresh_lab(), "a.yaml", a), "b.yaml", b);
    assert!(state.link_between(&vnet("rg", "b"), &vnet("rg", "a")).is_some());
    let state = down(&state, "a.yaml", a).unwrap();
    assert!(state.exists(&vnet("rg", "b")) && state.link_between(&vnet("rg", "b"), &vnet("rg", "a")).is_some());
    let state = down(&state, "b.yaml", b).unwrap_or_else(|e| panic!("{e}"));
    assert!(!state.exists(&vnet("rg", "b")));
    // The group is a.yaml's (it made it); a.yaml's teardown, run again, finds it empty now.
    assert_eq!(state.get(&group("rg")).unwrap().meta.origin.as_deref(), Some("topology:a"));
    let state = down(&state, "a.yaml", a).unwrap();
    assert_eq!(state.len(), fresh_lab().len());
}

#[test]
fn names_differing_only_in_non_ascii_case_are_one_resource() {
    let first = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.9.0.0/16]\n    subnets: [{name: Äpps, addressPrefix: 10.9.1.0/24}]\n";
    let second = first.replace("Äpps", "äpps");
    let state = applied(&fresh_lab(), "u1.yaml", first);
    let state = applied(&state, "u2.yaml", &second);
    let subnet = vnet("rg", "v").child(Kind::Subnet, "äpps").unwrap();
    assert!(state.exists(&subnet), "renaming the case keeps the subnet");
    assert_eq!(state.get(&subnet).unwrap().id().name(), "äpps");
    let twice = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.9.0.0/16]\n    subnets:\n      - {name: Äpps, addressPrefix: 10.9.1.0/24}\n      - {name: äpps, addressPrefix: 10.9.2.0/24}\n";
    let e = up(&fresh_lab(), "u3.yaml", twice).unwrap_err();
    assert_eq!(e.azure.as_ref().map(|a| a.code.as_str()), Some("NetcfgInvalidSubnet"), "{e}");
}

#[test]
fn any_one_nic_of_a_vm_may_be_primary() {
    let text = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: a, addressPrefix: 10.0.1.0/24}, {name: b, addressPrefix: 10.0.2.0/24}]\nvms:\n  - name: router\n    nics:\n      - {name: router-in, subnet: v/a}\n      - {name: router-out, subnet: v/b, primary: true}\n";
    let state = applied(&fresh_lab(), "nics.yaml", text);
    let vm = state
        .resource(&group("rg").top_level(Kind::VirtualMachine, "router").unwrap())
        .and_then(|r| r.as_virtual_machine())
        .unwrap()
        .clone();
    let primary: Vec<(String, bool)> = vm
        .properties
        .network_profile
        .network_interfaces
        .iter()
        .map(|n| (n.id.name().to_owned(), n.properties.primary))
        .collect();
    assert_eq!(primary, [("router-in".to_owned(), false), ("router-out".to_owned(), true)]);
}

#[test]
fn a_vm_nic_in_its_own_group_gets_the_group_made() {
    let text = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: a, addressPrefix: 10.0.1.0/24}]\nresourceGroups: [{name: nics-rg, location: eastus}]\nvms:\n  - name: vm\n    nics: [{name: n1, resourceGroup: nics-rg, subnet: v/a}]\n";
    let e = up(&fresh_lab(), "nicrg.yaml", text).unwrap_err();
    // A NIC must be in its VNet's region; its own group's location is what it defaults to.
    assert_eq!(e.azure.as_ref().map(|a| a.code.as_str()), Some("InvalidResourceReference"), "{e}");
    assert_eq!(e.path.as_deref(), Some("vms[0].nics[0]"));
    let text = text.replace("resourceGroups: [{name: nics-rg, location: eastus}]\n", "");
    let state = applied(&fresh_lab(), "nicrg.yaml", &text);
    let nic = group("nics-rg").top_level(Kind::NetworkInterface, "n1").unwrap();
    assert!(state.exists(&group("nics-rg")) && state.exists(&nic));
}

#[test]
fn a_vm_public_ip_shorthand_is_named_after_the_vm() {
    let text = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: a, addressPrefix: 10.0.1.0/24}]\nvms: [{name: web1, subnet: v/a, publicIp: true}]\n";
    let state = applied(&fresh_lab(), "pip.yaml", text);
    assert!(state.exists(&group("rg").top_level(Kind::PublicIpAddress, "web1-ip").unwrap()));
    assert!(state.all_of(Kind::PublicIpAddress).len() == 1);
}

#[test]
fn errors_on_implicit_values_point_at_what_the_file_wrote() {
    let pre = "resourceGroup: rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}, {name: b, addressSpace: [10.2.0.0/16]}]\npeerings: [{vnet: b, remote: a, name: existing-b-to-a, oneWay: true}]\n";
    let state = applied(&fresh_lab(), "pre.yaml", pre);
    let rev = "resourceGroup: rg\npeerings:\n  - vnet: a\n    remote: b\n";
    let e = up(&state, "rev.yaml", rev).unwrap_err();
    assert_eq!(e.azure.as_ref().map(|a| a.code.as_str()), Some("AnotherPeeringAlreadyReferencesRemoteVnet"), "{e}");
    assert_eq!(e.path.as_deref(), Some("peerings[0]"));
    assert_eq!(e.position, Some((3, 5)));
    let e = up(&fresh_lab(), "x.yaml", "resourceGroup: \"\"\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}]\n")
        .unwrap_err();
    assert_eq!(e.path.as_deref(), Some("resourceGroup"), "{e}");
    assert_eq!(e.position.map(|p| p.0), Some(1), "{e}");
}

#[test]
fn up_moves_a_vm_off_a_subnet_the_same_file_removes() {
    let one = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: a, addressPrefix: 10.0.1.0/24}]\nvms: [{name: vm, subnet: v/a}]\n";
    let two = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: b, addressPrefix: 10.0.2.0/24}]\nvms: [{name: vm, subnet: v/b}]\n";
    let state = applied(&fresh_lab(), "mv1.yaml", one);
    let state = applied(&state, "mv2.yaml", two);
    let v = vnet("rg", "v");
    assert!(!state.exists(&v.child(Kind::Subnet, "a").unwrap()));
    let nic = state
        .resource(&group("rg").top_level(Kind::NetworkInterface, "vm-nic").unwrap())
        .and_then(|r| r.as_network_interface())
        .unwrap()
        .clone();
    assert_eq!(nic.properties.ip_configurations[0].properties.subnet.id, v.child(Kind::Subnet, "b").unwrap());
    assert!(vnetlab_engine::invariants::check(&state).is_empty());
    // And again: nothing changes.
    let again = applied(&state, "mv2.yaml", two);
    assert!(vnetlab_topology::diff(&state, &again).is_empty());
}

#[test]
fn vms_nics_and_connections_are_declared_once() {
    let base = "resourceGroup: rg\nvnets:\n  - name: v\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: a, addressPrefix: 10.0.1.0/24}, {name: b, addressPrefix: 10.0.2.0/24}]\n";
    let e = up(&fresh_lab(), "d.yaml", &format!("{base}vms: [{{name: vm, subnet: v/a}}, {{name: vm, subnet: v/b}}]\n"))
        .unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
    assert_eq!(e.path.as_deref(), Some("vms[1]"));
    let e = up(
        &fresh_lab(),
        "d.yaml",
        &format!("{base}vms: [{{name: vm, subnet: v/a}}]\nnics: [{{name: vm-nic, subnet: v/b}}]\n"),
    )
    .unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
    let e = up(
        &fresh_lab(),
        "d.yaml",
        &format!("{base}vms: [{{name: x, nics: [{{name: n, subnet: v/a}}]}}, {{name: y, nics: [{{name: n, subnet: v/b}}]}}]\n"),
    )
    .unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
    let gateways = "resourceGroup: rg\nvnets:\n  - {name: v1, addressSpace: [10.1.0.0/16], subnets: [{name: GatewaySubnet, addressPrefix: 10.1.255.0/27}]}\n  - {name: v2, addressSpace: [10.2.0.0/16], subnets: [{name: GatewaySubnet, addressPrefix: 10.2.255.0/27}]}\ngateways: [{name: g1, vnet: v1, sku: VpnGw1}, {name: g2, vnet: v2, sku: VpnGw1}]\n";
    let e = up(
        &fresh_lab(),
        "d.yaml",
        &format!("{gateways}connections:\n  - {{name: g1-to-g2, type: Vnet2Vnet, gateway: g1, remoteGateway: g2, sharedKey: k}}\n  - {{name: g2-to-g1, type: Vnet2Vnet, gateway: g2, remoteGateway: g1, sharedKey: k}}\n"),
    )
    .unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
}

#[test]
fn a_vnet_peered_with_itself_gets_azures_answer() {
    let text = "resourceGroup: rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}]\npeerings: [{vnet: a, remote: a}]\n";
    let e = up(&fresh_lab(), "self.yaml", text).unwrap_err();
    assert_eq!(e.azure.as_ref().map(|a| a.code.as_str()), Some("VnetAddressSpacesOverlap"), "{e}");
    assert_eq!(e.path.as_deref(), Some("peerings[0]"));
    let mesh = "resourceGroup: rg\nvnets: [{name: a, addressSpace: [10.1.0.0/16]}, {name: b, addressSpace: [10.2.0.0/16]}]\nconnectivity: [{type: mesh, vnets: [a, b, a]}]\n";
    let e = up(&fresh_lab(), "mesh.yaml", mesh).unwrap_err();
    assert!(e.message.contains("twice") || e.message.contains("already declared"), "{e}");
}
