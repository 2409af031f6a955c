//! Named network namespaces, made and entered without `fork()`: the daemon is a multi-threaded
//! tokio process, so a namespace is created by a throw-away thread that `unshare`s and whose
//! namespace is then bind-mounted on `/run/netns/NAME` (what `ip netns add` does, so `ip netns`
//! sees the same names). Work inside a namespace runs on a thread that `setns`'d into it; a
//! socket keeps the namespace of the thread that opened it.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

/// Where named namespaces are mounted.
pub const RUN_NETNS: &str = "/run/netns";

pub fn path(name: &str) -> PathBuf {
    Path::new(RUN_NETNS).join(name)
}

fn to_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Whether `name` is a mounted namespace (a plain file left by an interrupted create is not).
pub fn exists(name: &str) -> bool {
    let p = path(name);
    let (Ok(file), Ok(parent)) = (fs::metadata(&p), fs::metadata(RUN_NETNS)) else {
        return false;
    };
    // A bind-mounted nsfs inode lives on another device than the directory.
    file.dev() != parent.dev()
}

/// `/run/netns` as `ip netns` sets it up: a shared mount, so namespaces mounted there show in
/// mount namespaces made later (such as `ip netns exec`'s).
fn prepare_run_dir() -> io::Result<()> {
    fs::create_dir_all(RUN_NETNS)?;
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if mount(None::<&str>, RUN_NETNS, None::<&str>, flags, None::<&str>).is_err() {
        mount(Some(RUN_NETNS), RUN_NETNS, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(to_io)?;
        mount(None::<&str>, RUN_NETNS, None::<&str>, flags, None::<&str>).map_err(to_io)?;
    }
    Ok(())
}

/// Makes the namespace `name` unless it exists. Safe to repeat; a file left behind by an
/// interrupted earlier call is reused.
pub fn create(name: &str) -> io::Result<()> {
    if exists(name) {
        return Ok(());
    }
    prepare_run_dir()?;
    let target = path(name);
    File::create(&target)?;
    let target2 = target.clone();
    let made = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(to_io)?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(Some(own.as_str()), &target2, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(to_io)
    })
    .join()
    .map_err(|_| io::Error::other("the namespace thread panicked"))?;
    if let Err(e) = made {
        let _ = fs::remove_file(&target);
        return Err(e);
    }
    Ok(())
}

/// Removes the name of namespace `name` (the kernel frees the namespace with its last user).
/// Safe to repeat.
pub fn delete(name: &str) -> io::Result<()> {
    let p = path(name);
    if exists(name) {
        umount2(&p, MntFlags::MNT_DETACH).map_err(to_io)?;
    }
    match fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Names in `/run/netns` that start with `prefix`, sorted.
pub fn list(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(RUN_NETNS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// The inode that identifies namespace `name` (as `/proc/PID/ns/net` shows it).
pub fn inode(name: &str) -> io::Result<u64> {
    Ok(fs::metadata(path(name))?.ino())
}

/// Processes living in namespace `name` (what `ip netns pids` lists).
pub fn pids(name: &str) -> Vec<i32> {
    let Ok(ino) = inode(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if fs::metadata(entry.path().join("ns/net")).is_ok_and(|m| m.ino() == ino) {
            out.push(pid);
        }
    }
    out
}

/// Moves the calling thread into namespace `name`. Only for threads made for the purpose.
pub fn enter(name: &str) -> io::Result<()> {
    let file = File::open(path(name))?;
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(to_io)
}

/// Runs `f` on a new thread inside namespace `name` and returns its result.
pub fn run_in<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let name = name.to_owned();
    std::thread::spawn(move || -> io::Result<T> {
        enter(&name)?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("a thread inside a namespace panicked"))?
}

/// Writes a sysctl of the namespace `name` (`key` as in `net.ipv4.ip_forward`).
pub fn sysctls(name: &str, values: &[(String, String)]) -> io::Result<()> {
    let values = values.to_vec();
    run_in(name, move || -> io::Result<()> {
        for (key, value) in values {
            let file = Path::new("/proc/sys").join(key.replace('.', "/"));
            let current = fs::read_to_string(&file)?;
            if current.trim() != value {
                fs::write(&file, &value)?;
            }
        }
        Ok(())
    })?
}

/// Whether this process may make namespaces (root, or CAP_SYS_ADMIN and CAP_NET_ADMIN).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
