//! Azure's own answers, replayed: every request of the azure-cli team's recorded sessions
//! (`recordings/`, real Azure traffic) is sent to vnetlab, and the status code
//! and the shape of each answer are compared with what Azure sent. Guids, etags, times and the
//! signed tails of operation URLs are masked; fields are compared by presence and JSON type, and
//! the ones that carry meaning (states, names, ids, prefixes, flags) by value. Every difference
//! must be listed, with its reason, in `recorded-differences.yaml`; a listed difference that no
//! longer happens fails too, so the list stays true.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use vnetlab_api::{LroMode, Options};
use vnetlab_engine::Operation;

use crate::Server;

const RECORDINGS: [&str; 5] = [
    "test_network_vnet_peering.yaml",
    "test_network_vnet_peering_sync.yaml",
    "test_network_vnet_peering_with_params.yaml",
    "test_network_vnet_with_encryption.yaml",
    "test_network_vnet_peering_different_resource_groups.yaml",
];

/// The subscription id the recordings are masked to.
const RECORDED_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/recordings")
}

/// Fields whose values are compared, not only their presence and type.
const MEANINGFUL: [&str; 18] = [
    "name",
    "type",
    "id",
    "location",
    "provisioningState",
    "peeringState",
    "peeringSyncLevel",
    "allowVirtualNetworkAccess",
    "allowForwardedTraffic",
    "allowGatewayTransit",
    "useRemoteGateways",
    "peerCompleteVnets",
    "enableOnlyIPv6Peering",
    "addressPrefixes",
    "addressPrefix",
    "localSubnetNames",
    "remoteSubnetNames",
    "code",
];

#[derive(Debug, Deserialize)]
struct Allowed {
    /// `status`, or a field path with `[]` for array items (`properties.subnets[].etag`).
    what: String,
    /// Limits the entry to answers of one resource type.
    #[serde(default)]
    resource_type: Option<String>,
    /// Limits the entry to one kind of difference: missing, extra, type, value, length.
    #[serde(default)]
    difference: Option<String>,
    /// Limits the entry to one recording.
    #[serde(default)]
    recording: Option<String>,
    reason: String,
}

/// One way an answer differs from Azure's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    what: String,
    difference: String,
    resource_type: String,
    detail: String,
}

/// `s` with every GUID (resource guids, etags, operation ids) replaced by `<guid>`.
fn masked(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let candidate: String = chars[i..(i + 36).min(chars.len())].iter().collect();
        if candidate.len() == 36 && uuid::Uuid::parse_str(&candidate).is_ok() {
            out.push_str("<guid>");
            i += 36;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The differences between Azure's body and ours.
fn compare(path: &str, azure: &Value, ours: &Value, resource_type: &str, out: &mut Vec<Difference>) {
    let push = |out: &mut Vec<Difference>, what: &str, difference: &str, detail: String| {
        out.push(Difference {
            what: what.to_owned(),
            difference: difference.to_owned(),
            resource_type: resource_type.to_owned(),
            detail,
        })
    };
    match (azure, ours) {
        (Value::Object(a), Value::Object(o)) => {
            let keys: BTreeSet<&String> = a.keys().chain(o.keys()).collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match (a.get(key), o.get(key)) {
                    (Some(av), Some(ov)) => compare(&child, av, ov, resource_type, out),
                    (Some(av), None) if !av.is_null() => push(out, &child, "missing", masked(&av.to_string())),
                    (None, Some(ov)) if !ov.is_null() => push(out, &child, "extra", masked(&ov.to_string())),
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(o)) => {
            let leaf = path.rsplit('.').next().unwrap_or(path);
            if MEANINGFUL.contains(&leaf) && masked(&azure.to_string()) != masked(&ours.to_string()) {
                push(
                    out,
                    path,
                    "value",
                    format!("Azure {} vnetlab {}", masked(&azure.to_string()), masked(&ours.to_string())),
                );
                return;
            }
            let item_path = format!("{path}[]");
            // Items are matched by name when they have one, else by position.
            let named = |items: &Vec<Value>| -> Option<BTreeMap<String, Value>> {
                items
                    .iter()
                    .map(|i| i.get("name").and_then(Value::as_str).map(|n| (n.to_lowercase(), i.clone())))
                    .collect()
            };
            match (named(a), named(o)) {
                (Some(an), Some(on)) => {
                    for (name, av) in &an {
                        match on.get(name) {
                            Some(ov) => compare(&item_path, av, ov, resource_type, out),
                            None => push(out, &item_path, "missing", format!("item {name}")),
                        }
                    }
                    for name in on.keys().filter(|n| !an.contains_key(*n)) {
                        push(out, &item_path, "extra", format!("item {name}"));
                    }
                }
                _ => {
                    for (av, ov) in a.iter().zip(o.iter()) {
                        compare(&item_path, av, ov, resource_type, out);
                    }
                    if a.len() != o.len() {
                        push(out, path, "length", format!("Azure {} vnetlab {}", a.len(), o.len()));
                    }
                }
            }
        }
        (a, o) if kind_of(a) != kind_of(o) => {
            push(out, path, "type", format!("Azure {} vnetlab {}", masked(&a.to_string()), masked(&o.to_string())))
        }
        (a, o) => {
            let leaf = path.rsplit('.').next().unwrap_or(path);
            if MEANINGFUL.contains(&leaf)
                && masked(&a.to_string()).to_lowercase() != masked(&o.to_string()).to_lowercase()
            {
                push(
                    out,
                    path,
                    "value",
                    format!("Azure {} vnetlab {}", masked(&a.to_string()), masked(&o.to_string())),
                );
            }
        }
    }
}

/// The path of a URL without host and query.
fn path_of(url: &str) -> String {
    let without_host = url
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map(|(_, p)| format!("/{p}")).unwrap_or_default())
        .unwrap_or_else(|| url.to_owned());
    without_host.split('?').next().unwrap_or_default().to_lowercase()
}

/// A recorded request body: old recordings keep it as nested Python byte literals (`b'b\'{...}\''`).
fn decode_body(raw: &str) -> String {
    let mut s = raw.to_owned();
    while s.len() >= 3 && s.starts_with("b'") && s.ends_with('\'') {
        s = s[2..s.len() - 1].replace("\\'", "'").replace("\\\\", "\\");
    }
    s
}

fn header(headers: &Value, name: &str) -> Option<String> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.get(0)?.as_str().map(str::to_owned))
}

fn replay(file: &str) -> Vec<Difference> {
    let text = std::fs::read_to_string(reference_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let recording: Value = yaml_serde::from_str(&text).unwrap();
    let server = Server::with(Options { lro: LroMode::Async, ..Options::default() });
    server
        .app
        .lab
        .execute(&Operation::SubscriptionPut {
            subscription_id: RECORDED_SUBSCRIPTION.into(),
            display_name: "recorded".into(),
            tenant_id: vnetlab_control::DEFAULT_TENANT_ID.into(),
        })
        .unwrap();
    server.grant(
        vnetlab_control::DEFAULT_PRINCIPAL_OBJECT_ID,
        crate::OWNER,
        &format!("/subscriptions/{RECORDED_SUBSCRIPTION}"),
    );
    let mut operations: HashMap<String, String> = HashMap::new();
    let mut differences = Vec::new();
    let interactions = recording["interactions"].as_array().unwrap();
    for (i, interaction) in interactions.iter().enumerate() {
        let request = &interaction["request"];
        let response = &interaction["response"];
        let method = request["method"].as_str().unwrap();
        let uri = request["uri"].as_str().unwrap();
        let recorded_path = path_of(uri);
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let recorded_status = response["status"]["code"].as_u64().unwrap() as u16;
        let azure_body: Value =
            response["body"]["string"].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
        // An operation URL Azure handed out earlier: ask ours instead.
        let url = match operations.get(&recorded_path) {
            Some(ours) => ours.clone(),
            None => {
                let tail = uri.split_once("management.azure.com").map(|(_, p)| p).unwrap_or(uri);
                let keep: Vec<&str> = query
                    .split('&')
                    .filter(|p| {
                        !p.starts_with("t=") && !p.starts_with("c=") && !p.starts_with("s=") && !p.starts_with("h=")
                    })
                    .collect();
                format!("{}{}?{}", server.url, tail.split('?').next().unwrap(), keep.join("&"))
            }
        };
        // The group a recorded session starts from, as its first GET shows it.
        if method == "GET"
            && recorded_path.split('/').count() == 5
            && recorded_path.contains("/resourcegroups/")
            && recorded_status == 200
        {
            let exists = server.raw("GET", &url, None, &[]).status == 200;
            if !exists {
                let seed = serde_json::json!({"location": azure_body["location"], "tags": azure_body["tags"]});
                server.raw("PUT", &url, Some(seed.to_string().into_bytes()), &[]);
            }
        }
        let body = request["body"].as_str().map(|b| decode_body(b).into_bytes());
        let mut ours = server.raw(method, &url, body, &[]);
        let is_poll = recorded_path.contains("/operations/") || recorded_path.contains("/operationresults/");
        // Where Azure's run of polls for an operation ends, a client would poll vnetlab's to its end.
        let next_path = interactions.get(i + 1).and_then(|n| n["request"]["uri"].as_str()).map(path_of);
        if is_poll && next_path.as_deref() != Some(recorded_path.as_str()) {
            for _ in 0..5 {
                let running = ours.status == 202 || ours.body["status"] == "InProgress";
                if !running {
                    break;
                }
                ours = server.raw(method, &url, None, &[]);
            }
        }
        for name in ["Azure-AsyncOperation", "Location"] {
            if let (Some(recorded), Some(answered)) = (header(&response["headers"], name), ours.header(name)) {
                operations.insert(path_of(&recorded), answered.to_owned());
            }
        }
        let resource_type = azure_body["type"].as_str().unwrap_or("").to_owned();
        if ours.status != recorded_status && !(is_poll && ours.status / 100 == recorded_status / 100) {
            differences.push(Difference {
                what: "status".into(),
                difference: "value".into(),
                resource_type: resource_type.clone(),
                detail: format!(
                    "#{i} {method} {recorded_path}: Azure {recorded_status} vnetlab {} {}",
                    ours.status,
                    masked(&ours.body.to_string())
                ),
            });
            continue;
        }
        if is_poll && next_path.as_deref() == Some(recorded_path.as_str()) {
            // Azure's operations take as long as they take; vnetlab's finish on the second poll.
            // The last poll of each operation must agree.
            continue;
        }
        if !azure_body.is_null() {
            compare("", &azure_body, &ours.body, &resource_type, &mut differences);
        }
    }
    differences
}

#[test]
fn recorded_azure_sessions_replay_with_only_listed_differences() {
    let listed: Vec<Allowed> = yaml_serde::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/recorded-differences.yaml"))
            .unwrap(),
    )
    .unwrap();
    let mut used = vec![false; listed.len()];
    let mut unexplained: BTreeSet<String> = BTreeSet::new();
    for file in RECORDINGS {
        for d in replay(file) {
            let generic = d.what.split('.').map(|s| s.trim_end_matches("[]")).collect::<Vec<_>>().join(".");
            let matched = listed.iter().position(|a| {
                (a.what == d.what || a.what == generic)
                    && a.resource_type.as_ref().is_none_or(|t| t.eq_ignore_ascii_case(&d.resource_type))
                    && a.difference.as_ref().is_none_or(|k| k == &d.difference)
                    && a.recording.as_ref().is_none_or(|r| r == file)
            });
            match matched {
                Some(i) => used[i] = true,
                None => {
                    unexplained
                        .insert(format!("{file}: {} {} [{}] {}", d.what, d.difference, d.resource_type, d.detail));
                }
            }
        }
    }
    let stale: Vec<String> =
        listed.iter().zip(&used).filter(|(_, u)| !**u).map(|(a, _)| format!("{} ({})", a.what, a.reason)).collect();
    assert!(
        unexplained.is_empty(),
        "differences from Azure not listed in recorded-differences.yaml:\n{}",
        unexplained.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert!(stale.is_empty(), "listed differences that no longer happen:\n{}", stale.join("\n"));
}
