//! Effective routes and next hop, case by case of shared/reference/peering-rules.md §2.

use vnetlab_analysis::azure::routes::{NextHopType, RouteSource, RouteState};
use vnetlab_analysis::azure::{AnalysisError, Network, NextHopAnswerType};

use crate::{example, id, ip_of, nic, up, vm_id};

/// (source, state, prefix, next hop type, next hop IPs) of each effective route.
fn table(network: &Network, group: &str, vm: &str) -> Vec<(String, String, String, String, String)> {
    network
        .effective_routes(nic(network, group, vm))
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.source.as_str().to_owned(),
                r.state.as_str().to_owned(),
                r.address_prefix.to_string(),
                r.next_hop_type.as_str().to_owned(),
                r.next_hop_ip_address.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

fn row(source: &str, state: &str, prefix: &str, hop: &str, ips: &str) -> (String, String, String, String, String) {
    (source.into(), state.into(), prefix.into(), hop.into(), ips.into())
}

#[test]
fn a_lone_vnet_has_the_default_system_routes_of_the_official_example() {
    let state = up("
name: t
resourceGroup: rg
location: westus
vnets:
  - { name: v, addressSpace: [172.20.2.0/24], subnets: [{ name: s, addressPrefix: 172.20.2.0/24 }] }
vms:
  - { name: vm, subnet: v/s }
");
    let network = Network::compile(&state);
    // NetworkInterfaceEffectiveRouteTableList.json: the same six routes, in the same order.
    assert_eq!(
        table(&network, "rg", "vm"),
        [
            row("Default", "Active", "172.20.2.0/24", "VnetLocal", ""),
            row("Default", "Active", "0.0.0.0/0", "Internet", ""),
            row("Default", "Active", "10.0.0.0/8", "None", ""),
            row("Default", "Active", "100.64.0.0/10", "None", ""),
            row("Default", "Active", "172.16.0.0/12", "None", ""),
            row("Default", "Active", "192.168.0.0/16", "None", ""),
        ]
    );
}

#[test]
fn reserved_ranges_equal_to_or_inside_the_vnet_space_lose_their_none_route() {
    let state = up("
name: t
resourceGroup: rg
location: westus
vnets:
  - name: v
    addressSpace: [10.0.0.0/8, 100.64.0.0/11, 128.0.0.0/1]
    subnets: [{ name: s, addressPrefix: 10.1.0.0/24 }]
vms:
  - { name: vm, subnet: v/s }
");
    let network = Network::compile(&state);
    let prefixes: Vec<(String, String)> =
        table(&network, "rg", "vm").into_iter().map(|(_, _, prefix, hop, _)| (prefix, hop)).collect();
    let has = |p: &str, hop: &str| prefixes.contains(&(p.to_owned(), hop.to_owned()));
    // Equal: one VnetLocal route, no None route.
    assert!(has("10.0.0.0/8", "VnetLocal") && !has("10.0.0.0/8", "None"), "{prefixes:?}");
    // Contained (128.0.0.0/1 holds 172.16.0.0/12 and 192.168.0.0/16): removed.
    assert!(!has("172.16.0.0/12", "None") && !has("192.168.0.0/16", "None"), "{prefixes:?}");
    // The VNet prefix inside a reserved range (100.64.0.0/11 in 100.64.0.0/10) keeps it.
    assert!(has("100.64.0.0/10", "None") && has("100.64.0.0/11", "VnetLocal"), "{prefixes:?}");
}

const THREE_VNETS: &str = "
name: t
resourceGroup: rg
location: westus
vnets:
  - { name: a, addressSpace: [10.1.0.0/16], subnets: [{ name: s, addressPrefix: 10.1.1.0/24 }] }
  - { name: b, addressSpace: [10.2.0.0/16, 10.22.0.0/16], subnets: [{ name: s, addressPrefix: 10.2.1.0/24 }] }
  - { name: c, location: japaneast, addressSpace: [10.3.0.0/16], subnets: [{ name: s, addressPrefix: 10.3.1.0/24 }] }
vms:
  - { name: vm-a, subnet: a/s }
peerings:
";

#[test]
fn peering_routes_exist_only_while_connected_and_are_global_across_regions() {
    let one_way = up(&format!("{THREE_VNETS}  - {{ vnet: a, remote: b, oneWay: true }}\n"));
    let network = Network::compile(&one_way);
    assert!(!table(&network, "rg", "vm-a").iter().any(|r| r.3 == "VNetPeering"), "Initiated: no route");

    let both = up(&format!("{THREE_VNETS}  - {{ vnet: a, remote: b }}\n  - {{ vnet: a, remote: c }}\n"));
    let network = Network::compile(&both);
    let rows = table(&network, "rg", "vm-a");
    // One route per address range of each peer.
    assert!(rows.contains(&row("Default", "Active", "10.2.0.0/16", "VNetPeering", "")), "{rows:?}");
    assert!(rows.contains(&row("Default", "Active", "10.22.0.0/16", "VNetPeering", "")), "{rows:?}");
    assert!(rows.contains(&row("Default", "Active", "10.3.0.0/16", "VNetGlobalPeering", "")), "{rows:?}");
    let vm = nic(&network, "rg", "vm-a");
    let hop = network.next_hop(vm, None, "10.22.0.9".parse().unwrap()).unwrap();
    assert_eq!(hop.next_hop_type, NextHopAnswerType::VnetPeering);
    assert_eq!(hop.to_json()["routeTableId"], "System Route");
}

#[test]
fn subnet_peering_routes_only_the_remote_subnets_named() {
    let state = up("
name: t
resourceGroup: rg
location: westus
vnets:
  - name: a
    addressSpace: [10.1.0.0/16]
    subnets: [{ name: web, addressPrefix: 10.1.1.0/24 }, { name: other, addressPrefix: 10.1.2.0/24 }]
  - name: b
    addressSpace: [10.2.0.0/16]
    subnets: [{ name: api, addressPrefix: 10.2.1.0/24 }, { name: db, addressPrefix: 10.2.2.0/24 }]
vms:
  - { name: vm-other, subnet: a/other }
peerings:
  - vnet: a
    remote: b
    localSubnets: [web]
    remoteSubnets: [api]
    reverse: { localSubnets: [api], remoteSubnets: [web] }
");
    let network = Network::compile(&state);
    // Even a subnet that is not peered gets the route (a documented limitation, 1.27.5).
    let rows = table(&network, "rg", "vm-other");
    let peering: Vec<&String> = rows.iter().filter(|r| r.3 == "VNetPeering").map(|r| &r.2).collect();
    assert_eq!(peering, ["10.2.1.0/24"], "{rows:?}");
}

#[test]
fn hub_and_spoke_spokes_learn_the_branch_through_gateway_transit_and_other_spokes_through_the_nva() {
    let state = example("hub-and-spoke.yaml");
    let network = Network::compile(&state);
    let g = "hub-and-spoke-rg";
    let gateway = state
        .iter()
        .find_map(|s| s.resource.as_virtual_network_gateway())
        .expect("the hub gateway")
        .instance_addresses();
    assert!(!gateway.is_empty());
    let gateway_ips = gateway.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    let rows = table(&network, g, "spoke1-vm");
    assert_eq!(
        rows,
        [
            row("Default", "Active", "10.1.0.0/16", "VnetLocal", ""),
            row("Default", "Active", "10.0.0.0/16", "VNetPeering", ""),
            row("VirtualNetworkGateway", "Active", "192.168.0.0/16", "VirtualNetworkGateway", &gateway_ips),
            row("Default", "Active", "0.0.0.0/0", "Internet", ""),
            row("Default", "Invalid", "10.0.0.0/8", "None", ""),
            row("Default", "Active", "100.64.0.0/10", "None", ""),
            row("Default", "Active", "172.16.0.0/12", "None", ""),
            // The branch's route has the same prefix and a higher source.
            row("Default", "Invalid", "192.168.0.0/16", "None", ""),
            row("User", "Active", "10.0.0.0/8", "VirtualAppliance", "10.0.1.4"),
        ]
    );
    let spoke1 = nic(&network, g, "spoke1-vm");
    // Spoke to spoke: not transitive, so the UDR sends it to the NVA.
    let to_spoke2 = network.next_hop(spoke1, None, ip_of(&network, g, "spoke2-vm")).unwrap();
    assert_eq!(to_spoke2.next_hop_type, NextHopAnswerType::VirtualAppliance);
    assert_eq!(to_spoke2.next_hop_ip_address, Some("10.0.1.4".parse().unwrap()));
    assert_eq!(to_spoke2.route_table, Some(id(g, "Microsoft.Network/routeTables/spokes-via-nva")));
    // Spoke to hub: the peering; to the branch: the hub gateway.
    let to_hub = network.next_hop(spoke1, None, ip_of(&network, g, "shared-vm")).unwrap();
    assert_eq!(to_hub.next_hop_type, NextHopAnswerType::VnetPeering);
    let to_branch = network.next_hop(spoke1, None, "192.168.7.7".parse().unwrap()).unwrap();
    assert_eq!(to_branch.next_hop_type, NextHopAnswerType::VirtualNetworkGateway);
    assert_eq!(to_branch.next_hop_ip_address, gateway.first().copied());
    // The hub has its own gateway's route and peering routes to every spoke.
    let hub = table(&network, g, "shared-vm");
    for spoke in ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"] {
        assert!(hub.contains(&row("Default", "Active", spoke, "VNetPeering", "")), "{hub:?}");
    }
    assert!(hub.contains(&row(
        "VirtualNetworkGateway",
        "Active",
        "192.168.0.0/16",
        "VirtualNetworkGateway",
        &gateway_ips
    )));
}

#[test]
fn transit_needs_both_flags_and_bgp_propagation() {
    let doc = |use_remote: bool, transit: bool, disable_bgp: bool| {
        format!(
            "
name: t
resourceGroup: rg
location: westus
vnets:
  - name: hub
    addressSpace: [10.0.0.0/16]
    subnets: [{{ name: GatewaySubnet, addressPrefix: 10.0.255.0/27 }}, {{ name: s, addressPrefix: 10.0.1.0/24 }}]
  - name: spoke
    addressSpace: [10.1.0.0/16]
    subnets: [{{ name: s, addressPrefix: 10.1.1.0/24, routeTable: rt }}]
routeTables:
  - {{ name: rt, disableBgpRoutePropagation: {disable_bgp} }}
vms:
  - {{ name: vm, subnet: spoke/s }}
gateways:
  - {{ name: gw, vnet: hub, sku: VpnGw1 }}
sites:
  - {{ name: branch, addressSpace: [192.168.0.0/16], gatewayIp: 203.0.113.10 }}
connections:
  - {{ name: c, type: IPsec, gateway: gw, site: branch, sharedKey: k }}
peerings:
  - vnet: hub
    remote: spoke
    allowGatewayTransit: {transit}
    reverse: {{ useRemoteGateways: {use_remote} }}
"
        )
    };
    let has_branch = |text: String| {
        let network = Network::compile(&up(&text));
        let vm = nic(&network, "rg", "vm");
        let routes = network.effective_routes(vm).unwrap();
        routes.iter().any(|r| r.source == RouteSource::VirtualNetworkGateway && r.state == RouteState::Active)
    };
    assert!(has_branch(doc(true, true, false)));
    assert!(!has_branch(doc(true, true, true)), "propagation disabled");
    assert!(!has_branch(doc(false, true, false)), "spoke does not use the remote gateway");
}

#[test]
fn non_transitive_peering_leaves_the_third_vnet_unrouted() {
    let state = up("
name: t
resourceGroup: rg
location: westus
vnets:
  - { name: a, addressSpace: [10.1.0.0/16], subnets: [{ name: s, addressPrefix: 10.1.1.0/24 }] }
  - { name: b, addressSpace: [10.2.0.0/16], subnets: [{ name: s, addressPrefix: 10.2.1.0/24 }] }
  - { name: c, addressSpace: [10.3.0.0/16], subnets: [{ name: s, addressPrefix: 10.3.1.0/24 }] }
vms:
  - { name: vm-a, subnet: a/s }
  - { name: vm-c, subnet: c/s }
peerings:
  - { vnet: a, remote: b }
  - { vnet: b, remote: c }
");
    let network = Network::compile(&state);
    let hop = network.next_hop(nic(&network, "rg", "vm-a"), None, ip_of(&network, "rg", "vm-c")).unwrap();
    assert_eq!(hop.next_hop_type, NextHopAnswerType::None);
    let route = hop.route.unwrap();
    assert_eq!((route.address_prefix.to_string(), route.next_hop_type), ("10.0.0.0/8".into(), NextHopType::None));
}

#[test]
fn questions_about_unknown_or_foreign_things_are_errors() {
    let state = example("sales-marketing.yaml");
    let network = Network::compile(&state);
    let missing = vm_id("learn-rg", "NoSuchVM");
    assert!(matches!(network.target_nic(&missing, None), Err(AnalysisError::NotFound(_))));
    let sales = nic(&network, "learn-rg", "SalesVM");
    let err = network.next_hop(sales, Some("10.9.9.9".parse().unwrap()), "10.2.1.4".parse().unwrap()).unwrap_err();
    assert!(matches!(err, AnalysisError::AddressNotOnTarget { .. }), "{err}");
    assert_eq!(err.status(), 400);
}
