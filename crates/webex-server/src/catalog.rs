//! U2C service discovery: the `format=hostmap` catalog that tells clients
//! where every service hosted here lives.
//!
//! Three routes answer the same catalog:
//! - `GET /u2c/api/v1/limited/catalog` — before login, no authentication;
//! - `GET /u2c/api/v1/signin/catalog` — during sign-in, no authentication;
//! - `GET /u2c/api/v1/catalog` — after login, Bearer token required.
//!
//! `hostCatalog` is always `{}`: clients then never rewrite hosts (an entry
//! would also have to leave out the port, which a local server needs).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use utoipa::IntoParams;
use webex_wire::catalog::{Catalog, services};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::openapi::Shared;
use crate::state::AppState;

/// Base path of the U2C service.
pub const U2C_BASE: &str = "/u2c/api/v1";

/// Every service this server hosts: catalog name → path under the public URL.
pub const SERVICE_PATHS: [(&str, &str); 9] = [
    (services::WDM, "/wdm/api/v1"),
    (services::HYDRA, "/v1"),
    (services::U2C, U2C_BASE),
    (services::LOCUS, "/locus/api/v1"),
    (services::METRICS, "/metrics/api/v1"),
    (services::CALLIOPE_DISCOVERY, "/calliope/api/discovery/v1"),
    (services::CONVERSATION, "/conversation/api/v1"),
    (services::CLIENT_LOGS, crate::client_logs::BASE),
    (services::APPAPI, crate::locus::APPAPI_BASE),
];

/// The `format` value of every catalog this server answers.
pub const HOSTMAP: &str = "hostmap";

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/u2c/api/v1/limited/catalog", get(limited_catalog))
        .route("/u2c/api/v1/signin/catalog", get(signin_catalog))
        .route("/u2c/api/v1/catalog", get(catalog))
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(limited_catalog, signin_catalog, catalog),
    modifiers(&Shared)
)]
struct ApiDoc;

/// The catalog of a server whose public URL is `public_url` (no trailing
/// slash).
///
/// ```
/// let catalog = webex_server::catalog::hostmap("http://127.0.0.1:8080");
/// assert_eq!(catalog.service("wdm"), Some("http://127.0.0.1:8080/wdm/api/v1"));
/// assert_eq!(catalog.service("hydra"), Some("http://127.0.0.1:8080/v1"));
/// assert!(catalog.host_catalog.is_empty());
/// ```
pub fn hostmap(public_url: &str) -> Catalog {
    let service_links: BTreeMap<String, String> = SERVICE_PATHS
        .iter()
        .map(|(name, path)| {
            let mut url = String::with_capacity(public_url.len() + path.len());
            url.push_str(public_url);
            url.push_str(path);
            ((*name).to_owned(), url)
        })
        .collect();
    Catalog {
        service_links,
        host_catalog: BTreeMap::new(),
        format: Some(HOSTMAP.to_owned()),
    }
}

/// Query parameters clients send with a catalog request. None changes the
/// answer (this server hosts every service itself), but the limited
/// catalog needs one of the selectors.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Accepted for compatibility; the answer does not depend on them.
struct CatalogQuery {
    /// Org the client believes it belongs to.
    org_id: Option<String>,
    /// Email of the user signing in.
    email: Option<String>,
    /// SHA-256 of the lower-cased email.
    emailhash: Option<String>,
    /// User id.
    user_id: Option<String>,
    /// Lookup mode, e.g. `DEFAULT_BY_PROXIMITY`.
    mode: Option<String>,
    /// Answer format; only `hostmap` is produced.
    format: Option<String>,
    /// Cache buster sent on forced refreshes.
    timestamp: Option<String>,
}

impl CatalogQuery {
    /// Whether the query names whose catalog it asks for: the cloud's
    /// limited catalog is chosen by org, user or mode, and every client
    /// sends one of them (the official SDK `orgId`, else `emailhash`,
    /// `userId` or `mode=DEFAULT_BY_PROXIMITY`).
    fn has_selector(&self) -> bool {
        [
            &self.org_id,
            &self.email,
            &self.emailhash,
            &self.user_id,
            &self.mode,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
    }
}

/// Pre-login catalog. The query must say whose: `orgId`, `email`,
/// `emailhash`, `userId` or `mode`.
#[utoipa::path(
    get,
    path = "/u2c/api/v1/limited/catalog",
    tag = "u2c",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Service catalog", body = Catalog),
        (status = 400, description = "No selector (`orgId`, `email`, `emailhash`, `userId` or `mode`), or a malformed query", body = webex_wire::error::ErrorBody),
    )
)]
async fn limited_catalog(
    State(state): State<AppState>,
    Query(query): Query<CatalogQuery>,
) -> ApiResult<Json<Catalog>> {
    if !query.has_selector() {
        return Err(ApiError::bad_request(
            "The limited catalog needs a selector: `orgId`, `email`, `emailhash`, `userId` \
             or `mode` (e.g. `?orgId=<org>&format=hostmap`)",
        ));
    }
    Ok(Json(hostmap(&state.public_url)))
}

/// Sign-in catalog (no authentication).
#[utoipa::path(
    get,
    path = "/u2c/api/v1/signin/catalog",
    tag = "u2c",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Service catalog", body = Catalog),
        (status = 400, response = crate::openapi::BadQuery),
    )
)]
async fn signin_catalog(
    State(state): State<AppState>,
    Query(_query): Query<CatalogQuery>,
) -> Json<Catalog> {
    Json(hostmap(&state.public_url))
}

/// Post-login catalog; the one device registration waits for.
#[utoipa::path(
    get,
    path = "/u2c/api/v1/catalog",
    tag = "u2c",
    params(CatalogQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Service catalog", body = Catalog),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn catalog(
    State(state): State<AppState>,
    _caller: Caller,
    Query(_query): Query<CatalogQuery>,
) -> Json<Catalog> {
    Json(hostmap(&state.public_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_sits_under_the_public_url() {
        let catalog = hostmap("https://webex.example:8443");
        assert_eq!(catalog.service_links.len(), SERVICE_PATHS.len());
        for url in catalog.service_links.values() {
            assert!(url.starts_with("https://webex.example:8443/"), "{url}");
            assert!(!url.ends_with('/'), "{url}");
        }
        assert_eq!(
            catalog.service("calliopeDiscovery"),
            Some("https://webex.example:8443/calliope/api/discovery/v1")
        );
        assert_eq!(catalog.format.as_deref(), Some("hostmap"));
    }

    #[test]
    fn serializes_an_empty_host_catalog() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(hostmap("http://h"))?;
        assert_eq!(json["hostCatalog"], serde_json::json!({}));
        assert_eq!(json["format"], "hostmap");
        Ok(())
    }
}
