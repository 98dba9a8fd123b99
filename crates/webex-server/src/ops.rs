//! Health, readiness, Prometheus metrics, OpenAPI. (skeleton)

use axum::Router;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// The process-wide Prometheus recorder (installed once).
pub fn prometheus_handle() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    None
}
