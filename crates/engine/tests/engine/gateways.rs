//! Gateways and connections: shared/reference/peering-rules.md §4.

use vnetlab_engine::*;
use vnetlab_model::{ConnectionStatus, ConnectionType, GatewayType, Kind, Resource, ResourceId, ViewExt, VpnType};

use crate::support::*;

pub fn vnet2vnet(lab: &mut Lab, name: &str, from: &ResourceId, to: &ResourceId, key: &str) -> Operation {
    Operation::ConnectionPut {
        id: lab.id(Kind::Connection, name),
        spec: ConnectionSpec {
            location: westus(),
            tags: Default::default(),
            connection_type: ConnectionType::Vnet2Vnet,
            virtual_network_gateway1: from.clone(),
            virtual_network_gateway2: Some(to.clone()),
            local_network_gateway2: None,
            peer: None,
            shared_key: Some(key.into()),
            connection_protocol: None,
            connection_mode: None,
            routing_weight: 0,
            enable_bgp: false,
            use_policy_based_traffic_selectors: false,
        },
    }
}

fn site(lab: &mut Lab, name: &str, prefixes: &[&str]) -> ResourceId {
    let id = lab.id(Kind::LocalNetworkGateway, name);
    lab.ok(Operation::LocalNetworkGatewayPut {
        id: id.clone(),
        spec: LocalNetworkGatewaySpec {
            location: westus(),
            tags: Default::default(),
            address_prefixes: prefixes.iter().map(|s| p(s)).collect(),
            gateway_ip_address: None,
            fqdn: None,
            bgp_asn: None,
            bgp_peering_address: None,
        },
    });
    id
}

fn s2s(lab: &Lab, name: &str, gateway: &ResourceId, site: &ResourceId) -> Operation {
    Operation::ConnectionPut {
        id: lab.id(Kind::Connection, name),
        spec: ConnectionSpec {
            location: westus(),
            tags: Default::default(),
            connection_type: ConnectionType::IPsec,
            virtual_network_gateway1: gateway.clone(),
            virtual_network_gateway2: None,
            local_network_gateway2: Some(site.clone()),
            peer: None,
            shared_key: Some("abc123".into()),
            connection_protocol: None,
            connection_mode: None,
            routing_weight: 0,
            enable_bgp: false,
            use_policy_based_traffic_selectors: false,
        },
    }
}

fn with_gateway_subnet(lab: &mut Lab, name: &str, prefix: &str, gw_prefix: &str) -> ResourceId {
    let v = lab.vnet(name, &[prefix]);
    lab.subnet(&v, "GatewaySubnet", gw_prefix);
    v
}

#[test]
fn a_gateway_gets_two_instance_addresses_in_gateway_subnet() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    let gw = lab.gateway(&hub, "hub-gw");
    let g = lab.state.gateway(&gw).unwrap();
    let addresses: Vec<String> = g.instance_addresses().iter().map(|a| a.to_string()).collect();
    assert_eq!(addresses, ["10.0.255.4", "10.0.255.5"]);
    assert_eq!(g.properties.bgp_settings.asn, AZURE_GATEWAY_ASN);
    assert_eq!(g.properties.vpn_type, Some(VpnType::RouteBased));
    // A NIC can no longer take those addresses, and no NIC may go into GatewaySubnet at all.
    let subnet = hub.child(Kind::Subnet, "GatewaySubnet").unwrap();
    let e = lab.nic("nic", &subnet, None).unwrap_err();
    assert_error(
        &e,
        "GatewaySubnet",
        400,
        "Subnet with name 'GatewaySubnet' can be used only for the Gateway resource.",
    );
    lab.sound();
}

#[test]
fn one_vpn_and_one_expressroute_gateway_per_vnet() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    lab.gateway(&hub, "vpn1");
    let pip = lab.public_ip("vpn2-pip");
    let spec = lab.gateway_spec(&hub, Some(pip), GatewayType::Vpn);
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: lab.id(Kind::VirtualNetworkGateway, "vpn2"), spec });
    assert_eq!(e.code, "InvalidGatewayConfiguration");
    assert!(
        e.message.contains("a virtual network can have one VPN gateway and one ExpressRoute gateway"),
        "{}",
        e.message
    );
    let er_pip = lab.public_ip("er-pip");
    let spec = lab.gateway_spec(&hub, Some(er_pip), GatewayType::ExpressRoute);
    lab.ok(Operation::VirtualNetworkGatewayPut { id: lab.id(Kind::VirtualNetworkGateway, "er"), spec });
    lab.sound();
}

#[test]
fn gateways_live_in_a_subnet_named_gateway_subnet() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    lab.subnet(&hub, "gateways", "10.0.255.0/27");
    let pip = lab.public_ip("pip");
    let mut spec = lab.gateway_spec(&hub, Some(pip), GatewayType::Vpn);
    spec.ip_configurations[0].subnet = hub.child(Kind::Subnet, "gateways").unwrap();
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: lab.id(Kind::VirtualNetworkGateway, "gw"), spec });
    assert_eq!(e.code, "InvalidGatewayConfiguration");
    assert!(e.message.contains("subnet named GatewaySubnet"), "{}", e.message);
}

#[test]
fn gateway_sku_and_type_rules() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    let pip = lab.public_ip("pip");
    let id = lab.id(Kind::VirtualNetworkGateway, "gw");
    let mut spec = lab.gateway_spec(&hub, Some(pip.clone()), GatewayType::Vpn);
    spec.vpn_type = Some(VpnType::PolicyBased);
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec: spec.clone() });
    assert!(e.message.contains("PolicyBased VPN gateways are available only with the Basic SKU"), "{}", e.message);
    spec.vpn_type = None;
    spec.sku = vnetlab_model::GatewaySkuName::ErGw1AZ;
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec: spec.clone() });
    assert!(e.message.contains("SKU ErGw1AZ is not available for Vpn gateways"), "{}", e.message);
    spec.sku = vnetlab_model::GatewaySkuName::VpnGw2;
    spec.active_active = true;
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec: spec.clone() });
    assert_error(
        &e,
        "ActiveActiveGatewayMustHaveExactlyTwoIpConfigurations",
        400,
        &format!(
            "Gateway has 1 IP configurations specified for gateway {id}. ActiveActive Gateway must be created with two IP configurations."
        ),
    );
    spec.active_active = false;
    spec.ip_configurations[0].public_ip_address = None;
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec: spec.clone() });
    assert!(e.message.contains("needs a public IP address"), "{}", e.message);
    spec.ip_configurations[0].public_ip_address = Some(pip);
    lab.ok(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec: spec.clone() });
    // The type cannot change afterwards.
    spec.vpn_type = Some(VpnType::PolicyBased);
    spec.sku = vnetlab_model::GatewaySkuName::Basic;
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id, spec });
    assert!(e.message.contains("cannot be converted between PolicyBased and RouteBased"), "{}", e.message);
}

#[test]
fn active_active_gateways_have_two_instances_on_two_public_ips() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    let pip1 = lab.public_ip("pip1");
    let pip2 = lab.public_ip("pip2");
    let mut spec = lab.gateway_spec(&hub, Some(pip1), GatewayType::Vpn);
    spec.active_active = true;
    spec.ip_configurations.push(GatewayIpConfigurationSpec {
        name: "second".into(),
        subnet: hub.child(Kind::Subnet, "GatewaySubnet").unwrap(),
        public_ip_address: Some(pip2.clone()),
    });
    let id = lab.id(Kind::VirtualNetworkGateway, "gw");
    lab.ok(Operation::VirtualNetworkGatewayPut { id: id.clone(), spec });
    let g = lab.state.gateway(&id).unwrap();
    assert_eq!(g.properties.bgp_settings.bgp_peering_address.as_deref(), Some("10.0.255.4,10.0.255.5"));
    assert_eq!(g.properties.bgp_settings.bgp_peering_addresses.len(), 2);
    // Its public IPs cannot be deleted while it holds them.
    let e = lab.err(Operation::PublicIpAddressDelete { id: pip2.clone() });
    assert_error(
        &e,
        "PublicIPAddressCannotBeDeleted",
        400,
        &format!(
            "Public IP address {pip2} can not be deleted since it is still allocated to resource {id}/ipConfigurations/second. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip."
        ),
    );
}

#[test]
fn vnet_to_vnet_connects_when_both_sides_exist_with_the_same_key() {
    let mut lab = Lab::new();
    let a = with_gateway_subnet(&mut lab, "a", "10.1.0.0/16", "10.1.255.0/27");
    let b = with_gateway_subnet(&mut lab, "b", "10.2.0.0/16", "10.2.255.0/27");
    let ga = lab.gateway(&a, "ga");
    let gb = lab.gateway(&b, "gb");
    let op = vnet2vnet(&mut lab, "a-to-b", &ga, &gb, "secret");
    lab.ok(op);
    let status = |lab: &Lab, name: &str| {
        lab.state
            .resource(&lab.id(Kind::Connection, name))
            .and_then(Resource::as_connection)
            .unwrap()
            .properties
            .connection_status
    };
    assert_eq!(status(&lab, "a-to-b"), ConnectionStatus::NotConnected);
    let op = vnet2vnet(&mut lab, "b-to-a", &gb, &ga, "other");
    lab.ok(op);
    assert_eq!(status(&lab, "a-to-b"), ConnectionStatus::NotConnected);
    let op = vnet2vnet(&mut lab, "b-to-a", &gb, &ga, "secret");
    lab.ok(op);
    assert_eq!(status(&lab, "a-to-b"), ConnectionStatus::Connected);
    assert_eq!(status(&lab, "b-to-a"), ConnectionStatus::Connected);
    // A gateway with connections cannot be deleted; without them it can.
    let e = lab.err(Operation::VirtualNetworkGatewayDelete { id: ga.clone() });
    assert_eq!(e.code, "InUseVirtualNetworkGatewayCannotBeDeleted");
    lab.ok(Operation::ConnectionDelete { id: lab.id(Kind::Connection, "a-to-b") });
    assert_eq!(status(&lab, "b-to-a"), ConnectionStatus::NotConnected);
    // b-to-a still names ga as its far end.
    assert_eq!(
        lab.err(Operation::VirtualNetworkGatewayDelete { id: ga.clone() }).code,
        "InUseVirtualNetworkGatewayCannotBeDeleted"
    );
    lab.ok(Operation::ConnectionDelete { id: lab.id(Kind::Connection, "b-to-a") });
    lab.ok(Operation::VirtualNetworkGatewayDelete { id: ga });
    lab.sound();
}

#[test]
fn vnet_to_vnet_needs_route_based_gateways() {
    let mut lab = Lab::new();
    let a = with_gateway_subnet(&mut lab, "a", "10.1.0.0/16", "10.1.255.0/27");
    let b = with_gateway_subnet(&mut lab, "b", "10.2.0.0/16", "10.2.255.0/27");
    let ga = lab.gateway(&a, "ga");
    let pip = lab.id(Kind::PublicIpAddress, "gb-pip");
    lab.ok(Operation::PublicIpAddressPut {
        id: pip.clone(),
        spec: PublicIpAddressSpec {
            sku: Some(vnetlab_model::PublicIpSkuName::Basic),
            ..PublicIpAddressSpec::new(westus())
        },
    });
    let mut spec = lab.gateway_spec(&b, Some(pip), GatewayType::Vpn);
    spec.vpn_type = Some(VpnType::PolicyBased);
    spec.sku = vnetlab_model::GatewaySkuName::Basic;
    let gb = lab.id(Kind::VirtualNetworkGateway, "gb");
    lab.ok(Operation::VirtualNetworkGatewayPut { id: gb.clone(), spec });
    let op = vnet2vnet(&mut lab, "a-to-b", &ga, &gb, "k");
    let e = lab.err(op);
    assert_eq!(e.code, "InvalidConnectionConfiguration");
    assert!(e.message.contains("VNet-to-VNet connections need RouteBased gateways"), "{}", e.message);
}

#[test]
fn connected_address_spaces_must_not_overlap() {
    let mut lab = Lab::new();
    let a = with_gateway_subnet(&mut lab, "a", "10.1.0.0/16", "10.1.255.0/27");
    let b = with_gateway_subnet(&mut lab, "b", "10.1.0.0/16", "10.1.255.0/27");
    let ga = lab.gateway(&a, "ga");
    let gb = lab.gateway(&b, "gb");
    let op = vnet2vnet(&mut lab, "a-to-b", &ga, &gb, "k");
    let e = lab.err(op);
    assert_eq!(e.code, "ConnectionOverlappingAddressSpaces");
    // A site overlapping the VNet, then two sites overlapping each other.
    let overlapping = site(&mut lab, "overlapping", &["10.1.128.0/17"]);
    let op = s2s(&lab, "to-overlapping", &ga, &overlapping);
    assert_eq!(lab.err(op).code, "ConnectionOverlappingAddressSpaces");
    let branch1 = site(&mut lab, "branch1", &["192.168.0.0/16"]);
    let branch2 = site(&mut lab, "branch2", &["192.168.1.0/24"]);
    let op = s2s(&lab, "to-branch1", &ga, &branch1);
    lab.ok(op);
    let op = s2s(&lab, "to-branch2", &ga, &branch2);
    let e = lab.err(op);
    assert_eq!(e.code, "ConnectionOverlappingAddressSpaces");
    assert!(e.message.contains("192.168.1.0/24 overlaps with address prefix 192.168.0.0/16"), "{}", e.message);
    // Changing a connected site's prefixes into the VNet's range is refused too.
    let e = lab.err(Operation::LocalNetworkGatewayPut {
        id: branch1.clone(),
        spec: LocalNetworkGatewaySpec {
            location: westus(),
            tags: Default::default(),
            address_prefixes: vec![p("10.1.0.0/24")],
            gateway_ip_address: None,
            fqdn: None,
            bgp_asn: None,
            bgp_peering_address: None,
        },
    });
    assert_eq!(e.code, "ConnectionOverlappingAddressSpaces");
    // A site in use cannot be deleted.
    assert_eq!(
        lab.err(Operation::LocalNetworkGatewayDelete { id: branch1 }).code,
        "InUseLocalNetworkGatewayCannotBeDeleted"
    );
}

#[test]
fn site_to_site_connects_and_sites_get_addresses_from_the_pool() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    let gw = lab.gateway(&hub, "gw");
    let branch = site(&mut lab, "branch", &["192.168.0.0/16"]);
    let op = s2s(&lab, "hub-to-branch", &gw, &branch);
    lab.ok(op);
    let c = lab.state.resource(&lab.id(Kind::Connection, "hub-to-branch")).and_then(Resource::as_connection).unwrap();
    assert_eq!(c.properties.connection_status, ConnectionStatus::Connected);
    let lgw = lab.state.resource(&branch).and_then(Resource::as_local_network_gateway).unwrap();
    let ip = lgw.properties.gateway_ip_address.unwrap();
    assert!(p("198.18.0.0/15").contains_addr(ip), "{ip}");
}

#[test]
fn expressroute_connections_need_an_expressroute_gateway() {
    let mut lab = Lab::new();
    let hub = with_gateway_subnet(&mut lab, "hub", "10.0.0.0/16", "10.0.255.0/27");
    let vpn = lab.gateway(&hub, "vpn");
    let op = Operation::ConnectionPut {
        id: lab.id(Kind::Connection, "er"),
        spec: ConnectionSpec {
            location: westus(),
            tags: Default::default(),
            connection_type: ConnectionType::ExpressRoute,
            virtual_network_gateway1: vpn,
            virtual_network_gateway2: None,
            local_network_gateway2: None,
            peer: Some(
                ResourceId::parse(&format!(
                    "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/expressRouteCircuits/c"
                ))
                .unwrap(),
            ),
            shared_key: None,
            connection_protocol: None,
            connection_mode: None,
            routing_weight: 0,
            enable_bgp: false,
            use_policy_based_traffic_selectors: false,
        },
    };
    let e = lab.err(op);
    assert!(e.message.contains("ExpressRoute connections need an ExpressRoute gateway"), "{}", e.message);
}
