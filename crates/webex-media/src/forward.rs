//! Routing within a meeting: a participant's frames go to the others on
//! their m-line of the same role; their keyframe requests go back to the
//! sender of what they receive on that m-line. With more than two, audio
//! goes to the meeting's mixer instead (`crate::mix`), and each receiver
//! takes main video from one source only (the active speaker, see
//! [`Engine::video_source_for`]), switched on a keyframe. Slides come only
//! from the meeting's presenter ([`Engine::set_presenter`]); a receiver
//! takes them from a keyframe on (asked for when the presenter changes),
//! on its own continuous timeline.

use std::time::Instant;

use str0m::media::{
    Frequency, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, MediaTime,
};

use crate::engine::Engine;
use crate::metrics;
use crate::offer::Role;
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
        if role == Role::Audio
            && let Some(mixer) = self.mixers.get_mut(&sender.key.meeting)
        {
            // More than two: the mixer hears it, nobody gets it as is.
            let ts = data.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
            mixer.push(from, ts, data.data.clone());
            return;
        }
        if role == Role::Slides && !self.is_presenter(from) {
            return;
        }
        for to in self.peers_of(from) {
            if role == Role::Video && !self.takes_video(to, from, data, now) {
                continue;
            }
            if role == Role::Slides && !self.takes_slides(to, from, data, now) {
                continue;
            }
            let Some(receiver) = self.sessions.get_mut(&to) else {
                continue;
            };
            let Some(mid) = receiver.mid_for(role) else {
                continue;
            };
            let rate = data.time.frequency();
            let time = match role {
                Role::Audio => {
                    receiver
                        .audio_line
                        .map(from, data.time.numer(), rate.get().into(), now)
                }
                Role::Video => {
                    receiver
                        .video_line
                        .map(from, data.time.numer(), rate.get().into(), now)
                }
                Role::Slides => {
                    receiver
                        .slides_line
                        .map(from, data.time.numer(), rate.get().into(), now)
                }
            };
            match receiver.write(mid, data, MediaTime::new(time, rate)) {
                Ok(true) => {
                    metrics::forwarded(role.kind_label(), data.data.len());
                    self.flush(to, now);
                }
                Ok(false) => {}
                Err(_) => self.panicked(to),
            }
        }
    }

    /// Whose main video `to` receives: the only other participant, else
    /// the active speaker, or the previous one when `to` is the speaker,
    /// else the first other to join (participants with muted video are
    /// passed over while another can be chosen).
    pub(crate) fn video_source_for(&self, to: SessionId) -> Option<SessionId> {
        let session = self.sessions.get(&to)?;
        let members = self.meetings.get(&session.key.meeting)?;
        // A participant that muted its video sends none: skip it if we can.
        let sends = |id: &SessionId| !self.sessions.get(id).is_some_and(|s| s.video_muted);
        let is_other = |id: &SessionId| *id != to && members.contains(id) && sends(id);
        let first_other = members
            .iter()
            .copied()
            .find(is_other)
            .or_else(|| members.iter().copied().find(|id| *id != to));
        let Some(speaker) = self.mixers.get(&session.key.meeting).map(|m| &m.speaker) else {
            return first_other;
        };
        speaker
            .current
            .filter(is_other)
            .or(speaker.previous.filter(is_other))
            .or(first_other)
    }

    /// Whether `to` takes this main-video frame of `from`: only from its
    /// video source, and after a switch only from the new source's
    /// keyframe on (requested from it).
    fn takes_video(
        &mut self,
        to: SessionId,
        from: SessionId,
        data: &MediaData,
        now: Instant,
    ) -> bool {
        if self.video_source_for(to) != Some(from) {
            return false;
        }
        let Some(receiver) = self.sessions.get_mut(&to) else {
            return false;
        };
        let taken = receiver.video.admit(from, data.is_keyframe());
        if !taken {
            self.request_keyframe(from, data.mid, KeyframeRequestKind::Pli, now);
        }
        taken
    }

    /// Whether session `from` is its meeting's presenter.
    fn is_presenter(&self, from: SessionId) -> bool {
        self.sessions
            .get(&from)
            .is_some_and(|s| self.presenters.get(&s.key.meeting) == Some(&s.key.participant))
    }

    /// The session of `meeting`'s presenter, if it has one here.
    fn presenter_session(&self, meeting: &str) -> Option<SessionId> {
        let presenter = self.presenters.get(meeting)?;
        self.meetings.get(meeting)?.iter().copied().find(|id| {
            self.sessions
                .get(id)
                .is_some_and(|s| &s.key.participant == presenter)
        })
    }

    /// Makes `participant` the presenter of `meeting` (`None`: nobody).
    /// On a change every receiver waits for a keyframe, which is asked of
    /// the new presenter's slides m-line.
    pub(crate) fn set_presenter(
        &mut self,
        meeting: String,
        participant: Option<String>,
        now: Instant,
    ) {
        if self.presenters.get(&meeting) == participant.as_ref() {
            return;
        }
        tracing::debug!(meeting, presenter = ?participant, "media: presenter");
        match participant {
            Some(p) => self.presenters.insert(meeting.clone(), p),
            None => self.presenters.remove(&meeting),
        };
        for id in self.meetings.get(&meeting).cloned().unwrap_or_default() {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.slides.waiting = true;
            }
        }
        if let Some(id) = self.presenter_session(&meeting)
            && let Some(mid) = self.sessions.get(&id).and_then(|s| s.mid_for(Role::Slides))
        {
            self.request_keyframe(id, mid, KeyframeRequestKind::Pli, now);
        }
    }

    /// Whether `to` takes this slides frame of the presenter `from`: from
    /// a keyframe on after the presenter changed (asked of it meanwhile).
    fn takes_slides(
        &mut self,
        to: SessionId,
        from: SessionId,
        data: &MediaData,
        now: Instant,
    ) -> bool {
        let Some(receiver) = self.sessions.get_mut(&to) else {
            return false;
        };
        let taken = receiver.slides.admit(from, data.is_keyframe());
        if !taken {
            self.request_keyframe(from, data.mid, KeyframeRequestKind::Pli, now);
        }
        taken
    }

    fn relay_keyframe_request(&mut self, from: SessionId, req: KeyframeRequest, now: Instant) {
        let Some(role) = self.sessions.get(&from).and_then(|s| s.role_of(req.mid)) else {
            return;
        };
        let meeting = self.sessions.get(&from).map(|s| s.key.meeting.clone());
        let targets = match (role, self.sessions.get(&from).and_then(|s| s.video.from)) {
            // Switched video: only the sender this participant receives.
            (Role::Video, Some(source)) => vec![source],
            // Slides: only the presenter sends any.
            (Role::Slides, _) => meeting
                .and_then(|m| self.presenter_session(&m))
                .filter(|p| *p != from)
                .into_iter()
                .collect(),
            _ => self.peers_of(from),
        };
        for to in targets {
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
                self.flush(to, now);
            }
            Ok(false) => {}
            Err(_) => self.panicked(to),
        }
    }
}
