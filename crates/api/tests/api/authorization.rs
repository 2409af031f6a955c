//! Who may peer what: two teams in two tenants, each Owner of its own subscription and a guest
//! of the other's tenant, peer their VNets through the ARM API with role assignments made through
//! the ARM API.

use serde_json::{Value, json};
use vnetlab_engine::Operation;

use crate::{NETWORK_CONTRIBUTOR, OWNER, READER, Server};

const TENANT_A: &str = "aaaa0000-0000-0000-0000-00000000000a";
const TENANT_B: &str = "bbbb0000-0000-0000-0000-00000000000b";
const SUB_A: &str = "aaaa1111-0000-0000-0000-00000000000a";
const SUB_B: &str = "bbbb1111-0000-0000-0000-00000000000b";
const HUB_APP: &str = "aaaa2222-0000-0000-0000-00000000000a";
const SPOKE_APP: &str = "bbbb2222-0000-0000-0000-00000000000b";

/// A principal's view of the server: its token, and auxiliary tokens for other tenants.
struct Team<'s> {
    s: &'s Server,
    token: String,
    aux: Option<String>,
}

impl Team<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> crate::Response {
        let url = format!("{}{path}{}api-version=2024-05-01", self.s.url, if path.contains('?') { "&" } else { "?" });
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("Authorization", auth.as_str())];
        let aux;
        if let Some(t) = &self.aux {
            aux = format!("Bearer {t}");
            headers.push(("x-ms-authorization-auxiliary", aux.as_str()));
        }
        self.s.raw(method, &url, body.map(|b| b.to_string().into_bytes()), &headers)
    }

    #[track_caller]
    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body);
        assert!(r.status < 300, "{method} {path}: {} {:#}", r.status, r.body);
        r.body
    }

    fn with_aux(&self, aux: &str) -> Team<'_> {
        Team { s: self.s, token: self.token.clone(), aux: Some(aux.to_owned()) }
    }
}

fn vnet(sub: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/{name}")
}

fn assignment(role: &str, principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal,
        "principalType": "ServicePrincipal"
    }})
}

fn peering(remote: &str) -> Value {
    json!({"properties": {"remoteVirtualNetwork": {"id": remote}, "allowVirtualNetworkAccess": true}})
}

#[test]
fn two_tenants_peer_only_with_rights_on_both_sides() {
    let s = Server::start();
    let hub_oid = s.add_principal(TENANT_A, HUB_APP, "hub-secret", &[TENANT_B]);
    let spoke_oid = s.add_principal(TENANT_B, SPOKE_APP, "spoke-secret", &[TENANT_A]);
    s.app
        .lab
        .execute_all(&[
            Operation::SubscriptionPut {
                subscription_id: SUB_A.into(),
                display_name: "hub".into(),
                tenant_id: TENANT_A.into(),
            },
            Operation::SubscriptionPut {
                subscription_id: SUB_B.into(),
                display_name: "spoke".into(),
                tenant_id: TENANT_B.into(),
            },
        ])
        .unwrap();
    s.grant(&hub_oid, OWNER, &format!("/subscriptions/{SUB_A}"));
    s.grant(&spoke_oid, OWNER, &format!("/subscriptions/{SUB_B}"));

    let hub = Team { s: &s, token: s.sign_in(TENANT_A, HUB_APP, "hub-secret"), aux: None };
    let spoke = Team { s: &s, token: s.sign_in(TENANT_B, SPOKE_APP, "spoke-secret"), aux: None };
    let hub_in_b = s.sign_in(TENANT_B, HUB_APP, "hub-secret");
    let spoke_in_a = s.sign_in(TENANT_A, SPOKE_APP, "spoke-secret");

    // Each team builds its own network; both use 10.0.0.0/16 in another VNet too.
    for (team, sub, name, prefix) in [(&hub, SUB_A, "hub", "10.1.0.0/16"), (&spoke, SUB_B, "spoke", "10.2.0.0/16")] {
        team.ok("PUT", &format!("/subscriptions/{sub}/resourceGroups/net"), Some(json!({"location": "westus"})));
        for (n, p) in [(name, prefix), ("same", "10.0.0.0/16")] {
            team.ok(
                "PUT",
                &vnet(sub, n),
                Some(json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": [p]}}})),
            );
        }
    }

    // Listing as tenant A shows nothing of B, whatever the address spaces.
    let subs = hub.ok("GET", "/subscriptions", None);
    assert_eq!(
        subs["value"].as_array().unwrap().iter().map(|s| s["subscriptionId"].as_str().unwrap()).collect::<Vec<_>>(),
        [SUB_A]
    );
    let listed = hub.ok("GET", &format!("/subscriptions/{SUB_A}/providers/Microsoft.Network/virtualNetworks"), None);
    let names: Vec<&str> = listed["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hub", "same"]);
    let across = hub.call("GET", &vnet(SUB_B, "spoke"), None);
    assert_eq!((across.status, across.code()), (401, "InvalidAuthenticationTokenTenant"));
    // Even with a token for B, the hub team has no role there yet.
    let unknown = Team { s: &s, token: hub_in_b.clone(), aux: None };
    let denied = unknown.call("GET", &vnet(SUB_B, "spoke"), None);
    assert_eq!((denied.status, denied.code()), (403, "AuthorizationFailed"));
    let none = unknown.call(
        "GET",
        &format!("/subscriptions/{SUB_B}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks"),
        None,
    );
    assert_eq!((none.status, none.code()), (403, "AuthorizationFailed"), "no VNet of B is readable");
    assert!(none.body.get("value").is_none());

    let hub_link = format!("{}/virtualNetworkPeerings/hub-to-spoke", vnet(SUB_A, "hub"));
    let spoke_link = format!("{}/virtualNetworkPeerings/spoke-to-hub", vnet(SUB_B, "spoke"));
    // No token for B: the remote's tenant is not authorized.
    let r = hub.call("PUT", &hub_link, Some(peering(&vnet(SUB_B, "spoke"))));
    assert_eq!((r.status, r.code()), (403, "LinkedAuthorizationFailed"));
    let message = r.body["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!(
            "however the current tenant '{TENANT_A}' is not authorized to access linked subscription '{SUB_B}'"
        )),
        "{message}"
    );

    // A token for B, but no right on the spoke VNet; then Reader, which is not enough.
    let hub_both = hub.with_aux(&hub_in_b);
    let r = hub_both.call("PUT", &hub_link, Some(peering(&vnet(SUB_B, "spoke"))));
    assert_eq!((r.status, r.code()), (403, "LinkedAuthorizationFailed"));
    let reader = uuid::Uuid::new_v4();
    spoke.ok(
        "PUT",
        &format!("{}/providers/Microsoft.Authorization/roleAssignments/{reader}", vnet(SUB_B, "spoke")),
        Some(assignment(READER, &hub_oid)),
    );
    let r = hub_both.call("PUT", &hub_link, Some(peering(&vnet(SUB_B, "spoke"))));
    assert_eq!((r.status, r.code()), (403, "LinkedAuthorizationFailed"));
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("with object id '{hub_oid}' has permission to perform action 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write' on scope '{hub_link}'; however, it does not have permission to perform action 'Microsoft.Network/virtualNetworks/peer/action' on the linked scope(s) '{}'", vnet(SUB_B, "spoke"))),
        "{message}"
    );
    assert_eq!(hub.call("GET", &hub_link, None).status, 404, "nothing was written");
    // Reader lets the hub team see the spoke VNet with its token for B.
    assert_eq!(unknown.ok("GET", &vnet(SUB_B, "spoke"), None)["name"], "spoke");

    // Network Contributor on the remote VNet suffices.
    let contributor = uuid::Uuid::new_v4();
    let contributor_path =
        format!("{}/providers/Microsoft.Authorization/roleAssignments/{contributor}", vnet(SUB_B, "spoke"));
    let made = spoke.ok("PUT", &contributor_path, Some(assignment(NETWORK_CONTRIBUTOR, &hub_oid)));
    assert_eq!(made["properties"]["scope"], vnet(SUB_B, "spoke"));
    assert_eq!(
        made["properties"]["roleDefinitionId"],
        format!("/subscriptions/{SUB_B}/providers/Microsoft.Authorization/roleDefinitions/{NETWORK_CONTRIBUTOR}")
    );
    let link = hub_both.ok("PUT", &hub_link, Some(peering(&vnet(SUB_B, "spoke"))));
    assert_eq!(link["properties"]["peeringState"], "Initiated");

    // The spoke team gets the same on the hub VNet and completes the pair.
    hub.ok(
        "PUT",
        &format!("{}/providers/Microsoft.Authorization/roleAssignments/{}", vnet(SUB_A, "hub"), uuid::Uuid::new_v4()),
        Some(assignment(NETWORK_CONTRIBUTOR, &spoke_oid)),
    );
    let back = spoke.with_aux(&spoke_in_a).ok("PUT", &spoke_link, Some(peering(&vnet(SUB_A, "hub"))));
    assert_eq!(back["properties"]["peeringState"], "Connected");
    assert_eq!(hub.ok("GET", &hub_link, None)["properties"]["peeringState"], "Connected");

    // Writes that link to another team's resources need the join right there, and a token for
    // its tenant: a NIC of the hub team on a subnet of the spoke VNet.
    spoke.ok(
        "PUT",
        &format!("{}/subnets/apps", vnet(SUB_B, "spoke")),
        Some(json!({"properties": {"addressPrefix": "10.2.1.0/24"}})),
    );
    let nic = |subnet: &str| json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ip", "properties": {"subnet": {"id": subnet}}}]}});
    let spoke_subnet = format!("{}/subnets/apps", vnet(SUB_B, "spoke"));
    let hub_nic =
        format!("/subscriptions/{SUB_A}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/intruder");
    let r = hub.call("PUT", &hub_nic, Some(nic(&spoke_subnet)));
    assert_eq!(r.code(), "LinkedAuthorizationFailed", "{:#}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("is not authorized to access linked subscription"));
    assert_eq!(hub.call("GET", &hub_nic, None).status, 404, "nothing was written");
    // With the token for B and Network Contributor on the spoke VNet, the hub team may join it;
    // the spoke team's other VNet it may not.
    assert!(hub_both.call("PUT", &hub_nic, Some(nic(&spoke_subnet))).status < 300);
    spoke.ok(
        "PUT",
        &format!("{}/subnets/apps", vnet(SUB_B, "same")),
        Some(json!({"properties": {"addressPrefix": "10.0.1.0/24"}})),
    );
    let other = format!("{hub_nic}2");
    let r = hub_both.call("PUT", &other, Some(nic(&format!("{}/subnets/apps", vnet(SUB_B, "same")))));
    assert_eq!(r.code(), "LinkedAuthorizationFailed", "{:#}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.Network/virtualNetworks/subnets/join/action'")
    );
    assert_eq!(hub.call("GET", &other, None).status, 404, "nothing was written");
    // Network Watcher answers only about VMs and NICs the caller may read: a watcher of the
    // hub team asked about a NIC of the spoke team is refused before it says whether it exists.
    let watcher = format!("/subscriptions/{SUB_A}/resourceGroups/net/providers/Microsoft.Network/networkWatchers/nw");
    hub.ok("PUT", &watcher, Some(json!({"location": "westus"})));
    let spoke_nic =
        format!("/subscriptions/{SUB_B}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/secret");
    let r = hub.call(
        "POST",
        &format!("{watcher}/nextHop"),
        Some(json!({"targetResourceId": spoke_nic, "sourceIPAddress": "10.2.1.4", "destinationIPAddress": "10.1.0.4"})),
    );
    assert_eq!(r.code(), "AuthorizationFailed", "{:#}", r.body);
    // A template's reference() shows only what the caller may read.
    let template = json!({"properties": {"mode": "Incremental", "template": {"resources": [], "outputs": {"o": {"type": "object", "value": format!("[reference('{}')]", vnet(SUB_B, "same"))}}}}});
    let r = hub.call(
        "PUT",
        &format!("/subscriptions/{SUB_A}/resourceGroups/net/providers/Microsoft.Resources/deployments/peek"),
        Some(template),
    );
    assert!(!r.body.to_string().contains("10.0.0.0/16"), "{:#}", r.body);
    // The managed-identity endpoint issues no token for a principal with a secret.
    let msi =
        s.get(&format!("/msi/token?api-version=2019-08-01&resource=https://management.azure.com/&client_id={HUB_APP}"));
    assert_eq!(msi.status, 400);

    // Removing the role assignment stops new peerings and keeps existing ones.
    let removed = spoke.call("DELETE", &contributor_path, None);
    assert_eq!(removed.status, 200);
    assert_eq!(spoke.call("DELETE", &contributor_path, None).status, 204);
    assert_eq!(hub.ok("GET", &hub_link, None)["properties"]["peeringState"], "Connected");
    let again = hub_both.call(
        "PUT",
        &format!("{}/virtualNetworkPeerings/second", vnet(SUB_A, "hub")),
        Some(peering(&vnet(SUB_B, "same"))),
    );
    assert_eq!(again.code(), "LinkedAuthorizationFailed");
}

#[test]
fn role_assignments_follow_microsoft_authorization_rules() {
    let s = Server::start();
    let sub = crate::SUB;
    let other = s.add_principal(vnetlab_control::DEFAULT_TENANT_ID, "cccc2222-0000-0000-0000-00000000000c", "pw", &[]);
    s.created(&format!("/subscriptions/{sub}/resourceGroups/rg"), json!({"location": "westus"}));
    let at = |scope: &str, name: &str| format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let rg = format!("/subscriptions/{sub}/resourceGroups/rg");
    let name = uuid::Uuid::new_v4().to_string();
    let r = s.put(&at(&rg, &name), assignment(READER, &other));
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["id"], at(&rg, &name));
    assert_eq!(r.body["properties"]["createdBy"], vnetlab_control::DEFAULT_PRINCIPAL_OBJECT_ID);
    // The same grant under another name; a changed grant under the same name.
    let dup = s.put(&at(&rg, &uuid::Uuid::new_v4().to_string()), assignment(READER, &other));
    assert_eq!((dup.status, dup.code()), (409, "RoleAssignmentExists"));
    assert!(dup.body["error"]["message"].as_str().unwrap().ends_with(&format!("{}.", name.replace('-', ""))));
    let changed = s.put(&at(&rg, &name), assignment(OWNER, &other));
    assert_eq!((changed.status, changed.code()), (400, "RoleAssignmentUpdateNotPermitted"));
    let same = s.put(&at(&rg, &name), assignment(READER, &other));
    assert_eq!(same.status, 200);
    // Bad input, nothing written.
    let cases = [
        (at(&rg, "not-a-guid"), assignment(READER, &other), "InvalidRoleAssignmentId"),
        (
            at(&rg, &uuid::Uuid::new_v4().to_string()),
            assignment("11111111-0000-0000-0000-000000000000", &other),
            "RoleDefinitionDoesNotExist",
        ),
        (
            at(&rg, &uuid::Uuid::new_v4().to_string()),
            assignment(READER, "99999999-0000-0000-0000-000000000000"),
            "PrincipalNotFound",
        ),
        (at(&rg, &uuid::Uuid::new_v4().to_string()), assignment(READER, "nobody"), "InvalidPrincipalId"),
        (
            at(&format!("/subscriptions/{sub}/resourceGroups/nope"), &uuid::Uuid::new_v4().to_string()),
            assignment(READER, &other),
            "ResourceGroupNotFound",
        ),
        (
            at("/subscriptions/99999999-0000-0000-0000-000000000000", &uuid::Uuid::new_v4().to_string()),
            assignment(READER, &other),
            "SubscriptionNotFound",
        ),
        (
            at(&rg, &uuid::Uuid::new_v4().to_string()),
            json!({"properties": {"principalId": other}}),
            "InvalidRequestFormat",
        ),
    ];
    for (path, body, code) in cases {
        let r = s.put(&path, body);
        assert_eq!(r.body["error"]["code"], code, "{path}: {:#}", r.body);
    }
    let listed = |filter: &str, scope: &str| -> Vec<String> {
        let path = format!("{scope}/providers/Microsoft.Authorization/roleAssignments{filter}");
        let body = s.get(&path).body;
        body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {body:#}"))
            .iter()
            .map(|a| a["properties"]["scope"].as_str().unwrap().to_owned())
            .collect()
    };
    let sub_scope = format!("/subscriptions/{sub}");
    assert_eq!(listed("", &sub_scope), [sub_scope.clone(), rg.clone()], "at and below");
    assert_eq!(listed("?$filter=atScope()", &rg), [sub_scope.clone(), rg.clone()], "at and above");
    assert_eq!(listed("?$filter=atScope()", &sub_scope), vec![sub_scope.clone()]);
    assert_eq!(listed(&format!("?$filter=principalId%20eq%20'{other}'"), &sub_scope), vec![rg.clone()]);
    // Role definitions by name, with ids matching what assignments carry.
    let defs = s.get(&format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20'Network%20Contributor'")).body;
    assert_eq!(defs["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        defs["value"][0]["id"],
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{NETWORK_CONTRIBUTOR}")
    );
    assert!(
        defs["value"][0]["properties"]["permissions"][0]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("Microsoft.Network/*"))
    );
    // The Reader cannot assign roles; a principal with no role sees no assignments.
    let reader = Team {
        s: &s,
        token: s.sign_in(vnetlab_control::DEFAULT_TENANT_ID, "cccc2222-0000-0000-0000-00000000000c", "pw"),
        aux: None,
    };
    let r = reader.call("PUT", &at(&rg, &uuid::Uuid::new_v4().to_string()), Some(assignment(OWNER, &other)));
    assert_eq!((r.status, r.code()), (403, "AuthorizationFailed"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("'Microsoft.Authorization/roleAssignments/write'"));
    let r = reader.call(
        "PUT",
        &format!("{rg}/providers/Microsoft.Network/virtualNetworks/v"),
        Some(json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})),
    );
    assert_eq!(r.code(), "AuthorizationFailed");
    assert_eq!(reader.ok("GET", &rg, None)["name"], "rg");
    let deploy = reader.call(
        "PUT",
        &format!("{rg}/providers/Microsoft.Resources/deployments/d"),
        Some(json!({"properties": {"mode": "Incremental", "template": {"resources": []}}})),
    );
    assert_eq!(deploy.code(), "AuthorizationFailed");
    assert!(deploy.body["error"]["message"].as_str().unwrap().contains("'Microsoft.Resources/deployments/write'"));
    assert_eq!(
        reader.call("GET", &format!("/subscriptions/{sub}/resourceGroups"), None).body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Deleting the group takes its assignments along.
    assert!(s.delete(&rg).status < 300);
    assert_eq!(listed("", &sub_scope), vec![sub_scope.clone()]);
    // Graph: the principal by id, by app id.
    let graph = s.raw(
        "POST",
        &format!("{}/v1.0/directoryObjects/getByIds", s.url),
        Some(json!({"ids": [other]}).to_string().into_bytes()),
        &[],
    );
    assert_eq!(graph.body["value"][0]["appId"], "cccc2222-0000-0000-0000-00000000000c");
    let by_name = s.raw("GET", &format!("{}/v1.0/servicePrincipals?$filter=servicePrincipalNames%2Fany(c%3Ac%20eq%20'cccc2222-0000-0000-0000-00000000000c')", s.url), None, &[]);
    assert_eq!(by_name.body["value"][0]["id"], other.as_str());
}

/// A token signed elsewhere is refused by every kind of endpoint, and changes nothing.
#[test]
fn a_forged_token_is_refused_everywhere() {
    let s = Server::start();
    let sub = crate::SUB;
    s.created(&format!("/subscriptions/{sub}/resourceGroups/rg"), json!({"location": "westus"}));
    let genuine = crate::identity::claims(&s.token);
    let forged = format!("Bearer {}", vnetlab_control::tokens::SigningKey::generate().sign(&genuine));
    let rg = format!("/subscriptions/{sub}/resourceGroups/rg");
    let endpoints = [
        ("GET", "/subscriptions".to_owned()),
        ("GET", format!("/subscriptions/{sub}")),
        ("GET", "/tenants".to_owned()),
        ("GET", rg.clone()),
        ("PUT", format!("/subscriptions/{sub}/resourceGroups/other")),
        ("DELETE", rg.clone()),
        ("GET", format!("{rg}/providers/Microsoft.Network/virtualNetworks")),
        ("PUT", format!("{rg}/providers/Microsoft.Network/virtualNetworks/v")),
        ("GET", format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments")),
        ("PUT", format!("{rg}/providers/Microsoft.Authorization/roleAssignments/{}", uuid::Uuid::new_v4())),
        ("GET", format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions")),
        ("POST", format!("{rg}/providers/Microsoft.Network/networkWatchers/w/nextHop")),
        ("PUT", format!("{rg}/providers/Microsoft.Resources/deployments/d")),
    ];
    for (method, path) in endpoints {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}{path}{sep}api-version=2024-05-01", s.url);
        let r = s.raw(method, &url, Some(b"{}".to_vec()), &[("Authorization", forged.as_str())]);
        assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"), "{method} {path}");
    }
    let graph = s.raw("GET", &format!("{}/v1.0/me", s.url), None, &[("Authorization", forged.as_str())]);
    assert_eq!(graph.status, 401);
    assert_eq!(s.get(&rg).status, 200, "the group is still there");
    assert_eq!(s.get(&format!("/subscriptions/{sub}/resourceGroups/other")).status, 404);
}
