//! No request makes the server fail: random methods, paths, queries, headers and bodies get an
//! answer below 500, and a refused write changes nothing. The handler is driven directly (no
//! sockets), so many cases run in little time; the TLS path is covered by the other tests.

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use serde_json::{Value, json};
use vnetlab_api::{App, Options, Reply};
use vnetlab_control::Lab;

/// One lab for every case: a group, a VNet, a subnet, a peering pair.
fn app() -> &'static (Arc<App>, tempfile::TempDir) {
    static APP: OnceLock<(Arc<App>, tempfile::TempDir)> = OnceLock::new();
    APP.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        let app = Arc::new(App::new(Lab::open(home.path()).unwrap(), Options { page_size: 2, ..Options::default() }));
        let put = |path: &str, body: Value| {
                        let r = request(&app, "PUT", &format!("{path}?api-version=2024-05-01"), body.to_string().into_bytes(), HeaderMap::new());
            assert!(r.status.is_success(), "{path}: {:?}", r.body);
        };
        let sub = "/subscriptions/00000000-0000-0000-0000-000000000001";
        put(&format!("{sub}/resourceGroups/rg"), json!({"location": "westus"}));
        let net = format!("{sub}/resourceGroups/rg/providers/Microsoft.Network");
        for (name, prefix) in [("a", "10.1.0.0/16"), ("b", "10.2.0.0/16")] {
            put(&format!("{net}/virtualNetworks/{name}"), json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": [prefix]}, "subnets": [{"name": "s", "properties": {"addressPrefix": prefix.replace(".0.0/16", ".1.0/24")}}]}}));
        }
        put(&format!("{net}/virtualNetworks/a/virtualNetworkPeerings/ab"), json!({"properties": {"remoteVirtualNetwork": {"id": format!("{net}/virtualNetworks/b")}}}));
        put(&format!("{net}/virtualNetworks/b/virtualNetworkPeerings/ba"), json!({"properties": {"remoteVirtualNetwork": {"id": format!("{net}/virtualNetworks/a")}}}));
        (app, home)
    })
}

/// A request as the lab's default principal, unless it names its own `Authorization`.
fn request(app: &App, method: &str, path: &str, body: Vec<u8>, mut headers: HeaderMap) -> Reply {
    if !headers.contains_key("authorization") {
        let token = app.default_token().unwrap();
        headers.insert("authorization", HeaderValue::try_from(format!("Bearer {token}")).unwrap());
    }
    app.answer(Method::from_bytes(method.as_bytes()).unwrap(), path, headers, body, "127.0.0.1:1")
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("subscriptions".to_owned()),
        Just("00000000-0000-0000-0000-000000000001".to_owned()),
        Just("resourceGroups".to_owned()),
        Just("rg".to_owned()),
        Just("providers".to_owned()),
        Just("Microsoft.Network".to_owned()),
        Just("Microsoft.Compute".to_owned()),
        Just("Microsoft.Resources".to_owned()),
        Just("deployments".to_owned()),
        Just("virtualNetworks".to_owned()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("subnets".to_owned()),
        Just("s".to_owned()),
        Just("virtualNetworkPeerings".to_owned()),
        Just("ab".to_owned()),
        Just("networkSecurityGroups".to_owned()),
        Just("routeTables".to_owned()),
        Just("networkInterfaces".to_owned()),
        Just("virtualMachines".to_owned()),
        Just("connections".to_owned()),
        Just("locations".to_owned()),
        Just("operations".to_owned()),
        Just("metadata".to_owned()),
        Just("Microsoft.Authorization".to_owned()),
        Just("roleAssignments".to_owned()),
        Just("roleDefinitions".to_owned()),
        Just("8e3af657-a8ff-443c-a75c-2fe8c4bcb635".to_owned()),
        Just("v1.0".to_owned()),
        Just("directoryObjects".to_owned()),
        "[a-zA-Z0-9._%()-]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..11), prop::option::of("[a-zA-Z$=&%.-]{0,30}")).prop_map(|(segments, query)| {
        let mut p = format!("/{}", segments.join("/"));
        p.push_str("?api-version=2024-05-01");
        if let Some(q) = query {
            p.push('&');
            p.push_str(&q);
        }
        p
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,20}".prop_map(Value::String),
        Just(json!("10.0.0.0/16")),
        Just(json!("westus")),
        Just(json!("0000bbbb-0000-0000-0000-000000000001")),
        Just(json!("/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")),
        Just(json!(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/b"
        )),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("location".to_owned()),
                    Just("properties".to_owned()),
                    Just("addressSpace".to_owned()),
                    Just("addressPrefixes".to_owned()),
                    Just("addressPrefix".to_owned()),
                    Just("subnets".to_owned()),
                    Just("name".to_owned()),
                    Just("id".to_owned()),
                    Just("remoteVirtualNetwork".to_owned()),
                    Just("securityRules".to_owned()),
                    Just("priority".to_owned()),
                    Just("tags".to_owned()),
                    Just("template".to_owned()),
                    Just("resources".to_owned()),
                    Just("roleDefinitionId".to_owned()),
                    Just("principalId".to_owned()),
                    Just("principalType".to_owned()),
                    Just("ids".to_owned()),
                    "[a-zA-Z]{1,10}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn no_request_fails_the_server(
        method in prop_oneof![Just("GET"), Just("PUT"), Just("PATCH"), Just("POST"), Just("HEAD"), Just("OPTIONS")],
        path in path(),
        body in body(),
        if_match in prop::option::of(prop_oneof![Just("*"), Just("W/\"x\""), Just("\u{1}")]),
    ) {
        let (app, _) = app();
        let mut headers = HeaderMap::new();
        if let Some(v) = if_match.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert("if-match", v);
        }
                let reply = request(app, method, &path, body, headers);
        prop_assert!(reply.status.as_u16() < 500, "{method} {path}: {:?}", reply.body);
                if reply.status.as_u16() >= 400 && method != "HEAD" {
            let body = reply.body.clone().unwrap_or(Value::Null);
            prop_assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{method} {path}: {body}");
        }
        // Whatever happened, the lab keeps its invariants.
        let violations = app.lab.read(vnetlab_engine::invariants::check).unwrap();
        prop_assert!(violations.is_empty(), "{violations:?}");
    }
}

#[test]
fn refused_writes_change_nothing() {
    let (app, _) = app();
    let before = app.lab.read(|s| s.revision()).unwrap();
    let net = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network";
    for (path, body) in [
        (
            format!("{net}/virtualNetworks/a?api-version=2024-05-01"),
            json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}, "subnets": [{"name": "s", "properties": {"addressPrefix": "10.9.0.0/24"}}]}}),
        ),
        (
            format!("{net}/virtualNetworks/a/virtualNetworkPeerings/x?api-version=2024-05-01"),
            json!({"properties": {"remoteVirtualNetwork": {"id": format!("{net}/virtualNetworks/a")}}}),
        ),
        (format!("{net}/virtualNetworks/c?api-version=2024-05-01"), json!({"location": "mars"})),
    ] {
        let reply = request(app, "PUT", &path, body.to_string().into_bytes(), HeaderMap::new());
        assert_eq!(reply.status.as_u16(), 400, "{path}: {:?}", reply.body);
    }
    assert_eq!(app.lab.read(|s| s.revision()).unwrap(), before);
}

/// Every input the request fuzzer keeps (`fuzz/corpus/request`, crashes it found included once
/// fixed) gets an answer below 500.
#[test]
fn the_kept_fuzz_corpus_gets_answers() {
    let (app, _) = app();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/request");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let reply = app.answer_bytes(&input);
        assert!(reply.status.as_u16() < 500, "{}: {:?}", path.display(), reply.body);
        count += 1;
    }
    assert!(count >= 10, "the corpus has {count} inputs");
    let violations = app.lab.read(vnetlab_engine::invariants::check).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}
