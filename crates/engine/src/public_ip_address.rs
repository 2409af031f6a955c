//! Public IP addresses, handed out from a pool that never leaves this machine.

use vnetlab_model::arm::public_ip_user;
use vnetlab_model::{
    AllocationMethod, AzureError, IpVersion, Kind, ProvisioningState, PublicIpAddress, PublicIpAddressProperties,
    PublicIpSku, PublicIpSkuName, PublicIpSkuTier, Resource, ResourceId, ViewExt,
};

use crate::Effect;
use crate::common::{check_delete, check_put};
use crate::errors;
use crate::ipam::{first_free_in_pool, public_addresses_in_use};
use crate::operation::PublicIpAddressSpec;
use crate::tx::Tx;

pub(crate) fn public_ip_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &PublicIpAddressSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_public_ip_address);
    let sku = spec.sku.or(existing.map(|e| e.sku.name)).unwrap_or(PublicIpSkuName::Standard);
    let tier = spec.tier.or(existing.map(|e| e.sku.tier)).unwrap_or(PublicIpSkuTier::Regional);
    let allocation = spec.allocation_method.unwrap_or(match sku {
        PublicIpSkuName::Basic => AllocationMethod::Dynamic,
        _ => AllocationMethod::Static,
    });
    if sku != PublicIpSkuName::Basic && allocation == AllocationMethod::Dynamic {
        return Err(errors::standard_sku_public_ip_must_be_static(id));
    }
    if sku == PublicIpSkuName::Basic && !spec.zones.is_empty() {
        return Err(errors::zones_not_allowed_in_basic_sku(id));
    }
    // TODO-fidelity: Azure assigns a Dynamic Basic address only once it is associated; vnetlab
    // assigns every address at creation.
    let ip_address = match existing.and_then(|e| e.properties.ip_address) {
        Some(ip) if IpVersion::of(ip) == spec.version => ip,
        _ => {
            let pool = match spec.version {
                IpVersion::IPv4 => &tx.ctx.settings.public_ip_pool_v4,
                IpVersion::IPv6 => &tx.ctx.settings.public_ip_pool_v6,
            };
            first_free_in_pool(pool, &public_addresses_in_use(view))
                .ok_or_else(|| errors::public_ip_pool_exhausted(id, pool))?
        }
    };
    let resource_guid = existing.map(|e| e.properties.resource_guid).unwrap_or_else(|| tx.ctx.guid());
    let pip = PublicIpAddress {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        sku: PublicIpSku { name: sku, tier },
        zones: spec.zones.clone(),
        properties: PublicIpAddressProperties {
            provisioning_state: ProvisioningState::Succeeded,
            resource_guid,
            public_ip_allocation_method: allocation,
            public_ip_address_version: spec.version,
            ip_address: Some(ip_address),
            idle_timeout_in_minutes: spec.idle_timeout_in_minutes.unwrap_or(4),
        },
    };
    let created = existing.is_none();
    Ok(tx.finish_put(Resource::PublicIpAddress(pip), created, "PutPublicIpAddressOperation"))
}

pub(crate) fn public_ip_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::PublicIpAddress)? {
        return Ok(Effect::Absent);
    }
    if let Some(user) = public_ip_user(view, id) {
        return Err(errors::public_ip_address_cannot_be_deleted(id, &user));
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}
