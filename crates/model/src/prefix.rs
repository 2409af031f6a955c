//! Address prefixes, parsed once and always canonical: `10.0.0.1/24` is refused, as Azure refuses it,
//! instead of being silently truncated.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("'{0}' is not a valid address prefix in CIDR notation (such as 10.0.0.0/16 or fd00::/48)")]
    Syntax(String),
    #[error("'{given}' has bits set after the prefix length; for that length the prefix is {canonical}")]
    NotCanonical { given: String, canonical: String },
}

/// A canonical IPv4 or IPv6 prefix (no host bits set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(IpNet);

impl Prefix {
    pub fn parse(s: &str) -> Result<Prefix, PrefixError> {
        let trimmed = s.trim();
        if !trimmed.contains('/') {
            return Err(PrefixError::Syntax(s.to_owned()));
        }
        let net: IpNet = trimmed.parse().map_err(|_| PrefixError::Syntax(s.to_owned()))?;
        if net.trunc() != net {
            return Err(PrefixError::NotCanonical { given: s.to_owned(), canonical: net.trunc().to_string() });
        }
        Ok(Prefix(net))
    }

    /// Builds a prefix from a network, dropping host bits.
    pub fn new_truncated(net: IpNet) -> Prefix {
        Prefix(net.trunc())
    }

    /// The single-address prefix of `ip` (a /32 or /128).
    pub fn host(ip: IpAddr) -> Prefix {
        Prefix(IpNet::from(ip))
    }

    pub fn net(&self) -> IpNet {
        self.0
    }

    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    pub fn broadcast(&self) -> IpAddr {
        self.0.broadcast()
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, IpNet::V4(_))
    }

    pub fn is_ipv6(&self) -> bool {
        !self.is_ipv4()
    }

    pub fn contains_addr(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }

    /// Whether `other` lies wholly inside `self` (a prefix contains itself).
    pub fn contains(&self, other: &Prefix) -> bool {
        self.0.contains(&other.0)
    }

    /// Whether the two prefixes share at least one address. CIDR blocks either nest or are disjoint.
    pub fn overlaps(&self, other: &Prefix) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The number of addresses, saturating at `u128::MAX`.
    pub fn size(&self) -> u128 {
        let bits = if self.is_ipv4() { 32 } else { 128 };
        let host_bits = u32::from(bits - self.prefix_len());
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    /// The `n`-th address of the prefix, if it has that many.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        if n >= self.size() {
            return None;
        }
        match self.0 {
            IpNet::V4(v4) => {
                let base = u32::from(v4.network());
                Some(IpAddr::V4((base + u32::try_from(n).ok()?).into()))
            }
            IpNet::V6(v6) => {
                let base = u128::from(v6.network());
                Some(IpAddr::V6((base + n).into()))
            }
        }
    }

    /// The position of `ip` inside the prefix, if it is inside.
    pub fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        if !self.contains_addr(ip) {
            return None;
        }
        match (self.0, ip) {
            (IpNet::V4(net), IpAddr::V4(a)) => Some(u128::from(u32::from(a) - u32::from(net.network()))),
            (IpNet::V6(net), IpAddr::V6(a)) => Some(u128::from(a) - u128::from(net.network())),
            _ => None,
        }
    }
}

/// Every pair `(a, b)` with `a` from `left` and `b` from `right` that overlap.
pub fn overlapping_pairs<'a>(left: &'a [Prefix], right: &'a [Prefix]) -> impl Iterator<Item = (Prefix, Prefix)> + 'a {
    left.iter().flat_map(move |a| right.iter().filter(move |b| a.overlaps(b)).map(move |b| (*a, *b)))
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Prefix::parse(s)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Prefix::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        Prefix::parse(s).unwrap()
    }

    #[test]
    fn refuses_host_bits_and_garbage() {
        assert_eq!(
            Prefix::parse("10.0.0.1/24"),
            Err(PrefixError::NotCanonical { given: "10.0.0.1/24".into(), canonical: "10.0.0.0/24".into() })
        );
        for bad in ["10.0.0.0", "10.0.0.300/24", "abc", "10.0.0.0/33", "", "fd00::/129", "10.0.0.0/-1"] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(p("fd00:db8::/48").to_string(), "fd00:db8::/48");
    }

    #[test]
    fn overlap_is_nesting() {
        assert!(p("10.0.0.0/16").overlaps(&p("10.0.1.0/24")));
        assert!(p("10.0.1.0/24").overlaps(&p("10.0.0.0/16")));
        assert!(!p("10.0.0.0/16").overlaps(&p("10.1.0.0/16")));
        assert!(!p("10.0.0.0/8").overlaps(&p("fd00::/8")));
        let pairs: Vec<_> = overlapping_pairs(&[p("10.0.0.0/16"), p("10.2.0.0/16")], &[p("10.2.3.0/24")]).collect();
        assert_eq!(pairs, vec![(p("10.2.0.0/16"), p("10.2.3.0/24"))]);
    }

    #[test]
    fn addresses_by_position() {
        let s = p("10.1.2.0/24");
        assert_eq!(s.size(), 256);
        assert_eq!(s.nth(4).unwrap().to_string(), "10.1.2.4");
        assert_eq!(s.nth(256), None);
        assert_eq!(s.offset_of("10.1.2.255".parse().unwrap()), Some(255));
        assert_eq!(p("::/0").size(), u128::MAX);
        assert_eq!(p("fd00::/64").nth(5).unwrap().to_string(), "fd00::5");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Prefix::parse(&s);
        }

        #[test]
        fn overlap_matches_address_sets(a in 0u32..=u32::MAX, la in 0u8..=32, b in 0u32..=u32::MAX, lb in 0u8..=32) {
            let pa = Prefix::new_truncated(IpNet::V4(ipnet::Ipv4Net::new(a.into(), la).unwrap()));
            let pb = Prefix::new_truncated(IpNet::V4(ipnet::Ipv4Net::new(b.into(), lb).unwrap()));
            // Naive oracle: two ranges [start, end] intersect.
            let range = |p: &Prefix| {
                let IpAddr::V4(n) = p.network() else { unreachable!() };
                let IpAddr::V4(e) = p.broadcast() else { unreachable!() };
                (u32::from(n), u32::from(e))
            };
            let (s1, e1) = range(&pa);
            let (s2, e2) = range(&pb);
            proptest::prop_assert_eq!(pa.overlaps(&pb), s1 <= e2 && s2 <= e1);
        }
    }
}
