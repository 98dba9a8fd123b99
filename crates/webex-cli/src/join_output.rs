//! What `webex meetings join` prints: one timed text line per event for
//! people, or with `--json` one JSON object per line for scripts and tests.
//!
//! Every JSON line has `event` (`joined`, `members:update`,
//! `meeting:stateChange`, `meeting:self:left`, `meeting:removed`, `left`),
//! `atMs` (milliseconds since the command started) and `members`, the full
//! roster after the event: `{id, personId, name, email, status, isHost,
//! isSelf, isAudioMuted, isVideoMuted}` with `status` `IN_MEETING`, `IN_LOBBY` or `NOT_IN_MEETING`.
//! `members:update` adds `added`, `updated` (members) and `removed` (ids);
//! `meeting:stateChange` adds `previous` and `current`; `meeting:removed`
//! adds `reason` when it is known; `joined` adds `sipUri`, `locusUrl` and
//! `inLobby` (the host has yet to admit this device: `meeting:self:lobbyWaiting`
//! was or will be printed, then `meeting:self:guestAdmitted`).
//!
//! With media: the SDK's `meeting:media:*` events (`meeting:media:ready`
//! adds `tracks`, `remoteTrackAdded`/`remoteTrackRemoved` add `track`,
//! `failed` adds `message`); once a second `media:stats` (no `members`):
//! `audio {packetsSent, packetsReceived, bytesReceived, lost, jitterMs,
//! muted}`, `video {framesSent, framesReceived, bytesReceived, jitterMs,
//! muted}`, `share {framesReceived}`, `roundTripMs` (null until the server
//! reported), `connected`; and for each stdin
//! command `command` with `command`, `ok` and on failure `message`.

use std::time::Instant;

use serde_json::{Value, json};
use webex_meetings::{Meeting, MeetingEvent, Member, RemovedReason};

use crate::meetings::describe;

/// Prints the events of one joined meeting.
pub struct JoinOutput {
    json: bool,
    started: Instant,
}

impl JoinOutput {
    /// Text (`json == false`) or JSON lines; times count from now.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            started: Instant::now(),
        }
    }

    fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// One JSON object on its own line, with `event`, `atMs` and `members`.
    fn line(&self, event: &str, meeting: &Meeting, mut extra: Value) {
        if let Value::Object(fields) = &mut extra {
            fields.insert("event".into(), event.into());
            fields.insert("atMs".into(), json!((self.at() * 10.0).round() / 10.0));
            let members: Vec<Value> = meeting.members().iter().map(member_json).collect();
            fields.insert("members".into(), Value::Array(members));
        }
        println!("{extra}");
    }

    /// The meeting was joined.
    pub fn joined(&self, meeting: &Meeting, destination: &str) {
        let sip = meeting.sip_uri().unwrap_or_else(|| destination.to_owned());
        let locus = meeting.locus_url().unwrap_or_default();
        if self.json {
            self.line(
                "joined",
                meeting,
                json!({ "sipUri": sip, "locusUrl": locus, "inLobby": meeting.is_in_lobby() }),
            );
        } else if meeting.is_in_lobby() {
            eprintln!("waiting in the lobby of {sip} ({locus}) for the host; Ctrl-C to leave");
        } else {
            eprintln!("joined {sip} ({locus}); Ctrl-C to leave");
        }
    }

    /// An event of the joined meeting.
    pub fn event(&self, meeting: &Meeting, event: &MeetingEvent) {
        if !self.json {
            println!("{:>9.1} ms  {}", self.at(), describe(event));
            return;
        }
        let extra = match event {
            MeetingEvent::MembersUpdate(delta) => json!({
                "added": delta.added.iter().map(member_json).collect::<Vec<_>>(),
                "updated": delta.updated.iter().map(member_json).collect::<Vec<_>>(),
                "removed": delta.removed,
            }),
            MeetingEvent::StateChange { previous, current } => json!({
                "previous": previous.as_ref().map(ToString::to_string),
                "current": current.to_string(),
            }),
            MeetingEvent::MediaReady { tracks } => json!({
                "tracks": tracks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            }),
            MeetingEvent::RemoteTrackAdded(track) | MeetingEvent::RemoteTrackRemoved(track) => {
                json!({ "track": track.as_str() })
            }
            MeetingEvent::MediaFailed(e) => json!({ "message": e.to_string() }),
            _ => json!({}),
        };
        self.line(&event.name(), meeting, extra);
    }

    /// The meeting left the meetings list (it ended, mostly).
    pub fn removed(&self, meeting: &Meeting, reason: Option<RemovedReason>) {
        if self.json {
            let reason = reason.map(RemovedReason::as_str);
            self.line("meeting:removed", meeting, json!({ "reason": reason }));
        } else {
            match reason {
                Some(reason) => println!("{:>9.1} ms  meeting:removed ({reason})", self.at()),
                None => println!("{:>9.1} ms  meeting:removed", self.at()),
            }
        }
    }

    /// Media statistics ([`crate::media::join::MediaRun::stats`]): a
    /// `media:stats` line (no roster), or a line of text.
    pub fn stats(&self, stats: &Value) {
        if self.json {
            let mut line = stats.clone();
            if let Value::Object(fields) = &mut line {
                fields.insert("event".into(), "media:stats".into());
                fields.insert("atMs".into(), json!((self.at() * 10.0).round() / 10.0));
            }
            println!("{line}");
        } else {
            println!(
                "{:>9.1} ms  {}",
                self.at(),
                crate::media::join::stats_text(stats)
            );
        }
    }

    /// A stdin command's outcome: `{"event":"command","command",
    /// "ok":true}` or with `"ok":false` and `message`.
    pub fn command(&self, command: &str, result: anyhow::Result<()>) {
        let at = (self.at() * 10.0).round() / 10.0;
        let line = match &result {
            Ok(()) => json!({ "event": "command", "atMs": at, "command": command, "ok": true }),
            Err(e) => json!({
                "event": "command", "atMs": at, "command": command, "ok": false,
                "message": format!("{e:#}"),
            }),
        };
        println!("{line}");
    }

    /// This client left the meeting (after Ctrl-C).
    pub fn left(&self, meeting: &Meeting) {
        if self.json {
            self.line("left", meeting, json!({}));
        } else {
            eprintln!("left");
        }
    }
}

/// One member as JSON, with the official SDK's status spelling.
pub fn member_json(m: &Member) -> Value {
    json!({
        "id": m.id,
        "personId": m.person_id,
        "name": m.name,
        "email": m.email,
        "status": m.status.as_str(),
        "isHost": m.is_host,
        "isSelf": m.is_self,
        "isAudioMuted": m.is_audio_muted,
        "isVideoMuted": m.is_video_muted,
    })
}
