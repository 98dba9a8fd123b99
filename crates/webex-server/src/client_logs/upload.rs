//! The SDK's side of `clientLogs`: start an upload, send the file to the
//! temporary URL, describe it (see the parent module for the flow).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use webex_wire::error::{ErrorBody, codes};

use super::{BASE, ClientLog, ClientLogLimits, clean_filename};
use crate::auth::{Caller, hash_secret, random_secret};
use crate::connections::closing;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::state::AppState;
use crate::store::{FinalizeOutcome, NewClientLog, UploadOutcome};
use crate::time::now_millis;

/// Most metadata entries `logs/meta` accepts (the SDK sends about 15).
const MAX_META_ENTRIES: usize = 64;

/// Most bytes of metadata (as stored JSON) `logs/meta` accepts; the SDK
/// sends well under 2 KiB.
pub(super) const MAX_META_BYTES: usize = 64 * 1024;

/// Route template of the temporary upload URL, and its body limit.
pub(super) fn upload_route(limits: &ClientLogLimits) -> (String, usize) {
    (format!("{BASE}/uploads/{{id}}"), limits.max_upload_bytes)
}

pub(super) fn router(limits: &ClientLogLimits) -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/logs/urls"), post(start_upload))
        .route(&format!("{BASE}/logs/meta"), post(finalize))
        .route(
            &upload_route(limits).0,
            put(upload)
                // The file can be far larger than any other request body.
                .layer(DefaultBodyLimit::max(limits.max_upload_bytes))
                .delete(cancel),
        )
}

pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(start_upload, upload, cancel, finalize))]
struct ApiDoc;

/// Body of `POST logs/urls`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartUpload {
    /// The file name the client wants (e.g. `<locusId>_<callStart>.txt`).
    pub file: Option<String>,
    /// How the file will be sent; only `content-length` (one PUT) exists.
    pub upload_protocol: Option<String>,
}

/// Answer of `POST logs/urls`: where to send the file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    /// `PUT` the file here, without `Authorization`; valid for the upload
    /// window, until the log is finalized.
    #[serde(rename = "tempURL")]
    pub temp_url: String,
    /// The name to send back as `filename` in `logs/meta`.
    pub log_filename: String,
    /// The uploader's person id.
    pub user_id: String,
    /// `DELETE` this (with the Bearer token) to abandon the upload.
    pub url: String,
    /// Largest file accepted, in MiB.
    pub file_upload_size_limit: u64,
}

/// Query of the temporary upload URL.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The one-off secret `logs/urls` put in `tempURL`.
    pub token: Option<String>,
}

/// One metadata entry of `logs/meta`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetaEntry {
    /// Name, e.g. `locusId`, `correlationId`, `feedbackId`.
    pub key: String,
    /// Value (a string, or for `autoupload` a boolean).
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

/// Body of `POST logs/meta`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finalize {
    /// The `logFilename` that `logs/urls` answered.
    pub filename: String,
    /// Metadata about the log.
    #[serde(default)]
    pub data: Vec<MetaEntry>,
    /// The uploader's person id, as the client knows it. Informational: the
    /// log belongs to the Bearer token's person.
    #[allow(dead_code)] // Accepted for compatibility; the token decides.
    pub user_id: Option<String>,
}

/// The log id inside a `logFilename` (`<id>/<name>`).
fn log_id(log_filename: &str) -> Option<&str> {
    log_filename
        .split_once('/')
        .map(|(id, _)| id)
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
}

/// Starts a log upload.
#[utoipa::path(
    post,
    path = "/clientlogs/api/v1/logs/urls",
    tag = "clientLogs",
    request_body = StartUpload,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Upload URL for the file", body = UploadSession),
        (status = 400, description = "Malformed body or an unknown upload protocol", body = ErrorBody),
        (status = 401, description = "Missing, unknown, expired or revoked token", body = ErrorBody),
        (status = 415, description = "Body is not `application/json`", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn start_upload(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Json<UploadSession>> {
    // serde would also accept a JSON array as this all-optional struct.
    if !body.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object"));
    }
    let req: StartUpload = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid JSON body: {}",
            crate::quote::sanitize_message(&e.to_string())
        ))
    })?;
    if let Some(p) = req.upload_protocol.as_deref()
        && p != "content-length"
    {
        return Err(ApiError::bad_request(format!(
            "Unknown uploadProtocol `{}`; only `content-length` is supported",
            crate::quote::prefix(p)
        )));
    }
    let limits = &state.config.client_logs;
    let id = uuid::Uuid::new_v4().to_string();
    let secret = random_secret();
    let now = now_millis();
    let filename = clean_filename(req.file.as_deref().unwrap_or_default());
    let log = NewClientLog {
        id: id.clone(),
        person_id: caller.person.id.clone(),
        org_id: caller.person.org_id.clone(),
        filename: filename.clone(),
        upload_hash: hash_secret(&secret),
        created_at: now,
    };
    state
        .store
        .create_client_log(
            &log,
            limits.max_pending_per_person,
            now.saturating_sub(limits.window_millis()),
        )
        .await?;
    let url = state.service_url(&format!("{BASE}/uploads/{id}"));
    Ok(Json(UploadSession {
        temp_url: format!("{url}?token={secret}"),
        log_filename: format!("{id}/{filename}"),
        user_id: caller.person.id,
        url,
        file_upload_size_limit: limits.upload_limit_mib(),
    }))
}

/// Receives the file (the temporary URL; no `Authorization`, the `token` is
/// the capability). Sending it again replaces it until `logs/meta`.
#[utoipa::path(
    put,
    path = "/clientlogs/api/v1/uploads/{id}",
    tag = "clientLogs",
    params(("id" = String, Path, description = "Log id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The log file, any content type"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "No `token` in the query", body = ErrorBody),
        (status = 404, description = "No pending upload with this id and token (or it expired)", body = ErrorBody),
        (status = 409, description = "The log was already finalized", body = ErrorBody),
        (status = 413, description = "Larger than the per-upload limit", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<StatusCode, Response> {
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return Err(closing(ApiError::bad_request(
            "Send the file to the `tempURL` that `logs/urls` answered (with its `token`)",
        )));
    };
    // The capability first: nobody without it makes the server read a body.
    let hash = hash_secret(&token);
    if !state
        .store
        .client_log_upload_is_valid(&id, &hash)
        .await
        .map_err(|e| closing(e.into()))?
    {
        return Err(closing(not_pending()));
    }
    let body = read_body(&state, body).await?;
    let size = body.len();
    let outcome = state
        .store
        .store_client_log_content(
            &id,
            &hash,
            body,
            now_millis(),
            state.config.client_logs.caps(),
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    match outcome {
        UploadOutcome::Stored { evicted } => {
            metrics::counter!("webex_client_logs_uploaded_total").increment(1);
            metrics::counter!("webex_client_logs_uploaded_bytes_total")
                .increment(u64::try_from(size).unwrap_or(u64::MAX));
            metrics::counter!("webex_client_logs_evicted_total").increment(evicted);
            Ok(StatusCode::NO_CONTENT)
        }
        UploadOutcome::Finalized => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BAD_REQUEST,
            "This log is already finalized; start a new upload with logs/urls",
        )
        .into_response()),
        _ => Err(not_pending().into_response()),
    }
}

fn not_pending() -> ApiError {
    ApiError::not_found(
        "No pending upload with this id and token; it may have expired or been evicted",
    )
}

/// Reads an upload's body: at most `max_upload_bytes` (413), within the
/// body deadline (408); both close the connection.
async fn read_body(state: &AppState, body: Body) -> Result<Bytes, Response> {
    let limit = state.config.client_logs.max_upload_bytes;
    let timeout = state.config.connections.body_read_timeout;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(closing(if too_large {
                ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::bad_request("The request body could not be read")
            }))
        }
        Err(_) => Err(closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::BAD_REQUEST,
            format!(
                "The upload did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        ))),
    }
}

/// Abandons an upload (the SDK does this when its file exceeds
/// `fileUploadSizeLimit`).
#[utoipa::path(
    delete,
    path = "/clientlogs/api/v1/uploads/{id}",
    tag = "clientLogs",
    params(("id" = String, Path, description = "Log id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, unknown, expired or revoked token", body = ErrorBody),
        (status = 404, description = "The caller has no log with this id", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_client_log(&id, Some(&caller.person.id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("You have no log {id}")))
    }
}

/// Describes an uploaded log; this completes the upload.
#[utoipa::path(
    post,
    path = "/clientlogs/api/v1/logs/meta",
    tag = "clientLogs",
    request_body = Finalize,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The finalized log", body = ClientLog),
        (status = 400, description = "Malformed body, a `filename` that `logs/urls` did not give, or too much metadata (64 entries, 64 KiB)", body = ErrorBody),
        (status = 401, description = "Missing, unknown, expired or revoked token", body = ErrorBody),
        (status = 404, description = "The caller has no such log (or it was evicted)", body = ErrorBody),
        (status = 409, description = "The file has not been uploaded yet, or the log is already finalized", body = ErrorBody),
        (status = 415, description = "Body is not `application/json`", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn finalize(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<Finalize>,
) -> ApiResult<Json<ClientLog>> {
    let Some(id) = log_id(&req.filename) else {
        return Err(ApiError::bad_request(
            "`filename` must be the `logFilename` that logs/urls answered",
        ));
    };
    if req.data.len() > MAX_META_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_META_ENTRIES} metadata entries are accepted"
        )));
    }
    let meta = serde_json::to_value(&req.data).map_err(ApiError::internal)?;
    if meta.to_string().len() > MAX_META_BYTES {
        return Err(ApiError::bad_request(format!(
            "At most {} KiB of metadata are accepted",
            MAX_META_BYTES / 1024
        )));
    }
    match state
        .store
        .finalize_client_log(
            id,
            &caller.person.id,
            &meta,
            now_millis(),
            state.config.client_logs.caps(),
        )
        .await?
    {
        FinalizeOutcome::Finalized(record) => Ok(Json(record.into())),
        FinalizeOutcome::AlreadyFinalized => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BAD_REQUEST,
            "This log is already finalized; its metadata cannot change",
        )),
        FinalizeOutcome::NotUploaded => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BAD_REQUEST,
            "Upload the file to `tempURL` before logs/meta",
        )),
        _ => Err(ApiError::not_found(format!("You have no log {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_id_is_the_uuid_before_the_slash() {
        let id = "6b1c0a52-8f3e-4b1a-9c55-0d8f5e2a7b10";
        assert_eq!(log_id(&format!("{id}/x.txt")), Some(id));
        assert_eq!(log_id("x.txt"), None);
        assert_eq!(log_id("not-a-uuid/x.txt"), None);
    }

    #[test]
    fn the_session_uses_the_sdk_field_names() -> Result<(), serde_json::Error> {
        let s = UploadSession {
            temp_url: "t".into(),
            log_filename: "f".into(),
            user_id: "u".into(),
            url: "d".into(),
            file_upload_size_limit: 16,
        };
        let v = serde_json::to_value(s)?;
        for key in [
            "tempURL",
            "logFilename",
            "userId",
            "url",
            "fileUploadSizeLimit",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        Ok(())
    }
}
