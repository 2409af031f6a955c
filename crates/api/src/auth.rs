//! Who is asking, and whether they may: every ARM request carries a bearer token the lab signed,
//! for a principal of the lab, in one tenant; reads need the resource type's `read` action and
//! actions their own, before a handler runs. Writes are authorized operation by operation where
//! they commit (the engine's `authorization`), with the caller found here.

use axum::http::Method;
use serde_json::{Value, json};
use vnetlab_engine::authorization::{self, Caller};
use vnetlab_model::time::Utc;
use vnetlab_model::{AzureError, Kind, Principal, ResourceId, State, ViewExt};

use crate::http::{Reply, Request};
use crate::route::{Action, Route};
use crate::{App, errors};

/// The audiences ARM accepts (with or without the trailing slash).
const AUDIENCES: [&str; 2] = ["https://management.core.windows.net", "https://management.azure.com"];
/// How long a token lasts.
pub const TOKEN_SECONDS: u64 = 24 * 3600;

pub fn seconds_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// A signed access token for `principal` in `tenant_id` (its home or a tenant it is a guest of).
pub fn issue(app: &App, principal: &Principal, tenant_id: &str, audience: &str) -> String {
    let now = seconds_now();
    let mut claims = json!({
        "aud": audience,
        "iss": issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_SECONDS,
        "tid": tenant_id,
        "oid": principal.object_id,
        "sub": principal.object_id,
        "name": principal.display_name,
        "ver": "1.0"
    });
    if let Some(map) = claims.as_object_mut() {
        match (&principal.app_id, &principal.user_principal_name) {
            (Some(app_id), _) => {
                map.insert("appid".into(), json!(app_id));
                map.insert("idtyp".into(), json!("app"));
            }
            (None, Some(upn)) => {
                map.insert("upn".into(), json!(upn));
                map.insert("unique_name".into(), json!(upn));
                map.insert("idtyp".into(), json!("user"));
            }
            (None, None) => {}
        }
        if !principal.home_tenant().eq_ignore_ascii_case(tenant_id) {
            // A guest: the tenant it comes from, as Entra ID writes it.
            map.insert("idp".into(), json!(issuer(principal.home_tenant())));
        }
    }
    app.options.signing_key.sign(&claims)
}

/// ARM's 401, with the challenge it sends.
fn unauthorized(req: &Request, error: AzureError, tenant_id: Option<&str>) -> Reply {
    let authority = match tenant_id {
        Some(t) => format!("{}/{t}", req.base),
        None => req.base.clone(),
    };
    let description = error.message.replace('"', "'");
    Reply::error(&error).header(
        "WWW-Authenticate",
        format!(r#"Bearer authorization_uri="{authority}", error="invalid_token", error_description="{description}""#),
    )
}

pub(crate) fn invalid_token() -> AzureError {
    AzureError::new(401, "InvalidAuthenticationToken", "The access token is invalid.")
}

/// The principal and tenant a token is for, checked: signature, lifetime, audience, and a
/// principal the lab has in that tenant.
/// Tokens whose signature was checked, with their claims: clients send one token for an hour, and
/// checking it again on every request would cost more than the rest of the authorization. The
/// claims are still checked (expiry, audience, principal) on every request.
#[derive(Default)]
pub struct Verified {
    tokens: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Value>>>,
}

/// How many verified tokens are kept (all are dropped when it is reached).
const VERIFIED_TOKENS: usize = 4096;

/// The longest token accepted: the lab's are well under 2 KB.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

impl Verified {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::sync::Arc<Value>>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The claims of a token the lab signed; `true` when they come from the kept ones.
    fn claims(&self, app: &App, token: &str) -> Result<(std::sync::Arc<Value>, bool), AzureError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid_token());
        }
        if let Some(claims) = self.lock().get(token) {
            return Ok((claims.clone(), true));
        }
        let claims = app.options.signing_key.verify(token).map_err(|_| invalid_token())?;
        Ok((std::sync::Arc::new(claims), false))
    }

    /// Keeps a token whose claims held.
    fn keep(&self, token: &str, claims: std::sync::Arc<Value>) {
        let mut tokens = self.lock();
        if tokens.len() >= VERIFIED_TOKENS {
            tokens.clear();
        }
        tokens.insert(token.to_owned(), claims);
    }
}

fn principal_of(app: &App, state: &State, token: &str, arm: bool) -> Result<(Principal, String), AzureError> {
    let (claims, kept) = app.verified.claims(app, token)?;
    let found = principal_of_claims(state, &claims, arm)?;
    if !kept {
        app.verified.keep(token, claims);
    }
    Ok(found)
}

/// The principal and tenant of a signed token's claims, checked: lifetime, audience, and a
/// principal the lab has in that tenant.
fn principal_of_claims(state: &State, claims: &Value, arm: bool) -> Result<(Principal, String), AzureError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let now = seconds_now();
    let Some(exp) = number("exp") else {
        return Err(invalid_token());
    };
    if exp <= now {
        let at = |t: u64| Utc::from_unix(i64::try_from(t).unwrap_or(i64::MAX / 2), 0).us_clock();
        return Err(AzureError::new(
            401,
            "ExpiredAuthenticationToken",
            format!("The access token expiry UTC time '{}' is earlier than current UTC time '{}'.", at(exp), at(now)),
        ));
    }
    let audience = text("aud").unwrap_or_default();
    if arm && !AUDIENCES.iter().any(|a| audience.trim_end_matches('/').eq_ignore_ascii_case(a)) {
        return Err(AzureError::new(
            401,
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{audience}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
        ));
    }
    let (Some(oid), Some(tid)) = (text("oid"), text("tid")) else {
        return Err(AzureError::new(
            401,
            "InvalidAuthenticationToken",
            "The received access token is not valid: at least one of the claims 'puid' or 'altsecid' or 'oid' should be present. If you are accessing as application please make sure service principal is properly created in the tenant.",
        ));
    };
    let home = text("idp").and_then(|i| i.trim_end_matches('/').rsplit('/').next()).unwrap_or(tid);
    let principal = ResourceId::directory(home, Kind::Principal, oid)
        .ok()
        .and_then(|id| state.resource(&id))
        .and_then(|r| r.as_principal())
        .filter(|p| p.is_member_of(tid))
        // A token for a principal the lab no longer has, or no longer lets into that tenant.
        .ok_or_else(invalid_token)?;
    Ok((principal.clone(), tid.to_owned()))
}

/// Whether `token` is one the API accepts (signed by the lab, unexpired, for ARM, for a
/// principal the lab has).
pub fn token_holds(app: &App, token: &str) -> bool {
    app.lab.read(|s| principal_of(app, s, token, true).is_ok()).unwrap_or(false)
}

/// The caller of an ARM request, from its `Authorization` header (and auxiliary tokens for other
/// tenants in `x-ms-authorization-auxiliary`); a 401 reply when there is none that holds.
pub fn authenticate(app: &App, req: &Request, state: &State) -> Result<Caller, Reply> {
    authenticate_for(app, req, state, true)
}

/// As [`authenticate`]; `arm` holds the token to ARM's audiences (Microsoft Graph takes its own).
pub fn authenticate_for(app: &App, req: &Request, state: &State, arm: bool) -> Result<Caller, Reply> {
    let Some(header) = req.header("authorization").filter(|h| !h.trim().is_empty()) else {
        return Err(unauthorized(
            req,
            AzureError::new(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ),
            None,
        ));
    };
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
        _ => {
            return Err(unauthorized(
                req,
                AzureError::new(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                ),
                None,
            ));
        }
    };
    let (principal, tenant_id) = principal_of(app, state, token, arm).map_err(|e| unauthorized(req, e, None))?;
    let mut auxiliary_tenants = Vec::new();
    if let Some(aux) = req.header("x-ms-authorization-auxiliary") {
        for part in aux.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let token = match part.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => part,
            };
            // [gap] Azure's wording for a bad auxiliary token is not public; the primary one's is used.
            let (other, tenant) = principal_of(app, state, token, arm).map_err(|e| unauthorized(req, e, None))?;
            if !other.object_id.eq_ignore_ascii_case(&principal.object_id) {
                return Err(unauthorized(req, invalid_token(), None));
            }
            auxiliary_tenants.push(tenant);
        }
    }
    Ok(Caller {
        object_id: principal.object_id.clone(),
        client: principal.sign_in_name().to_owned(),
        tenant_id,
        auxiliary_tenants,
    })
}

/// The subscription a route is about.
fn subscription_of(route: &Route) -> Option<String> {
    let of = |id: &ResourceId| id.subscription_id().map(str::to_owned);
    match route {
        Route::Subscription { subscription }
        | Route::ResourceGroups { subscription }
        | Route::GroupOperationResult { subscription, .. }
        | Route::ProviderOperation { subscription, .. }
        | Route::ListInSubscription { subscription, .. } => Some(subscription.clone()),
        Route::ResourceGroup { id }
        | Route::Resource { id, .. }
        | Route::Part { resource: id, .. }
        | Route::Action { resource: id, .. } => of(id),
        Route::ListInGroup { group, .. } | Route::Deployment { group, .. } => of(group),
        Route::Children { parent, .. } => of(parent),
        Route::RoleAssignments { scope, .. } | Route::RoleDefinitions { scope, .. } => {
            ResourceId::parse(scope).ok().and_then(|id| of(&id))
        }
        _ => None,
    }
}

/// What reading or acting on a route needs up front (writes are checked as they commit).
fn needs(route: &Route, method: &Method) -> Option<(String, ResourceId)> {
    let read = |id: &ResourceId| Some((authorization::action(id.kind()?, "read"), id.clone()));
    let reading = matches!(*method, Method::GET | Method::HEAD);
    match route {
        Route::Resource { id, .. } | Route::ResourceGroup { id } if reading => read(id),
        Route::Part { resource, .. } => read(resource),
        Route::RoleAssignments { scope, .. } if reading => Some((
            authorization::action(Kind::RoleAssignment, "read"),
            ResourceId::parse(scope).ok().filter(|s| s.subscription_id().is_some())?,
        )),
        Route::Deployment { group, .. } => {
            let verb = if reading { "read" } else { "write" };
            Some((format!("Microsoft.Resources/deployments/{verb}"), group.clone()))
        }
        Route::Action { resource, action } => {
            let kind = resource.kind()?;
            let own = |name: &str| Some((format!("{}/{name}", kind.arm_type()), resource.clone()));
            match action {
                Action::CheckIpAddressAvailability | Action::Usages | Action::GatewayConnections => read(resource),
                Action::SharedKey if reading => own("sharedKey/read"),
                Action::SharedKey => own("sharedKey/write"),
                Action::SharedKeyReset => own("sharedKey/write"),
                Action::EffectiveRouteTable => own("effectiveRouteTable/action"),
                Action::EffectiveNetworkSecurityGroups => own("effectiveNetworkSecurityGroups/action"),
                Action::NextHop => own("nextHop/action"),
                Action::IpFlowVerify => own("ipFlowVerify/action"),
                Action::ConnectivityCheck => own("connectivityCheck/action"),
            }
        }
        _ => None,
    }
}

/// Authenticates an ARM request and checks what it needs before its handler runs: a token for
/// the tenant of the subscription it names, and the read or action right on its target.
pub fn admit(app: &App, req: &Request, route: &Route) -> Result<Caller, Reply> {
    let checked = app.lab.read(|state| -> Result<Caller, Reply> {
        let caller = authenticate(app, req, state)?;
        let Some(subscription_id) = subscription_of(route) else {
            return Ok(caller);
        };
        let Some(subscription) = crate::identity::find_subscription(state, &subscription_id) else {
            // The handler answers SubscriptionNotFound.
            return Ok(caller);
        };
        if !subscription.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
            let (token, owner) = (issuer(&caller.tenant_id), &subscription.tenant_id);
            return Err(unauthorized(
                req,
                AzureError::new(
                    401,
                    "InvalidAuthenticationTokenTenant",
                    format!(
                        "The access token is from the wrong issuer '{token}'. It must match the tenant '{}' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{owner}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
                        issuer(owner)
                    ),
                ),
                Some(owner),
            ));
        }
        if let Route::Subscription { .. } = route
            && !state.authorizer().has_any_near(&caller.object_id, subscription.id.as_str())
        {
            return Err(vnetlab_engine::errors::subscription_not_found(&subscription_id).into());
        }
        if let Some((action, scope)) = needs(route, &req.method) {
            authorization::check(state, &caller, &action, scope.as_str()).map_err(Reply::from)?;
        }
        Ok(caller)
    });
    match checked {
        Ok(result) => result,
        Err(e) => Err(errors::internal(&e.to_string()).into()),
    }
}

/// Whether the request's caller may read `id` (a list shows only those).
pub fn may_read(state: &State, req: &Request, id: &ResourceId) -> bool {
    let Some(caller) = req.caller() else {
        return true;
    };
    authorization::can_read(state, caller, id)
}

/// A list the caller sees nothing of and may not read at its scope is refused, as ARM refuses it.
pub fn check_list_scope(
    state: &State,
    req: &Request,
    scope: &ResourceId,
    kind: Kind,
    shown: usize,
) -> Result<(), AzureError> {
    let Some(caller) = req.caller() else {
        return Ok(());
    };
    if shown > 0 || !state.exists(scope) {
        return Ok(());
    }
    authorization::check(state, caller, &authorization::action(kind, "read"), scope.as_str())
}
