//! Meetings events, with their Webex names, and what a new subscriber is
//! told first so that it never misses `meetings:ready` or
//! `meetings:registered`. The plumbing — fan-out, stream, `on()` — is
//! `fanout`, shared with each [`Meeting`]'s events.

mod fanout;

use std::borrow::Cow;

use webex_wire::mercury::ServerFrame;

pub(crate) use fanout::{Event, Fanout, Replay, on};
pub use fanout::{Events, Subscription};

use crate::error::Error;
use crate::locus::Meeting;

/// Declares [`EventName`]: every fixed event name in one list, read by both
/// [`MeetingsEvent::name`] and the check in `Meetings::on`. Adding an event
/// is one line here plus its [`MeetingsEvent`] variant (the compiler then
/// asks for its arm in [`MeetingsEvent::kind`]).
macro_rules! event_names {
    ($($(#[$doc:meta])* $kind:ident => $name:literal,)*) => {
        /// The name of every event other than a Mercury event (those are
        /// `event:<eventType>`).
        ///
        /// ```
        /// use webex_meetings::EventName;
        /// assert_eq!(EventName::Registered.as_str(), "meetings:registered");
        /// assert!(EventName::ALL.contains(&EventName::Ready));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventName {
            $($(#[$doc])* $kind,)*
        }

        impl EventName {
            /// Every fixed event name, in the order they are documented.
            pub const ALL: &'static [EventName] = &[$(Self::$kind,)*];

            /// The Webex name, e.g. `"meetings:ready"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)*
                }
            }
        }
    };
}

event_names! {
    /// `meetings:ready`
    Ready => "meetings:ready",
    /// `meetings:registered`
    Registered => "meetings:registered",
    /// `meetings:unregistered`
    Unregistered => "meetings:unregistered",
    /// `network:disconnected`
    NetworkDisconnected => "network:disconnected",
    /// `network:reconnected`
    NetworkReconnected => "network:reconnected",
    /// `network:replaced`
    Replaced => "network:replaced",
    /// `token:refreshed`
    TokenRefreshed => "token:refreshed",
    /// `meeting:added` (on `Meetings`): a meeting entered the list.
    MeetingAdded => "meeting:added",
    /// `meeting:removed` (on `Meetings`): a meeting left the list.
    MeetingRemoved => "meeting:removed",
    /// `meeting:stateChange` (on a `Meeting`).
    MeetingStateChange => "meeting:stateChange",
    /// `members:update` (on a `Meeting`).
    MembersUpdate => "members:update",
    /// `meeting:self:left` (on a `Meeting`).
    MeetingSelfLeft => "meeting:self:left",
    /// `meeting:self:lobbyWaiting` (on a `Meeting`): this device waits in
    /// the lobby.
    MeetingSelfLobbyWaiting => "meeting:self:lobbyWaiting",
    /// `meeting:self:guestAdmitted` (on a `Meeting`): the host let this
    /// device in from the lobby.
    MeetingSelfGuestAdmitted => "meeting:self:guestAdmitted",
    /// `meeting:media:ready` (on a `Meeting`): the media server answered
    /// `add_media`'s offer; the remote tracks exist.
    MeetingMediaReady => "meeting:media:ready",
    /// `meeting:media:connected` (on a `Meeting`): ICE and DTLS are up.
    MeetingMediaConnected => "meeting:media:connected",
    /// `meeting:media:disconnected` (on a `Meeting`): the media connection
    /// is down (lost, or stopped).
    MeetingMediaDisconnected => "meeting:media:disconnected",
    /// `meeting:media:failed` (on a `Meeting`): the media broke for good.
    MeetingMediaFailed => "meeting:media:failed",
    /// `meeting:media:remoteTrackAdded` (on a `Meeting`; the official
    /// SDK's `media:ready` with a `type`).
    MeetingMediaRemoteTrackAdded => "meeting:media:remoteTrackAdded",
    /// `meeting:media:remoteTrackRemoved` (on a `Meeting`; the official
    /// SDK's `media:stopped`).
    MeetingMediaRemoteTrackRemoved => "meeting:media:remoteTrackRemoved",
    /// `meeting:startedSharingLocal` (on a `Meeting`): this device shares.
    MeetingStartedSharingLocal => "meeting:startedSharingLocal",
    /// `meeting:stoppedSharingLocal` (on a `Meeting`): this device no
    /// longer shares.
    MeetingStoppedSharingLocal => "meeting:stoppedSharingLocal",
    /// `meeting:startedSharingRemote` (on a `Meeting`): someone else shares
    /// (again on each new presenter).
    MeetingStartedSharingRemote => "meeting:startedSharingRemote",
    /// `meeting:stoppedSharingRemote` (on a `Meeting`): nobody else shares
    /// any more.
    MeetingStoppedSharingRemote => "meeting:stoppedSharingRemote",
    /// `members:content:update` (on a `Meeting`): who shares changed.
    MembersContentUpdate => "members:content:update",
    /// `media:activeSpeakerChanged` (on a `Meeting`): someone else speaks
    /// now (the official SDK's name; from the Locus `activeSpeaker` that
    /// `webex serve` sends — Webex's cloud sends none on this path).
    MediaActiveSpeakerChanged => "media:activeSpeakerChanged",
}

/// Something that happened to the meetings registration.
///
/// ```
/// use webex_meetings::MeetingsEvent;
/// assert_eq!(MeetingsEvent::Ready.name(), "meetings:ready");
/// assert!(MeetingsEvent::Registered.matches("meetings:registered"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MeetingsEvent {
    /// `meetings:ready`: the SDK is initialised; calls may be made.
    Ready,
    /// `meetings:registered`: device registered and Mercury connected.
    Registered,
    /// `meetings:unregistered`: socket closed and device deleted.
    Unregistered,
    /// `network:disconnected`: the Mercury socket dropped. When the client
    /// later gives up reconnecting (a refused token that cannot be
    /// refreshed, the re-registration bound), it is emitted once more with
    /// `will_reconnect: false` and the error as `reason` — the official
    /// SDK's `offline.permanent`; `unregister()` then `register()` starts
    /// over.
    NetworkDisconnected {
        /// Close code, if the server sent one.
        code: Option<u16>,
        /// Close reason or error.
        reason: String,
        /// Whether a reconnect follows.
        will_reconnect: bool,
    },
    /// `network:reconnected`: the socket is back after a drop.
    NetworkReconnected,
    /// `token:refreshed`: a new access token is in use.
    TokenRefreshed,
    /// `network:replaced`: another connection for this device took over
    /// (close 4000); this one stands down and does not reconnect.
    Replaced,
    /// `event:<eventType>`: any other Mercury event, e.g.
    /// `event:locus.difference`.
    Mercury(Box<ServerFrame>),
    /// `meeting:added`: a meeting entered the meetings list.
    MeetingAdded {
        /// The meeting.
        meeting: Meeting,
        /// Why (created here, joined, incoming).
        reason: AddedReason,
    },
    /// `meeting:removed`: a meeting left the meetings list.
    MeetingRemoved {
        /// [`Meeting::id`] of the meeting.
        meeting_id: String,
        /// Why (ended, left, no longer synced, unavailable).
        reason: RemovedReason,
    },
}

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

impl MeetingsEvent {
    /// The fixed name of this event; `None` for a Mercury event, whose name
    /// is `event:<eventType>`.
    pub fn kind(&self) -> Option<EventName> {
        Some(match self {
            Self::Ready => EventName::Ready,
            Self::Registered => EventName::Registered,
            Self::Unregistered => EventName::Unregistered,
            Self::NetworkDisconnected { .. } => EventName::NetworkDisconnected,
            Self::NetworkReconnected => EventName::NetworkReconnected,
            Self::TokenRefreshed => EventName::TokenRefreshed,
            Self::Replaced => EventName::Replaced,
            Self::MeetingAdded { .. } => EventName::MeetingAdded,
            Self::MeetingRemoved { .. } => EventName::MeetingRemoved,
            Self::Mercury(_) => return None,
        })
    }

    /// The Webex name of the event, e.g. `"meetings:registered"`.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            Self::Mercury(frame) => {
                Cow::Owned(format!("event:{}", frame.event_type().unwrap_or_default()))
            }
            _ => Cow::Borrowed(self.kind().map_or("", EventName::as_str)),
        }
    }

    /// Whether a subscription to `name` receives this event: its exact name;
    /// for Mercury events also `event` (all of them) and `event:<prefix>`
    /// (e.g. `event:locus` for `event:locus.difference`); `*` for everything.
    ///
    /// ```
    /// # use webex_meetings::MeetingsEvent;
    /// # use webex_wire::mercury::{EventData, ServerFrame};
    /// let frame = ServerFrame { id: "1".into(), kind: None, sequence_number: None,
    ///     data: Some(EventData::new("locus.difference")), timestamp: None, tracking_id: None };
    /// let e = MeetingsEvent::Mercury(Box::new(frame));
    /// assert!(e.matches("event:locus.difference") && e.matches("event:locus") && e.matches("event"));
    /// assert!(!e.matches("event:loc"));
    /// ```
    pub fn matches(&self, name: &str) -> bool {
        if name == "*" {
            return true;
        }
        // Called for every event and every subscriber: compare without
        // building the `event:<type>` name.
        let Self::Mercury(frame) = self else {
            return self.kind().is_some_and(|kind| kind.as_str() == name);
        };
        let event_type = frame.event_type().unwrap_or_default();
        match name.strip_prefix("event") {
            Some("") => true,
            Some(rest) => rest.strip_prefix(':').is_some_and(|prefix| {
                event_type
                    .strip_prefix(prefix)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
            }),
            None => false,
        }
    }
}

/// Checks that a subscription to `name` can ever fire: a fixed event name
/// ([`EventName::ALL`]), `*`, `event` or `event:<eventType prefix>`.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if crate::MeetingEvent::NAMES.contains(&name) {
        return Err(Error::MeetingEventOnMeetings {
            name: name.to_owned(),
        });
    }
    let known = name == "*"
        || name == "event"
        || name.starts_with("event:")
        || EventName::ALL.iter().any(|kind| kind.as_str() == name);
    if known {
        Ok(())
    } else {
        Err(Error::UnknownEvent {
            name: name.to_owned(),
        })
    }
}

/// The names [`check_name`] accepts, for error messages.
pub(crate) fn known_names() -> String {
    let mut names: Vec<&str> = EventName::ALL.iter().map(|kind| kind.as_str()).collect();
    names.extend(["event:<eventType>", "event", "*"]);
    names.join(", ")
}

/// The fan-out of [`MeetingsEvent`]s, kept by the SDK's core.
pub(crate) type EventHub = Fanout<MeetingsEvent, MeetingsReplay>;

/// What a new subscriber to the meetings events is told first: `Ready`,
/// then `Registered` if registered, then `MeetingAdded` for each meeting in
/// the list.
#[derive(Default)]
pub(crate) struct MeetingsReplay {
    ready: bool,
    registered: bool,
    /// `meeting:added` of every meeting in the list.
    meetings: Vec<MeetingsEvent>,
}

impl Replay<MeetingsEvent> for MeetingsReplay {
    fn record(&mut self, event: &MeetingsEvent) {
        match event {
            MeetingsEvent::Ready => self.ready = true,
            MeetingsEvent::Registered => self.registered = true,
            MeetingsEvent::Unregistered => self.registered = false,
            MeetingsEvent::MeetingAdded { .. } => self.meetings.push(event.clone()),
            MeetingsEvent::MeetingRemoved { meeting_id, .. } => self.meetings.retain(
                |e| !matches!(e, MeetingsEvent::MeetingAdded { meeting, .. } if meeting.id() == meeting_id),
            ),
            _ => {}
        }
    }

    fn replay(&self) -> Vec<MeetingsEvent> {
        let ready = self.ready.then_some(MeetingsEvent::Ready);
        let registered = self.registered.then_some(MeetingsEvent::Registered);
        ready
            .into_iter()
            .chain(registered)
            .chain(self.meetings.iter().cloned())
            .collect()
    }
}

impl Event for MeetingsEvent {
    const LOG: &'static str = "meetings event";

    fn event_name(&self) -> Cow<'static, str> {
        self.name()
    }

    fn is_named(&self, name: &str) -> bool {
        self.matches(name)
    }

    fn check_name(name: &str) -> Result<(), Error> {
        check_name(name)
    }
}

/// A stream of [`MeetingsEvent`]s, starting with the current state.
///
/// ```no_run
/// use futures::StreamExt;
/// # async fn run(meetings: webex_meetings::Meetings) {
/// let mut events = meetings.events();
/// while let Some(event) = events.next().await {
///     println!("{}", event.name());
/// }
/// # }
/// ```
pub type EventStream = Events<MeetingsEvent>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_subscribers_get_the_current_state_first() {
        let hub = EventHub::default();
        hub.emit(MeetingsEvent::Ready);
        hub.emit(MeetingsEvent::Registered);
        let mut late = hub.subscribe();
        hub.emit(MeetingsEvent::TokenRefreshed);
        let names: Vec<_> = std::iter::from_fn(|| late.rx.try_recv().ok())
            .map(|e| e.name().into_owned())
            .collect();
        assert_eq!(
            names,
            ["meetings:ready", "meetings:registered", "token:refreshed"]
        );

        hub.emit(MeetingsEvent::Unregistered);
        let mut later = hub.subscribe();
        let names: Vec<_> = std::iter::from_fn(|| later.rx.try_recv().ok())
            .map(|e| e.name().into_owned())
            .collect();
        assert_eq!(names, ["meetings:ready"]);
    }

    #[test]
    fn every_fixed_event_is_named_from_the_list() {
        let events = [
            MeetingsEvent::Ready,
            MeetingsEvent::Registered,
            MeetingsEvent::Unregistered,
            MeetingsEvent::NetworkDisconnected {
                code: None,
                reason: String::new(),
                will_reconnect: true,
            },
            MeetingsEvent::NetworkReconnected,
            MeetingsEvent::TokenRefreshed,
            MeetingsEvent::Replaced,
            MeetingsEvent::MeetingAdded {
                meeting: crate::locus::test_meeting(),
                reason: AddedReason::Created,
            },
            MeetingsEvent::MeetingRemoved {
                meeting_id: String::new(),
                reason: RemovedReason::Ended,
            },
        ];
        // The rest of the list is what a `Meeting` emits.
        assert_eq!(
            events.len() + crate::MeetingEvent::NAMES.len(),
            EventName::ALL.len()
        );
        for event in events {
            let name = event.name();
            assert!(check_name(&name).is_ok(), "{name}");
            assert!(event.matches(&name), "{name}");
        }
        // Those are refused on `Meetings`: they would never fire there.
        for name in crate::MeetingEvent::NAMES {
            let Err(e) = check_name(name) else {
                panic!("{name} is a Meeting's event");
            };
            assert!(matches!(&e, Error::MeetingEventOnMeetings { name: n } if n == name));
            assert!(e.to_string().contains("meeting.on("), "{e}");
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn misspelt_names_are_refused_with_the_known_ones() {
        let Err(e) = check_name("meetings:registerd") else {
            panic!("a misspelt name must be refused");
        };
        assert!(matches!(&e, Error::UnknownEvent { name } if name == "meetings:registerd"));
        assert!(!e.is_retryable());
        let message = e.to_string();
        for kind in EventName::ALL {
            assert!(message.contains(kind.as_str()), "{message}");
        }
        for ok in [
            "*",
            "event",
            "event:locus",
            "event:anything.at.all",
            "network:replaced",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "meetings",
            "events:locus",
            "Meetings:ready",
            "meetings:ready ",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dropped_subscribers_are_pruned() {
        let hub = EventHub::default();
        drop(hub.subscribe());
        hub.emit(MeetingsEvent::Ready);
        assert!(hub.inner.lock().unwrap().subscribers.is_empty());
    }
}
