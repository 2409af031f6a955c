//! Paths through a lab, hop by hop: what a packet from one endpoint meets on its way to another
//! (NSG gates, routes, peerings, appliances, gateways, connections), whether it arrives, whether
//! the answer finds its way back, and every setting on the way that stops it, with its fix.
//!
//! A walk does not stop at the first blocker. Past a blocker it goes on as if that blocker were
//! fixed (the hops it records from there are marked `assumed`), so one trace lists every setting
//! that stands in the way: a missing reverse peering, a link that refuses forwarded traffic, an
//! appliance without IP forwarding, an NSG rule.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Value, json};
use vnetlab_model::{
    ConnectionStatus, ConnectionType, Kind, PeeringState, Prefix, Resource, ResourceId, SecurityRuleAccess,
    SecurityRuleDirection, State, View, ViewExt, VirtualNetwork, VirtualNetworkGateway, VirtualNetworkPeering,
};

use super::crossing;
use super::measured::{Measured, RoundTrips};
use super::routes::{EffectiveRoute, NextHopType, Origin, RouteSource, RouteState, advertised, transit_gateway};
use super::security::{self, CompiledNsg, GateDecision};
use super::{AnalysisError, Network, NicView, SubnetView};
use crate::layers::{Flow, Protocol};

/// Longest path a walk follows before it calls it a loop.
const MAX_HOPS: usize = 24;

/// [gap] The source port of a traced packet: Azure does not say which ephemeral port its
/// connectivity check uses; vnetlab uses the first port of the IANA ephemeral range.
pub const EPHEMERAL_PORT: u16 = 49152;

/// The address `n` after `ip` (saturating at the top of the space).
pub fn offset(ip: IpAddr, n: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4).saturating_add(n))),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6).saturating_add(u128::from(n)))),
    }
}

/// The address that stands for an on-premises prefix: its first host (the prefix itself when it
/// is a single address).
pub fn first_host(prefix: &Prefix) -> IpAddr {
    let single = if prefix.is_ipv4() { 32 } else { 128 };
    if prefix.prefix_len() >= single { prefix.network() } else { offset(prefix.network(), 1) }
}

/// The end that stands for an on-premises site: the first host of its first prefix.
pub fn site_end(site: &vnetlab_model::LocalNetworkGateway) -> Option<TraceEnd> {
    let prefix = site.properties.local_network_address_space.address_prefixes.first()?;
    Some(TraceEnd::Site { site: site.id.clone(), ip: first_host(prefix) })
}

/// The end that stands for a VM or NIC: its primary NIC's primary address.
pub fn primary_end(network: &Network, target: &ResourceId) -> Result<TraceEnd, AnalysisError> {
    let nic = network.target_nic(target, None)?;
    let address = nic.primary().ok_or_else(|| AnalysisError::Detached(nic.id.to_string()))?;
    Ok(TraceEnd::Nic { nic: nic.id.clone(), ip: address.ip })
}

/// An end of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEnd {
    /// An address of a NIC (a VM's).
    Nic { nic: ResourceId, ip: IpAddr },
    /// An on-premises address behind a local network gateway.
    Site { site: ResourceId, ip: IpAddr },
    /// An address of a subnet, whether or not a NIC has it: what reaches the subnet through its
    /// NSG (the reachability matrix by subnet and by VNet uses it).
    Subnet { subnet: ResourceId, ip: IpAddr },
    /// Any other address (a destination only).
    Address(IpAddr),
}

impl TraceEnd {
    pub fn ip(&self) -> IpAddr {
        match self {
            TraceEnd::Nic { ip, .. }
            | TraceEnd::Site { ip, .. }
            | TraceEnd::Subnet { ip, .. }
            | TraceEnd::Address(ip) => *ip,
        }
    }
}

/// What the traced packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub protocol: Protocol,
    /// The destination port (ignored by protocols without ports).
    pub port: u16,
}

impl Probe {
    /// The probe of a connectivity check: its `protocol` (Tcp, Http, Https or Icmp, any case;
    /// Tcp when absent) and `port`. Http and Https checks are TCP checks; without a port, Tcp and
    /// Http use 80 and Https 443 ([gap]: Azure does not say). `None` for another protocol.
    pub fn connectivity(protocol: Option<&str>, port: Option<u16>) -> Option<Probe> {
        let (protocol, default_port) = match protocol.unwrap_or("Tcp").to_ascii_lowercase().as_str() {
            "tcp" | "http" => (Protocol::Tcp, 80),
            "https" => (Protocol::Tcp, 443),
            "icmp" => (Protocol::Icmp, 0),
            _ => return None,
        };
        Some(Probe { protocol, port: port.unwrap_or(default_port) })
    }
}

/// Which way a hop or a blocker is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// From the source to the destination.
    Forward,
    /// The answer, from the destination back (routing only: NSGs are stateful).
    Return,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HopKind {
    Source,
    SecurityGroup,
    Route,
    Peering,
    VirtualAppliance,
    Gateway,
    Connection,
    OnPremises,
    Internet,
    Destination,
}

impl HopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::Source => "source",
            HopKind::SecurityGroup => "nsg",
            HopKind::Route => "route",
            HopKind::Peering => "peering",
            HopKind::VirtualAppliance => "appliance",
            HopKind::Gateway => "gateway",
            HopKind::Connection => "connection",
            HopKind::OnPremises => "on-premises",
            HopKind::Internet => "internet",
            HopKind::Destination => "destination",
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub kind: HopKind,
    /// The resource the step is about (a NIC, an NSG, a route, a peering link, a gateway...).
    pub resource: Option<ResourceId>,
    /// The packet's address at this step, where one applies (a NIC's, an appliance's).
    pub address: Option<IpAddr>,
    pub detail: String,
    /// The packet stops here (until the matching blocker is fixed).
    pub blocked: bool,
    /// Past an earlier blocker: the step as it will be once that blocker is fixed.
    pub assumed: bool,
}

/// What kind of setting blocks a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BlockerKind {
    /// An NSG rule denies the packet.
    NetworkSecurityRule,
    /// Two VNets are not (or no longer fully) peered.
    Peering,
    /// The VNets are peered only through a third: peering is not transitive.
    NotTransitive,
    /// The receiving link does not accept traffic its peer forwards.
    ForwardedTraffic,
    /// The appliance's NIC does not forward.
    IpForwarding,
    /// A route drops the packet, or none leads there.
    Route,
    /// Gateway transit is not set up on a link.
    GatewayTransit,
    /// A gateway connection does not carry traffic.
    Connection,
    /// A subnet peering leaves a subnet out.
    SubnetPeering,
    /// No NIC has the destination address.
    NoHost,
    /// The packet comes back to where it has been.
    Loop,
}

/// A setting that stops a path, and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub leg: Leg,
    pub kind: BlockerKind,
    /// The resource whose setting blocks (or that is missing and should be made).
    pub resource: Option<ResourceId>,
    pub problem: String,
    pub fix: String,
    /// The hop of its leg where it stops the packet.
    pub at: Option<usize>,
}

/// The answer of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub source: TraceEnd,
    pub destination: TraceEnd,
    pub probe: Probe,
    pub forward: Vec<Hop>,
    /// The way back (empty when the forward path ends on the Internet).
    pub back: Vec<Hop>,
    pub blockers: Vec<Blocker>,
}

impl Trace {
    pub fn reachable(&self) -> bool {
        self.blockers.is_empty()
    }

    pub fn to_json(&self) -> Value {
        let end = |e: &TraceEnd| match e {
            TraceEnd::Nic { nic, ip } => json!({ "networkInterface": nic.as_str(), "address": ip.to_string() }),
            TraceEnd::Site { site, ip } => json!({ "localNetworkGateway": site.as_str(), "address": ip.to_string() }),
            TraceEnd::Subnet { subnet, ip } => json!({ "subnet": subnet.as_str(), "address": ip.to_string() }),
            TraceEnd::Address(ip) => json!({ "address": ip.to_string() }),
        };
        let hops = |hops: &[Hop]| -> Vec<Value> {
            hops.iter()
                .map(|h| {
                    json!({
                        "kind": h.kind.as_str(),
                        "resourceId": h.resource.as_ref().map(ResourceId::as_str),
                        "address": h.address.map(|a| a.to_string()),
                        "detail": h.detail,
                        "blocked": h.blocked,
                        "assumed": h.assumed,
                    })
                })
                .collect()
        };
        json!({
            "source": end(&self.source),
            "destination": end(&self.destination),
            "protocol": self.probe.protocol.to_string(),
            "port": self.probe.port,
            "reachable": self.reachable(),
            "forward": hops(&self.forward),
            "return": hops(&self.back),
            "blockers": self.blockers.iter().map(|b| json!({
                "leg": b.leg,
                "kind": b.kind,
                "resourceId": b.resource.as_ref().map(ResourceId::as_str),
                "problem": b.problem,
                "fix": b.fix,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A connectivity check's answer before it is written as JSON: the device hops of a trace
/// (from [`Tracer::connectivity_hops`]), written from the trace alone ([`Connectivity::to_json`])
/// or with what real probes measured ([`Connectivity::measured_json`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Connectivity {
    pub hops: Vec<ConnectivityHop>,
    /// The trace found no blocker.
    pub reachable: bool,
    pub probe: Probe,
    pub destination: IpAddr,
}

/// One hop of a connectivity check (`ConnectivityHop`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectivityHop {
    /// Azure's hop type: `Source`, `VirtualAppliance`, `VirtualNetworkGateway`, `VirtualNetwork`...
    pub kind: &'static str,
    /// The hop's id in this answer (a fresh guid, as Azure's).
    pub id: String,
    pub address: Option<IpAddr>,
    pub resource_id: String,
    /// `ConnectivityIssue`s found at this hop.
    pub issues: Vec<Value>,
}

/// A round trip in whole milliseconds, rounded up. [gap] Azure reports integers and does not
/// say how it rounds; the lab's round trips are well under a millisecond, and rounding them
/// down would read 0, which is what the static answer says when nothing was measured.
pub fn whole_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}

impl Connectivity {
    /// The addresses of the hops between source and destination (appliances, gateways), which a
    /// prober measures besides the destination.
    pub fn intermediate_addresses(&self) -> Vec<IpAddr> {
        let inner = self.hops.get(1..self.hops.len().saturating_sub(1)).unwrap_or_default();
        let mut out: Vec<IpAddr> = Vec::new();
        for ip in inner.iter().filter_map(|h| h.address) {
            if !out.contains(&ip) && ip != self.destination {
                out.push(ip);
            }
        }
        out
    }

    fn hop_json(hop: &ConnectivityHop, next: Option<&ConnectivityHop>, issues: &[Value]) -> Value {
        json!({
            "type": hop.kind,
            "id": hop.id,
            "address": hop.address.map(|a| a.to_string()),
            "resourceId": hop.resource_id,
            "nextHopIds": next.map(|n| vec![n.id.clone()]).unwrap_or_default(),
            "issues": issues,
        })
    }

    /// The answer from the trace alone: the trace's verdict, one probe, no latency.
    pub fn to_json(&self) -> Value {
        let hops: Vec<Value> = self
            .hops
            .iter()
            .enumerate()
            .map(|(n, h)| Connectivity::hop_json(h, self.hops.get(n + 1), &h.issues))
            .collect();
        // [gap] Without a data plane vnetlab computes the path instead of sending probes: one
        // probe, no latency.
        json!({
            "hops": hops,
            // [gap] The REST enum has Connected and Disconnected; Azure's documented answers
            // for a blocked path say Unreachable, which vnetlab follows.
            "connectionStatus": if self.reachable { "Connected" } else { "Unreachable" },
            "avgLatencyInMs": 0,
            "minLatencyInMs": 0,
            "maxLatencyInMs": 0,
            "probesSent": 1,
            "probesFailed": if self.reachable { 0 } else { 1 },
        })
    }

    /// The answer with what real probes measured: the status, counts and latencies the packets
    /// gave; the trace's hops and issues (they say why), and on each hop's link to the next
    /// (`links[].properties`) the round trips measured to the next hop's address. When the
    /// packets and the trace disagree, the status is what the packets did.
    pub fn measured_json(&self, measured: &Measured) -> Value {
        let probes = &measured.probes;
        // The round trips to a hop: the check's own probes for the destination, ICMP echo for
        // the hops between.
        let round_trips = |hop: &ConnectivityHop| -> Option<&RoundTrips> {
            match hop.address {
                Some(a) if a == self.destination => Some(probes),
                Some(a) => measured.hop(a),
                None => None,
            }
        };
        // [gap] Azure's link types seen in its answers are VirtualNetwork and Internet.
        let link_type = |to: &ConnectivityHop| if to.kind == "Internet" { "Internet" } else { "VirtualNetwork" };
        let hops: Vec<Value> = self
            .hops
            .iter()
            .enumerate()
            .map(|(n, h)| {
                let mut issues = h.issues.clone();
                // The destination answered with a reset: Azure's issue for a port nobody listens on.
                if n > 0 && h.address == Some(self.destination) && probes.answered.is_empty() && probes.refused > 0 {
                    let ip = self.destination;
                    let port = self.probe.port;
                    issues.push(json!({
                        "origin": "Local",
                        "severity": "Error",
                        "type": "NoListenerOnDestination",
                        "context": [
                            { "key": "Problem", "value": format!("The packets reached {ip}, but it refused the connection: nothing listens on port {port}.") },
                            { "key": "Fix", "value": format!("Start a service on port {port} in the destination VM, or check a port that one listens on.") },
                        ],
                    }));
                }
                let next = self.hops.get(n + 1);
                let mut value = Connectivity::hop_json(h, next, &issues);
                let links: Vec<Value> = next
                    .map(|to| {
                        let mut link = json!({
                            "nextHopId": to.id,
                            "linkType": link_type(to),
                            "resourceId": "",
                            "context": {},
                            "issues": [],
                        });
                        if let Some(r) = round_trips(to)
                            && let (Some(min), Some(avg), Some(max)) = (r.min(), r.avg(), r.max())
                        {
                            link["properties"] = json!({
                                "roundTripTimeMin": whole_ms(min),
                                "roundTripTimeAvg": whole_ms(avg),
                                "roundTripTimeMax": whole_ms(max),
                            });
                        }
                        link
                    })
                    .into_iter()
                    .collect();
                let previous = n.checked_sub(1).and_then(|p| self.hops.get(p));
                value["links"] = json!(links);
                value["previousHopIds"] = json!(previous.map(|p| vec![p.id.clone()]).unwrap_or_default());
                value["previousLinks"] = json!(
                    previous
                        .map(|p| vec![json!({
                            "nextHopId": p.id,
                            "linkType": link_type(h),
                            "resourceId": "",
                            "context": {},
                            "issues": [],
                        })])
                        .unwrap_or_default()
                );
                value
            })
            .collect();
        let mut answer = json!({
            "hops": hops,
            // Azure's documented answers of a check that sent probes say Reachable or Unreachable.
            // [gap] A check where some probes fail is Reachable (Azure's Degraded is not
            // documented for the connectivity check).
            "connectionStatus": if probes.answered.is_empty() { "Unreachable" } else { "Reachable" },
            "probesSent": probes.sent,
            "probesFailed": probes.failed(),
        });
        // Latencies only when a probe came back, as in Azure's answers.
        if let (Some(min), Some(avg), Some(max)) = (probes.min(), probes.avg(), probes.max()) {
            answer["avgLatencyInMs"] = json!(whole_ms(avg));
            answer["minLatencyInMs"] = json!(whole_ms(min));
            answer["maxLatencyInMs"] = json!(whole_ms(max));
        }
        answer
    }
}

/// Indexes over a compiled view for walking paths; build one and trace many times.
pub struct Tracer<'a> {
    network: &'a Network,
    state: &'a State,
    /// (VNet key, address) → the NIC with that address in that VNet.
    hosts: HashMap<(usize, IpAddr), &'a NicView>,
    /// VNet key → its number in `hosts`.
    vnet_numbers: HashMap<&'a str, usize>,
    /// VNet key → its subnets' views.
    subnets: HashMap<String, Vec<&'a SubnetView>>,
    /// VNet key → its address space.
    spaces: HashMap<&'a str, &'a [Prefix]>,
    /// Link key → its VNet and the link back, if there is one.
    links: HashMap<&'a str, (ResourceId, Option<&'a VirtualNetworkPeering>)>,
    /// Gateway key → what on-premises learns from it.
    learned: HashMap<&'a str, Vec<Prefix>>,
}

/// Where a packet is.
#[derive(Clone, Copy)]
enum At<'a> {
    Nic(&'a NicView, &'a SubnetView),
    /// An address of a subnet that no NIC holds.
    Subnet(&'a SubnetView),
    Gateway(&'a VirtualNetworkGateway),
    Site(&'a ResourceId),
}

/// Where a walk ended.
enum Arrival<'a> {
    Host(&'a NicView, &'a SubnetView),
    Subnet(&'a SubnetView),
    Site(ResourceId),
    Internet,
    Nowhere,
}

impl<'a> Tracer<'a> {
    pub fn new(network: &'a Network, state: &'a State) -> Tracer<'a> {
        let mut subnets: HashMap<String, Vec<&SubnetView>> = HashMap::new();
        for s in network.subnets() {
            subnets.entry(s.vnet.key().to_owned()).or_default().push(s);
        }
        let mut hosts = HashMap::new();
        let mut vnet_numbers: HashMap<&str, usize> = HashMap::new();
        for nic in network.nics() {
            for a in &nic.addresses {
                if let Some(s) = network.subnet(&a.subnet) {
                    let next = vnet_numbers.len();
                    let number = *vnet_numbers.entry(s.vnet.key()).or_insert(next);
                    hosts.insert((number, a.ip), nic);
                }
            }
        }
        let mut spaces = HashMap::new();
        for stored in state.all_of(Kind::VirtualNetwork) {
            if let Some(v) = stored.resource.as_virtual_network() {
                spaces.insert(v.id.key(), v.properties.address_space.address_prefixes.as_slice());
            }
        }
        let mut links = HashMap::new();
        for stored in state.all_of(Kind::VirtualNetworkPeering) {
            if let Some(link) = stored.resource.as_peering()
                && let Some(local) = link.local_vnet_id()
            {
                links.insert(link.id.key(), (local, state.reverse_link(link)));
            }
        }
        let mut learned = HashMap::new();
        for stored in state.all_of(Kind::VirtualNetworkGateway) {
            if let Some(g) = stored.resource.as_virtual_network_gateway() {
                learned.insert(g.id.key(), advertised(state, g));
            }
        }
        Tracer { network, state, hosts, vnet_numbers, subnets, spaces, links, learned }
    }

    pub fn network(&self) -> &'a Network {
        self.network
    }

    /// The path from `source` to `destination` for `probe`, with every blocker.
    pub fn trace(&self, source: &TraceEnd, destination: &TraceEnd, probe: Probe) -> Result<Trace, AnalysisError> {
        self.walk(source, destination, probe, false)
    }

    /// Whether `probe` from `source` reaches `destination` and its answer comes back: the walk
    /// of [`Tracer::trace`], writing nothing down and ending at the first blocker.
    pub fn reaches(&self, source: &TraceEnd, destination: &TraceEnd, probe: Probe) -> Result<bool, AnalysisError> {
        Ok(self.walk(source, destination, probe, true)?.reachable())
    }

    fn walk(
        &self,
        source: &TraceEnd,
        destination: &TraceEnd,
        probe: Probe,
        verdict_only: bool,
    ) -> Result<Trace, AnalysisError> {
        let (src, dst) = (source.ip(), destination.ip());
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(AnalysisError::InvalidArgument(
                "The source and destination addresses must be of the same IP version.".into(),
            ));
        }
        let start = self.place(source)?;
        let flow = Flow {
            protocol: probe.protocol,
            source: src,
            source_port: EPHEMERAL_PORT,
            destination: dst,
            destination_port: probe.port,
        };
        let mut forward = Walk::new(self, Leg::Forward, flow);
        forward.verdict_only = verdict_only;
        forward.to_subnet = matches!(destination, TraceEnd::Subnet { .. });
        let arrival = forward.run(start);
        let mut blockers = forward.blockers;
        let forward_hops = forward.hops;

        if let TraceEnd::Nic { nic, .. } = destination
            && let Arrival::Host(host, _) = &arrival
            && host.id != *nic
        {
            blockers.push(Blocker {
                leg: Leg::Forward,
                kind: BlockerKind::Route,
                resource: Some(host.id.clone()),
                problem: format!(
                    "The packet arrives at '{}', another NIC with the address {dst}, not at '{}'.",
                    host.id.name(),
                    nic.name()
                ),
                fix: "Give the two NICs different addresses, or make the route lead to the intended VNet.".into(),
                at: forward_hops.len().checked_sub(1),
            });
        }
        // Leaving for the Internet or a site when the destination is elsewhere.
        let elsewhere = match (&arrival, destination) {
            (Arrival::Internet, TraceEnd::Nic { .. } | TraceEnd::Subnet { .. } | TraceEnd::Site { .. }) => {
                Some("leaves for the Internet".to_owned())
            }
            (Arrival::Site(s), TraceEnd::Nic { .. } | TraceEnd::Subnet { .. }) => {
                Some(format!("goes to on-premises site '{}'", s.name()))
            }
            (Arrival::Site(s), TraceEnd::Site { site, .. }) if s != site => {
                Some(format!("goes to on-premises site '{}'", s.name()))
            }
            _ => None,
        };
        if let Some(what) = elsewhere {
            let (problem, fix) = if verdict_only {
                (String::new(), String::new())
            } else {
                (
                    format!("The packet for {dst} {what}, not to its destination."),
                    "Change the routes so that the destination's prefix leads to it.".to_owned(),
                )
            };
            let at = forward_hops.len().checked_sub(1);
            blockers.push(Blocker { leg: Leg::Forward, kind: BlockerKind::Route, resource: None, problem, fix, at });
        }
        // The answer, from where the packet arrived (or would arrive once fixed).
        let back_start = match &arrival {
            Arrival::Host(nic, subnet) => Some(At::Nic(nic, subnet)),
            Arrival::Subnet(subnet) => Some(At::Subnet(subnet)),
            Arrival::Site(site) => self.state.get(site).map(|s| At::Site(s.id())),
            Arrival::Internet | Arrival::Nowhere => None,
        };
        let mut back_hops = Vec::new();
        let back_start = if verdict_only && !blockers.is_empty() { None } else { back_start };
        if let Some(start) = back_start {
            let reply = Flow {
                protocol: probe.protocol,
                source: dst,
                source_port: probe.port,
                destination: src,
                destination_port: EPHEMERAL_PORT,
            };
            let mut back = Walk::new(self, Leg::Return, reply);
            back.verdict_only = verdict_only;
            back.to_subnet = matches!(source, TraceEnd::Subnet { .. });
            back.assumed = !blockers.is_empty();
            let came_back = back.run(start);
            let wrong_place = match (&came_back, source) {
                (Arrival::Host(nic, _), TraceEnd::Nic { nic: id, .. }) => nic.id != *id,
                (Arrival::Host(_, s) | Arrival::Subnet(s), TraceEnd::Subnet { subnet, .. }) => s.id != *subnet,
                (Arrival::Site(s), TraceEnd::Site { site, .. }) => s != site,
                (Arrival::Nowhere, _) => false,
                _ => true,
            };
            if wrong_place {
                back.blocker(
                    BlockerKind::Route,
                    None,
                    format!("The answer to {src} does not come back to the source."),
                    "Make the return route lead to the source's VNet.".into(),
                );
            }
            // A setting already blamed on the way there is not blamed twice.
            for b in back.blockers {
                if !blockers.iter().any(|f| f.kind == b.kind && f.resource.is_some() && f.resource == b.resource) {
                    blockers.push(b);
                }
            }
            back_hops = back.hops;
        }
        Ok(Trace {
            source: source.clone(),
            destination: destination.clone(),
            probe,
            forward: forward_hops,
            back: back_hops,
            blockers,
        })
    }

    /// The trace as Network Watcher's connectivity check answers (`ConnectivityInformation`),
    /// from the trace alone: see [`Connectivity::to_json`].
    pub fn connectivity(&self, trace: &Trace) -> Value {
        self.connectivity_hops(trace).to_json()
    }

    /// The hops of a connectivity check's answer: those that are devices (source, appliances,
    /// gateways, destination), each with the issues found there. Holds no borrow of the lab, so
    /// probes can be sent after the lab is let go.
    pub fn connectivity_hops(&self, trace: &Trace) -> Connectivity {
        // Which forward hops become connectivity hops, and the index each hop folds into.
        let mut kept: Vec<(usize, &Hop)> = Vec::new();
        let mut fold = Vec::with_capacity(trace.forward.len());
        for (i, h) in trace.forward.iter().enumerate() {
            let device = matches!(
                h.kind,
                HopKind::Source
                    | HopKind::VirtualAppliance
                    | HopKind::Gateway
                    | HopKind::OnPremises
                    | HopKind::Internet
                    | HopKind::Destination
            );
            if device && !(h.kind == HopKind::Gateway && kept.last().is_some_and(|(_, k)| k.resource == h.resource)) {
                kept.push((i, h));
            }
            fold.push(kept.len().saturating_sub(1));
        }
        let mut issues: Vec<Vec<Value>> = vec![Vec::new(); kept.len()];
        for b in &trace.blockers {
            let index = match (b.leg, b.at) {
                (Leg::Forward, Some(at)) => fold.get(at).copied().unwrap_or(0),
                _ => kept.len().saturating_sub(1),
            };
            // [gap] Azure's issue types name NSG rules and user routes; everything else vnetlab
            // finds is reported as `Platform`, with the problem and the fix in the context.
            let (kind, mut context) = match b.kind {
                BlockerKind::NetworkSecurityRule => (
                    "NetworkSecurityRule",
                    vec![json!({ "key": "RuleName", "value": b.resource.as_ref().map_or("", |r| r.name()) })],
                ),
                BlockerKind::Route | BlockerKind::NotTransitive | BlockerKind::Loop
                    if b.resource.as_ref().and_then(ResourceId::kind) == Some(Kind::Route) =>
                {
                    (
                        "UserDefinedRoute",
                        vec![json!({ "key": "RouteName", "value": b.resource.as_ref().map_or("", |r| r.name()) })],
                    )
                }
                _ => ("Platform", Vec::new()),
            };
            context.push(json!({ "key": "Problem", "value": b.problem }));
            context.push(json!({ "key": "Fix", "value": b.fix }));
            // [gap] Origins: an NSG gate is Inbound or Outbound by its direction; a problem on
            // the way there is Outbound, one on the way back Inbound.
            let hop = b.at.and_then(|at| trace.forward.get(at));
            let origin = match b.leg {
                Leg::Forward if hop.is_some_and(|h| h.kind == HopKind::SecurityGroup && h.detail.contains(", in)")) => {
                    "Inbound"
                }
                Leg::Forward => "Outbound",
                Leg::Return => "Inbound",
            };
            if let Some(list) = issues.get_mut(index) {
                list.push(json!({ "origin": origin, "severity": "Error", "type": kind, "context": context }));
            }
        }
        let hops = kept
            .iter()
            .zip(issues)
            .map(|((_, h), issues)| {
                let kind = match h.kind {
                    HopKind::Source => "Source",
                    HopKind::VirtualAppliance => "VirtualAppliance",
                    HopKind::Gateway => "VirtualNetworkGateway",
                    // [gap] vnetlab's name for an on-premises destination behind a gateway.
                    HopKind::OnPremises => "OnPremises",
                    HopKind::Internet => "Internet",
                    _ => "VirtualNetwork",
                };
                // A NIC hop names the IP configuration that holds the address, as Azure does.
                let resource_id = match (&h.resource, h.address) {
                    (Some(r), Some(ip)) if r.kind() == Some(Kind::NetworkInterface) => self
                        .network
                        .nic(r)
                        .and_then(|n| n.addresses.iter().find(|a| a.ip == ip))
                        .map_or_else(|| r.as_str().to_owned(), |a| a.ip_configuration.as_str().to_owned()),
                    (Some(r), _) => r.as_str().to_owned(),
                    // [gap] An Internet hop has no resource; vnetlab names it `Internet`.
                    (None, _) if h.kind == HopKind::Internet => "Internet".to_owned(),
                    (None, _) => String::new(),
                };
                ConnectivityHop { kind, id: uuid::Uuid::new_v4().to_string(), address: h.address, resource_id, issues }
            })
            .collect();
        Connectivity { hops, reachable: trace.reachable(), probe: trace.probe, destination: trace.destination.ip() }
    }

    fn place(&self, end: &'a TraceEnd) -> Result<At<'a>, AnalysisError> {
        match end {
            TraceEnd::Nic { nic, ip } => {
                let view = self.network.nic(nic).ok_or_else(|| AnalysisError::NotFound(nic.to_string()))?;
                let (_, subnet) = self.network.home(view, Some(*ip))?;
                Ok(At::Nic(view, subnet))
            }
            TraceEnd::Subnet { subnet, ip } => {
                let view = self.network.subnet(subnet).ok_or_else(|| AnalysisError::NotFound(subnet.to_string()))?;
                if !view.prefixes.iter().any(|p| p.contains_addr(*ip)) {
                    return Err(AnalysisError::AddressNotOnTarget { ip: *ip, target: subnet.to_string() });
                }
                Ok(match self.host(&view.vnet, *ip) {
                    Some(nic) => At::Nic(nic, view),
                    None => At::Subnet(view),
                })
            }
            TraceEnd::Site { site, .. } => {
                if !self.state.exists(site) {
                    return Err(AnalysisError::NotFound(site.to_string()));
                }
                Ok(At::Site(site))
            }
            TraceEnd::Address(ip) => Err(AnalysisError::InvalidArgument(format!(
                "A trace starts at a VM or an on-premises site, not at the bare address {ip}."
            ))),
        }
    }

    /// The end a name or address stands for: an address of a NIC if one NIC has it, else an
    /// on-premises address if a site's space holds it, else the bare address.
    pub fn end_for_address(&self, ip: IpAddr) -> TraceEnd {
        let mut nics = self.hosts.iter().filter(|((_, a), _)| *a == ip).map(|(_, n)| n.id.clone());
        if let (Some(nic), None) = (nics.next(), nics.next()) {
            return TraceEnd::Nic { nic, ip };
        }
        for stored in self.state.all_of(Kind::LocalNetworkGateway) {
            if let Resource::LocalNetworkGateway(site) = &stored.resource
                && site.properties.local_network_address_space.address_prefixes.iter().any(|p| p.contains_addr(ip))
            {
                return TraceEnd::Site { site: site.id.clone(), ip };
            }
        }
        TraceEnd::Address(ip)
    }

    /// The NIC with address `ip` in `vnet`.
    fn host(&self, vnet: &ResourceId, ip: IpAddr) -> Option<&'a NicView> {
        let number = *self.vnet_numbers.get(vnet.key())?;
        self.hosts.get(&(number, ip)).copied()
    }

    fn in_space(&self, vnet: &ResourceId, ip: IpAddr) -> bool {
        self.spaces.get(vnet.key()).is_some_and(|space| space.iter().any(|p| p.contains_addr(ip)))
    }

    /// What `gateway` advertises to its sites, worked out once.
    fn learned_by_site(&self, gateway: &VirtualNetworkGateway) -> &[Prefix] {
        self.learned.get(gateway.id.key()).map_or(&[], Vec::as_slice)
    }

    fn gateway_subnet(&self, gateway: &VirtualNetworkGateway) -> Option<&'a SubnetView> {
        gateway.subnet_id().and_then(|s| self.network.subnet(s))
    }

    /// The VNets whose space holds `ip`, peers of `near` first.
    fn vnets_holding(&self, ip: IpAddr, near: &ResourceId) -> Vec<&'a VirtualNetwork> {
        let mut found: Vec<&VirtualNetwork> = self
            .state
            .all_of(Kind::VirtualNetwork)
            .into_iter()
            .filter_map(|s| s.resource.as_virtual_network())
            .filter(|v| v.properties.address_space.address_prefixes.iter().any(|p| p.contains_addr(ip)))
            .collect();
        found.sort_by_key(|v| {
            let related =
                self.state.link_between(near, &v.id).is_some() || self.state.link_between(&v.id, near).is_some();
            (!related, v.id.key().to_owned())
        });
        found
    }

    /// Connections from a gateway to the site whose space holds `ip`, any status.
    fn site_connections(&self, ip: IpAddr) -> Vec<(&'a vnetlab_model::Connection, &'a VirtualNetworkGateway)> {
        let mut out = Vec::new();
        for stored in self.state.all_of(Kind::Connection) {
            let Some(c) = stored.resource.as_connection() else {
                continue;
            };
            let p = &c.properties;
            if p.connection_type != ConnectionType::IPsec {
                continue;
            }
            let site = p.local_network_gateway2.as_ref().and_then(|l| self.state.resource(&l.id));
            let holds = matches!(site, Some(Resource::LocalNetworkGateway(s))
                if s.properties.local_network_address_space.address_prefixes.iter().any(|x| x.contains_addr(ip)));
            if holds && let Some(g) = self.state.gateway(&p.virtual_network_gateway1.id) {
                out.push((c, g));
            }
        }
        out
    }
}

/// One walk of a packet in one direction.
struct Walk<'t, 'a> {
    tracer: &'t Tracer<'a>,
    leg: Leg,
    flow: Flow,
    hops: Vec<Hop>,
    blockers: Vec<Blocker>,
    /// Past a blocker: later hops are what the path will be once it is fixed.
    assumed: bool,
    /// Where the packet has been (by the identity of the NIC, subnet, gateway or site).
    visited: Vec<usize>,
    /// The link the packet crossed last, with the subnet that sent it: checked against the subnet
    /// it arrives in (subnet peering).
    crossing: Option<(&'a VirtualNetworkPeering, &'a SubnetView)>,
    /// A diagnosis is under way (it does not start another).
    diagnosing: bool,
    /// The gates being evaluated are an appliance's (a deny there is always a blocker).
    at_appliance: bool,
    /// Only whether the packet passes is wanted: no hops are written and the walk ends at the
    /// first blocker.
    verdict_only: bool,
    /// The destination is a subnet's address: arriving in the subnet is enough.
    to_subnet: bool,
}

/// What a step leads to.
enum Next<'a> {
    At(At<'a>),
    Arrived(Arrival<'a>),
}

impl<'t, 'a> Walk<'t, 'a> {
    fn new(tracer: &'t Tracer<'a>, leg: Leg, flow: Flow) -> Walk<'t, 'a> {
        Walk {
            tracer,
            leg,
            flow,
            hops: Vec::new(),
            blockers: Vec::new(),
            assumed: false,
            visited: Vec::new(),
            verdict_only: false,
            at_appliance: false,
            diagnosing: false,
            crossing: None,
            to_subnet: false,
        }
    }

    /// Records a hop (unless only the verdict is wanted: then nothing is written).
    fn hop(
        &mut self,
        kind: HopKind,
        resource: Option<&ResourceId>,
        address: Option<IpAddr>,
        detail: impl FnOnce() -> String,
    ) {
        if self.verdict_only {
            return;
        }
        let detail = detail();
        self.hops.push(Hop {
            kind,
            resource: resource.cloned(),
            address,
            detail,
            blocked: false,
            assumed: self.assumed,
        });
    }

    fn blocker(&mut self, kind: BlockerKind, resource: Option<&ResourceId>, problem: String, fix: String) {
        let at = self.hops.len().checked_sub(1);
        if let Some(last) = self.hops.last_mut() {
            last.blocked = true;
        }
        self.blockers.push(Blocker { leg: self.leg, kind, resource: resource.cloned(), problem, fix, at });
        self.assumed = true;
    }

    fn checks_nsgs(&self) -> bool {
        self.leg == Leg::Forward
    }

    fn run(&mut self, start: At<'a>) -> Arrival<'a> {
        let mut at = start;
        match at {
            At::Nic(nic, subnet) => {
                self.visited.push(identity(nic));
                self.hop(HopKind::Source, Some(&nic.id), Some(self.flow.source), || {
                    format!("{} in subnet {}", owner_name(nic), subnet_name(&subnet.id))
                });
                self.gates(nic, subnet, SecurityRuleDirection::Outbound);
            }
            At::Subnet(subnet) => {
                self.visited.push(identity(subnet));
                self.hop(HopKind::Source, Some(&subnet.id), Some(self.flow.source), || {
                    format!("subnet {}", subnet_name(&subnet.id))
                });
                self.subnet_gate(subnet, SecurityRuleDirection::Outbound);
            }
            At::Site(site) => self.hop(HopKind::Source, Some(site), Some(self.flow.source), || {
                format!("on-premises site {}", site.name())
            }),
            At::Gateway(_) => {}
        }
        for _ in 0..MAX_HOPS {
            let next = match at {
                At::Nic(nic, subnet) => self.send_from_nic(nic, subnet),
                At::Subnet(subnet) => {
                    let route = self.route(subnet, || subnet_name(&subnet.id));
                    self.follow(route, subnet, None)
                }
                At::Gateway(gateway) => self.at_gateway(gateway),
                At::Site(site) => self.at_site(site),
            };
            if self.verdict_only && !self.blockers.is_empty() {
                return Arrival::Nowhere;
            }
            match next {
                Next::Arrived(arrival) => return arrival,
                Next::At(place) => {
                    let key = match place {
                        At::Nic(n, _) => identity(n),
                        At::Subnet(s) => identity(s),
                        At::Gateway(g) => identity(g),
                        At::Site(s) => identity(s),
                    };
                    if self.visited.contains(&key) {
                        let id = match place {
                            At::Nic(n, _) => &n.id,
                            At::Subnet(s) => &s.id,
                            At::Gateway(g) => &g.id,
                            At::Site(s) => s,
                        };
                        self.blocker(
                            BlockerKind::Loop,
                            Some(id),
                            format!("The packet comes back to '{}': the routes make a loop.", id.name()),
                            "Change the user routes so that each hop sends the packet closer to its destination."
                                .into(),
                        );
                        return Arrival::Nowhere;
                    }
                    self.visited.push(key);
                    at = place;
                }
            }
        }
        self.blocker(
            BlockerKind::Loop,
            None,
            format!("The path is longer than {MAX_HOPS} hops."),
            "Change the user routes so that each hop sends the packet closer to its destination.".into(),
        );
        Arrival::Nowhere
    }

    /// The NSG gates of `nic` in `direction`: every deny is a blocker.
    fn gates(&mut self, nic: &NicView, subnet: &SubnetView, direction: SecurityRuleDirection) {
        let network = self.tracer.network;
        self.through(&network.gates(nic, subnet, direction), subnet, direction);
    }

    /// The subnet's NSG alone (for an address no NIC holds).
    fn subnet_gate(&mut self, subnet: &SubnetView, direction: SecurityRuleDirection) {
        let gates: Vec<_> = subnet.nsg.as_deref().map(|n| (n, &subnet.id)).into_iter().collect();
        self.through(&gates, subnet, direction);
    }

    fn through(
        &mut self,
        gates: &[(&CompiledNsg, &ResourceId)],
        subnet: &SubnetView,
        direction: SecurityRuleDirection,
    ) {
        if !self.checks_nsgs() {
            return;
        }
        for &(nsg, attached) in gates {
            if self.verdict_only {
                if nsg.layer(direction).evaluate(&self.flow).action.access == SecurityRuleAccess::Deny {
                    self.blocker(BlockerKind::NetworkSecurityRule, None, String::new(), String::new());
                    return;
                }
                continue;
            }
            let decisions = security::through_gates(&[(nsg, attached)], direction, &self.flow);
            let Some(d) = decisions.into_iter().next() else {
                continue;
            };
            let dir = if direction == SecurityRuleDirection::Inbound { "in" } else { "out" };
            self.hop(HopKind::SecurityGroup, Some(&d.nsg), None, || {
                let where_ = if attached.kind() == Some(Kind::Subnet) {
                    format!("subnet {}", subnet_name(attached))
                } else {
                    format!("NIC {}", attached.name())
                };
                format!("{} ({where_}, {dir}): {} by {}", d.nsg.name(), access_word(d.access), d.rule_name)
            });
            if d.access == SecurityRuleAccess::Deny {
                if self.verdict_only {
                    self.blocker(BlockerKind::NetworkSecurityRule, None, String::new(), String::new());
                    return;
                }
                if !self.at_appliance && self.denied_until_peered(&d, direction, subnet) {
                    if let Some(last) = self.hops.last_mut() {
                        last.detail.push_str(" (the VirtualNetwork tag takes the peer in once it is reachable)");
                    }
                    continue;
                }
                let (problem, fix) = self.nsg_fix(&d, direction, subnet);
                self.blocker(BlockerKind::NetworkSecurityRule, Some(&d.rule), problem, fix);
            }
        }
    }

    /// A default rule's deny that only follows from a missing path: the other end is in a VNet
    /// this subnet has no peering route to, so it is outside the VirtualNetwork tag. The routing
    /// blocker covers it: the peering (or the user route to an appliance) that fixes the path
    /// also puts the other end in the tag.
    fn denied_until_peered(&self, d: &GateDecision, direction: SecurityRuleDirection, subnet: &SubnetView) -> bool {
        let peer = if direction == SecurityRuleDirection::Inbound { self.flow.source } else { self.flow.destination };
        if !d.rule_name.starts_with("defaultSecurityRules/") || subnet.tags.virtual_network.contains(peer) {
            return false;
        }
        let routed = subnet.routes.lookup(peer).is_some_and(|r| {
            matches!(
                r.next_hop_type,
                NextHopType::VnetLocal
                    | NextHopType::VnetPeering
                    | NextHopType::VnetGlobalPeering
                    | NextHopType::VirtualAppliance
                    | NextHopType::VirtualNetworkGateway
            )
        });
        !routed
            && (!self.tracer.vnets_holding(peer, &subnet.vnet).is_empty()
                || !self.tracer.site_connections(peer).is_empty())
    }

    fn nsg_fix(&self, d: &GateDecision, direction: SecurityRuleDirection, subnet: &SubnetView) -> (String, String) {
        let f = &self.flow;
        let what = describe_flow(f);
        let dir = if direction == SecurityRuleDirection::Inbound { "Inbound" } else { "Outbound" };
        let default = d.rule_name.starts_with("defaultSecurityRules/");
        let mut problem = if default {
            format!(
                "NSG '{}' has no rule that allows {what} {}: {} denies it.",
                d.nsg.name(),
                dir.to_lowercase(),
                d.rule_name
            )
        } else {
            format!(
                "Rule {} (priority {}) of NSG '{}' denies {what} {}.",
                d.rule_name,
                d.priority,
                d.nsg.name(),
                dir.to_lowercase()
            )
        };
        // A peer left out of the VirtualNetwork tag by allowVirtualNetworkAccess=false.
        let peer_ip = if direction == SecurityRuleDirection::Inbound { f.source } else { f.destination };
        let mut hint = String::new();
        if default && !subnet.tags.virtual_network.contains(peer_ip) {
            for link in self.tracer.state.links_of(&subnet.vnet) {
                let p = &link.properties;
                if p.peering_state == PeeringState::Connected
                    && !p.allow_virtual_network_access
                    && p.remote_address_space.address_prefixes.iter().any(|x| x.contains_addr(peer_ip))
                {
                    problem.push_str(&format!(
                        " Link '{}' has allowVirtualNetworkAccess=false, so the VirtualNetwork tag of '{}' leaves out '{}'.",
                        link.name,
                        vnet_name(&subnet.vnet),
                        link.remote_vnet_id().name()
                    ));
                    hint = format!(
                        "Turn on 'Allow access to the remote virtual network' on link '{}' ({}), or ",
                        link.name,
                        az_peering_update(&link.id, "allowVirtualNetworkAccess=true")
                    );
                }
            }
        }
        let Some(priority) = self.free_priority(&d.nsg, direction, d.priority) else {
            let fix = format!(
                "{hint}change rule {} (priority {}) so that it allows this traffic: no priority below it is free for a new rule",
                d.rule_name, d.priority
            );
            return (problem, fix);
        };
        let ports = if f.protocol.has_ports() {
            format!(" --destination-port-ranges {}", f.destination_port)
        } else {
            String::new()
        };
        let fix = format!(
            "{hint}add a rule that allows it, numbered below {}: az network nsg rule create -g {} --nsg-name {} -n allow-{}-{} --priority {priority} --direction {dir} --access Allow --protocol {} --source-address-prefixes {} --destination-address-prefixes {}{ports}",
            d.priority,
            d.nsg.resource_group_name().unwrap_or_default(),
            d.nsg.name(),
            f.protocol.to_string().to_lowercase(),
            if f.protocol.has_ports() { f.destination_port.to_string() } else { "any".into() },
            f.protocol,
            f.source,
            f.destination,
        );
        (problem, fix)
    }

    /// A custom-rule priority free in `nsg` and below `below`.
    fn free_priority(&self, nsg: &ResourceId, direction: SecurityRuleDirection, below: u32) -> Option<u32> {
        let used: HashSet<u32> = self
            .tracer
            .state
            .children_of(nsg, Kind::SecurityRule)
            .into_iter()
            .filter_map(|s| s.resource.as_security_rule())
            .filter(|r| r.properties.direction == direction)
            .map(|r| r.properties.priority)
            .collect();
        let top = below.saturating_sub(1).min(4096);
        (100..=top).rev().find(|p| !used.contains(p))
    }

    /// The route a subnet uses for the packet's destination.
    fn route(&mut self, subnet: &'a SubnetView, place: impl FnOnce() -> String) -> Option<&'a EffectiveRoute> {
        let route = subnet.routes.lookup(self.flow.destination)?;
        self.hop(HopKind::Route, route_resource(route), None, || format!("{}: {}", place(), describe_route(route)));
        Some(route)
    }

    fn send_from_nic(&mut self, nic: &'a NicView, subnet: &'a SubnetView) -> Next<'a> {
        let route = self.route(subnet, || subnet_name(&subnet.id));
        self.follow(route, subnet, Some(nic))
    }

    /// Follows `route` out of `subnet` (the packet sent by `sender`).
    fn follow(
        &mut self,
        route: Option<&'a EffectiveRoute>,
        subnet: &'a SubnetView,
        sender: Option<&NicView>,
    ) -> Next<'a> {
        let dst = self.flow.destination;
        let Some(route) = route else {
            self.hop(HopKind::Route, None, None, || format!("{}: no route to {dst}", subnet_name(&subnet.id)));
            return self.no_route(subnet, None);
        };
        match route.next_hop_type {
            NextHopType::VnetLocal => {
                if !self.tracer.in_space(&subnet.vnet, dst) {
                    self.blocker(
                        BlockerKind::Route,
                        route_resource(route),
                        format!(
                            "The route sends {dst} to VnetLocal, but '{}' has no such address.",
                            vnet_name(&subnet.vnet)
                        ),
                        "Point the user route at the hop that leads to the address.".into(),
                    );
                    return self.no_route(subnet, Some(route));
                }
                self.deliver(&subnet.vnet)
            }
            NextHopType::VnetPeering | NextHopType::VnetGlobalPeering => {
                let Origin::Peering { link, remote } = &route.origin else {
                    return self.no_route(subnet, Some(route));
                };
                let Some(link) = self.tracer.state.peering(link) else {
                    return self.no_route(subnet, Some(route));
                };
                self.cross(link, subnet, false);
                self.deliver(remote)
            }
            NextHopType::VirtualAppliance => {
                let Some(ip) = route.next_hop_ip_address.first().copied() else {
                    return self.no_route(subnet, Some(route));
                };
                self.appliance(subnet, ip, route, sender)
            }
            NextHopType::VirtualNetworkGateway => {
                let found = crossing::route_gateway(self.tracer.state, subnet, route);
                if let Some((_, Some(link))) = found {
                    self.cross(link, subnet, false);
                }
                let gateway = found.map(|(g, _)| g);
                match gateway {
                    Some(g) => {
                        self.hop(HopKind::Gateway, Some(&g.id), g.instance_addresses().first().copied(), || {
                            format!("gateway {}", g.name)
                        });
                        Next::At(At::Gateway(g))
                    }
                    None => {
                        self.blocker(
                            BlockerKind::Route,
                            route_resource(route),
                            format!("The route sends {dst} to a virtual network gateway, but '{}' has none and uses none through a peering.", vnet_name(&subnet.vnet)),
                            "Create a gateway in the VNet's GatewaySubnet, or peer with a hub that has one and use it (useRemoteGateways on this side, allowGatewayTransit on the hub's).".into(),
                        );
                        self.no_route(subnet, Some(route))
                    }
                }
            }
            NextHopType::Internet => {
                if security::is_internet(dst) {
                    self.hop(HopKind::Internet, None, Some(dst), || "the Internet".into());
                    Next::Arrived(Arrival::Internet)
                } else {
                    self.no_route(subnet, Some(route))
                }
            }
            NextHopType::None => self.no_route(subnet, Some(route)),
        }
    }

    /// Crossing a peering link from its VNet to the remote: the receiving side must accept the
    /// packet when it did not start in the sending VNet (unless a gateway forwarded it).
    fn cross(&mut self, link: &'a VirtualNetworkPeering, sender: &'a SubnetView, by_gateway: bool) {
        self.crossing = Some((link, sender));
        let to = link.remote_vnet_id();
        let Some((from, back)) = self.tracer.links.get(link.id.key()) else {
            return;
        };
        self.hop(HopKind::Peering, Some(&link.id), None, || {
            format!("{} → {} (link {})", from.name(), to.name(), link.name)
        });
        let Some(back) = back else {
            return;
        };
        // 1.18: the flag is read on the receiving VNet's link; a VPN gateway's forwarding does
        // not need it.
        let space = self.tracer.spaces.get(from.key()).copied().unwrap_or_default();
        if !by_gateway && !crossing::admits(back, space, self.flow.source) {
            self.blocker(
                BlockerKind::ForwardedTraffic,
                Some(&back.id),
                format!(
                    "'{}' does not accept traffic that '{}' forwards from {} (link '{}' has allowForwardedTraffic=false).",
                    to.name(),
                    from.name(),
                    self.flow.source,
                    back.name
                ),
                format!(
                    "Allow forwarded traffic on link '{}': {}",
                    back.name,
                    az_peering_update(&back.id, "allowForwardedTraffic=true")
                ),
            );
        }
    }

    /// Arrives in `vnet` (over `link` when it crossed one): the NIC with the destination address.
    fn deliver(&mut self, vnet: &ResourceId) -> Next<'a> {
        let dst = self.flow.destination;
        let Some(nic) = self.tracer.host(vnet, dst) else {
            let subnet = self
                .tracer
                .subnets
                .get(vnet.key())
                .and_then(|ss| ss.iter().copied().find(|s| s.prefixes.iter().any(|p| p.contains_addr(dst))));
            if self.to_subnet
                && let Some(subnet) = subnet
            {
                self.arrive_in(subnet);
                self.hop(HopKind::Destination, Some(&subnet.id), Some(dst), || {
                    format!("subnet {}", subnet_name(&subnet.id))
                });
                self.subnet_gate(subnet, SecurityRuleDirection::Inbound);
                return Next::Arrived(Arrival::Subnet(subnet));
            }
            let place = subnet.map_or_else(|| vnet_name(vnet), |s| subnet_name(&s.id));
            self.hop(HopKind::Destination, subnet.map(|s| &s.id).or(Some(vnet)), Some(dst), || place.clone());
            self.blocker(
                BlockerKind::NoHost,
                subnet.map(|s| &s.id).or(Some(vnet)),
                format!("No NIC in '{}' has the address {dst}.", vnet_name(vnet)),
                "Give a VM's NIC that address, or trace to an address in use.".into(),
            );
            return Next::Arrived(Arrival::Nowhere);
        };
        let Some((_, subnet)) = nic
            .addresses
            .iter()
            .find(|a| a.ip == dst)
            .and_then(|a| self.tracer.network.subnet(&a.subnet).map(|s| (a, s)))
        else {
            return Next::Arrived(Arrival::Nowhere);
        };
        self.arrive_in(subnet);
        self.hop(HopKind::Destination, Some(&nic.id), Some(dst), || {
            format!("{} in subnet {}", owner_name(nic), subnet_name(&subnet.id))
        });
        self.gates(nic, subnet, SecurityRuleDirection::Inbound);
        Next::Arrived(Arrival::Host(nic, subnet))
    }

    /// 1.27: a subnet peering carries only the named subnets of each side.
    /// The packet enters `to`: a subnet peering it came over must include both ends' subnets.
    fn arrive_in(&mut self, to: &SubnetView) {
        if let Some((link, from)) = self.crossing.take() {
            self.subnet_peering(link, from, to);
        }
    }

    fn subnet_peering(&mut self, link: &VirtualNetworkPeering, from: &SubnetView, to: &SubnetView) {
        if !crossing::carries_from(link, &from.id) {
            self.blocker(
                BlockerKind::SubnetPeering,
                Some(&link.id),
                format!("Subnet peering '{}' does not include the sending subnet '{}'.", link.name, from.id.name()),
                format!(
                    "Add '{}' to the link's localSubnetNames (and to the other side's remoteSubnetNames).",
                    from.id.name()
                ),
            );
        }
        if !crossing::carries_to(link, &to.id) {
            self.blocker(
                BlockerKind::SubnetPeering,
                Some(&link.id),
                format!("Subnet peering '{}' does not include the receiving subnet '{}'.", link.name, to.id.name()),
                format!(
                    "Add '{}' to the link's remoteSubnetNames (and to the other side's localSubnetNames).",
                    to.id.name()
                ),
            );
        }
    }

    /// A user route to a virtual appliance at `ip`: the appliance must be reachable, accept the
    /// packet and forward it.
    fn appliance(
        &mut self,
        subnet: &'a SubnetView,
        ip: IpAddr,
        route: &EffectiveRoute,
        _sender: Option<&NicView>,
    ) -> Next<'a> {
        let found = crossing::appliance(self.tracer.state, subnet, ip, |vnet, ip| self.tracer.host(vnet, ip));
        let Some((nva, link)) = found else {
            self.blocker(
                BlockerKind::Route,
                route_resource(route),
                format!("The route's next hop {ip} is not the address of a NIC in '{}' or in a VNet peered with it.", vnet_name(&subnet.vnet)),
                format!("Deploy the appliance at {ip} (a VM whose NIC has IP forwarding), or point the route at the appliance's address."),
            );
            return self.no_route(subnet, Some(route));
        };
        if let Some(link) = link {
            self.cross(link, subnet, false);
        }
        let Some(nva_subnet) =
            nva.addresses.iter().find(|a| a.ip == ip).and_then(|a| self.tracer.network.subnet(&a.subnet))
        else {
            return Next::Arrived(Arrival::Nowhere);
        };
        self.hop(HopKind::VirtualAppliance, Some(&nva.id), Some(ip), || {
            format!(
                "{} in subnet {} (IP forwarding {})",
                owner_name(nva),
                subnet_name(&nva_subnet.id),
                if nva.enable_ip_forwarding { "on" } else { "off" }
            )
        });
        self.arrive_in(nva_subnet);
        self.at_appliance = true;
        self.gates(nva, nva_subnet, SecurityRuleDirection::Inbound);
        if !nva.enable_ip_forwarding && !nva.addresses.iter().any(|a| a.ip == self.flow.destination) {
            self.blocker(
                BlockerKind::IpForwarding,
                Some(&nva.id),
                format!(
                    "NIC '{}' of the appliance drops packets not addressed to it: IP forwarding is off.",
                    nva.id.name()
                ),
                format!(
                    "Turn IP forwarding on: az network nic update -g {} -n {} --ip-forwarding true",
                    nva.id.resource_group_name().unwrap_or_default(),
                    nva.id.name()
                ),
            );
        }
        self.gates(nva, nva_subnet, SecurityRuleDirection::Outbound);
        self.at_appliance = false;
        Next::At(At::Nic(nva, nva_subnet))
    }

    /// At a gateway: its GatewaySubnet's routes, with the routes its connections learned.
    fn at_gateway(&mut self, gateway: &'a VirtualNetworkGateway) -> Next<'a> {
        let dst = self.flow.destination;
        let Some(subnet) = self.tracer.gateway_subnet(gateway) else {
            self.blocker(
                BlockerKind::Route,
                Some(&gateway.id),
                format!("Gateway '{}' has no GatewaySubnet in the compiled view.", gateway.name),
                "Re-create the gateway in its VNet's GatewaySubnet.".into(),
            );
            return Next::Arrived(Arrival::Nowhere);
        };
        // [gap] Whether a subnet peering must name the GatewaySubnet for gateway transit is not
        // documented: vnetlab does not require it.
        self.crossing = None;
        let route = self.route(subnet, || format!("gateway {}", gateway.name));
        match route.map(|r| (&r.origin, r.next_hop_type)) {
            Some((Origin::Gateway { connection, .. }, _)) => {
                let Some(c) = self.tracer.state.resource(connection).and_then(Resource::as_connection) else {
                    return Next::Arrived(Arrival::Nowhere);
                };
                self.hop(HopKind::Connection, Some(&c.id), None, || {
                    format!("connection {} ({})", c.name, c.properties.connection_type)
                });
                match (&c.properties.local_network_gateway2, &c.properties.virtual_network_gateway2) {
                    (Some(site), _) if c.properties.connection_type == ConnectionType::IPsec => {
                        self.hop(HopKind::OnPremises, Some(&site.id), Some(dst), || {
                            format!("on-premises site {}", site.id.name())
                        });
                        Next::Arrived(Arrival::Site(site.id.clone()))
                    }
                    (_, Some(other)) => match self.tracer.state.gateway(&other.id) {
                        Some(g) => {
                            self.hop(HopKind::Gateway, Some(&g.id), g.instance_addresses().first().copied(), || {
                                format!("gateway {}", g.name)
                            });
                            Next::At(At::Gateway(g))
                        }
                        None => Next::Arrived(Arrival::Nowhere),
                    },
                    _ => Next::Arrived(Arrival::Nowhere),
                }
            }
            Some((Origin::Peering { link, remote }, _)) => {
                let Some(link) = self.tracer.state.peering(link) else {
                    return Next::Arrived(Arrival::Nowhere);
                };
                self.cross(link, subnet, true);
                self.deliver(remote)
            }
            Some((_, NextHopType::VnetLocal)) => match gateway.vnet_id() {
                Some(vnet) => self.deliver(&vnet),
                None => Next::Arrived(Arrival::Nowhere),
            },
            // A user route of the GatewaySubnet (to a firewall, say) is followed as from a NIC.
            Some(_) => self.follow(route, subnet, None),
            None => self.no_route(subnet, route),
        }
    }

    /// From an on-premises site: it sends to Azure what its gateways taught it.
    fn at_site(&mut self, site: &ResourceId) -> Next<'a> {
        let dst = self.flow.destination;
        let state = self.tracer.state;
        let mut connected = Vec::new();
        for stored in state.referrers(site, Kind::Connection) {
            if let Some(c) = stored.resource.as_connection()
                && let Some(g) = state.gateway(&c.properties.virtual_network_gateway1.id)
            {
                connected.push((c, g));
            }
        }
        for (c, g) in &connected {
            if c.properties.connection_status == ConnectionStatus::Connected
                && self.tracer.learned_by_site(g).iter().any(|p| p.contains_addr(dst))
            {
                self.hop(HopKind::Connection, Some(&c.id), None, || format!("connection {} (IPsec)", c.name));
                self.hop(HopKind::Gateway, Some(&g.id), g.instance_addresses().first().copied(), || {
                    format!("gateway {}", g.name)
                });
                return Next::At(At::Gateway(g));
            }
        }
        if self.verdict_only {
            self.blocker(BlockerKind::Route, None, String::new(), String::new());
            return Next::Arrived(Arrival::Nowhere);
        }
        // Why the site has no route there, and the way it would take once fixed.
        let Some((c, g)) = connected.first().copied() else {
            self.blocker(
                BlockerKind::Connection,
                Some(site),
                format!("No connection joins on-premises site '{}' to a gateway.", site.name()),
                "Create a site-to-site connection from a VNet gateway to the local network gateway.".into(),
            );
            return Next::Arrived(Arrival::Nowhere);
        };
        if c.properties.connection_status != ConnectionStatus::Connected {
            self.connection_down(c);
        }
        if !self.tracer.learned_by_site(g).iter().any(|p| p.contains_addr(dst)) {
            self.hop(HopKind::Route, Some(site), None, || {
                format!("on-premises site {}: no route to {dst}", site.name())
            });
            let before = self.blockers.len();
            let spoke = self
                .tracer
                .vnets_holding(dst, &g.vnet_id().unwrap_or_else(|| site.clone()))
                .first()
                .map(|v| v.id.clone());
            self.transit_blockers(g, spoke.as_ref());
            if self.blockers.len() == before {
                self.blocker(
                    BlockerKind::Route,
                    Some(site),
                    format!("On-premises site '{}' learns no route to {dst} from gateway '{}'.", site.name(), g.name),
                    "Announce the destination's prefix through the gateway (gateway transit from a peered VNet)."
                        .into(),
                );
            }
        }
        self.hop(HopKind::Connection, Some(&c.id), None, || format!("connection {} (IPsec)", c.name));
        self.hop(HopKind::Gateway, Some(&g.id), g.instance_addresses().first().copied(), || {
            format!("gateway {}", g.name)
        });
        Next::At(At::Gateway(g))
    }

    fn connection_down(&mut self, c: &vnetlab_model::Connection) {
        self.blocker(
            BlockerKind::Connection,
            Some(&c.id),
            format!("Connection '{}' is {}, so it carries no traffic.", c.name, c.properties.connection_status),
            format!(
                "Give both sides of the connection the same shared key (and, for VNet-to-VNet, make the connection back): az network vpn-connection shared-key update -g {} --connection-name {} --value KEY",
                c.id.resource_group_name().unwrap_or_default(),
                c.name
            ),
        );
    }

    /// What keeps `dst`'s VNet from using `gateway` through transit (or the site from learning
    /// it): each missing flag is its own blocker.
    fn transit_blockers(&mut self, gateway: &VirtualNetworkGateway, spoke: Option<&ResourceId>) {
        let state = self.tracer.state;
        let Some(hub) = gateway.vnet_id() else {
            return;
        };
        let Some(spoke) = spoke else {
            self.blocker(
                BlockerKind::Route,
                None,
                format!("No VNet has the address {}.", self.flow.destination),
                "Trace to an address of a VNet or a site.".into(),
            );
            return;
        };
        let up = state.link_between(spoke, &hub);
        let down = state.link_between(&hub, spoke);
        match (up, down) {
            (Some(up), Some(down)) if up.properties.peering_state == PeeringState::Connected => {
                if !up.properties.use_remote_gateways {
                    self.blocker(
                        BlockerKind::GatewayTransit,
                        Some(&up.id),
                        format!("Link '{}' of '{}' does not use the remote gateway, so {} neither learns on-premises routes nor is announced to on-premises.", up.name, spoke.name(), spoke.name()),
                        format!("Set useRemoteGateways on link '{}': {}", up.name, az_peering_update(&up.id, "useRemoteGateways=true")),
                    );
                }
                if !down.properties.allow_gateway_transit {
                    self.blocker(
                        BlockerKind::GatewayTransit,
                        Some(&down.id),
                        format!("Link '{}' of '{}' does not allow gateway transit.", down.name, hub.name()),
                        format!(
                            "Set allowGatewayTransit on link '{}': {}",
                            down.name,
                            az_peering_update(&down.id, "allowGatewayTransit=true")
                        ),
                    );
                }
            }
            _ if spoke == &hub => {}
            _ => {
                self.blocker(
                    BlockerKind::Peering,
                    Some(spoke),
                    format!("'{}' is not peered (Connected both ways) with '{}', which has the gateway '{}'.", spoke.name(), hub.name(), gateway.name),
                    format!("Peer '{}' with '{}' both ways, with allowGatewayTransit on the hub's link and useRemoteGateways on the spoke's.", spoke.name(), hub.name()),
                );
            }
        }
    }

    /// No usable route for the destination from `subnet` (`route` is the one that drops it, if
    /// any): say why, then go on the way the fix would open.
    fn no_route(&mut self, subnet: &'a SubnetView, route: Option<&EffectiveRoute>) -> Next<'a> {
        if self.verdict_only {
            self.blocker(BlockerKind::Route, None, String::new(), String::new());
            return Next::Arrived(Arrival::Nowhere);
        }
        let before = self.blockers.len();
        let next = self.diagnose(subnet, route);
        // However the diagnosis went, a packet that had no usable route is blocked: blame the
        // route that took it nowhere.
        if self.blockers.len() == before {
            let dst = self.flow.destination;
            let (resource, problem) = match route {
                Some(r) => (
                    route_resource(r).cloned(),
                    format!(
                        "Subnet '{}' sends {dst} by {}, which does not lead there.",
                        subnet.id.name(),
                        describe_route(r)
                    ),
                ),
                None => (None, format!("Subnet '{}' has no route to {dst}.", subnet.id.name())),
            };
            let fix = match route {
                Some(r) if r.source == RouteSource::User => {
                    "Delete the user route or give it a next hop that leads to the destination.".to_owned()
                }
                _ => {
                    "Add a route (a peering, or a user route to an appliance or gateway) that leads to the destination."
                        .to_owned()
                }
            };
            self.blocker(BlockerKind::Route, resource.as_ref(), problem, fix);
        }
        next
    }

    /// Why there is no usable route, as blockers, and the way the fix would open.
    fn diagnose(&mut self, subnet: &'a SubnetView, route: Option<&EffectiveRoute>) -> Next<'a> {
        // The way a fix would open may itself have no route (an appliance out of reach): the
        // blockers so far say why; do not diagnose again from inside a diagnosis.
        if self.diagnosing {
            return Next::Arrived(Arrival::Nowhere);
        }
        self.diagnosing = true;
        let next = self.diagnose_once(subnet, route);
        self.diagnosing = false;
        next
    }

    fn diagnose_once(&mut self, subnet: &'a SubnetView, route: Option<&EffectiveRoute>) -> Next<'a> {
        let dst = self.flow.destination;
        let state = self.tracer.state;
        let here = &subnet.vnet;
        // A user route that drops traffic is a blocker of its own.
        if let Some(r) = route
            && r.source == RouteSource::User
            && r.next_hop_type == NextHopType::None
        {
            self.blocker(
                BlockerKind::Route,
                route_resource(r),
                format!(
                    "User route '{}' sends {} to None: the packet is dropped.",
                    r.name.as_deref().unwrap_or_default(),
                    r.address_prefix
                ),
                "Delete the route or give it a next hop that leads to the destination.".into(),
            );
        }
        // On-premises destinations.
        let sites = self.tracer.site_connections(dst);
        if let Some((c, g)) = sites.first().copied() {
            let hub = g.vnet_id();
            let no_bgp = subnet.routes.routes.iter().any(|r| r.disable_bgp_route_propagation);
            if c.properties.connection_status != ConnectionStatus::Connected {
                self.connection_down(c);
            } else if hub.as_ref() == Some(here)
                || transit_gateway(state, here).is_some_and(|(link, _)| Some(link.remote_vnet_id()) == hub.as_ref())
            {
                if no_bgp {
                    let table = subnet.routes.routes.iter().find_map(|r| match &r.origin {
                        Origin::User { table, .. } => Some(table.clone()),
                        _ => None,
                    });
                    self.blocker(
                        BlockerKind::Route,
                        table.as_ref(),
                        format!("The route table of subnet '{}' turns off gateway route propagation, so the subnet does not learn {dst}.", subnet.id.name()),
                        "Turn propagation on (disableBgpRoutePropagation=false), or add a user route to the prefix with next hop VirtualNetworkGateway.".into(),
                    );
                }
            } else {
                self.transit_blockers(g, Some(here));
            }
            if let Some(hub) = hub
                && &hub != here
                && let Some(link) = state.link_between(here, &hub)
            {
                self.cross(link, subnet, false);
            }
            self.hop(HopKind::Gateway, Some(&g.id), g.instance_addresses().first().copied(), || {
                format!("gateway {}", g.name)
            });
            self.hop(HopKind::Connection, Some(&c.id), None, || format!("connection {} (IPsec)", c.name));
            let site = c.properties.local_network_gateway2.as_ref().map(|s| s.id.clone());
            self.hop(HopKind::OnPremises, site.as_ref(), Some(dst), || {
                format!("on-premises site {}", site.as_ref().map_or("?", |s| s.name()))
            });
            return match site {
                Some(s) => Next::Arrived(Arrival::Site(s)),
                None => Next::Arrived(Arrival::Nowhere),
            };
        }
        // VNet destinations.
        let Some(target) = self.tracer.vnets_holding(dst, here).into_iter().next() else {
            let what = if security::is_internet(dst) {
                "the Internet route is overridden"
            } else {
                "no VNet or on-premises site has this address"
            };
            self.blocker(
                BlockerKind::Route,
                route.and_then(route_resource),
                format!("No route from subnet '{}' leads to {dst}: {what}.", subnet.id.name()),
                "Trace to an address of a VM, a VNet or an on-premises site, or add a user route to it.".into(),
            );
            return Next::Arrived(Arrival::Nowhere);
        };
        let there = &target.id;
        if there == here {
            return self.deliver(here);
        }
        // Blockers about the pair name the same VNet both ways, so the way back does not name a
        // missing peering a second time.
        let pair = if here.key() < there.key() { here } else { there };
        // A VNet-to-VNet connection between the two VNets' gateways that carries nothing.
        let gateways = |v: &ResourceId| state.gateways_of(v).into_iter().map(|g| g.id.clone()).collect::<Vec<_>>();
        let (mine, theirs) = (gateways(here), gateways(there));
        let tunnel = state.all_of(Kind::Connection).into_iter().filter_map(|c| c.resource.as_connection()).find(|c| {
            let p = &c.properties;
            p.connection_type == ConnectionType::Vnet2Vnet
                && mine.contains(&p.virtual_network_gateway1.id)
                && p.virtual_network_gateway2.as_ref().is_some_and(|g| theirs.contains(&g.id))
        });
        if let Some(c) = tunnel
            && c.properties.connection_status != ConnectionStatus::Connected
        {
            self.connection_down(c);
            self.hop(HopKind::Connection, Some(&c.id), None, || format!("connection {} (Vnet2Vnet)", c.name));
            return self.deliver(there);
        }
        let out = state.link_between(here, there);
        let back = state.link_between(there, here);
        let fix_pair = |name: &str| {
            format!(
                "az network vnet peering create -g {} --vnet-name {} -n {name} --remote-vnet {} --allow-vnet-access",
                here.resource_group_name().unwrap_or_default(),
                here.name(),
                there.as_str()
            )
        };
        let connected = |l: Option<&VirtualNetworkPeering>| {
            l.is_some_and(|l| l.properties.peering_state == PeeringState::Connected)
        };
        if connected(out) && connected(back) {
            // Peered both ways: the route is the problem (the caller blames it).
            return Next::Arrived(Arrival::Nowhere);
        }
        // A lone link that is Disconnected (its other side was deleted) must go before the pair is
        // made again: Azure refuses a new link whose remote is Disconnected
        // (RemotePeeringIsDisconnected).
        let again = |lone: &VirtualNetworkPeering, on: &ResourceId| {
            format!(
                "Delete the Disconnected link '{}' on '{}' (az network vnet peering delete -g {} --vnet-name {} -n {}), then peer both ways again: {} (and the same on '{}')",
                lone.name,
                on.name(),
                on.resource_group_name().unwrap_or_default(),
                on.name(),
                lone.name,
                fix_pair(&format!("{}-to-{}", here.name(), there.name())),
                there.name()
            )
        };
        let disconnected = |l: &VirtualNetworkPeering| l.properties.peering_state == PeeringState::Disconnected;
        if out.is_some() || back.is_some() {
            let (problem, fix, resource) = match (out, back) {
                (Some(o), None) if disconnected(o) => (
                    format!(
                        "Link '{}' from '{}' to '{}' is Disconnected: '{}' has no link back.",
                        o.name,
                        here.name(),
                        there.name(),
                        there.name()
                    ),
                    again(o, here),
                    Some(o.id.clone()),
                ),
                (None, Some(b)) if disconnected(b) => (
                    format!(
                        "'{}' has a link to '{}' ('{}'), Disconnected, and '{}' has none back.",
                        there.name(),
                        here.name(),
                        b.name,
                        here.name()
                    ),
                    again(b, there),
                    Some(b.id.clone()),
                ),
                (Some(o), None) => (
                    format!(
                        "Link '{}' from '{}' to '{}' is {}: '{}' has no link back.",
                        o.name,
                        here.name(),
                        there.name(),
                        o.properties.peering_state,
                        there.name()
                    ),
                    format!(
                        "Create the reverse peering: az network vnet peering create -g {} --vnet-name {} -n {}-to-{} --remote-vnet {} --allow-vnet-access",
                        there.resource_group_name().unwrap_or_default(),
                        there.name(),
                        there.name(),
                        here.name(),
                        here.as_str()
                    ),
                    Some(o.id.clone()),
                ),
                (None, Some(b)) => (
                    format!(
                        "'{}' has a link to '{}' ('{}'), but '{}' has none back.",
                        there.name(),
                        here.name(),
                        b.name,
                        here.name()
                    ),
                    format!(
                        "Create the peering on '{}': {}",
                        here.name(),
                        fix_pair(&format!("{}-to-{}", here.name(), there.name()))
                    ),
                    Some(b.id.clone()),
                ),
                (Some(o), Some(_)) => (
                    format!(
                        "Link '{}' from '{}' to '{}' is {}.",
                        o.name,
                        here.name(),
                        there.name(),
                        o.properties.peering_state
                    ),
                    "Sync the links (az network vnet peering sync), or delete and re-create the Disconnected side."
                        .into(),
                    Some(o.id.clone()),
                ),
                (None, None) => unreachable!("one of the links exists"),
            };
            self.blocker(BlockerKind::Peering, resource.as_ref(), problem, fix);
            self.hop(HopKind::Peering, resource.as_ref(), None, || {
                format!("{} → {} (once peered)", here.name(), there.name())
            });
            return self.deliver(there);
        }
        // Not peered: is there a hub both peer with, and an appliance in it?
        let hubs: Vec<ResourceId> = state
            .links_of(here)
            .into_iter()
            .filter(|l| l.properties.peering_state == PeeringState::Connected)
            .map(|l| l.remote_vnet_id().clone())
            .filter(|h| {
                state.link_between(h, there).is_some_and(|l| l.properties.peering_state == PeeringState::Connected)
            })
            .collect();
        let appliance = hubs.iter().find_map(|h| {
            let nics = self.tracer.network.nics().filter(|n| n.enable_ip_forwarding);
            let mut found: Vec<&NicView> = nics
                .filter(|n| {
                    n.primary().and_then(|a| self.tracer.network.subnet(&a.subnet)).is_some_and(|s| &s.vnet == h)
                })
                .collect();
            found.sort_by_key(|n| n.id.key().to_owned());
            found.first().and_then(|n| n.primary().map(|a| (h.clone(), a.ip)))
        });
        let prefixes: Vec<String> =
            target.properties.address_space.address_prefixes.iter().map(ToString::to_string).collect();
        match (hubs.first(), appliance) {
            (_, Some((hub, ip))) => {
                self.blocker(
                    BlockerKind::NotTransitive,
                    Some(pair),
                    format!(
                        "'{}' and '{}' are not peered; both peer with '{}', but peering is not transitive and no route sends {dst} to the appliance at {ip}.",
                        here.name(), there.name(), hub.name()
                    ),
                    format!(
                        "Add a user route on subnet '{}': {} → VirtualAppliance {ip} (and the way back on '{}'), or peer '{}' with '{}'.",
                        subnet.id.name(), prefixes.join(", "), there.name(), here.name(), there.name()
                    ),
                );
                let fake = EffectiveRoute {
                    name: None,
                    source: RouteSource::User,
                    state: RouteState::Active,
                    address_prefix: vnetlab_model::RoutePrefix::Prefix(
                        target.properties.address_space.address_prefixes[0],
                    ),
                    next_hop_type: NextHopType::VirtualAppliance,
                    next_hop_ip_address: vec![ip],
                    disable_bgp_route_propagation: false,
                    origin: Origin::Builtin,
                };
                self.appliance(subnet, ip, &fake, None)
            }
            (Some(hub), None) => {
                self.blocker(
                    BlockerKind::NotTransitive,
                    Some(pair),
                    format!(
                        "'{}' and '{}' are not peered; both peer with '{}', but peering is not transitive.",
                        here.name(),
                        there.name(),
                        hub.name()
                    ),
                    format!(
                        "Peer '{}' with '{}' ({}), or route through an appliance with IP forwarding in '{}'.",
                        here.name(),
                        there.name(),
                        fix_pair(&format!("{}-to-{}", here.name(), there.name())),
                        hub.name()
                    ),
                );
                self.hop(HopKind::Peering, None, None, || format!("{} → {} (once peered)", here.name(), there.name()));
                self.deliver(there)
            }
            (None, None) => {
                self.blocker(
                    BlockerKind::Peering,
                    Some(pair),
                    format!("'{}' and '{}' are not peered.", here.name(), there.name()),
                    format!(
                        "Peer them both ways: {} (and the same on '{}')",
                        fix_pair(&format!("{}-to-{}", here.name(), there.name())),
                        there.name()
                    ),
                );
                self.hop(HopKind::Peering, None, None, || format!("{} → {} (once peered)", here.name(), there.name()));
                self.deliver(there)
            }
        }
    }
}

/// A place's identity for loop detection: the address of the compiled or stored value, which
/// lives as long as the walk.
fn identity<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

fn access_word(access: SecurityRuleAccess) -> &'static str {
    match access {
        SecurityRuleAccess::Allow => "allowed",
        SecurityRuleAccess::Deny => "denied",
    }
}

fn describe_flow(f: &Flow) -> String {
    if f.protocol.has_ports() {
        format!("{} {} → {}:{}", f.protocol, f.source, f.destination, f.destination_port)
    } else {
        format!("{} {} → {}", f.protocol, f.source, f.destination)
    }
}

fn describe_route(r: &EffectiveRoute) -> String {
    let ips: Vec<String> = r.next_hop_ip_address.iter().map(ToString::to_string).collect();
    let via = if ips.is_empty() { String::new() } else { format!(" {}", ips.join(" ")) };
    let name = r.name.as_deref().map(|n| format!(", route {n}")).unwrap_or_default();
    format!("{} → {}{via} ({}{name})", r.address_prefix, r.next_hop_type.as_str(), r.source.as_str())
}

fn route_resource(r: &EffectiveRoute) -> Option<&ResourceId> {
    match &r.origin {
        Origin::User { route, .. } => Some(route),
        Origin::Peering { link, .. } => Some(link),
        Origin::Gateway { connection, .. } => Some(connection),
        Origin::AddressSpace { vnet } => Some(vnet),
        Origin::Builtin => None,
    }
}

/// A VM's name for a NIC it belongs to, else the NIC's name.
fn owner_name(nic: &NicView) -> String {
    match &nic.vm {
        Some(vm) => format!("{} (NIC {})", vm.name(), nic.id.name()),
        None => format!("NIC {}", nic.id.name()),
    }
}

fn vnet_name(id: &ResourceId) -> String {
    id.name().to_owned()
}

/// `vnet/subnet`.
fn subnet_name(id: &ResourceId) -> String {
    match id.parent() {
        Some(vnet) => format!("{}/{}", vnet.name(), id.name()),
        None => id.name().to_owned(),
    }
}

fn az_peering_update(link: &ResourceId, set: &str) -> String {
    format!(
        "az network vnet peering update -g {} --vnet-name {} -n {} --set {set}",
        link.resource_group_name().unwrap_or_default(),
        link.parent().map_or_else(String::new, |v| v.name().to_owned()),
        link.name()
    )
}
