//! One peer connection: a str0m `Rtc` (full ICE, controlling, as the
//! offerer; DTLS-SRTP; Opus and H.264 packetization-mode 1; no header
//! extensions, as the transcoded path has none) and the tokio task that
//! drives it, owning its UDP socket. Every call into str0m runs inside
//! `catch_unwind`: a panic there is a [`MediaError::Local`], never a dead
//! runtime.
//!
//! Host candidates: the socket is bound to `0.0.0.0:0`; the offer names
//! `127.0.0.1` (for a media server on this machine) and the local address
//! the system would use to reach the Locus host, found with a connected
//! UDP socket (which sends nothing). A relayed candidate joins them when a
//! TURN allocation was made (`relay.rs`), or stands alone with
//! `force_turn`: what str0m sends from the relayed address goes to the
//! relay's queue, what the relay receives comes in addressed to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::relay::{Datagram, Relay};
use super::sdp::{self, MidMap};
use super::sink::{AudioPacket, Sinks, VideoFrame};
use super::source::{FRAME, Tone};
use super::{AudioSource, Command, MediaDirection, MediaError, MediaOptions, RemoteTrack, Shared};

/// H.264 payload types offered: packetization-mode 1 only, str0m's
/// defaults for (pt, rtx pt, profile-level-id), as the media engine.
const H264_PM1: &[(u8, u8, u32)] = &[
    (127, 121, 0x42001f),
    (108, 109, 0x42e01f),
    (123, 119, 0x4d001f),
    (114, 115, 0x64001f),
];

/// How often the tone sends.
const AUDIO_EVERY: Duration = Duration::from_millis(20);
/// Longest wait between two timeouts given to str0m.
const MAX_WAIT: Duration = Duration::from_millis(100);

fn crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone()
}

/// Runs `f`, turning a panic inside str0m into an error.
fn guard<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, MediaError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| MediaError::Local(format!("the WebRTC stack panicked {what}")))
}

fn direction(d: MediaDirection) -> Direction {
    match d {
        MediaDirection::SendRecv => Direction::SendRecv,
        MediaDirection::SendOnly => Direction::SendOnly,
        MediaDirection::RecvOnly => Direction::RecvOnly,
        MediaDirection::Inactive => Direction::Inactive,
    }
}

/// str0m's mids of the three m-lines.
#[derive(Debug, Clone, Copy)]
struct Mids {
    audio: Mid,
    video: Mid,
    slides: Mid,
}

impl Mids {
    fn track(&self, mid: Mid) -> Option<RemoteTrack> {
        if mid == self.audio {
            Some(RemoteTrack::Audio)
        } else if mid == self.video {
            Some(RemoteTrack::Video)
        } else if mid == self.slides {
            Some(RemoteTrack::Share)
        } else {
            None
        }
    }

    fn mid(&self, track: RemoteTrack) -> Mid {
        match track {
            RemoteTrack::Audio => self.audio,
            RemoteTrack::Video => self.video,
            RemoteTrack::Share => self.slides,
        }
    }
}

/// The local address the system routes to `host` from (no packet sent).
fn route_to(host: IpAddr) -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((host, 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The offer made, waiting for the answer.
pub(crate) struct Offered {
    rtc: Rtc,
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    relay: Option<Relay>,
    pending: SdpPendingOffer,
    mids: Mids,
    map: MidMap,
    /// The offer as sent (wire mids).
    pub(crate) sdp: String,
}

/// Binds the socket and makes the offer: audio (mid `0`), main video
/// (mid `1`) and slides (mid `2`, `a=content:slides`, recvonly or
/// inactive), with a host candidate on each address (none with
/// [`MediaOptions::force_turn`]) and the relayed one of `relay`.
pub(crate) async fn offer(
    options: &MediaOptions,
    server: Option<IpAddr>,
    relay: Option<Relay>,
) -> Result<Offered, MediaError> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .map_err(|e| MediaError::Local(format!("binding the media socket: {e}")))?;
    let port = socket
        .local_addr()
        .map_err(|e| MediaError::Local(format!("the media socket: {e}")))?
        .port();
    let mut candidates = vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)];
    if let Some(ip) = server.and_then(route_to).filter(|ip| !ip.is_loopback()) {
        candidates.push(SocketAddr::new(ip, port));
    }
    let share = if options.share {
        MediaDirection::RecvOnly
    } else {
        MediaDirection::Inactive
    };
    let (audio_dir, video_dir) = (direction(options.audio), direction(options.video));
    let built = guard("building the peer connection", || {
        let mut cfg = Rtc::builder()
            .set_ice_lite(false)
            // Egress statistics each second: the round-trip time.
            .set_stats_interval(Some(Duration::from_secs(1)))
            .set_crypto_provider(crypto())
            .clear_codecs()
            .enable_opus(true, false);
        for &(pt, rtx, profile) in H264_PM1 {
            cfg.codec_config()
                .add_h264(pt.into(), Some(rtx.into()), true, profile);
        }
        let mut rtc = cfg.clear_extension_map().build(Instant::now());
        for c in candidates.iter().filter(|_| !options.force_turn) {
            match Candidate::host(*c, "udp") {
                Ok(host) => {
                    rtc.add_local_candidate(host);
                }
                Err(e) => tracing::debug!(candidate = %c, error = %e, "candidate skipped"),
            }
        }
        if let Some(r) = &relay {
            match Candidate::relayed(r.relayed, r.local, "udp") {
                Ok(relayed) => {
                    rtc.add_local_candidate(relayed);
                }
                Err(e) => {
                    tracing::debug!(candidate = %r.relayed, error = %e, "relayed candidate skipped")
                }
            }
        }
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, audio_dir, None, None, None);
        let video = api.add_media(MediaKind::Video, video_dir, None, None, None);
        let slides = api.add_media(MediaKind::Video, direction(share), None, None, None);
        let made = api.apply();
        made.map(|(offer, pending)| {
            (
                rtc,
                offer.to_sdp_string(),
                pending,
                Mids {
                    audio,
                    video,
                    slides,
                },
            )
        })
    })?;
    let Some((rtc, text, pending, mids)) = built else {
        return Err(MediaError::Local("the WebRTC stack made no offer".into()));
    };
    let (sdp, map) = sdp::rewrite_offer(&text).map_err(MediaError::Local)?;
    Ok(Offered {
        rtc,
        socket,
        candidates,
        relay,
        pending,
        mids,
        map,
        sdp,
    })
}

/// A peer connection whose answer is applied, ready to run.
pub(crate) struct Answered {
    rtc: Rtc,
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    relay: Option<Relay>,
    mids: Mids,
    /// The tracks the server sends on (its answer's directions).
    pub(crate) tracks: Vec<RemoteTrack>,
}

impl Offered {
    /// Applies the server's answer (wire mids); a malformed one is a
    /// [`MediaError::MalformedAnswer`].
    pub(crate) fn accept(self, answer: &str) -> Result<Answered, MediaError> {
        let Offered {
            mut rtc,
            socket,
            candidates,
            relay,
            pending,
            mids,
            map,
            ..
        } = self;
        sdp::check_answer_mids(answer, &map).map_err(MediaError::MalformedAnswer)?;
        let local = sdp::map_answer(answer, &map);
        // A panic in str0m here comes from the answer: it is malformed.
        let malformed = |e: MediaError| MediaError::MalformedAnswer(e.to_string());
        let parsed = guard("parsing the answer", || SdpAnswer::from_sdp_string(&local))
            .map_err(malformed)?
            .map_err(|e| MediaError::MalformedAnswer(e.to_string()))?;
        guard("applying the answer", || {
            rtc.sdp_api().accept_answer(pending, parsed)
        })
        .map_err(malformed)?
        .map_err(|e| MediaError::MalformedAnswer(e.to_string()))?;
        let tracks = [RemoteTrack::Audio, RemoteTrack::Video, RemoteTrack::Share]
            .into_iter()
            .filter(|t| {
                rtc.media(mids.mid(*t))
                    .is_some_and(|m| m.direction().is_receiving())
            })
            .collect();
        Ok(Answered {
            rtc,
            socket,
            candidates,
            relay,
            mids,
            tracks,
        })
    }
}

/// Where a running connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// ICE and DTLS not done yet.
    Connecting,
    /// Up.
    Connected,
    /// ICE lost the server (it may come back).
    Disconnected,
    /// Broken for good.
    Failed(MediaError),
    /// Stopped by the application or the SDK.
    Stopped,
}

/// What the task needs besides the connection.
pub(crate) struct Wiring {
    pub(crate) options: MediaOptions,
    pub(crate) shared: Arc<Shared>,
    pub(crate) sinks: Arc<Sinks>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) cancel: CancellationToken,
    pub(crate) phase: watch::Sender<Phase>,
    pub(crate) ended: watch::Sender<bool>,
}

/// Runs the connection on a task until it fails or `cancel` fires.
pub(crate) fn spawn(answered: Answered, wiring: Wiring) {
    tokio::spawn(async move {
        let ended = wiring.ended.clone();
        let phase = wiring.phase.clone();
        let cancel = wiring.cancel.clone();
        let sinks = Arc::clone(&wiring.sinks);
        let end = run(answered, wiring).await;
        // The remote streams end with the connection.
        sinks.close();
        phase.send_replace(end);
        cancel.cancel();
        ended.send_replace(true);
    });
}

struct Task {
    rtc: Rtc,
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    relay: Option<Relay>,
    mids: Mids,
    w: Wiring,
    tone: Option<Tone>,
    audio_n: u64,
    next_tone: tokio::time::Instant,
}

async fn run(answered: Answered, w: Wiring) -> Phase {
    run_until_end(answered, w)
        .await
        .unwrap_or_else(Phase::Failed)
}

async fn run_until_end(answered: Answered, w: Wiring) -> Result<Phase, MediaError> {
    let tone = match w.options.audio_source {
        AudioSource::Tone { hz } if w.options.audio.sends() => Some(Tone::new(hz)?),
        _ => None,
    };
    let mut t = Task {
        rtc: answered.rtc,
        socket: answered.socket,
        candidates: answered.candidates,
        relay: answered.relay,
        mids: answered.mids,
        w,
        tone,
        audio_n: 0,
        next_tone: tokio::time::Instant::now(),
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let Some(timeout) = t.drain()? else {
            return Ok(if t.w.cancel.is_cancelled() {
                Phase::Stopped
            } else {
                Phase::Failed(MediaError::Connection("the peer connection closed".into()))
            });
        };
        let now = Instant::now();
        let mut wake = tokio::time::Instant::from_std(timeout.min(now + MAX_WAIT).max(now));
        if t.tone.is_some() && t.w.shared.connected.load(Ordering::Relaxed) {
            wake = wake.min(t.next_tone);
        }
        let input = tokio::select! {
            () = t.w.cancel.cancelled() => {
                let _ = guard("closing", || t.rtc.disconnect());
                let _ = t.drain();
                return Ok(Phase::Stopped);
            }
            received = t.socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => Some(Incoming::Direct(n, source)),
                Err(e) => return Err(MediaError::Connection(format!("media socket: {e}"))),
            },
            relayed = relayed(&mut t.relay) => match relayed {
                Some((data, source)) => Some(Incoming::Relayed(data, source)),
                None => {
                    if t.w.options.force_turn {
                        return Err(MediaError::Connection("the TURN relay stopped".into()));
                    }
                    tracing::debug!("media: the TURN relay stopped; going on without it");
                    t.relay = None;
                    None
                }
            },
            command = t.w.commands.recv() => {
                match command {
                    Some(c) => t.command(c)?,
                    // Every handle is gone: nobody can stop this any more.
                    None => return Ok(Phase::Stopped),
                }
                None
            },
            () = tokio::time::sleep_until(wake) => None,
        };
        match input {
            Some(Incoming::Direct(n, source)) => {
                if let Some(data) = buf.get(..n) {
                    let destination = t.destination(source);
                    t.receive(data, source, destination)?;
                }
            }
            Some(Incoming::Relayed(data, source)) => {
                if let Some(relayed) = t.relay.as_ref().map(|r| r.relayed) {
                    t.receive(&data, source, relayed)?;
                }
            }
            None => {}
        }
        t.tick()?;
    }
}

/// A datagram for the connection.
enum Incoming {
    /// `n` bytes in the buffer, from this address, on the host socket.
    Direct(usize, SocketAddr),
    /// Relayed by the TURN server, from this peer.
    Relayed(Vec<u8>, SocketAddr),
}

/// The next datagram the TURN server relays (never, without a relay);
/// `None` once the relay stopped.
async fn relayed(relay: &mut Option<Relay>) -> Option<Datagram> {
    match relay {
        Some(r) => r.incoming.recv().await,
        None => std::future::pending().await,
    }
}

impl Task {
    /// The local candidate a datagram from `source` reached.
    fn destination(&self, source: SocketAddr) -> SocketAddr {
        let loopback = source.ip().is_loopback();
        self.candidates
            .iter()
            .find(|c| c.ip().is_loopback() == loopback)
            .or_else(|| self.candidates.first())
            .copied()
            .unwrap_or(source)
    }

    fn receive(
        &mut self,
        data: &[u8],
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Result<(), MediaError> {
        let Ok(contents) = data.try_into() else {
            // Not STUN, DTLS or RTP: ignored.
            return Ok(());
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        if let Err(e) = guard("receiving", || self.rtc.handle_input(input))? {
            tracing::debug!(error = %e, "media: datagram refused");
        }
        Ok(())
    }

    /// Sends the tone when due, and gives str0m its timeout.
    fn tick(&mut self) -> Result<(), MediaError> {
        let now = tokio::time::Instant::now();
        if self.w.shared.connected.load(Ordering::Relaxed) && now >= self.next_tone {
            if let Some(tone) = self.tone.as_mut() {
                let packet = tone.next_packet()?;
                if !self.w.shared.audio_muted.load(Ordering::Relaxed) {
                    self.write_audio(packet)?;
                } else {
                    self.audio_n += 1;
                }
            }
            self.next_tone = (self.next_tone + AUDIO_EVERY).max(now);
        }
        guard("on a timer", || {
            self.rtc.handle_input(Input::Timeout(Instant::now()))
        })?
        .map_err(|e| MediaError::Connection(e.to_string()))
    }

    fn command(&mut self, command: Command) -> Result<(), MediaError> {
        if !self.w.shared.connected.load(Ordering::Relaxed) {
            return Ok(());
        }
        match command {
            Command::Opus(packet) => {
                if !self.w.shared.audio_muted.load(Ordering::Relaxed) {
                    self.write_audio(packet)?;
                }
            }
            Command::H264(au, time) => {
                if !self.w.shared.video_muted.load(Ordering::Relaxed) {
                    let time = MediaTime::new(time, Frequency::NINETY_KHZ);
                    if self.write(self.mids.video, Codec::H264, time, au)? {
                        self.w.shared.video_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Command::Keyframe(track) => {
                let mid = self.mids.mid(track);
                guard("requesting a keyframe", || {
                    if let Some(mut writer) = self.rtc.writer(mid)
                        && let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli)
                    {
                        tracing::debug!(error = %e, "media: keyframe request not sent");
                    }
                })?;
            }
        }
        Ok(())
    }

    fn write_audio(&mut self, packet: Vec<u8>) -> Result<(), MediaError> {
        let time = MediaTime::new(self.audio_n * FRAME as u64, Frequency::FORTY_EIGHT_KHZ);
        self.audio_n += 1;
        if self.write(self.mids.audio, Codec::Opus, time, packet)? {
            self.w.shared.audio_sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes one frame on `mid` with the payload type of `codec`; whether
    /// it was taken.
    fn write(
        &mut self,
        mid: Mid,
        codec: Codec,
        time: MediaTime,
        data: Vec<u8>,
    ) -> Result<bool, MediaError> {
        let now = Instant::now();
        let wrote = guard("writing a frame", || {
            let Some(writer) = self.rtc.writer(mid) else {
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
        })?;
        if wrote {
            // str0m's pacer sends at its next timeout input: give it one now.
            guard("flushing", || self.rtc.handle_input(Input::Timeout(now)))?
                .map_err(|e| MediaError::Connection(e.to_string()))?;
        }
        Ok(wrote)
    }

    /// Handles str0m's output until it asks for a timeout; `None` once the
    /// connection is gone.
    fn drain(&mut self) -> Result<Option<Instant>, MediaError> {
        loop {
            if !self.rtc.is_alive() {
                return Ok(None);
            }
            let output = guard("polling", || self.rtc.poll_output())?
                .map_err(|e| MediaError::Connection(e.to_string()))?;
            match output {
                Output::Timeout(at) => return Ok(Some(at)),
                Output::Transmit(t) => {
                    // UDP: a datagram the socket (or the relay's queue)
                    // cannot take now is lost, as on the wire.
                    match &self.relay {
                        Some(r) if t.source == r.relayed => {
                            let _ = r.outgoing.try_send((t.contents.to_vec(), t.destination));
                        }
                        _ => {
                            let _ = self.socket.try_send_to(&t.contents, t.destination);
                        }
                    }
                }
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.w.shared.connected.store(true, Ordering::Relaxed);
                self.w.phase.send_replace(Phase::Connected);
            }
            Event::IceConnectionStateChange(state) => {
                let connected = self.w.shared.connected.load(Ordering::Relaxed);
                match state {
                    IceConnectionState::Disconnected if connected => {
                        self.w.phase.send_replace(Phase::Disconnected);
                    }
                    IceConnectionState::Connected | IceConnectionState::Completed
                        if connected && *self.w.phase.borrow() == Phase::Disconnected =>
                    {
                        self.w.phase.send_replace(Phase::Connected);
                    }
                    _ => {}
                }
            }
            Event::MediaEgressStats(stats) => {
                if let Some(rtt) = stats.rtt {
                    // At least 1 µs: 0 means "none yet".
                    let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
                    self.w.shared.round_trip_us.store(us, Ordering::Relaxed);
                }
            }
            Event::MediaData(d) => {
                let Some(track) = self.mids.track(d.mid) else {
                    return;
                };
                let rtp_time = d.time.numer();
                match track {
                    RemoteTrack::Audio => {
                        self.w.shared.audio_received.fetch_add(1, Ordering::Relaxed);
                        self.w.sinks.push_audio(&AudioPacket {
                            payload: d.data.to_vec(),
                            rtp_time,
                        });
                    }
                    RemoteTrack::Video | RemoteTrack::Share => {
                        let counter = if track == RemoteTrack::Video {
                            &self.w.shared.video_received
                        } else {
                            &self.w.shared.share_received
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        let keyframe = sdp::is_keyframe(&d.data);
                        self.w.sinks.push_video(
                            track,
                            &VideoFrame {
                                data: d.data.to_vec(),
                                rtp_time,
                                keyframe,
                            },
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
