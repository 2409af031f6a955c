//! The reconciler's promises: a second run changes nothing, a run killed midway is finished by
//! the next, and `down` leaves nothing behind.

use std::process::Command;
use std::time::Duration;

use vnetlab_dataplane::netns;
use vnetlab_dataplane::reconcile::Reconciler;

use crate::{lab, up};

/// Three VNets of eight VMs, peered in a chain: enough work to kill a run in the middle of.
fn chain() -> vnetlab_model::State {
    let mut y = String::from("name: chain\nresourceGroup: chain-rg\nlocation: westus\nvnets:\n");
    for v in 0..3 {
        y.push_str(&format!(
            "  - {{name: c{v}, addressSpace: [10.{v}.0.0/16], subnets: [{{name: s, addressPrefix: 10.{v}.1.0/24}}]}}\n"
        ));
    }
    y.push_str("vms:\n");
    for v in 0..3 {
        for m in 0..8 {
            y.push_str(&format!("  - {{name: c{v}m{m}, subnet: c{v}/s}}\n"));
        }
    }
    y.push_str("peerings:\n  - {vnet: c0, remote: c1, name: a, reverse: {name: b}}\n  - {vnet: c1, remote: c2, name: c, reverse: {name: d}}\n");
    up(&y)
}

/// A reconciler run for `killed_midway_the_next_run_converges` to kill.
#[test]
#[ignore = "started (and killed) by killed_midway_the_next_run_converges"]
fn reconcile_child() {
    if std::env::var("VNETLAB_RECONCILE_CHILD").as_deref() != Ok("1") {
        return;
    }
    let state = chain();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let network = vnetlab_analysis::azure::Network::compile(&state);
    let want = vnetlab_dataplane::desired::Desired::build(&state, &network);
    runtime.block_on(Reconciler::new().apply(&want, &())).unwrap();
}

#[test]
fn killed_midway_the_next_run_converges() {
    let Some(mut lab) = lab() else { return };
    let state = chain();
    for delay in [5u64, 40, 120, 250] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["reconciler::reconcile_child", "--exact", "--ignored", "--test-threads=1", "--quiet"])
            .env("VNETLAB_RECONCILE_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        lab.reconciler = Reconciler::new();
        lab.apply(&state);
        lab.reconciler = Reconciler::new();
        let again = lab.apply(&state);
        assert!(again.is_empty(), "after a kill at {delay} ms the second run still changed: {again}");
        let network = vnetlab_analysis::azure::Network::compile(&state);
        let want = vnetlab_dataplane::desired::Desired::build(&state, &network);
        let ns = |vm: &str| want.machine(vm)[0].namespace.clone();
        assert!(crate::probe::ping(&ns("c0m0"), "10.1.1.11".parse().unwrap()));
        assert!(!crate::probe::ping(&ns("c0m0"), "10.2.1.4".parse().unwrap()), "not transitive");
        vnetlab_dataplane::reconcile::down().unwrap();
    }
}

#[test]
fn down_leaves_nothing_behind() {
    let Some(mut lab) = lab() else { return };
    let state = chain();
    let report = lab.apply(&state);
    assert!(report.namespaces_created > 20);
    let gone = vnetlab_dataplane::reconcile::down().unwrap();
    assert_eq!(gone.len(), 26, "24 VMs, the fabric and the underlay");
    assert!(netns::list("vl-").is_empty(), "namespaces left: {:?}", netns::list("vl-"));
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.lines().any(|l| l.split(':').nth(1).is_some_and(|n| n.trim().starts_with("vl"))), "{links}");
    let tables = Command::new("nft").args(["list", "tables"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&tables.stdout).contains("vnetlab"));
    let rules = Command::new("ip").args(["rule"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("vl"));
}
