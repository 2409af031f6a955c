//! The peering rules of shared/reference/peering-rules.md §1, one test (or more) per rule, each
//! checking Azure's code, HTTP status and message.

use vnetlab_engine::*;
use vnetlab_model::{Kind, Location, PeeringState, PeeringSyncLevel, ProvisioningState, ResourceId, View, ViewExt};

use crate::support::*;

fn sales_marketing(lab: &mut Lab) -> (ResourceId, ResourceId) {
    (lab.vnet("SalesVNet", &["10.1.0.0/16"]), lab.vnet("MarketingVNet", &["10.2.0.0/16"]))
}

fn spaces(list: &[&str]) -> Vec<vnetlab_model::Prefix> {
    list.iter().map(|s| p(s)).collect()
}

#[test]
fn rule_1_10_first_link_is_initiated_and_second_connects_both() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let a = lab.link(&sales, &marketing);
    let first = lab.peering(&a);
    assert_eq!(first.properties.peering_state, PeeringState::Initiated);
    assert_eq!(first.properties.peering_sync_level, PeeringSyncLevel::RemoteNotInSync);
    assert_eq!(first.properties.remote_address_space.address_prefixes, spaces(&["10.2.0.0/16"]));
    assert_eq!(first.properties.remote_virtual_network_address_space.address_prefixes, spaces(&["10.2.0.0/16"]));
    assert_eq!(first.properties.local_virtual_network_address_space.address_prefixes, spaces(&["10.1.0.0/16"]));
    let b = lab.link(&marketing, &sales);
    for id in [&a, &b] {
        let l = lab.peering(id);
        assert_eq!(l.properties.peering_state, PeeringState::Connected, "{id}");
        assert_eq!(l.properties.peering_sync_level, PeeringSyncLevel::FullyInSync, "{id}");
    }
    // Both links of a pair share one resource guid (real recording).
    assert_eq!(lab.peering(&a).properties.resource_guid, lab.peering(&b).properties.resource_guid);
    lab.sound();
}

#[test]
fn rule_1_10_flags_need_not_match_and_updates_keep_the_pair_connected() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let a = lab.link(&sales, &marketing);
    let op = lab.peer_op(&marketing, &sales, "back", |s| {
        s.allow_virtual_network_access = false;
        s.allow_forwarded_traffic = true;
    });
    lab.ok(op);
    let op = lab.peer_op(&sales, &marketing, a.name(), |s| s.allow_gateway_transit = true);
    let outcome = lab.ok(op);
    assert_eq!(outcome.effect, Effect::Updated);
    assert!(lab.peering(&a).properties.allow_gateway_transit);
    assert_eq!(lab.peering(&a).properties.peering_state, PeeringState::Connected);
    lab.sound();
}

#[test]
fn rule_1_1_overlapping_address_spaces_are_refused() {
    let mut lab = Lab::new();
    let left = lab.vnet("vnet-left", &["10.0.0.0/16", "172.16.0.0/16"]);
    let right = lab.vnet("vnet-right", &["10.1.0.0/16", "172.16.0.0/16"]);
    let op = lab.peer_op(&left, &right, "left0-right0", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&left, "left0-right0");
    assert_error(
        &e,
        "VnetAddressSpacesOverlap",
        400,
        &format!(
            "Cannot create or update peering {link}. Virtual networks {left} and {right} cannot be peered because their address spaces overlap. Overlapping address prefixes: 172.16.0.0/16, 172.16.0.0/16"
        ),
    );
}

#[test]
fn rule_1_1_containment_counts_as_overlap() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.0.0.0/8"]);
    let b = lab.vnet("b", &["10.5.0.0/16"]);
    let op = lab.peer_op(&a, &b, "a-b", |_| {});
    let e = lab.err(op);
    assert_eq!(e.code, "VnetAddressSpacesOverlap");
    assert!(e.message.ends_with("Overlapping address prefixes: 10.0.0.0/8, 10.5.0.0/16"), "{}", e.message);
}

#[test]
fn rule_1_1_with_subnet_peering_the_check_is_on_the_ranges_holding_the_subnets() {
    let mut lab = Lab::new();
    let left = lab.vnet("left", &["10.1.0.0/16"]);
    let right = lab.vnet("right", &["10.1.0.0/16"]);
    lab.subnet(&left, "subnet1", "10.1.1.0/24");
    lab.subnet(&right, "subnet2", "10.1.2.0/24");
    let op = lab.peer_op(&left, &right, "l-r", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["subnet1".into()];
        s.remote_subnet_names = vec!["subnet2".into()];
    });
    let e = lab.err(op);
    // As observed: the selected subnets' prefixes are listed, local first.
    assert_eq!(e.code, "VnetAddressSpacesOverlap");
    assert!(e.message.ends_with("Overlapping address prefixes: 10.1.1.0/24, 10.1.2.0/24"), "{}", e.message);
}

#[test]
fn rule_1_2_overlap_with_a_vnet_already_peered_with_the_remote() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let old = lab.vnet("old-spoke", &["10.1.6.0/24"]);
    let new = lab.vnet("new-spoke", &["10.1.0.0/16"]);
    lab.link(&hub, &old);
    let op = lab.peer_op(&new, &hub, "new-to-hub", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&new, "new-to-hub");
    assert_error(
        &e,
        "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet",
        400,
        &format!(
            "Cannot create or update peering {link}. Virtual networks {new} and {hub} cannot be peered because address space of the first virtual network overlaps with address space of virtual network {old} already peered with the second virtual network. Overlapping address prefixes: 10.1.6.0/24. For more information please refer to https://aka.ms/VnetPeeringInfo"
        ),
    );
}

#[test]
fn rule_1_2_a_link_to_a_deleted_vnet_still_blocks() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let ws = lab.vnet("workspace", &["10.1.6.0/24"]);
    lab.link(&hub, &ws);
    lab.link(&ws, &hub);
    lab.ok(Operation::VirtualNetworkDelete { id: ws.clone() });
    let again = lab.vnet("workspace2", &["10.1.6.0/24"]);
    let op = lab.peer_op(&again, &hub, "ws2-to-hub", |_| {});
    assert_eq!(lab.err(op).code, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet");
}

#[test]
fn rule_1_2_mirrored_the_remote_must_not_overlap_the_local_vnets_peers() {
    let mut lab = Lab::new();
    let b = lab.vnet("b", &["10.0.0.0/16"]);
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let c = lab.vnet("c", &["10.1.0.0/16"]);
    // A and C both reach B one way; then B links to C, then B to A: B would route both.
    lab.link(&a, &b);
    lab.link(&c, &b);
    lab.link(&b, &c);
    let op = lab.peer_op(&b, &a, "b-to-a", |_| {});
    let e = lab.err(op);
    assert_eq!(e.code, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet");
    assert!(e.message.contains("address space of the second virtual network overlaps"), "{}", e.message);
    assert!(e.message.contains(&format!("virtual network {c} already peered with the first")), "{}", e.message);
    lab.sound();
}

#[test]
fn rule_1_3_a_vnet_cannot_peer_with_itself() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.0.0.0/16"]);
    let op = lab.peer_op(&v, &v, "self", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&v, "self");
    assert_error(
        &e,
        "VnetAddressSpacesOverlap",
        400,
        &format!(
            "Cannot create or update peering {link}. Virtual networks {v} and {v} cannot be peered because their address spaces overlap. Overlapping address prefixes: 10.0.0.0/16, 10.0.0.0/16"
        ),
    );
}

#[test]
fn rule_1_4_only_one_link_to_a_remote() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let first = lab.link(&sales, &marketing);
    let op = lab.peer_op(&sales, &marketing, "second", |_| {});
    let e = lab.err(op);
    let second = lab.link_id(&sales, "second");
    assert_error(
        &e,
        "AnotherPeeringAlreadyReferencesRemoteVnet",
        400,
        &format!(
            "Peering {first} already references remote virtual network {marketing}. Cannot add another peering {second} referencing the same remote virtual network."
        ),
    );
    // The same name is an update, idempotent.
    let op = lab.peer_op(&sales, &marketing, first.name(), |_| {});
    assert!(lab.ok(op).changes.is_empty());
}

#[test]
fn rule_1_4_the_remote_may_be_named_in_any_case() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    lab.link(&sales, &marketing);
    let shouting = ResourceId::parse(&marketing.to_string().to_uppercase()).unwrap();
    let op = lab.peer_op(&sales, &shouting, "again", |_| {});
    assert_eq!(lab.err(op).code, "AnotherPeeringAlreadyReferencesRemoteVnet");
}

#[test]
fn rule_1_5_the_remote_of_a_link_cannot_change() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let other = lab.vnet("Other", &["10.3.0.0/16"]);
    let link = lab.link(&sales, &marketing);
    let op = lab.peer_op(&sales, &other, link.name(), |_| {});
    let e = lab.err(op);
    assert_error(
        &e,
        "ChangingRemoteVirtualNetworkNotAllowed",
        400,
        &format!(
            "Cannot change the remote virtual network of peering {link} from {marketing} to {other}. Delete the peering and create it again to peer with another virtual network."
        ),
    );
}

#[test]
fn rule_1_6_remote_vnet_must_exist() {
    let mut lab = Lab::new();
    let sales = lab.vnet("SalesVNet", &["10.1.0.0/16"]);
    let ghost = lab.vnet_id("Ghost");
    let op = lab.peer_op(&sales, &ghost, "to-ghost", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&sales, "to-ghost");
    assert_error(
        &e,
        "InvalidGlobalResourceReference",
        400,
        &format!(
            "Resource {ghost} referenced by resource {link} was not found. Please make sure that the referenced resource exists."
        ),
    );
}

#[test]
fn rule_1_6_local_vnet_must_exist() {
    let mut lab = Lab::new();
    let sales = lab.vnet("SalesVNet", &["10.1.0.0/16"]);
    let ghost = lab.vnet_id("Ghost");
    let op = lab.peer_op(&ghost, &sales, "from-ghost", |_| {});
    let e = lab.err(op);
    assert_error(
        &e,
        "ResourceNotFound",
        404,
        "The Resource 'Microsoft.Network/virtualNetworks/Ghost' under resource group 'rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    );
    let op = Operation::PeeringPut {
        id: ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Network/virtualNetworks/v/virtualNetworkPeerings/p")).unwrap(),
        spec: PeeringSpec::new(sales),
        sync_remote_address_space: false,
    };
    assert_error(&lab.err(op), "ResourceGroupNotFound", 404, "Resource group 'nope' could not be found.");
}

#[test]
fn rule_1_7_peering_across_subscriptions_and_resource_groups() {
    let mut lab = Lab::new();
    let other_sub = "00000000-0000-0000-0000-000000000002";
    lab.ok(Operation::SubscriptionPut {
        subscription_id: other_sub.into(),
        display_name: "spoke".into(),
        tenant_id: TENANT.into(),
    });
    let rg2 = ResourceId::resource_group(other_sub, "spoke-rg").unwrap();
    lab.ok(Operation::ResourceGroupPut { id: rg2.clone(), location: westus(), tags: Default::default() });
    let spoke = rg2.top_level(Kind::VirtualNetwork, "spoke").unwrap();
    lab.ok(Operation::VirtualNetworkPut {
        id: spoke.clone(),
        spec: VirtualNetworkSpec::new(westus(), vec![p("10.9.0.0/16")]),
    });
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let a = lab.link(&hub, &spoke);
    lab.link(&spoke, &hub);
    assert_eq!(lab.peering(&a).properties.peering_state, PeeringState::Connected);
    lab.sound();
}

fn deferred() -> Lab {
    Lab::with_settings(Settings { provisioning: Provisioning::Deferred, ..Settings::default() })
}

fn pending_operation(lab: &Lab, id: &ResourceId) -> uuid::Uuid {
    lab.state.get(id).and_then(|s| s.meta.pending.clone()).map(|p| p.operation_id).expect("pending operation")
}

#[test]
fn rule_1_8_a_vnet_being_updated_cannot_be_peered() {
    let mut lab = deferred();
    let (sales, marketing) = sales_marketing(&mut lab);
    for v in [&sales, &marketing] {
        let op = pending_operation(&lab, v);
        lab.ok(Operation::CompleteOperation { operation_id: op });
    }
    let subnet = marketing.child(Kind::Subnet, "default").unwrap();
    lab.ok(Operation::SubnetPut { id: subnet, spec: SubnetSpec::with_prefix(p("10.2.0.0/24")) });
    assert_eq!(lab.state.vnet(&marketing).unwrap().properties.provisioning_state, ProvisioningState::Updating);
    let op = lab.peer_op(&sales, &marketing, "s-m", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&sales, "s-m");
    assert_error(
        &e,
        "ReferencedResourceNotProvisioned",
        400,
        &format!(
            "Cannot proceed with operation because resource {marketing} used by resource {link} is not in Succeeded state. Resource is in Updating state and the last operation that updated/is updating the resource is PutSubnetOperation."
        ),
    );
    let op = pending_operation(&lab, &marketing);
    lab.ok(Operation::CompleteOperation { operation_id: op });
    let op = lab.peer_op(&sales, &marketing, "s-m", |_| {});
    lab.ok(op);
}

#[test]
fn rule_1_9_another_operation_in_progress() {
    let mut lab = deferred();
    let (sales, marketing) = sales_marketing(&mut lab);
    let op_id = pending_operation(&lab, &sales);
    let _ = marketing;
    let subnet = sales.child(Kind::Subnet, "default").unwrap();
    let e = lab.err(Operation::SubnetPut { id: subnet, spec: SubnetSpec::with_prefix(p("10.1.0.0/24")) });
    assert_error(
        &e,
        "AnotherOperationInProgress",
        409,
        &format!(
            "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Network/locations/westus/operations/{op_id}?api-version=2024-05-01."
        ),
    );
}

#[test]
fn rule_1_11_deleting_one_side_disconnects_the_other() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let a = lab.link(&sales, &marketing);
    let b = lab.link(&marketing, &sales);
    let etag_before = lab.state.get(&sales).unwrap().etag.clone();
    let outcome = lab.ok(Operation::PeeringDelete { id: a.clone() });
    assert_eq!(outcome.effect, Effect::Deleted);
    // The VNet changed (a link left it), so its etag did too.
    assert_ne!(lab.state.get(&sales).unwrap().etag, etag_before);
    assert!(lab.state.peering(&a).is_none());
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Disconnected);
    // Deleting what is not there is not an error (HTTP 204).
    assert_eq!(lab.ok(Operation::PeeringDelete { id: a }).effect, Effect::Absent);
    lab.sound();
}

#[test]
fn rule_1_11_deleting_a_vnet_disconnects_its_peers_and_recreating_it_does_not_reconnect() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    lab.link(&sales, &marketing);
    let b = lab.link(&marketing, &sales);
    lab.ok(Operation::VirtualNetworkDelete { id: sales.clone() });
    assert_eq!(lab.count(Kind::VirtualNetworkPeering), 1);
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Disconnected);
    lab.vnet("SalesVNet", &["10.1.0.0/16"]);
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Disconnected);
    lab.sound();
}

#[test]
fn rule_1_12_a_disconnected_remote_blocks_and_updating_it_recovers() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let a = lab.link(&sales, &marketing);
    let b = lab.link(&marketing, &sales);
    lab.ok(Operation::PeeringDelete { id: a.clone() });
    let op = lab.peer_op(&sales, &marketing, a.name(), |_| {});
    let e = lab.err(op);
    assert_error(
        &e,
        "RemotePeeringIsDisconnected",
        400,
        &format!(
            "Cannot create or update peering {a} because remote peering {b} referencing parent virtual network {sales} is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted and re-created."
        ),
    );
    // Update the disconnected side first: it goes back to Initiated, then the pair connects.
    let op = lab.peer_op(&marketing, &sales, b.name(), |_| {});
    lab.ok(op);
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Initiated);
    let op = lab.peer_op(&sales, &marketing, a.name(), |_| {});
    lab.ok(op);
    assert_eq!(lab.peering(&a).properties.peering_state, PeeringState::Connected);
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Connected);
    lab.sound();
}

#[test]
fn rule_1_12_deleting_both_sides_and_recreating_also_recovers() {
    let mut lab = Lab::new();
    let (sales, marketing) = sales_marketing(&mut lab);
    let a = lab.link(&sales, &marketing);
    let b = lab.link(&marketing, &sales);
    lab.ok(Operation::PeeringDelete { id: a });
    lab.ok(Operation::PeeringDelete { id: b });
    lab.link(&sales, &marketing);
    let b = lab.link(&marketing, &sales);
    assert_eq!(lab.peering(&b).properties.peering_state, PeeringState::Connected);
}

fn resize(lab: &mut Lab, vnet: &ResourceId, prefixes: &[&str]) -> Result<Outcome, vnetlab_model::AzureError> {
    let location = lab.state.vnet(vnet).unwrap().location;
    lab.try_apply(Operation::VirtualNetworkPut {
        id: vnet.clone(),
        spec: VirtualNetworkSpec::new(location, prefixes.iter().map(|s| p(s)).collect()),
    })
}

#[test]
fn rule_1_13_resizing_a_peered_vnet_puts_the_pair_out_of_sync_until_synced() {
    let mut lab = Lab::new();
    let (vnet1, vnet2) = (lab.vnet("VNet1", &["10.1.0.0/16"]), lab.vnet("VNet2", &["10.2.0.0/16"]));
    let one_two = lab.link(&vnet1, &vnet2);
    let two_one = lab.link(&vnet2, &vnet1);
    resize(&mut lab, &vnet1, &["10.1.0.0/16", "10.11.0.0/16"]).unwrap();
    assert_eq!(lab.peering(&two_one).properties.peering_sync_level, PeeringSyncLevel::LocalNotInSync);
    assert_eq!(lab.peering(&one_two).properties.peering_sync_level, PeeringSyncLevel::RemoteNotInSync);
    // The link still peers the old space; it reports the new one as the remote's current space.
    assert_eq!(lab.peering(&two_one).properties.remote_address_space.address_prefixes, spaces(&["10.1.0.0/16"]));
    assert_eq!(
        lab.peering(&two_one).properties.remote_virtual_network_address_space.address_prefixes,
        spaces(&["10.1.0.0/16", "10.11.0.0/16"])
    );
    assert_eq!(
        lab.peering(&one_two).properties.local_virtual_network_address_space.address_prefixes,
        spaces(&["10.1.0.0/16", "10.11.0.0/16"])
    );
    // Syncing the side that is out of date on the other end changes nothing.
    let mut op = lab.peer_op(&vnet1, &vnet2, one_two.name(), |_| {});
    if let Operation::PeeringPut { sync_remote_address_space, .. } = &mut op {
        *sync_remote_address_space = true;
    }
    lab.ok(op);
    assert_eq!(lab.peering(&one_two).properties.peering_sync_level, PeeringSyncLevel::RemoteNotInSync);
    // Syncing VNet2 → VNet1 brings both in sync.
    let mut op = lab.peer_op(&vnet2, &vnet1, two_one.name(), |_| {});
    if let Operation::PeeringPut { sync_remote_address_space, .. } = &mut op {
        *sync_remote_address_space = true;
    }
    lab.ok(op);
    for id in [&one_two, &two_one] {
        assert_eq!(lab.peering(id).properties.peering_sync_level, PeeringSyncLevel::FullyInSync);
    }
    assert_eq!(
        lab.peering(&two_one).properties.remote_address_space.address_prefixes,
        spaces(&["10.1.0.0/16", "10.11.0.0/16"])
    );
    lab.sound();
}

#[test]
fn rule_1_13_both_sides_resized_is_local_and_remote_not_in_sync() {
    let mut lab = Lab::new();
    let (vnet1, vnet2) = (lab.vnet("VNet1", &["10.1.0.0/16"]), lab.vnet("VNet2", &["10.2.0.0/16"]));
    let one_two = lab.link(&vnet1, &vnet2);
    let two_one = lab.link(&vnet2, &vnet1);
    resize(&mut lab, &vnet1, &["10.1.0.0/16", "10.11.0.0/16"]).unwrap();
    resize(&mut lab, &vnet2, &["10.2.0.0/16", "10.12.0.0/16"]).unwrap();
    for id in [&one_two, &two_one] {
        assert_eq!(lab.peering(id).properties.peering_sync_level, PeeringSyncLevel::LocalAndRemoteNotInSync);
    }
}

#[test]
fn rule_1_13_an_old_api_version_cannot_resize_a_peered_vnet() {
    let mut lab = Lab::new();
    let (vnet1, vnet2) = (lab.vnet("VNet1", &["10.1.0.0/16"]), lab.vnet("VNet2", &["10.2.0.0/16"]));
    lab.link(&vnet1, &vnet2);
    lab.api_version = Some("2020-06-01".into());
    let e = resize(&mut lab, &vnet1, &["10.1.0.0/16", "10.11.0.0/16"]).unwrap_err();
    assert_error(
        &e,
        "MinimumApiVersionNotSpecifiedForAddressSpaceUpdateInPeeredVnet",
        400,
        "Address space update operation on virtual network can not be performed as the minimum required API version for working with Vnet Peering is 2021-01-01, and the provided client API version is 2020-06-01.",
    );
    lab.api_version = Some("2023-11-01".into());
    resize(&mut lab, &vnet1, &["10.1.0.0/16", "10.11.0.0/16"]).unwrap();
}

#[test]
fn rule_1_13_a_resize_may_not_overlap_a_peer() {
    let mut lab = Lab::new();
    let (vnet1, vnet2) = (lab.vnet("VNet1", &["10.1.0.0/16"]), lab.vnet("VNet2", &["10.2.0.0/16"]));
    let link = lab.link(&vnet1, &vnet2);
    let e = resize(&mut lab, &vnet1, &["10.1.0.0/16", "10.2.128.0/17"]).unwrap_err();
    assert_error(
        &e,
        "VnetAddressSpacesOverlap",
        400,
        &format!(
            "Cannot create or update peering {link}. Virtual networks {vnet1} and {vnet2} cannot be peered because their address spaces overlap. Overlapping address prefixes: 10.2.128.0/17, 10.2.0.0/16"
        ),
    );
}

#[test]
fn rule_1_14_a_range_with_subnets_cannot_be_removed() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.1.0.0/16", "10.11.0.0/16"]);
    lab.subnet(&v, "apps", "10.11.1.0/24");
    let e = resize(&mut lab, &v, &["10.1.0.0/16"]).unwrap_err();
    assert_error(
        &e,
        "NetcfgSubnetRangeOutsideVnet",
        400,
        "Subnet 'apps' is not valid because its IP address range is outside the IP address range of virtual network 'v'.",
    );
    // Shrinking a range is fine while it still holds every subnet.
    resize(&mut lab, &v, &["10.1.0.0/16", "10.11.0.0/20"]).unwrap();
    let e = resize(&mut lab, &v, &[]).unwrap_err();
    assert_eq!(e.code, "InvalidAddressSpace");
}

#[test]
fn rule_1_14_a_subnet_with_a_nic_cannot_be_deleted() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.1.0.0/16"]);
    let s = lab.subnet(&v, "apps", "10.1.1.0/24");
    let nic = lab.nic("vm1-nic", &s, None).unwrap();
    let e = lab.err(Operation::SubnetDelete { id: s.clone() });
    assert_error(
        &e,
        "InUseSubnetCannotBeDeleted",
        400,
        &format!(
            "Subnet apps is in use by {nic}/ipConfigurations/ipconfig1 and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    );
    // The VNet cannot go either (the same error), and nothing changes.
    assert_eq!(lab.err(Operation::VirtualNetworkDelete { id: v }).code, "InUseSubnetCannotBeDeleted");
    lab.ok(Operation::NetworkInterfaceDelete { id: nic });
    lab.ok(Operation::SubnetDelete { id: s });
}

fn hub_with_gateway(lab: &mut Lab) -> (ResourceId, ResourceId) {
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    lab.subnet(&hub, "GatewaySubnet", "10.0.255.0/27");
    let gw = lab.gateway(&hub, "hub-gw");
    (hub, gw)
}

#[test]
fn rule_1_16a_use_remote_gateways_needs_a_gateway_in_the_remote() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    let e = lab.err(op);
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert_error(
        &e,
        "RemoteVnetHasNoGateways",
        400,
        &format!(
            "Peering {link} cannot have UseRemoteGateway flag set to true because remote virtual network {hub} referenced by the peering does not have any gateways."
        ),
    );
}

#[test]
fn rule_1_16a_a_gateway_still_provisioning_counts_as_absent() {
    let mut lab = deferred();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    lab.complete_all();
    lab.subnet(&hub, "GatewaySubnet", "10.0.255.0/27");
    lab.complete_all();
    let pip = lab.public_ip("hub-gw-pip");
    lab.complete_all();
    let gw = lab.id(Kind::VirtualNetworkGateway, "hub-gw");
    let spec = lab.gateway_spec(&hub, Some(pip), vnetlab_model::GatewayType::Vpn);
    lab.ok(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec });
    assert_eq!(lab.state.gateway(&gw).unwrap().properties.provisioning_state, ProvisioningState::Updating);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    assert_eq!(lab.err(op).code, "RemoteVnetHasNoGateways");
    // doNotVerifyRemoteGateways does not get around it (observed).
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| {
        s.use_remote_gateways = true;
        s.do_not_verify_remote_gateways = true;
    });
    assert_eq!(lab.err(op.clone()).code, "RemoteVnetHasNoGateways");
    let complete = pending_operation(&lab, &gw);
    lab.ok(Operation::CompleteOperation { operation_id: complete });
    lab.ok(op);
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert_eq!(lab.state.gateway(&gw).unwrap().properties.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(lab.peering(&link).properties.remote_gateways.len(), 1);
}

#[test]
fn rule_1_16b_the_remote_link_must_allow_gateway_transit() {
    let mut lab = Lab::new();
    let (hub, _) = hub_with_gateway(&mut lab);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    lab.link(&hub, &spoke);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    let e = lab.err(op);
    assert_error(
        &e,
        "RemotePeeringDoesNotAllowGatewayTransit",
        400,
        "Peering spoke/spoke-to-hub cannot have UseRemoteGateways flag set to true, because corresponding remote peering has AllowGatewayTransit flag set to false.",
    );
    // With transit allowed on the hub's link, it works; the spoke link names the hub's gateway.
    let op = lab.peer_op(&hub, &spoke, "hub-to-spoke", |s| s.allow_gateway_transit = true);
    lab.ok(op);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert_eq!(lab.peering(&link).properties.remote_gateways.len(), 1);
    assert_eq!(lab.peering(&link).properties.peering_state, PeeringState::Connected);
    lab.sound();
}

#[test]
fn rule_1_16b_the_spoke_may_ask_for_remote_gateways_before_the_hub_links_back() {
    let mut lab = Lab::new();
    let (hub, _) = hub_with_gateway(&mut lab);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
}

#[test]
fn rule_1_16c_only_one_link_may_use_remote_gateways() {
    let mut lab = Lab::new();
    let (hub1, _) = hub_with_gateway(&mut lab);
    let hub2 = lab.vnet("hub2", &["10.2.0.0/16"]);
    lab.subnet(&hub2, "GatewaySubnet", "10.2.255.0/27");
    lab.gateway(&hub2, "hub2-gw");
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&spoke, &hub1, "to-hub1", |s| s.use_remote_gateways = true);
    lab.ok(op);
    let op = lab.peer_op(&spoke, &hub2, "to-hub2", |s| s.use_remote_gateways = true);
    let e = lab.err(op);
    let first = lab.link_id(&spoke, "to-hub1");
    assert_error(
        &e,
        "AnotherPeeringAlreadyUsesRemoteGateways",
        400,
        &format!(
            "Peering spoke/to-hub2 cannot have UseRemoteGateways flag set to true, because another peering {first} already has UseRemoteGateways flag set to true."
        ),
    );
}

#[test]
fn rule_1_16d_a_vnet_with_its_own_gateway_cannot_use_remote_ones() {
    let mut lab = Lab::new();
    let (hub, _) = hub_with_gateway(&mut lab);
    let branch = lab.vnet("branch", &["10.1.0.0/16"]);
    lab.subnet(&branch, "GatewaySubnet", "10.1.255.0/27");
    let own = lab.gateway(&branch, "branch-gw");
    let op = lab.peer_op(&branch, &hub, "branch-to-hub", |s| s.use_remote_gateways = true);
    let e = lab.err(op);
    assert_error(
        &e,
        "VnetHasGatewayCannotUseRemoteGateways",
        400,
        &format!(
            "Peering branch/branch-to-hub cannot have UseRemoteGateways flag set to true because virtual network {branch} already has gateway {own}. A virtual network with a gateway of its own cannot use remote gateways."
        ),
    );
}

#[test]
fn rule_1_16d_converse_a_vnet_using_remote_gateways_cannot_get_a_gateway() {
    let mut lab = Lab::new();
    let (hub, _) = hub_with_gateway(&mut lab);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    lab.subnet(&spoke, "GatewaySubnet", "10.1.255.0/27");
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
    let pip = lab.public_ip("spoke-gw-pip");
    let spec = lab.gateway_spec(&spoke, Some(pip), vnetlab_model::GatewayType::Vpn);
    let gw = lab.id(Kind::VirtualNetworkGateway, "spoke-gw");
    let e = lab.err(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec });
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert_error(
        &e,
        "VnetUsesRemoteGatewaysCannotHaveGateway",
        400,
        &format!(
            "Virtual network gateway {gw} cannot be created in virtual network {spoke} because its peering {link} has UseRemoteGateways flag set to true. Turn off UseRemoteGateways on that peering first."
        ),
    );
    lab.sound();
}

#[test]
fn rule_1_16e_basic_sku_gateways_do_not_offer_transit() {
    let mut lab = Lab::new();
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    lab.subnet(&hub, "GatewaySubnet", "10.0.255.0/27");
    let pip = lab.id(Kind::PublicIpAddress, "basic-pip");
    lab.ok(Operation::PublicIpAddressPut {
        id: pip.clone(),
        spec: PublicIpAddressSpec {
            sku: Some(vnetlab_model::PublicIpSkuName::Basic),
            ..PublicIpAddressSpec::new(westus())
        },
    });
    let mut spec = lab.gateway_spec(&hub, Some(pip), vnetlab_model::GatewayType::Vpn);
    spec.sku = vnetlab_model::GatewaySkuName::Basic;
    let gw = lab.id(Kind::VirtualNetworkGateway, "basic-gw");
    lab.ok(Operation::VirtualNetworkGatewayPut { id: gw.clone(), spec });
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    let e = lab.err(op);
    assert_error(
        &e,
        "GatewayTransitNotSupportedForBasicSku",
        400,
        &format!(
            "Peering spoke/spoke-to-hub cannot have UseRemoteGateways flag set to true because remote gateway {gw} uses the Basic SKU, which does not support gateway transit."
        ),
    );
}

#[test]
fn rule_1_16f_and_1_21_transit_works_over_global_peering() {
    let mut lab = Lab::new();
    let (hub, _) = hub_with_gateway(&mut lab);
    let far = lab.vnet_in("far-spoke", "westeurope", &["10.1.0.0/16"]);
    let op = lab.peer_op(&hub, &far, "hub-to-far", |s| s.allow_gateway_transit = true);
    lab.ok(op);
    let op = lab.peer_op(&far, &hub, "far-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
    assert_eq!(lab.peering(&lab.link_id(&far, "far-to-hub")).properties.peering_state, PeeringState::Connected);
}

#[test]
fn rule_1_16g_deleting_the_hub_gateway_keeps_the_flag_and_later_updates_fail() {
    let mut lab = Lab::new();
    let (hub, gw) = hub_with_gateway(&mut lab);
    let spoke = lab.vnet("spoke", &["10.1.0.0/16"]);
    let op = lab.peer_op(&hub, &spoke, "hub-to-spoke", |s| s.allow_gateway_transit = true);
    lab.ok(op);
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| s.use_remote_gateways = true);
    lab.ok(op);
    lab.ok(Operation::VirtualNetworkGatewayDelete { id: gw });
    let link = lab.link_id(&spoke, "spoke-to-hub");
    assert!(lab.peering(&link).properties.use_remote_gateways);
    assert!(lab.peering(&link).properties.remote_gateways.is_empty());
    let op = lab.peer_op(&spoke, &hub, "spoke-to-hub", |s| {
        s.use_remote_gateways = true;
        s.allow_forwarded_traffic = true;
    });
    assert_eq!(lab.err(op).code, "RemoteVnetHasNoGateways");
    lab.sound();
}

#[test]
fn rule_1_17_allow_gateway_transit_is_accepted_without_a_gateway() {
    let mut lab = Lab::new();
    let (a, b) = sales_marketing(&mut lab);
    let op = lab.peer_op(&a, &b, "a-b", |s| s.allow_gateway_transit = true);
    lab.ok(op);
    assert!(lab.peering(&lab.link_id(&a, "a-b")).properties.allow_gateway_transit);
}

#[test]
fn rule_1_18_and_1_19_flags_are_kept_per_link_and_default_to_false() {
    let mut lab = Lab::new();
    let (a, b) = sales_marketing(&mut lab);
    let id = lab.link_id(&a, "a-b");
    lab.ok(Operation::PeeringPut {
        id: id.clone(),
        spec: PeeringSpec::new(b.clone()),
        sync_remote_address_space: false,
    });
    let p = &lab.peering(&id).properties;
    assert!(
        !p.allow_virtual_network_access
            && !p.allow_forwarded_traffic
            && !p.allow_gateway_transit
            && !p.use_remote_gateways
    );
    assert!(p.peer_complete_vnets);
    let op = lab.peer_op(&a, &b, "a-b", |s| s.allow_forwarded_traffic = true);
    lab.ok(op);
    assert!(lab.peering(&id).properties.allow_forwarded_traffic);
    assert!(lab.peering(&id).properties.allow_virtual_network_access);
}

#[test]
fn rule_1_20_peering_limit_per_vnet_is_configurable() {
    let mut lab = Lab::with_settings(Settings {
        max_peerings_per_vnet: 3,
        max_peerings_per_vnet_connectivity: 4,
        ..Settings::default()
    });
    let hub = lab.vnet("hub", &["10.0.0.0/16"]);
    let spokes: Vec<ResourceId> =
        (1..=5).map(|i| lab.vnet(&format!("spoke{i}"), &[&format!("10.{i}.0.0/16")])).collect();
    for s in &spokes[..3] {
        lab.link(&hub, s);
    }
    let op = lab.peer_op(&hub, &spokes[3], "fourth", |_| {});
    let e = lab.err(op);
    assert_error(
        &e,
        "VnetPeeringLimitReached",
        400,
        &format!(
            "Virtual network {hub} already has 3 peerings, the maximum allowed. Delete a peering before adding another."
        ),
    );
    // Links a hub-and-spoke connectivity configuration manages count against the higher limit.
    let op = lab.peer_op(&hub, &spokes[3], "fourth", |s| s.origin = Some(format!("{HUB_AND_SPOKE_ORIGIN_PREFIX}:hub")));
    lab.ok(op);
    let op = lab.peer_op(&hub, &spokes[4], "fifth", |s| s.origin = Some(format!("{HUB_AND_SPOKE_ORIGIN_PREFIX}:hub")));
    assert_eq!(lab.err(op).code, "VnetPeeringLimitReached");
}

#[test]
fn rule_1_20_the_default_limit_is_500() {
    assert_eq!(Settings::default().max_peerings_per_vnet, 500);
    assert_eq!(Settings::default().max_peerings_per_vnet_connectivity, 1000);
    assert_eq!(Settings::default().max_subnets_per_subnet_peering, 200);
}

#[test]
fn rule_1_21_global_peering_within_a_cloud_but_not_across_clouds() {
    let mut lab = Lab::new();
    let us = lab.vnet("us", &["10.1.0.0/16"]);
    let eu = lab.vnet_in("eu", "westeurope", &["10.2.0.0/16"]);
    lab.link(&us, &eu);
    let link = lab.link(&eu, &us);
    assert_eq!(lab.peering(&link).properties.peering_state, PeeringState::Connected);
    let cn = lab.vnet_in("cn", "chinaeast2", &["10.3.0.0/16"]);
    let op = lab.peer_op(&us, &cn, "us-cn", |_| {});
    let e = lab.err(op);
    let link = lab.link_id(&us, "us-cn");
    assert_error(
        &e,
        "GlobalPeeringAcrossCloudsNotSupported",
        400,
        &format!(
            "Cannot create or update peering {link}: virtual networks in westus (AzureCloud) and chinaeast2 (AzureChinaCloud) belong to different clouds. Global peering works between regions of one cloud only."
        ),
    );
}

#[test]
fn rule_1_24_classic_remotes_are_refused() {
    let mut lab = Lab::new();
    let v = lab.vnet("v", &["10.1.0.0/16"]);
    let classic = ResourceId::parse(&format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ClassicNetwork/virtualNetworks/old"
    ))
    .unwrap();
    let op = lab.peer_op(&v, &classic, "to-classic", |_| {});
    let link = lab.link_id(&v, "to-classic");
    assert_error(
        &lab.err(op),
        "ClassicVirtualNetworkPeeringNotSupported",
        400,
        &format!(
            "Peering {link} references classic virtual network {classic}. vnetlab models Resource Manager virtual networks only; classic virtual networks were retired."
        ),
    );
}

#[test]
fn rule_1_25_dual_stack_and_ipv4_only_vnets_peer() {
    let mut lab = Lab::new();
    let dual = lab.vnet("dual", &["10.1.0.0/16", "fd00:1::/48"]);
    let v4 = lab.vnet("v4", &["10.2.0.0/16"]);
    lab.subnet(&dual, "s", "10.1.0.0/24");
    let e = lab.err(Operation::SubnetPut {
        id: dual.child(Kind::Subnet, "v6").unwrap(),
        spec: SubnetSpec::with_prefix(p("fd00:1::/56")),
    });
    assert_error(&e, "NetcfgInvalidSubnet", 400, "Subnet 'v6' is not valid in virtual network 'dual'.");
    lab.subnet(&dual, "v6", "fd00:1::/64");
    lab.link(&dual, &v4);
    let link = lab.link(&v4, &dual);
    assert_eq!(
        lab.peering(&link).properties.remote_address_space.address_prefixes,
        spaces(&["10.1.0.0/16", "fd00:1::/48"])
    );
}

#[test]
fn rule_1_25_ipv6_only_peering_peers_only_ipv6_prefixes() {
    let mut lab = Lab::new();
    // Overlapping IPv4 ranges do not matter when only IPv6 is peered.
    let a = lab.vnet("a", &["10.1.0.0/16", "fd00:a::/48"]);
    let b = lab.vnet("b", &["10.1.0.0/16", "fd00:b::/48"]);
    lab.subnet(&a, "s", "fd00:a::/64");
    lab.subnet(&b, "s", "fd00:b::/64");
    let op = lab.peer_op(&a, &b, "a-b", |s| {
        s.peer_complete_vnets = false;
        s.enable_only_ipv6_peering = true;
        s.local_subnet_names = vec!["s".into()];
        s.remote_subnet_names = vec!["s".into()];
    });
    lab.ok(op);
    let link = lab.link_id(&a, "a-b");
    assert_eq!(lab.peering(&link).properties.remote_address_space.address_prefixes, spaces(&["fd00:b::/64"]));
}

#[test]
fn rule_1_26_peering_and_a_vnet_to_vnet_connection_coexist() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "GatewaySubnet", "10.1.255.0/27");
    lab.subnet(&b, "GatewaySubnet", "10.2.255.0/27");
    let ga = lab.gateway(&a, "ga");
    let gb = lab.gateway(&b, "gb");
    lab.link(&a, &b);
    lab.link(&b, &a);
    let conn = crate::gateways::vnet2vnet(&mut lab, "a-to-b", &ga, &gb, "key");
    assert!(lab.try_apply(conn).is_ok());
    lab.sound();
}

#[test]
fn rule_1_27_subnet_peering_peers_only_the_named_subnets() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "web", "10.1.1.0/24");
    lab.subnet(&a, "db", "10.1.2.0/24");
    lab.subnet(&b, "app", "10.2.1.0/24");
    let op = lab.peer_op(&a, &b, "a-b", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["web".into()];
        s.remote_subnet_names = vec!["app".into()];
    });
    lab.ok(op);
    let op = lab.peer_op(&b, &a, "b-a", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["app".into()];
        s.remote_subnet_names = vec!["web".into()];
    });
    lab.ok(op);
    let ab = lab.peering(&lab.link_id(&a, "a-b")).clone();
    assert_eq!(ab.properties.remote_address_space.address_prefixes, spaces(&["10.2.1.0/24"]));
    assert_eq!(ab.properties.local_address_space.address_prefixes, spaces(&["10.1.1.0/24"]));
    assert_eq!(ab.properties.peering_state, PeeringState::Connected);
    assert_eq!(ab.properties.peering_sync_level, PeeringSyncLevel::FullyInSync);
    // The link type cannot change.
    let op = lab.peer_op(&a, &b, "a-b", |_| {});
    let e = lab.err(op);
    let ab_id = lab.link_id(&a, "a-b");
    assert_error(
        &e,
        "ChangingPeeringTypeNotAllowed",
        400,
        &format!(
            "Cannot change peerCompleteVnets of peering {ab_id}: switching between virtual network peering and subnet peering (or IPv6-only peering) requires deleting the peering and creating it again."
        ),
    );
    // Unknown subnet names are refused.
    let op = lab.peer_op(&a, &b, "a-b", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["nope".into()];
        s.remote_subnet_names = vec!["app".into()];
    });
    let e = lab.err(op);
    assert_error(
        &e,
        "InvalidSubnetPeeringConfiguration",
        400,
        &format!(
            "Peering {ab_id} is not valid: localSubnetNames names subnet 'nope', which virtual network {a} does not have."
        ),
    );
    // Adding a subnet to the link through an update brings it into the peered space.
    let op = lab.peer_op(&a, &b, "a-b", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["web".into(), "db".into()];
        s.remote_subnet_names = vec!["app".into()];
    });
    lab.ok(op);
    let ba = lab.peering(&lab.link_id(&b, "b-a"));
    assert_eq!(ba.properties.peering_sync_level, PeeringSyncLevel::FullyInSync);
    lab.sound();
}

#[test]
fn rule_1_27_subnet_peering_is_limited_to_200_subnets() {
    let mut lab = Lab::with_settings(Settings { max_subnets_per_subnet_peering: 2, ..Settings::default() });
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet("b", &["10.2.0.0/16"]);
    lab.subnet(&a, "s1", "10.1.1.0/24");
    lab.subnet(&a, "s2", "10.1.2.0/24");
    lab.subnet(&b, "s1", "10.2.1.0/24");
    let op = lab.peer_op(&a, &b, "a-b", |s| {
        s.peer_complete_vnets = false;
        s.local_subnet_names = vec!["s1".into(), "s2".into()];
        s.remote_subnet_names = vec!["s1".into()];
    });
    let link = lab.link_id(&a, "a-b");
    assert_error(
        &lab.err(op),
        "SubnetPeeringSubnetLimitExceeded",
        400,
        &format!("Peering {link} names 3 subnets; subnet peering allows at most 2 subnets across both sides."),
    );
}

#[test]
fn rule_1_28_gateway_subnet_with_a_gateway_cannot_be_deleted() {
    let mut lab = Lab::new();
    let (hub, gw) = hub_with_gateway(&mut lab);
    let subnet = hub.child(Kind::Subnet, "GatewaySubnet").unwrap();
    let e = lab.err(Operation::SubnetDelete { id: subnet.clone() });
    assert_error(
        &e,
        "InUseSubnetCannotBeDeleted",
        400,
        &format!(
            "Subnet GatewaySubnet is in use by {gw}/ipConfigurations/default and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    );
}

#[test]
fn peering_names_follow_azure_naming_rules() {
    let mut lab = Lab::new();
    let (a, b) = sales_marketing(&mut lab);
    for bad in ["-leading", "has space", "trailing.", &"x".repeat(81)] {
        let op = lab.peer_op(&a, &b, bad, |_| {});
        let e = lab.err(op);
        assert_eq!(e.code, "InvalidResourceName", "{bad}");
        assert_eq!(
            e.message,
            format!(
                "Resource name {bad} is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'."
            )
        );
    }
}

#[test]
fn an_unchanged_put_writes_nothing() {
    let mut lab = Lab::new();
    let (a, b) = sales_marketing(&mut lab);
    lab.link(&a, &b);
    lab.link(&b, &a);
    let before = lab.state.revision();
    let op = lab.peer_op(&a, &b, "SalesVNet-to-MarketingVNet", |_| {});
    assert!(lab.ok(op).changes.is_empty());
    let spec = VirtualNetworkSpec::new(Location::parse("westus").unwrap(), vec![p("10.1.0.0/16")]);
    assert!(lab.ok(Operation::VirtualNetworkPut { id: a, spec }).changes.is_empty());
    assert_eq!(lab.state.revision(), before + 2);
}

#[test]
fn links_report_the_remote_vnets_encryption_and_bgp_communities() {
    let mut lab = Lab::new();
    let a = lab.vnet("a", &["10.1.0.0/16"]);
    let b = lab.vnet_id("b");
    let mut spec = VirtualNetworkSpec::new(westus(), vec![p("10.2.0.0/16")]);
    spec.bgp_community = Some("12076:20010".into());
    spec.encryption = Some(vnetlab_model::VirtualNetworkEncryption {
        enabled: true,
        enforcement: Some(vnetlab_model::EncryptionEnforcement::AllowUnencrypted),
    });
    lab.ok(Operation::VirtualNetworkPut { id: b.clone(), spec: spec.clone() });
    let link = lab.link(&a, &b);
    let p = &lab.peering(&link).properties;
    assert_eq!(p.remote_bgp_communities.as_ref().unwrap().virtual_network_community, "12076:20010");
    assert!(p.remote_virtual_network_encryption.as_ref().unwrap().enabled);
    // A change on the remote shows on the link.
    spec.bgp_community = Some("12076:20011".into());
    lab.ok(Operation::VirtualNetworkPut { id: b, spec });
    let p = &lab.peering(&link).properties;
    assert_eq!(p.remote_bgp_communities.as_ref().unwrap().virtual_network_community, "12076:20011");
}
