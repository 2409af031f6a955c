//! Effective routes of a subnet, as Azure computes them (shared/reference/peering-rules.md §2):
//! system routes, peering routes, gateway routes and user-defined routes, then selection.

use std::net::IpAddr;

use serde::Serialize;
use vnetlab_model::{
    ConnectionStatus, ConnectionType, PeeringState, Prefix, Resource, ResourceId, RouteNextHopType, RoutePrefix,
    Subnet, View, ViewExt, VirtualNetwork, VirtualNetworkGateway, VirtualNetworkPeering,
};

use crate::lpm::PrefixTable;

/// Where a route comes from, as effective routes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RouteSource {
    Default,
    VirtualNetworkGateway,
    User,
}

impl RouteSource {
    /// Same prefix: User beats BGP (gateway) beats system (§2.4).
    fn rank(self) -> u8 {
        match self {
            RouteSource::Default => 0,
            RouteSource::VirtualNetworkGateway => 1,
            RouteSource::User => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteSource::Default => "Default",
            RouteSource::VirtualNetworkGateway => "VirtualNetworkGateway",
            RouteSource::User => "User",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RouteState {
    Active,
    Invalid,
}

impl RouteState {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteState::Active => "Active",
            RouteState::Invalid => "Invalid",
        }
    }
}

/// The next hop type of an effective route (the API strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NextHopType {
    VnetLocal,
    Internet,
    None,
    #[serde(rename = "VNetPeering")]
    VnetPeering,
    #[serde(rename = "VNetGlobalPeering")]
    VnetGlobalPeering,
    VirtualNetworkGateway,
    VirtualAppliance,
}

impl NextHopType {
    pub fn as_str(self) -> &'static str {
        match self {
            NextHopType::VnetLocal => "VnetLocal",
            NextHopType::Internet => "Internet",
            NextHopType::None => "None",
            NextHopType::VnetPeering => "VNetPeering",
            NextHopType::VnetGlobalPeering => "VNetGlobalPeering",
            NextHopType::VirtualNetworkGateway => "VirtualNetworkGateway",
            NextHopType::VirtualAppliance => "VirtualAppliance",
        }
    }

    fn is_vnet_or_peering(self) -> bool {
        matches!(self, NextHopType::VnetLocal | NextHopType::VnetPeering | NextHopType::VnetGlobalPeering)
    }
}

/// Why a route exists: what a trace cites and what a fix changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The VNet's own address space.
    AddressSpace { vnet: ResourceId },
    /// A built-in default (0.0.0.0/0 to Internet, a reserved range to None).
    Builtin,
    /// A Connected peering link of the subnet's VNet.
    Peering { link: ResourceId, remote: ResourceId },
    /// Learned by a gateway: from a connection of the VNet's own gateway, or through a peering
    /// link that uses the remote VNet's gateway.
    Gateway { gateway: ResourceId, connection: ResourceId, via: Option<ResourceId> },
    /// A user-defined route of the subnet's route table.
    User { route: ResourceId, table: ResourceId },
}

/// One row of a subnet's effective routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveRoute {
    pub name: Option<String>,
    pub source: RouteSource,
    pub state: RouteState,
    /// The destination: a prefix, or a service tag (user routes only).
    pub address_prefix: RoutePrefix,
    pub next_hop_type: NextHopType,
    pub next_hop_ip_address: Vec<IpAddr>,
    pub disable_bgp_route_propagation: bool,
    pub origin: Origin,
}

impl EffectiveRoute {
    pub fn prefix(&self) -> Option<Prefix> {
        match self.address_prefix {
            RoutePrefix::Prefix(p) => Some(p),
            RoutePrefix::ServiceTag(_) => None,
        }
    }

    /// The route's ARM JSON (`EffectiveRoute` of the effective route table API).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "disableBgpRoutePropagation": self.disable_bgp_route_propagation,
            "source": self.source.as_str(),
            "state": self.state.as_str(),
            "addressPrefix": [self.address_prefix.to_string()],
            "nextHopIpAddress": self.next_hop_ip_address.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "nextHopType": self.next_hop_type.as_str(),
        })
    }
}

/// Azure's reserved ranges that get a `None` route unless the VNet's space covers them
/// (§2.1; the set is data).
pub const RESERVED_NONE_PREFIXES: [&str; 4] = ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"];

/// A subnet's routes: every row (for listing) and the active ones by prefix (for lookups).
#[derive(Debug, Clone, Default)]
pub struct RouteTableView {
    pub routes: Vec<EffectiveRoute>,
    active: PrefixTable<usize>,
}

impl RouteTableView {
    /// The active route for `ip` (longest prefix).
    pub fn lookup(&self, ip: IpAddr) -> Option<&EffectiveRoute> {
        self.active.lookup(ip).map(|(_, &i)| &self.routes[i])
    }
}

/// Gateway routes a VNet's gateway has learned: on-premises prefixes from local network
/// gateways and the address spaces of VNet-to-VNet peers, with the connection each came from.
pub fn gateway_learned(view: &impl View, gateway: &VirtualNetworkGateway) -> Vec<(Prefix, ResourceId)> {
    let mut learned = Vec::new();
    for stored in view.referrers(&gateway.id, vnetlab_model::Kind::Connection) {
        let Some(c) = stored.resource.as_connection() else {
            continue;
        };
        let p = &c.properties;
        if p.virtual_network_gateway1.id != gateway.id || p.connection_status != ConnectionStatus::Connected {
            continue;
        }
        match p.connection_type {
            ConnectionType::IPsec => {
                let site = p.local_network_gateway2.as_ref().and_then(|l| view.resource(&l.id));
                if let Some(Resource::LocalNetworkGateway(site)) = site {
                    for prefix in &site.properties.local_network_address_space.address_prefixes {
                        learned.push((*prefix, c.id.clone()));
                    }
                }
            }
            ConnectionType::Vnet2Vnet => {
                let other = p.virtual_network_gateway2.as_ref().and_then(|g| view.gateway(&g.id));
                if let Some(vnet) = other.and_then(|g| g.vnet_id()).and_then(|v| view.vnet(&v)) {
                    for prefix in &vnet.properties.address_space.address_prefixes {
                        learned.push((*prefix, c.id.clone()));
                    }
                }
            }
            ConnectionType::ExpressRoute | ConnectionType::VPNClient => {}
        }
    }
    learned
}

/// The prefixes `gateway` advertises to the other end of its connections (an on-premises site,
/// or a gateway over VNet-to-VNet): its VNet's space and the space of every peer that uses the
/// gateway through transit.
pub fn advertised(view: &impl View, gateway: &VirtualNetworkGateway) -> Vec<Prefix> {
    let Some(hub) = gateway.vnet_id() else {
        return Vec::new();
    };
    let mut prefixes: Vec<Prefix> =
        view.vnet(&hub).map(|v| v.properties.address_space.address_prefixes.clone()).unwrap_or_default();
    for link in view.links_of(&hub) {
        if let Some((back, _)) = transit_gateway(view, link.remote_vnet_id())
            && back.remote_vnet_id() == &hub
        {
            prefixes.extend(link.properties.remote_address_space.address_prefixes.iter().copied());
        }
    }
    prefixes
}

/// The link of `vnet` that uses a remote gateway, with that gateway, when the remote side lets
/// it (`useRemoteGateways` here, `allowGatewayTransit` on the remote's link back, both Connected).
pub fn transit_gateway<'v>(
    view: &'v impl View,
    vnet: &ResourceId,
) -> Option<(&'v VirtualNetworkPeering, &'v VirtualNetworkGateway)> {
    view.links_of(vnet).into_iter().find_map(|link| {
        let p = &link.properties;
        if !p.use_remote_gateways || p.peering_state != PeeringState::Connected {
            return None;
        }
        let back = view.reverse_link(link)?;
        if !back.properties.allow_gateway_transit {
            return None;
        }
        // A hub may have a VPN and an ExpressRoute gateway: the VPN gateway is the one that
        // forwards between peers (1.17), so it stands for the hub.
        let gateways = view.gateways_of(link.remote_vnet_id());
        let vpn = gateways.iter().copied().find(|g| g.properties.gateway_type == vnetlab_model::GatewayType::Vpn);
        let gateway = vpn.or_else(|| gateways.first().copied())?;
        Some((link, gateway))
    })
}

/// The effective routes of `subnet` in `vnet`.
pub fn subnet_routes(view: &impl View, vnet: &VirtualNetwork, subnet: &Subnet) -> RouteTableView {
    let mut routes: Vec<EffectiveRoute> = Vec::new();
    let table = subnet.properties.route_table.as_ref().and_then(|t| view.resource(&t.id)).and_then(|r| match r {
        Resource::RouteTable(t) => Some(t),
        _ => None,
    });
    let no_bgp = table.is_some_and(|t| t.properties.disable_bgp_route_propagation);
    let system = |prefix: Prefix, hop: NextHopType, ips: Vec<IpAddr>, origin: Origin| EffectiveRoute {
        name: None,
        source: RouteSource::Default,
        state: RouteState::Active,
        address_prefix: RoutePrefix::Prefix(prefix),
        next_hop_type: hop,
        next_hop_ip_address: ips,
        disable_bgp_route_propagation: no_bgp,
        origin,
    };

    // 2.1: the VNet's own space.
    let own = &vnet.properties.address_space.address_prefixes;
    for prefix in own {
        routes.push(system(
            *prefix,
            NextHopType::VnetLocal,
            Vec::new(),
            Origin::AddressSpace { vnet: vnet.id.clone() },
        ));
    }
    // 2.2: one route per synced prefix of each Connected peer; regional or global by location.
    let mut peered: Vec<Prefix> = Vec::new();
    for link in view.links_of(&vnet.id) {
        if link.properties.peering_state != PeeringState::Connected {
            continue;
        }
        let remote = view.vnet(link.remote_vnet_id());
        let global = remote.is_some_and(|r| r.location != vnet.location);
        let hop = if global { NextHopType::VnetGlobalPeering } else { NextHopType::VnetPeering };
        for prefix in &link.properties.remote_address_space.address_prefixes {
            peered.push(*prefix);
            let origin = Origin::Peering { link: link.id.clone(), remote: link.remote_vnet_id().clone() };
            routes.push(system(*prefix, hop, Vec::new(), origin));
        }
    }
    // 2.2: gateway routes, from the VNet's own gateway or through gateway transit, unless the
    // route table turns gateway route propagation off (2.5).
    if !no_bgp {
        let mut sources: Vec<(&VirtualNetworkGateway, Option<ResourceId>)> =
            view.gateways_of(&vnet.id).into_iter().map(|g| (g, None)).collect();
        // Through transit, every gateway of the remote VNet (VPN and ExpressRoute) teaches its routes.
        if sources.is_empty()
            && let Some((link, _)) = transit_gateway(view, &vnet.id)
        {
            for gateway in view.gateways_of(link.remote_vnet_id()) {
                sources.push((gateway, Some(link.id.clone())));
            }
        }
        for (gateway, via) in sources {
            let ips = gateway.instance_addresses();
            for (prefix, connection) in gateway_learned(view, gateway) {
                routes.push(EffectiveRoute {
                    name: None,
                    source: RouteSource::VirtualNetworkGateway,
                    state: RouteState::Active,
                    address_prefix: RoutePrefix::Prefix(prefix),
                    next_hop_type: NextHopType::VirtualNetworkGateway,
                    next_hop_ip_address: ips.clone(),
                    disable_bgp_route_propagation: false,
                    origin: Origin::Gateway { gateway: gateway.id.clone(), connection, via: via.clone() },
                });
            }
        }
    }
    // 2.1: the default route and the reserved ranges. A reserved range that the VNet's space
    // (or, a [gap] choice, a peer's synced space) equals or contains loses its None route.
    let v6 = own.iter().any(Prefix::is_ipv6);
    let mut defaults = vec!["0.0.0.0/0"];
    // [gap] IPv6: a VNet with IPv6 space gets ::/0 to Internet, as IPv4 gets 0.0.0.0/0.
    if v6 {
        defaults.push("::/0");
    }
    for d in defaults {
        if let Ok(prefix) = Prefix::parse(d) {
            routes.push(system(prefix, NextHopType::Internet, Vec::new(), Origin::Builtin));
        }
    }
    for reserved in RESERVED_NONE_PREFIXES.iter().filter_map(|r| Prefix::parse(r).ok()) {
        if own.iter().chain(&peered).any(|p| p.contains(&reserved)) {
            continue;
        }
        routes.push(system(reserved, NextHopType::None, Vec::new(), Origin::Builtin));
    }
    // 2.3: user-defined routes.
    if let Some(table) = table {
        let own_gateway_ips: Vec<IpAddr> =
            view.gateways_of(&vnet.id).first().map(|g| g.instance_addresses()).unwrap_or_default();
        for stored in view.children_of(&table.id, vnetlab_model::Kind::Route) {
            let Resource::Route(route) = &stored.resource else {
                continue;
            };
            let p = &route.properties;
            let (hop, ips) = match p.next_hop_type {
                RouteNextHopType::VirtualAppliance => {
                    (NextHopType::VirtualAppliance, p.next_hop_ip_address.into_iter().collect())
                }
                RouteNextHopType::VirtualApplianceEcmp => (
                    NextHopType::VirtualAppliance,
                    p.next_hop.as_ref().map(|h| h.next_hop_ip_addresses.clone()).unwrap_or_default(),
                ),
                // [gap] A user route to the gateway shows the VNet's gateway instances, as the
                // gateway's learned routes do.
                RouteNextHopType::VirtualNetworkGateway => {
                    (NextHopType::VirtualNetworkGateway, own_gateway_ips.clone())
                }
                RouteNextHopType::VnetLocal => (NextHopType::VnetLocal, Vec::new()),
                RouteNextHopType::Internet => (NextHopType::Internet, Vec::new()),
                RouteNextHopType::None => (NextHopType::None, Vec::new()),
            };
            routes.push(EffectiveRoute {
                name: Some(route.name.clone()),
                source: RouteSource::User,
                state: RouteState::Active,
                address_prefix: p.address_prefix.clone(),
                next_hop_type: hop,
                next_hop_ip_address: ips,
                disable_bgp_route_propagation: no_bgp,
                origin: Origin::User { route: route.id.clone(), table: table.id.clone() },
            });
        }
    }
    select(routes)
}

/// 2.4: per prefix, the highest source wins and the rest turn Invalid; a gateway route inside
/// (or equal to) the VNet's space or a peer's loses to that system route however specific.
fn select(mut routes: Vec<EffectiveRoute>) -> RouteTableView {
    let shielded: Vec<Prefix> = routes
        .iter()
        .filter(|r| r.source == RouteSource::Default && r.next_hop_type.is_vnet_or_peering())
        .filter_map(EffectiveRoute::prefix)
        .collect();
    for r in routes.iter_mut() {
        if r.source == RouteSource::VirtualNetworkGateway
            && r.prefix().is_some_and(|p| shielded.iter().any(|s| s.contains(&p)))
        {
            r.state = RouteState::Invalid;
        }
    }
    let mut active: PrefixTable<usize> = PrefixTable::new();
    for i in 0..routes.len() {
        if routes[i].state == RouteState::Invalid {
            continue;
        }
        // [gap] Service-tag destinations of user routes are listed but not matched: vnetlab
        // has no service-tag address lists.
        let Some(prefix) = routes[i].prefix() else {
            continue;
        };
        match active.get(&prefix).copied() {
            None => {
                active.insert(prefix, i);
            }
            Some(j) => {
                let (ri, rj) = (routes[i].source.rank(), routes[j].source.rank());
                // A VNet or peering system route keeps its prefix against a gateway route.
                let shield = routes[j].next_hop_type.is_vnet_or_peering() && routes[j].source == RouteSource::Default;
                if ri > rj && !(shield && routes[i].source == RouteSource::VirtualNetworkGateway) {
                    routes[j].state = RouteState::Invalid;
                    active.insert(prefix, i);
                } else {
                    routes[i].state = RouteState::Invalid;
                }
            }
        }
    }
    RouteTableView { routes, active }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, source: RouteSource, hop: NextHopType) -> EffectiveRoute {
        EffectiveRoute {
            name: None,
            source,
            state: RouteState::Active,
            address_prefix: RoutePrefix::Prefix(Prefix::parse(prefix).unwrap()),
            next_hop_type: hop,
            next_hop_ip_address: Vec::new(),
            disable_bgp_route_propagation: false,
            origin: Origin::Builtin,
        }
    }

    fn states(view: &RouteTableView) -> Vec<(String, &'static str, &'static str)> {
        view.routes.iter().map(|r| (r.address_prefix.to_string(), r.next_hop_type.as_str(), r.state.as_str())).collect()
    }

    #[test]
    fn user_beats_gateway_beats_system_on_the_same_prefix() {
        let view = select(vec![
            route("0.0.0.0/0", RouteSource::Default, NextHopType::Internet),
            route("0.0.0.0/0", RouteSource::VirtualNetworkGateway, NextHopType::VirtualNetworkGateway),
            route("0.0.0.0/0", RouteSource::User, NextHopType::VirtualAppliance),
        ]);
        assert_eq!(
            states(&view),
            [
                ("0.0.0.0/0".into(), "Internet", "Invalid"),
                ("0.0.0.0/0".into(), "VirtualNetworkGateway", "Invalid"),
                ("0.0.0.0/0".into(), "VirtualAppliance", "Active"),
            ]
        );
        assert_eq!(view.lookup("8.8.8.8".parse().unwrap()).unwrap().next_hop_type, NextHopType::VirtualAppliance);
    }

    #[test]
    fn vnet_and_peering_routes_beat_more_specific_gateway_routes_but_not_user_routes() {
        let view = select(vec![
            route("10.1.0.0/16", RouteSource::Default, NextHopType::VnetLocal),
            route("10.2.0.0/16", RouteSource::Default, NextHopType::VnetPeering),
            route("10.2.5.0/24", RouteSource::VirtualNetworkGateway, NextHopType::VirtualNetworkGateway),
            route("10.1.0.0/16", RouteSource::VirtualNetworkGateway, NextHopType::VirtualNetworkGateway),
            route("10.9.0.0/16", RouteSource::VirtualNetworkGateway, NextHopType::VirtualNetworkGateway),
            route("10.2.6.0/24", RouteSource::User, NextHopType::VirtualAppliance),
        ]);
        let s = states(&view);
        assert_eq!(s[2].2, "Invalid", "{s:?}");
        assert_eq!(s[3].2, "Invalid", "{s:?}");
        assert_eq!(s[4].2, "Active", "{s:?}");
        assert_eq!(s[5].2, "Active", "{s:?}");
        let hop = |ip: &str| view.lookup(ip.parse().unwrap()).map(|r| r.next_hop_type);
        assert_eq!(hop("10.2.5.1"), Some(NextHopType::VnetPeering));
        assert_eq!(hop("10.1.0.1"), Some(NextHopType::VnetLocal));
        assert_eq!(hop("10.9.0.1"), Some(NextHopType::VirtualNetworkGateway));
        assert_eq!(hop("10.2.6.1"), Some(NextHopType::VirtualAppliance));
    }
}
