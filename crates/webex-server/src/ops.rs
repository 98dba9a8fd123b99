//! Operations endpoints: liveness (`/healthz`), readiness (`/readyz`),
//! Prometheus metrics (`/metrics`) and the OpenAPI document
//! (`/openapi.json`).

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;
use webex_wire::error::{ErrorBody, codes};

use crate::error::{ApiError, ApiResult, Json};
use crate::state::AppState;

/// Buckets of every `*_seconds` histogram, from 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Routes of this module on the API port; `/metrics` among them only when
/// `with_metrics` (no `--metrics-listen`).
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json));
    if with_metrics {
        router.route("/metrics", get(prometheus))
    } else {
        router
    }
}

/// The whole app of the `--metrics-listen` address: `/metrics`, and 404
/// (a JSON error) for anything else. No auth: the address is meant to be
/// reachable by the scraper only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(prometheus))
        .route_layer(axum::middleware::from_fn(crate::http::remember_route))
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) })
        // Tracking ids and JSON error bodies, as on the API port.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::track,
        ))
        .with_state(state)
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, prometheus, openapi_json))]
struct ApiDoc;

/// The OpenAPI document of the whole server: every module's routes, the
/// server's title and version, and the shared responses and security
/// schemes ([`crate::openapi`]) the routes refer to.
///
/// ```
/// let doc = webex_server::ops::server_openapi();
/// assert!(doc.paths.paths.contains_key("/wdm/api/v1/devices"));
/// ```
pub fn server_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Webex-compatible server")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(env!("CARGO_PKG_DESCRIPTION")))
                .build(),
        )
        .build();
    for part in [
        crate::identity::openapi(),
        crate::catalog::openapi(),
        crate::devices::openapi(),
        crate::compat::openapi(),
        crate::client_logs::openapi(),
        crate::admin::openapi(),
        crate::mercury::openapi(),
        crate::locus::openapi(),
        crate::media::openapi(),
        openapi(),
    ] {
        doc.merge(part);
    }
    utoipa::Modify::modify(&crate::openapi::Shared, &mut doc);
    doc
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// Many servers may start in one process (tests); they share this recorder.
/// `None` when another metrics recorder was installed first.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install_recorder).clone()
}

fn install_recorder() -> Option<PrometheusHandle> {
    let builder = match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "invalid histogram buckets; using summaries");
            PrometheusBuilder::new()
        }
    };
    match builder.install_recorder() {
        Ok(handle) => {
            describe_metrics();
            Some(handle)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
            None
        }
    }
}

fn describe_metrics() {
    webex_media::describe_metrics();
    metrics::describe_counter!(
        "webex_devices_registered_total",
        "Devices registered (POST /wdm/api/v1/devices)"
    );
    metrics::describe_counter!(
        "webex_devices_refreshed_total",
        "Device refreshes (PUT /wdm/api/v1/devices/{id})"
    );
    metrics::describe_counter!(
        "webex_devices_deleted_total",
        "Devices deleted by their owner"
    );
    metrics::describe_counter!(
        "webex_devices_expired_total",
        "Ephemeral devices removed by the sweeper"
    );
    metrics::describe_counter!(
        "webex_device_limit_rejections_total",
        "Registrations refused because the person has too many devices"
    );
    metrics::describe_counter!(
        "webex_admin_auth_failures_total",
        "Operator API requests with a missing or wrong admin token"
    );
    metrics::describe_counter!(
        "webex_admin_events_published_total",
        "Events published through the operator API"
    );
    metrics::describe_counter!(
        "webex_auth_cache_hits_total",
        "Bearer tokens answered from the authentication cache (no store read)"
    );
    metrics::describe_counter!(
        "webex_bus_gaps_total",
        "Times this node's bus subscription lost messages (Redis outage or lag); each starts a resync"
    );
    metrics::describe_counter!(
        "webex_bus_lagged_messages_total",
        "Bus messages this node's listener fell behind on and dropped"
    );
    metrics::describe_counter!(
        "webex_bus_redis_disconnects_total",
        "Redis subscription connections lost"
    );
    metrics::describe_counter!(
        "webex_bus_unheard_publishes_total",
        "Bus messages published while no node was subscribed (lost)"
    );
    metrics::describe_counter!(
        "webex_client_logs_evicted_total",
        "Uploaded client logs evicted to stay under the size caps"
    );
    metrics::describe_counter!(
        "webex_client_logs_uploaded_bytes_total",
        "Bytes of client logs uploaded"
    );
    metrics::describe_counter!(
        "webex_client_logs_uploaded_total",
        "Client logs uploaded (clientLogs)"
    );
    metrics::describe_counter!(
        "webex_connections_refused_total",
        "Connections refused at accept, by reason (total or per-peer cap)"
    );
    metrics::describe_counter!(
        "webex_connections_timed_out_total",
        "Connections closed by a deadline, by reason (header, idle)"
    );
    metrics::describe_counter!(
        "webex_locus_events_total",
        "Locus events published, by event type"
    );
    metrics::describe_counter!(
        "webex_locus_events_lost_total",
        "Locus events that could not be published (kept for republishing)"
    );
    metrics::describe_counter!(
        "webex_locus_events_republished_total",
        "Locus documents republished after the bus came back"
    );
    metrics::describe_counter!(
        "webex_meetings_purged_total",
        "Ended meetings deleted after the retention"
    );
    metrics::describe_counter!(
        "webex_spaces_purged_total",
        "Unused ad-hoc meeting spaces deleted after the retention"
    );
    metrics::describe_counter!(
        "webex_mercury_auth_failures_total",
        "Mercury sockets closed because their authorization frame was missing or refused"
    );
    metrics::describe_counter!(
        "webex_mercury_expired_closes_total",
        "Mercury sockets closed because their ephemeral device expired"
    );
    metrics::describe_counter!(
        "webex_mercury_frames_in_total",
        "Frames received on Mercury sockets"
    );
    metrics::describe_counter!(
        "webex_mercury_frames_out_total",
        "Frames sent on Mercury sockets"
    );
    metrics::describe_counter!(
        "webex_mercury_resyncs_total",
        "Mercury sockets asked to reconnect (1011) after the bus lost events"
    );
    metrics::describe_counter!(
        "webex_mercury_server_closes_total",
        "Mercury sockets closed by the server, by close code"
    );
    metrics::describe_counter!(
        "webex_mercury_silent_closes_total",
        "Mercury sockets closed (1000 idle) after staying silent past two pings"
    );
    metrics::describe_counter!(
        "webex_mercury_slow_consumer_disconnects_total",
        "Mercury sockets closed (1008) because their outbound queue was full"
    );
    metrics::describe_counter!(
        "webex_oauth_consent_refused_total",
        "OAuth consents refused (the consenting token may not grant what was asked)"
    );
    metrics::describe_counter!(
        "webex_oauth_grant_ended_total",
        "OAuth grants ended, by reason"
    );
    metrics::describe_counter!(
        "webex_rate_limited_total",
        "Requests answered 429, by limit class"
    );
    metrics::describe_counter!(
        "webex_request_body_refused_total",
        "Request bodies refused, by reason (too large, too slow)"
    );
    metrics::describe_gauge!(
        "webex_mercury_connections",
        "Open Mercury sockets on this node"
    );
    metrics::describe_histogram!(
        "webex_sqlite_batch_jobs",
        metrics::Unit::Count,
        "Writes committed together by one SQLite group commit"
    );
    metrics::describe_histogram!(
        "webex_postgres_batch_jobs",
        metrics::Unit::Count,
        "Writes committed together by one PostgreSQL writer batch"
    );
    metrics::describe_histogram!(
        "webex_http_request_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method, route and status"
    );
    metrics::describe_gauge!(
        "webex_build_info",
        "Always 1; the labels say which build is running"
    );
    metrics::gauge!("webex_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "Alive", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers, and so does the event bus (Redis,
/// with `--redis`): a node cut off from either cannot serve meetings.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database or the event bus (Redis) does not answer; the message says which", body = ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let unavailable = |what: &str| {
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            format!("The {what} is unavailable"),
        );
        err.retry_after = Some(1);
        err
    };
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, backend = state.store.backend(), "readiness check failed: database");
        return Err(unavailable("database"));
    }
    if let Err(e) = state.bus.ping().await {
        tracing::warn!(error = %e, "readiness check failed: event bus");
        return Err(unavailable("event bus (Redis)"));
    }
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
async fn prometheus(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .as_ref()
        .map(|handle| {
            handle.run_upkeep();
            handle.render()
        })
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
async fn openapi_json(State(state): State<AppState>) -> Response {
    // Two documents, each made once: with `/metrics`, and without it when
    // `--metrics-listen` moved it off this port (the API port answers 404).
    static WITH_METRICS: OnceLock<Result<String, String>> = OnceLock::new();
    static WITHOUT_METRICS: OnceLock<Result<String, String>> = OnceLock::new();
    let with_metrics = state.config.metrics_listen.is_none();
    let doc = if with_metrics {
        &WITH_METRICS
    } else {
        &WITHOUT_METRICS
    };
    let json = doc.get_or_init(|| {
        let mut doc = server_openapi();
        if !with_metrics {
            doc.paths.paths.remove("/metrics");
        }
        doc.to_json().map_err(|e| e.to_string())
    });
    match json {
        Ok(json) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json.clone(),
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every caller gets a handle on the one recorder that is installed:
    /// what is recorded anywhere shows in each handle's rendering. Were
    /// the recorder installed on every call, the second install would fail
    /// (a process has one global recorder) and leave that caller without a
    /// handle; were a handle made without installing, it would render
    /// nothing recorded through `metrics`.
    /// Families carry their help text, and the build is named.
    #[test]
    fn metrics_have_help_and_build_info() {
        let handle = prometheus_handle().expect("the recorder is installed");
        metrics::counter!("webex_devices_registered_total").increment(0);
        let text = handle.render();
        assert!(
            text.contains("# HELP webex_devices_registered_total Devices registered"),
            "{text}"
        );
        let build = format!(
            "webex_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
    }

    #[test]
    fn recorder_is_installed_once() {
        let first = prometheus_handle().expect("the recorder is installed");
        let second = prometheus_handle().expect("a second server gets the same recorder");
        metrics::counter!("webex_test_recorder_once_total").increment(3);
        for handle in [&first, &second] {
            let text = handle.render();
            assert!(text.contains("webex_test_recorder_once_total 3"), "{text}");
        }
    }

    #[test]
    fn document_has_bearer_scheme_and_wdm_paths() -> Result<(), serde_json::Error> {
        let doc: serde_json::Value = serde_json::from_str(&server_openapi().to_json()?)?;
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        for path in [
            "/wdm/api/v1/devices",
            "/wdm/api/v1/devices/{id}",
            "/u2c/api/v1/catalog",
            "/healthz",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        Ok(())
    }
}
