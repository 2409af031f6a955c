//! Parsing helpers for front doors: they turn user strings into model values and report failures
//! with the error Azure gives for that input.

use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{AzureError, Kind, Location, Prefix, PrefixError, ResourceId};

use crate::errors;

/// An address prefix of `resource` (a VNet's address space, a subnet's range).
pub fn parse_prefix(s: &str, resource: &ResourceId) -> Result<Prefix, AzureError> {
    if s.trim().is_empty() {
        return Err(errors::address_prefix_null_or_empty(resource));
    }
    Prefix::parse(s).map_err(|e| match e {
        PrefixError::NotCanonical { given, canonical } => errors::invalid_cidr_notation(&given, resource, &canonical),
        PrefixError::Syntax(given) => errors::invalid_address_prefix_format(&given, resource),
    })
}

/// The location of a resource of `kind`.
pub fn parse_location(s: &str, kind: Kind) -> Result<Location, AzureError> {
    Location::parse(s).map_err(|_| {
        if kind == Kind::ResourceGroup {
            errors::location_not_available_for_resource_group(s)
        } else {
            errors::location_not_available_for_resource_type(s, kind.arm_type())
        }
    })
}

/// A resource id given in a request body at `path` (e.g. `properties.remoteVirtualNetwork.id`).
pub fn parse_resource_id(s: &str, path: &str) -> Result<ResourceId, AzureError> {
    ResourceId::parse(s).map_err(|_| errors::linked_invalid_property_id(s, path))
}

pub fn parse_port_range(s: &str) -> Result<PortRange, AzureError> {
    s.parse().map_err(|_| errors::security_rule_invalid_port_range(s))
}

pub fn parse_address_match(s: &str, rule: &ResourceId) -> Result<AddressMatch, AzureError> {
    s.parse().map_err(|_| errors::security_rule_invalid_address_prefix(rule, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_errors_carry_azure_codes() {
        let id = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v")
            .unwrap();
        let e = parse_prefix("10.0.0.1/16", &id).unwrap_err();
        assert_eq!(e.code, "InvalidCIDRNotation");
        assert_eq!(
            e.message,
            format!(
                "The address prefix 10.0.0.1/16 in resource {id} has an invalid CIDR notation. For the given prefix length, the address prefix should be 10.0.0.0/16."
            )
        );
        assert_eq!(parse_prefix("abc", &id).unwrap_err().code, "InvalidAddressPrefixFormat");
        assert_eq!(parse_prefix("", &id).unwrap_err().code, "AddressPrefixStringCannotBeNullOrEmpty");
        assert_eq!(
            parse_location("moon", Kind::VirtualNetwork).unwrap_err().code,
            "LocationNotAvailableForResourceType"
        );
        assert_eq!(
            parse_location("moon", Kind::ResourceGroup).unwrap_err().code,
            "LocationNotAvailableForResourceGroup"
        );
        assert_eq!(
            parse_resource_id("vnet1", "properties.remoteVirtualNetwork.id").unwrap_err().code,
            "LinkedInvalidPropertyId"
        );
    }
}
