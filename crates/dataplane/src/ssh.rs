//! SSH into emulated VMs.
//!
//! Every VM is a network namespace. To make `ssh <private ip>` work from one VM
//! to another without keeping an `sshd` process per idle VM, this module:
//!
//! * holds one listening TCP socket on `0.0.0.0:22` inside each VM namespace
//!   (created on a short-lived thread that `setns()`s into the namespace, then
//!   driven by tokio on the ordinary worker threads);
//! * on each accepted connection starts the real OpenSSH server in inetd mode
//!   (`/usr/sbin/sshd -i -e -f <vm>/sshd_config`) with the connection as its
//!   stdin/stdout. Before `exec` the child enters the VM the same way
//!   `ip netns exec <vm>` would: it joins the VM's network namespace, gets a
//!   private mount namespace with a fresh `/sys`, and has every entry of
//!   `/etc/netns/<vm>/` bind-mounted over `/etc/<entry>`. The remote shell or
//!   command therefore runs "inside" the target VM (its interfaces, its routes,
//!   its `resolv.conf`, its ssh client settings for a further hop);
//! * gives each VM its own ed25519 host key and `sshd_config`, and writes
//!   `/etc/netns/<vm>/ssh/ssh_config` so that `ip netns exec <vm> ssh <ip>`
//!   logs in as root with a lab-wide client key, accepts a new host key once
//!   and remembers it in a per-VM known_hosts file, without prompts.
//!
//! Costs: an idle VM costs one listening socket (one fd) and one small tokio
//! task; the namespace of an accepted connection is taken from the socket
//! itself (`SIOCGSKNS`), so no namespace fd is kept. Closing a listener (VM
//! gone from [`Listeners::set`]) ends its sessions: SIGTERM to sshd and to
//! every process under it, SIGKILL after a grace period.
//!
//! Requirements: root; OpenSSH server and client (`/usr/sbin/sshd`,
//! `/usr/bin/ssh-keygen`, the `sshd` privilege-separation user, and an
//! existing `/etc/ssh` for the client config to be bind-mounted over). The
//! server runs with `UsePAM no`, so the login user (root) must not have a
//! locked password (`!` prefix in /etc/shadow; `*` is fine).
//!
//! Typical use:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::collections::BTreeMap;
//! use std::path::Path;
//! use vnetlab_dataplane::ssh::{prepare_vm, Listeners, SshKeys};
//!
//! let keys = SshKeys::ensure(Path::new("/run/vnetlab/ssh/lab"))?;
//! let mut vms = BTreeMap::new();
//! for ns in ["vl-sales", "vl-marketing"] {
//!     let dir = Path::new("/run/vnetlab/ssh").join(ns);
//!     vms.insert(ns.to_string(), prepare_vm(&keys, ns, &dir)?);
//! }
//! let mut listeners = Listeners::new();
//! for (ns, err) in listeners.set(&vms).await {
//!     eprintln!("no ssh listener for {ns}: {err}");
//! }
//! // ... later, when the VM set changes: listeners.set(&new_vms).await
//! listeners.stop().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The OpenSSH server binary started (in inetd mode) for each connection.
pub const SSHD: &str = "/usr/sbin/sshd";
/// The key generator used for the lab key and the host keys.
pub const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
/// The TCP port listened on inside every VM namespace.
pub const SSH_PORT: u16 = 22;

/// Where `ip netns add` pins named namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";
/// Per-namespace files that `ip netns exec` bind-mounts over `/etc`.
const NETNS_ETC_DIR: &str = "/etc/netns";
/// sshd's privilege-separation chroot; sshd refuses to start without it.
const PRIVSEP_DIR: &str = "/run/sshd";
/// How long a session's processes get to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// Connections served at once per VM; further ones are closed at once (sshd's
/// own MaxStartups does not apply in inetd mode).
pub const MAX_SESSIONS_PER_VM: usize = 64;
/// Pause after a failing `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

const HOST_KEY: &str = "ssh_host_ed25519_key";
const SSHD_CONFIG: &str = "sshd_config";
const KNOWN_HOSTS: &str = "known_hosts";
const SSHD_LOG: &str = "sshd.log";

/// The lab-wide client key pair and the `authorized_keys` every VM's sshd
/// accepts. One per lab; all VMs share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeys {
    /// Directory holding the files below.
    pub dir: PathBuf,
    /// ed25519 private key (`id_ed25519`, mode 0600) used by `ssh` in every VM.
    pub private_key: PathBuf,
    /// Its public half (`id_ed25519.pub`).
    pub public_key: PathBuf,
    /// `authorized_keys`: the public key, read by every VM's sshd.
    pub authorized_keys: PathBuf,
}

impl SshKeys {
    /// Creates `dir`, generates the key pair unless it already exists (so a
    /// persistent `dir` keeps its key), rewrites `authorized_keys` from the
    /// public key when needed, and creates sshd's privilege-separation
    /// directory.
    pub fn ensure(dir: &Path) -> io::Result<SshKeys> {
        make_dir(dir, 0o755)?;
        let private_key = dir.join("id_ed25519");
        ensure_key(&private_key, "vnetlab-lab")?;
        let public_key = public_half(&private_key);
        let public = fs::read_to_string(&public_key)
            .map_err(|e| annotate(e, format!("cannot read {}", public_key.display())))?;
        let authorized_keys = dir.join("authorized_keys");
        write_if_changed(&authorized_keys, public.as_bytes(), 0o644)?;
        ensure_privsep_dir()?;
        Ok(SshKeys { dir: dir.to_path_buf(), private_key, public_key, authorized_keys })
    }
}

/// The ssh files of one VM, as written by [`prepare_vm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSsh {
    /// The VM's network namespace (its name under `/run/netns`).
    pub namespace: String,
    /// Directory of the VM's server-side files.
    pub dir: PathBuf,
    /// The VM's ed25519 host key (private half; `.pub` next to it).
    pub host_key: PathBuf,
    /// The `sshd_config` passed to `sshd -i -f`.
    pub sshd_config: PathBuf,
    /// known_hosts used by `ssh` run inside this VM.
    pub known_hosts: PathBuf,
    /// Log of this VM's sshd (`sshd -e` writes to it).
    pub log: PathBuf,
    /// `/etc/netns/<namespace>/ssh/ssh_config`: the client settings seen by
    /// `ip netns exec <namespace> ssh`.
    pub client_config: PathBuf,
}

/// Writes the server and client files of the VM whose namespace is
/// `namespace`: a host key in `dir` (generated once, kept when present), an
/// `sshd_config` (checked with `sshd -t` whenever it is rewritten), and
/// `/etc/netns/<namespace>/ssh/ssh_config`. Other entries of
/// `/etc/netns/<namespace>/` are left alone. The namespace itself need not
/// exist yet.
pub fn prepare_vm(keys: &SshKeys, namespace: &str, dir: &Path) -> io::Result<VmSsh> {
    check_namespace_name(namespace)?;
    make_dir(dir, 0o755)?;
    let vm = VmSsh {
        namespace: namespace.to_string(),
        dir: dir.to_path_buf(),
        host_key: dir.join(HOST_KEY),
        sshd_config: dir.join(SSHD_CONFIG),
        known_hosts: dir.join(KNOWN_HOSTS),
        log: dir.join(SSHD_LOG),
        client_config: Path::new(NETNS_ETC_DIR).join(namespace).join("ssh").join("ssh_config"),
    };
    let server = sshd_config(keys, &vm)?;
    let client = ssh_config(keys, &vm)?;
    ensure_key(&vm.host_key, &format!("root@{namespace}"))?;
    ensure_privsep_dir()?;
    write_checked(&vm.sshd_config, server.as_bytes(), 0o644, check_sshd_config)?;
    if let Some(ssh_dir) = vm.client_config.parent() {
        make_dir(ssh_dir, 0o755)?;
    }
    write_checked(&vm.client_config, client.as_bytes(), 0o644, |_| Ok(()))?;
    Ok(vm)
}

/// Removes what [`prepare_vm`] wrote for `namespace` (host key, sshd_config,
/// known_hosts, log, then `dir` if it is empty; `/etc/netns/<namespace>/ssh`,
/// then `/etc/netns/<namespace>` if it is empty). Best effort: missing files
/// are fine, and files this module did not write are kept.
pub fn forget_vm(namespace: &str, dir: &Path) {
    for name in [
        HOST_KEY.to_string(),
        format!("{HOST_KEY}.pub"),
        format!("{HOST_KEY}.new"),
        format!("{HOST_KEY}.new.pub"),
        SSHD_CONFIG.to_string(),
        format!("{SSHD_CONFIG}.new"),
        KNOWN_HOSTS.to_string(),
        format!("{KNOWN_HOSTS}.old"),
        SSHD_LOG.to_string(),
    ] {
        let _ = fs::remove_file(dir.join(name));
    }
    let _ = fs::remove_dir(dir);
    if check_namespace_name(namespace).is_ok() {
        let etc = Path::new(NETNS_ETC_DIR).join(namespace);
        let _ = fs::remove_file(etc.join("ssh").join("ssh_config"));
        let _ = fs::remove_file(etc.join("ssh").join("ssh_config.new"));
        let _ = fs::remove_dir(etc.join("ssh"));
        let _ = fs::remove_dir(&etc);
    }
}

/// The server configuration of one VM.
fn sshd_config(keys: &SshKeys, vm: &VmSsh) -> io::Result<String> {
    Ok(format!(
        "# Written by vnetlab: sshd for VM namespace {ns}, run as `sshd -i` per connection.\n\
         HostKey {host_key}\n\
         PidFile none\n\
         AuthorizedKeysFile {authorized_keys}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         UseDNS no\n\
         StrictModes no\n\
         PrintMotd no\n\
         X11Forwarding no\n\
         LogLevel INFO\n\
         Subsystem sftp internal-sftp\n",
        ns = vm.namespace,
        host_key = config_path(&vm.host_key)?,
        authorized_keys = config_path(&keys.authorized_keys)?,
    ))
}

/// The client configuration seen by `ip netns exec <vm> ssh`.
fn ssh_config(keys: &SshKeys, vm: &VmSsh) -> io::Result<String> {
    Ok(format!(
        "# Written by vnetlab: ssh client settings inside VM namespace {ns}.\n\
         Host *\n\
         \x20   User root\n\
         \x20   IdentityFile {identity}\n\
         \x20   IdentitiesOnly yes\n\
         \x20   StrictHostKeyChecking accept-new\n\
         \x20   UserKnownHostsFile {known_hosts}\n\
         \x20   GlobalKnownHostsFile /dev/null\n\
         \x20   HashKnownHosts no\n\
         \x20   UpdateHostKeys no\n\
         \x20   PasswordAuthentication no\n\
         \x20   KbdInteractiveAuthentication no\n\
         \x20   LogLevel ERROR\n",
        ns = vm.namespace,
        identity = config_path(&keys.private_key)?,
        known_hosts = config_path(&vm.known_hosts)?,
    ))
}

/// A path as written into an ssh or sshd config. Paths that would need
/// quoting or escaping there (blanks, quotes, `%` tokens, `#`, `~`, control
/// characters) are refused rather than escaped.
fn config_path(path: &Path) -> io::Result<&str> {
    path.to_str()
        .filter(|p| {
            p.starts_with('/') && !p.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'\\%#~".contains(c))
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("path {} cannot be used in an ssh config (absolute, plain characters only)", path.display()),
            )
        })
}

/// Runs `sshd -t -f config`.
fn check_sshd_config(config: &Path) -> io::Result<()> {
    let mut cmd = StdCommand::new(SSHD);
    cmd.arg("-t").arg("-f").arg(config);
    run_tool(&mut cmd).map(drop)
}

/// Generates an ed25519 key at `path` (and `path.pub`) unless it exists.
/// A missing public half is derived again; a private key readable by others is
/// made 0600 (ssh and sshd ignore it otherwise).
fn ensure_key(path: &Path, comment: &str) -> io::Result<()> {
    let public = public_half(path);
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            if !public.exists() {
                let mut cmd = StdCommand::new(SSH_KEYGEN);
                cmd.arg("-y").arg("-f").arg(path);
                let derived = run_tool(&mut cmd)?;
                write_if_changed(&public, &derived, 0o644)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Generate under a temporary name and rename the private half
            // last, so an existing private key always has its public half.
            let tmp = path.with_file_name(format!("{}.new", file_name(path)));
            let tmp_public = public_half(&tmp);
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&tmp_public);
            let mut cmd = StdCommand::new(SSH_KEYGEN);
            cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"]).arg(&tmp);
            run_tool(&mut cmd)?;
            fs::rename(&tmp_public, &public)
                .and_then(|()| fs::rename(&tmp, path))
                .map_err(|e| annotate(e, format!("cannot install key {}", path.display())))
        }
        Err(e) => Err(annotate(e, format!("cannot stat {}", path.display()))),
    }
}

fn public_half(private: &Path) -> PathBuf {
    private.with_file_name(format!("{}.pub", file_name(private)))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Runs a helper program; a non-zero exit becomes an error carrying its
/// stderr. Returns its stdout.
fn run_tool(cmd: &mut StdCommand) -> io::Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| annotate(e, format!("cannot run {shown}")))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(io::Error::other(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Creates sshd's privilege-separation directory (root-owned, not writable by
/// others, as sshd demands).
fn ensure_privsep_dir() -> io::Result<()> {
    make_dir(Path::new(PRIVSEP_DIR), 0o755)?;
    let meta = fs::metadata(PRIVSEP_DIR)?;
    if meta.mode() & 0o022 != 0 {
        fs::set_permissions(PRIVSEP_DIR, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn make_dir(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| annotate(e, format!("cannot create {}", dir.display())))
}

/// Atomically replaces `path` with `content` unless it already holds exactly
/// that.
fn write_if_changed(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    write_checked(path, content, mode, |_| Ok(()))
}

/// Like [`write_if_changed`], but `check` must accept the new file (written
/// next to `path`) before it replaces `path`.
fn write_checked(
    path: &Path,
    content: &[u8],
    mode: u32,
    check: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    if fs::read(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let tmp = path.with_file_name(format!("{}.new", file_name(path)));
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(content)
    };
    write().map_err(|e| annotate(e, format!("cannot write {}", tmp.display())))?;
    if let Err(e) = check(&tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).map_err(|e| annotate(e, format!("cannot write {}", path.display())))
}

fn check_namespace_name(namespace: &str) -> io::Result<()> {
    if namespace.is_empty()
        || namespace == "."
        || namespace == ".."
        || namespace.contains('/')
        || namespace.contains('\0')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid network namespace name {namespace:?}"),
        ));
    }
    Ok(())
}

fn annotate(e: io::Error, context: String) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// The SSH listeners, one per VM namespace. Create with [`Listeners::new`]
/// inside a tokio runtime, keep in sync with [`Listeners::set`], end with
/// [`Listeners::stop`]. Dropping it without `stop` also closes the listeners
/// and terminates the sessions, in the background.
#[derive(Default)]
pub struct Listeners {
    active: BTreeMap<String, Listener>,
}

/// One namespace's listener: an accept task plus the sessions it started.
struct Listener {
    /// (st_dev, st_ino) of the namespace it listens in.
    identity: (u64, u64),
    /// Settings for the next connections; `set` updates them in place.
    vm: Arc<Mutex<VmSsh>>,
    /// `true` closes the listener and terminates its sessions.
    shutdown: watch::Sender<bool>,
    /// The accept loop; it ends soon after `shutdown`.
    task: JoinHandle<()>,
    /// Yields `None` once the accept loop and all its sessions have ended.
    finished: mpsc::Receiver<()>,
}

impl Listener {
    /// Tells the accept loop to close the socket and the sessions to end.
    /// Returns the accept loop (the socket is closed once it has ended) and
    /// what yields `None` once the sessions have ended too.
    fn close(self) -> (JoinHandle<()>, mpsc::Receiver<()>) {
        let _ = self.shutdown.send(true);
        (self.task, self.finished)
    }
}

impl Listeners {
    /// No listeners yet.
    pub fn new() -> Listeners {
        Listeners::default()
    }

    /// Namespaces currently listened in.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.active.keys().map(String::as_str)
    }

    /// Makes the listeners match `vms` (keyed by namespace): opens one for each
    /// new namespace, closes those whose namespace is no longer listed,
    /// vanished or was replaced by a new namespace of the same name, and
    /// applies changed settings to the next connections of the others. When a
    /// listener closes, its ongoing sessions are terminated (SIGTERM to their
    /// sshd, SIGKILL after a grace period) in the background.
    ///
    /// Returns the namespaces that could not get a listener, with why (for
    /// example a namespace that does not exist); the others are unaffected.
    pub async fn set(&mut self, vms: &BTreeMap<String, VmSsh>) -> Vec<(String, io::Error)> {
        let mut failed = Vec::new();
        let mut closing = Vec::new();
        let current: Vec<String> = self.active.keys().cloned().collect();
        for ns in current {
            let keep = match (vms.get(&ns), self.active.get(&ns)) {
                (Some(vm), Some(listener))
                    if vm.namespace == ns && namespace_identity(&ns).is_ok_and(|id| id == listener.identity) =>
                {
                    let mut settings = lock(&listener.vm);
                    if *settings != *vm {
                        *settings = vm.clone();
                    }
                    true
                }
                _ => false,
            };
            if !keep && let Some(listener) = self.active.remove(&ns) {
                closing.push(listener.close());
            }
        }
        // Wait until the sockets are closed (so the port can be bound again
        // at once); sessions end in the background.
        for (task, _) in closing {
            let _ = task.await;
        }

        let mut opened = Vec::new();
        for (ns, vm) in vms {
            if self.active.contains_key(ns) {
                continue;
            }
            if *ns != vm.namespace {
                failed.push((
                    ns.clone(),
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("key {ns:?} names VM settings of namespace {:?}", vm.namespace),
                    ),
                ));
                continue;
            }
            match open_namespace(ns) {
                Ok((fd, identity)) => opened.push((vm.clone(), fd, identity)),
                Err(e) => failed.push((ns.clone(), e)),
            }
        }
        if opened.is_empty() {
            return failed;
        }

        let mut fds = Vec::with_capacity(opened.len());
        let mut pending = Vec::with_capacity(opened.len());
        for (vm, fd, identity) in opened {
            fds.push(fd);
            pending.push((vm, identity));
        }
        let bound = match bind_in_namespaces(fds).await {
            Ok(bound) => bound,
            Err(e) => {
                for (vm, _) in pending {
                    failed.push((vm.namespace, io::Error::new(e.kind(), e.to_string())));
                }
                return failed;
            }
        };
        for ((vm, identity), result) in pending.into_iter().zip(bound) {
            let listener = result.and_then(|std_listener| {
                std_listener.set_nonblocking(true)?;
                TcpListener::from_std(std_listener)
            });
            match listener {
                Ok(listener) => {
                    let ns = vm.namespace.clone();
                    self.active.insert(ns, start_listener(listener, vm, identity));
                }
                Err(e) => failed.push((
                    vm.namespace.clone(),
                    annotate(e, format!("cannot listen on port {SSH_PORT} in namespace {}", vm.namespace)),
                )),
            }
        }
        failed
    }

    /// Closes every listener, terminates every session and waits until all
    /// their sshd processes have exited and been reaped.
    pub async fn stop(mut self) {
        let active = std::mem::take(&mut self.active);
        let closing: Vec<_> = active.into_values().map(Listener::close).collect();
        for (task, mut finished) in closing {
            let _ = task.await;
            while finished.recv().await.is_some() {}
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for listener in self.active.values() {
            let _ = listener.shutdown.send(true);
        }
    }
}

/// Resolves once shutdown is requested (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn lock(vm: &Mutex<VmSsh>) -> std::sync::MutexGuard<'_, VmSsh> {
    vm.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// (st_dev, st_ino) of the namespace pinned at `/run/netns/<ns>`.
fn namespace_identity(ns: &str) -> io::Result<(u64, u64)> {
    let meta = fs::metadata(Path::new(NETNS_RUN_DIR).join(ns))?;
    Ok((meta.dev(), meta.ino()))
}

/// Opens `/run/netns/<ns>` (close-on-exec), with its identity.
fn open_namespace(ns: &str) -> io::Result<(OwnedFd, (u64, u64))> {
    check_namespace_name(ns)?;
    let path = Path::new(NETNS_RUN_DIR).join(ns);
    let file = fs::File::open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(e.kind(), format!("network namespace {ns} does not exist"))
        } else {
            annotate(e, format!("cannot open {}", path.display()))
        }
    })?;
    let meta = file.metadata()?;
    Ok((OwnedFd::from(file), (meta.dev(), meta.ino())))
}

/// Binds `0.0.0.0:22` in each namespace, on a dedicated thread that `setns()`s
/// from one namespace to the next and then exits (tokio's threads, including
/// its blocking pool, never change namespace).
async fn bind_in_namespaces(fds: Vec<OwnedFd>) -> io::Result<Vec<io::Result<std::net::TcpListener>>> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("vnetlab-ssh-bind".into())
        .spawn(move || {
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, SSH_PORT));
            let results = fds
                .iter()
                .map(|fd| {
                    setns(fd, CloneFlags::CLONE_NEWNET).map_err(|e| {
                        io::Error::new(io::Error::from(e).kind(), format!("setns into network namespace failed: {e}"))
                    })?;
                    // std sets SO_REUSEADDR and SOCK_CLOEXEC: sshd children do
                    // not inherit the listener, and a closed listener's port
                    // can be bound again at once.
                    std::net::TcpListener::bind(addr)
                })
                .collect();
            let _ = tx.send(results);
        })
        .map_err(|e| annotate(e, "cannot start namespace thread".into()))?;
    rx.await.map_err(|_| io::Error::other("namespace thread ended without an answer"))
}

fn start_listener(listener: TcpListener, vm: VmSsh, identity: (u64, u64)) -> Listener {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (finished_tx, finished) = mpsc::channel(1);
    let vm = Arc::new(Mutex::new(vm));
    let task = tokio::spawn(accept_loop(listener, vm.clone(), shutdown_rx, finished_tx));
    Listener { identity, vm, shutdown, task, finished }
}

/// Accepts connections until shutdown; each gets its own sshd.
/// `finished` is held (and cloned into each session) only to signal, by being
/// dropped, that everything has ended.
async fn accept_loop(
    listener: TcpListener,
    vm: Arc<Mutex<VmSsh>>,
    mut shutdown: watch::Receiver<bool>,
    finished: mpsc::Sender<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS_PER_VM));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, _peer)) => {
                // Over the limit: dropping the stream closes the connection.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let settings = lock(&vm).clone();
                let shutdown = shutdown.clone();
                let finished = finished.clone();
                tokio::spawn(async move {
                    session(stream, settings, shutdown).await;
                    drop((slot, finished));
                });
            }
            Err(_) => {
                // Typically EMFILE/ENFILE or an aborted handshake: back off
                // briefly instead of spinning.
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = stopped(&mut shutdown) => return,
                }
            }
        }
    }
}

/// Runs one connection's sshd to completion, or terminates it on shutdown.
async fn session(stream: tokio::net::TcpStream, vm: VmSsh, mut shutdown: watch::Receiver<bool>) {
    let mut child = match spawn_sshd(stream, &vm) {
        Ok(child) => child,
        Err(e) => {
            log_line(&vm, &format!("vnetlab: cannot start {SSHD}: {e}"));
            return;
        }
    };
    tokio::select! {
        _ = child.wait() => {}
        _ = stopped(&mut shutdown) => terminate(&mut child).await,
    }
}

/// Ends a session: SIGTERM to its sshd and to every process started under
/// it (a command run without a pty, such as `ssh vm sleep 1000`, would
/// otherwise outlive sshd and keep the VM's namespace alive); SIGKILL to
/// whatever is left after [`TERM_GRACE`]. Reaps sshd (the others are not our
/// children).
async fn terminate(child: &mut Child) {
    let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
        let _ = child.wait().await;
        return;
    };
    let tree = descendants(pid);
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    signal_if_same(&tree, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + TERM_GRACE;
    if tokio::time::timeout_at(deadline, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    while tree.iter().any(|&(p, start)| alive_since(p, start)) {
        if tokio::time::Instant::now() >= deadline {
            signal_if_same(&tree, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` to each (pid, start time) that still names the same process.
fn signal_if_same(processes: &[(i32, u64)], signal: Signal) {
    for &(pid, start) in processes {
        if alive_since(pid, start) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

/// Whether `pid` is the process that started at `start` and is not a zombie.
fn alive_since(pid: i32, start: u64) -> bool {
    proc_stat(pid).is_some_and(|(state, _, started)| started == start && state != 'Z')
}

/// All processes descended from `root`, with their start times (so that a
/// reused pid is never signalled).
fn descendants(root: i32) -> Vec<(i32, u64)> {
    let mut table = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((_, ppid, start)) = proc_stat(pid) {
                table.push((pid, ppid, start));
            }
        }
    }
    let mut found = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for &(pid, ppid, start) in &table {
            if ppid == parent && !found.iter().any(|&(p, _)| p == pid) {
                found.push((pid, start));
                parents.push(pid);
            }
        }
    }
    found
}

/// (state, parent pid, start time) from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(char, i32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ..."; comm may contain anything, so split after
    // the last ')'. starttime is field 22, i.e. the 20th after comm.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

fn log_line(vm: &VmSsh, line: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).mode(0o600).open(&vm.log) {
        let _ = writeln!(file, "{line}");
    }
}

/// Starts `sshd -i` for one accepted connection, inside the VM.
fn spawn_sshd(stream: tokio::net::TcpStream, vm: &VmSsh) -> io::Result<Child> {
    // sshd gets a blocking socket, as from inetd.
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    // The connection belongs to the namespace its listener was created in,
    // so no namespace fd has to be kept open per listener.
    let netns = socket_namespace(&stream)?;
    let output = stream.try_clone()?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&vm.log)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let enter = EnterVm::new(netns.as_raw_fd(), &vm.namespace);
    let mut cmd = Command::new(SSHD);
    cmd.arg("-i")
        .arg("-e")
        .arg("-f")
        .arg(&vm.sshd_config)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(stream)))
        .stdout(Stdio::from(OwnedFd::from(output)))
        .stderr(log)
        .kill_on_drop(false);
    // SAFETY: the closure only makes raw system calls (setns, unshare, mount,
    // umount2) on data prepared before fork: it does not allocate or lock,
    // so it is async-signal-safe. The namespace fd stays open until spawn
    // returns, because `netns` lives until the end of this function.
    unsafe {
        cmd.pre_exec(move || enter.enter());
    }
    let child = cmd.spawn();
    drop(netns);
    child
}

/// A new (close-on-exec) fd for the network namespace of a socket
/// (`SIOCGSKNS`, Linux 4.9+).
fn socket_namespace(socket: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGSKNS as _) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(annotate(e, "SIOCGSKNS on the connection failed".into()));
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What the sshd child does between fork and exec to enter a VM, mirroring
/// `ip netns exec`. Everything is prepared before fork.
struct EnterVm {
    netns: RawFd,
    /// (source, target) bind mounts: `/etc/netns/<ns>/<e>` over `/etc/<e>`.
    binds: Vec<(CString, CString)>,
}

impl EnterVm {
    fn new(netns: RawFd, namespace: &str) -> EnterVm {
        let etc = Path::new(NETNS_ETC_DIR).join(namespace);
        let mut binds = Vec::new();
        if let Ok(entries) = fs::read_dir(&etc) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let source = CString::new(etc.join(&name).as_os_str().as_bytes());
                let target = CString::new(Path::new("/etc").join(&name).as_os_str().as_bytes());
                if let (Ok(source), Ok(target)) = (source, target) {
                    binds.push((source, target));
                }
            }
        }
        EnterVm { netns, binds }
    }

    /// Runs in the forked child: only async-signal-safe system calls.
    fn enter(&self) -> io::Result<()> {
        // SAFETY: plain system calls on valid NUL-terminated strings.
        unsafe {
            if libc::setns(self.netns, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Keep our mounts from propagating back to the host.
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // A sysfs mounted now shows the VM's interfaces; best effort,
            // as with `ip netns exec`.
            libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH);
            libc::mount(c"sysfs".as_ptr(), c"/sys".as_ptr(), c"sysfs".as_ptr(), 0, std::ptr::null());
            for (source, target) in &self.binds {
                libc::mount(source.as_ptr(), target.as_ptr(), c"none".as_ptr(), libc::MS_BIND, std::ptr::null());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (SshKeys, VmSsh) {
        let keys = SshKeys {
            dir: "/lab".into(),
            private_key: "/lab/id_ed25519".into(),
            public_key: "/lab/id_ed25519.pub".into(),
            authorized_keys: "/lab/authorized_keys".into(),
        };
        let vm = VmSsh {
            namespace: "vl-a".into(),
            dir: "/vm".into(),
            host_key: "/vm/ssh_host_ed25519_key".into(),
            sshd_config: "/vm/sshd_config".into(),
            known_hosts: "/vm/known_hosts".into(),
            log: "/vm/sshd.log".into(),
            client_config: "/etc/netns/vl-a/ssh/ssh_config".into(),
        };
        (keys, vm)
    }

    #[test]
    fn configs_name_the_right_files() {
        let (keys, vm) = sample();
        let server = sshd_config(&keys, &vm).expect("plain paths");
        assert!(server.contains("\nHostKey /vm/ssh_host_ed25519_key\n"));
        assert!(server.contains("\nAuthorizedKeysFile /lab/authorized_keys\n"));
        assert!(server.contains("\nPidFile none\n"));
        let client = ssh_config(&keys, &vm).expect("plain paths");
        assert!(client.contains("\n    IdentityFile /lab/id_ed25519\n"));
        assert!(client.contains("\n    UserKnownHostsFile /vm/known_hosts\n"));
        assert!(client.contains("\n    StrictHostKeyChecking accept-new\n"));
    }

    #[test]
    fn odd_paths_are_refused() {
        for bad in ["relative", "/a b", "/a%u", "/a\"b", "/a#b", "/~a"] {
            assert!(config_path(Path::new(bad)).is_err(), "{bad:?}");
        }
        assert!(config_path(Path::new("/run/vnetlab/ssh/vl-a_1.x")).is_ok());
    }

    #[test]
    fn namespace_names_are_checked() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(check_namespace_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_namespace_name("vl-sales").is_ok());
    }
}
