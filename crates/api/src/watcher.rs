//! Network Watcher's answers over the ARM API: a NIC's effective routes and security groups,
//! next hop, IP flow verify and the connectivity check, computed from the compiled view of the
//! lab (the connectivity check with real probes when the data plane is up).
//!
//! Azure runs these as long-running operations; vnetlab has the answer at once and returns it
//! with 200, which every client's poller accepts as a finished operation.

use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::Value;
use vnetlab_analysis::azure::measured::ProbeRequest;
use vnetlab_analysis::azure::trace::{Probe, TraceEnd, Tracer, primary_end};
use vnetlab_analysis::azure::{Endpoint, Network};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::{AzureError, Kind, ResourceId, SecurityRuleDirection, State, ViewExt};
use vnetlab_store::Store;

use crate::App;
use crate::body::{self, At};
use crate::errors;
use crate::http::{Reply, Request};

/// The compiled view, kept between requests and brought up to date from the store's change feed:
/// after a change only what depends on it is compiled again.
#[derive(Default)]
pub struct Compiled(Mutex<Option<Network>>);

/// Changes read from the feed at most; more than that since the last answer compiles anew.
const FEED_LIMIT: usize = 10_000;

/// Answers from the lab's state and its compiled view.
pub(crate) fn answer(app: &App, f: impl FnOnce(&State, &Network) -> Result<Value, AzureError>) -> Reply {
    match compute(app, f) {
        Ok(value) => Reply::ok(value),
        Err(reply) => reply,
    }
}

/// What `f` makes of the lab's state and its compiled view, or the error reply.
pub(crate) fn compute<T>(app: &App, f: impl FnOnce(&State, &Network) -> Result<T, AzureError>) -> Result<T, Reply> {
    let cache = &app.compiled.0;
    let known = cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|n| n.revision);
    // The feed is read before the state: every change it lists is in the state read next.
    let changes = known.and_then(|rev| app.lab.store().changes_since(rev, FEED_LIMIT).ok().map(|c| (rev, c)));
    let result = app.lab.read(|state| {
        let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
        let now = state.revision();
        let network = match (guard.take(), changes) {
            (Some(n), _) if n.revision == now => n,
            (Some(mut n), Some((rev, changes)))
                if n.revision == rev
                    && changes.len() < FEED_LIMIT
                    && changes.last().is_some_and(|c| c.revision >= now) =>
            {
                let ids: Vec<ResourceId> = changes.iter().filter(|c| c.revision <= now).map(|c| c.id.clone()).collect();
                n.update(state, &ids);
                n
            }
            _ => Network::compile(state),
        };
        let answer = f(state, &network);
        *guard = Some(network);
        answer
    });
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(errors::internal(&e.to_string()).into()),
    }
}

/// `POST networkInterfaces/{nic}/effectiveRouteTable`
pub fn effective_route_table(app: &App, nic: &ResourceId, missing: fn(&State, &ResourceId) -> AzureError) -> Reply {
    answer(app, |state, network| {
        if !state.exists(nic) {
            return Err(missing(state, nic));
        }
        let view = network.target_nic(nic, None).map_err(|e| e.to_azure())?;
        let routes = network.effective_routes(view).map_err(|e| e.to_azure())?;
        Ok(serde_json::json!({ "value": routes.iter().map(|r| r.to_json()).collect::<Vec<_>>() }))
    })
}

/// `POST networkInterfaces/{nic}/effectiveNetworkSecurityGroups`
pub fn effective_security_groups(app: &App, nic: &ResourceId, missing: fn(&State, &ResourceId) -> AzureError) -> Reply {
    answer(app, |state, network| {
        if !state.exists(nic) {
            return Err(missing(state, nic));
        }
        let view = network.target_nic(nic, None).map_err(|e| e.to_azure())?;
        network.effective_security_groups(state, view).map_err(|e| e.to_azure())
    })
}

/// Parses a watcher request's body with `parse`, then answers with `f`.
fn answer_body<P>(
    app: &App,
    req: &Request,
    parse: impl FnOnce(&At<'_>) -> Result<P, AzureError>,
    f: impl FnOnce(&State, &Network, P) -> Result<Value, AzureError>,
) -> Reply {
    match body::parse(&req.body).and_then(|b| parse(&At::root(&b))) {
        Ok(parsed) => answer(app, |state, network| f(state, network, parsed)),
        Err(e) => e.into(),
    }
}

/// A required string property of a watcher request.
fn required(at: &At<'_>, name: &str) -> Result<String, AzureError> {
    at.string(name)?.ok_or_else(|| errors::required_property("", name))
}

fn address(at: &At<'_>, name: &str) -> Result<IpAddr, AzureError> {
    let text = required(at, name)?;
    text.trim().parse().map_err(|_| {
        errors::invalid_request_format(format!(
            "The value '{text}' of '{name}' is not a valid IP address. Path '{name}'."
        ))
    })
}

/// A port of IP flow verify: a number, or `*` (any, taken as 0). [gap] Azure's meaning of `*`
/// for a single packet is not documented.
fn port(at: &At<'_>, name: &str) -> Result<u16, AzureError> {
    let text = required(at, name)?;
    let text = text.trim();
    if text == "*" {
        return Ok(0);
    }
    text.parse().map_err(|_| {
        errors::invalid_request_format(format!(
            "The value '{text}' of '{name}' is not a port: use a number from 0 to 65535 or *. Path '{name}'."
        ))
    })
}

pub(crate) fn reference(at: &At<'_>, name: &str) -> Result<ResourceId, AzureError> {
    let text = required(at, name)?;
    ResourceId::parse(text.trim()).map_err(|_| {
        errors::invalid_request_format(format!("The value '{text}' of '{name}' is not a resource id. Path '{name}'."))
    })
}

fn optional_reference(at: &At<'_>, name: &str) -> Result<Option<ResourceId>, AzureError> {
    match at.string(name)? {
        Some(_) => reference(at, name).map(Some),
        None => Ok(None),
    }
}

/// The watcher must exist; the target must be a VM or NIC that exists, and that the caller may
/// read (checked first: a question does not reveal what the caller may not see).
fn check_target(
    state: &State,
    req: &Request,
    watcher: &ResourceId,
    target: &ResourceId,
    missing: fn(&State, &ResourceId) -> AzureError,
) -> Result<(), AzureError> {
    if !state.exists(watcher) {
        return Err(missing(state, watcher));
    }
    if !matches!(target.kind(), Some(Kind::VirtualMachine | Kind::NetworkInterface)) {
        return Err(errors::invalid_request_format(format!(
            "The target resource '{target}' is not a virtual machine or a network interface. Path 'targetResourceId'."
        )));
    }
    check_readable(state, req, target)?;
    if !state.exists(target) {
        return Err(missing(state, target));
    }
    Ok(())
}

/// `AuthorizationFailed` unless the caller may read `id` (in a tenant it has a token for).
pub(crate) fn check_readable(state: &State, req: &Request, id: &ResourceId) -> Result<(), AzureError> {
    match req.caller() {
        Some(caller) => vnetlab_engine::authorization::check_read(state, caller, id),
        None => Ok(()),
    }
}

/// `POST networkWatchers/{nw}/nextHop`
pub fn next_hop(
    app: &App,
    req: &Request,
    watcher: &ResourceId,
    missing: fn(&State, &ResourceId) -> AzureError,
) -> Reply {
    let parse = |at: &At<'_>| {
        let target = reference(at, "targetResourceId")?;
        let source = address(at, "sourceIPAddress")?;
        let destination = address(at, "destinationIPAddress")?;
        let nic = optional_reference(at, "targetNicResourceId")?;
        Ok((target, source, destination, nic))
    };
    answer_body(app, req, parse, |state, network, (target, source, destination, nic)| {
        check_target(state, req, watcher, &target, missing)?;
        if let Some(nic) = &nic {
            check_readable(state, req, nic)?;
        }
        let view = network.target_nic(&target, nic.as_ref()).map_err(|e| e.to_azure())?;
        let hop = network.next_hop(view, Some(source), destination).map_err(|e| e.to_azure())?;
        Ok(hop.to_json())
    })
}

/// `POST networkWatchers/{nw}/ipFlowVerify`
pub fn ip_flow_verify(
    app: &App,
    req: &Request,
    watcher: &ResourceId,
    missing: fn(&State, &ResourceId) -> AzureError,
) -> Reply {
    let parse = |at: &At<'_>| {
        let target = reference(at, "targetResourceId")?;
        let direction = match required(at, "direction")?.to_ascii_lowercase().as_str() {
            "inbound" => SecurityRuleDirection::Inbound,
            "outbound" => SecurityRuleDirection::Outbound,
            other => {
                return Err(errors::invalid_request_format(format!(
                    "The value '{other}' of 'direction' is not Inbound or Outbound. Path 'direction'."
                )));
            }
        };
        let protocol_text = required(at, "protocol")?;
        let protocol: Protocol = protocol_text.parse().map_err(|_| {
            errors::invalid_request_format(format!(
                "The value '{protocol_text}' of 'protocol' is not TCP, UDP or ICMP. Path 'protocol'."
            ))
        })?;
        let local = Endpoint { ip: address(at, "localIPAddress")?, port: port(at, "localPort")? };
        let remote = Endpoint { ip: address(at, "remoteIPAddress")?, port: port(at, "remotePort")? };
        let nic = optional_reference(at, "targetNicResourceId")?;
        Ok((target, direction, protocol, local, remote, nic))
    };
    answer_body(app, req, parse, |state, network, (target, direction, protocol, local, remote, nic)| {
        check_target(state, req, watcher, &target, missing)?;
        if let Some(nic) = &nic {
            check_readable(state, req, nic)?;
        }
        let view = network.nic_holding(&target, nic.as_ref(), local.ip).map_err(|e| e.to_azure())?;
        let verdict = network.ip_flow_verify(view, direction, protocol, local, remote).map_err(|e| e.to_azure())?;
        Ok(verdict.to_json())
    })
}

/// `POST networkWatchers/{nw}/connectivityCheck`: the path from a VM to a VM or an address.
/// When a prober is installed and can probe from the source VM (the data plane is up and
/// realizes it), the status, probe counts and latencies are what real packets did, and each
/// hop's link carries the round trips measured to the next hop; the hops and their issues come
/// from the trace, which says why. Otherwise the answer is the trace's alone.
pub fn connectivity_check(
    app: &App,
    req: &Request,
    watcher: &ResourceId,
    missing: fn(&State, &ResourceId) -> AzureError,
) -> Reply {
    let parse = |at: &At<'_>| {
        let source = at.object("source")?.ok_or_else(|| errors::required_property("", "source"))?;
        let source_id = reference(&source, "resourceId")?;
        let destination = at.object("destination")?.ok_or_else(|| errors::required_property("", "destination"))?;
        let destination_id = optional_reference(&destination, "resourceId")?;
        let address = match destination.string("address")? {
            Some(text) => Some(text.trim().parse::<IpAddr>().map_err(|_| {
                // [gap] vnetlab resolves no host names: a destination address must be an IP.
                errors::invalid_request_format(format!(
                    "The destination address '{text}' is not an IP address; vnetlab resolves no host names. Path 'destination.address'."
                ))
            })?),
            None => None,
        };
        if destination_id.is_none() && address.is_none() {
            return Err(errors::invalid_request_format(
                "The destination needs a resourceId or an address. Path 'destination'.".to_owned(),
            ));
        }
        let port = destination.number("port", u64::from(u16::MAX))?.map(|p| p as u16);
        let protocol = at.string("protocol")?;
        let probe = Probe::connectivity(protocol.as_deref(), port).ok_or_else(|| {
            errors::unknown_probe_protocol(
                &protocol.as_deref().unwrap_or_default().to_ascii_lowercase(),
                Some("protocol"),
            )
        })?;
        Ok((source_id, destination_id, address, probe))
    };
    let parsed = match body::parse(&req.body).and_then(|b| parse(&At::root(&b))) {
        Ok(parsed) => parsed,
        Err(e) => return e.into(),
    };
    let probing = app.options.prober.is_some();
    // The trace with the lab held; the probes (seconds, when packets are dropped) after it is
    // let go. The handler already runs on a blocking thread, off the async runtime.
    let traced = compute(app, |state, network| {
        let (source_id, destination_id, address, probe) = parsed;
        check_target(state, req, watcher, &source_id, missing)?;
        let tracer = Tracer::new(network, state);
        let source = primary_end(network, &source_id).map_err(|e| e.to_azure())?;
        let destination = match (&destination_id, address) {
            (Some(id), _) => {
                if !matches!(id.kind(), Some(Kind::VirtualMachine | Kind::NetworkInterface)) {
                    return Err(errors::invalid_request_format(format!(
                        "The destination '{id}' is not a virtual machine or a network interface. Path 'destination.resourceId'."
                    )));
                }
                check_readable(state, req, id)?;
                if !state.exists(id) {
                    return Err(missing(state, id));
                }
                match (primary_end(network, id).map_err(|e| e.to_azure())?, address) {
                    (TraceEnd::Nic { nic, .. }, Some(ip)) => TraceEnd::Nic { nic, ip },
                    (end, _) => end,
                }
            }
            (None, Some(ip)) => tracer.end_for_address(ip),
            (None, None) => unreachable!("checked when parsing"),
        };
        let trace = tracer.trace(&source, &destination, probe).map_err(|e| e.to_azure())?;
        let connectivity = tracer.connectivity_hops(&trace);
        // The probes leave from the VM the source NIC belongs to.
        let vm = match &source {
            TraceEnd::Nic { nic, .. } => network.nic(nic).and_then(|n| n.vm.clone()),
            _ => None,
        };
        let request = vm.filter(|_| probing).map(|vm| ProbeRequest {
            vm,
            source: source.ip(),
            destination: destination.ip(),
            probe,
            hops: connectivity.intermediate_addresses(),
        });
        Ok((connectivity, request))
    });
    let (connectivity, request) = match traced {
        Ok(traced) => traced,
        Err(reply) => return reply,
    };
    let measured = match (&app.options.prober, request) {
        (Some(prober), Some(request)) => prober.measure(&request),
        _ => None,
    };
    Reply::ok(match measured {
        Some(measured) => connectivity.measured_json(&measured),
        None => connectivity.to_json(),
    })
}
