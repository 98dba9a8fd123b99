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

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Delivers bus events to local sockets until cancelled.
pub fn spawn_bus_listener(_state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move { cancel.cancelled().await })
}
