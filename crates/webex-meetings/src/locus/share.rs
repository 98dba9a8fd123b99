//! Screen share as the official SDK reads and asks for it
//! (`share-and-mute-protocol.md` §1): the share status from the Locus's
//! `mediaShares` (§1.3), the events its changes make (§1.4), and the floor
//! request and release (§1.2 step 4, §1.5) on [`Meeting`]. The media
//! itself comes later: these are plain HTTP.

use webex_wire::locus::{FloorDisposition, FloorRequest, Locus};

use super::apply;
use super::error::MeetingError;
use super::events::MeetingEvent;
use super::meeting::Meeting;
use super::requests;

/// Who shares content in a meeting, as this device sees it.
///
/// ```
/// use webex_meetings::ShareStatus;
/// assert_eq!(ShareStatus::None.presenter(), None);
/// let remote = ShareStatus::Remote { member_id: "p2".into(), share_instance_id: None };
/// assert_eq!(remote.presenter(), Some("p2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareStatus {
    /// Nobody shares.
    None,
    /// This device shares (the floor's beneficiary is this participant
    /// and `deviceUrl` this device).
    Local {
        /// This participant's id.
        member_id: String,
        /// The share's id.
        share_instance_id: Option<String>,
    },
    /// Someone else shares, or this user from another device.
    Remote {
        /// The presenter's participant (member) id.
        member_id: String,
        /// The share's id.
        share_instance_id: Option<String>,
    },
}

impl ShareStatus {
    /// The member id of who shares, if anyone.
    pub fn presenter(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Local { member_id, .. } | Self::Remote { member_id, .. } => Some(member_id),
        }
    }
}

/// The content floor's holder in `doc` (participant id), if granted.
pub(crate) fn holder(doc: &Locus) -> Option<&str> {
    let floor = doc.media_share("content")?.floor.as_ref()?;
    if floor.disposition != FloorDisposition::Granted {
        return None;
    }
    floor.beneficiary.as_ref()?.id.as_deref()
}

/// The share status of `doc` for the device `device_url` (§1.3): LOCAL
/// only when the beneficiary is `self` on this very device.
pub(crate) fn status(doc: &Locus, device_url: Option<&str>) -> ShareStatus {
    let Some(share) = doc.media_share("content") else {
        return ShareStatus::None;
    };
    let Some(floor) = share
        .floor
        .as_ref()
        .filter(|f| f.disposition == FloorDisposition::Granted)
    else {
        return ShareStatus::None;
    };
    let Some(b) = floor.beneficiary.as_ref() else {
        return ShareStatus::None;
    };
    let Some(member_id) = b.id.clone() else {
        return ShareStatus::None;
    };
    let share_instance_id = floor.share_instance_id.clone();
    let me = doc.self_.as_ref().map(|s| s.id.as_str());
    let mine = me == Some(member_id.as_str())
        && device_url.is_some_and(|d| b.device_url.as_deref() == Some(d));
    match mine {
        true => ShareStatus::Local {
            member_id,
            share_instance_id,
        },
        false => ShareStatus::Remote {
            member_id,
            share_instance_id,
        },
    }
}

/// The events of a change of share status from `old` to `new`, in the
/// official SDK's order (§1.4); `url` is the content share's.
pub(crate) fn events(old: &ShareStatus, new: &ShareStatus, url: &str) -> Vec<MeetingEvent> {
    let same = match (old, new) {
        (ShareStatus::None, ShareStatus::None) => true,
        (ShareStatus::Local { member_id: a, .. }, ShareStatus::Local { member_id: b, .. })
        | (ShareStatus::Remote { member_id: a, .. }, ShareStatus::Remote { member_id: b, .. }) => {
            a == b
        }
        _ => false,
    };
    if same {
        return Vec::new();
    }
    let mut out = Vec::new();
    match old {
        ShareStatus::Local { .. } => out.push(MeetingEvent::StoppedSharingLocal {
            reason: "SELF_STOPPED".into(),
        }),
        ShareStatus::Remote { .. } if !matches!(new, ShareStatus::Remote { .. }) => {
            out.push(MeetingEvent::StoppedSharingRemote);
        }
        _ => {}
    }
    match new {
        ShareStatus::Local { .. } => out.push(MeetingEvent::StartedSharingLocal),
        ShareStatus::Remote {
            member_id,
            share_instance_id,
        } => out.push(MeetingEvent::StartedSharingRemote {
            member_id: member_id.clone(),
            url: url.to_owned(),
            share_instance_id: share_instance_id.clone(),
        }),
        ShareStatus::None => {}
    }
    out.push(MeetingEvent::MembersContentUpdate {
        active_sharing_id: new.presenter().map(str::to_owned),
        ended_sharing_id: old
            .presenter()
            .filter(|o| Some(*o) != new.presenter())
            .map(str::to_owned),
    });
    out
}

impl Meeting {
    /// Who shares content now (`None` before any Locus).
    pub fn share(&self) -> ShareStatus {
        let device = self.device_url();
        self.lock()
            .doc
            .as_ref()
            .map_or(ShareStatus::None, |d| status(d, device.as_deref()))
    }

    /// Asks for the content floor for this device, with the official
    /// SDK's body (`PUT {mediaShares[content].url}`, a new
    /// `shareInstanceId`). Whoever shared loses the floor to this device.
    /// `meeting:startedSharingLocal` follows from the Locus update.
    ///
    /// Refused locally with [`MeetingError::NotJoined`] when this device is
    /// not in the meeting and [`MeetingError::NoContentShare`] when the
    /// Locus lists no `content` share.
    pub async fn request_share_floor(&self) -> Result<(), MeetingError> {
        let list = self.list()?;
        let device = list.device_url()?;
        let (doc, url) = self.current_locus()?;
        if apply::is_ended(&doc) {
            return Err(MeetingError::MeetingEnded);
        }
        if !apply::device_joined(&doc, Some(&device)) {
            return Err(MeetingError::NotJoined);
        }
        let self_url = doc
            .self_
            .as_ref()
            .and_then(|s| s.url.clone())
            .ok_or(MeetingError::NotJoined)?;
        let share_url = doc
            .media_share("content")
            .map(|s| s.url.clone())
            .ok_or(MeetingError::NoContentShare)?;
        let instance = uuid::Uuid::new_v4().to_string();
        let body = FloorRequest::grant(&self_url, &device, &instance);
        let limit = list.options.request_timeout;
        let answer = requests::bounded(
            "share floor request",
            limit,
            requests::floor(&list.core.http, &share_url, &body, &url),
        )
        .await?;
        self.lock().share_instance_id = Some(instance);
        self.apply_answer(&list, answer)
    }

    /// Releases the content floor, as the official SDK does: only when the
    /// Locus shows this participant holding it (else nothing is sent),
    /// naming the share it holds. `meeting:stoppedSharingLocal` follows.
    pub async fn release_share_floor(&self) -> Result<(), MeetingError> {
        let list = self.list()?;
        list.device_url()?;
        let (doc, url) = self.current_locus()?;
        let me = doc.self_.as_ref().map(|s| s.id.as_str());
        if me.is_none() || holder(&doc) != me {
            return Ok(());
        }
        let Some(share) = doc.media_share("content") else {
            return Ok(());
        };
        let instance = share
            .floor
            .as_ref()
            .and_then(|f| f.share_instance_id.clone())
            .or_else(|| self.lock().share_instance_id.clone())
            .unwrap_or_default();
        let body = FloorRequest::release(&instance);
        let limit = list.options.request_timeout;
        let answer = requests::bounded(
            "share floor release",
            limit,
            requests::floor(&list.core.http, &share.url, &body, &url),
        )
        .await?;
        self.apply_answer(&list, answer)
    }
}

#[cfg(test)]
mod tests {
    use webex_wire::locus::{Floor, FloorParty, MediaShare, Participant};

    use super::*;

    fn doc(floor: Option<(&str, &str, FloorDisposition)>) -> Locus {
        Locus {
            self_: Some(Participant {
                id: "me".into(),
                ..Participant::default()
            }),
            media_shares: Some(vec![MediaShare {
                name: "content".into(),
                url: "https://h/loci/1/mediashares/c".into(),
                floor: floor.map(|(id, device, disposition)| Floor {
                    disposition,
                    share_instance_id: Some("s".into()),
                    beneficiary: Some(FloorParty {
                        id: Some(id.into()),
                        device_url: Some(device.into()),
                        ..FloorParty::default()
                    }),
                    ..Floor::default()
                }),
            }]),
            ..Locus::default()
        }
    }

    #[test]
    fn local_only_on_this_device() {
        use FloorDisposition::*;
        let d = Some("dev-me");
        assert_eq!(status(&doc(None), d), ShareStatus::None);
        assert_eq!(status(&Locus::default(), d), ShareStatus::None);
        assert!(matches!(
            status(&doc(Some(("me", "dev-me", Granted))), d),
            ShareStatus::Local { .. }
        ));
        assert!(matches!(
            status(&doc(Some(("me", "dev-other", Granted))), d),
            ShareStatus::Remote { .. }
        ));
        assert_eq!(
            status(&doc(Some(("p2", "x", Granted))), d).presenter(),
            Some("p2")
        );
        assert_eq!(
            status(&doc(Some(("p2", "x", Released))), d),
            ShareStatus::None
        );
    }

    #[test]
    fn events_follow_the_official_order() {
        let remote = |id: &str| ShareStatus::Remote {
            member_id: id.into(),
            share_instance_id: None,
        };
        let local = ShareStatus::Local {
            member_id: "me".into(),
            share_instance_id: None,
        };
        let names = |old: &ShareStatus, new: &ShareStatus| -> Vec<String> {
            events(old, new, "u")
                .iter()
                .map(|e| e.name().into_owned())
                .collect()
        };
        assert!(names(&remote("a"), &remote("a")).is_empty());
        assert_eq!(
            names(&ShareStatus::None, &remote("a")),
            ["meeting:startedSharingRemote", "members:content:update"]
        );
        assert_eq!(
            names(&remote("a"), &remote("b")),
            ["meeting:startedSharingRemote", "members:content:update"]
        );
        assert_eq!(
            names(&local, &remote("b")),
            [
                "meeting:stoppedSharingLocal",
                "meeting:startedSharingRemote",
                "members:content:update"
            ]
        );
        assert_eq!(
            names(&remote("b"), &ShareStatus::None),
            ["meeting:stoppedSharingRemote", "members:content:update"]
        );
        assert_eq!(
            events(&remote("a"), &remote("b"), "u").last(),
            Some(&MeetingEvent::MembersContentUpdate {
                active_sharing_id: Some("b".into()),
                ended_sharing_id: Some("a".into()),
            })
        );
    }
}
