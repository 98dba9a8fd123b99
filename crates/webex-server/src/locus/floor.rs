//! The content (screen share) floor as pure [`Mutation`]s: one presenter
//! at a time (`share-and-mute-protocol.md` §1).
//!
//! - [`grant`]: the caller, an admitted JOINED participant, takes the
//!   floor for one of its JOINED devices. Someone else holding it loses
//!   it: the cloud hands it over and the official SDK expects that.
//! - [`release`]: its holder (or the JOINED host) gives it back; a release
//!   naming another `shareInstanceId` is refused; releasing a floor nobody
//!   holds changes nothing.
//! - [`release_if_gone`]: run by every rule that makes participants or
//!   devices leave (leave, removal, device loss, end): a holder whose
//!   sharing device is no longer JOINED loses the floor.
//!
//! A released floor keeps its last beneficiary: the official SDK reads
//! `floor.beneficiary.id` of a RELEASED floor without a guard.

use webex_wire::locus::{LocusState, ParticipantState};

use crate::store::Millis;
use crate::store::meetings::{Applied, ChangeRefused, FloorRecord, MeetingSnapshot, Mutation};

/// A request for the floor, checked for shape by the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// The caller's person id.
    pub caller: String,
    /// The participant id `beneficiary.url` names.
    pub beneficiary: String,
    /// `beneficiary.devices[0].url`.
    pub device_url: String,
    /// The client's `shareInstanceId`.
    pub share_instance_id: String,
}

/// Gives the floor to `r.beneficiary`, who must be the caller's own
/// admitted JOINED participant sharing from one of its JOINED devices.
/// The same share asked again changes nothing.
pub fn grant(r: GrantRequest, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        let Some(me) = m.participant_of(&r.caller) else {
            return Err(ChangeRefused::NotParticipant);
        };
        if !m.participants.iter().any(|p| p.id == r.beneficiary) {
            return Err(ChangeRefused::BadField(
                "`floor.beneficiary.url` names no participant of this meeting".into(),
            ));
        }
        if me.id != r.beneficiary {
            return Err(ChangeRefused::Invalid(
                "`floor.beneficiary.url` is another participant's: only your own \
                 participant (`self.url`) may take the floor"
                    .into(),
            ));
        }
        if !me.admitted || me.state != ParticipantState::Joined {
            return Err(ChangeRefused::NotJoined);
        }
        let Some(device) = me.devices.iter().find(|d| d.url == r.device_url) else {
            return Err(ChangeRefused::ForeignDevice);
        };
        if device.state != ParticipantState::Joined {
            return Err(ChangeRefused::NotJoined);
        }
        let me_id = me.id.clone();
        let same = m.locus.floor.as_ref().is_some_and(|f| {
            f.granted
                && f.beneficiary == me_id
                && f.device_url == r.device_url
                && f.share_instance_id == r.share_instance_id
        });
        if same {
            return Ok(Applied::Unchanged);
        }
        m.locus.floor = Some(FloorRecord {
            granted: true,
            share_instance_id: r.share_instance_id,
            beneficiary: me_id.clone(),
            device_url: r.device_url,
            requester: me_id,
            granted_at: now,
            released_at: None,
        });
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

/// Releases the floor for `caller` (its holder, or the JOINED host).
/// `share_instance_id`, when given, must be the current share's. A floor
/// nobody holds stays as it is.
pub fn release(caller: String, share_instance_id: Option<String>, now: Millis) -> Mutation {
    Box::new(move |m: &mut MeetingSnapshot| {
        if m.locus.state != LocusState::Active {
            return Err(ChangeRefused::Ended);
        }
        let Some(me) = m.participant_of(&caller) else {
            return Err(ChangeRefused::NotParticipant);
        };
        let me_id = me.id.clone();
        let host = m.is_joined_host(&caller);
        let Some(floor) = m.locus.floor.as_mut().filter(|f| f.granted) else {
            return Ok(Applied::Unchanged);
        };
        if floor.beneficiary != me_id && !host {
            return Err(ChangeRefused::NotFloorHolder);
        }
        if let Some(id) = share_instance_id.filter(|id| *id != floor.share_instance_id) {
            return Err(ChangeRefused::StaleShare(format!(
                "`floor.shareInstanceId` `{}` is not the share holding the floor; \
                 it was released or taken over already",
                crate::quote::prefix(&id)
            )));
        }
        floor.granted = false;
        floor.released_at = Some(now);
        m.locus.last_active = now;
        Ok(Applied::Changed)
    })
}

/// Releases the floor when its holder's sharing device is no longer
/// JOINED (or the meeting ended). `true` when it did.
pub fn release_if_gone(m: &mut MeetingSnapshot, now: Millis) -> bool {
    let active = m.locus.state == LocusState::Active;
    let participants = &m.participants;
    let Some(floor) = m.locus.floor.as_mut().filter(|f| f.granted) else {
        return false;
    };
    let sharing = participants.iter().any(|p| {
        p.id == floor.beneficiary
            && p.state == ParticipantState::Joined
            && p.admitted
            && p.devices
                .iter()
                .any(|d| d.url == floor.device_url && d.state == ParticipantState::Joined)
    });
    if active && sharing {
        return false;
    }
    floor.granted = false;
    floor.released_at = Some(now);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::locus::document::tests::sample;

    fn take(person: &str, participant: &str, device: &str, share: &str) -> Mutation {
        grant(
            GrantRequest {
                caller: person.into(),
                beneficiary: participant.into(),
                device_url: device.into(),
                share_instance_id: share.into(),
            },
            5,
        )
    }

    fn dev(i: usize) -> String {
        format!("http://h/wdm/api/v1/devices/d{i}")
    }

    #[test]
    fn a_joined_participant_takes_the_floor_and_another_takes_it_over() {
        let mut m = sample(3);
        assert_eq!(
            take("u1", "p1", &dev(1), "s1")(&mut m).unwrap(),
            Applied::Changed
        );
        let f = m.locus.floor.clone().unwrap();
        assert_eq!((f.holder(), f.device_url.as_str()), (Some("p1"), &*dev(1)));
        assert_eq!(
            take("u1", "p1", &dev(1), "s1")(&mut m).unwrap(),
            Applied::Unchanged
        );
        take("u2", "p2", &dev(2), "s2")(&mut m).unwrap();
        assert_eq!(m.locus.floor.as_ref().unwrap().holder(), Some("p2"));
    }

    #[test]
    fn the_floor_is_only_for_ones_own_participant_and_device() {
        let mut m = sample(3);
        assert_eq!(
            take("u1", "p2", &dev(2), "s")(&mut m),
            Err(ChangeRefused::Invalid(
                "`floor.beneficiary.url` is another participant's: only your own \
                 participant (`self.url`) may take the floor"
                    .into()
            ))
        );
        assert!(matches!(
            take("u1", "p9", &dev(1), "s")(&mut m),
            Err(ChangeRefused::BadField(_))
        ));
        assert_eq!(
            take("u1", "p1", &dev(2), "s")(&mut m),
            Err(ChangeRefused::ForeignDevice)
        );
        assert_eq!(
            take("stranger", "p1", &dev(1), "s")(&mut m),
            Err(ChangeRefused::NotParticipant)
        );
        m.participants[1].state = ParticipantState::Left;
        assert_eq!(
            take("u1", "p1", &dev(1), "s")(&mut m),
            Err(ChangeRefused::NotJoined)
        );
    }

    #[test]
    fn release_by_holder_or_host_with_the_current_instance() {
        let mut m = sample(3);
        take("u1", "p1", &dev(1), "s1")(&mut m).unwrap();
        assert_eq!(
            release("u2".into(), None, 6)(&mut m),
            Err(ChangeRefused::NotFloorHolder)
        );
        assert!(matches!(
            release("u1".into(), Some("old".into()), 6)(&mut m),
            Err(ChangeRefused::StaleShare(_))
        ));
        assert_eq!(
            release("u1".into(), Some("s1".into()), 6)(&mut m).unwrap(),
            Applied::Changed
        );
        let f = m.locus.floor.clone().unwrap();
        assert!(!f.granted && f.beneficiary == "p1" && f.released_at == Some(6));
        assert_eq!(
            release("u1".into(), None, 7)(&mut m).unwrap(),
            Applied::Unchanged
        );
        // The host (u0) may release someone else's share.
        take("u2", "p2", &dev(2), "s2")(&mut m).unwrap();
        release("u0".into(), None, 8)(&mut m).unwrap();
        assert_eq!(m.locus.floor.unwrap().holder(), None);
    }

    #[test]
    fn a_holder_whose_device_left_loses_the_floor() {
        let mut m = sample(2);
        take("u1", "p1", &dev(1), "s1")(&mut m).unwrap();
        assert!(!release_if_gone(&mut m, 9));
        m.participants[1].devices[0].state = ParticipantState::Left;
        assert!(release_if_gone(&mut m, 9));
        assert_eq!(m.locus.floor.as_ref().unwrap().released_at, Some(9));
        assert!(!release_if_gone(&mut m, 10));
    }
}
