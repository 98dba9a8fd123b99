//! Scenario 3: connections held. N authenticated, idle Mercury sockets
//! (pinging) against one server; the server's memory per socket and its
//! CPU use at idle, read from `/proc/<pid>`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account, BenchDevice};
use crate::progress;
use crate::socket::{self, SocketCounters};
use crate::target::{Database, Launch, ProcessUsage, ServerSpec, ServerUnderTest, TICKS_PER_SEC};

/// Parameters of scenario 3.
#[derive(Debug, Clone)]
pub struct ConnectionsParams {
    /// Sockets to open.
    pub count: usize,
    /// Devices (sockets) per person.
    pub devices_per_person: usize,
    /// Client ping interval (the SDKs use 15 s).
    pub ping_interval: Duration,
    /// How long the CPU is measured once every socket is open.
    pub idle: Duration,
    /// Handshakes in flight while connecting.
    pub connect_concurrency: usize,
}

/// What one scenario-3 run measured.
#[derive(Debug, Clone)]
pub struct ConnectionsResult {
    /// Sockets asked for.
    pub wanted: usize,
    /// Sockets authenticated.
    pub connected: usize,
    /// Sockets the server closed (or that broke) during the idle window.
    pub dropped: u64,
    /// Pongs received during the run.
    pub pongs: u64,
    /// Server RSS with the devices registered and no socket open.
    pub rss_before: u64,
    /// Server RSS with every socket open, after the idle window.
    pub rss_after: u64,
    /// Server CPU during the idle window, percent of one core.
    pub idle_cpu_percent: f64,
    /// Sockets authenticated per second while connecting.
    pub connect_rate: f64,
    /// Whether memory and CPU are the server's alone (child process).
    pub isolated: bool,
}

impl ConnectionsResult {
    /// Server memory per socket, bytes.
    pub fn bytes_per_socket(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.connected.max(1) as f64
    }
}

/// Runs scenario 3 once on a fresh SQLite database.
pub async fn run(
    launch: &Launch,
    log: &str,
    params: &ConnectionsParams,
) -> BenchResult<ConnectionsResult> {
    // Both ends of every socket are in this process when the server runs in
    // process; leave slack for the database, listeners and HTTP clients.
    let sides = if matches!(launch, Launch::InProcess) {
        2
    } else {
        1
    };
    crate::limits::raise_nofile(sides * params.count as u64 + 2048)?;
    let db = Database::sqlite()?;
    let server = ServerUnderTest::start(launch, &ServerSpec::single(&db, log)).await?;
    let result = measure(&server, &db, launch, params).await;
    server.stop().await;
    db.cleanup().await;
    result
}

async fn measure(
    server: &ServerUnderTest,
    db: &Database,
    launch: &Launch,
    params: &ConnectionsParams,
) -> BenchResult<ConnectionsResult> {
    let per = params.devices_per_person.max(1);
    let people = params.count.div_ceil(per);
    let accounts = fixtures::accounts(db.url(), "idle", people).await?;
    let http = fixtures::http_client(64)?;
    let bar = progress::bar(params.count as u64, "registering devices");
    let devices = fixtures::register_devices(
        &http,
        server.base_url(),
        &accounts,
        params.count,
        64,
        || bar.inc(1),
    )
    .await?;
    bar.finish_and_clear();
    drop(http);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.usage()?;

    let stop = CancellationToken::new();
    let counters = Arc::new(SocketCounters::default());
    let (connected, connect_rate, tasks) = open_all(
        &devices,
        &accounts,
        params.ping_interval,
        params.connect_concurrency,
        &counters,
        &stop,
        Arc::new(|_, _| {}),
    )
    .await?;

    // Let allocations settle, then watch the idle server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t0 = server.usage()?;
    let started = Instant::now();
    let bar = progress::timer(params.idle, "idle");
    while started.elapsed() < params.idle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        bar.set_position(u64::try_from(started.elapsed().as_millis()).unwrap_or(0));
    }
    bar.finish_and_clear();
    let t1 = server.usage()?;
    let idle_secs = started.elapsed().as_secs_f64();
    let dropped = counters.dropped.load(Ordering::Relaxed);
    let pongs = counters.pongs.load(Ordering::Relaxed);

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks)).await;
    Ok(ConnectionsResult {
        wanted: params.count,
        connected,
        dropped,
        pongs,
        rss_before: before.rss_bytes,
        rss_after: t1.rss_bytes,
        idle_cpu_percent: cpu_percent(&t0, &t1, idle_secs),
        connect_rate,
        isolated: matches!(launch, Launch::Child { .. }),
    })
}

/// Percent of one core used between two samples `secs` apart.
pub fn cpu_percent(a: &ProcessUsage, b: &ProcessUsage, secs: f64) -> f64 {
    let ticks = b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64;
    100.0 * ticks / TICKS_PER_SEC as f64 / secs.max(1e-9)
}

/// The sockets' tasks.
pub(crate) type Tasks = Vec<tokio::task::JoinHandle<()>>;

/// Called with (socket index, frame text) for every event a socket receives.
pub(crate) type EventHandler = Arc<dyn Fn(usize, &str) + Send + Sync>;

/// Opens one socket per device (bounded concurrency); each then holds until
/// `stop`. Returns how many authenticated, their rate, and the tasks.
pub(crate) async fn open_all(
    devices: &[BenchDevice],
    accounts: &[Account],
    interval: Duration,
    concurrency: usize,
    counters: &Arc<SocketCounters>,
    stop: &CancellationToken,
    on_event: EventHandler,
) -> BenchResult<(usize, f64, Tasks)> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<BenchResult<()>>();
    let bar = progress::bar(devices.len() as u64, "connecting sockets");
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(devices.len());
    for (i, device) in devices.iter().enumerate() {
        let permit = Arc::clone(&gate)
            .acquire_owned()
            .await
            .map_err(|_| BenchError::Setup("connect gate closed".into()))?;
        let url = device.web_socket_url.clone();
        let token = accounts[device.owner].token.clone();
        let (counters, stop, done) = (Arc::clone(counters), stop.clone(), done_tx.clone());
        let on_event = Arc::clone(&on_event);
        // Spread first pings over one interval.
        let first = interval.mul_f64((i % 1000) as f64 / 1000.0);
        tasks.push(tokio::spawn(async move {
            let ws = socket::connect(&url, socket::source_addr(i), &token).await;
            drop(permit);
            match ws {
                Ok(ws) => {
                    let _ = done.send(Ok(()));
                    socket::hold(ws, first, interval, &counters, stop, |t| on_event(i, t)).await;
                }
                Err(e) => {
                    let _ = done.send(Err(e));
                }
            }
        }));
    }
    drop(done_tx);
    let mut connected = 0usize;
    let mut first_error = None;
    for _ in 0..devices.len() {
        match done_rx.recv().await {
            Some(Ok(())) => connected += 1,
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => break,
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rate = connected as f64 / start.elapsed().as_secs_f64().max(1e-9);
    if connected == 0
        && let Some(e) = first_error
    {
        return Err(e);
    }
    if let Some(e) = first_error {
        eprintln!("some sockets failed to connect; first error: {e}");
    }
    Ok((connected, rate, tasks))
}
