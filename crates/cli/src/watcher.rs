//! Network Watcher's questions from the command line: effective routes, next hop, IP flow verify.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use vnetlab_analysis::azure::{Endpoint, Network, NicView};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::{AzureError, Kind, ResourceId, SecurityRuleDirection, State, View};

use crate::output;
use crate::{Env, Failure, Result};

/// Direction of a flow, seen from the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    In,
    Out,
}

/// The VM (or NIC) a question names: a full resource id, or a name unique in the lab (or in
/// `group`), among those the caller may read.
pub fn target(env: &Env, state: &State, name: &str, group: Option<&str>) -> Result<ResourceId> {
    if name.starts_with('/') {
        let id = ResourceId::parse(name)
            .map_err(|e| Failure::Azure(AzureError::new(400, "InvalidResourceId", e.to_string())))?;
        vnetlab_engine::authorization::check_read(state, &env.caller, &id)?;
        return Ok(id);
    }
    let group = group.map(|g| env.group(g)).transpose()?;
    let mut found: Vec<ResourceId> = Vec::new();
    for kind in [Kind::VirtualMachine, Kind::NetworkInterface] {
        for stored in
            state.all_of(kind).into_iter().filter(|s| vnetlab_engine::authorization::can_see(state, &env.caller, s))
        {
            let id = stored.id();
            let in_group = group.as_ref().is_none_or(|g| id.is_under(g));
            if in_group && vnetlab_model::same_name(id.name(), name) {
                found.push(id.clone());
            }
        }
        if !found.is_empty() {
            break;
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failure::Azure(AzureError::new(
            404,
            "ResourceNotFound",
            format!("No virtual machine or network interface named '{name}' was found."),
        ))),
        _ => {
            let groups: Vec<String> =
                found.iter().filter_map(|id| id.resource_group_name().map(str::to_owned)).collect();
            Err(Failure::Azure(AzureError::new(
                400,
                "AmbiguousName",
                format!("'{name}' names resources in several groups ({}); pass --resource-group.", groups.join(", ")),
            )))
        }
    }
}

fn nic_of<'a>(network: &'a Network, id: &ResourceId) -> Result<&'a NicView> {
    network.target_nic(id, None).map_err(|e| Failure::Azure(e.to_azure()))
}

pub fn routes(env: &Env, vm: &str, group: Option<&str>) -> Result<()> {
    let (value, rows) = env.lab.read(|state| -> Result<(Value, Vec<Map<String, Value>>)> {
        let id = target(env, state, vm, group)?;
        let network = Network::compile(state);
        let nic = nic_of(&network, &id)?;
        let routes = network.effective_routes(nic).map_err(|e| Failure::Azure(e.to_azure()))?;
        let value = json!({ "value": routes.iter().map(|r| r.to_json()).collect::<Vec<_>>() });
        let rows = routes
            .iter()
            .map(|r| {
                let mut row = Map::new();
                row.insert("Source".into(), json!(r.source.as_str()));
                row.insert("State".into(), json!(r.state.as_str()));
                row.insert("Address Prefix".into(), json!(r.address_prefix.to_string()));
                row.insert("Next Hop Type".into(), json!(r.next_hop_type.as_str()));
                let ips: Vec<String> = r.next_hop_ip_address.iter().map(ToString::to_string).collect();
                row.insert("Next Hop IP".into(), json!(ips.join(" ")));
                row
            })
            .collect();
        Ok((value, rows))
    })??;
    output::print(env.format, &value, || output::table(&rows, false))?;
    Ok(())
}

pub fn next_hop(env: &Env, vm: &str, destination: IpAddr, source: Option<IpAddr>, group: Option<&str>) -> Result<()> {
    let value = env.lab.read(|state| -> Result<Value> {
        let id = target(env, state, vm, group)?;
        let network = Network::compile(state);
        let nic = nic_of(&network, &id)?;
        let hop = network.next_hop(nic, source, destination).map_err(|e| Failure::Azure(e.to_azure()))?;
        Ok(hop.to_json())
    })??;
    output::print(env.format, &value, || {
        let row: Map<String, Value> = ["nextHopIpAddress", "nextHopType", "routeTableId"]
            .iter()
            .map(|k| ((*k).to_owned(), value.get(*k).cloned().unwrap_or(Value::Null)))
            .collect();
        output::table(&[row], false)
    })?;
    Ok(())
}

/// `IP:PORT` (or `[IPv6]:PORT`).
pub fn parse_endpoint(text: &str) -> std::result::Result<(IpAddr, u16), String> {
    let bad = || format!("'{text}' is not an endpoint: use IP:PORT, for example 10.0.0.4:22");
    let (ip, port) = text.trim().rsplit_once(':').ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().map_err(|_| bad())?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    Ok((ip, port))
}

pub fn flow(
    env: &Env,
    vm: &str,
    direction: Direction,
    protocol: Protocol,
    local: (IpAddr, u16),
    remote: (IpAddr, u16),
    group: Option<&str>,
) -> Result<()> {
    let value = env.lab.read(|state| -> Result<Value> {
        let id = target(env, state, vm, group)?;
        let network = Network::compile(state);
        let nic = network.target_nic(&id, None).map_err(|e| Failure::Azure(e.to_azure()))?;
        let direction = match direction {
            Direction::In => SecurityRuleDirection::Inbound,
            Direction::Out => SecurityRuleDirection::Outbound,
        };
        let verdict = network
            .ip_flow_verify(
                nic,
                direction,
                protocol,
                Endpoint { ip: local.0, port: local.1 },
                Endpoint { ip: remote.0, port: remote.1 },
            )
            .map_err(|e| Failure::Azure(e.to_azure()))?;
        Ok(verdict.to_json())
    })??;
    output::print(env.format, &value, || {
        let row: Map<String, Value> =
            ["access", "ruleName"].iter().map(|k| ((*k).to_owned(), value[*k].clone())).collect();
        output::table(&[row], false)
    })?;
    Ok(())
}
