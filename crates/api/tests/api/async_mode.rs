//! Long-running operations the way Azure runs them: `Updating` until polled to completion, with
//! both polling paths (Azure-AsyncOperation and Location) and Retry-After.

use serde_json::json;
use vnetlab_api::{LroMode, Options};

use crate::{Server, net, rg};

fn server() -> Server {
    Server::with(Options { lro: LroMode::Async, ..Options::default() })
}

#[test]
fn a_put_is_updating_until_its_operation_is_polled_to_the_end() {
    let s = server();
    assert_eq!(s.put(&rg("rg"), json!({"location": "westus"})).status, 201);
    let vnet = net("rg", "virtualNetworks/v");
    let r = s.put(
        &vnet,
        json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert_eq!(r.header("retry-after"), Some("1"));
    let status = r.header("azure-asyncoperation").unwrap().to_owned();
    assert!(
        status.starts_with(&format!("{}/subscriptions/", s.url))
            && status.contains("/providers/Microsoft.Network/locations/westus/operations/")
    );
    // A second write on the busy resource is refused, retryably.
    let busy = s.put(
        &vnet,
        json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
    );
    assert_eq!((busy.status, busy.code()), (409, "AnotherOperationInProgress"));
    assert_eq!(s.get(&status).body, json!({"status": "InProgress"}));
    assert_eq!(s.get(&vnet).body["properties"]["provisioningState"], "Updating");
    assert_eq!(s.get(&status).body, json!({"status": "Succeeded"}));
    assert_eq!(s.get(&status).body, json!({"status": "Succeeded"}));
    assert_eq!(s.get(&vnet).body["properties"]["provisioningState"], "Succeeded");
}

#[test]
fn a_delete_answers_202_with_both_polling_urls() {
    let s = server();
    s.put(&rg("rg"), json!({"location": "westus"}));
    let nsg = net("rg", "networkSecurityGroups/n");
    let created = s.put(&nsg, json!({"location": "westus"}));
    let op = created.header("azure-asyncoperation").unwrap().to_owned();
    s.get(&op);
    s.get(&op);
    let d = s.delete(&nsg);
    assert_eq!(d.status, 202);
    let status = d.header("azure-asyncoperation").unwrap().to_owned();
    let location = d.header("location").unwrap().to_owned();
    assert!(location.contains("/operationResults/"));
    assert_eq!(s.get(&location).status, 202, "still running on the first poll");
    assert_eq!(s.get(&status).body["status"], "Succeeded");
    assert_eq!(s.get(&location).status, 204);
    assert_eq!(s.get(&nsg).status, 404);
    assert_eq!(s.delete(&nsg).status, 204);
}

#[test]
fn a_group_delete_is_polled_through_its_location() {
    let s = server();
    s.put(&rg("gone"), json!({"location": "westus"}));
    let d = s.delete(&rg("gone"));
    assert_eq!(d.status, 202);
    let location = d.header("location").unwrap().to_owned();
    assert!(location.contains("/operationresults/"), "{location}");
    assert_eq!(s.get(&location).status, 202);
    assert_eq!(s.get(&location).status, 200);
    assert_eq!(s.call("HEAD", &rg("gone"), None).status, 404);
}

#[test]
fn operations_nobody_polls_complete_on_their_own() {
    let s = server();
    s.put(&rg("rg"), json!({"location": "westus"}));
    let vnet = net("rg", "virtualNetworks/v");
    s.put(&vnet, json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}));
    s.app.complete_stale_operations(std::time::Duration::ZERO);
    assert_eq!(s.get(&vnet).body["properties"]["provisioningState"], "Succeeded");
    let unknown = s.get(&format!(
        "/subscriptions/{}/providers/Microsoft.Network/locations/westus/operations/{}",
        crate::SUB,
        uuid::Uuid::new_v4()
    ));
    assert_eq!((unknown.status, unknown.code()), (404, "OperationNotFound"));
}

#[test]
fn writes_azure_does_not_run_long_complete_at_once() {
    let s = server();
    s.put(&rg("rg"), json!({"location": "westus"}));
    let nsg = net("rg", "networkSecurityGroups/n");
    let op = s.put(&nsg, json!({"location": "westus"})).header("azure-asyncoperation").unwrap().to_owned();
    s.get(&op);
    s.get(&op);
    // A tag update is not long-running.
    let tagged = s.call("PATCH", &nsg, Some(&json!({"tags": {"a": "b"}})));
    assert_eq!(tagged.status, 200);
    assert!(tagged.header("azure-asyncoperation").is_none());
    assert_eq!(tagged.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(s.put(&nsg, json!({"location": "westus", "tags": {"a": "c"}})).status, 200, "not left busy");
    // Neither is a network watcher.
    let watcher = net("rg", "networkWatchers/NetworkWatcher_westus");
    let created = s.put(&watcher, json!({"location": "westus"}));
    assert_eq!((created.status, created.header("azure-asyncoperation")), (201, None));
    assert_eq!(created.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(s.delete(&watcher).status, 202);
}
