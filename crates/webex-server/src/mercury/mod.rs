//! Mercury websockets. (skeleton)

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::state::AppState;

/// This node's live connections.
pub struct Hub;

impl Hub {
    /// An empty hub.
    pub fn new(_config: &ServerConfig) -> Self {
        Self
    }
    /// Closes every socket with 1001.
    pub fn shutdown(&self) {}
}

/// The `webSocketUrl` of device `device_id`: where its Mercury socket opens.
pub fn websocket_url(state: &AppState, device_id: &str) -> String {
    format!(
        "{}/mercury/v1/apps/wx2/registrations/{device_id}/messages",
        state.public_ws_url()
    )
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Delivers bus events to local sockets until cancelled.
pub fn spawn_bus_listener(_state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move { cancel.cancelled().await })
}

/// The OpenAPI description of this module's routes (none documented yet).
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
