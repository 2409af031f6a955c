//! The engine's invariants: properties every state it produces must have, whatever sequence of
//! operations led there. Property tests check them after every step; `vnetlab check` runs them on a
//! store.
//!
//! 1. A link is Connected exactly when both links of the pair exist and reference each other; two
//!    links that reference each other are both Connected. No VNet peers with itself.
//! 2. A Disconnected link has no reverse link.
//! 3. The two links of a Connected pair share one resource guid.
//! 4. A VNet has at most one link to any remote VNet.
//! 5. Peered VNets do not overlap (whole-VNet peering), and the VNets one VNet is connected to do
//!    not overlap each other.
//! 6. At most one link per VNet uses remote gateways, and a VNet that uses remote gateways has no
//!    gateway of its own.
//! 7. A VNet has at most one VPN gateway and one ExpressRoute gateway, in GatewaySubnet.
//! 8. Subnets lie inside their VNet's address space and do not overlap.
//! 9. Every reference resolves: child to parent, subnet to NSG and route table, NIC to subnet, VM to
//!    NIC, gateway to subnet, connection to gateways; a NIC is attached to at most one VM.
//! 10. No two IP configurations hold one address, and none holds an address Azure reserves.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vnetlab_model::{
    GatewayType, Kind, PeeringState, Prefix, Resource, ResourceId, View, ViewExt, VirtualNetworkPeering,
};

use crate::ipam::is_reserved;

/// Every violated invariant, described; empty when the state is sound.
pub fn check(view: &impl View) -> Vec<String> {
    let mut out = Vec::new();
    let links: Vec<&VirtualNetworkPeering> =
        view.all_of(Kind::VirtualNetworkPeering).into_iter().filter_map(|s| s.resource.as_peering()).collect();

    for link in &links {
        let Some(local) = link.local_vnet_id() else {
            continue;
        };
        if link.remote_vnet_id() == &local {
            out.push(format!("1: {} peers its VNet with itself", link.id));
            continue;
        }
        let reverse = view.reverse_link(link);
        let state = link.properties.peering_state;
        match (state, reverse) {
            (PeeringState::Connected, Some(r)) => {
                if r.properties.peering_state != PeeringState::Connected {
                    out.push(format!(
                        "1: {} is Connected but its reverse {} is {}",
                        link.id, r.id, r.properties.peering_state
                    ));
                }
                if r.properties.resource_guid != link.properties.resource_guid {
                    out.push(format!("3: {} and {} are Connected with different resource guids", link.id, r.id));
                }
            }
            (PeeringState::Connected, None) => out.push(format!("1: {} is Connected without a reverse link", link.id)),
            (PeeringState::Initiated, Some(r)) => {
                out.push(format!("1: {} is Initiated although {} points back", link.id, r.id))
            }
            (PeeringState::Disconnected, Some(r)) => {
                out.push(format!("2: {} is Disconnected although {} points back", link.id, r.id))
            }
            _ => {}
        }
        let siblings = view.links_of(&local);
        if siblings.iter().filter(|s| s.remote_vnet_id() == link.remote_vnet_id()).count() > 1 {
            out.push(format!("4: {local} has more than one link to {}", link.remote_vnet_id()));
        }
    }

    for vnet_stored in view.all_of(Kind::VirtualNetwork) {
        let Some(vnet) = vnet_stored.resource.as_virtual_network() else {
            continue;
        };
        let space = &vnet.properties.address_space.address_prefixes;
        let connected: Vec<&VirtualNetworkPeering> = view
            .links_of(&vnet.id)
            .into_iter()
            .filter(|l| l.properties.peering_state == PeeringState::Connected && l.properties.peer_complete_vnets)
            .collect();
        let mut peer_spaces: Vec<(ResourceId, Vec<Prefix>)> = Vec::new();
        for l in &connected {
            if let Some(r) = view.vnet(l.remote_vnet_id()) {
                let rs = r.properties.address_space.address_prefixes.clone();
                if overlap(space, &rs) {
                    out.push(format!("5: connected VNets {} and {} overlap", vnet.id, r.id));
                }
                for (other, os) in &peer_spaces {
                    if overlap(os, &rs) {
                        out.push(format!("5: {} is connected to {other} and {} which overlap", vnet.id, r.id));
                    }
                }
                peer_spaces.push((r.id.clone(), rs));
            }
        }
        let using = view.links_of(&vnet.id).into_iter().filter(|l| l.properties.use_remote_gateways).count();
        let gateways = view.gateways_of(&vnet.id);
        if using > 1 {
            out.push(format!("6: {} has {using} links using remote gateways", vnet.id));
        }
        if using > 0 && !gateways.is_empty() {
            out.push(format!("6: {} uses remote gateways and has a gateway of its own", vnet.id));
        }
        for t in [GatewayType::Vpn, GatewayType::ExpressRoute] {
            if gateways.iter().filter(|g| g.properties.gateway_type == t).count() > 1 {
                out.push(format!("7: {} has more than one {t} gateway", vnet.id));
            }
        }
        let subnets = view.subnets_of(&vnet.id);
        for (i, s) in subnets.iter().enumerate() {
            for p in s.prefixes() {
                if !space.iter().any(|v| v.contains(&p)) {
                    out.push(format!("8: subnet {} ({p}) is outside its VNet", s.id));
                }
                for other in &subnets[..i] {
                    if other.prefixes().iter().any(|q| q.overlaps(&p)) {
                        out.push(format!("8: subnets {} and {} overlap", s.id, other.id));
                    }
                }
            }
        }
    }

    let mut holders: BTreeMap<(String, IpAddr), ResourceId> = BTreeMap::new();
    let mut nic_owner: BTreeMap<ResourceId, ResourceId> = BTreeMap::new();
    for kind in Kind::ALL {
        for s in view.all_of(kind) {
            let id = s.id();
            if kind.parent().is_some() && id.parent().is_none_or(|p| !view.exists(&p)) {
                out.push(format!("9: {id} has no parent"));
            }
            for target in s.resource.references() {
                if view.exists(target) {
                    continue;
                }
                // A link outlives its remote VNet, Disconnected (1.11).
                let disconnected_link = s.resource.as_peering().is_some_and(|l| {
                    l.remote_vnet_id() == target && l.properties.peering_state == PeeringState::Disconnected
                });
                if !disconnected_link {
                    out.push(format!("9: {id} references missing {target}"));
                }
            }
            match &s.resource {
                Resource::VirtualMachine(vm) => {
                    for nic in vm.nic_ids() {
                        if let Some(previous) = nic_owner.insert(nic.clone(), id.clone()) {
                            out.push(format!("9: {nic} is attached to {previous} and {id}"));
                        }
                    }
                }
                Resource::NetworkInterface(nic) => {
                    for c in &nic.properties.ip_configurations {
                        let ip = c.properties.private_ip_address;
                        let subnet = &c.properties.subnet.id;
                        if let Some(other) = holders.insert((subnet.key().to_owned(), ip), c.id.clone()) {
                            out.push(format!("10: {ip} is held by {other} and {}", c.id));
                        }
                        let reserved =
                            view.subnet(subnet).is_some_and(|sn| sn.prefixes().iter().any(|p| is_reserved(p, ip)));
                        if reserved {
                            out.push(format!("10: {} holds reserved address {ip}", c.id));
                        }
                    }
                }
                Resource::VirtualNetworkGateway(g) => {
                    let in_gateway_subnet =
                        g.subnet_id().is_some_and(|s| s.name().eq_ignore_ascii_case(vnetlab_model::GATEWAY_SUBNET));
                    if !in_gateway_subnet {
                        out.push(format!("7: gateway {id} is not in a GatewaySubnet"));
                    }
                    if let Some(subnet) = g.subnet_id() {
                        for ip in g.instance_addresses() {
                            if let Some(other) = holders.insert((subnet.key().to_owned(), ip), id.clone()) {
                                out.push(format!("10: {ip} is held by {other} and {id}"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn overlap(a: &[Prefix], b: &[Prefix]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.overlaps(y)))
}
