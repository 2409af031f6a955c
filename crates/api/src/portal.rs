//! The portal: a web page at `/` on the API's own port, for VNets and their peerings, written in
//! plain JavaScript that calls the same ARM API as az (no framework, nothing fetched at run
//! time). The assets are compiled into the server. `/portal/events` tells an open page when the
//! lab changes (server-sent events from the store's revisions), whoever changed it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vnetlab_model::{Kind, View};

use crate::App;

const INDEX: &str = include_str!("../portal/index.html");
const SCRIPT: &str = include_str!("../portal/app.js");
const STYLE: &str = include_str!("../portal/style.css");

/// How often an open page's event stream looks for a new revision.
const WATCH_EVERY: Duration = Duration::from_millis(50);

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // Only the page's own script and style, and calls to this server.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"),
    );
    r
}

pub fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// What the sign-in page needs to know: whether the lab has more than its own principal (then
/// the page asks who signs in; else it signs in as the lab's principal).
pub fn session(app: &App) -> Response {
    let principals = app.lab.read(|s| s.all_of(Kind::Principal).len()).unwrap_or(0);
    let body =
        json!({"principals": principals, "tenant": app.options.tenant_id, "subscription": app.options.subscription_id});
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// Server-sent events: `revision` with the store's revision, at once and after every change. The
/// token comes in the query (an `EventSource` sends no headers) and must be one the API accepts.
pub async fn events(app: Arc<App>, token: Option<String>) -> Response {
    let checked = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || crate::auth::token_holds(&app, token.as_deref().unwrap_or_default())).await
    };
    if !matches!(checked, Ok(true)) {
        return crate::into_response(crate::Reply::error(&crate::auth::invalid_token()));
    }
    let stream = futures::stream::unfold((app, None::<u64>), |(app, last)| async move {
        loop {
            let reader = app.clone();
            let now = tokio::task::spawn_blocking(move || vnetlab_store::Store::revision(reader.lab.store()).ok())
                .await
                .ok()
                .flatten();
            match now {
                Some(revision) if Some(revision) != last => {
                    let event = Event::default().event("revision").data(revision.to_string());
                    return Some((Ok::<_, Infallible>(event), (app, Some(revision))));
                }
                _ => tokio::time::sleep(WATCH_EVERY).await,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
