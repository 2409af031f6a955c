//! Every resource kind through its own path: create, read, list, update, delete; the read-only
//! parts and the actions; and a template deployment.

use serde_json::{Value, json};

use crate::{SUB, Server, net, rg};

fn setup(s: &Server) -> String {
    s.created(&rg("rg"), json!({"location": "westus", "tags": {"team": "net"}}));
    let vnet = net("rg", "virtualNetworks/hub");
    s.created(
        &vnet,
        json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "apps", "properties": {"addressPrefix": "10.0.1.0/24"}},
                        {"name": "GatewaySubnet", "properties": {"addressPrefix": "10.0.255.0/27"}}]}}),
    );
    vnet
}

fn id_of(s: &Server, path: &str) -> String {
    s.get(path).body["id"].as_str().unwrap().to_owned()
}

#[track_caller]
fn lists(s: &Server, path: &str, names: &[&str]) {
    let listed: Vec<String> =
        s.get(path).body["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, names, "{path}");
}

#[test]
fn groups_vnets_and_subnets() {
    let s = Server::start();
    let vnet = setup(&s);
    let group = s.get(&rg("rg"));
    assert_eq!(group.body["tags"]["team"], "net");
    assert_eq!(group.body["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(s.call("HEAD", &rg("rg"), None).status, 204);
    assert_eq!(s.call("HEAD", &rg("other"), None).status, 404);
    let patched = s.call("PATCH", &rg("rg"), Some(&json!({"tags": {"env": "lab"}})));
    assert_eq!(patched.body["tags"], json!({"env": "lab"}));
    lists(&s, &format!("/subscriptions/{SUB}/resourcegroups"), &["rg"]);
    let subnet = format!("{vnet}/subnets/data");
    let r = s.put(&subnet, json!({"properties": {"addressPrefix": "10.0.2.0/24"}}));
    assert_eq!((r.status, r.body["type"].as_str()), (201, Some("Microsoft.Network/virtualNetworks/subnets")));
    lists(&s, &format!("{vnet}/subnets"), &["apps", "data", "GatewaySubnet"]);
    let outside = s.put(&format!("{vnet}/subnets/out"), json!({"properties": {"addressPrefix": "10.9.0.0/24"}}));
    assert_eq!(outside.status, 400, "{:#}", outside.body);
    // A VNet PUT without subnets keeps them (api-version 2023-11-01 and later)...
    s.created(
        &vnet,
        json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
    );
    assert_eq!(s.get(&vnet).body["properties"]["subnets"].as_array().unwrap().len(), 3);
    // ...and an older client's PUT without them means none.
    let old = s.call(
        "PUT",
        &format!("{vnet}?api-version=2022-01-01"),
        Some(&json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})),
    );
    assert_eq!(old.status, 200, "{:#}", old.body);
    assert!(old.body["properties"]["subnets"].as_array().unwrap().is_empty());
    let tagged = s.call("PATCH", &vnet, Some(&json!({"tags": {"a": "b"}})));
    assert_eq!((tagged.status, &tagged.body["tags"]), (200, &json!({"a": "b"})));
    assert_eq!(s.delete(&vnet).status, 200);
    assert_eq!(s.get(&vnet).status, 404);
    assert_eq!(s.delete(&rg("rg")).status, 200);
    let again = s.delete(&rg("rg"));
    assert_eq!((again.status, again.code()), (404, "ResourceGroupNotFound"));
}

#[test]
fn security_groups_route_tables_and_their_children() {
    let s = Server::start();
    let vnet = setup(&s);
    let nsg = net("rg", "networkSecurityGroups/web");
    let body = s.created(
        &nsg,
        json!({"location": "westus", "properties": {"securityRules": [{"name": "ssh", "properties": {
            "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}}]}}),
    );
    assert_eq!(body["properties"]["defaultSecurityRules"].as_array().unwrap().len(), 6);
    let rule = format!("{nsg}/securityRules/https");
    s.created(
        &rule,
        json!({"properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRanges": ["443", "8443"],
            "sourceAddressPrefix": "Internet", "destinationAddressPrefix": "*", "access": "Allow", "priority": 110, "direction": "Inbound"}}),
    );
    lists(&s, &format!("{nsg}/securityRules"), &["https", "ssh"]);
    let clash = s.put(
        &format!("{nsg}/securityRules/clash"),
        json!({"properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*", "access": "Deny", "priority": 100, "direction": "Inbound"}}),
    );
    assert_eq!(clash.status, 400, "{:#}", clash.body);
    let missing_field = s.put(&format!("{nsg}/securityRules/bad"), json!({"properties": {"protocol": "Tcp"}}));
    assert_eq!((missing_field.status, missing_field.code()), (400, "InvalidRequestFormat"));
    let defaults = s.get(&format!("{nsg}/defaultSecurityRules")).body;
    assert_eq!(defaults["value"].as_array().unwrap().len(), 6);
    let deny = s.get(&format!("{nsg}/defaultSecurityRules/DenyAllInBound")).body;
    assert_eq!(deny["properties"]["priority"], 65500);
    let rt = net("rg", "routeTables/via-nva");
    s.created(
        &rt,
        json!({"location": "westus", "properties": {"routes": [{"name": "default", "properties": {
        "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.1.4"}}]}}),
    );
    s.created(
        &format!("{rt}/routes/tag"),
        json!({"properties": {"addressPrefix": "AzureCloud", "nextHopType": "Internet"}}),
    );
    lists(&s, &format!("{rt}/routes"), &["default", "tag"]);
    let bad_route = s.put(
        &format!("{rt}/routes/bad"),
        json!({"properties": {"addressPrefix": "10.0.0.1/8", "nextHopType": "None"}}),
    );
    assert_eq!((bad_route.status, bad_route.code()), (400, "InvalidCIDRNotation"));
    // Attach both to a subnet; the NSG and table show it.
    let subnet = format!("{vnet}/subnets/apps");
    s.created(&subnet, json!({"properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": id_of(&s, &nsg)}, "routeTable": {"id": id_of(&s, &rt)}}}));
    assert_eq!(s.get(&nsg).body["properties"]["subnets"][0]["id"], json!(id_of(&s, &subnet)));
    let in_use = s.delete(&nsg);
    assert_eq!(in_use.status, 400, "{:#}", in_use.body);
    assert_eq!(s.delete(&rule).status, 200);
    assert_eq!(s.delete(&format!("{rt}/routes/tag")).status, 200);
    lists(&s, &format!("{rt}/routes"), &["default"]);
}

#[test]
fn addresses_interfaces_and_machines() {
    let s = Server::start();
    let vnet = setup(&s);
    let subnet_id = id_of(&s, &format!("{vnet}/subnets/apps"));
    let pip = net("rg", "publicIPAddresses/web-ip");
    let ip = s.created(&pip, json!({"location": "westus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}));
    assert!(ip["properties"]["ipAddress"].as_str().unwrap().starts_with("198.1"));
    let nic = net("rg", "networkInterfaces/web-nic");
    let body = s.created(
        &nic,
        json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": subnet_id}, "publicIPAddress": {"id": ip["id"]}}}]}}),
    );
    assert_eq!(body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.0.1.4");
    let config = s.get(&format!("{nic}/ipConfigurations/ipconfig1"));
    assert_eq!(config.body["properties"]["privateIPAllocationMethod"], "Dynamic");
    assert_eq!(s.get(&format!("{nic}/ipConfigurations/nope")).status, 404);
    let check = s.get(&format!("{vnet}/checkIPAddressAvailability?ipAddress=10.0.1.4")).body;
    assert_eq!(check["available"], false);
    assert_eq!(check["availableIPAddresses"][0], "10.0.1.5");
    assert_eq!(s.get(&format!("{vnet}/checkIPAddressAvailability?ipAddress=10.0.1.9")).body["available"], true);
    let usages = s.get(&format!("{vnet}/usages")).body;
    let apps = usages["value"].as_array().unwrap().iter().find(|u| u["id"] == json!(subnet_id)).unwrap().clone();
    assert_eq!((apps["currentValue"].as_u64(), apps["limit"].as_u64()), (Some(1), Some(251)));
    let vm = format!("{}/providers/Microsoft.Compute/virtualMachines/web", rg("rg"));
    let created = s.put(
        &vm,
        json!({"location": "westus", "properties": {"hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}},
            "osProfile": {"computerName": "web", "adminUsername": "azureuser", "adminPassword": "never-stored-1!"},
            "networkProfile": {"networkInterfaces": [{"id": id_of(&s, &nic), "properties": {"primary": true}}]}}}),
    );
    assert_eq!(created.status, 201, "{:#}", created.body);
    let got = s.get(&vm).body;
    assert_eq!(got["type"], "Microsoft.Compute/virtualMachines");
    assert_eq!(got["properties"]["hardwareProfile"]["vmSize"], "Standard_B2s");
    assert_eq!(got["properties"]["storageProfile"]["imageReference"]["offer"], "ubuntu-24_04-lts");
    assert!(got["properties"]["osProfile"].get("adminPassword").is_none(), "secrets are not kept");
    assert_eq!(s.get(&nic).body["properties"]["virtualMachine"]["id"], got["id"]);
    lists(&s, &format!("/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"), &["web"]);
    let nic_in_use = s.delete(&nic);
    assert_eq!(nic_in_use.status, 400, "{:#}", nic_in_use.body);
    assert_eq!(s.delete(&vm).status, 200);
    assert_eq!(s.delete(&nic).status, 200);
    assert_eq!(s.delete(&pip).status, 200);
}

#[test]
fn gateways_sites_connections_and_watchers() {
    let s = Server::start();
    let vnet = setup(&s);
    let pip = net("rg", "publicIPAddresses/gw-ip");
    let pip_id = s.created(&pip, json!({"location": "westus", "sku": {"name": "Standard"}}))["id"].clone();
    let gw = net("rg", "virtualNetworkGateways/gw");
    let gateway = s.created(
        &gw,
        json!({"location": "westus", "properties": {"gatewayType": "Vpn", "vpnType": "RouteBased", "sku": {"name": "VpnGw1", "tier": "VpnGw1"},
            "ipConfigurations": [{"name": "default", "properties": {"subnet": {"id": id_of(&s, &format!("{vnet}/subnets/GatewaySubnet"))}, "publicIPAddress": {"id": pip_id}}}]}}),
    );
    assert_eq!(gateway["properties"]["gatewayType"], "Vpn");
    let site = net("rg", "localNetworkGateways/branch");
    s.created(
        &site,
        json!({"location": "westus", "properties": {"gatewayIpAddress": "198.51.100.7",
        "localNetworkAddressSpace": {"addressPrefixes": ["192.168.0.0/16"]}}}),
    );
    let connection = net("rg", "connections/to-branch");
    let c = s.created(
        &connection,
        json!({"location": "westus", "properties": {"connectionType": "IPSec", "sharedKey": "abc",
            "virtualNetworkGateway1": {"id": gateway["id"], "properties": {}}, "localNetworkGateway2": {"id": id_of(&s, &site)}}}),
    );
    assert_eq!(c["properties"]["connectionType"], "IPsec");
    assert!(c["properties"].get("sharedKey").is_none(), "the key is served only through /sharedkey");
    assert_eq!(s.get(&format!("{connection}/sharedkey")).body["value"], "abc");
    assert_eq!(s.put(&format!("{connection}/sharedkey"), json!({"value": "def"})).body["value"], "def");
    let reset = s.call("POST", &format!("{connection}/sharedkey/reset"), Some(&json!({"keyLength": 12})));
    assert_eq!(reset.body["keyLength"], 12);
    assert_eq!(s.get(&format!("{connection}/sharedkey")).body["value"].as_str().unwrap().len(), 12);
    lists(&s, &format!("{gw}/connections"), &["to-branch"]);
    let tagged = s.call("PATCH", &connection, Some(&json!({"tags": {"x": "y"}})));
    assert_eq!(tagged.status, 200, "{:#}", tagged.body);
    assert_eq!(
        s.get(&format!("{connection}/sharedkey")).body["value"].as_str().unwrap().len(),
        12,
        "a tag update keeps the key"
    );
    let busy = s.delete(&gw);
    assert_eq!(busy.status, 400, "{:#}", busy.body);
    assert_eq!(s.delete(&connection).status, 200);
    assert_eq!(s.delete(&gw).status, 200);
    let watcher = net("rg", "networkWatchers/NetworkWatcher_westus");
    assert_eq!(s.put(&watcher, json!({"location": "westus"})).status, 201);
    let second = s.put(&net("rg", "networkWatchers/another"), json!({"location": "westus"}));
    assert_eq!((second.status, second.code()), (400, "NetworkWatcherCountLimitReached"));
    lists(&s, &format!("/subscriptions/{SUB}/providers/Microsoft.Network/networkWatchers"), &["NetworkWatcher_westus"]);
}

fn connection_template(name: &str, gateway: &Value, site: &str) -> Value {
    json!({"properties": {"mode": "incremental", "parameters": {"sharedKey": {"value": "abc"}}, "template": {
        "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"sharedKey": {"type": "securestring"}},
        "variables": {},
        "resources": [{"type": "Microsoft.Network/connections", "name": name, "location": "[resourceGroup().location]",
            "apiVersion": "2025-01-01", "dependsOn": [], "properties": {"virtualNetworkGateway1": {"id": gateway},
            "connectionType": "IPSec", "routingWeight": 10,
            "localNetworkGateway2": {"id": format!("[resourceId('Microsoft.Network/localNetworkGateways', '{site}')]")},
            "sharedKey": "[parameters('sharedKey')]"}}],
        "outputs": {"resource": {"type": "object", "value": format!("[reference('{name}')]")}}}}})
}

#[test]
fn template_deployments_put_their_resources_through_the_same_rules() {
    let s = Server::start();
    let vnet = setup(&s);
    let pip_id = s.created(&net("rg", "publicIPAddresses/gw-ip"), json!({"location": "westus"}))["id"].clone();
    let gateway = s.created(
        &net("rg", "virtualNetworkGateways/gw"),
        json!({"location": "westus", "properties": {"gatewayType": "Vpn", "vpnType": "RouteBased", "sku": {"name": "VpnGw1"},
            "ipConfigurations": [{"name": "default", "properties": {"subnet": {"id": id_of(&s, &format!("{vnet}/subnets/GatewaySubnet"))}, "publicIPAddress": {"id": pip_id}}}]}}),
    )["id"]
        .clone();
    s.created(
        &net("rg", "localNetworkGateways/branch"),
        json!({"location": "westus", "properties": {"gatewayIpAddress": "198.51.100.7",
        "localNetworkAddressSpace": {"addressPrefixes": ["192.168.0.0/16"]}}}),
    );
    let deployments = format!("{}/providers/Microsoft.Resources/deployments", rg("rg"));
    let ok = s.put(&format!("{deployments}/d1"), connection_template("to-branch", &gateway, "branch"));
    assert_eq!(ok.status, 201, "{:#}", ok.body);
    assert_eq!(ok.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(ok.body["properties"]["outputs"]["resource"]["value"]["connectionType"], "IPsec");
    assert_eq!(ok.body["properties"]["parameters"]["sharedKey"], json!({"type": "SecureString"}));
    assert_eq!(s.get(&net("rg", "connections/to-branch/sharedkey")).body["value"], "abc");
    assert_eq!(s.get(&format!("{deployments}/d1")).body["properties"]["provisioningState"], "Succeeded");
    // Resources the rules refuse: accepted, then Failed with the refusal in the details.
    let failed = s.put(&format!("{deployments}/d2"), connection_template("bad", &gateway, "nowhere"));
    assert_eq!(failed.status, 201);
    let status_url = failed.header("azure-asyncoperation").unwrap().to_owned();
    let status = s.get(&status_url).body;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "DeploymentFailed");
    assert_eq!(status["error"]["details"][0]["code"], "InvalidResourceReference");
    assert_eq!(s.get(&net("rg", "connections/bad")).status, 404);
    // A template vnetlab cannot evaluate is refused at once.
    let mut odd = connection_template("x", &gateway, "branch");
    odd["properties"]["template"]["resources"][0]["name"] = json!("[uniqueString('a')]");
    let refused = s.put(&format!("{deployments}/d3"), odd);
    assert_eq!((refused.status, refused.code()), (400, "InvalidTemplate"));
}

#[test]
fn a_network_watcher_delete_answers_as_a_long_running_one() {
    let s = Server::start();
    s.created(&rg("rg"), json!({"location": "westus"}));
    let watcher = net("rg", "networkWatchers/NetworkWatcher_westus");
    s.created(&watcher, json!({"location": "westus"}));
    let deleted = s.delete(&watcher);
    assert_eq!(deleted.status, 202, "clients accept only 202 or 204 here");
    let location = deleted.header("location").unwrap().to_owned();
    assert_eq!(s.get(&location).status, 204, "the delete is already done");
    assert_eq!(s.delete(&watcher).status, 204);
}
