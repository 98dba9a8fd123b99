//! Token revocation (RFC 7009).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use webex_wire::oauth::OAuthError;

use super::client_auth::authenticate_client;
use super::oauth_error::{EndpointError, OAuthCode};
use super::oauth_form::{self, required};
use super::revocation;
use crate::auth::hash_secret;
use crate::http::TrackingId;
use crate::state::AppState;
use crate::time::now_millis;

/// Form of `POST /v1/revoke`.
#[derive(Default, Deserialize, ToSchema)]
pub(crate) struct RevokeRequest {
    /// The access or refresh token to revoke.
    token: Option<String>,
    /// `access_token` or `refresh_token`; a hint only (tokens are looked up
    /// by their hash either way).
    token_type_hint: Option<String>,
    /// Client id, when not sent as HTTP Basic.
    client_id: Option<String>,
    /// Client secret, when not sent as HTTP Basic.
    client_secret: Option<String>,
}

async fn revoke(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, EndpointError> {
    let req: RevokeRequest = oauth_form::parse(headers, body)?;
    let token = required(&req.token, "token")?;
    let client = authenticate_client(
        state,
        headers,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
    )
    .await?;
    if let Some(record) = state.store.token(&hash_secret(token)).await? {
        if record.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(EndpointError::oauth(
                OAuthCode::UnauthorizedClient,
                "The token was not issued to this client",
            ));
        }
        let revoked = revocation::revoke_record(
            state.store.as_ref(),
            Some(state.bus.as_ref()),
            &record,
            now_millis(),
        )
        .await?;
        tracing::info!(client = %client.id, revoked, hint = req.token_type_hint.as_deref().unwrap_or("none"), "token revocation requested");
    }
    // RFC 7009 §2.2: unknown (or already revoked) tokens are a success too.
    let mut res = StatusCode::OK.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

macro_rules! revoke_route {
    ($name:ident, $path:literal) => {
        /// Revokes an access token, or a refresh token with every token of
        /// its grant.
        #[utoipa::path(
            post,
            path = $path,
            tag = "oauth",
            security((), ("basic" = [])),
            request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
            responses(
                (status = 200, description = "Revoked, or the token was unknown or already revoked (RFC 7009)"),
                (status = 400, description = "RFC 6749 error: invalid_request (no token), unauthorized_client (token of another client)", body = OAuthError),
                (status = 401, response = crate::openapi::InvalidClient),
                (status = 503, response = crate::openapi::Unavailable),
            )
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            tracking: Option<Extension<TrackingId>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            revoke(&state, &headers, &body)
                .await
                .unwrap_or_else(|e| e.into_response(tracking))
        }
    };
}

revoke_route!(revoke_v1, "/v1/revoke");
revoke_route!(revoke_idb, "/idb/oauth2/v1/revoke");
