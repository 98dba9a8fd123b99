//! OAuth 2 token endpoint and guest JWT exchange payloads.

use serde::{Deserialize, Serialize};

/// Successful answer of `POST /v1/access_token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The new refresh token (rotated on every refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<u64>,
    /// Always `Bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Granted scopes, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn bearer() -> String {
    "Bearer".into()
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("refresh_token_expires_in", &self.refresh_token_expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish()
    }
}

/// RFC 6749 §5.2 error answer.
///
/// ```
/// use webex_wire::oauth::OAuthError;
/// let e: OAuthError = serde_json::from_str(r#"{"error":"invalid_grant"}"#)?;
/// assert_eq!(e.error, "invalid_grant");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    /// Human readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Tracking id of the request.
    #[serde(
        default,
        rename = "trackingId",
        skip_serializing_if = "Option::is_none"
    )]
    pub tracking_id: Option<String>,
}

/// Answer of `POST {hydra}/jwt/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JwtLoginResponse {
    /// Access token for the guest.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for JwtLoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtLoginResponse")
            .field("token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Claims of a guest-issuer JWT (HS256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestClaims {
    /// Guest's stable id, e.g. `guest-user-<uuid>`.
    pub sub: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Guest issuer id.
    pub iss: String,
    /// Expiry, Unix seconds. Required.
    pub exp: i64,
}
