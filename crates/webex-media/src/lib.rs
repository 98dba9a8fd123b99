//! The media engine of `webex serve`: an ICE-lite, DTLS-SRTP selective
//! forwarder for the official SDK's transcoded clients (one audio, one
//! video and one slides m-line, mids `0`, `1`, `2`), built on `str0m`
//! and kept behind this crate's small interface: [`MediaEngine::offer`]
//! (SDP offer → SDP answer), [`MediaEngine::mute`],
//! [`MediaEngine::close_participant`], [`MediaEngine::close_meeting`].
//!
//! One engine thread owns the UDP socket and every session; the async
//! methods are commands to it. Nothing here knows about HTTP, Locus or ROAP.
//!
//! Media goes from one participant's m-line to the other participants'
//! m-line of the same role (audio, main video, slides), unless the sender
//! muted that kind; their keyframe requests go back to the sender. Slides
//! come only from the meeting's presenter ([`MediaEngine::set_presenter`],
//! the holder of the Locus content floor), from a keyframe on, with
//! continuous timestamps per receiver across presenters. A
//! transcoded client has one audio and one video slot, so with more than
//! two participants each receives a mix of everyone else's audio
//! (decoded, mixed and re-encoded on the engine thread every 20 ms) and
//! the active speaker's video ([`MediaEngine::active_speaker`]; the
//! speaker sees the previous one), switched on a keyframe with continuous
//! timestamps. Every
//! call into one session's WebRTC stack is isolated: a panic closes that
//! session only. Counters and a gauge are recorded with the `metrics`
//! macros ([`describe_metrics`] registers their help texts). With the
//! `testing` feature, `testing::TestPeer` is a client for tests.
//!
//! ```no_run
//! # async fn demo(offer_sdp: String) -> Result<(), webex_media::MediaError> {
//! use webex_media::{MediaConfig, MediaEngine, SessionKey};
//! let engine = MediaEngine::start(MediaConfig::default())?;
//! let key = SessionKey::new("locus-id", "participant-id");
//! let answer = engine.offer(key.clone(), offer_sdp, false).await?;
//! assert!(answer.sdp.contains("a=ice-lite"));
//! engine.close_participant(&key).await;
//! # Ok(()) }
//! ```

mod answer;
mod codec;
mod config;
mod demux;
mod engine;
mod error;
mod forward;
mod metrics;
mod mix;
mod offer;
mod session;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::MediaConfig;
pub use error::MediaError;
pub use metrics::describe_metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use engine::Command;

/// Checks an SDP offer as [`MediaEngine::offer`] does before making
/// anything: it parses, and it offers Opus audio or H.264
/// (packetization-mode 1) video. Pure; for callers that want to refuse
/// early, and for fuzzing.
///
/// ```
/// assert!(webex_media::check_offer("v=0\r\nnonsense").is_err());
/// ```
pub fn check_offer(sdp: &str) -> Result<(), MediaError> {
    offer::read(sdp).map(|_| ())
}

/// One participant's media in one meeting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// The meeting (Locus id).
    pub meeting: String,
    /// The participant id in that Locus.
    pub participant: String,
}

impl SessionKey {
    /// The key of `participant`'s media in `meeting`.
    ///
    /// ```
    /// let k = webex_media::SessionKey::new("m", "p");
    /// assert_eq!((k.meeting.as_str(), k.participant.as_str()), ("m", "p"));
    /// ```
    pub fn new(meeting: impl Into<String>, participant: impl Into<String>) -> Self {
        Self {
            meeting: meeting.into(),
            participant: participant.into(),
        }
    }
}

/// The engine's answer to an offer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Answer {
    /// The SDP answer (ICE-lite, one host candidate: the public media address).
    pub sdp: String,
    /// `true` when the offer started a new session (first offer, or `fresh`).
    pub new_session: bool,
}

/// How many speaker changes [`MediaEngine::speaker_changes`] keeps for a
/// slow receiver.
const SPEAKER_CHANGES: usize = 256;

/// A meeting's active speaker changed ([`MediaEngine::speaker_changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpeakerChange {
    /// The meeting (Locus id).
    pub meeting: String,
    /// The new active speaker (participant id).
    pub participant: String,
}

/// What the admin API shows of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Whose media.
    pub key: SessionKey,
    /// `new`, `checking`, `connected` (ICE and DTLS done) or `closed`.
    pub state: &'static str,
    /// Unix ms when the session was made.
    pub created_at_ms: i64,
    /// Whether the participant said its audio is muted.
    pub audio_muted: bool,
    /// Whether the participant said its video is muted.
    pub video_muted: bool,
    /// The participant whose main video this one receives now (the
    /// other one of two; with more, the active speaker, or the previous
    /// speaker for the speaker), once some was sent.
    pub watching: Option<String>,
    /// Media frames received from this participant.
    pub frames_in: u64,
    /// Media frames forwarded to this participant.
    pub frames_out: u64,
    /// Payload bytes received from this participant.
    pub bytes_in: u64,
    /// Payload bytes forwarded to this participant.
    pub bytes_out: u64,
    /// Whether this participant is the meeting's presenter (its slides
    /// are forwarded).
    pub presenting: bool,
}

/// The running engine. Cheap to clone; the engine thread stops when
/// [`MediaEngine::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

/// What the clones share; dropping the last closes the command channel,
/// which ends the engine thread.
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    speakers: tokio::sync::broadcast::Sender<SpeakerChange>,
    local: SocketAddr,
    candidate: SocketAddr,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("local_addr", &self.inner.local)
            .field("candidate_addr", &self.inner.candidate)
            .finish_non_exhaustive()
    }
}

impl MediaEngine {
    /// Binds the UDP socket (`config.listen`) and starts the engine thread.
    pub fn start(config: MediaConfig) -> Result<Self, MediaError> {
        let socket = std::net::UdpSocket::bind(config.listen).map_err(MediaError::Bind)?;
        socket.set_nonblocking(true).map_err(MediaError::Bind)?;
        let local = socket.local_addr().map_err(MediaError::Bind)?;
        let candidate = match config.public_address {
            Some(ip) => SocketAddr::new(ip, local.port()),
            None => local,
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let (speakers, _) = tokio::sync::broadcast::channel(SPEAKER_CHANGES);
        let tx = speakers.clone();
        std::thread::Builder::new()
            .name("webex-media".into())
            .spawn(move || engine::run(socket, config, candidate, rx, tx))
            .map_err(|e| {
                tracing::error!(error = %e, "could not start the media engine thread");
                MediaError::Stopped
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                commands,
                speakers,
                local,
                candidate,
            }),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The address that goes into answers' candidates:
    /// `config.public_address` with the bound port, else the bound address.
    pub fn candidate_addr(&self) -> SocketAddr {
        self.inner.candidate
    }

    /// Sends a command made with a reply channel; `None` when the engine
    /// thread is gone.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.inner.commands.send(make(tx)).ok()?;
        rx.await.ok()
    }

    /// Answers `offer_sdp` for `key`: a new session when there is none (or
    /// `fresh`: the client started over with a new peer connection, the old
    /// session is closed first), else a renegotiation of the existing one.
    ///
    /// Refused with [`MediaError::MeetingFull`] when the meeting already
    /// has `config.max_per_meeting` other sessions, [`MediaError::NodeFull`]
    /// at `config.max_sessions`, [`MediaError::InvalidOffer`] when the SDP
    /// cannot be parsed or has no audio/video the engine can take (Opus,
    /// H.264 packetization-mode 1).
    pub async fn offer(
        &self,
        key: SessionKey,
        offer_sdp: String,
        fresh: bool,
    ) -> Result<Answer, MediaError> {
        self.ask(|reply| Command::Offer {
            key,
            sdp: offer_sdp,
            fresh,
            reply,
        })
        .await
        .unwrap_or(Err(MediaError::Stopped))
    }

    /// Records the participant's mute flags; a muted kind is not forwarded.
    /// `false` when there is no such session.
    pub async fn mute(&self, key: &SessionKey, audio_muted: bool, video_muted: bool) -> bool {
        self.ask(|reply| Command::Mute {
            key: key.clone(),
            audio: audio_muted,
            video: video_muted,
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Closes `key`'s session, if any. `true` when there was one.
    pub async fn close_participant(&self, key: &SessionKey) -> bool {
        self.ask(|reply| Command::CloseParticipant {
            key: key.clone(),
            reply,
        })
        .await
        .unwrap_or(false)
    }

    /// Closes every session of `meeting`; how many there were.
    pub async fn close_meeting(&self, meeting: &str) -> usize {
        self.ask(|reply| Command::CloseMeeting {
            meeting: meeting.to_string(),
            reply,
        })
        .await
        .unwrap_or(0)
    }

    /// The meetings that have sessions here.
    pub async fn meetings(&self) -> Vec<String> {
        self.ask(|reply| Command::Meetings { reply })
            .await
            .unwrap_or_default()
    }

    /// Every session, sorted by key.
    pub async fn sessions(&self) -> Vec<SessionInfo> {
        self.ask(|reply| Command::Sessions { reply })
            .await
            .unwrap_or_default()
    }

    /// Every change of a meeting's active speaker from now on (see
    /// [`MediaEngine::active_speaker`]). A receiver that falls more than
    /// 256 changes behind loses the oldest (`RecvError::Lagged`).
    ///
    /// ```no_run
    /// # async fn demo(engine: webex_media::MediaEngine) {
    /// let mut changes = engine.speaker_changes();
    /// while let Ok(change) = changes.recv().await {
    ///     println!("{} speaks in {}", change.participant, change.meeting);
    /// }
    /// # }
    /// ```
    pub fn speaker_changes(&self) -> tokio::sync::broadcast::Receiver<SpeakerChange> {
        self.inner.speakers.subscribe()
    }

    /// The active speaker of `meeting` (participant id): with more than
    /// two participants, the loudest sender by decoded audio level, once
    /// it led for about a second. `None` in meetings of two (audio is
    /// forwarded, not decoded) and before anyone spoke.
    pub async fn active_speaker(&self, meeting: &str) -> Option<String> {
        self.ask(|reply| Command::ActiveSpeaker {
            meeting: meeting.to_string(),
            reply,
        })
        .await
        .flatten()
    }

    /// Makes `participant` the presenter of `meeting` (`None`: nobody):
    /// only the presenter's slides are forwarded, to every other session
    /// of the meeting. On a change the presenter is asked for a keyframe,
    /// and receivers take its slides from a keyframe on. Kept for the
    /// meeting even before it has sessions here.
    pub async fn set_presenter(&self, meeting: &str, participant: Option<String>) {
        let _ = self
            .ask(|reply| Command::SetPresenter {
                meeting: meeting.to_string(),
                participant,
                reply,
            })
            .await;
    }

    /// The presenter of `meeting`, as last set.
    pub async fn presenter(&self, meeting: &str) -> Option<String> {
        self.ask(|reply| Command::Presenter {
            meeting: meeting.to_string(),
            reply,
        })
        .await
        .flatten()
    }

    /// Closes every session and stops the engine thread.
    pub async fn shutdown(&self) {
        let _ = self.ask(|reply| Command::Shutdown { reply }).await;
    }
}
