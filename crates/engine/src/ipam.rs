//! Address management inside subnets and in the public pool. Azure reserves the first four
//! addresses and the last address of every subnet.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use vnetlab_model::{IpVersion, Kind, Prefix, ResourceId, Subnet, View};

/// Whether Azure reserves `ip` in `prefix` (network address, .1 gateway, .2 and .3 DNS, last).
pub fn is_reserved(prefix: &Prefix, ip: IpAddr) -> bool {
    match prefix.offset_of(ip) {
        Some(offset) => offset < 4 || offset == prefix.size() - 1,
        None => false,
    }
}

/// Addresses in use in a subnet, each with the IP configuration holding it.
pub fn used_addresses(view: &impl View, subnet: &ResourceId) -> BTreeMap<IpAddr, ResourceId> {
    let mut used = BTreeMap::new();
    for nic in view.referrers(subnet, Kind::NetworkInterface) {
        if let Some(n) = nic.resource.as_network_interface() {
            for c in n.properties.ip_configurations.iter().filter(|c| &c.properties.subnet.id == subnet) {
                used.insert(c.properties.private_ip_address, c.id.clone());
            }
        }
    }
    for gw in view.referrers(subnet, Kind::VirtualNetworkGateway) {
        if let Some(g) = gw.resource.as_virtual_network_gateway() {
            for a in &g.properties.bgp_settings.bgp_peering_addresses {
                for ip in a.default_bgp_ip_addresses.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
                    used.insert(ip, a.ipconfiguration_id.clone());
                }
            }
        }
    }
    used
}

/// The IP configurations that use a subnet (NICs and gateways), in id order.
pub fn subnet_users(view: &impl View, subnet: &ResourceId) -> Vec<ResourceId> {
    let mut users: Vec<ResourceId> = Vec::new();
    for nic in view.referrers(subnet, Kind::NetworkInterface) {
        if let Some(n) = nic.resource.as_network_interface() {
            users.extend(
                n.properties
                    .ip_configurations
                    .iter()
                    .filter(|c| &c.properties.subnet.id == subnet)
                    .map(|c| c.id.clone()),
            );
        }
    }
    for gw in view.referrers(subnet, Kind::VirtualNetworkGateway) {
        if let Some(g) = gw.resource.as_virtual_network_gateway() {
            users.extend(
                g.properties
                    .ip_configurations
                    .iter()
                    .filter(|c| &c.properties.subnet.id == subnet)
                    .map(|c| c.id.clone()),
            );
        }
    }
    users
}

/// The lowest free, unreserved address of `version` in the subnet.
pub fn first_free(
    subnet: &Subnet,
    version: IpVersion,
    used: &BTreeMap<IpAddr, ResourceId>,
    taken: &HashSet<IpAddr>,
) -> Option<IpAddr> {
    for prefix in subnet.prefixes().iter().filter(|p| version.matches(p)) {
        let last = prefix.size() - 1;
        let mut offset = 4u128;
        while offset < last {
            let ip = prefix.nth(offset)?;
            if !used.contains_key(&ip) && !taken.contains(&ip) {
                return Some(ip);
            }
            offset += 1;
        }
    }
    None
}

/// The lowest address of `pool` not in `used`, skipping the pool's network address.
pub fn first_free_in_pool(pool: &Prefix, used: &HashSet<IpAddr>) -> Option<IpAddr> {
    let mut offset = 1u128;
    while offset < pool.size() {
        let ip = pool.nth(offset)?;
        if !used.contains(&ip) {
            return Some(ip);
        }
        offset += 1;
    }
    None
}

/// Public addresses already handed out: public IPs and on-premises gateway addresses.
pub fn public_addresses_in_use(view: &impl View) -> HashSet<IpAddr> {
    let mut used = HashSet::new();
    for pip in view.all_of(Kind::PublicIpAddress) {
        if let Some(ip) = pip.resource.as_public_ip_address().and_then(|p| p.properties.ip_address) {
            used.insert(ip);
        }
    }
    for lgw in view.all_of(Kind::LocalNetworkGateway) {
        if let Some(ip) = lgw.resource.as_local_network_gateway().and_then(|l| l.properties.gateway_ip_address) {
            used.insert(ip);
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses() {
        let p = Prefix::parse("10.0.1.0/24").unwrap();
        for (ip, reserved) in [
            ("10.0.1.0", true),
            ("10.0.1.1", true),
            ("10.0.1.3", true),
            ("10.0.1.4", false),
            ("10.0.1.254", false),
            ("10.0.1.255", true),
            ("10.0.2.1", false),
        ] {
            assert_eq!(is_reserved(&p, ip.parse().unwrap()), reserved, "{ip}");
        }
    }
}
