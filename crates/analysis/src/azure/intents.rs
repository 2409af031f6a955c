//! Declared intents ("the spokes reach on-premises through the hub gateway", "spoke1 never
//! reaches spoke2 on 22"), checked against a lab; each failure explained.
//!
//! ```yaml
//! resourceGroup: hub-and-spoke-rg     # optional: names are looked up in this group only
//! intents:
//!   - name: spokes reach on-premises through the hub gateway
//!     from: [spoke1, spoke2, spoke3]   # VMs, NICs, VNets, vnet/subnet, sites, IPs, or "*"
//!     to: branch-office
//!     port: 443                        # default 22
//!     protocol: tcp                    # default tcp
//!     reach: true                      # default true; false: never reaches
//!     through: hub-vpngw               # optional: every path passes this hop
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value, json};
use vnetlab_model::{GATEWAY_SUBNET, Kind, Resource, ResourceId, State, View, same_name};

use super::Network;
use super::trace::{Hop, HopKind, Probe, Trace, TraceEnd, Tracer, offset, primary_end, site_end};
use crate::layers::Protocol;

/// An intents file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Intents {
    #[serde(default)]
    pub resource_group: Option<String>,
    pub intents: Vec<Intent>,
}

/// One or several names.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    fn list(&self) -> Vec<&str> {
        match self {
            Names::One(n) => vec![n.as_str()],
            Names::Many(ns) => ns.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Intent {
    #[serde(default)]
    pub name: Option<String>,
    pub from: Names,
    pub to: Names,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default = "yes")]
    pub reach: bool,
    #[serde(default)]
    pub through: Option<String>,
}

fn yes() -> bool {
    true
}

/// A problem with the file itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", position.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct IntentsError {
    pub file: String,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl Intents {
    /// Parses an intents file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Intents, IntentsError> {
        let intents: Intents = yaml_serde::from_str(text).map_err(|e| IntentsError {
            file: file.to_owned(),
            position: e.location().map(|l| (l.line(), l.column())),
            message: {
                // The position is in `position` already.
                let text = e.to_string();
                match text.find(" at line ") {
                    Some(i) => text[..i].to_owned(),
                    None => text,
                }
            },
        })?;
        if intents.intents.is_empty() {
            return Err(IntentsError {
                file: file.to_owned(),
                position: None,
                message: "the file declares no intents".into(),
            });
        }
        for (i, intent) in intents.intents.iter().enumerate() {
            let at = |message: String| IntentsError {
                file: file.to_owned(),
                position: None,
                message: format!("intents[{i}]: {message}"),
            };
            if let Some(p) = &intent.protocol {
                p.parse::<Protocol>().map_err(|e| at(format!("protocol: {e}")))?;
            }
            for (field, names) in [("from", &intent.from), ("to", &intent.to)] {
                if names.list().is_empty() || names.list().iter().any(|n| n.trim().is_empty()) {
                    return Err(at(format!("{field}: names must not be empty")));
                }
            }
        }
        Ok(intents)
    }
}

/// The verdict on one intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub holds: bool,
    /// Why it fails: per pair of ends, what stands in the way or what gets through.
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "holds": self.holds, "failures": self.failures })
    }
}

/// Checks every intent against `state`. A name that stands for nothing is an error naming the
/// intent and the field.
pub fn verify(state: &State, intents: &Intents) -> Result<Vec<Outcome>, String> {
    let network = Network::compile(state);
    let tracer = Tracer::new(&network, state);
    let group = intents.resource_group.as_deref();
    let mut outcomes = Vec::new();
    for (i, intent) in intents.intents.iter().enumerate() {
        let label = intent.name.clone().unwrap_or_else(|| format!("intents[{i}]"));
        let ends = |field: &str, names: &Names| -> Result<Vec<(String, TraceEnd)>, String> {
            let mut out = Vec::new();
            for name in names.list() {
                let found = resolve(&network, &tracer, state, name, group);
                if found.is_empty() {
                    return Err(format!(
                        "intents[{i}] ({label}): {field}: no VM, NIC, VNet, subnet (vnet/subnet) or site named '{name}'"
                    ));
                }
                out.extend(found);
            }
            Ok(out)
        };
        let from = ends("from", &intent.from)?;
        let to = ends("to", &intent.to)?;
        let protocol = match &intent.protocol {
            Some(p) => p.parse::<Protocol>().map_err(|e| format!("intents[{i}] ({label}): protocol: {e}"))?,
            None => Protocol::Tcp,
        };
        let probe = Probe { protocol, port: intent.port.unwrap_or(22) };
        let mut failures = Vec::new();
        for (fname, f) in &from {
            for (tname, t) in &to {
                if f == t || f.ip().is_ipv4() != t.ip().is_ipv4() || same_place(f, t) {
                    continue;
                }
                let pair = format!("{fname} → {tname}");
                let trace = match tracer.trace(f, t, probe) {
                    Ok(trace) => trace,
                    Err(e) => {
                        failures.push(format!("{pair} cannot be traced: {e}"));
                        continue;
                    }
                };
                match (intent.reach, trace.reachable()) {
                    (true, false) => {
                        let why: Vec<String> =
                            trace.blockers.iter().map(|b| format!("{} Fix: {}", b.problem, b.fix)).collect();
                        failures.push(format!("{pair} is blocked: {}", why.join(" | ")));
                    }
                    (false, true) => failures.push(format!("{pair} gets through: {}", path(&trace.forward))),
                    (true, true) => {
                        if let Some(via) = &intent.through
                            && !passes(&network, &trace, via)
                        {
                            failures.push(format!("{pair} does not pass '{via}': {}", path(&trace.forward)));
                        }
                    }
                    (false, false) => {}
                }
            }
        }
        outcomes.push(Outcome { name: label, holds: failures.is_empty(), failures });
    }
    Ok(outcomes)
}

/// Two ends that are the same subnet probe or the same NIC.
fn same_place(a: &TraceEnd, b: &TraceEnd) -> bool {
    match (a, b) {
        (TraceEnd::Nic { nic: x, .. }, TraceEnd::Nic { nic: y, .. }) => x == y,
        (TraceEnd::Subnet { subnet: x, .. }, TraceEnd::Subnet { subnet: y, .. }) => x == y,
        (TraceEnd::Site { site: x, .. }, TraceEnd::Site { site: y, .. }) => x == y,
        _ => false,
    }
}

fn path(hops: &[Hop]) -> String {
    hops.iter()
        .filter(|h| !matches!(h.kind, HopKind::SecurityGroup | HopKind::Route))
        .map(|h| h.detail.clone())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Whether the forward path passes a hop named `via`: a gateway, an appliance (VM or NIC), a
/// connection, a peering link, or a VNet the path enters.
fn passes(network: &Network, trace: &Trace, via: &str) -> bool {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for hop in &trace.forward {
        let Some(id) = &hop.resource else {
            continue;
        };
        // Only what forwards the packet counts: appliances, gateways, connections, peerings.
        if !matches!(hop.kind, HopKind::VirtualAppliance | HopKind::Gateway | HopKind::Connection | HopKind::Peering) {
            continue;
        }
        names.insert(id.name().to_ascii_lowercase());
        if hop.kind == HopKind::VirtualAppliance
            && let Some(vm) = network.nic(id).and_then(|n| n.vm.as_ref())
        {
            names.insert(vm.name().to_ascii_lowercase());
        }
        if hop.kind == HopKind::Peering && id.kind() == Some(Kind::VirtualNetworkPeering) {
            // The link's detail names both VNets; the remote is the one the path enters.
            if let Some((_, rest)) = hop.detail.split_once(" → ")
                && let Some((remote, _)) = rest.split_once(" (")
            {
                names.insert(remote.to_ascii_lowercase());
            }
        }
    }
    names.contains(&via.to_ascii_lowercase())
}

/// The ends a name stands for, each with a label: every VM, NIC, site, VNet (its VMs, else its
/// subnets), subnet (`vnet/subnet`: its VMs, else its first address) or address so named.
fn resolve(
    network: &Network,
    tracer: &Tracer<'_>,
    state: &State,
    name: &str,
    group: Option<&str>,
) -> Vec<(String, TraceEnd)> {
    let name = name.trim();
    let in_group =
        |id: &ResourceId| group.is_none_or(|g| id.resource_group_name().is_some_and(|r| r.eq_ignore_ascii_case(g)));
    if name == "*" {
        let mut all = Vec::new();
        for stored in state.all_of(Kind::VirtualMachine) {
            if in_group(stored.id()) {
                all.extend(vm_end(network, stored.id()));
            }
        }
        all.extend(sites(state, |_| true, &in_group));
        return all;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return vec![(name.to_owned(), tracer.end_for_address(ip))];
    }
    let mut out = Vec::new();
    for stored in state.all_of(Kind::VirtualMachine) {
        if in_group(stored.id()) && same_name(stored.id().name(), name) {
            out.extend(vm_end(network, stored.id()));
        }
    }
    if !out.is_empty() {
        return out;
    }
    for nic in network.nics() {
        if in_group(&nic.id)
            && same_name(nic.id.name(), name)
            && let Some(a) = nic.primary()
        {
            out.push((name.to_owned(), TraceEnd::Nic { nic: nic.id.clone(), ip: a.ip }));
        }
    }
    if !out.is_empty() {
        return out;
    }
    out.extend(sites(state, |s| same_name(s.name(), name), &in_group));
    if !out.is_empty() {
        return out;
    }
    let (vnet_name, subnet_name) = match name.split_once('/') {
        Some((v, s)) => (v, Some(s)),
        None => (name, None),
    };
    let mut subnets: Vec<_> = network
        .subnets()
        .filter(|s| in_group(&s.id) && same_name(s.vnet.name(), vnet_name))
        .filter(|s| match subnet_name {
            Some(n) => same_name(s.id.name(), n),
            None => !s.id.name().eq_ignore_ascii_case(GATEWAY_SUBNET),
        })
        .collect();
    subnets.sort_by(|a, b| a.id.key().cmp(b.id.key()));
    for subnet in subnets {
        let mut vms: Vec<_> = network
            .nics()
            .filter(|n| n.primary().is_some_and(|a| a.subnet == subnet.id))
            .filter_map(|n| {
                n.primary().map(|a| (n.vm.as_ref().map_or_else(|| n.id.name(), |v| v.name()).to_owned(), n, a.ip))
            })
            .collect();
        vms.sort_by(|a, b| a.1.id.key().cmp(b.1.id.key()));
        if vms.is_empty() {
            if let Some(p) = subnet.prefixes.first() {
                let ip = offset(p.network(), 4);
                let label = format!("{}/{}", subnet.vnet.name(), subnet.id.name());
                out.push((label, TraceEnd::Subnet { subnet: subnet.id.clone(), ip }));
            }
        } else {
            for (label, nic, ip) in vms {
                out.push((label, TraceEnd::Nic { nic: nic.id.clone(), ip }));
            }
        }
    }
    out
}

fn vm_end(network: &Network, vm: &ResourceId) -> Option<(String, TraceEnd)> {
    Some((vm.name().to_owned(), primary_end(network, vm).ok()?))
}

fn sites(
    state: &State,
    matches: impl Fn(&ResourceId) -> bool,
    in_group: &impl Fn(&ResourceId) -> bool,
) -> Vec<(String, TraceEnd)> {
    let mut out = Vec::new();
    for stored in state.all_of(Kind::LocalNetworkGateway) {
        if let Resource::LocalNetworkGateway(site) = &stored.resource
            && in_group(&site.id)
            && matches(&site.id)
            && let Some(end) = site_end(site)
        {
            out.push((site.name.clone(), end));
        }
    }
    out
}
