//! Subnets: their ranges inside the VNet, their NSG and route table, and what may happen to a
//! subnet that is in use.

use vnetlab_model::{
    AzureError, Kind, Prefix, ProvisioningState, Resource, ResourceId, SubResource, Subnet, SubnetProperties, View,
    ViewExt, VirtualNetwork,
};

use crate::Effect;
use crate::common::{check_name, ensure_idle, require_parent, require_reference};
use crate::errors;
use crate::ipam::subnet_users;
use crate::operation::SubnetSpec;
use crate::peering::{recheck_links, refresh_links};
use crate::tx::Tx;

/// Checks a subnet against its VNet's address space and its siblings, and builds it.
/// `siblings`: the other subnets the VNet will have, with their prefixes.
pub(crate) fn build_subnet(
    view: &impl View,
    vnet: &VirtualNetwork,
    id: &ResourceId,
    spec: &SubnetSpec,
    siblings: &[(String, Vec<Prefix>)],
) -> Result<Subnet, AzureError> {
    let name = id.name();
    check_name(name)?;
    let vnet_name = vnet.id.name();
    let mut prefixes: Vec<Prefix> = Vec::new();
    prefixes.extend(spec.address_prefix);
    for p in spec.address_prefixes.iter().flatten() {
        if !prefixes.contains(p) {
            prefixes.push(*p);
        }
    }
    if prefixes.is_empty() {
        return Err(errors::address_prefix_null_or_empty(id));
    }
    let space = &vnet.properties.address_space.address_prefixes;
    for (i, p) in prefixes.iter().enumerate() {
        if !space.iter().any(|v| v.contains(p)) {
            return Err(errors::subnet_range_outside_vnet(name, vnet_name));
        }
        // Azure's smallest IPv4 subnet is a /29; IPv6 subnets are exactly /64.
        let size_ok = if p.is_ipv4() { p.prefix_len() <= 29 } else { p.prefix_len() == 64 };
        if !size_ok || prefixes[..i].iter().any(|q| q.overlaps(p)) {
            return Err(errors::invalid_subnet(name, vnet_name));
        }
    }
    for (sibling, sibling_prefixes) in siblings {
        if vnetlab_model::same_name(sibling, name) {
            continue;
        }
        if sibling_prefixes.iter().any(|s| prefixes.iter().any(|p| p.overlaps(s))) {
            return Err(errors::subnet_ranges_overlap(name, vnet_name));
        }
    }
    let is_gateway_subnet = name.eq_ignore_ascii_case(vnetlab_model::GATEWAY_SUBNET);
    if let Some(nsg) = &spec.network_security_group {
        require_reference(view, nsg, Kind::NetworkSecurityGroup, id, vnet.location)?;
        if is_gateway_subnet {
            return Err(errors::nsg_cannot_be_attached_to_gateway_subnet(nsg.name()));
        }
    }
    if let Some(rt) = &spec.route_table {
        require_reference(view, rt, Kind::RouteTable, id, vnet.location)?;
    }
    if let Some(existing) = view.subnet(id)
        && !same_prefixes(&existing.prefixes(), &prefixes)
        && !subnet_users(view, id).is_empty()
    {
        return Err(errors::in_use_subnet_cannot_be_updated(name));
    }
    let (address_prefix, address_prefixes) = match (&spec.address_prefix, &spec.address_prefixes) {
        (Some(p), None) => (Some(*p), None),
        _ => (None, Some(prefixes)),
    };
    Ok(Subnet {
        id: id.clone(),
        name: name.to_owned(),
        properties: SubnetProperties {
            provisioning_state: ProvisioningState::Succeeded,
            address_prefix,
            address_prefixes,
            network_security_group: spec.network_security_group.clone().map(SubResource::new),
            route_table: spec.route_table.clone().map(SubResource::new),
            private_endpoint_network_policies: spec
                .private_endpoint_network_policies
                .clone()
                .unwrap_or_else(|| "Disabled".to_owned()),
            private_link_service_network_policies: spec
                .private_link_service_network_policies
                .clone()
                .unwrap_or_else(|| "Enabled".to_owned()),
            default_outbound_access: spec.default_outbound_access,
        },
    })
}

pub(crate) fn same_prefixes(a: &[Prefix], b: &[Prefix]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

pub(crate) fn subnet_put(tx: &mut Tx<'_, '_, '_>, id: &ResourceId, spec: &SubnetSpec) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_parent(view, id)?;
    let vnet_id = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    let vnet = view.vnet(&vnet_id).ok_or_else(|| errors::resource_not_found(&vnet_id))?;
    ensure_idle(view, tx.ctx, &vnet_id)?;
    ensure_idle(view, tx.ctx, id)?;
    let siblings: Vec<(String, Vec<Prefix>)> =
        view.subnets_of(&vnet_id).iter().map(|s| (s.name.clone(), s.prefixes())).collect();
    let subnet = build_subnet(view, vnet, id, spec, &siblings)?;
    let created = view.subnet(id).is_none();
    let moved = view.subnet(id).is_some_and(|old| !same_prefixes(&old.prefixes(), &subnet.prefixes()));
    tx.put(Resource::Subnet(subnet));
    // 1.27.1: a subnet that subnet peerings name must still sit in ranges that do not overlap.
    if moved {
        recheck_links(&tx.draft, &vnet_id, Some(id.name()))?;
    }
    refresh_links(tx, std::slice::from_ref(&vnet_id));
    tx.lock(id, "PutSubnetOperation");
    tx.lock(&vnet_id, "PutSubnetOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

/// Refuses to remove a subnet that holds NICs or gateways (1.14, 1.28), or, with `peerings`, that a
/// subnet peering names ([gap]: Azure's answer is not public; without the subnet the link would
/// peer nothing and could not be updated).
pub(crate) fn ensure_subnet_unused(view: &impl View, id: &ResourceId, peerings: bool) -> Result<(), AzureError> {
    if let Some(user) = subnet_users(view, id).first() {
        return Err(errors::in_use_subnet_cannot_be_deleted(id.name(), user));
    }
    if !peerings {
        return Ok(());
    }
    let Some(vnet) = id.parent() else { return Ok(()) };
    let names = |names: &[String]| names.iter().any(|n| vnetlab_model::same_name(n, id.name()));
    let outgoing = view
        .links_of(&vnet)
        .into_iter()
        .find(|l| !l.properties.peer_complete_vnets && names(&l.properties.local_subnet_names));
    let incoming = view
        .links_to(&vnet)
        .into_iter()
        .find(|l| !l.properties.peer_complete_vnets && names(&l.properties.remote_subnet_names));
    match outgoing.or(incoming) {
        Some(link) => Err(errors::in_use_subnet_cannot_be_deleted(id.name(), &link.id)),
        None => Ok(()),
    }
}

pub(crate) fn subnet_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_parent(view, id)?;
    let vnet_id = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    if view.subnet(id).is_none() {
        return Ok(Effect::Absent);
    }
    ensure_idle(view, tx.ctx, &vnet_id)?;
    ensure_subnet_unused(view, id, true)?;
    tx.delete(id);
    refresh_links(tx, std::slice::from_ref(&vnet_id));
    tx.lock(&vnet_id, "DeleteSubnetOperation");
    Ok(Effect::Deleted)
}
