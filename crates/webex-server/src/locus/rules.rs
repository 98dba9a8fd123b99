//! The rules of a meeting, as [`Mutation`]s the store runs on the locked
//! snapshot: join (or wait in the lobby), leave, remove, admit, lock, end,
//! and ending an idle meeting.
//!
//! Ownership and host powers:
//! - The host of a meeting is the space's owner (a personal room's person)
//!   or its creator (who made the space by joining or looking it up), from
//!   the first join on, whether or not they are there. Spaces made before
//!   creators were recorded are hosted by their first joiner who is not a
//!   guest. Nobody else ever becomes host, so joining first takes nothing.
//! - Host powers (end for all, remove, admit, lock) need the host JOINED.
//!   When the host leaves, the meeting goes on and **nobody** holds host
//!   powers until the host joins again; people in the lobby wait, and an
//!   operator can still end the meeting (admin API). A meeting nobody is
//!   JOINED to ends after the idle grace, as before.
//!
//! The lobby: a joiner waits (participant and device `IDLE`) when the room
//! is locked, when they are a guest or of another org joining someone's
//! personal room ([`Joiner::must_wait`], decided by the service), or when
//! the host removed them and has not admitted them since. The host never
//! waits. A JOINED host admits them.
//!
//! They are pure functions of the snapshot and the request, so they are
//! tested here without a database.

use webex_wire::locus::{LocusState, ParticipantState};

use crate::store::Millis;
use crate::store::meetings::{
    Applied, ChangeRefused, MediaFlags, MeetingSnapshot, Mutation, ParticipantDeviceRecord,
    ParticipantRecord,
};

/// Who joins, from which device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joiner {
    /// Person id.
    pub person_id: String,
    /// Display name (for a new participant; the store re-reads it).
    pub name: String,
    /// Email.
    pub email: String,
    /// Org id.
    pub org_id: String,
    /// Whether the person is a guest.
    pub guest: bool,
    /// Whether the room's policy makes this joiner wait in the lobby until
    /// the host admits them (a guest or someone of another org joining
    /// someone else's personal room).
    pub must_wait: bool,
    /// The device URL (already checked to be the person's).
    pub device_url: String,
    /// Device type.
    pub device_type: String,
    /// The client's correlation id.
    pub correlation_id: Option<String>,
}

/// Most devices one participant may be in a meeting (or its lobby) with at
/// once.
pub const MAX_PRESENT_DEVICES: usize = 10;
/// Most devices one participant may ever have joined one meeting with
/// (each is listed in every document).
pub const MAX_DEVICE_ENTRIES: usize = 50;

/// Joins `j`, or puts them in the lobby (see the module docs); idempotent
/// for a device already there. Sets the host on the first join. A
/// participant's devices are capped ([`MAX_PRESENT_DEVICES`],
/// [`MAX_DEVICE_ENTRIES`]: [`ChangeRefused::TooMany`]).
pub fn join(j: Joiner, new_participant_id: String, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        if m.locus.host_id.is_none() {
            m.locus.host_id = match m.space.host_person() {
                Some(h) => Some(h.to_owned()),
                None if !j.guest => Some(j.person_id.clone()),
                None => None,
            };
        }
        let is_host = m.locus.host_id.as_deref() == Some(j.person_id.as_str());
        let existing = m
            .participants
            .iter()
            .position(|p| p.person_id == j.person_id);
        let existing_state = existing.map(|i| m.participants[i].state.clone());
        let removed = existing.is_some_and(|i| m.participants[i].removed);
        let waits = !is_host
            && existing_state != Some(ParticipantState::Joined)
            && (m.locus.locked || j.must_wait || removed);
        let state = match waits {
            true => ParticipantState::Idle,
            false => ParticipantState::Joined,
        };
        let device = ParticipantDeviceRecord {
            url: j.device_url.clone(),
            device_type: j.device_type.clone(),
            correlation_id: j.correlation_id.clone(),
            state: state.clone(),
        };
        match existing {
            Some(i) => {
                let p = &mut m.participants[i];
                let already = p.state == state
                    && p.devices.iter().any(|d| {
                        d.url == device.url
                            && d.state == state
                            && d.correlation_id == device.correlation_id
                    });
                if already {
                    return Ok(Applied::Unchanged);
                }
                let known = p.devices.iter().any(|d| d.url == device.url);
                let present = p
                    .devices
                    .iter()
                    .filter(|d| d.url != device.url && present(&d.state))
                    .count();
                if present >= MAX_PRESENT_DEVICES {
                    return Err(ChangeRefused::TooMany(format!(
                        "a participant may be in a meeting from at most {MAX_PRESENT_DEVICES} \
                         devices at once; leave from another device first"
                    )));
                }
                if !known && p.devices.len() >= MAX_DEVICE_ENTRIES {
                    return Err(ChangeRefused::TooMany(format!(
                        "a participant may join one meeting from at most {MAX_DEVICE_ENTRIES} \
                         devices; join again from a device used before"
                    )));
                }
                p.state = state;
                p.left_at = None;
                p.admitted = !waits;
                if !waits {
                    p.removed = false;
                }
                match p.devices.iter_mut().find(|d| d.url == device.url) {
                    Some(d) => *d = device,
                    None => p.devices.push(device),
                }
            }
            None => m.participants.push(ParticipantRecord {
                id: new_participant_id,
                person_id: j.person_id.clone(),
                name: j.name,
                email: j.email,
                org_id: j.org_id,
                guest: j.guest,
                state,
                admitted: !waits,
                removed: false,
                joined_at: now,
                left_at: None,
                devices: vec![device],
                media: None,
            }),
        }
        if !waits {
            m.locus.idle_since = None;
        }
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

/// Who asks a participant to leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveRequest {
    /// The caller's person id.
    pub caller: String,
    /// The participant leaving.
    pub participant_id: String,
    /// The device leaving; `None`: all of the participant's devices.
    pub device_url: Option<String>,
}

/// Whether a participant is in the meeting or its lobby.
fn present(state: &ParticipantState) -> bool {
    matches!(state, ParticipantState::Joined | ParticipantState::Idle)
}

/// Makes a participant (or one of its devices) leave the meeting or its
/// lobby. The caller must be that participant, or the JOINED host, whose
/// leave of someone else is a removal: the removed participant stops seeing
/// the meeting and waits in the lobby if they join again. Leaving when
/// already left is [`ChangeRefused::NotJoined`].
pub fn leave(r: LeaveRequest, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.participant_of(&r.caller).is_none() {
            return Err(ChangeRefused::NotParticipant);
        }
        let is_host = m.locus.host_id.as_deref() == Some(r.caller.as_str());
        let joined_host = m.is_joined_host(&r.caller);
        let Some(p) = m.participants.iter_mut().find(|p| p.id == r.participant_id) else {
            return Err(ChangeRefused::Invalid(
                "no participant with that id in this meeting".into(),
            ));
        };
        let own = p.person_id == r.caller;
        if !own && !is_host {
            return Err(ChangeRefused::Invalid(
                "the participant id is not the caller's own".into(),
            ));
        }
        if !own && !joined_host {
            return Err(ChangeRefused::NotHost);
        }
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        if !present(&p.state) {
            return Err(ChangeRefused::NotJoined);
        }
        match r.device_url.as_deref() {
            Some(url) if own => {
                let Some(d) = p
                    .devices
                    .iter_mut()
                    .find(|d| d.url == url && present(&d.state))
                else {
                    return Err(ChangeRefused::NotJoined);
                };
                d.state = ParticipantState::Left;
            }
            _ => {
                for d in &mut p.devices {
                    d.state = ParticipantState::Left;
                }
            }
        }
        if !own {
            p.removed = true;
            p.admitted = false;
        }
        if p.devices.iter().all(|d| !present(&d.state)) {
            p.state = ParticipantState::Left;
            p.left_at = Some(now);
            p.media = None;
        }
        super::floor::release_if_gone(m, now);
        m.locus.last_active = now;
        if m.joined_count() == 0 && m.locus.idle_since.is_none() {
            m.locus.idle_since = Some(now);
        }
        Ok(Applied::Changed)
    })
}

/// Checks that `caller` may use host powers on `m`: a participant, the
/// host, JOINED, in an active meeting.
fn host_powers(m: &MeetingSnapshot, caller: &str) -> Result<(), ChangeRefused> {
    if m.participant_of(caller).is_none() {
        return Err(ChangeRefused::NotParticipant);
    }
    if !m.is_joined_host(caller) {
        return Err(ChangeRefused::NotHost);
    }
    if m.locus.state != LocusState::Active {
        return Err(ChangeRefused::Ended);
    }
    Ok(())
}

/// Lets the participants `ids` in from the lobby (`caller` must be the
/// JOINED host). Someone already in is skipped; an id that is not waiting
/// in the lobby (unknown, or left) refuses the whole request.
pub fn admit(caller: String, ids: Vec<String>, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        host_powers(m, &caller)?;
        let mut changed = false;
        for id in &ids {
            let Some(p) = m.participants.iter_mut().find(|p| &p.id == id) else {
                return Err(ChangeRefused::Invalid(
                    "no participant with that id in this meeting".into(),
                ));
            };
            match p.state {
                ParticipantState::Joined => continue,
                ParticipantState::Idle => {}
                _ => {
                    return Err(ChangeRefused::Invalid(
                        "the participant is not waiting in the lobby".into(),
                    ));
                }
            }
            p.state = ParticipantState::Joined;
            p.admitted = true;
            p.removed = false;
            for d in &mut p.devices {
                if d.state == ParticipantState::Idle {
                    d.state = ParticipantState::Joined;
                }
            }
            changed = true;
        }
        if !changed {
            return Ok(Applied::Unchanged);
        }
        m.locus.idle_since = None;
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

/// Locks (`true`) or unlocks the meeting (`caller` must be the JOINED
/// host). While locked, everyone but the host who joins waits in the lobby;
/// unlocking admits nobody by itself.
pub fn lock(caller: String, locked: bool, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        host_powers(m, &caller)?;
        if m.locus.locked == locked {
            return Ok(Applied::Unchanged);
        }
        m.locus.locked = locked;
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

/// Ends the meeting for everyone: INACTIVE at once, every participant LEFT.
/// `caller`: the person asking, who must be the JOINED host; `None`: the
/// operator.
pub fn end(caller: Option<String>, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        match &caller {
            Some(c) => host_powers(m, c)?,
            None if m.locus.state != LocusState::Active => return Err(ChangeRefused::Ended),
            None => {}
        }
        finish(m, now);
        Ok(Applied::Changed)
    })
}

/// Ends the meeting if nobody has been in it since `idle_before` or
/// earlier; otherwise changes nothing.
pub fn end_if_idle(idle_before: Millis, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        let idle = m.locus.state == LocusState::Active
            && m.joined_count() == 0
            && m.locus.idle_since.is_some_and(|t| t <= idle_before);
        if !idle {
            return Ok(Applied::Unchanged);
        }
        finish(m, now);
        Ok(Applied::Changed)
    })
}

/// Makes every device in `device_urls` leave every participant of `m` it
/// is in (the devices were deleted or expired). Changes nothing when none
/// of them is in.
pub fn devices_gone(device_urls: Vec<String>, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.locus.state != LocusState::Active {
            return Ok(Applied::Unchanged);
        }
        let mut changed = false;
        for p in &mut m.participants {
            for d in &mut p.devices {
                if present(&d.state) && device_urls.contains(&d.url) {
                    d.state = ParticipantState::Left;
                    changed = true;
                }
            }
            if present(&p.state) && p.devices.iter().all(|d| !present(&d.state)) {
                p.state = ParticipantState::Left;
                p.left_at = Some(now);
                p.media = None;
            }
        }
        if !changed {
            return Ok(Applied::Unchanged);
        }
        super::floor::release_if_gone(m, now);
        m.locus.last_active = now;
        if m.joined_count() == 0 && m.locus.idle_since.is_none() {
            m.locus.idle_since = Some(now);
        }
        Ok(Applied::Changed)
    })
}

/// Who sends a `/media` request, from which device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSender {
    /// The caller's person id.
    pub person_id: String,
    /// The participant id of the request's path.
    pub participant_id: String,
    /// The request's `device.url`.
    pub device_url: String,
}

/// Checks that `s` may send media for its participant in `m`: the
/// caller's own participant, admitted and JOINED, from one of its JOINED
/// devices, in an active meeting.
pub fn check_media_sender(m: &MeetingSnapshot, s: &MediaSender) -> Result<(), ChangeRefused> {
    if m.locus.state != LocusState::Active {
        return Err(ChangeRefused::Ended);
    }
    let Some(p) = m.participants.iter().find(|p| p.id == s.participant_id) else {
        return Err(ChangeRefused::Invalid(
            "no participant with that id in this meeting".into(),
        ));
    };
    if p.person_id != s.person_id {
        return Err(ChangeRefused::Invalid(
            "the participant id is not the caller's own".into(),
        ));
    }
    if !p.admitted || p.state != ParticipantState::Joined {
        return Err(ChangeRefused::NotJoined);
    }
    if !p
        .devices
        .iter()
        .any(|d| d.url == s.device_url && d.state == ParticipantState::Joined)
    {
        return Err(ChangeRefused::Invalid(
            "`device.url` is not a JOINED device of this participant".into(),
        ));
    }
    Ok(())
}

/// Records `participant` as the meeting's active speaker (the media
/// engine's choice); nothing when it already is, or when they are no
/// longer a JOINED participant of an active meeting (the change raced a
/// leave).
pub fn active_speaker(participant: String) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        let present = m.locus.state == LocusState::Active
            && m.participants
                .iter()
                .any(|p| p.id == participant && p.state == ParticipantState::Joined);
        if !present || m.locus.active_speaker.as_deref() == Some(participant.as_str()) {
            return Ok(Applied::Unchanged);
        }
        m.locus.active_speaker = Some(participant);
        Ok(Applied::Changed)
    })
}

/// Records the mute flags of `s`'s `/media` request (checked as
/// [`check_media_sender`]); unchanged when they are the same.
pub fn media(s: MediaSender, flags: MediaFlags, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        check_media_sender(m, &s)?;
        let Some(p) = m.participants.iter_mut().find(|p| p.id == s.participant_id) else {
            return Err(ChangeRefused::NotParticipant);
        };
        if p.media == Some(flags) {
            return Ok(Applied::Unchanged);
        }
        p.media = Some(flags);
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

fn finish(m: &mut MeetingSnapshot, now: Millis) {
    m.locus.state = LocusState::Inactive;
    m.locus.ended_at = Some(now);
    m.locus.last_active = now;
    m.locus.idle_since = None;
    for p in &mut m.participants {
        if present(&p.state) {
            p.state = ParticipantState::Left;
            p.left_at = Some(now);
        }
        p.media = None;
        for d in &mut p.devices {
            d.state = ParticipantState::Left;
        }
    }
    super::floor::release_if_gone(m, now);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::locus::document::tests::sample;

    fn joiner(person: &str, device: &str) -> Joiner {
        Joiner {
            person_id: person.into(),
            name: "N".into(),
            email: "e@x".into(),
            org_id: "o".into(),
            guest: false,
            must_wait: false,
            device_url: device.into(),
            device_type: "WEB".into(),
            correlation_id: Some("c".into()),
        }
    }

    #[test]
    fn first_joiner_hosts_and_rejoining_is_idempotent() {
        let mut m = sample(0);
        m.locus.host_id = None;
        m.locus.idle_since = Some(1);
        assert_eq!(
            join(joiner("a", "d1"), "pa".into(), 5)(&mut m),
            Ok(Applied::Changed)
        );
        assert_eq!(m.locus.host_id.as_deref(), Some("a"));
        assert_eq!(m.locus.idle_since, None);
        assert_eq!(
            join(joiner("a", "d1"), "px".into(), 6)(&mut m),
            Ok(Applied::Unchanged)
        );
        assert_eq!(
            join(joiner("b", "d2"), "pb".into(), 7)(&mut m),
            Ok(Applied::Changed)
        );
        assert_eq!(m.locus.host_id.as_deref(), Some("a"));
        assert_eq!(m.participants.len(), 2);
        // A second device of the same person joins the same participant.
        assert_eq!(
            join(joiner("a", "d3"), "py".into(), 8)(&mut m),
            Ok(Applied::Changed)
        );
        assert_eq!(m.participants.len(), 2);
        assert_eq!(m.participants[0].devices.len(), 2);
    }

    #[test]
    fn leaving_twice_is_refused_and_the_last_leaver_starts_the_grace() {
        let mut m = sample(2);
        let r = |caller: &str, pid: &str| LeaveRequest {
            caller: caller.into(),
            participant_id: pid.into(),
            device_url: None,
        };
        assert_eq!(leave(r("u1", "p1"), 9)(&mut m), Ok(Applied::Changed));
        assert_eq!(
            leave(r("u1", "p1"), 9)(&mut m),
            Err(ChangeRefused::NotJoined)
        );
        assert!(matches!(
            leave(r("u1", "p0"), 9)(&mut m),
            Err(ChangeRefused::Invalid(_))
        ));
        assert_eq!(
            leave(r("zz", "p0"), 9)(&mut m),
            Err(ChangeRefused::NotParticipant)
        );
        assert_eq!(m.locus.idle_since, None);
        assert_eq!(leave(r("u0", "p0"), 10)(&mut m), Ok(Applied::Changed));
        assert_eq!(m.locus.idle_since, Some(10));
        assert_eq!(end_if_idle(9, 11)(&mut m), Ok(Applied::Unchanged));
        assert_eq!(end_if_idle(10, 11)(&mut m), Ok(Applied::Changed));
        assert_eq!(m.locus.state, LocusState::Inactive);
    }

    #[test]
    fn only_the_host_ends_and_ended_meetings_refuse_joins() {
        let mut m = sample(2);
        assert_eq!(
            end(Some("u1".into()), 1)(&mut m),
            Err(ChangeRefused::NotHost)
        );
        assert_eq!(
            end(Some("zz".into()), 1)(&mut m),
            Err(ChangeRefused::NotParticipant)
        );
        assert_eq!(end(Some("u0".into()), 1)(&mut m), Ok(Applied::Changed));
        assert!(
            m.participants
                .iter()
                .all(|p| p.state == ParticipantState::Left)
        );
        assert_eq!(
            join(joiner("c", "d"), "pc".into(), 2)(&mut m),
            Err(ChangeRefused::Ended)
        );
        assert_eq!(end(None, 3)(&mut m), Err(ChangeRefused::Ended));
    }

    fn admitted(m: &MeetingSnapshot, person: &str) -> Option<(ParticipantState, bool)> {
        m.participant_of(person)
            .map(|p| (p.state.clone(), p.admitted))
    }

    #[test]
    fn the_owner_hosts_whoever_joins_first_and_a_host_who_left_has_no_powers() {
        let mut m = sample(0);
        m.locus.host_id = None;
        m.space.owner_id = Some("alice".into());
        join(joiner("bob", "db"), "pb".into(), 1)(&mut m).unwrap();
        assert_eq!(m.locus.host_id.as_deref(), Some("alice"));
        // bob cannot end or remove; alice, not there, cannot either.
        assert_eq!(
            end(Some("bob".into()), 2)(&mut m),
            Err(ChangeRefused::NotHost)
        );
        join(joiner("alice", "da"), "pa".into(), 3)(&mut m).unwrap();
        let remove_bob = || LeaveRequest {
            caller: "alice".into(),
            participant_id: "pb".into(),
            device_url: None,
        };
        let own = |d: &str| LeaveRequest {
            caller: "alice".into(),
            participant_id: "pa".into(),
            device_url: Some(d.into()),
        };
        leave(own("da"), 4)(&mut m).unwrap();
        assert_eq!(leave(remove_bob(), 5)(&mut m), Err(ChangeRefused::NotHost));
        assert_eq!(
            end(Some("alice".into()), 5)(&mut m),
            Err(ChangeRefused::NotHost)
        );
        assert_eq!(
            lock("alice".into(), true, 5)(&mut m),
            Err(ChangeRefused::NotHost)
        );
        // Back in, she has them again.
        join(joiner("alice", "da"), "px".into(), 6)(&mut m).unwrap();
        assert_eq!(leave(remove_bob(), 7)(&mut m), Ok(Applied::Changed));
        assert_eq!(end(Some("alice".into()), 8)(&mut m), Ok(Applied::Changed));
    }

    #[test]
    fn guests_never_host_and_creators_host_their_spaces() {
        let mut m = sample(0);
        m.locus.host_id = None;
        let mut g = joiner("guest", "dg");
        g.guest = true;
        join(g, "pg".into(), 1)(&mut m).unwrap();
        assert_eq!(m.locus.host_id, None);
        join(joiner("b", "db"), "pb".into(), 2)(&mut m).unwrap();
        assert_eq!(m.locus.host_id.as_deref(), Some("b"));

        let mut m = sample(0);
        m.locus.host_id = None;
        m.space.creator_id = Some("c".into());
        join(joiner("b", "db"), "pb".into(), 1)(&mut m).unwrap();
        assert_eq!(m.locus.host_id.as_deref(), Some("c"));
    }

    #[test]
    fn outsiders_wait_in_the_lobby_until_the_joined_host_admits_them() {
        let mut m = sample(1); // u0 hosts and is joined
        let mut eve = joiner("eve", "de");
        eve.must_wait = true;
        join(eve.clone(), "pe".into(), 1)(&mut m).unwrap();
        assert_eq!(admitted(&m, "eve"), Some((ParticipantState::Idle, false)));
        assert_eq!(m.participants[1].devices[0].state, ParticipantState::Idle);
        // Joining again from the lobby changes nothing.
        assert_eq!(join(eve, "px".into(), 2)(&mut m), Ok(Applied::Unchanged));
        assert_eq!(
            admit("eve".into(), vec!["pe".into()], 3)(&mut m),
            Err(ChangeRefused::NotHost)
        );
        assert!(matches!(
            admit("u0".into(), vec!["nope".into()], 3)(&mut m),
            Err(ChangeRefused::Invalid(_))
        ));
        assert_eq!(
            admit("u0".into(), vec!["pe".into()], 3)(&mut m),
            Ok(Applied::Changed)
        );
        assert_eq!(admitted(&m, "eve"), Some((ParticipantState::Joined, true)));
        assert_eq!(m.participants[1].devices[0].state, ParticipantState::Joined);
        assert_eq!(
            admit("u0".into(), vec!["pe".into()], 4)(&mut m),
            Ok(Applied::Unchanged)
        );
    }

    #[test]
    fn a_locked_room_makes_everyone_but_the_host_wait() {
        let mut m = sample(1);
        assert_eq!(lock("u0".into(), true, 1)(&mut m), Ok(Applied::Changed));
        assert_eq!(lock("u0".into(), true, 1)(&mut m), Ok(Applied::Unchanged));
        join(joiner("b", "db"), "pb".into(), 2)(&mut m).unwrap();
        assert_eq!(admitted(&m, "b"), Some((ParticipantState::Idle, false)));
        // The host rejoining from another device is in at once.
        join(joiner("u0", "d9"), "px".into(), 3)(&mut m).unwrap();
        assert_eq!(admitted(&m, "u0"), Some((ParticipantState::Joined, true)));
        // Leaving the lobby is a plain leave.
        let r = LeaveRequest {
            caller: "b".into(),
            participant_id: "pb".into(),
            device_url: None,
        };
        assert_eq!(leave(r, 4)(&mut m), Ok(Applied::Changed));
        assert_eq!(admitted(&m, "b"), Some((ParticipantState::Left, false)));
    }

    #[test]
    fn removal_is_a_kick_and_rejoining_waits_in_the_lobby() {
        let mut m = sample(2);
        let r = LeaveRequest {
            caller: "u0".into(),
            participant_id: "p1".into(),
            device_url: Some("ignored for others".into()),
        };
        assert_eq!(leave(r, 1)(&mut m), Ok(Applied::Changed));
        let p1 = m.participant_of("u1").unwrap();
        assert!(p1.removed && !p1.admitted && p1.state == ParticipantState::Left);
        join(joiner("u1", "d"), "px".into(), 2)(&mut m).unwrap();
        assert_eq!(admitted(&m, "u1"), Some((ParticipantState::Idle, false)));
        admit("u0".into(), vec!["p1".into()], 3)(&mut m).unwrap();
        let p1 = m.participant_of("u1").unwrap();
        assert!(!p1.removed && p1.admitted && p1.state == ParticipantState::Joined);
    }

    #[test]
    fn gone_devices_leave_and_the_meeting_goes_idle() {
        let mut m = sample(2);
        let urls = |i: usize| vec![format!("http://h/wdm/api/v1/devices/d{i}")];
        assert_eq!(devices_gone(urls(1), 5)(&mut m), Ok(Applied::Changed));
        assert_eq!(admitted(&m, "u1"), Some((ParticipantState::Left, true)));
        assert_eq!(m.locus.idle_since, None);
        assert_eq!(devices_gone(urls(1), 6)(&mut m), Ok(Applied::Unchanged));
        assert_eq!(devices_gone(urls(0), 7)(&mut m), Ok(Applied::Changed));
        assert_eq!(m.locus.idle_since, Some(7));
        assert_eq!(end_if_idle(7, 8)(&mut m), Ok(Applied::Changed));
    }
}
