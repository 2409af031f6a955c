//! Every example applies, applies again without change, keeps the invariants, plans the same
//! changes it applies, and tears down to nothing.

use std::path::PathBuf;

use vnetlab_engine::Settings;
use vnetlab_model::arm::render;
use vnetlab_model::{Kind, PeeringState, ResourceId, View, ViewExt};
use vnetlab_topology::{Action, Loaded, diff, simulate};

use crate::{SUB, defaults, fresh_lab, up};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn check_example(name: &str) -> vnetlab_model::State {
    let loaded = Loaded::read(&example(name)).unwrap_or_else(|e| panic!("{e}"));
    let start = fresh_lab();
    let compiled = loaded.compile(&start, &defaults()).unwrap_or_else(|e| panic!("{e}"));
    let applied = simulate(&start, &compiled.ops, &Settings::default(), Some(&loaded.origin()))
        .unwrap_or_else(|(i, e)| panic!("{}", loaded.rejected(&compiled, i, e)));
    let violations = vnetlab_engine::invariants::check(&applied);
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    // Every link the file declares is Connected.
    for link in applied.all_of(Kind::VirtualNetworkPeering).iter().filter_map(|s| s.resource.as_peering()) {
        assert_eq!(link.properties.peering_state, PeeringState::Connected, "{name}: {}", link.id);
    }
    // The plan is exactly what was applied: creations only, one per new resource.
    let planned = diff(&start, &applied);
    assert!(planned.iter().all(|c| c.action == Action::Create), "{name}: {planned:#?}");
    assert_eq!(planned.len(), applied.len() - start.len());
    // Applying again changes nothing.
    let again = loaded.compile(&applied, &defaults()).unwrap();
    let twice = simulate(&applied, &again.ops, &Settings::default(), Some(&loaded.origin())).unwrap();
    assert!(diff(&applied, &twice).is_empty(), "{name}: second up changed {:#?}", diff(&applied, &twice));
    // Teardown leaves the lab as it started.
    let down: Vec<_> = loaded.teardown(&twice, &defaults()).unwrap().into_iter().map(|(op, _)| op).collect();
    let gone = simulate(&twice, &down, &Settings::default(), Some(&loaded.origin())).unwrap();
    let left: Vec<String> = gone.iter().map(|s| s.id().to_string()).collect();
    let started: Vec<String> = start.iter().map(|s| s.id().to_string()).collect();
    assert_eq!(left, started, "{name}: teardown left resources behind");
    applied
}

#[test]
fn sales_marketing() {
    let state = check_example("sales-marketing.yaml");
    let rg = ResourceId::resource_group(SUB, "learn-rg").unwrap();
    assert_eq!(state.all_of(Kind::VirtualMachine).len(), 2);
    let sales = rg.top_level(Kind::VirtualNetwork, "SalesVNet").unwrap();
    let link = state.peering(&sales.child(Kind::VirtualNetworkPeering, "SalesVNet-To-MarketingVNet").unwrap()).unwrap();
    assert!(link.properties.allow_virtual_network_access);
    let nic = state
        .resource(&rg.top_level(Kind::NetworkInterface, "SalesVM-nic").unwrap())
        .and_then(|r| r.as_network_interface())
        .unwrap();
    assert_eq!(nic.properties.ip_configurations[0].properties.private_ip_address.to_string(), "10.1.1.4");
}

#[test]
fn hub_and_spoke() {
    let state = check_example("hub-and-spoke.yaml");
    let rg = ResourceId::resource_group(SUB, "hub-and-spoke-rg").unwrap();
    let hub = rg.top_level(Kind::VirtualNetwork, "hub").unwrap();
    assert_eq!(state.gateways_of(&hub).len(), 1);
    for i in 1..=3 {
        let spoke = rg.top_level(Kind::VirtualNetwork, &format!("spoke{i}")).unwrap();
        let to_hub = state.link_between(&spoke, &hub).unwrap();
        assert!(to_hub.properties.use_remote_gateways && to_hub.properties.allow_forwarded_traffic);
        assert_eq!(to_hub.properties.remote_gateways.len(), 1);
        assert!(state.link_between(&hub, &spoke).unwrap().properties.allow_gateway_transit);
    }
    let nva = state
        .resource(&rg.top_level(Kind::NetworkInterface, "nva-nic").unwrap())
        .and_then(|r| r.as_network_interface())
        .unwrap();
    assert!(nva.properties.enable_ip_forwarding);
    assert_eq!(nva.properties.ip_configurations[0].properties.private_ip_address.to_string(), "10.0.1.4");
    let connection = state
        .resource(&rg.top_level(Kind::Connection, "hub-to-branch-office").unwrap())
        .and_then(|r| r.as_connection())
        .unwrap();
    assert_eq!(connection.properties.connection_status, vnetlab_model::ConnectionStatus::Connected);
    assert_eq!(state.all_of(Kind::Route).len(), 1);
}

#[test]
fn mesh() {
    let state = check_example("mesh.yaml");
    assert_eq!(state.all_of(Kind::VirtualNetworkPeering).len(), 12);
}

#[test]
fn global_peering() {
    let state = check_example("global-peering.yaml");
    let links: Vec<_> = state.all_of(Kind::VirtualNetworkPeering);
    assert_eq!(links.len(), 2);
    let locations: Vec<_> = state
        .all_of(Kind::VirtualNetwork)
        .iter()
        .filter_map(|v| v.resource.location())
        .map(|l| l.to_string())
        .collect();
    assert_eq!(locations, ["eastus", "westeurope"]);
}

/// The ARM JSON of a VNet with its subnets and peerings inline; regenerate with VNETLAB_BLESS=1.
#[test]
fn golden_arm_json_of_a_peered_vnet() {
    let state =
        up(&fresh_lab(), "sales-marketing.yaml", &std::fs::read_to_string(example("sales-marketing.yaml")).unwrap())
            .unwrap();
    let vnet =
        ResourceId::resource_group(SUB, "learn-rg").unwrap().top_level(Kind::VirtualNetwork, "SalesVNet").unwrap();
    let body = render(&state, state.get(&vnet).unwrap());
    let text = serde_json::to_string_pretty(&body).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/topology/golden/sales-vnet.json");
    if std::env::var_os("VNETLAB_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).expect("golden file; run with VNETLAB_BLESS=1 to create it");
    assert_eq!(text, expected, "ARM JSON changed; if intended, regenerate with VNETLAB_BLESS=1");
}
