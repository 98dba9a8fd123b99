//! The node's bus listener: delivers what arrives on the
//! [`Bus`](crate::bus::Bus) to this node.
//!
//! Every node, the publisher included, receives each [`BusMessage`]; this
//! module decides where it goes:
//! - an event for devices or people: the Mercury [`Hub`]'s sockets;
//! - a Locus event: [`locus::events::deliver`](crate::locus::events::deliver),
//!   which renders it for the sockets the hub holds;
//! - a token revocation: the [`auth_cache`](crate::auth_cache) and the hub
//!   (the token's sockets close);
//! - a removed device: the hub (the device's sockets close);
//! - a `Resync`, or a *gap* the bus reports ([`Bus::gaps`](crate::bus::Bus::gaps)):
//!   a [`resync`] of this node's sockets; after a gap
//!   (or when this listener fell behind) the auth cache is cleared too, as
//!   revocations may have been lost.
//!
//! So a meeting event runs locus → bus → here → locus rendering → hub;
//! `mercury/` only owns sockets and knows nothing of bus messages.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::BusMessage;
use crate::mercury::frame::EventFrame;
use crate::mercury::{Hub, SHUTDOWN_GRACE, resync};
use crate::state::AppState;

/// Delivers bus messages to this node until cancelled; then waits (up to
/// [`SHUTDOWN_GRACE`]) for every socket to be closed and leaves the bus.
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
                        Ok(()) => {
                            // Revocations may have been lost with the rest,
                            // as for a listener that fell behind.
                            state.auth_cache.clear();
                            resync::start(&state, resync::Cause::Gap);
                        }
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
                    media(&state, &msg);
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

/// The media side of a bus message: relayed offers and answers, and the
/// sessions of a meeting whose roster changed (in a task: it reads the
/// store).
fn media(state: &AppState, msg: &BusMessage) {
    match msg {
        BusMessage::MediaOffer { .. } | BusMessage::MediaAnswer { .. } => {
            crate::media::relay::on_bus_message(state, msg);
        }
        BusMessage::Locus { data, .. } => {
            if let Some(id) = crate::media::reconcile::locus_id_of(data)
                && state.media.carries(id)
            {
                let (state, id) = (state.clone(), id.to_owned());
                tokio::spawn(async move { crate::media::reconcile::meeting(&state, &id).await });
            }
        }
        _ => {}
    }
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
            let frame = Arc::new(EventFrame::new(
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
        BusMessage::Resync { .. }
        | BusMessage::MediaOffer { .. }
        | BusMessage::MediaAnswer { .. } => {}
    }
}
