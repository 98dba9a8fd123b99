//! Telling this node's clients to resynchronise after events were lost.
//!
//! Two things mean clients of this node may have missed events:
//! - this node's bus subscription was interrupted and is back
//!   ([`Bus::gaps`](crate::bus::Bus::gaps)): whatever other nodes published
//!   meanwhile never arrived here;
//! - a node could not publish more Locus changes than it can remember while
//!   Redis was unreachable and says so once it is back
//!   ([`BusMessage::Resync`](crate::bus::BusMessage::Resync)).
//!
//! Either way the node closes every socket it holds with
//! [`CloseReason::RESYNC`] (1011), spread over
//! [`ServerConfig::resync_window`](crate::config::ServerConfig::resync_window).
//! Both SDKs treat 1011 as transient: they reconnect and, after every
//! reconnect, sync their meetings (`GET …/loci`), which brings rosters right.
//! A close is chosen over replaying events because nobody knows which
//! events were lost; the database is the truth and the sync reads it.

use crate::state::AppState;

use super::CloseReason;

/// Why this node tells its clients to resynchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// This node's bus subscription was lost and is back.
    Gap,
    /// Another node (or this one) lost track of the events it could not
    /// publish.
    Requested,
}

/// Closes this node's sockets over the resync window, in the background.
/// (After a gap the bus listener, [`crate::delivery`], also forgets cached
/// credentials.)
pub fn start(state: &AppState, cause: Cause) {
    let hub = state.hub.clone();
    let window = state.config.resync_window;
    let sockets = hub.socket_count();
    tracing::warn!(
        ?cause,
        sockets,
        ?window,
        "mercury: events may have been lost; asking every socket to reconnect and resynchronise"
    );
    metrics::counter!("webex_mercury_resyncs_total", "cause" => format!("{cause:?}")).increment(1);
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let closed = hub.close_all_spread(CloseReason::RESYNC, window).await;
        tracing::info!(
            closed,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "mercury: resync closes sent"
        );
    });
}
