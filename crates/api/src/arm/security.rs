//! Network security groups and their rules, route tables and their routes. A PUT of the parent
//! carries the whole child set, as in ARM; a missing list means none [gap: Azure's behaviour for a
//! parent PUT without the list was not found; ARM's PUT replaces the whole resource].

use vnetlab_engine::input::{parse_address_match, parse_port_range, parse_prefix};
use vnetlab_engine::{NetworkSecurityGroupSpec, Operation, RouteSpec, RouteTableSpec, SecurityRuleSpec};
use vnetlab_model::resources::AddressMatch;
use vnetlab_model::{
    AzureError, Kind, ResourceId, RouteNextHopType, RoutePrefix, SecurityRuleAccess, SecurityRuleDirection,
    SecurityRuleProtocol,
};

use super::inline_children;
use crate::body::At;
use crate::errors;

pub fn network_security_group(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let location = root.location(Kind::NetworkSecurityGroup)?;
    let p = root.properties()?;
    let rules = inline_children(&id, Kind::SecurityRule, p.array("securityRules")?.unwrap_or_default(), security_rule)?;
    Ok(Operation::NetworkSecurityGroupPut {
        spec: NetworkSecurityGroupSpec {
            location,
            tags: root.tags()?,
            flush_connection: p.bool("flushConnection")?.unwrap_or(false),
            security_rules: Some(rules),
        },
        id,
    })
}

pub fn security_rule(id: &ResourceId, root: &At<'_>) -> Result<SecurityRuleSpec, AzureError> {
    let p = root.properties()?;
    let required = |name: &str| errors::required_property(p.path(), name);
    let protocol = p.enumeration("protocol", SecurityRuleProtocol::parse, "SecurityRuleProtocol")?;
    let access = p.enumeration("access", SecurityRuleAccess::parse, "SecurityRuleAccess")?;
    let direction = p.enumeration("direction", SecurityRuleDirection::parse, "SecurityRuleDirection")?;
    let priority = match p.get("priority")? {
        // Out-of-range priorities are the engine's to refuse, with Azure's message.
        Some(at) => match at.value.as_i64().or_else(|| at.value.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => n as u32,
            Some(n) => return Err(vnetlab_engine::errors::security_rule_invalid_priority(n)),
            None => {
                return Err(errors::invalid_request_format(format!(
                    "Error converting value {} to type 'Int32'. Path '{}'.",
                    at.value, at.path
                )));
            }
        },
        None => return Err(required("priority")),
    };
    let ports = |one: &str, many: &str| -> Result<_, AzureError> {
        let single = p.string(one)?.map(|s| parse_port_range(&s)).transpose()?;
        let list =
            p.strings(many)?.unwrap_or_default().iter().map(|s| parse_port_range(s)).collect::<Result<Vec<_>, _>>()?;
        Ok((single, list))
    };
    let addresses = |one: &str, many: &str| -> Result<(Option<AddressMatch>, Vec<AddressMatch>), AzureError> {
        let single = p.string(one)?.map(|s| parse_address_match(&s, id)).transpose()?;
        let list = p
            .strings(many)?
            .unwrap_or_default()
            .iter()
            .map(|s| parse_address_match(s, id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((single, list))
    };
    let (source_port_range, source_port_ranges) = ports("sourcePortRange", "sourcePortRanges")?;
    let (destination_port_range, destination_port_ranges) = ports("destinationPortRange", "destinationPortRanges")?;
    let (source_address_prefix, source_address_prefixes) = addresses("sourceAddressPrefix", "sourceAddressPrefixes")?;
    let (destination_address_prefix, destination_address_prefixes) =
        addresses("destinationAddressPrefix", "destinationAddressPrefixes")?;
    Ok(SecurityRuleSpec {
        description: p.string("description")?,
        protocol: protocol.ok_or_else(|| required("protocol"))?,
        source_port_range,
        source_port_ranges,
        destination_port_range,
        destination_port_ranges,
        source_address_prefix,
        source_address_prefixes,
        destination_address_prefix,
        destination_address_prefixes,
        access: access.ok_or_else(|| required("access"))?,
        priority,
        direction: direction.ok_or_else(|| required("direction"))?,
    })
}

pub fn route_table(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let location = root.location(Kind::RouteTable)?;
    let p = root.properties()?;
    let routes = inline_children(&id, Kind::Route, p.array("routes")?.unwrap_or_default(), route)?;
    Ok(Operation::RouteTablePut {
        spec: RouteTableSpec {
            location,
            tags: root.tags()?,
            disable_bgp_route_propagation: p.bool("disableBgpRoutePropagation")?.unwrap_or(false),
            routes: Some(routes),
        },
        id,
    })
}

pub fn route(id: &ResourceId, root: &At<'_>) -> Result<RouteSpec, AzureError> {
    let p = root.properties()?;
    let address_prefix = match p.string("addressPrefix")? {
        // A prefix is held to the rules of every other prefix; anything else must be a service tag.
        Some(s) if s.contains('/') => RoutePrefix::Prefix(parse_prefix(&s, id)?),
        Some(s) => s
            .parse::<RoutePrefix>()
            .map_err(|e| errors::invalid_request_format(format!("{e}. Path '{}.addressPrefix'.", p.path())))?,
        None => return Err(errors::required_property(p.path(), "addressPrefix")),
    };
    let next_hop_type = p
        .enumeration("nextHopType", RouteNextHopType::parse, "RouteNextHopType")?
        .ok_or_else(|| errors::required_property(p.path(), "nextHopType"))?;
    let next_hop_ip_addresses = match p.object("nextHop")? {
        Some(hop) => hop.addresses("nextHopIpAddresses")?,
        None => Vec::new(),
    };
    Ok(RouteSpec {
        address_prefix,
        next_hop_type,
        next_hop_ip_address: p.address("nextHopIpAddress")?,
        next_hop_ip_addresses,
    })
}
