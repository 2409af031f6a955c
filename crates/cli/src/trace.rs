//! `vnetlab trace`: the path between two endpoints, hop by hop, and every blocker with its fix;
//! when the data plane is up, the round trips real packets measure on it.

use std::net::IpAddr;

use serde_json::{Value, json};
use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::measured::{Measured, ProbeRequest, Prober, RoundTrips};
use vnetlab_analysis::azure::trace::{Hop, Leg, Probe, Trace, TraceEnd, Tracer, primary_end, site_end};
use vnetlab_model::{AzureError, Kind, ResourceId, State, View};

use crate::output;
use crate::watcher::target;
use crate::{Env, Failure, Result};

/// An end named on the command line: a VM or NIC (name or id), an on-premises site (a local
/// network gateway's name, optionally `SITE:IP`), or an address.
pub fn resolve_end(env: &Env, state: &State, tracer: &Tracer<'_>, text: &str, group: Option<&str>) -> Result<TraceEnd> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(tracer.end_for_address(ip));
    }
    let (name, ip) = match text.rsplit_once(':') {
        Some((n, ip)) if !text.starts_with('/') => {
            let ip = ip.parse::<IpAddr>().map_err(|_| {
                Failure::Azure(AzureError::new(
                    400,
                    "InvalidArgument",
                    format!("'{ip}' in '{text}' is not an IP address."),
                ))
            })?;
            (n, Some(ip))
        }
        _ => (text, None),
    };
    if let Some(site) = site_named(env, state, name, group)? {
        let end = state.get(&site).and_then(|s| s.resource.as_local_network_gateway()).and_then(site_end);
        return match (end, ip) {
            (_, Some(ip)) => Ok(TraceEnd::Site { site, ip }),
            (Some(end), None) => Ok(end),
            (None, None) => Err(Failure::Azure(AzureError::new(
                400,
                "InvalidArgument",
                format!("Site '{name}' has no address space."),
            ))),
        };
    }
    let id = target(env, state, name, group)?;
    let end = primary_end(tracer.network(), &id).map_err(|e| Failure::Azure(e.to_azure()))?;
    match (end, ip) {
        (TraceEnd::Nic { nic, .. }, Some(ip)) => {
            let holds = tracer.network().nic(&nic).is_some_and(|n| n.addresses.iter().any(|a| a.ip == ip));
            if !holds {
                return Err(Failure::Azure(AzureError::new(
                    400,
                    "InvalidArgument",
                    format!("{ip} is not an address of '{name}'."),
                )));
            }
            Ok(TraceEnd::Nic { nic, ip })
        }
        (end, _) => Ok(end),
    }
}

fn site_named(env: &Env, state: &State, name: &str, group: Option<&str>) -> Result<Option<ResourceId>> {
    if name.starts_with('/') {
        let id = ResourceId::parse(name)
            .map_err(|e| Failure::Azure(AzureError::new(400, "InvalidResourceId", e.to_string())))?;
        if id.kind() != Some(Kind::LocalNetworkGateway) {
            return Ok(None);
        }
        vnetlab_engine::authorization::check_read(state, &env.caller, &id)?;
        return Ok(Some(id));
    }
    let group = group.map(|g| env.group(g)).transpose()?;
    let found: Vec<ResourceId> = state
        .all_of(Kind::LocalNetworkGateway)
        .into_iter()
        .filter(|s| vnetlab_engine::authorization::can_see(state, &env.caller, s))
        .map(|s| s.id().clone())
        .filter(|id| group.as_ref().is_none_or(|g| id.is_under(g)) && vnetlab_model::same_name(id.name(), name))
        .collect();
    Ok(found.into_iter().next())
}

pub fn trace(env: &Env, source: &str, destination: &str, probe: Probe, group: Option<&str>) -> Result<()> {
    let prober = crate::dataplane::LabProber::new(&env.home);
    let (trace, request) = env.lab.read(|state| -> Result<(Trace, Option<ProbeRequest>)> {
        let network = Network::compile(state);
        let tracer = Tracer::new(&network, state);
        let from = resolve_end(env, state, &tracer, source, group)?;
        let to = resolve_end(env, state, &tracer, destination, group)?;
        let trace = tracer.trace(&from, &to, probe).map_err(|e| Failure::Azure(e.to_azure()))?;
        let request = probe_request(&tracer, &trace);
        Ok((trace, request))
    })??;
    // Real packets too when the data plane is up for this lab and realizes the source VM (and
    // this runs as root): the round trips to the destination and to each appliance on the way.
    let measured = request.as_ref().and_then(|r| prober.measure(r));
    let mut json = trace.to_json();
    if let (Some(request), Some(m)) = (&request, &measured) {
        json["measured"] = measured_json(request, m);
    }
    let colour = output::colour();
    output::print(env.format, &json, || {
        let mut out = render(&trace, source, destination, colour);
        if let Some(m) = &measured {
            out.push_str(&render_measured(&trace, m));
        }
        out
    })?;
    Ok(())
}

/// What to probe for `trace`, when it starts at a VM's NIC.
fn probe_request(tracer: &Tracer<'_>, trace: &Trace) -> Option<ProbeRequest> {
    let TraceEnd::Nic { nic, ip } = &trace.source else { return None };
    let vm = tracer.network().nic(nic)?.vm.clone()?;
    let hops = tracer.connectivity_hops(trace).intermediate_addresses();
    Some(ProbeRequest { vm, source: *ip, destination: trace.destination.ip(), probe: trace.probe, hops })
}

fn round_trips_json(address: IpAddr, r: &RoundTrips) -> Value {
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    json!({
        "address": address.to_string(),
        "sent": r.sent,
        "failed": r.failed(),
        "refused": r.refused,
        "rttMinMs": ms(r.min()),
        "rttAvgMs": ms(r.avg()),
        "rttMaxMs": ms(r.max()),
    })
}

fn measured_json(request: &ProbeRequest, m: &Measured) -> Value {
    json!({
        "destination": round_trips_json(request.destination, &m.probes),
        "hops": m.hops.iter().map(|(a, r)| round_trips_json(*a, r)).collect::<Vec<_>>(),
    })
}

/// The measured round trips: the destination's with the trace's probe, each hop's with ICMP echo.
fn render_measured(t: &Trace, m: &Measured) -> String {
    let mut out = String::from("\nMeasured (real packets):\n");
    let kind =
        |ip: IpAddr| t.forward.iter().find(|h| h.address == Some(ip)).map_or("hop", |h| h.kind.as_str()).to_owned();
    for (ip, r) in &m.hops {
        out.push_str(&format!("  {:<15} {:<12} icmp: {r}\n", ip.to_string(), kind(*ip)));
    }
    let destination = t.destination.ip();
    out.push_str(&format!(
        "  {:<15} {:<12} {}: {}\n",
        destination.to_string(),
        "destination",
        probe_label(t.probe),
        m.probes
    ));
    out
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour { format!("{code}{text}{RESET}") } else { text.to_owned() }
}

/// `tcp/22`, `icmp`.
fn probe_label(probe: Probe) -> String {
    if probe.protocol.has_ports() {
        format!("{}/{}", probe.protocol.to_string().to_lowercase(), probe.port)
    } else {
        probe.protocol.to_string().to_lowercase()
    }
}

/// The human form: a header, the hops of each leg, then the blockers with their fixes.
pub fn render(t: &Trace, source: &str, destination: &str, colour: bool) -> String {
    let what = probe_label(t.probe);
    let verdict = if t.reachable() {
        paint(colour, GREEN, "reachable")
    } else {
        let n = t.blockers.len();
        paint(colour, RED, &format!("blocked ({n} blocker{})", if n == 1 { "" } else { "s" }))
    };
    let mut out = format!("{source} ({}) → {destination} ({}), {what}: {verdict}\n", t.source.ip(), t.destination.ip());
    let leg = |out: &mut String, title: &str, hops: &[Hop]| {
        if hops.is_empty() {
            return;
        }
        out.push_str(&format!("\n{title}\n"));
        for (i, h) in hops.iter().enumerate() {
            let mark = if h.blocked { paint(colour, RED, "✗") } else { " ".to_owned() };
            let line = format!("{:>3}  {:<12} {}", i + 1, h.kind.as_str(), h.detail);
            let line = if h.assumed { paint(colour, DIM, &format!("{line}  (once fixed)")) } else { line };
            out.push_str(&format!("{mark}{line}\n"));
        }
    };
    leg(&mut out, "Forward:", &t.forward);
    leg(&mut out, "Return:", &t.back);
    if !t.blockers.is_empty() {
        out.push_str("\nBlockers:\n");
        for (i, b) in t.blockers.iter().enumerate() {
            let side = match b.leg {
                Leg::Forward => "",
                Leg::Return => " (on the way back)",
            };
            out.push_str(&format!("{:>3}. {}{side}\n     fix: {}\n", i + 1, b.problem, b.fix));
        }
    }
    out
}
