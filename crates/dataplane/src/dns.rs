//! Azure DNS at 168.63.129.16: a resolver in the fabric namespace that answers each VM with the names of
//! its own VNet.
//!
//! Azure: a VM's name resolves as `<vm>` and `<vm>.<vnet suffix>.internal.cloudapp.net` inside its VNet only;
//! names do not resolve across peering (learn.microsoft.com, "Name resolution for resources in Azure virtual
//! networks").
//!
//! Two VMs in different unpeered VNets may share an address, so the asker is identified by the fabric port
//! the query came in on (`IP_PKTINFO`), never by its source address, and the reply is sent back out of that
//! same port. The fabric holds `ip rule oif <port> lookup <subnet table>` so that the locally generated reply
//! finds the asker's /32 (see DESIGN.md, "Data plane").

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, sendmsg, setsockopt, sockopt,
};

/// The address every Azure VM uses for DNS (and DHCP, health probes, the wire server).
pub const AZURE_DNS: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// TTL of the A records we hand out. A choice: short enough that a VM which moved or was recreated with
/// another address is seen again within seconds by a caching stub, long enough to spare repeated queries.
pub const ANSWER_TTL: u32 = 10;

/// How long the serving thread blocks in one receive: the upper bound on how long `stop` waits.
const RECEIVE_TIMEOUT: Duration = Duration::from_millis(100);

/// Thread name, visible in `/proc/<pid>/task/*/comm` (at most 15 bytes).
const THREAD_NAME: &str = "vl-dns";

/// What the resolver knows, replaced by the caller whenever the topology changes.
#[derive(Clone, Debug, Default)]
pub struct Zones {
    /// Fabric port ifindex -> VNet key (any opaque string the caller chooses).
    pub ports: HashMap<u32, String>,
    /// VNet key -> the names a VM of that VNet can resolve.
    pub vnets: HashMap<String, VnetZone>,
}

/// The names of one VNet.
#[derive(Clone, Debug, Default)]
pub struct VnetZone {
    /// The VNet's DNS suffix, e.g. `abc123.internal.cloudapp.net` (no trailing dot; compared ignoring case).
    pub suffix: String,
    /// VM host name (one DNS label, in lower case) -> its primary private IPv4 address.
    pub names: HashMap<String, Ipv4Addr>,
}

impl Zones {
    /// What VMs of the data plane `want` can resolve, as fabric `fabric` sees them (by its
    /// ports' interface indexes).
    pub fn of(
        want: &crate::desired::Desired,
        fabric: &crate::desired::Fabric,
        port_index: impl Fn(&str) -> Option<u32>,
    ) -> Zones {
        let mut zones = Zones::default();
        for port in fabric.ports.values() {
            let vnet = port.vnet.key().to_owned();
            if let Some(index) = port_index(&port.name) {
                zones.ports.insert(index, vnet.clone());
            }
            zones.vnets.entry(vnet).or_insert_with(|| VnetZone { suffix: suffix(&port.vnet), names: HashMap::new() });
        }
        for m in want.machines.values() {
            let (Some(address), Some(first)) = (m.address, m.interfaces.first()) else { continue };
            let Some(vnet) = fabric.ports.get(&first.port).map(|p| p.vnet.key()) else { continue };
            if let Some(zone) = zones.vnets.get_mut(vnet) {
                zone.names.insert(m.hostname.to_ascii_lowercase(), address);
            }
        }
        zones
    }
}

/// A VNet's DNS suffix. [gap] Azure makes up a random label per VNet
/// (`<label>.<region code>.internal.cloudapp.net`); ours is derived from the VNet's id so it stays
/// the same across runs.
pub fn suffix(vnet: &vnetlab_model::ResourceId) -> String {
    format!("{:016x}.internal.cloudapp.net", crate::names::hash(vnet.key()))
}

/// A running resolver: one thread inside the fabric namespace serving 168.63.129.16:53/UDP.
///
/// Dropping it stops it as `stop` does.
#[derive(Debug)]
pub struct Resolver {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Resolver {
    /// Binds 168.63.129.16:53/UDP inside the network namespace `/run/netns/<netns>` and serves queries
    /// from `zones` until stopped. The caller must already have put 168.63.129.16/32 on the namespace's `lo`.
    ///
    /// Returns once the socket is bound, so a bind error (address missing, port taken) is reported here.
    /// The namespace is entered by a dedicated thread, which keeps serving; the caller's thread stays where
    /// it was.
    pub fn spawn(netns: &str, zones: Arc<RwLock<Zones>>) -> io::Result<Resolver> {
        let ns = File::open(format!("/run/netns/{netns}"))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || {
                match bind_in(&ns) {
                    Ok(socket) => {
                        drop(ns);
                        // The receiver only disappears if `spawn` itself is gone; nothing to tell then.
                        let _ = ready_tx.send(Ok(()));
                        serve(&socket, &zones, &stopping);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?
        };
        let ready =
            ready_rx.recv().unwrap_or_else(|_| Err(io::Error::other("DNS resolver thread died while starting")));
        match ready {
            Ok(()) => Ok(Resolver { stopping, thread: Some(thread) }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// Stops serving and waits for the thread to end, which closes the socket. Takes at most about
    /// `RECEIVE_TIMEOUT` plus the time to answer one query.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the serving thread has already been printed; there is nothing left to stop.
            let _ = thread.join();
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Enters the namespace (this thread only) and binds the DNS socket there.
fn bind_in(ns: &File) -> io::Result<UdpSocket> {
    setns(ns, CloneFlags::CLONE_NEWNET)?;
    let socket = UdpSocket::bind(SocketAddrV4::new(AZURE_DNS, 53))?;
    setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
    socket.set_read_timeout(Some(RECEIVE_TIMEOUT))?;
    Ok(socket)
}

/// Receives queries until `stopping` is set. Errors on one datagram are dropped: DNS clients retry.
fn serve(socket: &UdpSocket, zones: &RwLock<Zones>, stopping: &AtomicBool) {
    // Large enough for any EDNS query; a truncated datagram is dropped below.
    let mut buf = [0u8; 4096];
    while !stopping.load(Ordering::Relaxed) {
        let Some((len, asker, pktinfo)) = receive(socket, &mut buf) else { continue };
        let response = {
            // The zones are replaced whole, so a writer that panicked left a consistent value behind.
            let zones = zones.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let port = u32::try_from(pktinfo.ipi_ifindex).ok();
            let vnet = port.and_then(|port| zones.ports.get(&port)).and_then(|key| zones.vnets.get(key));
            answer(&buf[..len], vnet)
        };
        let Some(response) = response else { continue };
        // Out of the port the query came in on, whatever the main table says about the asker's address.
        let reply_info = libc::in_pktinfo {
            ipi_ifindex: pktinfo.ipi_ifindex,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(AZURE_DNS).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        // A send error (the port was deleted meanwhile, the table has no route yet) only loses this answer.
        let _ = sendmsg(
            socket.as_raw_fd(),
            &[IoSlice::new(&response)],
            &[ControlMessage::Ipv4PacketInfo(&reply_info)],
            MsgFlags::empty(),
            Some(&asker),
        );
    }
}

/// One datagram with its sender and `IP_PKTINFO`; `None` on timeout, error, truncation or missing pktinfo.
fn receive(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, SockaddrIn, libc::in_pktinfo)> {
    let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return None;
    }
    let pktinfo = msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4PacketInfo(info) => Some(info),
        _ => None,
    })?;
    Some((msg.bytes, msg.address?, pktinfo))
}

/// The response to one DNS query from a VM of `vnet` (`None`: the asking port belongs to no known VNet),
/// or `None` when nothing should be sent back: the bytes are not a DNS message, or are a response (answering
/// those could start a loop).
///
/// Flags: ID, opcode, question and RD are copied; RA is set, as Azure's recursive resolver sets it; AA is set
/// when the name is the VNet's own (a VM name, or at or under the VNet's suffix), since we are the authority
/// there, and clear on the NXDOMAIN that stands in for recursion.
// TODO-fidelity: Azure's resolver speaks EDNS; we never send an OPT record back, which tells an EDNS client
// that we do not, and our answers fit in 512 bytes anyway.
pub fn answer(query: &[u8], vnet: Option<&VnetZone>) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    if query.message_type() != MessageType::Query {
        return None;
    }
    let mut response = Message::error_msg(query.id(), query.op_code(), ResponseCode::NoError);
    response.set_recursion_desired(query.recursion_desired()).set_recursion_available(true);
    response.add_queries(query.queries().iter().cloned());

    let code = match (query.op_code(), query.queries(), vnet) {
        (OpCode::Query, [question], Some(vnet)) => {
            let lookup = lookup(vnet, question.name());
            response.set_authoritative(lookup.authoritative);
            match lookup.found {
                Found::Address(address) => {
                    if question.query_type() == RecordType::A && question.query_class() == DNSClass::IN {
                        let record = Record::from_rdata(question.name().clone(), ANSWER_TTL, RData::A(A(address)));
                        response.add_answer(record);
                    }
                    ResponseCode::NoError
                }
                Found::NameWithoutAddress => ResponseCode::NoError,
                Found::Nothing => ResponseCode::NXDomain,
            }
        }
        (OpCode::Query, [_], None) => ResponseCode::Refused,
        (OpCode::Query, _, _) => ResponseCode::FormErr,
        _ => ResponseCode::NotImp,
    };
    response.set_response_code(code);
    response.to_vec().ok()
}

struct Lookup {
    found: Found,
    authoritative: bool,
}

enum Found {
    Address(Ipv4Addr),
    /// The name exists (the VNet's suffix itself) but has no address: NOERROR with no answers, not NXDOMAIN.
    NameWithoutAddress,
    Nothing,
}

/// Finds `name` among `vnet`'s names. Labels are compared as bytes ignoring ASCII case, so a label holding
/// an escaped dot never matches across a label boundary.
fn lookup(vnet: &VnetZone, name: &Name) -> Lookup {
    let labels: Vec<&[u8]> = name.iter().collect();
    let suffix: Vec<&[u8]> = vnet.suffix.trim_end_matches('.').split('.').map(str::as_bytes).collect();
    let is_suffix =
        |rest: &[&[u8]]| rest.len() == suffix.len() && rest.iter().zip(&suffix).all(|(a, b)| a.eq_ignore_ascii_case(b));
    let under_suffix = labels.len() >= suffix.len() && is_suffix(&labels[labels.len() - suffix.len()..]);
    let vm = match labels.as_slice() {
        [vm] => Some(vm),
        [vm, rest @ ..] if is_suffix(rest) => Some(vm),
        _ => None,
    };
    let address =
        vm.and_then(|vm| std::str::from_utf8(vm).ok()).and_then(|vm| vnet.names.get(&vm.to_ascii_lowercase()));
    let found = match address {
        Some(address) => Found::Address(*address),
        None if is_suffix(&labels) => Found::NameWithoutAddress,
        // [gap] Azure recurses to the Internet for every other name; nothing leaves this machine, so they
        // do not exist here.
        None => Found::Nothing,
    };
    Lookup { authoritative: address.is_some() || under_suffix, found }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn vnet_a() -> VnetZone {
        VnetZone {
            suffix: "abc123.internal.cloudapp.net".into(),
            names: HashMap::from([
                ("a1".into(), Ipv4Addr::new(10, 0, 0, 4)),
                ("a2".into(), Ipv4Addr::new(10, 0, 0, 5)),
            ]),
        }
    }

    fn query(id: u16, name: &str, kind: RecordType) -> Vec<u8> {
        let mut message = Message::new();
        message.set_id(id).set_recursion_desired(true);
        message.add_query(Query::query(Name::from_ascii(name).expect("test name parses"), kind));
        message.to_vec().expect("test query encodes")
    }

    fn ask(vnet: Option<&VnetZone>, name: &str, kind: RecordType) -> Message {
        let bytes = answer(&query(0x1234, name, kind), vnet).expect("a query gets a response");
        Message::from_vec(&bytes).expect("the response parses")
    }

    /// Response code, AA flag and answers as one comparable value, so a failure prints the whole outcome.
    fn outcome(message: &Message) -> (ResponseCode, bool, Vec<String>) {
        let answers = message.answers().iter().map(|r| format!("{} {} {}", r.name(), r.ttl(), r.data())).collect();
        (message.response_code(), message.authoritative(), answers)
    }

    #[test]
    fn answers_own_vnet_names_in_both_forms_ignoring_case() {
        let a = vnet_a();
        for name in ["a2", "a2.", "A2", "a2.abc123.internal.cloudapp.net", "A2.ABC123.Internal.CloudApp.Net."] {
            let message = ask(Some(&a), name, RecordType::A);
            // On the wire every name is fully qualified, whether or not the asker typed the dot.
            let mut asked = Name::from_ascii(name).expect("parses");
            asked.set_fqdn(true);
            assert_eq!(outcome(&message), (ResponseCode::NoError, true, vec![format!("{asked} 10 10.0.0.5")]));
            assert_eq!(message.id(), 0x1234);
            assert_eq!(message.message_type(), MessageType::Response);
            assert!(message.recursion_desired() && message.recursion_available());
            assert_eq!(message.queries().len(), 1);
            assert_eq!(message.queries()[0].name(), &asked);
        }
    }

    #[test]
    fn known_name_other_type_is_nodata() {
        let a = vnet_a();
        assert_eq!(outcome(&ask(Some(&a), "a2", RecordType::AAAA)), (ResponseCode::NoError, true, vec![]));
        assert_eq!(
            outcome(&ask(Some(&a), "abc123.internal.cloudapp.net", RecordType::A)),
            (ResponseCode::NoError, true, vec![])
        );
    }

    #[test]
    fn other_names_do_not_exist() {
        let a = vnet_a();
        assert_eq!(outcome(&ask(Some(&a), "b2", RecordType::A)), (ResponseCode::NXDomain, false, vec![]));
        assert_eq!(
            outcome(&ask(Some(&a), "a2.other.internal.cloudapp.net", RecordType::A)),
            (ResponseCode::NXDomain, false, vec![])
        );
        assert_eq!(
            outcome(&ask(Some(&a), "x.a2.abc123.internal.cloudapp.net", RecordType::A)),
            (ResponseCode::NXDomain, true, vec![])
        );
        assert_eq!(outcome(&ask(Some(&a), "example.com", RecordType::A)), (ResponseCode::NXDomain, false, vec![]));
        assert_eq!(outcome(&ask(Some(&a), ".", RecordType::A)), (ResponseCode::NXDomain, false, vec![]));
    }

    #[test]
    fn unknown_port_is_refused() {
        assert_eq!(outcome(&ask(None, "a2", RecordType::A)), (ResponseCode::Refused, false, vec![]));
    }

    #[test]
    fn garbage_and_responses_get_nothing() {
        let a = vnet_a();
        for garbage in [&b""[..], b"\x00", b"\x12\x34\x01\x00\x00\x01", &[0xff; 64][..], &[0; 12][..]] {
            // Twelve zero bytes are a valid query with no question: FORMERR rather than silence.
            let got = answer(garbage, Some(&a));
            if garbage == [0; 12] {
                let message = Message::from_vec(&got.expect("a header-only query gets FORMERR")).expect("parses");
                assert_eq!(message.response_code(), ResponseCode::FormErr);
            } else {
                assert_eq!(got, None, "input {garbage:02x?}");
            }
        }
        let mut truncated = query(1, "a2", RecordType::A);
        truncated.pop();
        assert_eq!(answer(&truncated, Some(&a)), None);

        let response = answer(&query(1, "a2", RecordType::A), Some(&a)).expect("answered");
        assert_eq!(answer(&response, Some(&a)), None, "a response must not be answered");
    }

    #[test]
    fn every_prefix_and_bit_flip_of_a_query_is_survived() {
        let a = vnet_a();
        let good = query(7, "a2.abc123.internal.cloudapp.net", RecordType::A);
        for len in 0..good.len() {
            let _ = answer(&good[..len], Some(&a));
        }
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let _ = answer(&bad, Some(&a));
        }
    }

    /// Namespaces of one test run, deleted on drop (deleting a namespace deletes its veth ends too).
    struct Lab {
        namespaces: Vec<String>,
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            for ns in self.namespaces.iter().rev() {
                let _ = std::process::Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }

    fn ip(args: &[&str]) -> String {
        let out = std::process::Command::new("ip").args(args).output().expect("ip runs");
        assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sysctl(ns: &str, setting: &str) {
        ip(&["netns", "exec", ns, "sysctl", "-qw", setting]);
    }

    /// (ifindex, MAC) of a link, from `ip -o link show`: `7: name@if2: <...> ... link/ether 02:..`.
    fn link(ns: &str, dev: &str) -> (u32, String) {
        let line = ip(&["-n", ns, "-o", "link", "show", "dev", dev]);
        let index = line.split(':').next().and_then(|i| i.trim().parse().ok()).expect("ifindex");
        let mac = line.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).expect("MAC");
        (index, mac.to_string())
    }

    struct Vm {
        ns: String,
        port_index: u32,
    }

    /// One VM as DESIGN.md's data plane makes it: veth to the fabric, static neighbours both ways, the
    /// default route via .1 onlink as its only route, and the port bound to its VNet's table both ways.
    fn vm(lab: &mut Lab, fabric: &str, name: &str, address: &str, table: &str) -> Vm {
        let ns = format!("vltest-dns-{}-{name}", std::process::id());
        let port = format!("vlt{:x}{name}", std::process::id());
        ip(&["netns", "add", &ns]);
        lab.namespaces.push(ns.clone());
        ip(&["link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port, "netns", fabric]);
        ip(&["-n", &ns, "addr", "add", &format!("{address}/24"), "dev", "eth0", "noprefixroute"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", fabric, "link", "set", &port, "up"]);
        sysctl(fabric, &format!("net.ipv4.conf.{port}.rp_filter=0"));
        let (port_index, port_mac) = link(fabric, &port);
        let (_, vm_mac) = link(&ns, "eth0");
        let gateway = format!("{}.1", address.rsplit_once('.').expect("dotted quad").0);
        ip(&["-n", &ns, "neigh", "add", &gateway, "lladdr", &port_mac, "dev", "eth0", "nud", "permanent"]);
        ip(&["-n", &ns, "route", "add", "default", "via", &gateway, "dev", "eth0", "onlink"]);
        ip(&["-n", fabric, "neigh", "add", address, "lladdr", &vm_mac, "dev", &port, "nud", "permanent"]);
        ip(&["-n", fabric, "rule", "add", "iif", &port, "lookup", table]);
        ip(&["-n", fabric, "rule", "add", "oif", &port, "lookup", table]);
        ip(&["-n", fabric, "route", "add", &format!("{address}/32"), "dev", &port, "table", table]);
        Vm { ns, port_index }
    }

    /// Asks 168.63.129.16 from inside `vm`'s namespace, as the VM's stub resolver would.
    fn ask_from(vm: &Vm, name: &str, kind: RecordType, timeout: Duration) -> io::Result<(ResponseCode, Vec<String>)> {
        let ns = File::open(format!("/run/netns/{}", vm.ns))?;
        let query = query(0x4242, name, kind);
        let asking = std::thread::spawn(move || -> io::Result<Message> {
            setns(&ns, CloneFlags::CLONE_NEWNET)?;
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.set_read_timeout(Some(timeout))?;
            socket.connect(SocketAddrV4::new(AZURE_DNS, 53))?;
            socket.send(&query)?;
            let mut buf = [0u8; 512];
            let len = socket.recv(&mut buf)?;
            Message::from_vec(&buf[..len]).map_err(io::Error::other)
        });
        let message = asking.join().map_err(|_| io::Error::other("asking thread panicked"))??;
        assert_eq!(message.id(), 0x4242);
        let answers = message.answers().iter().map(|r| r.data().to_string()).collect();
        Ok((message.response_code(), answers))
    }

    fn resolver_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .expect("/proc is mounted")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim_end() == THREAD_NAME)
            .count()
    }

    #[test]
    fn resolves_per_vnet_through_the_fabric() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            if std::env::var("VNETLAB_REQUIRE_ROOT").as_deref() == Ok("1") {
                panic!("resolves_per_vnet_through_the_fabric needs root (VNETLAB_REQUIRE_ROOT=1)");
            }
            eprintln!("skipped resolves_per_vnet_through_the_fabric: needs root for network namespaces");
            return;
        }
        let mut lab = Lab { namespaces: vec![] };
        let fabric = format!("vltest-dns-{}-fabric", std::process::id());
        ip(&["netns", "add", &fabric]);
        lab.namespaces.push(fabric.clone());
        sysctl(&fabric, "net.ipv4.ip_forward=1");
        sysctl(&fabric, "net.ipv4.conf.all.rp_filter=0");
        sysctl(&fabric, "net.ipv4.conf.default.rp_filter=0");
        ip(&["-n", &fabric, "addr", "add", "168.63.129.16/32", "dev", "lo"]);
        ip(&["-n", &fabric, "link", "set", "lo", "up"]);

        // VNets A and B overlap and are not peered: b1 has a1's address.
        let a1 = vm(&mut lab, &fabric, "a1", "10.0.0.4", "100");
        let a2 = vm(&mut lab, &fabric, "a2", "10.0.0.5", "100");
        let b1 = vm(&mut lab, &fabric, "b1", "10.0.0.4", "101");
        let b2 = vm(&mut lab, &fabric, "b2", "10.0.0.6", "101");
        for table in ["100", "101"] {
            ip(&["-n", &fabric, "route", "add", "unreachable", "default", "table", table]);
        }

        let zone = |suffix: &str, names: &[(&str, [u8; 4])]| VnetZone {
            suffix: suffix.into(),
            names: names.iter().map(|(n, a)| (n.to_string(), Ipv4Addr::from(*a))).collect(),
        };
        let zones = Arc::new(RwLock::new(Zones {
            ports: [(&a1, "A"), (&a2, "A"), (&b1, "B"), (&b2, "B")]
                .iter()
                .map(|(vm, vnet)| (vm.port_index, vnet.to_string()))
                .collect(),
            vnets: HashMap::from([
                ("A".into(), zone("aaa.internal.cloudapp.net", &[("a1", [10, 0, 0, 4]), ("a2", [10, 0, 0, 5])])),
                ("B".into(), zone("bbb.internal.cloudapp.net", &[("b1", [10, 0, 0, 4]), ("b2", [10, 0, 0, 6])])),
            ]),
        }));

        let resolver = Resolver::spawn(&fabric, Arc::clone(&zones)).expect("resolver binds in the fabric");
        let second = Resolver::spawn(&fabric, Arc::clone(&zones)).expect_err("the port is taken");
        assert_eq!(second.kind(), io::ErrorKind::AddrInUse, "{second}");
        assert!(Resolver::spawn("vltest-dns-no-such-namespace", Arc::clone(&zones)).is_err());

        let t = Duration::from_secs(2);
        let ok = |ip: &str| Ok((ResponseCode::NoError, vec![ip.to_string()]));
        let nx = Ok((ResponseCode::NXDomain, vec![]));
        let asked = |vm: &Vm, name: &str, kind| ask_from(vm, name, kind, t).map_err(|e| e.kind());
        assert_eq!(asked(&a1, "a2", RecordType::A), ok("10.0.0.5"));
        assert_eq!(asked(&a1, "a2.aaa.internal.cloudapp.net.", RecordType::A), ok("10.0.0.5"));
        assert_eq!(asked(&a1, "A1.AAA.internal.cloudapp.net", RecordType::A), ok("10.0.0.4"));
        assert_eq!(asked(&a1, "b2", RecordType::A), nx);
        assert_eq!(asked(&a1, "b2.bbb.internal.cloudapp.net", RecordType::A), nx);
        assert_eq!(asked(&a1, "a2", RecordType::AAAA), Ok((ResponseCode::NoError, vec![])));
        // Same source address as a1: only the port tells them apart, and the answer finds its way back.
        assert_eq!(asked(&b1, "b2", RecordType::A), ok("10.0.0.6"));
        assert_eq!(asked(&b1, "b1.bbb.internal.cloudapp.net", RecordType::A), ok("10.0.0.4"));
        assert_eq!(asked(&b1, "a2", RecordType::A), nx);
        assert_eq!(asked(&b2, "a1", RecordType::A), nx);

        // Replaced zones take effect on the next query; a port they do not know is refused.
        zones.write().expect("not poisoned").ports.remove(&b2.port_index);
        assert_eq!(asked(&b2, "b1", RecordType::A), Ok((ResponseCode::Refused, vec![])));

        resolver.stop();
        assert_eq!(resolver_threads(), 0, "stop leaves no serving thread");
        let gone = ask_from(&a1, "a2", RecordType::A, Duration::from_millis(300));
        assert!(gone.is_err(), "nothing answers once stopped: {gone:?}");
        let again =
            Resolver::spawn(&fabric, Arc::clone(&zones)).expect("the socket was closed, so binding works again");
        assert_eq!(asked(&a2, "a1", RecordType::A), ok("10.0.0.4"));
        drop(again);
        assert_eq!(resolver_threads(), 0, "drop leaves no serving thread");
    }
}
