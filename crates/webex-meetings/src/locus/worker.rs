//! The meetings worker: applies Locus events from Mercury in order, syncs
//! after a reconnect, and runs resynchronisations (`GET {locusUrl}`) after
//! their wait. It runs while registered; `unregister()` stops it and every
//! job it started.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use webex_wire::locus::Locus;

use super::collection::{Collection, Input, Source};
use super::error::MeetingError;
use super::meeting::Meeting;
use super::requests;
use crate::events::RemovedReason;

/// Runs until `cancel` or until the SDK is dropped.
pub(crate) async fn run(
    list: Weak<Collection>,
    mut inbox: mpsc::UnboundedReceiver<Input>,
    cancel: CancellationToken,
) {
    let mut jobs = JoinSet::new();
    loop {
        let input = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                if let Err(e) = done && e.is_panic() {
                    tracing::error!("a meetings job panicked; the worker goes on");
                }
                continue;
            }
            input = inbox.recv() => match input {
                Some(i) => i,
                None => break,
            },
        };
        let Some(strong) = list.upgrade() else {
            break;
        };
        match input {
            Input::Frame(frame) => {
                // A bug in applying one document must not stop the others.
                let applied = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    strong.handle_frame(&frame);
                }));
                if applied.is_err() {
                    tracing::error!(event = ?frame.event_type(), "applying a locus event panicked; skipped");
                }
            }
            Input::Reconnected => {
                jobs.spawn(sync_after_reconnect(list.clone()));
            }
            Input::Resync { meeting, after } => {
                jobs.spawn(resync(list.clone(), meeting, after));
            }
            Input::FetchNew { locus_url } => {
                jobs.spawn(fetch_new(list.clone(), locus_url));
            }
        }
    }
    jobs.abort_all();
}

/// `network:reconnected`: events may have been missed; sync.
async fn sync_after_reconnect(list: Weak<Collection>) {
    let Some(list) = list.upgrade() else {
        return;
    };
    match list.sync().await {
        Ok(list) => tracing::info!(meetings = list.len(), "synced meetings after a reconnect"),
        Err(e) => tracing::warn!(error = %e, "sync after a reconnect failed"),
    }
}

/// Waits `after`, then replaces `meeting`'s copy with `GET {locusUrl}`.
/// Retries transient failures every `delta_wait`; a meeting the server no
/// longer shows this user is removed.
async fn resync(list: Weak<Collection>, meeting: Meeting, after: Duration) {
    let mut wait = after;
    loop {
        tokio::time::sleep(wait).await;
        let Some(strong) = list.upgrade() else {
            return;
        };
        let Some(url) = meeting.locus_url() else {
            return;
        };
        if meeting.is_removed() {
            return;
        }
        let options = strong.options;
        let fetched = requests::bounded(
            "resync",
            options.request_timeout,
            requests::get_locus(&strong.core.http, &url),
        )
        .await;
        match fetched {
            Ok(doc) => {
                apply_resync(&strong, &meeting, doc);
                return;
            }
            Err(
                MeetingError::AddressNotFound { .. }
                | MeetingError::NotParticipant
                | MeetingError::MeetingEnded,
            ) => {
                strong.remove(&meeting, RemovedReason::Unavailable);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, locus = %url, "resync failed; trying again");
                wait = options.delta_wait.max(Duration::from_millis(100));
            }
        }
    }
}

/// Fetches a Locus first seen as a delta, and files it.
async fn fetch_new(list: Weak<Collection>, locus_url: String) {
    let Some(strong) = list.upgrade() else {
        return;
    };
    let limit = strong.options.request_timeout;
    match requests::bounded(
        "fetch",
        limit,
        requests::get_locus(&strong.core.http, &locus_url),
    )
    .await
    {
        Ok(doc) => apply_fetched(&strong, &locus_url, doc),
        Err(e) => tracing::warn!(error = %e, locus = %locus_url, "fetching a new locus failed"),
    }
}

/// Replaces `meeting`'s working copy with the answer of its resync's
/// `GET {locusUrl}` (a full document, whatever it claims).
pub(crate) fn apply_resync(list: &Arc<Collection>, meeting: &Meeting, mut doc: Locus) {
    doc.base_sequence = None;
    if let Err(e) = list.handle(doc, Some(meeting), Source::Resync) {
        tracing::warn!(error = %e, "resynchronised locus not applied");
        meeting.lock().resync_scheduled = false;
    }
}

/// Files the answer of `GET {locus_url}` for a Locus first seen as a delta.
pub(crate) fn apply_fetched(list: &Arc<Collection>, locus_url: &str, mut doc: Locus) {
    doc.base_sequence = None;
    if let Err(e) = list.handle(doc, None, Source::Resync) {
        tracing::warn!(error = %e, locus = %locus_url, "fetched locus not applied");
    }
}
