//! What many routes of the OpenAPI document share, written once: the error
//! responses (`#/components/responses/*`), the security schemes, and the
//! schemas those refer to.
//!
//! A handler refers to a shared response by name, and its module's
//! `#[derive(utoipa::OpenApi)]` lists [`Shared`] among its modifiers so the
//! module's document is complete on its own:
//!
//! ```
//! use utoipa::OpenApi;
//! use webex_server::openapi::{Shared, Unauthorized, Unavailable};
//!
//! /// The caller's things.
//! #[utoipa::path(
//!     get,
//!     path = "/v1/things",
//!     security(("bearer" = [])),
//!     responses(
//!         (status = 200, description = "The things"),
//!         (status = 401, response = Unauthorized),
//!         (status = 503, response = Unavailable),
//!     )
//! )]
//! async fn things() {}
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(things), modifiers(&Shared))]
//! struct Doc;
//!
//! let doc = Doc::openapi();
//! let components = doc.components.unwrap_or_default();
//! assert!(components.responses.contains_key("Unauthorized"));
//! assert!(components.schemas.contains_key("ErrorBody"));
//! assert!(components.security_schemes.contains_key("bearer"));
//! ```
//!
//! Route aliases (the same operation under two paths, such as
//! `/idb/oauth2/v1/access_token` and `/v1/access_token`, or `/region` and
//! `/v1/region`) are written one way everywhere: the handler module has a
//! `macro_rules!` that declares the annotated handler once, and one
//! invocation per path.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use webex_wire::error::ErrorBody;
use webex_wire::oauth::OAuthError;

/// 401 on a route that needs a person's access token (`bearer`).
#[derive(utoipa::ToResponse)]
#[response(description = "Missing, malformed, unknown, expired or revoked token (see `code`)")]
pub struct Unauthorized(pub ErrorBody);

/// 401 on the operator API (`admin_token`).
#[derive(utoipa::ToResponse)]
#[response(description = "Missing or wrong admin token")]
pub struct AdminUnauthorized(pub ErrorBody);

/// 401 from the OAuth client endpoints (token, revocation).
#[derive(utoipa::ToResponse)]
#[response(
    description = "invalid_client: missing or wrong client credentials (`WWW-Authenticate: Basic`)"
)]
pub struct InvalidClient(pub OAuthError);

/// 400: the query string does not parse.
#[derive(utoipa::ToResponse)]
#[response(description = "Unparsable query string")]
pub struct BadQuery(pub ErrorBody);

/// 400: the body of a JSON route is not JSON.
#[derive(utoipa::ToResponse)]
#[response(description = "Body is not JSON")]
pub struct NotJsonBody(pub ErrorBody);

/// 400: malformed JSON, or a field with an invalid value.
#[derive(utoipa::ToResponse)]
#[response(description = "Malformed JSON or an invalid field (named in the message)")]
pub struct InvalidBody(pub ErrorBody);

/// 413: the body is larger than `--body-limit`.
#[derive(utoipa::ToResponse)]
#[response(description = "Body larger than the server accepts")]
pub struct PayloadTooLarge(pub ErrorBody);

/// 415: a JSON route got another content type.
#[derive(utoipa::ToResponse)]
#[response(description = "Body is not `application/json`")]
pub struct NotJson(pub ErrorBody);

/// 429: a rate limit (the operation's description names which one).
#[derive(utoipa::ToResponse)]
#[response(
    description = "Rate limited; wait `Retry-After` seconds",
    headers(("retry-after" = u64, description = "Seconds to wait"))
)]
pub struct RateLimited(pub ErrorBody);

/// 503: the database is unavailable.
#[derive(utoipa::ToResponse)]
#[response(description = "The database is unavailable; retry later")]
pub struct Unavailable(pub ErrorBody);

/// The shared responses and the schemas they refer to.
#[derive(utoipa::OpenApi)]
#[openapi(components(
    responses(
        Unauthorized,
        AdminUnauthorized,
        InvalidClient,
        BadQuery,
        NotJsonBody,
        InvalidBody,
        PayloadTooLarge,
        NotJson,
        RateLimited,
        Unavailable
    ),
    schemas(ErrorBody, OAuthError)
))]
struct SharedComponents;

/// A `utoipa` modifier adding the shared responses, their schemas and the
/// security schemes (`bearer`: a person's access token; `basic`: an OAuth
/// client's id and secret; `admin_token`: the operator's token).
pub struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::OpenApi;
        openapi.merge(SharedComponents::openapi());
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token `<secret>_<region>_<orgId>` from the identity endpoints",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{RefOr, Response};

    /// Every `$ref` to a shared response in the server's document names one
    /// that exists.
    #[test]
    fn every_response_reference_resolves() {
        let doc = crate::ops::server_openapi();
        let components = doc.components.clone().unwrap_or_default();
        let mut refs = 0;
        for (path, item) in &doc.paths.paths {
            let ops = [
                &item.get,
                &item.put,
                &item.post,
                &item.delete,
                &item.options,
                &item.head,
                &item.patch,
                &item.trace,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in &op.responses.responses {
                    if let RefOr::Ref(r) = response {
                        let name = r.ref_location.trim_start_matches("#/components/responses/");
                        assert!(
                            components.responses.contains_key(name),
                            "{path} {status}: {} does not resolve",
                            r.ref_location
                        );
                        refs += 1;
                    }
                }
            }
        }
        assert!(refs > 20, "only {refs} shared responses used");
        let unauthorized: &RefOr<Response> = &components.responses["Unauthorized"];
        assert!(matches!(unauthorized, RefOr::T(_)));
    }
}
