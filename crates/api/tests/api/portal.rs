//! The portal over HTTPS: its assets, its event stream, and what its topology page asks (the
//! picture, traces, the reachability matrix), each for what the caller may read.

use std::io::Read;

use serde_json::{Value, json};
use vnetlab_api::Options;

use crate::{READER, SUB, Server, example};

#[test]
fn the_portal_is_served_with_its_policy_and_events_need_a_token() {
    let s = Server::start();
    for (path, kind) in [("/", "text/html"), ("/portal/app.js", "text/javascript"), ("/portal/style.css", "text/css")] {
        let r = reqwest_get(&s, path);
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let headers = r.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    }
    let session = s.get("/portal/session").body;
    assert_eq!(session["principals"], 1);
    let refused = reqwest_get(&s, "/portal/events?access_token=forged");
    assert_eq!(refused.status().as_u16(), 401);
    let mut stream = reqwest_get(&s, &format!("/portal/events?access_token={}", s.token));
    assert_eq!(stream.status().as_u16(), 200);
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).unwrap();
    let text = String::from_utf8_lossy(&first[..n]);
    assert!(text.starts_with("event: revision\ndata: "), "{text}");
}

fn reqwest_get(s: &Server, path: &str) -> reqwest::blocking::Response {
    s.client().get(format!("{}{path}", s.url)).send().unwrap()
}

fn vm(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/hub-and-spoke-rg/providers/Microsoft.Compute/virtualMachines/{name}")
}

fn vnet(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/hub-and-spoke-rg/providers/Microsoft.Network/virtualNetworks/{name}")
}

/// The names of the places a leg of a trace crosses.
fn steps(trace: &Value, leg: &str) -> Vec<String> {
    trace["steps"][leg]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect()
}

fn names(picture: &Value) -> Vec<&str> {
    picture["nodes"].as_array().unwrap().iter().map(|n| n["lines"][0].as_str().unwrap()).collect()
}

#[test]
fn the_topology_page_draws_traces_and_reachability_of_what_the_caller_may_read() {
    let s = Server::with_topology(Options::default(), &example("hub-and-spoke.yaml"));
    let picture = s.get("/portal/topology").body;
    assert_eq!(names(&picture), ["hub", "spoke1", "spoke2", "spoke3", "hub-vpngw", "branch-office"]);
    let edges = picture["edges"].as_array().unwrap();
    let kinds: Vec<&str> = edges.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["peering", "peering", "peering", "attachment", "connection"]);
    assert!(edges[..3].iter().all(|e| e["states"] == json!(["Connected", "Connected"])));
    let vms: Vec<(&str, u64)> = picture["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["node"].as_u64().unwrap()))
        .collect();
    assert_eq!(vms, [("nva", 0), ("shared-vm", 0), ("spoke1-vm", 1), ("spoke2-vm", 2), ("spoke3-vm", 3)]);
    assert!(picture["revision"].as_u64().unwrap() > 0);
    // The list page's rows.
    let rows = s.get("/portal/vnets").body;
    let rows: Vec<(&str, &str, u64)> = rows["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["name"].as_str().unwrap(), r["addressPrefixes"][0].as_str().unwrap(), r["peerings"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("hub", "10.0.0.0/16", 3),
            ("spoke1", "10.1.0.0/16", 1),
            ("spoke2", "10.2.0.0/16", 1),
            ("spoke3", "10.3.0.0/16", 1)
        ]
    );

    // spoke1 → spoke2 goes through the hub's appliance, and back.
    let ask = |from: &str, to: &str| {
        s.call("POST", "/portal/trace", Some(&json!({"source": vm(from), "destination": vm(to), "protocol": "Icmp"})))
    };
    let trace = ask("spoke1-vm", "spoke2-vm").body;
    assert_eq!(trace["reachable"], true, "{trace:#}");
    assert_eq!(steps(&trace, "forward"), ["spoke1", "hub", "spoke2"]);
    assert_eq!(steps(&trace, "return"), ["spoke2", "hub", "spoke1"]);

    // Without the hub's link to spoke2, the trace names the blocker and where the packet stops.
    assert_eq!(s.delete(&format!("{}/virtualNetworkPeerings/hub-to-spoke2", vnet("hub"))).status, 200);
    let trace = ask("spoke1-vm", "spoke2-vm").body;
    assert_eq!(trace["reachable"], false);
    assert!(trace["blockers"].as_array().unwrap().iter().any(|b| b["kind"] == "Peering"), "{trace:#}");
    assert!(trace["steps"]["forward"].as_array().unwrap().iter().any(|s| s["blocked"] == true), "{trace:#}");
    let picture = s.get("/portal/topology").body;
    let lone: Vec<&Value> = picture["edges"].as_array().unwrap().iter().filter(|e| e["kind"] == "link").collect();
    assert_eq!(lone.len(), 1);
    assert_eq!(lone[0]["states"], json!(["Disconnected"]));

    // The matrix by VNet, and the site.
    let matrix = s.get("/portal/reach?protocol=Icmp").body;
    let members: Vec<&str> =
        matrix["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(members, ["hub", "spoke1", "spoke2", "spoke3", "branch-office"]);
    assert_eq!(matrix["reaches"][1][2], false, "spoke1 no longer reaches spoke2");
    assert_eq!(matrix["reaches"][1][3], true, "spoke1 reaches spoke3 through the appliance");
    assert_eq!(matrix["reaches"][1][0], true);

    // Bad input: clear errors, in ARM's envelope.
    for (method, path, body, status) in [
        ("GET", "/portal/reach?protocol=udp", None, 400),
        ("GET", "/portal/reach?port=99999", None, 400),
        ("POST", "/portal/trace", Some(json!({"source": vnet("hub"), "destination": vm("nva")})), 400),
        ("POST", "/portal/trace", Some(json!({"source": vm("nva")})), 400),
        ("POST", "/portal/trace", Some(json!({"source": vm("nva"), "destination": vm("nowhere")})), 404),
        ("POST", "/portal/trace", Some(json!({"source": vm("nva"), "destination": vm("shared-vm"), "port": "x"})), 400),
        ("GET", "/portal/trace", None, 405),
        ("GET", "/portal/elsewhere", None, 404),
    ] {
        let r = s.call(method, path, body.as_ref());
        assert_eq!(r.status, status, "{method} {path}: {:#}", r.body);
        assert!(!r.code().is_empty());
    }
    let anonymous = s.raw("GET", &format!("{}/portal/topology", s.url), None, &[("Authorization", "Bearer forged")]);
    assert_eq!(anonymous.status, 401);

    // A reader of spoke1 and its VM sees them, the hub as a VNet it cannot read, and nothing else.
    let oid = s.add_principal(vnetlab_control::DEFAULT_TENANT_ID, READER_APP, "reader-secret", &[]);
    s.grant(&oid, READER, &vnet("spoke1"));
    s.grant(&oid, READER, &vm("spoke1-vm"));
    let token = format!("Bearer {}", s.sign_in(vnetlab_control::DEFAULT_TENANT_ID, READER_APP, "reader-secret"));
    let as_reader = |method: &str, path: &str, body: Option<Value>| {
        s.raw(
            method,
            &format!("{}{path}", s.url),
            body.map(|b| b.to_string().into_bytes()),
            &[("Authorization", &token)],
        )
    };
    let rows = as_reader("GET", "/portal/vnets", None).body;
    assert_eq!(rows["value"].as_array().unwrap().len(), 1);
    assert_eq!(rows["value"][0]["name"], "spoke1");
    let picture = as_reader("GET", "/portal/topology", None).body;
    assert_eq!(names(&picture), ["spoke1", "hub"]);
    assert_eq!(picture["nodes"][1]["lines"][1], "virtual network you cannot read");
    // The VM is placed only once its NIC is readable too (the NIC says which VNet it is in).
    assert_eq!(picture["vms"].as_array().unwrap().len(), 0);
    let nic = format!(
        "/subscriptions/{SUB}/resourceGroups/hub-and-spoke-rg/providers/Microsoft.Network/networkInterfaces/spoke1-vm-nic"
    );
    s.grant(&oid, READER, &nic);
    let picture = as_reader("GET", "/portal/topology", None).body;
    assert_eq!(picture["vms"].as_array().unwrap().len(), 1);
    let denied = as_reader(
        "POST",
        "/portal/trace",
        Some(json!({"source": vm("spoke1-vm"), "destination": vm("spoke2-vm"), "protocol": "Icmp"})),
    );
    assert_eq!((denied.status, denied.code()), (403, "AuthorizationFailed"));
    let matrix = as_reader("GET", "/portal/reach", None).body;
    assert_eq!(matrix["members"].as_array().unwrap().len(), 1);

    // With both ends readable, the trace runs through the hub, which the reader may not read:
    // what it says of the hub and its appliance is left out.
    s.grant(&oid, READER, &vm("spoke3-vm"));
    let trace = as_reader(
        "POST",
        "/portal/trace",
        Some(json!({"source": vm("spoke1-vm"), "destination": vm("spoke3-vm"), "protocol": "Icmp"})),
    );
    assert_eq!(trace.status, 200, "{:#}", trace.body);
    let text = trace.body.to_string();
    for secret in ["nva", "/virtualNetworks/hub", "hub-to-spoke3", "10.0.1.4", "spokes-through-nva"] {
        assert!(!text.contains(secret), "the trace shows {secret}: {:#}", trace.body);
    }
    assert!(text.contains("a resource you cannot read"), "{:#}", trace.body);
    assert_eq!(trace.body["reachable"], true);
    assert_eq!(steps(&trace.body, "forward"), ["spoke1"], "only the readable VNet is drawn");
    // The owner sees the whole path.
    let whole = ask("spoke1-vm", "spoke3-vm").body.to_string();
    assert!(whole.contains("nva") && whole.contains("/virtualNetworks/hub"));
}

const READER_APP: &str = "cccc2222-0000-0000-0000-00000000000c";
