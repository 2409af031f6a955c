//! Virtual machines, as far as networking goes: a location and NICs in it, each NIC on one VM.

use vnetlab_model::{
    AzureError, HardwareProfile, Kind, NetworkInterfaceReference, NetworkInterfaceReferenceProperties, NetworkProfile,
    ProvisioningState, Resource, ResourceId, View, ViewExt, VirtualMachine, VirtualMachineProperties,
};

use crate::Effect;
use crate::common::{check_delete, check_put, require_reference};
use crate::errors;
use crate::operation::VirtualMachineSpec;
use crate::tx::Tx;

/// Secrets in an OS profile are accepted and never stored, as ARM never returns them.
fn without_secrets(mut profile: serde_json::Value) -> serde_json::Value {
    if let Some(o) = profile.as_object_mut() {
        o.remove("adminPassword");
        o.remove("customData");
    }
    profile
}

pub(crate) fn vm_put(
    tx: &mut Tx<'_, '_, '_>,
    id: &ResourceId,
    spec: &VirtualMachineSpec,
) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    check_put(view, tx.ctx, id, spec.location)?;
    let existing = view.resource(id).and_then(Resource::as_virtual_machine);
    if spec.network_interfaces.is_empty() {
        return Err(errors::invalid_virtual_machine(
            id,
            "networkProfile must reference at least one network interface.",
        ));
    }
    let primaries = spec.network_interfaces.iter().filter(|(_, p)| *p == Some(true)).count();
    if primaries > 1 || (primaries == 0 && spec.network_interfaces.len() > 1) {
        return Err(errors::invalid_virtual_machine(
            id,
            "a virtual machine with several network interfaces must mark exactly one of them primary.",
        ));
    }
    let mut nics = Vec::new();
    for (i, (nic, primary)) in spec.network_interfaces.iter().enumerate() {
        if spec.network_interfaces[..i].iter().any(|(n, _)| n == nic) {
            return Err(errors::invalid_virtual_machine(id, &format!("network interface {nic} is listed twice.")));
        }
        require_reference(view, nic, Kind::NetworkInterface, id, spec.location)?;
        if let Some(other) = view.referrers(nic, Kind::VirtualMachine).into_iter().find(|vm| vm.id() != id) {
            return Err(errors::nic_attached_to_another_vm(nic, other.id()));
        }
        nics.push(NetworkInterfaceReference {
            id: nic.clone(),
            properties: NetworkInterfaceReferenceProperties {
                primary: primary.unwrap_or(spec.network_interfaces.len() == 1),
                delete_option: None,
            },
        });
    }
    let vm_id = match existing {
        Some(e) => e.properties.vm_id,
        None => tx.ctx.guid(),
    };
    let vm = VirtualMachine {
        id: id.clone(),
        name: id.name().to_owned(),
        location: spec.location,
        tags: spec.tags.clone(),
        properties: VirtualMachineProperties {
            provisioning_state: ProvisioningState::Succeeded,
            vm_id,
            hardware_profile: HardwareProfile { vm_size: spec.vm_size.clone() },
            storage_profile: spec.storage_profile.clone(),
            os_profile: without_secrets(spec.os_profile.clone()),
            network_profile: NetworkProfile { network_interfaces: nics },
        },
    };
    let created = existing.is_none();
    Ok(tx.finish_put(Resource::VirtualMachine(vm), created, "PutVirtualMachineOperation"))
}

pub(crate) fn vm_delete(tx: &mut Tx<'_, '_, '_>, id: &ResourceId) -> Result<Effect, AzureError> {
    let view = &tx.draft;
    if !check_delete(view, tx.ctx, id, Kind::VirtualMachine)? {
        return Ok(Effect::Absent);
    }
    tx.delete(id);
    Ok(Effect::Deleted)
}

/// The VM a NIC is attached to.
pub fn vm_of_nic<'v>(view: &'v impl View, nic: &ResourceId) -> Option<&'v VirtualMachine> {
    view.referrers(nic, Kind::VirtualMachine).into_iter().find_map(|s| s.resource.as_virtual_machine())
}
