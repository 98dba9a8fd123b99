//! RFC 6749 §5.2 error answers of the token and revocation endpoints.
//!
//! These are rendered here as `webex_wire::oauth::OAuthError` JSON (which the
//! tracking middleware leaves alone), because OAuth clients — the official
//! SDK included — look for the `error` member, not the Webex error body.

use axum::Extension;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use webex_wire::oauth::OAuthError;

use crate::error::ApiError;
use crate::http::TrackingId;
use crate::store::StoreError;

/// The `error` codes of RFC 6749 §5.2 that this server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OAuthCode {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// Client authentication failed (401 with `WWW-Authenticate: Basic`).
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, reused or was
    /// issued to another client or redirect URI.
    InvalidGrant,
    /// The client may not do this (e.g. revoke another client's token).
    UnauthorizedClient,
    /// The `grant_type` is not supported.
    UnsupportedGrantType,
    /// The requested scope exceeds what was granted.
    InvalidScope,
}

impl OAuthCode {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
        }
    }
}

/// Why an OAuth endpoint refused a request.
#[derive(Debug)]
pub(crate) enum EndpointError {
    /// A protocol error, answered with RFC 6749 JSON.
    OAuth(OAuthCode, String),
    /// A server-side failure (database down…), answered like any other API error.
    Api(ApiError),
}

impl EndpointError {
    /// A protocol error with a description.
    pub(crate) fn oauth(code: OAuthCode, description: impl Into<String>) -> Self {
        Self::OAuth(code, description.into())
    }

    /// The response, carrying the request's tracking id in the JSON body.
    pub(crate) fn into_response(self, tracking: Option<Extension<TrackingId>>) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::OAuth(code, description) => {
                let body = OAuthError {
                    error: code.as_str().to_owned(),
                    error_description: Some(description),
                    tracking_id: tracking.map(|Extension(TrackingId(id))| id),
                };
                let status = if code == OAuthCode::InvalidClient {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut res = (status, axum::Json(body)).into_response();
                let headers = res.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if code == OAuthCode::InvalidClient {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"webex\""),
                    );
                }
                res
            }
        }
    }
}

impl From<ApiError> for EndpointError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<StoreError> for EndpointError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}
