//! The OpenAPI document of this server.

use serde_json::json;

use crate::http::{Reply, Request};

pub fn document(req: &Request) -> Reply {
    Reply::ok(
        json!({"openapi": "3.0.3", "info": {"title": "vnetlab", "version": "1"}, "servers": [{"url": req.base}], "paths": {}}),
    )
}
