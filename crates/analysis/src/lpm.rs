//! Longest-prefix match over IPv4 and IPv6 prefixes together: a multibit trie per family
//! (prefix-trie), with one value per prefix.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use vnetlab_model::Prefix;

/// A table of prefixes, each with a value, answering "the most specific prefix that holds this
/// address".
#[derive(Clone)]
pub struct PrefixTable<T> {
    v4: PrefixMap<Ipv4Net, T>,
    v6: PrefixMap<Ipv6Net, T>,
    len: usize,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        PrefixTable { v4: PrefixMap::new(), v6: PrefixMap::new(), len: 0 }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PrefixTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T> PrefixTable<T> {
    pub fn new() -> PrefixTable<T> {
        PrefixTable::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the value of `prefix`, returning the one it replaces.
    pub fn insert(&mut self, prefix: Prefix, value: T) -> Option<T> {
        let old = match prefix.net() {
            IpNet::V4(n) => self.v4.insert(n, value),
            IpNet::V6(n) => self.v6.insert(n, value),
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value stored for exactly `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&T> {
        match prefix.net() {
            IpNet::V4(n) => self.v4.get(&n),
            IpNet::V6(n) => self.v6.get(&n),
        }
    }

    pub fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut T> {
        match prefix.net() {
            IpNet::V4(n) => self.v4.get_mut(&n),
            IpNet::V6(n) => self.v6.get_mut(&n),
        }
    }

    /// The longest prefix holding `ip`, with its value.
    pub fn lookup(&self, ip: IpAddr) -> Option<(Prefix, &T)> {
        match ip {
            IpAddr::V4(a) => {
                let host = Ipv4Net::new(a, 32).ok()?;
                self.v4.get_lpm(&host).map(|(p, v)| (Prefix::new_truncated(IpNet::V4(p)), v))
            }
            IpAddr::V6(a) => {
                let host = Ipv6Net::new(a, 128).ok()?;
                self.v6.get_lpm(&host).map(|(p, v)| (Prefix::new_truncated(IpNet::V6(p)), v))
            }
        }
    }

    /// Every prefix and value, IPv4 first, each family in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &T)> {
        let v4 = self.v4.iter().map(|(p, v)| (Prefix::new_truncated(IpNet::V4(p)), v));
        let v6 = self.v6.iter().map(|(p, v)| (Prefix::new_truncated(IpNet::V6(p)), v));
        v4.chain(v6)
    }
}

impl<T> FromIterator<(Prefix, T)> for PrefixTable<T> {
    fn from_iter<I: IntoIterator<Item = (Prefix, T)>>(iter: I) -> Self {
        let mut table = PrefixTable::new();
        for (p, v) in iter {
            table.insert(p, v);
        }
        table
    }
}

/// A set of prefixes with a membership test for addresses (the expansion of a service tag, the
/// address space of a VNet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixSet {
    prefixes: Vec<Prefix>,
}

impl PrefixSet {
    pub fn new() -> PrefixSet {
        PrefixSet::default()
    }

    pub fn insert(&mut self, prefix: Prefix) {
        if !self.prefixes.contains(&prefix) {
            self.prefixes.push(prefix);
        }
    }

    pub fn extend(&mut self, prefixes: impl IntoIterator<Item = Prefix>) {
        for p in prefixes {
            self.insert(p);
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.prefixes.iter().any(|p| p.contains_addr(ip))
    }

    pub fn prefixes(&self) -> &[Prefix] {
        &self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

impl FromIterator<Prefix> for PrefixSet {
    fn from_iter<I: IntoIterator<Item = Prefix>>(iter: I) -> Self {
        let mut set = PrefixSet::new();
        set.extend(iter);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The naive answer: scan every prefix, keep the longest that holds the address.
    fn linear<T>(entries: &[(Prefix, T)], ip: IpAddr) -> Option<(Prefix, &T)> {
        entries.iter().filter(|(p, _)| p.contains_addr(ip)).max_by_key(|(p, _)| p.prefix_len()).map(|(p, v)| (*p, v))
    }

    fn p(s: &str) -> Prefix {
        Prefix::parse(s).unwrap()
    }

    #[test]
    fn longest_prefix_wins_across_families() {
        let table: PrefixTable<&str> = [
            (p("0.0.0.0/0"), "internet"),
            (p("10.0.0.0/8"), "none"),
            (p("10.1.0.0/16"), "vnet"),
            (p("fd00::/8"), "v6"),
            (p("fd00:1::/64"), "v6 vnet"),
        ]
        .into_iter()
        .collect();
        let at = |ip: &str| table.lookup(ip.parse().unwrap()).map(|(p, v)| (p.to_string(), *v));
        assert_eq!(at("10.1.2.3"), Some(("10.1.0.0/16".into(), "vnet")));
        assert_eq!(at("10.2.2.3"), Some(("10.0.0.0/8".into(), "none")));
        assert_eq!(at("8.8.8.8"), Some(("0.0.0.0/0".into(), "internet")));
        assert_eq!(at("fd00:1::5"), Some(("fd00:1::/64".into(), "v6 vnet")));
        assert_eq!(at("fd00:2::5"), Some(("fd00::/8".into(), "v6")));
        assert_eq!(at("2001:db8::1"), None);
        assert_eq!(table.len(), 5);
    }

    fn prefix_strategy() -> impl Strategy<Value = Prefix> {
        prop_oneof![
            (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
                Prefix::new_truncated(IpNet::V4(Ipv4Net::new(std::net::Ipv4Addr::from(a), len).unwrap()))
            }),
            (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
                Prefix::new_truncated(IpNet::V6(Ipv6Net::new(std::net::Ipv6Addr::from(a), len).unwrap()))
            }),
        ]
    }

    proptest! {
        /// The trie answers as the linear scan does, for addresses inside the table's prefixes
        /// and for random ones.
        #[test]
        fn trie_agrees_with_linear_scan(
            prefixes in proptest::collection::vec(prefix_strategy(), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 0..40),
            offsets in proptest::collection::vec(any::<u128>(), 0..40),
        ) {
            let mut entries: Vec<(Prefix, usize)> = Vec::new();
            for (i, p) in prefixes.iter().enumerate() {
                entries.retain(|(q, _)| q != p);
                entries.push((*p, i));
            }
            let table: PrefixTable<usize> = prefixes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
            prop_assert_eq!(table.len(), entries.len());
            let mut ips: Vec<IpAddr> = probes.iter().map(|a| IpAddr::from(std::net::Ipv4Addr::from(*a))).collect();
            for (p, o) in prefixes.iter().zip(offsets.iter()) {
                ips.extend(p.nth(o % p.size().max(1)));
            }
            for ip in ips {
                let fast = table.lookup(ip).map(|(p, v)| (p, *v));
                let slow = linear(&entries, ip).map(|(p, v)| (p, *v));
                prop_assert_eq!(fast, slow, "at {}", ip);
            }
        }
    }
}
