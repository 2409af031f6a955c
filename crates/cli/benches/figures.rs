//! Figures for BENCHMARKS.md, printed (not a timed test): run `cargo bench -p vnetlab --bench figures`.
//!
//! 1. Peering creates per second, acknowledged and durable: each one its own transaction through
//!    the engine and the SQLite store (WAL, synchronous=FULL), beside the engine alone on an
//!    in-memory state, in the same run.
//! 2. `vnetlab up` of a generated hub-and-spoke topology with 1,000 spokes (and `plan` of it):
//!    wall time and peak resident memory of the process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, Lab};
use vnetlab_engine::{Context, Operation, PeeringSpec, SequentialIds, Settings, VirtualNetworkSpec};
use vnetlab_model::{Kind, Location, Prefix, ResourceId};

const RUNS: usize = 5;
const PEERINGS: usize = 2000;
const SPOKES: usize = 1000;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn vnet(i: usize) -> ResourceId {
    ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "bench")
        .unwrap()
        .top_level(Kind::VirtualNetwork, &format!("v{i}"))
        .unwrap()
}

/// The VNets to peer, and the peering creates: link `v(2i) → v(2i+1)`.
fn workload() -> (Vec<Operation>, Vec<Operation>) {
    let west = Location::parse("westus").unwrap();
    let mut setup = vec![Operation::ResourceGroupPut {
        id: ResourceId::resource_group(DEFAULT_SUBSCRIPTION_ID, "bench").unwrap(),
        location: west,
        tags: Default::default(),
    }];
    for i in 0..2 * PEERINGS {
        let prefix = Prefix::parse(&format!("10.{}.{}.0/24", i / 256, i % 256)).unwrap();
        setup.push(Operation::VirtualNetworkPut { id: vnet(i), spec: VirtualNetworkSpec::new(west, vec![prefix]) });
    }
    let peerings = (0..PEERINGS)
        .map(|i| {
            let mut spec = PeeringSpec::new(vnet(2 * i + 1));
            spec.allow_virtual_network_access = true;
            Operation::PeeringPut {
                id: vnet(2 * i).child(Kind::VirtualNetworkPeering, "link").unwrap(),
                spec,
                sync_remote_address_space: false,
            }
        })
        .collect();
    (setup, peerings)
}

fn durable_peerings() {
    let (setup, peerings) = workload();
    let mut durable = Vec::new();
    let mut engine_only = Vec::new();
    for _ in 0..RUNS {
        let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let lab = Lab::open(home.path()).unwrap();
        lab.execute_all(&setup).unwrap();
        let start = Instant::now();
        for op in &peerings {
            lab.execute(op).unwrap();
        }
        durable.push(PEERINGS as f64 / start.elapsed().as_secs_f64());

        // The same state before the peerings, in memory.
        let mut state = lab
            .read(|committed| {
                let mut fresh = vnetlab_model::State::new();
                for s in committed.iter().filter(|s| s.kind() != Kind::VirtualNetworkPeering) {
                    fresh.insert(s.clone());
                }
                fresh
            })
            .unwrap();
        let settings = Settings::default();
        let mut ids = SequentialIds::default();
        let start = Instant::now();
        for op in &peerings {
            let mut ctx = Context::new(&mut ids, &settings);
            let outcome = vnetlab_engine::apply(&state, op, &mut ctx).unwrap();
            let revision = state.revision() + 1;
            let _ = state.apply(&outcome.changes, revision);
        }
        engine_only.push(PEERINGS as f64 / start.elapsed().as_secs_f64());
    }
    let (d, e) = (median(durable.clone()), median(engine_only.clone()));
    println!("peering create, {PEERINGS} per run, {RUNS} runs");
    println!("  engine + SQLite store, durable:  median {d:>9.0} ops/s  (runs: {})", fmt_runs(&durable));
    println!("  engine alone, in memory:         median {e:>9.0} ops/s  (runs: {})", fmt_runs(&engine_only));
    println!("  durable / engine alone:          {:.3}", d / e);
}

fn fmt_runs(xs: &[f64]) -> String {
    xs.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ")
}

/// A hub (with a VPN gateway) and `SPOKES` spokes, connected by one hub-and-spoke line that uses
/// the hub as gateway.
fn hub_and_spoke(path: &Path) {
    let mut text = String::from(
        "name: hub-and-spoke-1000\nresourceGroup: big-rg\nlocation: westeurope\nvnets:\n  - name: hub\n    addressSpace: [10.0.0.0/16]\n    subnets: [{name: GatewaySubnet, addressPrefix: 10.0.255.0/27}]\n",
    );
    for i in 0..SPOKES {
        let (a, b) = (1 + i / 256, i % 256);
        text.push_str(&format!(
            "  - {{name: spoke{i}, addressSpace: [10.{a}.{b}.0/24], subnets: [{{name: default, addressPrefix: 10.{a}.{b}.0/26}}]}}\n"
        ));
    }
    text.push_str("gateways:\n  - {name: hub-gw, vnet: hub}\nconnectivity:\n  - type: hubAndSpoke\n    hub: hub\n    useHubAsGateway: true\n    spokes:\n");
    for i in 0..SPOKES {
        text.push_str(&format!("      - spoke{i}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Runs `vnetlab` and returns its wall time and peak resident memory (KiB).
fn measure(home: &Path, args: &[&str]) -> (Duration, i64) {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_vnetlab"))
        .env("VNETLAB_HOME", home)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own child, waited for once.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    let elapsed = start.elapsed();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "vnetlab {args:?} failed");
    std::mem::forget(child);
    (elapsed, usage.ru_maxrss)
}

fn big_up() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("hub-and-spoke-1000.yaml");
    hub_and_spoke(&file);
    let file = file.display().to_string();
    let (mut up_times, mut up_rss, mut plan_times, mut plan_rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let home = dir.path().join(format!("home{run}"));
        let (t, rss) = measure(&home, &["plan", &file]);
        plan_times.push(t.as_secs_f64());
        plan_rss.push(rss as f64 / 1024.0);
        let (t, rss) = measure(&home, &["up", &file]);
        up_times.push(t.as_secs_f64());
        up_rss.push(rss as f64 / 1024.0);
    }
    println!("vnetlab up of a hub and {SPOKES} spokes (2,000 peerings, {RUNS} runs, fresh lab each)");
    println!(
        "  up:    median {:.3} s, peak RSS median {:.1} MiB  (runs: {} s)",
        median(up_times.clone()),
        median(up_rss),
        fmt_secs(&up_times)
    );
    println!(
        "  plan:  median {:.3} s, peak RSS median {:.1} MiB  (runs: {} s)",
        median(plan_times.clone()),
        median(plan_rss),
        fmt_secs(&plan_times)
    );
}

fn fmt_secs(xs: &[f64]) -> String {
    xs.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches with no such flag: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    durable_peerings();
    big_up();
}
