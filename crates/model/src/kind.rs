//! The kinds of resource vnetlab models, with ARM's type strings.

use std::fmt;

/// A kind of resource. The order is a dependency order: a resource may only reference kinds that
/// come before it or its own parent, which is how teardown knows what to delete first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Tenant,
    Subscription,
    /// A user or service principal of a tenant's directory.
    Principal,
    /// A role given to a principal at a scope (`Microsoft.Authorization/roleAssignments`).
    RoleAssignment,
    ResourceGroup,
    NetworkSecurityGroup,
    SecurityRule,
    RouteTable,
    Route,
    PublicIpAddress,
    LocalNetworkGateway,
    NetworkWatcher,
    VirtualNetwork,
    Subnet,
    VirtualNetworkPeering,
    VirtualNetworkGateway,
    Connection,
    NetworkInterface,
    VirtualMachine,
}

impl Kind {
    pub const ALL: [Kind; 19] = [
        Kind::Tenant,
        Kind::Subscription,
        Kind::Principal,
        Kind::RoleAssignment,
        Kind::ResourceGroup,
        Kind::NetworkSecurityGroup,
        Kind::SecurityRule,
        Kind::RouteTable,
        Kind::Route,
        Kind::PublicIpAddress,
        Kind::LocalNetworkGateway,
        Kind::NetworkWatcher,
        Kind::VirtualNetwork,
        Kind::Subnet,
        Kind::VirtualNetworkPeering,
        Kind::VirtualNetworkGateway,
        Kind::Connection,
        Kind::NetworkInterface,
        Kind::VirtualMachine,
    ];

    /// ARM's `type` string.
    pub fn arm_type(self) -> &'static str {
        match self {
            Kind::Tenant => "Microsoft.Resources/tenants",
            Kind::Subscription => "Microsoft.Resources/subscriptions",
            // Directory objects are not ARM resources; this is vnetlab's own name for them.
            Kind::Principal => "Microsoft.Directory/principals",
            Kind::RoleAssignment => "Microsoft.Authorization/roleAssignments",
            Kind::ResourceGroup => "Microsoft.Resources/resourceGroups",
            Kind::NetworkSecurityGroup => "Microsoft.Network/networkSecurityGroups",
            Kind::SecurityRule => "Microsoft.Network/networkSecurityGroups/securityRules",
            Kind::RouteTable => "Microsoft.Network/routeTables",
            Kind::Route => "Microsoft.Network/routeTables/routes",
            Kind::PublicIpAddress => "Microsoft.Network/publicIPAddresses",
            Kind::LocalNetworkGateway => "Microsoft.Network/localNetworkGateways",
            Kind::NetworkWatcher => "Microsoft.Network/networkWatchers",
            Kind::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Kind::VirtualNetworkPeering => "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            Kind::VirtualNetworkGateway => "Microsoft.Network/virtualNetworkGateways",
            Kind::Connection => "Microsoft.Network/connections",
            Kind::NetworkInterface => "Microsoft.Network/networkInterfaces",
            Kind::VirtualMachine => "Microsoft.Compute/virtualMachines",
        }
    }

    pub fn from_arm_type(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.arm_type().eq_ignore_ascii_case(s))
    }

    /// For child resources: the kind of their parent.
    pub fn parent(self) -> Option<Kind> {
        match self {
            Kind::SecurityRule => Some(Kind::NetworkSecurityGroup),
            Kind::Route => Some(Kind::RouteTable),
            Kind::Subnet | Kind::VirtualNetworkPeering => Some(Kind::VirtualNetwork),
            _ => None,
        }
    }

    /// For child resources: the path segment naming their collection under the parent.
    pub fn child_segment(self) -> Option<&'static str> {
        self.parent()?;
        self.arm_type().rsplit('/').next()
    }

    /// For objects kept in a tenant's directory: the collection segment of their ids.
    pub fn directory_collection(self) -> Option<&'static str> {
        match self {
            Kind::Principal => Some("principals"),
            Kind::RoleAssignment => Some("roleAssignments"),
            _ => None,
        }
    }

    pub fn from_directory_collection(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.directory_collection().is_some_and(|c| c.eq_ignore_ascii_case(segment)))
    }

    /// Whether the kind lives in a tenant's directory rather than in a subscription.
    pub fn is_directory(self) -> bool {
        self.directory_collection().is_some()
    }

    /// Whether the resource has a location of its own (ARM's "tracked" resources).
    pub fn is_tracked(self) -> bool {
        !matches!(
            self,
            Kind::Tenant
                | Kind::Subscription
                | Kind::Principal
                | Kind::RoleAssignment
                | Kind::SecurityRule
                | Kind::Route
                | Kind::Subnet
                | Kind::VirtualNetworkPeering
        )
    }

    /// A short lower-case name for CLI output and `vnetlab show TYPE`.
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Tenant => "tenant",
            Kind::Subscription => "subscription",
            Kind::Principal => "principal",
            Kind::RoleAssignment => "role-assignment",
            Kind::ResourceGroup => "group",
            Kind::NetworkSecurityGroup => "nsg",
            Kind::SecurityRule => "nsg-rule",
            Kind::RouteTable => "route-table",
            Kind::Route => "route",
            Kind::PublicIpAddress => "public-ip",
            Kind::LocalNetworkGateway => "local-gateway",
            Kind::NetworkWatcher => "watcher",
            Kind::VirtualNetwork => "vnet",
            Kind::Subnet => "subnet",
            Kind::VirtualNetworkPeering => "peering",
            Kind::VirtualNetworkGateway => "vnet-gateway",
            Kind::Connection => "connection",
            Kind::NetworkInterface => "nic",
            Kind::VirtualMachine => "vm",
        }
    }

    /// The words users type for this kind: the short name, its plural and a few synonyms.
    pub fn from_user(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        let s = s.strip_suffix('s').unwrap_or(&s);
        Kind::ALL.into_iter().find(|k| {
            let short = k.short_name();
            short == s
                || short.replace('-', "") == s
                || match k {
                    Kind::ResourceGroup => s == "resource-group" || s == "resourcegroup" || s == "rg",
                    Kind::VirtualNetwork => s == "virtualnetwork" || s == "virtual-network",
                    Kind::VirtualNetworkPeering => s == "vnet-peering",
                    Kind::NetworkInterface => s == "network-interface" || s == "networkinterface",
                    Kind::VirtualMachine => s == "virtual-machine" || s == "virtualmachine",
                    Kind::NetworkSecurityGroup => s == "network-security-group",
                    Kind::PublicIpAddress => s == "pip" || s == "public-ip-addresse" || s == "publicip",
                    Kind::VirtualNetworkGateway => s == "gateway" || s == "vpn-gateway" || s == "vnetgateway",
                    Kind::LocalNetworkGateway => s == "localgateway" || s == "site" || s == "on-premise",
                    Kind::Connection => s == "vpn-connection",
                    Kind::NetworkWatcher => s == "network-watcher" || s == "networkwatcher",
                    Kind::RouteTable => s == "routetable",
                    Kind::SecurityRule => s == "rule",
                    _ => false,
                }
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arm_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_types_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_arm_type(k.arm_type()), Some(k));
            assert_eq!(Kind::from_arm_type(&k.arm_type().to_uppercase()), Some(k));
            assert_eq!(Kind::from_user(k.short_name()), Some(k), "{k:?}");
        }
        assert_eq!(Kind::from_user("vnets"), Some(Kind::VirtualNetwork));
        assert_eq!(Kind::from_user("peerings"), Some(Kind::VirtualNetworkPeering));
        assert_eq!(Kind::from_user("nope"), None);
    }

    #[test]
    fn child_segments() {
        assert_eq!(Kind::Subnet.child_segment(), Some("subnets"));
        assert_eq!(Kind::VirtualNetworkPeering.child_segment(), Some("virtualNetworkPeerings"));
        assert_eq!(Kind::VirtualNetwork.child_segment(), None);
    }
}
