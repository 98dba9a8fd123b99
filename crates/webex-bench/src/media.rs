//! Scenario 10: media forwarding. `meetings` meetings of two people, each
//! person a str0m client of its own
//! ([`webex_media::testing::TestPeer`]: its own UDP socket and thread, an
//! Opus frame every 20 ms, an H.264 access unit every 33 ms). People,
//! devices, joins and the media offers go over HTTP as the official SDK
//! sends them (`POST /wdm/api/v1/devices`, meetingInfo then
//! `POST {locus}/loci/call` for the first person, `POST
//! {locusUrl}/participant` for the second, then `PUT {selfUrl}/media` with
//! a TURN discovery request and a ROAP offer); media then flows through
//! the server's engine (ICE-lite, DTLS-SRTP, frame forwarding).
//!
//! After a warm-up, a measured window: frames received per second (every
//! frame counted by its receiver), the delay each frame took from its
//! sender's `write` to its receiver having it whole (send time carried in
//! the frame, [`webex_media::testing::clock_nanos`]), the server's CPU and
//! RSS (from `/proc/<pid>`), and this process's CPU (the load generator).
//!
//! **The floor**, in the same run: as many pairs of
//! [`crate::media_floor::FloorPeer`]s through a bare UDP relay
//! ([`crate::media_floor::UdpRelay`]) with the same frame rates, datagram
//! sizes and latency method: what moving these datagrams costs at the
//! least on this machine.

use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_media::testing::{FrameDelay, FrameKind, RunningPeer, TestPeer};
use webex_wire::locus::{JoinDevice, JoinRequest, JoinResponse, MeetingInfo, MeetingInfoRequest};
use webex_wire::roap::{
    LocalMedia, LocalSdp, MediaRequest, MediaResponse, MessageType, RoapMessage,
};

use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account};
use crate::media_floor::{FloorPeer, RelayUnderTest};
use crate::progress;
use crate::stats::{Latencies, median};
use crate::target::{Database, Launch, ProcessUsage, ServerSpec, ServerUnderTest, TICKS_PER_SEC};

/// Label of the server's rows.
pub const SERVER: &str = "webex serve";
/// Label of the floor's rows.
pub const FLOOR: &str = "floor: bare UDP relay";

/// Parameters of scenario 10.
#[derive(Debug, Clone)]
pub struct MediaParams {
    /// Meeting counts (two people each), one run of each per repetition.
    pub meetings: Vec<usize>,
    /// Media time before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// How long every client may take to connect and receive both kinds.
    pub connect_timeout: Duration,
    /// Offers (TURN discovery + OFFER) in flight at once.
    pub concurrency: usize,
}

impl MediaParams {
    /// The tiny version `webex bench smoke` runs: one meeting, 2 s.
    pub fn smoke() -> Self {
        Self {
            meetings: vec![1],
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(30),
            concurrency: 4,
        }
    }
}

/// `webex bench media` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Meetings of two people, one run of each count per repetition.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub meetings: Vec<usize>,
    /// Measured window per run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Media time before the window.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
}

impl MediaArgs {
    /// The parameters these arguments give.
    pub fn params(&self) -> MediaParams {
        MediaParams {
            meetings: self.meetings.iter().map(|&m| m.max(1)).collect(),
            warmup: self.warmup,
            duration: self.duration,
            connect_timeout: Duration::from_secs(60),
            concurrency: 8,
        }
    }
}

/// What one run of one setup (server or floor) measured.
#[derive(Debug, Clone)]
pub struct MediaRun {
    /// [`SERVER`] or [`FLOOR`].
    pub setup: &'static str,
    /// Meetings (pairs).
    pub meetings: usize,
    /// Clients that connected and received both audio and video before
    /// the window.
    pub flowing: usize,
    /// Clients.
    pub clients: usize,
    /// The measured window.
    pub window: Duration,
    /// Frames (audio + video) all clients sent in the window.
    pub frames_sent: u64,
    /// Frames all clients received in the window.
    pub frames: u64,
    /// UDP datagrams all clients received in the window.
    pub datagrams: u64,
    /// Their bytes (UDP payload).
    pub bytes: u64,
    /// Audio frames' delay, sender to receiver.
    pub audio: Latencies,
    /// Video frames' delay (to the last packet of the access unit).
    pub video: Latencies,
    /// Server (or relay) CPU in the window, percent of one core.
    pub server_cpu_percent: f64,
    /// Server (or relay) RSS after the window.
    pub rss_bytes: u64,
    /// This process's CPU in the window, percent of one core (includes
    /// the server when it runs in process).
    pub load_cpu_percent: f64,
    /// From the server's start until every client connected.
    pub setup_time: Duration,
}

impl MediaRun {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Frames received per second.
    pub fn frames_per_sec(&self) -> f64 {
        self.per_sec(self.frames)
    }

    /// Frames sent per second.
    pub fn sent_per_sec(&self) -> f64 {
        self.per_sec(self.frames_sent)
    }

    /// Datagrams received per second.
    pub fn datagrams_per_sec(&self) -> f64 {
        self.per_sec(self.datagrams)
    }

    /// Mean datagram size received.
    pub fn bytes_per_datagram(&self) -> f64 {
        self.bytes as f64 / self.datagrams.max(1) as f64
    }

    /// Server CPU per client, percent of one core.
    pub fn cpu_per_client(&self) -> f64 {
        self.server_cpu_percent / self.clients.max(1) as f64
    }
}

/// Runs scenario 10 `runs` times (each meeting count: the floor, then the
/// server) and renders the report section.
pub(crate) async fn bench(
    launch: &Launch,
    log: &str,
    runs: usize,
    p: &MediaParams,
) -> BenchResult<String> {
    // Room for every client's socket, both sides when in process.
    let most = p.meetings.iter().copied().max().unwrap_or(1) as u64;
    crate::limits::raise_nofile(8 * most + 2048)?;
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        for &meetings in &p.meetings {
            results.push(floor_run(launch, meetings, p).await?);
            results.push(server_run(launch, log, meetings, p).await?);
        }
    }
    Ok(render(launch, p, &results))
}

/// A client of either setup.
enum Peer {
    Webrtc(RunningPeer),
    Floor(FloorPeer),
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    flowing: bool,
    frames: u64,
    sent: u64,
    datagrams: u64,
    bytes: u64,
}

impl Peer {
    fn counts(&self) -> Counts {
        match self {
            Self::Webrtc(p) => {
                let s = p.stats();
                Counts {
                    flowing: s.connected && s.received_audio > 0 && s.received_video > 0,
                    frames: s.received_audio + s.received_video,
                    sent: s.sent_audio + s.sent_video,
                    datagrams: s.received_datagrams,
                    bytes: s.received_bytes,
                }
            }
            Self::Floor(p) => {
                let c = p.counts();
                Counts {
                    flowing: c.ready && c.audio > 0 && c.video > 0,
                    frames: c.audio + c.video,
                    sent: c.sent_frames,
                    datagrams: c.datagrams,
                    bytes: c.bytes,
                }
            }
        }
    }

    fn record_delays(&self, on: bool) {
        match self {
            Self::Webrtc(p) => p.record_delays(on),
            Self::Floor(p) => p.record_delays(on),
        }
    }

    fn take_delays(&self) -> Vec<FrameDelay> {
        match self {
            Self::Webrtc(p) => p.take_delays(),
            Self::Floor(p) => p.take_delays(),
        }
    }
}

/// Stops every client's thread (off the runtime's threads: each close
/// joins one).
async fn close(peers: Vec<Peer>) {
    let _ = tokio::task::spawn_blocking(move || {
        for p in peers {
            match p {
                Peer::Webrtc(p) => p.close(),
                Peer::Floor(p) => p.close(),
            }
        }
    })
    .await;
}

fn cpu_percent(before: ProcessUsage, after: ProcessUsage, wall: Duration) -> f64 {
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
    100.0 * ticks / TICKS_PER_SEC as f64 / wall.as_secs_f64().max(1e-9)
}

/// Waits for every client to receive both kinds (at most the timeout),
/// warms up, then measures the window. `server` is the pid whose CPU and
/// RSS are read (`None`: this process).
async fn measure(
    setup: &'static str,
    meetings: usize,
    peers: &[Peer],
    server: Option<u32>,
    started: Instant,
    p: &MediaParams,
) -> BenchResult<MediaRun> {
    let deadline = Instant::now() + p.connect_timeout;
    let flowing = || peers.iter().filter(|c| c.counts().flowing).count();
    while flowing() < peers.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup_time = started.elapsed();
    let flowing = flowing();
    tokio::time::sleep(p.warmup).await;

    let before: Vec<Counts> = peers.iter().map(Peer::counts).collect();
    let server_before = ProcessUsage::read(server)?;
    let load_before = ProcessUsage::read(None)?;
    for c in peers {
        let _ = c.take_delays();
        c.record_delays(true);
    }
    let window_start = Instant::now();
    tokio::time::sleep(p.duration).await;
    let window = window_start.elapsed();
    let server_after = ProcessUsage::read(server)?;
    let load_after = ProcessUsage::read(None)?;
    let after: Vec<Counts> = peers.iter().map(Peer::counts).collect();
    let mut audio = Latencies::new();
    let mut video = Latencies::new();
    for c in peers {
        c.record_delays(false);
        for d in c.take_delays() {
            let h = match d.kind {
                FrameKind::Audio => &mut audio,
                FrameKind::Video => &mut video,
            };
            h.record_micros(d.nanos / 1000);
        }
    }
    let sum = |f: fn(&Counts) -> u64| -> u64 {
        before
            .iter()
            .zip(&after)
            .map(|(b, a)| f(a).saturating_sub(f(b)))
            .sum()
    };
    Ok(MediaRun {
        setup,
        meetings,
        flowing,
        clients: peers.len(),
        window,
        frames_sent: sum(|c| c.sent),
        frames: sum(|c| c.frames),
        datagrams: sum(|c| c.datagrams),
        bytes: sum(|c| c.bytes),
        audio,
        video,
        server_cpu_percent: cpu_percent(server_before, server_after, window),
        rss_bytes: server_after.rss_bytes,
        load_cpu_percent: cpu_percent(load_before, load_after, window),
        setup_time,
    })
}

/// The floor: `meetings` pairs through a bare UDP relay.
async fn floor_run(launch: &Launch, meetings: usize, p: &MediaParams) -> BenchResult<MediaRun> {
    let started = Instant::now();
    let relay = RelayUnderTest::start(launch).await?;
    let mut peers = Vec::with_capacity(2 * meetings);
    let mut result = Ok(());
    for pair in 0..meetings {
        for _ in 0..2 {
            match FloorPeer::start(relay.local_addr(), pair as u32) {
                Ok(peer) => peers.push(Peer::Floor(peer)),
                Err(e) => result = Err(BenchError::Io(e)),
            }
        }
    }
    let r = match result {
        Ok(()) => measure(FLOOR, meetings, &peers, relay.pid(), started, p).await,
        Err(e) => Err(e),
    };
    close(peers).await;
    relay.stop().await;
    r
}

/// The server: `meetings` meetings of two WebRTC clients.
async fn server_run(
    launch: &Launch,
    log: &str,
    meetings: usize,
    p: &MediaParams,
) -> BenchResult<MediaRun> {
    let started = Instant::now();
    let db = Database::sqlite()?;
    let server = ServerUnderTest::start(launch, &ServerSpec::single(&db, log)).await?;
    let mut peers = Vec::with_capacity(2 * meetings);
    let r = async {
        let http = fixtures::http_client(p.concurrency * 2 + 4)?;
        let prefix = format!("media{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let accounts = fixtures::accounts(db.url(), &prefix, 2 * meetings).await?;
        let base = server.base_url();
        let bar = progress::bar(meetings as u64, "meetings with media");
        let pairs: Vec<BenchResult<[RunningPeer; 2]>> =
            futures::stream::iter(accounts.chunks(2).enumerate())
                .map(|(i, people)| {
                    let (http, bar, prefix) = (&http, bar.clone(), &prefix);
                    async move {
                        let address = format!("{prefix}-{i}@webex.localhost");
                        let r = meeting_with_media(http, base, people, &address).await;
                        bar.inc(1);
                        r
                    }
                })
                .buffer_unordered(p.concurrency.max(1))
                .collect()
                .await;
        bar.finish_and_clear();
        for pair in pairs {
            peers.extend(pair?.map(Peer::Webrtc));
        }
        measure(SERVER, meetings, &peers, server.pid(), started, p).await
    }
    .await;
    close(peers).await;
    server.stop().await;
    db.cleanup().await;
    r
}

/// A person of a meeting: token, device, their `self.url`.
struct Member<'a> {
    account: &'a Account,
    device_url: String,
    self_url: String,
    media_id: Option<String>,
}

/// Two people (devices, meetingInfo + `loci/call`, join), then each one's
/// media: the running clients.
async fn meeting_with_media(
    http: &reqwest::Client,
    base: &str,
    people: &[Account],
    address: &str,
) -> BenchResult<[RunningPeer; 2]> {
    let [a, b] = people else {
        return Err(BenchError::Setup("a meeting needs two people".into()));
    };
    let dev_a = fixtures::register_device(http, base, &a.token, "bench-media").await?;
    let dev_b = fixtures::register_device(http, base, &b.token, "bench-media").await?;
    let permission = permission_token(http, base, a, address).await?;
    let body = JoinRequest::new(&dev_a.url, format!("bench-{}", uuid::Uuid::new_v4()))
        .with_invitee(address)
        .with_permission_token(permission);
    let joined_a = join(
        http,
        &format!("{base}/locus/api/v1/loci/call?alternateRedirect=true"),
        a,
        &body,
    )
    .await?;
    let locus_url = joined_a.locus.url.clone();
    let body = JoinRequest::new(&dev_b.url, format!("bench-{}", uuid::Uuid::new_v4()));
    let joined_b = join(
        http,
        &format!("{locus_url}/participant?alternateRedirect=true"),
        b,
        &body,
    )
    .await?;
    let member = |account, device_url, joined: JoinResponse| -> BenchResult<Member<'_>> {
        let self_url = joined
            .locus
            .self_
            .and_then(|s| s.url)
            .ok_or_else(|| BenchError::Setup("join answer without self.url".into()))?;
        Ok(Member {
            account,
            device_url,
            self_url,
            media_id: joined
                .media_connections
                .into_iter()
                .find_map(|m| m.media_id),
        })
    };
    let ma = member(a, dev_a.url, joined_a)?;
    let mb = member(b, dev_b.url, joined_b)?;
    let peer_a = start_media(http, &ma).await?;
    let peer_b = start_media(http, &mb).await?;
    Ok([peer_a, peer_b])
}

async fn permission_token(
    http: &reqwest::Client,
    base: &str,
    a: &Account,
    address: &str,
) -> BenchResult<Option<String>> {
    let res = http
        .post(format!("{base}/wbxappapi/v1/meetingInfo"))
        .bearer_auth(a.token.expose_secret())
        .json(&MeetingInfoRequest {
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
    let info: MeetingInfo = res.json().await?;
    Ok(info.permission_token)
}

async fn join(
    http: &reqwest::Client,
    url: &str,
    who: &Account,
    body: &JoinRequest,
) -> BenchResult<JoinResponse> {
    let res = http
        .post(url)
        .bearer_auth(who.token.expose_secret())
        .json(body)
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "POST {locus} join",
            status,
        });
    }
    Ok(res.json().await?)
}

/// `PUT {selfUrl}/media` with `roap` as the SDK wraps it; the ROAP
/// message answered.
async fn put_media(
    http: &reqwest::Client,
    m: &Member<'_>,
    roap: RoapMessage,
) -> BenchResult<RoapMessage> {
    let local = LocalSdp {
        audio_muted: false,
        video_muted: false,
        roap_message: Some(roap),
        reachability: None,
    };
    let body = MediaRequest {
        device: JoinDevice {
            url: m.device_url.clone(),
            device_type: "WEB".into(),
            country_code: Some("US".into()),
            region_code: Some("US-EAST".into()),
        },
        correlation_id: Some(format!("bench-{}", uuid::Uuid::new_v4())),
        local_medias: vec![LocalMedia {
            local_sdp: serde_json::to_string(&local)
                .map_err(|e| BenchError::Setup(format!("local SDP: {e}")))?,
            media_id: m.media_id.clone(),
        }],
        client_media_preferences: Some(serde_json::json!({
            "ipver": 4, "joinCookie": {}, "preferTranscoding": true
        })),
        ..Default::default()
    };
    let res = http
        .put(format!("{}/media", m.self_url))
        .bearer_auth(m.account.token.expose_secret())
        .json(&body)
        .send()
        .await?;
    let status = res.status().as_u16();
    if status != 200 {
        return Err(BenchError::Status {
            what: "PUT {selfUrl}/media",
            status,
        });
    }
    let answer: MediaResponse = res.json().await?;
    answer
        .roap_message()
        .map_err(|e| BenchError::Setup(format!("remoteSdp: {e}")))?
        .ok_or_else(|| BenchError::Setup("a /media answer without a ROAP message".into()))
}

/// TURN discovery, then an offer from a fresh client; the client running
/// with the server's answer.
async fn start_media(http: &reqwest::Client, m: &Member<'_>) -> BenchResult<RunningPeer> {
    let turn = put_media(http, m, RoapMessage::turn_discovery_request()).await?;
    if turn.message_type != MessageType::TurnDiscoveryResponse {
        return Err(BenchError::Setup(format!(
            "TURN discovery answered {:?}",
            turn.message_type
        )));
    }
    let mut peer = TestPeer::new().map_err(|e| BenchError::Setup(e.to_string()))?;
    let offer = peer.offer_sdp();
    let answer = put_media(http, m, RoapMessage::offer(1, offer)).await?;
    let sdp = match (answer.message_type, answer.sdps.first()) {
        (MessageType::Answer, Some(sdp)) => sdp,
        (t, _) => {
            return Err(BenchError::Setup(format!(
                "the offer was answered {t:?} ({:?})",
                answer.error_cause
            )));
        }
    };
    peer.accept_answer(sdp)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok(peer.start())
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn mb(bytes: f64) -> String {
    format!("{:.1}", bytes / 1024.0 / 1024.0)
}

/// The report section: every run's row, the medians, then server and
/// floor side by side.
fn render(launch: &Launch, p: &MediaParams, runs: &[MediaRun]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "### 10. Media forwarding (meetings of 2, {:?} window after {:?} warm-up)\n\n",
        p.duration, p.warmup
    );
    out += "| run | setup | meetings | clients flowing | frames/s sent | frames/s received | datagrams/s received | bytes/datagram | audio p50 ms | audio p99 ms | video p50 ms | video p99 ms | server CPU % of a core | per client | RSS MB | load generator CPU % | setup s |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    let n_configs = 2 * p.meetings.len().max(1);
    for (i, r) in runs.iter().enumerate() {
        let (a, v) = (r.audio.summary(), r.video.summary());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {:.1} | {:.1} |",
            i / n_configs + 1,
            r.setup,
            r.meetings,
            r.flowing,
            r.clients,
            r.sent_per_sec(),
            r.frames_per_sec(),
            r.datagrams_per_sec(),
            r.bytes_per_datagram(),
            ms(a.p50_ms),
            ms(a.p99_ms),
            ms(v.p50_ms),
            ms(v.p99_ms),
            r.server_cpu_percent,
            r.cpu_per_client(),
            mb(r.rss_bytes as f64),
            r.load_cpu_percent,
            r.setup_time.as_secs_f64(),
        );
    }
    let of = |setup: &str, meetings: usize| -> Vec<&MediaRun> {
        runs.iter()
            .filter(|r| r.setup == setup && r.meetings == meetings)
            .collect()
    };
    let med = |rs: &[&MediaRun], f: &dyn Fn(&MediaRun) -> f64| {
        median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
    };
    for &m in &p.meetings {
        for setup in [FLOOR, SERVER] {
            let rs = of(setup, m);
            if rs.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "| **median** | {setup} | {m} | | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {:.1} | |",
                med(&rs, &|r| r.sent_per_sec()),
                med(&rs, &|r| r.frames_per_sec()),
                med(&rs, &|r| r.datagrams_per_sec()),
                med(&rs, &|r| r.bytes_per_datagram()),
                ms(med(&rs, &|r| r.audio.summary().p50_ms)),
                ms(med(&rs, &|r| r.audio.summary().p99_ms)),
                ms(med(&rs, &|r| r.video.summary().p50_ms)),
                ms(med(&rs, &|r| r.video.summary().p99_ms)),
                med(&rs, &|r| r.server_cpu_percent),
                med(&rs, &|r| r.cpu_per_client()),
                mb(med(&rs, &|r| r.rss_bytes as f64)),
                med(&rs, &|r| r.load_cpu_percent),
            );
        }
    }
    out += "\nServer against its floor (medians of the runs; latency sender → receiver, CPU per client in % of a core):\n\n";
    out += "| meetings | audio p50 ms server / floor | audio p99 ms server / floor | video p50 ms server / floor | video p99 ms server / floor | CPU per client server / floor | server CPU ÷ floor CPU |\n|---|---|---|---|---|---|---|\n";
    for &m in &p.meetings {
        let (s, f) = (of(SERVER, m), of(FLOOR, m));
        let pair =
            |g: &dyn Fn(&MediaRun) -> f64| format!("{} / {}", ms(med(&s, g)), ms(med(&f, g)));
        let (cs, cf) = (
            med(&s, &|r| r.cpu_per_client()),
            med(&f, &|r| r.cpu_per_client()),
        );
        let ratio = if cf > 0.0 {
            format!("{:.1}×", cs / cf)
        } else {
            "— (floor below one tick)".into()
        };
        let _ = writeln!(
            out,
            "| {m} | {} | {} | {} | {} | {cs:.2} / {cf:.2} | {ratio} |",
            pair(&|r| r.audio.summary().p50_ms),
            pair(&|r| r.audio.summary().p99_ms),
            pair(&|r| r.video.summary().p50_ms),
            pair(&|r| r.video.summary().p99_ms),
        );
    }
    if matches!(launch, Launch::InProcess) {
        out += "\nServer in process: its CPU and RSS figures include the load generator.\n";
    }
    out
}
