//! Meeting media: which node's engine carries a meeting's media, and the
//! calls into it.
//!
//! - The engine is `webex_media::MediaEngine` (ICE-lite, DTLS-SRTP; two
//!   participants' media forwarded to each other, from three on mixed audio
//!   and the active speaker's video), one per node, started by `server.rs`
//!   unless media is off.
//! - A meeting's media lives on one node, its *anchor*: the node that took
//!   its first offer, recorded with the Locus
//!   ([`MeetingStore::claim_media_node`](crate::store::MeetingStore::claim_media_node)).
//!   An offer reaching another node is carried to the anchor over the bus
//!   ([`relay`]); the anchor's answer names the anchor's media address. An
//!   anchor that does not answer within the relay timeout is taken over.
//! - Teardown and mute follow the roster ([`reconcile`]): after each Locus
//!   event of a meeting with sessions here, a participant who is no longer
//!   JOINED from the device that sent the offer loses its session, and the
//!   mute flags the roster shows are the ones the engine applies.
//!
//! The HTTP side (ROAP over `PUT {selfUrl}/media`) is `locus::media`.

mod admin;
pub mod reconcile;
pub mod relay;
pub mod speaker;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use webex_media::{MediaEngine, MediaError, SessionKey};

pub use admin::{openapi, router};

/// An offer as it travels to the anchor node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayedOffer {
    /// Locus id.
    pub meeting: String,
    /// Participant id.
    pub participant: String,
    /// The device that sent it (the session closes when it leaves).
    pub device_url: String,
    /// The SDP offer.
    pub sdp: String,
    /// The client started over with a new peer connection (ROAP `seq` 1).
    pub fresh: bool,
    /// Mute flags sent with the offer.
    pub audio_muted: bool,
    /// See `audio_muted`.
    pub video_muted: bool,
}

/// The anchor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    /// The SDP answer.
    pub sdp: String,
    /// The node that answered.
    pub node: String,
}

/// Why an offer got no SDP answer. Travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "camelCase")]
#[non_exhaustive]
pub enum MediaFailure {
    /// Media is off on the anchor (why, and how to turn it on).
    #[error("media is off on this server: {0}")]
    Off(String),
    /// The SDP cannot be answered.
    #[error("the offer cannot be answered: {0}")]
    InvalidOffer(String),
    /// The meeting's media is full (`--media-max-per-meeting`).
    #[error(
        "this meeting already carries media for {0} participants, the most this server takes in one meeting"
    )]
    MeetingFull(usize),
    /// The anchor node carries its most sessions.
    #[error("the media node carries its most sessions ({0}); try again later")]
    NodeFull(usize),
    /// The anchor did not answer in time and could not be taken over.
    #[error("the media node of this meeting did not answer: {0}")]
    Unreachable(String),
    /// The engine stopped (the node is shutting down).
    #[error("the media engine is stopped")]
    Stopped,
}

impl MediaFailure {
    /// Whether the same offer may be answered later.
    ///
    /// ```
    /// use webex_server::media::MediaFailure;
    /// assert!(MediaFailure::NodeFull(10).is_retryable());
    /// assert!(!MediaFailure::MeetingFull(2).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::NodeFull(_) | Self::Unreachable(_) | Self::Stopped
        )
    }
}

impl From<MediaError> for MediaFailure {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::InvalidOffer(why) => Self::InvalidOffer(why),
            MediaError::MeetingFull { limit } => Self::MeetingFull(limit),
            MediaError::NodeFull { limit } => Self::NodeFull(limit),
            other => {
                tracing::warn!(error = %other, "media engine failed");
                Self::Stopped
            }
        }
    }
}

/// This node's media: its engine (or why there is none), the sessions it
/// carries, the offers it relayed and waits answers for.
pub struct MediaService {
    engine: Result<MediaEngine, String>,
    /// Local sessions → the device that made them.
    devices: Mutex<HashMap<SessionKey, String>>,
    pub(crate) relay: relay::Pending,
}

impl std::fmt::Debug for MediaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaService")
            .field(
                "engine",
                &self.engine.as_ref().map(MediaEngine::candidate_addr),
            )
            .finish_non_exhaustive()
    }
}

impl MediaService {
    /// Media through `engine`.
    pub fn new(engine: MediaEngine) -> Self {
        Self {
            engine: Ok(engine),
            devices: Mutex::default(),
            relay: relay::Pending::default(),
        }
    }

    /// No media on this node, for `reason` (said to clients who offer).
    pub fn off(reason: impl Into<String>) -> Self {
        Self {
            engine: Err(reason.into()),
            devices: Mutex::default(),
            relay: relay::Pending::default(),
        }
    }

    /// The engine, if media is on.
    pub fn engine(&self) -> Option<&MediaEngine> {
        self.engine.as_ref().ok()
    }

    /// Answers `offer` with this node's engine.
    pub async fn answer_locally(
        &self,
        offer: RelayedOffer,
        node: &str,
    ) -> Result<Answered, MediaFailure> {
        let engine = self
            .engine
            .as_ref()
            .map_err(|why| MediaFailure::Off(why.clone()))?;
        let key = SessionKey::new(&offer.meeting, &offer.participant);
        let answer = engine.offer(key.clone(), offer.sdp, offer.fresh).await?;
        engine
            .mute(&key, offer.audio_muted, offer.video_muted)
            .await;
        self.lock_devices().insert(key, offer.device_url);
        Ok(Answered {
            sdp: answer.sdp,
            node: node.to_owned(),
        })
    }

    /// Whether this node carries media of `meeting`.
    pub fn carries(&self, meeting: &str) -> bool {
        self.lock_devices().keys().any(|k| k.meeting == meeting)
    }

    /// Closes every session and stops the engine.
    pub async fn shutdown(&self) {
        if let Some(engine) = self.engine() {
            engine.shutdown().await;
        }
        self.lock_devices().clear();
    }

    pub(crate) fn lock_devices(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, String>> {
        // A poisoned map is still a map of sessions: keep using it.
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts this node's engine as `settings` say; the HTTP listener bound
/// `http`. Media is off when disabled, when the socket cannot be bound, or
/// when it would listen on a wildcard IP without a public address (no
/// client could reach a `0.0.0.0` candidate): said in the log and to
/// clients who offer.
pub fn start(settings: &crate::config::MediaSettings, http: std::net::SocketAddr) -> MediaService {
    if !settings.enabled {
        return MediaService::off("started with `--media off`");
    }
    let listen = settings
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::new(http.ip(), 0));
    if listen.ip().is_unspecified() && settings.public_address.is_none() {
        let why = format!(
            "the media socket would listen on {listen} without a public address: \
             set `--media-public-address` (the IP clients reach this node at)"
        );
        tracing::warn!("{why}; media is off");
        return MediaService::off(why);
    }
    let mut config = webex_media::MediaConfig::listening(listen);
    config.public_address = settings.public_address;
    config.max_sessions = settings.max_sessions;
    config.max_per_meeting = settings.max_per_meeting;
    match MediaEngine::start(config) {
        Ok(engine) => {
            tracing::info!(listen = %engine.local_addr(), candidate = %engine.candidate_addr(), "media engine listening");
            MediaService::new(engine)
        }
        Err(e) => {
            let why = format!("the media engine could not start: {e}");
            tracing::error!("{why}; media is off");
            MediaService::off(why)
        }
    }
}

/// Answers `offer`, on this node or on the meeting's anchor.
pub async fn offer(
    state: &crate::state::AppState,
    offer: RelayedOffer,
) -> Result<Answered, OfferError> {
    let me = state.config.node_id.as_str();
    let anchor = state
        .store
        .claim_media_node(&offer.meeting, me, None)
        .await?
        .ok_or_else(|| MediaFailure::InvalidOffer("no such meeting".into()))?;
    if anchor == me {
        return Ok(answer_here(state, offer).await?);
    }
    match relay::ask(state, &anchor, offer.clone()).await {
        Ok(result) => Ok(result?),
        Err(relay::NoAnswer) => {
            // The anchor is gone (or cut off): take the meeting's media
            // over, unless another node already did.
            tracing::warn!(meeting = %offer.meeting, anchor = %anchor, "media: the anchor node did not answer; taking over");
            let now = state
                .store
                .claim_media_node(&offer.meeting, me, Some(&anchor))
                .await?;
            match now.as_deref() {
                Some(n) if n == me => Ok(answer_here(state, offer).await?),
                _ => Err(MediaFailure::Unreachable(anchor).into()),
            }
        }
    }
}

/// Answers `offer` with this node's engine, which then learns the
/// meeting's presenter (the floor may be older than any session here).
pub(crate) async fn answer_here(
    state: &crate::state::AppState,
    offer: RelayedOffer,
) -> Result<Answered, MediaFailure> {
    let meeting = offer.meeting.clone();
    let answered = state
        .media
        .answer_locally(offer, &state.config.node_id)
        .await?;
    reconcile::presenter(state, &meeting).await;
    Ok(answered)
}

/// Why [`offer`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The media side refused or failed.
    #[error(transparent)]
    Media(#[from] MediaFailure),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl OfferError {
    /// Whether the same offer may be answered later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Media(m) => m.is_retryable(),
            Self::Store(s) => s.is_retryable(),
        }
    }
}
