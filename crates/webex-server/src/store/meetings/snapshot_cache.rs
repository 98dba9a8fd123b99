//! The last committed [`MeetingSnapshot`] of recently changed meetings, so a
//! change of a large meeting does not reload every participant.
//!
//! A change of a Locus locks its row and reads its `sequence` first. Every
//! write to a Locus's participants or devices goes through
//! `MeetingStore::change_meeting`, which bumps that sequence by one in the
//! same transaction, on whichever node makes it. So a cached snapshot whose
//! sequence equals the locked row's is exactly what the database holds, and
//! any other sequence means someone else changed the meeting since (another
//! node, or a transaction of this one that is still committing): the change
//! then loads the meeting from the database as before.
//!
//! With several writers (PostgreSQL, several nodes) only snapshots of
//! committed transactions are put here (after the store call returned `Ok`):
//! a rolled-back change is never seen, so a sequence never names two
//! different snapshots. SQLite's single writer also replaces the entry
//! inside its transaction, so the next change of a batch it commits at once
//! finds it; see [`SnapshotCache::replace`] for why a rollback cannot leave a
//! wrong snapshot behind. Participants' names, emails and orgs come from
//! `people`, which the server never updates.
//!
//! Memory is bounded by the number of participants held in all (see
//! [`SnapshotCache::new`]); the least recently changed meetings go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::MeetingSnapshot;

/// Recently committed meeting snapshots, by Locus id.
#[derive(Debug)]
pub(crate) struct SnapshotCache {
    inner: Mutex<Entries>,
    /// Most participants held over all cached meetings.
    budget: usize,
}

#[derive(Debug, Default)]
struct Entries {
    by_locus: HashMap<String, Entry>,
    /// Participants (at least 1 per meeting) over all entries.
    held: usize,
    /// Increases with every put, to find the least recently changed entry.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    snapshot: Arc<MeetingSnapshot>,
    touched: u64,
}

/// What one cached meeting counts against the budget.
fn weight(s: &MeetingSnapshot) -> usize {
    s.participants.len().max(1)
}

impl SnapshotCache {
    /// Participants held by default: a few dozen large meetings, or
    /// thousands of small ones (~0.5 KB each).
    pub(crate) const DEFAULT_BUDGET: usize = 100_000;

    /// A cache holding at most `budget` participants over all meetings.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            inner: Mutex::new(Entries::default()),
            budget,
        }
    }

    /// The cached snapshot of `locus_id` if it is at `sequence`.
    pub(crate) fn get(&self, locus_id: &str, sequence: u64) -> Option<Arc<MeetingSnapshot>> {
        let entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .by_locus
            .get(locus_id)
            .filter(|e| e.snapshot.locus.sequence == sequence)
            .map(|e| e.snapshot.clone())
    }

    /// Remembers `snapshot`, which a committed transaction produced, unless
    /// a newer one of the same meeting is already here.
    pub(crate) fn put(&self, snapshot: Arc<MeetingSnapshot>) {
        self.store(snapshot, false);
    }

    /// Remembers `snapshot`, which the single writer's open transaction
    /// produced, over whatever is here (SQLite only: see
    /// [`SnapshotCache::forget`]).
    ///
    /// SQLite's writer commits queued transactions in batches, and the next
    /// change of the same meeting in a batch sees this one's rows before the
    /// commit: it must find this snapshot too, or it reloads the meeting.
    /// Should the batch roll back, the database's sequence stays below this
    /// snapshot's, so no change hits it; the next change of the meeting
    /// reloads and replaces it, and the failed caller forgets it.
    pub(crate) fn replace(&self, snapshot: Arc<MeetingSnapshot>) {
        self.store(snapshot, true);
    }

    /// Drops what is remembered of `locus_id` (its change failed).
    pub(crate) fn forget(&self, locus_id: &str) {
        let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = entries.by_locus.remove(locus_id) {
            entries.held -= weight(&e.snapshot);
        }
    }

    fn store(&self, snapshot: Arc<MeetingSnapshot>, overwrite: bool) {
        let w = weight(&snapshot);
        if w > self.budget {
            return;
        }
        let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entries.clock += 1;
        let touched = entries.clock;
        let id = snapshot.locus.id.clone();
        let old_weight = match entries.by_locus.get(&id) {
            Some(e) if !overwrite && e.snapshot.locus.sequence >= snapshot.locus.sequence => {
                return;
            }
            Some(e) => weight(&e.snapshot),
            None => 0,
        };
        entries.held = entries.held - old_weight + w;
        entries.by_locus.insert(id, Entry { snapshot, touched });
        while entries.held > self.budget {
            let Some(oldest) = entries
                .by_locus
                .iter()
                .min_by_key(|(_, e)| e.touched)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = entries.by_locus.remove(&oldest) {
                entries.held -= weight(&e.snapshot);
            }
        }
    }
}

impl Default for SnapshotCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUDGET)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::locus::document::tests::sample;

    fn at(id: &str, sequence: u64, people: usize) -> Arc<MeetingSnapshot> {
        let mut s = sample(people);
        s.locus.id = id.into();
        s.locus.sequence = sequence;
        Arc::new(s)
    }

    #[test]
    fn hits_only_at_the_same_sequence() {
        let cache = SnapshotCache::new(100);
        cache.put(at("a", 3, 2));
        assert!(cache.get("a", 3).is_some());
        assert!(cache.get("a", 4).is_none());
        assert!(cache.get("b", 3).is_none());
    }

    #[test]
    fn never_goes_back_to_an_older_sequence() {
        let cache = SnapshotCache::new(100);
        cache.put(at("a", 5, 2));
        cache.put(at("a", 4, 2));
        assert!(cache.get("a", 5).is_some());
        assert!(cache.get("a", 4).is_none());
    }

    #[test]
    fn replace_overwrites_and_forget_drops() {
        let cache = SnapshotCache::new(100);
        cache.replace(at("a", 5, 2));
        cache.replace(at("a", 4, 3));
        assert_eq!(cache.get("a", 4).unwrap().participants.len(), 3);
        cache.forget("a");
        assert!(cache.get("a", 4).is_none());
        cache.forget("a");
        cache.put(at("a", 1, 100));
        assert!(cache.get("a", 1).is_some(), "the budget was given back");
    }

    #[test]
    fn evicts_the_least_recently_changed_beyond_the_budget() {
        let cache = SnapshotCache::new(10);
        cache.put(at("a", 1, 4));
        cache.put(at("b", 1, 4));
        cache.put(at("a", 2, 4));
        cache.put(at("c", 1, 4));
        assert!(cache.get("b", 1).is_none(), "b was changed least recently");
        assert!(cache.get("a", 2).is_some());
        assert!(cache.get("c", 1).is_some());
        // A meeting larger than the whole budget is not cached at all.
        cache.put(at("d", 1, 11));
        assert!(cache.get("d", 1).is_none());
        assert!(cache.get("c", 1).is_some());
    }
}
