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
use crate::peering::{recheck_links, refresh_links};
use crate::subnet::{build_subnet, ensure_subnet_unused, same_prefixes};
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

    // Encryption on needs an enforcement policy; off without one defaults to AllowUnencrypted
    // (azure-cli's recorded session `test_network_vnet_with_encryption`).
    if spec.encryption.as_ref().is_some_and(|e| e.enabled && e.enforcement.is_none()) {
        return Err(errors::must_specify_both_encryption_intent_and_enforcement_policy(id));
    }
    let encryption = spec.encryption.clone().map(|mut e| {
        e.enforcement.get_or_insert(vnetlab_model::EncryptionEnforcement::AllowUnencrypted);
        e
    });

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
            encryption,
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
        check_peered_resize(view, tx.ctx.api_version.as_deref(), id)?;
    }
    let subnets_moved = spec.subnets.as_ref().is_some_and(|list| {
        list.iter().any(|(name, s)| {
            let Ok(sid) = id.child(Kind::Subnet, name) else { return false };
            let wanted: Vec<Prefix> =
                s.address_prefix.into_iter().chain(s.address_prefixes.iter().flatten().copied()).collect();
            view.subnet(&sid).is_some_and(|old| !same_prefixes(&old.prefixes(), &wanted))
        })
    });

    // The subnet set: replaced when the request carries one, else kept and re-checked against the
    // new address space.
    let mut subnets = Vec::new();
    let mut removed = Vec::new();
    match &spec.subnets {
        Some(list) => {
            let mut planned: Vec<(String, Vec<Prefix>)> = Vec::new();
            for (name, s) in list {
                if planned.iter().any(|(n, _)| vnetlab_model::same_name(n, name)) {
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
                if !list.iter().any(|(n, _)| vnetlab_model::same_name(n, &old.name)) {
                    ensure_subnet_unused(view, &old.id, true)?;
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
    // 1.13 [gap: the peering code], 1.27.1, §4: the changed VNet must still fit beside its peers
    // (as a PUT of each link would now check) and beside what its gateways connect to.
    if space_changed || subnets_moved {
        recheck_links(&tx.draft, id, None)?;
    }
    if space_changed {
        for gateway in tx.draft.gateways_of(id).into_iter().map(|g| g.id.clone()).collect::<Vec<_>>() {
            let connections: Vec<ResourceId> =
                tx.draft.referrers(&gateway, Kind::Connection).iter().map(|c| c.id().clone()).collect();
            for c in &connections {
                crate::connection::check_connection_overlaps(&tx.draft, c)?;
            }
        }
    }
    refresh_links(tx, std::slice::from_ref(id));
    tx.lock(id, "PutVirtualNetworkOperation");
    // The subnets a VNet PUT carries are updated with it (Azure shows them `Updating` too).
    if spec.subnets.is_some() {
        for subnet in crate::common::children(&tx.draft, id, Kind::Subnet) {
            tx.lock(&subnet, "PutVirtualNetworkOperation");
        }
    }
    Ok(if created { Effect::Created } else { Effect::Updated })
}

/// 1.13: a peered VNet may change its address space, but not with an api-version older than
/// 2021-01-01. (That it must not overlap its peers is checked on the result, by `recheck_links`.)
fn check_peered_resize(view: &impl View, api_version: Option<&str>, vnet: &ResourceId) -> Result<(), AzureError> {
    let peered = !view.links_of(vnet).is_empty() || !view.links_to(vnet).is_empty();
    match api_version {
        Some(v) if peered && older_than_2021(v) => Err(errors::minimum_api_version_for_address_space_update(v)),
        _ => Ok(()),
    }
}

pub(crate) fn vnet_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_resource_group(view, id)?;
    if view.vnet(id).is_none() {
        return Ok(Effect::Absent);
    }
    ensure_idle(view, tx.ctx, id)?;
    let subnets: Vec<ResourceId> = view.subnets_of(id).iter().map(|s| s.id.clone()).collect();
    // Deleting the VNet takes its links with it and disconnects the others, so only NICs and
    // gateways hold its subnets.
    for s in &subnets {
        ensure_subnet_unused(view, s, false)?;
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
