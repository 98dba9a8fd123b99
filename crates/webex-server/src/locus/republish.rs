//! Locus changes whose event could not be published, published again once
//! the bus is back.
//!
//! A change is committed to the database before its event is published, so
//! when Redis is unreachable from this node the change stands but nobody is
//! told. Nodes whose own subscription broke as well tell their clients to
//! resynchronise (`mercury::resync`); this module covers the others (only
//! this node lost Redis, or Redis was frozen rather than gone, so no
//! subscription broke). [`events::publish`] records
//! the Locus in the [`Backlog`]; the republisher then retries, with backoff
//! and at once after this node resubscribes, to publish the Locus's
//! *current* full document to its participants (`locus.participant_updated`
//! with the stored sequence). Both SDKs replace their copy with a full
//! document whose sequence is newer than theirs and ignore it otherwise, so
//! the copy is harmless for clients that did get the original (Redis may
//! still deliver a publish that timed out), and a client that missed it (or
//! several changes since) catches up in one step. No sequence is bumped:
//! the document is the latest committed state, and a change committed after
//! it has a higher sequence anyway.
//!
//! The backlog holds at most [`BACKLOG_CAP`] Loci. Past that it stops
//! counting and, once the bus is back, publishes one
//! [`BusMessage::Resync`]: every node asks
//! all its clients to reconnect and resynchronise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webex_wire::locus::{LocusEvent, LocusEventType};

use crate::bus::{BusError, BusMessage};
use crate::state::AppState;

use super::{document, events};

/// Most Loci the backlog remembers; past it, every client is told to
/// resynchronise instead.
pub const BACKLOG_CAP: usize = 1024;
/// First wait before publishing the backlog again.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two attempts (an attempt while Redis is down costs
/// one publish that fails within the bus deadline).
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What waits, each entry stamped with when it was last recorded, so an
/// attempt clears only what nobody recorded again meanwhile.
#[derive(Debug, Default)]
struct Pending {
    loci: HashMap<String, u64>,
    /// More Loci failed than [`BACKLOG_CAP`]: tell every client instead.
    overflowed: Option<u64>,
    stamp: u64,
}

/// Loci whose last event may not have reached every node.
///
/// ```
/// use webex_server::locus::republish::Backlog;
///
/// let backlog = Backlog::default();
/// backlog.record("locus-1");
/// backlog.record("locus-1");
/// assert_eq!(backlog.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Backlog {
    pending: Mutex<Pending>,
    wake: tokio::sync::Notify,
}

impl Backlog {
    /// Records that an event of `locus_id` was not published.
    pub fn record(&self, locus_id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.stamp += 1;
            let stamp = p.stamp;
            if p.overflowed.is_some() {
                p.overflowed = Some(stamp);
            } else if p.loci.len() >= BACKLOG_CAP && !p.loci.contains_key(locus_id) {
                tracing::warn!(
                    cap = BACKLOG_CAP,
                    "locus: too many unpublished changes; every client will be told to resynchronise"
                );
                p.overflowed = Some(stamp);
                p.loci.clear();
            } else {
                p.loci.insert(locus_id.to_owned(), stamp);
            }
        }
        self.wake.notify_one();
    }

    /// How many Loci wait to be republished.
    pub fn len(&self) -> usize {
        self.pending.lock().map(|p| p.loci.len()).unwrap_or(0)
    }

    /// Whether nothing waits (no Locus, no overflow).
    pub fn is_empty(&self) -> bool {
        self.pending
            .lock()
            .map(|p| p.loci.is_empty() && p.overflowed.is_none())
            .unwrap_or(true)
    }

    /// What waits now: the overflow stamp, else the Loci with their stamps.
    fn snapshot(&self) -> (Option<u64>, Vec<(String, u64)>) {
        match self.pending.lock() {
            Ok(p) => (
                p.overflowed,
                p.loci.iter().map(|(id, s)| (id.clone(), *s)).collect(),
            ),
            Err(_) => (None, Vec::new()),
        }
    }

    /// `locus_id` was republished as recorded at `stamp`.
    fn done(&self, locus_id: &str, stamp: u64) {
        if let Ok(mut p) = self.pending.lock()
            && p.loci.get(locus_id) == Some(&stamp)
        {
            p.loci.remove(locus_id);
        }
    }

    /// Every client was told to resynchronise, covering what was recorded
    /// up to `stamp`.
    fn resynced(&self, stamp: u64) {
        if let Ok(mut p) = self.pending.lock()
            && p.overflowed == Some(stamp)
        {
            p.overflowed = None;
        }
    }
}

/// Publishes the backlog whenever it is not empty, until `cancel` fires.
pub fn spawn_republisher(state: AppState, cancel: CancellationToken) -> JoinHandle<()> {
    // Subscribed now: a gap from here on means "the bus is back, try now".
    let mut gaps = state.bus.gaps();
    tokio::spawn(async move {
        let backlog = &state.locus_backlog;
        loop {
            if backlog.is_empty() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = backlog.wake.notified() => {}
                }
            }
            let mut delay = RETRY_MIN;
            while !flush(&state).await {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                    // This node resubscribed: Redis answers again.
                    Ok(()) = gaps.changed() => {}
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    })
}

/// One attempt at the whole backlog; whether it is all published.
async fn flush(state: &AppState) -> bool {
    let backlog = &state.locus_backlog;
    let (overflowed, loci) = backlog.snapshot();
    if let Some(stamp) = overflowed {
        let msg = BusMessage::Resync {
            origin: state.config.node_id.clone(),
        };
        return match state.bus.publish(msg).await {
            Ok(()) => {
                tracing::info!("locus: asked every node to resynchronise its clients");
                backlog.resynced(stamp);
                backlog.is_empty()
            }
            Err(e) => {
                tracing::debug!(error = %e, "locus: resync request not published yet");
                false
            }
        };
    }
    let started = tokio::time::Instant::now();
    let total = loci.len();
    for (id, stamp) in loci {
        if let Err(e) = republish(state, &id).await {
            tracing::debug!(error = %e, locus = %id, "locus: republish failed; retrying later");
            return false;
        }
        backlog.done(&id, stamp);
    }
    if total > 0 {
        metrics::counter!("webex_locus_events_republished_total").increment(total as u64);
        tracing::info!(
            loci = total,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "locus: republished the changes the bus had lost"
        );
    }
    backlog.is_empty()
}

/// Why one republish failed (both are worth retrying).
#[derive(Debug, thiserror::Error)]
enum RepublishError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Publishes the current full document of `locus_id` to its participants.
/// A Locus that no longer exists needs nothing.
async fn republish(state: &AppState, locus_id: &str) -> Result<(), RepublishError> {
    let Some(m) = state.store.meeting(locus_id).await? else {
        return Ok(());
    };
    let site = super::site(state);
    let locus = document::full(&m, &site, None);
    let event = LocusEvent {
        event_type: LocusEventType::ParticipantUpdated,
        locus_url: locus.url.clone(),
        locus,
    };
    events::send(state, &m, &event, None, None).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_a_bounded_set() {
        let b = Backlog::default();
        assert!(b.is_empty());
        b.record("a");
        b.record("a");
        assert_eq!(b.len(), 1);
        for i in 1..BACKLOG_CAP {
            b.record(&format!("l{i}"));
        }
        assert_eq!(b.len(), BACKLOG_CAP);
        b.record("a");
        assert_eq!(b.len(), BACKLOG_CAP, "a known Locus is no overflow");
        // One more: the set is dropped for a resync of everyone.
        b.record("new");
        assert_eq!(b.len(), 0);
        assert!(!b.is_empty());
        let (overflowed, loci) = b.snapshot();
        assert!(loci.is_empty());
        b.resynced(overflowed.unwrap());
        assert!(b.is_empty());
    }

    #[test]
    fn an_attempt_clears_only_what_was_not_recorded_again() {
        let b = Backlog::default();
        b.record("a");
        b.record("b");
        let (_, loci) = b.snapshot();
        // "a" fails again while the attempt runs.
        b.record("a");
        for (id, stamp) in loci {
            b.done(&id, stamp);
        }
        assert_eq!(b.snapshot().1.len(), 1);
        assert_eq!(b.snapshot().1[0].0, "a");

        b.record("x");
        for i in 0..BACKLOG_CAP {
            b.record(&format!("l{i}"));
        }
        let (stamp, _) = b.snapshot();
        b.record("y");
        b.resynced(stamp.unwrap());
        assert!(!b.is_empty(), "recorded after the resync request was sent");
    }
}
