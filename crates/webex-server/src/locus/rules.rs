//! The rules of a meeting, as [`Mutation`]s the store runs on the locked
//! snapshot: join, leave, end, and ending an idle meeting.
//!
//! They are pure functions of the snapshot and the request, so they are
//! tested here without a database.

use webex_wire::locus::{LocusState, ParticipantState};

use crate::store::Millis;
use crate::store::meetings::{
    Applied, ChangeRefused, MeetingSnapshot, Mutation, ParticipantDeviceRecord, ParticipantRecord,
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
    /// The device URL (already checked to be the person's).
    pub device_url: String,
    /// Device type.
    pub device_type: String,
    /// The client's correlation id.
    pub correlation_id: Option<String>,
}

/// Joins `j` (idempotent for a device already joined). The first joiner
/// becomes host.
pub fn join(j: Joiner, new_participant_id: String, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        let device = ParticipantDeviceRecord {
            url: j.device_url.clone(),
            device_type: j.device_type.clone(),
            correlation_id: j.correlation_id.clone(),
            state: ParticipantState::Joined,
        };
        match m
            .participants
            .iter_mut()
            .find(|p| p.person_id == j.person_id)
        {
            Some(p) => {
                let already = p.state == ParticipantState::Joined
                    && p.devices.iter().any(|d| {
                        d.url == device.url
                            && d.state == ParticipantState::Joined
                            && d.correlation_id == device.correlation_id
                    });
                if already {
                    return Ok(Applied::Unchanged);
                }
                p.state = ParticipantState::Joined;
                p.left_at = None;
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
                state: ParticipantState::Joined,
                joined_at: now,
                left_at: None,
                devices: vec![device],
            }),
        }
        if m.locus.host_id.is_none() {
            m.locus.host_id = Some(j.person_id);
        }
        m.locus.idle_since = None;
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

/// Makes a participant (or one of its devices) leave. The caller must be
/// that participant, or the host (removing someone). Leaving when already
/// left is [`ChangeRefused::NotJoined`].
pub fn leave(r: LeaveRequest, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.participant_of(&r.caller).is_none() {
            return Err(ChangeRefused::NotParticipant);
        }
        let is_host = m.locus.host_id.as_deref() == Some(r.caller.as_str());
        let Some(p) = m.participants.iter_mut().find(|p| p.id == r.participant_id) else {
            return Err(ChangeRefused::Invalid(
                "no participant with that id in this meeting".into(),
            ));
        };
        if p.person_id != r.caller && !is_host {
            return Err(ChangeRefused::Invalid(
                "the participant id is not the caller's own".into(),
            ));
        }
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        if p.state != ParticipantState::Joined {
            return Err(ChangeRefused::NotJoined);
        }
        match r.device_url.as_deref() {
            Some(url) if p.person_id == r.caller => {
                let Some(d) = p
                    .devices
                    .iter_mut()
                    .find(|d| d.url == url && d.state == ParticipantState::Joined)
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
        if p.devices
            .iter()
            .all(|d| d.state != ParticipantState::Joined)
        {
            p.state = ParticipantState::Left;
            p.left_at = Some(now);
        }
        m.locus.last_active = now;
        if m.joined_count() == 0 {
            m.locus.idle_since = Some(now);
        }
        Ok(Applied::Changed)
    })
}

/// Ends the meeting for everyone: INACTIVE at once, every participant LEFT.
/// `caller`: the person asking, who must be the host; `None`: the operator.
pub fn end(caller: Option<String>, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if let Some(c) = &caller {
            if m.participant_of(c).is_none() {
                return Err(ChangeRefused::NotParticipant);
            }
            if m.locus.host_id.as_deref() != Some(c.as_str()) {
                return Err(ChangeRefused::NotHost);
            }
        }
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
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

fn finish(m: &mut MeetingSnapshot, now: Millis) {
    m.locus.state = LocusState::Inactive;
    m.locus.ended_at = Some(now);
    m.locus.last_active = now;
    m.locus.idle_since = None;
    for p in &mut m.participants {
        if p.state == ParticipantState::Joined {
            p.state = ParticipantState::Left;
            p.left_at = Some(now);
        }
        for d in &mut p.devices {
            d.state = ParticipantState::Left;
        }
    }
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
}
