//! The ARM-compatible REST API. The real `az` CLI and the Azure SDKs talk to it as they talk to
//! Azure: HTTPS, a cloud metadata document, token endpoints, and ARM's paths, shapes, errors,
//! paging and long-running operations. Every change goes through the same engine and store as the
//! CLI; no rule lives in a handler.

mod arm;
mod auth;
mod body;
mod deployment;
pub mod errors;
mod graph;
pub mod http;
mod identity;
mod lro;
mod openapi;
mod paging;
mod portal;
mod resources;
mod roles;
pub mod route;
mod template;
pub mod tls;
mod watcher;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use vnetlab_analysis::azure::measured::Prober;
use vnetlab_control::tokens::SigningKey;
use vnetlab_control::{Committer, DEFAULT_PRINCIPAL_OBJECT_ID, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, Lab};
use vnetlab_model::AzureError;
use vnetlab_store::SqliteStore;

pub use http::{Reply, Request};
pub use identity::tenant_exists;
pub use lro::LroMode;
use route::Route;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub lro: LroMode,
    /// Items per page of a list; more come through `nextLink`.
    pub page_size: usize,
    /// The largest request body accepted (ARM's limit is 4 MB).
    pub max_body_bytes: usize,
    /// The tenant tokens are issued for when a client names none.
    pub tenant_id: String,
    pub subscription_id: String,
    /// Sends the connectivity check's probes as real packets; without one (or when it cannot
    /// probe) the check answers from the static trace.
    ///
    /// A trait object rather than a dependency on the data plane: how probes are made (network
    /// namespaces, raw sockets, root) is the data plane's business, which `vnetlab serve`
    /// installs (`vnetlab_dataplane::live::Live`); the API stays buildable and testable without
    /// it, and tests can install a prober of their own.
    pub prober: Option<Arc<dyn Prober>>,
    /// Signs the tokens the server issues and checks the ones it is sent (the lab's key,
    /// `vnetlab_control::tokens::SigningKey::load_or_create`, so tokens outlive a restart).
    pub signing_key: Arc<SigningKey>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lro: LroMode::Sync,
            page_size: 100,
            max_body_bytes: 4 * 1024 * 1024,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            subscription_id: DEFAULT_SUBSCRIPTION_ID.to_owned(),
            prober: None,
            signing_key: Arc::new(SigningKey::generate()),
        }
    }
}

/// The server's state: the lab, the thread that commits its writes in groups, the options, and
/// the long-running operations in flight.
pub struct App {
    pub lab: Arc<Lab>,
    committer: Committer<SqliteStore>,
    pub options: Options,
    operations: lro::Operations,
    deployments: deployment::Deployments,
    compiled: watcher::Compiled,
    verified: auth::Verified,
}

impl App {
    pub fn new(lab: Lab, options: Options) -> App {
        let lab = Arc::new(lab);
        App {
            committer: Committer::start(lab.clone()),
            lab,
            options,
            operations: lro::Operations::default(),
            deployments: deployment::Deployments::default(),
            compiled: watcher::Compiled::default(),
            verified: auth::Verified::default(),
        }
    }

    /// Answers one raw request: decodes it, then [`App::handle`]. `authority` is the host the
    /// client addressed when the request does not say.
    pub fn answer(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        authority: &str,
    ) -> Reply {
        match Request::new(method, path_and_query, headers, body, authority) {
            Ok(req) => {
                let head = req.method == Method::HEAD;
                let mut reply = self.handle(&req);
                if head {
                    reply.body = None;
                }
                reply
            }
            Err(message) => standard_plain(errors::invalid_request_content(&message)),
        }
    }

    /// Answers a request written as bytes: `METHOD PATH?QUERY`, a newline, then the body. The
    /// form the request fuzzer and its kept corpus use.
    pub fn answer_bytes(&self, input: &[u8]) -> Reply {
        let (line, body) = match input.iter().position(|b| *b == b'\n') {
            Some(i) => (&input[..i], input[i + 1..].to_vec()),
            None => (input, Vec::new()),
        };
        let line = String::from_utf8_lossy(line);
        let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let target = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
        // A path the HTTP layer would refuse never reaches the handler.
        if axum::http::uri::PathAndQuery::try_from(target.as_str()).is_err() {
            return errors::invalid_request_content("the request line is not a valid path").into();
        }
        // The fuzzer's requests act as the lab's default principal.
        let mut headers = HeaderMap::new();
        if let Some(token) = self.default_token()
            && let Ok(value) = HeaderValue::try_from(format!("Bearer {token}"))
        {
            headers.insert(axum::http::header::AUTHORIZATION, value);
        }
        self.answer(method, &target, headers, body, "127.0.0.1")
    }

    /// A management token for the lab's default principal, signed by this server.
    pub fn default_token(&self) -> Option<String> {
        let principal = self
            .lab
            .read(|s| {
                let id = vnetlab_model::ResourceId::directory(
                    DEFAULT_TENANT_ID,
                    vnetlab_model::Kind::Principal,
                    DEFAULT_PRINCIPAL_OBJECT_ID,
                )
                .ok()?;
                vnetlab_model::ViewExt::resource(s, &id).and_then(|r| r.as_principal()).cloned()
            })
            .ok()??;
        Some(auth::issue(self, &principal, DEFAULT_TENANT_ID, "https://management.core.windows.net/"))
    }

    /// Answers one request. Never panics on what a client sends; every failure is ARM's envelope.
    pub fn handle(&self, req: &Request) -> Reply {
        let reply = self.route(req);
        standard_headers(req, reply)
    }

    fn route(&self, req: &Request) -> Reply {
        let route = route::route(&req.segments, req.api_version());
        match route {
            Route::MetadataEndpoints => return identity::metadata_endpoints(req),
            Route::ManagedIdentityToken => return identity::managed_identity_token(self, req, false),
            Route::ImdsToken => return identity::managed_identity_token(self, req, true),
            Route::OpenIdConfiguration { authority } => return identity::openid_configuration(req, &authority),
            Route::AadToken { authority, v2 } => return identity::aad_token(self, req, &authority, v2),
            Route::OpenApi => return openapi::document(self, req),
            Route::Graph { path } => return graph::answer(self, req, &path),
            Route::NotFound => return errors::path_not_found(&req.path).into(),
            _ => {}
        }
        if let Route::Portal { what } = &route {
            return match auth::admit(self, req, &route) {
                Ok(caller) => {
                    let _ = req.caller.set(caller);
                    portal::answer(self, req, what)
                }
                Err(reply) => reply,
            };
        }
        if req.api_version().is_none() {
            return errors::missing_api_version().into();
        }
        match auth::admit(self, req, &route) {
            Ok(caller) => {
                let _ = req.caller.set(caller);
            }
            Err(reply) => return reply,
        }
        match route {
            Route::Refused(e) => e.into(),
            Route::Tenants => only(req, &[Method::GET], || identity::tenants(self, req)),
            Route::Subscriptions => only(req, &[Method::GET], || identity::subscriptions(self, req)),
            Route::Subscription { subscription } => {
                only(req, &[Method::GET], || identity::subscription(self, &subscription))
            }
            Route::ResourceGroups { subscription } => {
                only(req, &[Method::GET], || resources::list_groups(self, req, &subscription))
            }
            Route::ResourceGroup { id } => resources::group(self, req, &id),
            Route::GroupOperationResult { subscription, operation } => {
                only(req, &[Method::GET], || lro::group_result(self, req, &subscription, &operation))
            }
            Route::ProviderOperation { subscription, namespace, operation, result } => {
                only(req, &[Method::GET], || lro::operation(self, req, &subscription, &namespace, &operation, result))
            }
            Route::ListInSubscription { subscription, kind } => {
                only(req, &[Method::GET], || resources::list_in_subscription(self, req, &subscription, kind))
            }
            Route::ListInGroup { group, kind } => {
                only(req, &[Method::GET], || resources::list_in_group(self, req, &group, kind))
            }
            Route::Children { parent, kind } => {
                only(req, &[Method::GET], || resources::list_children(self, req, &parent, kind))
            }
            Route::Resource { id, kind } => resources::resource(self, req, &id, kind),
            Route::Part { resource, part, name } => {
                only(req, &[Method::GET], || resources::part(self, req, &resource, part, name.as_deref()))
            }
            Route::Action { resource, action } => resources::action(self, req, &resource, action),
            Route::RoleAssignments { scope, name } => roles::assignments(self, req, &scope, name.as_deref()),
            Route::RoleDefinitions { scope, name } => roles::definitions(self, req, &scope, name.as_deref()),
            Route::Deployment { group, name, operations, status } => {
                deployment::deployment(self, req, &group, name.as_deref(), operations, status)
            }
            Route::MetadataEndpoints
            | Route::ManagedIdentityToken
            | Route::ImdsToken
            | Route::OpenIdConfiguration { .. }
            | Route::AadToken { .. }
            | Route::OpenApi
            | Route::Graph { .. }
            | Route::Portal { .. }
            | Route::NotFound => errors::path_not_found(&req.path).into(),
        }
    }

    /// Authenticates an ARM request and checks what it needs before its handler runs (the
    /// token, its tenant, the read or action right on the target): what every request pays for
    /// authorization before its handler, apart.
    pub fn admit(&self, req: &Request) -> Result<vnetlab_engine::authorization::Caller, Reply> {
        auth::admit(self, req, &route::route(&req.segments, req.api_version()))
    }

    /// Completes long-running operations no client polled to the end (`--no-wait`).
    pub fn complete_stale_operations(&self, older_than: Duration) {
        lro::complete_stale(self, older_than);
    }
}

/// Runs `f` when the request's method is one of `methods`; 405 otherwise.
fn only(req: &Request, methods: &[Method], f: impl FnOnce() -> Reply) -> Reply {
    if methods.contains(&req.method) { f() } else { errors::method_not_allowed(req.method.as_str()).into() }
}

/// The headers every ARM response carries.
fn standard_headers(req: &Request, mut reply: Reply) -> Reply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let correlation = req
        .header("x-ms-correlation-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| request_id.clone());
    reply.headers.push(("x-ms-request-id".into(), request_id));
    reply.headers.push(("x-ms-correlation-request-id".into(), correlation));
    if req.header("x-ms-return-client-request-id").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        && let Some(client) = req.header("x-ms-client-request-id")
    {
        reply.headers.push(("x-ms-client-request-id".into(), client.to_owned()));
    }
    reply.headers.push(("cache-control".into(), "no-cache".into()));
    reply.headers.push(("pragma".into(), "no-cache".into()));
    reply.headers.push(("expires".into(), "-1".into()));
    reply.headers.push(("x-content-type-options".into(), "nosniff".into()));
    reply
}

/// An HTTP response from a reply.
pub fn into_response(reply: Reply) -> Response {
    let mut response = match reply.body {
        Some(body) => {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let mut r = (reply.status, bytes).into_response();
            r.headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            r
        }
        None => reply.status.into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) =
            (axum::http::HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The axum router: every path goes to [`App::handle`], on a blocking thread (the store is
/// synchronous).
pub fn router(app: Arc<App>) -> axum::Router {
    use axum::routing::get;
    let events = app.clone();
    let session = app.clone();
    axum::Router::new()
        .route("/", get(|| async { portal::index() }))
        .route("/portal/app.js", get(|| async { portal::script() }))
        .route("/portal/topology.js", get(|| async { portal::topology_script() }))
        .route("/portal/style.css", get(|| async { portal::style() }))
        .route(
            "/portal/session",
            get(move || {
                let app = session.clone();
                async move {
                    tokio::task::spawn_blocking(move || portal::session(&app))
                        .await
                        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
                }
            }),
        )
        .route(
            "/portal/events",
            get(move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let app = events.clone();
                async move { portal::events(app, query.get("access_token").cloned()).await }
            }),
        )
        .fallback(move |request: axum::extract::Request| {
            let app = app.clone();
            async move { serve_one(app, request).await }
        })
}

async fn serve_one(app: Arc<App>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = app.options.max_body_bytes;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return into_response(standard_plain(errors::request_content_too_large(limit)));
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => return into_response(standard_plain(errors::request_content_too_large(limit))),
    };
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in the Host header.
    let authority = parts.uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_else(|| "localhost".to_owned());
    let answered = tokio::task::spawn_blocking(move || {
        app.answer(parts.method, &path_and_query, parts.headers, bytes, &authority)
    })
    .await;
    into_response(answered.unwrap_or_else(|_| Reply::error(&errors::internal("The request could not be completed."))))
}

fn standard_plain(e: AzureError) -> Reply {
    let mut reply = Reply::error(&e);
    reply.headers.push(("x-ms-request-id".into(), uuid::Uuid::new_v4().to_string()));
    reply
}

/// Serves `app` over HTTPS on `listener` until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: std::net::TcpListener,
    certificate: &tls::ServerCertificate,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        certificate.chain_pem.as_bytes().to_vec(),
        certificate.key_pem.as_bytes().to_vec(),
    )
    .await?;
    let handle: axum_server::Handle<SocketAddr> = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    if app.options.lro == LroMode::Async {
        let ticker_app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let app = ticker_app.clone();
                let _ = tokio::task::spawn_blocking(move || app.complete_stale_operations(lro::STALE_AFTER)).await;
            }
        });
    }
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, config)?.handle(handle).serve(router(app).into_make_service()).await
}
