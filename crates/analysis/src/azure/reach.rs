//! The reachability matrix of a whole lab: which VM (subnet, VNet) reaches which, for one kind
//! of packet, and what changes between two states.

use std::net::IpAddr;

use serde_json::{Value, json};
use vnetlab_model::{GATEWAY_SUBNET, Kind, Resource, ResourceId, State, View};

use super::trace::{Probe, TraceEnd, Tracer, offset, primary_end, site_end};
use super::{AnalysisError, Network};

/// What the rows and columns of a matrix are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum By {
    /// Each VM (its primary NIC's address), and each on-premises site.
    Vm,
    /// Each subnet (a NIC's address in it, else its first usable address), and each site.
    Subnet,
    /// Each VNet: it reaches another when one of its subnets reaches one of the other's.
    Vnet,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Vm => "vm",
            By::Subnet => "subnet",
            By::Vnet => "vnet",
        }
    }
}

/// A row or column of a matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: ResourceId,
    /// A short name: `vm`, `vnet/subnet`, `vnet`, or the site's.
    pub name: String,
    /// The addresses that stand for it (one, or a VNet's subnets').
    ends: Vec<TraceEnd>,
}

/// Who reaches whom: `cells[i][j]` says whether `members[i]` reaches `members[j]` (and the
/// answer comes back). The diagonal is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub by: By,
    pub probe: Probe,
    pub members: Vec<Member>,
    pub cells: Vec<Vec<bool>>,
}

/// The members of a lab at one granularity, in a stable order (by id).
pub fn members(network: &Network, state: &State, by: By) -> Vec<Member> {
    let mut out = Vec::new();
    match by {
        By::Vm => {
            for stored in state.all_of(Kind::VirtualMachine) {
                let id = stored.id();
                if let Ok(end) = primary_end(network, id) {
                    out.push(Member { id: id.clone(), name: id.name().to_owned(), ends: vec![end] });
                }
            }
        }
        By::Subnet | By::Vnet => {
            let mut subnets: Vec<_> = network
                .subnets()
                .filter(|s| !s.id.name().eq_ignore_ascii_case(GATEWAY_SUBNET))
                .filter_map(|s| probe_address(network, s).map(|ip| (s, ip)))
                .collect();
            subnets.sort_by(|a, b| a.0.id.key().cmp(b.0.id.key()));
            if by == By::Subnet {
                for (s, ip) in subnets {
                    let name = format!("{}/{}", s.vnet.name(), s.id.name());
                    out.push(Member {
                        id: s.id.clone(),
                        name,
                        ends: vec![TraceEnd::Subnet { subnet: s.id.clone(), ip }],
                    });
                }
            } else {
                for (s, ip) in subnets {
                    let end = TraceEnd::Subnet { subnet: s.id.clone(), ip };
                    match out.last_mut() {
                        Some(m) if m.id == s.vnet => m.ends.push(end),
                        _ => out.push(Member { id: s.vnet.clone(), name: s.vnet.name().to_owned(), ends: vec![end] }),
                    }
                }
            }
        }
    }
    for stored in state.all_of(Kind::LocalNetworkGateway) {
        if let Resource::LocalNetworkGateway(site) = &stored.resource
            && let Some(end) = site_end(site)
        {
            out.push(Member { id: site.id.clone(), name: site.name.clone(), ends: vec![end] });
        }
    }
    out.sort_by(|a, b| {
        (a.id.kind() == Some(Kind::LocalNetworkGateway), a.id.key())
            .cmp(&(b.id.kind() == Some(Kind::LocalNetworkGateway), b.id.key()))
    });
    out
}

/// The address that stands for a subnet: its first NIC's (by id), else its first usable
/// address (Azure keeps the first four of a subnet).
fn probe_address(network: &Network, subnet: &super::SubnetView) -> Option<IpAddr> {
    let mut held: Vec<(&str, IpAddr)> = network
        .nics()
        .flat_map(|n| n.addresses.iter().filter(|a| a.subnet == subnet.id).map(move |a| (n.id.key(), a.ip)))
        .collect();
    held.sort();
    if let Some((_, ip)) = held.first() {
        return Some(*ip);
    }
    subnet.prefixes.first().map(|p| offset(p.network(), 4))
}

/// Rows of a matrix (by index), or why one could not be computed.
type RowsOrError = Result<Vec<(usize, Vec<bool>)>, AnalysisError>;

/// The matrix of `members`, computed on as many threads as `threads`.
pub fn matrix(
    tracer: &Tracer<'_>,
    members: Vec<Member>,
    by: By,
    probe: Probe,
    threads: usize,
) -> Result<Matrix, AnalysisError> {
    let n = members.len();
    let row = |i: usize| -> Result<Vec<bool>, AnalysisError> {
        let mut cells = vec![false; n];
        for (j, cell) in cells.iter_mut().enumerate() {
            *cell = i == j || reaches_any(tracer, &members[i], &members[j], probe)?;
        }
        Ok(cells)
    };
    let threads = threads.clamp(1, n.max(1));
    let mut cells: Vec<Vec<bool>> = vec![Vec::new(); n];
    if threads == 1 {
        for (i, out) in cells.iter_mut().enumerate() {
            *out = row(i)?;
        }
    } else {
        let chunk = n.div_ceil(threads);
        let results: Vec<RowsOrError> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let row = &row;
                    scope.spawn(move || (t * chunk..((t + 1) * chunk).min(n)).map(|i| row(i).map(|r| (i, r))).collect())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(AnalysisError::InvalidArgument("a worker failed".into()))))
                .collect()
        });
        for part in results {
            for (i, r) in part? {
                cells[i] = r;
            }
        }
    }
    Ok(Matrix { by, probe, members, cells })
}

/// Whether one of `from`'s addresses reaches one of `to`'s.
fn reaches_any(tracer: &Tracer<'_>, from: &Member, to: &Member, probe: Probe) -> Result<bool, AnalysisError> {
    for a in &from.ends {
        for b in &to.ends {
            if a.ip().is_ipv4() == b.ip().is_ipv4() && tracer.reaches(a, b, probe)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The matrix of a whole lab.
pub fn reach(state: &State, by: By, probe: Probe) -> Result<Matrix, AnalysisError> {
    reach_where(state, by, probe, &|_| true)
}

/// The matrix of the members `keep` accepts (those a caller may read).
pub fn reach_where(
    state: &State,
    by: By,
    probe: Probe,
    keep: &dyn Fn(&ResourceId) -> bool,
) -> Result<Matrix, AnalysisError> {
    let network = Network::compile(state);
    let tracer = Tracer::new(&network, state);
    let members = members(&network, state, by).into_iter().filter(|m| keep(&m.id)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    matrix(&tracer, members, by, probe, threads)
}

impl Member {
    /// How many addresses stand for it.
    pub fn ends(&self) -> usize {
        self.ends.len()
    }

    /// The addresses that stand for it.
    pub fn end_list(&self) -> &[TraceEnd] {
        &self.ends
    }
}

impl Matrix {
    pub fn to_json(&self) -> Value {
        json!({
            "by": self.by.as_str(),
            "protocol": self.probe.protocol.to_string(),
            "port": self.probe.port,
            "members": self.members.iter().map(|m| json!({ "name": m.name, "id": m.id.as_str() })).collect::<Vec<_>>(),
            "reaches": self.cells,
        })
    }

    fn index(&self, id: &ResourceId) -> Option<usize> {
        self.members.iter().position(|m| m.id == *id)
    }
}

/// One cell that differs between two matrices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: String,
    pub to: String,
    /// Reaches before (none: one end does not exist before).
    pub before: Option<bool>,
    pub after: Option<bool>,
}

/// What differs from `before` to `after` (members matched by id; one that exists on one side
/// only counts as not reaching on the other).
pub fn diff(before: &Matrix, after: &Matrix) -> Vec<Change> {
    let mut ids: Vec<(&ResourceId, &str)> = before.members.iter().map(|m| (&m.id, m.name.as_str())).collect();
    for m in &after.members {
        if before.index(&m.id).is_none() {
            ids.push((&m.id, &m.name));
        }
    }
    let cell = |m: &Matrix, a: &ResourceId, b: &ResourceId| Some(m.cells[m.index(a)?][m.index(b)?]);
    let mut out = Vec::new();
    for (a, an) in &ids {
        for (b, bn) in &ids {
            if a == b {
                continue;
            }
            let (x, y) = (cell(before, a, b), cell(after, a, b));
            if x.unwrap_or(false) != y.unwrap_or(false) {
                out.push(Change { from: (*an).to_owned(), to: (*bn).to_owned(), before: x, after: y });
            }
        }
    }
    out
}
