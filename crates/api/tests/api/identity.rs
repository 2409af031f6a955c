//! What clients read before ARM: the cloud's endpoints, tokens, tenants and subscriptions.

use base64::Engine;
use serde_json::{Value, json};

use crate::{SUB, Server};

pub fn claims(token: &str) -> Value {
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
    let app_id = "aaaaaaaa-0000-0000-0000-000000000001";
    let oid = s.add_principal(tenant, app_id, "right secret", &[]);
    let c = claims(&s.sign_in(tenant, app_id, "right%20secret"));
    assert_eq!(
        (c["tid"].as_str(), c["appid"].as_str(), c["oid"].as_str()),
        (Some(tenant), Some(app_id), Some(oid.as_str()))
    );
    let attempt = |tenant: &str, client: &str, secret: &str| {
        let form = format!(
            "client_id={client}&grant_type=client_credentials&client_secret={secret}&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default"
        );
        s.raw("POST", &format!("{}/{tenant}/oauth2/v2.0/token", s.url), Some(form.into_bytes()), &[])
    };
    let wrong = attempt(tenant, app_id, "wrong");
    assert_eq!((wrong.status, wrong.body["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        wrong.body["error_description"].as_str().unwrap().starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    let unknown = attempt(tenant, "bbbbbbbb-0000-0000-0000-000000000001", "x");
    assert_eq!((unknown.status, unknown.body["error_codes"][0].as_u64()), (400, Some(700016)));
    let elsewhere = attempt("0000aaaa-0000-0000-0000-000000000001", app_id, "right%20secret");
    assert_eq!(elsewhere.body["error_codes"][0].as_u64(), Some(700016), "not a member of the default tenant");
    let nowhere = attempt("99999999-0000-0000-0000-000000000001", app_id, "right%20secret");
    assert_eq!((nowhere.status, nowhere.body["error_codes"][0].as_u64()), (400, Some(90002)));
    // The default principal has no secret: it signs in as the managed identity only.
    let default = attempt("0000aaaa-0000-0000-0000-000000000001", "0000bbbb-0000-0000-0000-000000000002", "");
    assert_eq!(default.status, 401);
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

/// Every ARM request needs a token the lab signed, unexpired, for ARM, for a principal it has.
#[test]
fn arm_refuses_requests_without_a_good_token() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let s = Server::start();
    let path = format!("{}/subscriptions/{SUB}/resourcegroups?api-version=2024-11-01", s.url);
    let with = |header: Option<String>| {
        let headers: Vec<(&str, &str)> = match &header {
            Some(h) => vec![("Authorization", h.as_str())],
            None => vec![],
        };
        // The harness adds its own token only when none is named; an empty one stands for none.
        let headers = if header.is_none() { vec![("Authorization", "")] } else { headers };
        s.raw("GET", &path, None, &headers)
    };
    assert_eq!(with(Some(format!("Bearer {}", s.token))).status, 200);
    let missing = with(None);
    assert_eq!((missing.status, missing.code()), (401, "AuthenticationFailed"));
    assert!(missing.header("www-authenticate").unwrap().starts_with("Bearer authorization_uri="));
    assert_eq!(with(Some("Basic abc".into())).code(), "AuthenticationFailed");
    assert_eq!(with(Some("Bearer not-a-jwt".into())).code(), "InvalidAuthenticationToken");

    // A token made elsewhere, with the default principal's claims, and one with its claims changed.
    let genuine = claims(&s.token);
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"typ": "JWT", "alg": "HS256"});
    let forged = vnetlab_control::tokens::SigningKey::generate().sign(&genuine);
    let mut other = genuine.clone();
    other["oid"] = json!("ffffffff-0000-0000-0000-000000000009");
    let signature = s.token.rsplit('.').next().unwrap();
    let altered = format!("{}.{}.{signature}", part(&header), part(&other));
    let unsigned = format!("{}.{}.", part(&json!({"alg": "none"})), part(&genuine));
    for bad in [forged, altered, unsigned] {
        let r = with(Some(format!("Bearer {bad}")));
        assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"), "{bad}");
    }

    // Signed by the lab, but expired, for another audience, or for a principal it does not have.
    let signed = |edit: &dyn Fn(&mut Value)| {
        let mut c = genuine.clone();
        edit(&mut c);
        format!("Bearer {}", s.app.options.signing_key.sign(&c))
    };
    let expired = with(Some(signed(&|c| c["exp"] = json!(1_700_000_000u64))));
    assert_eq!((expired.status, expired.code()), (401, "ExpiredAuthenticationToken"));
    assert!(expired.body["error"]["message"].as_str().unwrap().contains("'11/14/2023 10:13:20 PM' is earlier than"));
    let audience = with(Some(signed(&|c| c["aud"] = json!("https://graph.microsoft.com/"))));
    assert_eq!(audience.code(), "InvalidAuthenticationTokenAudience");
    let stranger = with(Some(signed(&|c| c["oid"] = json!("ffffffff-0000-0000-0000-000000000009"))));
    assert_eq!(stranger.code(), "InvalidAuthenticationToken");
    let no_oid = with(Some(signed(&|c| {
        c.as_object_mut().unwrap().remove("oid");
    })));
    assert!(no_oid.body["error"]["message"].as_str().unwrap().contains("'oid' should be present"));
    // Nothing was listed to anyone refused.
    assert!(missing.body.get("value").is_none());
}

/// A token of one tenant does not reach another tenant's subscription, and lists show only what
/// the principal may read.
#[test]
fn tenants_and_roles_bound_what_a_token_reaches() {
    let s = Server::start();
    let other_tenant = "22222222-0000-0000-0000-000000000001";
    let app_id = "22222222-aaaa-0000-0000-000000000001";
    s.add_principal(other_tenant, app_id, "pw", &[]);
    let token = s.sign_in(other_tenant, app_id, "pw");
    let auth = format!("Bearer {token}");
    let get = |path: &str| s.raw("GET", &format!("{}{path}", s.url), None, &[("Authorization", auth.as_str())]);
    let wrong = get(&format!("/subscriptions/{SUB}/resourcegroups?api-version=2024-11-01"));
    assert_eq!((wrong.status, wrong.code()), (401, "InvalidAuthenticationTokenTenant"));
    assert!(wrong.body["error"]["message"].as_str().unwrap().starts_with(&format!(
        "The access token is from the wrong issuer 'https://sts.windows.net/{other_tenant}/'. It must match the tenant 'https://sts.windows.net/0000aaaa-0000-0000-0000-000000000001/'"
    )));
    let listed = get("/subscriptions?api-version=2022-12-01");
    assert_eq!(listed.body["value"], json!([]), "no subscription of its own tenant gives it a role");
    let tenants = get("/tenants?api-version=2022-12-01");
    assert_eq!(tenants.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(tenants.body["value"][0]["tenantId"], other_tenant);
    // A principal of the subscription's own tenant with no role there does not see it either.
    let nobody = "33333333-aaaa-0000-0000-000000000001";
    s.add_principal("0000aaaa-0000-0000-0000-000000000001", nobody, "pw", &[]);
    let token = s.sign_in("0000aaaa-0000-0000-0000-000000000001", nobody, "pw");
    let hidden = s.raw(
        "GET",
        &format!("{}/subscriptions/{SUB}?api-version=2022-12-01", s.url),
        None,
        &[("Authorization", format!("Bearer {token}").as_str())],
    );
    assert_eq!((hidden.status, hidden.code()), (404, "SubscriptionNotFound"));
    // The default principal sees its subscription and tenant only.
    let mine = s.get("/subscriptions?api-version=2022-12-01").body;
    assert_eq!(mine["value"].as_array().unwrap().len(), 1);
    assert_eq!(s.get("/tenants?api-version=2022-12-01").body["value"].as_array().unwrap().len(), 1);
}

/// A user signs in with a password and gets an ID token, the account's ids and a refresh token;
/// the refresh token gets new access tokens, and only the lab's own refresh tokens do.
#[test]
fn users_sign_in_with_a_password_and_refresh() {
    let s = Server::start();
    let tenant = "0000aaaa-0000-0000-0000-000000000001";
    let user = "ana@vnetlab.onmicrosoft.com";
    s.app
        .lab
        .execute(&vnetlab_engine::Operation::PrincipalPut {
            spec: vnetlab_engine::PrincipalSpec {
                tenant_id: tenant.into(),
                object_id: "abab0000-0000-0000-0000-000000000001".into(),
                display_name: "Ana".into(),
                principal_type: vnetlab_model::PrincipalType::User,
                app_id: None,
                user_principal_name: Some(user.into()),
                secret_digest: Some(vnetlab_control::tokens::secret_digest("pw")),
                guest_of: Vec::new(),
            },
        })
        .unwrap();
    let post = |form: String| s.raw("POST", &format!("{}/adfs/oauth2/token", s.url), Some(form.into_bytes()), &[]);
    let scope = "scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default";
    let signed = post(format!("client_id=az&grant_type=password&username={user}&password=pw&{scope}"));
    assert_eq!(signed.status, 200, "{:#}", signed.body);
    assert_eq!(signed.body["expires_in"].as_u64(), Some(86_399), "ADFS writes numbers");
    let id = claims(signed.body["id_token"].as_str().unwrap());
    assert_eq!((id["preferred_username"].as_str(), id["aud"].as_str()), (Some(user), Some("az")));
    let refresh = signed.body["refresh_token"].as_str().unwrap().to_owned();
    let again = post(format!("client_id=az&grant_type=refresh_token&refresh_token={refresh}&{scope}"));
    assert_eq!(again.status, 200, "{:#}", again.body);
    assert_eq!(claims(again.body["access_token"].as_str().unwrap())["upn"], user);
    for bad in [
        format!("client_id=other&grant_type=refresh_token&refresh_token={refresh}&{scope}"),
        format!("client_id=az&grant_type=refresh_token&refresh_token={}&{scope}", s.token),
        format!("client_id=az&grant_type=refresh_token&refresh_token=garbage&{scope}"),
        format!("client_id=az&grant_type=password&username={user}&password=nope&{scope}"),
    ] {
        let r = post(bad.clone());
        assert_eq!((r.status, r.body["error"].as_str()), (400, Some("invalid_grant")), "{bad}");
    }
}
