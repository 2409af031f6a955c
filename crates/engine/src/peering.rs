//! Virtual network peering: the rules of shared/reference/peering-rules.md §1 and the state every
//! link derives from its pair (peering state, sync level, the address spaces it reports).

use vnetlab_model::{
    AddressSpace, AzureError, GatewaySkuName, GatewayType, Kind, Meta, PeeringState, PeeringSyncLevel, Prefix,
    ProvisioningState, Resource, ResourceId, SubResource, View, ViewExt, VirtualNetwork, VirtualNetworkPeering,
    VirtualNetworkPeeringProperties,
};

use crate::Effect;
use crate::common::{check_name, ensure_idle, ensure_provisioned, require_parent};
use crate::errors;
use crate::operation::PeeringSpec;
use crate::tx::Tx;

/// Origins of links a hub-and-spoke connectivity configuration manages; they count against the
/// higher per-VNet limit (1.20).
pub const HUB_AND_SPOKE_ORIGIN_PREFIX: &str = "connectivity:hub-and-spoke";

/// The prefixes a link peers of one VNet: the whole address space, or (subnet peering) the named
/// subnets' prefixes; only IPv6 ones with `only_ipv6` (1.25, 1.27).
pub fn peered_space(
    view: &impl View,
    vnet: &ResourceId,
    complete: bool,
    subnet_names: &[String],
    only_ipv6: bool,
) -> Vec<Prefix> {
    let Some(v) = view.vnet(vnet) else {
        return Vec::new();
    };
    let prefixes: Vec<Prefix> = if complete {
        v.properties.address_space.address_prefixes.clone()
    } else {
        let mut out = Vec::new();
        for name in subnet_names {
            if let Some(s) = vnet.child(Kind::Subnet, name).ok().and_then(|id| view.subnet(&id)) {
                out.extend(s.prefixes());
            }
        }
        out
    };
    prefixes.into_iter().filter(|p| !only_ipv6 || p.is_ipv6()).collect()
}

/// The address ranges the overlap check compares: the whole address space, or the ranges of the
/// address space that hold the named subnets (1.27.1: the check is on ranges, not on subnets).
fn overlap_ranges(
    view: &impl View,
    vnet: &VirtualNetwork,
    complete: bool,
    subnet_names: &[String],
    only_ipv6: bool,
) -> Vec<Prefix> {
    let space = &vnet.properties.address_space.address_prefixes;
    let ranges: Vec<Prefix> = if complete {
        space.clone()
    } else {
        let subnets = peered_space(view, &vnet.id, false, subnet_names, false);
        space.iter().filter(|r| subnets.iter().any(|s| r.contains(s))).copied().collect()
    };
    ranges.into_iter().filter(|p| !only_ipv6 || p.is_ipv6()).collect()
}

fn push_unique(list: &mut Vec<Prefix>, p: Prefix) {
    if !list.contains(&p) {
        list.push(p);
    }
}

/// The more specific of two overlapping prefixes (CIDR blocks nest).
fn intersection(a: &Prefix, b: &Prefix) -> Prefix {
    if a.prefix_len() >= b.prefix_len() { *a } else { *b }
}

/// Everything a link `local → remote` must not overlap: the remote itself (1.1) and the VNets the
/// remote already peers with (1.2).
pub(crate) struct OverlapCheck<'a> {
    pub link: &'a ResourceId,
    pub local: &'a VirtualNetwork,
    pub remote: &'a VirtualNetwork,
    pub complete: bool,
    pub local_subnets: &'a [String],
    pub remote_subnets: &'a [String],
    pub only_ipv6: bool,
}

impl OverlapCheck<'_> {
    pub fn run(&self, view: &impl View) -> Result<(), AzureError> {
        let local_ranges = overlap_ranges(view, self.local, self.complete, self.local_subnets, self.only_ipv6);
        let remote_ranges = overlap_ranges(view, self.remote, self.complete, self.remote_subnets, self.only_ipv6);

        // 1.1 (and 1.3: a VNet overlaps itself).
        let pairs: Vec<(Prefix, Prefix)> =
            vnetlab_model::prefix::overlapping_pairs(&local_ranges, &remote_ranges).collect();
        if !pairs.is_empty() {
            let mut listed = Vec::new();
            if self.complete {
                // The overlapping prefixes of the local VNet, then the remote's (each once).
                let mut remote = Vec::new();
                for (l, r) in &pairs {
                    push_unique(&mut listed, *l);
                    push_unique(&mut remote, *r);
                }
                listed.extend(remote);
            } else {
                // Azure lists the selected subnets' prefixes that sit in the overlapping ranges.
                let local_subnets = peered_space(view, &self.local.id, false, self.local_subnets, self.only_ipv6);
                let remote_subnets = peered_space(view, &self.remote.id, false, self.remote_subnets, self.only_ipv6);
                for s in local_subnets.iter().filter(|s| pairs.iter().any(|(l, _)| l.contains(s))) {
                    push_unique(&mut listed, *s);
                }
                for s in remote_subnets.iter().filter(|s| pairs.iter().any(|(_, r)| r.contains(s))) {
                    push_unique(&mut listed, *s);
                }
            }
            return Err(errors::vnet_address_spaces_overlap(self.link, &self.local.id, &self.remote.id, &listed));
        }

        // 1.2: one hop through the remote's existing links, whatever their state; a link to a
        // deleted VNet still counts with the space it last synced (AzureTRE#4641).
        if let Some((third, listed)) = overlap_with_peers(view, &self.remote.id, &self.local.id, &local_ranges) {
            return Err(errors::vnet_address_space_overlaps_with_already_peered_vnet(
                self.link,
                &self.local.id,
                &self.remote.id,
                &third,
                &listed,
            ));
        }
        // 1.2 mirrored [inf]: the remote must not overlap a VNet the local one already peers with,
        // or the local VNet would route two peers' traffic to one range. Azure documents the check
        // one way; without its mirror the outcome would depend on which link was created first.
        if let Some((third, listed)) = overlap_with_peers(view, &self.local.id, &self.remote.id, &remote_ranges) {
            return Err(errors::vnet_address_space_of_remote_overlaps_with_already_peered_vnet(
                self.link,
                &self.local.id,
                &self.remote.id,
                &third,
                &listed,
            ));
        }
        Ok(())
    }
}

/// After a change to `vnet`'s address space or subnets, every link under it or pointing at it must
/// still pass the overlap rules (1.1, 1.2, 1.27.1) as a PUT of that link would now. With `subnet`,
/// only the subnet peerings that name that subnet of `vnet`.
pub(crate) fn recheck_links(view: &impl View, vnet: &ResourceId, subnet: Option<&str>) -> Result<(), AzureError> {
    let names_it = |link: &VirtualNetworkPeering, names: &[String]| match subnet {
        None => true,
        Some(s) => !link.properties.peer_complete_vnets && names.iter().any(|n| vnetlab_model::same_name(n, s)),
    };
    let outgoing = view.links_of(vnet).into_iter().filter(|l| names_it(l, &l.properties.local_subnet_names));
    let incoming = view.links_to(vnet).into_iter().filter(|l| names_it(l, &l.properties.remote_subnet_names));
    for link in outgoing.chain(incoming) {
        let Some(local_id) = link.local_vnet_id() else { continue };
        let (Some(local), Some(remote)) = (view.vnet(&local_id), view.vnet(link.remote_vnet_id())) else { continue };
        if local.id == remote.id {
            continue;
        }
        let p = &link.properties;
        OverlapCheck {
            link: &link.id,
            local,
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

/// The first VNet `vnet` links to (other than `except`) whose peered space overlaps `ranges`: what
/// its link last synced, and the VNet's current space if it still exists. With the overlapping
/// prefixes (the more specific of each pair).
fn overlap_with_peers(
    view: &impl View,
    vnet: &ResourceId,
    except: &ResourceId,
    ranges: &[Prefix],
) -> Option<(ResourceId, Vec<Prefix>)> {
    for link in view.links_of(vnet) {
        let third = link.remote_vnet_id();
        if third == except || third == vnet {
            continue;
        }
        let current =
            view.vnet(third).map(|v| v.properties.address_space.address_prefixes.as_slice()).unwrap_or_default();
        let mut listed = Vec::new();
        for p in link.properties.remote_address_space.address_prefixes.iter().chain(current) {
            for r in ranges.iter().filter(|r| r.overlaps(p)) {
                push_unique(&mut listed, intersection(r, p));
            }
        }
        if !listed.is_empty() {
            return Some((third.clone(), listed));
        }
    }
    None
}

fn is_classic(id: &ResourceId) -> bool {
    id.type_path().is_some_and(|t| t.to_ascii_lowercase().starts_with("microsoft.classicnetwork/"))
}

pub(crate) fn peering_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &PeeringSpec,
    sync: bool,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    let local_id = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    require_parent(view, id)?;
    check_name(id.name())?;
    let local = view.vnet(&local_id).ok_or_else(|| errors::resource_not_found(&local_id))?;
    let existing = view.peering(id);
    let remote_id = &spec.remote_virtual_network;

    if is_classic(remote_id) {
        return Err(errors::classic_remote_not_supported(id, remote_id));
    }
    if let Some(existing) = existing {
        // 1.5, 1.27.3.
        if existing.remote_vnet_id() != remote_id {
            return Err(errors::changing_remote_virtual_network_not_allowed(id, existing.remote_vnet_id(), remote_id));
        }
        if existing.properties.peer_complete_vnets != spec.peer_complete_vnets {
            return Err(errors::changing_peering_type_not_allowed(id, "peerCompleteVnets"));
        }
        if existing.properties.enable_only_ipv6_peering != spec.enable_only_ipv6_peering {
            return Err(errors::changing_peering_type_not_allowed(id, "enableOnlyIPv6Peering"));
        }
    }

    // 1.3 [gap]: Azure's API error for self-peering is not public. A VNet always overlaps itself,
    // so vnetlab answers with the overlap error (the reference's recommendation), whatever the link
    // type: every prefix of the VNet, as local and as remote.
    if remote_id == &local_id {
        let space = &local.properties.address_space.address_prefixes;
        let listed: Vec<Prefix> = space.iter().chain(space.iter()).copied().collect();
        return Err(errors::vnet_address_spaces_overlap(id, &local_id, &local_id, &listed));
    }
    let remote = match view.resource(remote_id) {
        Some(Resource::VirtualNetwork(v)) => v,
        _ => return Err(errors::invalid_global_resource_reference(remote_id, id)),
    };

    // 1.8 and 1.9.
    ensure_idle(view, tx.ctx, id)?;
    ensure_provisioned(view, &local_id, id)?;
    ensure_provisioned(view, remote_id, id)?;

    // 1.21.
    if local.location.cloud() != remote.location.cloud() {
        return Err(errors::global_peering_across_clouds(id, local.location, remote.location));
    }

    // 1.4.
    let links = view.links_of(&local_id);
    if let Some(other) = links.iter().find(|l| &l.id != id && l.remote_vnet_id() == remote_id) {
        return Err(errors::another_peering_already_references_remote_vnet(&other.id, remote_id, id));
    }

    // 1.20.
    if existing.is_none() {
        let managed = spec.origin.as_deref().is_some_and(|o| o.starts_with(HUB_AND_SPOKE_ORIGIN_PREFIX));
        let limit = if managed {
            tx.ctx.settings.max_peerings_per_vnet_connectivity
        } else {
            tx.ctx.settings.max_peerings_per_vnet
        };
        if links.len() >= limit {
            return Err(errors::peering_limit_reached(&local_id, limit));
        }
    }

    // 1.27.
    // 1.25: IPv6-only peering is a kind of subnet peering.
    if spec.peer_complete_vnets {
        if !spec.local_subnet_names.is_empty() || !spec.remote_subnet_names.is_empty() {
            return Err(errors::invalid_subnet_peering(
                id,
                "localSubnetNames and remoteSubnetNames apply only when peerCompleteVnets is false.",
            ));
        }
        if spec.enable_only_ipv6_peering {
            return Err(errors::invalid_subnet_peering(
                id,
                "enableOnlyIPv6Peering applies only to subnet peering (peerCompleteVnets false).",
            ));
        }
    } else {
        check_subnet_names(view, id, local, &spec.local_subnet_names, "localSubnetNames")?;
        check_subnet_names(view, id, remote, &spec.remote_subnet_names, "remoteSubnetNames")?;
        let count = spec.local_subnet_names.len() + spec.remote_subnet_names.len();
        let limit = tx.ctx.settings.max_subnets_per_subnet_peering;
        if count > limit {
            return Err(errors::too_many_peered_subnets(id, count, limit));
        }
        if spec.enable_only_ipv6_peering {
            for (vnet, names) in [(local, &spec.local_subnet_names), (remote, &spec.remote_subnet_names)] {
                if peered_space(view, &vnet.id, false, names, true).is_empty() {
                    return Err(errors::invalid_subnet_peering(
                        id,
                        &format!(
                            "enableOnlyIPv6Peering is set, but the named subnets of {} have no IPv6 prefix: the peering would peer nothing.",
                            vnet.id
                        ),
                    ));
                }
            }
        }
    }

    // 1.1, 1.2, 1.3.
    OverlapCheck {
        link: id,
        local,
        remote,
        complete: spec.peer_complete_vnets,
        local_subnets: &spec.local_subnet_names,
        remote_subnets: &spec.remote_subnet_names,
        only_ipv6: spec.enable_only_ipv6_peering,
    }
    .run(view)?;

    // 1.12.
    let reverse = view.link_between(remote_id, &local_id);
    if let Some(reverse) = reverse
        && reverse.properties.peering_state == PeeringState::Disconnected
    {
        return Err(errors::remote_peering_is_disconnected(id, &reverse.id, &local_id));
    }

    // 1.16.
    if spec.use_remote_gateways {
        check_use_remote_gateways(view, id, &local_id, remote_id, reverse)?;
    }

    let resource_guid = match (existing, reverse) {
        (Some(e), _) => e.properties.resource_guid,
        (None, Some(r)) => r.properties.resource_guid,
        (None, None) => tx.ctx.guid(),
    };
    let reviving = existing.is_some_and(|e| e.properties.peering_state == PeeringState::Disconnected);
    // 1.27.2: changing the remote subnets of a link is how a subnet peering's selection changes; it
    // takes effect at once (ARM templates cannot ask for a sync).
    let selection_changed =
        existing.is_some_and(|e| !same_names(&e.properties.remote_subnet_names, &spec.remote_subnet_names));
    let remote_address_space = match existing {
        Some(e) if !sync && !reviving && !selection_changed => e.properties.remote_address_space.clone(),
        _ => AddressSpace::new(peered_space(
            view,
            remote_id,
            spec.peer_complete_vnets,
            &spec.remote_subnet_names,
            spec.enable_only_ipv6_peering,
        )),
    };
    let peering_state = match existing {
        Some(e) if !reviving => e.properties.peering_state,
        // 1.12 [inf]: updating a Disconnected link brings it back to Initiated.
        _ => PeeringState::Initiated,
    };
    let link = VirtualNetworkPeering {
        id: id.clone(),
        name: id.name().to_owned(),
        properties: VirtualNetworkPeeringProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            peering_state,
            peering_sync_level: PeeringSyncLevel::RemoteNotInSync,
            remote_virtual_network: SubResource::new(remote_id.clone()),
            allow_virtual_network_access: spec.allow_virtual_network_access,
            allow_forwarded_traffic: spec.allow_forwarded_traffic,
            allow_gateway_transit: spec.allow_gateway_transit,
            use_remote_gateways: spec.use_remote_gateways,
            do_not_verify_remote_gateways: spec.do_not_verify_remote_gateways,
            peer_complete_vnets: spec.peer_complete_vnets,
            enable_only_ipv6_peering: spec.enable_only_ipv6_peering,
            local_subnet_names: spec.local_subnet_names.clone(),
            remote_subnet_names: spec.remote_subnet_names.clone(),
            local_address_space: AddressSpace::default(),
            local_virtual_network_address_space: AddressSpace::default(),
            remote_address_space,
            remote_virtual_network_address_space: AddressSpace::default(),
            remote_bgp_communities: None,
            remote_virtual_network_encryption: None,
            remote_gateways: Vec::new(),
        },
    };
    let created = existing.is_none();
    let mut meta = view.get(id).map(|s| s.meta.clone()).unwrap_or_default();
    if created {
        meta = Meta { origin: spec.origin.clone().or_else(|| tx.ctx.origin.clone()), ..meta };
    }
    let remote_id = remote_id.clone();
    tx.put_with_meta(Resource::VirtualNetworkPeering(link), meta);
    refresh_pair(tx, &local_id, &remote_id);
    // 1.9 [inf]: a peering operation keeps both VNets busy while it runs.
    tx.lock(id, "PutVirtualNetworkPeeringOperation");
    tx.lock(&local_id, "PutVirtualNetworkPeeringOperation");
    tx.lock(&remote_id, "PutVirtualNetworkPeeringOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

/// The same subnet names, in any order and case.
fn same_names(a: &[String], b: &[String]) -> bool {
    let fold = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|n| n.to_lowercase()).collect();
        v.sort();
        v
    };
    fold(a) == fold(b)
}

fn check_subnet_names(
    view: &impl View,
    id: &ResourceId,
    vnet: &VirtualNetwork,
    names: &[String],
    field: &str,
) -> Result<(), AzureError> {
    if names.is_empty() {
        return Err(errors::invalid_subnet_peering(
            id,
            &format!("{field} must name at least one subnet when peerCompleteVnets is false."),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|n| vnetlab_model::same_name(n, name)) {
            return Err(errors::invalid_subnet_peering(id, &format!("{field} names subnet '{name}' twice.")));
        }
        let exists = vnet.id.child(Kind::Subnet, name).ok().is_some_and(|sid| view.subnet(&sid).is_some());
        if !exists {
            return Err(errors::invalid_subnet_peering(
                id,
                &format!("{field} names subnet '{name}', which virtual network {} does not have.", vnet.id),
            ));
        }
    }
    Ok(())
}

fn check_use_remote_gateways(
    view: &impl View,
    id: &ResourceId,
    local_id: &ResourceId,
    remote_id: &ResourceId,
    reverse: Option<&VirtualNetworkPeering>,
) -> Result<(), AzureError> {
    // a: a gateway that is still provisioning counts as absent, and `doNotVerifyRemoteGateways`
    // does not change that (observed: the flag did not get around the check).
    let remote_gateways: Vec<_> = view
        .gateways_of(remote_id)
        .into_iter()
        .filter(|g| g.properties.provisioning_state == ProvisioningState::Succeeded)
        .collect();
    if remote_gateways.is_empty() {
        return Err(errors::remote_vnet_has_no_gateways(id, remote_id));
    }
    // d.
    if let Some(own) = view.gateways_of(local_id).first() {
        return Err(errors::vnet_with_gateway_cannot_use_remote_gateways(id, local_id, &own.id));
    }
    // b [inf]: only a reciprocal link that exists and refuses transit is an error; spokes are often
    // created before the hub's link.
    if reverse.is_some_and(|r| !r.properties.allow_gateway_transit) {
        return Err(errors::remote_peering_does_not_allow_gateway_transit(id));
    }
    // c.
    if let Some(other) = view.links_of(local_id).into_iter().find(|l| &l.id != id && l.properties.use_remote_gateways) {
        return Err(errors::another_peering_already_uses_remote_gateways(id, &other.id));
    }
    // e.
    let vpn: Vec<_> = remote_gateways.iter().filter(|g| g.properties.gateway_type == GatewayType::Vpn).collect();
    if let Some(basic) = vpn.iter().find(|g| g.properties.sku.name == GatewaySkuName::Basic)
        && vpn.len() == remote_gateways.len()
    {
        return Err(errors::remote_gateway_sku_does_not_support_transit(id, &basic.id));
    }
    Ok(())
}

pub(crate) fn peering_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    let local_id = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    require_parent(view, id)?;
    let Some(link) = view.peering(id) else {
        return Ok(Effect::Absent);
    };
    ensure_idle(view, tx.ctx, id)?;
    let remote_id = link.remote_vnet_id().clone();
    ensure_provisioned(view, &local_id, id)?;
    ensure_provisioned(view, &remote_id, id)?;
    tx.delete(id);
    // 1.11: the other side becomes Disconnected.
    refresh_pair(tx, &local_id, &remote_id);
    tx.lock(&local_id, "DeleteVirtualNetworkPeeringOperation");
    tx.lock(&remote_id, "DeleteVirtualNetworkPeeringOperation");
    Ok(Effect::Deleted)
}

/// Recomputes what every link under or pointing at `vnets` derives from the rest of the state:
/// its peering state, sync level, reported address spaces, remote encryption and remote gateways.
/// Links whose derived state did not change are left as they are.
pub(crate) fn refresh_links(tx: &mut Tx<'_, '_, '_>, vnets: &[ResourceId]) {
    let mut ids: Vec<ResourceId> = Vec::new();
    for vnet in vnets {
        for link in tx.view().links_of(vnet).into_iter().chain(tx.view().links_to(vnet)) {
            if !ids.contains(&link.id) {
                ids.push(link.id.clone());
            }
        }
    }
    refresh(tx, &ids);
}

/// As [`refresh_links`], for the two links between `a` and `b` only: what a peering operation
/// changes, since a link's derived state depends only on its pair and the two VNets.
pub(crate) fn refresh_pair(tx: &mut Tx<'_, '_, '_>, a: &ResourceId, b: &ResourceId) {
    let ids: Vec<ResourceId> = [tx.draft.link_between(a, b), tx.draft.link_between(b, a)]
        .into_iter()
        .flatten()
        .map(|l| l.id.clone())
        .collect();
    refresh(tx, &ids);
}

fn refresh(tx: &mut Tx<'_, '_, '_>, ids: &[ResourceId]) {
    // Two passes: a link's state depends on its reverse's, which the first pass may change.
    for _ in 0..2 {
        for id in ids {
            if let Some(updated) = derive_link(&tx.draft, id) {
                tx.put(Resource::VirtualNetworkPeering(updated));
            }
        }
    }
}

/// The link `id` with its derived fields recomputed, if anything changed.
fn derive_link(view: &impl View, id: &ResourceId) -> Option<VirtualNetworkPeering> {
    let link = view.peering(id)?;
    let local_id = link.local_vnet_id()?;
    let local = view.vnet(&local_id)?;
    let remote_id = link.remote_vnet_id();
    let remote = view.vnet(remote_id);
    let reverse = remote.and_then(|_| view.link_between(remote_id, &local_id));
    let p = &link.properties;

    let peering_state = match (p.peering_state, remote, reverse) {
        (PeeringState::Disconnected, _, _) => PeeringState::Disconnected,
        (_, None, _) => PeeringState::Disconnected,
        (_, Some(_), Some(r)) if r.properties.peering_state != PeeringState::Disconnected => PeeringState::Connected,
        (PeeringState::Connected, Some(_), _) => PeeringState::Disconnected,
        (PeeringState::Initiated, Some(_), _) => PeeringState::Initiated,
    };
    let connected_reverse = reverse.filter(|_| peering_state == PeeringState::Connected);

    // 1.13: a link is locally out of sync when the remote space it peers is stale; remotely out of
    // sync when the other side's link is (or when there is no other side yet, 1.10 [inf]).
    let remote_now =
        peered_space(view, remote_id, p.peer_complete_vnets, &p.remote_subnet_names, p.enable_only_ipv6_peering);
    let local_not_in_sync =
        remote.is_some() && !AddressSpace::new(remote_now.clone()).same_set(&p.remote_address_space);
    let remote_not_in_sync = match connected_reverse {
        Some(r) => {
            let rp = &r.properties;
            let local_now = peered_space(
                view,
                &local_id,
                rp.peer_complete_vnets,
                &rp.remote_subnet_names,
                rp.enable_only_ipv6_peering,
            );
            !AddressSpace::new(local_now).same_set(&rp.remote_address_space)
        }
        None => true,
    };

    let mut updated = link.clone();
    let u = &mut updated.properties;
    u.peering_state = peering_state;
    u.peering_sync_level = PeeringSyncLevel::from_flags(local_not_in_sync, remote_not_in_sync);
    // The local space this link peers: what the other side has synced, once there is one.
    u.local_address_space = match connected_reverse {
        Some(r) => r.properties.remote_address_space.clone(),
        None => AddressSpace::new(peered_space(
            view,
            &local_id,
            p.peer_complete_vnets,
            &p.local_subnet_names,
            p.enable_only_ipv6_peering,
        )),
    };
    // The "right now" spaces are the whole VNets' for a whole-VNet peering and the named subnets'
    // for a subnet peering (Azure's subnet-peering examples and the recorded az session show it).
    u.local_virtual_network_address_space = if p.peer_complete_vnets {
        local.properties.address_space.clone()
    } else {
        AddressSpace::new(peered_space(view, &local_id, false, &p.local_subnet_names, p.enable_only_ipv6_peering))
    };
    if let Some(remote) = remote {
        u.remote_virtual_network_address_space =
            if p.peer_complete_vnets { remote.properties.address_space.clone() } else { AddressSpace::new(remote_now) };
        u.remote_virtual_network_encryption = remote.properties.encryption.clone();
        u.remote_bgp_communities = remote.properties.bgp_communities.clone();
    }
    u.remote_gateways = if p.use_remote_gateways && remote.is_some() {
        view.gateways_of(remote_id).into_iter().map(|g| SubResource::new(g.id.clone())).collect()
    } else {
        Vec::new()
    };
    if let Some(r) = connected_reverse {
        u.resource_guid = r.properties.resource_guid;
    }
    (updated != *link).then_some(updated)
}
