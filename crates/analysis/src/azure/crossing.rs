//! What it takes to cross a peering link, and where a route's appliance sits: the rules the
//! trace explains and the data plane enforces, defined once for both.

use std::net::IpAddr;

use vnetlab_model::{PeeringState, Prefix, ResourceId, State, ViewExt, VirtualNetworkGateway, VirtualNetworkPeering};

use super::SubnetView;
use super::routes::{EffectiveRoute, NextHopType, Origin, transit_gateway};

/// 1.18: the sources the receiving VNet takes over a link, read on its own link back (`back`):
/// any (`None`) when that link allows forwarded traffic, else only addresses of the sending
/// VNet's space (`sender_space`). A VPN gateway's forwarding is not subject to it.
pub fn admitted_sources<'s>(back: &VirtualNetworkPeering, sender_space: &'s [Prefix]) -> Option<&'s [Prefix]> {
    if back.properties.allow_forwarded_traffic { None } else { Some(sender_space) }
}

/// Whether the receiving side (link `back`) takes a packet from `source` sent over the link.
pub fn admits(back: &VirtualNetworkPeering, sender_space: &[Prefix], source: IpAddr) -> bool {
    admitted_sources(back, sender_space).is_none_or(|space| space.iter().any(|p| p.contains_addr(source)))
}

fn named(names: &[String], subnet: &ResourceId) -> bool {
    names.iter().any(|n| vnetlab_model::same_name(n, subnet.name()))
}

/// 1.27: whether `link` carries what subnet `from` (of the link's own VNet) sends. A subnet
/// peering carries its named local subnets only.
pub fn carries_from(link: &VirtualNetworkPeering, from: &ResourceId) -> bool {
    let p = &link.properties;
    // [gap] A gateway forwards over a subnet peering whether or not it names the GatewaySubnet.
    p.peer_complete_vnets
        || from.name().eq_ignore_ascii_case(vnetlab_model::GATEWAY_SUBNET)
        || named(&p.local_subnet_names, from)
}

/// 1.27: whether `link` carries traffic into subnet `to` of the remote VNet.
pub fn carries_to(link: &VirtualNetworkPeering, to: &ResourceId) -> bool {
    link.properties.peer_complete_vnets || named(&link.properties.remote_subnet_names, to)
}

/// Where the appliance at `ip` that a route of `subnet` points to sits, as `host` finds NICs
/// (by VNet and address): in the subnet's own VNet, or in a directly peered VNet together with
/// the link that leads there. A subnet peering routes only its named subnets, so an appliance
/// elsewhere in a subnet-peered VNet is still found behind that link.
pub fn appliance<'s, T>(
    state: &'s State,
    subnet: &SubnetView,
    ip: IpAddr,
    host: impl Fn(&ResourceId, IpAddr) -> Option<T>,
) -> Option<(T, Option<&'s VirtualNetworkPeering>)> {
    match subnet.routes.lookup(ip) {
        Some(r) if r.next_hop_type == NextHopType::VnetLocal => host(&subnet.vnet, ip).map(|n| (n, None)),
        Some(EffectiveRoute { origin: Origin::Peering { link, remote }, .. }) => {
            host(remote, ip).map(|n| (n, state.peering(link)))
        }
        _ => state
            .links_of(&subnet.vnet)
            .into_iter()
            .filter(|l| l.properties.peering_state == PeeringState::Connected && !l.properties.peer_complete_vnets)
            .find_map(|l| host(l.remote_vnet_id(), ip).map(|n| (n, Some(l)))),
    }
}

/// The VPN gateway a route of `subnet` with next hop VirtualNetworkGateway leads to, with the
/// peering link crossed on the way: the gateway that learned the route; for a user route, the
/// subnet VNet's own gateway, else the one it uses through gateway transit.
pub fn route_gateway<'s>(
    state: &'s State,
    subnet: &SubnetView,
    route: &EffectiveRoute,
) -> Option<(&'s VirtualNetworkGateway, Option<&'s VirtualNetworkPeering>)> {
    match &route.origin {
        Origin::Gateway { gateway, via, .. } => {
            Some((state.gateway(gateway)?, via.as_ref().and_then(|l| state.peering(l))))
        }
        _ => match state.gateways_of(&subnet.vnet).into_iter().next() {
            Some(g) => Some((g, None)),
            None => transit_gateway(state, &subnet.vnet).map(|(link, g)| (g, Some(link))),
        },
    }
}
