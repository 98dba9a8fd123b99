//! Identity: people, OAuth 2 for integrations, guest JWTs, and the library
//! functions the CLI uses to mint credentials ([`admin`]).
//!
//! Routes (the `/idb/oauth2/v1/*` aliases are the paths the official SDK
//! uses by default):
//!
//! | Route | What |
//! |---|---|
//! | `GET /v1/people/me`, `GET /v1/people/{id}` | the caller, a person of the caller's org |
//! | `GET`/`POST /v1/authorize` | sign-in-and-consent page; issues authorization codes |
//! | `POST /v1/access_token` | `authorization_code` (PKCE) and `refresh_token` (rotating) grants |
//! | `POST /v1/revoke` | RFC 7009 token revocation |
//! | `POST /v1/jwt/login` | guest-issuer JWT → guest access token |

use axum::Router;
use axum::routing::{get, post};

use crate::limits::{self, Class};
use crate::openapi::Shared;
use crate::state::AppState;

pub mod admin;
mod authorize;
mod client_auth;
pub(crate) mod grant;
pub(crate) mod guest;
mod html;
mod oauth_error;
mod oauth_form;
mod people;
mod pkce;
mod revocation;
mod revoke;
mod scope;
mod token_endpoint;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/people/me", get(people::me))
        .route("/v1/people/{id}", get(people::by_id))
        .route(
            "/v1/authorize",
            get(authorize::show_v1).post(authorize::submit_v1),
        )
        .route(
            "/idb/oauth2/v1/authorize",
            get(authorize::show_idb).post(authorize::submit_idb),
        )
        .route(
            "/v1/access_token",
            post(token_endpoint::access_token_v1).route_layer(limits::layer(Class::OAuthToken)),
        )
        .route(
            "/idb/oauth2/v1/access_token",
            post(token_endpoint::access_token_idb).route_layer(limits::layer(Class::OAuthToken)),
        )
        .route("/v1/revoke", post(revoke::revoke_v1))
        .route("/idb/oauth2/v1/revoke", post(revoke::revoke_idb))
        .route(
            "/v1/jwt/login",
            post(guest::login).route_layer(limits::layer(Class::GuestLogin)),
        )
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    IdentityApi::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        people::me,
        people::by_id,
        authorize::show_v1,
        authorize::submit_v1,
        authorize::show_idb,
        authorize::submit_idb,
        token_endpoint::access_token_v1,
        token_endpoint::access_token_idb,
        revoke::revoke_v1,
        revoke::revoke_idb,
        guest::login,
    ),
    modifiers(&Shared),
    tags(
        (name = "people", description = "Who the caller is; guest sign-in"),
        (name = "oauth", description = "OAuth 2 for integrations (RFC 6749, 7636, 7009)"),
    )
)]
struct IdentityApi;

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_documents_every_route() {
        let api = super::openapi();
        for path in [
            "/v1/people/me",
            "/v1/people/{id}",
            "/v1/authorize",
            "/idb/oauth2/v1/authorize",
            "/v1/access_token",
            "/idb/oauth2/v1/access_token",
            "/v1/revoke",
            "/idb/oauth2/v1/revoke",
            "/v1/jwt/login",
        ] {
            assert!(api.paths.paths.contains_key(path), "{path} undocumented");
        }
        let components = api.components.unwrap_or_default();
        assert!(components.security_schemes.contains_key("bearer"));
        assert!(components.schemas.contains_key("TokenResponse"));
    }
}
