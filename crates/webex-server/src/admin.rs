//! Operator API under `/admin/api/v1`: publish events to devices or people,
//! list live Mercury sockets, revoke tokens.
//!
//! Guarded by `config.admin_token` (`Authorization: Bearer <admin token>`,
//! compared in constant time). Without an admin token configured every route
//! answers 404, as if it did not exist.

use std::collections::HashSet;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use webex_wire::error::codes;

use crate::auth::{hash_secret, strip_bearer};
use crate::bus::{BusMessage, ConnectionInfo, Target};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::http::TrackingId;
use crate::openapi::Shared;
use crate::state::AppState;
use crate::time::now_millis;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/v1/events", post(publish_event))
        .route("/admin/api/v1/connections", get(list_connections))
        .route("/admin/api/v1/tokens/revoke", post(revoke_token))
        .route_layer(crate::limits::layer(crate::limits::Class::Admin))
}

/// Proof that the request carries the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ApiError::not_found(
                "The admin API is not enabled on this server",
            ));
        };
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                v.get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
            })
            .map(strip_bearer);
        let Some(given) = given else {
            return Err(ApiError::unauthorized(
                codes::TOKEN_MISSING,
                "Send `Authorization: Bearer <admin token>`",
            ));
        };
        if admin_token_matches(given, expected.expose_secret()) {
            Ok(Admin)
        } else {
            // Never the token itself: who tried, where.
            let peer = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default();
            metrics::counter!("webex_admin_auth_failures_total").increment(1);
            tracing::warn!(%peer, path = %parts.uri.path(), "wrong admin token");
            Err(ApiError::unauthorized(
                codes::TOKEN_UNKNOWN,
                "The admin token is not valid",
            ))
        }
    }
}

/// Constant-time comparison (of the SHA-256 digests, so the length of the
/// real token does not leak either).
fn admin_token_matches(given: &str, expected: &str) -> bool {
    crate::auth::hashes_equal(&hash_secret(given), &hash_secret(expected))
}

/// Body of `POST /admin/api/v1/events`: exactly one of `deviceId`,
/// `personId`, `email`, and the event's `data` (with `eventType`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRequest {
    /// Deliver to every socket of this device.
    pub device_id: Option<String>,
    /// Deliver to every connected device of this person.
    pub person_id: Option<String>,
    /// Deliver to every connected device of the person with this email.
    pub email: Option<String>,
    /// The envelope's `data`; must be an object with a non-empty `eventType`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Answer of `POST /admin/api/v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishResponse {
    /// The event envelope's id.
    pub id: String,
    /// Target devices holding a socket (on any node) when it was published.
    pub online_devices: usize,
    /// Target devices with no socket anywhere: they will not see the event.
    pub offline_devices: usize,
}

/// Publishes an event to a device or a person.
#[utoipa::path(
    post,
    path = "/admin/api/v1/events",
    tag = "admin",
    request_body = PublishRequest,
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Published", body = PublishResponse),
        (status = 400, description = "Invalid body (not exactly one target, or no eventType)"),
        (status = 415, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "Unknown target, or admin API disabled"),
        (status = 503, description = "Event bus unavailable; retry"),
    )
)]
pub async fn publish_event(
    _admin: Admin,
    State(state): State<AppState>,
    tracking: Option<axum::Extension<TrackingId>>,
    Json(req): Json<PublishRequest>,
) -> ApiResult<Response> {
    validate_event_data(&req.data)?;
    let now = now_millis();
    let (target, counts) = resolve_target(&state, &req, now).await?;
    let id = uuid::Uuid::new_v4().to_string();
    state
        .bus
        .publish(BusMessage::Event {
            target,
            id: id.clone(),
            data: req.data,
            published_at: now,
            tracking_id: tracking.map(|t| t.0.0),
        })
        .await
        .map_err(bus_error)?;
    metrics::counter!("webex_admin_events_published_total").increment(1);
    let body = PublishResponse {
        id,
        online_devices: counts.online,
        offline_devices: counts.offline,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn validate_event_data(data: &serde_json::Value) -> ApiResult<()> {
    let Some(obj) = data.as_object() else {
        return Err(ApiError::bad_request("`data` must be a JSON object"));
    };
    match obj.get("eventType").and_then(|v| v.as_str()) {
        Some(t) if !t.trim().is_empty() => Ok(()),
        _ => Err(ApiError::bad_request(
            "`data.eventType` must be a non-empty string, e.g. \"conversation.activity\"",
        )),
    }
}

/// How many of a target's live devices hold a socket (anywhere) and how
/// many do not.
struct DeviceCounts {
    online: usize,
    offline: usize,
}

/// The bus target and its online/offline device counts.
async fn resolve_target(
    state: &AppState,
    req: &PublishRequest,
    now: i64,
) -> ApiResult<(Target, DeviceCounts)> {
    let live = |exp: Option<i64>| exp.is_none_or(|e| e > now);
    match (&req.device_id, &req.person_id, &req.email) {
        (Some(device_id), None, None) => {
            let device = state.store.device(device_id).await?;
            match device {
                Some(d) if live(d.expires_at) => {
                    let ids = [device_id.clone()];
                    let online = online_devices(state, &ids).await?;
                    let counts = DeviceCounts {
                        online,
                        offline: 1 - online,
                    };
                    Ok((Target::Device(device_id.clone()), counts))
                }
                _ => Err(ApiError::not_found(format!("No device {device_id}"))),
            }
        }
        (None, Some(person_id), None) => {
            let Some(person) = state.store.person(person_id).await? else {
                return Err(ApiError::not_found(format!("No person {person_id}")));
            };
            person_target(state, person.id, now).await
        }
        (None, None, Some(email)) => {
            let Some(person) = state.store.person_by_email(&email.to_lowercase()).await? else {
                return Err(ApiError::not_found(format!("No person with email {email}")));
            };
            person_target(state, person.id, now).await
        }
        _ => Err(ApiError::bad_request(
            "Give exactly one of `deviceId`, `personId`, `email`",
        )),
    }
}

/// Counts for a person target.
///
/// One node (no presence registry): the hub's person index gives the online
/// devices and one `COUNT(*)` the live ones, so no device row is read. With
/// the Redis registry, presence is keyed by device, so the person's live
/// device ids are read and looked up in it (as before).
async fn person_target(
    state: &AppState,
    person_id: String,
    now: i64,
) -> ApiResult<(Target, DeviceCounts)> {
    let has_registry = state
        .bus
        .online_devices(&[])
        .await
        .map_err(bus_error)?
        .is_some();
    let counts = if has_registry {
        let ids: Vec<String> = state
            .store
            .devices_of(&person_id)
            .await?
            .into_iter()
            .filter(|d| d.expires_at.is_none_or(|e| e > now))
            .map(|d| d.id)
            .collect();
        let online = online_devices(state, &ids).await?;
        DeviceCounts {
            online,
            offline: ids.len() - online,
        }
    } else {
        let live = state.store.count_live_devices(&person_id, now).await?;
        let live = usize::try_from(live).unwrap_or(usize::MAX);
        // A socket may outlive its device by a moment (expired, not yet
        // swept): never report more online than live.
        let online = state.hub.person_online_devices(&person_id).min(live);
        DeviceCounts {
            online,
            offline: live - online,
        }
    };
    Ok((Target::Person(person_id), counts))
}

/// How many of `device_ids` hold a socket here or (per the registry)
/// anywhere.
async fn online_devices(state: &AppState, device_ids: &[String]) -> ApiResult<usize> {
    let mut online: HashSet<&str> = device_ids
        .iter()
        .filter(|d| state.hub.device_online(d))
        .map(String::as_str)
        .collect();
    if let Some(remote) = state
        .bus
        .online_devices(device_ids)
        .await
        .map_err(bus_error)?
    {
        online.extend(
            device_ids
                .iter()
                .filter(|d| remote.contains(*d))
                .map(String::as_str),
        );
    }
    Ok(online.len())
}

fn bus_error(e: crate::bus::BusError) -> ApiError {
    tracing::error!(error = %e, "admin: event bus call failed");
    let mut err = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::UNAVAILABLE,
        "The event bus is unavailable; retry later",
    );
    if e.is_retryable() {
        err.retry_after = Some(1);
    }
    err
}

/// Filters of `GET /admin/api/v1/connections`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ConnectionsQuery {
    /// Only sockets of this device.
    pub device_id: Option<String>,
    /// Only sockets of this person's devices.
    pub person_id: Option<String>,
}

/// Answer of `GET /admin/api/v1/connections`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionsResponse {
    /// Live sockets, this node's first.
    pub connections: Vec<ConnectionInfo>,
}

/// Lists live Mercury sockets: this node's, plus every other live node's
/// when the Redis bus is in use.
#[utoipa::path(
    get,
    path = "/admin/api/v1/connections",
    tag = "admin",
    params(ConnectionsQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Live sockets", body = ConnectionsResponse),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "Admin API disabled"),
    )
)]
pub async fn list_connections(
    _admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ConnectionsQuery>,
) -> ApiResult<Json<ConnectionsResponse>> {
    let device = q.device_id.as_deref().filter(|s| !s.is_empty());
    let person = q.person_id.as_deref().filter(|s| !s.is_empty());
    let mut connections = state.hub.connections(device, person);
    match state.bus.connections().await {
        Ok(Some(remote)) => connections.extend(remote.into_iter().filter(|c| {
            c.node != state.hub.node_id()
                && device.is_none_or(|d| c.device_id == d)
                && person.is_none_or(|p| c.person_id == p)
        })),
        Ok(None) => {}
        // Local sockets are still worth showing when Redis is down.
        Err(e) => tracing::warn!(error = %e, "admin: could not read the presence registry"),
    }
    Ok(Json(ConnectionsResponse { connections }))
}

/// Body of `POST /admin/api/v1/tokens/revoke`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeRequest {
    /// The access token (with or without `Bearer `).
    pub token: String,
}

impl std::fmt::Debug for RevokeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokeRequest")
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Answer of `POST /admin/api/v1/tokens/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokeResponse {
    /// False when the token was already revoked.
    pub revoked: bool,
}

/// Revokes a token and closes (4401) every socket that authenticated with
/// it, on every node.
#[utoipa::path(
    post,
    path = "/admin/api/v1/tokens/revoke",
    tag = "admin",
    request_body = RevokeRequest,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Revoked (or already revoked)", body = RevokeResponse),
        (status = 400, description = "Empty token"),
        (status = 415, response = crate::openapi::NotJson),
        (status = 401, response = crate::openapi::AdminUnauthorized),
        (status = 404, description = "Unknown token, or admin API disabled"),
        (status = 503, description = "Database or event bus unavailable; retry"),
    )
)]
pub async fn revoke_token(
    _admin: Admin,
    State(state): State<AppState>,
    Json(req): Json<RevokeRequest>,
) -> ApiResult<Json<RevokeResponse>> {
    let token = strip_bearer(&req.token);
    if token.is_empty() {
        return Err(ApiError::bad_request("`token` must not be empty"));
    }
    let hash = hash_secret(token);
    let revoked = state.store.revoke_token(&hash, now_millis()).await?;
    if !revoked && state.store.token(&hash).await?.is_none() {
        return Err(ApiError::not_found("No such token"));
    }
    // Published even when already revoked: closing sockets is idempotent and
    // a previous publish may have failed.
    state
        .bus
        .publish(BusMessage::TokenRevoked { token_hash: hash.0 })
        .await
        .map_err(bus_error)?;
    Ok(Json(RevokeResponse { revoked }))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(publish_event, list_connections, revoke_token),
    components(schemas(
        PublishRequest,
        PublishResponse,
        ConnectionsResponse,
        ConnectionInfo,
        RevokeRequest,
        RevokeResponse
    )),
    modifiers(&Shared),
    tags((name = "admin", description = "Operator API, guarded by the admin token"))
)]
struct AdminApi;

/// OpenAPI description of the admin routes.
///
/// ```
/// let api = webex_server::admin::openapi();
/// assert!(api.paths.paths.contains_key("/admin/api/v1/events"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    <AdminApi as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_comparison() {
        assert!(admin_token_matches("admin-secret", "admin-secret"));
        assert!(!admin_token_matches("admin-secre", "admin-secret"));
        assert!(!admin_token_matches("", "admin-secret"));
    }

    #[test]
    fn event_data_needs_an_event_type() {
        assert!(validate_event_data(&serde_json::json!({"eventType": "a.b"})).is_ok());
        assert!(validate_event_data(&serde_json::json!({"eventType": " "})).is_err());
        assert!(validate_event_data(&serde_json::json!({"x": 1})).is_err());
        assert!(validate_event_data(&serde_json::json!("a.b")).is_err());
    }

    #[test]
    fn openapi_has_the_bearer_scheme() {
        let api = openapi();
        let schemes = &api.components.unwrap().security_schemes;
        assert!(schemes.contains_key("admin_token"));
    }

    #[test]
    fn revoke_request_debug_hides_the_token() {
        let r = RevokeRequest {
            token: "secret".into(),
        };
        assert!(!format!("{r:?}").contains("secret"));
    }
}
