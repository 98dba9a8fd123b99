//! Scenario 6: meetings. Bare clients — a person each, with a registered
//! device and an authenticated Mercury socket — join meetings through the
//! Locus API the way the official SDK does (`POST {locus}/loci/call`, then
//! `POST {locusUrl}/participant`), and follow the roster from the events
//! ([`crate::roster`]).
//!
//! - **One large meeting**: `participants` clients join one meeting with at
//!   most `join_concurrency` joins in flight, then leave and rejoin for
//!   `churn`. Measured: join latency, the time from the last join's answer
//!   until every client's roster equals `GET {locusUrl}`'s, the frames and
//!   bytes the change that brought the meeting to 10, 100, 1,000 people
//!   cost (per recipient: flat means deltas), server CPU and RSS.
//! - **Many small meetings**: `small_meetings` meetings of `small_size`,
//!   every client calling its meeting's address: joins/s and latency.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use webex_wire::locus::{JoinRequest, JoinResponse, LeaveRequest, Locus, LocusEvent};

use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account};
use crate::progress;
use crate::roster::Roster;
use crate::socket::{self, SocketCounters};
use crate::stats::Latencies;
use crate::target::{Database, Launch, ProcessUsage, ServerSpec, ServerUnderTest, TICKS_PER_SEC};

/// Parameters of scenario 6.
#[derive(Debug, Clone)]
pub struct MeetingParams {
    /// People in the large meeting.
    pub participants: usize,
    /// Joins (and churn operations) in flight at once.
    pub join_concurrency: usize,
    /// How long participants leave and rejoin after everyone joined.
    pub churn: Duration,
    /// Meeting sizes whose roster change is reported (frames and bytes).
    pub steps: Vec<usize>,
    /// Number of small meetings (`0`: skip that part).
    pub small_meetings: usize,
    /// People per small meeting.
    pub small_size: usize,
    /// How long clients may take to converge before they count as stuck.
    pub converge_timeout: Duration,
}

impl MeetingParams {
    /// The tiny version `webex bench smoke` runs: just above the delta
    /// threshold, so both full documents and deltas are exercised.
    pub fn smoke() -> Self {
        Self {
            participants: 24,
            join_concurrency: 8,
            churn: Duration::from_millis(300),
            steps: vec![10, 20],
            small_meetings: 6,
            small_size: 3,
            converge_timeout: Duration::from_secs(20),
        }
    }
}

/// `webex bench meeting` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MeetingArgs {
    /// People in the large meeting.
    #[arg(long, default_value_t = 1000)]
    pub participants: usize,
    /// Joins in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Leave/rejoin time after everyone joined.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub churn: Duration,
    /// Meeting sizes whose roster change is reported.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub steps: Vec<usize>,
    /// Small meetings (0: skip).
    #[arg(long, default_value_t = 2000)]
    pub small_meetings: usize,
    /// People per small meeting.
    #[arg(long, default_value_t = 5)]
    pub small_size: usize,
}

impl MeetingArgs {
    /// The parameters these arguments give.
    pub fn params(&self) -> MeetingParams {
        MeetingParams {
            participants: self.participants.max(2),
            join_concurrency: self.concurrency.max(1),
            churn: self.churn,
            steps: self.steps.clone(),
            small_meetings: self.small_meetings,
            small_size: self.small_size.max(1),
            converge_timeout: Duration::from_secs(60),
        }
    }
}

/// What the change that brought the meeting to `size` people cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCost {
    /// Meeting size after the change.
    pub size: usize,
    /// Event type the clients received (`locus.difference` for a delta).
    pub kind: String,
    /// Frames received for that change (one per recipient socket).
    pub frames: u64,
    /// Bytes (frame payloads) received for that change.
    pub bytes: u64,
}

impl StepCost {
    /// Bytes per recipient.
    pub fn bytes_per_frame(&self) -> f64 {
        self.bytes as f64 / self.frames.max(1) as f64
    }
}

/// How the clients' rosters ended up after a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Convergence {
    /// From the phase's last answer until the last client's roster reached
    /// the final sequence (`None`: some never did within the timeout).
    pub after_last: Option<Duration>,
    /// Clients whose roster reached the final sequence.
    pub reached: usize,
    /// Clients whose roster differs from `GET {locusUrl}` at that sequence.
    pub mismatched: usize,
}

/// What one large-meeting run measured.
#[derive(Debug, Clone)]
pub struct LargeResult {
    /// Clients (sockets open, devices registered).
    pub participants: usize,
    /// Latency of each successful join.
    pub joins: Latencies,
    /// Joins that failed.
    pub join_errors: u64,
    /// From the first join to the last answer.
    pub join_wall: Duration,
    /// After the joins.
    pub converged: Convergence,
    /// Roster changes per meeting size.
    pub steps: Vec<StepCost>,
    /// Leave and rejoin requests answered during churn.
    pub churn: Latencies,
    /// Churn requests that failed.
    pub churn_errors: u64,
    /// Churn time actually spent.
    pub churn_wall: Duration,
    /// After churn.
    pub churn_converged: Convergence,
    /// Locus event frames all clients received in the run, and their bytes.
    pub frames: u64,
    /// See `frames`.
    pub bytes: u64,
    /// Server CPU while joining, percent of one core.
    pub join_cpu_percent: f64,
    /// This process's CPU while joining (the load generator: every
    /// client's socket and roster), percent of one core; includes the
    /// server when it runs in process.
    pub join_load_cpu_percent: f64,
    /// Server CPU while churning, percent of one core.
    pub churn_cpu_percent: f64,
    /// Server RSS with every socket open, before the joins.
    pub rss_before: u64,
    /// Server RSS after churn.
    pub rss_after: u64,
}

/// What one many-small-meetings run measured.
#[derive(Debug, Clone)]
pub struct SmallResult {
    /// Meetings.
    pub meetings: usize,
    /// People per meeting.
    pub size: usize,
    /// Latency of each successful join.
    pub joins: Latencies,
    /// Joins that failed.
    pub join_errors: u64,
    /// Distinct Loci the joins landed in (should equal `meetings`).
    pub loci: usize,
    /// From the first join to the last answer.
    pub wall: Duration,
    /// Server CPU while joining, percent of one core.
    pub cpu_percent: f64,
    /// Server RSS after the joins.
    pub rss_after: u64,
}

impl SmallResult {
    /// Successful joins per second.
    pub fn joins_per_sec(&self) -> f64 {
        self.joins.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Runs scenario 6 `runs` times on fresh SQLite databases and renders the
/// report section.
pub(crate) async fn bench(
    launch: &Launch,
    log: &str,
    runs: usize,
    p: &MeetingParams,
) -> BenchResult<String> {
    let mut large = Vec::new();
    let mut small = Vec::new();
    for _ in 0..runs.max(1) {
        large.push(run_large(launch, log, p).await?);
        if p.small_meetings > 0 {
            small.push(run_small(launch, log, p).await?);
        }
    }
    Ok(crate::meeting_report::render(p, &large, &small))
}

/// One client: a person, their device, their socket's view of the meeting.
struct Client {
    account: Account,
    device_url: String,
    web_socket_url: String,
    view: Arc<View>,
}

/// What a client's socket task and its joins share.
#[derive(Default)]
struct View {
    roster: Mutex<Roster>,
    /// Bench-clock nanoseconds when the roster's sequence last advanced.
    advanced_at: AtomicU64,
    /// The client's participant id, once joined.
    participant: Mutex<Option<String>>,
}

/// What every client of a run shares.
struct Shared {
    clock: Instant,
    /// Whether step costs are being recorded (the join phase).
    recording: AtomicBool,
    steps: Vec<usize>,
    costs: Mutex<BTreeMap<usize, StepCost>>,
    frames: AtomicU64,
    bytes: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// Servers, fixtures and open sockets of one run.
struct Setup {
    server: ServerUnderTest,
    db: Database,
    http: reqwest::Client,
    clients: Vec<Arc<Client>>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Setup {
    async fn start(
        launch: &Launch,
        log: &str,
        people: usize,
        p: &MeetingParams,
    ) -> BenchResult<Self> {
        let sides = if matches!(launch, Launch::InProcess) {
            2
        } else {
            1
        };
        crate::limits::raise_nofile(sides * people as u64 + 2048)?;
        let db = Database::sqlite()?;
        let server = ServerUnderTest::start(launch, &ServerSpec::single(&db, log)).await?;
        let shared = Arc::new(Shared {
            clock: Instant::now(),
            recording: AtomicBool::new(false),
            steps: p.steps.clone(),
            costs: Mutex::new(BTreeMap::new()),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let mut s = Self {
            server,
            db,
            http: fixtures::http_client(p.join_concurrency * 2 + 16)?,
            clients: Vec::new(),
            shared,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        };
        if let Err(e) = s.clients(people).await {
            s.finish().await;
            return Err(e);
        }
        Ok(s)
    }

    /// People with a device and an open socket each.
    async fn clients(&mut self, people: usize) -> BenchResult<()> {
        let prefix = format!("m{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let accounts = fixtures::accounts(self.db.url(), &prefix, people).await?;
        let base = self.server.base_url();
        let bar = progress::bar(people as u64, "registering devices");
        let http = &self.http;
        let devices: Vec<BenchResult<(Account, String, String)>> = futures::stream::iter(accounts)
            .map(|a| {
                let bar = bar.clone();
                async move {
                    let d =
                        fixtures::register_device(http, base, &a.token, "bench-meeting").await?;
                    bar.inc(1);
                    Ok((a, d.url, d.web_socket_url))
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        bar.finish_and_clear();
        for d in devices {
            let (account, device_url, web_socket_url) = d?;
            self.clients.push(Arc::new(Client {
                account,
                device_url,
                web_socket_url,
                view: Arc::new(View::default()),
            }));
        }
        let bar = progress::bar(people as u64, "opening sockets");
        let counters = Arc::new(SocketCounters::default());
        let opened: Vec<BenchResult<(usize, socket::Socket)>> =
            futures::stream::iter(self.clients.iter().enumerate())
                .map(|(i, c)| {
                    let bar = bar.clone();
                    async move {
                        let ws = socket::connect(
                            &c.web_socket_url,
                            socket::source_addr(i),
                            &c.account.token,
                        )
                        .await?;
                        bar.inc(1);
                        Ok((i, ws))
                    }
                })
                .buffer_unordered(128)
                .collect()
                .await;
        bar.finish_and_clear();
        for o in opened {
            let (i, ws) = o?;
            let view = Arc::clone(&self.clients[i].view);
            let shared = Arc::clone(&self.shared);
            let counters = Arc::clone(&counters);
            let stop = self.stop.clone();
            // Keepalives far apart: this scenario measures roster events.
            let first = Duration::from_millis(1000 + (i as u64 % 1000) * 10);
            self.tasks.push(tokio::spawn(async move {
                socket::hold(ws, first, Duration::from_secs(15), &counters, stop, |t| {
                    on_frame(&view, &shared, t);
                })
                .await;
            }));
        }
        Ok(())
    }

    fn usage(&self) -> BenchResult<ProcessUsage> {
        self.server.usage()
    }

    async fn finish(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            futures::future::join_all(self.tasks),
        )
        .await;
        self.server.stop().await;
        self.db.cleanup().await;
    }
}

/// Applies one socket frame to a client's roster.
fn on_frame(view: &View, shared: &Shared, text: &str) {
    #[derive(Deserialize)]
    struct Frame {
        data: Option<LocusEvent>,
    }
    let Ok(Frame { data: Some(event) }) = serde_json::from_str::<Frame>(text) else {
        return;
    };
    if !event.event_type.as_str().starts_with("locus.") {
        return;
    }
    let len = text.len() as u64;
    shared.frames.fetch_add(1, Ordering::Relaxed);
    shared.bytes.fetch_add(len, Ordering::Relaxed);
    if shared.recording.load(Ordering::Relaxed)
        && let Some(size) = event.locus.full_state.as_ref().and_then(|f| f.count)
        && shared.steps.contains(&(size as usize))
        && let Ok(mut costs) = shared.costs.lock()
    {
        let c = costs.entry(size as usize).or_default();
        c.size = size as usize;
        c.kind = event.event_type.as_str().to_owned();
        c.frames += 1;
        c.bytes += len;
    }
    apply(view, shared, |r| r.apply(event.event_type, event.locus));
}

/// Runs `f` on the client's roster; notes when its sequence advanced.
fn apply(view: &View, shared: &Shared, f: impl FnOnce(&mut Roster)) {
    if let Ok(mut r) = view.roster.lock() {
        let before = r.sequence();
        f(&mut r);
        if r.sequence() > before {
            view.advanced_at.store(shared.now(), Ordering::Release);
        }
    }
}

fn join_body(c: &Client, address: Option<&str>, permission: Option<String>) -> JoinRequest {
    let body = JoinRequest::new(&c.device_url, format!("bench-{}", uuid::Uuid::new_v4()))
        .with_permission_token(permission);
    match address {
        Some(a) => body.with_invitee(a),
        None => body,
    }
}

/// meetingInfo's `permissionToken` for `address` (a join by address
/// needs it, as the official SDK's `create()` then `join()` has it), asked
/// of the server at `base` with `token`.
pub(crate) async fn permission_token(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    address: &str,
) -> BenchResult<Option<String>> {
    let res = http
        .post(format!("{base}/wbxappapi/v1/meetingInfo"))
        .bearer_auth(token)
        .json(&webex_wire::locus::MeetingInfoRequest {
            sip_url: Some(address.to_owned()),
            ..Default::default()
        })
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "POST {webex-appapi-service}/meetingInfo",
            status,
        });
    }
    let info: webex_wire::locus::MeetingInfo = res.json().await?;
    Ok(info.permission_token)
}

/// One join (`address`: by `POST /loci/call`, else `POST {url}/participant`):
/// its latency and the document answered (applied to the client's roster).
/// Joins `c` (by `address` through `/loci/call`, else at `url`) on a task
/// of its own: a large meeting's answer is a full document (~0.8 KB a
/// participant), and parsing it on the caller's task would hold up every
/// other join in flight there, so the latency measured would be this
/// process's queue rather than the server's.
async fn join(
    http: &reqwest::Client,
    shared: &Arc<Shared>,
    c: &Arc<Client>,
    url: &str,
    address: Option<&str>,
) -> BenchResult<(Duration, Locus)> {
    let (http, shared, c) = (http.clone(), Arc::clone(shared), Arc::clone(c));
    let (url, address) = (url.to_owned(), address.map(str::to_owned));
    tokio::spawn(async move { join_here(&http, &shared, &c, &url, address.as_deref()).await })
        .await
        .map_err(|e| BenchError::Setup(format!("join task: {e}")))?
}

/// The join itself; the time is taken when the answer's body is in.
async fn join_here(
    http: &reqwest::Client,
    shared: &Shared,
    c: &Client,
    url: &str,
    address: Option<&str>,
) -> BenchResult<(Duration, Locus)> {
    // Not timed: the official SDK asks meetingInfo in `create()`, before
    // the join it measures.
    let permission = match address {
        Some(a) => {
            // The server whose Locus `url` is.
            let base = url
                .split_once("/locus/api/v1")
                .map_or(url, |(base, _)| base);
            permission_token(http, base, c.account.token.expose_secret(), a).await?
        }
        None => None,
    };
    let started = Instant::now();
    let res = http
        .post(url)
        .bearer_auth(c.account.token.expose_secret())
        .json(&join_body(c, address, permission))
        .send()
        .await?;
    let status = res.status().as_u16();
    let body = res.bytes().await?;
    let took = started.elapsed();
    if status != 200 {
        return Err(BenchError::Status {
            what: "POST {locus} join",
            status,
        });
    }
    let answer: JoinResponse = serde_json::from_slice(&body)
        .map_err(|e| BenchError::Setup(format!("join answer: {e}")))?;
    let locus = answer.locus;
    if let (Ok(mut p), Some(me)) = (c.view.participant.lock(), locus.self_.as_ref()) {
        *p = Some(me.id.clone());
    }
    let doc = Locus {
        self_: None,
        ..locus.clone()
    };
    apply(&c.view, shared, |r| r.replace(doc));
    Ok((took, locus))
}

/// `PUT {url}/participant/{id}/leave` for the client.
async fn leave(http: &reqwest::Client, c: &Client, url: &str) -> BenchResult<Duration> {
    let Some(id) = c.view.participant.lock().ok().and_then(|p| p.clone()) else {
        return Err(BenchError::Setup("leaving before joining".into()));
    };
    let body = LeaveRequest {
        device: Some(webex_wire::locus::JoinDevice {
            url: c.device_url.clone(),
            device_type: "WEB".into(),
            ..Default::default()
        }),
        correlation_id: Some("bench".into()),
        sequence: None,
        reason: None,
    };
    let started = Instant::now();
    let res = http
        .put(format!("{url}/participant/{id}/leave"))
        .bearer_auth(c.account.token.expose_secret())
        .json(&body)
        .send()
        .await?;
    let status = res.status().as_u16();
    let _ = res.bytes().await?;
    if status != 200 {
        return Err(BenchError::Status {
            what: "PUT {locusUrl}/participant/{id}/leave",
            status,
        });
    }
    Ok(started.elapsed())
}

/// `GET {url}` as `token`.
async fn get_locus(http: &reqwest::Client, url: &str, token: &SecretString) -> BenchResult<Locus> {
    let res = http
        .get(url)
        .bearer_auth(token.expose_secret())
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "GET {locusUrl}",
            status,
        });
    }
    let body = res.bytes().await?;
    serde_json::from_slice(&body).map_err(|e| BenchError::Setup(format!("GET {{locusUrl}}: {e}")))
}

/// Waits until every client's roster reached the sequence of `truth` (at
/// most `timeout`), then compares each with it.
async fn convergence(
    clients: &[Arc<Client>],
    truth: &Locus,
    last_answer: u64,
    timeout: Duration,
) -> Convergence {
    let target = truth.sequence.last().unwrap_or(0);
    let deadline = Instant::now() + timeout;
    let reached = || {
        clients
            .iter()
            .filter(|c| c.view.roster.lock().is_ok_and(|r| r.sequence() >= target))
            .count()
    };
    let mut n = reached();
    while n < clients.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        n = reached();
    }
    let mismatched = clients
        .iter()
        .filter(|c| {
            c.view
                .roster
                .lock()
                .is_ok_and(|r| r.sequence() == target && !r.matches(truth))
        })
        .count();
    let last = clients
        .iter()
        .map(|c| c.view.advanced_at.load(Ordering::Acquire))
        .max()
        .unwrap_or(0);
    Convergence {
        after_last: (n == clients.len())
            .then(|| Duration::from_nanos(last.saturating_sub(last_answer))),
        reached: n,
        mismatched,
    }
}

fn cpu_percent(before: ProcessUsage, after: ProcessUsage, wall: Duration) -> f64 {
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
    100.0 * ticks / TICKS_PER_SEC as f64 / wall.as_secs_f64().max(1e-9)
}

async fn run_large(launch: &Launch, log: &str, p: &MeetingParams) -> BenchResult<LargeResult> {
    let setup = Setup::start(launch, log, p.participants, p).await?;
    let r = large(&setup, p).await;
    setup.finish().await;
    r
}

async fn large(s: &Setup, p: &MeetingParams) -> BenchResult<LargeResult> {
    let base = s.server.base_url();
    let shared = &s.shared;
    let http = &s.http;
    let (first, rest) = s
        .clients
        .split_first()
        .ok_or_else(|| BenchError::Setup("no clients".into()))?;
    let address = format!("bench-{}@webex.localhost", uuid::Uuid::new_v4().simple());

    let before = s.usage()?;
    let load_before = ProcessUsage::read(None)?;
    shared.recording.store(true, Ordering::Release);
    let started = Instant::now();
    let mut joins = Latencies::new();
    let (took, locus) = join(
        http,
        shared,
        first,
        &format!("{base}/locus/api/v1/loci/call?alternateRedirect=true"),
        Some(&address),
    )
    .await?;
    joins.record(took);
    let url = locus.url.clone();
    let bar = progress::bar(rest.len() as u64, "joining");
    let participant_url = format!("{url}/participant?alternateRedirect=true");
    let results: Vec<BenchResult<Duration>> = futures::stream::iter(rest)
        .map(|c| {
            let bar = bar.clone();
            let participant_url = &participant_url;
            async move {
                let r = join(http, shared, c, participant_url, None)
                    .await
                    .map(|j| j.0);
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(p.join_concurrency)
        .collect()
        .await;
    bar.finish_and_clear();
    let join_wall = started.elapsed();
    let last_answer = shared.now();
    let after_joins = s.usage()?;
    let load_after_joins = ProcessUsage::read(None)?;
    let mut join_errors = 0;
    for r in results {
        match r {
            Ok(d) => joins.record(d),
            Err(_) => join_errors += 1,
        }
    }
    let truth = get_locus(http, &url, &first.account.token).await?;
    let converged = convergence(&s.clients, &truth, last_answer, p.converge_timeout).await;
    shared.recording.store(false, Ordering::Release);
    let steps = shared
        .costs
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();

    // Churn: each worker leaves and rejoins its own share of the clients.
    let churn_before = s.usage()?;
    let churn = Mutex::new(Latencies::new());
    let churn_errors = AtomicU64::new(0);
    // Worker w owns clients w, w + W, …: a client never churns twice at once.
    let n_workers = p.join_concurrency.min(s.clients.len() / 2).max(1);
    let churn_started = Instant::now();
    let workers = (0..n_workers).map(|w| {
        let (churn, churn_errors, participant_url, url) =
            (&churn, &churn_errors, &participant_url, &url);
        async move {
            let mine: Vec<&Arc<Client>> = s.clients.iter().skip(w).step_by(n_workers).collect();
            let mut k = 0;
            while churn_started.elapsed() < p.churn {
                let c = mine[k % mine.len()];
                k += 1;
                let left = leave(http, c, url).await;
                let rejoined = join(http, shared, c, participant_url, None).await;
                if let Ok(mut h) = churn.lock() {
                    for r in [left, rejoined.map(|j| j.0)] {
                        match r {
                            Ok(d) => h.record(d),
                            Err(_) => {
                                churn_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }
    });
    futures::future::join_all(workers).await;
    let churn_wall = churn_started.elapsed();
    let churn_last = shared.now();
    let after_churn = s.usage()?;
    let truth = get_locus(http, &url, &first.account.token).await?;
    let churn_converged = convergence(&s.clients, &truth, churn_last, p.converge_timeout).await;

    Ok(LargeResult {
        participants: s.clients.len(),
        joins,
        join_errors,
        join_wall,
        converged,
        steps,
        churn: churn.into_inner().unwrap_or_default(),
        churn_errors: churn_errors.into_inner(),
        churn_wall,
        churn_converged,
        frames: shared.frames.load(Ordering::Acquire),
        bytes: shared.bytes.load(Ordering::Acquire),
        join_cpu_percent: cpu_percent(before, after_joins, join_wall),
        join_load_cpu_percent: cpu_percent(load_before, load_after_joins, join_wall),
        churn_cpu_percent: cpu_percent(churn_before, after_churn, churn_wall),
        rss_before: before.rss_bytes,
        rss_after: after_churn.rss_bytes,
    })
}

async fn run_small(launch: &Launch, log: &str, p: &MeetingParams) -> BenchResult<SmallResult> {
    let people = p.small_meetings * p.small_size;
    let setup = Setup::start(launch, log, people, p).await?;
    let r = small(&setup, p).await;
    setup.finish().await;
    r
}

async fn small(s: &Setup, p: &MeetingParams) -> BenchResult<SmallResult> {
    let base = s.server.base_url();
    let call = format!("{base}/locus/api/v1/loci/call?alternateRedirect=true");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let before = s.usage()?;
    let started = Instant::now();
    let bar = progress::bar(s.clients.len() as u64, "joining small meetings");
    // Client i joins meeting i % meetings: every meeting fills at once.
    let results: Vec<BenchResult<(Duration, String)>> =
        futures::stream::iter(s.clients.iter().enumerate())
            .map(|(i, c)| {
                let (bar, call, run) = (bar.clone(), &call, &run);
                async move {
                    let address = format!(
                        "small-{}-{}@webex.localhost",
                        &run[..8],
                        i % p.small_meetings
                    );
                    let r = join(&s.http, &s.shared, c, call, Some(&address))
                        .await
                        .map(|(d, l)| (d, l.url));
                    bar.inc(1);
                    r
                }
            })
            .buffer_unordered(p.join_concurrency)
            .collect()
            .await;
    bar.finish_and_clear();
    let wall = started.elapsed();
    let after = s.usage()?;
    let mut joins = Latencies::new();
    let mut join_errors = 0;
    let mut loci = std::collections::HashSet::new();
    for r in results {
        match r {
            Ok((d, url)) => {
                joins.record(d);
                loci.insert(url);
            }
            Err(_) => join_errors += 1,
        }
    }
    Ok(SmallResult {
        meetings: p.small_meetings,
        size: p.small_size,
        joins,
        join_errors,
        loci: loci.len(),
        wall,
        cpu_percent: cpu_percent(before, after, wall),
        rss_after: after.rss_bytes,
    })
}
