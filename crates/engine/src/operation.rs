//! Operations: what every front door (CLI, topology file, REST API, portal) turns a request into.
//! Values are already parsed (ids, prefixes, enums); the rules are checked by the engine.

use std::net::IpAddr;

use uuid::Uuid;
use vnetlab_model::resources::{AddressMatch, PortRange};
use vnetlab_model::{
    AllocationMethod, ConnectionMode, ConnectionProtocol, ConnectionType, GatewaySkuName, GatewayType, IpVersion, Kind,
    Location, Prefix, PrincipalType, PublicIpSkuName, PublicIpSkuTier, ResourceId, RouteNextHopType, RoutePrefix,
    SecurityRuleAccess, SecurityRuleDirection, SecurityRuleProtocol, Tags, VirtualNetworkEncryption, VpnType,
};

/// One change a user asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    TenantPut {
        tenant_id: String,
        display_name: String,
        default_domain: Option<String>,
    },
    TenantDelete {
        tenant_id: String,
    },
    SubscriptionPut {
        subscription_id: String,
        display_name: String,
        tenant_id: String,
    },
    SubscriptionDelete {
        subscription_id: String,
    },
    PrincipalPut {
        spec: PrincipalSpec,
    },
    /// Deletes a principal and every role assignment it holds.
    PrincipalDelete {
        id: ResourceId,
    },
    /// Gives a role to a principal at a scope. `id` is where the directory keeps it, from
    /// [`crate::role_assignment_id`].
    RoleAssignmentPut {
        id: ResourceId,
        spec: RoleAssignmentSpec,
    },
    RoleAssignmentDelete {
        id: ResourceId,
    },
    ResourceGroupPut {
        id: ResourceId,
        location: Location,
        tags: Tags,
    },
    ResourceGroupDelete {
        id: ResourceId,
    },
    VirtualNetworkPut {
        id: ResourceId,
        spec: VirtualNetworkSpec,
    },
    VirtualNetworkDelete {
        id: ResourceId,
    },
    SubnetPut {
        id: ResourceId,
        spec: SubnetSpec,
    },
    SubnetDelete {
        id: ResourceId,
    },
    /// Create or update one peering link. With `sync_remote_address_space`, the link also takes the
    /// remote VNet's current address space (`?syncRemoteAddressSpace=true`, `az network vnet peering sync`).
    PeeringPut {
        id: ResourceId,
        spec: PeeringSpec,
        sync_remote_address_space: bool,
    },
    PeeringDelete {
        id: ResourceId,
    },
    NetworkSecurityGroupPut {
        id: ResourceId,
        spec: NetworkSecurityGroupSpec,
    },
    NetworkSecurityGroupDelete {
        id: ResourceId,
    },
    SecurityRulePut {
        id: ResourceId,
        spec: SecurityRuleSpec,
    },
    SecurityRuleDelete {
        id: ResourceId,
    },
    RouteTablePut {
        id: ResourceId,
        spec: RouteTableSpec,
    },
    RouteTableDelete {
        id: ResourceId,
    },
    RoutePut {
        id: ResourceId,
        spec: RouteSpec,
    },
    RouteDelete {
        id: ResourceId,
    },
    PublicIpAddressPut {
        id: ResourceId,
        spec: PublicIpAddressSpec,
    },
    PublicIpAddressDelete {
        id: ResourceId,
    },
    NetworkInterfacePut {
        id: ResourceId,
        spec: NetworkInterfaceSpec,
    },
    NetworkInterfaceDelete {
        id: ResourceId,
    },
    VirtualMachinePut {
        id: ResourceId,
        spec: VirtualMachineSpec,
    },
    VirtualMachineDelete {
        id: ResourceId,
    },
    VirtualNetworkGatewayPut {
        id: ResourceId,
        spec: VirtualNetworkGatewaySpec,
    },
    VirtualNetworkGatewayDelete {
        id: ResourceId,
    },
    LocalNetworkGatewayPut {
        id: ResourceId,
        spec: LocalNetworkGatewaySpec,
    },
    LocalNetworkGatewayDelete {
        id: ResourceId,
    },
    ConnectionPut {
        id: ResourceId,
        spec: ConnectionSpec,
    },
    ConnectionDelete {
        id: ResourceId,
    },
    NetworkWatcherPut {
        id: ResourceId,
        spec: NetworkWatcherSpec,
    },
    NetworkWatcherDelete {
        id: ResourceId,
    },
    /// Finishes a long-running operation started while provisioning is deferred: every resource it
    /// locked becomes `Succeeded`.
    CompleteOperation {
        operation_id: Uuid,
    },
}

impl Operation {
    /// The resource the operation is about.
    pub fn target(&self) -> Option<ResourceId> {
        use Operation::*;
        match self {
            TenantPut { tenant_id, .. } | TenantDelete { tenant_id } => ResourceId::tenant(tenant_id).ok(),
            SubscriptionPut { subscription_id, .. } | SubscriptionDelete { subscription_id } => {
                ResourceId::subscription(subscription_id).ok()
            }
            PrincipalPut { spec } => ResourceId::directory(&spec.tenant_id, Kind::Principal, &spec.object_id).ok(),
            PrincipalDelete { id } | RoleAssignmentPut { id, .. } | RoleAssignmentDelete { id } => Some(id.clone()),
            ResourceGroupPut { id, .. }
            | ResourceGroupDelete { id }
            | VirtualNetworkPut { id, .. }
            | VirtualNetworkDelete { id }
            | SubnetPut { id, .. }
            | SubnetDelete { id }
            | PeeringPut { id, .. }
            | PeeringDelete { id }
            | NetworkSecurityGroupPut { id, .. }
            | NetworkSecurityGroupDelete { id }
            | SecurityRulePut { id, .. }
            | SecurityRuleDelete { id }
            | RouteTablePut { id, .. }
            | RouteTableDelete { id }
            | RoutePut { id, .. }
            | RouteDelete { id }
            | PublicIpAddressPut { id, .. }
            | PublicIpAddressDelete { id }
            | NetworkInterfacePut { id, .. }
            | NetworkInterfaceDelete { id }
            | VirtualMachinePut { id, .. }
            | VirtualMachineDelete { id }
            | VirtualNetworkGatewayPut { id, .. }
            | VirtualNetworkGatewayDelete { id }
            | LocalNetworkGatewayPut { id, .. }
            | LocalNetworkGatewayDelete { id }
            | ConnectionPut { id, .. }
            | ConnectionDelete { id }
            | NetworkWatcherPut { id, .. }
            | NetworkWatcherDelete { id } => Some(id.clone()),
            CompleteOperation { .. } => None,
        }
    }

    pub fn is_delete(&self) -> bool {
        use Operation::*;
        matches!(
            self,
            TenantDelete { .. }
                | SubscriptionDelete { .. }
                | PrincipalDelete { .. }
                | RoleAssignmentDelete { .. }
                | ResourceGroupDelete { .. }
                | VirtualNetworkDelete { .. }
                | SubnetDelete { .. }
                | PeeringDelete { .. }
                | NetworkSecurityGroupDelete { .. }
                | SecurityRuleDelete { .. }
                | RouteTableDelete { .. }
                | RouteDelete { .. }
                | PublicIpAddressDelete { .. }
                | NetworkInterfaceDelete { .. }
                | VirtualMachineDelete { .. }
                | VirtualNetworkGatewayDelete { .. }
                | LocalNetworkGatewayDelete { .. }
                | ConnectionDelete { .. }
                | NetworkWatcherDelete { .. }
        )
    }
}

/// A VNet's writable properties.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNetworkSpec {
    pub location: Location,
    pub tags: Tags,
    pub address_prefixes: Vec<Prefix>,
    pub dns_servers: Vec<IpAddr>,
    pub enable_ddos_protection: bool,
    pub enable_vm_protection: bool,
    pub encryption: Option<VirtualNetworkEncryption>,
    pub flow_timeout_in_minutes: Option<u32>,
    /// `bgpCommunities.virtualNetworkCommunity`, e.g. `12076:20010`.
    pub bgp_community: Option<String>,
    /// The VNet's whole subnet set, as an ARM PUT carries it: subnets not listed are deleted.
    /// `None` leaves the subnets as they are.
    pub subnets: Option<Vec<(String, SubnetSpec)>>,
}

impl VirtualNetworkSpec {
    pub fn new(location: Location, address_prefixes: Vec<Prefix>) -> VirtualNetworkSpec {
        VirtualNetworkSpec {
            location,
            tags: Tags::new(),
            address_prefixes,
            dns_servers: Vec::new(),
            enable_ddos_protection: false,
            enable_vm_protection: false,
            encryption: None,
            flow_timeout_in_minutes: None,
            bgp_community: None,
            subnets: None,
        }
    }
}

/// A subnet's writable properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubnetSpec {
    pub address_prefix: Option<Prefix>,
    pub address_prefixes: Option<Vec<Prefix>>,
    pub network_security_group: Option<ResourceId>,
    pub route_table: Option<ResourceId>,
    pub private_endpoint_network_policies: Option<String>,
    pub private_link_service_network_policies: Option<String>,
    pub default_outbound_access: Option<bool>,
}

impl SubnetSpec {
    pub fn with_prefix(prefix: Prefix) -> SubnetSpec {
        SubnetSpec { address_prefix: Some(prefix), ..SubnetSpec::default() }
    }
}

/// A principal as its tenant's directory holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalSpec {
    /// The home tenant.
    pub tenant_id: String,
    pub object_id: String,
    pub display_name: String,
    pub principal_type: PrincipalType,
    pub app_id: Option<String>,
    pub user_principal_name: Option<String>,
    /// The secret's digest (never the secret).
    pub secret_digest: Option<String>,
    pub guest_of: Vec<String>,
}

/// A role assignment's properties, as a PUT of `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleAssignmentSpec {
    pub scope: String,
    /// `[/subscriptions/{sub}]/providers/Microsoft.Authorization/roleDefinitions/{role guid}`.
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: Option<PrincipalType>,
    pub description: Option<String>,
    /// The object id of whoever makes it.
    pub created_by: Option<String>,
}

/// A peering link's writable properties. The REST default of every flag is `false` (the portal's
/// default of VNet access allowed is a client choice), and `peer_complete_vnets` defaults to `true`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeeringSpec {
    pub remote_virtual_network: ResourceId,
    pub allow_virtual_network_access: bool,
    pub allow_forwarded_traffic: bool,
    pub allow_gateway_transit: bool,
    pub use_remote_gateways: bool,
    pub do_not_verify_remote_gateways: bool,
    pub peer_complete_vnets: bool,
    pub enable_only_ipv6_peering: bool,
    pub local_subnet_names: Vec<String>,
    pub remote_subnet_names: Vec<String>,
    /// Set when a connectivity configuration (hub-and-spoke, mesh) manages the link.
    pub origin: Option<String>,
}

impl PeeringSpec {
    pub fn new(remote_virtual_network: ResourceId) -> PeeringSpec {
        PeeringSpec {
            remote_virtual_network,
            allow_virtual_network_access: false,
            allow_forwarded_traffic: false,
            allow_gateway_transit: false,
            use_remote_gateways: false,
            do_not_verify_remote_gateways: false,
            peer_complete_vnets: true,
            enable_only_ipv6_peering: false,
            local_subnet_names: Vec::new(),
            remote_subnet_names: Vec::new(),
            origin: None,
        }
    }
}

/// An NSG's writable properties.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSecurityGroupSpec {
    pub location: Location,
    pub tags: Tags,
    pub flush_connection: bool,
    /// The NSG's whole rule set; rules not listed are deleted. `None` leaves the rules alone.
    pub security_rules: Option<Vec<(String, SecurityRuleSpec)>>,
}

/// A security rule's writable properties, as ARM has them (one value or a list).
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityRuleSpec {
    pub description: Option<String>,
    pub protocol: SecurityRuleProtocol,
    pub source_port_range: Option<PortRange>,
    pub source_port_ranges: Vec<PortRange>,
    pub destination_port_range: Option<PortRange>,
    pub destination_port_ranges: Vec<PortRange>,
    pub source_address_prefix: Option<AddressMatch>,
    pub source_address_prefixes: Vec<AddressMatch>,
    pub destination_address_prefix: Option<AddressMatch>,
    pub destination_address_prefixes: Vec<AddressMatch>,
    pub access: SecurityRuleAccess,
    pub priority: u32,
    pub direction: SecurityRuleDirection,
}

/// A route table's writable properties.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTableSpec {
    pub location: Location,
    pub tags: Tags,
    pub disable_bgp_route_propagation: bool,
    /// The table's whole route set; routes not listed are deleted. `None` leaves them alone.
    pub routes: Option<Vec<(String, RouteSpec)>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    pub address_prefix: RoutePrefix,
    pub next_hop_type: RouteNextHopType,
    pub next_hop_ip_address: Option<IpAddr>,
    /// For `VirtualApplianceEcmp`.
    pub next_hop_ip_addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PublicIpAddressSpec {
    pub location: Location,
    pub tags: Tags,
    /// Default: Standard.
    pub sku: Option<PublicIpSkuName>,
    pub tier: Option<PublicIpSkuTier>,
    /// Default: Static for Standard, Dynamic for Basic.
    pub allocation_method: Option<AllocationMethod>,
    pub version: IpVersion,
    pub zones: Vec<String>,
    pub idle_timeout_in_minutes: Option<u32>,
}

impl PublicIpAddressSpec {
    /// An IPv4 address with Azure's defaults (Standard, Static, no zones).
    pub fn new(location: Location) -> PublicIpAddressSpec {
        PublicIpAddressSpec {
            location,
            tags: Tags::default(),
            sku: None,
            tier: None,
            allocation_method: None,
            version: IpVersion::IPv4,
            zones: Vec::new(),
            idle_timeout_in_minutes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInterfaceSpec {
    pub location: Location,
    pub tags: Tags,
    pub ip_configurations: Vec<NicIpConfigurationSpec>,
    pub network_security_group: Option<ResourceId>,
    pub enable_ip_forwarding: bool,
    pub enable_accelerated_networking: bool,
    pub dns_servers: Vec<IpAddr>,
}

impl NetworkInterfaceSpec {
    /// A NIC with these IP configurations and nothing else set.
    pub fn new(location: Location, ip_configurations: Vec<NicIpConfigurationSpec>) -> NetworkInterfaceSpec {
        NetworkInterfaceSpec {
            location,
            tags: Tags::default(),
            ip_configurations,
            network_security_group: None,
            enable_ip_forwarding: false,
            enable_accelerated_networking: false,
            dns_servers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NicIpConfigurationSpec {
    pub name: String,
    pub subnet: ResourceId,
    /// A static address; with `allocation_method` unset, giving one means Static.
    pub private_ip_address: Option<IpAddr>,
    pub allocation_method: Option<AllocationMethod>,
    pub version: Option<IpVersion>,
    pub primary: Option<bool>,
    pub public_ip_address: Option<ResourceId>,
}

impl NicIpConfigurationSpec {
    /// A dynamically allocated address in `subnet`, of the subnet's first family.
    pub fn new(name: impl Into<String>, subnet: ResourceId) -> NicIpConfigurationSpec {
        NicIpConfigurationSpec {
            name: name.into(),
            subnet,
            private_ip_address: None,
            allocation_method: None,
            version: None,
            primary: None,
            public_ip_address: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualMachineSpec {
    pub location: Location,
    pub tags: Tags,
    pub vm_size: String,
    /// NIC ids, each with its `primary` flag.
    pub network_interfaces: Vec<(ResourceId, Option<bool>)>,
    pub storage_profile: serde_json::Value,
    pub os_profile: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNetworkGatewaySpec {
    pub location: Location,
    pub tags: Tags,
    pub gateway_type: GatewayType,
    pub vpn_type: Option<VpnType>,
    pub sku: GatewaySkuName,
    pub vpn_gateway_generation: Option<String>,
    pub active_active: bool,
    pub enable_bgp: bool,
    pub asn: Option<u32>,
    pub enable_private_ip_address: bool,
    pub ip_configurations: Vec<GatewayIpConfigurationSpec>,
}

impl VirtualNetworkGatewaySpec {
    /// A gateway of `gateway_type` with the smallest SKU of its kind (VpnGw1, ErGw1AZ), BGP off
    /// and one IP configuration in `vnet`'s GatewaySubnet.
    pub fn new(
        location: Location,
        gateway_type: GatewayType,
        vnet: &ResourceId,
        public_ip_address: Option<ResourceId>,
    ) -> Result<VirtualNetworkGatewaySpec, vnetlab_model::IdError> {
        Ok(VirtualNetworkGatewaySpec {
            location,
            tags: Tags::default(),
            gateway_type,
            vpn_type: None,
            sku: if gateway_type == GatewayType::Vpn { GatewaySkuName::VpnGw1 } else { GatewaySkuName::ErGw1AZ },
            vpn_gateway_generation: None,
            active_active: false,
            enable_bgp: false,
            asn: None,
            enable_private_ip_address: false,
            ip_configurations: vec![GatewayIpConfigurationSpec {
                name: "default".into(),
                subnet: vnet.child(vnetlab_model::Kind::Subnet, vnetlab_model::GATEWAY_SUBNET)?,
                public_ip_address,
            }],
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayIpConfigurationSpec {
    pub name: String,
    pub subnet: ResourceId,
    pub public_ip_address: Option<ResourceId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalNetworkGatewaySpec {
    pub location: Location,
    pub tags: Tags,
    pub address_prefixes: Vec<Prefix>,
    /// The site's VPN device; allocated from the public pool when neither it nor `fqdn` is given.
    pub gateway_ip_address: Option<IpAddr>,
    pub fqdn: Option<String>,
    pub bgp_asn: Option<u32>,
    pub bgp_peering_address: Option<String>,
}

/// A network watcher has nothing to set but where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkWatcherSpec {
    pub location: Location,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSpec {
    pub location: Location,
    pub tags: Tags,
    pub connection_type: ConnectionType,
    pub virtual_network_gateway1: ResourceId,
    pub virtual_network_gateway2: Option<ResourceId>,
    pub local_network_gateway2: Option<ResourceId>,
    pub peer: Option<ResourceId>,
    pub shared_key: Option<String>,
    pub connection_protocol: Option<ConnectionProtocol>,
    pub connection_mode: Option<ConnectionMode>,
    pub routing_weight: u32,
    pub enable_bgp: bool,
    pub use_policy_based_traffic_selectors: bool,
}
