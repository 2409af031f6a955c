//! Network security groups as Azure evaluates them (shared/reference/peering-rules.md §3):
//! service tags resolved for the subnet a NIC sits in, rules in priority order, and the two
//! gates (subnet and NIC) in the order of the traffic's direction.

use std::sync::LazyLock;

use vnetlab_model::{
    AddressMatch, Kind, NetworkSecurityGroup, PeeringState, PortRange, Prefix, ResourceId, SecurityRule,
    SecurityRuleAccess, SecurityRuleDirection, SecurityRuleProtocol, View, ViewExt, VirtualNetwork,
    default_security_rules,
};

use crate::azure::routes::RouteTableView;
use crate::layers::{Addresses, Flow, Layer, Match, Ports, Protocol, Rule};
use crate::lpm::PrefixSet;

/// Azure's platform address: DHCP, DNS, health probes (the `AzureLoadBalancer` tag, and part of
/// `VirtualNetwork`).
pub const PLATFORM_ADDRESS: &str = "168.63.129.16/32";

/// Ranges that are never part of the `Internet` tag: private, shared, loopback, link-local,
/// multicast and reserved space (IPv4), and the non-global IPv6 ranges.
const NOT_INTERNET: [&str; 15] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
    "::/8",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "2001:db8::/32",
];

/// The addresses service tags stand for, seen from one subnet.
#[derive(Debug, Clone, Default)]
pub struct Tags {
    /// `VirtualNetwork`: the VNet's space, peers whose link from here allows VNet access, the
    /// prefixes of the subnet's user routes, gateway-learned prefixes and the platform address.
    pub virtual_network: PrefixSet,
}

impl Tags {
    /// The tags of a subnet of `vnet` whose routes are `routes`.
    pub fn for_subnet(view: &impl View, vnet: &VirtualNetwork, routes: &RouteTableView) -> Tags {
        let mut set = PrefixSet::new();
        set.extend(vnet.properties.address_space.address_prefixes.iter().copied());
        for link in view.links_of(&vnet.id) {
            let p = &link.properties;
            if p.peering_state == PeeringState::Connected && p.allow_virtual_network_access {
                set.extend(p.remote_address_space.address_prefixes.iter().copied());
            }
        }
        for r in &routes.routes {
            use crate::azure::routes::RouteSource;
            if matches!(r.source, RouteSource::User | RouteSource::VirtualNetworkGateway)
                && let Some(prefix) = r.prefix()
            {
                set.insert(prefix);
            }
        }
        set.extend(Prefix::parse(PLATFORM_ADDRESS).ok());
        Tags { virtual_network: set }
    }

    /// What `tag` expands to here; `None` for a tag vnetlab does not know.
    pub fn expand(&self, tag: &str) -> Option<Addresses> {
        if tag.eq_ignore_ascii_case(vnetlab_model::VIRTUAL_NETWORK_TAG) {
            return Some(Addresses::Set(self.virtual_network.clone()));
        }
        if tag.eq_ignore_ascii_case(vnetlab_model::AZURE_LOAD_BALANCER_TAG) {
            return Some(Addresses::Set(Prefix::parse(PLATFORM_ADDRESS).ok().into_iter().collect()));
        }
        if tag.eq_ignore_ascii_case(vnetlab_model::INTERNET_TAG) {
            return Some(Addresses::Set(INTERNET.clone()));
        }
        None
    }
}

/// The `Internet` tag's prefixes, worked out once.
static INTERNET: LazyLock<PrefixSet> = LazyLock::new(internet);

/// Whether `ip` is a public address (in the `Internet` tag).
pub fn is_internet(ip: std::net::IpAddr) -> bool {
    INTERNET.contains(ip)
}

/// The public address space: everything outside [`NOT_INTERNET`], as prefixes.
pub fn internet() -> PrefixSet {
    let excluded: Vec<Prefix> = NOT_INTERNET.iter().filter_map(|p| Prefix::parse(p).ok()).collect();
    let mut out = PrefixSet::new();
    for root in ["0.0.0.0/0", "::/0"] {
        if let Ok(root) = Prefix::parse(root) {
            complement(root, &excluded, &mut out);
        }
    }
    out
}

/// The parts of `within` outside every prefix of `excluded`, as few prefixes as halving gives.
fn complement(within: Prefix, excluded: &[Prefix], out: &mut PrefixSet) {
    if excluded.iter().any(|e| e.contains(&within)) {
        return;
    }
    if !excluded.iter().any(|e| within.contains(e)) {
        out.insert(within);
        return;
    }
    if let Ok(halves) = within.net().subnets(within.prefix_len() + 1) {
        for half in halves {
            complement(Prefix::new_truncated(half), excluded, out);
        }
    }
}

/// Whether a rule is one of the NSG's default rules or one of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Custom,
    Default,
}

/// An NSG rule as a layer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub access: SecurityRuleAccess,
    pub kind: RuleKind,
    pub rule: ResourceId,
}

/// One NSG, compiled for a subnet's tags: an inbound and an outbound layer.
#[derive(Debug, Clone)]
pub struct CompiledNsg {
    pub id: ResourceId,
    pub inbound: Layer<Verdict>,
    pub outbound: Layer<Verdict>,
    /// Rules naming a tag vnetlab does not know (they match nothing).
    pub unknown_tags: Vec<(ResourceId, String)>,
}

impl CompiledNsg {
    pub fn layer(&self, direction: SecurityRuleDirection) -> &Layer<Verdict> {
        match direction {
            SecurityRuleDirection::Inbound => &self.inbound,
            SecurityRuleDirection::Outbound => &self.outbound,
        }
    }
}

/// The NSG's rules: its own (inbound then outbound, by priority), then the defaults.
pub fn nsg_rules(view: &impl View, nsg: &NetworkSecurityGroup) -> Vec<(SecurityRule, RuleKind)> {
    let mut rules: Vec<(SecurityRule, RuleKind)> = view
        .children_of(&nsg.id, Kind::SecurityRule)
        .into_iter()
        .filter_map(|s| s.resource.as_security_rule().cloned())
        .map(|r| (r, RuleKind::Custom))
        .collect();
    rules.sort_by_key(|(r, _)| (r.properties.direction == SecurityRuleDirection::Outbound, r.properties.priority));
    rules.extend(default_security_rules(&nsg.id).into_iter().map(|r| (r, RuleKind::Default)));
    rules
}

/// Compiles `nsg` for a NIC or subnet whose tags are `tags`.
pub fn compile_nsg(view: &impl View, nsg: &NetworkSecurityGroup, tags: &Tags) -> CompiledNsg {
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    let mut unknown_tags = Vec::new();
    for (rule, kind) in nsg_rules(view, nsg) {
        let p = &rule.properties;
        let mut addresses = |list: Vec<AddressMatch>| -> Addresses {
            let mut set = PrefixSet::new();
            for a in list {
                match a {
                    AddressMatch::Any => return Addresses::Any,
                    AddressMatch::Prefix(prefix) => set.insert(prefix),
                    AddressMatch::Address(ip) => set.insert(Prefix::host(ip)),
                    AddressMatch::ServiceTag(tag) => match tags.expand(&tag) {
                        Some(Addresses::Any) => return Addresses::Any,
                        Some(Addresses::Set(s)) => set.extend(s.prefixes().iter().copied()),
                        None => unknown_tags.push((rule.id.clone(), tag)),
                    },
                }
            }
            Addresses::Set(set)
        };
        let source = addresses(p.source_addresses());
        let destination = addresses(p.destination_addresses());
        let compiled = Rule {
            priority: p.priority,
            name: rule.name.clone(),
            matcher: Match {
                protocol: protocol(p.protocol),
                source,
                source_ports: ports(&p.source_ports()),
                destination,
                destination_ports: ports(&p.destination_ports()),
            },
            action: Verdict { access: p.access, kind, rule: rule.id.clone() },
        };
        match p.direction {
            SecurityRuleDirection::Inbound => inbound.push(compiled),
            SecurityRuleDirection::Outbound => outbound.push(compiled),
        }
    }
    // Every NSG ends in a deny-all default rule, so a layer's own default is never reached;
    // deny is the safe fallback should one be missing.
    let fallback = || Verdict { access: SecurityRuleAccess::Deny, kind: RuleKind::Default, rule: nsg.id.clone() };
    CompiledNsg {
        id: nsg.id.clone(),
        inbound: Layer::new(inbound, fallback()),
        outbound: Layer::new(outbound, fallback()),
        unknown_tags,
    }
}

fn protocol(p: SecurityRuleProtocol) -> Option<Protocol> {
    match p {
        SecurityRuleProtocol::Tcp => Some(Protocol::Tcp),
        SecurityRuleProtocol::Udp => Some(Protocol::Udp),
        SecurityRuleProtocol::Icmp => Some(Protocol::Icmp),
        SecurityRuleProtocol::Esp => Some(Protocol::Esp),
        SecurityRuleProtocol::Ah => Some(Protocol::Ah),
        SecurityRuleProtocol::Any => None,
    }
}

fn ports(list: &[PortRange]) -> Ports {
    let mut out = Vec::new();
    for p in list {
        match p {
            PortRange::Any => return Ports::any(),
            PortRange::Range { low, high } => out.push((*low, *high)),
        }
    }
    Ports(out)
}

/// The name a verdict goes by in Network Watcher answers: `securityRules/NAME` or
/// `defaultSecurityRules/NAME`.
pub fn rule_path(kind: RuleKind, name: &str) -> String {
    match kind {
        RuleKind::Custom => format!("securityRules/{name}"),
        RuleKind::Default => format!("defaultSecurityRules/{name}"),
    }
}

/// What one NSG gate decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDecision {
    pub nsg: ResourceId,
    /// Where the NSG is attached: the subnet or the NIC.
    pub attached_to: ResourceId,
    pub access: SecurityRuleAccess,
    /// `securityRules/NAME` or `defaultSecurityRules/NAME`.
    pub rule_name: String,
    pub rule: ResourceId,
    pub priority: u32,
}

/// Evaluates `flow` through the NSG gates in order; stops at the first deny.
pub fn through_gates(
    gates: &[(&CompiledNsg, &ResourceId)],
    direction: SecurityRuleDirection,
    flow: &Flow,
) -> Vec<GateDecision> {
    let mut out = Vec::new();
    for (nsg, attached) in gates {
        let decision = nsg.layer(direction).evaluate(flow);
        let (rule_name, priority) = match decision.rule {
            Some(r) => (rule_path(r.action.kind, &r.name), r.priority),
            None => (String::new(), u32::MAX),
        };
        out.push(GateDecision {
            nsg: nsg.id.clone(),
            attached_to: (*attached).clone(),
            access: decision.action.access,
            rule_name,
            rule: decision.action.rule.clone(),
            priority,
        });
        if decision.action.access == SecurityRuleAccess::Deny {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_leaves_out_private_and_reserved_space() {
        let set = internet();
        for public in ["8.8.8.8", "1.1.1.1", "20.1.2.3", "2603:1000::1"] {
            assert!(set.contains(public.parse().unwrap()), "{public}");
        }
        for private in ["10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1", "fd00::1", "239.0.0.1"] {
            assert!(!set.contains(private.parse().unwrap()), "{private}");
        }
        // The expansion is some dozens of prefixes (each excluded range splits its parents).
        assert!(set.prefixes().len() < 150, "{}", set.prefixes().len());
    }
}
