//! WDM, the device registry: register, list, refresh and delete the caller's
//! devices, and sweep ephemeral devices whose TTL ran out.
//!
//! A device belongs to the person whose token registered it. Another
//! person's device, a deleted one and an expired one (even before the
//! sweeper removes it) all answer 404, so ids never leak.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use webex_wire::device::{Device, DeviceList, DeviceRequest, Feature, Features};
use webex_wire::error::ErrorBody;

use crate::auth::Caller;
use crate::bus::BusMessage;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::openapi::Shared;
use crate::state::AppState;
use crate::store::{DeviceRecord, DeviceUpdateOutcome, Millis, StoreError};
use crate::time::{now_millis, rfc3339};

/// Base path of the WDM service.
pub const WDM_BASE: &str = "/wdm/api/v1";

/// Longest accepted value of `name` and the other descriptive string fields,
/// in characters.
pub const MAX_FIELD_CHARS: usize = crate::budget::MAX_NAME_CHARS;

/// Shortest accepted ephemeral TTL, in seconds.
pub const MIN_TTL_SECS: u64 = 30;

/// Longest accepted ephemeral TTL, in seconds (30 days).
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

/// Fields the server owns: dropped from what a client sends, so a PUT of
/// the whole stored record (as the JS SDK sends it) cannot overwrite them.
const SERVER_OWNED: [&str; 16] = [
    "url",
    "id",
    "webSocketUrl",
    "userId",
    "orgId",
    "features",
    "creationTime",
    "modificationTime",
    "etag",
    "mediaCluster",
    "services",
    "serviceHostMap",
    "intranetInactivityCheckUrl",
    "intranetInactivityDuration",
    "inNetworkInactivityDuration",
    "registered",
];

/// Routes of this module; registrations and refreshes are rate limited.
pub fn router() -> Router<AppState> {
    use crate::limits::{Class, layer};
    use axum::routing::{post, put};
    Router::new()
        .route(
            "/wdm/api/v1/devices",
            get(list).merge(post(register).route_layer(layer(Class::Registration))),
        )
        .route(
            "/wdm/api/v1/devices/{id}",
            get(fetch)
                .delete(remove)
                .merge(put(refresh).route_layer(layer(Class::Registration))),
        )
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(register, list, fetch, refresh, remove),
    modifiers(&Shared)
)]
struct ApiDoc;

/// Query of `POST /devices` and `PUT /devices/{id}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct RegisterQuery {
    /// `all`, `features`, `websocket` or `none` (optionally `,energyforecast`).
    /// Accepted; every answer carries the features and the websocket URL.
    #[allow(dead_code)] // Accepted for compatibility only.
    include_upstream_services: Option<String>,
}

/// Body of `PUT /devices/{id}`: a [`DeviceRequest`] or the whole stored
/// [`Device`]. Absent fields keep their stored value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceUpdate {
    name: Option<String>,
    device_type: Option<String>,
    model: Option<String>,
    localized_model: Option<String>,
    system_name: Option<String>,
    system_version: Option<String>,
    ttl: Option<u64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Register a device for the caller.
///
/// Rate limited per token (`--registration-rate`).
#[utoipa::path(
    post,
    path = "/wdm/api/v1/devices",
    tag = "wdm",
    params(RegisterQuery),
    request_body = DeviceRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The registered device", body = Device,
            headers(("etag" = String, description = "Version of this device record"))),
        (status = 400, response = crate::openapi::InvalidBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "`User has excessive device registrations`: the caller owns `device_limit` live devices (code `excessive_device_registrations`)", body = ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::NotJson),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Query(_query): Query<RegisterQuery>,
    Json(body): Json<DeviceRequest>,
) -> ApiResult<Response> {
    check_device_type(&body.device_type)?;
    validate_strings([
        ("name", &body.name),
        ("deviceType", &body.device_type),
        ("model", &body.model),
        ("localizedModel", &body.localized_model),
        ("systemName", &body.system_name),
        ("systemVersion", &body.system_version),
    ])?;
    if let Some(ttl) = body.ttl {
        validate_ttl(ttl)?;
    }
    let extra = client_extra(body.extra, crate::budget::MAX_DEVICE_EXTRA_BYTES)?;
    let now = now_millis();
    let record = DeviceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        person_id: caller.person.id.clone(),
        org_id: caller.person.org_id.clone(),
        name: body.name,
        device_type: body.device_type,
        model: body.model,
        localized_model: body.localized_model,
        system_name: body.system_name,
        system_version: body.system_version,
        ttl: body.ttl,
        extra,
        created_at: now,
        modified_at: now,
        expires_at: expiry(now, body.ttl),
        version: 1,
    };
    match state
        .store
        .create_device(&record, state.config.device_limit)
        .await
    {
        Ok(()) => {}
        Err(e @ StoreError::DeviceLimit { .. }) => {
            metrics::counter!("webex_device_limit_rejections_total").increment(1);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    metrics::counter!("webex_devices_registered_total").increment(1);
    tracing::info!(device_id = %record.id, person_id = %record.person_id, ttl_secs = record.ttl.unwrap_or(0), "device registered");
    Ok(device_response(&state, &record))
}

/// List the caller's live devices, oldest first.
#[utoipa::path(
    get,
    path = "/wdm/api/v1/devices",
    tag = "wdm",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's devices", body = DeviceList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<DeviceList>> {
    let now = now_millis();
    let devices = state
        .store
        .devices_of(&caller.person.id)
        .await?
        .iter()
        .filter(|d| is_live(d, now))
        .map(|d| to_device(&state, d))
        .collect();
    Ok(Json(DeviceList { devices }))
}

/// One of the caller's devices.
#[utoipa::path(
    get,
    path = "/wdm/api/v1/devices/{id}",
    tag = "wdm",
    params(("id" = String, Path, description = "Device id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The device", body = Device,
            headers(("etag" = String, description = "Version of this device record"))),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such live device of the caller", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let record = owned_live_device(&state, &caller, &id, now_millis()).await?;
    Ok(device_response(&state, &record))
}

/// Refresh one of the caller's devices: update its fields and restart its TTL.
///
/// Rate limited per token (`--registration-rate`).
#[utoipa::path(
    put,
    path = "/wdm/api/v1/devices/{id}",
    tag = "wdm",
    params(("id" = String, Path, description = "Device id"), RegisterQuery),
    request_body(content = DeviceRequest, description = "A device request or the whole stored device record; server-owned fields (url, features, times…) are ignored and absent fields keep their value"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The refreshed device", body = Device,
            headers(("etag" = String, description = "Version of this device record"))),
        (status = 400, response = crate::openapi::InvalidBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such live device of the caller: register a new one", body = ErrorBody),
        (status = 412, description = "`If-Match` names an older version of the device: GET it and retry", body = ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::NotJson),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(_query): Query<RegisterQuery>,
    headers: HeaderMap,
    Json(update): Json<DeviceUpdate>,
) -> ApiResult<Response> {
    let now = now_millis();
    let mut record = owned_live_device(&state, &caller, &id, now).await?;
    let if_version = check_if_match(&state, &record, &headers)?;
    let strings = [
        ("name", &update.name),
        ("deviceType", &update.device_type),
        ("model", &update.model),
        ("localizedModel", &update.localized_model),
        ("systemName", &update.system_name),
        ("systemVersion", &update.system_version),
    ];
    validate_strings(
        strings
            .iter()
            .filter_map(|(field, v)| v.as_ref().map(|v| (*field, v))),
    )?;
    if let Some(ttl) = update.ttl {
        validate_ttl(ttl)?;
    }
    let extra = client_extra(update.extra, crate::budget::MAX_DEVICE_EXTRA_BYTES)?;

    let fields = [
        (&mut record.name, update.name),
        (&mut record.device_type, update.device_type),
        (&mut record.model, update.model),
        (&mut record.localized_model, update.localized_model),
        (&mut record.system_name, update.system_name),
        (&mut record.system_version, update.system_version),
    ];
    for (stored, new) in fields {
        if let Some(new) = new {
            *stored = new;
        }
    }
    if update.ttl.is_some() {
        record.ttl = update.ttl;
    }
    record.extra = extra;
    record.modified_at = now.max(record.modified_at);
    record.expires_at = expiry(record.modified_at, record.ttl);

    // One conditional write: of two PUTs whose If-Match matched the same
    // version, the second finds the version moved on and gets a 412.
    match state.store.update_device(&record, if_version).await? {
        DeviceUpdateOutcome::Updated(version) => record.version = version,
        DeviceUpdateOutcome::Stale => {
            return Err(precondition_failed(
                &headers,
                "another update was written first",
            ));
        }
        DeviceUpdateOutcome::Missing => return Err(device_not_found()),
    }
    metrics::counter!("webex_devices_refreshed_total").increment(1);
    tracing::debug!(device_id = %record.id, "device refreshed");
    Ok(device_response(&state, &record))
}

/// Delete one of the caller's devices; its websockets are closed.
#[utoipa::path(
    delete,
    path = "/wdm/api/v1/devices/{id}",
    tag = "wdm",
    params(("id" = String, Path, description = "Device id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such live device of the caller (already gone counts as success for idempotent clients)", body = ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let now = now_millis();
    // One statement; another person's device is "not found" (not deleted).
    let Some(deleted) = state.store.delete_device(&id, &caller.person.id).await? else {
        return Err(device_not_found());
    };
    publish_gone(&state, &id).await;
    if deleted.expires_at.is_some_and(|at| at <= now) {
        // An expired device is removed here rather than by the sweeper, but
        // it was already gone as far as the client is concerned.
        return Err(device_not_found());
    }
    metrics::counter!("webex_devices_deleted_total").increment(1);
    tracing::info!(device_id = %id, person_id = %caller.person.id, "device deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every device whose TTL ran out by `now` and tells every node to
/// close their sockets. Returns how many were removed.
///
/// The sweeper calls this every `sweep_interval`; tests call it with a
/// future `now` instead of waiting.
pub async fn sweep_expired(state: &AppState, now: Millis) -> Result<usize, StoreError> {
    let gone = state.store.delete_expired_devices(now).await?;
    for device in &gone {
        publish_gone(state, &device.id).await;
    }
    if !gone.is_empty() {
        metrics::counter!("webex_devices_expired_total").increment(gone.len() as u64);
        tracing::info!(count = gone.len(), "expired devices removed");
    }
    Ok(gone.len())
}

/// Removes expired ephemeral devices every `config.sweep_interval` until
/// `cancel` fires. Errors are logged and the next round tries again.
pub fn spawn_sweeper(state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    // `interval` rejects a zero period.
    let period = state.config.sweep_interval.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = ticks.tick() => {
                    if let Err(e) = sweep_expired(&state, now_millis()).await {
                        tracing::warn!(error = %e, retryable = e.is_retryable(), "device sweep failed");
                    }
                }
            }
        }
    })
}

/// Whether `device` has not expired by `now`.
fn is_live(device: &DeviceRecord, now: Millis) -> bool {
    device.expires_at.is_none_or(|at| at > now)
}

/// When a device refreshed at `from` with `ttl` seconds expires.
fn expiry(from: Millis, ttl: Option<u64>) -> Option<Millis> {
    ttl.map(|secs| {
        from.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
    })
}

fn device_not_found() -> ApiError {
    ApiError::not_found("No such device; register a new one")
}

/// The caller's device `id` if it exists and has not expired; 404 otherwise.
async fn owned_live_device(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: Millis,
) -> ApiResult<DeviceRecord> {
    match state.store.device(id).await? {
        Some(d) if d.person_id == caller.person.id && is_live(&d, now) => Ok(d),
        _ => Err(device_not_found()),
    }
}

/// Tells every node to close the sockets of a deleted or expired device,
/// and makes the device leave every meeting it is in (with the usual
/// events; a meeting left empty ends after the idle grace).
async fn publish_gone(state: &AppState, device_id: &str) {
    let msg = BusMessage::DeviceGone {
        device_id: device_id.to_owned(),
    };
    if let Err(e) = state.bus.publish(msg).await {
        tracing::warn!(error = %e, %device_id, "could not announce a removed device; its sockets stay open until they reconnect");
    }
    let url = crate::device_url::device_url(&state.public_url, device_id);
    if let Err(e) = crate::locus::service::devices_gone(state, &[url]).await {
        tracing::warn!(error = %e, %device_id, "a removed device could not leave its meetings");
    }
}

fn validate_strings<'a>(
    fields: impl IntoIterator<Item = (&'static str, &'a String)>,
) -> ApiResult<()> {
    // MAX_FIELD_CHARS is the budget's name limit; names must also be free
    // of control and bidirectional characters.
    for (field, value) in fields {
        crate::budget::check_name(field, value)?;
    }
    Ok(())
}

/// Longest accepted `deviceType`.
pub const MAX_DEVICE_TYPE_CHARS: usize = 32;

/// 400 unless `deviceType` is given and has the shape of WDM's device
/// types (`WEB`, `DESKTOP`, `UC`, `TP_ENDPOINT`, …: upper-case letters,
/// digits and `_`). WDM files every device under its type, and every
/// client the protocol notes describe sends one (the official SDK `WEB`);
/// the other fields of the official body (`name`, `model`, …) are left
/// optional, as smaller clients register without them. The set of types
/// is not closed here: no source lists the cloud's whole set, and refusing
/// a type the cloud knows would refuse a real client.
fn check_device_type(device_type: &str) -> ApiResult<()> {
    let t = device_type.trim();
    if t.is_empty() {
        return Err(ApiError::bad_request(
            "`deviceType` is required (e.g. `WEB`, which the official SDK sends)",
        ));
    }
    let shaped = t.len() <= MAX_DEVICE_TYPE_CHARS
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if shaped {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`deviceType` must be a WDM device type such as `WEB`: upper-case letters, \
             digits and `_`, at most {MAX_DEVICE_TYPE_CHARS} characters"
        )))
    }
}

fn validate_ttl(ttl: u64) -> ApiResult<()> {
    if (MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`ttl` must be between {MIN_TTL_SECS} and {MAX_TTL_SECS} seconds, got {ttl}"
        )))
    }
}

/// The extra fields worth keeping: everything but the server-owned ones,
/// no larger than `limit` bytes once encoded.
fn client_extra(mut extra: Map<String, Value>, limit: usize) -> ApiResult<Map<String, Value>> {
    for key in SERVER_OWNED {
        extra.remove(key);
    }
    let size = serde_json::to_vec(&extra).map_or(usize::MAX, |v| v.len());
    if size > limit {
        return Err(ApiError::bad_request(format!(
            "The device's unknown fields take {size} bytes of JSON; at most {limit} are stored"
        )));
    }
    Ok(extra)
}

/// The wire form of a stored device.
fn to_device(state: &AppState, record: &DeviceRecord) -> Device {
    Device {
        url: crate::device_url::device_url(&state.public_url, &record.id),
        web_socket_url: crate::mercury::websocket_url(state, &record.id),
        user_id: record.person_id.clone(),
        org_id: record.org_id.clone(),
        name: record.name.clone(),
        device_type: record.device_type.clone(),
        model: record.model.clone(),
        localized_model: record.localized_model.clone(),
        system_name: record.system_name.clone(),
        system_version: record.system_version.clone(),
        ttl: record.ttl,
        features: features(),
        creation_time: rfc3339(record.created_at),
        modification_time: rfc3339(record.modified_at),
        extra: record.extra.clone(),
    }
}

/// The feature toggles every device gets. No developer toggles: the JS SDK
/// changes its Mercury and failover behaviour on some of them. No
/// `lastModified`: nobody ever changed these toggles, and WDM leaves the
/// field out on such toggles too (every feature field is optional to the
/// official SDK), so clients meet that shape here.
fn features() -> Features {
    let toggle = |key: &str, val: &str, value: Value| Feature {
        key: key.to_owned(),
        val: val.to_owned(),
        value,
        kind: Some("USER".to_owned()),
        mutable: Some(false),
        last_modified: None,
    };
    Features {
        developer: Vec::new(),
        entitlement: vec![Feature {
            kind: Some("ENTITLEMENT".to_owned()),
            ..toggle("squared-call-initiation", "true", Value::Bool(true))
        }],
        user: vec![toggle(
            "server-implementation",
            "webex-rs",
            Value::String("webex-rs".to_owned()),
        )],
    }
}

/// `200` with the device as JSON and its `ETag`.
fn device_response(state: &AppState, record: &DeviceRecord) -> Response {
    let device = to_device(state, record);
    let body = match serde_json::to_vec(&device) {
        Ok(body) => body,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag_of(&body)) {
        headers.insert(header::ETAG, etag);
    }
    (StatusCode::OK, headers, body).into_response()
}

/// What the request's `If-Match` asks of an update of `record` (as read):
/// `Some(version)` when it names `record`'s current entity tag, so the
/// update must find the device still at that version; `None` when there is
/// no `If-Match` (the official SDK sends none) or it is `*` (any version);
/// 412 when it names none of the current entity tag: the client read an
/// older version, and writing would silently overwrite someone else's
/// update.
fn check_if_match(
    state: &AppState,
    record: &DeviceRecord,
    headers: &HeaderMap,
) -> ApiResult<Option<i64>> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let wanted = wanted.to_str().unwrap_or("");
    let tags = || wanted.split(',').map(str::trim);
    if tags().any(|tag| tag == "*") {
        return Ok(None);
    }
    let current = serde_json::to_vec(&to_device(state, record))
        .map(|body| etag_of(&body))
        .map_err(ApiError::internal)?;
    if tags().any(|tag| tag == current || tag.strip_prefix("W/") == Some(current.as_str())) {
        Ok(Some(record.version))
    } else {
        Err(precondition_failed(
            headers,
            &format!("its current etag is {current}"),
        ))
    }
}

/// 412: the device is no longer at the version the request's `If-Match`
/// names; `why` says what is known of it.
fn precondition_failed(headers: &HeaderMap, why: &str) -> ApiError {
    let wanted = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        webex_wire::error::codes::BAD_REQUEST,
        format!(
            "The device changed since that version (If-Match {wanted}); {why}: GET it and retry"
        ),
    )
}

/// A strong entity tag for a response body.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        use std::fmt::Write;
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds_are_inclusive() {
        assert!(validate_ttl(MIN_TTL_SECS).is_ok());
        assert!(validate_ttl(MAX_TTL_SECS).is_ok());
        let err = validate_ttl(MIN_TTL_SECS - 1).err();
        assert!(err.is_some_and(|e| e.message.contains("`ttl`")));
        assert!(validate_ttl(MAX_TTL_SECS + 1).is_err());
    }

    #[test]
    fn long_names_are_rejected_by_field() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let ok = "é".repeat(MAX_FIELD_CHARS);
        assert!(validate_strings([("name", &ok)]).is_ok());
        let err = validate_strings([("name", &ok), ("model", &long)]).err();
        assert!(err.is_some_and(|e| e.message.contains("`model`")));
    }

    #[test]
    fn server_owned_fields_are_dropped() -> Result<(), ApiError> {
        let mut extra = Map::new();
        extra.insert("url".into(), Value::from("http://elsewhere/x"));
        extra.insert("features".into(), serde_json::json!({"developer": []}));
        extra.insert("clientCustom".into(), Value::from(1));
        let kept = client_extra(extra, 1024)?;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["clientCustom"], 1);
        Ok(())
    }

    #[test]
    fn oversized_extra_is_rejected() {
        let mut extra = Map::new();
        extra.insert("blob".into(), Value::from("x".repeat(100)));
        assert!(client_extra(extra, 50).is_err());
    }

    #[test]
    fn expiry_follows_ttl() {
        assert_eq!(expiry(1_000, None), None);
        assert_eq!(expiry(1_000, Some(30)), Some(31_000));
        assert_eq!(expiry(1, Some(u64::MAX)), Some(i64::MAX));
    }

    #[test]
    fn a_device_expires_at_its_expiry() {
        let mut d = DeviceRecord {
            id: "d".into(),
            person_id: "p".into(),
            org_id: "o".into(),
            name: String::new(),
            device_type: String::new(),
            model: String::new(),
            localized_model: String::new(),
            system_name: String::new(),
            system_version: String::new(),
            ttl: Some(30),
            extra: Map::new(),
            created_at: 0,
            modified_at: 0,
            expires_at: Some(30_000),
            version: 1,
        };
        assert!(is_live(&d, 29_999));
        assert!(!is_live(&d, 30_000));
        d.expires_at = None;
        assert!(is_live(&d, i64::MAX));
    }

    #[test]
    fn etags_are_quoted_and_stable() {
        let a = etag_of(b"{}");
        assert_eq!(a, etag_of(b"{}"));
        assert_ne!(a, etag_of(b"{ }"));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
    }

    #[test]
    fn no_developer_toggles() {
        let f = features();
        assert!(f.developer.is_empty());
        assert!(!f.entitlement.is_empty() && !f.user.is_empty());
    }
}
