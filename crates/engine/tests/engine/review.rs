//! Regression tests for sequences that once broke a rule or an invariant.

use vnetlab_engine::*;
use vnetlab_model::{GatewaySkuName, GatewayType, Kind, ResourceId, View};

use crate::support::*;

fn subnet_link(
    lab: &Lab,
    from: &ResourceId,
    to: &ResourceId,
    name: &str,
    local: &[&str],
    remote: &[&str],
    v6: bool,
) -> Operation {
    lab.peer_op(from, to, name, |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = local.iter().map(|n| n.to_string()).collect();
        s.remote_subnet_names = remote.iter().map(|n| n.to_string()).collect();
        s.enable_only_ipv6_peering = v6;
    })
}

#[test]
fn a_vnet_never_peers_with_itself_whatever_the_link_type() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16", "10.2.0.0/16", "fd00:1::/48"]);
    lab.subnet(&a, "s1", "10.1.1.0/24");
    lab.subnet(&a, "s2", "10.2.1.0/24");
    lab.subnet(&a, "v6", "fd00:1::/64");
    let link = lab.link_id(&a, "self");
    let expected = format!(
        "Cannot create or update peering {link}. Virtual networks {a} and {a} cannot be peered because their address spaces overlap. Overlapping address prefixes: 10.1.0.0/16, 10.2.0.0/16, fd00:1::/48, 10.1.0.0/16, 10.2.0.0/16, fd00:1::/48"
    );
    for op in [
        subnet_link(&lab, &a, &a, "self", &["s1"], &["s2"], false),
        subnet_link(&lab, &a, &a, "self", &["v6"], &["v6"], true),
    ] {
        assert_error(&lab.err(op), "VnetAddressSpacesOverlap", 400, &expected);
    }
}

#[test]
fn ipv6_only_peering_is_subnet_peering_and_must_peer_something() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.0.0.0/16", "fd00:1::/48"]);
    let b = lab.vnet("b", &["10.0.0.0/16", "fd00:2::/48"]);
    lab.subnet(&a, "v4", "10.0.1.0/24");
    lab.subnet(&b, "v6", "fd00:2::/64");
    let op = lab.peer_op(&a, &b, "a-b", |s| s.enable_only_ipv6_peering = true);
    let link = lab.link_id(&a, "a-b");
    assert_error(
        &lab.err(op),
        "InvalidSubnetPeeringConfiguration",
        400,
        &format!(
            "Peering {link} is not valid: enableOnlyIPv6Peering applies only to subnet peering (peerCompleteVnets false)."
        ),
    );
    let op = subnet_link(&lab, &a, &b, "a-b", &["v4"], &["v6"], true);
    assert_error(
        &lab.err(op),
        "InvalidSubnetPeeringConfiguration",
        400,
        &format!(
            "Peering {link} is not valid: enableOnlyIPv6Peering is set, but the named subnets of {a} have no IPv6 prefix: the peering would peer nothing."
        ),
    );
}

#[test]
fn a_resize_is_checked_from_both_sides_of_every_link() {
    // One side a subnet peering, the other a whole-VNet peering: growing the subnet-peering side
    // into the other VNet is caught through the incoming link.
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "a1", "10.1.1.0/24");
    lab.subnet(&b, "b1", "10.2.1.0/24");
    let op = subnet_link(&lab, &a, &b, "a-b", &["a1"], &["b1"], false);
    lab.ok(op);
    let ba = lab.link(&b, &a);
    let spec = VirtualNetworkSpec::new(westus(), vec![p("10.1.0.0/16"), p("10.2.128.0/17")]);
    let e = lab.err(Operation::VirtualNetworkPut { id: a.clone(), spec });
    assert_error(
        &e,
        "VnetAddressSpacesOverlap",
        400,
        &format!(
            "Cannot create or update peering {ba}. Virtual networks {b} and {a} cannot be peered because their address spaces overlap. Overlapping address prefixes: 10.2.0.0/16, 10.2.128.0/17"
        ),
    );
    // A VNet another VNet links to cannot grow into that VNet's other peers (1.2, mirrored).
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    let d = lab.vnet("d", &["10.4.0.0/16"]);
    lab.link(&a, &b);
    lab.link(&b, &a);
    lab.link(&a, &d);
    let spec = VirtualNetworkSpec::new(westus(), vec![p("10.4.0.0/16"), p("10.2.128.0/17")]);
    let e = lab.err(Operation::VirtualNetworkPut { id: d, spec });
    assert_eq!(e.code, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet");
    lab.sound();
}

#[test]
fn a_peered_subnet_cannot_move_into_an_overlapping_range_nor_be_deleted() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16", "10.2.128.0/17"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    let a1 = lab.subnet(&a, "a1", "10.1.1.0/24");
    lab.subnet(&b, "b1", "10.2.1.0/24");
    let op = subnet_link(&lab, &a, &b, "a-b", &["a1"], &["b1"], false);
    lab.ok(op);
    let e = lab.err(Operation::SubnetPut { id: a1.clone(), spec: SubnetSpec::with_prefix(p("10.2.200.0/24")) });
    assert_eq!(e.code, "VnetAddressSpacesOverlap");
    let link = lab.link_id(&a, "a-b");
    assert_error(
        &lab.err(Operation::SubnetDelete { id: a1.clone() }),
        "InUseSubnetCannotBeDeleted",
        400,
        &format!(
            "Subnet a1 is in use by {link} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    );
    // Deleting the whole VNet is fine: its links go with it.
    lab.ok(Operation::VirtualNetworkDelete { id: a });
    lab.sound();
}

#[test]
fn a_resize_is_checked_against_the_vnets_connections() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "GatewaySubnet", "10.1.255.0/27");
    lab.subnet(&b, "GatewaySubnet", "10.2.255.0/27");
    let ga = lab.gateway(&a, "ga");
    let gb = lab.gateway(&b, "gb");
    let op = crate::gateways::vnet2vnet(&mut lab, "a-to-b", &ga, &gb, "k");
    lab.ok(op);
    let spec = VirtualNetworkSpec::new(westus(), vec![p("10.1.0.0/16"), p("10.2.128.0/17")]);
    assert_eq!(lab.err(Operation::VirtualNetworkPut { id: a, spec }).code, "ConnectionOverlappingAddressSpaces");
}

#[test]
fn vnet_to_vnet_does_not_cross_clouds() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    lab.subnet(&a, "GatewaySubnet", "10.1.255.0/27");
    let ga = lab.gateway(&a, "ga");
    lab.group("cn-rg", "chinaeast2");
    let cn_rg = lab.rg_id("cn-rg");
    let cn = cn_rg.top_level(Kind::VirtualNetwork, "cn").unwrap();
    let cn_loc = vnetlab_model::Location::parse("chinaeast2").unwrap();
    lab.ok(Operation::VirtualNetworkPut {
        id: cn.clone(),
        spec: VirtualNetworkSpec::new(cn_loc, vec![p("10.9.0.0/16")]),
    });
    lab.subnet(&cn, "GatewaySubnet", "10.9.255.0/27");
    let pip = cn_rg.top_level(Kind::PublicIpAddress, "gcn-pip").unwrap();
    lab.ok(Operation::PublicIpAddressPut { id: pip.clone(), spec: PublicIpAddressSpec::new(cn_loc) });
    let mut spec = lab.gateway_spec(&cn, Some(pip), GatewayType::Vpn);
    spec.location = cn_loc;
    let gcn = cn_rg.top_level(Kind::VirtualNetworkGateway, "gcn").unwrap();
    lab.ok(Operation::VirtualNetworkGatewayPut { id: gcn.clone(), spec });
    let op = crate::gateways::vnet2vnet(&mut lab, "a-to-cn", &ga, &gcn, "k");
    let e = lab.err(op);
    assert_eq!(e.code, "InvalidConnectionConfiguration");
    assert!(e.message.contains("VNet-to-VNet connections do not cross clouds"), "{e}");
}

#[test]
fn a_gateway_stays_in_its_vnet_and_basic_gateways_give_no_transit() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let other = lab.vnet("other", &["10.5.0.0/16"]);
    lab.subnet(&hub, "GatewaySubnet", "10.0.255.0/27");
    lab.subnet(&other, "GatewaySubnet", "10.5.255.0/27");
    let gw = lab.gateway(&hub, "hubgw");
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&hub, &spoke, "hub-to-spoke", |s| s.allow_gateway_transit = true);
    lab.ok(op);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
    let pip = lab.id(Kind::PublicIpAddress, "hubgw-pip");
    let moved = lab.gateway_spec(&other, Some(pip.clone()), GatewayType::Vpn);
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec: moved });
    assert!(e.message.contains("a gateway cannot move to another virtual network"), "{e}");
    let mut basic = lab.gateway_spec(&hub, Some(pip), GatewayType::Vpn);
    basic.sku = GatewaySkuName::Basic;
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec: basic.clone() });
    assert!(e.message.contains("the Basic SKU is not resized to or from other SKUs"), "{e}");
    // Re-created as Basic while the spoke still uses it: refused.
    lab.ok(Operation::VirtualNetworkGatewayDelete { id: gw.clone() });
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec: basic });
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert_error(
        &e,
        "GatewayTransitNotSupportedForBasicSku",
        400,
        &format!(
            "Virtual network gateway {gw} cannot use the Basic SKU while peering {link} uses the gateways of virtual network {hub}: gateway transit is not available with the Basic SKU."
        ),
    );
    lab.sound();
}

#[test]
fn the_local_space_a_link_reports_is_the_space_actually_peered() {
    let mut lab = Lab::new();
    let (v1, v2) = (lab.vnet("VNet1", &["10.1.0.0/16"]), lab.vnet("VNet2", &["10.2.0.0/16"]));
    let one_two = lab.link(&v1, &v2);
    lab.link(&v2, &v1);
    lab.ok(Operation::VirtualNetworkPut {
        id: v1,
        spec: VirtualNetworkSpec::new(westus(), vec![p("10.1.0.0/16"), p("10.11.0.0/16")]),
    });
    let props = &lab.peering(&one_two).properties;
    assert_eq!(props.local_address_space.address_prefixes, vec![p("10.1.0.0/16")]);
    assert_eq!(props.local_virtual_network_address_space.address_prefixes, vec![p("10.1.0.0/16"), p("10.11.0.0/16")]);
}

#[test]
fn changing_a_subnet_peerings_selection_takes_effect_at_once() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "web", "10.1.1.0/24");
    lab.subnet(&b, "app", "10.2.1.0/24");
    lab.subnet(&b, "db", "10.2.2.0/24");
    let op = subnet_link(&lab, &a, &b, "a-b", &["web"], &["app"], false);
    lab.ok(op);
    let op = subnet_link(&lab, &a, &b, "a-b", &["web"], &["app", "db"], false);
    lab.ok(op);
    let link = lab.link_id(&a, "a-b");
    assert_eq!(
        lab.peering(&link).properties.remote_address_space.address_prefixes,
        vec![p("10.2.1.0/24"), p("10.2.2.0/24")]
    );
}

#[test]
fn deleting_a_link_waits_for_a_busy_remote_and_keeps_its_operation() {
    let mut lab = Lab::with_settings(Settings { provisioning: Provisioning::Deferred, ..Settings::default() });
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.complete_all();
    let link = lab.link(&a, &b);
    lab.complete_all();
    lab.subnet(&b, "s", "10.2.0.0/24");
    let pending = lab.state.get(&b).and_then(|s| s.meta.pending.clone()).unwrap();
    assert_eq!(pending.name, "PutSubnetOperation");
    let e = lab.err(Operation::PeeringDelete { id: link.clone() });
    assert_eq!(e.code, "ReferencedResourceNotProvisioned");
    lab.ok(Operation::CompleteOperation { operation_id: pending.operation_id });
    lab.ok(Operation::PeeringDelete { id: link });
    assert_eq!(
        lab.state.get(&b).and_then(|s| s.meta.pending.clone()).map(|p| p.name).as_deref(),
        Some("DeleteVirtualNetworkPeeringOperation")
    );
}

#[test]
fn overlap_messages_name_each_prefix_once_per_side() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.0.0.0/8"]);
    let b = lab.vnet("b", &["10.1.0.0/16", "10.2.0.0/16"]);
    let op = lab.peer_op(&a, &b, "a-b", |_| {});
    let e = lab.err(op);
    assert!(e.message.ends_with("Overlapping address prefixes: 10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16"), "{}", e.message);
}

#[test]
fn resource_not_found_names_children_as_arm_does() {
    let subnet = ResourceId::parse(&format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1/subnets/default"
    ))
    .unwrap();
    assert_eq!(
        errors::resource_not_found(&subnet).message,
        "The Resource 'Microsoft.Network/virtualNetworks/subnets/v1/default' under resource group 'rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
    let group = ResourceId::resource_group(SUB, "rg").unwrap();
    assert_eq!(errors::resource_not_found(&group).code, "ResourceGroupNotFound");
}
