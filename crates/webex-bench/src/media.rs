//! Scenario 10: media through the server's engine, meetings of `people`
//! (2: forwarded as is; 3 and more: audio mixed, everyone but the
//! receiver, and video following the active speaker), `meetings` of them
//! at once, each person a str0m client of its own
//! ([`webex_media::testing::TestPeer`]: its own UDP socket and thread, an
//! Opus frame every 20 ms, an H.264 access unit every 33 ms). In meetings
//! of two the audio is filler stamped with its send time; from three on it
//! is a real Opus sine, a distinct frequency per person, loud for the
//! first `talkers` and digital silence (still sent) for the others. Set-up
//! as the official SDK does it (`media_setup.rs`).
//!
//! After a warm-up, a measured window: frames received per second (every
//! frame counted by its receiver), the delay each frame took from its
//! sender's `write` to its receiver having it whole (send time carried in
//! the frame, [`webex_media::testing::clock_nanos`]; mixed audio is
//! re-encoded and carries no send time, so from three on only video is
//! timed), the server's CPU and RSS (from `/proc/<pid>`), its mixing time
//! (the `webex_media_mix_seconds` histogram's sum on `/metrics`, before
//! and after), and this process's CPU (the load generator).
//!
//! **The floor**, in the same run: as many groups of
//! [`crate::media_floor::FloorPeer`]s through a bare UDP relay
//! ([`crate::media_floor::UdpRelay`], each member's datagrams to the next
//! member of its group) with the same frame rates, datagram sizes and
//! latency method: what moving these datagrams costs at the least on this
//! machine, without SRTP, ICE or mixing.
//!
//! [`crate::media_capacity`] grows meetings of ten until a quality
//! criterion fails.

use std::time::{Duration, Instant};

use futures::StreamExt;
use webex_media::testing::{FrameDelay, FrameKind, RunningPeer};

use crate::error::{BenchError, BenchResult};
use crate::fixtures;
use crate::media_floor::{FloorPeer, RelayUnderTest};
use crate::media_setup::meeting_with_media;
use crate::progress;
use crate::stats::Latencies;
use crate::target::{Database, Launch, ProcessUsage, ServerSpec, ServerUnderTest, TICKS_PER_SEC};

/// Label of the server's rows.
pub const SERVER: &str = "webex serve";
/// Label of the floor's rows.
pub const FLOOR: &str = "floor: bare UDP relay";

/// Parameters of scenario 10.
#[derive(Debug, Clone)]
pub struct MediaParams {
    /// Meeting sizes (people per meeting).
    pub people: Vec<usize>,
    /// Meeting counts; one run per size × count per repetition.
    pub meetings: Vec<usize>,
    /// People who talk in each meeting of three or more (0: everyone).
    pub talkers: usize,
    /// Media time before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// How long every client may take to connect and receive both kinds.
    pub connect_timeout: Duration,
    /// HTTP requests (joins, offers) in flight at once.
    pub concurrency: usize,
    /// Instead of the runs: the capacity search, meetings of this many.
    pub capacity: Option<crate::media_capacity::CapacityParams>,
}

impl MediaParams {
    /// The tiny version `webex bench smoke` runs: one meeting of two and
    /// one of three (mixed), 2 s each.
    pub fn smoke() -> Self {
        Self {
            people: vec![2, 3],
            meetings: vec![1],
            talkers: 2,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(30),
            concurrency: 4,
            capacity: None,
        }
    }
}

/// `webex bench media` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Meeting sizes (people per meeting; from three on audio is mixed).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub people: Vec<usize>,
    /// Meetings at once; one run of each size × count per repetition.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub meetings: Vec<usize>,
    /// People who talk in each meeting of three or more (0: everyone);
    /// the others send digital silence.
    #[arg(long, default_value_t = 2)]
    pub talkers: usize,
    /// Measured window per run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Media time before the window.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Instead of the runs: add meetings of `--capacity-size` people until
    /// a quality criterion fails (see BENCHMARKS.md §11); reports the
    /// largest number of participants that passed.
    #[arg(long)]
    pub capacity: bool,
    /// Meeting size of the capacity search.
    #[arg(long, default_value_t = 10)]
    pub capacity_size: usize,
    /// Most participants the capacity search tries.
    #[arg(long, default_value_t = 400)]
    pub capacity_max: usize,
}

impl MediaArgs {
    /// The parameters these arguments give.
    pub fn params(&self) -> MediaParams {
        MediaParams {
            people: self.people.iter().map(|&p| p.clamp(2, 100)).collect(),
            meetings: self.meetings.iter().map(|&m| m.max(1)).collect(),
            talkers: self.talkers,
            warmup: self.warmup,
            duration: self.duration,
            connect_timeout: Duration::from_secs(120),
            concurrency: 8,
            capacity: self
                .capacity
                .then(|| crate::media_capacity::CapacityParams {
                    size: self.capacity_size.clamp(2, 100),
                    max: self.capacity_max.max(self.capacity_size),
                }),
        }
    }
}

/// What one run of one setup (server or floor) measured.
#[derive(Debug, Clone)]
pub struct MediaRun {
    /// [`SERVER`] or [`FLOOR`].
    pub setup: &'static str,
    /// People per meeting.
    pub people: usize,
    /// Meetings.
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
    /// Audio frames' delay, sender to receiver (meetings of two: mixed
    /// audio carries no send time).
    pub audio: Latencies,
    /// Video frames' delay (to the last packet of the access unit).
    pub video: Latencies,
    /// Server (or relay) CPU in the window, percent of one core.
    pub server_cpu_percent: f64,
    /// Server (or relay) RSS after the window.
    pub rss_bytes: u64,
    /// The server's mixing time in the window (`webex_media_mix_seconds`;
    /// `None` for the floor, which does not mix).
    pub mix_seconds: Option<f64>,
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

    /// Server RSS per client.
    pub fn rss_per_client(&self) -> f64 {
        self.rss_bytes as f64 / self.clients.max(1) as f64
    }

    /// Mixing time per second of window, percent of one core (all
    /// meetings).
    pub fn mix_percent(&self) -> Option<f64> {
        self.mix_seconds
            .map(|s| 100.0 * s / self.window.as_secs_f64().max(1e-9))
    }

    /// Mixing, percent of one core per meeting.
    pub fn mix_per_meeting(&self) -> Option<f64> {
        self.mix_percent().map(|m| m / self.meetings.max(1) as f64)
    }

    /// Mixing, percent of one core per client.
    pub fn mix_per_client(&self) -> Option<f64> {
        self.mix_percent().map(|m| m / self.clients.max(1) as f64)
    }

    /// Frames received for every frame sent.
    pub fn delivery(&self) -> f64 {
        self.frames as f64 / self.frames_sent.max(1) as f64
    }
}

/// Runs scenario 10 `runs` times (each meeting size × count: the floor,
/// then the server) and renders the report section; or the capacity
/// search when `p.capacity` is set.
pub(crate) async fn bench(
    launch: &Launch,
    log: &str,
    runs: usize,
    p: &MediaParams,
) -> BenchResult<String> {
    if let Some(c) = &p.capacity {
        crate::limits::raise_nofile(4 * c.max as u64 + 2048)?;
        return crate::media_capacity::search(launch, log, p, c).await;
    }
    // Room for every client's socket, both sides when in process.
    let most =
        p.meetings.iter().copied().max().unwrap_or(1) * p.people.iter().copied().max().unwrap_or(2);
    crate::limits::raise_nofile(4 * most as u64 + 2048)?;
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        for &people in &p.people {
            for &meetings in &p.meetings {
                results.push(floor_run(launch, people, meetings, p).await?);
                results.push(server_run(launch, log, people, meetings, p).await?);
            }
        }
    }
    Ok(crate::media_report::render(launch, p, &results))
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

/// Where a run's mixing time is read: the server's `/metrics`.
struct MixProbe<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
}

impl MixProbe<'_> {
    /// The `webex_media_mix_seconds` histogram's sum so far (0 before
    /// any meeting mixed).
    async fn read(&self) -> BenchResult<f64> {
        let res = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?;
        let status = res.status().as_u16();
        if status != 200 {
            return Err(BenchError::Status {
                what: "GET /metrics",
                status,
            });
        }
        Ok(mix_seconds_sum(&res.text().await?))
    }
}

/// The sum of `webex_media_mix_seconds` in a Prometheus text exposition
/// (0 when absent).
pub(crate) fn mix_seconds_sum(text: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("webex_media_mix_seconds_sum"))
        .filter_map(|rest| rest.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// Waits for every client to receive both kinds (at most the timeout),
/// warms up, then measures the window. `server` is the pid whose CPU and
/// RSS are read (`None`: this process); `mix`, where mixing time is read.
#[allow(clippy::too_many_arguments)]
async fn measure(
    setup: &'static str,
    people: usize,
    meetings: usize,
    peers: &[Peer],
    server: Option<u32>,
    mix: Option<MixProbe<'_>>,
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

    let mix_before = match &mix {
        Some(m) => Some(m.read().await?),
        None => None,
    };
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
    let mix_seconds = match (&mix, mix_before) {
        (Some(m), Some(b)) => Some((m.read().await? - b).max(0.0)),
        _ => None,
    };
    let mut audio = Latencies::new();
    let mut video = Latencies::new();
    for c in peers {
        c.record_delays(false);
        for d in c.take_delays() {
            let h = match d.kind {
                // Mixed audio is re-encoded: what it carries is no stamp.
                FrameKind::Audio if people > 2 => continue,
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
        people,
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
        mix_seconds,
        load_cpu_percent: cpu_percent(load_before, load_after, window),
        setup_time,
    })
}

/// The floor: `meetings` groups of `people` through a bare UDP relay.
async fn floor_run(
    launch: &Launch,
    people: usize,
    meetings: usize,
    p: &MediaParams,
) -> BenchResult<MediaRun> {
    let started = Instant::now();
    let relay = RelayUnderTest::start(launch).await?;
    let mut peers = Vec::with_capacity(people * meetings);
    let mut result = Ok(());
    for group in 0..meetings {
        for _ in 0..people {
            match FloorPeer::start_in_group(relay.local_addr(), group as u32, people) {
                Ok(peer) => peers.push(Peer::Floor(peer)),
                Err(e) => result = Err(BenchError::Io(e)),
            }
        }
    }
    let r = match result {
        Ok(()) => {
            measure(
                FLOOR,
                people,
                meetings,
                &peers,
                relay.pid(),
                None,
                started,
                p,
            )
            .await
        }
        Err(e) => Err(e),
    };
    close(peers).await;
    relay.stop().await;
    r
}

/// The server: `meetings` meetings of `people` WebRTC clients.
pub(crate) async fn server_run(
    launch: &Launch,
    log: &str,
    people: usize,
    meetings: usize,
    p: &MediaParams,
) -> BenchResult<MediaRun> {
    let started = Instant::now();
    let db = Database::sqlite()?;
    let server = ServerUnderTest::start(launch, &ServerSpec::single(&db, log)).await?;
    let mut peers = Vec::with_capacity(people * meetings);
    let r = async {
        let http = fixtures::http_client(p.concurrency * 2 + 4)?;
        let prefix = format!("media{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let accounts = fixtures::accounts(db.url(), &prefix, people * meetings).await?;
        let base = server.base_url();
        let bar = progress::bar(meetings as u64, "meetings with media");
        // Meetings one after another when large, a few at once when small.
        let at_once = (p.concurrency / people.min(p.concurrency)).max(1);
        let groups: Vec<BenchResult<Vec<RunningPeer>>> =
            futures::stream::iter(accounts.chunks(people).enumerate())
                .map(|(i, group)| {
                    let (http, bar, prefix) = (&http, bar.clone(), &prefix);
                    async move {
                        let address = format!("{prefix}-{i}@webex.localhost");
                        let r = meeting_with_media(
                            http,
                            base,
                            group,
                            &address,
                            p.talkers,
                            p.concurrency,
                        )
                        .await;
                        bar.inc(1);
                        r
                    }
                })
                .buffer_unordered(at_once)
                .collect()
                .await;
        bar.finish_and_clear();
        for group in groups {
            peers.extend(group?.into_iter().map(Peer::Webrtc));
        }
        let probe = MixProbe { http: &http, base };
        measure(
            SERVER,
            people,
            meetings,
            &peers,
            server.pid(),
            Some(probe),
            started,
            p,
        )
        .await
    }
    .await;
    close(peers).await;
    server.stop().await;
    db.cleanup().await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixing_time_is_read_from_the_exposition() {
        let text = "# TYPE webex_media_mix_seconds histogram\n\
                    webex_media_mix_seconds_bucket{le=\"0.001\"} 3\n\
                    webex_media_mix_seconds_sum 0.25\n\
                    webex_media_mix_seconds_count 7\n";
        assert!((mix_seconds_sum(text) - 0.25).abs() < 1e-12);
        assert_eq!(mix_seconds_sum("webex_up 1\n"), 0.0);
    }
}
