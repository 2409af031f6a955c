//! Template deployments (`Microsoft.Resources/deployments`), as far as `az` uses them for network
//! resources (`az network vpn-connection create` sends its connection as a template). The
//! template's resources go through the same parsers and engine as their own PUTs, all in one
//! transaction: a deployment is applied whole or not at all. Deployment records live in the
//! server's memory [gap: ARM keeps 800 per group].

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::Method;
use serde_json::{Map, Value, json};
use vnetlab_control::{PlannedError, Request as LabRequest};
use vnetlab_model::arm::render;
use vnetlab_model::{AzureError, Kind, ResourceId, View, ViewExt};

use crate::arm::{self, Query};
use crate::body::At;
use crate::http::{Reply, Request};
use crate::template::{self, Scope, invalid_template};
use crate::{App, errors};

/// Deployments this server ran, by lower-cased id.
#[derive(Debug, Default)]
pub struct Deployments {
    records: Mutex<HashMap<String, Value>>,
}

impl Deployments {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn deployment_id(group: &ResourceId, name: &str) -> String {
    format!("{group}/providers/Microsoft.Resources/deployments/{name}")
}

fn not_found(name: &str) -> AzureError {
    AzureError::not_found("DeploymentNotFound", format!("Deployment '{name}' could not be found."))
}

pub fn deployment(
    app: &App,
    req: &Request,
    group: &ResourceId,
    name: Option<&str>,
    operations: bool,
    status: bool,
) -> Reply {
    let Some(name) = name else {
        if req.method != Method::GET {
            return errors::method_not_allowed(req.method.as_str()).into();
        }
        let prefix = format!("{}/providers/microsoft.resources/deployments/", group.key());
        let value: Vec<Value> =
            app.deployments.lock().iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| v.clone()).collect();
        return Reply::ok(json!({ "value": value }));
    };
    let key = deployment_id(group, name).to_lowercase();
    if status {
        return match app.deployments.lock().get(&key) {
            Some(record) => {
                let state = record["properties"]["provisioningState"].clone();
                let mut body = json!({"status": state});
                if let Some(error) = record["properties"].get("error") {
                    body["error"] = error.clone();
                }
                Reply::ok(body)
            }
            None => not_found(name).into(),
        };
    }
    if operations {
        return match app.deployments.lock().get(&key) {
            Some(_) => Reply::ok(json!({"value": []})),
            None => not_found(name).into(),
        };
    }
    match req.method {
        Method::GET => match app.deployments.lock().get(&key) {
            Some(record) => Reply::ok(record.clone()),
            None => not_found(name).into(),
        },
        Method::DELETE => match app.deployments.lock().remove(&key) {
            Some(_) => Reply::empty(200),
            None => Reply::empty(204),
        },
        Method::PUT => match run(app, req, group, name) {
            Ok((record, created)) => {
                app.deployments.lock().insert(key, record.clone());
                Reply::json(if created { 201 } else { 200 }, record)
            }
            // A template ARM cannot read is refused at once; a deployment whose resources fail is
            // accepted and then reports `Failed`, as ARM's are.
            Err(e) if e.code == "DeploymentFailed" => {
                let record = failed_record(group, name, &e);
                app.deployments.lock().insert(key, record.clone());
                let mut accepted = record;
                accepted["properties"]["provisioningState"] = json!("Accepted");
                if let Some(p) = accepted["properties"].as_object_mut() {
                    p.remove("error");
                }
                let status = format!(
                    "{}{}/operationStatuses/{}?api-version={}",
                    req.base,
                    deployment_id(group, name),
                    uuid::Uuid::new_v4(),
                    req.api_version().unwrap_or_default()
                );
                Reply::json(201, accepted).header("Azure-AsyncOperation", status).header("Retry-After", "1")
            }
            Err(e) => e.into(),
        },
        ref m => errors::method_not_allowed(m.as_str()).into(),
    }
}

/// A template resource, evaluated: where it goes and the operation that puts it there.
struct Planned {
    name: String,
    id: ResourceId,
}

fn run(app: &App, req: &Request, group: &ResourceId, name: &str) -> Result<(Value, bool), AzureError> {
    let body = crate::body::parse(&req.body)?;
    let root = At::root(&body);
    let props = root.properties()?;
    let template = match props.object("template")? {
        Some(t) => t.value.clone(),
        None if props.get("templateLink")?.is_some() => {
            return Err(invalid_template("templateLink is not supported: send the template inline"));
        }
        None => return Err(errors::required_property(props.path(), "template")),
    };
    let mode = props.string("mode")?.unwrap_or_else(|| "Incremental".to_owned());
    if !mode.eq_ignore_ascii_case("incremental") {
        return Err(invalid_template(format!("the deployment mode '{mode}' is not supported; use Incremental")));
    }
    let given: Map<String, Value> =
        props.object("parameters")?.and_then(|p| p.value.as_object().cloned()).unwrap_or_default();
    let declared = template.get("parameters").and_then(Value::as_object).cloned().unwrap_or_default();
    let variables = template.get("variables").and_then(Value::as_object).cloned().unwrap_or_default();
    let resources = template.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
    let outputs = template.get("outputs").and_then(Value::as_object).cloned().unwrap_or_default();
    let subscription = group.subscription_id().unwrap_or_default().to_owned();
    let created = !app.deployments.lock().contains_key(&deployment_id(group, name).to_lowercase());

    let request = LabRequest {
        caller: req.caller(),
        api_version: req.api_version(),
        origin: Some("api:deployment"),
        immediate: false,
    };
    let result = app.lab.execute_then(
        &request,
        |state| {
            let Some(rg) = state.resource(group).and_then(|r| r.as_resource_group()) else {
                return Err(vnetlab_engine::errors::resource_group_not_found(group.name()));
            };
            let group_value = json!({"id": group, "name": group.name(), "location": rg.location.to_string()});
            let empty = Map::new();
            let defaults_scope = Scope {
                parameters: &empty,
                variables: &empty,
                subscription_id: &subscription,
                resource_group: &group_value,
                reference: None,
            };
            let mut parameters = Map::new();
            for (key, spec) in &declared {
                let value = match given.get(key).and_then(|g| g.get("value")) {
                    Some(v) => v.clone(),
                    None => match spec.get("defaultValue") {
                        Some(d) => template::evaluate(d, &defaults_scope)?,
                        None => {
                            return Err(invalid_template(format!(
                                "The value for the template parameter '{key}' is not provided"
                            )));
                        }
                    },
                };
                parameters.insert(key.clone(), value);
            }
            let scope = Scope {
                parameters: &parameters,
                variables: &variables,
                subscription_id: &subscription,
                resource_group: &group_value,
                reference: None,
            };
            let mut ops = Vec::new();
            let mut planned = Vec::new();
            for resource in order(&resources)? {
                let evaluated = template::evaluate(resource, &scope)?;
                if evaluated.get("condition").is_some_and(|c| c == &Value::Bool(false)) {
                    continue;
                }
                if evaluated.get("copy").is_some() {
                    return Err(invalid_template("copy loops are not supported"));
                }
                let (kind, id, resource_name) = place(group, &evaluated)?;
                let api_version = evaluated.get("apiVersion").and_then(Value::as_str);
                ops.push(arm::put_operation(
                    kind,
                    &id,
                    &evaluated,
                    Query { api_version, sync_remote_address_space: false },
                )?);
                planned.push(Planned { name: resource_name, id });
            }
            Ok((ops, (parameters, group_value, planned)))
        },
        |state, _, (parameters, group_value, planned)| {
            let lookup = |key: &str| -> Option<Value> {
                let id = planned
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(key) || p.id.as_str().eq_ignore_ascii_case(key))
                    .map(|p| p.id.clone())
                    .or_else(|| ResourceId::parse(key).ok())?;
                let stored = state.get(&id)?;
                // The caller sees through reference() only what it may read.
                crate::auth::may_read(state, req, &id).then(|| render(state, stored)["properties"].clone())
            };
            let scope = Scope {
                parameters: &parameters,
                variables: &variables,
                subscription_id: &subscription,
                resource_group: &group_value,
                reference: Some(&lookup),
            };
            let mut evaluated = Map::new();
            for (key, output) in &outputs {
                let value =
                    output.get("value").map(|v| template::evaluate(v, &scope)).transpose()?.unwrap_or(Value::Null);
                let kind = output.get("type").cloned().unwrap_or(json!("Object"));
                evaluated.insert(key.clone(), json!({"type": kind, "value": value}));
            }
            let resources: Vec<Value> = planned.iter().map(|p| json!({"id": p.id})).collect();
            // Secure parameters are not echoed back, as ARM does.
            let mut shown = Map::new();
            for (key, value) in &parameters {
                let secure = declared
                    .get(key)
                    .and_then(|d| d.get("type"))
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"));
                shown.insert(
                    key.clone(),
                    if secure { json!({"type": "SecureString"}) } else { json!({"type": "String", "value": value}) },
                );
            }
            Ok::<_, AzureError>((evaluated, resources, shown))
        },
    );
    let (outputs, output_resources, shown) = match result {
        Ok((_, finished)) => finished?,
        Err(PlannedError::Plan(e)) | Err(PlannedError::Rejected { error: e, .. }) => return Err(deployment_failed(e)),
        Err(PlannedError::Store(e)) => return Err(errors::internal(&e.to_string())),
    };
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let record = json!({
        "id": deployment_id(group, name),
        "name": name,
        "type": "Microsoft.Resources/deployments",
        "properties": {
            "provisioningState": "Succeeded",
            "timestamp": now,
            "duration": "PT0S",
            "correlationId": uuid::Uuid::new_v4(),
            "mode": "Incremental",
            "parameters": shown,
            "outputs": outputs,
            "outputResources": output_resources,
            "dependencies": [],
            "providers": []
        }
    });
    Ok((record, created))
}

fn failed_record(group: &ResourceId, name: &str, error: &AzureError) -> Value {
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    json!({
        "id": deployment_id(group, name),
        "name": name,
        "type": "Microsoft.Resources/deployments",
        "properties": {
            "provisioningState": "Failed",
            "timestamp": now,
            "duration": "PT0S",
            "correlationId": uuid::Uuid::new_v4(),
            "mode": "Incremental",
            "error": error,
        }
    })
}

/// A deployment whose template is fine but whose resources the rules refuse: ARM's
/// `DeploymentFailed`, the refusal in its details.
fn deployment_failed(inner: AzureError) -> AzureError {
    if inner.code == "InvalidTemplate" {
        return inner;
    }
    let mut e = AzureError::bad_request(
        "DeploymentFailed",
        "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
    );
    e.details.push(inner);
    e
}

/// Where a template resource goes: its kind, id and template name.
fn place(group: &ResourceId, resource: &Value) -> Result<(Kind, ResourceId, String), AzureError> {
    let ty = resource.get("type").and_then(Value::as_str).unwrap_or_default();
    let name = resource.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = Kind::from_arm_type(ty)
        .filter(|k| !matches!(k, Kind::Tenant | Kind::Subscription | Kind::ResourceGroup))
        .ok_or_else(|| invalid_template(format!("The resource type '{ty}' is not one vnetlab models")))?;
    let names: Vec<&str> = name.split('/').collect();
    let bad = || invalid_template(format!("The resource name '{name}' does not fit the type '{ty}'"));
    let id = match (kind.parent(), names.as_slice()) {
        (None, [n]) => group.top_level(kind, n).map_err(|_| bad())?,
        (Some(parent), [p, c]) => group.top_level(parent, p).and_then(|pid| pid.child(kind, c)).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok((kind, id, name))
}

/// Template resources in an order that puts each after what it `dependsOn`.
fn order(resources: &[Value]) -> Result<Vec<&Value>, AzureError> {
    let name_of = |r: &Value| r.get("name").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let mut done: Vec<bool> = vec![false; resources.len()];
    let mut out = Vec::with_capacity(resources.len());
    while out.len() < resources.len() {
        let before = out.len();
        for (i, r) in resources.iter().enumerate() {
            if done[i] {
                continue;
            }
            let deps: Vec<String> = r
                .get("dependsOn")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect())
                .unwrap_or_default();
            let waiting = deps.iter().any(|d| {
                resources.iter().enumerate().any(|(j, other)| {
                    !done[j] && j != i && {
                        let n = name_of(other);
                        !n.is_empty()
                            && (d == &n
                                || d.ends_with(&format!("/{}'", n))
                                || d.ends_with(&format!("/{n}"))
                                || d.contains(&format!("'{n}'")))
                    }
                })
            });
            if !waiting {
                done[i] = true;
                out.push(r);
            }
        }
        if out.len() == before {
            return Err(invalid_template("the template's dependsOn has a cycle"));
        }
    }
    Ok(out)
}
