//! A client's copy of a meeting roster, kept the way the official SDK keeps
//! its Locus (`locus-info/parser.ts`): a full document replaces the copy
//! when it is newer; a `locus.difference` delta applies once its
//! `baseSequence` is not newer than the copy (participants merged by id)
//! and waits otherwise; anything not newer than the copy is dropped.
//!
//! Participants are held by id, so applying a delta costs O(changed), not
//! O(meeting) — a thousand clients following a thousand-person meeting
//! must not make the load generator the bottleneck.
//!
//! ```
//! use webex_bench::roster::Roster;
//! use webex_wire::locus::{Locus, LocusEventType, Participant, Sequence};
//!
//! let mut r = Roster::default();
//! let p = |id: &str| Participant { id: id.into(), ..Participant::default() };
//! let full = Locus { participants: vec![p("a")], sequence: Sequence::single(1), ..Locus::default() };
//! let delta = Locus {
//!     participants: vec![p("b")],
//!     sequence: Sequence::single(2),
//!     base_sequence: Some(Sequence::single(1)),
//!     ..Locus::default()
//! };
//! // Out of order: the delta waits for its base.
//! r.apply(LocusEventType::Difference, delta);
//! assert_eq!(r.sequence(), 0);
//! r.apply(LocusEventType::ParticipantJoined, full);
//! assert_eq!((r.sequence(), r.len()), (2, 2));
//! ```

use std::collections::HashMap;

use webex_wire::locus::{Locus, LocusEventType, Participant};

/// Most deltas a roster keeps waiting for their base; past this it drops
/// the oldest (the client then needs a resync, as the SDK would).
const MAX_WAITING: usize = 4096;

/// One client's roster of one meeting.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    sequence: u64,
    participants: HashMap<String, Participant>,
    waiting: Vec<Locus>,
    /// Deltas dropped because too many were waiting.
    pub overflowed: u64,
}

impl Roster {
    /// The sequence of the copy (`0`: nothing applied yet).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Participants in the copy (joined and left).
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// Whether the copy holds no participant.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Deltas waiting for an earlier change.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Applies one document: a full one (join answer, `GET`, or a full
    /// event) or a delta (`event_type` is `locus.difference` and it has a
    /// `baseSequence`).
    pub fn apply(&mut self, event_type: LocusEventType, locus: Locus) {
        if event_type == LocusEventType::Difference && locus.base_sequence.is_some() {
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.remove(0);
                self.overflowed += 1;
            }
            self.waiting.push(locus);
            self.drain();
        } else {
            self.replace(locus);
        }
    }

    /// Replaces the copy with the full document `locus` (a join answer, a
    /// `GET`) when it is newer, then applies the deltas that waited for it.
    pub fn replace(&mut self, locus: Locus) {
        let seq = locus.sequence.last().unwrap_or(0);
        if seq > self.sequence {
            self.sequence = seq;
            self.participants = locus
                .participants
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
        }
        self.drain();
    }

    /// Applies the waiting deltas that have become applicable, in order.
    fn drain(&mut self) {
        loop {
            let current = self.sequence;
            self.waiting
                .retain(|d| d.sequence.last().unwrap_or(0) > current);
            let Some(i) = self.waiting.iter().position(|d| {
                d.base_sequence.as_ref().and_then(|b| b.last()).unwrap_or(0) <= current
            }) else {
                return;
            };
            let delta = self.waiting.swap_remove(i);
            self.sequence = delta.sequence.last().unwrap_or(current);
            for p in delta.participants {
                self.participants.insert(p.id.clone(), p);
            }
        }
    }

    /// Whether the copy's participants equal `truth`'s (order ignored).
    pub fn matches(&self, truth: &Locus) -> bool {
        self.participants.len() == truth.participants.len()
            && truth
                .participants
                .iter()
                .all(|p| self.participants.get(&p.id) == Some(p))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use webex_wire::locus::{ParticipantState, Sequence};

    use super::*;

    fn p(id: &str, state: ParticipantState) -> Participant {
        Participant {
            id: id.into(),
            state,
            ..Participant::default()
        }
    }

    fn doc(seq: u64, base: Option<u64>, ps: Vec<Participant>) -> Locus {
        Locus {
            participants: ps,
            sequence: Sequence::single(seq),
            base_sequence: base.map(Sequence::single),
            ..Locus::default()
        }
    }

    #[test]
    fn deltas_apply_in_order_whatever_order_they_arrive_in() {
        let mut r = Roster::default();
        r.apply(
            LocusEventType::ParticipantJoined,
            doc(5, None, vec![p("a", ParticipantState::Joined)]),
        );
        r.apply(
            LocusEventType::Difference,
            doc(7, Some(6), vec![p("a", ParticipantState::Left)]),
        );
        assert_eq!((r.sequence(), r.waiting()), (5, 1));
        r.apply(
            LocusEventType::Difference,
            doc(6, Some(5), vec![p("b", ParticipantState::Joined)]),
        );
        assert_eq!((r.sequence(), r.waiting()), (7, 0));
        let truth = doc(
            7,
            None,
            vec![
                p("b", ParticipantState::Joined),
                p("a", ParticipantState::Left),
            ],
        );
        assert!(r.matches(&truth));
    }

    #[test]
    fn a_join_answer_releases_the_deltas_that_beat_it() {
        let mut r = Roster::default();
        r.apply(
            LocusEventType::Difference,
            doc(4, Some(3), vec![p("b", ParticipantState::Joined)]),
        );
        r.replace(doc(3, None, vec![p("a", ParticipantState::Joined)]));
        assert_eq!((r.sequence(), r.len(), r.waiting()), (4, 2, 0));
    }

    #[test]
    fn stale_documents_are_dropped() {
        let mut r = Roster::default();
        r.apply(
            LocusEventType::ParticipantJoined,
            doc(9, None, vec![p("a", ParticipantState::Joined)]),
        );
        r.apply(LocusEventType::ParticipantLeft, doc(8, None, Vec::new()));
        r.apply(
            LocusEventType::Difference,
            doc(9, Some(8), vec![p("z", ParticipantState::Joined)]),
        );
        assert_eq!((r.sequence(), r.len(), r.waiting()), (9, 1, 0));
    }
}
