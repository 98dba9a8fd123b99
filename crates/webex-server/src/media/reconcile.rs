//! The engine follows the roster: after a Locus event of a meeting with
//! sessions on this node, sessions whose participant left (or whose device
//! did, or the meeting ended) close, the others take the mute flags the
//! roster shows, and the meeting's presenter is whoever holds the content
//! floor (only their slides are forwarded).

use webex_media::SessionKey;
use webex_wire::locus::{LocusState, ParticipantState};

use crate::state::AppState;

/// Reconciles this node's sessions of `meeting` with the stored meeting.
pub async fn meeting(state: &AppState, meeting: &str) {
    let Some(engine) = state.media.engine() else {
        return;
    };
    let snapshot = match state.store.meeting(meeting).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, meeting, "media: could not read the meeting to reconcile its sessions");
            return;
        }
    };
    let sessions: Vec<(SessionKey, String)> = state
        .media
        .lock_devices()
        .iter()
        .filter(|(k, _)| k.meeting == meeting)
        .map(|(k, d)| (k.clone(), d.clone()))
        .collect();
    // Sessions the engine closed by itself (never connected, ICE lost)
    // are forgotten here too.
    let alive: std::collections::HashSet<SessionKey> =
        engine.sessions().await.into_iter().map(|s| s.key).collect();
    state
        .media
        .lock_devices()
        .retain(|k, _| k.meeting != meeting || alive.contains(k));
    for (key, device_url) in sessions {
        if !alive.contains(&key) {
            continue;
        }
        let present = snapshot.as_ref().and_then(|m| {
            if m.locus.state != LocusState::Active {
                return None;
            }
            m.participants.iter().find(|p| {
                p.id == key.participant
                    && p.state == ParticipantState::Joined
                    && p.admitted
                    && p.devices
                        .iter()
                        .any(|d| d.url == device_url && d.state == ParticipantState::Joined)
            })
        });
        match present {
            Some(p) => {
                if let Some(flags) = p.media {
                    engine
                        .mute(&key, flags.audio_muted, flags.video_muted)
                        .await;
                }
            }
            None => {
                engine.close_participant(&key).await;
                state.media.lock_devices().remove(&key);
                tracing::info!(meeting, participant = %key.participant, "media: session closed (participant gone)");
            }
        }
    }
    if let Some(m) = &snapshot {
        engine.set_presenter(meeting, presenter_of(&m.locus)).await;
    }
}

/// Sets the presenter of `meeting` in this node's engine from the stored
/// floor: after a session was made here, whose meeting may have had a
/// presenter before any session existed.
pub async fn presenter(state: &AppState, meeting: &str) {
    let Some(engine) = state.media.engine() else {
        return;
    };
    match state.store.locus(meeting).await {
        Ok(Some(l)) => engine.set_presenter(meeting, presenter_of(&l)).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, meeting, "media: could not read the floor of the meeting");
        }
    }
}

/// The participant whose slides are forwarded: the content floor's
/// holder in an active meeting.
fn presenter_of(l: &crate::store::meetings::LocusRecord) -> Option<String> {
    if l.state != LocusState::Active {
        return None;
    }
    l.floor.as_ref()?.holder().map(str::to_owned)
}

/// The Locus id of a Locus event's `data` (`locusUrl`'s last segment).
pub fn locus_id_of(data: &serde_json::Value) -> Option<&str> {
    data.get("locusUrl")?.as_str()?.rsplit('/').next()
}
