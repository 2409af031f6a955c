//! The reconciler: reads what the kernel holds, compares it with [`Desired`] and changes only
//! the difference. Every step is safe to repeat, so a run that was killed midway is finished by
//! the next; a second run with the same input changes nothing.
//!
//! A reconciler that has run once remembers what it wrote: later runs (the daemon following
//! the store's change feed) re-read the fabric's routes, rules and neighbours but trust
//! machines and firewall chains whose wanted state has not changed since, so that one peering
//! change costs time in proportion to what it touches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use futures::StreamExt;
use ipnet::Ipv4Net;

use crate::desired::{Desired, Fabric, Hop, Machine, UNDERLAY_LINK};
use crate::firewall::{self, FwChanges, Observed};
use crate::kernel::Netlink;
use crate::names::{self, NAMESPACE_PREFIX};
use crate::netns;

/// A machine being brought up, boxed so that the run's future is `Send` with a plain type.
type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<Report>> + Send + 'a>>;

/// The main routing table, where a VM's own routes live.
const MAIN_TABLE: u32 = 254;
/// The MTU of the underlay's links: a VM's 1500-byte packet and VXLAN's 50 bytes fit.
const UNDERLAY_MTU: u32 = 9000;
/// Names of VXLAN devices in a fabric (`vx` and the VNI in hex).
const VXLAN_PREFIX: &str = "vx";
/// How many machines are brought up at once.
const PARALLEL: usize = 16;

/// What a run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub namespaces_created: usize,
    pub namespaces_removed: usize,
    pub links_created: usize,
    pub links_removed: usize,
    pub link_changes: usize,
    pub addresses: usize,
    pub routes: usize,
    pub rules: usize,
    pub neighbours: usize,
    pub firewall: FwChanges,
    /// Edges whose IPsec tunnels were (re)configured.
    pub tunnels: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }

    fn add(&mut self, other: &Report) {
        self.namespaces_created += other.namespaces_created;
        self.namespaces_removed += other.namespaces_removed;
        self.links_created += other.links_created;
        self.links_removed += other.links_removed;
        self.link_changes += other.link_changes;
        self.addresses += other.addresses;
        self.routes += other.routes;
        self.rules += other.rules;
        self.neighbours += other.neighbours;
        self.tunnels += other.tunnels;
    }

    /// Kernel objects written or removed.
    pub fn total(&self) -> usize {
        let fw = &self.firewall;
        self.namespaces_created
            + self.namespaces_removed
            + self.links_created
            + self.links_removed
            + self.link_changes
            + self.addresses
            + self.routes
            + self.rules
            + self.neighbours
            + self.tunnels
            + fw.chains_written
            + fw.chains_removed
            + fw.counters_added
            + fw.counters_removed
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing to change");
        }
        let fw = &self.firewall;
        let parts = [
            (self.namespaces_created, "namespaces created"),
            (self.namespaces_removed, "namespaces removed"),
            (self.links_created, "links created"),
            (self.links_removed, "links removed"),
            (self.link_changes, "links changed"),
            (self.addresses, "addresses"),
            (self.routes, "routes"),
            (self.rules, "rules"),
            (self.neighbours, "neighbours"),
            (self.tunnels, "gateways' tunnels configured"),
            (fw.chains_written, "firewall chains written"),
            (fw.chains_removed, "firewall chains removed"),
            (fw.counters_added + fw.counters_removed, "counters"),
        ];
        let text: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        f.write_str(&text.join(", "))
    }
}

/// Progress of a run, for a progress bar.
pub trait Progress: Sync {
    fn machines(&self, _done: usize, _total: usize) {}
}

impl Progress for () {}

/// Follows the wanted state; keeps what it last wrote.
pub struct Reconciler {
    last: Option<Desired>,
    /// Where each edge's IPsec daemon keeps its files (a directory per namespace).
    ipsec_dir: PathBuf,
}

impl Default for Reconciler {
    fn default() -> Reconciler {
        Reconciler { last: None, ipsec_dir: PathBuf::from(IPSEC_DIR) }
    }
}

/// The default home of the edges' IPsec daemons.
pub const IPSEC_DIR: &str = "/run/vnetlab/ipsec";

fn sysctl(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl Reconciler {
    pub fn new() -> Reconciler {
        Reconciler::default()
    }

    /// Trusts that the kernel holds `want` (another reconciler just realized it): the next run
    /// changes only what differs from it.
    pub fn adopt(&mut self, want: &Desired) {
        self.last = Some(want.clone());
    }

    /// Makes the kernel hold `want`.
    pub async fn apply(&mut self, want: &Desired, progress: &dyn Progress) -> io::Result<Report> {
        let mut report = Report::default();
        // The underlay: the data plane's anchor (the agent lives there), where hosts meet.
        let underlay = &want.underlay.namespace;
        if !netns::exists(underlay) {
            netns::create(underlay)?;
            report.namespaces_created += 1;
            self.last = None;
        }
        netns::sysctls(underlay, &switch_sysctls())?;
        let underlay_nl = Netlink::open(underlay)?;
        remove_stale_ports(&underlay_nl, |name| want.underlay.ports.contains_key(name), &mut report).await?;

        let mut fabrics: Vec<(&Fabric, Netlink)> = Vec::new();
        for f in want.fabrics.values() {
            if !netns::exists(&f.namespace) {
                netns::create(&f.namespace)?;
                report.namespaces_created += 1;
                self.last = None;
            }
            // Defaults first: ports made later inherit them.
            netns::sysctls(
                &f.namespace,
                &sysctl(&[
                    ("net.ipv6.conf.all.disable_ipv6", "1"),
                    ("net.ipv6.conf.default.disable_ipv6", "1"),
                    ("net.ipv4.conf.all.rp_filter", "0"),
                    ("net.ipv4.conf.default.rp_filter", "0"),
                    ("net.ipv4.conf.all.send_redirects", "0"),
                    ("net.ipv4.conf.default.send_redirects", "0"),
                    ("net.ipv4.ip_forward", "1"),
                ]),
            )?;
            let nl = Netlink::open(&f.namespace)?;
            let links = nl.links().await?;
            if let Some(lo) = links.iter().find(|l| l.name == "lo") {
                if !lo.up {
                    nl.set_up(lo.index).await?;
                    report.link_changes += 1;
                }
                // The platform's address (Azure DNS) is the fabric's own: VMs reach it through
                // their gateway and the answer goes back out of the asker's port.
                let platform = Ipv4Net::from(names::PLATFORM_ADDRESS);
                if !nl.addresses().await?.iter().any(|a| a.index == lo.index && a.net == platform) {
                    nl.add_address(lo.index, platform).await?;
                    report.addresses += 1;
                }
            }
            // Ports of machines no longer here go first (so a name can be reused at once).
            remove_stale_ports(&nl, |name| f.ports.contains_key(name), &mut report).await?;
            fabrics.push((f, nl));
        }

        // Namespaces no longer wanted, with whatever runs there.
        let internet = &want.internet.namespace;
        let has_internet = !want.internet.ports.is_empty();
        for ns in netns::list(NAMESPACE_PREFIX) {
            let kept = ns == *underlay
                || want.fabrics.contains_key(&ns)
                || (has_internet && ns == *internet)
                || want.machines.contains_key(&ns)
                || want.edges.contains_key(&ns);
            if !kept {
                remove_namespace(&ns)?;
                let _ = std::fs::remove_dir_all(self.ipsec_dir.join(&ns));
                report.namespaces_removed += 1;
            }
        }
        let internet_nl = if has_internet {
            if !netns::exists(internet) {
                netns::create(internet)?;
                report.namespaces_created += 1;
            }
            netns::sysctls(internet, &switch_sysctls())?;
            let nl = Netlink::open(internet)?;
            remove_stale_ports(&nl, |name| want.internet.ports.contains_key(name), &mut report).await?;
            Some(nl)
        } else {
            None
        };

        // Edges (gateways, site routers) first: a site's branch VMs plug into its router.
        let last = self.last.as_ref();
        let edges: Vec<&Machine> = want
            .edges
            .values()
            .map(|e| &e.machine)
            .filter(|m| last.and_then(|l| l.edges.get(&m.namespace)).map(|e| &e.machine) != Some(*m))
            .collect();
        let vms: Vec<&Machine> =
            want.machines.values().filter(|m| last.and_then(|l| l.machines.get(&m.namespace)) != Some(*m)).collect();
        // A router whose VMs changed is brought in step again once their links exist.
        let routers: Vec<&Machine> = want
            .edges
            .values()
            .map(|e| &e.machine)
            .filter(|r| !r.lan.is_empty())
            .filter(|r| edges.iter().chain(&vms).any(|m| m.namespace == r.namespace || m.vm == r.vm))
            .collect();
        let (total, mut done) = (edges.len() + vms.len(), 0);
        let mut switches = Switches::new();
        let links_of = |links: Vec<crate::kernel::Link>| -> HashMap<String, u32> {
            links.into_iter().map(|l| (l.name, l.index)).collect()
        };
        for (f, nl) in &fabrics {
            switches.insert(f.namespace.clone(), (nl, links_of(nl.links().await?)));
        }
        if let Some(inl) = &internet_nl {
            switches.insert(internet.clone(), (inl, links_of(inl.links().await?)));
        }
        progress.machines(0, total);
        report.add(&run_machines(&edges, &switches, &mut done, total, progress).await?);
        let mut lans = Vec::new();
        for e in want.edges.values().filter(|e| !e.machine.lan.is_empty()) {
            lans.push((e.machine.namespace.clone(), Netlink::open(&e.machine.namespace)?));
        }
        for (ns, nl) in &lans {
            switches.insert(ns.clone(), (nl, links_of(nl.links().await?)));
        }
        report.add(&run_machines(&vms, &switches, &mut done, total, progress).await?);
        let mut again = 0;
        report.add(&run_machines(&routers, &switches, &mut again, 0, &()).await?);

        for (f, nl) in &fabrics {
            report.add(&self.hosts(want, f, nl, &underlay_nl).await?);
            report.add(&self.fabric(f, nl).await?);
        }
        report.add(&switch_ports(&want.underlay, &underlay_nl).await?);
        if let Some(inl) = &internet_nl {
            report.add(&switch_ports(&want.internet, inl).await?);
        }
        for (f, _) in &fabrics {
            let fw = self.firewall(f)?;
            report.firewall.add(&fw);
        }
        report.tunnels = self.tunnels(want).await?;
        self.last = Some(want.clone());
        Ok(report)
    }

    /// A fabric's side of the underlay (`u0`, routes and neighbours to the other hosts) and its
    /// VXLAN devices with their forwarding entries.
    async fn hosts(&self, want: &Desired, f: &Fabric, nl: &Netlink, underlay: &Netlink) -> io::Result<Report> {
        let mut report = Report::default();
        let mut links: HashMap<String, crate::kernel::Link> =
            nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
        let port = want.underlay.ports.values().find(|p| p.machine == f.namespace);
        let u0 = match port {
            Some(port) => {
                if !links.contains_key(UNDERLAY_LINK) {
                    if let Some(old) = underlay.links().await?.into_iter().find(|l| l.name == port.name) {
                        underlay.del_link(old.index).await?;
                    }
                    underlay.add_veth(&port.name, port.mac, UNDERLAY_LINK, port.peer_mac, &f.namespace).await?;
                    report.links_created += 1;
                    links = nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
                }
                links.get(UNDERLAY_LINK).cloned()
            }
            None => {
                if let Some(l) = links.get(UNDERLAY_LINK) {
                    nl.del_link(l.index).await?;
                    report.links_removed += 1;
                }
                None
            }
        };
        // The underlay carries whole frames of the VMs inside VXLAN: room for them.
        if let (Some(u0), Some(port)) = (&u0, port) {
            if u0.mtu != Some(UNDERLAY_MTU) {
                nl.set_mtu(u0.index, UNDERLAY_MTU).await?;
                report.link_changes += 1;
            }
            if let Some(peer) = underlay.links().await?.into_iter().find(|l| l.name == port.name)
                && peer.mtu != Some(UNDERLAY_MTU)
            {
                underlay.set_mtu(peer.index, UNDERLAY_MTU).await?;
                report.link_changes += 1;
            }
            if !u0.up {
                nl.set_up(u0.index).await?;
                report.link_changes += 1;
            }
            let own = Ipv4Net::from(f.underlay);
            let addresses = nl.addresses().await?;
            for a in addresses.iter().filter(|a| a.index == u0.index && a.net != own) {
                nl.del_address(a).await?;
                report.addresses += 1;
            }
            if !addresses.iter().any(|a| a.index == u0.index && a.net == own) {
                nl.add_address(u0.index, own).await?;
                report.addresses += 1;
            }
            // The other hosts: a route each, and the underlay port's MAC for them.
            let others: BTreeSet<Ipv4Addr> =
                want.fabrics.values().filter(|o| o.namespace != f.namespace).map(|o| o.underlay).collect();
            let wanted: BTreeMap<(u32, Ipv4Addr), [u8; 6]> =
                others.iter().map(|ip| ((u0.index, *ip), port.mac)).collect();
            sync_neighbours(nl, &BTreeSet::from([u0.index]), &wanted, false, &mut report).await?;
            let mut have = BTreeSet::new();
            for r in nl.routes().await?.into_iter().filter(|r| r.table == MAIN_TABLE && r.oif == Some(u0.index)) {
                let wanted = r.dst.prefix_len() == 32 && others.contains(&r.dst.addr()) && r.gateway.is_none();
                if wanted && !r.blackhole {
                    have.insert(r.dst.addr());
                } else if r.dst != Ipv4Net::new(f.underlay, 32).unwrap_or_default() {
                    nl.del_route(&r).await?;
                    report.routes += 1;
                }
            }
            for ip in others.difference(&have) {
                nl.put_route(MAIN_TABLE, Ipv4Net::from(*ip), false, Some(u0.index), None).await?;
                report.routes += 1;
            }
        }

        // VXLAN devices: made when missing, removed when no longer wanted.
        for l in links.values().filter(|l| l.name.starts_with(VXLAN_PREFIX)) {
            if !f.vxlans.contains_key(&l.name) {
                nl.del_link(l.index).await?;
                report.links_removed += 1;
            }
        }
        let Some(u0) = u0 else { return Ok(report) };
        let mut made = false;
        for x in f.vxlans.values() {
            if !links.contains_key(&x.name) {
                nl.add_vxlan(&x.name, x.vni, x.mac, u0.index, f.underlay).await?;
                report.links_created += 1;
                made = true;
            }
        }
        if made {
            links = nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
        }
        let mut wanted_fdb: BTreeMap<(u32, [u8; 6]), Ipv4Addr> = BTreeMap::new();
        let mut wanted_neighbours: BTreeMap<(u32, Ipv4Addr), [u8; 6]> = BTreeMap::new();
        for x in f.vxlans.values() {
            let Some(link) = links.get(&x.name) else { continue };
            port_state(nl, link, x.mac, &mut report).await?;
            for (via, (mac, underlay_ip)) in &x.remotes {
                wanted_fdb.insert((link.index, *mac), *underlay_ip);
                wanted_neighbours.insert((link.index, *via), *mac);
            }
        }
        let devices: BTreeSet<u32> =
            links.values().filter(|l| l.name.starts_with(VXLAN_PREFIX)).map(|l| l.index).collect();
        let mut have = BTreeSet::new();
        for e in nl.fdb().await?.into_iter().filter(|e| devices.contains(&e.index)) {
            match wanted_fdb.get(&(e.index, e.mac)) {
                Some(dst) if e.dst == Some(*dst) => {
                    have.insert((e.index, e.mac));
                }
                _ => {
                    nl.del_fdb(&e).await?;
                    report.neighbours += 1;
                }
            }
        }
        for ((index, mac), dst) in &wanted_fdb {
            if !have.contains(&(*index, *mac)) {
                nl.add_fdb(*index, *mac, *dst).await?;
                report.neighbours += 1;
            }
        }
        sync_neighbours(nl, &devices, &wanted_neighbours, false, &mut report).await?;
        Ok(report)
    }

    /// The fabric's ports, neighbours, rules and routes.
    async fn fabric(&self, f: &Fabric, nl: &Netlink) -> io::Result<Report> {
        let mut report = Report::default();
        let links: HashMap<String, crate::kernel::Link> =
            nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
        let index = |name: &str| links.get(name).map(|l| l.index);
        for port in f.ports.values() {
            let Some(link) = links.get(&port.name) else {
                return Err(io::Error::other(format!("port {} is missing after its machine was made", port.name)));
            };
            port_state(nl, link, port.mac, &mut report).await?;
        }

        // Neighbours: each NIC address on its port, permanent.
        let mut wanted: BTreeMap<(u32, Ipv4Addr), [u8; 6]> = BTreeMap::new();
        for port in f.ports.values() {
            if let Some(i) = index(&port.name) {
                for ip in &port.addresses {
                    wanted.insert((i, *ip), port.peer_mac);
                }
            }
        }
        let ours: BTreeSet<u32> =
            links.values().filter(|l| l.name.starts_with(names::LINK_PREFIX)).map(|l| l.index).collect();
        sync_neighbours(nl, &ours, &wanted, true, &mut report).await?;

        // Rules: the port's subnet table for what comes in through it, and for what the fabric
        // itself answers out of it.
        let mut wanted_rules: BTreeSet<(u32, String, u32)> = BTreeSet::new();
        for port in f.ports.values() {
            wanted_rules.insert((names::RULE_IIF_PRIORITY, port.name.clone(), port.table));
            wanted_rules.insert((names::RULE_OIF_PRIORITY, port.name.clone(), port.table));
        }
        // What arrives from another host is delivered to the VNet's NICs here.
        for x in f.vxlans.values() {
            if let Some(table) = x.delivery {
                wanted_rules.insert((names::RULE_IIF_PRIORITY, x.name.clone(), table));
            }
        }
        let mut have_rules = BTreeSet::new();
        for rule in nl.rules().await? {
            let key = match rule.priority {
                names::RULE_IIF_PRIORITY => rule.iif.clone().filter(|_| rule.oif.is_none()),
                names::RULE_OIF_PRIORITY => rule.oif.clone().filter(|_| rule.iif.is_none()),
                _ => continue,
            };
            match key.map(|k| (rule.priority, k, rule.table)) {
                Some(k) if wanted_rules.contains(&k) && !have_rules.contains(&k) => {
                    have_rules.insert(k);
                }
                _ => {
                    nl.del_rule(&rule).await?;
                    report.rules += 1;
                }
            }
        }
        for (priority, port, table) in wanted_rules.difference(&have_rules) {
            let (iif, oif) = if *priority == names::RULE_IIF_PRIORITY {
                (Some(port.as_str()), None)
            } else {
                (None, Some(port.as_str()))
            };
            nl.add_rule(*priority, iif, oif, *table).await?;
            report.rules += 1;
        }

        // Routes of the subnet tables.
        type Key = (u32, Ipv4Net);
        type Value = (bool, Option<u32>, Option<Ipv4Addr>);
        let mut wanted_routes: BTreeMap<Key, Value> = BTreeMap::new();
        for table in f.tables.values() {
            for (dst, hop) in &table.routes {
                let value = match hop {
                    Hop::Blackhole => (true, None, None),
                    Hop::Port(p) => match index(p) {
                        Some(i) => (false, Some(i), None),
                        None => (true, None, None),
                    },
                    Hop::Via(ip, p) | Hop::Remote(p, ip) => match index(p) {
                        Some(i) => (false, Some(i), Some(*ip)),
                        None => (true, None, None),
                    },
                };
                wanted_routes.insert((table.id, *dst), value);
            }
        }
        let mut have_routes = BTreeSet::new();
        for route in nl.routes().await? {
            if !(names::FIRST_TABLE..0x7fff_0000).contains(&route.table) {
                continue;
            }
            let key = (route.table, route.dst);
            match wanted_routes.get(&key) {
                Some(v) if *v == (route.blackhole, route.oif, route.gateway) => {
                    have_routes.insert(key);
                }
                Some(_) => {}
                None => {
                    nl.del_route(&route).await?;
                    report.routes += 1;
                }
            }
        }
        for (key, (blackhole, oif, gateway)) in &wanted_routes {
            if !have_routes.contains(key) {
                nl.put_route(key.0, key.1, *blackhole, *oif, *gateway).await?;
                report.routes += 1;
            }
        }
        Ok(report)
    }

    /// The IPsec daemons of edges whose wanted state changed. Each end is configured first;
    /// then the initiators whose tunnel is not up yet (their peer may have been configured
    /// after them) try once more.
    async fn tunnels(&self, want: &Desired) -> io::Result<usize> {
        let last = self.last.as_ref();
        let changed: Vec<(crate::ipsec::Gateway, Vec<crate::ipsec::Tunnel>)> = want
            .edges
            .values()
            .filter(|e| last.and_then(|l| l.edges.get(&e.machine.namespace)) != Some(*e))
            .map(|e| {
                let gateway =
                    crate::ipsec::Gateway::new(&e.machine.namespace, self.ipsec_dir.join(&e.machine.namespace));
                (gateway, e.tunnels.clone())
            })
            .collect();
        let configure = |edges: Vec<(crate::ipsec::Gateway, Vec<crate::ipsec::Tunnel>)>| async move {
            let mut tasks = Vec::new();
            for (gateway, tunnels) in edges {
                tasks.push(tokio::task::spawn_blocking(move || {
                    let done =
                        if tunnels.is_empty() { gateway.stop().map(|()| false) } else { gateway.ensure(&tunnels) };
                    done.map(|changed| (gateway, tunnels, changed))
                }));
            }
            let mut out = Vec::new();
            for task in tasks {
                let result = task.await.map_err(io::Error::other)?;
                out.push(result.map_err(|e| io::Error::other(e.to_string()))?);
            }
            Ok::<_, io::Error>(out)
        };
        let configured = configure(changed).await?;
        let mut count = configured.iter().filter(|(_, _, changed)| *changed).count();
        let mut retry = Vec::new();
        for (gateway, tunnels, _) in configured {
            if !tunnels.iter().any(|t| t.initiate) {
                continue;
            }
            let status = gateway.status().map_err(|e| io::Error::other(e.to_string()))?;
            let down = tunnels
                .iter()
                .any(|t| t.initiate && status.get(&t.name) != Some(&crate::ipsec::TunnelStatus::Connected));
            if down {
                retry.push((gateway, tunnels));
            }
        }
        count += configure(retry).await?.iter().filter(|(_, _, changed)| *changed).count();
        // Each gateway's meters: the bytes of each connection, in and out of its tunnel.
        for e in want.edges.values().filter(|e| e.kind == crate::desired::EdgeKind::Gateway) {
            let before = last.and_then(|l| l.edges.get(&e.machine.namespace));
            if before == Some(e) {
                continue;
            }
            write_firewall(&e.machine.namespace, &e.meters, before.map(|b| &b.meters))?;
        }
        Ok(count)
    }

    /// A fabric's nftables table: compared with the kernel's on a first run, with what this
    /// reconciler wrote before on later ones.
    fn firewall(&self, f: &Fabric) -> io::Result<FwChanges> {
        let last = self.last.as_ref().and_then(|l| l.fabrics.get(&f.namespace)).map(|l| &l.firewall);
        write_firewall(&f.namespace, &f.firewall, last)
    }
}

/// Namespace `ns`'s nftables table: compared with what was written there before (`last`), or
/// with the kernel's when there is no record.
fn write_firewall(ns: &str, wanted: &firewall::Ruleset, last: Option<&firewall::Ruleset>) -> io::Result<FwChanges> {
    let wanted = wanted.clone();
    let last = last.cloned();
    netns::run_in(ns, move || -> io::Result<FwChanges> {
        let seen = match last {
            Some(rs) => Observed::written(&rs),
            None => firewall::observe()?,
        };
        let (batch, changes) = firewall::plan(&wanted, &seen);
        if let Some(batch) = batch {
            firewall::apply(&batch)?;
        }
        Ok(changes)
    })?
}

/// Brings `machines` up, a few at a time, counting them in `done` of `total`.
async fn run_machines(
    machines: &[&Machine],
    switches: &Switches<'_>,
    done: &mut usize,
    total: usize,
    progress: &dyn Progress,
) -> io::Result<Report> {
    let mut report = Report::default();
    let pending: Vec<Pending<'_>> = machines
        .iter()
        .map(|m| {
            Box::pin(async move {
                machine(m, switches).await.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", m.namespace)))
            }) as Pending<'_>
        })
        .collect();
    let mut stream = futures::stream::iter(pending).buffer_unordered(PARALLEL);
    while let Some(result) = stream.next().await {
        report.add(&result?);
        *done += 1;
        if total > 0 {
            progress.machines(*done, total);
        }
    }
    Ok(report)
}

/// The namespaces ports live in (the fabric, the internet), with their links by name.
type Switches<'a> = HashMap<String, (&'a Netlink, HashMap<String, u32>)>;

/// A VM's namespace (or an edge's), its veth pairs and everything inside it.
async fn machine(m: &Machine, switches: &Switches<'_>) -> io::Result<Report> {
    let mut report = Report::default();
    if !netns::exists(&m.namespace) {
        netns::create(&m.namespace)?;
        report.namespaces_created += 1;
    }
    netns::sysctls(
        &m.namespace,
        &sysctl(&[
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.accept_redirects", "0"),
            ("net.ipv4.conf.default.accept_redirects", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.ipv4.ip_forward", if m.forwarding { "1" } else { "0" }),
        ]),
    )?;
    let nl = Netlink::open(&m.namespace)?;
    let mut links: HashMap<String, crate::kernel::Link> =
        nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
    for i in &m.interfaces {
        if !links.contains_key(&i.ifname) {
            let Some((switch, switch_links)) = switches.get(&i.fabric) else {
                return Err(io::Error::other(format!("namespace {} is not up for {}", i.fabric, m.namespace)));
            };
            // A port whose other end is not here (the namespace was made again) goes first.
            if let Some(&index) = switch_links.get(&i.port) {
                let _ = switch.del_link(index).await;
                report.links_removed += 1;
            }
            switch.add_veth(&i.port, i.port_mac, &i.ifname, i.mac, &m.namespace).await?;
            report.links_created += 1;
        }
    }
    if report.links_created > 0 {
        links = nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
    }
    for link in links.values() {
        let wanted = m.interfaces.iter().find(|i| i.ifname == link.name);
        if let Some(i) = wanted
            && link.mac != Some(i.mac)
        {
            nl.set_mac(link.index, i.mac).await?;
            report.link_changes += 1;
        }
        if (wanted.is_some() || link.name == "lo") && !link.up {
            nl.set_up(link.index).await?;
            report.link_changes += 1;
        }
        if wanted.is_none() && link.name != "lo" && link.name.starts_with("eth") {
            nl.del_link(link.index).await?;
            report.links_removed += 1;
        }
    }
    let index = |name: &str| links.get(name).map(|l| l.index);

    // Addresses, without prefix routes.
    let mut wanted: BTreeSet<(u32, Ipv4Net)> = BTreeSet::new();
    for i in &m.interfaces {
        if let Some(x) = index(&i.ifname) {
            wanted.extend(i.addresses.iter().map(|a| (x, *a)));
        }
    }
    if let Some(lo) = index("lo") {
        wanted.extend(m.local.iter().map(|a| (lo, *a)));
    }
    let mut have = BTreeSet::new();
    for a in nl.addresses().await? {
        if a.net.addr().is_loopback() {
            continue;
        }
        if wanted.contains(&(a.index, a.net)) && a.noprefixroute {
            have.insert((a.index, a.net));
        } else {
            nl.del_address(&a).await?;
            report.addresses += 1;
        }
    }
    for (x, net) in wanted.difference(&have) {
        nl.add_address(*x, *net).await?;
        report.addresses += 1;
    }

    // A router's LAN ports (a site's, to its branch VMs): made by the VMs' side; here their
    // MACs and state, and the ports no VM uses any more go.
    for link in links.values().filter(|l| l.name.starts_with(names::LINK_PREFIX)) {
        match m.lan.iter().find(|p| p.name == link.name) {
            Some(p) => port_state(&nl, link, p.mac, &mut report).await?,
            None => {
                nl.del_link(link.index).await?;
                report.links_removed += 1;
            }
        }
    }

    // Neighbours are known: the gateway's MAC behind each interface, each LAN host's MAC.
    let mut wanted: BTreeMap<(u32, Ipv4Addr), [u8; 6]> = BTreeMap::new();
    for i in &m.interfaces {
        if let Some(x) = index(&i.ifname) {
            wanted.insert((x, i.gateway), i.port_mac);
        }
    }
    for p in &m.lan {
        if let Some(x) = index(&p.name) {
            wanted.extend(p.addresses.iter().map(|ip| ((x, *ip), p.peer_mac)));
        }
    }
    let every: BTreeSet<u32> = links.values().map(|l| l.index).collect();
    sync_neighbours(&nl, &every, &wanted, false, &mut report).await?;

    // Routes: everything to the gateway, on-link; a LAN host out of its port.
    let mut wanted: BTreeMap<Ipv4Net, (u32, Option<Ipv4Addr>)> = BTreeMap::new();
    for i in &m.interfaces {
        if let Some(x) = index(&i.ifname) {
            for r in &i.routes {
                wanted.insert(*r, (x, Some(i.gateway)));
            }
        }
    }
    for p in &m.lan {
        if let Some(x) = index(&p.name) {
            wanted.extend(p.addresses.iter().map(|ip| (Ipv4Net::from(*ip), (x, None))));
        }
    }
    let mut have = BTreeSet::new();
    for r in nl.routes().await? {
        if r.table != MAIN_TABLE {
            continue;
        }
        match wanted.get(&r.dst) {
            Some((x, gw)) if r.oif == Some(*x) && r.gateway == *gw && !r.blackhole => {
                have.insert(r.dst);
            }
            _ => {
                nl.del_route(&r).await?;
                report.routes += 1;
            }
        }
    }
    for (dst, (x, gw)) in &wanted {
        if !have.contains(dst) {
            nl.put_route(MAIN_TABLE, *dst, false, Some(*x), *gw).await?;
            report.routes += 1;
        }
    }
    Ok(report)
}

/// Makes the permanent neighbour entries on the interfaces `on` exactly `wanted` (interface,
/// address → MAC); entries elsewhere are left alone, and so are entries the kernel learned
/// itself unless `learned_too`.
async fn sync_neighbours(
    nl: &Netlink,
    on: &BTreeSet<u32>,
    wanted: &BTreeMap<(u32, Ipv4Addr), [u8; 6]>,
    learned_too: bool,
    report: &mut Report,
) -> io::Result<()> {
    let mut have = BTreeSet::new();
    for n in nl.neighbours().await?.iter().filter(|n| on.contains(&n.index)) {
        match wanted.get(&(n.index, n.ip)) {
            Some(mac) if n.permanent && n.mac == Some(*mac) => {
                have.insert((n.index, n.ip));
            }
            Some(_) => {}
            None if !n.permanent && !learned_too => {}
            None => {
                nl.del_neighbour(n).await?;
                report.neighbours += 1;
            }
        }
    }
    for ((i, ip), mac) in wanted {
        if !have.contains(&(*i, *ip)) {
            nl.put_neighbour(*i, *ip, *mac).await?;
            report.neighbours += 1;
        }
    }
    Ok(())
}

/// Sysctls of a namespace that only routes between its ports (the internet, the underlay).
fn switch_sysctls() -> Vec<(String, String)> {
    sysctl(&[
        ("net.ipv6.conf.all.disable_ipv6", "1"),
        ("net.ipv6.conf.default.disable_ipv6", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.ip_forward", "1"),
    ])
}

/// Removes vnetlab's ports of a namespace that `wanted` does not name.
async fn remove_stale_ports(nl: &Netlink, wanted: impl Fn(&str) -> bool, report: &mut Report) -> io::Result<()> {
    for link in nl.links().await?.iter().filter(|l| l.name.starts_with(names::LINK_PREFIX)) {
        if !wanted(&link.name) {
            nl.del_link(link.index).await?;
            report.links_removed += 1;
        }
    }
    Ok(())
}

/// A port's MAC and state as wanted: `mac`, up.
async fn port_state(nl: &Netlink, link: &crate::kernel::Link, mac: [u8; 6], report: &mut Report) -> io::Result<()> {
    if link.mac != Some(mac) {
        nl.set_mac(link.index, mac).await?;
        report.link_changes += 1;
    }
    if !link.up {
        nl.set_up(link.index).await?;
        report.link_changes += 1;
    }
    Ok(())
}

/// The switch's side of the interfaces plugged into the internet or the underlay: each address
/// routed to its port, with its neighbour entry.
async fn switch_ports(switch: &crate::desired::Internet, nl: &Netlink) -> io::Result<Report> {
    let mut report = Report::default();
    let links: HashMap<String, crate::kernel::Link> =
        nl.links().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
    let mut wanted_neighbours: BTreeMap<(u32, Ipv4Addr), [u8; 6]> = BTreeMap::new();
    let mut wanted_routes: BTreeMap<Ipv4Net, u32> = BTreeMap::new();
    for port in switch.ports.values() {
        let Some(link) = links.get(&port.name) else {
            return Err(io::Error::other(format!("port {} is missing after its end was made", port.name)));
        };
        port_state(nl, link, port.mac, &mut report).await?;
        for ip in &port.addresses {
            wanted_neighbours.insert((link.index, *ip), port.peer_mac);
            wanted_routes.insert(Ipv4Net::from(*ip), link.index);
        }
    }
    let ours: BTreeSet<u32> =
        links.values().filter(|l| l.name.starts_with(names::LINK_PREFIX)).map(|l| l.index).collect();
    sync_neighbours(nl, &ours, &wanted_neighbours, true, &mut report).await?;
    let mut have = BTreeSet::new();
    for r in nl.routes().await?.into_iter().filter(|r| r.table == MAIN_TABLE) {
        match wanted_routes.get(&r.dst) {
            Some(i) if r.oif == Some(*i) && r.gateway.is_none() && !r.blackhole => {
                have.insert(r.dst);
            }
            _ => {
                nl.del_route(&r).await?;
                report.routes += 1;
            }
        }
    }
    for (dst, i) in &wanted_routes {
        if !have.contains(dst) {
            nl.put_route(MAIN_TABLE, *dst, false, Some(*i), None).await?;
            report.routes += 1;
        }
    }
    Ok(report)
}

/// Ends every process in namespace `ns` and removes it.
fn remove_namespace(ns: &str) -> io::Result<()> {
    for pid in netns::pids(ns) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    netns::delete(ns)
}

/// Everything vnetlab made, gone: every `vl-` namespace (the fabric's with its ports, routes,
/// rules and table), and the processes that ran in them. Returns the namespaces removed.
pub fn down() -> io::Result<Vec<String>> {
    let mut gone = Vec::new();
    let all = netns::list(NAMESPACE_PREFIX);
    // Machines first, so no fabric port outlives its VM by accident.
    let (fabrics, others): (Vec<String>, Vec<String>) =
        all.into_iter().partition(|n| n.starts_with(&names::fabric("")));
    for ns in others.into_iter().chain(fabrics) {
        remove_namespace(&ns)?;
        gone.push(ns);
    }
    match std::fs::remove_dir_all(IPSEC_DIR) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    Ok(gone)
}
