//! Meeting events: what a [`crate::Meeting`] reports (`meeting:stateChange`,
//! `members:update`, `meeting:self:left`, `meeting:self:lobbyWaiting`,
//! `meeting:self:guestAdmitted`) and why meetings enter and leave
//! the list (`meeting:added`, `meeting:removed` on [`crate::Meetings`]).

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use webex_wire::locus::LocusState;

use super::roster::MembersDelta;
use crate::events::EventName;

/// Why a meeting entered the meetings list (`meeting:added`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddedReason {
    /// `Meetings::create` made it.
    Created,
    /// The signed-in user is in it: found by `sync()`, or joined from
    /// another of their devices.
    Joined,
    /// Someone else's meeting or call that includes the user, not joined.
    Incoming,
}

impl AddedReason {
    /// `created`, `joined` or `incoming`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Joined => "joined",
            Self::Incoming => "incoming",
        }
    }
}

/// Why a meeting left the meetings list (`meeting:removed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovedReason {
    /// The meeting ended (`fullState.state` INACTIVE or TERMINATING).
    Ended,
    /// The user left (or was removed) and the meeting no longer lists them.
    Left,
    /// `sync()` no longer returned it.
    NoLongerSynced,
    /// Fetching it again found it gone (the server refused or did not know it).
    Unavailable,
}

impl RemovedReason {
    /// `ended`, `left`, `no-longer-synced` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::Left => "left",
            Self::NoLongerSynced => "no-longer-synced",
            Self::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for AddedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RemovedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

impl MeetingEvent {
    /// Every name a meeting emits.
    pub const NAMES: [&'static str; 5] = [
        EventName::MeetingStateChange.as_str(),
        EventName::MembersUpdate.as_str(),
        EventName::MeetingSelfLeft.as_str(),
        EventName::MeetingSelfLobbyWaiting.as_str(),
        EventName::MeetingSelfGuestAdmitted.as_str(),
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
            }
            .as_str(),
        )
    }

    /// Whether a subscription to `name` receives this event (its name, or `*`).
    pub fn matches(&self, name: &str) -> bool {
        name == "*" || self.name() == name
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
pub struct MeetingEventStream {
    pub(crate) rx: mpsc::UnboundedReceiver<MeetingEvent>,
}

impl MeetingEventStream {
    /// The next event; `None` once the meeting is removed.
    pub async fn recv(&mut self) -> Option<MeetingEvent> {
        self.rx.recv().await
    }
}

impl Stream for MeetingEventStream {
    type Item = MeetingEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl std::fmt::Debug for MeetingEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingEventStream").finish_non_exhaustive()
    }
}
