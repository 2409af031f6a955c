//! Network Watcher's answers over the ARM API: a NIC's effective routes and security groups,
//! next hop and IP flow verify, computed from the compiled view of the lab.
//!
//! Azure runs these as long-running operations; vnetlab has the answer at once and returns it
//! with 200, which every client's poller accepts as a finished operation.

use std::net::IpAddr;

use serde_json::Value;
use vnetlab_analysis::azure::{Endpoint, Network};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::{AzureError, Kind, ResourceId, SecurityRuleDirection, State, ViewExt};

use crate::App;
use crate::body::{self, At};
use crate::errors;
use crate::http::{Reply, Request};

fn answer(app: &App, f: impl FnOnce(&State) -> Result<Value, AzureError>) -> Reply {
    match app.lab.read(f) {
        Ok(Ok(value)) => Reply::ok(value),
        Ok(Err(e)) => e.into(),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}

/// `POST networkInterfaces/{nic}/effectiveRouteTable`
pub fn effective_route_table(app: &App, nic: &ResourceId, missing: fn(&State, &ResourceId) -> AzureError) -> Reply {
    answer(app, |state| {
        if !state.exists(nic) {
            return Err(missing(state, nic));
        }
        let network = Network::compile(state);
        let view = network.target_nic(nic, None).map_err(|e| e.to_azure())?;
        let routes = network.effective_routes(view).map_err(|e| e.to_azure())?;
        Ok(serde_json::json!({ "value": routes.iter().map(|r| r.to_json()).collect::<Vec<_>>() }))
    })
}

/// `POST networkInterfaces/{nic}/effectiveNetworkSecurityGroups`
pub fn effective_security_groups(app: &App, nic: &ResourceId, missing: fn(&State, &ResourceId) -> AzureError) -> Reply {
    answer(app, |state| {
        if !state.exists(nic) {
            return Err(missing(state, nic));
        }
        let network = Network::compile(state);
        let view = network.target_nic(nic, None).map_err(|e| e.to_azure())?;
        network.effective_security_groups(state, view).map_err(|e| e.to_azure())
    })
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

fn reference(at: &At<'_>, name: &str) -> Result<ResourceId, AzureError> {
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

/// The watcher must exist; the target must be a VM or NIC that exists.
fn check_target(
    state: &State,
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
    if !state.exists(target) {
        return Err(missing(state, target));
    }
    Ok(())
}

/// `POST networkWatchers/{nw}/nextHop`
pub fn next_hop(
    app: &App,
    req: &Request,
    watcher: &ResourceId,
    missing: fn(&State, &ResourceId) -> AzureError,
) -> Reply {
    let parsed = body::parse(&req.body).and_then(|b| {
        let at = At::root(&b);
        let target = reference(&at, "targetResourceId")?;
        let source = address(&at, "sourceIPAddress")?;
        let destination = address(&at, "destinationIPAddress")?;
        let nic = optional_reference(&at, "targetNicResourceId")?;
        Ok((target, source, destination, nic))
    });
    let (target, source, destination, nic) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    answer(app, |state| {
        check_target(state, watcher, &target, missing)?;
        let network = Network::compile(state);
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
    let parsed = body::parse(&req.body).and_then(|b| {
        let at = At::root(&b);
        let target = reference(&at, "targetResourceId")?;
        let direction = match required(&at, "direction")?.to_ascii_lowercase().as_str() {
            "inbound" => SecurityRuleDirection::Inbound,
            "outbound" => SecurityRuleDirection::Outbound,
            other => {
                return Err(errors::invalid_request_format(format!(
                    "The value '{other}' of 'direction' is not Inbound or Outbound. Path 'direction'."
                )));
            }
        };
        let protocol_text = required(&at, "protocol")?;
        let protocol: Protocol = protocol_text.parse().map_err(|_| {
            errors::invalid_request_format(format!(
                "The value '{protocol_text}' of 'protocol' is not TCP, UDP or ICMP. Path 'protocol'."
            ))
        })?;
        let local = Endpoint { ip: address(&at, "localIPAddress")?, port: port(&at, "localPort")? };
        let remote = Endpoint { ip: address(&at, "remoteIPAddress")?, port: port(&at, "remotePort")? };
        let nic = optional_reference(&at, "targetNicResourceId")?;
        Ok((target, direction, protocol, local, remote, nic))
    });
    let (target, direction, protocol, local, remote, nic) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    answer(app, |state| {
        check_target(state, watcher, &target, missing)?;
        let network = Network::compile(state);
        // The NIC that holds the local address, when the request does not name one.
        let view = match &nic {
            Some(n) => network.target_nic(&target, Some(n)),
            None => network.target_nic(&target, None).and_then(|primary| {
                if primary.addresses.iter().any(|a| a.ip == local.ip) || target.kind() == Some(Kind::NetworkInterface) {
                    return Ok(primary);
                }
                network
                    .nics()
                    .find(|n| n.vm.as_ref() == Some(&target) && n.addresses.iter().any(|a| a.ip == local.ip))
                    .ok_or(vnetlab_analysis::azure::AnalysisError::AddressNotOnTarget {
                        ip: local.ip,
                        target: target.to_string(),
                    })
            }),
        }
        .map_err(|e| e.to_azure())?;
        let verdict = network.ip_flow_verify(view, direction, protocol, local, remote).map_err(|e| e.to_azure())?;
        Ok(verdict.to_json())
    })
}
