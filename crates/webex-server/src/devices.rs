//! WDM device registry. (skeleton)

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Removes expired ephemeral devices every `sweep_interval`.
pub fn spawn_sweeper(_state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move { cancel.cancelled().await })
}
