//! Site-to-site and VNet-to-VNet VPN tunnels of a VPN gateway: one strongSwan charon per gateway network
//! namespace, IKEv2 with pre-shared keys, ESP in user space, and the `connectionStatus` Azure reports.
//!
//! The recipe was verified on a kernel without XFRM (kernel IPsec). ESP is done by
//! charon's kernel-libipsec plugin over a TUN device (`ipsec0`), so every data packet is ESP-in-UDP/4500;
//! filters between gateways must let UDP 500 and 4500 through. kernel-libipsec routes the remote prefixes
//! into `ipsec0` through table 220, selected by a `from all lookup 220` rule at priority 220 that covers
//! the whole namespace: that is why each gateway needs a namespace of its own.
//!
//! Everything the daemon needs lives in the gateway's private directory: `strongswan.conf`,
//! `swanctl.conf` (mode 0600: it holds the keys), the VICI socket, the log, the pid file and
//! `state.json` (which Azure connection maps to which swanctl connection, and which addresses this
//! module added to `lo`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// The daemon. `charon-systemd` writes no pid file of its own, so several instances can run side by
/// side as long as each has its own `STRONGSWAN_CONF`; without systemd it is a plain foreground daemon.
const CHARON: &str = "/usr/sbin/charon-systemd";
const SWANCTL: &str = "swanctl";
const STRONGSWAN_CONF_ENV: &str = "STRONGSWAN_CONF";

/// kernel-libipsec's routing table and the priority of the rule that selects it.
const ROUTING_TABLE: u32 = 220;

const STRONGSWAN_CONF: &str = "strongswan.conf";
const SWANCTL_CONF: &str = "swanctl.conf";
const VICI_SOCKET: &str = "charon.vici";
const LOG: &str = "charon.log";
const DAEMON_OUT: &str = "daemon.out";
const PID_FILE: &str = "charon.pid";
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

/// The daemon opens its VICI socket about 60 ms after launch.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// A graceful stop sends an IKE DELETE for every SA before the daemon exits.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `ensure()` waits for tunnels it initiated. An answering peer completes IKE_SA_INIT and
/// IKE_AUTH in about 30 ms; a silent one keeps the tunnel `Connecting` well past this bound.
const INITIATE_WAIT: Duration = Duration::from_secs(1);
/// A swanctl call that outlives this is stuck on a daemon that no longer serves VICI.
const SWANCTL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);
/// Each look at the SAs runs swanctl once.
const SA_POLL: Duration = Duration::from_millis(25);
/// How much of the end of the daemon's log `status()` reads for failure reasons.
const LOG_TAIL_BYTES: u64 = 256 * 1024;
/// Longest connection name used as is; longer names are shortened and made unique with a hash.
const MAX_CONN_NAME: usize = 48;

/// One connection as seen from this gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The Azure connection's name, unique within the gateway. The swanctl connection is named after
    /// it; see [`swanctl_name`].
    pub name: String,
    /// This gateway's transport (public) address; the caller has configured it in the namespace.
    pub local_addr: Ipv4Addr,
    /// The peer gateway's transport address.
    pub remote_addr: Ipv4Addr,
    /// Prefixes behind this gateway.
    pub local_ts: Vec<Ipv4Net>,
    /// Prefixes behind the peer.
    pub remote_ts: Vec<Ipv4Net>,
    /// The connection's `sharedKey`; any bytes, quotes and backslashes included.
    pub psk: String,
    /// This side starts the tunnel. Exactly one side of a pair should initiate: the other only answers.
    pub initiate: bool,
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("name", &self.name)
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .field("psk", &"<redacted>")
            .field("initiate", &self.initiate)
            .finish()
    }
}

/// The IPsec daemon of one VPN gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Named network namespace (under /run/netns) of the gateway.
    pub namespace: String,
    /// The daemon's private directory: configuration, VICI socket, log, pid file. Nothing else may
    /// live there: `stop()` removes it. A relative path is resolved against the current directory of
    /// each call, so callers should pass an absolute one.
    pub dir: PathBuf,
}

/// A connection's state the way Azure reports `connectionStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "connectionStatus")]
pub enum TunnelStatus {
    /// The CHILD_SA is installed: traffic between the prefixes flows through the tunnel.
    Connected,
    /// IKE is negotiating, or retransmitting to a peer that has not answered yet.
    Connecting,
    /// No tunnel. `reason` is the last failure the daemon logged for the connection, when there is one
    /// (a pre-shared key mismatch, a peer without a matching connection, a peer that closed it, ...).
    NotConnected { reason: Option<String> },
}

impl TunnelStatus {
    /// Azure's spelling of the status.
    pub fn azure_name(&self) -> &'static str {
        match self {
            TunnelStatus::Connected => "Connected",
            TunnelStatus::Connecting => "Connecting",
            TunnelStatus::NotConnected { .. } => "NotConnected",
        }
    }
}

impl fmt::Display for TunnelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelStatus::NotConnected { reason: Some(reason) } => write!(f, "NotConnected ({reason})"),
            other => f.write_str(other.azure_name()),
        }
    }
}

/// Bytes of the inner packets a tunnel carried, as Azure's `ingressBytesTransferred`/`egressBytesTransferred`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TunnelTraffic {
    /// Received from the peer (decrypted).
    pub ingress_bytes: u64,
    /// Sent to the peer (before encryption).
    pub egress_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IpsecError {
    #[error("tunnel {name:?} cannot be configured: {problem}")]
    InvalidTunnel { name: String, problem: String },
    #[error("network namespace {0:?} does not exist; create the gateway's namespace before configuring its tunnels")]
    NoNamespace(String),
    #[error("gateway directory {0:?} is not usable: {1}")]
    BadDirectory(PathBuf, &'static str),
    #[error("cannot {action} {path:?}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("the IPsec daemon of namespace {namespace:?} did not start: {detail}")]
    DaemonStart { namespace: String, detail: String },
    #[error("the IPsec daemon of namespace {namespace:?} (pid {pid}) survived SIGKILL")]
    DaemonStuck { namespace: String, pid: i32 },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> IpsecError {
    let path = path.to_path_buf();
    move |source| IpsecError::Io { action, path, source }
}

impl Gateway {
    pub fn new(namespace: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Gateway { namespace: namespace.into(), dir: dir.into() }
    }

    /// Makes the gateway's daemon run with exactly `tunnels`.
    ///
    /// Starts the daemon in the namespace when none runs (it outlives the calling process), loads the
    /// configuration when it changed, tears down the SAs of tunnels that were removed or changed (a new
    /// key or new prefixes take effect at once, as when Azure resets a connection), and initiates the
    /// tunnels marked `initiate` that are neither up nor negotiating.
    ///
    /// Idempotent: a second call with the same tunnels starts nothing, loads nothing and leaves
    /// established SAs alone. It only re-initiates tunnels that went down, which makes calling it again
    /// the way to retry a failed initiation (a peer whose configuration was not loaded yet answers
    /// NO_PROPOSAL_CHOSEN, and charon does not retry that by itself; ensure the responder first to avoid
    /// it). A peer that does not answer at all is retried by charon without end.
    ///
    /// Returns after at most about one second of waiting for initiated tunnels ([`INITIATE_WAIT`]), plus
    /// the daemon's start-up (about 60 ms) when it had to be started; `status()` tells how they ended.
    ///
    /// Every local traffic selector needs an address of the gateway inside it, or kernel-libipsec
    /// cannot install its route. When no address of the namespace lies in a local prefix, the prefix's
    /// first usable host address (the network address of a /31 or /32) is added as a /32 on `lo`;
    /// `stop()` and later calls remove the ones no tunnel needs anymore. The caller enables IPv4
    /// forwarding in the namespace; IPv6 is disabled there, because the TUN device's link-local chatter
    /// only fills the log.
    pub fn ensure(&self, tunnels: &[Tunnel]) -> Result<bool, IpsecError> {
        let mut changed_anything = false;
        let plan = Plan::new(tunnels)?;
        self.check_namespace()?;
        let _lock = self.lock(true)?;
        let mut state = self.read_state().unwrap_or_default();

        // Addresses first: a tunnel that cannot work stops the call before the daemon is touched.
        let lo_addrs = self.sync_local_addresses(&plan, &state.lo_addrs)?;
        if lo_addrs != state.lo_addrs {
            changed_anything = true;
            state.lo_addrs = lo_addrs;
            self.write_state(&state)?;
        }

        let mut daemon = self.daemon_pid();
        if write_if_changed(&self.path(STRONGSWAN_CONF), &render_strongswan_conf(&self.abs_dir()?)?, 0o644)?
            && let Some(pid) = daemon.take()
        {
            // The daemon reads strongswan.conf only at start.
            self.terminate_daemon(pid)?;
            changed_anything = true;
        }
        let pid = match daemon {
            Some(pid) => pid,
            None => {
                state.loaded_into = None;
                changed_anything = true;
                self.start_daemon()?
            }
        };

        let conf_path = self.path(SWANCTL_CONF);
        let old_conf = read_optional(&conf_path)?.unwrap_or_default();
        let mut changed = BTreeSet::new();
        let records = plan.records();
        if old_conf != plan.conf || state.loaded_into != Some(pid) {
            if state.loaded_into == Some(pid) {
                let old = split_chunks(&old_conf);
                changed
                    .extend(plan.entries.iter().filter(|e| old.get(&e.conn) != Some(&e.chunk)).map(|e| e.conn.clone()));
            } else {
                // The daemon may hold any older configuration: renegotiate everything it has.
                changed.extend(plan.entries.iter().map(|e| e.conn.clone()));
            }
            state.loaded_into = None;
            state.tunnels = records;
            self.write_state(&state)?;
            write_atomic(&conf_path, plan.conf.as_bytes(), 0o600)?;
            let conf_arg = path_arg(&conf_path)?;
            self.swanctl(&["--load-all", "--noprompt", "--file", conf_arg])?;
            changed_anything = true;
            state.loaded_into = Some(pid);
            self.write_state(&state)?;
        } else if state.tunnels != records {
            state.tunnels = records;
            self.write_state(&state)?;
        }

        // Unloading a connection leaves its SAs up (strongSwan 5.9), so removed and changed tunnels are
        // terminated here. `--force` still sends the DELETE, the peer drops its side at once.
        let wanted: BTreeSet<&str> = plan.entries.iter().map(|e| e.conn.as_str()).collect();
        let (stale, kept): (Vec<IkeSa>, Vec<IkeSa>) = self
            .list_sas()?
            .into_iter()
            .partition(|sa| !wanted.contains(sa.name.as_str()) || changed.contains(&sa.name));
        changed_anything |= !stale.is_empty();
        for sa in &stale {
            let id = format!("--ike-id={}", sa.unique_id);
            match self.swanctl(&["--terminate", &id, "--force"]) {
                // The SA ended between the listing and now (the peer closed it): nothing to do.
                Err(IpsecError::Command { detail, .. }) if detail.contains("no matching SAs") => {}
                other => {
                    other?;
                }
            }
        }

        let mut initiated = Vec::new();
        for entry in plan.entries.iter().filter(|e| e.tunnel.initiate) {
            if sa_status(&kept, &entry.conn).is_none() {
                let ike = format!("--ike={}", entry.conn);
                let child = format!("--child={}", entry.conn);
                // A negative timeout makes charon initiate without holding a worker thread for the reply.
                self.swanctl(&["--initiate", &ike, &child, "--timeout=-1"])?;
                initiated.push(entry.conn.as_str());
            }
        }
        changed_anything |= !initiated.is_empty();
        if !initiated.is_empty() {
            let deadline = Instant::now() + INITIATE_WAIT;
            loop {
                thread::sleep(SA_POLL);
                let sas = self.list_sas()?;
                let pending = initiated.iter().any(|conn| sa_status(&sas, conn) == Some(TunnelStatus::Connecting));
                if !pending || Instant::now() >= deadline {
                    break;
                }
            }
        }
        Ok(changed_anything)
    }

    /// Status per Azure connection name, for the tunnels of the last `ensure()`.
    ///
    /// `Connected` when the tunnel's CHILD_SA is installed, `Connecting` while IKE negotiates,
    /// `NotConnected` otherwise, with the reason the daemon logged last for that connection (an IKE_SA
    /// whose CHILD_SA failed is `NotConnected` too: it carries no traffic). Empty when the gateway was
    /// never configured or has been stopped.
    pub fn status(&self) -> Result<BTreeMap<String, TunnelStatus>, IpsecError> {
        let Some(state) = self.read_state() else { return Ok(BTreeMap::new()) };
        if !self.running() {
            let reason = Some("the gateway's IPsec daemon is not running".to_string());
            return Ok(state
                .tunnels
                .into_iter()
                .map(|t| (t.name, TunnelStatus::NotConnected { reason: reason.clone() }))
                .collect());
        }
        let sas = self.list_sas()?;
        let mut reasons = None;
        let mut out = BTreeMap::new();
        for t in state.tunnels {
            let status = match sa_status(&sas, &t.conn) {
                Some(status) => status,
                None => {
                    let reasons = reasons.get_or_insert_with(|| log_reasons(&self.read_log_tail()));
                    TunnelStatus::NotConnected { reason: reasons.get(&t.conn).cloned() }
                }
            };
            out.insert(t.name, status);
        }
        Ok(out)
    }

    /// Bytes carried per Azure connection name, summed over the tunnel's current CHILD_SAs.
    ///
    /// TODO-fidelity: the counters belong to SAs, so they restart at zero when a CHILD_SA is rekeyed
    /// (hourly) or re-established; Azure's counters only grow. A meter has to accumulate deltas itself.
    pub fn traffic(&self) -> Result<BTreeMap<String, TunnelTraffic>, IpsecError> {
        let Some(state) = self.read_state() else { return Ok(BTreeMap::new()) };
        let sas = if self.running() { self.list_sas()? } else { Vec::new() };
        Ok(state
            .tunnels
            .into_iter()
            .map(|t| {
                let mut traffic = TunnelTraffic::default();
                for child in sas.iter().flat_map(|sa| &sa.children).filter(|c| c.name == t.conn) {
                    traffic.ingress_bytes += child.bytes_in;
                    traffic.egress_bytes += child.bytes_out;
                }
                (t.name, traffic)
            })
            .collect())
    }

    /// Stops the daemon and removes everything it and this module left behind: the directory, the
    /// addresses added to `lo`, and kernel-libipsec's rule 220, which survives the daemon when it has to
    /// be killed. A graceful stop (SIGTERM) sends an IKE DELETE to every peer first, so peers drop the
    /// tunnel at once instead of waiting for dead peer detection.
    ///
    /// Idempotent; fine when nothing runs or the namespace is already gone.
    pub fn stop(&self) -> Result<(), IpsecError> {
        let dir = self.abs_dir()?;
        let _lock = if dir.exists() { Some(self.lock(false)?) } else { None };
        let state = self.read_state();
        if let Some(pid) = self.daemon_pid() {
            self.terminate_daemon(pid)?;
        }
        if self.namespace_exists() {
            self.remove_routing_rule()?;
            if let Some(state) = &state {
                let present = self.addresses()?;
                for addr in &state.lo_addrs {
                    if present.iter().any(|(a, dev)| a == addr && dev == "lo") {
                        self.ip(&["addr", "del", &format!("{addr}/32"), "dev", "lo"])?;
                    }
                }
            }
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", &dir)(e)),
            _ => Ok(()),
        }
    }

    /// Whether a daemon runs for this gateway.
    pub fn running(&self) -> bool {
        self.daemon_pid().is_some()
    }

    fn check_namespace(&self) -> Result<(), IpsecError> {
        if self.namespace.is_empty() || self.namespace.contains('/') || !self.namespace_exists() {
            return Err(IpsecError::NoNamespace(self.namespace.clone()));
        }
        Ok(())
    }

    fn namespace_exists(&self) -> bool {
        !self.namespace.is_empty() && Path::new("/run/netns").join(&self.namespace).exists()
    }

    fn abs_dir(&self) -> Result<PathBuf, IpsecError> {
        std::path::absolute(&self.dir).map_err(io_error("resolve", &self.dir))
    }

    fn path(&self, file: &str) -> PathBuf {
        std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone()).join(file)
    }

    /// Serializes `ensure()` and `stop()` of one gateway across processes.
    fn lock(&self, create: bool) -> Result<Flock<File>, IpsecError> {
        let dir = self.abs_dir()?;
        let path = dir.join(LOCK_FILE);
        loop {
            if create {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(io_error("create", &dir))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_error("open", &path))?;
            let lock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| io_error("lock", &path)(io::Error::from(errno)))?;
            // stop() removes the directory while holding the lock; whoever waited got a lock on a file
            // that no longer exists and must take the new one.
            let held = lock.metadata().map_err(io_error("inspect", &path))?;
            match fs::metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(lock),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if create {
                        continue;
                    }
                    return Ok(lock);
                }
                Err(e) => return Err(io_error("inspect", &path)(e)),
            }
        }
    }

    fn read_state(&self) -> Option<State> {
        let text = fs::read_to_string(self.path(STATE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_state(&self, state: &State) -> Result<(), IpsecError> {
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        write_atomic(&self.path(STATE_FILE), text.as_bytes(), 0o600)
    }

    /// The daemon's pid: the one in the pid file if it still is our daemon, else any charon started
    /// with our configuration (the pid file may have been lost between launch and write).
    fn daemon_pid(&self) -> Option<i32> {
        let conf = self.path(STRONGSWAN_CONF);
        let recorded = fs::read_to_string(self.path(PID_FILE)).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = recorded.filter(|&pid| is_daemon_for(pid, &conf)) {
            return Some(pid);
        }
        let entries = fs::read_dir("/proc").ok()?;
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()).find(|&pid| is_daemon_for(pid, &conf))
    }

    fn start_daemon(&self) -> Result<i32, IpsecError> {
        let failed = |detail: String| IpsecError::DaemonStart { namespace: self.namespace.clone(), detail };
        // Before the daemon creates ipsec0, so that the device never gets an IPv6 link-local address.
        self.run_checked(Command::new("ip").args([
            "netns",
            "exec",
            &self.namespace,
            "sysctl",
            "-q",
            "-e",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]))?;
        // A daemon that was killed left its rule; the new one would log that it cannot add it.
        self.remove_routing_rule()?;
        let socket = self.path(VICI_SOCKET);
        match fs::remove_file(&socket) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("remove", &socket)(e)),
            _ => {}
        }
        let out = self.path(DAEMON_OUT);
        let mut cmd = Command::new("/bin/sh");
        // The shell backgrounds the daemon and exits, so the daemon is re-parented to init: it outlives
        // the caller and never lingers as a zombie of a long-running caller. `ip netns exec` execs the
        // daemon, so `$!` is the daemon's pid.
        cmd.args(["-c", r#"ip netns exec "$1" "$2" >"$3" 2>&1 </dev/null & echo $!"#, "sh"])
            .arg(&self.namespace)
            .arg(CHARON)
            .arg(&out)
            .env(STRONGSWAN_CONF_ENV, self.path(STRONGSWAN_CONF));
        // SAFETY: setsid() is async-signal-safe and touches no memory shared with the parent. The new
        // session detaches the daemon from the caller's terminal and its hangups.
        unsafe {
            cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(io::Error::from));
        }
        let launched = self.run_checked(&mut cmd)?;
        let pid: i32 = launched
            .trim()
            .parse()
            .map_err(|_| failed(format!("the launcher printed {launched:?} instead of a pid")))?;
        write_atomic(&self.path(PID_FILE), format!("{pid}\n").as_bytes(), 0o644)?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if socket.exists() && is_daemon_for(pid, &self.path(STRONGSWAN_CONF)) {
                return Ok(pid);
            }
            if !process_alive(pid) || Instant::now() >= deadline {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                wait_for_exit(pid, KILL_TIMEOUT);
                let _ = self.remove_routing_rule();
                let output = fs::read_to_string(&out).unwrap_or_default();
                let log = self.read_log_tail();
                let detail = format!(
                    "{} within {START_TIMEOUT:?}; its output: {:?}; its log: {:?}",
                    if process_alive(pid) { "no VICI socket" } else { "it exited" },
                    output.trim(),
                    last_lines(&log, 5),
                );
                return Err(failed(detail));
            }
            thread::sleep(POLL);
        }
    }

    fn terminate_daemon(&self, pid: i32) -> Result<(), IpsecError> {
        let target = Pid::from_raw(pid);
        let _ = kill(target, Signal::SIGTERM);
        if wait_for_exit(pid, STOP_TIMEOUT) {
            return Ok(());
        }
        let _ = kill(target, Signal::SIGKILL);
        if wait_for_exit(pid, KILL_TIMEOUT) {
            // SIGKILL leaves kernel-libipsec's rule behind (the TUN device dies with the process).
            if self.namespace_exists() {
                self.remove_routing_rule()?;
            }
            return Ok(());
        }
        Err(IpsecError::DaemonStuck { namespace: self.namespace.clone(), pid })
    }

    fn remove_routing_rule(&self) -> Result<(), IpsecError> {
        let pref = ROUTING_TABLE.to_string();
        // Each failed start of an older daemon could have left one more copy.
        for _ in 0..16 {
            let rules = self.ip(&["-4", "rule", "show", "pref", &pref])?;
            if !rules.lines().any(|l| l.trim_start().starts_with(&format!("{pref}:"))) {
                break;
            }
            self.ip(&["-4", "rule", "del", "pref", &pref, "table", &pref])?;
        }
        Ok(())
    }

    /// IPv4 addresses of the namespace with their device.
    fn addresses(&self) -> Result<Vec<(Ipv4Addr, String)>, IpsecError> {
        let text = self.ip(&["-4", "-o", "addr", "show"])?;
        Ok(parse_addresses(&text))
    }

    /// Returns the addresses on `lo` this module owns after the call.
    fn sync_local_addresses(&self, plan: &Plan, owned: &[Ipv4Addr]) -> Result<Vec<Ipv4Addr>, IpsecError> {
        let present = self.addresses()?;
        for entry in &plan.entries {
            let local = entry.tunnel.local_addr;
            if !present.iter().any(|(a, _)| *a == local) {
                return Err(IpsecError::InvalidTunnel {
                    name: entry.tunnel.name.clone(),
                    problem: format!(
                        "its local address {local} is not configured in namespace {:?}; add it to the gateway's \
                         transport interface first",
                        self.namespace
                    ),
                });
            }
        }
        let on_lo = |addr: &Ipv4Addr| present.iter().any(|(a, dev)| a == addr && dev == "lo");
        let mut keep: Vec<Ipv4Addr> = Vec::new();
        let mut add: Vec<Ipv4Addr> = Vec::new();
        for prefix in plan.local_prefixes() {
            if let Some(addr) = owned.iter().find(|a| prefix.contains(*a) && on_lo(a)) {
                if !keep.contains(addr) {
                    keep.push(*addr);
                }
            } else if !present.iter().any(|(a, _)| prefix.contains(a)) && !add.iter().any(|a| prefix.contains(a)) {
                add.push(first_host(prefix));
            }
        }
        for addr in owned.iter().filter(|a| !keep.contains(a) && on_lo(a)) {
            self.ip(&["addr", "del", &format!("{addr}/32"), "dev", "lo"])?;
        }
        if !add.is_empty() {
            // Addresses of a device that is down have no local route, so they cannot be a route's source.
            self.ip(&["link", "set", "lo", "up"])?;
            for addr in &add {
                self.ip(&["addr", "replace", &format!("{addr}/32"), "dev", "lo"])?;
            }
        }
        keep.extend(add);
        keep.sort();
        Ok(keep)
    }

    fn list_sas(&self) -> Result<Vec<IkeSa>, IpsecError> {
        Ok(parse_list_sas(&self.swanctl(&["--list-sas", "--raw"])?))
    }

    fn read_log_tail(&self) -> String {
        let Ok(mut file) = File::open(self.path(LOG)) else { return String::new() };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let start = len.saturating_sub(LOG_TAIL_BYTES);
        if file.seek(SeekFrom::Start(start)).is_err() {
            return String::new();
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return String::new();
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match (start, text.find('\n')) {
            // Drop the partial first line.
            (s, Some(nl)) if s > 0 => text[nl + 1..].to_string(),
            _ => text,
        }
    }

    fn swanctl(&self, args: &[&str]) -> Result<String, IpsecError> {
        let mut cmd = Command::new(SWANCTL);
        cmd.args(args).env(STRONGSWAN_CONF_ENV, self.path(STRONGSWAN_CONF));
        self.run_checked(&mut cmd)
    }

    fn ip(&self, args: &[&str]) -> Result<String, IpsecError> {
        let mut cmd = Command::new("ip");
        cmd.arg("-n").arg(&self.namespace).args(args);
        self.run_checked(&mut cmd)
    }

    fn run_checked(&self, cmd: &mut Command) -> Result<String, IpsecError> {
        let command = describe(cmd);
        let output =
            run(cmd, SWANCTL_TIMEOUT).map_err(|detail| IpsecError::Command { command: command.clone(), detail })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // swanctl looks for credential directories (x509, private, ...) next to swanctl.conf; there are
        // none, and saying so is not an error.
        let mut detail: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .filter(|l| !(l.starts_with("opening directory '") && l.ends_with("No such file or directory")))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if detail.is_empty() {
            detail.push("no output");
        }
        Err(IpsecError::Command { command, detail: format!("{} ({})", detail.join("; "), output.status) })
    }
}

/// What `ensure()` remembers between calls. Holds no key material.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Pid of the daemon into which swanctl.conf, as it is on disk, was loaded; `None` while a load is
    /// pending or after it failed, so that the next `ensure()` loads again.
    loaded_into: Option<i32>,
    tunnels: Vec<TunnelRecord>,
    /// Addresses this module added to `lo` for local traffic selectors.
    lo_addrs: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TunnelRecord {
    name: String,
    conn: String,
}

/// The validated tunnel set and its swanctl.conf.
struct Plan<'a> {
    entries: Vec<PlanEntry<'a>>,
    conf: String,
}

struct PlanEntry<'a> {
    tunnel: &'a Tunnel,
    conn: String,
    /// This tunnel's part of swanctl.conf; a tunnel whose part changed is renegotiated.
    chunk: String,
}

impl<'a> Plan<'a> {
    fn new(tunnels: &'a [Tunnel]) -> Result<Self, IpsecError> {
        let mut entries: Vec<PlanEntry<'a>> = Vec::new();
        for t in tunnels {
            let invalid = |problem: String| IpsecError::InvalidTunnel { name: t.name.clone(), problem };
            if t.name.is_empty() {
                return Err(invalid("the connection name is empty".into()));
            }
            if t.psk.is_empty() {
                return Err(invalid("the shared key is empty".into()));
            }
            if t.local_ts.is_empty() || t.remote_ts.is_empty() {
                return Err(invalid("a tunnel needs at least one local and one remote prefix".into()));
            }
            if t.local_addr == t.remote_addr {
                return Err(invalid(format!("local and remote address are both {}", t.local_addr)));
            }
            if let Some(p) = t.local_ts.iter().chain(&t.remote_ts).find(|p| p.trunc() != **p) {
                return Err(invalid(format!("prefix {p} has host bits set; use {}", p.trunc())));
            }
            let conn = swanctl_name(&t.name);
            if let Some(other) = entries.iter().find(|e| e.tunnel.name == t.name || e.conn == conn) {
                return Err(invalid(format!("its name collides with connection {:?}", other.tunnel.name)));
            }
            if let Some(other) =
                entries.iter().find(|e| e.tunnel.local_addr == t.local_addr && e.tunnel.remote_addr == t.remote_addr)
            {
                return Err(invalid(format!(
                    "connection {:?} already joins {} and {}; IKE tells connections apart by these addresses",
                    other.tunnel.name, t.local_addr, t.remote_addr
                )));
            }
            let chunk = render_tunnel(t, &conn);
            entries.push(PlanEntry { tunnel: t, conn, chunk });
        }
        let mut conf = String::from(
            "# swanctl.conf of one VPN gateway, rewritten by vnetlab on every change.\n\
             # One block per tunnel; repeated connections/secrets sections add up.\n",
        );
        for e in &entries {
            conf.push_str(&e.chunk);
        }
        Ok(Plan { entries, conf })
    }

    fn records(&self) -> Vec<TunnelRecord> {
        self.entries.iter().map(|e| TunnelRecord { name: e.tunnel.name.clone(), conn: e.conn.clone() }).collect()
    }

    fn local_prefixes(&self) -> BTreeSet<Ipv4Net> {
        self.entries.iter().flat_map(|e| e.tunnel.local_ts.iter().copied()).collect()
    }
}

/// The swanctl connection name of an Azure connection: the name itself when it is short and made of
/// `[A-Za-z0-9_-]` starting with a letter or digit, else a cleaned-up prefix plus a hash of the full
/// name, so that distinct names stay distinct. (strongswan.conf syntax reserves `.`, `,`, `:`, braces,
/// quotes, `#` and blanks in section names, and `include` is a keyword.)
pub fn swanctl_name(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let usable = !name.is_empty()
        && name.len() <= MAX_CONN_NAME
        && name.chars().all(plain)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name != "include";
    if usable {
        return name.to_string();
    }
    let cleaned: String =
        name.chars().map(|c| if plain(c) { c } else { '_' }).take(MAX_CONN_NAME - 10).collect::<String>();
    format!("c{}-{:08x}", cleaned.trim_start_matches(['-', '_']), fnv1a32(name.as_bytes()))
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The address given to the gateway for a local prefix no address of it lies in.
fn first_host(prefix: Ipv4Net) -> Ipv4Addr {
    match prefix.prefix_len() {
        31 | 32 => prefix.network(),
        _ => Ipv4Addr::from(u32::from(prefix.network()) + 1),
    }
}

fn render_strongswan_conf(dir: &Path) -> Result<String, IpsecError> {
    let vici = quote_setting(&format!("unix://{}", path_arg(&dir.join(VICI_SOCKET))?));
    let log = quote_setting(path_arg(&dir.join(LOG))?);
    // kernel-libipsec must load before kernel-netlink, else charon tries the kernel's XFRM, which this
    // kernel lacks. Eight worker threads are held for good by long-running jobs (receiver, sender,
    // netlink, libipsec, VICI): with 8 a VICI call never gets an answer, with 9 one waiting VICI call
    // stalls IKE; the default 16 leaves room for several and costs ~0.3 MB more RSS than 10. Retransmissions: 2, 3, 4.5, 6.75, 8, 8 s, so that a peer that comes back is
    // found within seconds, and dead peer detection (10 s) plus retransmits gives up after ~42 s,
    // close to Azure's 45 s DPD timeout. enc/net logging is per packet; off.
    // TODO-scale: the log is only truncated when the daemon restarts; at level 1 it grows by a few lines
    // per tunnel event (dead peer detection, rekeying).
    Ok(format!(
        "# strongswan.conf of one VPN gateway's charon, written by vnetlab.
charon {{
    load_modular = no
    load = random nonce aes sha1 sha2 hmac gmp kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
    routing_table = {ROUTING_TABLE}
    routing_table_prio = {ROUTING_TABLE}
    threads = 16
    retransmit_timeout = 2.0
    retransmit_base = 1.5
    retransmit_tries = 5
    retransmit_limit = 8
    plugins {{
        vici {{
            socket = {vici}
        }}
    }}
    filelog {{
        main {{
            path = {log}
            time_format = %H:%M:%S
            append = no
            flush_line = yes
            ike_name = yes
            default = 1
            enc = 0
            net = 0
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    journal {{
        default = -1
    }}
}}
swanctl {{
    load = pem pkcs1 x509 pubkey random nonce
    socket = {vici}
}}
"
    ))
}

/// One tunnel's block of swanctl.conf, starting with the marker line `split_chunks` looks for.
///
/// The initiating side keeps trying (`keyingtries = 0`: an unanswered IKE_SA_INIT is retried without
/// end), restarts after dead peer detection, and re-initiates when the peer closes the tunnel, as an
/// Azure gateway keeps its connections up. The responding side just lets go. TODO-fidelity: Azure's
/// default and custom (`ipsecPolicies`) proposals are not modelled; both sides use one fixed suite.
fn render_tunnel(t: &Tunnel, conn: &str) -> String {
    let list = |prefixes: &[Ipv4Net]| prefixes.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    let (keyingtries, dpd_action, close_action) =
        if t.initiate { (0, "restart", "start") } else { (1, "clear", "none") };
    format!(
        "# tunnel {conn}
connections {{
    {conn} {{
        version = 2
        local_addrs = {local}
        remote_addrs = {remote}
        proposals = aes256-sha256-modp2048
        encap = yes
        mobike = no
        dpd_delay = 10s
        keyingtries = {keyingtries}
        local {{
            auth = psk
            id = {local}
        }}
        remote {{
            auth = psk
            id = {remote}
        }}
        children {{
            {conn} {{
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = aes256-sha256
                start_action = none
                dpd_action = {dpd_action}
                close_action = {close_action}
            }}
        }}
    }}
}}
secrets {{
    ike-{conn} {{
        id-1 = {local}
        id-2 = {remote}
        secret = 0s{secret}
    }}
}}
",
        local = t.local_addr,
        remote = t.remote_addr,
        local_ts = list(&t.local_ts),
        remote_ts = list(&t.remote_ts),
        // The base64 form needs no escaping, and a key that happens to start with `0x` or `0s` is not
        // mistaken for an encoded one.
        secret = base64(t.psk.as_bytes()),
    )
}

/// The tunnel blocks of a swanctl.conf written by `Plan`, by connection name.
fn split_chunks(conf: &str) -> BTreeMap<String, String> {
    let mut chunks = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in conf.split_inclusive('\n') {
        if let Some(conn) = line.strip_prefix("# tunnel ") {
            if let Some((name, text)) = current.take() {
                chunks.insert(name, text);
            }
            current = Some((conn.trim_end().to_string(), String::new()));
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
        }
    }
    if let Some((name, text)) = current {
        chunks.insert(name, text);
    }
    chunks
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A strongswan.conf string value: quoted, with `"` and `\` escaped.
fn quote_setting(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path_arg(path: &Path) -> Result<&str, IpsecError> {
    match path.to_str() {
        Some(s) if !s.contains(['\n', '\r']) => Ok(s),
        _ => Err(IpsecError::BadDirectory(path.to_path_buf(), "its path must be UTF-8 without line breaks")),
    }
}

/// One IKE_SA from `swanctl --list-sas --raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IkeSa {
    /// The connection name.
    name: String,
    unique_id: u64,
    state: String,
    children: Vec<ChildSa>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ChildSa {
    name: String,
    state: String,
    spi_in: String,
    bytes_in: u64,
    bytes_out: u64,
}

/// What the SAs say about one connection; `None` when they say nothing (no SA, or an IKE_SA whose
/// CHILD_SA failed), and the log has to tell why.
fn sa_status(sas: &[IkeSa], conn: &str) -> Option<TunnelStatus> {
    let mut connecting = false;
    for sa in sas.iter().filter(|sa| sa.name == conn) {
        for child in sa.children.iter().filter(|c| c.name == conn) {
            match child.state.as_str() {
                // REKEYED is the old SA of a rekeying whose successor is already INSTALLED.
                "INSTALLED" | "UPDATING" | "REKEYING" | "REKEYED" => return Some(TunnelStatus::Connected),
                "CREATED" | "ROUTED" | "INSTALLING" | "RETRYING" => connecting = true,
                _ => {}
            }
        }
        if matches!(sa.state.as_str(), "CREATED" | "CONNECTING") {
            connecting = true;
        }
    }
    connecting.then_some(TunnelStatus::Connecting)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Vici {
    Value(String),
    List(Vec<String>),
    Section(Vec<(String, Vici)>),
}

impl Vici {
    fn get(&self, key: &str) -> Option<&Vici> {
        match self {
            Vici::Section(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Vici::Value(v)) => v,
            _ => "",
        }
    }

    fn num(&self, key: &str) -> u64 {
        self.str(key).parse().unwrap_or(0)
    }
}

/// Parses the `list-sa event {...}` lines of `swanctl --list-sas --raw`.
fn parse_list_sas(text: &str) -> Vec<IkeSa> {
    let mut sas = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("list-sa event")) {
        let Some(open) = line.find('{') else { continue };
        let mut cursor = Cursor { s: line.as_bytes(), i: open + 1 };
        for (name, sa) in cursor.section() {
            let children = match sa.get("child-sas") {
                Some(Vici::Section(children)) => children
                    .iter()
                    .map(|(_, c)| ChildSa {
                        name: c.str("name").to_string(),
                        state: c.str("state").to_string(),
                        spi_in: c.str("spi-in").to_string(),
                        bytes_in: c.num("bytes-in"),
                        bytes_out: c.num("bytes-out"),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            sas.push(IkeSa { unique_id: sa.num("uniqueid"), state: sa.str("state").to_string(), name, children });
        }
    }
    sas
}

/// Reader of swanctl's raw message dump: `key=value`, `key=[a b]`, `name {...}`, blank-separated.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn word(&mut self, stop: &[u8]) -> String {
        let start = self.i;
        while self.peek().is_some_and(|c| !c.is_ascii_whitespace() && !stop.contains(&c)) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// The entries up to the closing brace of the section the cursor is in.
    fn section(&mut self) -> Vec<(String, Vici)> {
        let mut entries = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None => break,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            let key = self.word(b"={}[]");
            if key.is_empty() {
                self.i += 1;
                continue;
            }
            self.skip_blanks();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    let inner = self.section();
                    entries.push((key, Vici::Section(inner)));
                }
                Some(b'=') => {
                    self.i += 1;
                    if self.peek() == Some(b'[') {
                        self.i += 1;
                        let mut items = Vec::new();
                        loop {
                            self.skip_blanks();
                            match self.peek() {
                                None => break,
                                Some(b']') => {
                                    self.i += 1;
                                    break;
                                }
                                _ => items.push(self.word(b"]")),
                            }
                        }
                        entries.push((key, Vici::List(items)));
                    } else {
                        let value = self.word(b"{}");
                        entries.push((key, Vici::Value(value)));
                    }
                }
                _ => {}
            }
        }
        entries
    }
}

/// Why each connection is down, from the daemon's log: the most telling failure logged since the
/// connection's last attempt began, unless a CHILD_SA came up after it.
fn log_reasons(log: &str) -> BTreeMap<String, String> {
    #[derive(Default)]
    struct Seen {
        specific: Option<String>,
        generic: Option<String>,
    }
    let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
    for line in log.lines() {
        let Some((conn, message)) = parse_log_line(line) else { continue };
        match classify_log(message) {
            Some(LogEvent::Attempt | LogEvent::Up) => {
                seen.remove(conn);
            }
            Some(LogEvent::Failure { specific: true, reason }) => seen.entry(conn).or_default().specific = Some(reason),
            Some(LogEvent::Failure { specific: false, reason }) => seen.entry(conn).or_default().generic = Some(reason),
            None => {}
        }
    }
    seen.into_iter().filter_map(|(conn, s)| Some((conn.to_string(), s.specific.or(s.generic)?))).collect()
}

/// Splits `12:00:00 07[IKE] <conn|3> message` into the connection name and the message. Lines of an
/// IKE_SA that has no connection yet (`<3>`) belong to none.
fn parse_log_line(line: &str) -> Option<(&str, &str)> {
    let start = line.find("] <")? + 3;
    let rest = &line[start..];
    let end = rest.find("> ")?;
    let (conn, _) = rest[..end].split_once('|')?;
    Some((conn, &rest[end + 2..]))
}

#[derive(Debug, PartialEq, Eq)]
enum LogEvent {
    /// A new negotiation began; earlier failures no longer apply.
    Attempt,
    Up,
    Failure {
        /// Says what is wrong, rather than only that something failed.
        specific: bool,
        reason: String,
    },
}

fn classify_log(message: &str) -> Option<LogEvent> {
    let m = message.to_ascii_lowercase();
    let failure = |summary: &str| LogEvent::Failure { specific: true, reason: format!("{summary} ({message})") };
    let event = if m.starts_with("initiating ike_sa") || m.starts_with("selected peer config") {
        LogEvent::Attempt
    } else if m.starts_with("child_sa ") && m.contains(" established with spis") {
        LogEvent::Up
    } else if m.contains("but mac mismatched") {
        failure("authentication failed: the pre-shared keys of the two sides differ")
    } else if m.contains("received authentication_failed notify") {
        failure("authentication failed: the peer rejected this side's pre-shared key")
    } else if m.contains("no shared key found") {
        failure("authentication failed: no pre-shared key for these peers")
    } else if m.contains("received no_proposal_chosen notify") {
        failure("the peer has no matching connection or accepts none of the proposals")
    } else if m.contains("received ts_unacceptable notify") || m.contains("no acceptable traffic selectors") {
        failure("the traffic selectors of the two sides do not match")
    } else if m.starts_with("giving up after") {
        failure("the peer did not answer")
    } else if m.starts_with("received delete for ike_sa") {
        failure("the peer closed the connection")
    } else if m.contains("failed") || m.contains("error") || m.contains("unable to") {
        LogEvent::Failure { specific: false, reason: message.to_string() }
    } else {
        return None;
    };
    Some(event)
}

/// Parses `ip -4 -o addr show`: `2: wan-a    inet 192.0.2.1/24 brd ... scope global wan-a ...`.
fn parse_addresses(text: &str) -> Vec<(Ipv4Addr, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let dev = words.nth(1)?.split('@').next()?.trim_end_matches(':').to_string();
            let cidr = words.skip_while(|w| *w != "inet").nth(1)?;
            let addr = cidr.split('/').next()?.parse().ok()?;
            Some((addr, dev))
        })
        .collect()
}

fn is_daemon_for(pid: i32, conf: &Path) -> bool {
    if pid <= 0 || !process_alive(pid) {
        return false;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = fs::read(proc_dir.join("cmdline")) else { return false };
    if cmdline.split(|b| *b == 0).next() != Some(CHARON.as_bytes()) {
        return false;
    }
    let Ok(environ) = fs::read(proc_dir.join("environ")) else { return false };
    let Some(conf) = conf.to_str() else { return false };
    let wanted = format!("{STRONGSWAN_CONF_ENV}={conf}");
    environ.split(|b| *b == 0).any(|var| var == wanted.as_bytes())
}

/// Whether `pid` is a live process. A zombie is not: the daemon's parent is init, which reaps it a
/// little later.
fn process_alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the parenthesized command name, which may itself contain parentheses.
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, None | Some('Z') | Some('X'))
}

fn wait_for_exit(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
    true
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command to completion with its output captured; one that hangs past `timeout` is killed.
fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(format!("cannot collect its output: {e}")),
        Err(_) => {
            // Not reaped yet (the waiting thread still holds it), so the pid is still this child's.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = rx.recv();
            Err(format!("no answer within {timeout:?}; killed"))
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, IpsecError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// Replaces `path` so that readers never see a partial file, created with `mode` from the start.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), IpsecError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io_error("create", &tmp))?;
    file.write_all(contents).map_err(io_error("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_error("replace", path))
}

/// Writes `path` unless it already holds `contents`; tells whether it wrote.
fn write_if_changed(path: &Path, contents: &str, mode: u32) -> Result<bool, IpsecError> {
    if read_optional(path)?.as_deref() == Some(contents) {
        return Ok(false);
    }
    write_atomic(path, contents.as_bytes(), mode)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn base64_matches_rfc4648() {
        let vectors =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(b"a \"q\" \\b"), "YSAicSIgXGI=");
    }

    #[test]
    fn connection_names_are_safe_and_distinct() {
        assert_eq!(swanctl_name("vnet1-to-vnet2_b"), "vnet1-to-vnet2_b");
        let dotted = swanctl_name("to.onprem");
        assert!(dotted.starts_with("cto_onprem-"), "{dotted}");
        assert_ne!(dotted, swanctl_name("to_onprem"));
        assert_ne!(swanctl_name("a b"), swanctl_name("a.b"));
        assert_ne!(swanctl_name("include"), "include");
        let long = "x".repeat(80);
        assert!(swanctl_name(&long).len() <= MAX_CONN_NAME);
        assert_ne!(swanctl_name(&long), swanctl_name(&"x".repeat(79)));
        for name in ["-lead", "_lead", "a\"b{c}", "é", "a#b", "a=b:c,d"] {
            let conn = swanctl_name(name);
            assert!(conn.starts_with(|c: char| c.is_ascii_alphanumeric()), "{name:?} -> {conn}");
            assert!(conn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name:?} -> {conn}");
        }
    }

    #[test]
    fn first_host_of_prefixes() {
        assert_eq!(first_host(net("10.1.0.0/16")), Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(first_host(net("10.9.0.0/31")), Ipv4Addr::new(10, 9, 0, 0));
        assert_eq!(first_host(net("10.9.0.7/32")), Ipv4Addr::new(10, 9, 0, 7));
    }

    fn sample_tunnel(name: &str) -> Tunnel {
        Tunnel {
            name: name.into(),
            local_addr: Ipv4Addr::new(192, 0, 2, 1),
            remote_addr: Ipv4Addr::new(192, 0, 2, 2),
            local_ts: vec![net("10.1.0.0/16"), net("10.9.0.0/24")],
            remote_ts: vec![net("10.2.0.0/16")],
            psk: "0x not hex \"quoted\" \\".into(),
            initiate: true,
        }
    }

    #[test]
    fn swanctl_conf_has_one_block_per_tunnel() {
        let mut b = sample_tunnel("b.second");
        b.remote_addr = Ipv4Addr::new(192, 0, 2, 3);
        b.initiate = false;
        let tunnels = [sample_tunnel("a"), b];
        let plan = Plan::new(&tunnels).unwrap();
        let chunks = split_chunks(&plan.conf);
        assert_eq!(chunks.len(), 2);
        for e in &plan.entries {
            assert_eq!(chunks.get(&e.conn), Some(&e.chunk));
        }
        let a = &chunks["a"];
        assert!(a.contains("local_ts = 10.1.0.0/16, 10.9.0.0/24\n"), "{a}");
        assert!(a.contains(&format!("secret = 0s{}\n", base64(tunnels[0].psk.as_bytes()))), "{a}");
        assert!(!a.contains("quoted"), "the key must not appear in clear: {a}");
        assert!(a.contains("close_action = start\n") && a.contains("keyingtries = 0\n"), "{a}");
        let b = &chunks[&swanctl_name("b.second")];
        assert!(b.contains("close_action = none\n") && b.contains("dpd_action = clear\n"), "{b}");
    }

    #[test]
    fn invalid_tunnel_sets_are_refused() {
        let refused = |tunnels: &[Tunnel], needle: &str| match Plan::new(tunnels) {
            Err(e @ IpsecError::InvalidTunnel { .. }) => assert!(e.to_string().contains(needle), "{e}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("accepted {tunnels:?}"),
        };
        refused(&[sample_tunnel("a"), sample_tunnel("a")], "collides");
        let mut other = sample_tunnel("b");
        refused(&[sample_tunnel("a"), other.clone()], "already joins");
        other.remote_addr = Ipv4Addr::new(192, 0, 2, 9);
        other.psk.clear();
        refused(&[other], "shared key is empty");
        let mut host_bits = sample_tunnel("a");
        host_bits.remote_ts = vec![net("10.2.0.1/16")];
        refused(&[host_bits], "use 10.2.0.0/16");
        let mut no_ts = sample_tunnel("a");
        no_ts.local_ts.clear();
        refused(&[no_ts], "at least one");
    }

    #[test]
    fn tunnel_debug_hides_the_key() {
        let shown = format!("{:?}", sample_tunnel("a"));
        assert!(!shown.contains("quoted") && shown.contains("<redacted>"), "{shown}");
    }

    const LIST_SAS: &str = "list-sa event {conn-one {uniqueid=2 version=2 state=ESTABLISHED local-host=192.0.2.1 \
        local-port=4500 local-id=192.0.2.1 remote-host=192.0.2.2 remote-port=4500 remote-id=192.0.2.2 initiator=yes \
        initiator-spi=55e2016c9c722bfe responder-spi=b0dc6d5928d3359d nat-remote=yes nat-any=yes encr-alg=AES_CBC \
        encr-keysize=256 integ-alg=HMAC_SHA2_256_128 prf-alg=PRF_HMAC_SHA2_256 dh-group=MODP_2048 established=0 \
        rekey-time=14203 child-sas {conn-one-2 {name=conn-one uniqueid=2 reqid=1 state=INSTALLED mode=TUNNEL \
        protocol=ESP encap=yes spi-in=5840d1ee spi-out=eefcfa31 encr-alg=AES_CBC encr-keysize=256 \
        integ-alg=HMAC_SHA2_256_128 bytes-in=588 packets-in=7 bytes-out=672 packets-out=8 rekey-time=3478 \
        life-time=3960 install-time=0 local-ts=[10.1.0.0/16 10.9.0.0/24] remote-ts=[10.2.0.0/16]}}}}
list-sa event {other {uniqueid=3 version=2 state=CONNECTING local-host=192.0.2.1 local-port=500 local-id=192.0.2.1 \
        remote-host=198.51.100.9 remote-port=500 remote-id=%any initiator=yes initiator-spi=1f5c4e0c2b7a9d10 \
        responder-spi=0000000000000000 nat-remote=yes child-sas {}}}
list-sas reply {}
";

    #[test]
    fn raw_sa_listing_is_parsed() {
        let sas = parse_list_sas(LIST_SAS);
        let expected = vec![
            IkeSa {
                name: "conn-one".into(),
                unique_id: 2,
                state: "ESTABLISHED".into(),
                children: vec![ChildSa {
                    name: "conn-one".into(),
                    state: "INSTALLED".into(),
                    spi_in: "5840d1ee".into(),
                    bytes_in: 588,
                    bytes_out: 672,
                }],
            },
            IkeSa { name: "other".into(), unique_id: 3, state: "CONNECTING".into(), children: vec![] },
        ];
        assert_eq!(sas, expected);
        assert_eq!(sa_status(&sas, "conn-one"), Some(TunnelStatus::Connected));
        assert_eq!(sa_status(&sas, "other"), Some(TunnelStatus::Connecting));
        assert_eq!(sa_status(&sas, "absent"), None);
        let mut child_failed = sas.clone();
        child_failed[0].children.clear();
        assert_eq!(sa_status(&child_failed, "conn-one"), None, "an IKE_SA without CHILD_SA carries no traffic");
    }

    #[test]
    fn log_tells_why_a_tunnel_is_down() {
        let log = "\
14:31:07 00[LIB] created TUN device: ipsec0
14:31:08 02[IKE] <up|1> initiating IKE_SA up[1] to 192.0.2.2
14:31:08 14[IKE] <up|1> CHILD_SA up{1} established with SPIs e873fcd1_i 80335fef_o and TS 10.1.0.0/16 === 10.2.0.0/16
14:31:56 11[IKE] <2> 192.0.2.1 is initiating an IKE_SA
14:31:56 12[CFG] <resp|2> selected peer config 'resp'
14:31:56 12[IKE] <resp|2> tried 1 shared key for '192.0.2.2' - '192.0.2.1', but MAC mismatched
14:31:56 12[IKE] <resp|2> some later generic step failed
14:31:58 07[IKE] <init|3> initiating IKE_SA init[3] to 192.0.2.2
14:31:58 02[IKE] <init|3> received AUTHENTICATION_FAILED notify error
14:32:02 07[IKE] <gone|4> initiating IKE_SA gone[4] to 192.0.2.2
14:32:02 07[IKE] <gone|4> received NO_PROPOSAL_CHOSEN notify error
14:32:03 07[IKE] <gone|5> initiating IKE_SA gone[5] to 192.0.2.2
14:32:05 07[IKE] <gone|5> giving up after 5 retransmits
14:32:09 14[IKE] <closed|6> received DELETE for IKE_SA closed[6]
";
        let reasons = log_reasons(log);
        assert_eq!(reasons.get("up"), None);
        assert!(reasons["resp"].starts_with("authentication failed: the pre-shared keys"), "{reasons:?}");
        assert!(reasons["init"].starts_with("authentication failed: the peer rejected"), "{reasons:?}");
        assert!(
            reasons["gone"].starts_with("the peer did not answer"),
            "an older attempt's failure is stale: {reasons:?}"
        );
        assert!(reasons["closed"].starts_with("the peer closed"), "{reasons:?}");
    }

    #[test]
    fn ip_address_listing_is_parsed() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet 10.9.0.1/32 scope global lo\\       valid_lft forever preferred_lft forever
2: wan-a    inet 192.0.2.1/24 scope global wan-a\\       valid_lft forever preferred_lft forever
";
        assert_eq!(
            parse_addresses(text),
            vec![
                (Ipv4Addr::new(127, 0, 0, 1), "lo".to_string()),
                (Ipv4Addr::new(10, 9, 0, 1), "lo".to_string()),
                (Ipv4Addr::new(192, 0, 2, 1), "wan-a".to_string()),
            ]
        );
    }

    #[test]
    fn status_serializes_the_azure_way() {
        let down = TunnelStatus::NotConnected { reason: Some("x".into()) };
        assert_eq!(serde_json::to_string(&down).unwrap(), r#"{"connectionStatus":"NotConnected","reason":"x"}"#);
        assert_eq!(serde_json::to_string(&TunnelStatus::Connected).unwrap(), r#"{"connectionStatus":"Connected"}"#);
    }

    // ---- Scenarios with real daemons, namespaces and pings (root) ----

    /// Root tests skip with a message when not root, and fail when VNETLAB_REQUIRE_ROOT=1 (CI).
    fn have_root(test: &str) -> bool {
        // SAFETY: geteuid() has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return true;
        }
        assert!(
            std::env::var("VNETLAB_REQUIRE_ROOT").as_deref() != Ok("1"),
            "{test} needs root (network namespaces, charon) and VNETLAB_REQUIRE_ROOT=1 is set"
        );
        eprintln!("skipped {test}: needs root to create network namespaces and run charon");
        false
    }

    fn sh(args: &[&str]) -> String {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The recipe's topology, with names unique to one test:
    /// vm-a 10.1.0.10 -- 10.1.0.1 [gw-a] 192.0.2.1 -- 192.0.2.2 [gw-b] 10.2.0.1 -- 10.2.0.10 vm-b.
    /// Dropping it stops the daemons and removes every namespace and file.
    struct Lab {
        prefix: String,
        base: PathBuf,
        namespaces: Vec<String>,
        a: Gateway,
        b: Gateway,
    }

    impl Lab {
        fn new(test: &str) -> Lab {
            let prefix = format!("vltest-ipsec-{}-{test}", std::process::id());
            let base = std::env::temp_dir().join(&prefix);
            let mut lab = Lab {
                a: Gateway::new(format!("{prefix}-gwa"), base.join("gw-a")),
                b: Gateway::new(format!("{prefix}-gwb"), base.join("gw-b")),
                prefix,
                base,
                namespaces: Vec::new(),
            };
            for n in ["gwa", "gwb", "vma", "vmb"] {
                let ns = lab.ns(n);
                sh(&["ip", "netns", "add", &ns]);
                lab.namespaces.push(ns.clone());
                sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            }
            let (gwa, gwb, vma, vmb) = (lab.ns("gwa"), lab.ns("gwb"), lab.ns("vma"), lab.ns("vmb"));
            for gw in [&gwa, &gwb] {
                sh(&["ip", "netns", "exec", gw, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            }
            sh(&["ip", "link", "add", "wan-a", "netns", &gwa, "type", "veth", "peer", "name", "wan-b", "netns", &gwb]);
            sh(&["ip", "link", "add", "lan-a", "netns", &gwa, "type", "veth", "peer", "name", "eth0", "netns", &vma]);
            sh(&["ip", "link", "add", "lan-b", "netns", &gwb, "type", "veth", "peer", "name", "eth0", "netns", &vmb]);
            for (ns, dev, addr) in [
                (&gwa, "wan-a", "192.0.2.1/24"),
                (&gwb, "wan-b", "192.0.2.2/24"),
                (&gwa, "lan-a", "10.1.0.1/16"),
                (&gwb, "lan-b", "10.2.0.1/16"),
                (&vma, "eth0", "10.1.0.10/16"),
                (&vmb, "eth0", "10.2.0.10/16"),
            ] {
                sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
                sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            }
            sh(&["ip", "-n", &vma, "route", "add", "default", "via", "10.1.0.1"]);
            sh(&["ip", "-n", &vmb, "route", "add", "default", "via", "10.2.0.1"]);
            lab
        }

        fn ns(&self, n: &str) -> String {
            format!("{}-{n}", self.prefix)
        }

        /// gw-a's side (the initiator) and gw-b's side of the one connection between them.
        fn tunnels(&self, psk_a: &str, psk_b: &str) -> (Tunnel, Tunnel) {
            let a = Tunnel {
                name: "a-to-b".into(),
                local_addr: Ipv4Addr::new(192, 0, 2, 1),
                remote_addr: Ipv4Addr::new(192, 0, 2, 2),
                local_ts: vec![net("10.1.0.0/16")],
                remote_ts: vec![net("10.2.0.0/16")],
                psk: psk_a.into(),
                initiate: true,
            };
            let b = Tunnel {
                name: "b-to-a".into(),
                local_addr: a.remote_addr,
                remote_addr: a.local_addr,
                local_ts: a.remote_ts.clone(),
                remote_ts: a.local_ts.clone(),
                psk: psk_b.into(),
                initiate: false,
            };
            (a, b)
        }

        fn ping(&self, from: &str, to: &str) -> bool {
            Command::new("ip")
                .args(["netns", "exec", &self.ns(from), "ping", "-c1", "-W1", to])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }

        fn rules(&self, gw: &str) -> String {
            sh(&["ip", "-n", &self.ns(gw), "rule", "show"])
        }
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            let _ = self.a.stop();
            let _ = self.b.stop();
            for ns in &self.namespaces {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
            let _ = fs::remove_dir_all(&self.base);
        }
    }

    fn status_of(gw: &Gateway, name: &str) -> Option<TunnelStatus> {
        gw.status().unwrap().get(name).cloned()
    }

    fn both_connected(lab: &Lab) -> bool {
        status_of(&lab.a, "a-to-b") == Some(TunnelStatus::Connected)
            && status_of(&lab.b, "b-to-a") == Some(TunnelStatus::Connected)
    }

    fn sa_identity(gw: &Gateway) -> Vec<(u64, Vec<String>)> {
        gw.list_sas()
            .unwrap()
            .into_iter()
            .map(|sa| (sa.unique_id, sa.children.into_iter().map(|c| c.spi_in).collect()))
            .collect()
    }

    #[test]
    fn tunnel_comes_up_and_ensure_is_idempotent() {
        if !have_root("tunnel_comes_up_and_ensure_is_idempotent") {
            return;
        }
        let lab = Lab::new("up");
        assert!(!lab.ping("vma", "10.2.0.10"), "no route between the LANs before the tunnel");
        let (ta, tb) = lab.tunnels("s3cret", "s3cret");
        let started = Instant::now();
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        let ensured = started.elapsed();
        assert!(
            wait_for(Duration::from_secs(5), || both_connected(&lab)),
            "{:?} / {:?}",
            lab.a.status(),
            lab.b.status()
        );
        eprintln!("cold ensure() of both gateways: {ensured:?}; both Connected after {:?}", started.elapsed());
        assert!(lab.ping("vma", "10.2.0.10"), "ping through the tunnel");
        assert!(lab.ping("vmb", "10.1.0.10"), "ping back through the tunnel");

        let traffic = lab.a.traffic().unwrap();
        let t = traffic["a-to-b"];
        assert!(t.ingress_bytes > 0 && t.egress_bytes > 0, "{traffic:?}");

        let pids = (lab.a.daemon_pid(), lab.b.daemon_pid());
        let sas = (sa_identity(&lab.a), sa_identity(&lab.b));
        let conf_time = fs::metadata(lab.a.path(SWANCTL_CONF)).unwrap().modified().unwrap();
        let again = Instant::now();
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        eprintln!("second ensure() of both gateways: {:?}", again.elapsed());
        assert_eq!((lab.a.daemon_pid(), lab.b.daemon_pid()), pids, "no daemon restarted");
        assert_eq!((sa_identity(&lab.a), sa_identity(&lab.b)), sas, "no SA re-established");
        assert_eq!(fs::metadata(lab.a.path(SWANCTL_CONF)).unwrap().modified().unwrap(), conf_time);
        assert!(both_connected(&lab));
        assert!(lab.ping("vma", "10.2.0.10"));

        let mode = fs::metadata(lab.a.path(SWANCTL_CONF)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "swanctl.conf holds the key");
    }

    #[test]
    fn wrong_key_is_not_connected_with_a_reason() {
        if !have_root("wrong_key_is_not_connected_with_a_reason") {
            return;
        }
        let lab = Lab::new("badkey");
        let (ta, tb) = lab.tunnels("right key", "wrong key");
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        let authentication_failed = |gw: &Gateway, name: &str| match status_of(gw, name) {
            Some(TunnelStatus::NotConnected { reason: Some(r) }) => r.contains("authentication"),
            _ => false,
        };
        let both_failed = wait_for(Duration::from_secs(3), || {
            authentication_failed(&lab.a, "a-to-b") && authentication_failed(&lab.b, "b-to-a")
        });
        assert!(both_failed, "{:?} / {:?}", lab.a.status(), lab.b.status());
        eprintln!("gw-a: {}\ngw-b: {}", lab.a.status().unwrap()["a-to-b"], lab.b.status().unwrap()["b-to-a"]);
        // Stays down: no retry loop turns it into Connecting or Connected.
        thread::sleep(Duration::from_millis(500));
        assert!(authentication_failed(&lab.a, "a-to-b") && authentication_failed(&lab.b, "b-to-a"));
        assert!(!lab.ping("vma", "10.2.0.10"));
    }

    #[test]
    fn removed_tunnel_goes_down_and_stop_leaves_nothing() {
        if !have_root("removed_tunnel_goes_down_and_stop_leaves_nothing") {
            return;
        }
        let lab = Lab::new("down");
        let (mut ta, mut tb) = lab.tunnels("k", "k");
        let mut unconfigured = ta.clone();
        unconfigured.local_addr = Ipv4Addr::new(192, 0, 2, 7);
        let refused = lab.a.ensure(&[unconfigured]).unwrap_err();
        assert!(refused.to_string().contains("192.0.2.7 is not configured"), "{refused}");
        assert!(!lab.a.running(), "a tunnel that cannot work starts no daemon");

        // A local prefix no address of gw-a lies in: ensure() gives gw-a 10.9.0.1 on lo for it.
        ta.local_ts.push(net("10.9.0.0/24"));
        tb.remote_ts.push(net("10.9.0.0/24"));
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || both_connected(&lab)),
            "{:?} / {:?}",
            lab.a.status(),
            lab.b.status()
        );
        let lo = sh(&["ip", "-n", &lab.ns("gwa"), "-4", "addr", "show", "dev", "lo"]);
        assert!(lo.contains("10.9.0.1/32"), "{lo}");
        assert!(lab.ping("vma", "10.2.0.10"));

        lab.a.ensure(&[]).unwrap();
        assert_eq!(lab.a.status().unwrap(), BTreeMap::new());
        assert!(lab.a.list_sas().unwrap().is_empty());
        let closed = wait_for(
            Duration::from_secs(3),
            || matches!(status_of(&lab.b, "b-to-a"), Some(TunnelStatus::NotConnected { reason: Some(r) }) if r.contains("closed")),
        );
        assert!(closed, "{:?}", lab.b.status());
        assert!(!lab.ping("vma", "10.2.0.10"));
        let lo = sh(&["ip", "-n", &lab.ns("gwa"), "-4", "addr", "show", "dev", "lo"]);
        assert!(!lo.contains("10.9.0.1"), "no tunnel needs 10.9.0.1 anymore: {lo}");

        // A killed daemon leaves rule 220 behind; stop() removes it.
        let pid_b = lab.b.daemon_pid().unwrap();
        assert!(lab.rules("gwb").contains("lookup 220"));
        kill(Pid::from_raw(pid_b), Signal::SIGKILL).unwrap();
        assert!(wait_for(Duration::from_secs(2), || !process_alive(pid_b)));
        assert!(lab.rules("gwb").contains("lookup 220"), "SIGKILL leaves the rule");
        assert!(!lab.b.running());

        let pid_a = lab.a.daemon_pid().unwrap();
        for (gw, name, pid) in [(&lab.a, "gwa", pid_a), (&lab.b, "gwb", pid_b)] {
            gw.stop().unwrap();
            assert!(!gw.running());
            assert!(!process_alive(pid));
            assert!(!gw.dir.exists(), "{:?} removed", gw.dir);
            assert!(!lab.rules(name).contains("220"), "{}", lab.rules(name));
            let links = sh(&["ip", "-n", &lab.ns(name), "link", "show"]);
            assert!(!links.contains("ipsec0"), "{links}");
            assert_eq!(gw.status().unwrap(), BTreeMap::new());
            gw.stop().unwrap();
        }
    }

    #[test]
    fn keys_with_quotes_backslashes_and_spaces_work() {
        if !have_root("keys_with_quotes_backslashes_and_spaces_work") {
            return;
        }
        let lab = Lab::new("quote");
        let key = r#"a "quoted" key \ with \\ backslashes  and spaces "#;
        let (ta, tb) = lab.tunnels(key, key);
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || both_connected(&lab)),
            "{:?} / {:?}",
            lab.a.status(),
            lab.b.status()
        );
        assert!(lab.ping("vma", "10.2.0.10"));

        // A new key renegotiates the tunnel at once, as resetting an Azure connection does.
        let before = sa_identity(&lab.a);
        let key = r#"0x"\" 0s=="#;
        let (ta, tb) = lab.tunnels(key, key);
        lab.b.ensure(std::slice::from_ref(&tb)).unwrap();
        lab.a.ensure(std::slice::from_ref(&ta)).unwrap();
        assert!(
            wait_for(Duration::from_secs(5), || both_connected(&lab)),
            "{:?} / {:?}",
            lab.a.status(),
            lab.b.status()
        );
        assert_ne!(sa_identity(&lab.a), before, "the tunnel was renegotiated with the new key");
        assert!(lab.ping("vma", "10.2.0.10"));
    }
}
