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
//! Events, token revocations and device removals arrive through the
//! [`Bus`](crate::bus::Bus); [`spawn_bus_listener`] hands them to the hub,
//! and starts a [`resync`] when the bus reports a gap.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::BusMessage;
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

/// Delivers bus messages to this node's sockets until cancelled; then waits
/// (up to [`SHUTDOWN_GRACE`]) for every socket to be closed and leaves the
/// bus.
pub fn spawn_bus_listener(state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    // Subscribe now, not in the task: nothing published after the server
    // started may be missed.
    let mut rx = state.bus.subscribe();
    let mut gaps = state.bus.gaps();
    state
        .bus
        .attach_presence_source(Arc::new(state.hub.clone()));
    tokio::spawn(async move {
        let mut gaps_open = true;
        loop {
            let msg = tokio::select! {
                _ = cancel.cancelled() => break,
                msg = rx.recv() => msg,
                changed = gaps.changed(), if gaps_open => {
                    match changed {
                        Ok(()) => resync::start(&state, resync::Cause::Gap),
                        // The bus is closing: no more gaps.
                        Err(_) => gaps_open = false,
                    }
                    continue;
                }
            };
            match msg {
                Ok(msg) if matches!(*msg, BusMessage::Resync { .. }) => {
                    resync::start(&state, resync::Cause::Requested);
                }
                Ok(msg) => {
                    // Revocations from any node (this one already invalidated
                    // its own before publishing).
                    state.auth_cache.on_bus_message(&msg);
                    dispatch(&state.hub, &msg);
                }
                Err(RecvError::Lagged(n)) => {
                    // Lost messages may include revocations.
                    state.auth_cache.clear();
                    metrics::counter!("webex_bus_lagged_messages_total").increment(n);
                    tracing::error!(
                        lost = n,
                        "mercury: the bus listener fell behind; messages were lost"
                    );
                }
                Err(RecvError::Closed) => {
                    cancel.cancelled().await;
                    break;
                }
            }
        }
        if !state.hub.wait_idle(SHUTDOWN_GRACE).await {
            tracing::warn!("mercury: some sockets did not close in time");
        }
        state.bus.close().await;
    })
}

/// Applies one bus message to the local hub.
pub fn dispatch(hub: &Hub, msg: &BusMessage) {
    match msg {
        BusMessage::Event {
            target,
            id,
            data,
            published_at,
            tracking_id,
        } => {
            let frame = Arc::new(frame::EventFrame::new(
                id,
                data,
                *published_at,
                tracking_id.as_deref(),
            ));
            let n = hub.deliver(target, frame);
            tracing::debug!(event = %id, sockets = n, "mercury: event delivered");
        }
        BusMessage::Locus {
            id,
            data,
            recipients,
            published_at,
            tracking_id,
        } => {
            let n = crate::locus::events::deliver(
                hub,
                id,
                data,
                recipients,
                *published_at,
                tracking_id.as_deref(),
            );
            tracing::debug!(event = %id, sockets = n, "mercury: locus event delivered");
        }
        BusMessage::TokenRevoked { token_hash } => {
            let n = hub.close_token(token_hash);
            if n > 0 {
                tracing::info!(sockets = n, "mercury: closed sockets of a revoked token");
            }
        }
        BusMessage::DeviceGone { device_id } => {
            let n = hub.close_device(device_id);
            if n > 0 {
                tracing::info!(device = %device_id, sockets = n, "mercury: closed sockets of a removed device");
            }
        }
        // Needs the resync window and runs over time: the listener starts
        // it (`resync::start`).
        BusMessage::Resync { .. } => {}
    }
}
