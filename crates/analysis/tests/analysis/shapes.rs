//! The answers have the shapes of the official Network Watcher examples
//! (shared/reference/examples: NetworkInterfaceEffectiveRouteTableList,
//! NetworkInterfaceEffectiveNSGList, NetworkWatcherNextHopGet, NetworkWatcherIpFlowVerify,
//! NetworkWatcherConnectivityCheck): every property the example has, with the same JSON type.

use serde_json::Value;
use vnetlab_analysis::azure::trace::{Probe, TraceEnd, Tracer};
use vnetlab_analysis::azure::{Endpoint, Network};
use vnetlab_analysis::layers::Protocol;
use vnetlab_model::SecurityRuleDirection;

use crate::{example, ip_of, nic};

const G: &str = "hub-and-spoke-rg";

/// Every key of `keys` is in `value` with the JSON type named (s: string, n: number, b: bool,
/// a: array, o: object).
#[track_caller]
fn has(value: &Value, keys: &[(&str, char)]) {
    for (key, kind) in keys {
        let v = value.get(key).unwrap_or_else(|| panic!("no '{key}' in {value}"));
        let ok = match kind {
            's' => v.is_string(),
            'n' => v.is_number(),
            'b' => v.is_boolean(),
            'a' => v.is_array(),
            'o' => v.is_object(),
            _ => false,
        };
        assert!(ok, "'{key}' is not of type {kind}: {v}");
    }
}

#[test]
fn every_answer_has_the_properties_of_the_official_examples() {
    let state = example("hub-and-spoke.yaml");
    let network = Network::compile(&state);
    let spoke1 = nic(&network, G, "spoke1-vm");
    let routes = network.effective_routes(spoke1).unwrap();
    for r in routes {
        has(
            &r.to_json(),
            &[("addressPrefix", 'a'), ("nextHopIpAddress", 'a'), ("nextHopType", 's'), ("source", 's'), ("state", 's')],
        );
    }
    let groups = network.effective_security_groups(&state, spoke1).unwrap();
    let first = &groups["value"][0];
    has(first, &[("association", 'o'), ("effectiveSecurityRules", 'a'), ("networkSecurityGroup", 'o')]);
    has(&first["association"], &[("subnet", 'o')]);
    for rule in first["effectiveSecurityRules"].as_array().unwrap() {
        has(
            rule,
            &[
                ("access", 's'),
                ("destinationAddressPrefix", 's'),
                ("destinationPortRange", 's'),
                ("direction", 's'),
                ("name", 's'),
                ("priority", 'n'),
                ("protocol", 's'),
                ("sourceAddressPrefix", 's'),
                ("sourcePortRange", 's'),
            ],
        );
    }
    let hop = network.next_hop(spoke1, None, "10.2.1.4".parse().unwrap()).unwrap().to_json();
    has(&hop, &[("nextHopIpAddress", 's'), ("nextHopType", 's'), ("routeTableId", 's')]);
    let local = Endpoint { ip: ip_of(&network, G, "spoke1-vm"), port: 22 };
    let remote = Endpoint { ip: "10.2.1.4".parse().unwrap(), port: 50000 };
    let flow = network.ip_flow_verify(spoke1, SecurityRuleDirection::Inbound, Protocol::Tcp, local, remote).unwrap();
    has(&flow.to_json(), &[("access", 's'), ("ruleName", 's')]);

    let tracer = Tracer::new(&network, &state);
    let from = TraceEnd::Nic { nic: spoke1.id.clone(), ip: local.ip };
    let to = TraceEnd::Nic { nic: nic(&network, G, "spoke2-vm").id.clone(), ip: remote.ip };
    let answer = tracer.connectivity(&tracer.trace(&from, &to, Probe { protocol: Protocol::Tcp, port: 22 }).unwrap());
    has(
        &answer,
        &[
            ("hops", 'a'),
            ("connectionStatus", 's'),
            ("avgLatencyInMs", 'n'),
            ("minLatencyInMs", 'n'),
            ("maxLatencyInMs", 'n'),
            ("probesSent", 'n'),
            ("probesFailed", 'n'),
        ],
    );
    for h in answer["hops"].as_array().unwrap() {
        has(
            h,
            &[("type", 's'), ("id", 's'), ("address", 's'), ("resourceId", 's'), ("nextHopIds", 'a'), ("issues", 'a')],
        );
    }
}
