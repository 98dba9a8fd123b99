//! The multi-node bus: Redis pub/sub on one channel, plus a presence
//! registry per node.
//!
//! Keys (all prefixed `webex:`):
//! - `webex:node:<node>`: heartbeat, expires after [`NODE_TTL`] unless refreshed;
//! - `webex:node:<node>:devices`: set of device ids with a socket on the node;
//! - `webex:node:<node>:conns`: hash connection id → [`ConnectionInfo`] JSON;
//! - `webex:nodes`: set of node ids (dead ones are pruned by readers).
//!
//! The two per-node collections expire with the heartbeat, so a node that
//! crashes disappears from the registry within [`NODE_TTL`].
//!
//! When Redis is unreachable every call gives up after [`OP_TIMEOUT`] with
//! [`BusError::Unavailable`] (the admin API answers 503) instead of waiting
//! for the connection manager's reconnection attempts. A publish that no
//! node hears (not even this one, whose subscription is still being
//! re-established) is reported as unavailable too, rather than silently
//! lost. When Redis comes back (possibly empty) the subscriber resubscribes
//! (`subscriber.rs`, which also pings on the subscription to notice a frozen
//! Redis or a half-open connection), counts a gap ([`Bus::gaps`]), and the
//! registry rewrites this node's entries.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{
    Bus, BusError, BusMessage, ConnectionInfo, PresenceChange, PresenceSource, SUBSCRIBER_CAPACITY,
};

mod subscriber;

/// The pub/sub channel every node publishes to and subscribes to.
pub const CHANNEL: &str = "webex:bus";
/// How long a node stays in the registry without a heartbeat.
pub const NODE_TTL: Duration = Duration::from_secs(15);
/// How often a node refreshes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Longest a bus call waits for Redis before failing with
/// [`BusError::Unavailable`].
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const NODES: &str = "webex:nodes";

fn node_key(node: &str) -> String {
    format!("webex:node:{node}")
}
fn devices_key(node: &str) -> String {
    format!("webex:node:{node}:devices")
}
fn conns_key(node: &str) -> String {
    format!("webex:node:{node}:conns")
}

/// Redis-backed bus. Publishing goes through a [`ConnectionManager`]
/// (reconnects by itself); a subscriber task feeds the local broadcast and
/// resubscribes with backoff when Redis goes away; a registry task keeps this
/// node's presence entries and heartbeat.
pub struct RedisBus {
    node_id: String,
    conn: ConnectionManager,
    tx: broadcast::Sender<Arc<BusMessage>>,
    gaps: Arc<watch::Sender<u64>>,
    presence: mpsc::UnboundedSender<PresenceChange>,
    source: Arc<Mutex<Option<Arc<dyn PresenceSource>>>>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl RedisBus {
    /// Connects to `url` (failing fast if Redis is unreachable at startup),
    /// subscribes, and starts the heartbeat for `node_id`.
    pub async fn connect(url: &str, node_id: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(MAX_BACKOFF);
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        // Entries of an earlier process with the same node id are stale.
        let _: () = redis::pipe()
            .del(devices_key(node_id))
            .del(conns_key(node_id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let tx = broadcast::Sender::new(SUBSCRIBER_CAPACITY);
        let cancel = CancellationToken::new();
        let (presence, presence_rx) = mpsc::unbounded_channel();
        let source = Arc::new(Mutex::new(None));
        let resubscribed = Arc::new(Notify::new());
        let gaps = Arc::new(watch::Sender::new(0));

        // Subscribe before returning, so nothing published after `connect`
        // is missed by this node.
        let pubsub = subscriber::subscribe(&client).await.map_err(unavailable)?;
        let subscriber = tokio::spawn(subscriber::run(
            client,
            pubsub,
            subscriber::Outputs {
                tx: tx.clone(),
                gaps: Arc::clone(&gaps),
                resubscribed: Arc::clone(&resubscribed),
            },
            cancel.clone(),
        ));
        let registry = tokio::spawn(
            Registry {
                node_id: node_id.to_owned(),
                conn: conn.clone(),
                source: Arc::clone(&source),
                dirty: false,
                joined: false,
            }
            .run(presence_rx, resubscribed, cancel.clone()),
        );
        tracing::info!(node = node_id, "event bus: connected to Redis");
        Ok(Self {
            node_id: node_id.to_owned(),
            conn,
            tx,
            gaps,
            presence,
            source,
            cancel,
            tasks: Mutex::new(vec![subscriber, registry]),
        })
    }

    /// Node ids with a live heartbeat; prunes dead ones from `webex:nodes`.
    /// Callers bound it with [`bounded`].
    async fn live_nodes(&self) -> Result<Vec<String>, BusError> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = conn.smembers(NODES).await.map_err(unavailable)?;
        let mut live = Vec::with_capacity(nodes.len());
        for node in nodes {
            let alive: bool = conn.exists(node_key(&node)).await.map_err(unavailable)?;
            if alive {
                live.push(node);
            } else {
                let _: Result<(), _> = conn.srem(NODES, &node).await;
            }
        }
        Ok(live)
    }
}

fn unavailable(e: redis::RedisError) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// Runs `op` for at most [`OP_TIMEOUT`]. While Redis is down the connection
/// manager keeps reconnecting and a call would wait for all its attempts;
/// callers want a prompt [`BusError::Unavailable`] instead.
async fn bounded<T>(
    op: impl std::future::Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| {
            Err(BusError::Unavailable(format!(
                "Redis did not answer within {OP_TIMEOUT:?}"
            )))
        })
}

/// Keeps this node's presence entries and heartbeat in Redis.
struct Registry {
    node_id: String,
    conn: ConnectionManager,
    source: Arc<Mutex<Option<Arc<dyn PresenceSource>>>>,
    /// An update failed: rebuild from the source at the next heartbeat.
    dirty: bool,
    /// A heartbeat has succeeded: from now on a missing heartbeat key means
    /// Redis lost our entries (restarted empty, flushed).
    joined: bool,
}

impl Registry {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<PresenceChange>,
        resubscribed: Arc<Notify>,
        cancel: CancellationToken,
    ) {
        self.heartbeat().await;
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => self.heartbeat().await,
                // Redis is back: check our entries now, not at the next tick.
                _ = resubscribed.notified() => self.heartbeat().await,
                Some(first) = rx.recv() => {
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                        if batch.len() >= 1024 { break; }
                    }
                    self.apply(&batch).await;
                }
            }
        }
        self.leave().await;
    }

    async fn apply(&mut self, batch: &[PresenceChange]) {
        let mut pipe = redis::pipe();
        for change in batch {
            match change {
                PresenceChange::Connected(info) => {
                    let json = serde_json::to_string(info).unwrap_or_default();
                    pipe.sadd(devices_key(&self.node_id), &info.device_id)
                        .ignore()
                        .hset(conns_key(&self.node_id), info.id, json)
                        .ignore();
                }
                PresenceChange::Disconnected {
                    id,
                    device_id,
                    device_offline,
                } => {
                    pipe.hdel(conns_key(&self.node_id), *id).ignore();
                    if *device_offline {
                        pipe.srem(devices_key(&self.node_id), device_id).ignore();
                    }
                }
            }
        }
        let mut conn = self.conn.clone();
        let result =
            bounded(async { pipe.query_async::<()>(&mut conn).await.map_err(unavailable) }).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "presence registry: update failed; will rebuild");
            self.dirty = true;
        }
    }

    /// Whether our heartbeat key is gone although we had joined: Redis
    /// restarted empty or was flushed, so our entries must be rewritten.
    async fn entries_lost(&mut self) -> Result<bool, BusError> {
        if !self.joined {
            return Ok(false);
        }
        let mut conn = self.conn.clone();
        let key = node_key(&self.node_id);
        let present: bool = bounded(async { conn.exists(&key).await.map_err(unavailable) }).await?;
        Ok(!present)
    }

    async fn heartbeat(&mut self) {
        let ttl = NODE_TTL.as_secs();
        match self.entries_lost().await {
            Ok(true) => {
                tracing::warn!("presence registry: Redis lost this node's entries; rebuilding");
                self.dirty = true;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "presence registry: heartbeat failed; Redis is unreachable");
                self.dirty = true;
                return;
            }
        }
        let mut pipe = redis::pipe();
        if self.dirty {
            let snapshot = self
                .source
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .map(|s| s.snapshot());
            if let Some(snapshot) = snapshot {
                pipe.del(devices_key(&self.node_id))
                    .ignore()
                    .del(conns_key(&self.node_id))
                    .ignore();
                for info in &snapshot {
                    let json = serde_json::to_string(info).unwrap_or_default();
                    pipe.sadd(devices_key(&self.node_id), &info.device_id)
                        .ignore()
                        .hset(conns_key(&self.node_id), info.id, json)
                        .ignore();
                }
            }
        }
        pipe.set_ex(node_key(&self.node_id), crate::time::now_millis(), ttl)
            .ignore()
            .sadd(NODES, &self.node_id)
            .ignore()
            .expire(devices_key(&self.node_id), (ttl * 2) as i64)
            .ignore()
            .expire(conns_key(&self.node_id), (ttl * 2) as i64)
            .ignore();
        let mut conn = self.conn.clone();
        let result =
            bounded(async { pipe.query_async::<()>(&mut conn).await.map_err(unavailable) }).await;
        match result {
            Ok(()) => {
                if self.dirty {
                    tracing::info!("presence registry: rebuilt after Redis came back");
                }
                self.dirty = false;
                self.joined = true;
            }
            Err(e) => {
                tracing::error!(error = %e, "presence registry: heartbeat failed; Redis is unreachable");
                self.dirty = true;
            }
        }
    }

    async fn leave(&mut self) {
        let mut pipe = redis::pipe();
        pipe.del(node_key(&self.node_id))
            .del(devices_key(&self.node_id))
            .del(conns_key(&self.node_id))
            .srem(NODES, &self.node_id);
        let mut conn = self.conn.clone();
        let result =
            bounded(async { pipe.query_async::<()>(&mut conn).await.map_err(unavailable) }).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "presence registry: could not remove this node; its entries expire by themselves");
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        let text = serde_json::to_string(&msg)?;
        let mut conn = self.conn.clone();
        let receivers: i64 =
            bounded(async { conn.publish(CHANNEL, text).await.map_err(unavailable) }).await?;
        // This node subscribes to the channel for as long as it runs, so
        // nobody hearing the message means our subscription is down (Redis
        // just came back and we have not resubscribed yet): the message is
        // lost, and the caller must know.
        if receivers == 0 {
            metrics::counter!("webex_bus_unheard_publishes_total").increment(1);
            return Err(BusError::Unavailable(
                "no node is subscribed to the event bus yet".into(),
            ));
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.tx.subscribe()
    }

    fn gaps(&self) -> watch::Receiver<u64> {
        self.gaps.subscribe()
    }

    fn presence_changed(&self, change: PresenceChange) {
        let _ = self.presence.send(change);
    }

    fn attach_presence_source(&self, source: Arc<dyn PresenceSource>) {
        if let Ok(mut slot) = self.source.lock() {
            *slot = Some(source);
        }
    }

    async fn online_devices(
        &self,
        device_ids: &[String],
    ) -> Result<Option<HashSet<String>>, BusError> {
        let mut online = HashSet::new();
        if device_ids.is_empty() {
            return Ok(Some(online));
        }
        let mut conn = self.conn.clone();
        bounded(async {
            for node in self.live_nodes().await? {
                let flags: Vec<bool> = redis::cmd("SMISMEMBER")
                    .arg(devices_key(&node))
                    .arg(device_ids)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                for (id, present) in device_ids.iter().zip(flags) {
                    if present {
                        online.insert(id.clone());
                    }
                }
            }
            Ok(Some(online))
        })
        .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        bounded(async {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    async fn connections(&self) -> Result<Option<Vec<ConnectionInfo>>, BusError> {
        let mut conn = self.conn.clone();
        let mut all = Vec::new();
        bounded(async {
            for node in self.live_nodes().await? {
                let values: Vec<String> =
                    conn.hvals(conns_key(&node)).await.map_err(unavailable)?;
                all.extend(
                    values
                        .iter()
                        .filter_map(|v| serde_json::from_str::<ConnectionInfo>(v).ok()),
                );
            }
            Ok(Some(all))
        })
        .await
    }

    async fn close(&self) {
        self.cancel.cancel();
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!(node = %self.node_id, "event bus: left Redis");
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
