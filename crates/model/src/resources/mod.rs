//! Azure's resources in their ARM JSON shape: camelCase properties inside a `properties` envelope,
//! with ARM's `type` string as the tag.

pub mod connection;
pub mod directory;
pub mod network_interface;
pub mod network_security_group;
pub mod network_watcher;
pub mod peering;
pub mod public_ip_address;
pub mod route_table;
pub mod subnet;
pub mod tenancy;
pub mod virtual_machine;
pub mod virtual_network;
pub mod virtual_network_gateway;

use serde::{Deserialize, Serialize};

use crate::common::ProvisioningState;
use crate::id::ResourceId;
use crate::kind::Kind;
use crate::location::Location;

pub use connection::*;
pub use directory::*;
pub use network_interface::*;
pub use network_security_group::*;
pub use network_watcher::*;
pub use peering::*;
pub use public_ip_address::*;
pub use route_table::*;
pub use subnet::*;
pub use tenancy::*;
pub use virtual_machine::*;
pub use virtual_network::*;
pub use virtual_network_gateway::*;

/// Any resource vnetlab stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Resource {
    #[serde(rename = "Microsoft.Resources/tenants")]
    Tenant(Tenant),
    #[serde(rename = "Microsoft.Resources/subscriptions")]
    Subscription(Subscription),
    #[serde(rename = "Microsoft.Directory/principals")]
    Principal(Principal),
    #[serde(rename = "Microsoft.Authorization/roleAssignments")]
    RoleAssignment(RoleAssignment),
    #[serde(rename = "Microsoft.Resources/resourceGroups")]
    ResourceGroup(ResourceGroup),
    #[serde(rename = "Microsoft.Network/networkSecurityGroups")]
    NetworkSecurityGroup(NetworkSecurityGroup),
    #[serde(rename = "Microsoft.Network/networkSecurityGroups/securityRules")]
    SecurityRule(SecurityRule),
    #[serde(rename = "Microsoft.Network/routeTables")]
    RouteTable(RouteTable),
    #[serde(rename = "Microsoft.Network/routeTables/routes")]
    Route(Route),
    #[serde(rename = "Microsoft.Network/publicIPAddresses")]
    PublicIpAddress(PublicIpAddress),
    #[serde(rename = "Microsoft.Network/localNetworkGateways")]
    LocalNetworkGateway(LocalNetworkGateway),
    #[serde(rename = "Microsoft.Network/networkWatchers")]
    NetworkWatcher(NetworkWatcher),
    #[serde(rename = "Microsoft.Network/virtualNetworks")]
    VirtualNetwork(VirtualNetwork),
    #[serde(rename = "Microsoft.Network/virtualNetworks/subnets")]
    Subnet(Subnet),
    #[serde(rename = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings")]
    VirtualNetworkPeering(VirtualNetworkPeering),
    #[serde(rename = "Microsoft.Network/virtualNetworkGateways")]
    VirtualNetworkGateway(VirtualNetworkGateway),
    #[serde(rename = "Microsoft.Network/connections")]
    Connection(Connection),
    #[serde(rename = "Microsoft.Network/networkInterfaces")]
    NetworkInterface(NetworkInterface),
    #[serde(rename = "Microsoft.Compute/virtualMachines")]
    VirtualMachine(VirtualMachine),
}

/// Runs `$body` with `$r` bound to the inner resource, whatever its kind.
macro_rules! each {
    ($resource:expr, $r:ident => $body:expr) => {
        match $resource {
            Resource::Tenant($r) => $body,
            Resource::Subscription($r) => $body,
            Resource::Principal($r) => $body,
            Resource::RoleAssignment($r) => $body,
            Resource::ResourceGroup($r) => $body,
            Resource::NetworkSecurityGroup($r) => $body,
            Resource::SecurityRule($r) => $body,
            Resource::RouteTable($r) => $body,
            Resource::Route($r) => $body,
            Resource::PublicIpAddress($r) => $body,
            Resource::LocalNetworkGateway($r) => $body,
            Resource::NetworkWatcher($r) => $body,
            Resource::VirtualNetwork($r) => $body,
            Resource::Subnet($r) => $body,
            Resource::VirtualNetworkPeering($r) => $body,
            Resource::VirtualNetworkGateway($r) => $body,
            Resource::Connection($r) => $body,
            Resource::NetworkInterface($r) => $body,
            Resource::VirtualMachine($r) => $body,
        }
    };
}

impl Resource {
    pub fn id(&self) -> &ResourceId {
        each!(self, r => &r.id)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Resource::Tenant(_) => Kind::Tenant,
            Resource::Subscription(_) => Kind::Subscription,
            Resource::Principal(_) => Kind::Principal,
            Resource::RoleAssignment(_) => Kind::RoleAssignment,
            Resource::ResourceGroup(_) => Kind::ResourceGroup,
            Resource::NetworkSecurityGroup(_) => Kind::NetworkSecurityGroup,
            Resource::SecurityRule(_) => Kind::SecurityRule,
            Resource::RouteTable(_) => Kind::RouteTable,
            Resource::Route(_) => Kind::Route,
            Resource::PublicIpAddress(_) => Kind::PublicIpAddress,
            Resource::LocalNetworkGateway(_) => Kind::LocalNetworkGateway,
            Resource::NetworkWatcher(_) => Kind::NetworkWatcher,
            Resource::VirtualNetwork(_) => Kind::VirtualNetwork,
            Resource::Subnet(_) => Kind::Subnet,
            Resource::VirtualNetworkPeering(_) => Kind::VirtualNetworkPeering,
            Resource::VirtualNetworkGateway(_) => Kind::VirtualNetworkGateway,
            Resource::Connection(_) => Kind::Connection,
            Resource::NetworkInterface(_) => Kind::NetworkInterface,
            Resource::VirtualMachine(_) => Kind::VirtualMachine,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Tenant(t) => &t.display_name,
            Resource::Subscription(s) => &s.display_name,
            Resource::Principal(p) => &p.display_name,
            other => other.id().name(),
        }
    }

    pub fn location(&self) -> Option<Location> {
        match self {
            Resource::Tenant(_)
            | Resource::Subscription(_)
            | Resource::Principal(_)
            | Resource::RoleAssignment(_)
            | Resource::SecurityRule(_)
            | Resource::Route(_)
            | Resource::Subnet(_)
            | Resource::VirtualNetworkPeering(_) => None,
            Resource::ResourceGroup(r) => Some(r.location),
            Resource::NetworkSecurityGroup(r) => Some(r.location),
            Resource::RouteTable(r) => Some(r.location),
            Resource::PublicIpAddress(r) => Some(r.location),
            Resource::LocalNetworkGateway(r) => Some(r.location),
            Resource::NetworkWatcher(r) => Some(r.location),
            Resource::VirtualNetwork(r) => Some(r.location),
            Resource::VirtualNetworkGateway(r) => Some(r.location),
            Resource::Connection(r) => Some(r.location),
            Resource::NetworkInterface(r) => Some(r.location),
            Resource::VirtualMachine(r) => Some(r.location),
        }
    }

    pub fn provisioning_state(&self) -> ProvisioningState {
        match self {
            Resource::Tenant(_) | Resource::Subscription(_) | Resource::Principal(_) | Resource::RoleAssignment(_) => {
                ProvisioningState::Succeeded
            }
            Resource::ResourceGroup(r) => r.properties.provisioning_state,
            Resource::NetworkSecurityGroup(r) => r.properties.provisioning_state,
            Resource::SecurityRule(r) => r.properties.provisioning_state,
            Resource::RouteTable(r) => r.properties.provisioning_state,
            Resource::Route(r) => r.properties.provisioning_state,
            Resource::PublicIpAddress(r) => r.properties.provisioning_state,
            Resource::LocalNetworkGateway(r) => r.properties.provisioning_state,
            Resource::NetworkWatcher(r) => r.properties.provisioning_state,
            Resource::VirtualNetwork(r) => r.properties.provisioning_state,
            Resource::Subnet(r) => r.properties.provisioning_state,
            Resource::VirtualNetworkPeering(r) => r.properties.provisioning_state,
            Resource::VirtualNetworkGateway(r) => r.properties.provisioning_state,
            Resource::Connection(r) => r.properties.provisioning_state,
            Resource::NetworkInterface(r) => r.properties.provisioning_state,
            Resource::VirtualMachine(r) => r.properties.provisioning_state,
        }
    }

    pub fn set_provisioning_state(&mut self, state: ProvisioningState) {
        match self {
            Resource::Tenant(_) | Resource::Subscription(_) | Resource::Principal(_) | Resource::RoleAssignment(_) => {}
            Resource::ResourceGroup(r) => r.properties.provisioning_state = state,
            Resource::NetworkSecurityGroup(r) => r.properties.provisioning_state = state,
            Resource::SecurityRule(r) => r.properties.provisioning_state = state,
            Resource::RouteTable(r) => r.properties.provisioning_state = state,
            Resource::Route(r) => r.properties.provisioning_state = state,
            Resource::PublicIpAddress(r) => r.properties.provisioning_state = state,
            Resource::LocalNetworkGateway(r) => r.properties.provisioning_state = state,
            Resource::NetworkWatcher(r) => r.properties.provisioning_state = state,
            Resource::VirtualNetwork(r) => r.properties.provisioning_state = state,
            Resource::Subnet(r) => r.properties.provisioning_state = state,
            Resource::VirtualNetworkPeering(r) => r.properties.provisioning_state = state,
            Resource::VirtualNetworkGateway(r) => r.properties.provisioning_state = state,
            Resource::Connection(r) => r.properties.provisioning_state = state,
            Resource::NetworkInterface(r) => r.properties.provisioning_state = state,
            Resource::VirtualMachine(r) => r.properties.provisioning_state = state,
        }
    }

    /// Every other resource this one points at. The state keeps the reverse index, so "which NICs
    /// use this subnet" and "which links point at this VNet" are lookups.
    pub fn references(&self) -> Vec<&ResourceId> {
        let mut out = Vec::new();
        match self {
            Resource::Tenant(_)
            | Resource::Subscription(_)
            | Resource::Principal(_)
            | Resource::RoleAssignment(_)
            | Resource::ResourceGroup(_)
            | Resource::NetworkSecurityGroup(_)
            | Resource::SecurityRule(_)
            | Resource::RouteTable(_)
            | Resource::Route(_)
            | Resource::PublicIpAddress(_)
            | Resource::LocalNetworkGateway(_)
            | Resource::NetworkWatcher(_)
            | Resource::VirtualNetwork(_) => {}
            Resource::Subnet(s) => {
                out.extend(s.properties.network_security_group.iter().map(|r| &r.id));
                out.extend(s.properties.route_table.iter().map(|r| &r.id));
            }
            Resource::VirtualNetworkPeering(p) => out.push(&p.properties.remote_virtual_network.id),
            Resource::VirtualNetworkGateway(g) => {
                for c in &g.properties.ip_configurations {
                    out.push(&c.properties.subnet.id);
                    out.extend(c.properties.public_ip_address.iter().map(|r| &r.id));
                }
            }
            Resource::Connection(c) => {
                let p = &c.properties;
                out.push(&p.virtual_network_gateway1.id);
                out.extend(p.virtual_network_gateway2.iter().map(|r| &r.id));
                out.extend(p.local_network_gateway2.iter().map(|r| &r.id));
            }
            Resource::NetworkInterface(n) => {
                out.extend(n.properties.network_security_group.iter().map(|r| &r.id));
                for c in &n.properties.ip_configurations {
                    out.push(&c.properties.subnet.id);
                    out.extend(c.properties.public_ip_address.iter().map(|r| &r.id));
                }
            }
            Resource::VirtualMachine(vm) => out.extend(vm.nic_ids()),
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Typed access to the resource inside a [`Resource`].
macro_rules! accessors {
    ($($variant:ident => $as_ref:ident),+ $(,)?) => {
        impl Resource {
            $(
                pub fn $as_ref(&self) -> Option<&$variant> {
                    match self {
                        Resource::$variant(r) => Some(r),
                        _ => None,
                    }
                }
            )+
        }
    };
}

accessors!(
    Tenant => as_tenant,
    Subscription => as_subscription,
    Principal => as_principal,
    RoleAssignment => as_role_assignment,
    ResourceGroup => as_resource_group,
    NetworkSecurityGroup => as_network_security_group,
    SecurityRule => as_security_rule,
    RouteTable => as_route_table,
    Route => as_route,
    PublicIpAddress => as_public_ip_address,
        LocalNetworkGateway => as_local_network_gateway,
    NetworkWatcher => as_network_watcher,
    VirtualNetwork => as_virtual_network,
    Subnet => as_subnet,
    VirtualNetworkPeering => as_peering,
    VirtualNetworkGateway => as_virtual_network_gateway,
    Connection => as_connection,
    NetworkInterface => as_network_interface,
    VirtualMachine => as_virtual_machine,
);

/// What vnetlab keeps about a resource besides its ARM body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Which declaration made the resource, e.g. `connectivity:hub-and-spoke` for peerings created
    /// by a hub-and-spoke connectivity configuration (they count against a higher limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The operation still running on the resource, while its provisioning state is not terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingOperation>,
}

/// An operation in progress on a resource (`Updating` until it completes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// Azure's internal name for it, e.g. `PutSubnetOperation`.
    pub name: String,
    pub operation_id: uuid::Uuid,
}

/// A resource as stored: its ARM body, its etag, the revision that last wrote it and vnetlab's
/// own bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub resource: Resource,
    /// ARM's weak etag, `W/"<guid>"`; it changes on every write.
    pub etag: String,
    pub revision: u64,
    pub meta: Meta,
}

impl Stored {
    pub fn id(&self) -> &ResourceId {
        self.resource.id()
    }

    pub fn kind(&self) -> Kind {
        self.resource.kind()
    }
}
