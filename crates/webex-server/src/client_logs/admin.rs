//! The operator's side of `clientLogs`, under `/admin/api/v1/clientLogs`
//! (admin token): list, read, download, delete.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use webex_wire::error::ErrorBody;

use super::ClientLog;
use crate::admin::Admin;
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::state::AppState;
use crate::store::ClientLogFilter;
use crate::store::Millis;

/// Logs per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 100;
/// Most logs per page.
const MAX_LIMIT: u32 = 1000;

/// Routes of the operator API for client logs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/v1/clientLogs", get(list))
        .route("/admin/api/v1/clientLogs/{id}", get(one).delete(remove))
        .route("/admin/api/v1/clientLogs/{id}/content", get(content))
        .route_layer(crate::limits::layer(crate::limits::Class::Admin))
}

pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, one, content, remove))]
struct ApiDoc;

/// Filters of `GET /admin/api/v1/clientLogs`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListQuery {
    /// Only this person's logs.
    pub person_id: Option<String>,
    /// Only the logs of the person with this email.
    pub email: Option<String>,
    /// Only logs created before this time (Unix ms): the `next` of the
    /// previous page.
    pub before: Option<Millis>,
    /// Logs per page, 1–1000 (default 100).
    pub limit: Option<u32>,
}

/// Answer of `GET /admin/api/v1/clientLogs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientLogList {
    /// Logs, newest first.
    pub items: Vec<ClientLog>,
    /// `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Millis>,
}

/// Lists uploaded (and pending) client logs, newest first.
#[utoipa::path(
    get,
    path = "/admin/api/v1/clientLogs",
    tag = "admin",
    params(ListQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Logs, newest first", body = ClientLogList),
        (status = 400, description = "Invalid query (e.g. `limit` out of range)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "Unknown email, or admin API disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ClientLogList>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    let person_id = match (q.person_id, q.email) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "Give at most one of `personId` and `email`",
            ));
        }
        (Some(id), None) => Some(id),
        (None, Some(email)) => match state.store.person_by_email(&email.to_lowercase()).await? {
            Some(p) => Some(p.id),
            None => return Err(ApiError::not_found(format!("No person with email {email}"))),
        },
        (None, None) => None,
    };
    let records = state
        .store
        .client_logs(&ClientLogFilter {
            person_id,
            before: q.before,
            limit,
        })
        .await?;
    let full_page = records.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next = full_page
        .then(|| records.last().map(|r| r.created_at))
        .flatten();
    Ok(Json(ClientLogList {
        items: records.into_iter().map(ClientLog::from).collect(),
        next,
    }))
}

/// One client log's record.
#[utoipa::path(
    get,
    path = "/admin/api/v1/clientLogs/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Log id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The log", body = ClientLog),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such log, or admin API disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn one(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientLog>> {
    match state.store.client_log(&id).await? {
        Some(r) => Ok(Json(r.into())),
        None => Err(ApiError::not_found(format!("No client log {id}"))),
    }
}

/// Downloads a client log's file (`text/plain` when it is UTF-8).
#[utoipa::path(
    get,
    path = "/admin/api/v1/clientLogs/{id}/content",
    tag = "admin",
    params(("id" = String, Path, description = "Log id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/plain"),
            (Vec<u8> = "application/octet-stream"),
        )),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such log, nothing uploaded yet, or admin API disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn content(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let Some(record) = state.store.client_log(&id).await? else {
        return Err(ApiError::not_found(format!("No client log {id}")));
    };
    let Some(bytes) = state.store.client_log_content(&id).await? else {
        return Err(ApiError::not_found(format!(
            "Client log {id} has no content yet"
        )));
    };
    let kind = if std::str::from_utf8(&bytes).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    let mut res = (StatusCode::OK, bytes).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The stored name is already reduced to [A-Za-z0-9._-].
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", record.filename)) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Deletes a client log.
#[utoipa::path(
    delete,
    path = "/admin/api/v1/clientLogs/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Log id")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such log, or admin API disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable; retry later", body = ErrorBody),
    )
)]
async fn remove(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.delete_client_log(&id, None).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("No client log {id}")))
    }
}
