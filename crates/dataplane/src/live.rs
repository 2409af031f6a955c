//! Connectivity checks with real packets. Network Watcher's agent sends its probes from inside
//! the source VM; vnetlab sends them from inside the VM's namespace: ICMP echo on a raw socket,
//! or TCP connections timed from SYN to SYN-ACK. A fixed number of probes with a short timeout
//! each, so that a check whose packets are all dropped still ends within a few seconds.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};
use vnetlab_analysis::azure::measured::{Measured, ProbeRequest, Prober, RoundTrips};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::ResourceId;

use crate::{names, netns};

/// What one probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// ICMP echo.
    Icmp,
    /// A TCP connection to the port, closed once made. [gap] Network Watcher's Http and Https
    /// checks are TCP checks to their port here: no request is sent and no status code checked
    /// (`protocolConfiguration` is ignored).
    Tcp(u16),
}

/// How many probes, how far apart, and how long each waits for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub count: u32,
    /// Between one probe's answer (or timeout) and the next probe.
    pub interval: Duration,
    pub timeout: Duration,
}

/// [gap] Azure does not say how many probes a check sends (its documented answers show 30, 66
/// and 100) or how long each waits. Ten probes of at most 250 ms: a check whose packets are all
/// dropped takes under three seconds; one between VMs of the lab about a tenth of a second.
impl Default for Settings {
    fn default() -> Settings {
        Settings { count: 10, interval: Duration::from_millis(10), timeout: Duration::from_millis(250) }
    }
}

/// Sends `settings.count` probes from inside namespace `namespace` (from address `source` when
/// given) to `destination`, one at a time.
pub fn probe(
    namespace: &str,
    source: Option<Ipv4Addr>,
    destination: Ipv4Addr,
    target: Target,
    settings: Settings,
) -> io::Result<RoundTrips> {
    netns::run_in(namespace, move || probe_here(source, destination, target, settings))?
}

/// As [`probe`], from the namespace of the calling thread.
pub fn probe_here(
    source: Option<Ipv4Addr>,
    destination: Ipv4Addr,
    target: Target,
    settings: Settings,
) -> io::Result<RoundTrips> {
    match target {
        Target::Icmp => echo(source, destination, settings),
        Target::Tcp(port) => connect(source, destination, port, settings),
    }
}

fn bound(socket: &Socket, source: Option<Ipv4Addr>) -> io::Result<()> {
    match source {
        Some(ip) => socket.bind(&SockAddr::from(SocketAddrV4::new(ip, 0))),
        None => Ok(()),
    }
}

/// Identifiers of echo requests: a raw socket sees every ICMP packet of its namespace, so each
/// series (of this process and of others probing from the same VM) tells its answers apart by
/// identifier and sequence.
fn identifier() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16).rotate_left(8)
}

const PAYLOAD: &[u8; 24] = b"vnetlab connectivity chk";

/// The internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 =
        bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (type 8), checksummed.
fn echo_request(identifier: u16, sequence: u16) -> [u8; 32] {
    let mut packet = [0u8; 32];
    packet[0] = 8;
    packet[4..6].copy_from_slice(&identifier.to_be_bytes());
    packet[6..8].copy_from_slice(&sequence.to_be_bytes());
    packet[8..].copy_from_slice(PAYLOAD);
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// Whether `packet` (an IPv4 packet, as a raw socket reads it) is the echo reply from `from` to
/// the request `identifier`/`sequence`.
fn is_echo_reply(packet: &[u8], from: Ipv4Addr, identifier: u16, sequence: u16) -> bool {
    let Some(&first) = packet.first() else { return false };
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || packet.len() < header + 8 || packet[9] != 1 {
        return false;
    }
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[header..];
    source == from
        && icmp[0] == 0
        && icmp[1] == 0
        && icmp[4..6] == identifier.to_be_bytes()
        && icmp[6..8] == sequence.to_be_bytes()
}

/// ICMP echo on a raw socket (root, or CAP_NET_RAW: a VM's namespace leaves unprivileged ICMP
/// sockets off, as `net.ipv4.ping_group_range` starts out in a new namespace).
fn echo(source: Option<Ipv4Addr>, destination: Ipv4Addr, settings: Settings) -> io::Result<RoundTrips> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(socket2::Protocol::ICMPV4))?;
    bound(&socket, source)?;
    let to = SockAddr::from(SocketAddrV4::new(destination, 0));
    let identifier = identifier();
    let mut out = RoundTrips::default();
    let mut buffer = [0u8; 2048];
    for n in 0..settings.count {
        if n > 0 {
            std::thread::sleep(settings.interval);
        }
        let sequence = (n & 0xffff) as u16;
        let sent = Instant::now();
        out.sent += 1;
        // A request the kernel refuses to send (no route) is a failed probe like a dropped one.
        if socket.send_to(&echo_request(identifier, sequence), &to).is_err() {
            continue;
        }
        let deadline = sent + settings.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // A timeout under a microsecond would read as none at all (block forever).
            socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match (&socket).read(&mut buffer) {
                Ok(len) if is_echo_reply(&buffer[..len], destination, identifier, sequence) => {
                    out.answered.push(sent.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// TCP connections, each timed from its SYN to the SYN-ACK and closed at once.
fn connect(source: Option<Ipv4Addr>, destination: Ipv4Addr, port: u16, settings: Settings) -> io::Result<RoundTrips> {
    let to = SockAddr::from(SocketAddrV4::new(destination, port));
    let mut out = RoundTrips::default();
    for n in 0..settings.count {
        if n > 0 {
            std::thread::sleep(settings.interval);
        }
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(socket2::Protocol::TCP))?;
        bound(&socket, source)?;
        out.sent += 1;
        let started = Instant::now();
        match socket.connect_timeout(&to, settings.timeout) {
            Ok(()) => out.answered.push(started.elapsed()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => out.refused += 1,
            // Dropped on the way (a timeout), or turned away by a router: a failed probe.
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The prober `vnetlab serve` installs in the API: real probes from the source VM's namespace
/// when this machine's data plane is up and realizes that VM; `None` (the static trace)
/// otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    pub settings: Settings,
}

impl Live {
    /// The namespace of VM `vm` when the data plane is up, realizes it, and this process may
    /// enter it.
    pub fn namespace(vm: &ResourceId) -> Option<String> {
        if !netns::privileged() || !netns::exists(&names::underlay()) {
            return None;
        }
        // The name `Desired::build` gives it (the name is lower-cased there, so the id's
        // spelling of it does as well as the stored one).
        let namespace = names::namespace("", vm.name(), vm.key());
        netns::exists(&namespace).then_some(namespace)
    }
}

impl Prober for Live {
    fn measure(&self, request: &ProbeRequest) -> Option<Measured> {
        let namespace = Live::namespace(&request.vm)?;
        // [gap] The data plane realizes IPv4 only: an IPv6 check answers from the trace.
        let v4 = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        };
        let (source, destination) = (v4(request.source)?, v4(request.destination)?);
        let target = match request.probe.protocol {
            Protocol::Icmp => Target::Icmp,
            Protocol::Tcp => Target::Tcp(request.probe.port),
            Protocol::Udp | Protocol::Esp | Protocol::Ah => return None,
        };
        let hops: Vec<Ipv4Addr> = request.hops.iter().filter_map(|a| v4(*a)).collect();
        let settings = self.settings;
        let namespace = namespace.as_str();
        // Each series on its own thread inside the VM: the check takes as long as the slowest.
        std::thread::scope(|scope| {
            let series = |to: Ipv4Addr, target: Target| {
                scope.spawn(move || -> io::Result<RoundTrips> {
                    netns::enter(namespace)?;
                    probe_here(Some(source), to, target, settings)
                })
            };
            let main = series(destination, target);
            let others: Vec<_> = hops.iter().map(|&to| (to, series(to, Target::Icmp))).collect();
            let probes = main.join().ok()?.ok()?;
            // A hop that could not be probed has no round trip; the check still answers.
            let hops = others
                .into_iter()
                .filter_map(|(to, thread)| Some((IpAddr::V4(to), thread.join().ok()?.ok()?)))
                .collect();
            Some(Measured { probes, hops })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_carry_a_valid_checksum() {
        let request = echo_request(0x1234, 7);
        assert_eq!(checksum(&request), 0, "a packet with its checksum sums to zero");
        assert_eq!((request[0], &request[4..8]), (8, &[0x12, 0x34, 0, 7][..]));
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2, whose complement is 220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    /// An IPv4 packet from `from` carrying `icmp`.
    fn ipv4(from: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        packet.extend(from.octets());
        packet.extend([10, 0, 0, 4]);
        packet.extend(icmp);
        packet
    }

    #[test]
    fn only_the_matching_reply_counts() {
        let from = Ipv4Addr::new(10, 1, 1, 4);
        let mut reply = echo_request(42, 3);
        reply[0] = 0;
        assert!(is_echo_reply(&ipv4(from, &reply), from, 42, 3));
        assert!(!is_echo_reply(&ipv4(from, &reply), from, 42, 4), "another sequence");
        assert!(!is_echo_reply(&ipv4(from, &reply), from, 43, 3), "another series");
        assert!(!is_echo_reply(&ipv4(Ipv4Addr::new(10, 1, 1, 5), &reply), from, 42, 3), "another host");
        assert!(!is_echo_reply(&ipv4(from, &echo_request(42, 3)), from, 42, 3), "a request is no reply");
        assert!(!is_echo_reply(&ipv4(from, &reply[..6]), from, 42, 3), "truncated");
        assert!(!is_echo_reply(&[], from, 42, 3));
    }
}
