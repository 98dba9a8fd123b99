//! Meeting media, headless: [`crate::Meeting::add_media`] sends and
//! receives audio (Opus) and video (H.264) with the meeting's media server,
//! the way the official SDK's transcoded path does (`media-protocol.md`).
//!
//! - `roap`: the ROAP exchange over `PUT {selfUrl}/media` (TURN discovery,
//!   OFFER/ANSWER with `seq`, OK, the re-offerable errors).
//! - `session`: one str0m `Rtc` (full ICE, controlling; DTLS-SRTP) driven
//!   by one tokio task that owns its UDP socket.
//! - `sdp`: the offer's wire mids (`0` audio, `1` video, `2` slides).
//! - `source`: what is sent (a tone, PCM encoded here, Opus, H.264).
//! - `sink`: what is received, as streams.
//! - `error`: [`MediaError`].
//!
//! No type of the WebRTC stack appears in this API.
//!
//! ```no_run
//! use futures::StreamExt;
//! use webex_meetings::{AudioSource, MediaDirection, MediaOptions};
//! # async fn run(meeting: webex_meetings::Meeting) -> Result<(), Box<dyn std::error::Error>> {
//! meeting.join().await?;
//! let media = meeting
//!     .add_media(
//!         MediaOptions::new()
//!             .audio(MediaDirection::SendRecv)
//!             .audio_source(AudioSource::Tone { hz: 440.0 }),
//!     )
//!     .await?;
//! let mut heard = media.remote_audio().decoded();
//! while let Some(frame) = heard.next().await {
//!     println!("{} samples at {}", frame.samples.len(), frame.rtp_time);
//! }
//! # Ok(()) }
//! ```

mod error;
pub(crate) mod relay;
pub(crate) mod roap;
mod sdp;
pub(crate) mod session;
pub(crate) mod sink;
mod source;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use webex_wire::roap::TurnServer;

pub use error::MediaError;
pub(crate) use sink::Sinks;
pub use sink::{AudioPacket, AudioStream, PcmFrame, PcmStream, VideoFrame, VideoStream};

/// Which way media flows on one m-line.
///
/// ```
/// use webex_meetings::MediaDirection;
/// assert!(MediaDirection::SendRecv.sends() && MediaDirection::SendRecv.receives());
/// assert!(!MediaDirection::RecvOnly.sends());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MediaDirection {
    /// Send and receive.
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only (the default).
    #[default]
    RecvOnly,
    /// Neither (the m-line is still offered, as the transcoded path needs
    /// all three).
    Inactive,
}

impl MediaDirection {
    /// Whether this direction sends.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether this direction receives.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// Where sent audio comes from.
///
/// ```
/// use webex_meetings::AudioSource;
/// assert_eq!(AudioSource::default(), AudioSource::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum AudioSource {
    /// Nothing is sent.
    #[default]
    None,
    /// A sine of `hz`, generated and Opus-encoded by the SDK (48 kHz mono,
    /// 20 ms frames, loudness 0.25 of full scale).
    Tone {
        /// The frequency.
        hz: f32,
    },
    /// Opus packets from the application ([`Media::send_opus`]), one per
    /// 20 ms.
    Opus,
    /// 48 kHz mono PCM from the application ([`Media::send_pcm`]), 960
    /// samples (20 ms) a call, encoded by the SDK.
    Pcm,
}

/// Where sent video comes from.
///
/// ```
/// use webex_meetings::VideoSource;
/// assert_eq!(VideoSource::default(), VideoSource::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VideoSource {
    /// Nothing is sent.
    #[default]
    None,
    /// H.264 access units in Annex B from the application
    /// ([`Media::send_h264`]).
    H264,
}

/// A remote track: what the server sends on one m-line.
///
/// ```
/// use webex_meetings::RemoteTrack;
/// assert_eq!(RemoteTrack::Share.as_str(), "remoteShare");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoteTrack {
    /// Audio (mid `0`): the other participant, or a mix of everyone else.
    Audio,
    /// Main video (mid `1`).
    Video,
    /// Screen share (mid `2`, `a=content:slides`).
    Share,
}

impl RemoteTrack {
    /// The official SDK's name for it (`remoteAudio`, `remoteVideo`,
    /// `remoteShare`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "remoteAudio",
            Self::Video => "remoteVideo",
            Self::Share => "remoteShare",
        }
    }
}

/// What [`crate::Meeting::add_media`] sets up.
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::{AudioSource, MediaDirection, MediaOptions, VideoSource};
/// let options = MediaOptions::new()
///     .audio(MediaDirection::SendRecv)
///     .audio_source(AudioSource::Pcm)
///     .video(MediaDirection::SendOnly)
///     .video_source(VideoSource::H264)
///     .receive_share(false)
///     .connect_timeout(Duration::from_secs(10));
/// assert!(options.validate().is_ok());
/// assert!(MediaOptions::new().audio(MediaDirection::SendOnly).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MediaOptions {
    pub(crate) audio: MediaDirection,
    pub(crate) video: MediaDirection,
    pub(crate) audio_source: AudioSource,
    pub(crate) video_source: VideoSource,
    pub(crate) share: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) audio_muted: bool,
    pub(crate) video_muted: bool,
    pub(crate) force_turn: bool,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MediaOptions {
    /// Receive audio and video and the share, send nothing; connect within
    /// 20 s (the official SDK's deadline).
    pub fn new() -> Self {
        Self {
            audio: MediaDirection::RecvOnly,
            video: MediaDirection::RecvOnly,
            audio_source: AudioSource::None,
            video_source: VideoSource::None,
            share: true,
            connect_timeout: Duration::from_secs(20),
            audio_muted: false,
            video_muted: false,
            force_turn: false,
        }
    }

    /// The audio m-line's direction.
    pub fn audio(mut self, direction: MediaDirection) -> Self {
        self.audio = direction;
        self
    }

    /// The main video m-line's direction.
    pub fn video(mut self, direction: MediaDirection) -> Self {
        self.video = direction;
        self
    }

    /// Where sent audio comes from (needed when audio sends).
    pub fn audio_source(mut self, source: AudioSource) -> Self {
        self.audio_source = source;
        self
    }

    /// Where sent video comes from (needed when video sends).
    pub fn video_source(mut self, source: VideoSource) -> Self {
        self.video_source = source;
        self
    }

    /// Whether to receive the screen share (mid `2`; on by default).
    pub fn receive_share(mut self, on: bool) -> Self {
        self.share = on;
        self
    }

    /// How long ICE and DTLS may take before `add_media` fails with
    /// [`MediaError::ConnectTimeout`].
    pub fn connect_timeout(mut self, after: Duration) -> Self {
        self.connect_timeout = after;
        self
    }

    /// Start with the microphone muted (the roster shows it at once).
    pub fn audio_muted(mut self, muted: bool) -> Self {
        self.audio_muted = muted;
        self
    }

    /// Start with the camera muted.
    pub fn video_muted(mut self, muted: bool) -> Self {
        self.video_muted = muted;
        self
    }

    /// Media only through the TURN server the media server hands out (a
    /// browser's `iceTransportPolicy: "relay"`), for networks where direct
    /// UDP to it is blocked. Off by default: a relayed candidate is then
    /// offered beside the host ones whenever a TURN server is handed out,
    /// and ICE uses it only if nothing direct works. With this on,
    /// `add_media` fails with [`MediaError::Turn`] when there is no TURN
    /// server or no allocation on it.
    pub fn force_turn(mut self, on: bool) -> Self {
        self.force_turn = on;
        self
    }

    /// Refuses a sending direction without a source, or a tone that is not
    /// a positive audible frequency.
    pub fn validate(&self) -> Result<(), MediaError> {
        if self.audio.sends() && self.audio_source == AudioSource::None {
            return Err(MediaError::InvalidInput(
                "audio sends but has no source: set audio_source()".into(),
            ));
        }
        if self.video.sends() && self.video_source == VideoSource::None {
            return Err(MediaError::InvalidInput(
                "video sends but has no source: set video_source()".into(),
            ));
        }
        if let AudioSource::Tone { hz } = self.audio_source
            && !(hz.is_finite() && hz > 0.0 && hz < 24_000.0)
        {
            return Err(MediaError::InvalidInput(format!(
                "a tone must be between 0 and 24000 Hz, not {hz}"
            )));
        }
        Ok(())
    }
}

/// Counters of one meeting's media so far ([`Media::stats`]).
///
/// ```
/// let stats = webex_meetings::MediaStats::default();
/// assert_eq!(stats.audio_received + stats.video_received, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// Audio frames sent.
    pub audio_sent: u64,
    /// Video access units sent.
    pub video_sent: u64,
    /// Audio frames received.
    pub audio_received: u64,
    /// Video access units received (main video).
    pub video_received: u64,
    /// Share access units received.
    pub share_received: u64,
    /// Round-trip time to the media server, from its RTCP receiver reports
    /// on what this client sends: `None` until one arrived (reports come
    /// each second on video, every 5 s on audio, as in browsers) and
    /// always when nothing is sent.
    pub round_trip: Option<Duration>,
}

/// What the application asks the media task to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// One Opus frame to send (20 ms).
    Opus(Vec<u8>),
    /// One H.264 access unit and its 90 kHz time.
    H264(Vec<u8>, u64),
    /// Ask the server for a keyframe on this track.
    Keyframe(RemoteTrack),
}

/// Shared between the handle and the task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) connected: AtomicBool,
    pub(crate) audio_muted: AtomicBool,
    pub(crate) video_muted: AtomicBool,
    pub(crate) audio_sent: AtomicU64,
    pub(crate) video_sent: AtomicU64,
    pub(crate) audio_received: AtomicU64,
    pub(crate) video_received: AtomicU64,
    pub(crate) share_received: AtomicU64,
    /// The last round-trip time in microseconds; 0: none yet.
    pub(crate) round_trip_us: AtomicU64,
}

/// The media of one meeting: send frames, read remote streams, ask for
/// keyframes. Cheap to clone; clones share everything. Obtained from
/// [`crate::Meeting::add_media`]; it stops with
/// [`crate::Meeting::stop_media`], `leave()`, `end_for_all()`,
/// `unregister()` or dropping the SDK, after which sends fail with
/// [`MediaError::NotStarted`] and the streams end.
///
/// ```no_run
/// use webex_meetings::{MediaDirection, MediaOptions, RemoteTrack, VideoSource};
/// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MediaError> {
/// let media = meeting
///     .add_media(MediaOptions::new().video(MediaDirection::SendRecv).video_source(VideoSource::H264))
///     .await?;
/// media.send_h264(vec![0, 0, 0, 1, 0x65, 0x88], 0)?;
/// media.request_keyframe(RemoteTrack::Video)?;
/// println!("{:?}", media.stats());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Media {
    pub(crate) inner: Arc<MediaInner>,
}

pub(crate) struct MediaInner {
    pub(crate) options: MediaOptions,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) sinks: Arc<sink::Sinks>,
    pub(crate) shared: Arc<Shared>,
    /// Stops the task.
    pub(crate) cancel: CancellationToken,
    /// `true` once the task has ended.
    pub(crate) ended: watch::Receiver<bool>,
    pub(crate) turn: Option<TurnServer>,
    pub(crate) tracks: Vec<RemoteTrack>,
    pub(crate) pcm: Mutex<Option<source::PcmEncoder>>,
    /// The `/media` channel (mute requests).
    pub(crate) signal: Arc<roap::Signal>,
}

impl Drop for MediaInner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("options", &self.inner.options)
            .field("connected", &self.is_connected())
            .field("tracks", &self.inner.tracks)
            .finish_non_exhaustive()
    }
}

impl Media {
    /// Whether ICE and DTLS are up now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.connected.load(Ordering::Relaxed) && !self.is_stopped()
    }

    /// Whether this media has stopped (its task ended).
    pub fn is_stopped(&self) -> bool {
        *self.inner.ended.borrow() || self.inner.cancel.is_cancelled()
    }

    /// The TURN server TURN discovery handed out, if any (kept for later:
    /// this version connects directly).
    pub fn turn_server(&self) -> Option<TurnServer> {
        self.inner.turn.clone()
    }

    /// The remote tracks the server's answer set up.
    pub fn remote_tracks(&self) -> Vec<RemoteTrack> {
        self.inner.tracks.clone()
    }

    /// Whether the microphone is muted (frames are then not sent).
    pub fn is_audio_muted(&self) -> bool {
        self.inner.shared.audio_muted.load(Ordering::Relaxed)
    }

    /// Whether the camera is muted (frames are then not sent).
    pub fn is_video_muted(&self) -> bool {
        self.inner.shared.video_muted.load(Ordering::Relaxed)
    }

    /// Counters so far.
    pub fn stats(&self) -> MediaStats {
        let s = &self.inner.shared;
        MediaStats {
            audio_sent: s.audio_sent.load(Ordering::Relaxed),
            video_sent: s.video_sent.load(Ordering::Relaxed),
            audio_received: s.audio_received.load(Ordering::Relaxed),
            video_received: s.video_received.load(Ordering::Relaxed),
            share_received: s.share_received.load(Ordering::Relaxed),
            round_trip: match s.round_trip_us.load(Ordering::Relaxed) {
                0 => None,
                us => Some(Duration::from_micros(us)),
            },
        }
    }

    fn command(&self, command: Command) -> Result<(), MediaError> {
        if self.is_stopped() {
            return Err(MediaError::NotStarted);
        }
        match self.inner.commands.try_send(command) {
            Ok(()) => Ok(()),
            // Real-time media: a frame that cannot be queued is late anyway.
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("media queue full: frame dropped");
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(MediaError::NotStarted),
        }
    }

    /// Sends one Opus packet (20 ms of 48 kHz audio) when the source is
    /// [`AudioSource::Opus`]. Call it every 20 ms; a frame that cannot be
    /// queued is dropped. Nothing is sent while muted.
    pub fn send_opus(&self, packet: Vec<u8>) -> Result<(), MediaError> {
        if self.inner.options.audio_source != AudioSource::Opus || !self.inner.options.audio.sends()
        {
            return Err(MediaError::InvalidInput(
                "send_opus needs audio sending with AudioSource::Opus".into(),
            ));
        }
        if packet.is_empty() {
            return Err(MediaError::InvalidInput("an empty Opus packet".into()));
        }
        self.command(Command::Opus(packet))
    }

    /// Encodes and sends 20 ms of 48 kHz mono PCM (exactly 960 samples)
    /// when the source is [`AudioSource::Pcm`]. Call it every 20 ms.
    pub fn send_pcm(&self, samples: &[i16]) -> Result<(), MediaError> {
        if self.inner.options.audio_source != AudioSource::Pcm || !self.inner.options.audio.sends()
        {
            return Err(MediaError::InvalidInput(
                "send_pcm needs audio sending with AudioSource::Pcm".into(),
            ));
        }
        let packet = {
            let mut pcm = self
                .inner
                .pcm
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if pcm.is_none() {
                *pcm = Some(source::PcmEncoder::new()?);
            }
            match pcm.as_mut() {
                Some(encoder) => encoder.encode(samples)?,
                None => return Err(MediaError::Local("no Opus encoder".into())),
            }
        };
        self.command(Command::Opus(packet))
    }

    /// Sends one H.264 access unit (Annex B, packetization-mode 1) at
    /// `rtp_time` (90 kHz) when the source is [`VideoSource::H264`].
    pub fn send_h264(&self, access_unit: Vec<u8>, rtp_time: u64) -> Result<(), MediaError> {
        if self.inner.options.video_source != VideoSource::H264 || !self.inner.options.video.sends()
        {
            return Err(MediaError::InvalidInput(
                "send_h264 needs video sending with VideoSource::H264".into(),
            ));
        }
        if access_unit.is_empty() {
            return Err(MediaError::InvalidInput("an empty access unit".into()));
        }
        self.command(Command::H264(access_unit, rtp_time))
    }

    /// Asks the server for a keyframe on a received video track (a PLI).
    pub fn request_keyframe(&self, track: RemoteTrack) -> Result<(), MediaError> {
        if track == RemoteTrack::Audio {
            return Err(MediaError::InvalidInput(
                "keyframes are for video tracks".into(),
            ));
        }
        self.command(Command::Keyframe(track))
    }

    /// The remote audio, as Opus packets with their 48 kHz RTP time. Each
    /// call is a new subscriber; a slow reader loses packets past a buffer
    /// of about 10 s rather than growing memory. Ends when media stops.
    pub fn remote_audio(&self) -> AudioStream {
        self.inner.sinks.audio()
    }

    /// The remote main video, as H.264 access units.
    pub fn remote_video(&self) -> VideoStream {
        self.inner.sinks.video(RemoteTrack::Video)
    }

    /// The remote screen share (mid `2`), as H.264 access units.
    pub fn remote_share(&self) -> VideoStream {
        self.inner.sinks.video(RemoteTrack::Share)
    }

    /// Stops the task (the handle stays readable); see
    /// [`crate::Meeting::stop_media`] for the meeting's view.
    pub(crate) fn stop(&self) {
        self.inner.cancel.cancel();
        self.inner.sinks.close();
    }

    /// Waits until the task has ended (bounded by the caller).
    pub(crate) async fn ended(&self) {
        let mut ended = self.inner.ended.clone();
        let _ = ended.wait_for(|e| *e).await;
    }
}
