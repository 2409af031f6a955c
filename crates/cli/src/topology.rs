//! `vnetlab up`, `down` and `plan`: topology files through the one path (engine, then store).

use std::path::Path;

use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, LabError};
use vnetlab_engine::{Effect, Operation};
use vnetlab_model::{Kind, ResourceId, View};
use vnetlab_topology::{Action, Compiled, Defaults, Loaded, diff, simulate, teardown};

use crate::{Env, Failure, Result};

fn defaults() -> Defaults {
    Defaults { tenant_id: DEFAULT_TENANT_ID.to_owned(), subscription_id: DEFAULT_SUBSCRIPTION_ID.to_owned() }
}

/// A resource's name as users read it: `group/name`, `group/vnet/link`.
pub fn short_id(id: &ResourceId) -> String {
    match id.kind() {
        Some(Kind::Tenant) | Some(Kind::Subscription) | Some(Kind::ResourceGroup) => id.name().to_owned(),
        _ => {
            let segments: Vec<&str> = id.as_str().split('/').collect();
            let mut parts = vec![id.resource_group_name().unwrap_or_default()];
            parts.extend(segments.iter().skip(8).step_by(2).copied());
            parts.join("/")
        }
    }
}

fn label(loaded: &Loaded, compiled: &Compiled) -> String {
    match &compiled.name {
        Some(name) => format!("{} ({name})", loaded.file),
        None => loaded.file.clone(),
    }
}

fn load(env: &Env, file: &Path) -> Result<(Loaded, Compiled)> {
    let loaded = Loaded::read(file).map_err(|e| Failure::Other(e.into()))?;
    let compiled = env.lab.read(|state| loaded.compile(state, &defaults()))?.map_err(|e| Failure::Other(e.into()))?;
    Ok((loaded, compiled))
}

/// Runs compiled operations; an engine refusal is reported at its place in the file.
fn apply(
    env: &Env,
    loaded: &Loaded,
    ops: &[Operation],
    sources: &[vnetlab_topology::Path],
) -> Result<vnetlab_control::Applied> {
    match env.lab.execute_all(ops) {
        Ok(applied) => Ok(applied),
        Err(LabError::Rejected { index, error }) => {
            let path = sources.get(index).cloned().unwrap_or_default();
            Err(Failure::Other(loaded.error_at(&path, error.to_string(), Some(Box::new(error))).into()))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn up(env: &Env, file: &Path) -> Result<()> {
    let (loaded, compiled) = load(env, file)?;
    let applied = apply(env, &loaded, &compiled.ops, &compiled.sources)?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut lines = Vec::new();
    for (executed, op) in applied.executed.iter().zip(&compiled.ops) {
        let (mark, count) = match (executed.effect, executed.changed) {
            (Effect::Created, _) => ("+", &mut created),
            (_, 0) => ("=", &mut unchanged),
            _ => ("~", &mut updated),
        };
        *count += 1;
        if let Some(target) = op.target() {
            let kind = target.kind().map(Kind::short_name).unwrap_or("resource");
            lines.push(format!("  {mark} {kind:<14} {}", short_id(&target)));
        }
    }
    match applied.revision {
        Some(revision) => println!("Applied {} as revision {revision}:", label(&loaded, &compiled)),
        None => println!("{} is already applied; nothing changed:", label(&loaded, &compiled)),
    }
    for line in lines {
        println!("{line}");
    }
    println!("{created} created, {updated} updated, {unchanged} unchanged.");
    Ok(())
}

pub fn plan(env: &Env, file: &Path) -> Result<()> {
    let (loaded, compiled) = load(env, file)?;
    let before = env.lab.read(|s| s.clone())?;
    let after = match simulate(&before, &compiled.ops, env.lab.settings()) {
        Ok(after) => after,
        Err((index, error)) => return Err(Failure::Other(loaded.rejected(&compiled, index, error).into())),
    };
    let changes = diff(&before, &after);
    println!("Plan for {}:", label(&loaded, &compiled));
    let (mut add, mut change, mut destroy) = (0, 0, 0);
    for c in &changes {
        let mark = match c.action {
            Action::Create => {
                add += 1;
                "+"
            }
            Action::Update => {
                change += 1;
                "~"
            }
            Action::Delete => {
                destroy += 1;
                "-"
            }
        };
        println!("  {mark} {:<14} {}", c.kind.short_name(), short_id(&c.id));
        for f in &c.fields {
            let show =
                |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "(none)".into());
            println!("      {}: {} -> {}", f.path, show(&f.before), show(&f.after));
        }
    }
    if changes.is_empty() {
        println!("  nothing to change");
    }
    println!("Plan: {add} to add, {change} to change, {destroy} to destroy.");
    Ok(())
}

pub fn down(env: &Env, file: Option<&Path>) -> Result<()> {
    let before = env.lab.read(|s| s.len())?;
    let label = match file {
        Some(file) => {
            let (loaded, compiled) = load(env, file)?;
            let planned = env.lab.read(|state| teardown(&compiled, state))?;
            let (ops, sources): (Vec<Operation>, Vec<vnetlab_topology::Path>) = planned.into_iter().unzip();
            apply(env, &loaded, &ops, &sources)?;
            loaded.file.clone()
        }
        None => {
            let ops = env.lab.read(everything)?;
            env.lab.execute_all(&ops)?;
            "the lab".to_owned()
        }
    };
    let after = env.lab.read(|s| s.len())?;
    println!("Removed {} resources of {label}.", before.saturating_sub(after));
    Ok(())
}

/// Every resource group, and every tenant and subscription but the lab's own.
fn everything(state: &vnetlab_model::State) -> Vec<Operation> {
    let mut ops: Vec<Operation> = state
        .all_of(Kind::ResourceGroup)
        .iter()
        .map(|g| Operation::ResourceGroupDelete { id: g.id().clone() })
        .collect();
    for s in state.all_of(Kind::Subscription) {
        if let Some(sub) = s.resource.as_subscription().filter(|s| s.subscription_id != DEFAULT_SUBSCRIPTION_ID) {
            ops.push(Operation::SubscriptionDelete { subscription_id: sub.subscription_id.clone() });
        }
    }
    for t in state.all_of(Kind::Tenant) {
        if let Some(tenant) = t.resource.as_tenant().filter(|t| t.tenant_id != DEFAULT_TENANT_ID) {
            ops.push(Operation::TenantDelete { tenant_id: tenant.tenant_id.clone() });
        }
    }
    ops
}
