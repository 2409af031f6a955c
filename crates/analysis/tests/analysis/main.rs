//! The analysis on real states: topology files applied through the engine, then compiled.

mod incremental;
mod reach;
mod routes;
mod security;
mod shapes;
mod trace;

use std::path::PathBuf;

use vnetlab_analysis::azure::{Network, NicView};
use vnetlab_engine::Settings;
use vnetlab_model::{ResourceId, State};
use vnetlab_topology::{Defaults, Loaded};

pub const TENANT: &str = "0000aaaa-0000-0000-0000-000000000001";
pub const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn defaults() -> Defaults {
    Defaults { tenant_id: TENANT.into(), subscription_id: SUB.into(), secrets: None, owner: None }
}

/// A lab with its default tenant and subscription, as `vnetlab` starts one.
fn fresh_lab() -> State {
    defaults().fresh_state().unwrap_or_else(|e| panic!("{e}"))
}

/// Applies a topology document to `state`.
pub fn up_on(state: &State, text: &str) -> State {
    let loaded = Loaded::parse("test.yaml", text.to_owned()).unwrap_or_else(|e| panic!("{e}"));
    loaded.simulate(state, &defaults(), &Settings::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh lab with a topology document applied.
pub fn up(text: &str) -> State {
    up_on(&fresh_lab(), text)
}

/// A fresh lab with an example of examples/ applied.
pub fn example(name: &str) -> State {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    up(&std::fs::read_to_string(path).unwrap())
}

pub fn vm_id(group: &str, name: &str) -> ResourceId {
    ResourceId::parse(&format!(
        "/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"
    ))
    .unwrap()
}

pub fn id(group: &str, path: &str) -> ResourceId {
    ResourceId::parse(&format!("/subscriptions/{SUB}/resourceGroups/{group}/providers/{path}")).unwrap()
}

/// The primary NIC of a VM.
pub fn nic<'a>(network: &'a Network, group: &str, vm: &str) -> &'a NicView {
    network.target_nic(&vm_id(group, vm), None).unwrap_or_else(|e| panic!("{vm}: {e}"))
}

/// The primary address of a VM.
pub fn ip_of(network: &Network, group: &str, vm: &str) -> std::net::IpAddr {
    nic(network, group, vm).primary().unwrap().ip
}
