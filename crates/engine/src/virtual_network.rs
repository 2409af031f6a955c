//! Virtual networks: their address space (and what changing it does to peerings, 1.13-1.14), their
//! subnet set, and deletion (1.11).

use vnetlab_model::{
    AddressSpace, AzureError, BgpCommunities, DhcpOptions, Kind, Prefix, ProvisioningState, Resource, ResourceId, View,
    ViewExt, VirtualNetwork, VirtualNetworkProperties,
};

use crate::Effect;
use crate::common::{check_location_unchanged, check_name, ensure_idle, require_resource_group};
use crate::errors;
use crate::operation::VirtualNetworkSpec;
use crate::peering::{OverlapCheck, refresh_links};
use crate::subnet::{build_subnet, ensure_subnet_unused};
use crate::tx::Tx;

/// Whether an api-version string (`2020-06-01`, `2021-01-01-preview`) is older than 2021-01-01.
fn older_than_2021(api_version: &str) -> bool {
    api_version.get(..10).is_some_and(|date| date < "2021-01-01")
}

pub(crate) fn vnet_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &VirtualNetworkSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_resource_group(view, id)?;
    check_name(id.name())?;
    let existing = view.vnet(id);
    check_location_unchanged(view.resource(id), spec.location)?;
    ensure_idle(view, tx.ctx, id)?;

    let prefixes = &spec.address_prefixes;
    if prefixes.is_empty() {
        return Err(errors::vnet_address_space_empty(id));
    }
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(q) = prefixes[..i].iter().find(|q| q.overlaps(p)) {
            return Err(errors::vnet_prefixes_overlap(id, q, p));
        }
    }

    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let vnet = VirtualNetwork {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: VirtualNetworkProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            address_space: AddressSpace::new(prefixes.clone()),
            dhcp_options: DhcpOptions { dns_servers: spec.dns_servers.clone() },
            enable_ddos_protection: spec.enable_ddos_protection,
            enable_vm_protection: spec.enable_vm_protection,
            encryption: spec.encryption.clone(),
            flow_timeout_in_minutes: spec.flow_timeout_in_minutes,
            // TODO-fidelity: Azure also reports the region's own community (regionalCommunity).
            bgp_communities: spec
                .bgp_community
                .as_ref()
                .map(|c| BgpCommunities { virtual_network_community: c.clone(), regional_community: None }),
        },
    };

    let space_changed = existing.is_some_and(|e| !e.properties.address_space.same_set(&vnet.properties.address_space));
    if space_changed {
        check_peered_resize(view, tx.ctx.api_version.as_deref(), &vnet)?;
    }

    // The subnet set: replaced when the request carries one, else kept and re-checked against the
    // new address space.
    let mut subnets = Vec::new();
    let mut removed = Vec::new();
    match &spec.subnets {
        Some(list) => {
            let mut planned: Vec<(String, Vec<Prefix>)> = Vec::new();
            for (name, s) in list {
                if planned.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    return Err(errors::invalid_subnet(name, id.name()));
                }
                let prefixes: Vec<Prefix> =
                    s.address_prefix.into_iter().chain(s.address_prefixes.iter().flatten().copied()).collect();
                planned.push((name.clone(), prefixes));
            }
            for (name, s) in list {
                let subnet_id = id.child(Kind::Subnet, name).map_err(|_| errors::invalid_resource_name(name))?;
                subnets.push(build_subnet(view, &vnet, &subnet_id, s, &planned)?);
            }
            for old in view.subnets_of(id) {
                if !list.iter().any(|(n, _)| n.eq_ignore_ascii_case(&old.name)) {
                    ensure_subnet_unused(view, &old.id)?;
                    removed.push(old.id.clone());
                }
            }
        }
        None => {
            for s in view.subnets_of(id) {
                if !s.prefixes().iter().all(|p| prefixes.iter().any(|v| v.contains(p))) {
                    return Err(errors::subnet_range_outside_vnet(&s.name, id.name()));
                }
            }
        }
    }

    let created = existing.is_none();
    tx.put(Resource::VirtualNetwork(vnet));
    for s in subnets {
        tx.put(Resource::Subnet(s));
    }
    for r in &removed {
        tx.delete(r);
    }
    refresh_links(tx, std::slice::from_ref(id));
    tx.lock(id, "PutVirtualNetworkOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

/// 1.13: a peered VNet may change its address space, but not with an old api-version, and not
/// into overlap with its peers or theirs [gap: the overlap code is the peering one].
fn check_peered_resize(view: &impl View, api_version: Option<&str>, vnet: &VirtualNetwork) -> Result<(), AzureError> {
    let links = view.links_of(&vnet.id);
    let peered = !links.is_empty() || !view.links_to(&vnet.id).is_empty();
    if !peered {
        return Ok(());
    }
    if let Some(v) = api_version
        && older_than_2021(v)
    {
        return Err(errors::minimum_api_version_for_address_space_update(v));
    }
    for link in links {
        let Some(remote) = view.vnet(link.remote_vnet_id()) else {
            continue;
        };
        if remote.id == vnet.id {
            continue;
        }
        let p = &link.properties;
        OverlapCheck {
            link: &link.id,
            local: vnet,
            remote,
            complete: p.peer_complete_vnets,
            local_subnets: &p.local_subnet_names,
            remote_subnets: &p.remote_subnet_names,
            only_ipv6: p.enable_only_ipv6_peering,
        }
        .run(view)?;
    }
    Ok(())
}

pub(crate) fn vnet_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_resource_group(view, id)?;
    if view.vnet(id).is_none() {
        return Ok(Effect::Absent);
    }
    ensure_idle(view, tx.ctx, id)?;
    let subnets: Vec<ResourceId> = view.subnets_of(id).iter().map(|s| s.id.clone()).collect();
    for s in &subnets {
        ensure_subnet_unused(view, s)?;
    }
    let links: Vec<ResourceId> = view.links_of(id).iter().map(|l| l.id.clone()).collect();
    let remotes: Vec<ResourceId> = view.links_of(id).iter().map(|l| l.remote_vnet_id().clone()).collect();
    for l in &links {
        tx.delete(l);
    }
    for s in &subnets {
        tx.delete(s);
    }
    tx.delete(id);
    // 1.11: every link pointing here becomes Disconnected.
    let mut affected = remotes;
    affected.push(id.clone());
    refresh_links(tx, &affected);
    Ok(Effect::Deleted)
}
