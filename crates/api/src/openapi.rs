//! The OpenAPI document of this server (`GET /openapi.json`): every path the router serves, built
//! from the same kinds and routes, with the request bodies the parsers read. Path parameters name
//! this lab's subscriptions, so generated requests reach the resources rather than stopping at
//! `SubscriptionNotFound`.

use serde_json::{Map, Value, json};
use vnetlab_model::{Kind, View};

use crate::App;
use crate::http::{Reply, Request};

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn object(fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    json!({"type": "object", "properties": properties})
}

fn reference() -> Value {
    object(&[("id", string())])
}

fn tracked(properties: Value) -> Value {
    let mut schema = object(&[
        ("location", json!({"type": "string", "enum": ["westus", "eastus", "westeurope", "moon"]})),
        ("tags", json!({"type": "object", "additionalProperties": {"type": "string"}})),
        ("properties", properties),
    ]);
    schema["required"] = json!(["location"]);
    schema
}

fn subnet() -> Value {
    object(&[
        ("name", string()),
        (
            "properties",
            object(&[
                ("addressPrefix", string()),
                ("addressPrefixes", strings()),
                ("networkSecurityGroup", reference()),
                ("routeTable", reference()),
            ]),
        ),
    ])
}

fn security_rule() -> Value {
    object(&[
        ("name", string()),
        (
            "properties",
            object(&[
                ("protocol", one_of(&["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"])),
                ("access", one_of(&["Allow", "Deny"])),
                ("direction", one_of(&["Inbound", "Outbound"])),
                ("priority", json!({"type": "integer"})),
                ("sourcePortRange", string()),
                ("destinationPortRange", string()),
                ("destinationPortRanges", strings()),
                ("sourceAddressPrefix", string()),
                ("destinationAddressPrefix", string()),
            ]),
        ),
    ])
}

fn route() -> Value {
    object(&[
        ("name", string()),
        (
            "properties",
            object(&[
                ("addressPrefix", string()),
                (
                    "nextHopType",
                    one_of(&["VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None"]),
                ),
                ("nextHopIpAddress", string()),
            ]),
        ),
    ])
}

/// The body a PUT of `kind` takes.
fn body_schema(kind: Kind) -> Value {
    match kind {
        Kind::ResourceGroup => tracked(json!({"type": "object"})),
        Kind::VirtualNetwork => tracked(object(&[
            ("addressSpace", object(&[("addressPrefixes", strings())])),
            ("dhcpOptions", object(&[("dnsServers", strings())])),
            ("enableDdosProtection", boolean()),
            ("subnets", json!({"type": "array", "items": subnet()})),
        ])),
        Kind::Subnet => subnet(),
        Kind::VirtualNetworkPeering => object(&[(
            "properties",
            object(&[
                ("remoteVirtualNetwork", reference()),
                ("allowVirtualNetworkAccess", boolean()),
                ("allowForwardedTraffic", boolean()),
                ("allowGatewayTransit", boolean()),
                ("useRemoteGateways", boolean()),
                ("peerCompleteVnets", boolean()),
                ("enableOnlyIPv6Peering", boolean()),
                ("localSubnetNames", strings()),
                ("remoteSubnetNames", strings()),
            ]),
        )]),
        Kind::NetworkSecurityGroup => {
            tracked(object(&[("securityRules", json!({"type": "array", "items": security_rule()}))]))
        }
        Kind::SecurityRule => security_rule(),
        Kind::RouteTable => tracked(object(&[
            ("routes", json!({"type": "array", "items": route()})),
            ("disableBgpRoutePropagation", boolean()),
        ])),
        Kind::Route => route(),
        Kind::PublicIpAddress => {
            let mut s = tracked(object(&[
                ("publicIPAllocationMethod", one_of(&["Static", "Dynamic"])),
                ("publicIPAddressVersion", one_of(&["IPv4", "IPv6"])),
            ]));
            s["properties"]["sku"] = object(&[("name", one_of(&["Basic", "Standard"]))]);
            s
        }
        Kind::NetworkInterface => tracked(object(&[
            (
                "ipConfigurations",
                json!({"type": "array", "items": object(&[
                    ("name", string()),
                    ("properties", object(&[
                        ("subnet", reference()),
                        ("privateIPAddress", string()),
                        ("privateIPAllocationMethod", one_of(&["Static", "Dynamic"])),
                        ("publicIPAddress", reference()),
                    ])),
                ])}),
            ),
            ("networkSecurityGroup", reference()),
            ("enableIPForwarding", boolean()),
        ])),
        Kind::VirtualNetworkGateway => tracked(object(&[
            ("gatewayType", one_of(&["Vpn", "ExpressRoute"])),
            ("vpnType", one_of(&["RouteBased", "PolicyBased"])),
            ("sku", object(&[("name", one_of(&["Basic", "VpnGw1", "VpnGw2", "ErGw1AZ"]))])),
            ("activeActive", boolean()),
            (
                "ipConfigurations",
                json!({"type": "array", "items": object(&[
                    ("name", string()),
                    ("properties", object(&[("subnet", reference()), ("publicIPAddress", reference())])),
                ])}),
            ),
        ])),
        Kind::LocalNetworkGateway => tracked(object(&[
            ("localNetworkAddressSpace", object(&[("addressPrefixes", strings())])),
            ("gatewayIpAddress", string()),
        ])),
        Kind::Connection => tracked(object(&[
            ("connectionType", one_of(&["IPsec", "Vnet2Vnet", "ExpressRoute"])),
            ("virtualNetworkGateway1", reference()),
            ("virtualNetworkGateway2", reference()),
            ("localNetworkGateway2", reference()),
            ("sharedKey", string()),
        ])),
        Kind::VirtualMachine => tracked(object(&[
            ("hardwareProfile", object(&[("vmSize", string())])),
            (
                "networkProfile",
                object(&[(
                    "networkInterfaces",
                    json!({"type": "array", "items": object(&[("id", string()), ("properties", object(&[("primary", boolean())]))])}),
                )]),
            ),
        ])),
        Kind::NetworkWatcher => tracked(json!({"type": "object"})),
        Kind::Tenant | Kind::Subscription | Kind::Principal | Kind::RoleAssignment => json!({"type": "object"}),
    }
}

fn integer() -> Value {
    json!({"type": "integer"})
}

/// `schema` with `names` among its required properties.
fn requiring(mut schema: Value, names: &[&str]) -> Value {
    schema["required"] = json!(names);
    schema
}

/// `schema`, or `null` where the server has no value to give.
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// One row of a NIC's effective routes (`EffectiveRoute`); `name` is that of a user route, null
/// for the others.
fn effective_route() -> Value {
    requiring(
        object(&[
            ("name", nullable(string())),
            ("disableBgpRoutePropagation", boolean()),
            ("source", one_of(&["Default", "User", "VirtualNetworkGateway", "Unknown"])),
            ("state", one_of(&["Active", "Invalid"])),
            ("addressPrefix", strings()),
            ("nextHopIpAddress", strings()),
            (
                "nextHopType",
                one_of(&[
                    "VnetLocal",
                    "VNetPeering",
                    "VNetGlobalPeering",
                    "Internet",
                    "VirtualAppliance",
                    "VirtualNetworkGateway",
                    "None",
                ]),
            ),
        ]),
        &["source", "state", "addressPrefix", "nextHopIpAddress", "nextHopType"],
    )
}

/// One rule of an effective NSG (`EffectiveNetworkSecurityRule`): ports as ranges, addresses as
/// prefixes or service tags, with the tags' prefixes in the `expanded*` lists.
fn effective_security_rule() -> Value {
    requiring(
        object(&[
            ("name", string()),
            ("protocol", one_of(&["Tcp", "Udp", "Icmp", "Esp", "Ah", "All"])),
            ("sourcePortRange", string()),
            ("destinationPortRange", string()),
            ("sourcePortRanges", strings()),
            ("destinationPortRanges", strings()),
            ("sourceAddressPrefix", string()),
            ("destinationAddressPrefix", string()),
            ("sourceAddressPrefixes", strings()),
            ("destinationAddressPrefixes", strings()),
            ("expandedSourceAddressPrefix", strings()),
            ("expandedDestinationAddressPrefix", strings()),
            ("access", one_of(&["Allow", "Deny"])),
            ("priority", integer()),
            ("direction", one_of(&["Inbound", "Outbound"])),
        ]),
        &["name", "protocol", "access", "priority", "direction"],
    )
}

/// An NSG that applies to a NIC, with where it is attached (`EffectiveNetworkSecurityGroup`).
fn effective_security_group() -> Value {
    requiring(
        object(&[
            ("networkSecurityGroup", reference()),
            ("association", object(&[("subnet", reference()), ("networkInterface", reference())])),
            ("effectiveSecurityRules", array_of(schema_ref("EffectiveNetworkSecurityRule"))),
            ("tagMap", json!({"type": "object", "additionalProperties": strings()})),
        ]),
        &["networkSecurityGroup", "association", "effectiveSecurityRules"],
    )
}

/// `{"value": [...]}` of `item`s, the shape of the two NIC listings.
fn listing(item: &str) -> Value {
    requiring(object(&[("value", array_of(schema_ref(item)))]), &["value"])
}

/// The body of `nextHop` (`NextHopParameters`).
fn next_hop_parameters() -> Value {
    requiring(
        object(&[
            ("targetResourceId", string()),
            ("sourceIPAddress", string()),
            ("destinationIPAddress", string()),
            ("targetNicResourceId", string()),
        ]),
        &["targetResourceId", "sourceIPAddress", "destinationIPAddress"],
    )
}

/// The answer of `nextHop` (`NextHopResult`): `routeTableId` is the user route's table, or
/// `System Route`.
fn next_hop_result() -> Value {
    requiring(
        object(&[
            (
                "nextHopType",
                one_of(&[
                    "Internet",
                    "VirtualAppliance",
                    "VirtualNetworkGateway",
                    "VnetLocal",
                    "VnetPeering",
                    "HyperNetGateway",
                    "None",
                ]),
            ),
            ("nextHopIpAddress", nullable(string())),
            ("routeTableId", string()),
        ]),
        &["nextHopType", "routeTableId"],
    )
}

/// The body of `ipFlowVerify` (`VerificationIPFlowParameters`): ports are numbers or `*`, in
/// strings.
fn ip_flow_parameters() -> Value {
    requiring(
        object(&[
            ("targetResourceId", string()),
            ("direction", one_of(&["Inbound", "Outbound"])),
            ("protocol", one_of(&["TCP", "UDP", "ICMP"])),
            ("localIPAddress", string()),
            ("localPort", string()),
            ("remoteIPAddress", string()),
            ("remotePort", string()),
            ("targetNicResourceId", string()),
        ]),
        &["targetResourceId", "direction", "protocol", "localIPAddress", "localPort", "remoteIPAddress", "remotePort"],
    )
}

/// The answer of `ipFlowVerify` (`VerificationIPFlowResult`): the rule that decided, by its path
/// in the NSG (`securityRules/NAME`, `defaultSecurityRules/NAME`).
fn ip_flow_result() -> Value {
    requiring(object(&[("access", one_of(&["Allow", "Deny"])), ("ruleName", string())]), &["access", "ruleName"])
}

/// The body of `connectivityCheck` (`ConnectivityParameters`): from a VM, to a resource or an
/// address.
fn connectivity_parameters() -> Value {
    requiring(
        object(&[
            ("source", requiring(object(&[("resourceId", string()), ("port", integer())]), &["resourceId"])),
            ("destination", object(&[("resourceId", string()), ("address", string()), ("port", integer())])),
            ("protocol", one_of(&["Tcp", "Http", "Https", "Icmp"])),
            ("preferredIPVersion", one_of(&["IPv4", "IPv6"])),
        ]),
        &["source", "destination"],
    )
}

/// One hop of a connectivity check (`ConnectivityHop`), with what stops traffic there.
fn connectivity_hop() -> Value {
    let issue = object(&[
        ("origin", one_of(&["Local", "Inbound", "Outbound"])),
        ("severity", one_of(&["Error", "Warning"])),
        (
            "type",
            one_of(&[
                "Unknown",
                "AgentStopped",
                "GuestFirewall",
                "DnsResolution",
                "SocketBind",
                "NetworkSecurityRule",
                "UserDefinedRoute",
                "PortThrottled",
                "Platform",
                // Not in the REST enum, but in Azure's documented answers of checks with probes.
                "NoListenerOnDestination",
            ]),
        ),
        ("context", array_of(json!({"type": "object", "additionalProperties": string()}))),
    ]);
    // `HopLink`: present when real probes were sent; `properties` when a round trip was measured.
    let link = object(&[
        ("nextHopId", string()),
        ("linkType", string()),
        ("resourceId", string()),
        ("context", json!({"type": "object", "additionalProperties": string()})),
        ("issues", array_of(issue.clone())),
        (
            "properties",
            object(&[
                ("roundTripTimeMin", integer()),
                ("roundTripTimeAvg", integer()),
                ("roundTripTimeMax", integer()),
            ]),
        ),
    ]);
    requiring(
        object(&[
            ("type", string()),
            ("id", string()),
            ("address", string()),
            ("resourceId", string()),
            ("nextHopIds", strings()),
            ("previousHopIds", strings()),
            ("links", array_of(link.clone())),
            ("previousLinks", array_of(link)),
            ("issues", array_of(issue)),
        ]),
        &["type", "id", "nextHopIds", "issues"],
    )
}

/// The answer of `connectivityCheck` (`ConnectivityInformation`).
fn connectivity_information() -> Value {
    requiring(
        object(&[
            ("hops", array_of(schema_ref("ConnectivityHop"))),
            (
                "connectionStatus",
                one_of(&["Unknown", "Connected", "Disconnected", "Degraded", "Reachable", "Unreachable"]),
            ),
            ("avgLatencyInMs", integer()),
            ("minLatencyInMs", integer()),
            ("maxLatencyInMs", integer()),
            ("probesSent", integer()),
            ("probesFailed", integer()),
        ]),
        &["hops", "connectionStatus", "probesSent", "probesFailed"],
    )
}

fn error_response() -> Value {
    json!({"description": "ARM's error envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// One operation: its parameters, body and answers.
fn operation(id: &str, params: &[&str], body: Option<Value>, answers: &[(&str, &str)]) -> Value {
    let mut parameters: Vec<Value> =
        params.iter().map(|p| json!({"$ref": format!("#/components/parameters/{p}")})).collect();
    parameters.push(json!({"$ref": "#/components/parameters/apiVersion"}));
    let mut responses = Map::new();
    for (code, description) in answers {
        let r = if *code == "204" || *code == "202" {
            json!({"description": description})
        } else {
            ok_response(description)
        };
        responses.insert((*code).to_owned(), r);
    }
    responses.insert("default".into(), error_response());
    let mut op = json!({"operationId": id, "parameters": parameters, "responses": responses});
    if let Some(schema) = body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    op
}

/// A POST that Azure runs as a long-running operation and this server answers at once: 200 with
/// the components schema `answer`.
fn action(id: &str, body: Option<Value>, answer: &str) -> Value {
    let mut op = operation(id, &["subscriptionId", "resourceGroupName", "name"], body, &[("200", "the answer")]);
    op["responses"]["200"]["content"]["application/json"]["schema"] = schema_ref(answer);
    op
}

fn name_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$"}})
}

pub fn document(app: &App, req: &Request) -> Reply {
    let subscriptions: Vec<String> = app
        .lab
        .read(|s| {
            s.all_of(Kind::Subscription)
                .iter()
                .filter_map(|x| x.resource.as_subscription())
                .map(|x| x.subscription_id.clone())
                .collect()
        })
        .unwrap_or_default();
    Reply::ok(build(&subscriptions, &req.base))
}

/// The document for a server at `base` whose lab has `subscriptions`.
fn build(subscriptions: &[String], base: &str) -> Value {
    let mut paths = Map::new();
    let sub = "/subscriptions/{subscriptionId}";
    let group = format!("{sub}/resourcegroups/{{resourceGroupName}}");
    paths.insert(
        format!("{sub}/resourcegroups"),
        json!({"get": operation("ResourceGroups_List", &["subscriptionId"], None, &[("200", "the groups")])}),
    );
    paths.insert(
        group.clone(),
        json!({
            "put": operation("ResourceGroups_CreateOrUpdate", &["subscriptionId", "resourceGroupName"], Some(body_schema(Kind::ResourceGroup)), &[("200", "updated"), ("201", "created")]),
            "get": operation("ResourceGroups_Get", &["subscriptionId", "resourceGroupName"], None, &[("200", "the group")]),
            "patch": operation("ResourceGroups_Update", &["subscriptionId", "resourceGroupName"], Some(object(&[("tags", json!({"type": "object", "additionalProperties": {"type": "string"}}))])), &[("200", "updated")]),
            "delete": operation("ResourceGroups_Delete", &["subscriptionId", "resourceGroupName"], None, &[("200", "deleted"), ("202", "deleting")]),
        }),
    );
    paths.insert(
        sub.to_owned(),
        json!({"get": operation("Subscriptions_Get", &["subscriptionId"], None, &[("200", "the subscription")])}),
    );
    for kind in Kind::ALL.into_iter().filter(|k| k.parent().is_none() && k.is_tracked() && *k != Kind::ResourceGroup) {
        let (namespace, ty) = kind.arm_type().split_once('/').unwrap_or_default();
        let tag = ty.to_owned();
        let collection = format!("{group}/providers/{namespace}/{ty}");
        let item = format!("{collection}/{{name}}");
        paths.insert(collection.clone(), json!({"get": operation(&format!("{tag}_List"), &["subscriptionId", "resourceGroupName"], None, &[("200", "one page")])}));
        paths.insert(
            format!("{sub}/providers/{namespace}/{ty}"),
            json!({"get": operation(&format!("{tag}_ListAll"), &["subscriptionId"], None, &[("200", "one page")])}),
        );
        let item_params = ["subscriptionId", "resourceGroupName", "name"];
        paths.insert(
            item.clone(),
            json!({
                "put": operation(&format!("{tag}_CreateOrUpdate"), &item_params, Some(body_schema(kind)), &[("200", "updated"), ("201", "created")]),
                "get": operation(&format!("{tag}_Get"), &item_params, None, &[("200", "the resource")]),
                "patch": operation(&format!("{tag}_UpdateTags"), &item_params, Some(object(&[("tags", json!({"type": "object", "additionalProperties": {"type": "string"}}))])), &[("200", "updated")]),
                "delete": operation(&format!("{tag}_Delete"), &item_params, None, &[("200", "deleted"), ("202", "deleting"), ("204", "not there")]),
            }),
        );
        for child in Kind::ALL.into_iter().filter(|c| c.parent() == Some(kind)) {
            let segment = child.child_segment().unwrap_or_default();
            let children = format!("{item}/{segment}");
            let child_params = ["subscriptionId", "resourceGroupName", "name", "childName"];
            paths.insert(
                children.clone(),
                json!({"get": operation(&format!("{segment}_List"), &item_params, None, &[("200", "one page")])}),
            );
            paths.insert(
                format!("{children}/{{childName}}"),
                json!({
                    "put": operation(&format!("{segment}_CreateOrUpdate"), &child_params, Some(body_schema(child)), &[("200", "updated"), ("201", "created")]),
                    "get": operation(&format!("{segment}_Get"), &child_params, None, &[("200", "the resource")]),
                    "delete": operation(&format!("{segment}_Delete"), &child_params, None, &[("200", "deleted"), ("202", "deleting"), ("204", "not there")]),
                }),
            );
        }
    }
    // Microsoft.Authorization at a subscription's and a group's scope.
    let assignment = object(&[(
        "properties",
        object(&[
            ("roleDefinitionId", string()),
            ("principalId", string()),
            ("principalType", string()),
            ("description", string()),
        ]),
    )]);
    for (scope, label, params) in [
        (sub.to_owned(), "Subscription", vec!["subscriptionId"]),
        (group.clone(), "ResourceGroup", vec!["subscriptionId", "resourceGroupName"]),
    ] {
        let assignments = format!("{scope}/providers/Microsoft.Authorization/roleAssignments");
        paths.insert(
            assignments.clone(),
            json!({"get": operation(&format!("RoleAssignments_ListFor{label}"), &params, None, &[("200", "one page")])}),
        );
        let mut item = params.clone();
        item.push("name");
        paths.insert(
            format!("{assignments}/{{name}}"),
            json!({
                "put": operation(&format!("RoleAssignments_CreateAt{label}"), &item, Some(assignment.clone()), &[("200", "unchanged"), ("201", "created")]),
                "get": operation(&format!("RoleAssignments_GetAt{label}"), &item, None, &[("200", "the assignment")]),
                "delete": operation(&format!("RoleAssignments_DeleteAt{label}"), &item, None, &[("200", "deleted"), ("204", "not there")]),
            }),
        );
    }
    let definitions = format!("{sub}/providers/Microsoft.Authorization/roleDefinitions");
    paths.insert(
        definitions.clone(),
        json!({"get": operation("RoleDefinitions_List", &["subscriptionId"], None, &[("200", "the roles")])}),
    );
    paths.insert(
        format!("{definitions}/{{name}}"),
        json!({"get": operation("RoleDefinitions_Get", &["subscriptionId", "name"], None, &[("200", "the role")])}),
    );
    let vnet = format!("{group}/providers/Microsoft.Network/virtualNetworks/{{name}}");
    paths.insert(
        format!("{vnet}/checkIPAddressAvailability"),
        json!({"get": {
            "operationId": "VirtualNetworks_CheckIPAddressAvailability",
            "parameters": [{"$ref": "#/components/parameters/subscriptionId"}, {"$ref": "#/components/parameters/resourceGroupName"}, {"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/apiVersion"},
                {"name": "ipAddress", "in": "query", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": ok_response("availability"), "default": error_response()}
        }}),
    );
    paths.insert(format!("{vnet}/usages"), json!({"get": operation("VirtualNetworks_ListUsage", &["subscriptionId", "resourceGroupName", "name"], None, &[("200", "usages")])}));
    let connection = format!("{group}/providers/Microsoft.Network/connections/{{name}}");
    paths.insert(
        format!("{connection}/sharedkey"),
        json!({
            "get": operation("Connections_GetSharedKey", &["subscriptionId", "resourceGroupName", "name"], None, &[("200", "the key")]),
            "put": operation("Connections_SetSharedKey", &["subscriptionId", "resourceGroupName", "name"], Some(object(&[("value", string())])), &[("200", "set")]),
        }),
    );
    paths.insert(
        format!("{connection}/sharedkey/reset"),
        json!({"post": operation("Connections_ResetSharedKey", &["subscriptionId", "resourceGroupName", "name"], Some(object(&[("keyLength", json!({"type": "integer"}))])), &[("200", "reset")])}),
    );
    let nic = format!("{group}/providers/Microsoft.Network/networkInterfaces/{{name}}");
    paths.insert(
        format!("{nic}/effectiveRouteTable"),
        json!({"post": action("NetworkInterfaces_GetEffectiveRouteTable", None, "EffectiveRouteListResult")}),
    );
    paths.insert(
        format!("{nic}/effectiveNetworkSecurityGroups"),
        json!({"post": action("NetworkInterfaces_ListEffectiveNetworkSecurityGroups", None, "EffectiveNetworkSecurityGroupListResult")}),
    );
    let watcher = format!("{group}/providers/Microsoft.Network/networkWatchers/{{name}}");
    paths.insert(
        format!("{watcher}/nextHop"),
        json!({"post": action("NetworkWatchers_GetNextHop", Some(next_hop_parameters()), "NextHopResult")}),
    );
    paths.insert(
        format!("{watcher}/ipFlowVerify"),
        json!({"post": action("NetworkWatchers_VerifyIPFlow", Some(ip_flow_parameters()), "VerificationIPFlowResult")}),
    );
    paths.insert(
        format!("{watcher}/connectivityCheck"),
        json!({"post": action("NetworkWatchers_CheckConnectivity", Some(connectivity_parameters()), "ConnectivityInformation")}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {"title": "vnetlab ARM API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Azure Resource Manager's paths for resource groups, Microsoft.Network and Microsoft.Compute virtual machines, as this vnetlab server serves them."},
        "servers": [{"url": base}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "subscriptionId": {"name": "subscriptionId", "in": "path", "required": true, "schema": {"type": "string", "enum": subscriptions}},
                "resourceGroupName": {"name": "resourceGroupName", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._()-]{1,20}$"}},
                "name": name_param("name"),
                "childName": name_param("childName"),
                "apiVersion": {"name": "api-version", "in": "query", "required": true, "schema": {"type": "string", "enum": ["2024-05-01", "2022-01-01"]}}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "target": {"type": "string"}, "details": {"type": "array"}}}}},
                "EffectiveRoute": effective_route(),
                "EffectiveRouteListResult": listing("EffectiveRoute"),
                "EffectiveNetworkSecurityRule": effective_security_rule(),
                "EffectiveNetworkSecurityGroup": effective_security_group(),
                "EffectiveNetworkSecurityGroupListResult": listing("EffectiveNetworkSecurityGroup"),
                "NextHopResult": next_hop_result(),
                "VerificationIPFlowResult": ip_flow_result(),
                "ConnectivityHop": connectivity_hop(),
                "ConnectivityInformation": connectivity_information()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        build(&["00000000-0000-0000-0000-000000000001".to_owned()], "https://127.0.0.1:1")
    }

    /// Every `$ref` under `node`, with where it is.
    fn refs<'a>(node: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(target)) => out.push((at.clone(), target)),
                        _ => refs(v, format!("{at}/{k}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    refs(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Every object schema under `node` whose `required` names a property it does not have.
    fn dangling_required(node: &Value, at: String, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let (Some(Value::Array(required)), Some(Value::Object(properties))) =
                    (map.get("required"), map.get("properties"))
                {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !properties.contains_key(name) {
                            out.push(format!("{at}: {name}"));
                        }
                    }
                }
                for (k, v) in map {
                    dangling_required(v, format!("{at}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    dangling_required(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_required_property_is_described() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, String::new(), &mut found);
        assert!(!found.is_empty());
        for (at, target) in found {
            let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{at}: {target} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{at}: {target} resolves to nothing");
        }
        let mut dangling = Vec::new();
        dangling_required(&doc, String::new(), &mut dangling);
        assert!(dangling.is_empty(), "{dangling:#?}");
    }

    #[test]
    fn the_watcher_operations_are_posts_with_their_bodies_and_answers() {
        let doc = document();
        let group = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers/Microsoft.Network";
        let cases: [(&str, &str, &[&str], &str); 5] = [
            (
                "networkInterfaces/{name}/effectiveRouteTable",
                "NetworkInterfaces_GetEffectiveRouteTable",
                &[],
                "EffectiveRouteListResult",
            ),
            (
                "networkInterfaces/{name}/effectiveNetworkSecurityGroups",
                "NetworkInterfaces_ListEffectiveNetworkSecurityGroups",
                &[],
                "EffectiveNetworkSecurityGroupListResult",
            ),
            (
                "networkWatchers/{name}/nextHop",
                "NetworkWatchers_GetNextHop",
                &["targetResourceId", "sourceIPAddress", "destinationIPAddress"],
                "NextHopResult",
            ),
            (
                "networkWatchers/{name}/ipFlowVerify",
                "NetworkWatchers_VerifyIPFlow",
                &[
                    "targetResourceId",
                    "direction",
                    "protocol",
                    "localIPAddress",
                    "localPort",
                    "remoteIPAddress",
                    "remotePort",
                ],
                "VerificationIPFlowResult",
            ),
            (
                "networkWatchers/{name}/connectivityCheck",
                "NetworkWatchers_CheckConnectivity",
                &["source", "destination"],
                "ConnectivityInformation",
            ),
        ];
        for (path, id, required, answer) in cases {
            let item = &doc["paths"][format!("{group}/{path}")];
            let methods: Vec<&String> = item.as_object().unwrap_or_else(|| panic!("no path {path}")).keys().collect();
            assert_eq!(methods, ["post"], "{path}");
            let op = &item["post"];
            assert_eq!(op["operationId"], id, "{path}");
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if required.is_empty() {
                assert!(op.get("requestBody").is_none(), "{path} takes no body");
            } else {
                assert_eq!(op["requestBody"]["required"], true, "{path}");
                assert_eq!(body["required"], json!(required), "{path}");
            }
            let ok = &op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(ok, &json!(format!("#/components/schemas/{answer}")), "{path}");
            assert_eq!(op["responses"]["default"], error_response(), "{path}");
        }
        let hop = &doc["components"]["schemas"]["NextHopResult"];
        assert_eq!(hop["required"], json!(["nextHopType", "routeTableId"]));
        assert_eq!(hop["properties"]["nextHopIpAddress"]["nullable"], true);
    }
}
