//! The connectivity check's probes from inside a VM: ICMP echo and TCP connections measured,
//! refusals told apart from drops, and the prober the API installs.

use std::net::{IpAddr, Ipv4Addr};

use vnetlab_analysis::azure::Network;
use vnetlab_analysis::azure::measured::{ProbeRequest, Prober};
use vnetlab_analysis::azure::trace::Probe;
use vnetlab_analysis::layers::Protocol;
use vnetlab_dataplane::desired::Desired;
use vnetlab_dataplane::live::{self, Live, Settings, Target};
use vnetlab_model::{ResourceId, State};

use crate::{lab, up};

/// Two peered VNets, a VM in each, and a third VM behind an NSG that denies TCP 8080.
fn peered() -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/connectivity-check.yaml");
    std::fs::read_to_string(path).unwrap()
}

struct Vm {
    id: ResourceId,
    namespace: String,
    ip: Ipv4Addr,
}

fn vm(state: &State, name: &str) -> Vm {
    let want = Desired::build(state, &Network::compile(state));
    let machine = want.machine(name)[0];
    Vm { id: machine.vm.clone(), namespace: machine.namespace.clone(), ip: machine.address.unwrap() }
}

#[test]
fn probes_from_a_vm_measure_what_arrives_and_tell_refusals_from_drops() {
    let Some(mut lab) = lab() else { return };
    let state = up(&peered());
    lab.apply(&state);
    let (front, back, locked) = (vm(&state, "front-vm"), vm(&state, "back-vm"), vm(&state, "locked-vm"));
    let _listeners = [
        crate::probe::listen(&back.namespace, "back-vm", &[8080]),
        crate::probe::listen(&locked.namespace, "locked-vm", &[8080]),
    ];
    let settings = Settings::default();
    let from =
        |to: &Vm, target: Target| live::probe(&front.namespace, Some(front.ip), to.ip, target, settings).unwrap();

    let echo = from(&back, Target::Icmp);
    assert_eq!((echo.sent, echo.failed()), (settings.count, 0), "{echo}");
    assert!(echo.min() <= echo.avg() && echo.avg() <= echo.max(), "{echo}");
    let tcp = from(&back, Target::Tcp(8080));
    assert_eq!((tcp.sent, tcp.failed(), tcp.refused), (settings.count, 0, 0), "{tcp}");
    // The destination answers with a reset: refused, not dropped.
    let closed = from(&back, Target::Tcp(9090));
    assert_eq!((closed.failed(), closed.refused), (settings.count, settings.count), "{closed}");
    // The NSG drops: nothing comes back, not even a reset; ICMP is still let through.
    let denied = from(&locked, Target::Tcp(8080));
    assert_eq!((denied.failed(), denied.refused), (settings.count, 0), "{denied}");
    assert_eq!(from(&locked, Target::Icmp).failed(), 0);
}

#[test]
fn the_prober_measures_from_the_source_vm_and_declines_without_its_namespace() {
    let Some(mut lab) = lab() else { return };
    let state = up(&peered());
    let (front, back) = (vm(&state, "front-vm"), vm(&state, "back-vm"));
    let request = ProbeRequest {
        vm: front.id.clone(),
        source: IpAddr::V4(front.ip),
        destination: IpAddr::V4(back.ip),
        probe: Probe { protocol: Protocol::Icmp, port: 0 },
        hops: vec![IpAddr::V4(back.ip), IpAddr::V4(Ipv4Addr::new(10, 20, 1, 200))],
    };
    let prober = Live::default();
    assert_eq!(prober.measure(&request), None, "the data plane is down");
    lab.apply(&state);
    let measured = prober.measure(&request).expect("the data plane is up");
    assert_eq!(measured.probes.failed(), 0, "{}", measured.probes);
    assert_eq!(measured.hop(IpAddr::V4(back.ip)).map(|r| r.failed()), Some(0));
    let nobody = measured.hop("10.20.1.200".parse().unwrap()).unwrap();
    assert_eq!(nobody.failed(), nobody.sent, "no VM has that address: {nobody}");
    // IPv6 is not realized: the check answers from the trace.
    let v6 = ProbeRequest { destination: "fd00::4".parse().unwrap(), ..request.clone() };
    assert_eq!(prober.measure(&v6), None);
    // Gone with the VM's namespace.
    let text = peered();
    let gone = "  - name: front-vm\n    subnet: front/apps\n";
    assert!(text.contains(gone));
    let without = up(&text.replace(gone, ""));
    lab.apply(&without);
    assert_eq!(prober.measure(&request), None);
}
