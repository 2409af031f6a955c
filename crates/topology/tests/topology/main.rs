//! Topology files: the examples, the classes of bad input, and the ARM JSON they produce.

mod bad_input;
mod examples;
mod lifecycle;
mod robustness;

use vnetlab_engine::{Context, Operation, SequentialIds, Settings};
use vnetlab_model::State;
use vnetlab_topology::{Defaults, Loaded, TopologyError, simulate};

pub const TENANT: &str = "0000aaaa-0000-0000-0000-000000000001";
pub const SUB: &str = "00000000-0000-0000-0000-000000000001";

pub fn defaults() -> Defaults {
    Defaults { tenant_id: TENANT.into(), subscription_id: SUB.into(), secrets: None, owner: None }
}

/// A lab with its default tenant and subscription, as `vnetlab` starts one.
pub fn fresh_lab() -> State {
    let mut state = State::new();
    let mut ids = SequentialIds::starting_at(1_000_000);
    let settings = Settings::default();
    for op in [
        Operation::TenantPut { tenant_id: TENANT.into(), display_name: "vnetlab".into(), default_domain: None },
        Operation::SubscriptionPut {
            subscription_id: SUB.into(),
            display_name: "vnetlab".into(),
            tenant_id: TENANT.into(),
        },
    ] {
        let mut ctx = Context::new(&mut ids, &settings);
        let outcome = vnetlab_engine::apply(&state, &op, &mut ctx).unwrap();
        let revision = state.revision() + 1;
        let _ = state.apply(&outcome.changes, revision);
    }
    state
}

/// Parses, compiles and applies a document; the first error, located.
pub fn up(state: &State, file: &str, text: &str) -> Result<State, TopologyError> {
    let loaded = Loaded::parse(file, text.to_owned())?;
    let compiled = loaded.compile(state, &defaults())?;
    simulate(state, &compiled.ops, &Settings::default(), Some(&loaded.origin()))
        .map_err(|(i, e)| loaded.rejected(&compiled, i, e))
}
