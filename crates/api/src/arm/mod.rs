//! ARM request bodies into engine operations, one file per resource. Read-only properties a client
//! sends back (`provisioningState`, `peeringState`, `etag`, back-references) are ignored, as Azure
//! ignores them; what a PUT sets is what the resource becomes.

mod compute;
mod gateway;
mod network;
mod peering;
mod security;

use serde_json::Value;
use vnetlab_engine::Operation;
use vnetlab_model::{AzureError, Kind, ResourceId};

use crate::body::At;

/// What the request asks besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    pub api_version: Option<&'a str>,
    /// `?syncRemoteAddressSpace=true` on a peering PUT.
    pub sync_remote_address_space: bool,
}

/// The operation a PUT of `body` at `id` asks for.
pub fn put_operation(kind: Kind, id: &ResourceId, body: &Value, query: Query<'_>) -> Result<Operation, AzureError> {
    let root = At::root(body);
    let id = id.clone();
    Ok(match kind {
        Kind::Tenant | Kind::Subscription | Kind::Principal | Kind::RoleAssignment => {
            return Err(crate::errors::method_not_allowed("PUT"));
        }
        Kind::ResourceGroup => network::resource_group(id, &root)?,
        Kind::VirtualNetwork => network::virtual_network(id, &root, query)?,
        Kind::Subnet => Operation::SubnetPut { spec: network::subnet(&id, &root)?, id },
        Kind::VirtualNetworkPeering => peering::peering(id, &root, query)?,
        Kind::NetworkSecurityGroup => security::network_security_group(id, &root)?,
        Kind::SecurityRule => Operation::SecurityRulePut { spec: security::security_rule(&id, &root)?, id },
        Kind::RouteTable => security::route_table(id, &root)?,
        Kind::Route => Operation::RoutePut { spec: security::route(&id, &root)?, id },
        Kind::PublicIpAddress => network::public_ip_address(id, &root)?,
        Kind::NetworkInterface => compute::network_interface(id, &root)?,
        Kind::VirtualMachine => compute::virtual_machine(id, &root)?,
        Kind::VirtualNetworkGateway => gateway::virtual_network_gateway(id, &root)?,
        Kind::LocalNetworkGateway => gateway::local_network_gateway(id, &root)?,
        Kind::Connection => gateway::connection(id, &root)?,
        Kind::NetworkWatcher => network::network_watcher(id, &root)?,
    })
}

/// The operation a DELETE at `id` asks for.
pub fn delete_operation(kind: Kind, id: &ResourceId) -> Option<Operation> {
    let id = id.clone();
    match kind {
        Kind::Subnet => Some(Operation::SubnetDelete { id }),
        Kind::VirtualNetworkPeering => Some(Operation::PeeringDelete { id }),
        Kind::SecurityRule => Some(Operation::SecurityRuleDelete { id }),
        Kind::Route => Some(Operation::RouteDelete { id }),
        other => vnetlab_engine::delete_operation(&id, other),
    }
}

/// The children of `kind` a parent's PUT carries inline (`subnets`, `securityRules`, `routes`),
/// each with its name and parsed by `parse` at its own id.
fn inline_children<T>(
    parent: &ResourceId,
    kind: Kind,
    items: Vec<At<'_>>,
    parse: impl Fn(&ResourceId, &At<'_>) -> Result<T, AzureError>,
) -> Result<Vec<(String, T)>, AzureError> {
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let name = child_name(item)?;
        let id = parent.child(kind, &name).map_err(|_| vnetlab_engine::errors::invalid_resource_name(&name))?;
        out.push((name, parse(&id, item)?));
    }
    Ok(out)
}

/// The name of an inline child (a subnet in a VNet body, a rule in an NSG body).
fn child_name(item: &At<'_>) -> Result<String, AzureError> {
    match item.string("name")? {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(crate::errors::required_property(item.path(), "name")),
    }
}
