//! [`Meeting`]: one meeting of the list, its Locus working copy and its
//! subscribers. Documents reach it only through the collection, which holds
//! its lock first (lock order: collection, then meeting).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use webex_wire::locus::{Locus, LocusState, LocusType, MeetingInfo};

use super::apply::{self, Decision, Pending};
use super::collection::Collection;
use super::error::MeetingError;
use super::events::{MeetingEvent, MeetingEventStream};
use super::roster::{self, Member};
use super::share;
use crate::events::{Fanout, Subscription};

/// How a meeting entered the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `Meetings::create`.
    Created,
    /// A Locus document (sync, Mercury).
    Locus,
}

/// One meeting. Cheap to clone; clones share everything.
///
/// Obtained from [`crate::Meetings::create`], [`crate::Meetings::list`],
/// [`crate::Meetings::get`] or a `meeting:added` event.
///
/// ```no_run
/// # async fn run(meetings: webex_meetings::Meetings) -> Result<(), webex_meetings::MeetingError> {
/// let meeting = meetings.create("room1@webex.localhost").await?;
/// meeting.join().await?;
/// for member in meeting.members() {
///     println!("{} {}", member.name, member.status);
/// }
/// meeting.leave().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Meeting {
    pub(crate) inner: Arc<MeetingInner>,
}

pub(crate) struct MeetingInner {
    pub(crate) id: String,
    pub(crate) correlation_id: String,
    pub(crate) destination: Option<String>,
    pub(crate) origin: Origin,
    /// The list it is in (weakly: a meeting kept by the app does not keep
    /// the SDK alive).
    pub(crate) list: Weak<Collection>,
    state: Mutex<MeetingState>,
}

/// What changes, behind the meeting's lock.
#[derive(Default)]
pub(crate) struct MeetingState {
    pub(crate) doc: Option<Locus>,
    pub(crate) locus_url: Option<String>,
    pub(crate) info: Option<MeetingInfo>,
    pub(crate) sip_uri: Option<String>,
    pub(crate) meeting_number: Option<String>,
    pub(crate) join_url: Option<String>,
    pub(crate) pending: Pending,
    /// A resynchronisation is scheduled or running.
    pub(crate) resync_scheduled: bool,
    /// A `join()` is in flight: never pruned meanwhile.
    pub(crate) joining: bool,
    /// This device was joined at some point.
    pub(crate) ever_joined: bool,
    /// The collection epoch of the last applied document.
    pub(crate) touched: u64,
    pub(crate) removed: bool,
    pub(crate) last_error: Option<Arc<MeetingError>>,
    /// The media `add_media` set up, until it stops.
    pub(crate) media: Option<crate::media::Media>,
    /// An `add_media` is under way.
    pub(crate) media_starting: bool,
    /// The `shareInstanceId` of this device's last floor request.
    pub(crate) share_instance_id: Option<String>,
    /// Closed when the meeting leaves the list.
    events: Fanout<MeetingEvent>,
}

/// What applying a document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The working copy changed.
    Changed,
    /// Older than the working copy; dropped.
    Stale,
    /// Queued behind missing deltas; this many are waiting.
    Queued(usize),
    /// Cannot be placed: fetch the full document.
    Resync,
    /// Not applied: malformed (the error is the meeting's `last_error`).
    Malformed,
}

impl Meeting {
    pub(crate) fn new(
        list: Weak<Collection>,
        origin: Origin,
        destination: Option<String>,
        state: MeetingState,
    ) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        Self {
            inner: Arc::new(MeetingInner {
                correlation_id: id.clone(),
                id,
                destination,
                origin,
                list,
                state: Mutex::new(state),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MeetingState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn same(&self, other: &Meeting) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// This meeting's id in this SDK (a UUID; not the Locus id).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The correlation id this device joins with; the server echoes it in
    /// `self.devices[]`, which is how a Locus is tied to this meeting.
    pub fn correlation_id(&self) -> &str {
        &self.inner.correlation_id
    }

    /// What was given to `create()`, if the meeting was created here.
    pub fn destination(&self) -> Option<&str> {
        self.inner.destination.as_deref()
    }

    /// The Locus URL, once known (joined, in progress, or synced).
    pub fn locus_url(&self) -> Option<String> {
        self.lock().locus_url.clone()
    }

    /// The meeting's SIP address, when known.
    pub fn sip_uri(&self) -> Option<String> {
        self.lock().sip_uri.clone()
    }

    /// The meeting number, when known.
    pub fn meeting_number(&self) -> Option<String> {
        self.lock().meeting_number.clone()
    }

    /// What `meetingInfo` answered at `create()`, if it did.
    pub fn meeting_info(&self) -> Option<MeetingInfo> {
        self.lock().info.clone()
    }

    /// `fullState.state` (ACTIVE, INACTIVE, …); `None` before any Locus.
    pub fn state(&self) -> Option<LocusState> {
        self.lock()
            .doc
            .as_ref()
            .and_then(|d| d.full_state.as_ref())
            .map(|f| f.state.clone())
    }

    /// `fullState.type` (MEETING, CALL, …); `None` before any Locus.
    pub fn kind(&self) -> Option<LocusType> {
        self.lock()
            .doc
            .as_ref()
            .and_then(|d| d.full_state.as_ref())
            .map(|f| f.kind.clone())
    }

    /// Whether this device is in the meeting (`self.devices[this device]`
    /// is JOINED).
    pub fn is_joined(&self) -> bool {
        let device = self.device_url();
        self.lock()
            .doc
            .as_ref()
            .is_some_and(|d| apply::device_joined(d, device.as_deref()))
    }

    /// Whether this device waits in the meeting's lobby (`self.state` IDLE,
    /// device intent WAIT; the official `isUserUnadmitted`): `join()`
    /// returned, but the host has not admitted it yet.
    pub fn is_in_lobby(&self) -> bool {
        let device = self.device_url();
        self.lock()
            .doc
            .as_ref()
            .is_some_and(|d| apply::device_waiting(d, device.as_deref()))
    }

    /// The roster now (a snapshot).
    pub fn members(&self) -> Vec<Member> {
        self.lock()
            .doc
            .as_ref()
            .map(roster::roster)
            .unwrap_or_default()
    }

    /// The member (participant) id of who speaks, as the media server last
    /// said (`webex serve`'s Locus `activeSpeaker`, meetings of three or
    /// more; `None` from Webex's cloud). Changes come as
    /// [`MeetingEvent::ActiveSpeakerChanged`].
    ///
    /// ```no_run
    /// # fn demo(meeting: &webex_meetings::Meeting) {
    /// if let Some(id) = meeting.active_speaker() {
    ///     let name = meeting.members().into_iter().find(|m| m.id == id).map(|m| m.name);
    ///     println!("speaking: {name:?}");
    /// }
    /// # }
    /// ```
    pub fn active_speaker(&self) -> Option<String> {
        self.lock()
            .doc
            .as_ref()
            .and_then(|d| d.active_speaker.as_ref())
            .map(|s| s.participant_id.clone())
    }

    /// The Locus document as this client last applied it.
    pub fn locus(&self) -> Option<Locus> {
        self.lock().doc.clone()
    }

    /// The last document the server sent for this meeting that could not be
    /// applied (malformed or partial), if any.
    pub fn last_error(&self) -> Option<Arc<MeetingError>> {
        self.lock().last_error.clone()
    }

    /// Whether the meeting has left the meetings list.
    pub fn is_removed(&self) -> bool {
        self.lock().removed
    }

    /// This meeting's events, starting with its current state (a
    /// `meeting:stateChange` from `None` when a state is known, a
    /// `members:update` adding everyone in the roster, and
    /// `meeting:self:left` if this device already left), so a late
    /// subscriber misses nothing. The stream ends when the meeting leaves
    /// the list.
    pub fn events(&self) -> MeetingEventStream {
        let device = self.device_url();
        let state = self.lock();
        let mut first = Vec::new();
        if let Some(doc) = &state.doc {
            if let Some(f) = &doc.full_state {
                first.push(MeetingEvent::StateChange {
                    previous: None,
                    current: f.state.clone(),
                });
            }
            let members = roster::roster(doc);
            if !members.is_empty() {
                first.push(MeetingEvent::MembersUpdate(roster::MembersDelta {
                    added: members,
                    ..Default::default()
                }));
            }
            if state.ever_joined && !apply::device_joined(doc, device.as_deref()) {
                first.push(MeetingEvent::SelfLeft);
            }
            if apply::device_waiting(doc, device.as_deref()) {
                first.push(MeetingEvent::LobbyWaiting);
            }
            let url = doc.media_share("content").map(|s| s.url.as_str());
            let now = share::status(doc, device.as_deref());
            first.extend(
                share::events(&share::ShareStatus::None, &now, url.unwrap_or_default())
                    .into_iter()
                    .filter(|e| !matches!(e, MeetingEvent::MembersContentUpdate { .. })),
            );
        }
        if let Some(speaker) = state.doc.as_ref().and_then(|d| d.active_speaker.as_ref()) {
            first.push(MeetingEvent::ActiveSpeakerChanged {
                member_ids: vec![speaker.participant_id.clone()],
            });
        }
        if let Some(media) = &state.media {
            first.extend(super::media::replay(media));
        }
        state.events.subscribe_after(first)
    }

    /// Runs `handler` for each event named `name` (`meeting:stateChange`,
    /// `members:update`, `meeting:self:left`, or `*`), starting with the
    /// current state. `meeting:self:lobbyWaiting` and
    /// `meeting:self:guestAdmitted` are accepted too. Dropping the
    /// [`Subscription`] unsubscribes. Any other
    /// name is refused with [`crate::Error::UnknownEvent`].
    ///
    /// # Panics
    /// Outside a Tokio runtime (the handler runs on a spawned task).
    pub fn on(
        &self,
        name: impl Into<String>,
        handler: impl Fn(MeetingEvent) + Send + Sync + 'static,
    ) -> Result<Subscription, crate::Error> {
        crate::events::on(name.into(), || self.events(), handler)
    }

    /// The registered device's URL, if registered.
    pub(crate) fn device_url(&self) -> Option<String> {
        self.inner
            .list
            .upgrade()
            .and_then(|l| l.core.current_device())
            .map(|c| c.device.url)
    }

    /// Applies `incoming` (§4.3) and emits what changed. `epoch` marks when.
    pub(crate) fn apply(&self, incoming: Locus, device_url: Option<&str>, epoch: u64) -> Applied {
        let mut state = self.lock();
        if let Err(message) = apply::validate(&incoming) {
            let url = if incoming.url.is_empty() {
                state.locus_url.clone().unwrap_or_default()
            } else {
                incoming.url.clone()
            };
            let error = MeetingError::malformed(&url, message);
            tracing::warn!(meeting = %self.inner.id, error = %error, "locus document not applied");
            state.last_error = Some(Arc::new(error));
            return Applied::Malformed;
        }
        match apply::decide(state.doc.as_ref(), &incoming) {
            Decision::Apply(next) => {
                let next = match state.pending.drain_onto(&next) {
                    Some(further) => further,
                    None => *next,
                };
                state.set_doc(next, device_url, epoch);
                Applied::Changed
            }
            Decision::Stale => Applied::Stale,
            Decision::Queue => Applied::Queued(state.pending.push(incoming)),
            Decision::Resync => Applied::Resync,
        }
    }

    /// Replaces the working copy with a freshly fetched full document
    /// (whatever its sequence: the server's copy is the truth), then applies
    /// queued deltas that fit on it.
    pub(crate) fn reset(&self, fetched: Locus, device_url: Option<&str>, epoch: u64) -> Applied {
        let mut state = self.lock();
        state.resync_scheduled = false;
        if let Err(message) = apply::validate(&fetched) {
            let error = MeetingError::malformed(&fetched.url, message);
            tracing::warn!(meeting = %self.inner.id, error = %error, "fetched locus not applied");
            state.last_error = Some(Arc::new(error));
            return Applied::Malformed;
        }
        let newer = state
            .doc
            .as_ref()
            .and_then(|d| d.sequence.last())
            .is_none_or(|have| fetched.sequence.last().is_some_and(|got| got >= have));
        let base = if newer {
            fetched
        } else {
            // A live event got here first with something newer.
            match state.doc.clone() {
                Some(d) => d,
                None => fetched,
            }
        };
        let next = state.pending.drain_onto(&base).unwrap_or(base);
        state.pending.clear();
        state.set_doc(next, device_url, epoch);
        Applied::Changed
    }

    /// Leaves the list: subscribers' streams end.
    pub(crate) fn mark_removed(&self) {
        let mut state = self.lock();
        state.removed = true;
        state.take_media();
        state.events.close();
    }
}

impl MeetingState {
    /// Installs `next` as the working copy and emits the differences.
    fn set_doc(&mut self, mut next: Locus, device_url: Option<&str>, epoch: u64) {
        let old = self.doc.take();
        // A document without `mediaShares` says nothing about them: the
        // official SDK keeps the last array.
        if next.media_shares.is_none() {
            next.media_shares = old.as_ref().and_then(|d| d.media_shares.clone());
        }
        // The same for `activeSpeaker` (deltas leave it out).
        if next.active_speaker.is_none() {
            next.active_speaker = old.as_ref().and_then(|d| d.active_speaker.clone());
        }
        let old_speaker = old.as_ref().and_then(|d| d.active_speaker.clone());
        let new_speaker = next.active_speaker.clone();
        let old_share = old
            .as_ref()
            .map_or(share::ShareStatus::None, |d| share::status(d, device_url));
        let new_share = share::status(&next, device_url);
        let share_url = next
            .media_share("content")
            .map(|s| s.url.clone())
            .unwrap_or_default();
        let old_state = old
            .as_ref()
            .and_then(|d| d.full_state.as_ref())
            .map(|f| f.state.clone());
        let new_state = next.full_state.as_ref().map(|f| f.state.clone());
        let old_roster = old.as_ref().map(roster::roster).unwrap_or_default();
        let new_roster = roster::roster(&next);
        let was_joined = old
            .as_ref()
            .is_some_and(|d| apply::device_joined(d, device_url));
        let now_joined = apply::device_joined(&next, device_url);
        let was_waiting = old
            .as_ref()
            .is_some_and(|d| apply::device_waiting(d, device_url));
        let now_waiting = apply::device_waiting(&next, device_url);

        self.locus_url = Some(next.url.clone());
        if let Some(info) = &next.info {
            if !info.sip_uri.is_empty() {
                self.sip_uri = Some(info.sip_uri.clone());
            }
            if let Some(n) = &info.web_ex_meeting_id {
                self.meeting_number = Some(n.clone());
            }
        }
        self.ever_joined |= now_joined;
        self.touched = epoch;
        self.doc = Some(next);

        if let Some(current) = new_state
            && old_state.as_ref() != Some(&current)
        {
            self.emit(MeetingEvent::StateChange {
                previous: old_state,
                current,
            });
        }
        let delta = roster::diff(&old_roster, &new_roster);
        if !delta.is_empty() {
            self.emit(MeetingEvent::MembersUpdate(delta));
        }
        if was_joined && !now_joined {
            self.take_media();
            self.emit(MeetingEvent::SelfLeft);
        }
        if now_waiting && !was_waiting {
            self.emit(MeetingEvent::LobbyWaiting);
        }
        if was_waiting && now_joined {
            self.emit(MeetingEvent::GuestAdmitted);
        }
        for event in share::events(&old_share, &new_share, &share_url) {
            self.emit(event);
        }
        if let Some(speaker) = new_speaker
            && old_speaker.as_ref() != Some(&speaker)
        {
            self.emit(MeetingEvent::ActiveSpeakerChanged {
                member_ids: vec![speaker.participant_id],
            });
        }
    }

    pub(super) fn emit(&mut self, event: MeetingEvent) {
        self.events.emit(event);
    }
}

impl std::fmt::Debug for Meeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Meeting")
            .field("id", &self.inner.id)
            .field("destination", &self.inner.destination)
            .field("locus_url", &state.locus_url)
            .field(
                "state",
                &state
                    .doc
                    .as_ref()
                    .and_then(|d| d.full_state.as_ref())
                    .map(|f| f.state.as_str().to_owned()),
            )
            .finish_non_exhaustive()
    }
}
