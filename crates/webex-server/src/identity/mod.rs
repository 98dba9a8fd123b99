//! Identity: people, OAuth 2, guest JWTs. (skeleton)

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
