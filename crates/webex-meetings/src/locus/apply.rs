//! Applying Locus documents by sequence (`locus-protocol.md` §4.3), as pure
//! functions on a meeting's working copy: no I/O, no clock, no locks.
//!
//! - A **full document** (any `locus.*` event but `locus.difference`, sync
//!   and API answers without `baseSequence`) replaces the working copy when
//!   its sequence is newer, and is ignored otherwise.
//! - A **delta** (has `baseSequence`) newer than the working copy is merged
//!   when the working copy has reached its base; it waits in a queue when
//!   its base is ahead (the deltas in between are missing), and asks for a
//!   resynchronisation when it cannot be placed at all.

use webex_wire::locus::{Locus, LocusState, ParticipantState};

/// What to do with an incoming document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Make this the new working copy (a full document, or a delta merged
    /// onto the old copy).
    Apply(Box<Locus>),
    /// Drop it: the working copy is as new or newer.
    Stale,
    /// A delta whose base is ahead of the working copy: keep it until the
    /// missing deltas arrive or a resynchronisation replaces the copy.
    Queue,
    /// The document cannot be placed (a delta without a working copy, or
    /// for another URL, or a desync): fetch the full document.
    Resync,
}

/// Whether `doc` is a delta (it names the version it applies on top of).
pub(crate) fn is_delta(doc: &Locus) -> bool {
    doc.base_sequence.is_some()
}

/// Decides what `incoming` does to `current` (§4.3).
pub(crate) fn decide(current: Option<&Locus>, incoming: &Locus) -> Decision {
    let version = incoming.sequence.last();
    if !is_delta(incoming) {
        let newer = match (current.and_then(|c| c.sequence.last()), version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(have), Some(got)) => got > have,
        };
        return if newer {
            Decision::Apply(Box::new(incoming.clone()))
        } else {
            Decision::Stale
        };
    }
    let Some(current) = current else {
        return Decision::Resync;
    };
    let (Some(have), Some(got)) = (current.sequence.last(), version) else {
        return Decision::Resync;
    };
    if got <= have {
        return Decision::Stale;
    }
    if !current.url.is_empty() && !incoming.url.is_empty() && current.url != incoming.url {
        return Decision::Resync;
    }
    let base = incoming
        .base_sequence
        .as_ref()
        .and_then(webex_wire::locus::Sequence::last)
        .unwrap_or(0);
    if have >= base {
        Decision::Apply(Box::new(merge(current, incoming)))
    } else if base == got {
        Decision::Resync
    } else {
        Decision::Queue
    }
}

/// `current` with the parts `delta` carries: every top-level field it has
/// replaces the old one, participants are merged by id.
pub(crate) fn merge(current: &Locus, delta: &Locus) -> Locus {
    let mut next = current.clone();
    if !delta.url.is_empty() {
        next.url.clone_from(&delta.url);
    }
    macro_rules! take {
        ($($field:ident),*) => {$(
            if delta.$field.is_some() {
                next.$field.clone_from(&delta.$field);
            }
        )*};
    }
    take!(
        created,
        full_state,
        info,
        host,
        controls,
        sync_url,
        conversation_url,
        media_shares
    );
    for p in &delta.participants {
        match next.participants.iter_mut().find(|q| q.id == p.id) {
            Some(q) => *q = p.clone(),
            None => next.participants.push(p.clone()),
        }
    }
    match &delta.self_ {
        Some(s) => next.self_ = Some(s.clone()),
        // The reader's own participant changed without a `self`: keep
        // `self` in step with it.
        None => {
            if let Some(own) = next
                .self_
                .as_ref()
                .and_then(|s| delta.participant(&s.id))
                .cloned()
            {
                next.self_ = Some(own);
            }
        }
    }
    next.sequence = delta.sequence.clone();
    next.base_sequence = None;
    next
}

/// Checks what this SDK relies on in a document it is about to apply;
/// `Err` says what is missing or wrong. A delta only needs its URL and
/// sequences; a full document also needs `fullState`.
pub(crate) fn validate(doc: &Locus) -> Result<(), String> {
    if doc.url.trim().is_empty() {
        return Err("no `url`".into());
    }
    if url::Url::parse(&doc.url).is_err() {
        return Err(format!("`url` {:?} is not a URL", doc.url));
    }
    if doc.sequence.last().is_none() {
        return Err("no `sequence` version".into());
    }
    if !is_delta(doc) && doc.full_state.is_none() {
        return Err("a full document without `fullState`".into());
    }
    if let Some(p) = doc.participants.iter().find(|p| p.id.is_empty()) {
        return Err(format!(
            "a participant without an `id` ({})",
            p.person.name.chars().take(64).collect::<String>()
        ));
    }
    if doc.self_.as_ref().is_some_and(|s| s.id.is_empty()) {
        return Err("`self` without an `id`".into());
    }
    Ok(())
}

/// Whether the document says the meeting is over (INACTIVE or TERMINATING).
pub(crate) fn is_ended(doc: &Locus) -> bool {
    doc.full_state
        .as_ref()
        .is_some_and(|f| matches!(f.state, LocusState::Inactive | LocusState::Terminating))
}

/// Whether `device_url` is joined according to `doc`'s `self`.
pub(crate) fn device_joined(doc: &Locus, device_url: Option<&str>) -> bool {
    let Some(s) = &doc.self_ else { return false };
    match device_url {
        Some(url) => s
            .device(url)
            .is_some_and(|d| d.state == ParticipantState::Joined),
        None => s.state == ParticipantState::Joined,
    }
}

/// Whether `device_url` waits in the lobby according to `doc`'s `self`
/// (the official SDK's rule: `self.state` IDLE and the device's
/// `intent.type` WAIT; any device when `device_url` is `None`).
pub(crate) fn device_waiting(doc: &Locus, device_url: Option<&str>) -> bool {
    let Some(s) = &doc.self_ else { return false };
    let waits = |d: &webex_wire::locus::ParticipantDevice| {
        d.intent.as_ref().is_some_and(|i| i.kind == "WAIT")
    };
    s.state == ParticipantState::Idle
        && match device_url {
            Some(url) => s.device(url).is_some_and(waits),
            None => s.devices.iter().any(waits),
        }
}

/// The correlation id of `device_url`'s entry in `doc`'s `self`.
pub(crate) fn device_correlation<'a>(doc: &'a Locus, device_url: &str) -> Option<&'a str> {
    doc.self_
        .as_ref()?
        .device(device_url)?
        .correlation_id
        .as_deref()
}

/// A queue of deltas waiting for the ones before them.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    deltas: Vec<Locus>,
}

impl Pending {
    /// Queues `delta`; returns the queue length.
    pub(crate) fn push(&mut self, delta: Locus) -> usize {
        self.deltas.push(delta);
        self.deltas.len()
    }

    /// How many are queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.deltas.len()
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.deltas.clear();
    }

    /// Applies every queued delta that now fits onto `current`, in sequence
    /// order, dropping the stale ones; returns the new working copy when at
    /// least one applied. Deltas still ahead stay queued.
    pub(crate) fn drain_onto(&mut self, current: &Locus) -> Option<Locus> {
        self.deltas.sort_by_key(|d| d.sequence.last());
        let mut working: Option<Locus> = None;
        loop {
            let base = working.as_ref().unwrap_or(current);
            let mut applied = None;
            let mut keep = Vec::with_capacity(self.deltas.len());
            for d in self.deltas.drain(..) {
                if applied.is_some() {
                    keep.push(d);
                    continue;
                }
                match decide(Some(base), &d) {
                    Decision::Apply(next) => applied = Some(*next),
                    Decision::Stale | Decision::Resync => {}
                    Decision::Queue => keep.push(d),
                }
            }
            self.deltas = keep;
            match applied {
                Some(next) => working = Some(next),
                None => return working,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use webex_wire::locus::{FullState, Participant, Sequence};

    use super::*;

    const URL: &str = "https://srv/locus/api/v1/loci/1";

    fn person(id: &str, state: ParticipantState) -> Participant {
        Participant {
            id: id.into(),
            state,
            ..Participant::default()
        }
    }

    fn full(seq: u64, participants: &[&str]) -> Locus {
        Locus {
            url: URL.into(),
            full_state: Some(FullState {
                state: LocusState::Active,
                ..FullState::default()
            }),
            participants: participants
                .iter()
                .map(|id| person(id, ParticipantState::Joined))
                .collect(),
            sequence: Sequence::single(seq),
            ..Locus::default()
        }
    }

    fn delta(base: u64, seq: u64, participant: Participant) -> Locus {
        Locus {
            url: URL.into(),
            participants: vec![participant],
            sequence: Sequence::single(seq),
            base_sequence: Some(Sequence::single(base)),
            ..Locus::default()
        }
    }

    fn ids(doc: &Locus) -> Vec<(&str, &ParticipantState)> {
        doc.participants
            .iter()
            .map(|p| (p.id.as_str(), &p.state))
            .collect()
    }

    #[test]
    fn a_newer_full_document_replaces_an_older_one_is_ignored() {
        let current = full(5, &["a"]);
        assert!(
            matches!(decide(Some(&current), &full(6, &["a", "b"])), Decision::Apply(d) if d.participants.len() == 2)
        );
        assert_eq!(
            decide(Some(&current), &full(5, &["a", "b"])),
            Decision::Stale
        );
        assert_eq!(decide(Some(&current), &full(4, &[])), Decision::Stale);
        assert!(matches!(decide(None, &full(1, &[])), Decision::Apply(_)));
    }

    #[test]
    fn a_full_document_without_a_version_never_replaces_one_with_a_version() {
        let mut unversioned = full(0, &[]);
        unversioned.sequence = Sequence::default();
        assert_eq!(
            decide(Some(&full(3, &["a"])), &unversioned),
            Decision::Stale
        );
    }

    #[test]
    fn a_delta_on_the_current_version_is_merged_by_participant_id() {
        let current = full(5, &["a", "b"]);
        let d = delta(5, 6, person("b", ParticipantState::Left));
        let Decision::Apply(next) = decide(Some(&current), &d) else {
            panic!("should apply");
        };
        assert_eq!(
            ids(&next),
            [
                ("a", &ParticipantState::Joined),
                ("b", &ParticipantState::Left)
            ]
        );
        assert_eq!(next.sequence.last(), Some(6));
        assert!(next.base_sequence.is_none());
        // Parts the delta does not carry are kept.
        assert!(next.full_state.is_some());
    }

    #[test]
    fn a_delta_based_on_an_older_version_still_applies_when_newer() {
        let current = full(7, &["a"]);
        let d = delta(5, 8, person("c", ParticipantState::Joined));
        assert!(matches!(decide(Some(&current), &d), Decision::Apply(_)));
    }

    #[test]
    fn stale_deltas_are_ignored() {
        let current = full(7, &["a"]);
        assert_eq!(
            decide(
                Some(&current),
                &delta(6, 7, person("a", ParticipantState::Left))
            ),
            Decision::Stale
        );
    }

    #[test]
    fn a_delta_whose_base_is_ahead_waits_and_one_that_cannot_fit_resyncs() {
        let current = full(5, &["a"]);
        assert_eq!(
            decide(
                Some(&current),
                &delta(6, 7, person("b", ParticipantState::Joined))
            ),
            Decision::Queue
        );
        // baseSequence == sequence: the server says "start from scratch".
        assert_eq!(
            decide(
                Some(&current),
                &delta(7, 7, person("b", ParticipantState::Joined))
            ),
            Decision::Resync
        );
        // Nothing to apply it on (the first event of a meeting was a delta).
        assert_eq!(
            decide(None, &delta(6, 7, person("b", ParticipantState::Joined))),
            Decision::Resync
        );
        let mut elsewhere = delta(5, 6, person("b", ParticipantState::Joined));
        elsewhere.url = "https://srv/locus/api/v1/loci/2".into();
        assert_eq!(decide(Some(&current), &elsewhere), Decision::Resync);
    }

    #[test]
    fn queued_deltas_apply_in_order_once_the_gap_is_filled() {
        let current = full(5, &["a"]);
        let mut pending = Pending::default();
        // 8 and 7 arrive before 6.
        pending.push(delta(7, 8, person("c", ParticipantState::Joined)));
        pending.push(delta(6, 7, person("b", ParticipantState::Joined)));
        assert!(pending.drain_onto(&current).is_none());
        assert_eq!(pending.len(), 2);

        let Decision::Apply(at6) = decide(
            Some(&current),
            &delta(5, 6, person("a", ParticipantState::Left)),
        ) else {
            panic!("6 fits on 5");
        };
        let at8 = pending.drain_onto(&at6).expect("7 and 8 now fit");
        assert_eq!(at8.sequence.last(), Some(8));
        assert_eq!(
            ids(&at8),
            [
                ("a", &ParticipantState::Left),
                ("b", &ParticipantState::Joined),
                ("c", &ParticipantState::Joined)
            ]
        );
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn a_resync_makes_queued_deltas_stale() {
        let mut pending = Pending::default();
        pending.push(delta(6, 7, person("b", ParticipantState::Joined)));
        pending.push(delta(9, 10, person("d", ParticipantState::Joined)));
        let fetched = full(8, &["a", "b"]);
        assert!(pending.drain_onto(&fetched).is_none());
        // 7 is older than the fetched copy: gone; 10 still waits for 9.
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn self_follows_the_readers_participant_in_a_delta() {
        let mut current = full(5, &["a", "me"]);
        current.self_ = Some(person("me", ParticipantState::Joined));
        let d = delta(5, 6, person("me", ParticipantState::Left));
        let next = merge(&current, &d);
        assert_eq!(next.self_.map(|s| s.state), Some(ParticipantState::Left));
    }

    #[test]
    fn validation_names_what_is_missing() {
        assert!(validate(&full(1, &["a"])).is_ok());
        let mut no_url = full(1, &[]);
        no_url.url.clear();
        assert!(validate(&no_url).unwrap_err().contains("url"));
        let mut no_state = full(1, &[]);
        no_state.full_state = None;
        assert!(validate(&no_state).unwrap_err().contains("fullState"));
        // A delta needs no fullState.
        assert!(validate(&delta(1, 2, person("a", ParticipantState::Joined))).is_ok());
        let mut no_seq = full(1, &[]);
        no_seq.sequence = Sequence::default();
        assert!(validate(&no_seq).unwrap_err().contains("sequence"));
        let anonymous = full(1, &[""]);
        assert!(validate(&anonymous).unwrap_err().contains("participant"));
        let mut bad_self = full(1, &[]);
        bad_self.self_ = Some(Participant::default());
        assert!(validate(&bad_self).unwrap_err().contains("self"));
    }

    #[test]
    fn ended_and_joined_are_read_from_the_document() {
        let mut doc = full(1, &[]);
        assert!(!is_ended(&doc));
        if let Some(f) = doc.full_state.as_mut() {
            f.state = LocusState::Inactive;
        }
        assert!(is_ended(&doc));

        let mut me = person("me", ParticipantState::Joined);
        me.devices.push(webex_wire::locus::ParticipantDevice {
            url: "dev1".into(),
            state: ParticipantState::Joined,
            correlation_id: Some("corr".into()),
            device_type: "WEB".into(),
            ..Default::default()
        });
        doc.self_ = Some(me);
        assert!(device_joined(&doc, Some("dev1")));
        assert!(!device_joined(&doc, Some("dev2")));
        assert_eq!(device_correlation(&doc, "dev1"), Some("corr"));
        assert_eq!(device_correlation(&doc, "dev2"), None);
    }
}
