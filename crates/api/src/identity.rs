//! What a client needs before it talks to ARM: the cloud's endpoints (`az cloud register`), access
//! tokens (managed identity, the instance-metadata service, and a service-principal login through
//! an OpenID Connect authority), and the tenants and subscriptions it may use.
//!
//! Tokens are JWT-shaped, as az reads `tid` from them; their signature is not checked by clients
//! and carries nothing. Who may do what comes with identities and roles, not here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use vnetlab_model::{Kind, View};

use crate::http::{Reply, Request, percent_decode};
use crate::{App, errors};

/// The audience az asks tokens for (the cloud's `activeDirectoryResourceId`).
const MANAGEMENT_AUDIENCE: &str = "https://management.core.windows.net/";
/// The principal behind managed-identity tokens.
const MANAGED_IDENTITY_OBJECT_ID: &str = "0000bbbb-0000-0000-0000-000000000001";
const MANAGED_IDENTITY_CLIENT_ID: &str = "0000bbbb-0000-0000-0000-000000000002";
/// How long a token lasts.
const TOKEN_SECONDS: u64 = 24 * 3600;

/// The cloud as `az cloud register` and `ARM_CLOUD_METADATA_URL` read it. Every endpoint is this
/// server, so nothing a client derives from it leaves the machine. Newer api-versions get one
/// object, older ones an array of clouds (what `ARM_CLOUD_METADATA_URL` expects) [gap: the
/// version that switches].
pub fn metadata_endpoints(req: &Request) -> Reply {
    let base = &req.base;
    let cloud = json!({
        "name": "vnetlab",
        "portal": base,
        "authentication": {
            "loginEndpoint": format!("{base}/"),
            "audiences": [MANAGEMENT_AUDIENCE, "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "media": base,
        "graphAudience": format!("{base}/"),
        "graph": format!("{base}/"),

        "resourceManager": format!("{base}/"),
        "gallery": format!("{base}/"),
        "batch": format!("{base}/"),
        "sqlManagement": format!("{base}/"),
        "microsoftGraphResourceId": format!("{base}/"),
        "appInsightsResourceId": format!("{base}/"),
        "appInsightsTelemetryChannelResourceId": format!("{base}/"),
        "attestationResourceId": format!("{base}/"),
        "synapseAnalyticsResourceId": format!("{base}/"),
        "logAnalyticsResourceId": format!("{base}/"),
        "ossrDbmsResourceId": format!("{base}/"),
        "suffixes": {
            "azureDataLakeStoreFileSystem": "vnetlab.invalid",
            "acrLoginServer": "vnetlab.invalid",
            "sqlServerHostname": "vnetlab.invalid",
            "azureDataLakeAnalyticsCatalogAndJob": "vnetlab.invalid",
            "keyVaultDns": "vnetlab.invalid",
            "storage": "vnetlab.invalid",
            "azureFrontDoorEndpointSuffix": "vnetlab.invalid",
            "storageSyncEndpointSuffix": "vnetlab.invalid",
            "mhsmDns": "vnetlab.invalid",
            "mysqlServerEndpoint": "vnetlab.invalid",
            "postgresqlServerEndpoint": "vnetlab.invalid",
            "sqlDataWarehouseHostname": "vnetlab.invalid",
            "attestationEndpoint": "vnetlab.invalid",
            "synapseAnalytics": "vnetlab.invalid"
        }
    });

    let array = req.api_version().is_some_and(|v| v < "2022-09-01");
    Reply::ok(if array { Value::Array(vec![cloud]) } else { cloud })
}

fn seconds_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A JWT-shaped access token for `object_id` in `tenant_id`.
fn token(tenant_id: &str, object_id: &str, app_id: &str, audience: &str) -> String {
    let now = seconds_now();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "vnetlab"});
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_SECONDS,
        "tid": tenant_id,
        "oid": object_id,
        "sub": object_id,
        "appid": app_id,
        "idtyp": "app",
        "ver": "1.0"
    });
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(&claims), URL_SAFE_NO_PAD.encode("vnetlab: unsigned"))
}

/// The audience a token is asked for: `resource=` (v1) or the scope without `/.default` (v2).
fn audience(resource: Option<&str>, scope: Option<&str>) -> String {
    if let Some(r) = resource.filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    if let Some(s) = scope.and_then(|s| s.split_whitespace().find(|s| s.ends_with("/.default"))) {
        return s.trim_end_matches(".default").to_owned();
    }
    MANAGEMENT_AUDIENCE.to_owned()
}

/// The App Service managed-identity protocol (`IDENTITY_ENDPOINT`), or with `imds` the VM
/// instance-metadata one.
pub fn managed_identity_token(app: &App, req: &Request, imds: bool) -> Reply {
    if req.method != axum::http::Method::GET {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    let resource = audience(req.query("resource"), None);
    let access_token = token(&app.options.tenant_id, MANAGED_IDENTITY_OBJECT_ID, MANAGED_IDENTITY_CLIENT_ID, &resource);
    let now = seconds_now();
    let expires_on = (now + TOKEN_SECONDS).to_string();
    let mut body = json!({
        "access_token": access_token,
        "expires_on": expires_on,
        "resource": resource,
        "token_type": "Bearer",
        "client_id": MANAGED_IDENTITY_CLIENT_ID
    });
    if imds && let Some(map) = body.as_object_mut() {
        map.insert("expires_in".into(), json!(TOKEN_SECONDS.to_string()));
        map.insert("ext_expires_in".into(), json!(TOKEN_SECONDS.to_string()));
        map.insert("not_before".into(), json!(now.to_string()));
    }
    Reply::ok(body)
}

/// The OpenID Connect document of an authority: `/{tenant}` or `/adfs`.
pub fn openid_configuration(req: &Request, authority: &str) -> Reply {
    let base = &req.base;
    let v2 = req.segments.iter().any(|s| s.eq_ignore_ascii_case("v2.0"));
    let adfs = authority.eq_ignore_ascii_case("adfs");
    let oauth =
        if adfs || !v2 { format!("{base}/{authority}/oauth2") } else { format!("{base}/{authority}/oauth2/v2.0") };
    let issuer = if adfs {
        format!("{base}/adfs")
    } else if v2 {
        format!("{base}/{authority}/v2.0")
    } else {
        format!("https://sts.windows.net/{authority}/")
    };
    Reply::ok(json!({
        "token_endpoint": format!("{oauth}/token"),
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "issuer": issuer,
        "jwks_uri": format!("{base}/{authority}/discovery/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"]
    }))
}

/// A service principal's token (client credentials), as Microsoft Entra ID's v1 or v2 endpoint.
pub fn aad_token(app: &App, req: &Request, authority: &str, v2: bool) -> Reply {
    if req.method != axum::http::Method::POST {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    let form: Vec<(String, String)> = String::from_utf8_lossy(&req.body)
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(client_id) = field("client_id").filter(|c| !c.is_empty()) else {
        return Reply::json(
            400,
            json!({
                "error": "invalid_request",
                "error_description": "AADSTS900144: The request body must contain the following parameter: 'client_id'."
            }),
        );
    };
    let tenant = if authority.eq_ignore_ascii_case("adfs")
        || authority.eq_ignore_ascii_case("common")
        || authority.eq_ignore_ascii_case("organizations")
    {
        app.options.tenant_id.clone()
    } else {
        authority.to_owned()
    };
    let audience = audience(field("resource"), field("scope"));
    let object_id = if uuid::Uuid::parse_str(client_id).is_ok() {
        client_id.to_owned()
    } else {
        MANAGED_IDENTITY_OBJECT_ID.to_owned()
    };
    let access_token = token(&tenant, &object_id, client_id, &audience);
    let seconds = TOKEN_SECONDS - 1;
    if v2 {
        Reply::ok(
            json!({"token_type": "Bearer", "expires_in": seconds, "ext_expires_in": seconds, "access_token": access_token}),
        )
    } else {
        let now = seconds_now();
        Reply::ok(json!({
            "token_type": "Bearer",
            "expires_in": seconds.to_string(),
            "ext_expires_in": seconds.to_string(),
            "expires_on": (now + seconds).to_string(),
            "not_before": now.to_string(),
            "resource": audience,
            "access_token": access_token
        }))
    }
}

fn subscription_body(s: &vnetlab_model::Subscription) -> Value {
    json!({
        "id": s.id,
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.subscription_id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": s.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        }
    })
}

pub fn subscriptions(app: &App) -> Reply {
    match app.lab.read(|s| {
        s.all_of(Kind::Subscription)
            .iter()
            .filter_map(|x| x.resource.as_subscription())
            .map(subscription_body)
            .collect::<Vec<_>>()
    }) {
        Ok(list) => Reply::ok(json!({"count": {"type": "Total", "value": list.len()}, "value": list})),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}

pub fn subscription(app: &App, subscription_id: &str) -> Reply {
    match app.lab.read(|s| find_subscription(s, subscription_id).map(subscription_body)) {
        Ok(Some(body)) => Reply::ok(body),
        Ok(None) => subscription_missing(subscription_id).into(),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}

/// The subscription with this id, compared without case.
pub fn find_subscription<'s>(
    state: &'s vnetlab_model::State,
    subscription_id: &str,
) -> Option<&'s vnetlab_model::Subscription> {
    state
        .all_of(Kind::Subscription)
        .into_iter()
        .filter_map(|x| x.resource.as_subscription())
        .find(|x| x.subscription_id.eq_ignore_ascii_case(subscription_id))
}

/// ARM's answer for a subscription the lab does not have: malformed ids are refused as such.
pub fn subscription_missing(subscription_id: &str) -> vnetlab_model::AzureError {
    if uuid::Uuid::parse_str(subscription_id).is_ok() {
        vnetlab_engine::errors::subscription_not_found(subscription_id)
    } else {
        errors::invalid_subscription_id(subscription_id)
    }
}

pub fn tenants(app: &App) -> Reply {
    let listed = app.lab.read(|s| {
        s.all_of(Kind::Tenant)
            .iter()
            .filter_map(|x| x.resource.as_tenant())
            .map(|t| {
                json!({
                    "id": t.id,
                    "tenantId": t.tenant_id,
                    "countryCode": "US",
                    "displayName": t.display_name,
                    "domains": [t.default_domain],
                    "tenantCategory": t.tenant_category,
                    "defaultDomain": t.default_domain,
                    "tenantType": "AAD"
                })
            })
            .collect::<Vec<_>>()
    });
    match listed {
        Ok(list) => Reply::ok(json!({"value": list})),
        Err(e) => errors::internal(&e.to_string()).into(),
    }
}
