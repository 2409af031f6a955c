//! ARM's conventions: the peering exercise end to end, paths, errors, conditional writes, paging,
//! headers, and read-only properties sent back.

use serde_json::{Value, json};

use crate::{SUB, Server, net, rg};

fn vnet(prefix: &str) -> Value {
    json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": [prefix]}}})
}

fn link(remote: &str) -> Value {
    json!({"properties": {"remoteVirtualNetwork": {"id": remote}, "allowVirtualNetworkAccess": true,
        "allowForwardedTraffic": false, "allowGatewayTransit": false, "useRemoteGateways": false, "peerCompleteVnets": true}})
}

/// The Learn exercise: two VNets, a link each way, as az sends them.
fn learn(s: &Server) -> (String, String) {
    let r = s.put(&rg("learn-rg"), json!({"location": "westus"}));
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(s.put(&rg("learn-rg"), json!({"location": "westus"})).status, 200);
    let sales = net("learn-rg", "virtualNetworks/SalesVNet");
    let marketing = net("learn-rg", "virtualNetworks/MarketingVNet");
    assert_eq!(s.put(&sales, vnet("10.1.0.0/16")).status, 201);
    assert_eq!(s.put(&marketing, vnet("10.2.0.0/16")).status, 201);
    (sales, marketing)
}

#[test]
fn the_peering_exercise_over_rest() {
    let s = Server::start();
    let (sales, marketing) = learn(&s);
    let marketing_id = s.get(&marketing).body["id"].as_str().unwrap().to_owned();
    let sales_id = s.get(&sales).body["id"].as_str().unwrap().to_owned();
    let to_marketing = format!("{sales}/virtualNetworkPeerings/SalesVNet-To-MarketingVNet");
    let first = s.put(&to_marketing, link(&marketing_id));
    assert_eq!(first.status, 201, "{:#}", first.body);
    assert_eq!(first.body["properties"]["peeringState"], "Initiated");
    assert_eq!(first.body["properties"]["peeringSyncLevel"], "RemoteNotInSync");
    let to_sales = format!("{marketing}/virtualNetworkPeerings/MarketingVNet-To-SalesVNet");
    let second = s.put(&to_sales, link(&sales_id));
    assert_eq!(second.body["properties"]["peeringState"], "Connected");
    let list = s.get(&format!("{sales}/virtualNetworkPeerings")).body;
    assert_eq!(list["value"][0]["properties"]["peeringState"], "Connected");
    assert_eq!(list["value"][0]["properties"]["peeringSyncLevel"], "FullyInSync");
    assert_eq!(list["value"][0]["type"], "Microsoft.Network/virtualNetworks/virtualNetworkPeerings");
    assert!(list.get("nextLink").is_none());
    // Both links of a pair share one resourceGuid.
    assert_eq!(first.body["properties"]["resourceGuid"], second.body["properties"]["resourceGuid"]);
    // The VNet shows its links inline.
    assert_eq!(s.get(&sales).body["properties"]["virtualNetworkPeerings"].as_array().unwrap().len(), 1);
    // `update --set`: GET, then PUT of the whole body, read-only fields included.
    let mut body = s.get(&to_marketing).body;
    body["properties"]["allowForwardedTraffic"] = json!(true);
    body["properties"]["peeringState"] = json!("Disconnected");
    let updated = s.put(&to_marketing, body);
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["properties"]["allowForwardedTraffic"], true);
    assert_eq!(updated.body["properties"]["peeringState"], "Connected");
    // An address space change, then sync.
    s.created(&marketing, json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.2.0.0/16", "10.3.0.0/16"]}}}));
    assert_eq!(s.get(&to_marketing).body["properties"]["peeringSyncLevel"], "LocalNotInSync");
    let synced = s.put(&format!("{to_marketing}?syncRemoteAddressSpace=true"), link(&marketing_id));
    assert_eq!(synced.status, 200, "{:#}", synced.body);
    assert_eq!(
        synced.body["properties"]["remoteAddressSpace"]["addressPrefixes"],
        json!(["10.2.0.0/16", "10.3.0.0/16"])
    );
    // The final GET of the sync LRO repeats the query: unknown parameters are ignored.
    assert_eq!(s.get(&format!("{to_marketing}?syncRemoteAddressSpace=true")).status, 200);
    // Deleting one side leaves the other Disconnected.
    assert_eq!(s.delete(&to_marketing).status, 200);
    assert_eq!(s.delete(&to_marketing).status, 204);
    assert_eq!(s.get(&to_sales).body["properties"]["peeringState"], "Disconnected");
    let gone = s.get(&to_marketing);
    assert_eq!((gone.status, gone.code()), (404, "NotFound"));
    assert_eq!(gone.body["error"]["message"], json!(format!("Resource {} not found.", to_marketing.replace("?", ""))));
}

#[test]
fn rule_violations_come_back_in_arms_envelope() {
    let s = Server::start();
    let (sales, _) = learn(&s);
    let overlap = net("learn-rg", "virtualNetworks/Overlap");
    s.created(&overlap, vnet("10.1.128.0/17"));
    let overlap_id = s.get(&overlap).body["id"].as_str().unwrap().to_owned();
    let r = s.put(&format!("{sales}/virtualNetworkPeerings/bad"), link(&overlap_id));
    assert_eq!((r.status, r.code()), (400, "VnetAddressSpacesOverlap"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Overlapping address prefixes: 10.1.0.0/16, 10.1.128.0/17")
    );
    // Nothing was written.
    assert!(s.get(&format!("{sales}/virtualNetworkPeerings")).body["value"].as_array().unwrap().is_empty());
    let missing_remote = s.put(&format!("{sales}/virtualNetworkPeerings/x"), link(&format!("{overlap_id}-nope")));
    assert_eq!(missing_remote.status, 400, "{:#}", missing_remote.body);
}

#[test]
fn paths_are_case_insensitive_and_names_keep_their_case() {
    let s = Server::start();
    learn(&s);
    let lower =
        format!("/subscriptions/{SUB}/resourcegroups/LEARN-RG/providers/microsoft.network/virtualnetworks/salesvnet");
    let r = s.get(&lower);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "SalesVNet");
    assert_eq!(
        r.body["id"],
        json!(format!(
            "/subscriptions/{SUB}/resourceGroups/learn-rg/providers/Microsoft.Network/virtualNetworks/SalesVNet"
        ))
    );
    assert!(r.header("etag").unwrap().starts_with("W/\""));
    assert_eq!(r.header("etag"), r.body["etag"].as_str());
}

#[test]
fn requests_arm_refuses() {
    let s = Server::start();
    learn(&s);
    let no_version = s.raw("GET", &format!("{}{}", s.url, rg("learn-rg")), None, &[]);
    assert_eq!((no_version.status, no_version.code()), (400, "MissingApiVersionParameter"));
    let unknown_type = s.get(&net("learn-rg", "fooBars/x"));
    assert_eq!((unknown_type.status, unknown_type.code()), (404, "InvalidResourceType"));
    let unknown_namespace = s.get(&format!("{}/providers/Contoso.Widgets/things/x", rg("learn-rg")));
    assert_eq!((unknown_namespace.status, unknown_namespace.code()), (404, "InvalidResourceNamespace"));
    let path = net("learn-rg", "virtualNetworks/v");
    let malformed =
        s.raw("PUT", &format!("{}{path}?api-version=2024-05-01", s.url), Some(b"{\"location\": ".to_vec()), &[]);
    assert_eq!((malformed.status, malformed.code()), (400, "InvalidRequestContent"));
    let wrong_type =
        s.put(&path, json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": "10.0.0.0/16"}}}));
    assert_eq!((wrong_type.status, wrong_type.code()), (400, "InvalidRequestFormat"));
    assert_eq!(wrong_type.body["error"]["details"][0]["code"], "InvalidJson");
    let no_location = s.put(&path, json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}));
    assert_eq!((no_location.status, no_location.code()), (400, "LocationRequired"));
    let bad_prefix = s.put(&path, vnet("10.0.0.1/16"));
    assert_eq!((bad_prefix.status, bad_prefix.code()), (400, "InvalidCIDRNotation"));
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let too_large = s.raw("PUT", &format!("{}{path}?api-version=2024-05-01", s.url), Some(huge), &[]);
    assert_eq!((too_large.status, too_large.code()), (413, "RequestContentTooLarge"));
    let no_group = s.get(&net("nope-rg", "virtualNetworks/v"));
    assert_eq!((no_group.status, no_group.code()), (404, "ResourceGroupNotFound"));
    assert_eq!(no_group.body["error"]["message"], "Resource group 'nope-rg' could not be found.");
    let no_vnet = s.get(&path);
    assert_eq!((no_vnet.status, no_vnet.code()), (404, "ResourceNotFound"));
    assert_eq!(
        no_vnet.body["error"]["message"],
        "The Resource 'Microsoft.Network/virtualNetworks/v' under resource group 'learn-rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
    let method = s.call("POST", &path, None);
    assert_eq!(method.status, 405);
    let bad_group = s.put(&rg("bad*group"), json!({"location": "westus"}));
    assert_eq!((bad_group.status, bad_group.code()), (400, "InvalidResourceGroup"));
    // None of it wrote anything.
    assert_eq!(
        s.get(&format!("{}/providers/Microsoft.Network/virtualNetworks", rg("learn-rg"))).body["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn conditional_writes() {
    let s = Server::start();
    let (sales, _) = learn(&s);
    let etag = s.get(&sales).body["etag"].as_str().unwrap().to_owned();
    let url = format!("{}{sales}?api-version=2024-05-01", s.url);
    let body = || Some(vnet("10.1.0.0/16").to_string().into_bytes());
    let stale = s.raw("PUT", &url, body(), &[("If-Match", "W/\"00000000-0000-0000-0000-000000000000\"")]);
    assert_eq!((stale.status, stale.code()), (412, "PreconditionFailed"));
    let exists = s.raw("PUT", &url, body(), &[("If-None-Match", "*")]);
    assert_eq!(exists.status, 412);
    let changed = || {
        let mut v = vnet("10.1.0.0/16");
        v["properties"]["dhcpOptions"] = json!({"dnsServers": ["10.1.0.4"]});
        Some(v.to_string().into_bytes())
    };
    let ok = s.raw("PUT", &url, changed(), &[("If-Match", &etag)]);
    assert_eq!(ok.status, 200, "{:#}", ok.body);
    let new_etag = ok.body["etag"].as_str().unwrap().to_owned();
    assert_ne!(new_etag, etag, "every write changes the etag");
    let not_modified = s.raw("GET", &url, None, &[("If-None-Match", &new_etag)]);
    assert_eq!(not_modified.status, 304);
    let delete_stale = s.raw("DELETE", &url, None, &[("If-Match", &etag)]);
    assert_eq!(delete_stale.status, 412);
    let fresh = format!("{}{}?api-version=2024-05-01", s.url, net("learn-rg", "virtualNetworks/Fresh"));
    assert_eq!(
        s.raw("PUT", &fresh, Some(vnet("10.9.0.0/16").to_string().into_bytes()), &[("If-Match", "*")]).status,
        412
    );
    assert_eq!(
        s.raw("PUT", &fresh, Some(vnet("10.9.0.0/16").to_string().into_bytes()), &[("If-None-Match", "*")]).status,
        201
    );
}

#[test]
fn lists_page_with_absolute_next_links() {
    let s = Server::with(vnetlab_api::Options { page_size: 2, ..Default::default() });
    s.created(&rg("many"), json!({"location": "westus"}));
    for i in 0..5 {
        s.created(&net("many", &format!("virtualNetworks/v{i}")), vnet(&format!("10.{i}.0.0/16")));
    }
    let mut names = Vec::new();
    let mut next = Some(format!("{}/providers/Microsoft.Network/virtualNetworks", rg("many")));
    let mut pages = 0;
    while let Some(url) = next {
        let page = s.get(&url).body;
        pages += 1;
        names.extend(page["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()));
        next = page["nextLink"].as_str().map(|l| {
            assert!(l.starts_with(&s.url) && l.contains("api-version=2024-05-01"), "{l}");
            l.to_owned()
        });
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["v0", "v1", "v2", "v3", "v4"]);
    let everywhere = s.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks")).body;
    assert_eq!(everywhere["value"].as_array().unwrap().len(), 2);
    let bad = s.get(&format!("{}/providers/Microsoft.Network/virtualNetworks?$skipToken=%%%", rg("many")));
    assert_eq!((bad.status, bad.code()), (400, "InvalidSkipToken"));
    // The list's own checks answer before its token is read.
    let missing = s.get(&format!("{}/providers/Microsoft.Network/virtualNetworks?$skipToken=%%%", rg("none")));
    assert_eq!((missing.status, missing.code()), (404, "ResourceGroupNotFound"));
}

#[test]
fn every_response_carries_request_ids() {
    let s = Server::start();
    let r = s.raw(
        "GET",
        &format!("{}/subscriptions?api-version=2022-12-01", s.url),
        None,
        &[
            ("x-ms-correlation-request-id", "corr-1"),
            ("x-ms-client-request-id", "client-1"),
            ("x-ms-return-client-request-id", "true"),
        ],
    );
    assert!(uuid::Uuid::parse_str(r.header("x-ms-request-id").unwrap()).is_ok());
    assert_eq!(r.header("x-ms-correlation-request-id"), Some("corr-1"));
    assert_eq!(r.header("x-ms-client-request-id"), Some("client-1"));
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    let e = s.get(&net("x", "virtualNetworks/y"));
    assert!(e.header("x-ms-request-id").is_some());
}

#[test]
fn both_sides_created_at_once_end_connected() {
    let s = std::sync::Arc::new(Server::start());
    s.created(&rg("race"), json!({"location": "westus"}));
    for round in 0..10 {
        let a = net("race", &format!("virtualNetworks/a{round}"));
        let b = net("race", &format!("virtualNetworks/b{round}"));
        let a_id = s.created(&a, vnet(&format!("10.{}.0.0/16", 2 * round)))["id"].as_str().unwrap().to_owned();
        let b_id = s.created(&b, vnet(&format!("10.{}.0.0/16", 2 * round + 1)))["id"].as_str().unwrap().to_owned();
        let (s1, s2) = (s.clone(), s.clone());
        let (a1, b1) = (a.clone(), b.clone());
        let one = std::thread::spawn(move || s1.put(&format!("{a1}/virtualNetworkPeerings/ab"), link(&b_id)).status);
        let two = std::thread::spawn(move || s2.put(&format!("{b1}/virtualNetworkPeerings/ba"), link(&a_id)).status);
        assert_eq!((one.join().unwrap(), two.join().unwrap()), (201, 201));
        for side in [format!("{a}/virtualNetworkPeerings/ab"), format!("{b}/virtualNetworkPeerings/ba")] {
            assert_eq!(s.get(&side).body["properties"]["peeringState"], "Connected", "round {round}");
        }
    }
}
