//! Network interfaces and virtual machines (Microsoft.Compute, as much as networking needs: the
//! size, the NICs, and the storage and OS profiles stored as given).

use serde_json::Value;
use vnetlab_engine::{NetworkInterfaceSpec, NicIpConfigurationSpec, Operation, VirtualMachineSpec};
use vnetlab_model::{AllocationMethod, AzureError, IpVersion, Kind, ResourceId};

use super::child_name;
use crate::body::At;
use crate::errors;

pub fn network_interface(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    let mut ip_configurations = Vec::new();
    for item in p.array("ipConfigurations")?.unwrap_or_default() {
        let name = child_name(&item)?;
        let c = item.properties()?;
        let subnet = c.reference("subnet")?.ok_or_else(|| errors::required_property(c.path(), "subnet"))?;
        let mut config = NicIpConfigurationSpec::new(name, subnet);
        config.private_ip_address = c.address("privateIPAddress")?;
        config.allocation_method =
            c.enumeration("privateIPAllocationMethod", AllocationMethod::parse, "IpAllocationMethod")?;
        config.version = c.enumeration("privateIPAddressVersion", IpVersion::parse, "IPVersion")?;
        config.primary = c.bool("primary")?;
        config.public_ip_address = c.reference("publicIPAddress")?;
        ip_configurations.push(config);
    }
    let mut spec = NetworkInterfaceSpec::new(root.location(Kind::NetworkInterface)?, ip_configurations);
    spec.tags = root.tags()?;
    spec.network_security_group = p.reference("networkSecurityGroup")?;
    spec.enable_ip_forwarding = p.bool("enableIPForwarding")?.unwrap_or(false);
    spec.enable_accelerated_networking = p.bool("enableAcceleratedNetworking")?.unwrap_or(false);
    if let Some(dns) = p.object("dnsSettings")? {
        spec.dns_servers = dns.addresses("dnsServers")?;
    }
    Ok(Operation::NetworkInterfacePut { id, spec })
}

/// The VM size when a request gives none [gap: Azure requires one for a new VM].
const DEFAULT_VM_SIZE: &str = "Standard_B1s";

pub fn virtual_machine(id: ResourceId, root: &At<'_>) -> Result<Operation, AzureError> {
    let p = root.properties()?;
    let vm_size = match p.object("hardwareProfile")? {
        Some(h) => h.string("vmSize")?,
        None => None,
    };
    let mut network_interfaces = Vec::new();
    if let Some(network) = p.object("networkProfile")? {
        for (nic, item) in network.references("networkInterfaces")? {
            let primary = match item.object("properties")? {
                Some(props) => props.bool("primary")?,
                None => None,
            };
            network_interfaces.push((nic, primary));
        }
    }
    let profile = |name: &str| -> Result<Value, AzureError> {
        Ok(p.object(name)?.map(|at| at.value.clone()).unwrap_or(Value::Null))
    };
    let mut os_profile = profile("osProfile")?;
    // Secrets are not kept: Azure never returns them either.
    if let Some(map) = os_profile.as_object_mut() {
        map.retain(|k, _| !k.eq_ignore_ascii_case("adminPassword") && !k.eq_ignore_ascii_case("customData"));
    }
    Ok(Operation::VirtualMachinePut {
        spec: VirtualMachineSpec {
            location: root.location(Kind::VirtualMachine)?,
            tags: root.tags()?,
            vm_size: vm_size.unwrap_or_else(|| DEFAULT_VM_SIZE.to_owned()),
            network_interfaces,
            storage_profile: profile("storageProfile")?,
            os_profile,
        },
        id,
    })
}
