//! Locus documents as the official SDK reads them, built from a stored
//! [`MeetingSnapshot`]: the full document (optionally with the reader's
//! `self`) and the `locus.difference` delta of one change.
//!
//! Never written here: `htMeta`, `dataSets`, `links.resources.visibleDataSets`
//! (they switch the client to hash trees), `info.webExSite` (it redirects
//! meeting-info requests), `controls.record` (it needs fields this server
//! has no use for).

use webex_wire::locus::{
    ActiveSpeaker, DeviceIntent, DisplayHints, Floor, FloorDisposition, FloorParty, FullState,
    Host, Locus, LocusInfo, LocusState, LocusType, MediaShare, MuteControl, Participant,
    ParticipantControls, ParticipantDevice, ParticipantState, ParticipantStatus, ParticipantType,
    Person, Role, RoleControl, Sequence,
};

use crate::store::meetings::{MeetingSnapshot, ParticipantRecord};
use crate::time::rfc3339;

use super::address;

/// What documents need to know about the server.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    /// Public base URL (no trailing slash).
    pub public_url: &'a str,
    /// SIP domain of meeting addresses.
    pub sip_domain: &'a str,
}

impl Site<'_> {
    /// `{public}/locus/api/v1/loci/<id>`.
    pub fn locus_url(&self, locus_id: &str) -> String {
        format!("{}{}/{locus_id}", self.public_url, super::LOCI_PATH)
    }
}

/// The full document of `m` as the person `viewer` sees it (`self` is their
/// participant, when they have one). A viewer who is not admitted (waiting
/// in the lobby, or removed) sees [`own_view`].
pub fn full(m: &MeetingSnapshot, site: &Site<'_>, viewer: Option<&str>) -> Locus {
    let mine = viewer.and_then(|v| m.participant_of(v));
    if let Some(p) = mine.filter(|p| !p.admitted) {
        return own_view(m, site, p);
    }
    let url = site.locus_url(&m.locus.id);
    let host_id = m.locus.host_id.as_deref();
    let participants: Vec<Participant> = m
        .participants
        .iter()
        .map(|p| participant(p, &url, host_id))
        .collect();
    let self_ = viewer.and_then(|v| {
        m.participants
            .iter()
            .position(|p| p.person_id == v)
            .and_then(|i| participants.get(i).cloned())
    });
    Locus {
        url,
        created: Some(rfc3339(m.locus.created_at)),
        full_state: Some(full_state(m)),
        info: Some(info(m, site)),
        host: host(m),
        participants,
        self_,
        controls: Some(controls(m)),
        sequence: Sequence::single(m.locus.sequence),
        base_sequence: None,
        sync_url: None,
        conversation_url: None,
        media_shares: Some(media_shares(m, site)),
        active_speaker: m.locus.active_speaker.clone().map(ActiveSpeaker::new),
    }
}

/// `mediaShares`, complete (it replaces the reader's copy as a whole):
/// `content` with its floor once someone shared (a RELEASED floor keeps
/// its last beneficiary), and `whiteboard`, which takes no floor requests.
pub fn media_shares(m: &MeetingSnapshot, site: &Site<'_>) -> Vec<MediaShare> {
    let url = site.locus_url(&m.locus.id);
    let ids = super::share::ShareIds::of(&m.locus.id);
    let party = |id: &str| FloorParty {
        id: Some(id.to_owned()),
        url: Some(format!("{url}/participant/{id}")),
        ..FloorParty::default()
    };
    let floor = m.locus.floor.as_ref().map(|f| Floor {
        disposition: match f.granted {
            true => FloorDisposition::Granted,
            false => FloorDisposition::Released,
        },
        share_instance_id: Some(f.share_instance_id.clone()),
        beneficiary: Some(FloorParty {
            device_url: Some(f.device_url.clone()),
            ..party(&f.beneficiary)
        }),
        requester: Some(party(&f.requester)),
        granted: Some(rfc3339(f.granted_at)),
        released: f.released_at.filter(|_| !f.granted).map(rfc3339),
    });
    vec![
        MediaShare {
            name: "content".into(),
            url: format!("{url}/mediashares/{}", ids.content),
            floor,
        },
        MediaShare {
            name: "whiteboard".into(),
            url: format!("{url}/mediashares/{}", ids.whiteboard),
            floor: None,
        },
    ]
}

/// What a participant who is not admitted sees: their own participant as
/// `self` and as the whole roster, the host's id and name, and an `info`
/// whose display hints are empty (it differs from a joined viewer's, so the
/// official SDK recomputes its hints at admission).
pub fn own_view(m: &MeetingSnapshot, site: &Site<'_>, p: &ParticipantRecord) -> Locus {
    let url = site.locus_url(&m.locus.id);
    let me = participant(p, &url, m.locus.host_id.as_deref());
    Locus {
        created: Some(rfc3339(m.locus.created_at)),
        full_state: Some(full_state(m)),
        info: Some(lobby_info(info(m, site))),
        host: host(m).map(|h| Host { email: None, ..h }),
        participants: vec![me.clone()],
        self_: Some(me),
        sequence: Sequence::single(m.locus.sequence),
        url,
        ..Locus::default()
    }
}

/// `info` as a lobby viewer gets it: no display hints, no data channel.
pub fn lobby_info(info: LocusInfo) -> LocusInfo {
    LocusInfo {
        display_hints: Some(DisplayHints::default()),
        datachannel_url: None,
        ..info
    }
}

/// The delta of the change that produced `m` (whose sequence is the new
/// one): only the participants in `changed`, plus `fullState`, `host` and
/// the complete `mediaShares`,
/// with `baseSequence` = the previous sequence. No `self`: the event layer
/// adds it for the persons whose participant changed.
pub fn delta(m: &MeetingSnapshot, site: &Site<'_>, changed: &[String]) -> Locus {
    let url = site.locus_url(&m.locus.id);
    let host_id = m.locus.host_id.as_deref();
    let participants = m
        .participants
        .iter()
        .filter(|p| changed.contains(&p.id))
        .map(|p| participant(p, &url, host_id))
        .collect();
    Locus {
        url,
        full_state: Some(full_state(m)),
        host: host(m),
        participants,
        sequence: Sequence::single(m.locus.sequence),
        base_sequence: Some(Sequence::single(m.locus.sequence.saturating_sub(1))),
        media_shares: Some(media_shares(m, site)),
        ..Locus::default()
    }
}

fn full_state(m: &MeetingSnapshot) -> FullState {
    let active = m.locus.state == LocusState::Active;
    FullState {
        state: m.locus.state.clone(),
        kind: LocusType::Meeting,
        active,
        locked: m.locus.locked,
        last_active: Some(rfc3339(m.locus.last_active)),
        count: Some(u32::try_from(m.joined_count()).unwrap_or(u32::MAX)),
    }
}

fn controls(m: &MeetingSnapshot) -> serde_json::Map<String, serde_json::Value> {
    let mut c = serde_json::Map::new();
    c.insert(
        "lock".into(),
        serde_json::json!({"locked": m.locus.locked, "meta": {}}),
    );
    c
}

/// `info` for joined viewers. The official SDK gates `lockMeeting()` and
/// `unlockMeeting()` on `LOCK_STATUS_*` in `joined` and `LOCK_CONTROL_*` in
/// `moderator`, so exactly one of each is always present.
fn info(m: &MeetingSnapshot, site: &Site<'_>) -> LocusInfo {
    let (status, control) = match m.locus.locked {
        true => ("LOCK_STATUS_LOCKED", "LOCK_CONTROL_UNLOCK"),
        false => ("LOCK_STATUS_UNLOCKED", "LOCK_CONTROL_LOCK"),
    };
    LocusInfo {
        sip_uri: address::sip_uri(&m.space.name, site.sip_domain),
        web_ex_meeting_id: Some(m.space.meeting_number.clone()),
        owner: m
            .space
            .host_person()
            .map(str::to_owned)
            .or_else(|| m.locus.host_id.clone()),
        topic: Some(m.space.name.clone()),
        web_ex_meeting_link: Some(address::join_url(site.public_url, &m.space.name)),
        display_hints: Some(DisplayHints {
            joined: vec!["ROSTER_IN_MEETING".into(), status.into()],
            moderator: vec![
                "LEAVE_END_MEETING".into(),
                control.into(),
                "ROSTER_WAITING_TO_JOIN".into(),
                "EXPEL".into(),
            ],
            co_host: Vec::new(),
        }),
        datachannel_url: Some(format!(
            "{}{}/{}/registrations",
            site.public_url,
            super::DATACHANNEL_BASE,
            m.locus.id
        )),
    }
}

fn host(m: &MeetingSnapshot) -> Option<Host> {
    let id = m.locus.host_id.as_deref()?;
    let p = m.participant_of(id);
    Some(Host {
        id: id.to_owned(),
        name: p.map(|p| p.name.clone()),
        email: p.map(|p| p.email.clone()),
    })
}

/// `participant.status`: `SENDRECV` or (muted) `RECVONLY` per kind once
/// the JOINED participant sent media, else `{}`.
fn status(p: &ParticipantRecord) -> ParticipantStatus {
    let Some(flags) = p.media.filter(|_| p.state == ParticipantState::Joined) else {
        return ParticipantStatus::default();
    };
    let of = |muted: bool| Some(if muted { "RECVONLY" } else { "SENDRECV" }.to_owned());
    ParticipantStatus {
        audio_status: of(flags.audio_muted),
        video_status: of(flags.video_muted),
    }
}

/// One participant as the SDK reads it: `devices` and `status` always
/// present; a device waiting in the lobby has the `WAIT` intent; a removed
/// participant who has not come back has `removed` and reason `FORCED`.
pub fn participant(p: &ParticipantRecord, locus_url: &str, host_id: Option<&str>) -> Participant {
    let is_host = host_id == Some(p.person_id.as_str());
    let removed = p.removed && p.state == ParticipantState::Left;
    Participant {
        id: p.id.clone(),
        url: Some(format!("{locus_url}/participant/{}", p.id)),
        state: p.state.clone(),
        kind: ParticipantType::User,
        person: Person {
            id: p.person_id.clone(),
            name: p.name.clone(),
            email: Some(p.email.clone()),
            org_id: Some(p.org_id.clone()),
        },
        devices: p
            .devices
            .iter()
            .map(|d| {
                let wait = (d.state == ParticipantState::Idle).then(|| DeviceIntent {
                    id: format!("wait-{}", p.id),
                    kind: "WAIT".into(),
                    reason: Some("ON_HOLD_LOBBY".into()),
                });
                ParticipantDevice {
                    url: d.url.clone(),
                    state: d.state.clone(),
                    correlation_id: d.correlation_id.clone(),
                    device_type: d.device_type.clone(),
                    intents: wait.iter().cloned().map(Some).collect(),
                    intent: wait,
                }
            })
            .collect(),
        status: status(p),
        controls: ParticipantControls {
            // Nobody is muted by others here (no remote mute yet), and
            // everyone may unmute: the official SDK reads a missing
            // `controls.audio` as "unmute not allowed" (`selfUtils.ts`
            // `getUnmuteAllowed` → null), so `setUserMuted(false)` would
            // throw after a local mute.
            audio: Some(MuteControl {
                muted: false,
                disallow_unmute: Some(false),
            }),
            video: Some(MuteControl {
                muted: false,
                disallow_unmute: None,
            }),
            role: Some(RoleControl {
                roles: vec![Role {
                    kind: "MODERATOR".into(),
                    has_role: is_host,
                }],
            }),
        },
        guest: p.guest,
        moderator: is_host,
        removed,
        reason: removed.then(|| "FORCED".into()),
        identity: Some(p.person_id.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::store::meetings::{LocusRecord, ParticipantDeviceRecord, SpaceRecord};

    pub(crate) fn sample(n: usize) -> MeetingSnapshot {
        MeetingSnapshot {
            space: SpaceRecord {
                id: "s1".into(),
                name: "room1".into(),
                meeting_number: "1234567890".into(),
                owner_id: None,
                creator_id: None,
                created_at: 0,
            },
            locus: LocusRecord {
                id: "l1".into(),
                space_id: "s1".into(),
                state: LocusState::Active,
                host_id: Some("u0".into()),
                locked: false,
                sequence: 7,
                created_at: 0,
                last_active: 0,
                ended_at: None,
                idle_since: None,
                floor: None,
                active_speaker: None,
            },
            participants: (0..n)
                .map(|i| ParticipantRecord {
                    id: format!("p{i}"),
                    person_id: format!("u{i}"),
                    name: format!("User {i}"),
                    email: format!("u{i}@example.com"),
                    org_id: "o".into(),
                    guest: false,
                    state: ParticipantState::Joined,
                    admitted: true,
                    removed: false,
                    joined_at: 0,
                    left_at: None,
                    devices: vec![ParticipantDeviceRecord {
                        url: format!("http://h/wdm/api/v1/devices/d{i}"),
                        device_type: "WEB".into(),
                        correlation_id: Some(format!("c{i}")),
                        state: ParticipantState::Joined,
                    }],
                    media: None,
                })
                .collect(),
        }
    }

    fn site() -> Site<'static> {
        Site {
            public_url: "http://h",
            sip_domain: "webex.localhost",
        }
    }

    #[test]
    fn full_documents_have_what_the_official_client_requires() {
        let doc = full(&sample(2), &site(), Some("u1"));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["url"], "http://h/locus/api/v1/loci/l1");
        assert_eq!(json["fullState"]["state"], "ACTIVE");
        assert_eq!(json["fullState"]["type"], "MEETING");
        assert_eq!(json["fullState"]["active"], true);
        assert_eq!(
            json["sequence"],
            serde_json::json!({"entries": [7], "rangeStart": 0, "rangeEnd": 0})
        );
        assert_eq!(json["info"]["sipUri"], "room1@webex.localhost");
        assert_eq!(json["info"]["webExMeetingId"], "1234567890");
        assert_eq!(json["self"]["id"], "p1");
        assert_eq!(json["self"]["status"], serde_json::json!({}));
        assert_eq!(json["self"]["devices"][0]["state"], "JOINED");
        assert_eq!(json["host"]["id"], "u0");
        assert_eq!(json["participants"][0]["moderator"], true);
        for forbidden in ["htMeta", "dataSets", "links", "baseSequence"] {
            assert!(json.get(forbidden).is_none(), "{forbidden}");
        }
        assert!(json["info"].get("webExSite").is_none());
        let shares = json["mediaShares"].as_array().unwrap();
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0]["name"], "content");
        assert!(
            shares[0]["url"]
                .as_str()
                .unwrap()
                .starts_with("http://h/locus/api/v1/loci/l1/mediashares/")
        );
        assert!(shares[0].get("floor").is_none());
        assert_eq!(shares[1]["name"], "whiteboard");
    }

    #[test]
    fn a_released_floor_keeps_its_beneficiary() {
        let mut m = sample(2);
        m.locus.floor = Some(crate::store::meetings::FloorRecord {
            granted: false,
            share_instance_id: "s1".into(),
            beneficiary: "p1".into(),
            device_url: "http://h/wdm/api/v1/devices/d1".into(),
            requester: "p1".into(),
            granted_at: 0,
            released_at: Some(1000),
        });
        let json = serde_json::to_value(full(&m, &site(), Some("u0"))).unwrap();
        let floor = &json["mediaShares"][0]["floor"];
        assert_eq!(floor["disposition"], "RELEASED");
        assert_eq!(floor["shareInstanceId"], "s1");
        assert_eq!(
            floor["beneficiary"],
            serde_json::json!({"id": "p1", "url": "http://h/locus/api/v1/loci/l1/participant/p1",
                "deviceUrl": "http://h/wdm/api/v1/devices/d1"})
        );
        assert_eq!(floor["requester"]["id"], "p1");
        assert!(floor["released"].is_string() && floor["granted"].is_string());
    }

    #[test]
    fn deltas_hold_only_the_changed_participants() {
        let doc = delta(&sample(40), &site(), &["p3".to_owned()]);
        assert_eq!(doc.participants.len(), 1);
        assert_eq!(doc.participants[0].id, "p3");
        assert_eq!(doc.base_sequence, Some(Sequence::single(6)));
        assert!(doc.self_.is_none() && doc.info.is_none());
    }
}
