//! Scenarios 4 and 5: event fan-out. Events are published through the admin
//! API to people whose devices hold sockets; each receiving socket looks up
//! when its event was published (the bench's own monotonic clock, for
//! sub-millisecond precision) and records the delay.
//!
//! The publishers keep at most `window` deliveries outstanding (published
//! but not yet received), so the run measures the sustainable rate instead
//! of overflowing the server's per-socket queues.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::connections::{EventHandler, open_all};
use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account};
use crate::progress;
use crate::socket::SocketCounters;
use crate::stats::Latencies;
use crate::target::{ADMIN_TOKEN, Database};

/// Most events one run publishes (bounds the send-time table: 8 MB).
const MAX_EVENTS: usize = 1_000_000;
/// Histogram shards (receiving sockets spread their records over them).
const SHARDS: usize = 64;

/// Parameters of scenarios 4 and 5.
#[derive(Debug, Clone)]
pub struct FanoutParams {
    /// Sockets.
    pub connections: usize,
    /// Devices per person: each event reaches this many sockets.
    pub devices_per_person: usize,
    /// Measured publishing time.
    pub duration: Duration,
    /// Concurrent publish requests.
    pub publishers: usize,
    /// Most deliveries outstanding; `0`: one per socket.
    pub window: usize,
}

/// What one fan-out run measured.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    /// Sockets that authenticated.
    pub connections: usize,
    /// Events published (admin API calls answered 202).
    pub published: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Event frames received by the sockets.
    pub delivered: u64,
    /// Deliveries expected (published × devices per person).
    pub expected: u64,
    /// From the first publish to the last delivery.
    pub elapsed: Duration,
    /// Publish-to-receipt latency of every delivery.
    pub latencies: Latencies,
    /// Sockets that were closed under load (e.g. slow consumer).
    pub dropped: u64,
}

impl FanoutResult {
    /// Messages delivered per second.
    pub fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The two servers of a run: one holding the sockets, one taking the
/// publishes (the same one for scenario 4).
#[derive(Debug, Clone, Copy)]
pub struct Nodes<'a> {
    /// Base URL of the node the sockets connect to (devices register here).
    pub sockets: &'a str,
    /// Base URL of the node events are published to.
    pub publish: &'a str,
}

/// Registers `params.connections` devices, opens their sockets on
/// `nodes.sockets`, publishes on `nodes.publish` for `params.duration`.
pub async fn run(
    db: &Database,
    nodes: Nodes<'_>,
    params: &FanoutParams,
) -> BenchResult<FanoutResult> {
    let people = params
        .connections
        .div_ceil(params.devices_per_person.max(1));
    let prefix = format!("fan{}", uuid::Uuid::new_v4().simple());
    let accounts = fixtures::accounts(db.url(), &prefix[..12], people).await?;
    run_with(accounts, nodes, params).await
}

/// The accounts the floor server takes: no store, each "token" is the
/// email (the floor groups sockets by bearer token, publishes by email).
pub fn floor_accounts(params: &FanoutParams) -> Vec<Account> {
    let people = params
        .connections
        .div_ceil(params.devices_per_person.max(1));
    (0..people)
        .map(|i| {
            let email = format!("floor-{i}@bench.example");
            Account {
                token: email.clone().into(),
                email,
            }
        })
        .collect()
}

/// [`run`] with the given accounts (one per `devices_per_person` sockets).
pub async fn run_with(
    accounts: Vec<Account>,
    nodes: Nodes<'_>,
    params: &FanoutParams,
) -> BenchResult<FanoutResult> {
    crate::limits::raise_nofile(params.connections as u64 + 2048)?;
    let per = params.devices_per_person.max(1);
    let http = fixtures::http_client(params.publishers.max(64) * 2)?;
    let bar = progress::bar(params.connections as u64, "registering devices");
    // Device i belongs to person i % people: every person gets `per`.
    let devices = fixtures::register_devices(
        &http,
        nodes.sockets,
        &accounts,
        params.connections,
        64,
        || bar.inc(1),
    )
    .await?;
    bar.finish_and_clear();

    let clock = Instant::now();
    let sent: Arc<[AtomicU64]> = (0..MAX_EVENTS).map(|_| AtomicU64::new(0)).collect();
    let shards: Arc<[Mutex<Latencies>]> =
        (0..SHARDS).map(|_| Mutex::new(Latencies::new())).collect();
    let delivered = Arc::new(AtomicU64::new(0));
    let last_delivery = Arc::new(AtomicU64::new(0));
    let on_event: EventHandler = {
        let (sent, shards) = (Arc::clone(&sent), Arc::clone(&shards));
        let (delivered, last) = (Arc::clone(&delivered), Arc::clone(&last_delivery));
        Arc::new(move |i, text| {
            let now = nanos_since(clock);
            let Some(n) = event_number(text) else { return };
            let at = sent.get(n).map_or(0, |s| s.load(Ordering::Acquire));
            if at == 0 {
                return;
            }
            delivered.fetch_add(1, Ordering::Relaxed);
            last.fetch_max(now, Ordering::Relaxed);
            if let Ok(mut h) = shards[i % SHARDS].lock() {
                h.record_micros(now.saturating_sub(at) / 1000);
            }
        })
    };
    let stop = CancellationToken::new();
    let counters = Arc::new(SocketCounters::default());
    // Long ping interval: this scenario measures events, not keepalives.
    let (connected, _, tasks) = open_all(
        &devices,
        &accounts,
        Duration::from_secs(15),
        256,
        &counters,
        &stop,
        on_event,
    )
    .await?;
    if connected < params.connections {
        stop.cancel();
        return Err(BenchError::WebSocket(format!(
            "only {connected} of {} sockets connected",
            params.connections
        )));
    }

    let window = if params.window == 0 {
        params.connections
    } else {
        params.window
    } as u64;
    let publish = Publisher {
        http,
        url: format!("{}/admin/api/v1/events", nodes.publish),
        accounts: accounts.into(),
        per: per as u64,
        sent,
        next: AtomicU64::new(1),
        published: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        delivered: Arc::clone(&delivered),
        window,
        clock,
        stopping: AtomicBool::new(false),
    };
    let publish = Arc::new(publish);
    let first_publish = nanos_since(clock);
    let bar = progress::timer(params.duration, "publishing");
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..params.publishers.max(1) {
        let p = Arc::clone(&publish);
        workers.spawn(async move { p.work().await });
    }
    let started = Instant::now();
    while started.elapsed() < params.duration {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(u64::try_from(started.elapsed().as_millis()).unwrap_or(0));
    }
    bar.finish_and_clear();
    publish.stopping.store(true, Ordering::Release);
    while workers.join_next().await.is_some() {}
    let expected = publish.published.load(Ordering::Acquire) * publish.per;
    // Let the last deliveries arrive.
    let drain = Instant::now();
    while delivered.load(Ordering::Acquire) < expected && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = counters.dropped.load(Ordering::Relaxed);
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks)).await;

    let mut latencies = Latencies::new();
    for shard in shards.iter() {
        if let Ok(h) = shard.lock() {
            latencies.merge(&h);
        }
    }
    let end = last_delivery.load(Ordering::Acquire).max(first_publish + 1);
    Ok(FanoutResult {
        connections: connected,
        published: publish.published.load(Ordering::Acquire),
        publish_errors: publish.errors.load(Ordering::Acquire),
        delivered: delivered.load(Ordering::Acquire),
        expected,
        elapsed: Duration::from_nanos(end - first_publish),
        latencies,
        dropped,
    })
}

struct Publisher {
    http: reqwest::Client,
    url: String,
    accounts: Arc<[Account]>,
    per: u64,
    sent: Arc<[AtomicU64]>,
    next: AtomicU64,
    published: AtomicU64,
    errors: AtomicU64,
    delivered: Arc<AtomicU64>,
    window: u64,
    clock: Instant,
    stopping: AtomicBool,
}

impl Publisher {
    async fn work(&self) {
        while !self.stopping.load(Ordering::Acquire) {
            // Count publishes in flight too: their deliveries may arrive
            // before the 202 does.
            let issued = (self.next.load(Ordering::Acquire) - 1)
                .saturating_sub(self.errors.load(Ordering::Acquire));
            let outstanding =
                (issued * self.per).saturating_sub(self.delivered.load(Ordering::Acquire));
            if outstanding + self.per > self.window {
                tokio::time::sleep(Duration::from_micros(200)).await;
                continue;
            }
            let n = self.next.fetch_add(1, Ordering::AcqRel);
            let Some(slot) = self.sent.get(n as usize) else {
                return;
            };
            let account = &self.accounts[(n as usize) % self.accounts.len()];
            let body = serde_json::json!({
                "email": account.email,
                "data": {"eventType": "bench.fanout", "n": n},
            });
            slot.store(nanos_since(self.clock), Ordering::Release);
            let ok = match self
                .http
                .post(&self.url)
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
            {
                Ok(res) => res.status().as_u16() == 202,
                Err(_) => false,
            };
            if ok {
                self.published.fetch_add(1, Ordering::AcqRel);
            } else {
                slot.store(0, Ordering::Release);
                self.errors.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

fn nanos_since(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The bench's event number `data.n` of an event frame.
fn event_number(text: &str) -> Option<usize> {
    #[derive(Deserialize)]
    struct Frame {
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        n: Option<usize>,
    }
    serde_json::from_str::<Frame>(text).ok()?.data?.n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_are_read_from_envelopes() {
        let f = r#"{"id":"x","sequenceNumber":3,"data":{"eventType":"bench.fanout","n":42},"timestamp":1}"#;
        assert_eq!(event_number(f), Some(42));
        assert_eq!(event_number(r#"{"id":"x","type":"pong"}"#), None);
    }
}
