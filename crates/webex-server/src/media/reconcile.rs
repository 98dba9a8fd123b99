//! The engine follows the roster: after a Locus event of a meeting with
//! sessions on this node, sessions whose participant left (or whose device
//! did, or the meeting ended) close, and the others take the mute flags the
//! roster shows.

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
}

/// The Locus id of a Locus event's `data` (`locusUrl`'s last segment).
pub fn locus_id_of(data: &serde_json::Value) -> Option<&str> {
    data.get("locusUrl")?.as_str()?.rsplit('/').next()
}
