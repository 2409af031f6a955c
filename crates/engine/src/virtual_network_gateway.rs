//! Virtual network gateways (one VPN and one ExpressRoute gateway per VNet, in GatewaySubnet) and
//! local network gateways (on-premises sites). See shared/reference/peering-rules.md §4.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vnetlab_model::arm::public_ip_user;
use vnetlab_model::{
    AddressSpace, AllocationMethod, AzureError, BgpPeeringAddress, BgpSettings, GatewayIpConfiguration,
    GatewayIpConfigurationProperties, GatewaySku, GatewaySkuName, GatewayType, Kind, LocalNetworkGateway,
    LocalNetworkGatewayProperties, ProvisioningState, PublicIpSkuName, Resource, ResourceId, SubResource, View,
    ViewExt, VirtualNetworkGateway, VirtualNetworkGatewayProperties, VpnType,
};

use crate::Effect;
use crate::common::{check_delete, check_name, check_put, require_reference};
use crate::connection::{check_connection_overlaps, refresh_connections};
use crate::errors;
use crate::ipam::{first_free, first_free_in_pool, public_addresses_in_use, used_addresses};
use crate::operation::{LocalNetworkGatewaySpec, VirtualNetworkGatewaySpec};
use crate::peering::refresh_links;
use crate::tx::Tx;

/// Azure's ASN for its gateways.
pub const AZURE_GATEWAY_ASN: u32 = 65515;

pub(crate) fn gateway_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &VirtualNetworkGatewaySpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.gateway(id);
    let invalid = |reason: String| errors::invalid_gateway(id, &reason);

    if spec.gateway_type == GatewayType::LocalGateway {
        return Err(invalid("gatewayType must be Vpn or ExpressRoute.".into()));
    }
    let vpn_type = match spec.gateway_type {
        GatewayType::Vpn => Some(spec.vpn_type.unwrap_or(VpnType::RouteBased)),
        _ => None,
    };
    if let Some(e) = existing {
        if e.properties.gateway_type != spec.gateway_type {
            return Err(invalid(format!(
                "its gateway type is {}; a gateway cannot change type. Delete it and create a new one.",
                e.properties.gateway_type
            )));
        }
        if e.properties.vpn_type != vpn_type {
            return Err(invalid(
                "a gateway cannot be converted between PolicyBased and RouteBased. Delete it and create a new one."
                    .into(),
            ));
        }
    }
    if !spec.sku.fits(spec.gateway_type) {
        return Err(invalid(format!("SKU {} is not available for {} gateways.", spec.sku, spec.gateway_type)));
    }
    if vpn_type == Some(VpnType::PolicyBased) && spec.sku != GatewaySkuName::Basic {
        return Err(invalid(format!(
            "PolicyBased VPN gateways are available only with the Basic SKU, not {}.",
            spec.sku
        )));
    }
    let configs = &spec.ip_configurations;
    if spec.active_active && configs.len() != 2 {
        return Err(errors::active_active_needs_two_ip_configurations(configs.len(), id));
    }
    if !spec.active_active && configs.len() != 1 {
        return Err(invalid(format!(
            "it has {} IP configurations; a gateway that is not active-active has exactly one.",
            configs.len()
        )));
    }
    let subnet_id = configs[0].subnet.clone();
    let mut ip_configurations = Vec::new();
    let mut public_ips = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        check_name(&c.name)?;
        if configs[..i].iter().any(|o| vnetlab_model::same_name(&o.name, &c.name)) {
            return Err(invalid(format!("IP configuration name '{}' is used twice.", c.name)));
        }
        if !c.subnet.name().eq_ignore_ascii_case(vnetlab_model::GATEWAY_SUBNET) {
            return Err(invalid(format!(
                "IP configuration '{}' uses subnet {}; a gateway must be in its virtual network's subnet named GatewaySubnet.",
                c.name, c.subnet
            )));
        }
        if c.subnet != subnet_id {
            return Err(invalid("all IP configurations must use the same GatewaySubnet.".into()));
        }
        require_reference(view, &c.subnet, Kind::Subnet, id, spec.location)?;
        let config_id = id.nested("ipConfigurations", &c.name).map_err(|_| errors::invalid_resource_name(&c.name))?;
        match &c.public_ip_address {
            Some(pip_id) => {
                let pip = require_reference(view, pip_id, Kind::PublicIpAddress, id, spec.location)?
                    .as_public_ip_address()
                    .ok_or_else(|| errors::invalid_resource_reference(pip_id, id))?;
                if let Some(user) = public_ip_user(view, pip_id)
                    && !user.is_under(id)
                {
                    return Err(errors::public_ip_address_in_use(&config_id, pip_id, &user));
                }
                if spec.gateway_type == GatewayType::Vpn
                    && pip.sku.name == PublicIpSkuName::Basic
                    && spec.sku != GatewaySkuName::Basic
                {
                    return Err(errors::basic_public_ip_not_allowed_on_vpn_gateway(id));
                }
                public_ips.push(pip);
            }
            None if spec.gateway_type == GatewayType::Vpn => {
                return Err(invalid(format!(
                    "IP configuration '{}' needs a public IP address; VPN gateways have one per instance.",
                    c.name
                )));
            }
            None => {}
        }
        ip_configurations.push(GatewayIpConfiguration {
            id: config_id,
            name: c.name.clone(),
            properties: GatewayIpConfigurationProperties {
                provisioning_state: ProvisioningState::Succeeded,
                private_ip_allocation_method: AllocationMethod::Dynamic,
                subnet: SubResource::new(c.subnet.clone()),
                public_ip_address: c.public_ip_address.clone().map(SubResource::new),
            },
        });
    }
    if spec.active_active
        && public_ips.len() == 2
        && (public_ips[0].sku != public_ips[1].sku
            || public_ips[0].properties.public_ip_allocation_method
                != public_ips[1].properties.public_ip_allocation_method
            || public_ips[0].zones != public_ips[1].zones)
    {
        return Err(errors::active_active_public_ips_differ(id));
    }

    let vnet_id = subnet_id.parent().ok_or_else(|| errors::invalid_resource_reference(&subnet_id, id))?;
    if let Some(e) = existing {
        if e.vnet_id().is_some_and(|old| old != vnet_id) {
            return Err(invalid(
                "a gateway cannot move to another virtual network. Delete it and create a new one.".into(),
            ));
        }
        // Azure resizes within the VpnGw family only; Basic is not resized to or from.
        let basic = |sku: GatewaySkuName| sku == GatewaySkuName::Basic;
        if basic(e.properties.sku.name) != basic(spec.sku) {
            return Err(invalid(format!(
                "its SKU cannot change from {} to {}: the Basic SKU is not resized to or from other SKUs. Delete the gateway and create a new one.",
                e.properties.sku.name, spec.sku
            )));
        }
    }
    // 1.16e: no transit through a Basic VPN gateway, whichever is created first.
    if spec.gateway_type == GatewayType::Vpn && spec.sku == GatewaySkuName::Basic {
        let other_gateway = view.gateways_of(&vnet_id).into_iter().any(|g| &g.id != id);
        if let Some(user) = view.links_to(&vnet_id).into_iter().find(|l| l.properties.use_remote_gateways)
            && !other_gateway
        {
            return Err(errors::basic_gateway_with_transit_users(id, &vnet_id, &user.id));
        }
    }
    if let Some(other) =
        view.gateways_of(&vnet_id).into_iter().find(|g| &g.id != id && g.properties.gateway_type == spec.gateway_type)
    {
        return Err(invalid(format!(
            "virtual network {vnet_id} already has {} gateway {}; a virtual network can have one VPN gateway and one ExpressRoute gateway.",
            spec.gateway_type, other.id
        )));
    }
    if let Some(link) = view.links_of(&vnet_id).into_iter().find(|l| l.properties.use_remote_gateways) {
        return Err(errors::gateway_in_vnet_using_remote_gateways(id, &vnet_id, &link.id));
    }

    // Two instances, each with a private address in GatewaySubnet: the next hop of gateway routes.
    let kept: Vec<IpAddr> =
        existing.filter(|e| e.subnet_id() == Some(&subnet_id)).map(|e| e.instance_addresses()).unwrap_or_default();
    let instances = if kept.len() == 2 {
        kept
    } else {
        let subnet = view.subnet(&subnet_id).ok_or_else(|| errors::invalid_resource_reference(&subnet_id, id))?;
        let used: BTreeMap<IpAddr, ResourceId> =
            used_addresses(view, &subnet_id).into_iter().filter(|(_, holder)| !holder.is_under(id)).collect();
        let mut taken = std::collections::HashSet::new();
        let mut out = Vec::new();
        for _ in 0..2 {
            let first_prefix =
                subnet.prefixes().first().copied().ok_or_else(|| errors::invalid_resource_reference(&subnet_id, id))?;
            let ip = first_free(subnet, vnetlab_model::IpVersion::IPv4, &used, &taken)
                .ok_or_else(|| errors::subnet_is_full(&subnet.name, &first_prefix))?;
            taken.insert(ip);
            out.push(ip);
        }
        out
    };
    let tunnel_ips: Vec<String> =
        public_ips.iter().filter_map(|p| p.properties.ip_address).map(|ip| ip.to_string()).collect();
    let bgp_peering_addresses: Vec<BgpPeeringAddress> = if spec.active_active {
        ip_configurations
            .iter()
            .zip(&instances)
            .enumerate()
            .map(|(i, (c, ip))| BgpPeeringAddress {
                ipconfiguration_id: c.id.clone(),
                default_bgp_ip_addresses: vec![ip.to_string()],
                custom_bgp_ip_addresses: Vec::new(),
                tunnel_ip_addresses: tunnel_ips.get(i).cloned().into_iter().collect(),
            })
            .collect()
    } else {
        vec![BgpPeeringAddress {
            ipconfiguration_id: ip_configurations[0].id.clone(),
            default_bgp_ip_addresses: instances.iter().map(|ip| ip.to_string()).collect(),
            custom_bgp_ip_addresses: Vec::new(),
            tunnel_ip_addresses: tunnel_ips.clone(),
        }]
    };
    let asn = match spec.gateway_type {
        GatewayType::ExpressRoute => AZURE_GATEWAY_ASN,
        _ => spec.asn.or(existing.map(|e| e.properties.bgp_settings.asn)).unwrap_or(AZURE_GATEWAY_ASN),
    };
    let bgp_peering_address = if spec.active_active {
        instances.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(",")
    } else {
        instances[0].to_string()
    };
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let gateway = VirtualNetworkGateway {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: VirtualNetworkGatewayProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            ip_configurations,
            gateway_type: spec.gateway_type,
            vpn_type,
            vpn_gateway_generation: spec.vpn_gateway_generation.clone(),
            sku: GatewaySku { name: spec.sku, tier: spec.sku, capacity: None },
            active_active: spec.active_active,
            enable_bgp: spec.enable_bgp,
            enable_private_ip_address: spec.enable_private_ip_address,
            bgp_settings: BgpSettings {
                asn,
                bgp_peering_address: Some(bgp_peering_address),
                peer_weight: 0,
                bgp_peering_addresses,
            },
        },
    };
    let created = existing.is_none();
    tx.put(Resource::VirtualNetworkGateway(gateway));
    refresh_links(tx, std::slice::from_ref(&vnet_id));
    refresh_connections(tx, std::slice::from_ref(id));
    // Azure takes 45 minutes or more; deferred provisioning keeps the gateway Updating until done.
    tx.lock(id, "PutVirtualNetworkGatewayOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

pub(crate) fn gateway_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::VirtualNetworkGateway)? {
        return Ok(Effect::Absent);
    }
    let vnet_id = view.gateway(id).and_then(|g| g.vnet_id());
    let connections: Vec<ResourceId> = view.referrers(id, Kind::Connection).iter().map(|s| s.id().clone()).collect();
    if !connections.is_empty() {
        return Err(errors::gateway_has_connections(id, &connections));
    }
    tx.delete(id);
    // 1.16g: spokes keep useRemoteGateways; their gateway routes and remoteGateways go.
    if let Some(vnet) = vnet_id {
        refresh_links(tx, &[vnet]);
    }
    Ok(Effect::Deleted)
}

pub(crate) fn local_gateway_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &LocalNetworkGatewaySpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_local_network_gateway);
    for (i, p) in spec.address_prefixes.iter().enumerate() {
        if let Some(q) = spec.address_prefixes[..i].iter().find(|q| q.overlaps(p)) {
            return Err(errors::vnet_prefixes_overlap(id, q, p));
        }
    }
    let gateway_ip_address =
        match (spec.gateway_ip_address, &spec.fqdn, existing.and_then(|e| e.properties.gateway_ip_address)) {
            (Some(ip), _, _) => Some(ip),
            (None, Some(_), _) => None,
            (None, None, Some(kept)) => Some(kept),
            // [gap] Azure requires an address or an FQDN; vnetlab gives the emulated site one from the
            // public pool so that topology files need not invent addresses.
            (None, None, None) => {
                let pool = &tx.ctx.settings.public_ip_pool_v4;
                Some(
                    first_free_in_pool(pool, &public_addresses_in_use(view))
                        .ok_or_else(|| errors::public_ip_pool_exhausted(id, pool))?,
                )
            }
        };
    let bgp_settings = spec.bgp_asn.map(|asn| BgpSettings {
        asn,
        bgp_peering_address: spec.bgp_peering_address.clone(),
        peer_weight: 0,
        bgp_peering_addresses: Vec::new(),
    });
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let local = LocalNetworkGateway {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: LocalNetworkGatewayProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            local_network_address_space: AddressSpace::new(spec.address_prefixes.clone()),
            gateway_ip_address,
            fqdn: spec.fqdn.clone(),
            bgp_settings,
        },
    };
    let created = existing.is_none();
    tx.put(Resource::LocalNetworkGateway(local));
    // A site's new prefixes must still fit beside everything its connections reach.
    let connections: Vec<ResourceId> =
        tx.draft.referrers(id, Kind::Connection).iter().map(|s| s.id().clone()).collect();
    for c in &connections {
        check_connection_overlaps(&tx.draft, c)?;
    }
    tx.lock(id, "PutLocalNetworkGatewayOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

pub(crate) fn local_gateway_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::LocalNetworkGateway)? {
        return Ok(Effect::Absent);
    }
    let connections: Vec<ResourceId> = view.referrers(id, Kind::Connection).iter().map(|s| s.id().clone()).collect();
    if !connections.is_empty() {
        return Err(errors::local_gateway_has_connections(id, &connections));
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}
