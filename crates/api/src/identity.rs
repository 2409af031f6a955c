//! What a client needs before it talks to ARM: the cloud's endpoints (`az cloud register`), access
//! tokens (managed identity, the instance-metadata service, and a service-principal login through
//! an OpenID Connect authority), and the tenants and subscriptions it may use.
//!
//! Tokens are issued for the lab's principals only, in a tenant they belong to, and signed by the
//! lab (`auth`); service principals and users prove themselves with their secret.

use serde_json::{Value, json};
use vnetlab_control::{DEFAULT_PRINCIPAL_OBJECT_ID, DEFAULT_TENANT_ID};
use vnetlab_model::{Kind, Principal, ResourceId, State, View, ViewExt};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::{TOKEN_SECONDS, issue, seconds_now};
use crate::http::{Reply, Request, percent_decode};
use crate::{App, errors};

/// The audience az asks tokens for (the cloud's `activeDirectoryResourceId`).
const MANAGEMENT_AUDIENCE: &str = "https://management.core.windows.net/";

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

fn principals(state: &State) -> impl Iterator<Item = &Principal> {
    state.all_of(Kind::Principal).into_iter().filter_map(|p| p.resource.as_principal())
}

/// The App Service managed-identity protocol (`IDENTITY_ENDPOINT`), or with `imds` the VM
/// instance-metadata one. The identity is the lab's default principal, or the one `client_id`,
/// `object_id` or `principal_id` names (a user-assigned identity, `az login --identity
/// --client-id`): a principal without a secret. As an Azure VM's endpoint answers any process on
/// the VM, this one answers any client that reaches the server.
pub fn managed_identity_token(app: &App, req: &Request, imds: bool) -> Reply {
    if req.method != axum::http::Method::GET {
        return errors::method_not_allowed(req.method.as_str()).into();
    }
    let resource = audience(req.query("resource"), None);
    let wanted =
        ["client_id", "object_id", "principal_id"].iter().find_map(|k| req.query(k).map(|v| (*k, v.to_owned())));
    let found = app.lab.read(|s| match &wanted {
        None => ResourceId::directory(DEFAULT_TENANT_ID, Kind::Principal, DEFAULT_PRINCIPAL_OBJECT_ID)
            .ok()
            .and_then(|id| s.resource(&id))
            .and_then(|r| r.as_principal())
            .cloned(),
        // Only a principal without a secret is a managed identity; one with a secret proves
        // itself with it at the token endpoint.
        Some((key, value)) => principals(s)
            .filter(|p| p.secret_digest.is_none())
            .find(|p| {
                let by = if *key == "client_id" { p.app_id.as_deref() } else { Some(p.object_id.as_str()) };
                by.is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .cloned(),
    });
    let principal = match found {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Reply::json(400, json!({"error": "invalid_request", "error_description": "Identity not found"}));
        }
        Err(e) => return errors::internal(&e.to_string()).into(),
    };
    let access_token = issue(app, &principal, principal.home_tenant(), &resource);
    let now = seconds_now();
    let expires_on = (now + TOKEN_SECONDS).to_string();
    let client_id = principal.app_id.clone().unwrap_or_else(|| principal.object_id.clone());
    let mut body = json!({
        "access_token": access_token,
        "expires_on": expires_on,
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id
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
    let any_tenant = authority.eq_ignore_ascii_case("adfs")
        || authority.eq_ignore_ascii_case("common")
        || authority.eq_ignore_ascii_case("organizations");
    let audience = audience(field("resource"), field("scope"));
    // ADFS, like Entra ID's v2 endpoint, writes its numbers as numbers (v1 writes strings).
    let v2 = v2 || authority.eq_ignore_ascii_case("adfs");
    let grant = field("grant_type").unwrap_or("client_credentials");
    if grant.eq_ignore_ascii_case("refresh_token") {
        return refreshed(app, req, authority, client_id, &audience, field("refresh_token").unwrap_or_default(), v2);
    }
    let password_grant = grant.eq_ignore_ascii_case("password");
    let (name, secret) = if password_grant {
        (field("username").unwrap_or_default(), field("password"))
    } else {
        (client_id, field("client_secret"))
    };
    let found = app.lab.read(|s| {
        let tenant_known = any_tenant
            || s.all_of(Kind::Tenant).iter().filter_map(|t| t.resource.as_tenant()).any(|t| {
                t.tenant_id.eq_ignore_ascii_case(authority) || t.default_domain.eq_ignore_ascii_case(authority)
            });
        let tenant_id = s
            .all_of(Kind::Tenant)
            .iter()
            .filter_map(|t| t.resource.as_tenant())
            .find(|t| t.tenant_id.eq_ignore_ascii_case(authority) || t.default_domain.eq_ignore_ascii_case(authority))
            .map(|t| t.tenant_id.clone());
        let principal = principals(s)
            .find(|p| {
                let by = if password_grant { p.user_principal_name.as_deref() } else { p.app_id.as_deref() };
                by.is_some_and(|v| v.eq_ignore_ascii_case(name))
            })
            .cloned();
        (tenant_known, tenant_id, principal)
    });
    let (tenant_known, tenant_id, principal) = match found {
        Ok(found) => found,
        Err(e) => return errors::internal(&e.to_string()).into(),
    };
    if !tenant_known {
        return aad_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "AADSTS90002: Tenant '{authority}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    }
    let tenant = tenant_id.clone().unwrap_or_default();
    let Some(principal) = principal.filter(|p| any_tenant || p.is_member_of(&tenant)) else {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "AADSTS700016: Application with identifier '{name}' was not found in the directory '{authority}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    let proven = match (&principal.secret_digest, secret) {
        (Some(digest), Some(secret)) => vnetlab_control::tokens::secret_matches(digest, secret),
        _ => false,
    };
    if !proven {
        let (status, code, number, description) = if password_grant {
            (
                400,
                "invalid_grant",
                50126,
                "AADSTS50126: Error validating credentials due to invalid username or password.".to_owned(),
            )
        } else {
            (
                401,
                "invalid_client",
                7000215,
                format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{name}'."
                ),
            )
        };
        return aad_error(status, code, number, &description);
    }
    let tenant = if any_tenant { principal.home_tenant().to_owned() } else { tenant };
    // A user signs in to a client application: it gets an ID token, the account's ids and a
    // refresh token too, as MSAL keeps an account from them.
    let user = if password_grant { Some(client_id) } else { None };
    token_reply(app, &principal, &tenant, &audience, user, v2)
}

/// The token endpoint's answer: an access token, and for a user's sign-in to `client` an ID
/// token, the account's ids and a refresh token.
fn token_reply(
    app: &App,
    principal: &Principal,
    tenant: &str,
    audience: &str,
    client: Option<&str>,
    v2: bool,
) -> Reply {
    let access_token = issue(app, principal, tenant, audience);
    let seconds = TOKEN_SECONDS - 1;
    let now = seconds_now();
    let mut body = if v2 {
        json!({"token_type": "Bearer", "expires_in": seconds, "ext_expires_in": seconds, "access_token": access_token})
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": seconds.to_string(),
            "ext_expires_in": seconds.to_string(),
            "expires_on": (now + seconds).to_string(),
            "not_before": now.to_string(),
            "resource": audience,
            "access_token": access_token
        })
    };
    if let (Some(client), Some(map)) = (client, body.as_object_mut()) {
        let name = principal.sign_in_name();
        let id_token = app.options.signing_key.sign(&json!({
            "aud": client,
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_SECONDS,
            "sub": principal.object_id,
            "oid": principal.object_id,
            "tid": tenant,
            "name": principal.display_name,
            "preferred_username": name,
            "upn": name,
            "ver": "2.0"
        }));
        let client_info = json!({"uid": principal.object_id, "utid": tenant}).to_string();
        let refresh = app.options.signing_key.sign(&json!({
            "typ": "refresh",
            "oid": principal.object_id,
            "tid": tenant,
            "idp": principal.home_tenant(),
            "client": client,
            "exp": now + REFRESH_SECONDS
        }));
        map.insert("id_token".into(), json!(id_token));
        map.insert("client_info".into(), json!(URL_SAFE_NO_PAD.encode(client_info)));
        map.insert("refresh_token".into(), json!(refresh));
        map.insert("scope".into(), json!(format!("{audience}.default")));
    }
    Reply::ok(body)
}

/// How long a refresh token lasts.
const REFRESH_SECONDS: u64 = 14 * 24 * 3600;

/// A new access token from a refresh token the lab signed, for a principal it still has in that
/// tenant.
fn refreshed(app: &App, _req: &Request, authority: &str, client: &str, audience: &str, token: &str, v2: bool) -> Reply {
    let invalid =
        || aad_error(400, "invalid_grant", 9002313, "AADSTS9002313: Invalid request. Request is malformed or invalid.");
    let Ok(claims) = app.options.signing_key.verify(token) else {
        return invalid();
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let unexpired = claims.get("exp").and_then(Value::as_u64).is_some_and(|e| e > seconds_now());
    if text("typ") != "refresh" || !unexpired || !text("client").eq_ignore_ascii_case(client) {
        return invalid();
    }
    let (oid, tid, home) = (text("oid"), text("tid"), text("idp"));
    let tenant_fits = authority.eq_ignore_ascii_case(&tid)
        || ["adfs", "common", "organizations"].iter().any(|a| authority.eq_ignore_ascii_case(a));
    let principal = app.lab.read(|s| {
        ResourceId::directory(&home, Kind::Principal, &oid)
            .ok()
            .and_then(|id| s.resource(&id))
            .and_then(|r| r.as_principal())
            .filter(|p| p.is_member_of(&tid))
            .cloned()
    });
    match principal {
        Ok(Some(p)) if tenant_fits => token_reply(app, &p, &tid, audience, Some(client), v2),
        Ok(_) => invalid(),
        Err(e) => errors::internal(&e.to_string()).into(),
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

/// Entra ID's error answer from a token endpoint.
fn aad_error(status: u16, error: &str, number: u32, description: &str) -> Reply {
    let now = vnetlab_model::time::Utc::from_system(std::time::SystemTime::now());
    let trace = uuid::Uuid::new_v4();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", now.rfc3339()),
            "error_codes": [number],
            "timestamp": now.rfc3339(),
            "trace_id": trace.to_string(),
            "correlation_id": trace.to_string()
        }),
    )
}

/// The subscriptions the caller's token reaches: those of its tenant where it holds a role.
pub fn subscriptions(app: &App, req: &Request) -> Reply {
    let caller = req.caller();
    match app.lab.read(|s| {
        s.all_of(Kind::Subscription)
            .iter()
            .filter_map(|x| x.resource.as_subscription())
            .filter(|x| {
                caller.is_none_or(|c| {
                    x.tenant_id.eq_ignore_ascii_case(&c.tenant_id)
                        && s.authorizer().has_any_near(&c.object_id, x.id.as_str())
                })
            })
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

/// Whether the lab has the tenant `tenant_id`.
pub fn tenant_exists(state: &State, tenant_id: &str) -> bool {
    ResourceId::tenant(tenant_id).is_ok_and(|id| state.exists(&id))
}

/// The subscription with this id, compared without case.
pub fn find_subscription<'s>(
    state: &'s vnetlab_model::State,
    subscription_id: &str,
) -> Option<&'s vnetlab_model::Subscription> {
    // Compared as resource ids are (the store's keys), so that a subscription found here is the
    // one every handler finds.
    let id = ResourceId::subscription(subscription_id).ok()?;
    state.resource(&id).and_then(|r| r.as_subscription())
}

/// ARM's answer for a subscription the lab does not have: malformed ids are refused as such.
pub fn subscription_missing(subscription_id: &str) -> vnetlab_model::AzureError {
    if uuid::Uuid::parse_str(subscription_id).is_ok() {
        vnetlab_engine::errors::subscription_not_found(subscription_id)
    } else {
        errors::invalid_subscription_id(subscription_id)
    }
}

/// The tenants the caller belongs to.
pub fn tenants(app: &App, req: &Request) -> Reply {
    let caller = req.caller();
    let listed = app.lab.read(|s| {
        let member = |tenant: &str| {
            caller.is_none_or(|c| {
                principals(s).any(|p| p.object_id.eq_ignore_ascii_case(&c.object_id) && p.is_member_of(tenant))
            })
        };
        s.all_of(Kind::Tenant)
            .iter()
            .filter_map(|x| x.resource.as_tenant())
            .filter(|t| member(&t.tenant_id))
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
