//! LIST paging as ARM does it: `{"value": [...], "nextLink": "<absolute URL>"}`, the last page
//! without `nextLink`. The link carries `api-version` (clients follow it verbatim) and an opaque
//! `$skipToken`: the last id of the page, so a page boundary survives writes between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use vnetlab_model::AzureError;

use crate::errors;
use crate::http::{Reply, Request};

/// One page of `items` (each with its sort key, the lower-cased id).
pub fn page(req: &Request, items: Vec<(String, Value)>, page_size: usize) -> Reply {
    let after = match skip_token(req) {
        Ok(after) => after,
        Err(e) => return e.into(),
    };
    let (chosen, more) = window(items, after.as_deref(), page_size);
    reply(req, chosen, more)
}

/// The key a request's `$skipToken` says the page starts after, or the error for a token that
/// is not one of ours.
pub fn skip_token(req: &Request) -> Result<Option<String>, AzureError> {
    match req.query("$skipToken").filter(|t| !t.is_empty()) {
        Some(token) => match URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()) {
            Some(key) => Ok(Some(key)),
            None => Err(errors::invalid_skip_token(token)),
        },
        None => Ok(None),
    }
}

/// The items of one page, in key order, and whether more follow. What is not on the page is
/// dropped unseen, so a list renders only the page it answers.
pub fn window<T>(mut items: Vec<(String, T)>, after: Option<&str>, page_size: usize) -> (Vec<(String, T)>, bool) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let size = page_size.max(1);
    let mut chosen: Vec<(String, T)> =
        items.into_iter().filter(|(key, _)| after.is_none_or(|a| key.as_str() > a)).take(size + 1).collect();
    let more = chosen.len() > size;
    chosen.truncate(size);
    (chosen, more)
}

/// The reply for one page: its items, and when more follow, the link to the next page.
pub fn reply(req: &Request, chosen: Vec<(String, Value)>, more: bool) -> Reply {
    let next = if more { chosen.last().map(|(key, _)| URL_SAFE_NO_PAD.encode(key)) } else { None };
    let mut body = json!({ "value": chosen.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(token) = next {
        body["nextLink"] = Value::String(req.url_with(&[("$skipToken", &token)]));
    }
    Reply::ok(body)
}
