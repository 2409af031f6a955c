//! What clients read before ARM: the cloud's endpoints, tokens, tenants and subscriptions.

use base64::Engine;
use serde_json::{Value, json};

use crate::{SUB, Server};

fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn cloud_metadata_in_both_forms() {
    let s = Server::start();
    let object = s.get("/metadata/endpoints?api-version=2022-09-01").body;
    assert_eq!(object["resourceManager"], json!(format!("{}/", s.url)));
    assert_eq!(object["authentication"]["audiences"][0], "https://management.core.windows.net/");
    assert!(object["suffixes"].is_object() && object["name"].is_string());
    let array = s.get("/metadata/endpoints?api-version=2019-05-01").body;
    assert_eq!(array.as_array().unwrap().len(), 1);
    assert_eq!(array[0]["resourceManager"], object["resourceManager"]);
    // az concatenates the endpoint it was given with the path: a double slash.
    let doubled = s.raw("GET", &format!("{}//metadata/endpoints?api-version=2022-09-01", s.url), None, &[]);
    assert_eq!(doubled.status, 200);
}

#[test]
fn tokens_carry_the_tenant() {
    let s = Server::start();
    let msi = s.get("/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.core.windows.net%2F").body;
    assert_eq!(msi["token_type"], "Bearer");
    assert!(msi["expires_on"].as_str().unwrap().parse::<u64>().is_ok());
    let c = claims(msi["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], "0000aaaa-0000-0000-0000-000000000001");
    assert_eq!(c["aud"], "https://management.core.windows.net/");
    let imds =
        s.get("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/").body;
    assert_eq!(imds["expires_in"], "86400");
    let tenant = "11111111-2222-3333-4444-555555555555";
    let oidc = s.get(&format!("/{tenant}/v2.0/.well-known/openid-configuration")).body;
    assert_eq!(oidc["token_endpoint"], json!(format!("{}/{tenant}/oauth2/v2.0/token", s.url)));
    let form = "client_id=aaaaaaaa-0000-0000-0000-000000000001&grant_type=client_credentials&client_secret=x&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default";
    let sp = s.raw(
        "POST",
        &format!("{}/{tenant}/oauth2/v2.0/token", s.url),
        Some(form.as_bytes().to_vec()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(sp.status, 200);
    let c = claims(sp.body["access_token"].as_str().unwrap());
    assert_eq!((c["tid"].as_str(), c["appid"].as_str()), (Some(tenant), Some("aaaaaaaa-0000-0000-0000-000000000001")));
    let adfs = s.get("/adfs/.well-known/openid-configuration").body;
    assert_eq!(adfs["token_endpoint"], json!(format!("{}/adfs/oauth2/token", s.url)));
    let missing = s.raw("POST", &format!("{}/{tenant}/oauth2/v2.0/token", s.url), Some(b"grant_type=x".to_vec()), &[]);
    assert_eq!((missing.status, missing.body["error"].as_str()), (400, Some("invalid_request")));
}

#[test]
fn subscriptions_and_tenants() {
    let s = Server::start();
    let list = s.get("/subscriptions?api-version=2022-12-01").body;
    assert_eq!(list["value"][0]["subscriptionId"], SUB);
    assert_eq!(list["value"][0]["state"], "Enabled");
    assert_eq!(list["value"][0]["id"], json!(format!("/subscriptions/{SUB}")));
    assert_eq!(s.get(&format!("/subscriptions/{SUB}")).body["displayName"], "vnetlab");
    let missing = s.get("/subscriptions/99999999-0000-0000-0000-000000000000");
    assert_eq!((missing.status, missing.code()), (404, "SubscriptionNotFound"));
    let malformed = s.get("/subscriptions/not-a-guid/resourcegroups");
    assert_eq!((malformed.status, malformed.code()), (400, "InvalidSubscriptionId"));
    let tenants = s.get("/tenants").body;
    assert_eq!(tenants["value"][0]["tenantId"], "0000aaaa-0000-0000-0000-000000000001");
}
