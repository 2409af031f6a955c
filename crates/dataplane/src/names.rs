//! Names of the kernel objects the data plane makes. Everything carries the `vl` prefix, so
//! that `vnetlab down` (and a reader of `ip netns`) can tell vnetlab's objects from others,
//! and every name derives from a resource id alone: the reconciler needs no record of its own,
//! the kernel is the record.

use std::fmt::Write;

/// Prefix of every network namespace vnetlab makes.
pub const NAMESPACE_PREFIX: &str = "vl-";
/// Prefix of every interface vnetlab names in a fabric.
pub const LINK_PREFIX: &str = "vl";
/// The nftables table vnetlab owns in each fabric.
pub const TABLE: &str = "vnetlab";
/// Routing tables of subnets live at and above this id (below it are the kernel's).
pub const FIRST_TABLE: u32 = 0x0010_0000;
/// Priority of the `iif <port> lookup <subnet table>` rules.
pub const RULE_IIF_PRIORITY: u32 = 1000;
/// Priority of the `oif <port> lookup <subnet table>` rules (answers of the fabric's own
/// services, such as DNS, leave through the asker's port).
pub const RULE_OIF_PRIORITY: u32 = 1001;
/// The address of Azure's platform services (DNS) inside every VNet.
pub const PLATFORM_ADDRESS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(168, 63, 129, 16);

/// 64-bit FNV-1a: stable across runs and builds, unlike std's hasher.
pub fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hex(value: u64, digits: usize) -> String {
    let mut s = String::with_capacity(digits);
    let _ = write!(s, "{value:016x}");
    s.truncate(digits);
    s
}

/// The fabric namespace of a host.
pub fn fabric(host: &str) -> String {
    format!("{NAMESPACE_PREFIX}fabric-{}", sanitize(host, 20))
}

/// The namespace where the fabrics of several hosts meet, and where the data plane's agent
/// lives: it exists whenever the data plane is up.
pub fn underlay() -> String {
    format!("{NAMESPACE_PREFIX}underlay")
}

/// The namespace where gateways and on-premises sites meet: their internet.
pub fn internet() -> String {
    format!("{NAMESPACE_PREFIX}internet")
}

/// The namespace of a VM (or of a gateway or site), readable and unique: `vl-<name>-<hash>`.
pub fn namespace(kind: &str, name: &str, id: &str) -> String {
    format!("{NAMESPACE_PREFIX}{kind}{}-{}", sanitize(name, 24), hex(hash(id), 6))
}

/// The fabric end of a NIC's veth pair (at most 15 bytes: `vl` and ten hex digits).
pub fn port(id: &str) -> String {
    format!("{LINK_PREFIX}{}", hex(hash(id), 10))
}

/// A locally administered unicast MAC derived from `seed`.
pub fn mac(seed: &str) -> [u8; 6] {
    let h = hash(seed).to_be_bytes();
    [0x02, h[1], h[2], h[3], h[4], h[5]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Lower-case letters, digits and dashes, at most `max` bytes.
pub fn sanitize(name: &str, max: usize) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    out.truncate(max);
    out
}

/// A short name for a chain, set or counter in vnetlab's nftables table.
pub fn object(kind: &str, id: &str) -> String {
    format!("{kind}-{}", hex(hash(id), 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel() {
        let id =
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/a-very-long-nic-name";
        assert!(port(id).len() <= 15);
        assert!(port(id).starts_with(LINK_PREFIX));
        assert_eq!(port(id), port(&id.to_uppercase()), "ids compare case-insensitively");
        let ns = namespace("", "Sales VM/1", id);
        assert!(ns.starts_with("vl-sales-vm-1-"), "{ns}");
        let m = mac("x");
        assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast");
    }
}
