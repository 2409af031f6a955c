//! Network Watcher's connectivity check over the API: from the static trace without a data
//! plane, and with real probes (the data plane's prober, as `vnetlab serve` installs it) when
//! the lab is realized in the kernel. The real-probe tests need root; without it they say so and
//! pass, unless `VNETLAB_REQUIRE_ROOT=1` makes them fail.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::measured::{Measured, ProbeRequest, Prober, RoundTrips};
use vnetlab_analysis::layers::Protocol;
use vnetlab_api::Options;

use vnetlab_dataplane::desired::Desired;
use vnetlab_dataplane::live::Live;
use vnetlab_dataplane::netns;
use vnetlab_dataplane::reconcile::{self, Reconciler};

use crate::{SUB, Server, example, net};

/// Two peered VNets, a VM in each, and a third VM behind an NSG that denies TCP 8080.
fn peered() -> String {
    example("connectivity-check.yaml")
}

fn hub_and_spoke() -> String {
    example("hub-and-spoke.yaml")
}

/// The kernel is one: tests that realize a lab (or need none realized) take turns.
static KERNEL: Mutex<()> = Mutex::new(());

/// Holds the kernel for one test and leaves no namespace behind, even when the test fails.
struct Kernel {
    _turn: MutexGuard<'static, ()>,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = reconcile::down();
    }
}

impl Kernel {
    /// The kernel with no data plane, when this process may make namespaces.
    fn take() -> Option<Kernel> {
        if !netns::privileged() {
            return None;
        }
        let turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
        reconcile::down().expect("clean slate");
        Some(Kernel { _turn: turn })
    }

    /// As [`Kernel::take`], or `None` after saying why the test is skipped.
    fn required() -> Option<Kernel> {
        let kernel = Kernel::take();
        if kernel.is_none() {
            assert!(
                std::env::var("VNETLAB_REQUIRE_ROOT").as_deref() != Ok("1"),
                "real probes need root (VNETLAB_REQUIRE_ROOT=1 is set)"
            );
            eprintln!("skipped: real probes need root");
        }
        kernel
    }

    /// Makes the kernel hold the server's lab.
    fn realize(&self, server: &Server) {
        let want = server.app.lab.read(|state| Desired::build(state, &Network::compile(state))).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(Reconciler::new().apply(&want, &())).unwrap_or_else(|e| panic!("reconcile: {e}"));
    }
}

/// A server with `prober` installed, holding the lab `topology` and a network watcher.
fn server(prober: Option<Arc<dyn Prober>>, topology: &str) -> Server {
    Server::with_topology(Options { prober, ..Options::default() }, topology)
}

fn live_server(topology: &str) -> Server {
    server(Some(Arc::new(Live::default())), topology)
}

fn vm_id(group: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}")
}

/// `POST connectivityCheck` from `from` to `to` (a VM of `group`, or an address); the answer.
#[track_caller]
fn check(server: &Server, group: &str, from: &str, to: &str, protocol: &str, port: Option<u16>) -> Value {
    let watcher = net(group, "networkWatchers/NetworkWatcher_westus");
    if server.get(&watcher).status == 404 {
        server.created(&watcher, json!({"location": "westus"}));
    }
    let mut destination = match to.parse::<IpAddr>() {
        Ok(ip) => json!({ "address": ip.to_string() }),
        Err(_) => json!({ "resourceId": vm_id(group, to) }),
    };
    if let Some(port) = port {
        destination["port"] = json!(port);
    }
    let body =
        json!({ "source": { "resourceId": vm_id(group, from) }, "destination": destination, "protocol": protocol });
    let r = server.call("POST", &format!("{watcher}/connectivityCheck"), Some(&body));
    assert_eq!(r.status, 200, "{:#}", r.body);
    r.body
}

/// The address of a VM's primary NIC.
fn address(server: &Server, name: &str) -> Ipv4Addr {
    server
        .app
        .lab
        .read(|state| {
            let want = Desired::build(state, &Network::compile(state));
            want.machine(name)[0].address
        })
        .unwrap()
        .unwrap()
}

fn namespace(server: &Server, name: &str) -> String {
    server
        .app
        .lab
        .read(|state| Desired::build(state, &Network::compile(state)).machine(name)[0].namespace.clone())
        .unwrap()
}

/// A TCP service on `port` inside a VM's namespace, until dropped.
struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(namespace: &str, port: u16) -> Service {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, started) = std::sync::mpsc::channel();
        let (ns, flag) = (namespace.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            netns::enter(&ns).unwrap();
            let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
            listener.set_nonblocking(true).unwrap();
            ready.send(()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                // Connections are accepted and closed: the probes time the handshake only.
                if listener.accept().is_err() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        started.recv().unwrap();
        Service { stop, thread: Some(thread) }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn hop_types(answer: &Value) -> Vec<&str> {
    answer["hops"].as_array().unwrap().iter().map(|h| h["type"].as_str().unwrap()).collect()
}

/// Every issue of every hop, as `type:first context value`.
fn issues(answer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for hop in answer["hops"].as_array().unwrap() {
        for issue in hop["issues"].as_array().unwrap() {
            out.push(format!("{}:{}", issue["type"].as_str().unwrap(), issue["context"][0]["value"].as_str().unwrap()));
        }
    }
    out
}

/// The round trips (min, avg, max) on hop `n`'s link to the next hop, if measured.
fn link_round_trips(answer: &Value, n: usize) -> Option<(u64, u64, u64)> {
    let p = answer["hops"][n]["links"][0].get("properties")?;
    Some((p["roundTripTimeMin"].as_u64()?, p["roundTripTimeAvg"].as_u64()?, p["roundTripTimeMax"].as_u64()?))
}

#[track_caller]
fn assert_measured_reachable(answer: &Value) {
    assert_eq!(answer["connectionStatus"], "Reachable", "{answer:#}");
    let sent = answer["probesSent"].as_u64().unwrap();
    assert!(sent >= 10, "{answer:#}");
    assert_eq!(answer["probesFailed"], 0, "{answer:#}");
    let latency = |k: &str| answer[k].as_u64().unwrap_or_else(|| panic!("no integer {k}: {answer:#}"));
    let (min, avg, max) = (latency("minLatencyInMs"), latency("avgLatencyInMs"), latency("maxLatencyInMs"));
    assert!(min <= avg && avg <= max, "{answer:#}");
}

#[test]
fn with_the_data_plane_up_the_check_answers_with_what_real_packets_did() {
    let Some(kernel) = Kernel::required() else { return };
    let s = live_server(&peered());
    kernel.realize(&s);
    let _services =
        [Service::start(&namespace(&s, "back-vm"), 8080), Service::start(&namespace(&s, "locked-vm"), 8080)];

    // Across the peering: every probe answered, latencies measured, the hop's round trips on
    // the source's link to it.
    let open = check(&s, "live-rg", "front-vm", "back-vm", "Tcp", Some(8080));
    assert_measured_reachable(&open);
    assert_eq!(hop_types(&open), ["Source", "VirtualNetwork"]);
    assert_eq!(open["hops"][0]["links"][0]["nextHopId"], open["hops"][1]["id"]);
    let (min, avg, max) = link_round_trips(&open, 0).unwrap_or_else(|| panic!("no round trips: {open:#}"));
    assert!(min <= avg && avg <= max);
    assert_eq!(issues(&open), Vec::<String>::new());

    // The NSG drops every probe; the trace says which rule.
    let blocked = check(&s, "live-rg", "front-vm", "locked-vm", "Tcp", Some(8080));
    assert_eq!(blocked["connectionStatus"], "Unreachable", "{blocked:#}");
    assert_eq!(blocked["probesFailed"], blocked["probesSent"]);
    assert!(blocked["probesSent"].as_u64().unwrap() >= 10);
    assert!(blocked.get("avgLatencyInMs").is_none(), "nothing came back to time: {blocked:#}");
    assert_eq!(link_round_trips(&blocked, 0), None);
    assert_eq!(issues(&blocked), ["NetworkSecurityRule:deny-web"], "{blocked:#}");

    // The trace finds nothing in the way, but nothing listens on the port: the packets decide.
    let closed = check(&s, "live-rg", "front-vm", "back-vm", "Tcp", Some(9090));
    assert_eq!(closed["connectionStatus"], "Unreachable", "{closed:#}");
    assert_eq!(closed["probesFailed"], closed["probesSent"]);
    assert!(issues(&closed)[0].starts_with("NoListenerOnDestination:"), "{closed:#}");

    // ICMP to an address; Http is a TCP check to its port.
    let back = address(&s, "back-vm");
    assert_measured_reachable(&check(&s, "live-rg", "front-vm", &back.to_string(), "Icmp", None));
    assert_measured_reachable(&check(&s, "live-rg", "front-vm", "back-vm", "Http", Some(8080)));
    assert_measured_reachable(&check(&s, "live-rg", "front-vm", "locked-vm", "Icmp", None));
}

#[test]
fn through_an_appliance_each_hop_carries_its_round_trips() {
    let Some(kernel) = Kernel::required() else { return };
    let s = live_server(&hub_and_spoke());
    kernel.realize(&s);
    let _service = Service::start(&namespace(&s, "spoke2-vm"), 22);
    let answer = check(&s, "hub-and-spoke-rg", "spoke1-vm", "spoke2-vm", "Tcp", Some(22));
    assert_measured_reachable(&answer);
    assert_eq!(hop_types(&answer), ["Source", "VirtualAppliance", "VirtualNetwork"]);
    assert!(link_round_trips(&answer, 0).is_some(), "echo to the appliance: {answer:#}");
    assert!(link_round_trips(&answer, 1).is_some(), "the check's own probes: {answer:#}");
    assert_eq!(answer["hops"][1]["previousHopIds"][0], answer["hops"][0]["id"]);
}

#[test]
fn without_a_data_plane_the_check_answers_from_the_trace() {
    // As root, with no lab in the kernel; without root the prober cannot probe anyway.
    let _kernel = Kernel::take();
    for prober in [None, Some(Arc::new(Live::default()) as Arc<dyn Prober>)] {
        let s = server(prober, &peered());
        let open = check(&s, "live-rg", "front-vm", "back-vm", "Tcp", Some(8080));
        assert_eq!(open["connectionStatus"], "Connected", "{open:#}");
        assert_eq!((open["probesSent"].as_u64(), open["probesFailed"].as_u64()), (Some(1), Some(0)));
        assert_eq!(open["avgLatencyInMs"], 0);
        assert!(open["hops"][0].get("links").is_none(), "{open:#}");
        let blocked = check(&s, "live-rg", "front-vm", "locked-vm", "Tcp", Some(8080));
        assert_eq!(blocked["connectionStatus"], "Unreachable");
        assert_eq!((blocked["probesSent"].as_u64(), blocked["probesFailed"].as_u64()), (Some(1), Some(1)));
        assert_eq!(issues(&blocked), ["NetworkSecurityRule:deny-web"], "{blocked:#}");
    }
}

/// A prober that answers every request with the same measurement and keeps the requests.
#[derive(Debug, Default)]
struct Canned {
    asked: Mutex<Vec<ProbeRequest>>,
}

impl Prober for Canned {
    fn measure(&self, request: &ProbeRequest) -> Option<Measured> {
        self.asked.lock().unwrap().push(request.clone());
        let answered = RoundTrips { sent: 4, answered: vec![Duration::from_micros(1500); 3], refused: 0 };
        let hops = request.hops.iter().map(|a| (*a, answered.clone())).collect();
        Some(Measured { probes: answered, hops })
    }
}

#[test]
fn the_installed_prober_is_asked_from_the_source_vm_for_the_destination_and_the_hops_between() {
    let canned = Arc::new(Canned::default());
    let s = server(Some(canned.clone()), &hub_and_spoke());
    let answer = check(&s, "hub-and-spoke-rg", "spoke1-vm", "spoke2-vm", "Https", None);
    let asked = canned.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    let request = &asked[0];
    assert!(request.vm.as_str().eq_ignore_ascii_case(&vm_id("hub-and-spoke-rg", "spoke1-vm")), "{request:?}");
    assert_eq!((request.probe.protocol, request.probe.port), (Protocol::Tcp, 443));
    assert_eq!(request.hops, ["10.0.1.4".parse::<IpAddr>().unwrap()], "the appliance");
    assert_eq!(request.destination, answer["hops"][2]["address"].as_str().unwrap().parse::<IpAddr>().unwrap());
    // One of four probes lost: still reachable; 1.5 ms is 2 in whole milliseconds.
    assert_eq!(answer["connectionStatus"], "Reachable");
    assert_eq!((answer["probesSent"].as_u64(), answer["probesFailed"].as_u64()), (Some(4), Some(1)));
    assert_eq!(answer["avgLatencyInMs"], 2);
    assert_eq!(link_round_trips(&answer, 0), Some((2, 2, 2)));
}
