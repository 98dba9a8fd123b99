//! The meeting retention sweeper: ended meetings and unused ad-hoc spaces
//! older than [`ServerConfig::meeting_retention`](crate::config::ServerConfig::meeting_retention)
//! are deleted ([`crate::store::RetentionStore`]), so that neither grows
//! without bound (a lookup of any address in the SIP domain makes a space).

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
use crate::store::{Millis, Purged, StoreError};
use crate::time::now_millis;

/// How often the sweeper looks (at most; never more often than needed for
/// a short retention).
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Deletes what is older than the retention at `now`. The sweeper calls
/// this; tests call it with a future `now` instead of waiting.
pub async fn purge(
    state: &AppState,
    now: Millis,
    retention: Duration,
) -> Result<Purged, StoreError> {
    let age = Millis::try_from(retention.as_millis()).unwrap_or(Millis::MAX);
    let purged = state.store.purge_meetings(now.saturating_sub(age)).await?;
    if purged != Purged::default() {
        metrics::counter!("webex_meetings_purged_total").increment(purged.meetings);
        metrics::counter!("webex_spaces_purged_total").increment(purged.spaces);
        tracing::info!(
            meetings = purged.meetings,
            spaces = purged.spaces,
            "old meetings purged"
        );
    }
    Ok(purged)
}

/// Purges every [`SWEEP_EVERY`] (or a tenth of the retention, if shorter)
/// until `cancel`; `None` when retention is off.
pub fn spawn_sweeper(state: AppState, cancel: CancellationToken) -> Option<JoinHandle<()>> {
    let retention = state.config.meeting_retention?;
    let period = (retention / 10).clamp(Duration::from_millis(10), SWEEP_EVERY);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = ticks.tick() => {
                    if let Err(e) = purge(&state, now_millis(), retention).await {
                        tracing::warn!(error = %e, retryable = e.is_retryable(), "meeting purge failed");
                    }
                }
            }
        }
    }))
}
