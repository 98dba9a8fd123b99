//! In-memory cache of authenticated callers, keyed by the token's SHA-256
//! hash (never its text).
//!
//! Every authenticated request used to cost two store round trips (token by
//! hash, then person by id). [`AuthCache`] keeps the result of a successful
//! [`authenticate_token`](crate::auth::authenticate_token) for a short time:
//!
//! - an entry lives at most [`DEFAULT_TTL`] and never past the token's own
//!   `expires_at` (checked against the caller's clock on every hit);
//! - the cache holds at most [`DEFAULT_CAPACITY`] entries; when a shard is
//!   full an arbitrary entry of it is dropped;
//! - revocations invalidate it: [`InvalidatingBus`] drops the entry of every
//!   [`BusMessage::TokenRevoked`] this node publishes *before* the message
//!   leaves the node (so a revoked token never authenticates here once the
//!   revoking call returned), and the bus listener drops the entries of every
//!   revocation any node publishes (other nodes: within the bus latency). A
//!   listener that fell behind the bus clears the whole cache.
//! - a lookup racing with a revocation cannot re-insert the stale record: an
//!   invalidation epoch is read before the store lookup, and the insert is
//!   skipped if any invalidation happened since.
//!
//! Known staleness, bounded by the TTL: a person's profile changes (e.g. a
//! new display name) and revocations made without a bus (the `webex token
//! revoke` CLI acting on the database directly, or a bus outage while
//! announcing).

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::auth::Caller;
use crate::bus::{Bus, BusError, BusMessage, ConnectionInfo, PresenceChange, PresenceSource};
use crate::store::{Millis, SecretHash};

/// How long a cached caller is trusted without asking the store again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Upper bound on cached callers.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Independent locks, so concurrent requests rarely contend.
const SHARDS: usize = 16;

struct Entry {
    caller: Caller,
    fresh_until: Instant,
}

/// Cached callers by token hash. Cheap to clone (shared).
///
/// ```
/// use std::time::Duration;
/// use webex_server::auth_cache::AuthCache;
/// use webex_server::store::SecretHash;
///
/// let cache = AuthCache::new(1000, Duration::from_secs(30));
/// let hash = SecretHash("ab12".into());
/// assert!(cache.get(&hash, 0).is_none());
/// cache.invalidate(&hash);
/// assert_eq!(cache.len(), 0);
/// ```
#[derive(Clone)]
pub struct AuthCache(Arc<Inner>);

struct Inner {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    per_shard: usize,
    ttl: Duration,
    /// Bumped by every invalidation; see [`AuthCache::epoch`].
    epoch: AtomicU64,
}

/// Read before a store lookup, handed back to [`AuthCache::insert`]: the
/// insert only happens when no invalidation ran in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(u64);

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("len", &self.len())
            .field("ttl", &self.0.ttl)
            .finish_non_exhaustive()
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl AuthCache {
    /// A cache of at most about `capacity` callers, each trusted for `ttl`.
    /// A zero `capacity` or `ttl` caches nothing.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self(Arc::new(Inner {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            ttl,
            epoch: AtomicU64::new(0),
        }))
    }

    fn shard(&self, hash: &str) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The key is a hex digest: its last character is uniformly spread.
        let i = hash
            .as_bytes()
            .last()
            .map_or(0, |b| usize::from(*b) % SHARDS);
        // A panic while holding the lock cannot leave a map half-updated in a
        // way that matters (each operation is one insert or remove).
        self.0.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current invalidation epoch; read it *before* looking a token up
    /// in the store.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.0.epoch.load(Ordering::SeqCst))
    }

    /// The cached caller of token `hash`, if still fresh and, at `now` (Unix
    /// ms), not past the token's `expires_at`.
    pub fn get(&self, hash: &SecretHash, now: Millis) -> Option<Caller> {
        let mut shard = self.shard(&hash.0);
        let entry = shard.get(&hash.0)?;
        let expired = entry.caller.token.expires_at.is_some_and(|e| e <= now);
        if expired || entry.fresh_until <= Instant::now() {
            shard.remove(&hash.0);
            return None;
        }
        Some(entry.caller.clone())
    }

    /// Caches `caller` (authenticated with its `token.hash`) unless an
    /// invalidation happened since `epoch` was read.
    pub fn insert(&self, epoch: Epoch, caller: Caller) {
        if self.0.per_shard == 0 || self.0.ttl.is_zero() {
            return;
        }
        let key = caller.token.hash.0.clone();
        let mut shard = self.shard(&key);
        // Read under the shard lock: an invalidation of this key bumps the
        // epoch under the same lock, so it is either seen here or runs after
        // this insert (and removes it).
        if self.0.epoch.load(Ordering::SeqCst) != epoch.0 {
            return;
        }
        if shard.len() >= self.0.per_shard
            && !shard.contains_key(&key)
            && let Some(victim) = shard.keys().next().cloned()
        {
            shard.remove(&victim);
        }
        let fresh_until = Instant::now() + self.0.ttl;
        shard.insert(
            key,
            Entry {
                caller,
                fresh_until,
            },
        );
    }

    /// Forgets token `hash` (revoked) and stops in-flight lookups from
    /// caching it.
    pub fn invalidate(&self, hash: &SecretHash) {
        self.invalidate_hex(&hash.0);
    }

    fn invalidate_hex(&self, hash: &str) {
        let mut shard = self.shard(hash);
        shard.remove(hash);
        self.0.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets everything (e.g. the bus listener lost messages).
    pub fn clear(&self) {
        for i in 0..SHARDS {
            let mut shard = self.0.shards[i]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            shard.clear();
            self.0.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Applies a bus message: a [`BusMessage::TokenRevoked`] invalidates its
    /// token; other messages are ignored.
    pub fn on_bus_message(&self, msg: &BusMessage) {
        if let BusMessage::TokenRevoked { token_hash } = msg {
            self.invalidate_hex(token_hash);
        }
    }

    /// Number of cached callers (fresh or not yet swept).
    pub fn len(&self) -> usize {
        self.0
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A [`Bus`] that invalidates this node's [`AuthCache`] for every
/// [`BusMessage::TokenRevoked`] it publishes, before publishing it — even
/// when publishing then fails. Every other call is passed through.
///
/// ```
/// # async fn run() -> anyhow::Result<()> {
/// use std::sync::Arc;
/// use webex_server::auth_cache::{AuthCache, InvalidatingBus};
/// use webex_server::bus::{self, Bus, BusMessage};
///
/// let cache = AuthCache::default();
/// let bus = InvalidatingBus::new(bus::connect(None, "node-1").await?, cache.clone());
/// bus.publish(BusMessage::TokenRevoked { token_hash: "ab".into() }).await?;
/// # Ok(()) }
/// ```
pub struct InvalidatingBus {
    inner: Arc<dyn Bus>,
    cache: AuthCache,
}

impl InvalidatingBus {
    /// Wraps `inner`, invalidating `cache` on outgoing revocations.
    pub fn new(inner: Arc<dyn Bus>, cache: AuthCache) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl Bus for InvalidatingBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        self.cache.on_bus_message(&msg);
        self.inner.publish(msg).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.inner.subscribe()
    }

    fn gaps(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.gaps()
    }

    fn presence_changed(&self, change: PresenceChange) {
        self.inner.presence_changed(change);
    }

    fn attach_presence_source(&self, source: Arc<dyn PresenceSource>) {
        self.inner.attach_presence_source(source);
    }

    async fn online_devices(
        &self,
        device_ids: &[String],
    ) -> Result<Option<HashSet<String>>, BusError> {
        self.inner.online_devices(device_ids).await
    }

    async fn connections(&self) -> Result<Option<Vec<ConnectionInfo>>, BusError> {
        self.inner.connections().await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{PersonRecord, TokenKind, TokenRecord};

    fn caller(hash: &str, expires_at: Option<Millis>) -> Caller {
        Caller {
            person: PersonRecord {
                id: "p1".into(),
                org_id: "o1".into(),
                email: "a@example.com".into(),
                display_name: "A".into(),
                kind: webex_wire::people::PersonType::Person,
                created_at: 0,
            },
            token: TokenRecord {
                hash: SecretHash(hash.into()),
                kind: TokenKind::Access,
                person_id: "p1".into(),
                client_id: None,
                family_id: None,
                grant_source: None,
                scope: String::new(),
                created_at: 0,
                expires_at,
                revoked_at: None,
                used_at: None,
            },
        }
    }

    #[test]
    fn hit_until_token_expiry() {
        let cache = AuthCache::new(100, Duration::from_secs(30));
        let h = SecretHash("aa01".into());
        cache.insert(cache.epoch(), caller("aa01", Some(1_000)));
        assert_eq!(cache.get(&h, 999).unwrap().person.id, "p1");
        assert!(cache.get(&h, 1_000).is_none(), "never past expires_at");
        assert!(cache.is_empty());
    }

    #[test]
    fn ttl_is_honoured() {
        let cache = AuthCache::new(100, Duration::from_millis(1));
        cache.insert(cache.epoch(), caller("aa02", None));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&SecretHash("aa02".into()), 0).is_none());
    }

    #[test]
    fn invalidation_wins_over_a_racing_lookup() {
        let cache = AuthCache::new(100, Duration::from_secs(30));
        let h = SecretHash("aa03".into());
        let before = cache.epoch();
        // A revocation lands between the store lookup and the insert.
        cache.invalidate(&h);
        cache.insert(before, caller("aa03", None));
        assert!(cache.get(&h, 0).is_none());
        cache.insert(cache.epoch(), caller("aa03", None));
        cache.on_bus_message(&BusMessage::TokenRevoked {
            token_hash: "aa03".into(),
        });
        assert!(cache.get(&h, 0).is_none());
    }

    #[test]
    fn size_is_bounded() {
        let cache = AuthCache::new(SHARDS * 2, Duration::from_secs(30));
        for i in 0..1000 {
            cache.insert(cache.epoch(), caller(&format!("{i:04x}"), None));
        }
        assert!(cache.len() <= SHARDS * 2, "{}", cache.len());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = AuthCache::new(0, Duration::from_secs(30));
        cache.insert(cache.epoch(), caller("aa04", None));
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn published_revocations_invalidate_before_leaving() {
        let cache = AuthCache::default();
        let bus = InvalidatingBus::new(Arc::new(crate::bus::LocalBus::new()), cache.clone());
        cache.insert(cache.epoch(), caller("aa05", None));
        bus.publish(BusMessage::TokenRevoked {
            token_hash: "aa05".into(),
        })
        .await
        .unwrap();
        assert!(cache.get(&SecretHash("aa05".into()), 0).is_none());
    }
}
