//! The topology file as written: YAML, Azure's property names in camelCase, every field optional
//! unless a resource cannot exist without it, unknown fields refused. See docs/topology.md.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use vnetlab_model::{
    AllocationMethod, ConnectionType, GatewaySkuName, GatewayType, IpVersion, PublicIpSkuName, RouteNextHopType,
    SecurityRuleAccess, SecurityRuleDirection, SecurityRuleProtocol, VpnType,
};

pub type Tags = BTreeMap<String, String>;

/// One value or a list of them (`"22"` or `["22", "80"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topology {
    /// A label for the topology; shown by `plan` and `up`.
    pub name: Option<String>,
    /// The default subscription of every resource (a declared subscription's name or id).
    pub subscription: Option<String>,
    /// The default resource group (default: `vnetlab`).
    pub resource_group: Option<String>,
    /// The default location (default: `westus`).
    pub location: Option<String>,
    #[serde(default)]
    pub tenants: Vec<TenantDecl>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionDecl>,
    /// Users and service principals, and the roles they hold.
    #[serde(default)]
    pub principals: Vec<PrincipalDecl>,
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroupDecl>,
    #[serde(default)]
    pub vnets: Vec<VnetDecl>,
    #[serde(default)]
    pub nsgs: Vec<NsgDecl>,
    #[serde(default)]
    pub route_tables: Vec<RouteTableDecl>,
    #[serde(default)]
    pub public_ips: Vec<PublicIpDecl>,
    #[serde(default)]
    pub vms: Vec<VmDecl>,
    #[serde(default)]
    pub nics: Vec<NicDecl>,
    #[serde(default)]
    pub gateways: Vec<GatewayDecl>,
    /// On-premises sites: local network gateways.
    #[serde(default)]
    pub sites: Vec<SiteDecl>,
    #[serde(default)]
    pub connections: Vec<ConnectionDecl>,
    #[serde(default)]
    pub peerings: Vec<PeeringDecl>,
    #[serde(default)]
    pub connectivity: Vec<ConnectivityDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantDecl {
    pub id: String,
    pub name: String,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    ServicePrincipal,
    User,
}

/// A principal: a service principal (signs in with `appId` and `secret`) or a user (with
/// `userPrincipalName` and `secret` as password).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrincipalDecl {
    pub name: String,
    /// The home tenant: a declared tenant's name or id (default: the lab's).
    pub tenant: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<PrincipalKind>,
    /// Default: a GUID made from the name.
    pub app_id: Option<String>,
    /// Default: a GUID made from the name.
    pub object_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub secret: Option<String>,
    /// Tenants the principal is a guest of (names or ids).
    #[serde(default)]
    pub guest_of: Vec<String>,
    #[serde(default)]
    pub roles: Vec<RoleDecl>,
}

/// A role the principal holds at a scope: a resource id, or `subscription:NAME`, `group:NAME`,
/// `vnet:NAME` (a declared or existing resource), or a subscription's name or id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleDecl {
    /// A built-in role's name (Owner, Contributor, Reader, Network Contributor) or GUID.
    pub role: String,
    pub scope: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionDecl {
    pub id: String,
    pub name: Option<String>,
    /// A declared tenant's name or id (default: the lab's tenant).
    pub tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroupDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VnetDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    pub address_space: Vec<String>,
    #[serde(default)]
    pub dns_servers: Vec<IpAddr>,
    /// BGP community of the VNet, such as `12076:20010`.
    pub bgp_community: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    /// The VNet's subnets. Omitted: subnets are left as they are; listed: exactly these.
    pub subnets: Option<Vec<SubnetDecl>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetDecl {
    pub name: String,
    pub address_prefix: Option<String>,
    pub address_prefixes: Option<Vec<String>>,
    /// An NSG of this file (name) or any NSG id.
    pub nsg: Option<String>,
    pub route_table: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NsgDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub rules: Vec<RuleDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleDecl {
    pub name: String,
    pub priority: u32,
    pub direction: SecurityRuleDirection,
    pub access: SecurityRuleAccess,
    #[serde(default = "any_protocol")]
    pub protocol: SecurityRuleProtocol,
    /// Source addresses: `*`, a prefix, an address or a service tag; a list for several.
    pub source: Option<OneOrMany>,
    pub source_ports: Option<OneOrMany>,
    pub destination: Option<OneOrMany>,
    pub destination_ports: Option<OneOrMany>,
    pub description: Option<String>,
}

fn any_protocol() -> SecurityRuleProtocol {
    SecurityRuleProtocol::Any
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTableDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub disable_bgp_route_propagation: bool,
    #[serde(default)]
    pub routes: Vec<RouteDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDecl {
    pub name: String,
    pub address_prefix: String,
    pub next_hop_type: RouteNextHopType,
    pub next_hop_ip_address: Option<IpAddr>,
    #[serde(default)]
    pub next_hop_ip_addresses: Vec<IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicIpDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    pub sku: Option<PublicIpSkuName>,
    pub allocation: Option<AllocationMethod>,
    pub version: Option<IpVersion>,
    #[serde(default)]
    pub zones: Vec<String>,
}

/// `publicIp: true` (make one named `<resource>-ip`) or the name of a declared public IP.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PublicIpChoice {
    Create(bool),
    Named(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    pub size: Option<String>,
    /// The subnet of the VM's NIC: `vnet/subnet` (with the shorthand fields below), or use `nics`.
    pub subnet: Option<String>,
    pub private_ip: Option<IpAddr>,
    pub public_ip: Option<PublicIpChoice>,
    #[serde(default)]
    pub ip_forwarding: bool,
    pub nsg: Option<String>,
    pub nics: Option<Vec<NicDecl>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NicDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    pub subnet: String,
    pub private_ip: Option<IpAddr>,
    pub public_ip: Option<PublicIpChoice>,
    #[serde(default)]
    pub ip_forwarding: bool,
    pub nsg: Option<String>,
    pub primary: Option<bool>,
    /// More IP configurations (an IPv6 address, secondary addresses).
    #[serde(default)]
    pub extra_ips: Vec<ExtraIpDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraIpDecl {
    pub name: String,
    pub subnet: Option<String>,
    pub private_ip: Option<IpAddr>,
    pub version: Option<IpVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpDecl {
    pub asn: Option<u32>,
    pub peering_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    /// The VNet whose GatewaySubnet holds the gateway.
    pub vnet: String,
    #[serde(rename = "type", default = "vpn")]
    pub gateway_type: GatewayType,
    pub vpn_type: Option<VpnType>,
    pub sku: Option<GatewaySkuName>,
    #[serde(default)]
    pub active_active: bool,
    /// BGP on, with the gateway's ASN (default 65515).
    pub bgp: Option<BgpDecl>,
    /// Declared public IPs for the gateway's instances; made when omitted.
    #[serde(default)]
    pub public_ips: Vec<String>,
}

fn vpn() -> GatewayType {
    GatewayType::Vpn
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub address_space: Vec<String>,
    pub gateway_ip: Option<IpAddr>,
    pub fqdn: Option<String>,
    pub bgp: Option<BgpDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionDecl {
    pub name: String,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(rename = "type")]
    pub connection_type: ConnectionType,
    pub gateway: String,
    /// IPsec: the on-premises site.
    pub site: Option<String>,
    /// Vnet2Vnet: the other VNet's gateway.
    pub remote_gateway: Option<String>,
    /// ExpressRoute: the circuit's resource id.
    pub circuit: Option<String>,
    pub shared_key: Option<String>,
    #[serde(default)]
    pub enable_bgp: bool,
    #[serde(default)]
    pub routing_weight: u32,
    /// Vnet2Vnet: also create the connection back, named `<remote>-to-<local>` unless given.
    #[serde(default = "yes")]
    pub both_ways: bool,
    pub reverse_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// The options of one peering link.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkOptions {
    pub name: Option<String>,
    /// Default `true`, as in the portal.
    pub allow_virtual_network_access: Option<bool>,
    #[serde(default)]
    pub allow_forwarded_traffic: bool,
    #[serde(default)]
    pub allow_gateway_transit: bool,
    #[serde(default)]
    pub use_remote_gateways: bool,
    /// Subnet peering: the subnets of this link's VNet and of the remote that are peered.
    pub local_subnets: Option<Vec<String>>,
    pub remote_subnets: Option<Vec<String>>,
    #[serde(default, rename = "onlyIPv6")]
    pub only_ipv6: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeeringDecl {
    /// The VNet the link lives under.
    pub vnet: String,
    pub remote: String,
    pub name: Option<String>,
    pub allow_virtual_network_access: Option<bool>,
    #[serde(default)]
    pub allow_forwarded_traffic: bool,
    #[serde(default)]
    pub allow_gateway_transit: bool,
    #[serde(default)]
    pub use_remote_gateways: bool,
    pub local_subnets: Option<Vec<String>>,
    pub remote_subnets: Option<Vec<String>>,
    #[serde(default, rename = "onlyIPv6")]
    pub only_ipv6: bool,
    /// The link back from `remote`; by default made with the portal's defaults.
    pub reverse: Option<LinkOptions>,
    /// Only this link: the peering stays Initiated until the other side links back.
    #[serde(default)]
    pub one_way: bool,
}

/// Azure Virtual Network Manager-style connectivity, one entry per configuration.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ConnectivityDecl {
    HubAndSpoke(HubAndSpokeDecl),
    Mesh(MeshDecl),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HubAndSpokeDecl {
    pub name: Option<String>,
    pub hub: String,
    pub spokes: Vec<String>,
    /// Spokes also reach each other directly.
    #[serde(default)]
    pub direct_connectivity: bool,
    /// Spokes use the hub's gateway (the hub's links allow transit, the spokes' use it).
    #[serde(default)]
    pub use_hub_as_gateway: bool,
    /// Forwarded traffic allowed on every link (for an NVA in the hub).
    #[serde(default)]
    pub allow_forwarded_traffic: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshDecl {
    pub name: Option<String>,
    pub vnets: Vec<String>,
}
