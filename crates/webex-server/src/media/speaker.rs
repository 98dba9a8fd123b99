//! The active speaker into the roster: every change the media engine makes
//! ([`webex_media::MediaEngine::speaker_changes`]) is recorded with the
//! meeting (`loci.active_speaker`) and pushed to its participants as a
//! Locus event (`locus.controls_updated`, a type the official SDK takes as
//! a full document — it reads an unknown type as a delta —, with
//! `activeSpeaker`), so that the Rust SDK can say who speaks. Runs on the
//! node whose engine carries the meeting (its anchor), which is the only
//! one that knows.

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webex_wire::locus::LocusEventType;

use crate::locus::{events, rules, service};
use crate::state::AppState;

/// Follows this node's engine until `cancel`; `None` when media is off.
pub fn spawn(state: AppState, cancel: CancellationToken) -> Option<JoinHandle<()>> {
    let mut changes = state.media.engine()?.speaker_changes();
    Some(tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                () = cancel.cancelled() => break,
                change = changes.recv() => change,
            };
            match change {
                Ok(change) => record(&state, &change.meeting, change.participant).await,
                // Only the latest speaker matters; the next change brings it.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "media: speaker changes came faster than they were recorded"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    }))
}

async fn record(state: &AppState, meeting: &str, participant: String) {
    match service::change(state, meeting, rules::active_speaker(participant)).await {
        Ok(outcome) if outcome.changed => {
            events::publish(state, &outcome, LocusEventType::ControlsUpdated, None).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, meeting, "media: could not record the active speaker"),
    }
}
