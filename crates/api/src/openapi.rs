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
        Kind::Tenant | Kind::Subscription => json!({"type": "object"}),
    }
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
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "vnetlab ARM API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Azure Resource Manager's paths for resource groups, Microsoft.Network and Microsoft.Compute virtual machines, as this vnetlab server serves them."},
        "servers": [{"url": req.base}],
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
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "target": {"type": "string"}, "details": {"type": "array"}}}}}
            }
        }
    });
    Reply::ok(doc)
}
