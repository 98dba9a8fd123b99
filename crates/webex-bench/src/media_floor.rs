//! The media floor: a bare UDP relay and its clients, what forwarding
//! media costs at the least on this machine.
//!
//! - [`UdpRelay`]: one tokio UDP socket (the media engine also has one for
//!   every session) that forwards each datagram from one member of a group
//!   to one other member: in a group of `n`, member `k` to member
//!   `k + 1 mod n` (a pair: to each other). Every member thus receives one
//!   audio and one video stream, as from the server (a mix-minus and the
//!   active speaker's video), and the relay takes in and sends out as many
//!   datagrams as the server's engine. No ICE, no DTLS/SRTP, no RTP
//!   parsing, no frame assembly, no mixing. A member introduces itself
//!   with `HELLO<group id><group size>` datagrams, answered `READY` once
//!   the whole group is known.
//! - [`FloorPeer`]: a client on its own thread and UDP socket, like
//!   `webex_media::testing::TestPeer`: an "Opus" datagram every 20 ms and a
//!   "H.264" access unit every 33 ms (a keyframe every 30), cut into
//!   datagrams of the sizes RTP over SRTP gives them (12-byte header,
//!   10-byte tag, STAP-A for SPS+PPS, FU-A above [`FU_PAYLOAD`] bytes).
//!   Every datagram carries its frame's send time on the shared clock
//!   ([`webex_media::testing::clock_nanos`]); the receiver takes the
//!   delay when the frame's last datagram (RTP marker) arrives, as a
//!   WebRTC receiver has a frame once its last packet is in.
//!
//! ```no_run
//! # async fn go() -> std::io::Result<()> {
//! use webex_bench::media_floor::{FloorPeer, UdpRelay};
//! let relay = UdpRelay::start().await?;
//! let a = FloorPeer::start(relay.local_addr(), 1)?;
//! let b = FloorPeer::start(relay.local_addr(), 1)?;
//! tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//! assert!(b.counts().audio > 0);
//! a.close();
//! b.close();
//! relay.stop();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use webex_media::testing::{FrameDelay, FrameKind, clock_nanos, h264_access_unit};

use crate::error::{BenchError, BenchResult};
use crate::target::Launch;

/// What a group member sends first: `HELLO`, the group id and the group
/// size (4 bytes LE each; without a size, a pair).
const HELLO: &[u8] = b"HELLO";
/// The relay's answer once both members of the pair said hello.
const READY: &[u8] = b"READY";
/// RTP header bytes.
const RTP_HEADER: usize = 12;
/// SRTP authentication tag bytes (HMAC-SHA1-80).
const SRTP_TAG: usize = 10;
/// Largest H.264 payload in one datagram before FU-A fragmentation.
pub const FU_PAYLOAD: usize = 1100;
/// Opus payload bytes, as the test client sends.
const OPUS_PAYLOAD: usize = 60;
const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
const KEYFRAME_EVERY: u64 = 30;
/// Payload types (as the SDK's offer numbers them; only a label here).
const PT_OPUS: u8 = 111;
const PT_H264: u8 = 96;
const MARKER: u8 = 0x80;

/// A running relay on `127.0.0.1:<free port>`.
#[derive(Debug)]
pub struct UdpRelay {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl UdpRelay {
    /// Starts the relay in this process.
    pub async fn start() -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind(("127.0.0.1", 0)).await?;
        let addr = socket.local_addr()?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stopped.cancelled() => {}
                () = relay(socket) => {}
            }
        });
        Ok(Self { addr, stop })
    }

    /// The relay's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops relaying.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Runs the relay until Ctrl-C, printing `listening on udp://<addr>`
    /// first (how `webex bench media` starts it as a child process).
    pub async fn serve_until_signal() -> std::io::Result<()> {
        let relay = Self::start().await?;
        println!("listening on udp://{}", relay.local_addr());
        tokio::signal::ctrl_c().await?;
        relay.stop();
        Ok(())
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The group id and size a hello names.
fn hello_group(data: &[u8]) -> Option<(u32, usize)> {
    let rest = data.strip_prefix(HELLO)?;
    let id: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let size = match rest.get(4..8) {
        Some(s) => u32::from_le_bytes(s.try_into().ok()?) as usize,
        None => 2,
    };
    Some((u32::from_le_bytes(id), size.max(2)))
}

/// The relay loop: a datagram from a known member goes to the next one
/// of its group.
async fn relay(socket: tokio::net::UdpSocket) {
    let mut buf = vec![0u8; 2048];
    let mut routes: HashMap<SocketAddr, SocketAddr> = HashMap::new();
    let mut waiting: HashMap<u32, Vec<SocketAddr>> = HashMap::new();
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(data) = buf.get(..n) else {
            continue;
        };
        let hello = hello_group(data);
        if let Some(&to) = routes.get(&from) {
            // A repeated hello is answered, never forwarded.
            let (bytes, dest) = if hello.is_some() {
                (READY, from)
            } else {
                (data, to)
            };
            let _ = socket.send_to(bytes, dest).await;
            continue;
        }
        let Some((group, size)) = hello else {
            continue;
        };
        let members = waiting.entry(group).or_default();
        if !members.contains(&from) {
            members.push(from);
        }
        if members.len() >= size {
            let members = waiting.remove(&group).unwrap_or_default();
            for (k, &member) in members.iter().enumerate() {
                if let Some(&next) = members.get((k + 1) % members.len()) {
                    routes.insert(member, next);
                }
            }
            for member in members {
                let _ = socket.send_to(READY, member).await;
            }
        }
    }
}

/// The relay as a benchmark runs it: a `webex bench media-floor-serve`
/// child process (measured alone from `/proc`, like `webex serve`), or
/// in this process.
#[derive(Debug)]
pub enum RelayUnderTest {
    /// A child process, killed on drop.
    Child {
        /// The process.
        child: tokio::process::Child,
        /// Its UDP address.
        addr: SocketAddr,
    },
    /// In this process.
    InProcess(UdpRelay),
}

impl RelayUnderTest {
    /// Starts the relay as `launch` says.
    pub async fn start(launch: &Launch) -> BenchResult<Self> {
        use tokio::io::AsyncBufReadExt;
        let bin = match launch {
            Launch::InProcess => return Ok(Self::InProcess(UdpRelay::start().await?)),
            Launch::Child { bin } => bin,
        };
        let mut child = tokio::process::Command::new(bin)
            .args(["bench", "media-floor-serve"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::ServerStart(format!("UDP relay: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::ServerStart("UDP relay: no stdout".into()))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("listening on udp://") {
                    return Ok::<_, std::io::Error>(addr.trim().parse::<SocketAddr>().ok());
                }
            }
            Ok(None)
        })
        .await;
        let Ok(Ok(Some(addr))) = first else {
            let _ = child.kill().await;
            return Err(BenchError::ServerStart(
                "the UDP relay did not print `listening on udp://…`".into(),
            ));
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self::Child { child, addr })
    }

    /// The relay's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Self::Child { addr, .. } => *addr,
            Self::InProcess(r) => r.local_addr(),
        }
    }

    /// The child's process id (`None` in process).
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Child { child, .. } => child.id(),
            Self::InProcess(_) => None,
        }
    }

    /// Stops it.
    pub async fn stop(self) {
        match self {
            Self::Child { mut child, .. } => {
                let _ = child.kill().await;
            }
            Self::InProcess(r) => r.stop(),
        }
    }
}

/// What a [`FloorPeer`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloorCounts {
    /// The relay paired it.
    pub ready: bool,
    /// Audio frames received.
    pub audio: u64,
    /// Video frames received (last datagram of an access unit in).
    pub video: u64,
    /// Frames sent.
    pub sent_frames: u64,
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
}

#[derive(Default)]
struct FloorShared {
    stop: AtomicBool,
    ready: AtomicBool,
    audio: AtomicU64,
    video: AtomicU64,
    sent_frames: AtomicU64,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    record_delays: AtomicBool,
    delays: Mutex<Vec<FrameDelay>>,
}

/// A floor client on its own thread (see the module's description).
/// Dropping it stops it.
pub struct FloorPeer {
    shared: Arc<FloorShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FloorPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloorPeer")
            .field("counts", &self.counts())
            .finish()
    }
}

impl FloorPeer {
    /// A client on a fresh `127.0.0.1:0` socket that joins pair `pair` at
    /// `relay` and, once paired, sends its frames.
    pub fn start(relay: SocketAddr, pair: u32) -> std::io::Result<Self> {
        Self::start_in_group(relay, pair, 2)
    }

    /// A client that joins group `group` of `size` members at `relay` and,
    /// once the group is complete, sends its frames (received by the next
    /// member of the group).
    pub fn start_in_group(relay: SocketAddr, group: u32, size: usize) -> std::io::Result<Self> {
        let size = u32::try_from(size.max(2)).unwrap_or(u32::MAX);
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(relay)?;
        let shared = Arc::new(FloorShared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("bench-floor-peer".into())
            .spawn(move || run(&socket, group, size, &thread_shared))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// What it did so far.
    pub fn counts(&self) -> FloorCounts {
        let s = &self.shared;
        FloorCounts {
            ready: s.ready.load(Ordering::Relaxed),
            audio: s.audio.load(Ordering::Relaxed),
            video: s.video.load(Ordering::Relaxed),
            sent_frames: s.sent_frames.load(Ordering::Relaxed),
            datagrams: s.datagrams.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
        }
    }

    /// Whether it keeps each received frame's delay (off at start).
    pub fn record_delays(&self, on: bool) {
        self.shared.record_delays.store(on, Ordering::Relaxed);
    }

    /// The delays kept since the last call.
    pub fn take_delays(&self) -> Vec<FrameDelay> {
        std::mem::take(
            &mut *self
                .shared
                .delays
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Stops its thread (blocks until it has: at most a few milliseconds).
    pub fn close(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FloorPeer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The datagrams of one frame: RTP header (marker on the last), payload
/// with the send time in its first 8 bytes, SRTP-tag-sized tail.
fn datagrams(pt: u8, payloads: &[usize], sent: u64) -> Vec<Vec<u8>> {
    let last = payloads.len().saturating_sub(1);
    payloads
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut d = vec![0x5a; RTP_HEADER + len.max(8) + SRTP_TAG];
            d[0] = 0x80;
            d[1] = if i == last { MARKER | pt } else { pt };
            d[RTP_HEADER..RTP_HEADER + 8].copy_from_slice(&sent.to_le_bytes());
            d
        })
        .collect()
}

/// RTP payload sizes of an access unit as str0m's H.264 packetizer
/// (mode 1) cuts it: parameter sets aggregated in one STAP-A, each slice
/// alone or in FU-A fragments of at most [`FU_PAYLOAD`] bytes.
pub fn h264_payloads(au: &[u8]) -> Vec<usize> {
    let mut nals = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= au.len() {
        if au[i..i + 3] == [0, 0, 1] {
            if let Some(s) = start {
                // A 4-byte start code leaves a zero behind the previous unit.
                let end = if i > 0 && au[i - 1] == 0 { i - 1 } else { i };
                nals.push((s, end));
            }
            start = Some(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        nals.push((s, au.len()));
    }
    let mut out = Vec::new();
    let mut stap = 0;
    for (s, e) in nals {
        let len = e - s;
        let kind = au.get(s).map_or(0, |h| h & 0x1f);
        if matches!(kind, 7 | 8) {
            // STAP-A: 1-byte header once, 2-byte length per unit.
            stap += if stap == 0 { 1 } else { 0 } + 2 + len;
            continue;
        }
        if stap > 0 {
            out.push(stap);
            stap = 0;
        }
        if len <= FU_PAYLOAD {
            out.push(len);
        } else {
            // FU indicator + FU header per fragment, the NAL header dropped.
            let body = len - 1;
            let n = body.div_ceil(FU_PAYLOAD - 2);
            let base = body / n;
            for k in 0..n {
                out.push(2 + base + usize::from(k < body % n));
            }
        }
    }
    if stap > 0 {
        out.push(stap);
    }
    out
}

fn run(socket: &UdpSocket, group: u32, size: u32, shared: &FloorShared) {
    let mut hello = HELLO.to_vec();
    hello.extend_from_slice(&group.to_le_bytes());
    hello.extend_from_slice(&size.to_le_bytes());
    let key_payloads = h264_payloads(&h264_access_unit(true));
    let delta_payloads = h264_payloads(&h264_access_unit(false));
    let mut buf = vec![0u8; 2048];
    let mut next_hello = Instant::now();
    let mut next_audio = Instant::now();
    let mut next_video = next_audio;
    let mut video_n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let ready = shared.ready.load(Ordering::Relaxed);
        if !ready && now >= next_hello {
            let _ = socket.send(&hello);
            next_hello = now + Duration::from_millis(100);
        }
        if ready && now >= next_audio {
            for d in datagrams(PT_OPUS, &[OPUS_PAYLOAD], clock_nanos()) {
                let _ = socket.send(&d);
            }
            shared.sent_frames.fetch_add(1, Ordering::Relaxed);
            next_audio = (next_audio + AUDIO_EVERY).max(now);
        }
        if ready && now >= next_video {
            let payloads = if video_n.is_multiple_of(KEYFRAME_EVERY) {
                &key_payloads
            } else {
                &delta_payloads
            };
            for d in datagrams(PT_H264, payloads, clock_nanos()) {
                let _ = socket.send(&d);
            }
            shared.sent_frames.fetch_add(1, Ordering::Relaxed);
            video_n += 1;
            next_video = (next_video + VIDEO_EVERY).max(now);
        }
        let wake = if ready {
            next_audio.min(next_video)
        } else {
            next_hello
        };
        let wait = wake
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        if socket.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let Some(data) = buf.get(..n) else {
            continue;
        };
        if data == READY {
            shared.ready.store(true, Ordering::Relaxed);
            continue;
        }
        if n < RTP_HEADER + 8 {
            continue;
        }
        shared.datagrams.fetch_add(1, Ordering::Relaxed);
        shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if data[1] & MARKER == 0 {
            continue;
        }
        let (counter, kind) = if data[1] & 0x7f == PT_OPUS {
            (&shared.audio, FrameKind::Audio)
        } else {
            (&shared.video, FrameKind::Video)
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if shared.record_delays.load(Ordering::Relaxed) {
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(&data[RTP_HEADER..RTP_HEADER + 8]);
            let nanos = clock_nanos().saturating_sub(u64::from_le_bytes(stamp));
            shared
                .delays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(FrameDelay { kind, nanos });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn access_units_are_cut_like_rtp() {
        // Delta: one 403-byte slice (header + 2 + 400 filler).
        assert_eq!(h264_payloads(&h264_access_unit(false)), vec![403]);
        // Key: STAP-A of SPS (8) and PPS (4), then the 2 503-byte IDR in
        // three FU-A fragments.
        let key = h264_payloads(&h264_access_unit(true));
        assert_eq!(key[0], 1 + 2 + 8 + 2 + 4);
        assert_eq!(key.len(), 4);
        assert_eq!(key[1..].iter().map(|l| l - 2).sum::<usize>(), 2502);
        assert!(key.iter().all(|&l| l <= FU_PAYLOAD));
    }

    #[test]
    fn hello_names_the_group() {
        assert_eq!(hello_group(b"HELLO\x07\0\0\0"), Some((7, 2)));
        assert_eq!(hello_group(b"HELLO\x07\0\0\0\x0a\0\0\0"), Some((7, 10)));
        assert_eq!(hello_group(b"HELLO"), None);
        assert_eq!(hello_group(b"READY"), None);
    }

    #[tokio::test]
    async fn a_group_of_three_hears_in_a_ring() {
        let relay = UdpRelay::start().await.unwrap();
        let peers: Vec<FloorPeer> = (0..3)
            .map(|_| FloorPeer::start_in_group(relay.local_addr(), 9, 3).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        let short = |c: FloorCounts| c.video < 3 || c.audio < 5;
        while peers.iter().any(|p| short(p.counts())) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for p in &peers {
            let c = p.counts();
            assert!(c.ready && c.video >= 3 && c.audio >= 5, "{c:?}");
        }
        for p in peers {
            p.close();
        }
    }

    #[tokio::test]
    async fn a_pair_hears_each_other_through_the_relay() {
        let relay = UdpRelay::start().await.unwrap();
        let a = FloorPeer::start(relay.local_addr(), 3).unwrap();
        let b = FloorPeer::start(relay.local_addr(), 3).unwrap();
        b.record_delays(true);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (a.counts().audio < 5 || b.counts().video < 3) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(a.counts().audio >= 5, "{:?}", a.counts());
        assert!(b.counts().video >= 3, "{:?}", b.counts());
        let delays = b.take_delays();
        assert!(delays.iter().any(|d| d.kind == FrameKind::Video));
        assert!(delays.iter().all(|d| d.nanos < 5_000_000_000));
        a.close();
        b.close();
    }
}
