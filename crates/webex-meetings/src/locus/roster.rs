//! [`Member`]: one participant of a meeting as the roster shows it, and the
//! difference between two rosters.

use webex_wire::locus::{Locus, MuteControl, Participant, ParticipantState, ParticipantType};

/// Where a member is relative to the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberStatus {
    /// Joined with at least one device.
    InMeeting,
    /// Waiting in the lobby for the host to admit them.
    InLobby,
    /// Known to the meeting but not in it (left, declined, invited, or
    /// joined with no device).
    NotInMeeting,
}

impl MemberStatus {
    /// The official SDK's spelling (`IN_MEETING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InMeeting => "IN_MEETING",
            Self::InLobby => "IN_LOBBY",
            Self::NotInMeeting => "NOT_IN_MEETING",
        }
    }
}

impl std::fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member of a meeting's roster (a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// Participant id (unique within the meeting).
    pub id: String,
    /// The person's id.
    pub person_id: String,
    /// Display name.
    pub name: String,
    /// Email, when the server shares it.
    pub email: Option<String>,
    /// In the meeting or not.
    pub status: MemberStatus,
    /// Whether this member hosts the meeting.
    pub is_host: bool,
    /// Whether this member is the signed-in user.
    pub is_self: bool,
    /// Whether this member is a guest.
    pub is_guest: bool,
    /// Whether this member moderates the meeting.
    pub is_moderator: bool,
    /// Whether this is a room device rather than a person.
    pub is_device: bool,
    /// Whether the member's audio is muted: they muted their microphone
    /// (`status.audioStatus` `RECVONLY` or `INACTIVE`) or were muted
    /// (`controls.audio.muted`), as the official SDK reads it.
    pub is_audio_muted: bool,
    /// Whether the member's video is muted (`status.videoStatus`
    /// `RECVONLY` or `INACTIVE`, or `controls.video.muted`).
    pub is_video_muted: bool,
    /// Whether the member holds the content floor.
    content_sharing: bool,
}

impl Member {
    fn from_participant(p: &Participant, host_id: Option<&str>, self_id: Option<&str>) -> Self {
        let status = match p.state {
            ParticipantState::Joined if !p.devices.is_empty() => MemberStatus::InMeeting,
            _ if p.in_lobby() => MemberStatus::InLobby,
            _ => MemberStatus::NotInMeeting,
        };
        Self {
            id: p.id.clone(),
            person_id: p.person.id.clone(),
            name: p.person.name.clone(),
            email: p.person.email.clone(),
            status,
            is_host: host_id.is_some_and(|h| !h.is_empty() && h == p.person.id),
            is_self: self_id.is_some_and(|s| s == p.id),
            is_guest: p.guest,
            is_moderator: p.moderator,
            is_device: p.kind == ParticipantType::ResourceRoom,
            is_audio_muted: muted(p.status.audio_status.as_deref(), p.controls.audio.as_ref()),
            is_video_muted: muted(p.status.video_status.as_deref(), p.controls.video.as_ref()),
            content_sharing: false,
        }
    }

    /// Whether the member shares content (holds the Locus content floor;
    /// the official `Member.isContentSharing`).
    pub fn is_content_sharing(&self) -> bool {
        self.content_sharing
    }
}

/// A media status that does not send (`RECVONLY`, `INACTIVE`), or a mute
/// control set by someone else.
fn muted(status: Option<&str>, control: Option<&MuteControl>) -> bool {
    matches!(status, Some("RECVONLY" | "INACTIVE")) || control.is_some_and(|c| c.muted)
}

/// The roster of `doc`, in document order.
pub(crate) fn roster(doc: &Locus) -> Vec<Member> {
    let host = doc.host.as_ref().map(|h| h.id.as_str());
    let me = doc.self_.as_ref().map(|s| s.id.as_str());
    let presenter = super::share::holder(doc);
    doc.participants
        .iter()
        .map(|p| Member {
            content_sharing: presenter == Some(p.id.as_str()),
            ..Member::from_participant(p, host, me)
        })
        .collect()
}

/// How a roster changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MembersDelta {
    /// Members that were not in the roster before.
    pub added: Vec<Member>,
    /// Members whose snapshot changed (status, host, …).
    pub updated: Vec<Member>,
    /// Ids of members no longer in the roster.
    pub removed: Vec<String>,
}

impl MembersDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// What changed from roster `old` to roster `new`.
pub(crate) fn diff(old: &[Member], new: &[Member]) -> MembersDelta {
    let mut delta = MembersDelta::default();
    for m in new {
        match old.iter().find(|o| o.id == m.id) {
            None => delta.added.push(m.clone()),
            Some(o) if o != m => delta.updated.push(m.clone()),
            Some(_) => {}
        }
    }
    delta.removed = old
        .iter()
        .filter(|o| !new.iter().any(|m| m.id == o.id))
        .map(|o| o.id.clone())
        .collect();
    delta
}

#[cfg(test)]
mod tests {
    use webex_wire::locus::{Host, ParticipantDevice, Person};

    use super::*;

    fn participant(id: &str, person: &str, state: ParticipantState) -> Participant {
        Participant {
            id: id.into(),
            state,
            person: Person {
                id: person.into(),
                name: format!("Name {person}"),
                email: Some(format!("{person}@example.com")),
                org_id: None,
            },
            devices: vec![ParticipantDevice {
                url: format!("dev-{id}"),
                state: ParticipantState::Joined,
                ..ParticipantDevice::default()
            }],
            ..Participant::default()
        }
    }

    #[test]
    fn roster_marks_host_self_and_status() {
        let mut left = participant("p2", "u2", ParticipantState::Left);
        left.devices.clear();
        let doc = Locus {
            host: Some(Host {
                id: "u1".into(),
                ..Host::default()
            }),
            self_: Some(participant("p2", "u2", ParticipantState::Left)),
            participants: vec![participant("p1", "u1", ParticipantState::Joined), left],
            ..Locus::default()
        };
        let r = roster(&doc);
        assert_eq!(r.len(), 2);
        assert!(r[0].is_host && !r[0].is_self);
        assert_eq!(r[0].status, MemberStatus::InMeeting);
        assert_eq!(r[0].email.as_deref(), Some("u1@example.com"));
        assert!(!r[1].is_host && r[1].is_self);
        assert_eq!(r[1].status, MemberStatus::NotInMeeting);
    }

    #[test]
    fn mute_comes_from_the_media_status_or_a_mute_control() {
        let mut p = participant("p1", "u1", ParticipantState::Joined);
        let member = |p: &Participant| Member::from_participant(p, None, None);
        assert!(!member(&p).is_audio_muted && !member(&p).is_video_muted);
        p.status.audio_status = Some("RECVONLY".into());
        p.status.video_status = Some("SENDRECV".into());
        assert!(member(&p).is_audio_muted && !member(&p).is_video_muted);
        p.status.audio_status = Some("SENDRECV".into());
        p.controls.video = Some(webex_wire::locus::MuteControl {
            muted: true,
            disallow_unmute: None,
        });
        assert!(!member(&p).is_audio_muted && member(&p).is_video_muted);
    }

    #[test]
    fn joined_without_devices_is_not_in_the_meeting() {
        let mut p = participant("p1", "u1", ParticipantState::Joined);
        p.devices.clear();
        let doc = Locus {
            participants: vec![p],
            ..Locus::default()
        };
        assert_eq!(roster(&doc)[0].status, MemberStatus::NotInMeeting);
    }

    #[test]
    fn diff_reports_added_updated_and_removed() {
        let a = |state| Member::from_participant(&participant("a", "ua", state), None, None);
        let b = Member::from_participant(
            &participant("b", "ub", ParticipantState::Joined),
            None,
            None,
        );
        let c = Member::from_participant(
            &participant("c", "uc", ParticipantState::Joined),
            None,
            None,
        );
        let old = vec![a(ParticipantState::Joined), b.clone()];
        let new = vec![a(ParticipantState::Left), c.clone()];
        let d = diff(&old, &new);
        assert_eq!(d.added, vec![c]);
        assert_eq!(d.updated, vec![a(ParticipantState::Left)]);
        assert_eq!(d.removed, vec!["b".to_owned()]);
        assert!(diff(&new, &new).is_empty());
    }
}
