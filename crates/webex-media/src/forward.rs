//! Routing within a meeting: a participant's frames go to the others on
//! their m-line of the same role; their keyframe requests go back to the
//! sender of what they receive on that m-line.

use std::time::Instant;

use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind};

use crate::engine::Engine;
use crate::metrics;
use crate::session::{Raised, SessionId};

/// Routing steps per call, so that a feedback loop cannot hold the thread.
const MAX_STEPS: usize = 100_000;

impl Engine {
    /// Routes everything sessions raised, polling each session written to
    /// (which may raise more).
    pub(crate) fn route(&mut self, now: Instant) {
        let mut steps = 0;
        while !self.raised.is_empty() && steps < MAX_STEPS {
            let batch = std::mem::take(&mut self.raised);
            for (from, event) in batch {
                steps += 1;
                match event {
                    Raised::Media(data) => self.forward_media(from, &data, now),
                    Raised::Keyframe(req) => self.relay_keyframe_request(from, req, now),
                }
            }
        }
        self.raised.clear();
    }

    /// The other sessions of `from`'s meeting.
    fn peers_of(&self, from: SessionId) -> Vec<SessionId> {
        let Some(session) = self.sessions.get(&from) else {
            return Vec::new();
        };
        self.meetings
            .get(&session.key.meeting)
            .map(|ids| ids.iter().copied().filter(|id| *id != from).collect())
            .unwrap_or_default()
    }

    fn forward_media(&mut self, from: SessionId, data: &MediaData, now: Instant) {
        let Some(sender) = self.sessions.get(&from) else {
            return;
        };
        let Some(role) = sender.role_of(data.mid) else {
            return;
        };
        if !data.contiguous && data.params.spec().codec.kind() == MediaKind::Video {
            self.request_keyframe(from, data.mid, KeyframeRequestKind::Pli, now);
        }
        let Some(sender) = self.sessions.get(&from) else {
            return;
        };
        if sender.muted(role) {
            return;
        }
        for to in self.peers_of(from) {
            let Some(receiver) = self.sessions.get_mut(&to) else {
                continue;
            };
            let Some(mid) = receiver.mid_for(role) else {
                continue;
            };
            match receiver.write(mid, data) {
                Ok(true) => {
                    metrics::forwarded(role.kind_label(), data.data.len());
                    self.poll(to, now);
                }
                Ok(false) => {}
                Err(_) => self.panicked(to),
            }
        }
    }

    fn relay_keyframe_request(&mut self, from: SessionId, req: KeyframeRequest, now: Instant) {
        let Some(role) = self.sessions.get(&from).and_then(|s| s.role_of(req.mid)) else {
            return;
        };
        for to in self.peers_of(from) {
            let Some(mid) = self.sessions.get(&to).and_then(|s| s.mid_for(role)) else {
                continue;
            };
            self.request_keyframe(to, mid, req.kind, now);
        }
    }

    /// A throttled keyframe request to session `to` on its m-line `mid`.
    fn request_keyframe(
        &mut self,
        to: SessionId,
        mid: str0m::media::Mid,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(session) = self.sessions.get_mut(&to) else {
            return;
        };
        match session.request_keyframe(mid, kind, now) {
            Ok(true) => {
                metrics::keyframe_request();
                self.poll(to, now);
            }
            Ok(false) => {}
            Err(_) => self.panicked(to),
        }
    }
}
