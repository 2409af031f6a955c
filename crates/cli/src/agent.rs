//! The data plane's agent: one process per machine while the data plane is up. It lives in the
//! fabric namespace, so `vnetlab down` ends it with everything else, and it
//! - follows the lab's store: whichever process changed the lab (the API server, a CLI command,
//!   an SDK), the kernel is brought in step within milliseconds;
//! - serves what a VM expects of the platform: Azure DNS at 168.63.129.16, and an OpenSSH
//!   server on port 22 of every VM (started per connection, with the VM's own host key).
//!
//! `vnetlab up --dataplane` and `serve --dataplane` start it; a write command waits until the
//! agent has realized the revision the command committed, so that when the command returns the
//! packets already obey it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use vnetlab_dataplane::dns::{Resolver, Zones};
use vnetlab_dataplane::kernel::Netlink;
use vnetlab_dataplane::reconcile::Reconciler;
use vnetlab_dataplane::ssh::{self, Listeners, SshKeys, VmSsh};
use vnetlab_dataplane::{names, netns};
use vnetlab_store::Store;

use crate::dataplane::{RUN_DIR, Turn, desired, write_resolv_conf};

/// Held (flock) by the running agent; says its pid and the lab it follows.
const PID_FILE: &str = "agent.pid";
/// The last revision the agent realized: `REVISION ok REPORT` or `REVISION error MESSAGE`.
const APPLIED_FILE: &str = "applied";
/// What the agent prints.
const LOG_FILE: &str = "agent.log";
/// How often the agent looks at the store's revision.
const POLL: Duration = Duration::from_millis(5);
/// How long a new agent has to take its pid file.
const STARTING: Duration = Duration::from_secs(10);
/// How long a command waits for the agent to realize its change.
const CATCH_UP: Duration = Duration::from_secs(300);

fn run_path(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
}

/// The agent that runs, if any: its pid and the lab it follows.
fn running() -> Option<(i32, PathBuf)> {
    let mut file = File::open(run_path(PID_FILE)).ok()?;
    // SAFETY: a non-blocking flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        // Nobody holds it: no agent.
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let (pid, home) = text.split_once('\n')?;
    Some((pid.trim().parse().ok()?, PathBuf::from(home.trim_end_matches('\n'))))
}

/// Starts the agent for the lab at `home` unless it runs already, and waits until it has realized
/// the lab's current revision.
pub fn ensure(home: &Path, revision: u64) -> anyhow::Result<()> {
    let home = fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    match running() {
        Some((_, h)) if h == home => return wait(revision, Duration::ZERO),
        Some((pid, _)) => {
            // The data plane follows one lab: the one it was last brought up for.
            // SAFETY: a signal to a pid read from the agent's own pid file.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let started = Instant::now();
            while running().is_some() && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        None => {}
    }
    fs::create_dir_all(RUN_DIR)?;
    // What an earlier agent realized (of this lab or another) says nothing about this one.
    match fs::remove_file(run_path(APPLIED_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let fabric = File::open(Path::new("/run/netns").join(names::underlay()))
        .context("the data plane's underlay namespace is missing")?;
    let log = OpenOptions::new().create(true).append(true).open(run_path(LOG_FILE))?;
    let mut command = Command::new(std::env::current_exe().context("cannot find the vnetlab executable")?);
    command.arg("--home").arg(&home).arg("agent").stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let fd = fabric.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls (setsid, setns) on a descriptor
    // opened before the fork.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().context("cannot start the data plane's agent")?;
    drop(fabric);
    // Reaped when it ends, for a long-running parent (serve).
    std::thread::spawn(move || child.wait());
    wait(revision, STARTING)
}

/// Stops the agent (before the lab is emptied by `down`, so that it does not take the data
/// plane apart piece by piece first).
pub fn stop() {
    if let Some((pid, _)) = running() {
        // SAFETY: a signal to a pid read from the agent's own pid file.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let started = Instant::now();
        while running().is_some() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether the agent runs for the lab at `home`.
pub fn follows(home: &Path) -> bool {
    let home = fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    running().is_some_and(|(_, h)| h == home)
}

/// Waits until the agent has realized `revision` (or a later one), printing its report when it
/// changed anything; an agent that does not run yet is given `starting` to appear.
pub fn wait(revision: u64, starting: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(text) = fs::read_to_string(run_path(APPLIED_FILE)) {
            let mut parts = text.trim_end().splitn(3, ' ');
            let seen: Option<u64> = parts.next().and_then(|r| r.parse().ok());
            if seen.is_some_and(|r| r >= revision) {
                let status = parts.next().unwrap_or_default();
                let detail = parts.next().unwrap_or_default();
                if status == "error" {
                    return Err(anyhow!("data plane: {detail}"));
                }
                if seen == Some(revision) && !detail.is_empty() {
                    eprintln!("data plane: {detail}");
                }
                return Ok(());
            }
        }
        if started.elapsed() > starting && running().is_none() {
            return Err(anyhow!(
                "the data plane's agent is not running (see {}); `vnetlab up FILE --dataplane` starts it again",
                run_path(LOG_FILE).display()
            ));
        }
        if started.elapsed() > CATCH_UP {
            return Err(anyhow!("the data plane's agent has not realized revision {revision} yet"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn record(revision: u64, outcome: &str) {
    let path = run_path(APPLIED_FILE);
    let staged = run_path(".applied");
    // Replaced whole, so a reader never sees half a line.
    if fs::write(&staged, format!("{revision} {outcome}\n")).is_ok() {
        let _ = fs::rename(staged, path);
    }
}

/// The agent itself (`vnetlab agent`, started by `ensure`).
pub fn run(home: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(RUN_DIR)?;
    let mut pid_file =
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(run_path(PID_FILE))?;
    // SAFETY: a non-blocking flock on a descriptor owned here and kept open for the process's life.
    if unsafe { libc::flock(pid_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(anyhow!("another data plane agent runs"));
    }
    pid_file.set_len(0)?;
    pid_file.rewind()?;
    write!(pid_file, "{}\n{}\n", std::process::id(), home.display())?;
    let lab = vnetlab_control::Lab::open(home)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    println!("agent {} follows the lab at {}", std::process::id(), home.display());
    runtime.block_on(Agent::new(lab, home).run())
}

struct Agent {
    lab: vnetlab_control::Lab,
    reconciler: Reconciler,
    /// The store revision realized last, and the reconcile generation this agent wrote.
    revision: Option<u64>,
    generation: Option<u64>,
    /// Azure DNS of each fabric: its zones, and the resolver serving them.
    dns: BTreeMap<String, (Arc<RwLock<Zones>>, Resolver)>,
    /// Where the lab keeps its SSH keys (VM host keys survive the data plane).
    ssh_dir: PathBuf,
    ssh: Option<Ssh>,
}

/// The SSH servers of the VMs.
struct Ssh {
    keys: SshKeys,
    listeners: Listeners,
    vms: BTreeMap<String, VmSsh>,
}

/// How many VMs get their SSH files at once (each runs ssh-keygen and `sshd -t`).
const SSH_PARALLEL: usize = 4;

impl Agent {
    fn new(lab: vnetlab_control::Lab, home: &Path) -> Agent {
        Agent {
            ssh_dir: home.join("ssh"),
            ssh: None,
            lab,
            reconciler: Reconciler::new(),
            revision: None,
            generation: None,
            dns: BTreeMap::new(),
        }
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let underlay = names::underlay();
        loop {
            if !netns::exists(&underlay) {
                println!("the data plane is down: agent {} ends", std::process::id());
                return Ok(());
            }
            let now = self.lab.store().revision()?;
            if self.revision != Some(now) {
                match self.step().await {
                    Ok(()) => {}
                    Err(e) => {
                        // Reported to whoever waits for this revision; tried again in a second.
                        eprintln!("data plane: {e:#}");
                        record(now, &format!("error {e:#}"));
                        self.reconciler = Reconciler::new();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn step(&mut self) -> anyhow::Result<()> {
        let (revision, want) = self.lab.read(|s| (s.revision(), desired(s)))?;
        let turn = tokio::task::spawn_blocking(Turn::take).await??;
        let started = Instant::now();
        let report = if turn.generation() != self.generation {
            // Someone else reconciled since (or this agent just started): what it wrote is
            // trusted when it realized this very revision, else everything is read again.
            self.reconciler = Reconciler::new();
            if turn.revision() == Some(revision) {
                self.reconciler.adopt(&want);
                None
            } else {
                Some(self.reconciler.apply(&want, &()).await)
            }
        } else {
            Some(self.reconciler.apply(&want, &()).await)
        };
        let report = match report {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                turn.finish(None)?;
                return Err(e.into());
            }
            None => None,
        };
        self.generation = Some(turn.finish(Some(revision))?);
        drop(turn);
        let elapsed = started.elapsed();
        write_resolv_conf(&want)?;
        self.serve_dns(&want).await?;
        self.serve_ssh(&want).await?;
        let text = match &report {
            Some(r) if !r.is_empty() => {
                let text = format!("{r} in {:.1} ms", elapsed.as_secs_f64() * 1000.0);
                println!("revision {revision}: {text}");
                text
            }
            _ => String::new(),
        };
        record(revision, &format!("ok {text}"));
        self.revision = Some(revision);
        Ok(())
    }

    /// An SSH server in every VM: the files of VMs new since the last step, and the listeners.
    async fn serve_ssh(&mut self, want: &vnetlab_dataplane::desired::Desired) -> anyhow::Result<()> {
        if self.ssh.is_none() {
            let dir = self.ssh_dir.join("lab");
            let keys = tokio::task::spawn_blocking(move || SshKeys::ensure(&dir))
                .await?
                .context("cannot make the lab's SSH keys")?;
            self.ssh = Some(Ssh { keys, listeners: Listeners::new(), vms: BTreeMap::new() });
        }
        let Some(ssh) = self.ssh.as_mut() else { return Ok(()) };
        let gone: Vec<String> = ssh.vms.keys().filter(|ns| !want.machines.contains_key(*ns)).cloned().collect();
        for ns in gone {
            if let Some(vm) = ssh.vms.remove(&ns) {
                tokio::task::spawn_blocking(move || ssh::forget_vm(&vm.namespace, &vm.dir)).await?;
            }
        }
        let new: Vec<String> = want.machines.keys().filter(|ns| !ssh.vms.contains_key(*ns)).cloned().collect();
        for chunk in new.chunks(SSH_PARALLEL) {
            let mut tasks = Vec::new();
            for ns in chunk {
                let (keys, ns, dir) = (ssh.keys.clone(), ns.clone(), self.ssh_dir.join(ns));
                tasks.push(tokio::task::spawn_blocking(move || ssh::prepare_vm(&keys, &ns, &dir)));
            }
            for task in tasks {
                let vm = task.await?.context("cannot prepare a VM's SSH server")?;
                ssh.vms.insert(vm.namespace.clone(), vm);
            }
        }
        for (ns, e) in ssh.listeners.set(&ssh.vms).await {
            eprintln!("no SSH server in {ns}: {e}");
        }
        Ok(())
    }

    /// Azure DNS: the names of each VNet, for the VMs of that VNet only; a resolver in every
    /// fabric.
    async fn serve_dns(&mut self, want: &vnetlab_dataplane::desired::Desired) -> anyhow::Result<()> {
        self.dns.retain(|ns, _| want.fabrics.contains_key(ns));
        for fabric in want.fabrics.values() {
            let nl = Netlink::open(&fabric.namespace)?;
            let index: std::collections::HashMap<String, u32> =
                nl.links().await?.into_iter().map(|l| (l.name, l.index)).collect();
            let zones = Zones::of(want, fabric, |port| index.get(port).copied());
            match self.dns.get(&fabric.namespace) {
                Some((current, _)) => *current.write().unwrap_or_else(|e| e.into_inner()) = zones,
                None => {
                    let current = Arc::new(RwLock::new(zones));
                    let resolver = Resolver::spawn(&fabric.namespace, current.clone())
                        .context("cannot serve Azure DNS at 168.63.129.16")?;
                    self.dns.insert(fabric.namespace.clone(), (current, resolver));
                }
            }
        }
        Ok(())
    }
}
