//! Acknowledged writes survive SIGKILL: a child process commits operations in a loop and reports
//! each one; it is killed at random moments; every reported operation must be in the store, the
//! one in flight must be all or nothing, and the store must open cleanly every time.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, Lab};
use vnetlab_engine::{Operation, PeeringSpec, VirtualNetworkSpec};
use vnetlab_model::{Kind, Location, PeeringState, Prefix, ResourceId, View, ViewExt};

const CHILD_ENV: &str = "VNETLAB_DURABILITY_CHILD";

fn rg() -> ResourceId {
    ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "rg").unwrap()
}

fn vnet(n: u64) -> ResourceId {
    rg().top_level(Kind::VirtualNetwork, &format!("v{n}")).unwrap()
}

/// Operation `n`: VNet `v{n}`, peered both ways with `v{n-1}`, in one transaction.
fn step(n: u64) -> Vec<Operation> {
    let west = Location::parse("westus").unwrap();
    let prefix = Prefix::parse(&format!("10.{}.{}.0/24", n / 256, n % 256)).unwrap();
    let mut ops = vec![Operation::VirtualNetworkPut { id: vnet(n), spec: VirtualNetworkSpec::new(west, vec![prefix]) }];
    if n > 0 {
        for (from, to) in [(n, n - 1), (n - 1, n)] {
            let mut spec = PeeringSpec::new(vnet(to));
            spec.allow_virtual_network_access = true;
            ops.push(Operation::PeeringPut {
                id: vnet(from).child(Kind::VirtualNetworkPeering, &format!("to-v{to}")).unwrap(),
                spec,
                sync_remote_address_space: false,
            });
        }
    }
    ops
}

/// Whether operation `n` is wholly in the state, wholly absent, or torn.
fn presence(state: &vnetlab_model::State, n: u64) -> Option<bool> {
    let mut parts = vec![state.vnet(&vnet(n)).is_some()];
    if n > 0 {
        parts.push(
            state.peering(&vnet(n).child(Kind::VirtualNetworkPeering, &format!("to-v{}", n - 1)).unwrap()).is_some(),
        );
        parts.push(
            state.peering(&vnet(n - 1).child(Kind::VirtualNetworkPeering, &format!("to-v{n}")).unwrap()).is_some(),
        );
    }
    if parts.iter().all(|p| *p) {
        Some(true)
    } else if parts.iter().all(|p| !*p) {
        Some(false)
    } else {
        None
    }
}

/// The child: commits steps until killed, printing `done N` after each commit.
#[test]
#[ignore = "run by durability_under_sigkill in a child process"]
fn child_writer() {
    let Some(home) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let lab = Lab::open(Path::new(&home)).unwrap();
    let west = Location::parse("westus").unwrap();
    lab.execute(&Operation::ResourceGroupPut { id: rg(), location: west, tags: Default::default() }).unwrap();
    let mut n = lab.read(|s| s.all_of(Kind::VirtualNetwork).len() as u64).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        lab.execute_all(&step(n)).unwrap();
        writeln!(out, "done {n}").unwrap();
        out.flush().unwrap();
        n += 1;
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn durability_under_sigkill() {
    let home = tempfile::tempdir().unwrap();
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut rng = Rng(seed);
    let mut reported_total = 0u64;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["durability::child_writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reported = Arc::new(Mutex::new(Vec::<u64>::new()));
        let sink = Arc::clone(&reported);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test ... " on the same line before the first report.
                if let Some(n) = line.rsplit_once("done ").and_then(|(_, n)| n.trim().parse().ok()) {
                    sink.lock().unwrap().push(n);
                }
            }
        });
        // Kill at a random moment: sometimes before the first commit, usually mid-stream.
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 400));
        child.kill().unwrap();
        let _ = child.wait();
        reader.join().unwrap();
        let reported = reported.lock().unwrap().clone();
        reported_total += reported.len() as u64;
        eprintln!("round {round}: {} commits reported, last {:?}", reported.len(), reported.last());

        let lab =
            Lab::open(home.path()).unwrap_or_else(|e| panic!("round {round} (seed {seed}): store did not open: {e}"));
        lab.read(|state| {
            for n in &reported {
                assert_eq!(
                    presence(state, *n),
                    Some(true),
                    "round {round} (seed {seed}): reported step {n} is missing"
                );
                if *n > 0 {
                    let link = vnet(*n).child(Kind::VirtualNetworkPeering, &format!("to-v{}", n - 1)).unwrap();
                    assert_eq!(state.peering(&link).unwrap().properties.peering_state, PeeringState::Connected);
                }
            }
            let count = state.all_of(Kind::VirtualNetwork).len() as u64;
            for n in 0..count + 2 {
                assert!(presence(state, n).is_some(), "round {round} (seed {seed}): step {n} was torn");
            }
            let violations = vnetlab_engine::invariants::check(state);
            assert!(violations.is_empty(), "round {round} (seed {seed}): {violations:#?}");
        })
        .unwrap();
    }
    assert!(reported_total > 0, "the child never reported a commit (seed {seed})");
}
