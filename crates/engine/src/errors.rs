//! Every error the engine returns, with Azure's code, HTTP status and message.
//!
//! Sources: shared/reference/peering-rules.md (section numbers below) for peering rules; real
//! responses quoted in public issue trackers for the others. Where no public source gives Azure's
//! code or message, the choice is vnetlab's and is marked `[gap]`.

use vnetlab_model::{AzureError, Location, Prefix, ResourceId};

fn join<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(sep)
}

// ---- input: prefixes, names, locations, references -------------------------------------------

/// A prefix with host bits set, e.g. `10.0.0.1/24`.
pub fn invalid_cidr_notation(given: &str, resource: &ResourceId, canonical: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidCIDRNotation",
        format!(
            "The address prefix {given} in resource {resource} has an invalid CIDR notation. For the given prefix length, the address prefix should be {canonical}."
        ),
    )
}

/// A prefix that is not CIDR at all.
pub fn invalid_address_prefix_format(given: &str, resource: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "InvalidAddressPrefixFormat",
        format!(
            "Address prefix {given} of resource {resource} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."
        ),
    )
}

pub fn address_prefix_null_or_empty(resource: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "AddressPrefixStringCannotBeNullOrEmpty",
        format!("Address prefix string for resource {resource} cannot be null or empty."),
    )
}

pub fn invalid_resource_name(name: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidResourceName",
        format!(
            "Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'."
        ),
    )
}

/// [gap] ARM's exact wording for a bad resource group name was not found; the rules are ARM's
/// documented ones (1-90 characters: letters, digits, '_', '-', '.', '(', ')'; no trailing '.').
pub fn invalid_resource_group_name(name: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidResourceGroupName",
        format!(
            "Resource group name '{name}' is invalid. It can be up to 90 characters long, may contain letters, digits, '_', '-', '.', '(' and ')', and must not end with '.'."
        ),
    )
}

pub fn location_not_available_for_resource_type(location: &str, arm_type: &str) -> AzureError {
    let all: Vec<String> = Location::all_in(vnetlab_model::Cloud::AzureCloud).map(|l| l.to_string()).collect();
    AzureError::bad_request(
        "LocationNotAvailableForResourceType",
        format!(
            "The provided location '{location}' is not available for resource type '{arm_type}'. List of available regions for the resource type is '{}'.",
            all.join(",")
        ),
    )
}

pub fn location_not_available_for_resource_group(location: &str) -> AzureError {
    let all: Vec<String> = Location::all_in(vnetlab_model::Cloud::AzureCloud).map(|l| l.to_string()).collect();
    AzureError::bad_request(
        "LocationNotAvailableForResourceGroup",
        format!(
            "The provided location '{location}' is not available for resource group. List of available regions is '{}'.",
            all.join(",")
        ),
    )
}

/// A tracked resource cannot move to another region by PUT.
pub fn invalid_resource_location(
    name: &str,
    resource_group: &str,
    existing: Location,
    requested: Location,
) -> AzureError {
    AzureError::bad_request(
        "InvalidResourceLocation",
        format!(
            "The resource '{name}' already exists in location '{existing}' in resource group '{resource_group}'. A resource with the same name cannot be created in location '{requested}'. Please select a new resource name."
        ),
    )
}

pub fn invalid_resource_group_location(requested: Location, existing: Location) -> AzureError {
    AzureError::conflict(
        "InvalidResourceGroupLocation",
        format!(
            "Invalid resource group location '{requested}'. The Resource group already exists in location '{existing}'."
        ),
    )
}

/// An id in a request body that is not a fully qualified resource id.
pub fn linked_invalid_property_id(value: &str, path: &str) -> AzureError {
    AzureError::bad_request(
        "LinkedInvalidPropertyId",
        format!(
            "Property id '{value}' at path '{path}' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'."
        ),
    )
}

/// A referenced resource is missing, or in another region.
pub fn invalid_resource_reference(referenced: &ResourceId, referencing: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "InvalidResourceReference",
        format!(
            "Resource {referenced} referenced by resource {referencing} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    )
}

// ---- not found -------------------------------------------------------------------------------

pub fn subscription_not_found(subscription_id: &str) -> AzureError {
    AzureError::not_found("SubscriptionNotFound", format!("The subscription '{subscription_id}' could not be found."))
}

pub fn resource_group_not_found(name: &str) -> AzureError {
    AzureError::not_found("ResourceGroupNotFound", format!("Resource group '{name}' could not be found."))
}

/// ARM's 404 for a top-level resource (also used when a child's parent is missing; 1.6).
pub fn resource_not_found(id: &ResourceId) -> AzureError {
    let Some(type_path) = id.type_path() else {
        return resource_group_not_found(id.resource_group_name().unwrap_or(id.name()));
    };
    // ARM names a child resource by its type path and every name on the way down:
    // `Microsoft.Network/virtualNetworks/subnets/vnet1/default`.
    let names: Vec<&str> = id.as_str().split('/').skip(8).step_by(2).collect();
    let type_and_name = format!("{type_path}/{}", names.join("/"));
    AzureError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{type_and_name}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            id.resource_group_name().unwrap_or_default()
        ),
    )
}

/// NRP's 404 for a child resource (a subnet, a peering).
pub fn not_found(id: &ResourceId) -> AzureError {
    AzureError::not_found("NotFound", format!("Resource {id} not found."))
}

/// [gap] vnetlab's own wording for a tenant that is not configured.
pub fn tenant_not_found(tenant_id: &str) -> AzureError {
    AzureError::not_found("TenantNotFound", format!("The tenant '{tenant_id}' could not be found."))
}

/// [gap] ARM refuses to delete a subscription through the API at all; vnetlab allows deleting an
/// empty one so that a topology can be torn down.
pub fn subscription_not_empty(subscription_id: &str, groups: usize) -> AzureError {
    AzureError::conflict(
        "SubscriptionNotEmpty",
        format!(
            "Subscription '{subscription_id}' still holds {groups} resource group(s). Delete its resource groups first."
        ),
    )
}

/// [gap] as above, for tenants.
pub fn tenant_not_empty(tenant_id: &str, subscriptions: usize) -> AzureError {
    AzureError::conflict(
        "TenantNotEmpty",
        format!("Tenant '{tenant_id}' still holds {subscriptions} subscription(s). Delete its subscriptions first."),
    )
}

// ---- long-running operations (1.8, 1.9) ------------------------------------------------------

pub fn referenced_resource_not_provisioned(
    resource: &ResourceId,
    used_by: &ResourceId,
    state: &str,
    operation: &str,
) -> AzureError {
    AzureError::bad_request(
        "ReferencedResourceNotProvisioned",
        format!(
            "Cannot proceed with operation because resource {resource} used by resource {used_by} is not in Succeeded state. Resource is in {state} state and the last operation that updated/is updating the resource is {operation}."
        ),
    )
}

pub fn another_operation_in_progress(status_uri: &str) -> AzureError {
    AzureError::conflict(
        "AnotherOperationInProgress",
        format!(
            "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {status_uri}."
        ),
    )
}

// ---- virtual networks and subnets (1.13, 1.14) -----------------------------------------------

/// Source: azure-cli's recording `test_network_vnet_with_encryption` (a VNet PUT with
/// `encryption: {"enabled": true}` and no enforcement).
pub fn must_specify_both_encryption_intent_and_enforcement_policy(vnet: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "MustSpecifyBothEncryptionIntentAndEnforcementPolicy",
        format!(
            "Cannot encrypt VirtualNetwork {vnet} unless both encryption intent (Enabled true or false) and enforcement policy (AllowUnencrypted or DropUnencrypted) are specified."
        ),
    )
}

/// [gap] message seen in an ARM error (bicep#2576), code not; vnetlab uses `InvalidAddressSpace`.
pub fn vnet_address_space_empty(vnet: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "InvalidAddressSpace",
        format!(
            "AddressSpace of the virtual network {vnet} does not have any address prefixes in addressPrefixes array. AddressSpace and prefixes must be specified within properties object."
        ),
    )
}

/// [gap] no public source for a VNet whose own prefixes overlap each other.
pub fn vnet_prefixes_overlap(vnet: &ResourceId, a: &Prefix, b: &Prefix) -> AzureError {
    AzureError::bad_request(
        "VnetAddressPrefixesOverlap",
        format!(
            "Address prefixes {a} and {b} of virtual network {vnet} overlap. The prefixes of one address space must not overlap each other."
        ),
    )
}

pub fn subnet_range_outside_vnet(subnet: &str, vnet: &str) -> AzureError {
    AzureError::bad_request(
        "NetcfgSubnetRangeOutsideVnet",
        format!(
            "Subnet '{subnet}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet}'."
        ),
    )
}

pub fn subnet_ranges_overlap(subnet: &str, vnet: &str) -> AzureError {
    AzureError::bad_request(
        "NetcfgSubnetRangesOverlap",
        format!(
            "Subnet '{subnet}' is not valid because its IP address range overlaps with that of an existing subnet in virtual network '{vnet}'."
        ),
    )
}

/// The generic subnet error; Azure returns it for sizes it does not support (IPv4 smaller than /29,
/// IPv6 other than /64).
pub fn invalid_subnet(subnet: &str, vnet: &str) -> AzureError {
    AzureError::bad_request(
        "NetcfgInvalidSubnet",
        format!("Subnet '{subnet}' is not valid in virtual network '{vnet}'."),
    )
}

pub fn in_use_subnet_cannot_be_deleted(subnet: &str, used_by: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {subnet} is in use by {used_by} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    )
}

pub fn in_use_subnet_cannot_be_updated(subnet: &str) -> AzureError {
    AzureError::bad_request("InUseSubnetCannotBeUpdated", format!("Subnet {subnet} is in use and cannot be updated."))
}

pub fn subnet_is_full(subnet: &str, prefix: &Prefix) -> AzureError {
    AzureError::bad_request(
        "SubnetIsFull",
        format!("Subnet {subnet} with address prefix {prefix} does not have enough capacity for 1 IP addresses."),
    )
}

pub fn gateway_subnet_only_for_gateways() -> AzureError {
    AzureError::bad_request(
        "GatewaySubnet",
        "Subnet with name 'GatewaySubnet' can be used only for the Gateway resource.",
    )
}

pub fn nsg_cannot_be_attached_to_gateway_subnet(nsg_name: &str) -> AzureError {
    AzureError::bad_request(
        "NetworkSecurityGroupCannotBeAttachedToGatewaySubnet",
        format!(
            "The operation failed because the network security group {nsg_name} can not be associated to the GatewaySubnet. Please remove the network security group associated to the GatewaySubnet. No changes have occurred on the gateway at this time. See here for additional details: https://aka.ms/GatewaySubnet."
        ),
    )
}

pub fn minimum_api_version_for_address_space_update(api_version: &str) -> AzureError {
    AzureError::bad_request(
        "MinimumApiVersionNotSpecifiedForAddressSpaceUpdateInPeeredVnet",
        format!(
            "Address space update operation on virtual network can not be performed as the minimum required API version for working with Vnet Peering is 2021-01-01, and the provided client API version is {api_version}."
        ),
    )
}

// ---- peering (1.1 - 1.27) --------------------------------------------------------------------

/// 1.1. `prefixes`: the overlapping prefixes, local first then remote.
pub fn vnet_address_spaces_overlap(
    peering: &ResourceId,
    local: &ResourceId,
    remote: &ResourceId,
    prefixes: &[Prefix],
) -> AzureError {
    AzureError::bad_request(
        "VnetAddressSpacesOverlap",
        format!(
            "Cannot create or update peering {peering}. Virtual networks {local} and {remote} cannot be peered because their address spaces overlap. Overlapping address prefixes: {}",
            join(prefixes, ", ")
        ),
    )
}

/// 1.2.
pub fn vnet_address_space_overlaps_with_already_peered_vnet(
    peering: &ResourceId,
    local: &ResourceId,
    remote: &ResourceId,
    third: &ResourceId,
    prefixes: &[Prefix],
) -> AzureError {
    AzureError::bad_request(
        "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet",
        format!(
            "Cannot create or update peering {peering}. Virtual networks {local} and {remote} cannot be peered because address space of the first virtual network overlaps with address space of virtual network {third} already peered with the second virtual network. Overlapping address prefixes: {}. For more information please refer to https://aka.ms/VnetPeeringInfo",
            join(prefixes, ", ")
        ),
    )
}

/// 1.2 mirrored. [inf] the same code, worded for the remote side.
pub fn vnet_address_space_of_remote_overlaps_with_already_peered_vnet(
    peering: &ResourceId,
    local: &ResourceId,
    remote: &ResourceId,
    third: &ResourceId,
    prefixes: &[Prefix],
) -> AzureError {
    AzureError::bad_request(
        "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet",
        format!(
            "Cannot create or update peering {peering}. Virtual networks {local} and {remote} cannot be peered because address space of the second virtual network overlaps with address space of virtual network {third} already peered with the first virtual network. Overlapping address prefixes: {}. For more information please refer to https://aka.ms/VnetPeeringInfo",
            join(prefixes, ", ")
        ),
    )
}

/// 1.4.
pub fn another_peering_already_references_remote_vnet(
    existing: &ResourceId,
    remote: &ResourceId,
    new: &ResourceId,
) -> AzureError {
    AzureError::bad_request(
        "AnotherPeeringAlreadyReferencesRemoteVnet",
        format!(
            "Peering {existing} already references remote virtual network {remote}. Cannot add another peering {new} referencing the same remote virtual network."
        ),
    )
}

/// 1.5. [gap] the code is Azure's; the message is vnetlab's.
pub fn changing_remote_virtual_network_not_allowed(
    peering: &ResourceId,
    current: &ResourceId,
    requested: &ResourceId,
) -> AzureError {
    AzureError::bad_request(
        "ChangingRemoteVirtualNetworkNotAllowed",
        format!(
            "Cannot change the remote virtual network of peering {peering} from {current} to {requested}. Delete the peering and create it again to peer with another virtual network."
        ),
    )
}

/// 1.27.3. [gap] Azure requires delete and re-create; no public code or message.
pub fn changing_peering_type_not_allowed(peering: &ResourceId, property: &str) -> AzureError {
    AzureError::bad_request(
        "ChangingPeeringTypeNotAllowed",
        format!(
            "Cannot change {property} of peering {peering}: switching between virtual network peering and subnet peering (or IPv6-only peering) requires deleting the peering and creating it again."
        ),
    )
}

/// 1.6.
pub fn invalid_global_resource_reference(remote: &ResourceId, peering: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "InvalidGlobalResourceReference",
        format!(
            "Resource {remote} referenced by resource {peering} was not found. Please make sure that the referenced resource exists."
        ),
    )
}

/// 1.12.
pub fn remote_peering_is_disconnected(
    peering: &ResourceId,
    remote_peering: &ResourceId,
    vnet: &ResourceId,
) -> AzureError {
    AzureError::bad_request(
        "RemotePeeringIsDisconnected",
        format!(
            "Cannot create or update peering {peering} because remote peering {remote_peering} referencing parent virtual network {vnet} is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted and re-created."
        ),
    )
}

/// 1.16a.
pub fn remote_vnet_has_no_gateways(peering: &ResourceId, remote: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "RemoteVnetHasNoGateways",
        format!(
            "Peering {peering} cannot have UseRemoteGateway flag set to true because remote virtual network {remote} referenced by the peering does not have any gateways."
        ),
    )
}

/// `{vnet}/{peering}`, as Azure names a peering in the gateway-transit messages.
fn short_peering_name(peering: &ResourceId) -> String {
    let vnet = peering.parent().map(|v| v.name().to_owned()).unwrap_or_default();
    format!("{vnet}/{}", peering.name())
}

/// 1.16b. [gap] message observed, code not; vnetlab uses `RemotePeeringDoesNotAllowGatewayTransit`.
pub fn remote_peering_does_not_allow_gateway_transit(peering: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "RemotePeeringDoesNotAllowGatewayTransit",
        format!(
            "Peering {} cannot have UseRemoteGateways flag set to true, because corresponding remote peering has AllowGatewayTransit flag set to false.",
            short_peering_name(peering)
        ),
    )
}

/// 1.16c. [gap] message observed, code not; vnetlab uses `AnotherPeeringAlreadyUsesRemoteGateways`.
pub fn another_peering_already_uses_remote_gateways(peering: &ResourceId, other: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "AnotherPeeringAlreadyUsesRemoteGateways",
        format!(
            "Peering {} cannot have UseRemoteGateways flag set to true, because another peering {other} already has UseRemoteGateways flag set to true.",
            short_peering_name(peering)
        ),
    )
}

/// 1.16d. [gap] documented rule, no public code or message.
pub fn vnet_with_gateway_cannot_use_remote_gateways(
    peering: &ResourceId,
    vnet: &ResourceId,
    gateway: &ResourceId,
) -> AzureError {
    AzureError::bad_request(
        "VnetHasGatewayCannotUseRemoteGateways",
        format!(
            "Peering {} cannot have UseRemoteGateways flag set to true because virtual network {vnet} already has gateway {gateway}. A virtual network with a gateway of its own cannot use remote gateways.",
            short_peering_name(peering)
        ),
    )
}

/// 1.16e. [gap] documented rule, no public code or message.
pub fn remote_gateway_sku_does_not_support_transit(peering: &ResourceId, gateway: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "GatewayTransitNotSupportedForBasicSku",
        format!(
            "Peering {} cannot have UseRemoteGateways flag set to true because remote gateway {gateway} uses the Basic SKU, which does not support gateway transit.",
            short_peering_name(peering)
        ),
    )
}

/// 1.16e converse. [gap] vnetlab's own code and message.
pub fn basic_gateway_with_transit_users(gateway: &ResourceId, vnet: &ResourceId, peering: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "GatewayTransitNotSupportedForBasicSku",
        format!(
            "Virtual network gateway {gateway} cannot use the Basic SKU while peering {peering} uses the gateways of virtual network {vnet}: gateway transit is not available with the Basic SKU."
        ),
    )
}

/// 1.16/1.17 converse. [gap] Azure documents that a VNet using remote gateways cannot have its own;
/// vnetlab refuses to create the gateway rather than leave the VNet in that state.
pub fn gateway_in_vnet_using_remote_gateways(
    gateway: &ResourceId,
    vnet: &ResourceId,
    peering: &ResourceId,
) -> AzureError {
    AzureError::bad_request(
        "VnetUsesRemoteGatewaysCannotHaveGateway",
        format!(
            "Virtual network gateway {gateway} cannot be created in virtual network {vnet} because its peering {peering} has UseRemoteGateways flag set to true. Turn off UseRemoteGateways on that peering first."
        ),
    )
}

/// 1.20. [gap] no public trace of the code; vnetlab's own.
pub fn peering_limit_reached(vnet: &ResourceId, limit: usize) -> AzureError {
    AzureError::bad_request(
        "VnetPeeringLimitReached",
        format!(
            "Virtual network {vnet} already has {limit} peerings, the maximum allowed. Delete a peering before adding another."
        ),
    )
}

/// 1.20 (subnet peering). [gap] vnetlab's own code and message.
pub fn too_many_peered_subnets(peering: &ResourceId, count: usize, limit: usize) -> AzureError {
    AzureError::bad_request(
        "SubnetPeeringSubnetLimitExceeded",
        format!(
            "Peering {peering} names {count} subnets; subnet peering allows at most {limit} subnets across both sides."
        ),
    )
}

/// 1.21. [gap] documented rule, no public code or message.
pub fn global_peering_across_clouds(peering: &ResourceId, local: Location, remote: Location) -> AzureError {
    AzureError::bad_request(
        "GlobalPeeringAcrossCloudsNotSupported",
        format!(
            "Cannot create or update peering {peering}: virtual networks in {local} ({}) and {remote} ({}) belong to different clouds. Global peering works between regions of one cloud only.",
            local.cloud().name(),
            remote.cloud().name()
        ),
    )
}

/// 1.24. [gap] vnetlab does not model the retired classic deployment model.
pub fn classic_remote_not_supported(peering: &ResourceId, remote: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "ClassicVirtualNetworkPeeringNotSupported",
        format!(
            "Peering {peering} references classic virtual network {remote}. vnetlab models Resource Manager virtual networks only; classic virtual networks were retired."
        ),
    )
}

/// 1.27. [gap] vnetlab's own code and message for subnet-peering inputs Azure would refuse.
pub fn invalid_subnet_peering(peering: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request("InvalidSubnetPeeringConfiguration", format!("Peering {peering} is not valid: {reason}"))
}

// ---- network security groups ----------------------------------------------------------------

pub fn security_rule_invalid_priority(priority: i64) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleInvalidPriority",
        format!("Security rule has invalid Priority. Value provided: {priority} Allowed range 100-4096."),
    )
}

pub fn security_rule_conflict(existing: &str, new: &str) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleConflict",
        format!(
            "Security rule {existing} conflicts with rule {new}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
        ),
    )
}

pub fn security_rule_invalid_port_range(value: &str) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleInvalidPortRange",
        format!(
            "Security rule has invalid Port range. Value provided: {value}. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535."
        ),
    )
}

pub fn security_rule_invalid_address_prefix(rule: &ResourceId, value: &str) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleInvalidAddressPrefix",
        format!("Security rule {rule} has invalid Address prefix. Value provided: {value}"),
    )
}

pub fn security_rule_parameter_unsupported_value(parameter: &str, rule: &ResourceId, value: &str) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleParameterContainsUnsupportedValue",
        format!(
            "Security rule parameter {parameter} for rule with Id {rule} cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. Unsupported value used: {value}."
        ),
    )
}

/// [gap] no public message for a rule that gives neither form, or both, of one parameter.
pub fn security_rule_parameter_missing(parameter: &str, rule: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "SecurityRuleParameterMissing",
        format!("Security rule {rule} must give exactly one of {parameter} and {parameter}es (use '*' for any)."),
    )
}

pub fn mixed_address_families(rule: &str) -> AzureError {
    AzureError::bad_request(
        "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
        format!(
            "{rule} contains IP addresses or prefixes that belong to different address families. All IP addresses or prefixes in the resource should belong to the same address family."
        ),
    )
}

pub fn in_use_network_security_group_cannot_be_deleted(nsg: &ResourceId, users: &[ResourceId]) -> AzureError {
    AzureError::bad_request(
        "InUseNetworkSecurityGroupCannotBeDeleted",
        format!(
            "Network security group {nsg} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
            join(users, ", ")
        ),
    )
}

// ---- route tables ----------------------------------------------------------------------------

pub fn in_use_route_table_cannot_be_deleted(name: &str) -> AzureError {
    AzureError::bad_request(
        "InUseRouteTableCannotBeDeleted",
        format!("Route table {name} is in use and cannot be deleted."),
    )
}

/// The code is Azure's; [gap] the message is vnetlab's.
pub fn invalid_next_hop_ip_address(route: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidNextHopIpAddress",
        format!("Route {route} has an invalid next hop IP address: {reason}"),
    )
}

/// [gap] two routes of one table with the same destination.
pub fn route_conflict(route: &ResourceId, other: &str, prefix: &str) -> AzureError {
    AzureError::bad_request(
        "RouteConflict",
        format!("Route {route} has the same address prefix {prefix} as route {other} of the same route table."),
    )
}

// ---- IP addresses and NICs -------------------------------------------------------------------

pub fn private_ip_address_not_in_subnet(ip: &str, prefix: &str) -> AzureError {
    AzureError::bad_request(
        "PrivateIPAddressNotInSubnet",
        format!("Private static IP address {ip} does not belong to the range of subnet prefix {prefix}."),
    )
}

pub fn private_ip_address_in_reserved_range(ip: &str, prefix: &Prefix) -> AzureError {
    AzureError::bad_request(
        "PrivateIPAddressInReservedRange",
        format!("Private static IP address {ip} falls within reserved IP range of subnet prefix {prefix}."),
    )
}

pub fn private_ip_address_is_allocated(ip_configuration: &ResourceId, ip: &str, other: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "PrivateIPAddressIsAllocated",
        format!(
            "IP configuration {ip_configuration} is using the private IP address {ip} which is already allocated to resource {other}."
        ),
    )
}

pub fn nic_in_use(nic: &ResourceId, user: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "NicInUse",
        format!(
            "Network Interface {nic} is used by existing resource {user}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
        ),
    )
}

/// [gap] Compute's wording for attaching a NIC that another VM holds was not found.
pub fn nic_attached_to_another_vm(nic: &ResourceId, vm: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "NicInUse",
        format!(
            "Network Interface {nic} is used by existing resource {vm}. A network interface can be attached to one virtual machine only."
        ),
    )
}

/// [gap] vnetlab's own wording for NIC and VM inputs Azure would refuse.
pub fn invalid_network_interface(nic: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidNetworkInterfaceConfiguration",
        format!("Network interface {nic} is not valid: {reason}"),
    )
}

/// [gap] as above, for VMs.
pub fn invalid_virtual_machine(vm: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request("InvalidParameter", format!("Virtual machine {vm} is not valid: {reason}"))
}

pub fn standard_sku_public_ip_must_be_static(pip: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "StandardSkuPublicIPAddressesMustBeStatic",
        format!("Standard sku publicIp {pip} must have AllocationMethod set to Static."),
    )
}

pub fn zones_not_allowed_in_basic_sku(pip: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "ZonesNotAllowedInBasicSkuResource",
        format!("Zones not allowed in basic SKU resource {pip} in this region. Please use standard SKU."),
    )
}

pub fn public_ip_address_cannot_be_deleted(pip: &ResourceId, user: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "PublicIPAddressCannotBeDeleted",
        format!(
            "Public IP address {pip} can not be deleted since it is still allocated to resource {user}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip."
        ),
    )
}

pub fn public_ip_address_in_use(ip_configuration: &ResourceId, pip: &ResourceId, other: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "PublicIPAddressInUse",
        format!(
            "Resource {ip_configuration} is referencing public IP address {pip} that is already allocated to resource {other}."
        ),
    )
}

/// [gap] the pool is vnetlab's; Azure never runs out this way.
pub fn public_ip_pool_exhausted(pip: &ResourceId, pool: &Prefix) -> AzureError {
    AzureError::bad_request(
        "PublicIPAddressPoolExhausted",
        format!("No public IP address is left in vnetlab's pool {pool} for {pip}."),
    )
}

// ---- gateways and connections ------------------------------------------------------------------

pub fn basic_public_ip_not_allowed_on_vpn_gateway(gateway: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "PublicIpWithBasicSkuNotAllowedOnVPNGateways",
        format!(
            "Basic IP configuration for VPN Virtual Network Gateways is not supported. Follow the link for more details : https://go.microsoft.com/fwlink/p/?linkid=2241350 {gateway}"
        ),
    )
}

pub fn active_active_needs_two_ip_configurations(count: usize, gateway: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "ActiveActiveGatewayMustHaveExactlyTwoIpConfigurations",
        format!(
            "Gateway has {count} IP configurations specified for gateway {gateway}. ActiveActive Gateway must be created with two IP configurations."
        ),
    )
}

pub fn active_active_public_ips_differ(gateway: &ResourceId) -> AzureError {
    AzureError::bad_request(
        "ActiveActiveGatewayPublicIPAddressesDiffersInSkuOrZones",
        format!(
            "Virtual network gateway {gateway} in active active mode is using PublicIPAddresses either with different Skus or with different PublicIPAllocationMethod or from a different availability zones. Networking does not support using resources from multiple zones. Networking also does not support using both regional resources and zonal resources."
        ),
    )
}

/// [gap] vnetlab's own code and message for gateway inputs Azure documents as invalid (subnet not
/// named GatewaySubnet, SKU of another gateway type, PolicyBased on a non-Basic SKU, missing public
/// IP, a second gateway of one type, changing the gateway or VPN type).
pub fn invalid_gateway(gateway: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidGatewayConfiguration",
        format!("Virtual network gateway {gateway} is not valid: {reason}"),
    )
}

/// [gap] Azure requires deleting a gateway's connections first; no public code or message.
pub fn gateway_has_connections(gateway: &ResourceId, connections: &[ResourceId]) -> AzureError {
    AzureError::bad_request(
        "InUseVirtualNetworkGatewayCannotBeDeleted",
        format!(
            "Virtual network gateway {gateway} cannot be deleted because it is used by connections: {}. Delete the connections first.",
            join(connections, ", ")
        ),
    )
}

/// [gap] as above, for local network gateways.
pub fn local_gateway_has_connections(gateway: &ResourceId, connections: &[ResourceId]) -> AzureError {
    AzureError::bad_request(
        "InUseLocalNetworkGatewayCannotBeDeleted",
        format!(
            "Local network gateway {gateway} cannot be deleted because it is used by connections: {}. Delete the connections first.",
            join(connections, ", ")
        ),
    )
}

/// The code is Azure's (azure-docs#110829); [gap] the message is vnetlab's.
pub fn connection_overlapping_address_spaces(
    connection: &ResourceId,
    a: &Prefix,
    b: &Prefix,
    with: &str,
) -> AzureError {
    AzureError::bad_request(
        "ConnectionOverlappingAddressSpaces",
        format!(
            "Connection {connection} cannot be created or updated because address prefix {a} overlaps with address prefix {b} of {with}. Address spaces connected through a gateway must not overlap."
        ),
    )
}

/// [gap] vnetlab's own code and message for connection inputs Azure documents as invalid.
/// Source: azure-cli issue 15796 quotes the refusal.
pub fn network_watcher_count_limit_reached() -> AzureError {
    AzureError::bad_request(
        "NetworkWatcherCountLimitReached",
        "Cannot create more than 1 network watchers for this subscription in this region.",
    )
}

pub fn invalid_connection(connection: &ResourceId, reason: &str) -> AzureError {
    AzureError::bad_request("InvalidConnectionConfiguration", format!("Connection {connection} is not valid: {reason}"))
}

// ---- directory and authorization -------------------------------------------------------------

/// [gap] vnetlab's wording: principals are made by the lab's configuration, not by ARM.
pub fn invalid_principal(object_id: &str, reason: &str) -> AzureError {
    AzureError::bad_request("InvalidPrincipal", format!("The principal '{object_id}' is not valid: {reason}."))
}

/// [gap] vnetlab's wording: two principals would sign in with the same name.
pub fn principal_conflict(value: &str, what: &str) -> AzureError {
    AzureError::conflict("PrincipalConflict", format!("Another principal already has the {what} '{value}'."))
}

pub fn invalid_role_assignment_id(name: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidRoleAssignmentId",
        format!("The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."),
    )
}

pub fn invalid_role_assignment_scope(scope: &str) -> AzureError {
    AzureError::bad_request("InvalidScope", format!("The scope '{scope}' is not valid for role assignments."))
}

pub fn role_definition_does_not_exist(role_definition_id: &str) -> AzureError {
    let guid = role_definition_id.rsplit('/').next().unwrap_or(role_definition_id);
    AzureError::new(
        404,
        "RoleDefinitionDoesNotExist",
        format!("The specified role definition with ID '{guid}' does not exist."),
    )
}

pub fn principal_not_found(principal_id: &str, tenant_id: &str) -> AzureError {
    AzureError::bad_request(
        "PrincipalNotFound",
        format!(
            "Principal {} does not exist in the directory {tenant_id}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            principal_id.replace('-', "")
        ),
    )
}

/// `existing` is the name of the assignment that already grants it.
pub fn role_assignment_exists(existing: &str) -> AzureError {
    AzureError::conflict(
        "RoleAssignmentExists",
        format!(
            "The role assignment already exists. The ID of the existing role assignment is {}.",
            existing.replace('-', "")
        ),
    )
}

pub fn role_assignment_update_not_permitted() -> AzureError {
    AzureError::bad_request(
        "RoleAssignmentUpdateNotPermitted",
        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
    )
}

/// The caller's role assignments do not allow `action` at `scope`.
pub fn authorization_failed(client: &str, object_id: &str, action: &str, scope: &str) -> AzureError {
    AzureError::new(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{client}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
        ),
    )
}

/// The caller may write `scope` but not act on the resource it links to (1.7, variant 2).
pub fn linked_authorization_failed(
    client: &str,
    object_id: &str,
    action: &str,
    scope: &str,
    linked_action: &str,
    linked_scope: &str,
) -> AzureError {
    AzureError::new(
        403,
        "LinkedAuthorizationFailed",
        format!(
            "The client '{client}' with object id '{object_id}' has permission to perform action '{action}' on scope '{scope}'; however, it does not have permission to perform action '{linked_action}' on the linked scope(s) '{linked_scope}' or the linked scope(s) are invalid."
        ),
    )
}

/// The request carries no token for the tenant of the linked resource's subscription (1.7,
/// variant 1).
pub fn linked_tenant_not_authorized(
    action: &str,
    scope: &str,
    tenant_id: &str,
    linked_subscription: &str,
) -> AzureError {
    AzureError::new(
        403,
        "LinkedAuthorizationFailed",
        format!(
            "The client has permission to perform action '{action}' on scope '{scope}', however the current tenant '{tenant_id}' is not authorized to access linked subscription '{linked_subscription}'."
        ),
    )
}
