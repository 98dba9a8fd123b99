//! HTTP errors: every 4xx/5xx leaves the server as a JSON [`ErrorBody`] with a
//! stable code and the request's tracking id.
//!
//! Handlers return [`ApiError`]. Its `IntoResponse` stores the error in the
//! response's extensions; [`crate::http`]'s tracking middleware, which knows
//! the tracking id, renders the body. Responses that axum or tower-http make
//! on their own (unknown route, 405, 413) are rendered by the same middleware.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use webex_wire::error::{ErrorBody, codes};

use crate::quote::sanitize_message;
use crate::store::StoreError;

/// An error answer waiting for its tracking id.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code ([`codes`]).
    pub code: &'static str,
    /// Human readable message.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// Numeric Webex error code, where one applies.
    pub error_code: Option<u32>,
    /// Longer text for `errors[0].description`, when it should say more
    /// than `message` (which some clients compare verbatim).
    pub detail: Option<String>,
    /// `location` of the body: where a redirected request goes instead.
    pub location: Option<String>,
}

impl ApiError {
    /// An error with status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            error_code: None,
            detail: None,
            location: None,
        }
    }
    /// 400 with [`codes::BAD_REQUEST`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }
    /// 404 with [`codes::NOT_FOUND`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    /// 403 with [`codes::FORBIDDEN`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }
    /// 401 with the given code.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!("Too many requests; retry after {secs} seconds"),
        );
        e.retry_after = Some(secs);
        e
    }
    /// 500; the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "The server failed to handle the request",
        )
    }
    /// Sets the numeric Webex error code.
    pub fn with_error_code(mut self, code: u32) -> Self {
        self.error_code = Some(code);
        self
    }

    /// Sets the body's `location` (a redirect's target).
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Sets the longer description of `errors[0]`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The JSON body for this error with `tracking_id`.
    pub fn body(&self, tracking_id: &str) -> ErrorBody {
        let mut body = ErrorBody::new(self.code, self.message.clone(), tracking_id);
        body.error_code = self.error_code;
        body.location.clone_from(&self.location);
        if let (Some(detail), Some(first)) = (&self.detail, body.errors.first_mut()) {
            first.description.clone_from(detail);
        }
        body
    }

    /// The error a bare status stands for (responses made by axum/tower).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (codes::NOT_FOUND, "No such resource"),
            StatusCode::METHOD_NOT_ALLOWED => (
                codes::METHOD_NOT_ALLOWED,
                "Method not allowed on this resource",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                codes::PAYLOAD_TOO_LARGE,
                "Request body is larger than the server accepts",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                codes::BAD_REQUEST,
                "Expected a request body of type application/json",
            ),
            StatusCode::REQUEST_TIMEOUT => (codes::BAD_REQUEST, "Request timed out"),
            StatusCode::SERVICE_UNAVAILABLE => (codes::UNAVAILABLE, "Service unavailable"),
            s if s.is_server_error() => {
                (codes::INTERNAL, "The server failed to handle the request")
            }
            _ => (codes::BAD_REQUEST, "Bad request"),
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(self);
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The JS SDK recognises this answer by comparing `message` with
            // the exact text (then deletes its oldest devices and retries),
            // so the numbers go in the detail only.
            StoreError::DeviceLimit { count, limit } => Self::new(
                StatusCode::FORBIDDEN,
                codes::EXCESSIVE_DEVICE_REGISTRATIONS,
                webex_wire::error::EXCESSIVE_DEVICE_REGISTRATIONS_MESSAGE,
            )
            .with_detail(format!(
                "{} ({count} devices; the limit is {limit}). Delete unused devices first.",
                webex_wire::error::EXCESSIVE_DEVICE_REGISTRATIONS_MESSAGE
            )),
            StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                codes::BAD_REQUEST,
                format!("{what} already exists"),
            ),
            StoreError::MissingReference(what) => Self::new(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                format!("The {what} this request refers to no longer exists"),
            ),
            e if e.is_retryable() => {
                tracing::error!(error = %e, "store unavailable");
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    "The database is unavailable; retry later",
                );
                err.retry_after = Some(1);
                err
            }
            e => Self::internal(e),
        }
    }
}

/// `axum::Json` whose rejection is an [`ApiError`] naming the problem.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match r {
            J::JsonDataError(e) => Self::bad_request(format!(
                "Invalid JSON body: {}",
                sanitize_message(&e.body_text())
            )),
            J::JsonSyntaxError(e) => Self::bad_request(format!(
                "Malformed JSON body: {}",
                sanitize_message(&e.body_text())
            )),
            J::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::BAD_REQUEST,
                "Expected `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            other => Self::bad_request(sanitize_message(&other.body_text())),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(format!(
            "Invalid query string: {}",
            sanitize_message(&r.body_text())
        ))
    }
}

impl From<axum::extract::rejection::FormRejection> for ApiError {
    fn from(r: axum::extract::rejection::FormRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::from_status(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Self::bad_request(format!(
            "Invalid form body: {}",
            sanitize_message(&r.body_text())
        ))
    }
}

/// `axum::extract::Query` whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::Form` whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct Form<T>(pub T);

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
