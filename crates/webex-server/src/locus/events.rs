//! Locus Mercury events: one bus message per change, rendered on each node
//! for the sockets it holds.
//!
//! Every admitted participant of the meeting (left ones included, until it
//! ends) receives each change on every connected device. Participants who
//! are not admitted (waiting in the lobby, removed, or gone from the lobby)
//! receive only changes of their own participant, and see nothing of the
//! meeting but themselves (`own_only`, see [`document::own_view`]): a
//! removed participant's last event is their removal. Up to
//! [`DELTA_THRESHOLD`] participants the event carries the full document
//! (`locus.participant_joined`, …), which the official client replaces its
//! copy with when newer. Above it, the event is a `locus.difference` delta
//! holding only the changed participants with `baseSequence` = the previous
//! sequence, so a change costs O(changed) bytes per recipient; a client that
//! missed one resynchronises with `GET {locusUrl}`.
//!
//! `self` is per person. The bus message carries the document without it
//! and the list of recipients; when a recipient's participant is in the
//! document's `participants`, the node renders that participant as `self`
//! for them (for a delta: only the persons whose participant changed).
//! Everyone else shares one rendering.

use std::sync::Arc;

use serde_json::Value;
use webex_wire::locus::{LocusEvent, LocusEventType, ParticipantState};

use crate::bus::{BusError, BusMessage, LocusRecipient, Target};
use crate::mercury::Hub;
use crate::mercury::frame::EventFrame;
use crate::state::AppState;
use crate::store::meetings::{ChangeOutcome, MeetingSnapshot};
use crate::time::now_millis;

use super::document::{self, Site};

/// Above this many participants (joined or left) events are deltas.
pub const DELTA_THRESHOLD: usize = 16;

/// The event data (`{eventType, locusUrl, locus}`, no `self`) for one
/// change of a meeting with `participants` participants.
pub fn event_for(
    outcome: &ChangeOutcome,
    site: &Site<'_>,
    full_type: LocusEventType,
) -> LocusEvent {
    let m = &outcome.snapshot;
    // Someone just let in needs the whole meeting: always a full document.
    let admission = outcome.changed_participants.iter().any(|id| {
        m.participants
            .iter()
            .any(|p| &p.id == id && p.admitted && p.state == ParticipantState::Joined)
    }) && full_type == LocusEventType::ParticipantUpdated;
    let (event_type, locus) = if m.participants.len() > DELTA_THRESHOLD && !admission {
        (
            LocusEventType::Difference,
            document::delta(m, site, &outcome.changed_participants),
        )
    } else {
        (full_type, document::full(m, site, None))
    };
    LocusEvent {
        event_type,
        locus_url: locus.url.clone(),
        locus,
    }
}

/// Publishes the event of `outcome` (when something changed) to every
/// participant. A bus failure is logged and counted, and the Locus is
/// handed to the [`republish`](super::republish) backlog, which publishes
/// its current document once the bus is back.
pub async fn publish(
    state: &AppState,
    outcome: &ChangeOutcome,
    full_type: LocusEventType,
    tracking_id: Option<&str>,
) {
    if !outcome.changed {
        return;
    }
    let site = super::site(state);
    let event = event_for(outcome, &site, full_type);
    let locus_id = &outcome.snapshot.locus.id;
    let changed = Some(outcome.changed_participants.as_slice());
    match send(state, &outcome.snapshot, &event, changed, tracking_id).await {
        Ok(()) => {
            metrics::counter!("webex_locus_events_total", "type" => event.event_type.to_string())
                .increment(1);
        }
        Err(e) => {
            metrics::counter!("webex_locus_events_lost_total").increment(1);
            tracing::warn!(error = %e, locus = %locus_id, "locus: event not published");
            if e.is_retryable() {
                state.locus_backlog.record(locus_id);
            }
        }
    }
}

/// Who receives an event of `m` whose changed participants are `changed`
/// (`None`: unknown, as when republishing): every admitted participant;
/// a participant in the lobby when theirs changed (or may have); one who is
/// neither (removed, or gone from the lobby) only for the change that made
/// them so.
pub fn recipients(m: &MeetingSnapshot, changed: Option<&[String]>) -> Vec<LocusRecipient> {
    m.participants
        .iter()
        .filter_map(|p| {
            let theirs = changed.map(|c| c.contains(&p.id));
            let receives = p.admitted
                || match p.state {
                    ParticipantState::Idle => theirs != Some(false),
                    _ => theirs == Some(true),
                };
            receives.then(|| LocusRecipient {
                person_id: p.person_id.clone(),
                participant_id: p.id.clone(),
                own_only: !p.admitted,
            })
        })
        .collect()
}

/// Sends `event` (of meeting `m`, whose changed participants are
/// `changed`) to its [`recipients`] as one [`BusMessage::Locus`].
pub async fn send(
    state: &AppState,
    m: &MeetingSnapshot,
    event: &LocusEvent,
    changed: Option<&[String]>,
    tracking_id: Option<&str>,
) -> Result<(), BusError> {
    let data = serde_json::to_value(event)?;
    let recipients = recipients(m, changed);
    let msg = BusMessage::Locus {
        id: uuid::Uuid::new_v4().to_string(),
        data,
        recipients,
        published_at: now_millis(),
        tracking_id: tracking_id.map(str::to_owned),
    };
    state.bus.publish(msg).await
}

/// Delivers one [`BusMessage::Locus`] to this node's sockets; returns how
/// many sockets accepted it.
pub fn deliver(
    hub: &Hub,
    id: &str,
    data: &Value,
    recipients: &[LocusRecipient],
    published_at: i64,
    tracking_id: Option<&str>,
) -> usize {
    let participants = data
        .get("locus")
        .and_then(|l| l.get("participants"))
        .and_then(Value::as_array);
    let mut shared: Option<Arc<EventFrame>> = None;
    let mut sockets = 0;
    for r in recipients {
        if hub.person_online_devices(&r.person_id) == 0 {
            continue;
        }
        let own = participants.and_then(|ps| {
            ps.iter()
                .find(|p| p.get("id").and_then(Value::as_str) == Some(r.participant_id.as_str()))
        });
        let frame = match own {
            None if r.own_only => continue,
            Some(own) if r.own_only => Arc::new(EventFrame::new(
                id,
                &own_view(data, own),
                published_at,
                tracking_id,
            )),
            Some(own) => {
                let mut personal = data.clone();
                if let Some(locus) = personal.get_mut("locus").and_then(Value::as_object_mut) {
                    locus.insert("self".into(), own.clone());
                }
                Arc::new(EventFrame::new(id, &personal, published_at, tracking_id))
            }
            None => shared
                .get_or_insert_with(|| {
                    Arc::new(EventFrame::new(id, data, published_at, tracking_id))
                })
                .clone(),
        };
        sockets += hub.deliver(&Target::Person(r.person_id.clone()), frame);
    }
    sockets
}

/// `data` as a participant who is not admitted sees it: `own` as `self`
/// and as the only participant, the lobby's `info`, no controls or media
/// shares, and the
/// host without email (see [`document::own_view`]).
fn own_view(data: &Value, own: &Value) -> Value {
    let mut personal = data.clone();
    if let Some(locus) = personal.get_mut("locus").and_then(Value::as_object_mut) {
        locus.insert("participants".into(), Value::Array(vec![own.clone()]));
        locus.insert("self".into(), own.clone());
        locus.remove("controls");
        locus.remove("mediaShares");
        if let Some(info) = locus.get_mut("info").and_then(Value::as_object_mut) {
            info.insert(
                "displayHints".into(),
                serde_json::json!({"joined": [], "moderator": [], "coHost": []}),
            );
            info.remove("datachannelUrl");
        }
        if let Some(host) = locus.get_mut("host").and_then(Value::as_object_mut) {
            host.remove("email");
        }
    }
    personal
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::locus::document::tests::sample;

    fn site() -> Site<'static> {
        Site {
            public_url: "http://h",
            sip_domain: "webex.localhost",
        }
    }

    fn outcome(n: usize) -> ChangeOutcome {
        ChangeOutcome {
            snapshot: std::sync::Arc::new(sample(n)),
            changed: true,
            changed_participants: vec!["p1".into()],
            locus_changed: false,
        }
    }

    #[test]
    fn small_meetings_get_full_documents() {
        let e = event_for(&outcome(3), &site(), LocusEventType::ParticipantJoined);
        assert_eq!(e.event_type, LocusEventType::ParticipantJoined);
        assert_eq!(e.locus.participants.len(), 3);
        assert!(e.locus.base_sequence.is_none());
        assert_eq!(e.locus_url, "http://h/locus/api/v1/loci/l1");
    }

    #[test]
    fn large_meetings_get_deltas() {
        let e = event_for(
            &outcome(DELTA_THRESHOLD + 1),
            &site(),
            LocusEventType::ParticipantJoined,
        );
        assert_eq!(e.event_type, LocusEventType::Difference);
        assert_eq!(e.locus.participants.len(), 1);
        let bytes = serde_json::to_vec(&e).unwrap().len();
        let big = serde_json::to_vec(&event_for(
            &outcome(10 * DELTA_THRESHOLD),
            &site(),
            LocusEventType::ParticipantJoined,
        ))
        .unwrap()
        .len();
        // Only `fullState.count` grows (by a digit).
        assert!(
            big <= bytes + 2,
            "a delta's size does not grow with the meeting"
        );
    }
}
