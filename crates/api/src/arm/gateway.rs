//! Virtual network gateways, local network gateways (on-premises sites) and their connections.

use vnetlab_engine::input::parse_prefix;
use vnetlab_engine::{
    ConnectionSpec, GatewayIpConfigurationSpec, LocalNetworkGatewaySpec, Operation, VirtualNetworkGatewaySpec,
};
use vnetlab_model::{
    AzureError, ConnectionMode, ConnectionProtocol, ConnectionType, GatewaySkuName, GatewayType, Kind, ResourceId,
    VpnType,
};

use super::child_name;
use crate::body::At;
use crate::errors;

fn asn(at: &At<'_>) -> Result<Option<u32>, AzureError> {
    Ok(match at.object("bgpSettings")? {
        Some(bgp) => bgp.u32("asn")?,
        None => None,
    })
}

pub fn virtual_network_gateway(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    let sku = match p.object("sku")? {
        Some(sku) => sku.enumeration("name", GatewaySkuName::parse, "VirtualNetworkGatewaySkuName")?,
        None => None,
    }
    .ok_or_else(|| errors::required_property(p.path(), "sku"))?;
    let mut ip_configurations = Vec::new();
    for item in p.array("ipConfigurations")?.unwrap_or_default() {
        let name = child_name(&item)?;
        let c = item.properties()?;
        ip_configurations.push(GatewayIpConfigurationSpec {
            name,
            subnet: c.reference("subnet")?.ok_or_else(|| errors::required_property(c.path(), "subnet"))?,
            public_ip_address: c.reference("publicIPAddress")?,
        });
    }
    Ok(Operation::VirtualNetworkGatewayPut {
        spec: VirtualNetworkGatewaySpec {
            location: root.location(Kind::VirtualNetworkGateway)?,
            tags: root.tags()?,
            gateway_type: p
                .enumeration("gatewayType", GatewayType::parse, "VirtualNetworkGatewayType")?
                .unwrap_or(GatewayType::Vpn),
            vpn_type: p.enumeration("vpnType", VpnType::parse, "VpnType")?,
            sku,
            vpn_gateway_generation: p.string("vpnGatewayGeneration")?,
            active_active: p.bool("activeActive")?.unwrap_or(false),
            enable_bgp: p.bool("enableBgp")?.unwrap_or(false),
            asn: asn(&p)?,
            enable_private_ip_address: p.bool("enablePrivateIpAddress")?.unwrap_or(false),
            ip_configurations,
        },
        id,
    })
}

pub fn local_network_gateway(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    let address_prefixes = match p.object("localNetworkAddressSpace")? {
        Some(space) => space
            .strings("addressPrefixes")?
            .unwrap_or_default()
            .iter()
            .map(|s| parse_prefix(s, &id))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let bgp_peering_address = match p.object("bgpSettings")? {
        Some(bgp) => bgp.string("bgpPeeringAddress")?,
        None => None,
    };
    Ok(Operation::LocalNetworkGatewayPut {
        spec: LocalNetworkGatewaySpec {
            location: root.location(Kind::LocalNetworkGateway)?,
            tags: root.tags()?,
            address_prefixes,
            gateway_ip_address: p.address("gatewayIpAddress")?,
            fqdn: p.string("fqdn")?.filter(|f| !f.is_empty()),
            bgp_asn: asn(&p)?,
            bgp_peering_address,
        },
        id,
    })
}

pub fn connection(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    Ok(Operation::ConnectionPut {
        spec: ConnectionSpec {
            location: root.location(Kind::Connection)?,
            tags: root.tags()?,
            connection_type: p
                .enumeration("connectionType", ConnectionType::parse, "VirtualNetworkGatewayConnectionType")?
                .ok_or_else(|| errors::required_property(p.path(), "connectionType"))?,
            virtual_network_gateway1: p
                .reference("virtualNetworkGateway1")?
                .ok_or_else(|| errors::required_property(p.path(), "virtualNetworkGateway1"))?,
            virtual_network_gateway2: p.reference("virtualNetworkGateway2")?,
            local_network_gateway2: p.reference("localNetworkGateway2")?,
            peer: p.reference("peer")?,
            shared_key: p.string("sharedKey")?,
            connection_protocol: p.enumeration(
                "connectionProtocol",
                ConnectionProtocol::parse,
                "VirtualNetworkGatewayConnectionProtocol",
            )?,
            connection_mode: p.enumeration(
                "connectionMode",
                ConnectionMode::parse,
                "VirtualNetworkGatewayConnectionMode",
            )?,
            routing_weight: p.u32("routingWeight")?.unwrap_or(0),
            enable_bgp: p.bool("enableBgp")?.unwrap_or(false),
            use_policy_based_traffic_selectors: p.bool("usePolicyBasedTrafficSelectors")?.unwrap_or(false),
        },
        id,
    })
}
