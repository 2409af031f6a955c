//! The few Microsoft Graph calls `az role assignment` makes to name principals: objects by id,
//! service principals by name, users by sign-in name, and the signed-in principal. Only the
//! caller's tenant's directory is visible.

use axum::http::Method;
use serde_json::{Value, json};
use vnetlab_model::{Kind, Principal, PrincipalType, View};

use crate::body::At;
use crate::http::{Reply, Request};
use crate::{App, auth, errors};

fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
}

fn object(p: &Principal) -> Value {
    match p.principal_type {
        PrincipalType::ServicePrincipal => json!({
            "@odata.type": "#microsoft.graph.servicePrincipal",
            "id": p.object_id,
            "appId": p.app_id,
            "displayName": p.display_name,
            "servicePrincipalNames": p.app_id.iter().collect::<Vec<_>>(),
            "servicePrincipalType": "Application",
            "accountEnabled": true
        }),
        PrincipalType::User => json!({
            "@odata.type": "#microsoft.graph.user",
            "id": p.object_id,
            "displayName": p.display_name,
            "userPrincipalName": p.user_principal_name,
            "accountEnabled": true
        }),
    }
}

/// A `$filter` value in quotes after `prefix`, up to `suffix`.
fn quoted<'a>(filter: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let lower = filter.to_ascii_lowercase();
    if !lower.starts_with(&prefix.to_ascii_lowercase()) || !lower.ends_with(&suffix.to_ascii_lowercase()) {
        return None;
    }
    filter.get(prefix.len()..filter.len() - suffix.len())
}

/// `/v1.0/{path...}`.
pub fn answer(app: &App, req: &Request, path: &[String]) -> Reply {
    let read = app.lab.read(|state| -> Result<Reply, Reply> {
        let caller = auth::authenticate_for(app, req, state, false)?;
        let directory: Vec<&Principal> = state
            .all_of(Kind::Principal)
            .into_iter()
            .filter_map(|p| p.resource.as_principal())
            .filter(|p| p.is_member_of(&caller.tenant_id))
            .collect();
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let list = |found: Vec<&&Principal>| Reply::ok(json!({"value": found.into_iter().map(|p| object(p)).collect::<Vec<_>>()}));
        Ok(match (req.method.clone(), p.as_slice()) {
            (Method::POST, [d, g]) if is(d, "directoryObjects") && is(g, "getByIds") => {
                let body = crate::body::parse(&req.body).map_err(Reply::from)?;
                let ids = At::root(&body).strings("ids").map_err(Reply::from)?.unwrap_or_default();
                let found: Vec<&&Principal> =
                    directory.iter().filter(|p| ids.iter().any(|i| i.eq_ignore_ascii_case(&p.object_id))).collect();
                list(found)
            }
            (Method::GET, [m]) if is(m, "me") => {
                match directory.iter().find(|p| p.object_id.eq_ignore_ascii_case(&caller.object_id)) {
                    Some(p) => Reply::ok(object(p)),
                    None => graph_error(404, "Request_ResourceNotFound", "Resource does not exist."),
                }
            }
            (Method::GET, [c]) if is(c, "servicePrincipals") || is(c, "users") => {
                let filter = req.query("$filter").unwrap_or_default().trim();
                let services = is(c, "servicePrincipals");
                let wanted = if services {
                    quoted(filter, "servicePrincipalNames/any(c:c eq '", "')")
                        .or_else(|| quoted(filter, "appId eq '", "'"))
                        .or_else(|| quoted(filter, "displayName eq '", "'"))
                } else {
                    quoted(filter, "userPrincipalName eq '", "'").or_else(|| quoted(filter, "displayName eq '", "'"))
                };
                if !filter.is_empty() && wanted.is_none() {
                    return Ok(graph_error(400, "Request_UnsupportedQuery", "Unsupported query."));
                }
                let found: Vec<&&Principal> = directory
                    .iter()
                    .filter(|p| (p.principal_type == PrincipalType::ServicePrincipal) == services)
                    .filter(|p| {
                        wanted.is_none_or(|w| {
                            [p.app_id.as_deref(), p.user_principal_name.as_deref(), Some(p.display_name.as_str())]
                                .into_iter()
                                .flatten()
                                .any(|v| v.eq_ignore_ascii_case(w))
                        })
                    })
                    .collect();
                list(found)
            }
            (Method::GET, [c, id]) if is(c, "servicePrincipals") || is(c, "users") || is(c, "directoryObjects") => {
                match directory.iter().find(|p| p.object_id.eq_ignore_ascii_case(id)) {
                    Some(p) => Reply::ok(object(p)),
                    None => graph_error(
                        404,
                        "Request_ResourceNotFound",
                        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
                    ),
                }
            }
            _ => graph_error(400, "BadRequest", &format!("Resource not found for the segment '{}'.", p.first().unwrap_or(&""))),
        })
    });
    match read {
        Ok(Ok(reply)) | Ok(Err(reply)) => reply,
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}
