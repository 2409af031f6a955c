//! Probes with real packets from inside a VM's namespace: ping for ICMP, sockets opened on a
//! thread that entered the namespace for TCP and UDP.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vnetlab_dataplane::netns;

pub const WAIT: Duration = Duration::from_millis(400);

/// Whether one ping from `ns` to `ip` is answered.
pub fn ping(ns: &str, ip: Ipv4Addr) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c1", "-W0.4", "-q", &ip.to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// TCP and UDP echo listeners on `ports` inside `ns`, until dropped (they must not outlive
/// the namespace: a socket keeps its namespace alive).
pub struct Listener {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Each answer carries `me`, so that a probe knows which VM answered.
pub fn listen(ns: &str, me: &str, ports: &[u16]) -> Listener {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let mut threads = Vec::new();
    for &port in ports {
        let (name, flag, sender, who) = (ns.to_owned(), stop.clone(), tx.clone(), me.to_owned());
        threads.push(std::thread::spawn(move || {
            netns::enter(&name).unwrap();
            let listener = TcpListener::bind(("0.0.0.0", port)).unwrap();
            listener.set_nonblocking(true).unwrap();
            sender.send(()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.write_all(who.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
        let (name, flag, sender, who) = (ns.to_owned(), stop.clone(), tx.clone(), me.to_owned());
        threads.push(std::thread::spawn(move || {
            netns::enter(&name).unwrap();
            let socket = UdpSocket::bind(("0.0.0.0", port)).unwrap();
            socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            sender.send(()).unwrap();
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(who.as_bytes(), from);
                }
            }
        }));
    }
    for _ in 0..threads.len() {
        rx.recv().unwrap();
    }
    Listener { stop, threads }
}

/// The VM that answers a TCP connection from `ns` to `ip:port`, if one does.
pub fn tcp(ns: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
    netns::run_in(ns, move || {
        let mut stream = TcpStream::connect_timeout(&SocketAddr::from((ip, port)), WAIT).ok()?;
        stream.set_read_timeout(Some(WAIT)).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    })
    .unwrap()
}

/// The VM that answers a UDP datagram from `ns` to `ip:port`, if one does.
pub fn udp(ns: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
    netns::run_in(ns, move || {
        let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
        socket.set_read_timeout(Some(WAIT)).ok()?;
        socket.send_to(b"hello", (ip, port)).ok()?;
        let mut buf = [0u8; 128];
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .unwrap()
}
