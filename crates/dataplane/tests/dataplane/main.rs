//! The data plane on real namespaces: topology files applied through the engine, compiled,
//! realized by the reconciler, then probed with real packets. These tests need root; without
//! it they say so and pass, unless `VNETLAB_REQUIRE_ROOT=1` (CI) makes them fail.

mod differential;
mod gateways;
mod hosts;
mod live;
mod probe;
mod reconciler;
mod scenarios;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use vnetlab_analysis::azure::Network;
use vnetlab_dataplane::desired::Desired;
use vnetlab_dataplane::reconcile::{Reconciler, Report};
use vnetlab_dataplane::{netns, reconcile};
use vnetlab_engine::{Operation, Settings};
use vnetlab_model::State;
use vnetlab_topology::{Defaults, Loaded, simulate};

pub const TENANT: &str = "0000aaaa-0000-0000-0000-000000000001";
pub const SUB: &str = "00000000-0000-0000-0000-000000000001";

/// The kernel is one: data-plane tests take turns.
static KERNEL: Mutex<()> = Mutex::new(());

/// Holds the kernel for one test and leaves nothing behind, even when the test fails.
pub struct Lab {
    _turn: MutexGuard<'static, ()>,
    pub runtime: tokio::runtime::Runtime,
    pub reconciler: Reconciler,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = reconcile::down();
    }
}

/// A lab when this process may make namespaces; `None` (after saying why) when it may not and
/// CI does not require it.
pub fn lab() -> Option<Lab> {
    if !netns::privileged() {
        assert!(
            std::env::var("VNETLAB_REQUIRE_ROOT").as_deref() != Ok("1"),
            "data-plane tests need root (VNETLAB_REQUIRE_ROOT=1 is set)"
        );
        eprintln!("skipped: data-plane tests need root");
        return None;
    }
    let turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    reconcile::down().expect("clean slate");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    Some(Lab { _turn: turn, runtime, reconciler: Reconciler::new() })
}

impl Lab {
    /// Makes the kernel hold `state`.
    pub fn apply(&mut self, state: &State) -> Report {
        let network = Network::compile(state);
        let want = Desired::build(state, &network);
        let reconciler = &mut self.reconciler;
        self.runtime.block_on(reconciler.apply(&want, &())).unwrap_or_else(|e| panic!("reconcile: {e}"))
    }
}

fn defaults() -> Defaults {
    Defaults { tenant_id: TENANT.into(), subscription_id: SUB.into(), secrets: None, owner: None }
}

fn fresh_lab() -> State {
    defaults().fresh_state().unwrap_or_else(|e| panic!("{e}"))
}

pub fn up_on(state: &State, text: &str) -> State {
    try_up_on(state, text).unwrap_or_else(|e| panic!("{e}"))
}

/// Applies a topology document to `state`, or says why it was refused.
pub fn try_up_on(state: &State, text: &str) -> Result<State, String> {
    let loaded = Loaded::parse("test.yaml", text.to_owned()).map_err(|e| e.to_string())?;
    loaded.simulate(state, &defaults(), &Settings::default()).map_err(|e| e.to_string())
}

/// Applies a topology document to a fresh lab, or says why the engine refused it.
pub fn try_up(text: &str) -> Result<State, String> {
    try_up_on(&fresh_lab(), text)
}

pub fn up(text: &str) -> State {
    up_on(&fresh_lab(), text)
}

pub fn example(name: &str) -> State {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    up(&std::fs::read_to_string(path).unwrap())
}

/// Applies engine operations to `state`.
pub fn apply_ops(state: &State, ops: &[Operation]) -> State {
    simulate(state, ops, &Settings::default(), None).unwrap_or_else(|(i, e)| panic!("operation {i}: {e}"))
}
