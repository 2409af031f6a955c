//! Route tables and user-defined routes (shared/reference/peering-rules.md §2.3, §2.5).

use std::net::{IpAddr, Ipv4Addr};

use vnetlab_model::{
    AzureError, Kind, NextHop, ProvisioningState, Resource, ResourceId, Route, RouteNextHopType, RouteProperties,
    RouteTable, RouteTableProperties, View, ViewExt,
};

use crate::Effect;
use crate::common::{check_delete, check_name, check_put, children_not_in, ensure_idle, require_parent};
use crate::errors;
use crate::operation::{RouteSpec, RouteTableSpec};
use crate::tx::Tx;

/// Addresses Azure refuses as a next hop: loopback, multicast, broadcast, link-local and the
/// platform's own 168.63.129.16.
fn bad_next_hop(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address cannot be a next hop"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast address cannot be a next hop"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address cannot be a next hop"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local (APIPA) address cannot be a next hop"),
        IpAddr::V4(v4) if v4 == Ipv4Addr::new(168, 63, 129, 16) => Some("168.63.129.16 is Azure's platform address"),
        IpAddr::V4(v4) if v4.is_unspecified() => Some("0.0.0.0 cannot be a next hop"),
        IpAddr::V6(v6) if v6.is_loopback() || v6.is_multicast() || v6.is_unspecified() => {
            Some("a loopback, multicast or unspecified address cannot be a next hop")
        }
        _ => None,
    }
}

/// (name, destination) of the routes a route must not duplicate.
type RouteKey = (String, String);

pub(crate) fn build_route(id: &ResourceId, spec: &RouteSpec, siblings: &[RouteKey]) -> Result<Route, AzureError> {
    let name = id.name();
    check_name(name)?;
    let destination = spec.address_prefix.to_string();
    if let Some((other, _)) =
        siblings.iter().find(|(n, p)| !vnetlab_model::same_name(n, name) && p.eq_ignore_ascii_case(&destination))
    {
        return Err(errors::route_conflict(id, other, &destination));
    }
    let mut next_hop = None;
    match spec.next_hop_type {
        RouteNextHopType::VirtualAppliance => {
            let ip = spec.next_hop_ip_address.ok_or_else(|| {
                errors::invalid_next_hop_ip_address(
                    id,
                    "NextHopIpAddress cannot be null or empty when NextHopType is VirtualAppliance.",
                )
            })?;
            if let Some(reason) = bad_next_hop(ip) {
                return Err(errors::invalid_next_hop_ip_address(id, &format!("{ip}: {reason}.")));
            }
        }
        RouteNextHopType::VirtualApplianceEcmp => {
            if spec.next_hop_ip_addresses.is_empty() {
                return Err(errors::invalid_next_hop_ip_address(
                    id,
                    "nextHop.nextHopIpAddresses must list the appliances when NextHopType is VirtualApplianceEcmp.",
                ));
            }
            for ip in &spec.next_hop_ip_addresses {
                if let Some(reason) = bad_next_hop(*ip) {
                    return Err(errors::invalid_next_hop_ip_address(id, &format!("{ip}: {reason}.")));
                }
            }
            next_hop = Some(NextHop { next_hop_ip_addresses: spec.next_hop_ip_addresses.clone() });
        }
        other => {
            if let Some(ip) = spec.next_hop_ip_address {
                return Err(errors::invalid_next_hop_ip_address(
                    id,
                    &format!(
                        "{ip} is given, but only VirtualAppliance routes take a next hop IP address (this route's NextHopType is {other})."
                    ),
                ));
            }
        }
    }
    Ok(Route {
        id: id.clone(),
        name: name.to_owned(),
        properties: RouteProperties {
            provisioning_state: ProvisioningState::Succeeded,
            address_prefix: spec.address_prefix.clone(),
            next_hop_type: spec.next_hop_type,
            next_hop_ip_address: match spec.next_hop_type {
                RouteNextHopType::VirtualAppliance => spec.next_hop_ip_address,
                _ => None,
            },
            next_hop,
            has_bgp_override: false,
        },
    })
}

fn route_keys(view: &impl View, table: &ResourceId) -> Vec<RouteKey> {
    view.children_of(table, Kind::Route)
        .into_iter()
        .filter_map(|s| s.resource.as_route())
        .map(|r| (r.name.clone(), r.properties.address_prefix.to_string()))
        .collect()
}

pub(crate) fn route_table_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &RouteTableSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_route_table);
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let mut routes = Vec::new();
    let mut removed = Vec::new();
    if let Some(list) = &spec.routes {
        let keys: Vec<RouteKey> = list.iter().map(|(n, r)| (n.clone(), r.address_prefix.to_string())).collect();
        for (i, (name, route)) in list.iter().enumerate() {
            let route_id = id.child(Kind::Route, name).map_err(|_| errors::invalid_resource_name(name))?;
            if list[..i].iter().any(|(n, _)| vnetlab_model::same_name(n, name)) {
                return Err(errors::route_conflict(&route_id, name, &route.address_prefix.to_string()));
            }
            routes.push(Resource::Route(build_route(&route_id, route, &keys)?));
        }
        let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        removed = children_not_in(view, id, Kind::Route, &names);
    }
    let table = RouteTable {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: RouteTableProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            disable_bgp_route_propagation: spec.disable_bgp_route_propagation,
        },
    };
    let created = existing.is_none();
    Ok(tx.finish_put_with_children(Resource::RouteTable(table), routes, &removed, created, "PutRouteTableOperation"))
}

pub(crate) fn route_table_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::RouteTable)? {
        return Ok(Effect::Absent);
    }
    if !view.referrers(id, Kind::Subnet).is_empty() {
        return Err(errors::in_use_route_table_cannot_be_deleted(id.name()));
    }
    tx.delete_with_children(id, Kind::Route);
    Ok(Effect::Deleted)
}

pub(crate) fn route_put(tx: &mut Tx<'_, '_, '_>, id: &ResourceId, spec: &RouteSpec) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_parent(view, id)?;
    let table = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    ensure_idle(view, tx.ctx, &table)?;
    let route = build_route(id, spec, &route_keys(view, &table))?;
    let created = view.get(id).is_none();
    tx.put(Resource::Route(route));
    tx.lock(id, "PutRouteOperation");
    tx.lock(&table, "PutRouteOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}
