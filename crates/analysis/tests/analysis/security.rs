//! NSG evaluation and IP flow verify, case by case of shared/reference/peering-rules.md §3.

use vnetlab_analysis::azure::{Endpoint, Network};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::{SecurityRuleAccess, SecurityRuleDirection};

use crate::{example, ip_of, nic, up};

use SecurityRuleAccess::{Allow, Deny};
use SecurityRuleDirection::{Inbound, Outbound};

/// IP flow verify on `vm` (its primary address, port `local_port`) with `remote`.
fn verify(
    network: &Network,
    group: &str,
    vm: &str,
    direction: SecurityRuleDirection,
    protocol: Protocol,
    local_port: u16,
    remote: &str,
) -> (SecurityRuleAccess, String) {
    let (remote_ip, remote_port) = remote.rsplit_once(':').unwrap();
    let verdict = network
        .ip_flow_verify(
            nic(network, group, vm),
            direction,
            protocol,
            Endpoint { ip: ip_of(network, group, vm), port: local_port },
            Endpoint { ip: remote_ip.parse().unwrap(), port: remote_port.parse().unwrap() },
        )
        .unwrap();
    (verdict.access, verdict.rule_name)
}

#[test]
fn hub_and_spoke_workload_nsg_rules_decide_in_priority_order() {
    let state = example("hub-and-spoke.yaml");
    let network = Network::compile(&state);
    let g = "hub-and-spoke-rg";
    let spoke1 = ip_of(&network, g, "spoke1-vm").to_string();
    let check = |port: u16, remote: &str| verify(&network, g, "spoke2-vm", Inbound, Protocol::Tcp, port, remote);
    assert_eq!(check(22, &format!("{spoke1}:50000")), (Allow, "securityRules/allow-ssh-from-vnets".into()));
    assert_eq!(check(443, "192.168.4.4:50000"), (Allow, "securityRules/allow-branch-web".into()));
    assert_eq!(check(22, "8.8.8.8:50000"), (Deny, "defaultSecurityRules/DenyAllInBound".into()));
    // The UDR to 10.0.0.0/8 widens the VirtualNetwork tag (azure-docs#22178): RDP from another
    // spoke passes AllowVnetInBound.
    assert_eq!(check(3389, &format!("{spoke1}:50000")), (Allow, "defaultSecurityRules/AllowVnetInBound".into()));
    // Outbound to the internet: AllowInternetOutBound.
    let out = verify(&network, g, "spoke2-vm", Outbound, Protocol::Tcp, 50000, "8.8.8.8:443");
    assert_eq!(out, (Allow, "defaultSecurityRules/AllowInternetOutBound".into()));
    // The load balancer probe address is let in.
    let probe = verify(&network, g, "spoke2-vm", Inbound, Protocol::Tcp, 8080, "168.63.129.16:1000");
    assert_eq!(probe.0, Allow);
}

#[test]
fn a_vm_without_any_nsg_allows_everything() {
    let state = example("sales-marketing.yaml");
    let network = Network::compile(&state);
    let v = verify(&network, "learn-rg", "SalesVM", Inbound, Protocol::Tcp, 22, "8.8.8.8:40000");
    assert_eq!(v, (Allow, String::new()));
}

const BLOCKED_PEERING: &str = "
name: t
resourceGroup: rg
location: westus
vnets:
  - { name: a, addressSpace: [10.1.0.0/16], subnets: [{ name: s, addressPrefix: 10.1.1.0/24, nsg: a-nsg }] }
  - { name: b, addressSpace: [10.2.0.0/16], subnets: [{ name: s, addressPrefix: 10.2.1.0/24, nsg: b-nsg }] }
nsgs:
  - name: a-nsg
  - name: b-nsg
    rules: __RULES__
vms:
  - { name: vm-a, subnet: a/s }
  - { name: vm-b, subnet: b/s }
peerings:
  - vnet: a
    remote: b
    allowVirtualNetworkAccess: __ACCESS__
    reverse: { allowVirtualNetworkAccess: __ACCESS__ }
";

fn blocked(access: bool, rules: &str) -> Network {
    let text = BLOCKED_PEERING.replace("__ACCESS__", &access.to_string()).replace("__RULES__", rules);
    Network::compile(&up(&text))
}

#[test]
fn allow_virtual_network_access_false_removes_the_peer_from_the_virtual_network_tag() {
    let network = blocked(true, "[]");
    let a = ip_of(&network, "rg", "vm-a");
    let b = ip_of(&network, "rg", "vm-b");
    let inbound = verify(&network, "rg", "vm-b", Inbound, Protocol::Tcp, 22, &format!("{a}:40000"));
    assert_eq!(inbound, (Allow, "defaultSecurityRules/AllowVnetInBound".into()));

    let network = blocked(false, "[]");
    let inbound = verify(&network, "rg", "vm-b", Inbound, Protocol::Tcp, 22, &format!("{a}:40000"));
    assert_eq!(inbound, (Deny, "defaultSecurityRules/DenyAllInBound".into()));
    let outbound = verify(&network, "rg", "vm-a", Outbound, Protocol::Tcp, 40000, &format!("{b}:22"));
    assert_eq!(outbound, (Deny, "defaultSecurityRules/DenyAllOutBound".into()));
    // The routes stay: the flag is a filter, not a routing change (1.19).
    let hop = network.next_hop(nic(&network, "rg", "vm-a"), None, b).unwrap();
    assert_eq!(hop.next_hop_type, vnetlab_analysis::azure::NextHopAnswerType::VnetPeering);

    // An explicit rule with the peer's prefix lets traffic in again.
    let rules = "[{ name: allow-a, priority: 100, direction: Inbound, access: Allow, protocol: Tcp, source: 10.1.0.0/16, destinationPorts: '22' }]";
    let network = blocked(false, rules);
    let inbound = verify(&network, "rg", "vm-b", Inbound, Protocol::Tcp, 22, &format!("{a}:40000"));
    assert_eq!(inbound, (Allow, "securityRules/allow-a".into()));
}

#[test]
fn an_nsg_deny_on_the_peered_range_blocks_and_a_higher_priority_allow_wins() {
    let rules = "[
      { name: deny-peer, priority: 200, direction: Inbound, access: Deny, protocol: '*', source: 10.1.0.0/16 },
      { name: allow-web, priority: 100, direction: Inbound, access: Allow, protocol: Tcp, source: 10.1.0.0/16, destinationPorts: '80' }
    ]";
    let network = blocked(true, rules);
    let a = ip_of(&network, "rg", "vm-a");
    let check = |protocol, port| verify(&network, "rg", "vm-b", Inbound, protocol, port, &format!("{a}:40000"));
    assert_eq!(check(Protocol::Tcp, 22), (Deny, "securityRules/deny-peer".into()));
    assert_eq!(check(Protocol::Tcp, 80), (Allow, "securityRules/allow-web".into()));
    assert_eq!(check(Protocol::Icmp, 0), (Deny, "securityRules/deny-peer".into()));
}

#[test]
fn subnet_gate_then_nic_gate_inbound_and_nic_then_subnet_outbound() {
    let state = up("
name: t
resourceGroup: rg
location: westus
vnets:
  - { name: v, addressSpace: [10.1.0.0/16], subnets: [{ name: s, addressPrefix: 10.1.1.0/24, nsg: subnet-nsg }] }
nsgs:
  - name: subnet-nsg
    rules:
      - { name: subnet-allow-ssh, priority: 100, direction: Inbound, access: Allow, protocol: Tcp, destinationPorts: '22' }
      - { name: subnet-deny-out-web, priority: 100, direction: Outbound, access: Deny, protocol: Tcp, destinationPorts: '80' }
  - name: nic-nsg
    rules:
      - { name: nic-deny-ssh, priority: 100, direction: Inbound, access: Deny, protocol: Tcp, destinationPorts: '22' }
      - { name: nic-deny-out-ftp, priority: 100, direction: Outbound, access: Deny, protocol: Tcp, destinationPorts: '21' }
vms:
  - { name: vm, subnet: v/s, nsg: nic-nsg }
");
    let network = Network::compile(&state);
    let vm = nic(&network, "rg", "vm");
    let ip = ip_of(&network, "rg", "vm");
    // Inbound: the subnet allows, then the NIC denies.
    let v = network
        .ip_flow_verify(
            vm,
            Inbound,
            Protocol::Tcp,
            vnetlab_analysis::azure::Endpoint { ip, port: 22 },
            vnetlab_analysis::azure::Endpoint { ip: "8.8.8.8".parse().unwrap(), port: 4000 },
        )
        .unwrap();
    let gates: Vec<(String, SecurityRuleAccess)> = v.gates.iter().map(|g| (g.rule_name.clone(), g.access)).collect();
    assert_eq!(gates, [("securityRules/subnet-allow-ssh".into(), Allow), ("securityRules/nic-deny-ssh".into(), Deny)]);
    // Outbound: the NIC gate first; its deny stops evaluation.
    let v = verify(&network, "rg", "vm", Outbound, Protocol::Tcp, 4000, "8.8.8.8:21");
    assert_eq!(v, (Deny, "securityRules/nic-deny-out-ftp".into()));
    let v = verify(&network, "rg", "vm", Outbound, Protocol::Tcp, 4000, "8.8.8.8:80");
    assert_eq!(v, (Deny, "securityRules/subnet-deny-out-web".into()));
}

#[test]
fn effective_security_groups_list_each_association_with_expanded_tags() {
    let state = example("hub-and-spoke.yaml");
    let network = Network::compile(&state);
    let vm = nic(&network, "hub-and-spoke-rg", "spoke1-vm");
    let listed = network.effective_security_groups(&state, vm).unwrap();
    let groups = listed["value"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{listed:#}");
    let group = &groups[0];
    assert!(group["association"]["subnet"]["id"].as_str().unwrap().ends_with("/subnets/workload"));
    let rules = group["effectiveSecurityRules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names[..2], ["securityRules/allow-ssh-from-vnets", "securityRules/allow-branch-web"]);
    assert!(names.contains(&"defaultSecurityRules/DenyAllInBound"));
    let vnet_in = rules.iter().find(|r| r["name"] == "defaultSecurityRules/AllowVnetInBound").unwrap();
    let expanded: Vec<&str> =
        vnet_in["expandedSourceAddressPrefix"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for p in ["10.1.0.0/16", "10.0.0.0/16", "10.0.0.0/8", "192.168.0.0/16", "168.63.129.16/32"] {
        assert!(expanded.contains(&p), "{p} missing from {expanded:?}");
    }
    let internet = rules.iter().find(|r| r["name"] == "defaultSecurityRules/AllowInternetOutBound").unwrap();
    assert_eq!(internet["protocol"], "All");
    assert_eq!(internet["destinationPortRange"], "0-65535");
    assert!(internet["expandedDestinationAddressPrefix"].as_array().unwrap().len() > 5);
}
