//! The errors the API itself returns, before a request reaches the engine: the URL, the query, the
//! headers and the body. Each has ARM's or Microsoft.Network's code, status and message where a
//! public capture shows them; the others are marked `[gap]`.

use vnetlab_model::AzureError;

/// ARM front door: a request without `?api-version=`.
pub fn missing_api_version() -> AzureError {
    AzureError::bad_request(
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )
}

/// ARM front door: a resource type the namespace does not have. Azure answers 404. vnetlab adds
/// which types it serves, so the message also says what to use instead.
pub fn invalid_resource_type(type_path: &str, namespace: &str, api_version: &str, served: &[&str]) -> AzureError {
    AzureError::not_found(
        "InvalidResourceType",
        format!(
            "The resource type '{type_path}' could not be found in the namespace '{namespace}' for api version '{api_version}'. vnetlab serves these types in it: {}.",
            served.join(", ")
        ),
    )
}

/// ARM front door: a namespace no provider registers. Status 404 [gap: seen in test fixtures only].
pub fn invalid_resource_namespace(namespace: &str) -> AzureError {
    AzureError::not_found("InvalidResourceNamespace", format!("The resource namespace '{namespace}' is invalid."))
}

/// ARM front door: a body that is not JSON.
pub fn invalid_request_content(detail: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: '{detail}'."),
    )
}

/// Microsoft.Network: JSON that parses but does not fit the resource (a wrong type, a value out of
/// range). The detail says what and where, as Azure's `InvalidJson` detail does.
/// A connectivity check's (or a portal trace's) protocol that is not one it knows; `path` names
/// the property when the value came in a body.
pub fn unknown_probe_protocol(shown: &str, path: Option<&str>) -> AzureError {
    let at = path.map(|p| format!(" Path '{p}'.")).unwrap_or_default();
    invalid_request_format(format!("The value '{shown}' of 'protocol' is not Tcp, Http, Https or Icmp.{at}"))
}

pub fn invalid_request_format(detail: String) -> AzureError {
    let mut e = AzureError::bad_request("InvalidRequestFormat", "Cannot parse the request.");
    e.details.push(AzureError::bad_request("InvalidJson", detail));
    e
}

/// A property the resource cannot do without, missing from the body.
pub fn required_property(parent_path: &str, name: &str) -> AzureError {
    invalid_request_format(format!("Required property '{name}' not found in JSON. Path '{parent_path}'."))
}

/// ARM front door: over 4 MB of body.
pub fn request_content_too_large(limit_bytes: usize) -> AzureError {
    AzureError::new(
        413,
        "RequestContentTooLarge",
        format!("The request content size exceeds the maximum size of {} MB.", limit_bytes / (1024 * 1024)),
    )
}

/// `If-Match` names an etag the resource does not have (or the resource is missing).
pub fn precondition_failed(detail: String) -> AzureError {
    let mut e = AzureError::new(412, "PreconditionFailed", "Precondition failed.");
    e.details.push(AzureError::new(412, "PreconditionFailedEtagMismatch", detail));
    e
}

/// A method the path does not take. Azure answers with a body outside ARM's envelope; vnetlab
/// keeps the envelope [gap: code].
pub fn method_not_allowed(method: &str) -> AzureError {
    AzureError::new(405, "MethodNotAllowed", format!("The requested resource does not support http method '{method}'."))
}

/// A path that is no ARM resource, collection or action [gap: wording].
pub fn path_not_found(path: &str) -> AzureError {
    AzureError::not_found("NotFound", format!("No route matches '{path}'."))
}

/// A tracked resource PUT without `location`.
pub fn location_required() -> AzureError {
    AzureError::bad_request("LocationRequired", "The location property is required for this definition.")
}

/// A resource group name ARM refuses.
pub fn invalid_resource_group(name: &str) -> AzureError {
    if name.chars().count() > 90 {
        return AzureError::bad_request(
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{name}' has a length of '{}' which exceeds the maximum length of '90'.",
                name.chars().count()
            ),
        );
    }
    let bad: String = name.chars().filter(|c| !valid_group_char(*c)).collect();
    AzureError::bad_request(
        "InvalidResourceGroup",
        format!(
            "The provided resource group name '{name}' has these invalid characters: '{bad}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'."
        ),
    )
}

pub fn valid_group_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.' | '(' | ')' | '_')
}

/// ARM's rule for resource group names: 1-90 letters, digits, '-', '.', '(', ')' or '_', not
/// ending in '.'.
pub fn valid_group_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 90 && name.chars().all(valid_group_char) && !name.ends_with('.')
}

/// A subscription id that is not a GUID.
pub fn invalid_subscription_id(given: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidSubscriptionId",
        format!("The provided subscription identifier '{given}' is malformed or invalid."),
    )
}

/// A `$skipToken` this server did not hand out [gap].
pub fn invalid_skip_token(given: &str) -> AzureError {
    AzureError::bad_request("InvalidSkipToken", format!("The skip token '{given}' is not one this server issued."))
}

/// A long-running operation this server does not know [gap].
pub fn operation_not_found(operation_id: &str) -> AzureError {
    AzureError::not_found("OperationNotFound", format!("The operation '{operation_id}' could not be found."))
}

/// A required query parameter of an action is missing or malformed [gap: wording].
pub fn invalid_query_parameter(name: &str, value: Option<&str>) -> AzureError {
    match value {
        None => AzureError::bad_request("MissingQueryParameter", format!("The query parameter '{name}' is required.")),
        Some(v) => AzureError::bad_request(
            "InvalidQueryParameterValue",
            format!("The value '{v}' of query parameter '{name}' is invalid."),
        ),
    }
}

pub fn role_assignment_not_found(name: &str) -> AzureError {
    AzureError::not_found("RoleAssignmentNotFound", format!("The role assignment '{name}' is not found."))
}

pub fn invalid_principal_id(principal_id: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidPrincipalId",
        format!("The Principal ID '{principal_id}' is not valid. Principal ID must be a GUID."),
    )
}

/// [gap] vnetlab's wording: only service principals and users exist in its directories.
pub fn invalid_principal_type(given: &str) -> AzureError {
    AzureError::bad_request(
        "InvalidPrincipalType",
        format!("The principal type '{given}' is not supported; use ServicePrincipal or User."),
    )
}

/// [gap] Conditions (ABAC) are not evaluated, so an assignment with one is refused.
pub fn role_assignment_condition_unsupported() -> AzureError {
    AzureError::bad_request(
        "InvalidRoleAssignmentCondition",
        "Role assignment conditions are not supported by vnetlab.",
    )
}

/// The server failed, not the request.
pub fn internal(message: &str) -> AzureError {
    AzureError::new(500, "InternalServerError", message.to_owned())
}
