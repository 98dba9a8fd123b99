//! This node's authenticated sockets, indexed by device and by person.
//!
//! The indexes are sharded `std::sync::RwLock<HashMap>`s: writes happen only
//! on connect and disconnect, reads (event delivery) clone a few `Arc`s and
//! release the lock before anything else happens, and no lock is ever held
//! across an `.await`. Each socket's outbound queue is a bounded channel; a
//! full queue closes the socket (1008 "slow consumer") instead of growing.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use webex_wire::close;

use crate::bus::{ConnectionInfo, PresenceSource, Target};
use crate::config::ServerConfig;
use crate::store::Millis;

use super::frame::EventFrame;

/// Most sockets one device may hold with `multipleConnections=true`; one
/// more replaces the oldest.
pub const MAX_SOCKETS_PER_DEVICE: usize = 8;
const SHARDS: usize = 16;

/// Why the server closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code ([`webex_wire::close`]).
    pub code: u16,
    /// Human readable reason (≤ 123 bytes).
    pub reason: &'static str,
}

impl CloseReason {
    /// A newer socket for the same device took over.
    pub const REPLACED: Self = Self::new(close::REPLACED, "replaced");
    /// The token was revoked.
    pub const TOKEN_REVOKED: Self = Self::new(close::AUTH_FAILED, "token revoked");
    /// The device was deleted or expired.
    pub const DEVICE_GONE: Self = Self::new(close::UNKNOWN_DEVICE, "device unregistered");
    /// The outbound queue overflowed.
    pub const SLOW_CONSUMER: Self = Self::new(close::POLICY_VIOLATION, "slow consumer");
    /// The server is shutting down.
    pub const SHUTDOWN: Self = Self::new(close::GOING_AWAY, "server shutting down");
    /// Events for this socket may have been lost (the event bus was
    /// interrupted): reconnect, which makes both SDKs resynchronise their
    /// meetings. 1011 is transient for the official JS SDK (it reconnects
    /// and runs `syncMeetings`) and for this workspace's SDK.
    pub const RESYNC: Self =
        Self::new(close::INTERNAL_ERROR, "event stream interrupted; reconnect");

    /// A reason with `code` and `reason`.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

/// What the socket task is asked to send.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// An event envelope (serialized per socket, for its sequence number).
    Event(Arc<EventFrame>),
}

/// One authenticated socket, as the hub sees it.
#[derive(Debug)]
pub struct Conn {
    /// Unique on this node.
    pub id: u64,
    /// Device the socket is for.
    pub device_id: Box<str>,
    /// Owner of the device and the token.
    pub person_id: Box<str>,
    /// SHA-256 hex of the token the socket authenticated with.
    pub token_hash: Box<str>,
    /// When it authenticated.
    pub connected_at: Millis,
    /// `multipleConnections=true`.
    pub multiple: bool,
    tx: mpsc::Sender<Outbound>,
    close: Mutex<Option<CloseReason>>,
    closed: Notify,
}

impl Conn {
    /// Asks the socket task to close with `reason` (first request wins).
    /// Returns whether this call was the first.
    pub fn request_close(&self, reason: CloseReason) -> bool {
        let first = match self.close.lock() {
            Ok(mut slot) if slot.is_none() => {
                *slot = Some(reason);
                true
            }
            _ => false,
        };
        if first {
            metrics::counter!("webex_mercury_server_closes_total", "code" => reason.code.to_string()).increment(1);
            self.closed.notify_one();
        }
        first
    }

    /// Waits until a close was requested; returns its reason.
    pub async fn close_requested(&self) -> CloseReason {
        loop {
            if let Some(r) = self.close.lock().ok().and_then(|s| *s) {
                return r;
            }
            self.closed.notified().await;
        }
    }

    /// Queues an event; on a full queue closes the socket as a slow consumer.
    /// Returns whether it was queued.
    fn offer(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.request_close(CloseReason::SLOW_CONSUMER) {
                    metrics::counter!("webex_mercury_slow_consumer_disconnects_total").increment(1);
                    tracing::warn!(device = %self.device_id, conn = self.id, "mercury: slow consumer disconnected");
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// The admin/registry view of this socket.
    pub fn info(&self, node: &str) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id,
            device_id: self.device_id.to_string(),
            person_id: self.person_id.to_string(),
            node: node.to_owned(),
            connected_at: crate::time::rfc3339(self.connected_at),
            authenticated: true,
            multiple_connections: self.multiple,
        }
    }
}

/// What [`Hub::register`] needs to know about a freshly authenticated socket.
#[derive(Debug, Clone)]
pub struct NewConn {
    /// Device id.
    pub device_id: String,
    /// Owner.
    pub person_id: String,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// `multipleConnections=true`.
    pub multiple: bool,
}

/// A registered socket: its hub entry and the receiving end of its queue.
#[derive(Debug)]
pub struct Registered {
    /// The hub's entry.
    pub conn: Arc<Conn>,
    /// Events to send, in order.
    pub rx: mpsc::Receiver<Outbound>,
}

type Index = RwLock<HashMap<Box<str>, Vec<Arc<Conn>>>>;

struct Sharded {
    shards: Vec<Index>,
    hasher: RandomState,
}

impl Sharded {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Index {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    fn get(&self, key: &str) -> Vec<Arc<Conn>> {
        self.shard(key)
            .read()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_default()
    }

    fn remove(&self, key: &str, id: u64) -> bool {
        let Ok(mut map) = self.shard(key).write() else {
            return false;
        };
        let mut now_empty = false;
        if let Some(list) = map.get_mut(key) {
            list.retain(|c| c.id != id);
            now_empty = list.is_empty();
        }
        if now_empty {
            map.remove(key);
        }
        now_empty
    }

    fn all(&self) -> Vec<Arc<Conn>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            if let Ok(map) = shard.read() {
                out.extend(map.values().flatten().cloned());
            }
        }
        out
    }
}

struct HubInner {
    node_id: String,
    queue: usize,
    by_device: Sharded,
    by_person: Sharded,
    next_id: AtomicU64,
    revocations: AtomicU64,
    shutting_down: AtomicBool,
    sessions: AtomicUsize,
    idle: Notify,
}

/// Counts a running socket task; see [`Hub::session`].
#[derive(Debug)]
pub struct SessionGuard(Hub);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.0.0.sessions.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node_id", &self.0.node_id)
            .finish_non_exhaustive()
    }
}

/// This node's live connections. Cheap to clone.
///
/// ```
/// use std::net::SocketAddr;
/// use webex_server::{ServerConfig, mercury::Hub};
///
/// let config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), "sqlite://unused");
/// let hub = Hub::new(&config);
/// assert_eq!(hub.socket_count(), 0);
/// ```
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

impl Hub {
    /// An empty hub for the node `config.node_id`.
    pub fn new(config: &ServerConfig) -> Self {
        Self(Arc::new(HubInner {
            node_id: config.node_id.clone(),
            queue: config.outbound_queue.max(1),
            by_device: Sharded::new(),
            by_person: Sharded::new(),
            next_id: AtomicU64::new(1),
            revocations: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            sessions: AtomicUsize::new(0),
            idle: Notify::new(),
        }))
    }

    /// Marks a socket task as running until the guard drops; see
    /// [`Hub::wait_idle`].
    pub fn session(&self) -> SessionGuard {
        self.0.sessions.fetch_add(1, Ordering::AcqRel);
        SessionGuard(self.clone())
    }

    /// Waits until every socket task has ended (their close frames are
    /// sent), or `limit` passed. Returns whether all ended.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.0.idle.notified();
                if self.0.sessions.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.0.node_id
    }

    /// Counts token revocations and device removals seen so far. A socket
    /// that authenticated while this changed re-checks its credentials.
    pub fn revocations(&self) -> u64 {
        self.0.revocations.load(Ordering::Acquire)
    }

    /// Adds a socket. Without `multipleConnections` it replaces every other
    /// socket of the device; with it, the oldest beyond
    /// [`MAX_SOCKETS_PER_DEVICE`]. Replaced sockets are closed with 4000.
    /// `None` when the hub is shutting down.
    pub fn register(&self, new: NewConn) -> Option<Registered> {
        if self.0.shutting_down.load(Ordering::Acquire) {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.0.queue);
        let conn = Arc::new(Conn {
            id: self.0.next_id.fetch_add(1, Ordering::Relaxed),
            device_id: new.device_id.into(),
            person_id: new.person_id.into(),
            token_hash: new.token_hash.into(),
            connected_at: crate::time::now_millis(),
            multiple: new.multiple,
            tx,
            close: Mutex::new(None),
            closed: Notify::new(),
        });
        let replaced = {
            let Ok(mut map) = self.0.by_device.shard(&conn.device_id).write() else {
                return None;
            };
            let list = map.entry(conn.device_id.clone()).or_default();
            let keep = if conn.multiple {
                MAX_SOCKETS_PER_DEVICE - 1
            } else {
                0
            };
            let excess = list.len().saturating_sub(keep);
            let replaced: Vec<Arc<Conn>> = list.drain(..excess).collect();
            list.push(Arc::clone(&conn));
            replaced
        };
        if let Ok(mut map) = self.0.by_person.shard(&conn.person_id).write() {
            let list = map.entry(conn.person_id.clone()).or_default();
            list.retain(|c| !replaced.iter().any(|r| r.id == c.id));
            list.push(Arc::clone(&conn));
        }
        for old in replaced {
            old.request_close(CloseReason::REPLACED);
        }
        metrics::gauge!("webex_mercury_connections").increment(1.0);
        // A shutdown that raced with this registration must still close it.
        if self.0.shutting_down.load(Ordering::Acquire) {
            conn.request_close(CloseReason::SHUTDOWN);
        }
        Some(Registered { conn, rx })
    }

    /// Removes a socket. Returns whether it was its device's last one here.
    pub fn unregister(&self, conn: &Conn) -> bool {
        let device_empty = self.0.by_device.remove(&conn.device_id, conn.id);
        self.0.by_person.remove(&conn.person_id, conn.id);
        metrics::gauge!("webex_mercury_connections").decrement(1.0);
        device_empty
    }

    /// The sockets `target` names.
    fn sockets(&self, target: &Target) -> Vec<Arc<Conn>> {
        match target {
            Target::Device(id) => self.0.by_device.get(id),
            Target::Person(id) => self.0.by_person.get(id),
        }
    }

    /// Queues `frame` on every socket of `target`. Returns how many sockets
    /// accepted it.
    pub fn deliver(&self, target: &Target, frame: Arc<EventFrame>) -> usize {
        self.sockets(target)
            .iter()
            .filter(|c| c.offer(Outbound::Event(Arc::clone(&frame))))
            .count()
    }

    /// Closes the sockets authenticated with the token whose hash is
    /// `token_hash` (4401). Returns how many.
    pub fn close_token(&self, token_hash: &str) -> usize {
        self.0.revocations.fetch_add(1, Ordering::AcqRel);
        self.close_matching(|c| &*c.token_hash == token_hash, CloseReason::TOKEN_REVOKED)
    }

    /// Closes the sockets of `device_id` (4404). Returns how many.
    pub fn close_device(&self, device_id: &str) -> usize {
        self.0.revocations.fetch_add(1, Ordering::AcqRel);
        self.0
            .by_device
            .get(device_id)
            .iter()
            .filter(|c| c.request_close(CloseReason::DEVICE_GONE))
            .count()
    }

    /// Scans every socket in place (no copy of the index): revocations are
    /// rare, and `request_close` neither blocks nor awaits.
    fn close_matching(&self, pred: impl Fn(&Conn) -> bool, reason: CloseReason) -> usize {
        let mut closed = 0;
        for shard in &self.0.by_device.shards {
            if let Ok(map) = shard.read() {
                closed += map
                    .values()
                    .flatten()
                    .filter(|c| pred(c) && c.request_close(reason))
                    .count();
            }
        }
        closed
    }

    /// Closes every socket open now with `reason`, spread evenly in random
    /// order over `window` (so that thousands of clients do not reconnect in
    /// the same millisecond). Sockets that open meanwhile are left alone.
    /// Returns how many this call closed (a socket already closing keeps its
    /// first reason).
    pub async fn close_all_spread(&self, reason: CloseReason, window: Duration) -> usize {
        use rand::seq::SliceRandom;
        let mut conns = self.0.by_device.all();
        conns.shuffle(&mut rand::rng());
        let start = tokio::time::Instant::now();
        let n = conns.len() as f64;
        let mut closed = 0;
        for (i, conn) in conns.iter().enumerate() {
            let at = start + window.mul_f64(i as f64 / n);
            if at > tokio::time::Instant::now() {
                tokio::time::sleep_until(at).await;
            }
            if conn.request_close(reason) {
                closed += 1;
            }
        }
        closed
    }

    /// Closes every socket with 1001 and refuses new ones.
    pub fn shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::Release);
        let n = self.close_matching(|_| true, CloseReason::SHUTDOWN);
        tracing::info!(sockets = n, "mercury: closing every socket for shutdown");
    }

    /// Whether the hub refuses new sockets.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Acquire)
    }

    /// Whether `device_id` holds a socket here.
    pub fn device_online(&self, device_id: &str) -> bool {
        !self.0.by_device.get(device_id).is_empty()
    }

    /// How many distinct devices of `person_id` hold a socket here.
    pub fn person_online_devices(&self, person_id: &str) -> usize {
        let conns = self.0.by_person.get(person_id);
        let mut devices: Vec<&str> = conns.iter().map(|c| &*c.device_id).collect();
        devices.sort_unstable();
        devices.dedup();
        devices.len()
    }

    /// Sockets on this node.
    pub fn socket_count(&self) -> usize {
        self.0
            .by_device
            .shards
            .iter()
            .filter_map(|s| {
                s.read()
                    .ok()
                    .map(|m| m.values().map(Vec::len).sum::<usize>())
            })
            .sum()
    }

    /// This node's sockets, optionally only those of a device and/or person,
    /// oldest first.
    pub fn connections(
        &self,
        device_id: Option<&str>,
        person_id: Option<&str>,
    ) -> Vec<ConnectionInfo> {
        let conns = match (device_id, person_id) {
            (Some(d), _) => self.0.by_device.get(d),
            (None, Some(p)) => self.0.by_person.get(p),
            (None, None) => self.0.by_device.all(),
        };
        let mut out: Vec<ConnectionInfo> = conns
            .iter()
            .filter(|c| person_id.is_none_or(|p| &*c.person_id == p))
            .map(|c| c.info(&self.0.node_id))
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }
}

impl PresenceSource for Hub {
    fn snapshot(&self) -> Vec<ConnectionInfo> {
        self.connections(None, None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    fn hub(queue: usize) -> Hub {
        let mut c = ServerConfig::for_tests(Path::new("unused"));
        c.outbound_queue = queue;
        Hub::new(&c)
    }

    fn new(device: &str, person: &str, multiple: bool) -> NewConn {
        NewConn {
            device_id: device.into(),
            person_id: person.into(),
            token_hash: format!("hash-{device}"),
            multiple,
        }
    }

    fn frame() -> Arc<EventFrame> {
        Arc::new(EventFrame::new(
            "e",
            &serde_json::json!({"eventType": "a.b"}),
            1,
            None,
        ))
    }

    fn closed(c: &Conn) -> Option<CloseReason> {
        *c.close.lock().unwrap()
    }

    #[test]
    fn a_second_socket_replaces_the_first() {
        let hub = hub(4);
        let a = hub.register(new("d", "p", false)).unwrap();
        let b = hub.register(new("d", "p", false)).unwrap();
        assert_eq!(closed(&a.conn), Some(CloseReason::REPLACED));
        assert_eq!(closed(&b.conn), None);
        assert_eq!(hub.socket_count(), 1);
        assert_eq!(hub.connections(None, Some("p")).len(), 1);
    }

    #[test]
    fn multiple_connections_stay_up_to_the_cap() {
        let hub = hub(4);
        let all: Vec<_> = (0..=MAX_SOCKETS_PER_DEVICE)
            .map(|_| hub.register(new("d", "p", true)).unwrap())
            .collect();
        assert_eq!(closed(&all[0].conn), Some(CloseReason::REPLACED));
        assert!(all[1..].iter().all(|r| closed(&r.conn).is_none()));
        assert_eq!(hub.socket_count(), MAX_SOCKETS_PER_DEVICE);
    }

    #[test]
    fn delivery_by_device_and_person() {
        let hub = hub(4);
        let mut a = hub.register(new("d1", "p", false)).unwrap();
        let mut b = hub.register(new("d2", "p", false)).unwrap();
        assert_eq!(hub.deliver(&Target::Device("d1".into()), frame()), 1);
        assert_eq!(hub.deliver(&Target::Person("p".into()), frame()), 2);
        assert_eq!(hub.deliver(&Target::Person("nobody".into()), frame()), 0);
        assert!(a.rx.try_recv().is_ok() && a.rx.try_recv().is_ok());
        assert!(b.rx.try_recv().is_ok() && b.rx.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_closes_as_slow_consumer() {
        let hub = hub(2);
        let r = hub.register(new("d", "p", false)).unwrap();
        let target = Target::Device("d".into());
        assert_eq!(hub.deliver(&target, frame()), 1);
        assert_eq!(hub.deliver(&target, frame()), 1);
        assert_eq!(hub.deliver(&target, frame()), 0);
        assert_eq!(closed(&r.conn), Some(CloseReason::SLOW_CONSUMER));
    }

    #[test]
    fn revocation_and_removal_close_the_right_sockets() {
        let hub = hub(4);
        let a = hub.register(new("d1", "p", false)).unwrap();
        let b = hub.register(new("d2", "p", false)).unwrap();
        let before = hub.revocations();
        assert_eq!(hub.close_token("hash-d1"), 1);
        assert_eq!(closed(&a.conn), Some(CloseReason::TOKEN_REVOKED));
        assert_eq!(closed(&b.conn), None);
        assert_eq!(hub.close_device("d2"), 1);
        assert_eq!(closed(&b.conn), Some(CloseReason::DEVICE_GONE));
        assert!(hub.revocations() > before);
    }

    #[test]
    fn unregister_reports_the_last_socket_of_a_device() {
        let hub = hub(4);
        let a = hub.register(new("d", "p", true)).unwrap();
        let b = hub.register(new("d", "p", true)).unwrap();
        assert!(!hub.unregister(&a.conn));
        assert!(hub.device_online("d"));
        assert!(hub.unregister(&b.conn));
        assert!(!hub.device_online("d"));
        assert!(hub.connections(None, Some("p")).is_empty());
    }

    #[test]
    fn shutdown_closes_everything_and_refuses_new_sockets() {
        let hub = hub(4);
        let a = hub.register(new("d", "p", false)).unwrap();
        hub.shutdown();
        assert_eq!(closed(&a.conn), Some(CloseReason::SHUTDOWN));
        assert!(hub.register(new("e", "p", false)).is_none());
    }

    #[tokio::test]
    async fn close_all_spread_closes_everyone_over_the_window() {
        let hub = hub(4);
        let all: Vec<_> = (0..100)
            .map(|i| hub.register(new(&format!("d{i}"), "p", false)).unwrap())
            .collect();
        let window = Duration::from_secs(1);
        let closer = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.close_all_spread(CloseReason::RESYNC, window).await })
        };
        tokio::time::sleep(window / 2).await;
        // Wide bounds: the machine may be busy.
        let halfway = all.iter().filter(|r| closed(&r.conn).is_some()).count();
        assert!(
            (10..=90).contains(&halfway),
            "{halfway} closed after half the window"
        );
        // A socket opened meanwhile is not in the batch.
        let late = hub.register(new("late", "p", false)).unwrap();
        assert_eq!(closer.await.unwrap(), 100);
        assert!(
            all.iter()
                .all(|r| closed(&r.conn) == Some(CloseReason::RESYNC))
        );
        assert_eq!(closed(&late.conn), None);
        assert_eq!(
            hub.close_all_spread(CloseReason::RESYNC, Duration::ZERO)
                .await,
            1
        );
    }

    #[tokio::test]
    async fn close_requested_wakes_up_with_the_first_reason() {
        let hub = hub(4);
        let a = hub.register(new("d", "p", false)).unwrap();
        let conn = Arc::clone(&a.conn);
        let waiter = tokio::spawn(async move { conn.close_requested().await });
        a.conn.request_close(CloseReason::DEVICE_GONE);
        a.conn.request_close(CloseReason::SHUTDOWN);
        assert_eq!(waiter.await.unwrap(), CloseReason::DEVICE_GONE);
    }
}
