//! Gateway connections: site-to-site (IPsec to an on-premises site), VNet-to-VNet (between two
//! RouteBased VPN gateways, one connection resource on each side, same shared key) and ExpressRoute.

use vnetlab_model::{
    AzureError, Connection, ConnectionMode, ConnectionProperties, ConnectionProtocol, ConnectionStatus, ConnectionType,
    GatewayType, Kind, Prefix, ProvisioningState, Resource, ResourceId, SubResource, View, ViewExt, VpnType,
};

use crate::Effect;
use crate::common::{check_delete, check_put, require_reference};
use crate::errors;
use crate::operation::ConnectionSpec;
use crate::tx::Tx;

/// The prefixes a connection reaches on its far side, and how to name that side in messages.
fn far_side(view: &impl View, c: &Connection) -> (Vec<Prefix>, String) {
    let p = &c.properties;
    if let Some(lgw) = &p.local_network_gateway2
        && let Some(l) = view.resource(&lgw.id).and_then(Resource::as_local_network_gateway)
    {
        return (
            l.properties.local_network_address_space.address_prefixes.clone(),
            format!("local network gateway {}", lgw.id),
        );
    }
    if let Some(gw2) = &p.virtual_network_gateway2
        && let Some(vnet) = view.gateway(&gw2.id).and_then(|g| g.vnet_id())
        && let Some(v) = view.vnet(&vnet)
    {
        return (v.properties.address_space.address_prefixes.clone(), format!("virtual network {vnet}"));
    }
    (Vec::new(), String::new())
}

/// Address spaces joined through one gateway must not overlap (§4): the connection's far side
/// against the gateway's own VNet and against the far sides of the gateway's other connections.
pub(crate) fn check_connection_overlaps(view: &impl View, id: &ResourceId) -> Result<(), AzureError> {
    let Some(c) = view.resource(id).and_then(Resource::as_connection) else {
        return Ok(());
    };
    let (far, _) = far_side(view, c);
    let gw1 = &c.properties.virtual_network_gateway1.id;
    if let Some(vnet_id) = view.gateway(gw1).and_then(|g| g.vnet_id())
        && let Some(vnet) = view.vnet(&vnet_id)
        && let Some((a, b)) =
            vnetlab_model::prefix::overlapping_pairs(&far, &vnet.properties.address_space.address_prefixes).next()
    {
        return Err(errors::connection_overlapping_address_spaces(id, &a, &b, &format!("virtual network {vnet_id}")));
    }
    for other in view.referrers(gw1, Kind::Connection) {
        let Some(o) = other.resource.as_connection() else {
            continue;
        };
        if &o.id == id || &o.properties.virtual_network_gateway1.id != gw1 {
            continue;
        }
        let (other_far, name) = far_side(view, o);
        // A second connection to the same far side (redundant tunnels) is not an overlap.
        if far_side(view, c).1 == name {
            continue;
        }
        if let Some((a, b)) = vnetlab_model::prefix::overlapping_pairs(&far, &other_far).next() {
            return Err(errors::connection_overlapping_address_spaces(
                id,
                &a,
                &b,
                &format!("{name} (connection {})", o.id),
            ));
        }
    }
    Ok(())
}

pub(crate) fn connection_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &ConnectionSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_connection);
    let invalid = |reason: String| errors::invalid_connection(id, &reason);

    let gw1 = require_reference(view, &spec.virtual_network_gateway1, Kind::VirtualNetworkGateway, id, spec.location)?
        .as_virtual_network_gateway()
        .ok_or_else(|| errors::invalid_resource_reference(&spec.virtual_network_gateway1, id))?;
    if let Some(e) = existing
        && e.properties.connection_type != spec.connection_type
    {
        return Err(invalid("the connection type cannot change; delete the connection and create a new one.".into()));
    }
    let mut shared_key = spec.shared_key.clone();
    match spec.connection_type {
        ConnectionType::IPsec => {
            if gw1.properties.gateway_type != GatewayType::Vpn {
                return Err(invalid(format!(
                    "IPsec connections need a VPN gateway; {} is {}.",
                    gw1.id, gw1.properties.gateway_type
                )));
            }
            let Some(lgw) = &spec.local_network_gateway2 else {
                return Err(invalid("IPsec connections need localNetworkGateway2 (the on-premises site).".into()));
            };
            if view.resource(lgw).and_then(Resource::as_local_network_gateway).is_none() {
                return Err(errors::invalid_resource_reference(lgw, id));
            }
            if spec.virtual_network_gateway2.is_some() {
                return Err(invalid("IPsec connections take localNetworkGateway2, not virtualNetworkGateway2.".into()));
            }
        }
        ConnectionType::Vnet2Vnet => {
            let Some(gw2_id) = &spec.virtual_network_gateway2 else {
                return Err(invalid("Vnet2Vnet connections need virtualNetworkGateway2.".into()));
            };
            if gw2_id == &gw1.id {
                return Err(invalid("a gateway cannot be connected to itself.".into()));
            }
            let gw2 = view.gateway(gw2_id).ok_or_else(|| errors::invalid_resource_reference(gw2_id, id))?;
            for g in [gw1, gw2] {
                if g.properties.gateway_type != GatewayType::Vpn {
                    return Err(invalid(format!(
                        "VNet-to-VNet connections need VPN gateways; {} is {}.",
                        g.id, g.properties.gateway_type
                    )));
                }
                if g.properties.vpn_type != Some(VpnType::RouteBased) {
                    return Err(invalid(format!(
                        "VNet-to-VNet connections need RouteBased gateways; {} is PolicyBased.",
                        g.id
                    )));
                }
            }
            if gw1.vnet_id() == gw2.vnet_id() {
                return Err(invalid("both gateways are in the same virtual network.".into()));
            }
            // §4: across regions, subscriptions and tenants, but not across clouds.
            if gw1.location.cloud() != gw2.location.cloud() {
                return Err(invalid(format!(
                    "VNet-to-VNet connections do not cross clouds: {} is in {} ({}) and {} in {} ({}).",
                    gw1.id,
                    gw1.location,
                    gw1.location.cloud().name(),
                    gw2.id,
                    gw2.location,
                    gw2.location.cloud().name()
                )));
            }
        }
        ConnectionType::ExpressRoute => {
            if gw1.properties.gateway_type != GatewayType::ExpressRoute {
                return Err(invalid(format!(
                    "ExpressRoute connections need an ExpressRoute gateway; {} is {}.",
                    gw1.id, gw1.properties.gateway_type
                )));
            }
            if spec.peer.is_none() {
                return Err(invalid("ExpressRoute connections need peer (the ExpressRoute circuit).".into()));
            }
            // TODO-fidelity: ExpressRoute circuits are not modelled; the peer id is kept as given.
            shared_key = None;
        }
        ConnectionType::VPNClient => {
            return Err(invalid("point-to-site (VPNClient) connections are not modelled by vnetlab.".into()));
        }
    }
    if matches!(spec.connection_type, ConnectionType::IPsec | ConnectionType::Vnet2Vnet) && shared_key.is_none() {
        // Azure generates a key when none is given.
        shared_key =
            existing.and_then(|e| e.properties.shared_key.clone()).or_else(|| Some(tx.ctx.guid().simple().to_string()));
    }
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let connection = Connection {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: ConnectionProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            connection_type: spec.connection_type,
            virtual_network_gateway1: SubResource::new(spec.virtual_network_gateway1.clone()),
            virtual_network_gateway2: spec.virtual_network_gateway2.clone().map(SubResource::new),
            local_network_gateway2: spec.local_network_gateway2.clone().map(SubResource::new),
            peer: spec.peer.clone().map(SubResource::new),
            shared_key,
            connection_protocol: spec.connection_protocol.unwrap_or(ConnectionProtocol::IKEv2),
            connection_mode: spec.connection_mode.unwrap_or(ConnectionMode::Default),
            routing_weight: spec.routing_weight,
            enable_bgp: spec.enable_bgp,
            use_policy_based_traffic_selectors: spec.use_policy_based_traffic_selectors,
            connection_status: existing.map(|e| e.properties.connection_status).unwrap_or(ConnectionStatus::Unknown),
            ingress_bytes_transferred: 0,
            egress_bytes_transferred: 0,
        },
    };
    let created = existing.is_none();
    let gateways: Vec<ResourceId> =
        std::iter::once(spec.virtual_network_gateway1.clone()).chain(spec.virtual_network_gateway2.clone()).collect();
    tx.put(Resource::Connection(connection));
    check_connection_overlaps(&tx.draft, id)?;
    refresh_connections(tx, &gateways);
    tx.lock(id, "PutVirtualNetworkGatewayConnectionOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}

pub(crate) fn connection_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::Connection)? {
        return Ok(Effect::Absent);
    }
    let gateways: Vec<ResourceId> = view
        .resource(id)
        .and_then(Resource::as_connection)
        .map(|c| {
            std::iter::once(c.properties.virtual_network_gateway1.id.clone())
                .chain(c.properties.virtual_network_gateway2.as_ref().map(|g| g.id.clone()))
                .collect()
        })
        .unwrap_or_default();
    tx.delete(id);
    refresh_connections(tx, &gateways);
    Ok(Effect::Deleted)
}

/// The other half of a VNet-to-VNet connection: a connection from `gw2` back to `gw1`.
fn reverse_connection<'v>(view: &'v impl View, c: &Connection) -> Option<&'v Connection> {
    let gw1 = &c.properties.virtual_network_gateway1.id;
    let gw2 = &c.properties.virtual_network_gateway2.as_ref()?.id;
    view.referrers(gw2, Kind::Connection).into_iter().filter_map(|s| s.resource.as_connection()).find(|o| {
        o.properties.connection_type == ConnectionType::Vnet2Vnet
            && &o.properties.virtual_network_gateway1.id == gw2
            && o.properties.virtual_network_gateway2.as_ref().is_some_and(|g| &g.id == gw1)
    })
}

/// Recomputes `connectionStatus` of the connections on `gateways`.
///
/// [gap] Azure reports what its tunnels do. vnetlab's engine answers from configuration:
/// site-to-site connections are Connected once their gateway is provisioned (the on-premises side is
/// vnetlab's own); VNet-to-VNet connections are Connected when the connection back exists with the
/// same shared key; Connecting while a gateway is still provisioning.
pub(crate) fn refresh_connections(tx: &mut Tx<'_, '_, '_>, gateways: &[ResourceId]) {
    let mut ids: Vec<ResourceId> = Vec::new();
    for gw in gateways {
        for s in tx.draft.referrers(gw, Kind::Connection) {
            if !ids.contains(s.id()) {
                ids.push(s.id().clone());
            }
        }
    }
    for id in ids {
        let view = &tx.draft;
        let Some(c) = view.resource(&id).and_then(Resource::as_connection) else {
            continue;
        };
        let p = &c.properties;
        let provisioned = |gw: &ResourceId| view.gateway(gw).map(|g| g.properties.provisioning_state);
        let gw1 = provisioned(&p.virtual_network_gateway1.id);
        let status = match p.connection_type {
            _ if gw1.is_none() => ConnectionStatus::NotConnected,
            _ if gw1 != Some(ProvisioningState::Succeeded) => ConnectionStatus::Connecting,
            ConnectionType::Vnet2Vnet => match reverse_connection(view, c) {
                Some(r) if r.properties.shared_key == p.shared_key => {
                    let gw2 = p.virtual_network_gateway2.as_ref().and_then(|g| provisioned(&g.id));
                    if gw2 == Some(ProvisioningState::Succeeded) {
                        ConnectionStatus::Connected
                    } else {
                        ConnectionStatus::Connecting
                    }
                }
                _ => ConnectionStatus::NotConnected,
            },
            ConnectionType::IPsec | ConnectionType::ExpressRoute => ConnectionStatus::Connected,
            ConnectionType::VPNClient => ConnectionStatus::Unknown,
        };
        if status != p.connection_status {
            let mut updated = c.clone();
            updated.properties.connection_status = status;
            tx.put(Resource::Connection(updated));
        }
    }
}
