//! Resource groups, virtual networks, subnets, public IP addresses and network watchers.

use vnetlab_engine::input::{parse_location, parse_prefix};
use vnetlab_engine::{NetworkWatcherSpec, Operation, PublicIpAddressSpec, SubnetSpec, VirtualNetworkSpec};
use vnetlab_model::{
    AllocationMethod, AzureError, EncryptionEnforcement, IpVersion, Kind, Prefix, PublicIpSkuName, PublicIpSkuTier,
    ResourceId, VirtualNetworkEncryption,
};

use super::{Query, inline_children};
use crate::body::At;
use crate::errors;

pub fn resource_group(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    if !errors::valid_group_name(id.name()) {
        return Err(errors::invalid_resource_group(id.name()));
    }
    let location = match root.string("location")? {
        Some(l) if !l.trim().is_empty() => parse_location(l.trim(), Kind::ResourceGroup)?,
        _ => return Err(errors::location_required()),
    };
    Ok(Operation::ResourceGroupPut { id, location, tags: root.tags()? })
}

fn prefixes(list: Vec<String>, owner: &ResourceId) -> Result<Vec<Prefix>, AzureError> {
    list.iter().map(|p| parse_prefix(p, owner)).collect()
}

/// Whether a VNet PUT without `subnets` leaves the subnets alone: since api-version 2023-11-01
/// Azure does (Azure networking blog, "Azure Virtual Network now supports updates without subnet
/// property", 2024); before, the missing list meant no subnets.
fn keeps_unlisted_subnets(api_version: Option<&str>) -> bool {
    api_version.is_none_or(|v| v >= "2023-11-01")
}

pub fn virtual_network(id: ResourceId, root: &At<'_>, query: Query<'_>) -> Result<Operation, AzureError> {
    let location = root.location(Kind::VirtualNetwork)?;
    let p = root.properties()?;
    let address_prefixes = match p.object("addressSpace")? {
        Some(space) => prefixes(space.strings("addressPrefixes")?.unwrap_or_default(), &id)?,
        None => Vec::new(),
    };
    let mut spec = VirtualNetworkSpec::new(location, address_prefixes);
    spec.tags = root.tags()?;
    if let Some(dhcp) = p.object("dhcpOptions")? {
        spec.dns_servers = dhcp.addresses("dnsServers")?;
    }
    spec.enable_ddos_protection = p.bool("enableDdosProtection")?.unwrap_or(false);
    spec.enable_vm_protection = p.bool("enableVmProtection")?.unwrap_or(false);
    spec.flow_timeout_in_minutes = p.u32("flowTimeoutInMinutes")?;
    if let Some(e) = p.object("encryption")? {
        spec.encryption = Some(VirtualNetworkEncryption {
            enabled: e.bool("enabled")?.unwrap_or(false),
            enforcement: e.enumeration(
                "enforcement",
                EncryptionEnforcement::parse,
                "VirtualNetworkEncryptionEnforcement",
            )?,
        });
    }
    if let Some(c) = p.object("bgpCommunities")? {
        spec.bgp_community = c.string("virtualNetworkCommunity")?;
    }
    spec.subnets = match p.array("subnets")? {
        Some(items) => Some(inline_children(&id, Kind::Subnet, items, subnet)?),
        None if keeps_unlisted_subnets(query.api_version) => None,
        None => Some(Vec::new()),
    };
    // `virtualNetworkPeerings` in a VNet body are ignored [gap]: links are managed through their
    // own path, and clients that GET and PUT a VNet send them back read-only.
    Ok(Operation::VirtualNetworkPut { id, spec })
}

/// A subnet's body: at `id` on its own path, or inline in its VNet.
pub fn subnet(id: &ResourceId, root: &At<'_>) -> Result<SubnetSpec, AzureError> {
    let p = root.properties()?;
    let address_prefix = match p.string("addressPrefix")? {
        Some(s) => Some(parse_prefix(&s, id)?),
        None => None,
    };
    let address_prefixes = match p.strings("addressPrefixes")? {
        Some(list) => Some(prefixes(list, id)?),
        None => None,
    };
    Ok(SubnetSpec {
        address_prefix,
        address_prefixes,
        network_security_group: p.reference("networkSecurityGroup")?,
        route_table: p.reference("routeTable")?,
        private_endpoint_network_policies: p.string("privateEndpointNetworkPolicies")?,
        private_link_service_network_policies: p.string("privateLinkServiceNetworkPolicies")?,
        default_outbound_access: p.bool("defaultOutboundAccess")?,
    })
}

pub fn public_ip_address(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let mut spec = PublicIpAddressSpec::new(root.location(Kind::PublicIpAddress)?);
    spec.tags = root.tags()?;
    if let Some(sku) = root.object("sku")? {
        spec.sku = sku.enumeration("name", PublicIpSkuName::parse, "PublicIPAddressSkuName")?;
        spec.tier = sku.enumeration("tier", PublicIpSkuTier::parse, "PublicIPAddressSkuTier")?;
    }
    spec.zones = root.strings("zones")?.unwrap_or_default();
    let p = root.properties()?;
    spec.allocation_method =
        p.enumeration("publicIPAllocationMethod", AllocationMethod::parse, "IpAllocationMethod")?;
    spec.version = p.enumeration("publicIPAddressVersion", IpVersion::parse, "IPVersion")?.unwrap_or(IpVersion::IPv4);
    spec.idle_timeout_in_minutes = p.u32("idleTimeoutInMinutes")?;
    Ok(Operation::PublicIpAddressPut { id, spec })
}

pub fn network_watcher(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    Ok(Operation::NetworkWatcherPut {
        spec: NetworkWatcherSpec { location: root.location(Kind::NetworkWatcher)?, tags: root.tags()? },
        id,
    })
}
