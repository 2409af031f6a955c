//! The rules engine: Azure's networking rules as a pure function. A state and an operation go in;
//! the changes, or the error Azure would return (code, HTTP status, message), come out. No I/O, no
//! clock, no randomness: time and ids come in through [`Context`].
//!
//! Source of truth: shared/reference/peering-rules.md (§1 rules, §4 gateways) and
//! shared/reference/arm-network-api.md (shapes). Choices where the reference has a gap are marked
//! `[gap]` where they are made.

pub mod authorization;
pub mod context;
pub mod errors;
pub mod input;
pub mod invariants;
pub mod ipam;
pub mod operation;

mod common;
mod connection;
mod directory;
mod network_interface;
mod network_security_group;
mod network_watcher;
mod peering;
mod public_ip_address;
mod route_table;
mod subnet;
mod tenancy;
mod tx;
mod virtual_machine;
mod virtual_network;
mod virtual_network_gateway;

pub use context::{Context, IdSource, Provisioning, SequentialIds, Settings};
pub use directory::{held_assignment, role_assignment_id, role_guid};
pub use ipam::is_reserved;
pub use operation::*;
pub use peering::{HUB_AND_SPOKE_ORIGIN_PREFIX, peered_space};
pub use tenancy::{delete_operation, teardown_order};
pub use virtual_machine::vm_of_nic;
pub use virtual_network_gateway::AZURE_GATEWAY_ASN;

use vnetlab_model::{AzureError, Change, ResourceId, State};

use crate::tx::Tx;

/// What an operation did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// HTTP 201.
    Created,
    /// HTTP 200 (also when nothing needed to change).
    Updated,
    /// HTTP 200/202.
    Deleted,
    /// A delete of something that was not there: HTTP 204.
    Absent,
}

/// The result of a successful operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub effect: Effect,
    pub target: Option<ResourceId>,
    /// Everything that changed, the target and its side effects (the other link of a pair, a VNet's
    /// etag), in order. Empty when the operation changed nothing.
    pub changes: Vec<Change>,
    /// The long-running operation it started, when provisioning is deferred: what it locked stays
    /// `Updating` until [`Operation::CompleteOperation`] with this id.
    pub operation_id: Option<uuid::Uuid>,
}

/// Runs one operation against `state`. On error nothing is to be written.
pub fn apply(state: &State, op: &Operation, ctx: &mut Context<'_>) -> Result<Outcome, AzureError> {
    let mut tx = Tx::new(state, ctx);
    let effect = dispatch(&mut tx, op)?;
    if effect == Effect::Deleted
        && let Some(target) = op.target()
        && !target.kind().is_some_and(|k| k.is_directory())
    {
        directory::forget_assignments_under(&mut tx, &target);
    }
    let (changes, operation_id) = tx.into_changes();
    Ok(Outcome { effect, target: op.target(), changes, operation_id })
}

pub(crate) fn dispatch(tx: &mut Tx<'_, '_, '_>, op: &Operation) -> Result<Effect, AzureError> {
    use Operation::*;
    match op {
        TenantPut { tenant_id, display_name, default_domain } => {
            tenancy::tenant_put(tx, tenant_id, display_name, default_domain.as_deref())
        }
        TenantDelete { tenant_id } => tenancy::tenant_delete(tx, tenant_id),
        SubscriptionPut { subscription_id, display_name, tenant_id } => {
            tenancy::subscription_put(tx, subscription_id, display_name, tenant_id)
        }
        SubscriptionDelete { subscription_id } => tenancy::subscription_delete(tx, subscription_id),
        PrincipalPut { spec } => directory::principal_put(tx, spec),
        PrincipalDelete { id } => directory::principal_delete(tx, id),
        RoleAssignmentPut { id, spec } => directory::role_assignment_put(tx, id, spec),
        RoleAssignmentDelete { id } => directory::role_assignment_delete(tx, id),
        ResourceGroupPut { id, location, tags } => tenancy::resource_group_put(tx, id, *location, tags),
        ResourceGroupDelete { id } => tenancy::resource_group_delete(tx, id),
        VirtualNetworkPut { id, spec } => virtual_network::vnet_put(tx, id, spec),
        VirtualNetworkDelete { id } => virtual_network::vnet_delete(tx, id),
        SubnetPut { id, spec } => subnet::subnet_put(tx, id, spec),
        SubnetDelete { id } => subnet::subnet_delete(tx, id),
        PeeringPut { id, spec, sync_remote_address_space } => {
            peering::peering_put(tx, id, spec, *sync_remote_address_space)
        }
        PeeringDelete { id } => peering::peering_delete(tx, id),
        NetworkSecurityGroupPut { id, spec } => network_security_group::nsg_put(tx, id, spec),
        NetworkSecurityGroupDelete { id } => network_security_group::nsg_delete(tx, id),
        SecurityRulePut { id, spec } => network_security_group::security_rule_put(tx, id, spec),
        SecurityRuleDelete { id } => tx.delete_leaf(id),
        RouteTablePut { id, spec } => route_table::route_table_put(tx, id, spec),
        RouteTableDelete { id } => route_table::route_table_delete(tx, id),
        RoutePut { id, spec } => route_table::route_put(tx, id, spec),
        RouteDelete { id } => tx.delete_leaf(id),
        PublicIpAddressPut { id, spec } => public_ip_address::public_ip_put(tx, id, spec),
        PublicIpAddressDelete { id } => public_ip_address::public_ip_delete(tx, id),
        NetworkInterfacePut { id, spec } => network_interface::nic_put(tx, id, spec),
        NetworkInterfaceDelete { id } => network_interface::nic_delete(tx, id),
        VirtualMachinePut { id, spec } => virtual_machine::vm_put(tx, id, spec),
        VirtualMachineDelete { id } => virtual_machine::vm_delete(tx, id),
        VirtualNetworkGatewayPut { id, spec } => virtual_network_gateway::gateway_put(tx, id, spec),
        VirtualNetworkGatewayDelete { id } => virtual_network_gateway::gateway_delete(tx, id),
        LocalNetworkGatewayPut { id, spec } => virtual_network_gateway::local_gateway_put(tx, id, spec),
        LocalNetworkGatewayDelete { id } => virtual_network_gateway::local_gateway_delete(tx, id),
        ConnectionPut { id, spec } => connection::connection_put(tx, id, spec),
        ConnectionDelete { id } => connection::connection_delete(tx, id),
        NetworkWatcherPut { id, spec } => network_watcher::network_watcher_put(tx, id, spec),
        NetworkWatcherDelete { id } => network_watcher::network_watcher_delete(tx, id),
        CompleteOperation { operation_id } => tenancy::complete_operation(tx, *operation_id),
    }
}
