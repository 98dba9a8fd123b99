//! Test scaffolding (feature `testing`): [`TestPeer`], a str0m full-ICE
//! client on its own UDP socket that offers what the official SDK offers
//! (audio, video, slides recvonly; Opus and H.264 packetization-mode 1;
//! no header extensions), then sends an Opus frame every 20 ms and an
//! H.264 access unit every 33 ms and counts the frames it receives.
//!
//! For meetings of more than two: [`TestPeer::with_tone`] sends a real
//! Opus-coded sine (its loudness changed with [`RunningPeer::set_loudness`]),
//! [`TestPeer::listening`] decodes what it hears so that
//! [`RunningPeer::tone_levels`] tells who is heard (Goertzel filters), and
//! [`TestPeer::with_video_tag`] marks its video frames so that
//! [`RunningPeer::video_frames_tagged`] tells whose video it receives.
//!
//! For screen share: [`TestPeer::with_slides`] offers the slides m-line
//! `sendrecv` (the official SDK sharing from its first offer), and
//! [`RunningPeer::send_slides`] turns on an H.264 access unit every 100 ms
//! on it, tagged like its video, so that [`RunningPeer::slides_frames_tagged`]
//! tells whose slides a peer receives.
//!
//! Every frame carries its send time on [`clock_nanos`] (a monotonic clock
//! shared by the whole process): the first 8 bytes of an Opus payload, and
//! [`VIDEO_STAMP_OFFSET`] bytes into the first slice NAL unit of an access
//! unit (written without zero bytes, so no start code can appear). A
//! receiver in the same process reads it back and, while
//! [`RunningPeer::record_delays`] is on, keeps `now − send time` per frame
//! ([`RunningPeer::take_delays`]): the latency the path in between added.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use webex_media::testing::TestPeer;
//! use webex_media::{MediaConfig, MediaEngine, SessionKey};
//!
//! let engine = MediaEngine::start(MediaConfig::default())?;
//! let mut peer = TestPeer::new()?;
//! let answer = engine
//!     .offer(SessionKey::new("m", "a"), peer.offer_sdp(), false)
//!     .await?;
//! peer.accept_answer(&answer.sdp)?;
//! let running = peer.start();
//! running
//!     .wait_until(|s| s.connected, Duration::from_secs(10))
//!     .await
//!     .map_err(|s| format!("not connected: {s:?}"))?;
//! running.close();
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc};

use crate::session::rtc_config;

/// Why a [`TestPeer`] step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestPeerError {
    /// The UDP socket could not be bound or set up.
    #[error("test peer socket: {0}")]
    Io(#[from] std::io::Error),
    /// The answer could not be parsed or applied (the reason says why).
    #[error("test peer could not take the answer: {0}")]
    Answer(String),
}

/// A client that has not connected yet: make its offer with
/// [`TestPeer::offer_sdp`], give it the answer with
/// [`TestPeer::accept_answer`], then [`TestPeer::start`] it.
#[derive(Debug)]
pub struct TestPeer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    mids: Option<Mids>,
    tone: Option<f32>,
    listen: bool,
    video_tag: u8,
    slides: bool,
}

/// Sample rate of the tone and of what a listening peer decodes.
const RATE: f32 = 48_000.0;
/// Samples per 20 ms Opus frame.
const FRAME: usize = 960;
/// What a listening peer keeps of the decoded audio: the last 0.5 s.
const HEARD_SAMPLES: usize = 24_000;
/// The filler byte of untagged video frames.
const NO_TAG: u8 = 0xab;

/// The peer's own audio: an Opus encoder and the tone's phase.
struct ToneSender {
    encoder: crate::codec::Encoder,
    hz: f32,
    phase: f32,
}

impl ToneSender {
    /// The next 20 ms of the tone at `loudness` (0..1 of full scale), coded.
    fn next(&mut self, loudness: f32) -> Option<Vec<u8>> {
        let step = std::f32::consts::TAU * self.hz / RATE;
        let pcm: Vec<i16> = (0..FRAME)
            .map(|_| {
                let s = self.phase.sin() * loudness * f32::from(i16::MAX);
                self.phase = (self.phase + step) % std::f32::consts::TAU;
                s as i16
            })
            .collect();
        let mut out = vec![0u8; 1500];
        let len = self.encoder.encode(&pcm, &mut out).ok()?;
        out.truncate(len);
        Some(out)
    }
}

#[derive(Debug, Clone, Copy)]
struct Mids {
    audio: Mid,
    video: Mid,
    slides: Mid,
}

impl TestPeer {
    /// A client on a fresh UDP socket on `127.0.0.1:0` (full ICE,
    /// controlling, with its one host candidate).
    pub fn new() -> Result<Self, TestPeerError> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let local = socket.local_addr()?;
        let mut rtc = rtc_config(false, IceCreds::new())
            .clear_extension_map()
            .build(Instant::now());
        let host =
            Candidate::host(local, "udp").map_err(|e| std::io::Error::other(e.to_string()))?;
        rtc.add_local_candidate(host);
        Ok(Self {
            rtc,
            socket,
            local,
            pending: None,
            mids: None,
            tone: None,
            listen: false,
            video_tag: NO_TAG,
            slides: false,
        })
    }

    /// Sends a sine of `hz` as real Opus (48 kHz mono, 20 ms frames) at
    /// loudness 0.25 instead of filler bytes.
    pub fn with_tone(mut self, hz: f32) -> Self {
        self.tone = Some(hz);
        self
    }

    /// Decodes the audio it receives, for [`RunningPeer::tone_levels`].
    pub fn listening(mut self) -> Self {
        self.listen = true;
        self
    }

    /// Fills its video frames with `tag` (not `0xab`, the untagged
    /// filler), for [`RunningPeer::video_frames_tagged`] at the receivers.
    pub fn with_video_tag(mut self, tag: u8) -> Self {
        self.video_tag = tag;
        self
    }

    /// Offers the slides m-line `sendrecv` instead of `recvonly`, so that
    /// it can send slides ([`RunningPeer::send_slides`]).
    pub fn with_slides(mut self) -> Self {
        self.slides = true;
        self
    }

    /// The peer's UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The offer: audio and video sendrecv, then a video m-line for
    /// slides, recvonly (sendrecv with [`TestPeer::with_slides`]); str0m
    /// picks the mids. Call once.
    pub fn offer_sdp(&mut self) -> String {
        let slides_dir = match self.slides {
            true => Direction::SendRecv,
            false => Direction::RecvOnly,
        };
        let mut api = self.rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let slides = api.add_media(MediaKind::Video, slides_dir, None, None, None);
        let Some((offer, pending)) = api.apply() else {
            return String::new();
        };
        self.pending = Some(pending);
        self.mids = Some(Mids {
            audio,
            video,
            slides,
        });
        offer.to_sdp_string()
    }

    /// Applies the engine's answer to the offer of [`TestPeer::offer_sdp`].
    pub fn accept_answer(&mut self, answer_sdp: &str) -> Result<(), TestPeerError> {
        let answer = SdpAnswer::from_sdp_string(answer_sdp)
            .map_err(|e| TestPeerError::Answer(e.to_string()))?;
        let pending = self
            .pending
            .take()
            .ok_or_else(|| TestPeerError::Answer("no offer was made".into()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| TestPeerError::Answer(e.to_string()))
    }

    /// Runs the peer on its own thread: it connects, sends its frames and
    /// counts what it receives.
    pub fn start(self) -> RunningPeer {
        let shared = Arc::new(Shared::default());
        shared.listen.store(self.listen, Ordering::Relaxed);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("webex-media-test-peer".into())
            .spawn(move || run(self, &thread_shared))
            .map_err(|e| tracing::error!(error = %e, "test peer thread"))
            .ok();
        RunningPeer { shared, thread }
    }
}

/// What a running peer did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// ICE and DTLS are done.
    pub connected: bool,
    /// The connection ended (closed by either side, or failed).
    pub closed: bool,
    /// Audio frames received.
    pub received_audio: u64,
    /// Video frames received on the main video m-line.
    pub received_video: u64,
    /// Video frames received on the slides m-line.
    pub received_slides: u64,
    /// Slides frames sent.
    pub sent_slides: u64,
    /// Audio frames sent.
    pub sent_audio: u64,
    /// Video frames sent.
    pub sent_video: u64,
    /// Keyframe requests (PLI/FIR) received.
    pub keyframe_requests: u64,
    /// UDP datagrams sent (STUN, DTLS, RTP and RTCP).
    pub sent_datagrams: u64,
    /// Bytes of those datagrams (UDP payload).
    pub sent_bytes: u64,
    /// UDP datagrams received.
    pub received_datagrams: u64,
    /// Bytes of those datagrams (UDP payload).
    pub received_bytes: u64,
}

/// What kind of frame a [`FrameDelay`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An Opus frame.
    Audio,
    /// An H.264 access unit (main video m-line).
    Video,
}

/// How long one received frame took from its sender's `write` to this
/// peer's receiving it whole, both read on [`clock_nanos`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDelay {
    /// Audio or video.
    pub kind: FrameKind,
    /// Receive time minus send time, nanoseconds.
    pub nanos: u64,
}

/// Nanoseconds since a process-wide epoch (the first call), on the
/// monotonic clock: the send times frames carry, comparable between any
/// two peers of one process.
pub fn clock_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Where a video frame's send time sits: this many bytes after the header
/// byte of the access unit's first slice NAL unit.
pub const VIDEO_STAMP_OFFSET: usize = 3;

/// Bytes a send time takes inside a NAL unit ([`write_nal_stamp`]).
pub const NAL_STAMP_LEN: usize = 10;

/// Writes `nanos` as the first 8 bytes (little endian) of an Opus payload;
/// `false` when the payload is shorter.
pub fn write_audio_stamp(payload: &mut [u8], nanos: u64) -> bool {
    match payload.get_mut(..8) {
        Some(head) => {
            head.copy_from_slice(&nanos.to_le_bytes());
            true
        }
        None => false,
    }
}

/// The send time [`write_audio_stamp`] wrote.
pub fn read_audio_stamp(payload: &[u8]) -> Option<u64> {
    let head: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}

/// Writes `nanos` into `out` ([`NAL_STAMP_LEN`] bytes) as ten groups of
/// 7 bits, each byte with its top bit set: never a zero byte, so the
/// stamp cannot form an Annex B start code inside a NAL unit.
pub fn write_nal_stamp(out: &mut [u8], nanos: u64) -> bool {
    let Some(out) = out.get_mut(..NAL_STAMP_LEN) else {
        return false;
    };
    for (i, b) in out.iter_mut().enumerate() {
        // 7 bits per byte, least significant group first.
        *b = 0x80 | ((nanos >> (7 * i)) & 0x7f) as u8;
    }
    true
}

/// The send time [`write_nal_stamp`] wrote.
pub fn read_nal_stamp(bytes: &[u8]) -> Option<u64> {
    let bytes = bytes.get(..NAL_STAMP_LEN)?;
    if bytes.iter().any(|b| b & 0x80 == 0) {
        return None;
    }
    Some(
        bytes
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, b)| acc | (u64::from(b & 0x7f) << (7 * i))),
    )
}

/// The byte offset of the first slice NAL unit's header (type 1 or 5) in
/// an Annex B access unit.
fn first_slice(au: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            let header = i + 3;
            if matches!(au[header] & 0x1f, 1 | 5) {
                return Some(header);
            }
            i = header;
        } else {
            i += 1;
        }
    }
    None
}

/// Writes `nanos` into `au` at [`VIDEO_STAMP_OFFSET`] in its first slice
/// NAL unit; `false` when it has none long enough.
pub fn write_video_stamp(au: &mut [u8], nanos: u64) -> bool {
    first_slice(au)
        .and_then(|h| au.get_mut(h + VIDEO_STAMP_OFFSET..))
        .is_some_and(|rest| write_nal_stamp(rest, nanos))
}

/// The send time [`write_video_stamp`] wrote (an unstamped access unit
/// of [`h264_access_unit`] reads as a meaningless one: its filler bytes
/// all have the top bit set).
pub fn read_video_stamp(au: &[u8]) -> Option<u64> {
    read_nal_stamp(au.get(first_slice(au)? + VIDEO_STAMP_OFFSET..)?)
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    send_audio: AtomicBool,
    send_video: AtomicBool,
    send_slides: AtomicBool,
    connected: AtomicBool,
    closed: AtomicBool,
    received_audio: AtomicU64,
    received_video: AtomicU64,
    received_slides: AtomicU64,
    sent_slides: AtomicU64,
    sent_audio: AtomicU64,
    sent_video: AtomicU64,
    keyframe_requests: AtomicU64,
    request_keyframe: AtomicBool,
    /// Tone loudness, `f32` bits.
    loudness: AtomicU32,
    listen: AtomicBool,
    /// The last [`HEARD_SAMPLES`] decoded samples.
    heard: Mutex<VecDeque<i16>>,
    /// Video frames received, by tag (last byte).
    tags: Mutex<[u64; 256]>,
    /// Slides frames received, by tag (last byte).
    slides_tags: Mutex<[u64; 256]>,
    sent_datagrams: AtomicU64,
    sent_bytes: AtomicU64,
    received_datagrams: AtomicU64,
    received_bytes: AtomicU64,
    record_delays: AtomicBool,
    delays: Mutex<Vec<FrameDelay>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            stop: AtomicBool::new(false),
            send_audio: AtomicBool::new(true),
            send_video: AtomicBool::new(true),
            send_slides: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            received_audio: AtomicU64::new(0),
            received_video: AtomicU64::new(0),
            received_slides: AtomicU64::new(0),
            sent_slides: AtomicU64::new(0),
            sent_audio: AtomicU64::new(0),
            sent_video: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
            request_keyframe: AtomicBool::new(false),
            loudness: AtomicU32::new(0.25f32.to_bits()),
            listen: AtomicBool::new(false),
            heard: Mutex::new(VecDeque::with_capacity(HEARD_SAMPLES)),
            tags: Mutex::new([0; 256]),
            slides_tags: Mutex::new([0; 256]),
            sent_datagrams: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            received_datagrams: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            record_delays: AtomicBool::new(false),
            delays: Mutex::new(Vec::new()),
        }
    }
}

/// A started [`TestPeer`]. Dropping it stops it, like [`RunningPeer::close`].
#[derive(Debug)]
pub struct RunningPeer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RunningPeer {
    /// What the peer did so far.
    pub fn stats(&self) -> PeerStats {
        let s = &self.shared;
        PeerStats {
            connected: s.connected.load(Ordering::Relaxed),
            closed: s.closed.load(Ordering::Relaxed),
            received_audio: s.received_audio.load(Ordering::Relaxed),
            received_video: s.received_video.load(Ordering::Relaxed),
            received_slides: s.received_slides.load(Ordering::Relaxed),
            sent_slides: s.sent_slides.load(Ordering::Relaxed),
            sent_audio: s.sent_audio.load(Ordering::Relaxed),
            sent_video: s.sent_video.load(Ordering::Relaxed),
            keyframe_requests: s.keyframe_requests.load(Ordering::Relaxed),
            sent_datagrams: s.sent_datagrams.load(Ordering::Relaxed),
            sent_bytes: s.sent_bytes.load(Ordering::Relaxed),
            received_datagrams: s.received_datagrams.load(Ordering::Relaxed),
            received_bytes: s.received_bytes.load(Ordering::Relaxed),
        }
    }

    /// Whether ICE and DTLS are done.
    pub fn connected(&self) -> bool {
        self.stats().connected
    }

    /// Audio frames received so far.
    pub fn received_audio(&self) -> u64 {
        self.stats().received_audio
    }

    /// Main-video frames received so far.
    pub fn received_video(&self) -> u64 {
        self.stats().received_video
    }

    /// Waits (polling every 20 ms) until `done` holds for the stats:
    /// `Ok` with them, or `Err` with the last ones after `timeout`.
    pub async fn wait_until(
        &self,
        done: impl Fn(&PeerStats) -> bool,
        timeout: Duration,
    ) -> Result<PeerStats, PeerStats> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(stats);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the peer sends audio and video frames (both on at start).
    pub fn set_sending(&self, audio: bool, video: bool) {
        self.shared.send_audio.store(audio, Ordering::Relaxed);
        self.shared.send_video.store(video, Ordering::Relaxed);
    }

    /// Whether the peer sends slides (off at start; needs
    /// [`TestPeer::with_slides`]).
    pub fn send_slides(&self, on: bool) {
        self.shared.send_slides.store(on, Ordering::Relaxed);
    }

    /// Slides frames received whose filler is `tag` (the sender's
    /// [`TestPeer::with_video_tag`]).
    pub fn slides_frames_tagged(&self, tag: u8) -> u64 {
        self.shared
            .slides_tags
            .lock()
            .map(|t| t[usize::from(tag)])
            .unwrap_or(0)
    }

    /// Whether the peer keeps the delay of each stamped frame it receives
    /// (off at start). Turning it off leaves what was kept.
    pub fn record_delays(&self, on: bool) {
        self.shared.record_delays.store(on, Ordering::Relaxed);
    }

    /// The delays kept since the last call (see
    /// [`RunningPeer::record_delays`]).
    pub fn take_delays(&self) -> Vec<FrameDelay> {
        std::mem::take(
            &mut *self
                .shared
                .delays
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Sends one PLI on the main video m-line (what a browser does when
    /// it lost a picture); the engine relays it to the other participant.
    pub fn request_keyframe(&self) {
        self.shared.request_keyframe.store(true, Ordering::Relaxed);
    }

    /// The loudness of the tone of [`TestPeer::with_tone`], 0 (digital
    /// silence, still sent) to 1 (full scale); 0.25 at start.
    pub fn set_loudness(&self, loudness: f32) {
        let l = loudness.clamp(0.0, 1.0);
        self.shared.loudness.store(l.to_bits(), Ordering::Relaxed);
    }

    /// The power at each of `freqs` (Hz) in the last 0.5 s of decoded
    /// audio (needs [`TestPeer::listening`]), by Goertzel filter: about
    /// `a²/4` for a sine of amplitude `a` (full scale 1) at that frequency.
    pub fn tone_levels(&self, freqs: &[f32]) -> Vec<f64> {
        let heard: Vec<f64> = match self.shared.heard.lock() {
            Ok(h) => h.iter().map(|s| f64::from(*s) / 32768.0).collect(),
            Err(_) => Vec::new(),
        };
        freqs
            .iter()
            .map(|f| goertzel(&heard, f64::from(*f)))
            .collect()
    }

    /// Main-video frames received whose filler is `tag` (see
    /// [`TestPeer::with_video_tag`]; `0xab`: untagged senders).
    pub fn video_frames_tagged(&self, tag: u8) -> u64 {
        self.shared
            .tags
            .lock()
            .map(|t| t[usize::from(tag)])
            .unwrap_or(0)
    }

    /// Closes the connection and stops the peer's thread (blocks until it
    /// has, at most some tens of milliseconds).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
const SLIDES_EVERY: Duration = Duration::from_millis(100);
const KEYFRAME_EVERY: u64 = 30;

/// Normalized Goertzel power of `x` at `hz` (sample rate [`RATE`]).
fn goertzel(x: &[f64], hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = x.len() as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

/// A synthetic H.264 access unit in Annex B: SPS, PPS and an IDR slice,
/// or one non-IDR slice. The slice bytes are filler with correct NAL
/// headers (no decoder looks at them in tests).
pub fn h264_access_unit(keyframe: bool) -> Vec<u8> {
    tagged_access_unit(keyframe, NO_TAG)
}

/// [`h264_access_unit`] with `tag` as filler.
fn tagged_access_unit(keyframe: bool, tag: u8) -> Vec<u8> {
    let mut au = Vec::new();
    if keyframe {
        au.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        au.extend(std::iter::repeat_n(tag, 2500));
    } else {
        au.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a, 0x02]);
        au.extend(std::iter::repeat_n(tag, 400));
    }
    au
}

fn run(mut peer: TestPeer, shared: &Shared) {
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let mut next_audio = start;
    let mut next_video = start;
    let mut next_slides = start;
    let mut audio_n: u64 = 0;
    let mut video_n: u64 = 0;
    let mut slides_n: u64 = 0;
    // Keyframes asked for: main video, slides.
    let mut force_keyframe = (false, false);
    let Some(mids) = peer.mids else {
        return;
    };
    let mut tone = peer.tone.and_then(|hz| {
        let encoder = crate::codec::Encoder::plain().ok()?;
        Some(ToneSender {
            encoder,
            hz,
            phase: 0.0,
        })
    });
    let mut decoder = if peer.listen {
        crate::codec::Decoder::new().ok()
    } else {
        None
    };
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            let _ = peer.rtc.close();
            let _ = poll(&mut peer, shared, mids, &mut force_keyframe, &mut decoder);
            shared.closed.store(true, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        let connected = shared.connected.load(Ordering::Relaxed);
        let mut wrote = false;
        if connected
            && shared.request_keyframe.swap(false, Ordering::Relaxed)
            && let Some(mut writer) = peer.rtc.writer(mids.video)
        {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
        if connected && now >= next_audio {
            if shared.send_audio.load(Ordering::Relaxed) {
                let time = MediaTime::new(audio_n * 960, Frequency::FORTY_EIGHT_KHZ);
                let loudness = f32::from_bits(shared.loudness.load(Ordering::Relaxed));
                // A tone is real Opus (no stamp: it would break the packet);
                // the filler carries the send time.
                let payload = match tone.as_mut() {
                    Some(t) => t.next(loudness),
                    None => {
                        let mut filler = vec![0x5a; 60];
                        write_audio_stamp(&mut filler, clock_nanos());
                        Some(filler)
                    }
                };
                if let Some(payload) = payload
                    && write(&mut peer.rtc, mids.audio, Codec::Opus, now, time, payload)
                {
                    wrote = true;
                    shared.sent_audio.fetch_add(1, Ordering::Relaxed);
                }
            }
            audio_n += 1;
            next_audio = (next_audio + AUDIO_EVERY).max(now);
        }
        if connected && now >= next_video {
            if shared.send_video.load(Ordering::Relaxed) {
                let key = force_keyframe.0 || video_n.is_multiple_of(KEYFRAME_EVERY);
                let time = MediaTime::new(video_n * 3000, Frequency::NINETY_KHZ);
                let mut frame = tagged_access_unit(key, peer.video_tag);
                write_video_stamp(&mut frame, clock_nanos());
                if write(&mut peer.rtc, mids.video, Codec::H264, now, time, frame) {
                    wrote = true;
                    shared.sent_video.fetch_add(1, Ordering::Relaxed);
                    force_keyframe.0 &= !key;
                }
            }
            video_n += 1;
            next_video = (next_video + VIDEO_EVERY).max(now);
        }
        if connected && now >= next_slides {
            if shared.send_slides.load(Ordering::Relaxed) {
                let key = force_keyframe.1 || slides_n.is_multiple_of(KEYFRAME_EVERY);
                let time = MediaTime::new(slides_n * 9000, Frequency::NINETY_KHZ);
                let frame = tagged_access_unit(key, peer.video_tag);
                if write(&mut peer.rtc, mids.slides, Codec::H264, now, time, frame) {
                    wrote = true;
                    shared.sent_slides.fetch_add(1, Ordering::Relaxed);
                    force_keyframe.1 &= !key;
                }
            }
            slides_n += 1;
            next_slides = (next_slides + SLIDES_EVERY).max(now);
        }
        if wrote {
            // str0m's pacer sees a written frame's packets only at its next
            // timeout input: give it one now, or the frame would wait for
            // the next datagram or timer and the delay measured would be
            // this client's.
            let _ = peer.rtc.handle_input(Input::Timeout(Instant::now()));
        }
        let Some(timeout) = poll(&mut peer, shared, mids, &mut force_keyframe, &mut decoder) else {
            shared.closed.store(true, Ordering::Relaxed);
            return;
        };
        let mut wake = timeout.min(now + Duration::from_millis(50));
        if shared.connected.load(Ordering::Relaxed) {
            wake = wake.min(next_audio).min(next_video).min(next_slides);
        }
        let wait = wake
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if peer.socket.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        if let Ok((n, source)) = peer.socket.recv_from(&mut buf)
            && let Some(data) = buf.get(..n)
            && let Ok(contents) = data.try_into()
        {
            shared.received_datagrams.fetch_add(1, Ordering::Relaxed);
            shared.received_bytes.fetch_add(n as u64, Ordering::Relaxed);
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: peer.local,
                    contents,
                },
            );
            if peer.rtc.handle_input(input).is_err() {
                peer.rtc.disconnect();
            }
        }
        if peer
            .rtc
            .handle_input(Input::Timeout(Instant::now()))
            .is_err()
        {
            peer.rtc.disconnect();
        }
    }
}

/// Writes one frame on `mid` with the payload type of `codec`.
fn write(
    rtc: &mut Rtc,
    mid: Mid,
    codec: Codec,
    now: Instant,
    time: MediaTime,
    data: Vec<u8>,
) -> bool {
    let Some(writer) = rtc.writer(mid) else {
        return false;
    };
    let Some(pt) = writer
        .payload_params()
        .find(|p| {
            p.spec().codec == codec
                && (codec != Codec::H264 || p.spec().format.packetization_mode == Some(1))
        })
        .map(|p| p.pt())
    else {
        return false;
    };
    writer.write(pt, now, time, data).is_ok()
}

/// Polls until a timeout; `None` once the connection is gone.
fn poll(
    peer: &mut TestPeer,
    shared: &Shared,
    mids: Mids,
    force_keyframe: &mut (bool, bool),
    decoder: &mut Option<crate::codec::Decoder>,
) -> Option<Instant> {
    loop {
        if !peer.rtc.is_alive() {
            return None;
        }
        match peer.rtc.poll_output() {
            Err(_) => {
                peer.rtc.disconnect();
                return None;
            }
            Ok(Output::Timeout(t)) => return Some(t),
            Ok(Output::Transmit(t)) => {
                if peer.socket.send_to(&t.contents, t.destination).is_ok() {
                    shared.sent_datagrams.fetch_add(1, Ordering::Relaxed);
                    shared
                        .sent_bytes
                        .fetch_add(t.contents.len() as u64, Ordering::Relaxed);
                }
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => shared.connected.store(true, Ordering::Relaxed),
                Event::Closed => shared.closed.store(true, Ordering::Relaxed),
                Event::MediaData(d) => {
                    if d.mid == mids.audio
                        && let Some(decoder) = decoder.as_mut()
                    {
                        hear(decoder, &d.data, shared);
                    }
                    if d.mid == mids.video
                        && let Some(tag) = d.data.last()
                        && let Ok(mut tags) = shared.tags.lock()
                    {
                        tags[usize::from(*tag)] += 1;
                    }
                    if d.mid == mids.slides
                        && let Some(tag) = d.data.last()
                        && let Ok(mut tags) = shared.slides_tags.lock()
                    {
                        tags[usize::from(*tag)] += 1;
                    }
                    let (counter, sent) = if d.mid == mids.audio {
                        (
                            &shared.received_audio,
                            read_audio_stamp(&d.data).map(|t| (FrameKind::Audio, t)),
                        )
                    } else if d.mid == mids.video {
                        (
                            &shared.received_video,
                            read_video_stamp(&d.data).map(|t| (FrameKind::Video, t)),
                        )
                    } else if d.mid == mids.slides {
                        (&shared.received_slides, None)
                    } else {
                        continue;
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if let Some((kind, sent)) = sent
                        && shared.record_delays.load(Ordering::Relaxed)
                    {
                        let nanos = clock_nanos().saturating_sub(sent);
                        shared
                            .delays
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(FrameDelay { kind, nanos });
                    }
                }
                Event::KeyframeRequest(r) => {
                    shared.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    match r.mid == mids.slides {
                        true => force_keyframe.1 = true,
                        false => force_keyframe.0 = true,
                    }
                }
                _ => {}
            },
        }
    }
}

/// Decodes one received Opus packet into the peer's last 0.5 s of audio.
fn hear(decoder: &mut crate::codec::Decoder, packet: &[u8], shared: &Shared) {
    let mut pcm = [0i16; 5760];
    let Ok(n) = decoder.decode(packet, &mut pcm, false) else {
        return;
    };
    if let Ok(mut heard) = shared.heard.lock() {
        heard.extend(pcm.iter().take(n));
        let excess = heard.len().saturating_sub(HEARD_SAMPLES);
        heard.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_without_zero_bytes_in_video() {
        for nanos in [0, 1, 0x7f, 0x80, 123_456_789_012, u64::MAX] {
            let mut opus = vec![0x5a; 60];
            assert!(write_audio_stamp(&mut opus, nanos));
            assert_eq!(read_audio_stamp(&opus), Some(nanos));
            for key in [false, true] {
                let mut au = h264_access_unit(key);
                let len = au.len();
                assert!(write_video_stamp(&mut au, nanos));
                assert_eq!(au.len(), len);
                assert_eq!(read_video_stamp(&au), Some(nanos));
                let slice = first_slice(&au).map(|h| h + VIDEO_STAMP_OFFSET);
                let stamp = slice.map(|s| &au[s..s + NAL_STAMP_LEN]);
                assert!(stamp.is_some_and(|s| s.iter().all(|&b| b != 0)));
            }
        }
        // An access unit with no slice has no stamp.
        assert_eq!(read_video_stamp(&[0, 0, 0, 1, 0x67, 0x42, 0xe0]), None);
        assert_eq!(read_audio_stamp(&[1, 2]), None);
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = clock_nanos();
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock_nanos() >= a + 1_000_000);
    }
}
