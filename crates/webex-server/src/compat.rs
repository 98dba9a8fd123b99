//! Small answers the official JS SDK asks for while `meetings.register()`
//! runs: site preferences, a geo hint, media reachability clusters, user
//! preferences and client metrics.
//!
//! This server hosts no meetings or media, so each answer is the harmless
//! empty one that lets registration go on without waiting.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, response::IntoResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::openapi::Shared;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/meetingPreferences", get(meeting_preferences))
        .route("/region", get(region))
        .route("/v1/region", get(region_v1))
        .route(
            "/calliope/api/discovery/v1/clusters",
            get(clusters).post(clusters_post),
        )
        .route("/conversation/api/v1/users", get(user_preferences))
        .route("/metrics/api/v1/clientmetrics", post(client_metrics))
        .route(
            "/metrics/api/v1/clientmetrics-prelogin",
            post(client_metrics_prelogin),
        )
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        meeting_preferences,
        region,
        region_v1,
        clusters,
        clusters_post,
        user_preferences,
        client_metrics,
        client_metrics_prelogin
    ),
    modifiers(&Shared)
)]
struct ApiDoc;

/// `GET /v1/meetingPreferences`: the user's Webex meeting sites.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct MeetingPreferences {
    /// Meeting sites; this server is the one, default site.
    pub sites: Vec<MeetingSite>,
}

/// One meeting site.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingSite {
    /// `host[:port]` of the site. The official SDK adds it to the hosts it
    /// sends the token to, so it must be this server's own host.
    pub site_url: String,
    /// Whether it is the default site.
    pub default: bool,
}

/// `GET /region`: where the client appears to be.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeoHint {
    /// ISO country code.
    pub country_code: String,
    /// Region code.
    pub region_code: String,
    /// IANA time zone.
    pub timezone: String,
    /// The client's address as this server sees it.
    pub client_address: String,
}

/// `GET|POST {calliopeDiscovery}/clusters`: media clusters to probe.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Clusters {
    /// Cluster name → `{udp, tcp, xtls}` addresses; none here.
    #[schema(value_type = Object)]
    pub clusters: Map<String, Value>,
    /// Opaque cookie the client sends back when joining.
    #[schema(value_type = Object)]
    pub join_cookie: Map<String, Value>,
}

/// `GET {conversation}/users`: the user's conversation preferences.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPreferences {
    /// The preferences.
    pub user_preferences: UserPreferencesItems,
}

/// The preference items of [`UserPreferences`].
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPreferencesItems {
    /// Items (e.g. `preferredWebExSite`); none here.
    #[schema(value_type = Object)]
    pub user_preferences_items: Map<String, Value>,
}

/// Meeting sites of the caller.
#[utoipa::path(
    get,
    path = "/v1/meetingPreferences",
    tag = "compat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This server as the default meeting site", body = MeetingPreferences),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn meeting_preferences(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<MeetingPreferences> {
    // Without a site the official SDK falls back to `conversation/users` and
    // logs an error on every register(); naming this server avoids both.
    let host = url::Url::parse(&state.public_url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_default();
    Json(MeetingPreferences {
        sites: vec![MeetingSite {
            site_url: host,
            default: true,
        }],
    })
}

fn geo_hint(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Json<GeoHint> {
    Json(GeoHint {
        country_code: "US".into(),
        region_code: "US-EAST".into(),
        timezone: "America/New_York".into(),
        client_address: peer
            .map(|Extension(ConnectInfo(addr))| addr.ip().to_string())
            .unwrap_or_default(),
    })
}

macro_rules! region_route {
    ($name:ident, $path:literal) => {
        /// Geo hint (no authentication); the same under `/region` and the
        /// hydra base (`/v1/region`).
        #[utoipa::path(
            get,
            path = $path,
            tag = "compat",
            responses((status = 200, description = "A fixed region and the caller's address", body = GeoHint))
        )]
        async fn $name(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> Json<GeoHint> {
            geo_hint(peer)
        }
    };
}

region_route!(region, "/region");
region_route!(region_v1, "/v1/region");

/// Media clusters for reachability checks.
#[utoipa::path(
    get,
    path = "/calliope/api/discovery/v1/clusters",
    tag = "compat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "No clusters", body = Clusters),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn clusters(_caller: Caller) -> Json<Clusters> {
    Json(Clusters::default())
}

/// Media clusters for reachability checks (the browser SDK POSTs).
#[utoipa::path(
    post,
    path = "/calliope/api/discovery/v1/clusters",
    tag = "compat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "No clusters", body = Clusters),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn clusters_post(_caller: Caller) -> Json<Clusters> {
    Json(Clusters::default())
}

/// Conversation preferences of the caller.
#[utoipa::path(
    get,
    path = "/conversation/api/v1/users",
    tag = "compat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "No preferences", body = UserPreferences),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn user_preferences(_caller: Caller) -> Json<UserPreferences> {
    Json(UserPreferences::default())
}

/// Accepts a metrics batch: any JSON within the body limit; an empty body
/// is fine too.
fn accept_metrics(body: &Bytes) -> ApiResult<StatusCode> {
    if !body.is_empty() {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Client metrics (fire and forget; discarded).
#[utoipa::path(
    post,
    path = "/metrics/api/v1/clientmetrics",
    tag = "compat",
    request_body(content = Option<Value>, description = "`{\"metrics\":[…]}`; any JSON, or nothing, is accepted"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Accepted"),
        (status = 400, response = crate::openapi::NotJsonBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
async fn client_metrics(_caller: Caller, body: Bytes) -> impl IntoResponse {
    accept_metrics(&body)
}

/// Client metrics sent before login (no authentication; discarded).
#[utoipa::path(
    post,
    path = "/metrics/api/v1/clientmetrics-prelogin",
    tag = "compat",
    request_body(content = Option<Value>, description = "`{\"metrics\":[…]}`; any JSON, or nothing, is accepted"),
    responses(
        (status = 204, description = "Accepted"),
        (status = 400, response = crate::openapi::NotJsonBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
    )
)]
async fn client_metrics_prelogin(body: Bytes) -> impl IntoResponse {
    accept_metrics(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_what_the_sdk_reads() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_value(Clusters::default())?,
            serde_json::json!({"clusters": {}, "joinCookie": {}})
        );
        assert_eq!(
            serde_json::to_value(UserPreferences::default())?,
            serde_json::json!({"userPreferences": {"userPreferencesItems": {}}})
        );
        assert_eq!(
            serde_json::to_value(MeetingPreferences::default())?,
            serde_json::json!({"sites": []})
        );
        Ok(())
    }

    #[test]
    fn metrics_accept_json_or_nothing() {
        assert!(accept_metrics(&Bytes::from_static(b"{\"metrics\":[]}")).is_ok());
        assert!(accept_metrics(&Bytes::new()).is_ok());
        assert!(accept_metrics(&Bytes::from_static(b"{nope")).is_err());
    }
}
