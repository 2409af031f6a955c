//! Microsoft.Authorization: role definitions (Azure's built-in roles) and role assignments, at
//! any scope (`{scope}/providers/Microsoft.Authorization/...`), as `az role assignment
//! create/list/delete` and `az role definition list` use them.

use axum::http::Method;
use serde_json::{Value, json};
use vnetlab_authz::{RoleDefinition, covers};
use vnetlab_control::PlannedError;
use vnetlab_engine::{Effect, Operation, RoleAssignmentSpec};
use vnetlab_model::{AzureError, Kind, PrincipalType, ResourceId, RoleAssignment, State, View, ViewExt};

use crate::body::At;
use crate::http::{Reply, Request};
use crate::{App, errors, paging};

/// `/` for the root, else the scope path with ARM's spelling kept.
fn scope_path(scope: &str) -> &str {
    if scope.is_empty() { "/" } else { scope }
}

/// The subscription part of a scope, for definition ids: `/subscriptions/{id}`, or nothing at the
/// root.
fn subscription_prefix(scope: &str) -> String {
    ResourceId::parse(scope)
        .ok()
        .and_then(|id| id.subscription_id().map(|s| format!("/subscriptions/{s}")))
        .unwrap_or_default()
}

fn definition_body(role: &RoleDefinition, scope: &str) -> Value {
    let guid = role.id.to_ascii_lowercase();
    json!({
        "id": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{guid}", subscription_prefix(scope)),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": guid,
        "properties": {
            "roleName": role.name,
            "type": "BuiltInRole",
            "description": role.description,
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": role.actions,
                "notActions": role.not_actions,
                "dataActions": [],
                "notDataActions": []
            }],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2021-11-11T20:13:47.8628684Z",
            "createdBy": null,
            "updatedBy": null
        }
    })
}

/// A `$filter` of the form `name eq 'value'`.
fn equals_filter<'a>(filter: &'a str, name: &str) -> Option<&'a str> {
    let (left, right) = filter.split_once(" eq ")?;
    let right = right.trim();
    (left.trim().eq_ignore_ascii_case(name) && right.len() >= 2 && right.starts_with('\'') && right.ends_with('\''))
        .then(|| &right[1..right.len() - 1])
}

/// `GET {scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]`.
pub fn definitions(app: &App, req: &Request, scope: &str, name: Option<&str>) -> Reply {
    if req.method != Method::GET {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    let scope = scope_path(scope);
    let listed =
        app.lab.read(|s| s.authorizer().roles().into_iter().map(|r| definition_body(r, scope)).collect::<Vec<_>>());
    let all = match listed {
        Ok(all) => all,
        Err(e) => return errors::internal(&e.to_string()).into(),
    };
    if let Some(name) = name {
        return match all.into_iter().find(|d| d["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))) {
            Some(d) => Reply::ok(d),
            None => vnetlab_engine::errors::role_definition_does_not_exist(name).into(),
        };
    }
    let filter = req.query("$filter").map(str::trim).filter(|f| !f.is_empty());
    let chosen: Vec<Value> = match filter {
        None => all,
        Some(f) => {
            if let Some(role_name) = equals_filter(f, "roleName") {
                all.into_iter()
                    .filter(|d| d["properties"]["roleName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(role_name)))
                    .collect()
            } else if let Some(kind) = equals_filter(f, "type") {
                all.into_iter()
                    .filter(|d| d["properties"]["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind)))
                    .collect()
            } else {
                return errors::invalid_query_parameter("$filter", Some(f)).into();
            }
        }
    };
    Reply::ok(json!({"value": chosen}))
}

fn assignment_body(a: &RoleAssignment) -> Value {
    let p = &a.properties;
    json!({
        "properties": {
            "roleDefinitionId": p.role_definition_id,
            "principalId": p.principal_id,
            "principalType": p.principal_type.as_str(),
            "scope": p.scope,
            "condition": null,
            "conditionVersion": null,
            "createdOn": p.created_on,
            "updatedOn": p.updated_on,
            "createdBy": p.created_by,
            "updatedBy": p.updated_by,
            "delegatedManagedIdentityResourceId": null,
            "description": p.description
        },
        "id": a.arm_id(),
        "type": "Microsoft.Authorization/roleAssignments",
        "name": a.name
    })
}

/// The assignment `name` at exactly `scope`.
fn find<'s>(state: &'s State, scope: &str, name: &str) -> Result<&'s RoleAssignment, AzureError> {
    let id = vnetlab_engine::role_assignment_id(state, scope, name)?;
    state
        .resource(&id)
        .and_then(|r| r.as_role_assignment())
        .filter(|a| ResourceId::parse(&a.properties.scope).ok() == ResourceId::parse(scope).ok())
        .ok_or_else(|| errors::role_assignment_not_found(name))
}

/// `{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]`.
pub fn assignments(app: &App, req: &Request, scope: &str, name: Option<&str>) -> Reply {
    let scope = scope_path(scope).to_owned();
    match (&req.method, name) {
        (&Method::GET, None) => list(app, req, &scope),
        (&Method::GET, Some(name)) => {
            let found = app.lab.read(|s| find(s, &scope, name).map(assignment_body));
            match found {
                Ok(Ok(body)) => Reply::ok(body),
                Ok(Err(e)) => e.into(),
                Err(e) => errors::internal(&e.to_string()).into(),
            }
        }
        (&Method::PUT, Some(name)) => put(app, req, &scope, name),
        (&Method::DELETE, Some(name)) => delete(app, req, &scope, name),
        (m, _) => errors::method_not_allowed(m.as_str()).into(),
    }
}

fn put(app: &App, req: &Request, scope: &str, name: &str) -> Reply {
    let body = match crate::body::parse(&req.body) {
        Ok(body) => body,
        Err(e) => return e.into(),
    };
    let spec = match spec_of(&At::root(&body), scope, req) {
        Ok(spec) => spec,
        Err(e) => return e.into(),
    };
    let (scope, name) = (scope.to_owned(), name.to_owned());
    let request = crate::resources::lab_request(req, true);
    let result = app.committer.execute_then(
        request,
        move |state| {
            let id = vnetlab_engine::role_assignment_id(state, &scope, &name)?;
            Ok((vec![Operation::RoleAssignmentPut { id: id.clone(), spec }], id))
        },
        |state, executed, id| {
            let body = state.resource(&id).and_then(|r| r.as_role_assignment()).map(assignment_body);
            (executed.first().map(|e| e.effect), body)
        },
    );
    match result {
        Ok((_, (effect, Some(body)))) => Reply::json(if effect == Some(Effect::Created) { 201 } else { 200 }, body),
        Ok((_, (_, None))) => errors::internal("the role assignment was not written").into(),
        Err(PlannedError::Plan(e)) | Err(PlannedError::Rejected { error: e, .. }) => e.into(),
        Err(PlannedError::Store(e)) => errors::internal(&e.to_string()).into(),
    }
}

fn spec_of(root: &At<'_>, scope: &str, req: &Request) -> Result<RoleAssignmentSpec, AzureError> {
    let props = root.properties()?;
    let role_definition_id =
        props.string("roleDefinitionId")?.ok_or_else(|| errors::required_property(props.path(), "roleDefinitionId"))?;
    let principal_id =
        props.string("principalId")?.ok_or_else(|| errors::required_property(props.path(), "principalId"))?;
    if uuid::Uuid::parse_str(&principal_id).is_err() {
        return Err(errors::invalid_principal_id(&principal_id));
    }
    let principal_type = match props.string("principalType")? {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("ServicePrincipal") => Some(PrincipalType::ServicePrincipal),
        Some(t) if t.eq_ignore_ascii_case("User") => Some(PrincipalType::User),
        Some(t) => {
            return Err(errors::invalid_principal_type(&t));
        }
    };
    if props.string("condition")?.is_some() {
        return Err(errors::role_assignment_condition_unsupported());
    }
    Ok(RoleAssignmentSpec {
        scope: scope.to_owned(),
        role_definition_id,
        principal_id,
        principal_type,
        description: props.string("description")?,
        created_by: req.caller().map(|c| c.object_id.clone()),
    })
}

fn delete(app: &App, req: &Request, scope: &str, name: &str) -> Reply {
    if uuid::Uuid::parse_str(name).is_err() {
        return vnetlab_engine::errors::invalid_role_assignment_id(name).into();
    }
    let (scope, name) = (scope.to_owned(), name.to_owned());
    let request = crate::resources::lab_request(req, true);
    let result = app.committer.execute_then(
        request,
        move |state| {
            let existing = find(state, &scope, &name).ok().map(assignment_body);
            let ops = match &existing {
                Some(_) => vec![Operation::RoleAssignmentDelete {
                    id: vnetlab_engine::role_assignment_id(state, &scope, &name)?,
                }],
                None => {
                    // The scope must still be one there can be assignments at.
                    vnetlab_engine::role_assignment_id(state, &scope, &name)?;
                    Vec::new()
                }
            };
            Ok((ops, existing))
        },
        |_, _, existing| existing,
    );
    match result {
        Ok((_, Some(body))) => Reply::ok(body),
        Ok((_, None)) => Reply::empty(204),
        Err(PlannedError::Plan(e)) | Err(PlannedError::Rejected { error: e, .. }) => e.into(),
        Err(PlannedError::Store(e)) => errors::internal(&e.to_string()).into(),
    }
}

/// What a list's `$filter` keeps.
enum Filter {
    /// At, above and below the scope.
    All,
    /// At the scope and above it (`atScope()`).
    AtScope,
    /// One principal's, at, above and below (`principalId eq '{id}'`, `assignedTo('{id}')`).
    Principal(String),
}

fn filter_of(req: &Request) -> Result<Filter, AzureError> {
    let Some(f) = req.query("$filter").map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(Filter::All);
    };
    if f.eq_ignore_ascii_case("atScope()") {
        return Ok(Filter::AtScope);
    }
    if let Some(id) = equals_filter(f, "principalId") {
        return Ok(Filter::Principal(id.to_owned()));
    }
    let lower = f.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("assignedto('").and_then(|r| r.strip_suffix("')")) {
        return Ok(Filter::Principal(rest.to_owned()));
    }
    Err(errors::invalid_query_parameter("$filter", Some(f)))
}

fn list(app: &App, req: &Request, scope: &str) -> Reply {
    let filter = match filter_of(req) {
        Ok(f) => f,
        Err(e) => return e.into(),
    };
    let caller = req.caller();
    let listed = app.lab.read(|s| -> Result<Vec<(String, Value)>, AzureError> {
        // The scope must be one assignments can be at; its subscription must exist.
        vnetlab_engine::role_assignment_id(s, scope, "00000000-0000-0000-0000-000000000000")?;
        let read = vnetlab_engine::authorization::action(Kind::RoleAssignment, "read");
        if let Some(c) = caller {
            vnetlab_engine::authorization::check(s, c, &read, scope)?;
        }
        Ok(s.all_of(Kind::RoleAssignment)
            .into_iter()
            .filter_map(|a| a.resource.as_role_assignment())
            .filter(|a| {
                let above = covers(&a.properties.scope, scope);
                let below = covers(scope, &a.properties.scope);
                match &filter {
                    Filter::All => above || below,
                    Filter::AtScope => above,
                    Filter::Principal(p) => (above || below) && a.properties.principal_id.eq_ignore_ascii_case(p),
                }
            })
            .filter(|a| caller.is_none_or(|c| vnetlab_engine::authorization::permits(s, c, &read, &a.properties.scope)))
            .map(|a| (a.id.key().to_owned(), assignment_body(a)))
            .collect())
    });
    match listed {
        Ok(Ok(items)) => paging::page(req, items, app.options.page_size),
        Ok(Err(e)) => e.into(),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}
