//! LIST paging as ARM does it: `{"value": [...], "nextLink": "<absolute URL>"}`, the last page
//! without `nextLink`. The link carries `api-version` (clients follow it verbatim) and an opaque
//! `$skipToken`: the last id of the page, so a page boundary survives writes between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::errors;
use crate::http::{Reply, Request};

/// One page of `items` (each with its sort key, the lower-cased id).
pub fn page(req: &Request, mut items: Vec<(String, Value)>, page_size: usize) -> Reply {
    let after = match req.query("$skipToken").filter(|t| !t.is_empty()) {
        Some(token) => match URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()) {
            Some(key) => Some(key),
            None => return errors::invalid_skip_token(token).into(),
        },
        None => None,
    };
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let size = page_size.max(1);
    let mut chosen: Vec<(String, Value)> =
        items.into_iter().filter(|(key, _)| after.as_ref().is_none_or(|a| key > a)).take(size + 1).collect();
    let more = chosen.len() > size;
    chosen.truncate(size);
    let next = if more { chosen.last().map(|(key, _)| URL_SAFE_NO_PAD.encode(key)) } else { None };
    let mut body = json!({ "value": chosen.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(token) = next {
        body["nextLink"] = Value::String(req.url_with(&[("$skipToken", &token)]));
    }
    Reply::ok(body)
}
