//! Resource endpoints: GET, PUT, PATCH, DELETE and LIST of every kind, the read-only parts with
//! paths of their own, and the actions. Handlers parse, hand operations to the lab, and render
//! what the write left; the rules are the engine's.

use std::net::IpAddr;

use axum::http::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use vnetlab_control::{OwnedRequest, PlannedError};
use vnetlab_engine::Effect;
use vnetlab_engine::Operation;
use vnetlab_model::arm::render;
use vnetlab_model::{AzureError, Kind, ResourceId, State, View, ViewExt};

use crate::arm::{self, Query};
use crate::http::{Reply, Request};
use crate::identity::{find_subscription, subscription_missing};
use crate::lro::{self, LroMode};
use crate::route::{Action, Part};
use crate::{App, body, errors, paging};

/// The origin resources created through the API record.
const ORIGIN: &str = "api";

/// ARM's answer for a resource that is not there: the first missing thing on the way down.
pub(crate) fn missing(state: &State, id: &ResourceId) -> AzureError {
    let subscription = id.subscription_id().unwrap_or_default();
    if find_subscription(state, subscription).is_none() {
        return subscription_missing(subscription);
    }
    if let Some(group) = id.resource_group_id()
        && !state.exists(&group)
    {
        return vnetlab_engine::errors::resource_group_not_found(group.name());
    }
    let mut ancestor = id.parent();
    let mut chain = Vec::new();
    while let Some(a) = ancestor {
        if a.kind().is_some_and(|k| !matches!(k, Kind::ResourceGroup | Kind::Subscription)) {
            chain.push(a.clone());
        }
        ancestor = a.parent();
    }
    if let Some(gone) = chain.iter().rev().find(|a| !state.exists(a)) {
        return vnetlab_engine::errors::resource_not_found(gone);
    }
    if chain.is_empty() {
        vnetlab_engine::errors::resource_not_found(id)
    } else {
        vnetlab_engine::errors::not_found(id)
    }
}

/// The subscription of `id` must exist.
fn require_subscription(state: &State, subscription: &str) -> Result<(), AzureError> {
    match find_subscription(state, subscription) {
        Some(_) => Ok(()),
        None => Err(subscription_missing(subscription)),
    }
}

/// The region a resource is in: its own, or its nearest ancestor's.
fn location_of(state: &State, id: &ResourceId) -> String {
    let mut at = Some(id.clone());
    while let Some(current) = at {
        if let Some(location) = state.resource(&current).and_then(|r| r.location()) {
            return location.to_string();
        }
        at = current.parent();
    }
    "westus".to_owned()
}

fn namespace_of(kind: Kind) -> &'static str {
    kind.arm_type().split('/').next().unwrap_or("Microsoft.Network")
}

fn internal(e: impl std::fmt::Display) -> Reply {
    errors::internal(&e.to_string()).into()
}

/// Etags compared without the weak marker and quotes.
fn same_etag(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").trim_matches('"').to_owned();
    bare(a) == bare(b)
}

/// `If-Match` and `If-None-Match` of a write.
struct Conditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
}

impl Conditions {
    fn of(req: &Request) -> Conditions {
        Conditions {
            if_match: req.header("if-match").map(str::to_owned),
            if_none_match: req.header("if-none-match").map(str::to_owned),
        }
    }

    /// ARM's rules: a PUT with `If-None-Match: *` creates only; `If-Match` needs the resource,
    /// with that etag (`*`: any); a DELETE of a missing resource is not held to `If-Match`.
    fn check(&self, state: &State, id: &ResourceId, deleting: bool) -> Result<(), AzureError> {
        let current = state.get(id).map(|s| s.etag.as_str());
        if let Some(none) = &self.if_none_match
            && !deleting
            && current.is_some()
            && (none.trim() == "*" || current.is_some_and(|c| same_etag(c, none)))
        {
            return Err(errors::precondition_failed(format!("Resource {id} already exists.")));
        }
        if let Some(wanted) = &self.if_match {
            match current {
                None if deleting => {}
                None => {
                    return Err(errors::precondition_failed(format!(
                        "Etag provided in if-match header {wanted} does not match: resource {id} does not exist."
                    )));
                }
                Some(_) if wanted.trim() == "*" => {}
                Some(etag) if same_etag(etag, wanted) => {}
                Some(etag) => {
                    return Err(errors::precondition_failed(format!(
                        "Etag provided in if-match header {wanted} does not match etag {etag} of resource {id}."
                    )));
                }
            }
        }
        Ok(())
    }
}

/// What a write left behind, read in its own transaction.
struct Written {
    effect: Option<Effect>,
    body: Option<Value>,
    /// The long-running operation the write started (async mode).
    operation: Option<Uuid>,
    location: String,
}

/// A write request as the lab takes it: the caller, the client's api-version, and whether it
/// completes before it answers.
pub(crate) fn lab_request(req: &Request, immediate: bool) -> OwnedRequest {
    OwnedRequest {
        caller: req.caller().cloned(),
        api_version: req.api_version().map(str::to_owned),
        origin: Some(ORIGIN.to_owned()),
        immediate,
    }
}

/// Runs `plan` and the operations it returns in one transaction (through the committing
/// thread, with whatever other writes are waiting); reads `id` as they leave it.
fn write(
    app: &App,
    req: &Request,
    id: &ResourceId,
    immediate: bool,
    plan: impl FnOnce(&State) -> Result<Vec<Operation>, AzureError> + Send + 'static,
) -> Result<Written, Reply> {
    let request = lab_request(req, immediate);
    let id = id.clone();
    let result = app.committer.execute_then(
        request,
        |state| plan(state).map(|ops| (ops, ())),
        move |state, executed, ()| {
            let stored = state.get(&id);
            Written {
                effect: executed.first().map(|e| e.effect),
                body: stored.map(|s| render(state, s)),
                operation: executed.iter().find_map(|e| e.operation_id),
                location: location_of(state, &id),
            }
        },
    );
    match result {
        Ok((_, written)) => Ok(written),
        Err(PlannedError::Plan(e)) | Err(PlannedError::Rejected { error: e, .. }) => Err(e.into()),
        Err(PlannedError::Store(e)) => Err(internal(e)),
    }
}

/// Writes Azure completes before it answers, whatever the server's mode: creating a resource
/// group or a network watcher, and updating tags (except on gateways and connections, whose PATCH
/// is long-running).
fn completes_at_once(kind: Kind, method: &Method) -> bool {
    match *method {
        Method::PATCH => !matches!(kind, Kind::VirtualNetworkGateway | Kind::Connection),
        _ => matches!(kind, Kind::ResourceGroup | Kind::NetworkWatcher),
    }
}

/// GET, PUT, PATCH and DELETE of one resource.
pub fn resource(app: &App, req: &Request, id: &ResourceId, kind: Kind) -> Reply {
    match req.method {
        Method::GET => get(app, req, id),
        Method::PUT => put(app, req, id, kind),
        Method::DELETE => delete(app, req, id, kind),
        Method::PATCH if kind.parent().is_none() => patch(app, req, id, kind),
        ref m => errors::method_not_allowed(m.as_str()).into(),
    }
}

fn get(app: &App, req: &Request, id: &ResourceId) -> Reply {
    let found = app.lab.read(|s| match s.get(id) {
        Some(stored) => Ok((render(s, stored), stored.etag.clone())),
        None => Err(missing(s, id)),
    });
    match found {
        Ok(Ok((body, etag))) => {
            if req.header("if-none-match").is_some_and(|n| same_etag(n, &etag)) {
                return Reply::empty(304).header("ETag", etag);
            }
            Reply::ok(body).header("ETag", etag)
        }
        Ok(Err(e)) => e.into(),
        Err(e) => internal(e),
    }
}

fn put(app: &App, req: &Request, id: &ResourceId, kind: Kind) -> Reply {
    let body = match body::parse(&req.body) {
        Ok(body) => body,
        Err(e) => return e.into(),
    };
    let query = Query {
        api_version: req.api_version(),
        sync_remote_address_space: req.query("syncRemoteAddressSpace").is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    let op = match arm::put_operation(kind, id, &body, query) {
        Ok(op) => op,
        Err(e) => return e.into(),
    };
    let conditions = Conditions::of(req);
    let subscription = id.subscription_id().unwrap_or_default().to_owned();
    let target = id.clone();
    let written = write(app, req, id, completes_at_once(kind, &req.method), move |state| {
        require_subscription(state, &subscription)?;
        conditions.check(state, &target, false)?;
        Ok(vec![op])
    });
    put_reply(app, req, id, kind, written)
}

fn put_reply(app: &App, req: &Request, id: &ResourceId, kind: Kind, written: Result<Written, Reply>) -> Reply {
    let written = match written {
        Ok(w) => w,
        Err(reply) => return reply,
    };
    let status = if written.effect == Some(Effect::Created) { 201 } else { 200 };
    let mut reply = Reply::json(status, written.body.unwrap_or(Value::Null));
    if app.options.lro == LroMode::Async
        && let Some(operation) = written.operation
    {
        app.operations.start(operation, true);
        let subscription = id.subscription_id().unwrap_or_default();
        reply.headers.extend(lro::headers(req, subscription, namespace_of(kind), &written.location, operation, false));
    }
    reply
}

fn delete(app: &App, req: &Request, id: &ResourceId, kind: Kind) -> Reply {
    let Some(op) = arm::delete_operation(kind, id) else {
        return errors::method_not_allowed("DELETE").into();
    };
    let conditions = Conditions::of(req);
    let subscription = id.subscription_id().unwrap_or_default().to_owned();
    let target = id.clone();
    let (location_of_target, location_seen) = std::sync::mpsc::sync_channel::<String>(1);
    let written = write(app, req, id, false, move |state| {
        require_subscription(state, &subscription)?;
        conditions.check(state, &target, true)?;
        let _ = location_of_target.send(location_of(state, &target));
        Ok(vec![op])
    });
    let location = location_seen.try_recv().unwrap_or_else(|_| "westus".to_owned());
    match written {
        Err(reply) => reply,
        Ok(w) if w.effect == Some(Effect::Absent) => Reply::empty(204),
        Ok(w) if app.options.lro == LroMode::Async => {
            // What the delete changed on other resources (the link back, now Disconnected) stays
            // `Updating` until its operation completes.
            let operation = w.operation.unwrap_or_else(Uuid::new_v4);
            app.operations.start(operation, w.operation.is_some());
            let mut reply = Reply::empty(202);
            let subscription = id.subscription_id().unwrap_or_default();
            reply.headers.extend(lro::headers(req, subscription, namespace_of(kind), &location, operation, true));
            reply
        }
        // A network watcher's delete is long-running in Azure's API: clients accept 202 or 204, and
        // a 202 comes with where to poll (already done here).
        Ok(_) if kind == Kind::NetworkWatcher => {
            let operation = Uuid::new_v4();
            app.operations.finished(operation);
            let mut reply = Reply::empty(202);
            let subscription = id.subscription_id().unwrap_or_default();
            reply.headers.extend(lro::headers(req, subscription, namespace_of(kind), &location, operation, true));
            reply
        }
        Ok(_) => Reply::empty(200),
    }
}

/// `PATCH` of a top-level resource: its tags.
fn patch(app: &App, req: &Request, id: &ResourceId, kind: Kind) -> Reply {
    let body = match body::parse(&req.body) {
        Ok(body) => body,
        Err(e) => return e.into(),
    };
    let tags = match body::At::root(&body).tags() {
        Ok(tags) => tags,
        Err(e) => return e.into(),
    };
    let conditions = Conditions::of(req);
    let target = id.clone();
    let written = write(app, req, id, completes_at_once(kind, &req.method), move |state| {
        let Some(stored) = state.get(&target) else {
            return Err(missing(state, &target));
        };
        conditions.check(state, &target, false)?;
        let mut current = render(state, stored);
        current["tags"] = json!(tags);
        if let Some(connection) = stored.resource.as_connection()
            && let Some(key) = &connection.properties.shared_key
        {
            current["properties"]["sharedKey"] = json!(key);
        }
        Ok(vec![arm::put_operation(kind, &target, &current, Query::default())?])
    });
    put_reply(app, req, id, kind, written)
}

/// A resource group: PUT, GET, HEAD, PATCH, DELETE.
pub fn group(app: &App, req: &Request, id: &ResourceId) -> Reply {
    match req.method {
        Method::GET | Method::HEAD => {
            let reply = get(app, req, id);
            if req.method == Method::HEAD && reply.status.is_success() { Reply::empty(204) } else { reply }
        }
        Method::PUT => put(app, req, id, Kind::ResourceGroup),
        Method::PATCH => patch(app, req, id, Kind::ResourceGroup),
        Method::DELETE => {
            let subscription = id.subscription_id().unwrap_or_default().to_owned();
            let group = id.clone();
            let written = write(app, req, id, false, move |state| {
                require_subscription(state, &subscription)?;
                Ok(vec![Operation::ResourceGroupDelete { id: group }])
            });
            match written {
                Err(reply) => reply,
                Ok(w) if w.effect == Some(Effect::Absent) => {
                    vnetlab_engine::errors::resource_group_not_found(id.name()).into()
                }
                Ok(w) if app.options.lro == LroMode::Async => {
                    let operation = w.operation.unwrap_or_else(Uuid::new_v4);
                    app.operations.start(operation, w.operation.is_some());
                    let mut reply = Reply::empty(202);
                    reply.headers.extend(lro::group_headers(req, id.subscription_id().unwrap_or_default(), operation));
                    reply
                }
                Ok(_) => Reply::empty(200),
            }
        }
        ref m => errors::method_not_allowed(m.as_str()).into(),
    }
}

/// Rendered resources for a list, or the error for a scope that is not there. The list shows
/// what the caller may read; one that would show nothing at a scope the caller may not read is
/// refused.
fn list(
    app: &App,
    req: &Request,
    scope: &ResourceId,
    kind: Kind,
    select: impl FnOnce(&State) -> Result<Vec<ResourceId>, AzureError>,
) -> Reply {
    let items = app.lab.read(|s| {
        let items = select(s).map(|ids| {
            ids.iter()
                .filter(|id| crate::auth::may_read(s, req, id))
                .filter_map(|id| s.get(id))
                .map(|stored| (stored.id().key().to_owned(), stored))
                .collect::<Vec<_>>()
        })?;
        crate::auth::check_list_scope(s, req, scope, kind, items.len())?;
        // Only the page asked for is rendered. Its token is read after the checks of the list
        // itself, which answer first.
        let after = paging::skip_token(req)?;
        let (chosen, more) = paging::window(items, after.as_deref(), app.options.page_size);
        let rendered: Vec<(String, Value)> = chosen.into_iter().map(|(key, stored)| (key, render(s, stored))).collect();
        Ok::<_, AzureError>((rendered, more))
    });
    match items {
        Ok(Ok((items, more))) => paging::reply(req, items, more),
        Ok(Err(e)) => e.into(),
        Err(e) => internal(e),
    }
}

fn ids_of(state: &State, kind: Kind, within: impl Fn(&ResourceId) -> bool) -> Vec<ResourceId> {
    state.all_of(kind).iter().map(|s| s.id()).filter(|id| within(id)).cloned().collect()
}

/// The subscription id as a resource id, for a list's scope.
fn subscription_scope(subscription: &str) -> Result<ResourceId, Reply> {
    ResourceId::subscription(subscription).map_err(|_| subscription_missing(subscription).into())
}

pub fn list_groups(app: &App, req: &Request, subscription: &str) -> Reply {
    let scope = match subscription_scope(subscription) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    list(app, req, &scope, Kind::ResourceGroup, |s| {
        require_subscription(s, subscription)?;
        Ok(ids_of(s, Kind::ResourceGroup, |id| {
            id.subscription_id().is_some_and(|x| x.eq_ignore_ascii_case(subscription))
        }))
    })
}

pub fn list_in_subscription(app: &App, req: &Request, subscription: &str, kind: Kind) -> Reply {
    let scope = match subscription_scope(subscription) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    list(app, req, &scope, kind, |s| {
        require_subscription(s, subscription)?;
        Ok(ids_of(s, kind, |id| id.subscription_id().is_some_and(|x| x.eq_ignore_ascii_case(subscription))))
    })
}

pub fn list_in_group(app: &App, req: &Request, group: &ResourceId, kind: Kind) -> Reply {
    list(app, req, group, kind, |s| {
        if !s.exists(group) {
            return Err(missing(s, group));
        }
        Ok(ids_of(s, kind, |id| id.resource_group_id().as_ref() == Some(group)))
    })
}

pub fn list_children(app: &App, req: &Request, parent: &ResourceId, kind: Kind) -> Reply {
    list(app, req, parent, kind, |s| {
        if !s.exists(parent) {
            return Err(missing(s, parent));
        }
        Ok(s.children_of(parent, kind).iter().map(|c| c.id().clone()).collect())
    })
}

/// The read-only parts: an NSG's default rules, a NIC's IP configurations.
pub fn part(app: &App, req: &Request, resource: &ResourceId, part: Part, name: Option<&str>) -> Reply {
    let field = match part {
        Part::DefaultSecurityRules => "defaultSecurityRules",
        Part::NicIpConfigurations => "ipConfigurations",
    };
    let items = app.lab.read(|s| match s.get(resource) {
        Some(stored) => Ok(render(s, stored)["properties"][field].as_array().cloned().unwrap_or_default()),
        None => Err(missing(s, resource)),
    });
    let items = match items {
        Ok(Ok(items)) => items,
        Ok(Err(e)) => return e.into(),
        Err(e) => return internal(e),
    };
    match name {
        None => {
            let keyed = items.into_iter().map(|v| (v["id"].as_str().unwrap_or_default().to_lowercase(), v)).collect();
            paging::page(req, keyed, app.options.page_size)
        }
        Some(name) => {
            match items.into_iter().find(|v| v["name"].as_str().is_some_and(|n| vnetlab_model::same_name(n, name))) {
                Some(item) => Reply::ok(item),
                None => match resource.nested(field, name) {
                    Ok(id) => vnetlab_engine::errors::not_found(&id).into(),
                    Err(_) => errors::path_not_found(&req.path).into(),
                },
            }
        }
    }
}

/// Actions on a resource.
pub fn action(app: &App, req: &Request, resource: &ResourceId, action: Action) -> Reply {
    let allowed: &[Method] = match action {
        Action::CheckIpAddressAvailability | Action::Usages | Action::GatewayConnections => &[Method::GET],
        Action::SharedKey => &[Method::GET, Method::PUT],
        Action::SharedKeyReset
        | Action::EffectiveRouteTable
        | Action::EffectiveNetworkSecurityGroups
        | Action::NextHop
        | Action::IpFlowVerify
        | Action::ConnectivityCheck => &[Method::POST],
    };
    if !allowed.contains(&req.method) {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    match action {
        Action::CheckIpAddressAvailability => check_ip_address(app, req, resource),
        Action::EffectiveRouteTable => crate::watcher::effective_route_table(app, resource, missing),
        Action::EffectiveNetworkSecurityGroups => crate::watcher::effective_security_groups(app, resource, missing),
        Action::NextHop => crate::watcher::next_hop(app, req, resource, missing),
        Action::IpFlowVerify => crate::watcher::ip_flow_verify(app, req, resource, missing),
        Action::ConnectivityCheck => crate::watcher::connectivity_check(app, req, resource, missing),
        Action::Usages => usages(app, resource),
        Action::GatewayConnections => list(app, req, resource, Kind::Connection, |s| {
            if !s.exists(resource) {
                return Err(missing(s, resource));
            }
            let mut ids: Vec<ResourceId> =
                s.referrers(resource, Kind::Connection).iter().map(|c| c.id().clone()).collect();
            ids.sort();
            Ok(ids)
        }),
        Action::SharedKey if req.method == Method::GET => {
            let key = app.lab.read(|s| match s.resource(resource).and_then(|r| r.as_connection()) {
                Some(c) => Ok(c.properties.shared_key.clone().unwrap_or_default()),
                None => Err(missing(s, resource)),
            });
            match key {
                Ok(Ok(key)) => Reply::ok(json!({"id": format!("{resource}/sharedkey"), "value": key})),
                Ok(Err(e)) => e.into(),
                Err(e) => internal(e),
            }
        }
        Action::SharedKey => {
            let value = match body::parse(&req.body).and_then(|b| body::At::root(&b).string("value")) {
                Ok(Some(v)) => v,
                Ok(None) => return errors::required_property("", "value").into(),
                Err(e) => return e.into(),
            };
            set_shared_key(app, req, resource, value)
        }
        Action::SharedKeyReset => {
            let length = match body::parse(&req.body).and_then(|b| body::At::root(&b).u32("keyLength")) {
                Ok(Some(n)) if (1..=128).contains(&n) => n,
                Ok(_) => {
                    return errors::invalid_request_format(
                        "keyLength must be a number from 1 to 128. Path 'keyLength'.".to_owned(),
                    )
                    .into();
                }
                Err(e) => return e.into(),
            };
            let key = random_key(length as usize);
            let reply = set_shared_key(app, req, resource, key);
            if reply.status.is_success() { Reply::ok(json!({"keyLength": length})) } else { reply }
        }
    }
}

fn set_shared_key(app: &App, req: &Request, resource: &ResourceId, value: String) -> Reply {
    let target = resource.clone();
    let key = value.clone();
    // Shared keys are set at once in Azure's API, not as a long-running operation.
    let written = write(app, req, resource, true, move |state| {
        let Some(stored) = state.get(&target) else {
            return Err(missing(state, &target));
        };
        let mut current = render(state, stored);
        current["properties"]["sharedKey"] = json!(key);
        Ok(vec![arm::put_operation(Kind::Connection, &target, &current, Query::default())?])
    });
    match written {
        Ok(_) => Reply::ok(json!({"id": format!("{resource}/sharedkey"), "value": value})),
        Err(reply) => reply,
    }
}

/// A fresh alphanumeric key: the bytes of random guids, folded onto letters and digits.
fn random_key(length: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(length);
    while out.len() < length {
        for b in Uuid::new_v4().as_bytes() {
            if out.len() < length {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// `checkIPAddressAvailability`: whether an address of the VNet is free, and if not, the next
/// free ones in its subnet.
fn check_ip_address(app: &App, req: &Request, vnet: &ResourceId) -> Reply {
    let ip = match req.query("ipAddress") {
        Some(s) => match s.trim().parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return errors::invalid_query_parameter("ipAddress", Some(s)).into(),
        },
        None => return errors::invalid_query_parameter("ipAddress", None).into(),
    };
    let answer = app.lab.read(|s| {
        if !s.exists(vnet) {
            return Err(missing(s, vnet));
        }
        // Every subnet range of the address's family, in address order, with what is used in it.
        let mut ranges: Vec<(vnetlab_model::Prefix, std::collections::BTreeMap<IpAddr, ResourceId>)> = s
            .subnets_of(vnet)
            .iter()
            .flat_map(|subnet| {
                let used = vnetlab_engine::ipam::used_addresses(s, &subnet.id);
                subnet.prefixes().into_iter().map(move |p| (p, used.clone()))
            })
            .filter(|(p, _)| p.is_ipv4() == ip.is_ipv4())
            .collect();
        ranges.sort_by_key(|r| r.0);
        let free_at =
            |prefix: &vnetlab_model::Prefix, used: &std::collections::BTreeMap<IpAddr, ResourceId>, a: IpAddr| {
                !vnetlab_engine::ipam::is_reserved(prefix, a) && !used.contains_key(&a)
            };
        let home = ranges.iter().find(|(p, _)| p.contains_addr(ip));
        if let Some((prefix, used)) = home
            && free_at(prefix, used, ip)
        {
            return Ok(json!({"available": true}));
        }
        // The next free addresses after it: in its subnet, then in the subnets above it. An
        // address outside every subnet is not available [gap: what Azure lists for it].
        let mut free = Vec::new();
        for (prefix, used) in &ranges {
            let start = match prefix.offset_of(ip) {
                Some(offset) => offset + 1,
                None if prefix.nth(0).is_some_and(|first| first > ip) => 0,
                None => continue,
            };
            let mut offset = start;
            while free.len() < 5 && offset < prefix.size() {
                if let Some(candidate) = prefix.nth(offset)
                    && free_at(prefix, used, candidate)
                {
                    free.push(candidate.to_string());
                }
                offset += 1;
            }
        }
        let reserved = home.is_some_and(|(p, _)| vnetlab_engine::ipam::is_reserved(p, ip));
        Ok(json!({"available": false, "availableIPAddresses": free, "isPlatformReserved": reserved}))
    });
    match answer {
        Ok(Ok(body)) => Reply::ok(body),
        Ok(Err(e)) => e.into(),
        Err(e) => internal(e),
    }
}

/// `usages`: per subnet, the addresses in use and the usable ones.
fn usages(app: &App, vnet: &ResourceId) -> Reply {
    let answer = app.lab.read(|s| {
        if !s.exists(vnet) {
            return Err(missing(s, vnet));
        }
        let value: Vec<Value> = s
            .subnets_of(vnet)
            .iter()
            .map(|subnet| {
                let used = vnetlab_engine::ipam::used_addresses(s, &subnet.id).len();
                let limit: u128 = subnet.prefixes().iter().map(|p| p.size().saturating_sub(5)).sum();
                json!({
                    "currentValue": used,
                    "id": subnet.id,
                    "limit": u64::try_from(limit).unwrap_or(u64::MAX),
                    "name": {"localizedValue": "Subnet size and usage", "value": "Subnet size and usage"},
                    "unit": "Count"
                })
            })
            .collect();
        Ok(json!({"value": value}))
    });
    match answer {
        Ok(Ok(body)) => Reply::ok(body),
        Ok(Err(e)) => e.into(),
        Err(e) => internal(e),
    }
}
