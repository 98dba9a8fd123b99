//! Meeting events: what a [`crate::Meeting`] reports (`meeting:stateChange`,
//! `members:update`, `meeting:self:left`, `meeting:self:lobbyWaiting`,
//! `meeting:self:guestAdmitted`, and who shares content:
//! `meeting:startedSharingLocal`, `meeting:stoppedSharingLocal`,
//! `meeting:startedSharingRemote`, `meeting:stoppedSharingRemote`,
//! `members:content:update`). Why meetings enter and leave the list
//! (`meeting:added`, `meeting:removed` on [`crate::Meetings`]) is with the
//! meetings events.

use std::borrow::Cow;

use webex_wire::locus::LocusState;

use super::roster::MembersDelta;
use crate::error::Error;
use crate::events::{Event, EventName, Events};
use crate::media::{MediaError, RemoteTrack};

/// Something that happened to one meeting.
///
/// ```
/// use webex_meetings::MeetingEvent;
/// assert_eq!(MeetingEvent::SelfLeft.name(), "meeting:self:left");
/// assert!(MeetingEvent::SelfLeft.matches("*"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeetingEvent {
    /// `meeting:stateChange`: `fullState.state` changed (`previous` is
    /// `None` the first time a state is known).
    StateChange {
        /// The state before, if one was known.
        previous: Option<LocusState>,
        /// The state now.
        current: LocusState,
    },
    /// `members:update`: the roster changed.
    MembersUpdate(MembersDelta),
    /// `meeting:self:left`: this device is no longer in the meeting.
    SelfLeft,
    /// `meeting:self:lobbyWaiting`: this device waits in the lobby until
    /// the host admits it (during `join()`, before it returns).
    LobbyWaiting,
    /// `meeting:self:guestAdmitted`: the host let this device in from the
    /// lobby; it is now joined.
    GuestAdmitted,
    /// `meeting:media:ready`: `add_media`'s offer was answered; these
    /// remote tracks exist.
    MediaReady {
        /// What the server sends.
        tracks: Vec<RemoteTrack>,
    },
    /// `meeting:media:connected`: ICE and DTLS are up (again).
    MediaConnected,
    /// `meeting:media:disconnected`: the media connection is down (lost,
    /// or stopped).
    MediaDisconnected,
    /// `meeting:media:failed`: the media broke for good and was removed.
    MediaFailed(MediaError),
    /// `meeting:media:remoteTrackAdded`.
    RemoteTrackAdded(RemoteTrack),
    /// `meeting:media:remoteTrackRemoved`.
    RemoteTrackRemoved(RemoteTrack),
    /// `meeting:startedSharingLocal`: the Locus shows this device holding
    /// the content floor.
    StartedSharingLocal,
    /// `meeting:stoppedSharingLocal`: this device no longer holds the
    /// floor (`reason` `SELF_STOPPED`, as the official SDK says for a
    /// Locus update).
    StoppedSharingLocal {
        /// Why.
        reason: String,
    },
    /// `meeting:startedSharingRemote`: someone else (or this user on
    /// another device) shares; emitted again, without a stop, when the
    /// presenter changes.
    StartedSharingRemote {
        /// The presenter's member (participant) id.
        member_id: String,
        /// The content share's URL.
        url: String,
        /// The share's id.
        share_instance_id: Option<String>,
    },
    /// `meeting:stoppedSharingRemote`: nobody else shares any more.
    StoppedSharingRemote,
    /// `media:activeSpeakerChanged`: someone else speaks now, as the media
    /// server chose from audio levels (meetings of three or more; the
    /// Locus `activeSpeaker` of `webex serve`, which Webex's cloud does not
    /// send on the transcoded path).
    ActiveSpeakerChanged {
        /// The speakers' member (participant) ids, loudest first (one today).
        member_ids: Vec<String>,
    },
    /// `members:content:update`: who shares changed.
    MembersContentUpdate {
        /// The member sharing now, if anyone.
        active_sharing_id: Option<String>,
        /// The member who stopped, if anyone.
        ended_sharing_id: Option<String>,
    },
}

impl MeetingEvent {
    /// Every name a meeting emits.
    pub const NAMES: [&'static str; 17] = [
        EventName::MeetingStateChange.as_str(),
        EventName::MembersUpdate.as_str(),
        EventName::MeetingSelfLeft.as_str(),
        EventName::MeetingSelfLobbyWaiting.as_str(),
        EventName::MeetingSelfGuestAdmitted.as_str(),
        EventName::MeetingMediaReady.as_str(),
        EventName::MeetingMediaConnected.as_str(),
        EventName::MeetingMediaDisconnected.as_str(),
        EventName::MeetingMediaFailed.as_str(),
        EventName::MeetingMediaRemoteTrackAdded.as_str(),
        EventName::MeetingMediaRemoteTrackRemoved.as_str(),
        EventName::MeetingStartedSharingLocal.as_str(),
        EventName::MeetingStoppedSharingLocal.as_str(),
        EventName::MeetingStartedSharingRemote.as_str(),
        EventName::MeetingStoppedSharingRemote.as_str(),
        EventName::MembersContentUpdate.as_str(),
        EventName::MediaActiveSpeakerChanged.as_str(),
    ];

    /// The Webex name, e.g. `"members:update"`.
    pub fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(
            match self {
                Self::StateChange { .. } => EventName::MeetingStateChange,
                Self::MembersUpdate(_) => EventName::MembersUpdate,
                Self::SelfLeft => EventName::MeetingSelfLeft,
                Self::LobbyWaiting => EventName::MeetingSelfLobbyWaiting,
                Self::GuestAdmitted => EventName::MeetingSelfGuestAdmitted,
                Self::MediaReady { .. } => EventName::MeetingMediaReady,
                Self::MediaConnected => EventName::MeetingMediaConnected,
                Self::MediaDisconnected => EventName::MeetingMediaDisconnected,
                Self::MediaFailed(_) => EventName::MeetingMediaFailed,
                Self::RemoteTrackAdded(_) => EventName::MeetingMediaRemoteTrackAdded,
                Self::RemoteTrackRemoved(_) => EventName::MeetingMediaRemoteTrackRemoved,
                Self::StartedSharingLocal => EventName::MeetingStartedSharingLocal,
                Self::StoppedSharingLocal { .. } => EventName::MeetingStoppedSharingLocal,
                Self::StartedSharingRemote { .. } => EventName::MeetingStartedSharingRemote,
                Self::StoppedSharingRemote => EventName::MeetingStoppedSharingRemote,
                Self::MembersContentUpdate { .. } => EventName::MembersContentUpdate,
                Self::ActiveSpeakerChanged { .. } => EventName::MediaActiveSpeakerChanged,
            }
            .as_str(),
        )
    }

    /// Whether a subscription to `name` receives this event (its name, or `*`).
    pub fn matches(&self, name: &str) -> bool {
        name == "*" || self.name() == name
    }
}

impl Event for MeetingEvent {
    const LOG: &'static str = "meeting event";

    fn event_name(&self) -> Cow<'static, str> {
        self.name()
    }

    fn is_named(&self, name: &str) -> bool {
        self.matches(name)
    }

    /// A meeting's own names and `*`.
    fn check_name(name: &str) -> Result<(), Error> {
        if name != "*" && !Self::NAMES.contains(&name) {
            return Err(Error::UnknownEvent {
                name: name.to_owned(),
            });
        }
        Ok(())
    }
}

/// A stream of one meeting's [`MeetingEvent`]s, starting with its current
/// state; it ends when the meeting leaves the meetings list.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(meeting: webex_meetings::Meeting) {
/// let mut events = meeting.events();
/// while let Some(event) = events.next().await {
///     println!("{}", event.name());
/// }
/// # }
/// ```
pub type MeetingEventStream = Events<MeetingEvent>;
