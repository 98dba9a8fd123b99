//! Mercury websockets: each registered device's `webSocketUrl`.
//!
//! - [`session`]: the upgrade, the authorization handshake and the per-socket
//!   loop (pings, events, closes).
//! - [`hub`]: this node's authenticated sockets, indexed by device and person,
//!   with bounded outbound queues.
//! - [`frame`]: server frames as text.
//! - [`keepalive`]: pinging quiet sockets, closing silent ones.
//! - [`resync`]: asking every socket to reconnect after events were lost.
//!
//! This module owns sockets only: what arrives on the
//! [`Bus`](crate::bus::Bus) reaches the hub through the node's bus listener,
//! [`crate::delivery`], which also starts a [`resync`].

use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub mod frame;
pub mod hub;
pub mod keepalive;
pub mod resync;
pub mod session;

pub use hub::{CloseReason, Hub};

/// How long shutdown waits for every socket to receive its 1001 close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The `webSocketUrl` of device `device_id`: where its Mercury socket opens.
pub fn websocket_url(state: &AppState, device_id: &str) -> String {
    format!(
        "{}/mercury/v1/apps/wx2/registrations/{device_id}/messages",
        state.public_ws_url()
    )
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/mercury/v1/apps/wx2/registrations/{device_id}/messages",
        get(session::upgrade),
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(session::upgrade),
    tags((name = "mercury", description = "Per-device event websocket (Mercury)"))
)]
struct MercuryApi;

/// OpenAPI description of the websocket route (the frame protocol is in the
/// operation's description).
///
/// ```
/// let api = webex_server::mercury::openapi();
/// assert!(api.paths.paths.contains_key("/mercury/v1/apps/wx2/registrations/{deviceId}/messages"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    <MercuryApi as utoipa::OpenApi>::openapi()
}
