//! Network security groups and security rules.

use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    AzureError, Kind, NetworkSecurityGroup, NetworkSecurityGroupProperties, ProvisioningState, Resource, ResourceId,
    SecurityRule, SecurityRuleDirection, SecurityRuleProperties, View, ViewExt,
};

use crate::Effect;
use crate::common::{check_delete, check_name, check_put, children_not_in, ensure_idle, require_parent};
use crate::errors;
use crate::operation::{NetworkSecurityGroupSpec, SecurityRuleSpec};
use crate::tx::Tx;

/// (name, priority, direction) of the rules a rule must not collide with.
type RuleKey = (String, u32, SecurityRuleDirection);

fn one_of<T: Clone>(
    single: &Option<T>,
    many: &[T],
    parameter: &str,
    rule: &ResourceId,
) -> Result<(Option<T>, Vec<T>), AzureError> {
    match (single, many.is_empty()) {
        (Some(s), true) => Ok((Some(s.clone()), Vec::new())),
        (None, false) => Ok((None, many.to_vec())),
        _ => Err(errors::security_rule_parameter_missing(parameter, rule)),
    }
}

fn check_address_list(list: &[AddressMatch], parameter: &str, rule: &ResourceId) -> Result<(), AzureError> {
    for a in list {
        if matches!(a, AddressMatch::Any | AddressMatch::ServiceTag(_)) {
            return Err(errors::security_rule_parameter_unsupported_value(parameter, rule, &a.to_string()));
        }
    }
    Ok(())
}

fn family(a: &AddressMatch) -> Option<bool> {
    match a {
        AddressMatch::Prefix(p) => Some(p.is_ipv4()),
        AddressMatch::Address(ip) => Some(ip.is_ipv4()),
        AddressMatch::Any | AddressMatch::ServiceTag(_) => None,
    }
}

/// Checks a rule against Azure's limits and its siblings, and builds it.
pub(crate) fn build_security_rule(
    id: &ResourceId,
    spec: &SecurityRuleSpec,
    siblings: &[RuleKey],
) -> Result<SecurityRule, AzureError> {
    let name = id.name();
    check_name(name)?;
    if !(100..=4096).contains(&spec.priority) {
        return Err(errors::security_rule_invalid_priority(i64::from(spec.priority)));
    }
    if let Some((other, _, _)) = siblings
        .iter()
        .find(|(n, p, d)| !vnetlab_model::same_name(n, name) && *p == spec.priority && *d == spec.direction)
    {
        return Err(errors::security_rule_conflict(other, name));
    }
    let (source_port_range, source_port_ranges) =
        one_of::<PortRange>(&spec.source_port_range, &spec.source_port_ranges, "sourcePortRange", id)?;
    let (destination_port_range, destination_port_ranges) =
        one_of::<PortRange>(&spec.destination_port_range, &spec.destination_port_ranges, "destinationPortRange", id)?;
    let (source_address_prefix, source_address_prefixes) =
        one_of(&spec.source_address_prefix, &spec.source_address_prefixes, "sourceAddressPrefix", id)?;
    let (destination_address_prefix, destination_address_prefixes) =
        one_of(&spec.destination_address_prefix, &spec.destination_address_prefixes, "destinationAddressPrefix", id)?;
    check_address_list(&source_address_prefixes, "SourceAddressPrefixes", id)?;
    check_address_list(&destination_address_prefixes, "DestinationAddressPrefixes", id)?;
    let families: Vec<bool> = source_address_prefix
        .iter()
        .chain(&source_address_prefixes)
        .chain(destination_address_prefix.iter())
        .chain(&destination_address_prefixes)
        .filter_map(family)
        .collect();
    if families.windows(2).any(|w| w[0] != w[1]) {
        return Err(errors::mixed_address_families(name));
    }
    Ok(SecurityRule {
        id: id.clone(),
        name: name.to_owned(),
        properties: SecurityRuleProperties {
            provisioning_state: ProvisioningState::Succeeded,
            description: spec.description.clone(),
            protocol: spec.protocol,
            source_port_range,
            source_port_ranges,
            destination_port_range,
            destination_port_ranges,
            source_address_prefix,
            source_address_prefixes,
            destination_address_prefix,
            destination_address_prefixes,
            source_application_security_groups: Vec::new(),
            destination_application_security_groups: Vec::new(),
            access: spec.access,
            priority: spec.priority,
            direction: spec.direction,
        },
    })
}

fn rule_keys(view: &impl View, nsg: &ResourceId) -> Vec<RuleKey> {
    view.children_of(nsg, Kind::SecurityRule)
        .into_iter()
        .filter_map(|s| s.resource.as_security_rule())
        .map(|r| (r.name.clone(), r.properties.priority, r.properties.direction))
        .collect()
}

pub(crate) fn nsg_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &NetworkSecurityGroupSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_network_security_group);
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let mut rules = Vec::new();
    let mut removed = Vec::new();
    if let Some(list) = &spec.security_rules {
        let keys: Vec<RuleKey> = list.iter().map(|(n, r)| (n.clone(), r.priority, r.direction)).collect();
        for (i, (name, rule)) in list.iter().enumerate() {
            if list[..i].iter().any(|(n, _)| vnetlab_model::same_name(n, name)) {
                return Err(errors::security_rule_conflict(name, name));
            }
            let rule_id = id.child(Kind::SecurityRule, name).map_err(|_| errors::invalid_resource_name(name))?;
            rules.push(Resource::SecurityRule(build_security_rule(&rule_id, rule, &keys)?));
        }
        let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        removed = children_not_in(view, id, Kind::SecurityRule, &names);
    }
    let nsg = NetworkSecurityGroup {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: NetworkSecurityGroupProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            flush_connection: spec.flush_connection,
        },
    };
    let created = existing.is_none();
    Ok(tx.finish_put_with_children(
        Resource::NetworkSecurityGroup(nsg),
        rules,
        &removed,
        created,
        "PutNetworkSecurityGroupOperation",
    ))
}

pub(crate) fn nsg_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::NetworkSecurityGroup)? {
        return Ok(Effect::Absent);
    }
    let users: Vec<ResourceId> = view
        .referrers(id, Kind::Subnet)
        .into_iter()
        .chain(view.referrers(id, Kind::NetworkInterface))
        .map(|s| s.id().clone())
        .collect();
    if !users.is_empty() {
        return Err(errors::in_use_network_security_group_cannot_be_deleted(id, &users));
    }
    tx.delete_with_children(id, Kind::SecurityRule);
    Ok(Effect::Deleted)
}

pub(crate) fn security_rule_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &SecurityRuleSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    require_parent(view, id)?;
    let nsg = id.parent().ok_or_else(|| errors::resource_not_found(id))?;
    ensure_idle(view, tx.ctx, &nsg)?;
    let rule = build_security_rule(id, spec, &rule_keys(view, &nsg))?;
    let created = view.get(id).is_none();
    tx.put(Resource::SecurityRule(rule));
    tx.lock(id, "PutSecurityRuleOperation");
    tx.lock(&nsg, "PutSecurityRuleOperation");
    Ok(if created { Effect::Created } else { Effect::Updated })
}
