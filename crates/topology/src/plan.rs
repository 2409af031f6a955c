//! What applying operations would change: run them against a copy of the state and compare.

use std::collections::BTreeSet;

use serde_json::Value;
use vnetlab_engine::{Context, Operation, SequentialIds, Settings};
use vnetlab_model::{AzureError, Kind, ResourceId, State, View};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One field that changes, by its JSON path (`properties.peeringState`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub action: Action,
    pub id: ResourceId,
    pub kind: Kind,
    /// For updates, the fields that change.
    pub fields: Vec<FieldChange>,
}

/// Runs `ops` on a copy of `state`, for a request from `origin`; the copy after all of them, or the
/// first refusal.
pub fn simulate(
    state: &State,
    ops: &[Operation],
    settings: &Settings,
    origin: Option<&str>,
) -> Result<State, (usize, AzureError)> {
    let mut scratch = state.clone();
    let mut ids = SequentialIds::default();
    for (i, op) in ops.iter().enumerate() {
        let mut ctx = Context::new(&mut ids, settings);
        ctx.origin = origin.map(str::to_owned);
        let outcome = vnetlab_engine::apply(&scratch, op, &mut ctx).map_err(|e| (i, e))?;
        let revision = scratch.revision() + 1;
        let _ = scratch.apply(&outcome.changes, revision);
    }
    Ok(scratch)
}

fn body(state: &State, id: &ResourceId) -> Option<Value> {
    state.get(id).and_then(|s| serde_json::to_value(&s.resource).ok())
}

/// Everything that differs between two states, creates first, then updates, then deletes.
pub fn diff(before: &State, after: &State) -> Vec<PlannedChange> {
    let mut ids: BTreeSet<ResourceId> = before.iter().map(|s| s.id().clone()).collect();
    ids.extend(after.iter().map(|s| s.id().clone()));
    let mut out = Vec::new();
    for id in ids {
        let kind = before.get(&id).or_else(|| after.get(&id)).map(|s| s.kind());
        let Some(kind) = kind else { continue };
        match (body(before, &id), body(after, &id)) {
            (None, Some(_)) => out.push(PlannedChange { action: Action::Create, id, kind, fields: Vec::new() }),
            (Some(_), None) => out.push(PlannedChange { action: Action::Delete, id, kind, fields: Vec::new() }),
            (Some(a), Some(b)) if a != b => {
                let mut fields = Vec::new();
                compare("", &a, &b, &mut fields);
                out.push(PlannedChange { action: Action::Update, id, kind, fields });
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.action.cmp(&b.action).then_with(|| a.kind.cmp(&b.kind)).then_with(|| a.id.cmp(&b.id)));
    out
}

fn compare(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    let join = |k: &str| {
        if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => compare(&join(k), p, q, out),
                    (p, q) => out.push(FieldChange { path: join(k), before: p.cloned(), after: q.cloned() }),
                }
            }
        }
        _ if a != b => out.push(FieldChange { path: path.to_owned(), before: Some(a.clone()), after: Some(b.clone()) }),
        _ => {}
    }
}
