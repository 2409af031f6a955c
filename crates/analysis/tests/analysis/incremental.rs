//! Incremental recompile: after each change, `Network::update` with the changed ids gives what a
//! fresh `Network::compile` of the new state gives, and touches only what reads the change.

use std::net::IpAddr;

use proptest::prelude::*;
use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::incremental::UpdateStats;
use vnetlab_engine::{
    ConnectionSpec, Context, LocalNetworkGatewaySpec, NetworkInterfaceSpec, NetworkSecurityGroupSpec,
    NicIpConfigurationSpec, Operation, PeeringSpec, PublicIpAddressSpec, RouteSpec, RouteTableSpec, SecurityRuleSpec,
    SequentialIds, Settings, SubnetSpec, VirtualMachineSpec, VirtualNetworkGatewaySpec, VirtualNetworkSpec,
};
use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    AzureError, ConnectionType, GatewayType, Kind, Location, Prefix, Resource, ResourceId, RouteNextHopType,
    RoutePrefix, SecurityRuleAccess, SecurityRuleDirection, SecurityRuleProtocol, State, ViewExt,
};

use crate::{example, fresh_lab, id};

/// Fails with the entries that differ when two fingerprints are not equal.
#[track_caller]
fn assert_same(updated: &Network, fresh: &Network, after: &str) {
    let (a, b) = (updated.fingerprint(), fresh.fingerprint());
    if a == b {
        return;
    }
    let only_updated: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
    let only_fresh: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
    panic!(
        "after {after}: the updated view differs from a fresh compile\n--- updated only:\n{}\n--- fresh only:\n{}",
        only_updated.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        only_fresh.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
    );
}

/// A lab whose compiled view follows every operation through `Network::update`.
struct Live {
    state: State,
    network: Network,
    ids: SequentialIds,
    settings: Settings,
    /// Ids changed since the view was last updated.
    pending: Vec<ResourceId>,
}

impl Live {
    fn new(state: State) -> Live {
        let network = Network::compile(&state);
        Live {
            state,
            network,
            ids: SequentialIds::starting_at(1 << 40),
            settings: Settings::default(),
            pending: Vec::new(),
        }
    }

    /// Runs `op` through the engine and keeps its changed ids for the next update.
    fn run(&mut self, op: &Operation) -> Result<(), AzureError> {
        let mut ctx = Context::new(&mut self.ids, &self.settings);
        let outcome = vnetlab_engine::apply(&self.state, op, &mut ctx)?;
        let revision = self.state.revision() + 1;
        let _ = self.state.apply(&outcome.changes, revision);
        self.pending.extend(outcome.changes.iter().map(|c| c.id().clone()));
        Ok(())
    }

    /// Updates the view with the pending ids and checks it against a fresh compile.
    #[track_caller]
    fn update(&mut self, after: &str) -> UpdateStats {
        let changed = std::mem::take(&mut self.pending);
        let stats = self.network.update(&self.state, &changed);
        assert_same(&self.network, &Network::compile(&self.state), after);
        stats
    }

    /// Runs `op`, which must succeed, then updates and checks.
    #[track_caller]
    fn step(&mut self, op: Operation) -> UpdateStats {
        let label = format!("{op:?}");
        if let Err(e) = self.run(&op) {
            panic!("{label}: {e}");
        }
        self.update(&label)
    }

    fn resource(&self, id: &ResourceId) -> &Resource {
        self.state.resource(id).unwrap_or_else(|| panic!("no {id}"))
    }
}

const RG: &str = "hub-and-spoke-rg";

fn west_europe() -> Location {
    Location::parse("westeurope").unwrap()
}

fn p(s: &str) -> Prefix {
    Prefix::parse(s).unwrap()
}

fn vnet(name: &str) -> ResourceId {
    id(RG, &format!("Microsoft.Network/virtualNetworks/{name}"))
}

fn top(kind: Kind, name: &str) -> ResourceId {
    ResourceId::resource_group(crate::SUB, RG).unwrap().top_level(kind, name).unwrap()
}

/// The spec that writes a link back as it is.
fn peering_spec(state: &State, link: &ResourceId) -> PeeringSpec {
    let l = state.peering(link).unwrap_or_else(|| panic!("no link {link}"));
    let p = &l.properties;
    PeeringSpec {
        remote_virtual_network: p.remote_virtual_network.id.clone(),
        allow_virtual_network_access: p.allow_virtual_network_access,
        allow_forwarded_traffic: p.allow_forwarded_traffic,
        allow_gateway_transit: p.allow_gateway_transit,
        use_remote_gateways: p.use_remote_gateways,
        do_not_verify_remote_gateways: p.do_not_verify_remote_gateways,
        peer_complete_vnets: p.peer_complete_vnets,
        enable_only_ipv6_peering: p.enable_only_ipv6_peering,
        local_subnet_names: p.local_subnet_names.clone(),
        remote_subnet_names: p.remote_subnet_names.clone(),
        origin: None,
    }
}

/// The spec that writes a NIC back as it is.
fn nic_spec(state: &State, nic: &ResourceId) -> NetworkInterfaceSpec {
    let n = state.resource(nic).and_then(Resource::as_network_interface).unwrap_or_else(|| panic!("no {nic}"));
    let np = &n.properties;
    NetworkInterfaceSpec {
        location: n.location,
        tags: n.tags.clone(),
        ip_configurations: np
            .ip_configurations
            .iter()
            .map(|c| NicIpConfigurationSpec {
                name: c.name.clone(),
                subnet: c.properties.subnet.id.clone(),
                private_ip_address: Some(c.properties.private_ip_address),
                allocation_method: Some(c.properties.private_ip_allocation_method),
                version: Some(c.properties.private_ip_address_version),
                primary: Some(c.properties.primary),
                public_ip_address: c.properties.public_ip_address.as_ref().map(|r| r.id.clone()),
            })
            .collect(),
        network_security_group: np.network_security_group.as_ref().map(|r| r.id.clone()),
        enable_ip_forwarding: np.enable_ip_forwarding,
        enable_accelerated_networking: np.enable_accelerated_networking,
        dns_servers: np.dns_settings.dns_servers.clone(),
    }
}

/// The spec that writes a subnet back as it is.
fn subnet_spec(state: &State, subnet: &ResourceId) -> SubnetSpec {
    let s = state.subnet(subnet).unwrap_or_else(|| panic!("no {subnet}"));
    SubnetSpec {
        address_prefixes: Some(s.prefixes()),
        network_security_group: s.properties.network_security_group.as_ref().map(|r| r.id.clone()),
        route_table: s.properties.route_table.as_ref().map(|r| r.id.clone()),
        ..SubnetSpec::default()
    }
}

fn rule_spec(priority: u32, access: SecurityRuleAccess, source: &str, port: &str) -> SecurityRuleSpec {
    SecurityRuleSpec {
        description: None,
        protocol: SecurityRuleProtocol::Tcp,
        source_port_range: Some(PortRange::Any),
        source_port_ranges: Vec::new(),
        destination_port_range: Some(port.parse().unwrap()),
        destination_port_ranges: Vec::new(),
        source_address_prefix: Some(source.parse::<AddressMatch>().unwrap()),
        source_address_prefixes: Vec::new(),
        destination_address_prefix: Some(AddressMatch::Any),
        destination_address_prefixes: Vec::new(),
        access,
        priority,
        direction: SecurityRuleDirection::Inbound,
    }
}

fn appliance_route(prefix: &str, hop: &str) -> RouteSpec {
    RouteSpec {
        address_prefix: RoutePrefix::Prefix(p(prefix)),
        next_hop_type: RouteNextHopType::VirtualAppliance,
        next_hop_ip_address: Some(hop.parse::<IpAddr>().unwrap()),
        next_hop_ip_addresses: Vec::new(),
    }
}

fn gateway_spec(location: Location, vnet: &ResourceId, pip: &ResourceId) -> VirtualNetworkGatewaySpec {
    VirtualNetworkGatewaySpec::new(location, GatewayType::Vpn, vnet, Some(pip.clone())).unwrap()
}

fn vnet_to_vnet(location: Location, from: &ResourceId, to: &ResourceId) -> ConnectionSpec {
    ConnectionSpec {
        location,
        tags: Default::default(),
        connection_type: ConnectionType::Vnet2Vnet,
        virtual_network_gateway1: from.clone(),
        virtual_network_gateway2: Some(to.clone()),
        local_network_gateway2: None,
        peer: None,
        shared_key: Some("k".into()),
        connection_protocol: None,
        connection_mode: None,
        routing_weight: 0,
        enable_bgp: false,
        use_policy_based_traffic_selectors: false,
    }
}

fn vm_spec(location: Location, nics: Vec<ResourceId>) -> VirtualMachineSpec {
    VirtualMachineSpec {
        location,
        tags: Default::default(),
        vm_size: "Standard_B1s".into(),
        network_interfaces: nics.into_iter().map(|n| (n, None)).collect(),
        storage_profile: serde_json::Value::Null,
        os_profile: serde_json::Value::Null,
    }
}

fn subnet_count(live: &Live, vnets: &[&str]) -> usize {
    vnets.iter().map(|v| live.state.subnets_of(&vnet(v)).len()).sum()
}

/// The link under `from` whose remote is `to`.
fn link(live: &Live, from: &str, to: &str) -> ResourceId {
    live.state.link_between(&vnet(from), &vnet(to)).unwrap_or_else(|| panic!("no link {from} → {to}")).id.clone()
}

#[test]
fn peering_changes_recompile_only_the_two_vnets_and_match_a_fresh_compile() {
    let mut live = Live::new(example("hub-and-spoke.yaml"));
    let two_spokes = subnet_count(&live, &["spoke1", "spoke2"]);

    // Create: spoke1 ↔ spoke2, one link at a time (Initiated, then Connected).
    let mut spec = PeeringSpec::new(vnet("spoke2"));
    spec.allow_virtual_network_access = true;
    let there = vnet("spoke1").child(Kind::VirtualNetworkPeering, "spoke1-to-spoke2").unwrap();
    let stats = live.step(Operation::PeeringPut { id: there.clone(), spec, sync_remote_address_space: false });
    assert!(!stats.full);
    assert_eq!((stats.vnets, stats.subnets), (2, two_spokes), "{stats:?}");
    let mut spec = PeeringSpec::new(vnet("spoke1"));
    spec.allow_virtual_network_access = true;
    let back = vnet("spoke2").child(Kind::VirtualNetworkPeering, "spoke2-to-spoke1").unwrap();
    let stats = live.step(Operation::PeeringPut { id: back.clone(), spec, sync_remote_address_space: false });
    assert_eq!((stats.vnets, stats.subnets), (2, two_spokes), "{stats:?}");
    // The new routes and tags reached the spokes' compiled NSGs, and no NIC outside them moved.
    assert!(stats.nics <= 2, "{stats:?}");

    // A flag change on a hub link.
    let hub_link = link(&live, "hub", "spoke3");
    let mut spec = peering_spec(&live.state, &hub_link);
    spec.allow_gateway_transit = false;
    let stats = live.step(Operation::PeeringPut { id: hub_link.clone(), spec, sync_remote_address_space: false });
    assert_eq!((stats.vnets, stats.subnets), (2, subnet_count(&live, &["hub", "spoke3"])), "{stats:?}");
    let spoke_link = link(&live, "spoke3", "hub");
    let mut spec = peering_spec(&live.state, &spoke_link);
    spec.use_remote_gateways = false;
    let stats = live.step(Operation::PeeringPut { id: spoke_link, spec, sync_remote_address_space: false });
    assert_eq!(stats.vnets, 2, "{stats:?}");

    // Delete: one link, then the other.
    let stats = live.step(Operation::PeeringDelete { id: there });
    assert_eq!((stats.vnets, stats.subnets), (2, two_spokes), "{stats:?}");
    let stats = live.step(Operation::PeeringDelete { id: back });
    assert_eq!((stats.vnets, stats.subnets), (2, two_spokes), "{stats:?}");
    let stats = live.step(Operation::PeeringDelete { id: hub_link });
    assert_eq!(stats.vnets, 2, "{stats:?}");
}

#[test]
fn route_and_rule_changes_recompile_the_subnets_that_use_them() {
    let mut live = Live::new(example("hub-and-spoke.yaml"));
    let table = top(Kind::RouteTable, "spokes-via-nva");
    let route = table.child(Kind::Route, "branch-through-nva").unwrap();
    let stats =
        live.step(Operation::RoutePut { id: route.clone(), spec: appliance_route("192.168.0.0/16", "10.0.1.4") });
    // The three spoke subnets use the table; nothing else is compiled again.
    assert_eq!((stats.vnets, stats.subnets, stats.subnet_nsgs), (0, 3, 0), "{stats:?}");
    live.step(Operation::RoutePut { id: route.clone(), spec: appliance_route("192.168.0.0/17", "10.0.1.5") });
    let stats = live.step(Operation::RouteDelete { id: route });
    assert_eq!(stats.subnets, 3, "{stats:?}");
    let mut spec = RouteTableSpec {
        location: west_europe(),
        tags: Default::default(),
        disable_bgp_route_propagation: true,
        routes: None,
    };
    live.step(Operation::RouteTablePut { id: table.clone(), spec: spec.clone() });
    spec.disable_bgp_route_propagation = false;
    live.step(Operation::RouteTablePut { id: table, spec });

    let nsg = top(Kind::NetworkSecurityGroup, "workload-nsg");
    let rule = nsg.child(Kind::SecurityRule, "deny-web").unwrap();
    let stats = live.step(Operation::SecurityRulePut {
        id: rule.clone(),
        spec: rule_spec(120, SecurityRuleAccess::Deny, "VirtualNetwork", "8080"),
    });
    // Only the NSG of the three subnets that use it compiles again; routes stay.
    assert_eq!((stats.vnets, stats.subnets, stats.subnet_nsgs), (0, 0, 3), "{stats:?}");
    assert_eq!(stats.nsgs_compiled, 3, "{stats:?}");
    live.step(Operation::SecurityRulePut {
        id: rule.clone(),
        spec: rule_spec(105, SecurityRuleAccess::Allow, "Internet", "443"),
    });
    live.step(Operation::SecurityRulePut {
        id: nsg.child(Kind::SecurityRule, "allow-ssh-from-vnets").unwrap(),
        spec: rule_spec(100, SecurityRuleAccess::Deny, "VirtualNetwork", "22"),
    });
    live.step(Operation::SecurityRuleDelete { id: rule });
}

#[test]
fn address_space_gateway_and_nic_changes_match_a_fresh_compile() {
    let mut live = Live::new(example("hub-and-spoke.yaml"));
    let west = west_europe();

    // VNet address space, then the sync of the hub's link to it.
    let spoke1 = vnet("spoke1");
    let spec = VirtualNetworkSpec::new(west, vec![p("10.1.0.0/16"), p("10.21.0.0/16")]);
    live.step(Operation::VirtualNetworkPut { id: spoke1.clone(), spec });
    let hub_link = link(&live, "hub", "spoke1");
    let spec = peering_spec(&live.state, &hub_link);
    let stats = live.step(Operation::PeeringPut { id: hub_link, spec, sync_remote_address_space: true });
    assert_eq!(stats.vnets, 2, "{stats:?}");
    let spoke_link = link(&live, "spoke1", "hub");
    let spec = peering_spec(&live.state, &spoke_link);
    live.step(Operation::PeeringPut { id: spoke_link, spec, sync_remote_address_space: true });

    // The branch site learns a new range: the hub and every spoke using its gateway.
    let site = top(Kind::LocalNetworkGateway, "branch-office");
    let lng = live.resource(&site).as_local_network_gateway().unwrap().clone();
    let stats = live.step(Operation::LocalNetworkGatewayPut {
        id: site,
        spec: LocalNetworkGatewaySpec {
            location: lng.location,
            tags: Default::default(),
            address_prefixes: vec![p("192.168.0.0/16"), p("172.30.0.0/16")],
            gateway_ip_address: lng.properties.gateway_ip_address,
            fqdn: None,
            bgp_asn: lng.properties.bgp_settings.as_ref().map(|b| b.asn),
            bgp_peering_address: lng.properties.bgp_settings.as_ref().and_then(|b| b.bgp_peering_address.clone()),
        },
    });
    assert_eq!(stats.vnets, 4, "{stats:?}");

    // A second region's VNet with a gateway, joined to the hub's gateway both ways.
    let dr = vnet("dr");
    live.step(Operation::VirtualNetworkPut {
        id: dr.clone(),
        spec: VirtualNetworkSpec::new(west, vec![p("10.50.0.0/16")]),
    });
    live.step(Operation::SubnetPut {
        id: dr.child(Kind::Subnet, "GatewaySubnet").unwrap(),
        spec: SubnetSpec::with_prefix(p("10.50.255.0/27")),
    });
    let pip = top(Kind::PublicIpAddress, "dr-gw-pip");
    live.step(Operation::PublicIpAddressPut { id: pip.clone(), spec: PublicIpAddressSpec::new(west) });
    let dr_gw = top(Kind::VirtualNetworkGateway, "dr-gw");
    live.step(Operation::VirtualNetworkGatewayPut { id: dr_gw.clone(), spec: gateway_spec(west, &dr, &pip) });
    let hub_gw = top(Kind::VirtualNetworkGateway, "hub-vpngw");
    let to_dr = top(Kind::Connection, "hub-to-dr");
    live.step(Operation::ConnectionPut { id: to_dr.clone(), spec: vnet_to_vnet(west, &hub_gw, &dr_gw) });
    let stats = live.step(Operation::ConnectionPut {
        id: top(Kind::Connection, "dr-to-hub"),
        spec: vnet_to_vnet(west, &dr_gw, &hub_gw),
    });
    assert!(stats.vnets >= 4, "both connections turn Connected: {stats:?}");
    // dr grows: the hub's gateway learns it, and so do the spokes through transit.
    let spec = VirtualNetworkSpec::new(west, vec![p("10.50.0.0/16"), p("10.51.0.0/16")]);
    let stats = live.step(Operation::VirtualNetworkPut { id: dr.clone(), spec });
    assert_eq!(stats.vnets, 5, "{stats:?}");

    // Gateway connections go away.
    live.step(Operation::ConnectionDelete { id: to_dr });
    let stats = live.step(Operation::ConnectionDelete { id: top(Kind::Connection, "hub-to-branch-office") });
    assert_eq!(stats.vnets, 4, "{stats:?}");

    // A NIC gets an NSG of its own, then a second IP configuration, then loses its NSG.
    let nic = live.network.target_nic(&crate::vm_id(RG, "spoke1-vm"), None).unwrap().id.clone();
    let mut spec = nic_spec(&live.state, &nic);
    spec.network_security_group = Some(top(Kind::NetworkSecurityGroup, "workload-nsg"));
    let stats = live.step(Operation::NetworkInterfacePut { id: nic.clone(), spec: spec.clone() });
    assert_eq!((stats.vnets, stats.subnets, stats.nics), (0, 0, 1), "{stats:?}");
    // It shares the subnet's compiled NSG.
    assert_eq!(stats.nsgs_compiled, 0, "{stats:?}");
    let nsg = top(Kind::NetworkSecurityGroup, "own-nsg");
    live.step(Operation::NetworkSecurityGroupPut {
        id: nsg.clone(),
        spec: NetworkSecurityGroupSpec {
            location: west,
            tags: Default::default(),
            flush_connection: false,
            security_rules: None,
        },
    });
    spec.network_security_group = Some(nsg.clone());
    let stats = live.step(Operation::NetworkInterfacePut { id: nic.clone(), spec: spec.clone() });
    assert_eq!(stats.nsgs_compiled, 1, "{stats:?}");
    live.step(Operation::SecurityRulePut {
        id: nsg.child(Kind::SecurityRule, "r").unwrap(),
        spec: rule_spec(300, SecurityRuleAccess::Deny, "VirtualNetwork", "3389"),
    });
    spec.network_security_group = None;
    live.step(Operation::NetworkInterfacePut { id: nic, spec });
    live.step(Operation::NetworkSecurityGroupDelete { id: nsg });
}

#[test]
fn subnets_vms_and_whole_vnets_come_and_go() {
    let mut live = Live::new(example("hub-and-spoke.yaml"));
    let west = west_europe();
    let spoke4 = vnet("spoke4");
    live.step(Operation::VirtualNetworkPut {
        id: spoke4.clone(),
        spec: VirtualNetworkSpec::new(west, vec![p("10.4.0.0/16")]),
    });
    let workload = spoke4.child(Kind::Subnet, "workload").unwrap();
    live.step(Operation::SubnetPut {
        id: workload.clone(),
        spec: SubnetSpec {
            address_prefix: Some(p("10.4.1.0/24")),
            route_table: Some(top(Kind::RouteTable, "spokes-via-nva")),
            network_security_group: Some(top(Kind::NetworkSecurityGroup, "workload-nsg")),
            ..SubnetSpec::default()
        },
    });
    let nic = top(Kind::NetworkInterface, "spoke4-nic");
    live.step(Operation::NetworkInterfacePut {
        id: nic.clone(),
        spec: NetworkInterfaceSpec::new(west, vec![NicIpConfigurationSpec::new("ipconfig1", workload.clone())]),
    });
    let vm = top(Kind::VirtualMachine, "spoke4-vm");
    let stats = live.step(Operation::VirtualMachinePut { id: vm.clone(), spec: vm_spec(west, vec![nic.clone()]) });
    assert_eq!((stats.vms, stats.nics, stats.subnets), (1, 1, 0), "{stats:?}");

    // Hub and spoke4, both ways, using the hub's gateway.
    let mut spec = PeeringSpec::new(spoke4.clone());
    spec.allow_virtual_network_access = true;
    spec.allow_gateway_transit = true;
    spec.allow_forwarded_traffic = true;
    let hub_link = vnet("hub").child(Kind::VirtualNetworkPeering, "hub-to-spoke4").unwrap();
    live.step(Operation::PeeringPut { id: hub_link.clone(), spec, sync_remote_address_space: false });
    let mut spec = PeeringSpec::new(vnet("hub"));
    spec.allow_virtual_network_access = true;
    spec.use_remote_gateways = true;
    let spoke_link = spoke4.child(Kind::VirtualNetworkPeering, "spoke4-to-hub").unwrap();
    let stats = live.step(Operation::PeeringPut { id: spoke_link.clone(), spec, sync_remote_address_space: false });
    assert_eq!(stats.vnets, 2, "{stats:?}");

    // The subnet leaves the route table, and a second subnet comes and goes.
    let mut spec = subnet_spec(&live.state, &workload);
    spec.route_table = None;
    let stats = live.step(Operation::SubnetPut { id: workload.clone(), spec });
    assert_eq!((stats.vnets, stats.subnets), (0, 1), "{stats:?}");
    let extra = spoke4.child(Kind::Subnet, "extra").unwrap();
    live.step(Operation::SubnetPut { id: extra.clone(), spec: SubnetSpec::with_prefix(p("10.4.2.0/24")) });
    live.step(Operation::SubnetDelete { id: extra });

    // Everything of spoke4 goes, in the order Azure allows.
    live.step(Operation::VirtualMachineDelete { id: vm });
    live.step(Operation::NetworkInterfaceDelete { id: nic });
    live.step(Operation::PeeringDelete { id: spoke_link });
    live.step(Operation::PeeringDelete { id: hub_link });
    live.step(Operation::VirtualNetworkDelete { id: spoke4 });

    // Several operations in one update.
    let spoke3 = vnet("spoke3");
    for op in [
        Operation::VirtualNetworkPut {
            id: vnet("spoke5"),
            spec: VirtualNetworkSpec::new(west, vec![p("10.5.0.0/16")]),
        },
        Operation::SubnetPut {
            id: vnet("spoke5").child(Kind::Subnet, "s").unwrap(),
            spec: SubnetSpec::with_prefix(p("10.5.0.0/24")),
        },
        Operation::PeeringDelete { id: link(&live, "spoke3", "hub") },
        Operation::PeeringPut {
            id: spoke3.child(Kind::VirtualNetworkPeering, "to-5").unwrap(),
            spec: PeeringSpec { allow_virtual_network_access: true, ..PeeringSpec::new(vnet("spoke5")) },
            sync_remote_address_space: false,
        },
        Operation::PeeringPut {
            id: vnet("spoke5").child(Kind::VirtualNetworkPeering, "to-3").unwrap(),
            spec: PeeringSpec { allow_virtual_network_access: true, ..PeeringSpec::new(spoke3.clone()) },
            sync_remote_address_space: false,
        },
    ] {
        live.run(&op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
    live.update("a batch of five operations");
}

#[test]
fn an_id_of_an_unknown_kind_compiles_everything() {
    let mut live = Live::new(example("hub-and-spoke.yaml"));
    let odd = id(RG, "Microsoft.Storage/storageAccounts/odd");
    live.pending.push(odd);
    let stats = live.update("an unknown id");
    assert!(stats.full, "{stats:?}");
    assert_eq!(stats.subnets, live.network.subnets().count());
}

// ---- Random sequences of operations ----

const VNETS: usize = 4;
const SLOTS: [&str; 3] = ["s0", "s1", "GatewaySubnet"];

/// One operation of a small world: four VNets in two regions, subnets that may use one of two
/// route tables and NSGs, links, gateways with VNet-to-VNet and site connections, NICs and VMs.
#[derive(Debug, Clone)]
enum Step {
    Vnet { v: usize, wide: bool, east: bool },
    VnetDelete { v: usize },
    Subnet { v: usize, slot: usize, table: Option<usize>, nsg: Option<usize> },
    SubnetDelete { v: usize, slot: usize },
    Peer { from: usize, to: usize, flags: u8, sync: bool },
    Unpeer { from: usize, to: usize },
    Gateway { v: usize },
    GatewayDelete { v: usize },
    Connect { a: usize, b: usize },
    Disconnect { a: usize, b: usize },
    Site { wide: bool },
    SiteConnect { v: usize },
    Table { t: usize, no_bgp: bool },
    Route { t: usize, r: usize, prefix: usize, hop: usize },
    RouteDelete { t: usize, r: usize },
    Nsg { n: usize },
    NsgDelete { n: usize },
    Rule { n: usize, r: usize, priority: u32, allow: bool, source: usize },
    RuleDelete { n: usize, r: usize },
    Nic { k: usize, v: usize, slot: usize, nsg: Option<usize>, forwarding: bool },
    NicDelete { k: usize },
    Vm { m: usize, nics: Vec<usize> },
    VmDelete { m: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let v = 0..VNETS;
    prop_oneof![
        3 => (v.clone(), any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(v, wide, east)| Step::Vnet { v, wide, east }),
        1 => v.clone().prop_map(|v| Step::VnetDelete { v }),
        4 => (v.clone(), 0..3usize, prop::option::of(0..2usize), prop::option::of(0..2usize))
            .prop_map(|(v, slot, table, nsg)| Step::Subnet { v, slot, table, nsg }),
        1 => (v.clone(), 0..3usize).prop_map(|(v, slot)| Step::SubnetDelete { v, slot }),
        6 => (v.clone(), v.clone(), any::<u8>(), any::<bool>()).prop_map(|(from, to, flags, sync)| Step::Peer { from, to, flags, sync }),
        2 => (v.clone(), v.clone()).prop_map(|(from, to)| Step::Unpeer { from, to }),
        2 => v.clone().prop_map(|v| Step::Gateway { v }),
        1 => v.clone().prop_map(|v| Step::GatewayDelete { v }),
        2 => (0..3usize, 0..3usize).prop_map(|(a, b)| Step::Connect { a, b }),
        1 => (0..3usize, 0..3usize).prop_map(|(a, b)| Step::Disconnect { a, b }),
        1 => any::<bool>().prop_map(|wide| Step::Site { wide }),
        1 => v.clone().prop_map(|v| Step::SiteConnect { v }),
        2 => (0..2usize, any::<bool>()).prop_map(|(t, no_bgp)| Step::Table { t, no_bgp }),
        3 => (0..2usize, 0..3usize, 0..4usize, 0..3usize).prop_map(|(t, r, prefix, hop)| Step::Route { t, r, prefix, hop }),
        1 => (0..2usize, 0..3usize).prop_map(|(t, r)| Step::RouteDelete { t, r }),
        1 => (0..2usize).prop_map(|n| Step::Nsg { n }),
        1 => (0..2usize).prop_map(|n| Step::NsgDelete { n }),
        3 => (0..2usize, 0..3usize, 100u32..104, any::<bool>(), 0..3usize)
            .prop_map(|(n, r, priority, allow, source)| Step::Rule { n, r, priority, allow, source }),
        1 => (0..2usize, 0..3usize).prop_map(|(n, r)| Step::RuleDelete { n, r }),
        3 => (0..4usize, v.clone(), 0..2usize, prop::option::of(0..2usize), any::<bool>())
            .prop_map(|(k, v, slot, nsg, forwarding)| Step::Nic { k, v, slot, nsg, forwarding }),
        1 => (0..4usize).prop_map(|k| Step::NicDelete { k }),
        2 => (0..2usize, prop::collection::vec(0..4usize, 1..3)).prop_map(|(m, nics)| Step::Vm { m, nics }),
        1 => (0..2usize).prop_map(|m| Step::VmDelete { m }),
    ]
}

const WORLD: &str = "world";

fn w(kind: Kind, name: &str) -> ResourceId {
    ResourceId::resource_group(crate::SUB, WORLD).unwrap().top_level(kind, name).unwrap()
}

fn w_vnet(v: usize) -> ResourceId {
    w(Kind::VirtualNetwork, &format!("v{v}"))
}

fn w_location(east: bool) -> Location {
    Location::parse(if east { "eastus" } else { "westus" }).unwrap()
}

/// A subnet slot's id and prefix: a /24 of the VNet's first range (the gateway subnet's at .255).
fn w_subnet(v: usize, slot: usize) -> (ResourceId, Prefix) {
    let id = w_vnet(v).child(Kind::Subnet, SLOTS[slot]).unwrap();
    let third = [0, 1, 255][slot];
    (id, p(&format!("10.{v}.{third}.0/24")))
}

fn w_gateway(v: usize) -> ResourceId {
    w(Kind::VirtualNetworkGateway, &format!("gw{v}"))
}

/// The operations a step stands for, given the state (to keep what a step does not change).
fn ops_of(state: &State, step: &Step) -> Vec<Operation> {
    let west = w_location(false);
    let op = match step {
        Step::Vnet { v, wide, east } => {
            let mut space = vec![p(&format!("10.{v}.0.0/16"))];
            if *wide {
                space.push(p(&format!("10.{}.0.0/16", v + 20)));
            }
            Operation::VirtualNetworkPut { id: w_vnet(*v), spec: VirtualNetworkSpec::new(w_location(*east), space) }
        }
        Step::VnetDelete { v } => Operation::VirtualNetworkDelete { id: w_vnet(*v) },
        Step::Subnet { v, slot, table, nsg } => {
            let (id, prefix) = w_subnet(*v, *slot);
            let gateway_subnet = *slot == 2;
            Operation::SubnetPut {
                id,
                spec: SubnetSpec {
                    address_prefix: Some(if gateway_subnet { p(&format!("10.{v}.255.0/27")) } else { prefix }),
                    route_table: table.filter(|_| !gateway_subnet).map(|t| w(Kind::RouteTable, &format!("t{t}"))),
                    network_security_group: nsg
                        .filter(|_| !gateway_subnet)
                        .map(|n| w(Kind::NetworkSecurityGroup, &format!("n{n}"))),
                    ..SubnetSpec::default()
                },
            }
        }
        Step::SubnetDelete { v, slot } => Operation::SubnetDelete { id: w_subnet(*v, *slot).0 },
        Step::Peer { from, to, flags, sync } => {
            let mut spec = PeeringSpec::new(w_vnet(*to));
            spec.allow_virtual_network_access = flags & 1 != 0;
            spec.allow_forwarded_traffic = flags & 2 != 0;
            spec.allow_gateway_transit = flags & 4 != 0;
            spec.use_remote_gateways = flags & 8 != 0;
            Operation::PeeringPut {
                id: w_vnet(*from).child(Kind::VirtualNetworkPeering, &format!("to-v{to}")).unwrap(),
                spec,
                sync_remote_address_space: *sync,
            }
        }
        Step::Unpeer { from, to } => Operation::PeeringDelete {
            id: w_vnet(*from).child(Kind::VirtualNetworkPeering, &format!("to-v{to}")).unwrap(),
        },
        Step::Gateway { v } => {
            let pip = w(Kind::PublicIpAddress, &format!("gw{v}-pip"));
            return vec![
                Operation::PublicIpAddressPut { id: pip.clone(), spec: PublicIpAddressSpec::new(west) },
                Operation::VirtualNetworkGatewayPut { id: w_gateway(*v), spec: gateway_spec(west, &w_vnet(*v), &pip) },
            ];
        }
        Step::GatewayDelete { v } => Operation::VirtualNetworkGatewayDelete { id: w_gateway(*v) },
        Step::Connect { a, b } => Operation::ConnectionPut {
            id: w(Kind::Connection, &format!("c{a}-{b}")),
            spec: vnet_to_vnet(west, &w_gateway(*a), &w_gateway(*b)),
        },
        Step::Disconnect { a, b } => Operation::ConnectionDelete { id: w(Kind::Connection, &format!("c{a}-{b}")) },
        Step::Site { wide } => {
            let mut prefixes = vec![p("192.168.0.0/16")];
            if *wide {
                prefixes.push(p("10.0.0.0/8"));
            }
            Operation::LocalNetworkGatewayPut {
                id: w(Kind::LocalNetworkGateway, "site"),
                spec: LocalNetworkGatewaySpec {
                    location: west,
                    tags: Default::default(),
                    address_prefixes: prefixes,
                    gateway_ip_address: Some("198.18.200.1".parse().unwrap()),
                    fqdn: None,
                    bgp_asn: None,
                    bgp_peering_address: None,
                },
            }
        }
        Step::SiteConnect { v } => Operation::ConnectionPut {
            id: w(Kind::Connection, &format!("site{v}")),
            spec: ConnectionSpec {
                connection_type: ConnectionType::IPsec,
                virtual_network_gateway2: None,
                local_network_gateway2: Some(w(Kind::LocalNetworkGateway, "site")),
                ..vnet_to_vnet(west, &w_gateway(*v), &w_gateway(*v))
            },
        },
        Step::Table { t, no_bgp } => Operation::RouteTablePut {
            id: w(Kind::RouteTable, &format!("t{t}")),
            spec: RouteTableSpec {
                location: west,
                tags: Default::default(),
                disable_bgp_route_propagation: *no_bgp,
                routes: None,
            },
        },
        Step::Route { t, r, prefix, hop } => {
            let prefix = ["0.0.0.0/0", "10.1.0.0/16", "192.168.1.0/24", "10.2.5.0/24"][*prefix];
            let spec = match hop {
                0 => appliance_route(prefix, "10.0.0.4"),
                1 => RouteSpec {
                    next_hop_type: RouteNextHopType::VirtualNetworkGateway,
                    next_hop_ip_address: None,
                    ..appliance_route(prefix, "10.0.0.4")
                },
                _ => RouteSpec {
                    next_hop_type: RouteNextHopType::None,
                    next_hop_ip_address: None,
                    ..appliance_route(prefix, "10.0.0.4")
                },
            };
            Operation::RoutePut {
                id: w(Kind::RouteTable, &format!("t{t}")).child(Kind::Route, &format!("r{r}")).unwrap(),
                spec,
            }
        }
        Step::RouteDelete { t, r } => Operation::RouteDelete {
            id: w(Kind::RouteTable, &format!("t{t}")).child(Kind::Route, &format!("r{r}")).unwrap(),
        },
        Step::Nsg { n } => Operation::NetworkSecurityGroupPut {
            id: w(Kind::NetworkSecurityGroup, &format!("n{n}")),
            spec: NetworkSecurityGroupSpec {
                location: west,
                tags: Default::default(),
                flush_connection: false,
                security_rules: None,
            },
        },
        Step::NsgDelete { n } => {
            Operation::NetworkSecurityGroupDelete { id: w(Kind::NetworkSecurityGroup, &format!("n{n}")) }
        }
        Step::Rule { n, r, priority, allow, source } => Operation::SecurityRulePut {
            id: w(Kind::NetworkSecurityGroup, &format!("n{n}")).child(Kind::SecurityRule, &format!("r{r}")).unwrap(),
            spec: rule_spec(
                *priority,
                if *allow { SecurityRuleAccess::Allow } else { SecurityRuleAccess::Deny },
                ["VirtualNetwork", "Internet", "10.1.0.0/16"][*source],
                "22",
            ),
        },
        Step::RuleDelete { n, r } => Operation::SecurityRuleDelete {
            id: w(Kind::NetworkSecurityGroup, &format!("n{n}")).child(Kind::SecurityRule, &format!("r{r}")).unwrap(),
        },
        Step::Nic { k, v, slot, nsg, forwarding } => {
            let id = w(Kind::NetworkInterface, &format!("nic{k}"));
            // An existing NIC keeps its address when it stays in its subnet.
            let subnet = w_subnet(*v, *slot).0;
            let kept = state
                .resource(&id)
                .and_then(Resource::as_network_interface)
                .and_then(|n| n.properties.ip_configurations.first())
                .filter(|c| c.properties.subnet.id == subnet)
                .map(|c| c.properties.private_ip_address);
            let mut spec = NetworkInterfaceSpec::new(
                west,
                vec![NicIpConfigurationSpec {
                    private_ip_address: kept,
                    ..NicIpConfigurationSpec::new("ipconfig1", subnet)
                }],
            );
            spec.network_security_group = nsg.map(|n| w(Kind::NetworkSecurityGroup, &format!("n{n}")));
            spec.enable_ip_forwarding = *forwarding;
            Operation::NetworkInterfacePut { id, spec }
        }
        Step::NicDelete { k } => {
            Operation::NetworkInterfaceDelete { id: w(Kind::NetworkInterface, &format!("nic{k}")) }
        }
        Step::Vm { m, nics } => {
            let mut ids: Vec<ResourceId> = nics.iter().map(|k| w(Kind::NetworkInterface, &format!("nic{k}"))).collect();
            ids.dedup();
            let mut spec = vm_spec(west, Vec::new());
            spec.network_interfaces = ids.iter().enumerate().map(|(i, n)| (n.clone(), Some(i == 0))).collect();
            Operation::VirtualMachinePut { id: w(Kind::VirtualMachine, &format!("vm{m}")), spec }
        }
        Step::VmDelete { m } => Operation::VirtualMachineDelete { id: w(Kind::VirtualMachine, &format!("vm{m}")) },
    };
    vec![op]
}

/// The world's starting point: its group, the four VNets (v3 in another region) with a first
/// subnet each, both NSGs and route tables, gateway subnets in v0 to v2, gateways in v0 and v1
/// joined both ways, the site connected to v0's gateway, and v2 peered with v0, using its gateway.
/// Every step is checked.
fn world() -> Live {
    let mut live = Live::new(fresh_lab());
    live.step(Operation::ResourceGroupPut {
        id: ResourceId::resource_group(crate::SUB, WORLD).unwrap(),
        location: w_location(false),
        tags: Default::default(),
    });
    let mut steps = vec![Step::Nsg { n: 0 }, Step::Nsg { n: 1 }, Step::Table { t: 0, no_bgp: false }];
    steps.push(Step::Table { t: 1, no_bgp: true });
    steps.push(Step::Site { wide: false });
    for v in 0..VNETS {
        steps.push(Step::Vnet { v, wide: false, east: v == 3 });
        steps.push(Step::Subnet { v, slot: 0, table: None, nsg: None });
    }
    steps.extend([0, 1, 2].map(|v| Step::Subnet { v, slot: 2, table: None, nsg: None }));
    steps.extend([Step::Gateway { v: 0 }, Step::Gateway { v: 1 }, Step::SiteConnect { v: 0 }]);
    steps.extend([Step::Connect { a: 0, b: 1 }, Step::Connect { a: 1, b: 0 }]);
    // v2 uses v0's gateway.
    steps.extend([
        Step::Peer { from: 0, to: 2, flags: 5, sync: false },
        Step::Peer { from: 2, to: 0, flags: 9, sync: false },
    ]);
    for step in &steps {
        for op in ops_of(&live.state, step) {
            live.run(&op).unwrap_or_else(|e| panic!("{step:?}: {e}"));
        }
        live.update(&format!("{step:?}"));
    }
    live
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// After every operation, or every few (one update for all their changes), the updated view
    /// equals a fresh compile.
    #[test]
    fn updates_agree_with_a_fresh_compile(
        steps in prop::collection::vec(step(), 1..60),
        batch in 1..4usize,
    ) {
        let mut live = world();
        let mut since_update = 0;
        for (i, step) in steps.iter().enumerate() {
            for op in ops_of(&live.state, step) {
                // A refused operation changes nothing.
                let _ = live.run(&op);
            }
            since_update += 1;
            if since_update == batch || i + 1 == steps.len() {
                since_update = 0;
                let stats = live.update(&format!("step {i}: {step:?}"));
                prop_assert!(!stats.full);
            }
        }
    }
}

/// The world's steps reach the states the property is about (links, gateways, transit, NSGs on
/// subnets and NICs), so a passing property is not a vacuous one.
#[test]
fn the_random_world_builds_transit_through_a_gateway() {
    let mut live = world();
    let steps = [
        Step::Subnet { v: 1, slot: 0, table: Some(0), nsg: Some(0) },
        Step::Subnet { v: 2, slot: 0, table: Some(0), nsg: Some(0) },
        Step::Nic { k: 0, v: 2, slot: 0, nsg: Some(1), forwarding: false },
        Step::Vm { m: 0, nics: vec![0] },
        Step::Rule { n: 1, r: 0, priority: 100, allow: false, source: 0 },
    ];
    for step in &steps {
        for op in ops_of(&live.state, step) {
            live.run(&op).unwrap_or_else(|e| panic!("{step:?}: {e}"));
        }
        live.update(&format!("{step:?}"));
    }
    let subnet = live.network.subnet(&w_subnet(2, 0).0).unwrap();
    let learned = |prefix: &str| subnet.routes.routes.iter().any(|r| r.address_prefix.to_string() == prefix);
    assert!(learned("192.168.0.0/16"), "v2 learns the site's range through v0's gateway");
    assert!(learned("10.1.0.0/16"), "and v1's space, which v0's gateway learns over the VNet-to-VNet connection");
    let nic = live.network.nic(&w(Kind::NetworkInterface, "nic0")).unwrap();
    assert!(nic.nsg.is_some() && nic.vm.is_some());
}
