//! The JSON body of every 4xx/5xx answer, shaped like Webex REST errors.

use serde::{Deserialize, Serialize};

/// Body of an error answer.
///
/// ```
/// use webex_wire::error::{ErrorBody, codes};
/// let body = ErrorBody::new(codes::TOKEN_EXPIRED, "The access token has expired", "tid_1");
/// let json = serde_json::to_value(&body)?;
/// assert_eq!(json["errors"][0]["description"], "The access token has expired");
/// assert_eq!(json["code"], "token_expired");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human readable message.
    pub message: String,
    /// Details; the first repeats `message`.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    /// The request's tracking id.
    #[serde(default)]
    pub tracking_id: String,
    /// Stable machine-readable code (see [`codes`]).
    #[serde(default)]
    pub code: String,
    /// Numeric Webex error code, where Webex defines one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Where to send the request instead: Locus's cluster redirect
    /// (`errorCode` 2000002, answered to joins that ask with
    /// `alternateRedirect=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl ErrorBody {
    /// An error body with one detail repeating the message.
    pub fn new(code: &str, message: impl Into<String>, tracking_id: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            errors: vec![ErrorDetail {
                description: message.clone(),
            }],
            message,
            tracking_id: tracking_id.into(),
            code: code.to_owned(),
            error_code: None,
            location: None,
        }
    }
}

/// One error detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// What went wrong.
    pub description: String,
}

/// Stable machine-readable error codes carried in [`ErrorBody::code`].
pub mod codes {
    /// The body is not valid JSON or misses a required field.
    pub const BAD_REQUEST: &str = "bad_request";
    /// No `Authorization` header.
    pub const TOKEN_MISSING: &str = "token_missing";
    /// The `Authorization` header or the token is not well formed.
    pub const TOKEN_MALFORMED: &str = "token_malformed";
    /// The token is not known.
    pub const TOKEN_UNKNOWN: &str = "token_unknown";
    /// The token has expired.
    pub const TOKEN_EXPIRED: &str = "token_expired";
    /// The token was revoked.
    pub const TOKEN_REVOKED: &str = "token_revoked";
    /// The token lacks a scope the route needs.
    pub const MISSING_SCOPE: &str = "missing_scope";
    /// Not allowed for this caller.
    pub const FORBIDDEN: &str = "forbidden";
    /// No such resource (or not the caller's).
    pub const NOT_FOUND: &str = "not_found";
    /// The resource is not in a state that allows this (e.g. a meeting
    /// that ended); retrying the same request does not help.
    pub const CONFLICT: &str = "conflict";
    /// The person already has as many devices as allowed.
    pub const EXCESSIVE_DEVICE_REGISTRATIONS: &str = "excessive_device_registrations";
    /// Request body over the size limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// Too many requests; see `Retry-After`.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Method not allowed on this route.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The server failed; retrying may help.
    pub const INTERNAL: &str = "internal";
    /// A dependency (database, bus) is unavailable; retry later.
    pub const UNAVAILABLE: &str = "unavailable";
}

/// The message WDM answers with when the device limit is reached.
pub const EXCESSIVE_DEVICE_REGISTRATIONS_MESSAGE: &str = "User has excessive device registrations";
