//! ARM JSON for a stored resource, as a GET returns it: children back inline (subnets and peerings
//! in their VNet, rules in their NSG, routes in their table), read-only back-references filled in
//! (which NICs use a subnet, which VM owns a NIC), and the etag.

use serde_json::{Map, Value, json};

use crate::id::ResourceId;
use crate::kind::Kind;
use crate::resources::{
    GATEWAY_IP_CONFIGURATION_TYPE, NIC_IP_CONFIGURATION_TYPE, Resource, Stored, default_security_rules,
};
use crate::state::View;

/// The resource's ARM body.
pub fn render(view: &(impl View + ?Sized), stored: &Stored) -> Value {
    render_with_etag(view, stored, &stored.etag)
}

fn render_with_etag(view: &(impl View + ?Sized), stored: &Stored, etag: &str) -> Value {
    let mut body = match serde_json::to_value(&stored.resource) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let kind = stored.kind();
    if kind.is_directory() {
        // Directory objects are shown as they are, without a secret's digest; a role assignment
        // with the id ARM gives it.
        body.shift_remove("secretDigest");
        if let Resource::RoleAssignment(a) = &stored.resource {
            body.insert("id".into(), Value::String(a.arm_id()));
        }
        return Value::Object(body);
    }
    if !matches!(kind, Kind::Tenant | Kind::Subscription | Kind::ResourceGroup) {
        body.insert("etag".into(), Value::String(etag.to_owned()));
    }
    if matches!(kind, Kind::Tenant | Kind::Subscription) {
        body.shift_remove("type");
    }
    let id = stored.id();
    let refs = |kind: Kind| -> Vec<Value> { view.referrers(id, kind).iter().map(|s| json!({"id": s.id()})).collect() };
    let props = properties(&mut body);
    match &stored.resource {
        Resource::VirtualNetwork(_) => {
            let children = |kind: Kind| -> Vec<Value> {
                view.children_of(id, kind).iter().map(|c| render_with_etag(view, c, etag)).collect()
            };
            props.insert("subnets".into(), Value::Array(children(Kind::Subnet)));
            props.insert("virtualNetworkPeerings".into(), Value::Array(children(Kind::VirtualNetworkPeering)));
            // As Azure answers: no DHCP options without DNS servers, VM protection only when on.
            if props
                .get("dhcpOptions")
                .and_then(|d| d.get("dnsServers"))
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                props.shift_remove("dhcpOptions");
            }
            if props.get("enableVmProtection") == Some(&Value::Bool(false)) {
                props.shift_remove("enableVmProtection");
            }
        }
        Resource::Subnet(_) => {
            props.entry("delegations").or_insert_with(|| json!([]));
            let mut users: Vec<Value> = Vec::new();
            for nic in view.referrers(id, Kind::NetworkInterface) {
                if let Some(n) = nic.resource.as_network_interface() {
                    users.extend(
                        n.properties
                            .ip_configurations
                            .iter()
                            .filter(|c| &c.properties.subnet.id == id)
                            .map(|c| json!({"id": c.id})),
                    );
                }
            }
            for gw in view.referrers(id, Kind::VirtualNetworkGateway) {
                if let Some(g) = gw.resource.as_virtual_network_gateway() {
                    users.extend(
                        g.properties
                            .ip_configurations
                            .iter()
                            .filter(|c| &c.properties.subnet.id == id)
                            .map(|c| json!({"id": c.id})),
                    );
                }
            }
            if !users.is_empty() {
                props.insert("ipConfigurations".into(), Value::Array(users));
            }
        }
        Resource::VirtualNetworkPeering(p) => {
            // As Azure answers: the local spaces and the IPv6-only flag come with subnet peering.
            if p.properties.peer_complete_vnets {
                props.shift_remove("localAddressSpace");
                props.shift_remove("localVirtualNetworkAddressSpace");
                props.shift_remove("enableOnlyIPv6Peering");
            }
            props.insert("routeServiceVips".into(), json!({}));
            for space in [
                "localAddressSpace",
                "localVirtualNetworkAddressSpace",
                "remoteAddressSpace",
                "remoteVirtualNetworkAddressSpace",
            ] {
                if let Some(Value::Object(s)) = props.get_mut(space) {
                    s.entry("ipamPoolPrefixAllocations").or_insert_with(|| json!([]));
                }
            }
        }
        Resource::NetworkSecurityGroup(_) => {
            let rules: Vec<Value> =
                view.children_of(id, Kind::SecurityRule).iter().map(|c| render_with_etag(view, c, etag)).collect();
            let defaults: Vec<Value> = default_security_rules(id)
                .into_iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .map(|mut v| {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("etag".into(), Value::String(etag.to_owned()));
                        o.insert("type".into(), json!("Microsoft.Network/networkSecurityGroups/defaultSecurityRules"));
                    }
                    v
                })
                .collect();
            props.insert("securityRules".into(), Value::Array(rules));
            props.insert("defaultSecurityRules".into(), Value::Array(defaults));
            let subnets = refs(Kind::Subnet);
            if !subnets.is_empty() {
                props.insert("subnets".into(), Value::Array(subnets));
            }
            let nics = refs(Kind::NetworkInterface);
            if !nics.is_empty() {
                props.insert("networkInterfaces".into(), Value::Array(nics));
            }
        }
        Resource::RouteTable(_) => {
            let routes: Vec<Value> =
                view.children_of(id, Kind::Route).iter().map(|c| render_with_etag(view, c, etag)).collect();
            props.insert("routes".into(), Value::Array(routes));
            let subnets = refs(Kind::Subnet);
            if !subnets.is_empty() {
                props.insert("subnets".into(), Value::Array(subnets));
            }
        }
        Resource::NetworkInterface(_) => {
            stamp_children(props, "ipConfigurations", NIC_IP_CONFIGURATION_TYPE, etag);
            if let Some(vm) = view.referrers(id, Kind::VirtualMachine).first() {
                props.insert("virtualMachine".into(), json!({"id": vm.id()}));
                let primary = vm.resource.as_virtual_machine().and_then(|v| v.primary_nic_id()) == Some(id);
                props.insert("primary".into(), Value::Bool(primary));
            }
        }
        Resource::VirtualNetworkGateway(_) => {
            stamp_children(props, "ipConfigurations", GATEWAY_IP_CONFIGURATION_TYPE, etag);
        }
        Resource::PublicIpAddress(_) => {
            props.entry("ipTags").or_insert_with(|| json!([]));
            props.entry("ddosSettings").or_insert_with(|| json!({"protectionMode": "VirtualNetworkInherited"}));
            if let Some(user) = public_ip_user(view, id) {
                props.insert("ipConfiguration".into(), json!({"id": user}));
            }
        }
        Resource::Connection(_) => {
            // The shared key is a secret: ARM serves it only through `.../sharedkey`.
            props.shift_remove("sharedKey");
        }
        _ => {}
    }
    Value::Object(body)
}

fn properties(body: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = body.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("entry was just made an object"),
    }
}

/// Nested parts (IP configurations) carry their parent's etag and type, and are updated with it.
fn stamp_children(props: &mut Map<String, Value>, field: &str, arm_type: &str, etag: &str) {
    let state = props.get("provisioningState").cloned();
    if let Some(Value::Array(items)) = props.get_mut(field) {
        for item in items {
            if let Some(o) = item.as_object_mut() {
                o.insert("etag".into(), Value::String(etag.to_owned()));
                o.insert("type".into(), Value::String(arm_type.to_owned()));
                if let (Some(state), Some(Value::Object(p))) = (&state, o.get_mut("properties"))
                    && p.contains_key("provisioningState")
                {
                    p.insert("provisioningState".into(), state.clone());
                }
            }
        }
    }
}

/// The IP configuration (of a NIC or a gateway) that holds a public IP address.
pub fn public_ip_user(view: &(impl View + ?Sized), pip: &ResourceId) -> Option<ResourceId> {
    for nic in view.referrers(pip, Kind::NetworkInterface) {
        if let Some(n) = nic.resource.as_network_interface() {
            for c in &n.properties.ip_configurations {
                if c.properties.public_ip_address.as_ref().is_some_and(|p| &p.id == pip) {
                    return Some(c.id.clone());
                }
            }
        }
    }
    for gw in view.referrers(pip, Kind::VirtualNetworkGateway) {
        if let Some(g) = gw.resource.as_virtual_network_gateway() {
            for c in &g.properties.ip_configurations {
                if c.properties.public_ip_address.as_ref().is_some_and(|p| &p.id == pip) {
                    return Some(c.id.clone());
                }
            }
        }
    }
    None
}
