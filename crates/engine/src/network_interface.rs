//! Network interfaces: private addresses inside subnets (static or dynamic, never one Azure
//! reserves), public IPs, NSGs, IP forwarding.

use std::collections::HashSet;
use std::net::IpAddr;

use vnetlab_model::arm::public_ip_user;
use vnetlab_model::{
    AllocationMethod, AzureError, IpVersion, Kind, NetworkInterface, NetworkInterfaceProperties, NicDnsSettings,
    NicIpConfiguration, NicIpConfigurationProperties, Prefix, ProvisioningState, Resource, ResourceId, SubResource,
    View, ViewExt,
};

use crate::Effect;
use crate::common::{check_delete, check_name, check_put, require_reference};
use crate::errors;
use crate::ipam::{first_free, is_reserved, used_addresses};
use crate::operation::NetworkInterfaceSpec;
use crate::tx::Tx;

/// Azure's MAC addresses start with its OUI 00-0D-3A.
fn mac_from(guid: uuid::Uuid) -> String {
    let b = guid.as_bytes();
    format!("00-0D-3A-{:02X}-{:02X}-{:02X}", b[13], b[14], b[15])
}

pub(crate) fn nic_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &NetworkInterfaceSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_network_interface);

    if spec.ip_configurations.is_empty() {
        return Err(errors::invalid_network_interface(id, "it needs at least one IP configuration."));
    }
    let primaries = spec.ip_configurations.iter().filter(|c| c.primary == Some(true)).count();
    if primaries > 1 {
        return Err(errors::invalid_network_interface(id, "only one IP configuration can be primary."));
    }
    let first_vnet = spec.ip_configurations[0].subnet.parent();
    let mut taken: HashSet<IpAddr> = HashSet::new();
    let mut configs = Vec::new();
    for (i, c) in spec.ip_configurations.iter().enumerate() {
        check_name(&c.name)?;
        if spec.ip_configurations[..i].iter().any(|o| vnetlab_model::same_name(&o.name, &c.name)) {
            return Err(errors::invalid_network_interface(
                id,
                &format!("IP configuration name '{}' is used twice.", c.name),
            ));
        }
        let config_id = id.nested("ipConfigurations", &c.name).map_err(|_| errors::invalid_resource_name(&c.name))?;
        if c.subnet.parent() != first_vnet {
            return Err(errors::invalid_network_interface(
                id,
                "all IP configurations of a network interface must use subnets of the same virtual network.",
            ));
        }
        let subnet = require_reference(view, &c.subnet, Kind::Subnet, id, spec.location)?
            .as_subnet()
            .ok_or_else(|| errors::invalid_resource_reference(&c.subnet, id))?;
        if subnet.is_gateway_subnet() {
            return Err(errors::gateway_subnet_only_for_gateways());
        }
        let primary = c.primary.unwrap_or(primaries == 0 && i == 0);
        let version = c.version.or(c.private_ip_address.map(IpVersion::of)).unwrap_or(IpVersion::IPv4);
        if primary && version == IpVersion::IPv6 {
            return Err(errors::invalid_network_interface(id, "the primary IP configuration must be IPv4."));
        }
        let family: Vec<Prefix> = subnet.prefixes().into_iter().filter(|p| version.matches(p)).collect();
        let Some(first_prefix) = family.first().copied() else {
            return Err(errors::invalid_network_interface(
                id,
                &format!("subnet {} has no {version} address range for IP configuration '{}'.", subnet.name, c.name),
            ));
        };
        // Addresses held by other resources; this NIC's own configurations are being replaced.
        let used: std::collections::BTreeMap<IpAddr, ResourceId> =
            used_addresses(view, &c.subnet).into_iter().filter(|(_, holder)| !holder.is_under(id)).collect();
        let allocation = c.allocation_method.unwrap_or(if c.private_ip_address.is_some() {
            AllocationMethod::Static
        } else {
            AllocationMethod::Dynamic
        });
        let address = match allocation {
            AllocationMethod::Static => {
                let Some(ip) = c.private_ip_address else {
                    return Err(errors::invalid_network_interface(
                        id,
                        &format!("IP configuration '{}' is Static but gives no privateIPAddress.", c.name),
                    ));
                };
                let Some(prefix) = family.iter().find(|p| p.contains_addr(ip)) else {
                    return Err(errors::private_ip_address_not_in_subnet(&ip.to_string(), &first_prefix.to_string()));
                };
                if is_reserved(prefix, ip) {
                    return Err(errors::private_ip_address_in_reserved_range(&ip.to_string(), prefix));
                }
                if let Some(other) = used.get(&ip) {
                    return Err(errors::private_ip_address_is_allocated(&config_id, &ip.to_string(), other));
                }
                if taken.contains(&ip) {
                    return Err(errors::invalid_network_interface(
                        id,
                        &format!("{ip} is given to two IP configurations."),
                    ));
                }
                ip
            }
            AllocationMethod::Dynamic => {
                // A dynamic address stays with its configuration while it remains valid.
                let kept = existing
                    .and_then(|e| {
                        e.properties.ip_configurations.iter().find(|o| vnetlab_model::same_name(&o.name, &c.name))
                    })
                    .filter(|o| o.properties.subnet.id == c.subnet)
                    .map(|o| o.properties.private_ip_address)
                    .filter(|ip| {
                        family.iter().any(|p| p.contains_addr(*ip) && !is_reserved(p, *ip))
                            && !used.contains_key(ip)
                            && !taken.contains(ip)
                    });
                match kept {
                    Some(ip) => ip,
                    None => first_free(subnet, version, &used, &taken)
                        .ok_or_else(|| errors::subnet_is_full(&subnet.name, &first_prefix))?,
                }
            }
        };
        taken.insert(address);
        if let Some(pip) = &c.public_ip_address {
            require_reference(view, pip, Kind::PublicIpAddress, id, spec.location)?;
            if let Some(user) = public_ip_user(view, pip)
                && !user.is_under(id)
            {
                return Err(errors::public_ip_address_in_use(&config_id, pip, &user));
            }
        }
        configs.push(NicIpConfiguration {
            id: config_id,
            name: c.name.clone(),
            properties: NicIpConfigurationProperties {
                provisioning_state: ProvisioningState::Succeeded,
                private_ip_address: address,
                private_ip_allocation_method: allocation,
                private_ip_address_version: version,
                subnet: SubResource::new(c.subnet.clone()),
                primary,
                public_ip_address: c.public_ip_address.clone().map(SubResource::new),
            },
        });
    }
    if let Some(nsg) = &spec.network_security_group {
        require_reference(view, nsg, Kind::NetworkSecurityGroup, id, spec.location)?;
    }
    let (resource_guid, mac_address) = match existing {
        Some(e) => (e.properties.resource_guid, e.properties.mac_address.clone()),
        None => {
            let guid = tx.ctx.guid();
            (guid, mac_from(tx.ctx.guid()))
        }
    };
    let nic = NetworkInterface {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: NetworkInterfaceProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            ip_configurations: configs,
            network_security_group: spec.network_security_group.clone().map(SubResource::new),
            enable_ip_forwarding: spec.enable_ip_forwarding,
            enable_accelerated_networking: spec.enable_accelerated_networking,
            mac_address,
            dns_settings: NicDnsSettings { dns_servers: spec.dns_servers.clone(), applied_dns_servers: Vec::new() },
        },
    };
    let created = existing.is_none();
    Ok(tx.finish_put(Resource::NetworkInterface(nic), created, "PutNetworkInterfaceOperation"))
}

pub(crate) fn nic_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::NetworkInterface)? {
        return Ok(Effect::Absent);
    }
    if let Some(vm) = view.referrers(id, Kind::VirtualMachine).first() {
        return Err(errors::nic_in_use(id, vm.id()));
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}
