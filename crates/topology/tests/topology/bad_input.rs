//! Each class of bad input gets a clear, located error and changes nothing.

use vnetlab_topology::TopologyError;

use crate::{fresh_lab, up};

fn error(text: &str) -> TopologyError {
    match up(&fresh_lab(), "bad.yaml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

const TWO_VNETS: &str = "\
resourceGroup: rg
vnets:
  - name: a
    addressSpace: [10.1.0.0/16]
  - name: b
    addressSpace: [10.2.0.0/16]
";

#[test]
fn malformed_yaml_has_line_and_column() {
    let e = error("vnets:\n  - name: a\n    addressSpace: [10.1.0.0/16\n");
    assert_eq!(e.file, "bad.yaml");
    assert!(e.position.is_some(), "{e}");
    assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
    let e = error("vnets:\n\t- name: a\n");
    assert_eq!(e.position, Some((2, 1)), "{e}");
    assert!(e.message.contains("found character that cannot start any token"), "{e}");
    // A missing field is reported at the mapping that lacks it.
    let e = error("vnets:\n  - name: a\n    addressSpace: [10.1.0.0/16]\n  - name: b\n");
    assert_eq!(e.position, Some((4, 5)), "{e}");
    assert!(e.message.contains("missing field `addressSpace`"), "{e}");
}

#[test]
fn unknown_fields_are_named() {
    let e = error("vnets:\n  - name: a\n    adressSpace: [10.1.0.0/16]\n");
    assert!(e.message.contains("unknown field `adressSpace`"), "{e}");
    assert!(e.message.contains("expected one of") && e.message.contains("`addressSpace`"), "{e}");
    assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
    let e = error("vnetz: []\n");
    assert!(e.message.contains("unknown field `vnetz`"), "{e}");
}

#[test]
fn wrong_types_and_enum_values_are_located() {
    let e = error("vnets:\n  - name: a\n    addressSpace: 10.1.0.0/16\n");
    assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
    let e =
        error("nsgs:\n  - name: n\n    rules:\n      - {name: r, priority: 100, direction: Sideways, access: Allow}\n");
    assert!(e.message.contains("'Sideways' is not a valid value; expected one of: Inbound, Outbound"), "{e}");
    assert_eq!(e.position.map(|p| p.0), Some(4), "{e}");
    let e = error("vms:\n  - name: v\n    subnet: a/s\n    privateIp: 10.0.0.999\n");
    assert_eq!(e.position.map(|p| p.0), Some(4), "{e}");
}

#[test]
fn non_canonical_prefixes_are_refused_as_azure_does() {
    let e =
        error("resourceGroup: rg\nvnets:\n  - name: a\n    addressSpace:\n      - 10.1.0.0/16\n      - 10.2.0.1/16\n");
    let azure = e.azure.clone().expect("an Azure error");
    assert_eq!(azure.code, "InvalidCIDRNotation");
    assert_eq!(e.path.as_deref(), Some("vnets[0].addressSpace[1]"));
    assert_eq!(e.position, Some((6, 9)));
    assert!(e.message.contains("the address prefix should be 10.2.0.0/16"), "{e}");
    assert!(e.message.contains("/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/a"), "{e}");
    let e = error(
        "vnets:\n  - name: a\n    addressSpace: [10.1.0.0/16]\n    subnets:\n      - name: s\n        addressPrefix: 10.1.1.7/24\n",
    );
    assert_eq!(e.azure.unwrap().code, "InvalidCIDRNotation");
    assert_eq!(e.path.as_deref(), Some("vnets[0].subnets[0].addressPrefix"));
    let e = error("vnets:\n  - name: a\n    addressSpace: [banana]\n");
    assert_eq!(e.azure.unwrap().code, "InvalidAddressPrefixFormat");
    let e = error(
        "routeTables:\n  - name: rt\n    routes:\n      - {name: r, addressPrefix: 10.0.0.1/8, nextHopType: None}\n",
    );
    assert_eq!(e.path.as_deref(), Some("routeTables[0].routes[0].addressPrefix"));
    assert!(e.message.contains("10.0.0.0/8"), "{e}");
}

#[test]
fn unknown_references_name_the_resource_and_field() {
    let e = error(&format!("{TWO_VNETS}peerings:\n  - vnet: a\n    remote: c\n"));
    assert_eq!(e.path.as_deref(), Some("peerings[0].remote"));
    assert_eq!(e.message, "no virtual network named 'c' is declared in this file or exists in resource group 'rg'");
    assert_eq!(e.position, Some((9, 13)));
    let e = error(&format!("{TWO_VNETS}vms:\n  - name: vm\n    subnet: a/nope\n"));
    assert_eq!(e.message, "virtual network 'a' has no subnet 'nope' in this file or in the lab");
    assert_eq!(e.path.as_deref(), Some("vms[0].subnet"));
    assert_eq!(e.position, Some((9, 13)));
    let e = error(&format!("{TWO_VNETS}vms:\n  - name: vm\n    subnet: other-rg/a/s\n"));
    assert_eq!(e.message, "no virtual network 'a' is declared in this file or exists in resource group 'other-rg'");
    assert_eq!(e.path.as_deref(), Some("vms[0].subnet"));
    let e = error(&format!("{TWO_VNETS}vms:\n  - name: vm\n    subnet: nope\n"));
    assert!(e.message.contains("write 'vnet/subnet'"), "{e}");
    let e = error(
        "vnets:\n  - name: a\n    addressSpace: [10.1.0.0/16]\n    subnets:\n      - {name: s, addressPrefix: 10.1.0.0/24, nsg: ghost}\n",
    );
    assert!(e.message.contains("no network security group named 'ghost'"), "{e}");
    assert_eq!(e.path.as_deref(), Some("vnets[0].subnets[0].nsg"));
    let e = error("location: Atlantis\n");
    assert_eq!(e.azure.unwrap().code, "LocationNotAvailableForResourceGroup");
    let e = error("vnets:\n  - name: a\n    location: moon\n    addressSpace: [10.1.0.0/16]\n");
    assert_eq!(e.azure.unwrap().code, "LocationNotAvailableForResourceType");
    assert_eq!(e.position.map(|p| p.0), Some(3));
}

#[test]
fn ambiguous_and_duplicate_declarations() {
    let e = error(
        "vnets:\n  - {name: a, resourceGroup: x, addressSpace: [10.1.0.0/16]}\n  - {name: a, resourceGroup: y, addressSpace: [10.2.0.0/16]}\n  - {name: b, addressSpace: [10.3.0.0/16]}\npeerings:\n  - {vnet: b, remote: a}\n",
    );
    assert!(e.message.contains("'a' is ambiguous") && e.message.contains("write 'group/a'"), "{e}");
    let e = error("vnets:\n  - {name: a, addressSpace: [10.1.0.0/16]}\n  - {name: A, addressSpace: [10.2.0.0/16]}\n");
    assert!(e.message.contains("declared twice"), "{e}");
    let e = error(&format!(
        "{TWO_VNETS}peerings:\n  - {{vnet: a, remote: b}}\nconnectivity:\n  - {{type: mesh, vnets: [a, b]}}\n"
    ));
    assert!(e.message.contains("already declared at peerings[0]"), "{e}");
    assert_eq!(e.path.as_deref(), Some("connectivity[0].vnets"));
}

#[test]
fn rule_violations_carry_azure_code_and_message_at_the_declaration() {
    let text = "resourceGroup: rg\nvnets:\n  - {name: a, addressSpace: [10.1.0.0/16]}\n  - {name: b, addressSpace: [10.1.128.0/17]}\npeerings:\n  - vnet: a\n    remote: b\n";
    let e = error(text);
    let azure = e.azure.clone().unwrap();
    assert_eq!(azure.code, "VnetAddressSpacesOverlap");
    assert_eq!(azure.status, 400);
    assert!(azure.message.ends_with("Overlapping address prefixes: 10.1.0.0/16, 10.1.128.0/17"), "{}", azure.message);
    assert_eq!(e.path.as_deref(), Some("peerings[0]"));
    assert_eq!(e.position.map(|p| p.0), Some(6));
    assert!(e.to_string().starts_with("bad.yaml:6:"), "{e}");
    assert!(e.to_string().contains("(VnetAddressSpacesOverlap) Cannot create or update peering"), "{e}");
    // useRemoteGateways without a gateway in the hub.
    let e = error(
        "vnets:\n  - {name: hub, addressSpace: [10.0.0.0/16]}\n  - {name: s, addressSpace: [10.1.0.0/16]}\nconnectivity:\n  - {type: hubAndSpoke, hub: hub, spokes: [s], useHubAsGateway: true}\n",
    );
    assert_eq!(e.azure.unwrap().code, "RemoteVnetHasNoGateways");
    assert_eq!(e.path.as_deref(), Some("connectivity[0].spokes[0]"));
}
