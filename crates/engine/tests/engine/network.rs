//! Rules of the other resources: VNets, subnets, NICs and their addresses, NSGs, route tables,
//! public IPs, VMs, resource groups.

use vnetlab_engine::*;
use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    Kind, Location, PeeringState, ResourceId, RouteNextHopType, SecurityRuleAccess, SecurityRuleDirection,
    SecurityRuleProtocol, Tags, ViewExt,
};

use crate::support::*;

fn rule(priority: u32, direction: SecurityRuleDirection) -> SecurityRuleSpec {
    SecurityRuleSpec {
        description: None,
        protocol: SecurityRuleProtocol::Tcp,
        source_port_range: Some(PortRange::Any),
        source_port_ranges: vec![],
        destination_port_range: Some("22".parse().unwrap()),
        destination_port_ranges: vec![],
        source_address_prefix: Some(AddressMatch::Any),
        source_address_prefixes: vec![],
        destination_address_prefix: Some("VirtualNetwork".parse().unwrap()),
        destination_address_prefixes: vec![],
        access: SecurityRuleAccess::Allow,
        priority,
        direction,
    }
}

fn nsg(lab: &mut Lab, name: &str) -> ResourceId {
    let id = lab.id(Kind::NetworkSecurityGroup, name);
    lab.ok(Operation::NetworkSecurityGroupPut {
        id: id.clone(),
        spec: NetworkSecurityGroupSpec {
            location: westus(),
            tags: Default::default(),
            flush_connection: false,
            security_rules: None,
        },
    });
    id
}

#[test]
fn vnet_address_space_rules() {
    let mut lab = Lab::new();
    let id = lab.vnet_id("v");
    let e = lab.err(Operation::VirtualNetworkPut {
        id: id.clone(),
        spec: VirtualNetworkSpec::new(westus(), vec![p("10.0.0.0/16"), p("10.0.1.0/24")]),
    });
    assert_error(
        &e,
        "VnetAddressPrefixesOverlap",
        400,
        &format!(
            "Address prefixes 10.0.0.0/16 and 10.0.1.0/24 of virtual network {id} overlap. The prefixes of one address space must not overlap each other."
        ),
    );
    let e = lab.err(Operation::VirtualNetworkPut { id: id.clone(), spec: VirtualNetworkSpec::new(westus(), vec![]) });
    assert_error(
        &e,
        "InvalidAddressSpace",
        400,
        &format!(
            "AddressSpace of the virtual network {id} does not have any address prefixes in addressPrefixes array. AddressSpace and prefixes must be specified within properties object."
        ),
    );
    lab.vnet("v", &["10.0.0.0/16"]);
    let e = lab.err(Operation::VirtualNetworkPut {
        id,
        spec: VirtualNetworkSpec::new(Location::parse("eastus").unwrap(), vec![p("10.0.0.0/16")]),
    });
    assert_error(
        &e,
        "InvalidResourceLocation",
        400,
        "The resource 'v' already exists in location 'westus' in resource group 'rg'. A resource with the same name cannot be created in location 'eastus'. Please select a new resource name.",
    );
}

#[test]
fn subnet_rules() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    lab.subnet(&v, "a", "10.0.1.0/24");
    let put = |name: &str, prefix: &str| Operation::SubnetPut {
        id: v.child(Kind::Subnet, name).unwrap(),
        spec: SubnetSpec::with_prefix(p(prefix)),
    };
    assert_error(
        &lab.err(put("b", "10.1.0.0/24")),
        "NetcfgSubnetRangeOutsideVnet",
        400,
        "Subnet 'b' is not valid because its IP address range is outside the IP address range of virtual network 'v'.",
    );
    assert_error(
        &lab.err(put("b", "10.0.1.128/25")),
        "NetcfgSubnetRangesOverlap",
        400,
        "Subnet 'b' is not valid because its IP address range overlaps with that of an existing subnet in virtual network 'v'.",
    );
    assert_error(
        &lab.err(put("b", "10.0.2.0/30")),
        "NetcfgInvalidSubnet",
        400,
        "Subnet 'b' is not valid in virtual network 'v'.",
    );
    lab.ok(put("b", "10.0.2.0/29"));
    let sid = v.child(Kind::Subnet, "c").unwrap();
    assert_error(
        &lab.err(Operation::SubnetPut { id: sid.clone(), spec: SubnetSpec::default() }),
        "AddressPrefixStringCannotBeNullOrEmpty",
        400,
        &format!("Address prefix string for resource {sid} cannot be null or empty."),
    );
    // A subnet of a missing VNet: ARM's not-found for the parent.
    let ghost = lab.vnet_id("ghost").child(Kind::Subnet, "s").unwrap();
    assert_eq!(
        lab.err(Operation::SubnetPut { id: ghost, spec: SubnetSpec::with_prefix(p("10.0.0.0/24")) }).status,
        404
    );
    // A VNet PUT that carries subnets replaces the set.
    let mut spec = VirtualNetworkSpec::new(westus(), vec![p("10.0.0.0/16")]);
    spec.subnets = Some(vec![
        ("a".into(), SubnetSpec::with_prefix(p("10.0.1.0/24"))),
        ("d".into(), SubnetSpec::with_prefix(p("10.0.4.0/24"))),
    ]);
    lab.ok(Operation::VirtualNetworkPut { id: v.clone(), spec });
    let names: Vec<String> = lab.state.subnets_of(&v).iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["a", "d"]);
}

#[test]
fn a_subnet_in_use_keeps_its_range() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let s = lab.subnet(&v, "apps", "10.0.1.0/24");
    lab.nic("n", &s, None).unwrap();
    let e = lab.err(Operation::SubnetPut { id: s, spec: SubnetSpec::with_prefix(p("10.0.1.0/25")) });
    assert_error(&e, "InUseSubnetCannotBeUpdated", 400, "Subnet apps is in use and cannot be updated.");
}

#[test]
fn nic_addresses_avoid_the_five_azure_reserves() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let s = lab.subnet(&v, "small", "10.0.0.0/29");
    // A /29 has eight addresses; Azure reserves .0-.3 and .7, leaving .4, .5 and .6.
    let mut ips = Vec::new();
    for i in 0..3 {
        let nic = lab.nic(&format!("n{i}"), &s, None).unwrap();
        ips.push(lab.nic_ip(&nic));
    }
    assert_eq!(ips, ["10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    let e = lab.nic("n3", &s, None).unwrap_err();
    assert_error(
        &e,
        "SubnetIsFull",
        400,
        "Subnet small with address prefix 10.0.0.0/29 does not have enough capacity for 1 IP addresses.",
    );
    // Freed addresses are reused.
    lab.ok(Operation::NetworkInterfaceDelete { id: lab.id(Kind::NetworkInterface, "n1") });
    let nic = lab.nic("n4", &s, None).unwrap();
    assert_eq!(lab.nic_ip(&nic), "10.0.0.5");
    lab.sound();
}

#[test]
fn static_addresses_are_checked() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.30.0.0/16"]);
    let s = lab.subnet(&v, "s", "10.30.20.0/27");
    let e = lab.nic("a", &s, Some("10.30.21.10")).unwrap_err();
    assert_error(
        &e,
        "PrivateIPAddressNotInSubnet",
        400,
        "Private static IP address 10.30.21.10 does not belong to the range of subnet prefix 10.30.20.0/27.",
    );
    for reserved in ["10.30.20.0", "10.30.20.1", "10.30.20.3", "10.30.20.31"] {
        let e = lab.nic("a", &s, Some(reserved)).unwrap_err();
        assert_error(
            &e,
            "PrivateIPAddressInReservedRange",
            400,
            &format!(
                "Private static IP address {reserved} falls within reserved IP range of subnet prefix 10.30.20.0/27."
            ),
        );
    }
    let first = lab.nic("first", &s, Some("10.30.20.10")).unwrap();
    let e = lab.nic("second", &s, Some("10.30.20.10")).unwrap_err();
    let second = lab.id(Kind::NetworkInterface, "second");
    assert_error(
        &e,
        "PrivateIPAddressIsAllocated",
        400,
        &format!(
            "IP configuration {second}/ipConfigurations/ipconfig1 is using the private IP address 10.30.20.10 which is already allocated to resource {first}/ipConfigurations/ipconfig1."
        ),
    );
    // Re-applying the same NIC keeps its address (idempotent).
    assert!(lab.nic("first", &s, Some("10.30.20.10")).is_ok());
    // Dynamic allocation skips a static address.
    let dynamic = lab.nic("dyn", &s, None).unwrap();
    assert_eq!(lab.nic_ip(&dynamic), "10.30.20.4");
    lab.sound();
}

#[test]
fn nic_references_must_exist_in_the_same_region() {
    let mut lab = Lab::new();
    let east = lab.vnet_in("east", "eastus", &["10.0.0.0/16"]);
    let s = lab.subnet(&east, "s", "10.0.0.0/24");
    let e = lab.nic("n", &s, None).unwrap_err();
    let nic = lab.id(Kind::NetworkInterface, "n");
    assert_error(
        &e,
        "InvalidResourceReference",
        400,
        &format!(
            "Resource {s} referenced by resource {nic} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    );
}

#[test]
fn nsg_rules_are_validated() {
    let mut lab = Lab::new();
    let n = nsg(&mut lab, "web-nsg");
    let put = |name: &str, spec: SecurityRuleSpec| Operation::SecurityRulePut {
        id: n.child(Kind::SecurityRule, name).unwrap(),
        spec,
    };
    assert_error(
        &lab.err(put("r", rule(0, SecurityRuleDirection::Inbound))),
        "SecurityRuleInvalidPriority",
        400,
        "Security rule has invalid Priority. Value provided: 0 Allowed range 100-4096.",
    );
    assert_eq!(lab.err(put("r", rule(4097, SecurityRuleDirection::Inbound))).code, "SecurityRuleInvalidPriority");
    lab.ok(put("allow-ssh", rule(100, SecurityRuleDirection::Inbound)));
    assert_error(
        &lab.err(put("other", rule(100, SecurityRuleDirection::Inbound))),
        "SecurityRuleConflict",
        400,
        "Security rule allow-ssh conflicts with rule other. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
    );
    // Same priority in the other direction is fine.
    lab.ok(put("out", rule(100, SecurityRuleDirection::Outbound)));
    let mut tagged = rule(200, SecurityRuleDirection::Inbound);
    tagged.source_address_prefix = None;
    tagged.source_address_prefixes = vec!["VirtualNetwork".parse().unwrap()];
    let rid = n.child(Kind::SecurityRule, "tagged").unwrap();
    assert_error(
        &lab.err(put("tagged", tagged)),
        "SecurityRuleParameterContainsUnsupportedValue",
        400,
        &format!(
            "Security rule parameter SourceAddressPrefixes for rule with Id {rid} cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. Unsupported value used: VirtualNetwork."
        ),
    );
    let mut mixed = rule(300, SecurityRuleDirection::Inbound);
    mixed.source_address_prefix = Some("10.0.0.0/8".parse().unwrap());
    mixed.destination_address_prefix = Some("fd00::/8".parse().unwrap());
    assert_eq!(lab.err(put("mixed", mixed)).code, "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies");
    // The port and address parsers report Azure's codes.
    assert_eq!(input::parse_port_range("636, 389").unwrap_err().code, "SecurityRuleInvalidPortRange");
    assert_error(
        &input::parse_address_match("50.206.209.68/27", &rid).unwrap_err(),
        "SecurityRuleInvalidAddressPrefix",
        400,
        &format!("Security rule {rid} has invalid Address prefix. Value provided: 50.206.209.68/27"),
    );
}

#[test]
fn nsgs_and_route_tables_in_use_cannot_be_deleted() {
    let mut lab = Lab::new();
    let n = nsg(&mut lab, "nsg");
    let rt = lab.id(Kind::RouteTable, "rt");
    lab.ok(Operation::RouteTablePut {
        id: rt.clone(),
        spec: RouteTableSpec {
            location: westus(),
            tags: Default::default(),
            disable_bgp_route_propagation: false,
            routes: None,
        },
    });
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let s = v.child(Kind::Subnet, "s").unwrap();
    lab.ok(Operation::SubnetPut {
        id: s.clone(),
        spec: SubnetSpec {
            network_security_group: Some(n.clone()),
            route_table: Some(rt.clone()),
            ..SubnetSpec::with_prefix(p("10.0.0.0/24"))
        },
    });
    assert_error(
        &lab.err(Operation::NetworkSecurityGroupDelete { id: n.clone() }),
        "InUseNetworkSecurityGroupCannotBeDeleted",
        400,
        &format!(
            "Network security group {n} cannot be deleted because it is in use by the following resources: {s}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg."
        ),
    );
    assert_error(
        &lab.err(Operation::RouteTableDelete { id: rt.clone() }),
        "InUseRouteTableCannotBeDeleted",
        400,
        "Route table rt is in use and cannot be deleted.",
    );
    lab.ok(Operation::SubnetPut { id: s, spec: SubnetSpec::with_prefix(p("10.0.0.0/24")) });
    lab.ok(Operation::NetworkSecurityGroupDelete { id: n });
    lab.ok(Operation::RouteTableDelete { id: rt });
}

#[test]
fn an_nsg_cannot_go_on_gateway_subnet() {
    let mut lab = Lab::new();
    let n = nsg(&mut lab, "gw-nsg");
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let e = lab.err(Operation::SubnetPut {
        id: v.child(Kind::Subnet, "GatewaySubnet").unwrap(),
        spec: SubnetSpec { network_security_group: Some(n), ..SubnetSpec::with_prefix(p("10.0.255.0/27")) },
    });
    assert_eq!(e.code, "NetworkSecurityGroupCannotBeAttachedToGatewaySubnet");
}

#[test]
fn routes_are_validated() {
    let mut lab = Lab::new();
    let rt = lab.id(Kind::RouteTable, "rt");
    lab.ok(Operation::RouteTablePut {
        id: rt.clone(),
        spec: RouteTableSpec {
            location: westus(),
            tags: Default::default(),
            disable_bgp_route_propagation: true,
            routes: None,
        },
    });
    let route = |hop: RouteNextHopType, ip: Option<&str>| RouteSpec {
        address_prefix: "10.0.0.0/8".parse().unwrap(),
        next_hop_type: hop,
        next_hop_ip_address: ip.map(|s| s.parse().unwrap()),
        next_hop_ip_addresses: vec![],
    };
    let put = |spec: RouteSpec| Operation::RoutePut { id: rt.child(Kind::Route, "r").unwrap(), spec };
    let e = lab.err(put(route(RouteNextHopType::VirtualAppliance, None)));
    assert_eq!(e.code, "InvalidNextHopIpAddress");
    for bad in ["127.0.0.1", "224.0.0.1", "169.254.1.1", "168.63.129.16"] {
        assert_eq!(
            lab.err(put(route(RouteNextHopType::VirtualAppliance, Some(bad)))).code,
            "InvalidNextHopIpAddress",
            "{bad}"
        );
    }
    assert_eq!(lab.err(put(route(RouteNextHopType::VnetLocal, Some("10.0.1.4")))).code, "InvalidNextHopIpAddress");
    lab.ok(put(route(RouteNextHopType::VirtualAppliance, Some("10.0.1.4"))));
    for hop in [
        RouteNextHopType::VirtualNetworkGateway,
        RouteNextHopType::VnetLocal,
        RouteNextHopType::Internet,
        RouteNextHopType::None,
    ] {
        lab.ok(put(route(hop, None)));
    }
    let dup =
        Operation::RoutePut { id: rt.child(Kind::Route, "dup").unwrap(), spec: route(RouteNextHopType::None, None) };
    assert_eq!(lab.err(dup).code, "RouteConflict");
}

#[test]
fn public_ip_rules() {
    let mut lab = Lab::new();
    let id = lab.id(Kind::PublicIpAddress, "pip");
    let spec = |sku, alloc, zones: Vec<String>| PublicIpAddressSpec {
        location: westus(),
        tags: Default::default(),
        sku,
        tier: None,
        allocation_method: alloc,
        version: vnetlab_model::IpVersion::IPv4,
        zones,
        idle_timeout_in_minutes: None,
    };
    let e = lab.err(Operation::PublicIpAddressPut {
        id: id.clone(),
        spec: spec(None, Some(vnetlab_model::AllocationMethod::Dynamic), vec![]),
    });
    assert_error(
        &e,
        "StandardSkuPublicIPAddressesMustBeStatic",
        400,
        &format!("Standard sku publicIp {id} must have AllocationMethod set to Static."),
    );
    let e = lab.err(Operation::PublicIpAddressPut {
        id: id.clone(),
        spec: spec(Some(vnetlab_model::PublicIpSkuName::Basic), None, vec!["1".into()]),
    });
    assert_eq!(e.code, "ZonesNotAllowedInBasicSkuResource");
    lab.ok(Operation::PublicIpAddressPut { id: id.clone(), spec: spec(None, None, vec![]) });
    let other = lab.public_ip("other");
    let addr = |lab: &Lab, id: &ResourceId| {
        lab.state
            .resource(id)
            .and_then(|r| r.as_public_ip_address())
            .unwrap()
            .properties
            .ip_address
            .unwrap()
            .to_string()
    };
    assert_eq!(addr(&lab, &id), "198.18.0.1");
    assert_eq!(addr(&lab, &other), "198.18.0.2");
}

#[test]
fn vms_own_their_nics() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let s = lab.subnet(&v, "s", "10.0.0.0/24");
    let nic = lab.nic("vm1-nic", &s, None).unwrap();
    let vm = |lab: &Lab, name: &str, nics: Vec<(ResourceId, Option<bool>)>| Operation::VirtualMachinePut {
        id: lab.id(Kind::VirtualMachine, name),
        spec: VirtualMachineSpec {
            location: westus(),
            tags: Default::default(),
            vm_size: "Standard_B1s".into(),
            network_interfaces: nics,
            storage_profile: serde_json::Value::Null,
            os_profile: serde_json::json!({"computerName": "vm1", "adminUsername": "azureuser", "adminPassword": "secret"}),
        },
    };
    let op = vm(&lab, "vm1", vec![(nic.clone(), None)]);
    lab.ok(op);
    let stored = lab.state.resource(&lab.id(Kind::VirtualMachine, "vm1")).and_then(|r| r.as_virtual_machine()).unwrap();
    assert!(stored.properties.os_profile.get("adminPassword").is_none(), "secrets are not stored");
    let op = vm(&lab, "vm2", vec![(nic.clone(), None)]);
    let e = lab.err(op);
    assert_eq!(e.code, "NicInUse");
    let vm1 = lab.id(Kind::VirtualMachine, "vm1");
    assert_error(
        &lab.err(Operation::NetworkInterfaceDelete { id: nic.clone() }),
        "NicInUse",
        400,
        &format!(
            "Network Interface {nic} is used by existing resource {vm1}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
        ),
    );
    let op = vm(&lab, "vm3", vec![]);
    assert_eq!(lab.err(op).code, "InvalidParameter");
    lab.ok(Operation::VirtualMachineDelete { id: vm1 });
    lab.ok(Operation::NetworkInterfaceDelete { id: nic });
}

#[test]
fn resource_groups_cascade_and_disconnect_peers_outside() {
    let mut lab = Lab::new();
    let other = lab.group("other", "westus");
    let outside = other.top_level(Kind::VirtualNetwork, "outside").unwrap();
    lab.ok(Operation::VirtualNetworkPut {
        id: outside.clone(),
        spec: VirtualNetworkSpec::new(westus(), vec![p("10.9.0.0/16")]),
    });
    let inside = lab.vnet("inside", &["10.1.0.0/16"]);
    let s = lab.subnet(&inside, "s", "10.1.0.0/24");
    lab.nic("nic", &s, None).unwrap();
    nsg(&mut lab, "nsg");
    lab.link(&inside, &outside);
    let back = lab.link(&outside, &inside);
    lab.ok(Operation::ResourceGroupDelete { id: lab.rg_id("rg") });
    assert!(!lab.state.exists(&lab.rg_id("rg")));
    assert_eq!(lab.count(Kind::NetworkInterface), 0);
    assert_eq!(lab.count(Kind::NetworkSecurityGroup), 0);
    assert_eq!(lab.peering(&back).properties.peering_state, PeeringState::Disconnected);
    lab.sound();
}

#[test]
fn a_resource_group_used_from_outside_stays() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.1.0.0/16"]);
    let s = lab.subnet(&v, "s", "10.1.0.0/24");
    let other = lab.group("other", "westus");
    let nic = other.top_level(Kind::NetworkInterface, "foreign").unwrap();
    lab.ok(Operation::NetworkInterfacePut {
        id: nic,
        spec: NetworkInterfaceSpec::new(westus(), vec![NicIpConfigurationSpec::new("ipconfig1", s)]),
    });
    let e = lab.err(Operation::ResourceGroupDelete { id: lab.rg_id("rg") });
    assert_eq!(e.code, "InUseSubnetCannotBeDeleted");
}

#[test]
fn resource_group_and_subscription_rules() {
    let mut lab = Lab::new();
    assert_error(
        &lab.err(Operation::ResourceGroupPut {
            id: lab.rg_id("rg"),
            location: Location::parse("eastus").unwrap(),
            tags: Default::default(),
        }),
        "InvalidResourceGroupLocation",
        409,
        "Invalid resource group location 'eastus'. The Resource group already exists in location 'westus'.",
    );
    let missing = ResourceId::resource_group("00000000-0000-0000-0000-00000000dead", "rg").unwrap();
    assert_error(
        &lab.err(Operation::ResourceGroupPut { id: missing, location: westus(), tags: Default::default() }),
        "SubscriptionNotFound",
        404,
        "The subscription '00000000-0000-0000-0000-00000000dead' could not be found.",
    );
    assert_eq!(
        lab.err(Operation::ResourceGroupPut { id: lab.rg_id("bad."), location: westus(), tags: Default::default() })
            .code,
        "InvalidResourceGroupName"
    );
    assert_eq!(lab.err(Operation::SubscriptionDelete { subscription_id: SUB.into() }).code, "SubscriptionNotEmpty");
    assert_eq!(
        lab.err(Operation::SubscriptionPut {
            subscription_id: "x".into(),
            display_name: "x".into(),
            tenant_id: "nope".into()
        })
        .code,
        "TenantNotFound"
    );
    assert_eq!(
        input::parse_location("Mars Central", Kind::VirtualNetwork).unwrap_err().code,
        "LocationNotAvailableForResourceType"
    );
}

#[test]
fn one_network_watcher_per_subscription_and_region() {
    let mut lab = Lab::new();
    let spec = |location: &str| NetworkWatcherSpec { location: Location::parse(location).unwrap(), tags: Tags::new() };
    let west = lab.id(Kind::NetworkWatcher, "NetworkWatcher_westus");
    assert_eq!(lab.ok(Operation::NetworkWatcherPut { id: west.clone(), spec: spec("westus") }).effect, Effect::Created);
    assert_eq!(lab.ok(Operation::NetworkWatcherPut { id: west.clone(), spec: spec("westus") }).effect, Effect::Updated);
    let other = lab.group("other", "westus");
    let second = other.top_level(Kind::NetworkWatcher, "nw2").unwrap();
    let e = lab.err(Operation::NetworkWatcherPut { id: second.clone(), spec: spec("westus") });
    assert_error(
        &e,
        "NetworkWatcherCountLimitReached",
        400,
        "Cannot create more than 1 network watchers for this subscription in this region.",
    );
    lab.ok(Operation::NetworkWatcherPut { id: second, spec: spec("eastus") });
    assert_eq!(lab.ok(Operation::NetworkWatcherDelete { id: west.clone() }).effect, Effect::Deleted);
    assert_eq!(lab.ok(Operation::NetworkWatcherDelete { id: west }).effect, Effect::Absent);
}

#[test]
fn vnet_encryption_needs_an_enforcement_policy() {
    let mut lab = Lab::new();
    let id = lab.id(Kind::VirtualNetwork, "enc");
    let mut spec = VirtualNetworkSpec::new(westus(), vec![p("10.0.0.0/16")]);
    spec.encryption = Some(vnetlab_model::VirtualNetworkEncryption { enabled: true, enforcement: None });
    let e = lab.err(Operation::VirtualNetworkPut { id: id.clone(), spec: spec.clone() });
    assert_error(
        &e,
        "MustSpecifyBothEncryptionIntentAndEnforcementPolicy",
        400,
        &format!(
            "Cannot encrypt VirtualNetwork {id} unless both encryption intent (Enabled true or false) and enforcement policy (AllowUnencrypted or DropUnencrypted) are specified."
        ),
    );
    spec.encryption = Some(vnetlab_model::VirtualNetworkEncryption {
        enabled: true,
        enforcement: Some(vnetlab_model::EncryptionEnforcement::AllowUnencrypted),
    });
    lab.ok(Operation::VirtualNetworkPut { id, spec });
}
