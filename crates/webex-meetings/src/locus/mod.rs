//! The meetings list (Locus, `locus-protocol.md` §1–4): `sync`, `create`,
//! `list`/`get` behind [`crate::Meetings`]; `join`, `leave`, `end_for_all`,
//! `members` on [`Meeting`]; and their events. It works with the SDK's
//! `Core` and knows nothing of the registration, which feeds it Mercury
//! events and runs its worker while registered.
//!
//! - `apply`: documents and `locus.difference` deltas applied by
//!   sequence (§4.3), pure and unit-tested.
//! - `collection`: one meeting per Locus, lookup order of §1.4, pruning on
//!   sync; every document is applied under the list's lock.
//! - `list`: `sync` and `create`, the list's calls to the server.
//! - `meeting`: the [`Meeting`] handle, its working copy and subscribers.
//! - `join`: `join`, `leave` and `end_for_all` on [`Meeting`].
//! - `media`: `add_media`, `stop_media`, mute, and the media teardown
//!   of leave, end and removal (the machinery is in [`crate::media`]).
//! - `lobby`: what a host does about the lobby: `admit`, `lock_meeting`,
//!   `unlock_meeting`.
//! - `requests`: the HTTP calls, each bounded and mapped to
//!   [`MeetingError`].
//! - `worker`: Mercury `locus.*` events in order, sync after reconnects,
//!   resynchronisations after a gap; stopped by `unregister()`.
//! - `share`: who shares content (`mediaShares`), its events, and the
//!   floor request and release on [`Meeting`].
//! - `roster`, `events`, `destination`, `options`: members, event types,
//!   destination parsing, timeouts.

mod apply;
mod collection;
mod destination;
mod error;
mod events;
mod hash_tree;
mod join;
mod list;
mod lobby;
mod media;
mod meeting;
mod options;
mod permission;
pub(crate) mod requests;
mod roster;
mod share;
pub(crate) mod worker;

pub(crate) use collection::{Collection, Input};
pub use error::MeetingError;
pub use events::{MeetingEvent, MeetingEventStream};
pub use meeting::Meeting;
pub use options::MeetingOptions;
pub use roster::{Member, MemberStatus, MembersDelta};
pub use share::ShareStatus;

/// A meeting with no SDK behind it, for unit tests.
#[cfg(test)]
pub(crate) fn test_meeting() -> Meeting {
    Meeting::new(
        std::sync::Weak::new(),
        meeting::Origin::Created,
        None,
        meeting::MeetingState::default(),
    )
}
