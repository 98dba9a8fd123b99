//! Credentials before bodies: a request that carries a body has its
//! credentials checked before any byte of the body is read, and a body
//! larger than [`UNAUTHENTICATED_BODY_LIMIT`] is read only from a caller
//! with valid ones. Nobody without credentials can make the server buffer
//! large bodies (the probe held 400 unauthenticated 256 KiB uploads open).
//!
//! Valid credentials are a known, live `Bearer` access token (checked
//! through the auth cache, as the handler will check it again) or the admin
//! token. Anything else (none, a wrong token, HTTP Basic client credentials,
//! a guest JWT) marks the request [`Unverified`], and
//! [`crate::connections::guard_body`] then reads at most
//! [`UNAUTHENTICATED_BODY_LIMIT`] of it (413 at once when `Content-Length`
//! announces more); the handler gives the 401. The token endpoints, guest
//! login and pre-login metrics never need more.
//!
//! Routes that read their own body (the client-log upload URL, whose
//! capability is in its query) check it themselves before reading.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;

use crate::auth::{authenticate_token, check_token_shape, hash_secret, hashes_equal, strip_bearer};
use crate::connections::has_body;
use crate::state::AppState;
use crate::time::now_millis;

/// Largest body read from a request without valid credentials.
pub const UNAUTHENTICATED_BODY_LIMIT: usize = 64 * 1024;

/// Marks a request whose body arrives without valid credentials.
#[derive(Debug, Clone, Copy)]
pub struct Unverified;

/// State of [`check_before_body`].
#[derive(Clone)]
pub struct BodyAuth {
    /// The server.
    pub state: AppState,
    /// Route templates that read (and authorize) their own body.
    pub own_body_routes: Arc<HashMap<String, usize>>,
}

/// Middleware: marks requests with a body and without valid credentials
/// [`Unverified`] (see the module documentation).
pub async fn check_before_body(
    State(auth): State<BodyAuth>,
    mut req: Request,
    next: Next,
) -> Response {
    let own = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| auth.own_body_routes.contains_key(p.as_str()));
    if !has_body(&req) || own {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| strip_bearer(v).to_owned());
    if !verified(&auth.state, token.as_deref()).await {
        req.extensions_mut().insert(Unverified);
    }
    next.run(req).await
}

/// Whether `token` is the admin token or a live access token. A store
/// failure counts as not verified (the handler then reports it).
async fn verified(state: &AppState, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return false;
    };
    if let Some(admin) = &state.config.admin_token
        && hashes_equal(&hash_secret(token), &hash_secret(admin.expose_secret()))
    {
        return true;
    }
    check_token_shape(token).is_ok()
        && matches!(
            authenticate_token(state, token, now_millis()).await,
            Ok(Ok(_))
        )
}
