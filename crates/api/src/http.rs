//! A request as the handlers see it (path segments decoded, query parameters, headers, body) and
//! the reply they build. The HTTP server turns one into the other; handlers never touch sockets.

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use vnetlab_model::AzureError;

/// One HTTP request, decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path as sent, with repeated slashes collapsed.
    pub path: String,
    /// Its segments, percent-decoded.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `https://host:port` as the client addressed the server: long-running operation and paging
    /// URLs are built on it.
    pub base: String,
    /// The principal the request acts as, once its token is checked.
    pub caller: std::cell::OnceCell<vnetlab_engine::authorization::Caller>,
}

impl Request {
    /// Builds a request from its parts; `None` when the path or query cannot be decoded.
    pub fn new(
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        default_host: &str,
    ) -> Result<Request, String> {
        let (raw_path, raw_query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut segments = Vec::new();
        for s in raw_path.split('/').filter(|s| !s.is_empty()) {
            segments
                .push(percent_decode(s, false).ok_or_else(|| format!("the path segment '{s}' is not valid UTF-8"))?);
        }
        let mut query = Vec::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, true).ok_or_else(|| format!("the query parameter '{k}' is not valid UTF-8"))?;
            let v = percent_decode(v, true).ok_or_else(|| format!("the value of '{k}' is not valid UTF-8"))?;
            query.push((k, v));
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
            .unwrap_or(default_host)
            .to_owned();
        let host = if host.chars().all(|c| c.is_ascii_graphic() && c != '/') { host } else { "localhost".to_owned() };
        let path = format!("/{}", raw_path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/"));
        Ok(Request {
            method,
            path,
            segments,
            query,
            headers,
            body,
            base: format!("https://{host}"),
            caller: std::cell::OnceCell::new(),
        })
    }

    /// A query parameter, its name compared case-insensitively.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The principal the request acts as (ARM requests, once admitted).
    pub fn caller(&self) -> Option<&vnetlab_engine::authorization::Caller> {
        self.caller.get()
    }

    pub fn api_version(&self) -> Option<&str> {
        self.query("api-version").filter(|v| !v.is_empty())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// This request's URL with other query parameters (api-version kept).
    pub fn url_with(&self, extra: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.base, encode_path(&self.segments));
        let mut first = true;
        let mut push = |k: &str, v: &str| {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&percent_encode(k));
            url.push('=');
            url.push_str(&percent_encode(v));
        };
        if let Some(v) = self.api_version() {
            push("api-version", v);
        }
        for (k, v) in extra {
            push(k, v);
        }
        url
    }
}

/// A reply: status, headers and a JSON body (or none).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status: status_code(status), headers: Vec::new(), body: Some(body) }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    pub fn empty(status: u16) -> Reply {
        Reply { status: status_code(status), headers: Vec::new(), body: None }
    }

    /// ARM's error envelope with the error's status. Errors of a resource provider (not of ARM's
    /// front door) always carry `details`, empty or not, as Microsoft.Network's do.
    pub fn error(e: &AzureError) -> Reply {
        let mut body = e.envelope();
        if !ARM_FRONT_DOOR_CODES.contains(&e.code.as_str())
            && let Some(error) = body.get_mut("error").and_then(Value::as_object_mut)
        {
            error.entry("details").or_insert_with(|| Value::Array(Vec::new()));
        }
        Reply::json(e.status, body)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl From<AzureError> for Reply {
    fn from(e: AzureError) -> Reply {
        Reply::error(&e)
    }
}

/// Codes ARM answers itself, before a request reaches a resource provider.
const ARM_FRONT_DOOR_CODES: [&str; 13] = [
    "MissingApiVersionParameter",
    "InvalidApiVersionParameter",
    "InvalidResourceType",
    "InvalidResourceNamespace",
    "InvalidRequestContent",
    "RequestContentTooLarge",
    "ResourceGroupNotFound",
    "SubscriptionNotFound",
    "InvalidSubscriptionId",
    "ResourceNotFound",
    "InvalidResourceGroup",
    "MethodNotAllowed",
    "DeploymentNotFound",
];

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Decodes `%XX` escapes (and `+` as a space in query strings); `None` if the bytes are not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but ARM's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'$') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path from decoded segments, each escaped.
pub fn encode_path(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(&percent_encode(s));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether the method is one of these.
pub fn is(method: &Method, methods: &[Method]) -> bool {
    methods.contains(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b", false).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("100%", false).as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz", false).as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%C3%A4", false).as_deref(), Some("ä"));
        assert_eq!(percent_decode("%FF", false), None);
        let r =
            Request::new(Method::GET, "//metadata//endpoints?api-version=2022-09-01&x", HeaderMap::new(), vec![], "h")
                .unwrap();
        assert_eq!(r.segments, ["metadata", "endpoints"]);
        assert_eq!(r.path, "/metadata/endpoints");
        assert_eq!(r.api_version(), Some("2022-09-01"));
        assert_eq!(r.query("X"), Some(""));
        assert_eq!(
            r.url_with(&[("$skipToken", "a b")]),
            "https://h/metadata/endpoints?api-version=2022-09-01&$skipToken=a%20b"
        );
    }
}
