//! The error users see: Azure's code, HTTP status and message. It becomes ARM's error envelope once,
//! at the HTTP edge, and a readable line once, at the CLI edge.

use std::fmt;

use serde::Serialize;
use serde_json::json;

/// An error as Azure reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AzureError {
    #[serde(skip)]
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<AzureError>,
}

impl AzureError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> AzureError {
        AzureError { status, code: code.into(), message: message.into(), target: None, details: Vec::new() }
    }

    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> AzureError {
        AzureError::new(400, code, message)
    }

    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> AzureError {
        AzureError::new(404, code, message)
    }

    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> AzureError {
        AzureError::new(409, code, message)
    }

    pub fn with_target(mut self, target: impl Into<String>) -> AzureError {
        self.target = Some(target.into());
        self
    }

    /// ARM's envelope: `{"error": {"code", "message", "target"?, "details"?}}`.
    pub fn envelope(&self) -> serde_json::Value {
        json!({ "error": self })
    }
}

impl fmt::Display for AzureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}", self.code, self.message)
    }
}

impl std::error::Error for AzureError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_arm_shape() {
        let e = AzureError::bad_request("VnetAddressSpacesOverlap", "overlap");
        assert_eq!(e.envelope(), json!({"error": {"code": "VnetAddressSpacesOverlap", "message": "overlap"}}));
        assert_eq!(e.to_string(), "(VnetAddressSpacesOverlap) overlap");
        assert_eq!(e.status, 400);
    }
}
