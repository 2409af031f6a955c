//! The portal: a web page at `/` on the API's own port, for VNets and their peerings, written in
//! plain JavaScript that calls the same ARM API as az (no framework, nothing fetched at run
//! time). The assets are compiled into the server. `/portal/events` tells an open page when the
//! lab changes (server-sent events from the store's revisions), whoever changed it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use serde_json::{Value, json};
use vnetlab_analysis::azure::reach::{self, By};
use vnetlab_analysis::azure::trace::{Probe, Trace, Tracer, primary_end};
use vnetlab_analysis::graph::{NodeKind, Topology};
use vnetlab_analysis::picture;
use vnetlab_model::{AzureError, Kind, ResourceId, State, Stored, View, ViewExt};

use crate::auth::may_read;
use crate::body::{self, At};
use axum::http::Method;

use crate::http::{Reply, Request};
use crate::{App, errors, watcher};

const INDEX: &str = include_str!("../portal/index.html");
const SCRIPT: &str = include_str!("../portal/app.js");
const TOPOLOGY_SCRIPT: &str = include_str!("../portal/topology.js");
const STYLE: &str = include_str!("../portal/style.css");

/// How often an open page's event stream looks for a new revision.
const WATCH_EVERY: Duration = Duration::from_millis(20);

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // Only the page's own script and style, and calls to this server.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"),
    );
    r
}

pub fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub fn topology_script() -> Response {
    asset(TOPOLOGY_SCRIPT, "text/javascript; charset=utf-8")
}

pub fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// What the sign-in page needs to know: whether the lab has more than its own principal (then
/// the page asks who signs in; else it signs in as the lab's principal).
pub fn session(app: &App) -> Response {
    let principals = app.lab.read(|s| s.all_of(Kind::Principal).len()).unwrap_or(0);
    let body =
        json!({"principals": principals, "tenant": app.options.tenant_id, "subscription": app.options.subscription_id});
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// Server-sent events: `revision` with the store's revision, at once and after every change. The
/// token comes in the query (an `EventSource` sends no headers) and must be one the API accepts.
pub async fn events(app: Arc<App>, token: Option<String>) -> Response {
    let checked = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || crate::auth::token_holds(&app, token.as_deref().unwrap_or_default())).await
    };
    if !matches!(checked, Ok(true)) {
        return crate::into_response(crate::Reply::error(&crate::auth::invalid_token()));
    }
    let stream = futures::stream::unfold((app, None::<u64>), |(app, last)| async move {
        loop {
            let reader = app.clone();
            let now = tokio::task::spawn_blocking(move || vnetlab_store::Store::revision(reader.lab.store()).ok())
                .await
                .ok()
                .flatten();
            match now {
                Some(revision) if Some(revision) != last => {
                    let event = Event::default().event("revision").data(revision.to_string());
                    return Some((Ok::<_, Infallible>(event), (app, Some(revision))));
                }
                _ => tokio::time::sleep(WATCH_EVERY).await,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// `/portal/{what}`, for a signed-in caller: `vnets` (GET), `topology` (GET), `trace` (POST),
/// `reach` (GET).
pub fn answer(app: &App, req: &Request, what: &str) -> Reply {
    let (method, handler): (Method, fn(&App, &Request) -> Reply) = match what {
        "vnets" => (Method::GET, vnets),
        "topology" => (Method::GET, topology),
        "trace" => (Method::POST, trace),
        "reach" => (Method::GET, reach),
        _ => return errors::path_not_found(&req.path).into(),
    };
    if req.method != method {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    handler(app, req)
}

/// The resources of `kind` the caller may read.
fn visible<'s>(state: &'s State, req: &'s Request, kind: Kind) -> impl Iterator<Item = &'s Stored> {
    state.all_of(kind).into_iter().filter(move |s| may_read(state, req, s.id()))
}

/// The body `f` makes of the lab's state, or the error reply when the store cannot be read.
fn read_json(app: &App, f: impl FnOnce(&State) -> Value) -> Reply {
    match app.lab.read(f) {
        Ok(body) => Reply::ok(body),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}

/// The virtual networks the caller may read, one row each as the list page shows them: what the
/// Azure portal's browse blade asks Azure Resource Graph, rather than every VNet in full (10 KB
/// each for a hub with 9 peerings) over ARM's pages.
fn vnets(app: &App, req: &Request) -> Reply {
    read_json(app, |state| {
        let rows: Vec<Value> = visible(state, req, Kind::VirtualNetwork)
            .filter_map(|s| {
                let vnet = s.resource.as_virtual_network()?;
                let subscription = vnet
                    .id
                    .subscription_id()
                    .and_then(|id| crate::identity::find_subscription(state, id))
                    .map(|s| s.display_name.clone());
                Some(json!({
                    "id": vnet.id.as_str(),
                    "name": vnet.name,
                    "resourceGroup": vnet.id.resource_group_name(),
                    "location": vnet.location.to_string(),
                    "addressPrefixes": vnet.properties.address_space.address_prefixes.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "subscription": subscription,
                    "peerings": state.children_of(&vnet.id, Kind::VirtualNetworkPeering).len(),
                }))
            })
            .collect();
        json!({"value": rows, "revision": state.revision()})
    })
}

/// The picture: the topology the caller may see, placed, with the store's revision and the VMs
/// a trace can start from (each with the index of its VNet's node).
fn topology(app: &App, req: &Request) -> Reply {
    read_json(app, |state| {
        let topology = Topology::visible(state, &|id| may_read(state, req, id));
        let placed = picture::place(&topology);
        let mut body = picture::to_json(&topology, &placed);
        // VMs are placed in the VNets drawn, not in the placeholders of those the caller cannot read.
        let node_of: HashMap<&str, usize> = topology
            .graph
            .node_indices()
            .filter(|i| topology.graph[*i].kind != NodeKind::Absent)
            .map(|i| (topology.graph[i].id.key(), i.index()))
            .collect();
        let vms: Vec<Value> = visible(state, req, Kind::VirtualMachine)
            .filter_map(|s| {
                let vm = s.resource.as_virtual_machine()?;
                let vnet = vm_vnet(state, req, vm)?;
                let node = node_of.get(vnet.key())?;
                Some(json!({"id": vm.id.as_str(), "name": vm.name, "node": node}))
            })
            .collect();
        body["vms"] = Value::Array(vms);
        body["revision"] = json!(state.revision());
        body
    })
}

/// The VNet of a VM's primary NIC, when the caller may read the NIC.
fn vm_vnet(state: &State, req: &Request, vm: &vnetlab_model::VirtualMachine) -> Option<ResourceId> {
    let nic = vm.primary_nic_id().filter(|id| may_read(state, req, id))?;
    let nic = state.resource(nic)?.as_network_interface()?;
    nic.primary_ip_configuration()?.properties.subnet.id.parent()
}

/// `POST /portal/trace` `{source, destination, protocol, port}`: the trace from one VM (or NIC)
/// to another, as `vnetlab trace` gives it, with the places each leg crosses for the picture.
fn trace(app: &App, req: &Request) -> Reply {
    let parse = |at: &At<'_>| -> Result<_, AzureError> {
        let source = watcher::reference(at, "source")?;
        let destination = watcher::reference(at, "destination")?;
        let port = at.number("port", u64::from(u16::MAX))?.map(|p| p as u16);
        let protocol = at.string("protocol")?;
        let probe = Probe::connectivity(protocol.as_deref(), port)
            .ok_or_else(|| errors::unknown_probe_protocol(protocol.as_deref().unwrap_or_default(), Some("protocol")))?;
        Ok((source, destination, probe))
    };
    let (source, destination, probe) = match body::parse(&req.body).and_then(|b| parse(&At::root(&b))) {
        Ok(parsed) => parsed,
        Err(e) => return e.into(),
    };
    watcher::answer(app, |state, network| {
        let mut ends = Vec::new();
        for (id, path) in [(&source, "source"), (&destination, "destination")] {
            if !matches!(id.kind(), Some(Kind::VirtualMachine | Kind::NetworkInterface)) {
                return Err(errors::invalid_request_format(format!(
                    "The {path} '{id}' is not a virtual machine or a network interface. Path '{path}'."
                )));
            }
            watcher::check_readable(state, req, id)?;
            if !state.exists(id) {
                return Err(crate::resources::missing(state, id));
            }
            ends.push(primary_end(network, id).map_err(|e| e.to_azure())?);
        }
        let tracer = Tracer::new(network, state);
        let mut trace = tracer.trace(&ends[0], &ends[1], probe).map_err(|e| e.to_azure())?;
        let steps = |hops| -> Vec<Value> {
            picture::steps(network, state, hops)
                .into_iter()
                .filter(|s| may_read(state, req, &s.id))
                .map(|s| json!({"id": s.id.as_str(), "blocked": s.blocked, "assumed": s.assumed}))
                .collect()
        };
        let steps = json!({"forward": steps(&trace.forward), "return": steps(&trace.back)});
        redact(&mut trace, &|id| may_read(state, req, id));
        let mut body = trace.to_json();
        body["steps"] = steps;
        Ok(body)
    })
}

/// What a trace says about resources the caller may not read is left out: such a hop keeps its
/// kind and whether it stops the packet, such a blocker that it blocks and on which leg.
fn redact(trace: &mut Trace, readable: &dyn Fn(&ResourceId) -> bool) {
    let hidden = |id: &Option<ResourceId>| id.as_ref().is_some_and(|id| !readable(id));
    for hop in trace.forward.iter_mut().chain(trace.back.iter_mut()) {
        if hidden(&hop.resource) {
            hop.resource = None;
            hop.address = None;
            hop.detail = HIDDEN.to_owned();
        }
    }
    for blocker in &mut trace.blockers {
        if hidden(&blocker.resource) {
            blocker.resource = None;
            blocker.problem = format!("A setting of {HIDDEN} stops the packet.");
            blocker.fix = "Ask someone who may read the resources on this path to trace it.".to_owned();
        }
    }
}

const HIDDEN: &str = "a resource you cannot read";

/// `GET /portal/reach?protocol=&port=`: the reachability matrix by VNet (and on-premises site)
/// of what the caller may read.
fn reach(app: &App, req: &Request) -> Reply {
    let port = match req.query("port").map(str::parse::<u16>) {
        Some(Err(_)) => {
            return errors::invalid_request_format(format!(
                "The value '{}' of 'port' is not a port from 0 to 65535.",
                req.query("port").unwrap_or_default()
            ))
            .into();
        }
        Some(Ok(port)) => Some(port),
        None => None,
    };
    let Some(probe) = Probe::connectivity(req.query("protocol"), port) else {
        return errors::unknown_probe_protocol(req.query("protocol").unwrap_or_default(), None).into();
    };
    // A copy of the lab is taken with it held; the matrix (a million traces for 1,000 VNets) is
    // computed after it is let go, one at a time, so that it holds up no other request.
    let copied = watcher::compute(app, |state, network| {
        let members: Vec<_> =
            reach::members(network, state, By::Vnet).into_iter().filter(|m| may_read(state, req, &m.id)).collect();
        Ok((state.clone(), network.clone(), members))
    });
    let (state, network, members) = match copied {
        Ok(copied) => copied,
        Err(reply) => return reply,
    };
    let _turn = MATRIX.lock().unwrap_or_else(|p| p.into_inner());
    let tracer = Tracer::new(&network, &state);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    match reach::matrix(&tracer, members, By::Vnet, probe, threads) {
        Ok(matrix) => Reply::ok(matrix.to_json()),
        Err(e) => e.to_azure().into(),
    }
}

/// One reachability matrix at a time: each takes every core.
static MATRIX: std::sync::Mutex<()> = std::sync::Mutex::new(());
