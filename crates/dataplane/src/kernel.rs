//! Netlink, one connection per namespace: links, addresses, routes, rules and neighbours, read
//! whole and changed one message at a time. A connection's socket is opened on a thread that
//! entered the namespace, so everything it says applies there.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::{Handle, IpVersion, LinkMessageBuilder, LinkUnspec, LinkVxlan, RouteMessageBuilder};

use crate::netns;

fn nl(e: rtnetlink::Error) -> io::Error {
    io::Error::other(format!("netlink: {e}"))
}

/// For removals: an object already gone (ESRCH, ENOENT, ENODEV) is what was wanted.
fn gone(result: Result<(), rtnetlink::Error>) -> io::Result<()> {
    match result {
        Err(rtnetlink::Error::NetlinkError(m))
            if [libc::ESRCH, libc::ENOENT, libc::ENODEV].contains(&-m.raw_code()) =>
        {
            Ok(())
        }
        other => other.map_err(nl),
    }
}

/// A netlink connection inside one namespace.
pub struct Netlink {
    handle: Handle,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Address {
    pub index: u32,
    pub net: Ipv4Net,
    pub noprefixroute: bool,
    message: AddressMessage,
}

/// An IPv4 route as vnetlab writes them.
#[derive(Debug, Clone)]
pub struct Route {
    pub table: u32,
    pub dst: Ipv4Net,
    pub blackhole: bool,
    pub oif: Option<u32>,
    pub gateway: Option<Ipv4Addr>,
    message: RouteMessage,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub priority: u32,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub table: u32,
    message: RuleMessage,
}

#[derive(Debug, Clone)]
pub struct Neighbour {
    pub index: u32,
    pub ip: Ipv4Addr,
    pub mac: Option<[u8; 6]>,
    pub permanent: bool,
    message: NeighbourMessage,
}

fn mac_of(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

impl Netlink {
    /// A connection whose socket lives in namespace `ns`; its driver runs on the current tokio
    /// runtime.
    pub fn open(ns: &str) -> io::Result<Netlink> {
        let runtime = tokio::runtime::Handle::current();
        let name = ns.to_owned();
        let (connection, handle) = std::thread::spawn(move || -> io::Result<_> {
            netns::enter(&name)?;
            let _guard = runtime.enter();
            let (connection, handle, _) = rtnetlink::new_connection()?;
            Ok((connection, handle))
        })
        .join()
        .map_err(|_| io::Error::other("a netlink thread panicked"))??;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    pub async fn links(&self) -> io::Result<Vec<Link>> {
        let found: Vec<LinkMessage> = self.handle.link().get().execute().try_collect().await.map_err(nl)?;
        Ok(found
            .into_iter()
            .map(|m| {
                let mut link = Link {
                    index: m.header.index,
                    name: String::new(),
                    mac: None,
                    up: m.header.flags.contains(LinkFlags::Up),
                    mtu: None,
                };
                for a in &m.attributes {
                    match a {
                        LinkAttribute::IfName(n) => link.name = n.clone(),
                        LinkAttribute::Address(bytes) => link.mac = mac_of(bytes),
                        LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                        _ => {}
                    }
                }
                link
            })
            .collect())
    }

    /// A veth pair: `name` here, `peer` inside namespace `peer_ns`, each with its MAC.
    pub async fn add_veth(
        &self,
        name: &str,
        mac: [u8; 6],
        peer: &str,
        peer_mac: [u8; 6],
        peer_ns: &str,
    ) -> io::Result<()> {
        let file = std::fs::File::open(netns::path(peer_ns))?;
        let peer_message = LinkMessageBuilder::<LinkUnspec>::default()
            .name(peer.to_owned())
            .address(peer_mac.to_vec())
            .setns_by_fd(file.as_raw_fd())
            .build();
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_owned())
            .address(mac.to_vec())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message)))
            .build();
        self.handle.link().add(message).execute().await.map_err(nl)
    }

    pub async fn set_up(&self, index: u32) -> io::Result<()> {
        self.handle.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await.map_err(nl)
    }

    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).address(mac.to_vec()).build())
            .execute()
            .await
            .map_err(nl)
    }

    pub async fn del_link(&self, index: u32) -> io::Result<()> {
        gone(self.handle.link().del(index).execute().await)
    }

    pub async fn addresses(&self) -> io::Result<Vec<Address>> {
        let found: Vec<AddressMessage> = self.handle.address().get().execute().try_collect().await.map_err(nl)?;
        Ok(found
            .into_iter()
            .filter_map(|m| {
                let mut ip = None;
                let mut noprefixroute = false;
                for a in &m.attributes {
                    match a {
                        AddressAttribute::Local(IpAddr::V4(v)) => ip = Some(*v),
                        AddressAttribute::Address(IpAddr::V4(v)) if ip.is_none() => ip = Some(*v),
                        AddressAttribute::Flags(f) => noprefixroute = f.contains(AddressFlags::Noprefixroute),
                        _ => {}
                    }
                }
                let net = Ipv4Net::new(ip?, m.header.prefix_len).ok()?;
                Some(Address { index: m.header.index, net, noprefixroute, message: m })
            })
            .collect())
    }

    /// Adds an address without the prefix route the kernel would add: every packet of a VM
    /// goes to its gateway, the fabric, as in Azure.
    pub async fn add_address(&self, index: u32, net: Ipv4Net) -> io::Result<()> {
        let mut request = self.handle.address().add(index, IpAddr::V4(net.addr()), net.prefix_len()).replace();
        request.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Noprefixroute));
        request.execute().await.map_err(nl)
    }

    pub async fn del_address(&self, address: &Address) -> io::Result<()> {
        gone(self.handle.address().del(address.message.clone()).execute().await)
    }

    pub async fn routes(&self) -> io::Result<Vec<Route>> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let found: Vec<RouteMessage> = self.handle.route().get(query).execute().try_collect().await.map_err(nl)?;
        Ok(found
            .into_iter()
            .filter_map(|m| {
                let mut table = u32::from(m.header.table);
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let mut oif = None;
                let mut gateway = None;
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Table(t) => table = *t,
                        RouteAttribute::Destination(RouteAddress::Inet(v)) => dst = *v,
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Gateway(RouteAddress::Inet(v)) => gateway = Some(*v),
                        _ => {}
                    }
                }
                let dst = Ipv4Net::new(dst, m.header.destination_prefix_length).ok()?;
                let blackhole = m.header.kind == RouteType::BlackHole;
                if !matches!(m.header.kind, RouteType::BlackHole | RouteType::Unicast) {
                    return None;
                }
                Some(Route { table, dst, blackhole, oif, gateway, message: m })
            })
            .collect())
    }

    /// Adds or replaces a route in `table`: a blackhole, out of `oif`, or via `gateway` on
    /// `oif` (on-link: the neighbour is static, no subnet is configured on the port).
    pub async fn put_route(
        &self,
        table: u32,
        dst: Ipv4Net,
        blackhole: bool,
        oif: Option<u32>,
        gateway: Option<Ipv4Addr>,
    ) -> io::Result<()> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.network(), dst.prefix_len())
            .table_id(table)
            .protocol(rtnetlink::packet_route::route::RouteProtocol::Static);
        if blackhole {
            b = b.kind(RouteType::BlackHole);
        } else {
            if let Some(i) = oif {
                b = b.output_interface(i);
            }
            match gateway {
                Some(g) => b = b.gateway(g).onlink(),
                None => b = b.scope(rtnetlink::packet_route::route::RouteScope::Link),
            }
        }
        self.handle.route().add(b.build()).replace().execute().await.map_err(nl)
    }

    pub async fn del_route(&self, route: &Route) -> io::Result<()> {
        gone(self.handle.route().del(route.message.clone()).execute().await)
    }

    pub async fn rules(&self) -> io::Result<Vec<Rule>> {
        let found: Vec<RuleMessage> =
            self.handle.rule().get(IpVersion::V4).execute().try_collect().await.map_err(nl)?;
        Ok(found
            .into_iter()
            .map(|m| {
                let mut rule = Rule { priority: 0, iif: None, oif: None, table: u32::from(m.header.table), message: m };
                for a in &rule.message.attributes {
                    match a {
                        RuleAttribute::Priority(p) => rule.priority = *p,
                        RuleAttribute::Iifname(n) => rule.iif = Some(n.clone()),
                        RuleAttribute::Oifname(n) => rule.oif = Some(n.clone()),
                        RuleAttribute::Table(t) => rule.table = *t,
                        _ => {}
                    }
                }
                rule
            })
            .collect())
    }

    pub async fn add_rule(&self, priority: u32, iif: Option<&str>, oif: Option<&str>, table: u32) -> io::Result<()> {
        let mut request = self.handle.rule().add().v4().priority(priority).table_id(table).action(RuleAction::ToTable);
        if let Some(i) = iif {
            request = request.input_interface(i);
        }
        if let Some(o) = oif {
            request = request.output_interface(o);
        }
        request.execute().await.map_err(nl)
    }

    pub async fn del_rule(&self, rule: &Rule) -> io::Result<()> {
        gone(self.handle.rule().del(rule.message.clone()).execute().await)
    }

    /// Neighbour-table entries of one address family: IPv4 neighbours, or (bridge) the
    /// forwarding database of VXLAN devices.
    async fn neighbour_messages(
        &self,
        family: rtnetlink::packet_route::AddressFamily,
    ) -> io::Result<Vec<NeighbourMessage>> {
        self.handle.neighbours().get().set_address_family(family).execute().try_collect().await.map_err(nl)
    }

    pub async fn neighbours(&self) -> io::Result<Vec<Neighbour>> {
        let found = self.neighbour_messages(rtnetlink::packet_route::AddressFamily::Inet).await?;
        Ok(found
            .into_iter()
            .filter_map(|m| {
                let (ip, mac) = neighbour_fields(&m);
                Some(Neighbour {
                    index: m.header.ifindex,
                    ip: ip?,
                    mac,
                    permanent: m.header.state == NeighbourState::Permanent,
                    message: m,
                })
            })
            .collect())
    }

    pub async fn put_neighbour(&self, index: u32, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(ip))
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(nl)
    }

    pub async fn del_neighbour(&self, neighbour: &Neighbour) -> io::Result<()> {
        gone(self.handle.neighbours().del(neighbour.message.clone()).execute().await)
    }

    pub async fn set_mtu(&self, index: u32, mtu: u32) -> io::Result<()> {
        self.handle.link().set(LinkUnspec::new_with_index(index).mtu(mtu).build()).execute().await.map_err(nl)
    }

    /// A VXLAN device: `vni` over the interface `dev`, from `local`, UDP port 4789, learning
    /// nothing (the forwarding database is written by the reconciler).
    pub async fn add_vxlan(&self, name: &str, vni: u32, mac: [u8; 6], dev: u32, local: Ipv4Addr) -> io::Result<()> {
        let message = LinkVxlan::new(name, vni).dev(dev).local(local).port(4789).learning(false).build();
        let mut message = message;
        message.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.handle.link().add(message).execute().await.map_err(nl)
    }

    /// The VXLAN forwarding database entries: (device, MAC) → the remote end's address.
    pub async fn fdb(&self) -> io::Result<Vec<Fdb>> {
        let found = self.neighbour_messages(rtnetlink::packet_route::AddressFamily::Bridge).await?;
        Ok(found
            .into_iter()
            .filter_map(|m| {
                let (dst, mac) = neighbour_fields(&m);
                Some(Fdb { index: m.header.ifindex, mac: mac?, dst, message: m })
            })
            .collect())
    }

    pub async fn add_fdb(&self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> io::Result<()> {
        self.handle
            .neighbours()
            .add_bridge(index, &mac)
            .flags(NeighbourFlags::Own)
            .destination(IpAddr::V4(dst))
            .execute()
            .await
            .map_err(nl)
    }

    pub async fn del_fdb(&self, entry: &Fdb) -> io::Result<()> {
        gone(self.handle.neighbours().del(entry.message.clone()).execute().await)
    }
}

/// A neighbour entry's IPv4 address and MAC, when it has them.
fn neighbour_fields(m: &NeighbourMessage) -> (Option<Ipv4Addr>, Option<[u8; 6]>) {
    let mut ip = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => ip = Some(*v),
            // Bridge-family entries carry their address as raw bytes.
            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                ip = <[u8; 4]>::try_from(bytes.as_slice()).ok().map(Ipv4Addr::from);
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = mac_of(bytes),
            _ => {}
        }
    }
    (ip, mac)
}

/// A forwarding database entry of a VXLAN device.
#[derive(Debug, Clone)]
pub struct Fdb {
    pub index: u32,
    pub mac: [u8; 6],
    pub dst: Option<Ipv4Addr>,
    message: NeighbourMessage,
}
