//! Identities from the command line: who the CLI acts as (`--as`, or the configured default
//! principal), the identities `config.yaml` declares, and `vnetlab principal` to add, list and
//! remove principals and give or take their roles.

use clap::Subcommand;
use serde_json::{Value, json};
use vnetlab_control::{Config, DEFAULT_PRINCIPAL_OBJECT_ID, DEFAULT_TENANT_ID, Lab, Request};
use vnetlab_engine::authorization::Caller;
use vnetlab_engine::{Operation, PrincipalSpec, RoleAssignmentSpec};
use vnetlab_model::{Kind, Principal, PrincipalType, ResourceId, State, View, ViewExt};
use vnetlab_topology::Loaded;

use crate::{Env, Failure, Result, output};

#[derive(Subcommand)]
pub enum PrincipalCommand {
    /// Add a service principal (or with --user, a user); prints its ids and secret
    Add {
        /// Its display name
        name: String,
        /// Home tenant (id or display name) [default: the lab's]
        #[arg(long)]
        tenant: Option<String>,
        /// A user signing in with this name (user@domain) rather than a service principal
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Application (client) id [default: a new GUID]
        #[arg(long)]
        app_id: Option<String>,
        /// Object id [default: a new GUID]
        #[arg(long)]
        object_id: Option<String>,
        /// Secret (password for users) [default: a new random one, printed once]
        #[arg(long)]
        secret: Option<String>,
        /// A tenant it is a guest of (repeatable)
        #[arg(long = "guest-of", value_name = "TENANT")]
        guest_of: Vec<String>,
    },
    /// List principals with their roles
    List,
    /// Remove a principal and its role assignments
    Remove { principal: String },
    /// Give a principal a built-in role at a scope (as `az role assignment create`)
    Grant {
        principal: String,
        /// Owner, Contributor, Reader, Network Contributor (or a role GUID)
        #[arg(long)]
        role: String,
        /// A subscription, resource group or resource id [default: the lab's subscription]
        #[arg(long)]
        scope: Option<String>,
    },
    /// Take a role back (as `az role assignment delete`)
    Revoke {
        principal: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        scope: Option<String>,
    },
}

impl PrincipalCommand {
    pub fn writes(&self) -> bool {
        !matches!(self, PrincipalCommand::List)
    }
}

fn principals(state: &State) -> Vec<&Principal> {
    state.all_of(Kind::Principal).into_iter().filter_map(|p| p.resource.as_principal()).collect()
}

/// The principal `name` names: its display name, application id, user name or object id.
pub fn find<'s>(state: &'s State, name: &str) -> Option<&'s Principal> {
    principals(state).into_iter().find(|p| {
        [
            Some(p.display_name.as_str()),
            p.app_id.as_deref(),
            p.user_principal_name.as_deref(),
            Some(p.object_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|v| v.eq_ignore_ascii_case(name))
    })
}

/// The principal the CLI acts as, through the same checks as an API request: it holds tokens
/// for every tenant it belongs to.
pub fn caller(lab: &Lab, config: &Config, wanted: Option<&str>) -> Result<Caller> {
    let named = wanted.or(config.default_principal.as_deref());
    let found = lab.read(|s| match named {
        Some(name) => find(s, name).cloned(),
        None => ResourceId::directory(DEFAULT_TENANT_ID, Kind::Principal, DEFAULT_PRINCIPAL_OBJECT_ID)
            .ok()
            .and_then(|id| s.resource(&id))
            .and_then(|r| r.as_principal())
            .cloned(),
    })?;
    let Some(p) = found else {
        let name = named.unwrap_or(DEFAULT_PRINCIPAL_OBJECT_ID);
        return Err(Failure::Other(anyhow::anyhow!(
            "no principal '{name}' in the lab (`vnetlab principal list` shows them; `vnetlab principal add` makes one)"
        )));
    };
    Ok(Caller {
        object_id: p.object_id.clone(),
        client: p.sign_in_name().to_owned(),
        tenant_id: p.home_tenant().to_owned(),
        auxiliary_tenants: p.guest_of.clone(),
    })
}

/// Makes what `config.yaml` declares (tenants, subscriptions, principals and their roles) when
/// the lab lacks it; nothing is written when all of it is there.
pub fn apply_config(lab: &Lab, config: &Config, home: &std::path::Path) -> Result<()> {
    let Some(text) = &config.identities else {
        return Ok(());
    };
    let file = home.join("config.yaml").display().to_string();
    let loaded = Loaded::parse(&file, text.clone()).map_err(|e| Failure::Other(e.into()))?;
    let request = Request { origin: Some("config"), ..Request::default() };
    // Applying what is all there already writes nothing (no revision).
    lab.execute_planned(&request, |state| {
        let compiled = loaded.compile(state, &crate::topology::defaults())?;
        Ok::<_, vnetlab_topology::TopologyError>((compiled.ops, ()))
    })
    .map_err(|e| match e {
        vnetlab_control::PlannedError::Plan(e) => Failure::Other(e.into()),
        vnetlab_control::PlannedError::Rejected { error, .. } => Failure::Other(anyhow::anyhow!("{file}: {error}")),
        vnetlab_control::PlannedError::Store(e) => Failure::Other(e.into()),
    })?;
    Ok(())
}

fn tenant_id(state: &State, name: &str) -> Option<String> {
    state.all_of(Kind::Tenant).into_iter().filter_map(|t| t.resource.as_tenant()).find_map(|t| {
        (t.tenant_id.eq_ignore_ascii_case(name) || t.display_name.eq_ignore_ascii_case(name))
            .then(|| t.tenant_id.clone())
    })
}

fn role_of(name: &str) -> Result<vnetlab_authz::RoleDefinition> {
    let roles = vnetlab_authz::builtin_roles();
    let names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    roles
        .into_iter()
        .find(|r| r.name.eq_ignore_ascii_case(name) || r.id.eq_ignore_ascii_case(name))
        .ok_or_else(|| Failure::Other(anyhow::anyhow!("no built-in role '{name}' (there are {})", names.join(", "))))
}

fn random_secret() -> String {
    // Two random GUIDs without dashes: 244 bits.
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

pub fn run(env: &Env, command: PrincipalCommand) -> Result<()> {
    match command {
        PrincipalCommand::Add { name, tenant, user, app_id, object_id, secret, guest_of } => {
            let (tenant, guests) = env.lab.read(|s| {
                let tenant = match &tenant {
                    Some(t) => tenant_id(s, t).ok_or_else(|| vnetlab_engine::errors::tenant_not_found(t)),
                    None => Ok(DEFAULT_TENANT_ID.to_owned()),
                };
                let guests: std::result::Result<Vec<String>, _> = guest_of
                    .iter()
                    .map(|t| tenant_id(s, t).ok_or_else(|| vnetlab_engine::errors::tenant_not_found(t)))
                    .collect();
                (tenant, guests)
            })?;
            let (tenant, guest_of) = (tenant?, guests?);
            let generated = secret.is_none();
            let secret = secret.unwrap_or_else(random_secret);
            let object_id = object_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let (principal_type, app_id) = match &user {
                Some(_) => (PrincipalType::User, None),
                None => {
                    (PrincipalType::ServicePrincipal, Some(app_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())))
                }
            };
            let spec = PrincipalSpec {
                tenant_id: tenant.clone(),
                object_id: object_id.clone(),
                display_name: name.clone(),
                principal_type,
                app_id: app_id.clone(),
                user_principal_name: user.clone(),
                secret_digest: Some(vnetlab_control::tokens::secret_digest(&secret)),
                guest_of: guest_of.clone(),
            };
            let request = Request { origin: Some("cli"), ..Request::default() };
            env.lab.execute_with(&[Operation::PrincipalPut { spec }], &request)?;
            let mut body = json!({
                "displayName": name,
                "objectId": object_id,
                "tenant": tenant,
                "guestOf": guest_of,
                "type": principal_type.as_str(),
            });
            match (&app_id, &user) {
                (Some(app), _) => body["appId"] = json!(app),
                (None, Some(u)) => body["userPrincipalName"] = json!(u),
                _ => {}
            }
            if generated {
                body["password"] = json!(secret);
            }
            output::print(env.format, &body, || {
                let mut out = String::new();
                for (k, v) in body.as_object().into_iter().flatten() {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push_str(&format!("{k:<18}{v}\n"));
                }
                if generated {
                    out.push_str("The password is shown only now; the lab keeps a digest of it.\n");
                }
                out
            })?;
            Ok(())
        }
        PrincipalCommand::List => {
            let rows: Vec<Value> = env.lab.read(|s| {
                principals(s)
                    .into_iter()
                    .map(|p| {
                        let roles: Vec<String> = s
                            .all_of(Kind::RoleAssignment)
                            .into_iter()
                            .filter_map(|a| a.resource.as_role_assignment())
                            .filter(|a| a.properties.principal_id.eq_ignore_ascii_case(&p.object_id))
                            .map(|a| {
                                let role =
                                    s.authorizer().role(a.role_guid()).map(|r| r.name.clone()).unwrap_or_default();
                                format!("{role} on {}", a.properties.scope)
                            })
                            .collect();
                        json!({
                            "displayName": p.display_name,
                            "type": p.principal_type.as_str(),
                            "signInName": p.sign_in_name(),
                            "objectId": p.object_id,
                            "tenant": p.home_tenant(),
                            "guestOf": p.guest_of,
                            "roles": roles,
                        })
                    })
                    .collect()
            })?;
            output::print(env.format, &Value::Array(rows.clone()), || {
                let mut out = String::new();
                for r in &rows {
                    out.push_str(&format!(
                        "{} ({}, {}) object id {} in tenant {}{}\n",
                        r["displayName"].as_str().unwrap_or_default(),
                        r["type"].as_str().unwrap_or_default(),
                        r["signInName"].as_str().unwrap_or_default(),
                        r["objectId"].as_str().unwrap_or_default(),
                        r["tenant"].as_str().unwrap_or_default(),
                        match r["guestOf"].as_array() {
                            Some(g) if !g.is_empty() => format!(
                                ", guest of {}",
                                g.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                            ),
                            _ => String::new(),
                        }
                    ));
                    for role in r["roles"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        out.push_str(&format!("  {role}\n"));
                    }
                }
                out
            })?;
            Ok(())
        }
        PrincipalCommand::Remove { principal } => {
            let id = env
                .lab
                .read(|s| find(s, &principal).map(|p| p.id.clone()))?
                .ok_or_else(|| Failure::Other(anyhow::anyhow!("no principal '{principal}' in the lab")))?;
            let request = Request { origin: Some("cli"), ..Request::default() };
            env.lab.execute_with(&[Operation::PrincipalDelete { id }], &request)?;
            Ok(())
        }
        PrincipalCommand::Grant { principal, role, scope } => {
            let role = role_of(&role)?;
            let scope = scope.unwrap_or_else(|| format!("/subscriptions/{}", vnetlab_control::DEFAULT_SUBSCRIPTION_ID));
            let object_id = object_id_of(env, &principal)?;
            let name = uuid::Uuid::new_v4().to_string();
            let request = Request { origin: Some("cli"), caller: Some(&env.caller), ..Request::default() };
            let created_by = env.caller.object_id.clone();
            env.lab.execute_planned(&request, |state| {
                let id = vnetlab_engine::role_assignment_id(state, &scope, &name).map_err(Failure::Azure)?;
                let spec = RoleAssignmentSpec {
                    scope: scope.clone(),
                    role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{}", role.id),
                    principal_id: object_id.clone(),
                    principal_type: None,
                    description: None,
                    created_by: Some(created_by),
                };
                Ok::<_, Failure>((vec![Operation::RoleAssignmentPut { id, spec }], ()))
            })?;
            println!("{principal} is {} on {scope}.", role.name);
            Ok(())
        }
        PrincipalCommand::Revoke { principal, role, scope } => {
            let role = role_of(&role)?;
            let scope = scope.unwrap_or_else(|| format!("/subscriptions/{}", vnetlab_control::DEFAULT_SUBSCRIPTION_ID));
            let object_id = object_id_of(env, &principal)?;
            let request = Request { origin: Some("cli"), caller: Some(&env.caller), ..Request::default() };
            let (applied, ()) = env.lab.execute_planned(&request, |state| {
                let ops: Vec<Operation> = ResourceId::parse(&scope)
                    .ok()
                    .and_then(|scope| vnetlab_engine::held_assignment(state, &object_id, &role.id, &scope))
                    .map(|a| Operation::RoleAssignmentDelete { id: a.id.clone() })
                    .into_iter()
                    .collect();
                Ok::<_, Failure>((ops, ()))
            })?;
            if applied.executed.is_empty() {
                return Err(Failure::Other(anyhow::anyhow!("{principal} is not {} on {scope}", role.name)));
            }
            println!("{principal} is no longer {} on {scope}.", role.name);
            Ok(())
        }
    }
}

fn object_id_of(env: &Env, principal: &str) -> Result<String> {
    env.lab
        .read(|s| find(s, principal).map(|p| p.object_id.clone()))?
        .ok_or_else(|| Failure::Other(anyhow::anyhow!("no principal '{principal}' in the lab")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnetlab_store::Store;

    #[test]
    fn the_configuration_is_applied_once() {
        let home = tempfile::tempdir().unwrap();
        let text = "defaultPrincipal: auditor\nprincipals:\n  - {name: auditor, secret: s3, roles: [{role: Reader, scope: \"00000000-0000-0000-0000-000000000001\"}]}\n";
        std::fs::write(home.path().join("config.yaml"), text).unwrap();
        let lab = Lab::open(home.path()).unwrap();
        let config = Config::load(home.path()).unwrap();
        apply_config(&lab, &config, home.path()).map_err(|_| "apply").unwrap();
        let revision = lab.store().revision().unwrap();
        apply_config(&lab, &config, home.path()).map_err(|_| "apply").unwrap();
        assert_eq!(lab.store().revision().unwrap(), revision, "a second start writes nothing");
        let me = caller(&lab, &config, None).map_err(|_| "caller").unwrap();
        let auditor = lab.read(|s| find(s, "auditor").cloned()).unwrap().unwrap();
        assert_eq!(me.object_id, auditor.object_id);
        assert!(vnetlab_control::tokens::secret_matches(auditor.secret_digest.as_deref().unwrap(), "s3"));
    }
}
