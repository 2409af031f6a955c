//! `vnetlab up`, `down` and `plan`: topology files through the one path (engine, then store).
//! `up` and `down` plan inside the write transaction, on the state they then change.

use std::path::Path;

use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, PlannedError, Request};
use vnetlab_engine::{Effect, Operation};
use vnetlab_model::{Kind, ResourceId, State, View};
use vnetlab_topology::{Action, Compiled, Defaults, Loaded, TopologyError, diff, simulate};

use crate::{Env, Failure, Result};

pub fn defaults() -> Defaults {
    Defaults {
        tenant_id: DEFAULT_TENANT_ID.to_owned(),
        subscription_id: DEFAULT_SUBSCRIPTION_ID.to_owned(),
        secrets: Some(vnetlab_topology::Secrets {
            digest: vnetlab_control::tokens::secret_digest,
            matches: vnetlab_control::tokens::secret_matches,
        }),
        owner: Some(vnetlab_control::DEFAULT_PRINCIPAL_OBJECT_ID.to_owned()),
    }
}

/// A resource's name as users read it: `group/name`, `group/vnet/link`.
pub fn short_id(id: &ResourceId) -> String {
    match id.kind() {
        Some(Kind::Tenant) | Some(Kind::Subscription) | Some(Kind::ResourceGroup) => id.name().to_owned(),
        Some(Kind::Principal) | Some(Kind::RoleAssignment) => {
            format!("{}/{}", id.tenant_id().unwrap_or_default(), id.name())
        }
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

fn read(file: &Path) -> Result<Loaded> {
    Loaded::read(file).map_err(|e| Failure::Other(e.into()))
}

/// A planned write that did not commit, reported at its place in the file.
fn not_applied<P>(
    loaded: &Loaded,
    error: PlannedError<TopologyError, P>,
    sources: impl FnOnce(&P) -> &[vnetlab_topology::Path],
) -> Failure {
    match error {
        PlannedError::Plan(e) => Failure::Other(e.into()),
        PlannedError::Rejected { index, error, plan } => {
            let path = sources(&plan).get(index).cloned().unwrap_or_default();
            Failure::Other(loaded.error_at(&path, error.to_string(), Some(Box::new(error))).into())
        }
        PlannedError::Store(e) => Failure::Other(e.into()),
    }
}

pub fn up(env: &Env, file: &Path) -> Result<()> {
    let loaded = read(file)?;
    let origin = loaded.origin();
    let request = Request { origin: Some(&origin), ..Request::default() };
    let (applied, compiled) = env
        .lab
        .execute_planned(&request, |state| {
            let mut compiled = loaded.compile(state, &defaults())?;
            Ok((std::mem::take(&mut compiled.ops), compiled))
        })
        .map_err(|e| not_applied(&loaded, e, |c: &Compiled| &c.sources))?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut lines = Vec::new();
    for executed in &applied.executed {
        let (mark, count) = match (executed.effect, executed.changed) {
            (Effect::Created, _) => ("+", &mut created),
            (_, 0) => ("=", &mut unchanged),
            _ => ("~", &mut updated),
        };
        *count += 1;
        if let Some(target) = &executed.target {
            let kind = target.kind().map(Kind::short_name).unwrap_or("resource");
            lines.push(format!("  {mark} {kind:<14} {}", short_id(target)));
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

/// The lab's state with `file` applied as `up` would, without changing the lab: the file's
/// label and the state.
pub fn simulated(env: &Env, file: &Path) -> Result<(String, vnetlab_model::State)> {
    let (label, _, after) = simulate_file(env, file)?;
    Ok((label, after))
}

fn simulate_file(env: &Env, file: &Path) -> Result<(String, vnetlab_model::State, vnetlab_model::State)> {
    let loaded = read(file)?;
    let before = env.lab.read(|s| s.clone())?;
    let compiled = loaded.compile(&before, &defaults()).map_err(|e| Failure::Other(e.into()))?;
    let after = match simulate(&before, &compiled.ops, env.lab.settings(), Some(&loaded.origin())) {
        Ok(after) => after,
        Err((index, error)) => return Err(Failure::Other(loaded.rejected(&compiled, index, error).into())),
    };
    Ok((label(&loaded, &compiled), before, after))
}

pub fn plan(env: &Env, file: &Path) -> Result<()> {
    let (label, before, after) = simulate_file(env, file)?;
    let changes = diff(&before, &after);
    println!("Plan for {label}:");
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
    let (before, label) = match file {
        Some(file) => {
            let loaded = read(file)?;
            let origin = loaded.origin();
            let request = Request { origin: Some(&origin), ..Request::default() };
            let (_, (_, before)) = env
                .lab
                .execute_planned(&request, |state| {
                    let (ops, sources) = loaded.teardown(state, &defaults())?.into_iter().unzip();
                    Ok((ops, (sources, state.len())))
                })
                .map_err(|e| not_applied(&loaded, e, |(sources, _): &(Vec<_>, usize)| sources))?;
            (before, loaded.file.clone())
        }
        None => {
            let (_, before) = env
                .lab
                .execute_planned(&Request::default(), |state| {
                    Ok::<_, std::convert::Infallible>((everything(state), state.len()))
                })
                .map_err(|e| match e {
                    PlannedError::Rejected { error, .. } => Failure::Azure(error),
                    PlannedError::Store(e) => Failure::Other(e.into()),
                    PlannedError::Plan(never) => match never {},
                })?;
            (before, "the lab".to_owned())
        }
    };
    let after = env.lab.read(|s| s.len())?;
    println!("Removed {} resources of {label}.", before.saturating_sub(after));
    Ok(())
}

/// Everything but the lab's own tenant, subscription and principals (with the default
/// principal's Owner assignment): the resources of every group in one teardown order (a NIC in
/// one group may use a subnet of another), then the groups, the other role assignments, the
/// other tenants' principals, subscriptions and tenants.
fn everything(state: &State) -> Vec<Operation> {
    let resources: Vec<(ResourceId, Kind)> = Kind::ALL
        .iter()
        .filter(|k| {
            k.parent().is_none()
                && !k.is_directory()
                && !matches!(k, Kind::ResourceGroup | Kind::Subscription | Kind::Tenant)
        })
        .flat_map(|k| state.all_of(*k).into_iter().map(|s| (s.id().clone(), *k)))
        .collect();
    let mut ops: Vec<Operation> = vnetlab_engine::teardown_order(resources)
        .into_iter()
        .filter_map(|(id, kind)| vnetlab_engine::delete_operation(&id, kind))
        .collect();
    ops.extend(state.all_of(Kind::ResourceGroup).iter().map(|g| Operation::ResourceGroupDelete { id: g.id().clone() }));
    for a in state.all_of(Kind::RoleAssignment) {
        if a.id().name() != vnetlab_control::DEFAULT_OWNER_ASSIGNMENT {
            ops.push(Operation::RoleAssignmentDelete { id: a.id().clone() });
        }
    }
    for p in state.all_of(Kind::Principal) {
        if p.id().tenant_id() != Some(DEFAULT_TENANT_ID) {
            ops.push(Operation::PrincipalDelete { id: p.id().clone() });
        }
    }
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
