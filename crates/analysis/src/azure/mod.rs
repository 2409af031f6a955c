//! Azure's semantics over the generic core: the compiled view of a lab (per-subnet effective
//! routes and tags, per-NIC security gates) and the questions Network Watcher answers.

pub mod crossing;
pub mod incremental;
pub mod intents;
pub mod measured;
pub mod reach;
pub mod routes;
pub mod security;
pub mod trace;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use vnetlab_model::{Kind, Location, Prefix, ResourceId, SecurityRuleAccess, SecurityRuleDirection, State, ViewExt};

use crate::layers::{Flow, Protocol};
use routes::{EffectiveRoute, NextHopType, RouteTableView};
use security::{CompiledNsg, GateDecision, Tags};

/// Why a question cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("The resource '{0}' was not found.")]
    NotFound(String),
    #[error("The virtual machine '{0}' has no network interface.")]
    NoNetworkInterface(String),
    #[error("The network interface '{0}' has no IP configuration in a subnet that exists.")]
    Detached(String),
    #[error("The IP address {ip} is not an address of '{target}'.")]
    AddressNotOnTarget { ip: IpAddr, target: String },
    #[error("{0}")]
    InvalidArgument(String),
}

impl AnalysisError {
    /// The ARM error code.
    pub fn code(&self) -> &'static str {
        match self {
            AnalysisError::NotFound(_) => "ResourceNotFound",
            AnalysisError::NoNetworkInterface(_) | AnalysisError::Detached(_) => "InvalidResourceReference",
            AnalysisError::AddressNotOnTarget { .. } | AnalysisError::InvalidArgument(_) => "InvalidRequestFormat",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AnalysisError::NotFound(_) => 404,
            _ => 400,
        }
    }

    /// The error in ARM's shape.
    pub fn to_azure(&self) -> vnetlab_model::AzureError {
        vnetlab_model::AzureError::new(self.status(), self.code(), self.to_string())
    }
}

/// A subnet, compiled.
#[derive(Debug, Clone)]
pub struct SubnetView {
    pub id: ResourceId,
    pub vnet: ResourceId,
    pub location: Location,
    pub prefixes: Vec<Prefix>,
    pub routes: RouteTableView,
    pub tags: Tags,
    /// The subnet's NSG, compiled with the subnet's tags.
    pub nsg: Option<Arc<CompiledNsg>>,
}

/// One IP configuration of a NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicAddress {
    pub ip: IpAddr,
    pub subnet: ResourceId,
    pub ip_configuration: ResourceId,
    pub primary: bool,
}

/// A NIC, compiled.
#[derive(Debug, Clone)]
pub struct NicView {
    pub id: ResourceId,
    pub vm: Option<ResourceId>,
    pub addresses: Vec<NicAddress>,
    pub enable_ip_forwarding: bool,
    /// The NIC's own NSG, compiled with its primary subnet's tags.
    pub nsg: Option<Arc<CompiledNsg>>,
}

impl NicView {
    pub fn primary(&self) -> Option<&NicAddress> {
        self.addresses.iter().find(|a| a.primary).or_else(|| self.addresses.first())
    }
}

/// The compiled view of a lab at one revision.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub revision: u64,
    subnets: HashMap<String, SubnetView>,
    nics: HashMap<String, NicView>,
    /// VM key → its NICs' keys, primary first.
    vms: HashMap<String, Vec<String>>,
    /// What the compile read, for [`Network::update`] to find what a later change affects.
    index: incremental::Index,
}

/// Compiled NSGs by (NSG key, subnet key): an NSG compiles once per subnet whose tags it uses.
pub(crate) type NsgCache = HashMap<(String, String), Arc<CompiledNsg>>;

/// The answer of next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub next_hop_type: NextHopAnswerType,
    pub next_hop_ip_address: Option<IpAddr>,
    /// The user route's table, or none for a system or gateway route ("System Route").
    pub route_table: Option<ResourceId>,
    /// The route that decided, when one did.
    pub route: Option<EffectiveRoute>,
}

/// Next hop types as the next-hop API names them (§2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHopAnswerType {
    Internet,
    VirtualAppliance,
    VirtualNetworkGateway,
    VnetLocal,
    /// [gap] §2.6: the next-hop API's string for a peered destination is unconfirmed; vnetlab
    /// answers `VnetPeering` (a documented value) for regional and global peering alike.
    VnetPeering,
    None,
}

impl NextHopAnswerType {
    pub fn as_str(self) -> &'static str {
        match self {
            NextHopAnswerType::Internet => "Internet",
            NextHopAnswerType::VirtualAppliance => "VirtualAppliance",
            NextHopAnswerType::VirtualNetworkGateway => "VirtualNetworkGateway",
            NextHopAnswerType::VnetLocal => "VnetLocal",
            NextHopAnswerType::VnetPeering => "VnetPeering",
            NextHopAnswerType::None => "None",
        }
    }
}

impl NextHop {
    /// The `NextHopResult` JSON of the API.
    pub fn to_json(&self) -> Value {
        json!({
            "nextHopType": self.next_hop_type.as_str(),
            "nextHopIpAddress": self.next_hop_ip_address.map(|ip| ip.to_string()),
            "routeTableId": self.route_table.as_ref().map_or("System Route".to_owned(), |t| t.as_str().to_owned()),
        })
    }
}

/// The answer of IP flow verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVerdict {
    pub access: SecurityRuleAccess,
    /// The deciding rule: the one that denied, else the last gate's allowing rule; empty when no
    /// NSG applies.
    pub rule_name: String,
    /// Every gate evaluated, in order (subnet then NIC inbound, NIC then subnet outbound).
    pub gates: Vec<GateDecision>,
}

impl FlowVerdict {
    pub fn to_json(&self) -> Value {
        json!({ "access": access_str(self.access), "ruleName": self.rule_name })
    }
}

pub fn access_str(access: SecurityRuleAccess) -> &'static str {
    match access {
        SecurityRuleAccess::Allow => "Allow",
        SecurityRuleAccess::Deny => "Deny",
    }
}

/// An endpoint of a flow to verify: an address and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Network {
    /// Compiles the whole state.
    pub fn compile(state: &State) -> Network {
        let mut network = Network { revision: state.revision(), ..Network::default() };
        let mut nsgs = NsgCache::new();
        // One pass in id order (the order `all_of` gives) rather than a lookup per resource.
        let (mut vnets, mut vms, mut nics) = (Vec::new(), Vec::new(), Vec::new());
        let mut subnet_count = 0;
        for stored in state.iter() {
            match stored.kind() {
                Kind::VirtualNetwork => vnets.extend(stored.resource.as_virtual_network()),
                Kind::Subnet => subnet_count += 1,
                Kind::VirtualMachine => vms.extend(stored.resource.as_virtual_machine()),
                Kind::NetworkInterface => nics.extend(stored.resource.as_network_interface()),
                _ => network.index.record(&stored.resource),
            }
        }
        network.subnets.reserve(subnet_count);
        for vnet in vnets {
            let subnets = state.subnets_of(&vnet.id);
            network.index.record_vnet(vnet, &subnets);
            for subnet in subnets {
                let mut view = Network::subnet_view(state, vnet, subnet);
                view.nsg = subnet
                    .properties
                    .network_security_group
                    .as_ref()
                    .and_then(|n| Network::compiled_nsg(state, &mut nsgs, &n.id, &view));
                network.subnets.insert(subnet.id.key().to_owned(), view);
            }
        }
        let mut vm_of: HashMap<String, ResourceId> = HashMap::with_capacity(vms.len());
        network.vms.reserve(vms.len());
        for vm in vms {
            let nics = Network::vm_nics(vm);
            for nic in &nics {
                vm_of.insert(nic.clone(), vm.id.clone());
            }
            network.vms.insert(vm.id.key().to_owned(), nics);
        }
        network.nics.reserve(nics.len());
        for nic in nics {
            let vm = vm_of.get(nic.id.key()).cloned();
            let view = Network::nic_view(nic, vm, &network.subnets, |n, home| {
                Network::compiled_nsg(state, &mut nsgs, n, home)
            });
            network.nics.insert(nic.id.key().to_owned(), view);
        }
        network
    }

    /// A subnet's routes and tags; its NSG is left for the caller to compile.
    pub(crate) fn subnet_view(
        state: &State,
        vnet: &vnetlab_model::VirtualNetwork,
        subnet: &vnetlab_model::Subnet,
    ) -> SubnetView {
        let routes = routes::subnet_routes(state, vnet, subnet);
        let tags = Tags::for_subnet(state, vnet, &routes);
        SubnetView {
            id: subnet.id.clone(),
            vnet: vnet.id.clone(),
            location: vnet.location,
            prefixes: subnet.prefixes(),
            routes,
            tags,
            nsg: None,
        }
    }

    /// `nsg` compiled with `subnet`'s tags, taken from `cache` when compiled already; none when the
    /// NSG does not exist.
    pub(crate) fn compiled_nsg(
        state: &State,
        cache: &mut NsgCache,
        nsg: &ResourceId,
        subnet: &SubnetView,
    ) -> Option<Arc<CompiledNsg>> {
        let key = (nsg.key().to_owned(), subnet.id.key().to_owned());
        if let Some(c) = cache.get(&key) {
            return Some(c.clone());
        }
        let resource = state.resource(nsg)?.as_network_security_group()?;
        let c = Arc::new(security::compile_nsg(state, resource, &subnet.tags));
        cache.insert(key, c.clone());
        Some(c)
    }

    /// A VM's NIC keys: the primary first, then in the VM's order.
    pub fn vm_nics(vm: &vnetlab_model::VirtualMachine) -> Vec<String> {
        let mut nics: Vec<(bool, String)> = vm
            .properties
            .network_profile
            .network_interfaces
            .iter()
            .map(|n| (n.properties.primary, n.id.key().to_owned()))
            .collect();
        nics.sort_by_key(|(primary, _)| !primary);
        nics.into_iter().map(|(_, k)| k).collect()
    }

    /// A NIC's view. `nsg` compiles the NIC's own NSG for the subnet of its primary address (the
    /// NIC gets none when that subnet is not in `subnets`).
    pub(crate) fn nic_view(
        nic: &vnetlab_model::NetworkInterface,
        vm: Option<ResourceId>,
        subnets: &HashMap<String, SubnetView>,
        nsg: impl FnOnce(&ResourceId, &SubnetView) -> Option<Arc<CompiledNsg>>,
    ) -> NicView {
        let primary_name = nic.primary_ip_configuration().map(|c| c.name.clone());
        let addresses: Vec<NicAddress> = nic
            .properties
            .ip_configurations
            .iter()
            .map(|c| NicAddress {
                ip: c.properties.private_ip_address,
                subnet: c.properties.subnet.id.clone(),
                ip_configuration: c.id.clone(),
                primary: Some(&c.name) == primary_name.as_ref(),
            })
            .collect();
        let home = addresses.iter().find(|a| a.primary).and_then(|a| subnets.get(a.subnet.key()));
        let nsg = match (&nic.properties.network_security_group, home) {
            (Some(n), Some(subnet)) => nsg(&n.id, subnet),
            _ => None,
        };
        NicView { id: nic.id.clone(), vm, addresses, enable_ip_forwarding: nic.properties.enable_ip_forwarding, nsg }
    }

    pub fn subnet(&self, id: &ResourceId) -> Option<&SubnetView> {
        self.subnets.get(id.key())
    }

    pub fn nic(&self, id: &ResourceId) -> Option<&NicView> {
        self.nics.get(id.key())
    }

    /// The NIC whose id has the key (lower-case id) `key`.
    pub fn nic_by_key(&self, key: &str) -> Option<&NicView> {
        self.nics.get(key)
    }

    /// Every NIC, in no particular order.
    pub fn nics(&self) -> impl Iterator<Item = &NicView> {
        self.nics.values()
    }

    /// Every subnet, in no particular order.
    pub fn subnets(&self) -> impl Iterator<Item = &SubnetView> {
        self.subnets.values()
    }

    /// The NIC a question is about: `nic` when given (it must belong to the VM), else the VM's
    /// primary NIC; `target` may itself be a NIC.
    pub fn target_nic(&self, target: &ResourceId, nic: Option<&ResourceId>) -> Result<&NicView, AnalysisError> {
        if target.kind() == Some(Kind::NetworkInterface) {
            return self.nic(target).ok_or_else(|| AnalysisError::NotFound(target.to_string()));
        }
        let nics = self.vms.get(target.key()).ok_or_else(|| AnalysisError::NotFound(target.to_string()))?;
        let key = match nic {
            Some(n) => nics.iter().find(|k| *k == n.key()).ok_or_else(|| {
                AnalysisError::InvalidArgument(format!("The network interface '{n}' is not attached to '{target}'."))
            })?,
            None => nics.first().ok_or_else(|| AnalysisError::NoNetworkInterface(target.to_string()))?,
        };
        self.nics.get(key).ok_or_else(|| AnalysisError::NotFound(key.clone()))
    }

    /// The NIC of `target` that a question about its address `ip` is about: `nic` when given;
    /// else the primary NIC when it holds `ip` (or when `target` is itself a NIC), else the VM's
    /// NIC that holds `ip`.
    pub fn nic_holding(
        &self,
        target: &ResourceId,
        nic: Option<&ResourceId>,
        ip: IpAddr,
    ) -> Result<&NicView, AnalysisError> {
        if nic.is_some() {
            return self.target_nic(target, nic);
        }
        let primary = self.target_nic(target, None)?;
        if primary.addresses.iter().any(|a| a.ip == ip) || target.kind() == Some(Kind::NetworkInterface) {
            return Ok(primary);
        }
        self.nics()
            .find(|n| n.vm.as_ref() == Some(target) && n.addresses.iter().any(|a| a.ip == ip))
            .ok_or(AnalysisError::AddressNotOnTarget { ip, target: target.to_string() })
    }

    /// The subnet a NIC address sits in.
    fn home<'a, 'n>(
        &'a self,
        nic: &'n NicView,
        ip: Option<IpAddr>,
    ) -> Result<(&'n NicAddress, &'a SubnetView), AnalysisError> {
        let address = match ip {
            Some(ip) => nic
                .addresses
                .iter()
                .find(|a| a.ip == ip)
                .ok_or_else(|| AnalysisError::AddressNotOnTarget { ip, target: nic.id.to_string() })?,
            None => nic.primary().ok_or_else(|| AnalysisError::Detached(nic.id.to_string()))?,
        };
        let subnet = self.subnet(&address.subnet).ok_or_else(|| AnalysisError::Detached(nic.id.to_string()))?;
        Ok((address, subnet))
    }

    /// The effective routes of a NIC (of its primary IP configuration's subnet).
    pub fn effective_routes(&self, nic: &NicView) -> Result<&[EffectiveRoute], AnalysisError> {
        let (_, subnet) = self.home(nic, None)?;
        Ok(&subnet.routes.routes)
    }

    /// Next hop from a NIC (or a VM's NIC) to `destination`.
    pub fn next_hop(
        &self,
        nic: &NicView,
        source: Option<IpAddr>,
        destination: IpAddr,
    ) -> Result<NextHop, AnalysisError> {
        let (_, subnet) = self.home(nic, source)?;
        let Some(route) = subnet.routes.lookup(destination) else {
            return Ok(NextHop {
                next_hop_type: NextHopAnswerType::None,
                next_hop_ip_address: None,
                route_table: None,
                route: None,
            });
        };
        let (kind, ip) = match route.next_hop_type {
            NextHopType::VnetLocal => (NextHopAnswerType::VnetLocal, Some(destination)),
            NextHopType::VnetPeering | NextHopType::VnetGlobalPeering => {
                (NextHopAnswerType::VnetPeering, Some(destination))
            }
            NextHopType::Internet => (NextHopAnswerType::Internet, None),
            NextHopType::None => (NextHopAnswerType::None, None),
            NextHopType::VirtualAppliance => {
                (NextHopAnswerType::VirtualAppliance, route.next_hop_ip_address.first().copied())
            }
            NextHopType::VirtualNetworkGateway => {
                (NextHopAnswerType::VirtualNetworkGateway, route.next_hop_ip_address.first().copied())
            }
        };
        let route_table = match &route.origin {
            routes::Origin::User { table, .. } => Some(table.clone()),
            _ => None,
        };
        Ok(NextHop { next_hop_type: kind, next_hop_ip_address: ip, route_table, route: Some(route.clone()) })
    }

    /// The NSG gates of a NIC's traffic in `direction`, in evaluation order.
    pub fn gates<'a>(
        &'a self,
        nic: &'a NicView,
        subnet: &'a SubnetView,
        direction: SecurityRuleDirection,
    ) -> Vec<(&'a CompiledNsg, &'a ResourceId)> {
        let subnet_gate = subnet.nsg.as_deref().map(|n| (n, &subnet.id));
        let nic_gate = nic.nsg.as_deref().map(|n| (n, &nic.id));
        let ordered = match direction {
            SecurityRuleDirection::Inbound => [subnet_gate, nic_gate],
            SecurityRuleDirection::Outbound => [nic_gate, subnet_gate],
        };
        ordered.into_iter().flatten().collect()
    }

    /// IP flow verify: whether the NSGs let a packet in or out of the NIC.
    pub fn ip_flow_verify(
        &self,
        nic: &NicView,
        direction: SecurityRuleDirection,
        protocol: Protocol,
        local: Endpoint,
        remote: Endpoint,
    ) -> Result<FlowVerdict, AnalysisError> {
        let (_, subnet) = self.home(nic, Some(local.ip))?;
        if local.ip.is_ipv4() != remote.ip.is_ipv4() {
            return Err(AnalysisError::InvalidArgument(
                "The local and remote IP addresses must be of the same IP version.".into(),
            ));
        }
        let flow = match direction {
            SecurityRuleDirection::Inbound => Flow {
                protocol,
                source: remote.ip,
                source_port: remote.port,
                destination: local.ip,
                destination_port: local.port,
            },
            SecurityRuleDirection::Outbound => Flow {
                protocol,
                source: local.ip,
                source_port: local.port,
                destination: remote.ip,
                destination_port: remote.port,
            },
        };
        let gates = security::through_gates(&self.gates(nic, subnet, direction), direction, &flow);
        // [gap] Which rule IP flow verify names when two NSGs both allow is not documented:
        // vnetlab names the last gate's rule. With no NSG at all it allows and names none.
        let (access, rule_name) = match gates.last() {
            Some(g) => (g.access, g.rule_name.clone()),
            None => (SecurityRuleAccess::Allow, String::new()),
        };
        Ok(FlowVerdict { access, rule_name, gates })
    }

    /// The effective security rules of a NIC, per NSG association (subnet, then NIC), as the
    /// `effectiveNetworkSecurityGroups` API answers.
    pub fn effective_security_groups(&self, state: &State, nic: &NicView) -> Result<Value, AnalysisError> {
        let (_, subnet) = self.home(nic, None)?;
        let mut value = Vec::new();
        let attached = [
            (subnet.nsg.as_deref(), json!({ "subnet": { "id": subnet.id.as_str() } })),
            (nic.nsg.as_deref(), json!({ "networkInterface": { "id": nic.id.as_str() } })),
        ];
        for (nsg, association) in attached {
            let Some(nsg) = nsg else {
                continue;
            };
            let Some(resource) = state.resource(&nsg.id).and_then(|r| r.as_network_security_group()) else {
                continue;
            };
            let rules: Vec<Value> = security::nsg_rules(state, resource)
                .iter()
                .map(|(rule, kind)| effective_rule_json(rule, *kind, &subnet.tags))
                .collect();
            value.push(json!({
                "networkSecurityGroup": { "id": nsg.id.as_str() },
                "association": association,
                "effectiveSecurityRules": rules,
                "tagMap": tag_map(&subnet.tags),
            }));
        }
        Ok(json!({ "value": value }))
    }
}

fn tag_map(tags: &Tags) -> Value {
    let list = |set: &crate::lpm::PrefixSet| set.prefixes().iter().map(ToString::to_string).collect::<Vec<_>>();
    json!({
        "VirtualNetwork": list(&tags.virtual_network),
        "AzureLoadBalancer": [security::PLATFORM_ADDRESS],
    })
}

fn effective_rule_json(rule: &vnetlab_model::SecurityRule, kind: security::RuleKind, tags: &Tags) -> Value {
    use vnetlab_model::{AddressMatch, PortRange};
    let p = &rule.properties;
    let name = security::rule_path(kind, &rule.name);
    let range = |ports: Vec<PortRange>| -> Vec<String> {
        ports
            .iter()
            .map(|r| match r {
                PortRange::Any => "0-65535".to_owned(),
                PortRange::Range { low, high } => format!("{low}-{high}"),
            })
            .collect()
    };
    let address = |a: &AddressMatch| match a {
        AddressMatch::Any => "0.0.0.0/0".to_owned(),
        AddressMatch::Address(ip) => Prefix::host(*ip).to_string(),
        other => other.to_string(),
    };
    let expanded = |list: &[AddressMatch]| -> Vec<String> {
        list.iter()
            .filter_map(|a| match a {
                AddressMatch::ServiceTag(t) => tags.expand(t),
                _ => None,
            })
            .flat_map(|a| match a {
                crate::layers::Addresses::Set(s) => s.prefixes().iter().map(ToString::to_string).collect::<Vec<_>>(),
                crate::layers::Addresses::Any => vec!["0.0.0.0/0".to_owned()],
            })
            .collect()
    };
    let sources = p.source_addresses();
    let destinations = p.destination_addresses();
    let mut out = json!({
        "name": name,
        "protocol": match p.protocol {
            vnetlab_model::SecurityRuleProtocol::Any => "All".to_owned(),
            other => other.to_string(),
        },
        "sourcePortRange": range(p.source_ports()).first().cloned().unwrap_or_default(),
        "destinationPortRange": range(p.destination_ports()).first().cloned().unwrap_or_default(),
        "sourcePortRanges": range(p.source_ports()),
        "destinationPortRanges": range(p.destination_ports()),
        "sourceAddressPrefix": sources.first().map(address).unwrap_or_default(),
        "destinationAddressPrefix": destinations.first().map(address).unwrap_or_default(),
        "sourceAddressPrefixes": sources.iter().map(address).collect::<Vec<_>>(),
        "destinationAddressPrefixes": destinations.iter().map(address).collect::<Vec<_>>(),
        "access": access_str(p.access),
        "priority": p.priority,
        "direction": match p.direction {
            SecurityRuleDirection::Inbound => "Inbound",
            SecurityRuleDirection::Outbound => "Outbound",
        },
    });
    let es = expanded(&sources);
    let ed = expanded(&destinations);
    if !es.is_empty() {
        out["expandedSourceAddressPrefix"] = json!(es);
    }
    if !ed.is_empty() {
        out["expandedDestinationAddressPrefix"] = json!(ed);
    }
    out
}
