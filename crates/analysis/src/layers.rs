//! Ordered rule layers: rules sorted by priority, the first whose match holds decides, and a
//! layer with no matching rule falls back to its default. Nothing here knows Azure; the `azure`
//! module resolves service tags into prefixes before it builds a layer.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::lpm::PrefixSet;

/// The protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Esp,
    Ah,
}

impl Protocol {
    /// Whether the protocol carries ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
            Protocol::Esp => "ESP",
            Protocol::Ah => "AH",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "icmp" => Ok(Protocol::Icmp),
            "esp" => Ok(Protocol::Esp),
            "ah" => Ok(Protocol::Ah),
            _ => Err(format!("'{s}' is not a protocol: use TCP, UDP, ICMP, ESP or AH")),
        }
    }
}

/// One packet's 5-tuple, as a rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub protocol: Protocol,
    pub source: IpAddr,
    pub source_port: u16,
    pub destination: IpAddr,
    pub destination_port: u16,
}

/// Addresses a rule matches: any, or a set of prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    Any,
    Set(PrefixSet),
}

impl Addresses {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Addresses::Any => true,
            Addresses::Set(set) => set.contains(ip),
        }
    }
}

/// Inclusive port ranges a rule matches; empty means any port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ports(pub Vec<(u16, u16)>);

impl Ports {
    pub fn any() -> Ports {
        Ports(Vec::new())
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty() || self.0.iter().any(|&(low, high)| low == 0 && high == u16::MAX)
    }

    pub fn contains(&self, port: u16) -> bool {
        self.is_any() || self.0.iter().any(|&(low, high)| (low..=high).contains(&port))
    }
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// `None`: every protocol.
    pub protocol: Option<Protocol>,
    pub source: Addresses,
    pub source_ports: Ports,
    pub destination: Addresses,
    pub destination_ports: Ports,
}

impl Match {
    pub fn matches(&self, flow: &Flow) -> bool {
        if self.protocol.is_some_and(|p| p != flow.protocol) {
            return false;
        }
        if !self.source.contains(flow.source) || !self.destination.contains(flow.destination) {
            return false;
        }
        if flow.protocol.has_ports() {
            self.source_ports.contains(flow.source_port) && self.destination_ports.contains(flow.destination_port)
        } else {
            // A flow without ports matches only rules that do not restrict them.
            self.source_ports.is_any() && self.destination_ports.is_any()
        }
    }
}

/// A rule: a priority (lower first), a name, what it matches and what it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<A> {
    pub priority: u32,
    pub name: String,
    pub matcher: Match,
    pub action: A,
}

/// Rules in priority order with a default when none matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer<A> {
    rules: Vec<Rule<A>>,
    default: A,
}

/// What a layer decided for a flow: the action, and the rule that decided it (none when the
/// default did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a, A> {
    pub action: &'a A,
    pub rule: Option<&'a Rule<A>>,
}

impl<A> Layer<A> {
    /// A layer of `rules` (any order; ties keep the given order) with `default`.
    pub fn new(mut rules: Vec<Rule<A>>, default: A) -> Layer<A> {
        rules.sort_by_key(|r| r.priority);
        Layer { rules, default }
    }

    pub fn rules(&self) -> &[Rule<A>] {
        &self.rules
    }

    /// The first rule that matches, else the default.
    pub fn evaluate(&self, flow: &Flow) -> Decision<'_, A> {
        match self.rules.iter().find(|r| r.matcher.matches(flow)) {
            Some(rule) => Decision { action: &rule.action, rule: Some(rule) },
            None => Decision { action: &self.default, rule: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use vnetlab_model::Prefix;

    fn set(prefixes: &[&str]) -> Addresses {
        Addresses::Set(prefixes.iter().map(|p| Prefix::parse(p).unwrap()).collect())
    }

    fn rule(priority: u32, name: &str, dst: Addresses, port: Option<u16>, allow: bool) -> Rule<bool> {
        Rule {
            priority,
            name: name.into(),
            matcher: Match {
                protocol: Some(Protocol::Tcp),
                source: Addresses::Any,
                source_ports: Ports::any(),
                destination: dst,
                destination_ports: port.map(|p| Ports(vec![(p, p)])).unwrap_or_default(),
            },
            action: allow,
        }
    }

    fn tcp(dst: &str, port: u16) -> Flow {
        Flow {
            protocol: Protocol::Tcp,
            source: "10.0.0.4".parse().unwrap(),
            source_port: 40000,
            destination: dst.parse().unwrap(),
            destination_port: port,
        }
    }

    #[test]
    fn lowest_priority_number_decides_and_default_catches_the_rest() {
        let layer = Layer::new(
            vec![
                rule(200, "allow-web", set(&["10.1.0.0/16"]), Some(80), true),
                rule(100, "deny-ssh", Addresses::Any, Some(22), false),
            ],
            false,
        );
        assert_eq!(layer.rules()[0].name, "deny-ssh");
        let d = layer.evaluate(&tcp("10.1.0.5", 22));
        assert_eq!((*d.action, d.rule.map(|r| r.name.as_str())), (false, Some("deny-ssh")));
        let d = layer.evaluate(&tcp("10.1.0.5", 80));
        assert_eq!((*d.action, d.rule.map(|r| r.name.as_str())), (true, Some("allow-web")));
        let d = layer.evaluate(&tcp("10.2.0.5", 80));
        assert_eq!((*d.action, d.rule), (false, None));
    }

    #[test]
    fn portless_protocols_match_only_rules_without_ports() {
        let mut any_port = rule(100, "any", Addresses::Any, None, true);
        any_port.matcher.protocol = None;
        let mut ssh = rule(90, "ssh", Addresses::Any, Some(22), false);
        ssh.matcher.protocol = None;
        let layer = Layer::new(vec![ssh, any_port], false);
        let ping = Flow { protocol: Protocol::Icmp, ..tcp("10.1.0.5", 0) };
        assert_eq!(layer.evaluate(&ping).rule.map(|r| r.name.as_str()), Some("any"));
    }

    proptest! {
        /// The layer decides as a brute-force scan of every rule does: the matching rule with
        /// the lowest priority, else the default.
        #[test]
        fn layer_agrees_with_brute_force(
            specs in proptest::collection::vec((100u32..200, any::<bool>(), 0u8..4, proptest::option::of(0u16..4)), 0..30),
            probes in proptest::collection::vec((0u8..6, 0u16..5), 1..20),
        ) {
            let prefixes = ["10.0.0.0/8", "10.1.0.0/16", "10.1.1.0/24", "192.168.0.0/16"];
            let mut seen = std::collections::HashSet::new();
            let rules: Vec<Rule<bool>> = specs
                .iter()
                .filter(|(p, ..)| seen.insert(*p))
                .enumerate()
                .map(|(i, (prio, allow, dst, port))| {
                    rule(*prio, &format!("r{i}"), set(&[prefixes[usize::from(*dst)]]), *port, *allow)
                })
                .collect();
            let layer = Layer::new(rules.clone(), false);
            let hosts = ["10.0.0.1", "10.1.0.1", "10.1.1.1", "192.168.1.1", "8.8.8.8", "10.1.1.200"];
            for (host, port) in probes {
                let flow = tcp(hosts[usize::from(host)], port);
                let mut best: Option<&Rule<bool>> = None;
                for r in &rules {
                    if r.matcher.matches(&flow) && best.is_none_or(|b| r.priority < b.priority) {
                        best = Some(r);
                    }
                }
                let d = layer.evaluate(&flow);
                prop_assert_eq!(d.rule.map(|r| &r.name), best.map(|r| &r.name));
                prop_assert_eq!(*d.action, best.map(|r| r.action).unwrap_or(false));
            }
        }
    }
}
