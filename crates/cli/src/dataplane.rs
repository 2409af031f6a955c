//! The data plane from the command line: `up --dataplane` realizes the lab in the kernel,
//! write commands keep it in step while it is up, `down` removes it, `exec` and `ssh` run
//! commands inside a VM, `traffic` and `cost` read the meters.

use std::fs::{self, File};
use std::io::IsTerminal;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use serde_json::{Map, Value, json};
use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::measured::{Measured, ProbeRequest, Prober};
use vnetlab_dataplane::cost::{self, LinkKind, Metered, Rates};
use vnetlab_dataplane::desired::Desired;
use vnetlab_dataplane::live::Live;
use vnetlab_dataplane::reconcile::{self, Progress, Reconciler, Report};
use vnetlab_dataplane::{firewall, names, netns};
use vnetlab_model::{Kind, Resource, State, View, ViewExt};

use crate::agent;
use crate::output::Format;
use crate::{Env, Failure, Result};

/// Where vnetlab keeps what lives as long as the data plane (a lock, the agent's files).
pub const RUN_DIR: &str = "/run/vnetlab";

/// Whether the data plane of this machine is up (its underlay exists).
pub fn is_up() -> bool {
    netns::exists(&names::underlay())
}

/// Real probes for the connectivity check of the lab at `home`: the data plane's prober, asked
/// only while the data plane follows this lab (the agent runs for it). Another lab's data plane
/// may have VMs with the same ids, hence the same namespaces, and answer for them.
#[derive(Debug)]
pub struct LabProber {
    home: PathBuf,
    live: Live,
}

impl LabProber {
    pub fn new(home: &Path) -> LabProber {
        LabProber { home: home.to_path_buf(), live: Live::default() }
    }
}

impl Prober for LabProber {
    fn measure(&self, request: &ProbeRequest) -> Option<Measured> {
        if agent::follows(&self.home) { self.live.measure(request) } else { None }
    }
}

fn need_root() -> Result<()> {
    if netns::privileged() {
        Ok(())
    } else {
        Err(Failure::Other(anyhow!("the data plane makes network namespaces: run vnetlab as root")))
    }
}

/// Held while one process reconciles (the agent, `up --dataplane`). The lock file counts the
/// runs (a reconciler that sees another's run since its own forgets what it wrote) and says
/// which store revision the last run realized.
pub struct Turn {
    file: File,
    generation: Option<u64>,
    revision: Option<u64>,
}

impl Turn {
    pub fn take() -> anyhow::Result<Turn> {
        fs::create_dir_all(RUN_DIR)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(Path::new(RUN_DIR).join("reconcile.lock"))?;
        // SAFETY: flock on a descriptor this function owns; blocking until the other holder ends.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut words = text.split_whitespace().map(|w| w.parse::<u64>().ok());
        let generation = words.next().flatten();
        let revision = words.next().flatten();
        Ok(Turn { file, generation, revision })
    }

    /// How many runs there were (`None`: none recorded).
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// The store revision the last run realized, when it finished.
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// Records this run: the revision it realized (`None` when it failed). Its generation.
    pub fn finish(&self, revision: Option<u64>) -> anyhow::Result<u64> {
        let generation = self.generation.map_or(1, |g| g + 1);
        let mut file = &self.file;
        file.set_len(0)?;
        file.rewind()?;
        match revision {
            Some(r) => writeln!(file, "{generation} {r}")?,
            None => writeln!(file, "{generation} -")?,
        }
        Ok(generation)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // SAFETY: the descriptor is still open; unlocking cannot fail in a way that matters here.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// A progress bar on a terminal for large labs.
struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn machines(&self, done: usize, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }
}

/// What the kernel should hold for `state`.
pub fn desired(state: &State) -> Desired {
    let network = Network::compile(state);
    Desired::build(state, &network)
}

/// Makes the kernel hold the lab's state; what changed and the revision realized.
pub fn realize(lab: &vnetlab_control::Lab) -> Result<(Report, u64)> {
    need_root()?;
    let (revision, want) = lab.read(|s| (s.revision(), desired(s)))?;
    let turn = Turn::take().context("cannot take the reconcile lock")?;
    let bar = (std::io::stderr().is_terminal() && want.machines.len() >= 20).then(|| {
        let bar = indicatif::ProgressBar::new(want.machines.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} VMs")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("data plane");
        bar
    });
    let progress = Bar(bar);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(Reconciler::new().apply(&want, &progress));
    turn.finish(report.as_ref().ok().map(|_| revision))?;
    drop(turn);
    let report = report.map_err(|e| Failure::Other(anyhow!("data plane: {e}")))?;
    if let Some(bar) = progress.0 {
        bar.finish_and_clear();
    }
    write_resolv_conf(&want)?;
    Ok((report, revision))
}

/// Which lab the data plane realizes: the machine has one data plane, brought up for one lab.
const OWNER_FILE: &str = "owner";

fn canonical(home: &Path) -> PathBuf {
    fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf())
}

/// Whether the data plane is this lab's (or no lab claims it).
fn owns(home: &Path) -> bool {
    match fs::read_to_string(Path::new(RUN_DIR).join(OWNER_FILE)) {
        Ok(owner) => Path::new(owner.trim_end_matches('\n')) == canonical(home),
        Err(_) => true,
    }
}

/// Brings the data plane up for the lab at `home` (in place of another lab's) and leaves the
/// agent following it.
pub fn start(home: &Path, lab: &vnetlab_control::Lab) -> Result<Report> {
    need_root()?;
    fs::create_dir_all(RUN_DIR).context("cannot make /run/vnetlab")?;
    fs::write(Path::new(RUN_DIR).join(OWNER_FILE), format!("{}\n", canonical(home).display()))
        .context("cannot record which lab the data plane realizes")?;
    let (report, revision) = realize(lab)?;
    agent::ensure(home, revision)?;
    Ok(report)
}

/// After a write: keeps a data plane that is up in step with the lab. When the agent follows
/// the lab, waits for it to realize the write.
pub fn follow(env: &Env) -> Result<()> {
    use vnetlab_store::Store;
    // Another lab's data plane is left alone.
    if !is_up() || !netns::privileged() || !owns(&env.home) {
        return Ok(());
    }
    if agent::follows(&env.home) {
        let revision = env.lab.store().revision().map_err(|e| Failure::Other(e.into()))?;
        return agent::wait(revision, std::time::Duration::ZERO).map_err(Failure::Other);
    }
    let report = start(&env.home, &env.lab)?;
    if !report.is_empty() {
        eprintln!("data plane: {report}");
    }
    Ok(())
}

/// `up FILE --dataplane`: the report line.
pub fn up(env: &Env) -> Result<()> {
    let report = start(&env.home, &env.lab)?;
    let machines = env.lab.read(|s| s.all_of(Kind::VirtualMachine).len())?;
    println!("data plane: {machines} VMs as network namespaces ({report})");
    Ok(())
}

/// Before the lab is emptied: the agent of this lab's data plane stops following it.
pub fn before_down(home: &Path) {
    if netns::privileged() && is_up() && owns(home) {
        agent::stop();
    }
}

/// Removes every namespace vnetlab made, with what ran inside.
pub fn down(home: &Path) -> Result<()> {
    if !netns::privileged() || !owns(home) {
        return Ok(());
    }
    let _turn = Turn::take().context("cannot take the reconcile lock")?;
    let gone = reconcile::down().map_err(|e| Failure::Other(anyhow!("data plane: {e}")))?;
    for ns in &gone {
        let _ = fs::remove_dir_all(Path::new("/etc/netns").join(ns));
    }
    let _ = fs::remove_dir_all(reconcile::IPSEC_DIR);
    let _ = fs::remove_file(Path::new(RUN_DIR).join(OWNER_FILE));
    if !gone.is_empty() {
        println!("data plane: {} network namespaces removed", gone.len());
    }
    Ok(())
}

/// Each VM resolves names through Azure's DNS address, as a VM in Azure does: `ip netns
/// exec` puts `/etc/netns/NAME/resolv.conf` in place of the host's.
pub fn write_resolv_conf(want: &Desired) -> anyhow::Result<()> {
    let base = Path::new("/etc/netns");
    for m in want.machines.values() {
        let dir = base.join(&m.namespace);
        let search = m
            .interfaces
            .first()
            .and_then(|i| want.fabrics.get(&i.fabric).and_then(|f| f.ports.get(&i.port)))
            .map(|p| format!("search {}\n", vnetlab_dataplane::dns::suffix(&p.vnet)))
            .unwrap_or_default();
        let text = format!("# written by vnetlab: Azure's DNS\nnameserver {}\n{search}", names::PLATFORM_ADDRESS);
        if fs::read_to_string(dir.join("resolv.conf")).ok().as_deref() != Some(text.as_str()) {
            fs::create_dir_all(&dir)
                .and_then(|_| fs::write(dir.join("resolv.conf"), text))
                .with_context(|| format!("cannot write {}", dir.display()))?;
        }
    }
    for entry in fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(names::NAMESPACE_PREFIX) && !want.machines.contains_key(&name) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The namespace of the VM `vm` (a name, or a resource id).
fn namespace_of(env: &Env, vm: &str, group: Option<&str>) -> Result<String> {
    let found: Vec<(String, String)> = env.lab.read(|state| {
        state
            .all_of(Kind::VirtualMachine)
            .into_iter()
            .filter(|s| vnetlab_engine::authorization::can_see(state, &env.caller, s))
            .filter_map(|s| match &s.resource {
                Resource::VirtualMachine(v) => Some(v),
                _ => None,
            })
            .filter(|v| {
                (vnetlab_model::same_name(&v.name, vm) || v.id.key() == vm.to_ascii_lowercase())
                    && group.is_none_or(|g| v.id.resource_group_name().is_some_and(|r| r.eq_ignore_ascii_case(g)))
            })
            .map(|v| (names::namespace("", &v.name, v.id.key()), v.id.to_string()))
            .collect::<Vec<_>>()
    })?;
    // Gateways, on-premises sites and their branch VMs are namespaces too.
    let found = if found.is_empty() {
        let (want, readable) = env.lab.read(|state| {
            let readable: std::collections::HashSet<String> = [Kind::VirtualNetworkGateway, Kind::LocalNetworkGateway]
                .into_iter()
                .flat_map(|k| state.all_of(k))
                .filter(|s| vnetlab_engine::authorization::can_see(state, &env.caller, s))
                .map(|s| s.id().key().to_owned())
                .collect();
            (desired(state), readable)
        })?;
        let in_group = |id: &vnetlab_model::ResourceId| {
            readable.contains(id.key())
                && group.is_none_or(|g| id.resource_group_name().is_some_and(|r| r.eq_ignore_ascii_case(g)))
        };
        let edges = want.edges.values().map(|e| &e.machine);
        let branch = want.machines.values().filter(|m| m.vm.kind() == Some(Kind::LocalNetworkGateway));
        edges
            .chain(branch)
            .filter(|m| vnetlab_model::same_name(&m.name, vm) && in_group(&m.vm))
            .map(|m| (m.namespace.clone(), m.vm.to_string()))
            .collect()
    } else {
        found
    };
    match found.as_slice() {
        [] => Err(Failure::Other(anyhow!("no VM, VPN gateway or on-premises site named '{vm}'"))),
        [(ns, _)] => {
            if !netns::exists(ns) {
                return Err(Failure::Other(anyhow!(
                    "VM '{vm}' has no namespace: bring the data plane up with `vnetlab up FILE --dataplane`"
                )));
            }
            Ok(ns.clone())
        }
        many => Err(Failure::Other(anyhow!(
            "{} VMs are named '{vm}' ({}): name the resource group with -g",
            many.len(),
            many.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Runs `command` inside the VM and exits with its status.
pub fn exec(env: &Env, vm: &str, group: Option<&str>, command: &[String]) -> Result<()> {
    need_root()?;
    let ns = namespace_of(env, vm, group)?;
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::Other(anyhow!("name a command to run: vnetlab exec VM -- COMMAND...")));
    };
    let status = Command::new("ip")
        .args(["netns", "exec", &ns, program])
        .args(args)
        .status()
        .context("cannot run `ip netns exec` (is iproute2 installed?)")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Failure::Quiet(u8::try_from(code).unwrap_or(1))),
        None => Err(Failure::Quiet(1)),
    }
}

/// A shell inside the VM.
pub fn ssh(env: &Env, vm: &str, group: Option<&str>) -> Result<()> {
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned());
    exec(env, vm, group, &[shell])
}

/// Bytes per peering link, read from the fabric's counters.
fn metered(env: &Env) -> Result<Vec<(Metered, u64)>> {
    need_root()?;
    if !is_up() {
        return Err(Failure::Other(anyhow!("the data plane is not up: `vnetlab up FILE --dataplane` first")));
    }
    let (want, locations) = env.lab.read(|state| {
        let want = desired(state);
        let locations: Vec<(String, String, String)> = want
            .meters
            .iter()
            .map(|m| {
                let loc =
                    |id: &vnetlab_model::ResourceId| state.vnet(id).map(|v| v.location.to_string()).unwrap_or_default();
                (m.counter.clone(), loc(&m.from_vnet), loc(&m.to_vnet))
            })
            .collect();
        (want, locations)
    })?;
    let mut seen = std::collections::HashMap::new();
    for fabric in want.fabrics.keys() {
        let observed = netns::run_in(fabric, firewall::observe)
            .and_then(|r| r)
            .map_err(|e| Failure::Other(anyhow!("cannot read the meters: {e}")))?;
        seen.insert(fabric.clone(), observed);
    }
    let mut out = Vec::new();
    for (m, (_, from_location, to_location)) in want.meters.iter().zip(locations) {
        let (packets, bytes) = seen.get(&m.fabric).and_then(|o| o.counters.get(&m.counter)).copied().unwrap_or((0, 0));
        out.push((
            Metered {
                kind: LinkKind::Peering,
                name: m.link.name().to_owned(),
                from_vnet: m.from_vnet.name().to_owned(),
                from_location,
                to_vnet: m.to_vnet.name().to_owned(),
                to_location,
                bytes,
            },
            packets,
        ));
    }
    out.sort_by(|a, b| (&a.0.from_vnet, &a.0.name).cmp(&(&b.0.from_vnet, &b.0.name)));
    Ok(out)
}

/// A VPN connection as its gateway's tunnel reports it.
struct Tunnel {
    metered: Metered,
    connection_type: String,
    status: String,
}

/// Bytes each VNet-to-VNet and site-to-site connection sent into its gateway's tunnel (the
/// gateway's nftables counters), with the tunnel's status.
fn tunnels(env: &Env) -> Result<Vec<Tunnel>> {
    let rows = env.lab.read(|state| {
        let want = desired(state);
        let mut rows = Vec::new();
        for edge in want.edges.values().filter(|e| e.kind == vnetlab_dataplane::desired::EdgeKind::Gateway) {
            let gateway = vnetlab_dataplane::ipsec::Gateway::new(
                &edge.machine.namespace,
                Path::new(reconcile::IPSEC_DIR).join(&edge.machine.namespace),
            );
            let status = gateway.status().unwrap_or_default();
            let seen = match netns::run_in(&edge.machine.namespace, firewall::observe) {
                Ok(Ok(observed)) => observed.counters,
                _ => Default::default(),
            };
            let sent = |connection: &str| {
                edge.counters.get(connection).and_then(|(out, _)| seen.get(out)).map_or(0, |(_, bytes)| *bytes)
            };
            let vnet = state.gateway(&edge.resource).and_then(|g| g.vnet_id());
            let location = |id: Option<&vnetlab_model::ResourceId>| {
                id.and_then(|v| state.vnet(v)).map(|v| v.location.to_string()).unwrap_or_default()
            };
            for stored in state.referrers(&edge.resource, Kind::Connection) {
                let Some(c) = stored.resource.as_connection() else { continue };
                if c.properties.virtual_network_gateway1.id != edge.resource {
                    continue;
                }
                let (kind, to, to_location) =
                    match (&c.properties.virtual_network_gateway2, &c.properties.local_network_gateway2) {
                        (Some(other), _) => {
                            let vnet = state.gateway(&other.id).and_then(|g| g.vnet_id());
                            (LinkKind::VnetToVnet, vnet.as_ref().map(|v| v.name().to_owned()), location(vnet.as_ref()))
                        }
                        (None, Some(site)) => (LinkKind::VnetToVnet, Some(site.id.name().to_owned()), String::new()),
                        _ => continue,
                    };
                rows.push(Tunnel {
                    metered: Metered {
                        kind,
                        name: c.name.clone(),
                        from_vnet: vnet.as_ref().map(|v| v.name().to_owned()).unwrap_or_default(),
                        from_location: location(vnet.as_ref()),
                        to_vnet: to.unwrap_or_default(),
                        to_location,
                        bytes: sent(&c.name),
                    },
                    connection_type: c.properties.connection_type.to_string(),
                    status: status.get(&c.name).map_or_else(|| "NotConnected".to_owned(), ToString::to_string),
                });
            }
        }
        rows
    })?;
    Ok(rows)
}

fn print_rows(format: Format, rows: Vec<Map<String, Value>>) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default()),
        Format::Yaml => print!("{}", yaml_serde::to_string(&rows).unwrap_or_default()),
        _ => print!("{}", crate::output::table(&rows, false)),
    }
}

/// `vnetlab traffic`: what crossed each peering link and each VPN connection.
pub fn traffic(env: &Env) -> Result<()> {
    let mut rows: Vec<Map<String, Value>> = metered(env)?
        .into_iter()
        .map(|(m, packets)| {
            let row = json!({
                "Link": m.name, "Type": "Peering", "From": m.from_vnet, "To": m.to_vnet, "Status": "Connected",
                "Packets": packets, "Bytes": m.bytes,
            });
            row.as_object().cloned().unwrap_or_default()
        })
        .collect();
    for t in tunnels(env)? {
        let m = t.metered;
        let row = json!({
            "Link": m.name, "Type": t.connection_type, "From": m.from_vnet, "To": m.to_vnet, "Status": t.status,
            "Packets": Value::Null, "Bytes": m.bytes,
        });
        rows.push(row.as_object().cloned().unwrap_or_default());
    }
    print_rows(env.format, rows);
    Ok(())
}

/// `vnetlab cost`: the bytes priced with the published per-GB rates (or a rates file).
pub fn cost(env: &Env, rates: Option<&PathBuf>) -> Result<()> {
    let rates = match rates {
        Some(path) => Rates::load(path).map_err(|e| Failure::Other(anyhow!("{e}")))?,
        None => Rates::builtin(),
    };
    let mut metered: Vec<Metered> = metered(env)?.into_iter().map(|(m, _)| m).collect();
    // [gap] Site-to-site traffic is priced as Azure prices VPN egress to the internet, which the
    // rates file does not hold: only VNet-to-VNet connections are estimated.
    metered.extend(tunnels(env)?.into_iter().filter(|t| t.connection_type == "Vnet2Vnet").map(|t| t.metered));
    let estimate = cost::estimate(&rates, &metered);
    let mut rows: Vec<Map<String, Value>> = estimate
        .charges
        .iter()
        .map(|c| {
            let row = json!({
                "Link": c.name, "From": c.from_vnet, "To": c.to_vnet, "Bytes": c.bytes,
                "Scope": format!("{:?}", c.scope),
                "EgressUSD": format!("{:.6}", c.egress_usd), "IngressUSD": format!("{:.6}", c.ingress_usd),
                "TotalUSD": format!("{:.6}", c.total_usd()), "Notes": c.notes.join("; "),
            });
            row.as_object().cloned().unwrap_or_default()
        })
        .collect();
    if env.format == Format::Table {
        let total = json!({ "Link": "total", "TotalUSD": format!("{:.6}", estimate.total_usd) });
        rows.push(total.as_object().cloned().unwrap_or_default());
    }
    print_rows(env.format, rows);
    Ok(())
}
