//! One participant's media: its `Rtc`, what it negotiated, its mute flags
//! and its counters. Every call into the `Rtc` goes through
//! [`Session::guard`], so that a panic in str0m closes this session only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaData, MediaTime, Mid};
use str0m::net::Receive;
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcError};

use crate::SessionKey;
use crate::mix::Timeline;
use crate::offer::Role;

/// A session's number in the engine (never reused).
pub(crate) type SessionId = u64;

/// The H.264 payload types the engine offers: packetization-mode 1 only,
/// str0m's defaults for (pt, rtx pt, profile-level-id).
const H264_PM1: &[(u8, u8, u32)] = &[
    (127, 121, 0x42001f),
    (108, 109, 0x42e01f),
    (123, 119, 0x4d001f),
    (114, 115, 0x64001f),
];

/// Keyframe requests to one sender's m-line: at most one per this long.
const KEYFRAME_THROTTLE: Duration = Duration::from_millis(500);

/// str0m's RustCrypto provider (SRTP, DTLS), made once.
fn crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone()
}

/// The `RtcConfig` of an engine session or a test peer: Opus and H.264
/// (packetization-mode 1, NACK/RTX, PLI/FIR) only.
pub(crate) fn rtc_config(ice_lite: bool, creds: IceCreds) -> str0m::RtcConfig {
    let mut cfg = Rtc::builder()
        .set_ice_lite(ice_lite)
        .set_crypto_provider(crypto())
        .set_local_ice_credentials(creds)
        .clear_codecs()
        .enable_opus(true, false);
    for &(pt, rtx, profile) in H264_PM1 {
        cfg.codec_config()
            .add_h264(pt.into(), Some(rtx.into()), true, profile);
    }
    cfg
}

/// str0m panicked inside this session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Panicked;

/// What a session's `Rtc` raised that concerns other sessions.
// Mostly `Media`: boxing it would allocate once per frame for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Raised {
    /// A frame from this participant.
    Media(MediaData),
    /// This participant asks for a keyframe on one of its m-lines.
    Keyframe(KeyframeRequest),
}

/// Why a session ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// ICE failed, or never connected.
    Ice,
    /// DTLS or SRTP failed.
    Dtls,
    /// Some other error of the WebRTC stack.
    Other,
}

/// One participant's media session.
pub(crate) struct Session {
    pub id: SessionId,
    pub key: SessionKey,
    rtc: Rtc,
    pub created_at_ms: i64,
    pub audio_muted: bool,
    pub video_muted: bool,
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The routed m-lines and their roles, from the last offer.
    roles: Vec<(Mid, Role)>,
    /// The local ICE ufrag (STUN USERNAME demux).
    pub ufrag: String,
    pub ice: IceConnectionState,
    /// ICE and DTLS done.
    pub connected: bool,
    pub disconnected_since: Option<Instant>,
    /// When the last offer was accepted (the connect deadline runs from it).
    pub offered_at: Instant,
    /// When the `Rtc` wants its next `Input::Timeout`.
    pub next_timeout: Instant,
    pub failure: Option<Failure>,
    last_keyframe_request: HashMap<Mid, Instant>,
    /// Outgoing audio time, continuous across senders and the mixer.
    pub audio_line: Timeline,
    /// Outgoing main-video time, continuous across switched senders.
    pub video_line: Timeline,
    /// Whose main video this participant receives.
    pub video: Switched,
    /// Outgoing slides time, continuous across presenters.
    pub slides_line: Timeline,
    /// Whose slides this participant receives (waiting for a keyframe
    /// from the start and whenever the presenter changes).
    pub slides: Switched,
}

/// Which sender one of a receiver's video m-lines takes, switched on a
/// keyframe: after a change of sender, its frames are dropped until its
/// keyframe (which the caller asks for).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Switched {
    /// The sender, once one was chosen.
    pub from: Option<SessionId>,
    /// Frames are dropped until a keyframe.
    pub waiting: bool,
}

impl Switched {
    /// Whether a frame of `from` goes out: `false` while waiting for a
    /// keyframe of it (a new sender starts waiting).
    pub(crate) fn admit(&mut self, from: SessionId, keyframe: bool) -> bool {
        if self.from != Some(from) {
            self.from = Some(from);
            self.waiting = true;
        }
        if self.waiting && !keyframe {
            return false;
        }
        self.waiting = false;
        true
    }
}

impl Session {
    /// A new session for `key` with an ICE-lite `Rtc` whose one host
    /// candidate is `candidate`.
    pub(crate) fn new(
        id: SessionId,
        key: SessionKey,
        candidate: SocketAddr,
        now: Instant,
    ) -> Result<Self, String> {
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let mut rtc = catch_unwind(AssertUnwindSafe(|| rtc_config(true, creds).build(now)))
            .map_err(|_| "the WebRTC stack panicked creating the session".to_string())?;
        let host = Candidate::host(candidate, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(host);
        Ok(Self {
            id,
            key,
            rtc,
            created_at_ms: unix_ms(),
            audio_muted: false,
            video_muted: false,
            frames_in: 0,
            frames_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            roles: Vec::new(),
            ufrag,
            ice: IceConnectionState::New,
            connected: false,
            disconnected_since: None,
            offered_at: now,
            next_timeout: now,
            failure: None,
            last_keyframe_request: HashMap::new(),
            audio_line: Timeline::default(),
            video_line: Timeline::default(),
            video: Switched::default(),
            slides_line: Timeline::default(),
            slides: Switched {
                from: None,
                waiting: true,
            },
        })
    }

    /// Runs `f` on the `Rtc`, catching a panic.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Rtc) -> T) -> Result<T, Panicked> {
        catch_unwind(AssertUnwindSafe(|| f(&mut self.rtc))).map_err(|_| Panicked)
    }

    /// Accepts `offer` (first or renegotiation); `roles` from its text.
    pub(crate) fn accept_offer(
        &mut self,
        offer: SdpOffer,
        roles: Vec<(String, Role)>,
        now: Instant,
    ) -> Result<Result<SdpAnswer, RtcError>, Panicked> {
        let answer = self.guard(|rtc| rtc.sdp_api().accept_offer(offer))?;
        if answer.is_ok() {
            self.roles = roles
                .into_iter()
                .map(|(mid, role)| (Mid::from(mid.as_str()), role))
                .collect();
            self.offered_at = now;
            self.next_timeout = now;
        }
        Ok(answer)
    }

    /// Whether the `Rtc` still runs.
    pub(crate) fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }

    /// Whether the `Rtc` takes this datagram (cheap for STUN: ufrag check).
    pub(crate) fn accepts(&mut self, input: &Input) -> Result<bool, Panicked> {
        self.guard(|rtc| rtc.accepts(input))
    }

    /// Feeds a datagram or a timeout. A DTLS or ICE error ends the
    /// session; others (one bad packet) are logged, and str0m itself says
    /// through `is_alive` whether it can go on.
    pub(crate) fn handle_input(&mut self, input: Input) -> Result<(), Panicked> {
        let result = self.guard(|rtc| rtc.handle_input(input))?;
        match result {
            Ok(()) => {}
            Err(e @ (RtcError::Dtls(_) | RtcError::Ice(_))) => self.fail(&e),
            Err(e) => tracing::debug!(key = ?self.key, error = %e, "media input refused"),
        }
        Ok(())
    }

    /// Marks the session failed after `e` and stops its `Rtc`.
    fn fail(&mut self, e: &RtcError) {
        let failure = match e {
            RtcError::Dtls(_) => Failure::Dtls,
            RtcError::Ice(_) => Failure::Ice,
            _ => Failure::Other,
        };
        tracing::info!(key = ?self.key, error = %e, "media session failed");
        self.failure.get_or_insert(failure);
        self.rtc.disconnect();
    }

    /// Polls the `Rtc` until it wants a timeout: transmits go to `send`,
    /// events for other sessions to `raised`.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        send: &mut dyn FnMut(&[u8], SocketAddr),
        raised: &mut Vec<(SessionId, Raised)>,
    ) -> Result<(), Panicked> {
        // Bounded: a misbehaving Rtc can not hold the engine forever.
        for _ in 0..10_000 {
            if !self.rtc.is_alive() {
                return Ok(());
            }
            let output = self.guard(|rtc| rtc.poll_output())?;
            match output {
                Err(e) => {
                    self.fail(&e);
                    return Ok(());
                }
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return Ok(());
                }
                Ok(Output::Transmit(t)) => send(&t.contents, t.destination),
                Ok(Output::Event(e)) => self.event(e, now, raised),
            }
        }
        self.next_timeout = now;
        Ok(())
    }

    fn event(&mut self, e: Event, now: Instant, raised: &mut Vec<(SessionId, Raised)>) {
        match e {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(state) => {
                self.ice = state;
                if state == IceConnectionState::Disconnected {
                    self.disconnected_since.get_or_insert(now);
                } else {
                    self.disconnected_since = None;
                }
            }
            Event::MediaData(data) => {
                self.frames_in += 1;
                self.bytes_in += data.data.len() as u64;
                raised.push((self.id, Raised::Media(data)));
            }
            Event::KeyframeRequest(req) => raised.push((self.id, Raised::Keyframe(req))),
            Event::Closed => {}
            _ => {}
        }
    }

    /// The role of this participant's m-line `mid`.
    pub(crate) fn role_of(&self, mid: Mid) -> Option<Role> {
        self.roles.iter().find(|(m, _)| *m == mid).map(|(_, r)| *r)
    }

    /// This participant's m-line playing `role`.
    pub(crate) fn mid_for(&self, role: Role) -> Option<Mid> {
        self.roles.iter().find(|(_, r)| *r == role).map(|(m, _)| *m)
    }

    /// Whether the participant muted what `role` carries.
    pub(crate) fn muted(&self, role: Role) -> bool {
        match role {
            Role::Audio => self.audio_muted,
            Role::Video => self.video_muted,
            Role::Slides => false,
        }
    }

    /// Writes another participant's frame on `mid` at `time` (this
    /// receiver's timeline); `true` when written.
    pub(crate) fn write(
        &mut self,
        mid: Mid,
        data: &MediaData,
        time: MediaTime,
    ) -> Result<bool, Panicked> {
        if !self.connected {
            return Ok(false);
        }
        let result = self.guard(|rtc| {
            let writer = rtc.writer(mid)?;
            let params = data.params;
            let pt = writer.match_params(params).or_else(|| {
                // Same codec, another profile: H.264 decoders take it.
                let spec = params.spec();
                writer
                    .payload_params()
                    .find(|p| {
                        p.spec().codec == spec.codec
                            && (spec.codec != Codec::H264
                                || p.spec().format.packetization_mode
                                    == spec.format.packetization_mode)
                    })
                    .map(|p| p.pt())
            })?;
            Some(writer.write(pt, data.network_time, time, data.data.clone()))
        })?;
        match result {
            Some(Ok(())) => {
                self.frames_out += 1;
                self.bytes_out += data.data.len() as u64;
                Ok(true)
            }
            Some(Err(e)) => {
                tracing::debug!(key = ?self.key, error = %e, "forwarding a frame failed");
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Writes an Opus packet the engine made (the mix) on `mid`; `true`
    /// when written.
    pub(crate) fn write_opus(
        &mut self,
        mid: Mid,
        now: Instant,
        time: MediaTime,
        packet: Vec<u8>,
    ) -> Result<bool, Panicked> {
        if !self.connected {
            return Ok(false);
        }
        let len = packet.len();
        let result = self.guard(|rtc| {
            let writer = rtc.writer(mid)?;
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)
                .map(|p| p.pt())?;
            Some(writer.write(pt, now, time, packet))
        })?;
        match result {
            Some(Ok(())) => {
                self.frames_out += 1;
                self.bytes_out += len as u64;
                Ok(true)
            }
            Some(Err(e)) => {
                tracing::debug!(key = ?self.key, error = %e, "writing the mix failed");
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Asks this participant for a keyframe on `mid`, at most once per
    /// [`KEYFRAME_THROTTLE`]; `true` when a request went out.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        kind: KeyframeRequestKind,
        now: Instant,
    ) -> Result<bool, Panicked> {
        if !self.connected {
            return Ok(false);
        }
        if let Some(last) = self.last_keyframe_request.get(&mid)
            && now.saturating_duration_since(*last) < KEYFRAME_THROTTLE
        {
            return Ok(false);
        }
        let done = self.guard(|rtc| {
            rtc.writer(mid)
                .map(|mut w| w.request_keyframe(None, kind).is_ok())
                .unwrap_or(false)
        })?;
        if done {
            self.last_keyframe_request.insert(mid, now);
        }
        Ok(done)
    }

    /// Starts closing the `Rtc` and sends what it has left (RTCP BYE, DTLS
    /// close_notify).
    pub(crate) fn close(&mut self, now: Instant, send: &mut dyn FnMut(&[u8], SocketAddr)) {
        if self.guard(|rtc| rtc.close()).is_err() {
            return;
        }
        let mut ignored = Vec::new();
        for _ in 0..100 {
            if !self.rtc.is_alive() {
                break;
            }
            match self.guard(|rtc| rtc.poll_output()) {
                Ok(Ok(Output::Transmit(t))) => send(&t.contents, t.destination),
                Ok(Ok(Output::Event(e))) => self.event(e, now, &mut ignored),
                _ => break,
            }
        }
    }

    /// `new`, `checking`, `connected` or `closed`.
    pub(crate) fn state(&self) -> &'static str {
        if !self.rtc.is_alive() {
            "closed"
        } else if self.connected {
            "connected"
        } else if self.ice != IceConnectionState::New {
            "checking"
        } else {
            "new"
        }
    }

    /// A datagram as str0m input (`None`: not STUN, DTLS, RTP or RTCP).
    pub(crate) fn input<'a>(
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &'a [u8],
    ) -> Option<Input<'a>> {
        let contents = datagram.try_into().ok()?;
        Some(Input::Receive(
            now,
            Receive {
                proto: str0m::net::Protocol::Udp,
                source,
                destination,
                contents,
            },
        ))
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
