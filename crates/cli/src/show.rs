//! `vnetlab show`, `vnet list`, `vnet show` and `check`.

use serde_json::Value;
use vnetlab_model::arm::render;
use vnetlab_model::{Kind, State, View, ViewExt};

use crate::output;
use vnetlab_engine::authorization::Caller;

use crate::{Env, Failure, Result};

/// Headings of `vnetlab show` without a type.
fn heading(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenant => "Tenants",
        Kind::Subscription => "Subscriptions",
        Kind::Principal => "Principals",
        Kind::RoleAssignment => "Role assignments",
        Kind::ResourceGroup => "Resource groups",
        Kind::NetworkSecurityGroup => "Network security groups",
        Kind::SecurityRule => "Security rules",
        Kind::RouteTable => "Route tables",
        Kind::Route => "Routes",
        Kind::PublicIpAddress => "Public IP addresses",
        Kind::LocalNetworkGateway => "Local network gateways (on-premises sites)",
        Kind::NetworkWatcher => "Network watchers",
        Kind::VirtualNetwork => "Virtual networks",
        Kind::Subnet => "Subnets",
        Kind::VirtualNetworkPeering => "Peerings",
        Kind::VirtualNetworkGateway => "Virtual network gateways",
        Kind::Connection => "Connections",
        Kind::NetworkInterface => "Network interfaces",
        Kind::VirtualMachine => "Virtual machines",
    }
}

/// The table az prints for a list of this kind.
pub fn table_for(kind: Kind, bodies: &[Value]) -> String {
    match kind {
        Kind::VirtualNetwork => output::vnet_table(bodies),
        Kind::ResourceGroup => output::group_table(bodies),
        Kind::SecurityRule => output::nsg_rule_table(bodies),
        Kind::PublicIpAddress => output::public_ip_table(bodies),
        Kind::LocalNetworkGateway => output::local_gateway_table(bodies),
        Kind::VirtualMachine => output::vm_table(bodies),
        Kind::RoleAssignment => role_assignment_table(bodies),
        _ => output::default_table(bodies),
    }
}

/// As `az role assignment list -o table`: the principal, the role by name, the scope.
fn role_assignment_table(bodies: &[Value]) -> String {
    let roles = vnetlab_authz::builtin_roles();
    let rows: Vec<serde_json::Map<String, Value>> = bodies
        .iter()
        .map(|b| {
            let p = &b["properties"];
            let guid = p["roleDefinitionId"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
            let role = roles.iter().find(|r| r.id.eq_ignore_ascii_case(guid)).map_or(guid, |r| r.name.as_str());
            let mut row = serde_json::Map::new();
            row.insert("Principal".into(), p["principalId"].clone());
            row.insert("Role".into(), Value::String(role.to_owned()));
            row.insert("Scope".into(), p["scope"].clone());
            row
        })
        .collect();
    output::table(&rows, false)
}

/// ARM bodies of the resources of `kind` the caller may read, optionally in one resource group.
fn bodies(state: &State, caller: &Caller, kind: Kind, subscription: Option<&str>, group: Option<&str>) -> Vec<Value> {
    state
        .all_of(kind)
        .into_iter()
        .filter(|s| vnetlab_engine::authorization::can_see(state, caller, s))
        .filter(|s| {
            subscription.is_none_or(|sub| s.id().subscription_id().is_some_and(|x| x.eq_ignore_ascii_case(sub)))
        })
        .filter(|s| group.is_none_or(|g| s.id().resource_group_name().is_some_and(|x| vnetlab_model::same_name(x, g))))
        .map(|s| render(state, s))
        .collect()
}

pub fn show(env: &Env, kind: Option<&str>, group: Option<&str>) -> Result<()> {
    let subscription = match (&env.subscription, group) {
        (Some(_), _) | (None, Some(_)) => Some(env.subscription_id()?),
        _ => None,
    };
    let kinds: Vec<Kind> = match kind {
        Some(k) => vec![Kind::from_user(k).ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "unknown resource type '{k}'; use one of: {}",
                Kind::ALL.iter().map(|k| k.short_name()).collect::<Vec<_>>().join(", ")
            ))
        })?],
        None => Kind::ALL.to_vec(),
    };
    // As az: listing in a group that does not exist is an error, not an empty list.
    if let Some(name) = group {
        let rg = env.group(name)?;
        if !env.lab.read(|s| s.exists(&rg))? {
            return Err(vnetlab_engine::errors::resource_group_not_found(name).into());
        }
    }
    let sections: Vec<(Kind, Vec<Value>)> = env.lab.read(|state| {
        kinds.iter().map(|k| (*k, bodies(state, &env.caller, *k, subscription.as_deref(), group))).collect()
    })?;
    let all: Vec<Value> = sections.iter().flat_map(|(_, b)| b.iter().cloned()).collect();
    output::print(env.format, &Value::Array(all), || match kind {
        Some(_) => sections.first().map(|(k, b)| table_for(*k, b)).unwrap_or_default(),
        None => {
            let mut out = String::new();
            for (k, b) in sections.iter().filter(|(_, b)| !b.is_empty()) {
                out.push_str(&format!("{} ({})\n", heading(*k), b.len()));
                out.push_str(&table_for(*k, b));
                out.push('\n');
            }
            if out.is_empty() {
                out.push_str("The lab is empty.\n");
            }
            out
        }
    })?;
    Ok(())
}

pub fn vnet_show(env: &Env, group: &str, name: &str) -> Result<()> {
    let rg = env.group(group)?;
    let id =
        rg.top_level(Kind::VirtualNetwork, name).map_err(|_| vnetlab_engine::errors::invalid_resource_name(name))?;
    let body = env.lab.read(|state| {
        vnetlab_engine::authorization::check_read(state, &env.caller, &id)
            .map(|()| state.get(&id).map(|s| render(state, s)))
    })??;
    let body = match body {
        Some(b) => b,
        None if env.lab.read(|s| s.get(&rg).is_none())? => {
            return Err(vnetlab_engine::errors::resource_group_not_found(group).into());
        }
        None => return Err(vnetlab_engine::errors::resource_not_found(&id).into()),
    };
    let table = || output::default_table(std::slice::from_ref(&body));
    output::print(env.format, &body, table)?;
    Ok(())
}

pub fn check(env: &Env) -> Result<()> {
    let (violations, count, revision) =
        env.lab.read(|s| (vnetlab_engine::invariants::check(s), s.len(), s.revision()))?;
    if violations.is_empty() {
        println!("{count} resources at revision {revision}: every invariant holds.");
        return Ok(());
    }
    for v in &violations {
        println!("violated: {v}");
    }
    Err(Failure::Other(anyhow::anyhow!("{} invariant violations", violations.len())))
}
