//! The engine thread: owns the UDP socket and every session, runs the
//! commands of [`crate::MediaEngine`], feeds datagrams and timeouts to the
//! sessions and closes the ones that died.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::{Frequency, MediaTime};
use str0m::{IceConnectionState, Input};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::demux::{self, Demux};
use crate::mix::{self, Mixer};
use crate::offer;
use crate::offer::Role;
use crate::session::{Failure, Panicked, Raised, Session, SessionId};
use crate::{Answer, MediaConfig, MediaError, SessionInfo, SessionKey, metrics};

/// How long ICE may stay disconnected before the session is closed.
const DISCONNECTED_LIMIT: Duration = Duration::from_secs(10);
/// How long after its last offer a session may take to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// How often sessions are checked for the limits above.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Datagrams read per wake-up before sessions get polled again.
const READ_BATCH: usize = 64;

/// A request to the engine thread.
pub(crate) enum Command {
    Offer {
        key: SessionKey,
        sdp: String,
        fresh: bool,
        reply: oneshot::Sender<Result<Answer, MediaError>>,
    },
    Mute {
        key: SessionKey,
        audio: bool,
        video: bool,
        reply: oneshot::Sender<bool>,
    },
    CloseParticipant {
        key: SessionKey,
        reply: oneshot::Sender<bool>,
    },
    CloseMeeting {
        meeting: String,
        reply: oneshot::Sender<usize>,
    },
    Meetings {
        reply: oneshot::Sender<Vec<String>>,
    },
    Sessions {
        reply: oneshot::Sender<Vec<SessionInfo>>,
    },
    ActiveSpeaker {
        meeting: String,
        reply: oneshot::Sender<Option<String>>,
    },
    SetPresenter {
        meeting: String,
        participant: Option<String>,
        reply: oneshot::Sender<()>,
    },
    Presenter {
        meeting: String,
        reply: oneshot::Sender<Option<String>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Runs the engine on this (dedicated) thread until shutdown or until
/// every command sender is gone.
pub(crate) fn run(
    socket: std::net::UdpSocket,
    config: MediaConfig,
    candidate: SocketAddr,
    commands: mpsc::UnboundedReceiver<Command>,
    speakers: tokio::sync::broadcast::Sender<crate::SpeakerChange>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "media engine: no runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let socket = match UdpSocket::from_std(socket) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!(error = %e, "media engine: socket not usable");
                return;
            }
        };
        let mut engine = Engine::new(config, candidate, socket, speakers);
        engine.serve(commands).await;
    });
}

/// Everything the engine thread owns.
pub(crate) struct Engine {
    config: MediaConfig,
    candidate: SocketAddr,
    socket: Arc<UdpSocket>,
    pub(crate) sessions: HashMap<SessionId, Session>,
    by_key: BTreeMap<SessionKey, SessionId>,
    pub(crate) meetings: BTreeMap<String, Vec<SessionId>>,
    demux: Demux,
    next_id: SessionId,
    /// The earliest timeout of any session (or the next housekeeping).
    next_wake: Instant,
    next_housekeeping: Instant,
    /// Events of sessions waiting to be routed.
    pub(crate) raised: Vec<(SessionId, Raised)>,
    /// The audio mix of every meeting of more than two.
    pub(crate) mixers: BTreeMap<String, Mixer>,
    /// When the mixers make their next frame.
    next_mix: Instant,
    /// The presenter (participant id) of each meeting that has one: the
    /// only sender of slides.
    pub(crate) presenters: BTreeMap<String, String>,
    /// Where speaker changes go (`MediaEngine::speaker_changes`).
    speakers: tokio::sync::broadcast::Sender<crate::SpeakerChange>,
}

impl Engine {
    fn new(
        config: MediaConfig,
        candidate: SocketAddr,
        socket: Arc<UdpSocket>,
        speakers: tokio::sync::broadcast::Sender<crate::SpeakerChange>,
    ) -> Self {
        let now = Instant::now();
        metrics::set_sessions(0);
        Self {
            config,
            candidate,
            socket,
            sessions: HashMap::new(),
            by_key: BTreeMap::new(),
            meetings: BTreeMap::new(),
            demux: Demux::default(),
            next_id: 1,
            next_wake: now + HOUSEKEEPING,
            next_housekeeping: now + HOUSEKEEPING,
            raised: Vec::new(),
            mixers: BTreeMap::new(),
            next_mix: now,
            presenters: BTreeMap::new(),
            speakers,
        }
    }

    async fn serve(&mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let socket = self.socket.clone();
        let mut buf = vec![0u8; 2048];
        loop {
            let wake = self.next_wake;
            let mixing = !self.mixers.is_empty();
            let mix_at = self.next_mix;
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        self.close_all();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                },
                readable = socket.readable() => {
                    if let Err(e) = readable {
                        tracing::warn!(error = %e, "media socket not readable");
                    }
                    for _ in 0..READ_BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => {
                                let data = buf.get(..n).unwrap_or_default();
                                self.datagram(Instant::now(), source, data);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                // E.g. ICMP errors reported on the socket.
                                tracing::debug!(error = %e, "media socket read");
                                break;
                            }
                        }
                    }
                },
                () = tokio::time::sleep_until(wake.into()) => self.timeouts(Instant::now()),
                () = tokio::time::sleep_until(mix_at.into()), if mixing => self.mix_ticks(Instant::now()),
            }
            self.route(Instant::now());
            // A socket that is always readable must not starve the mix
            // (the select is biased towards it).
            if !self.mixers.is_empty() && Instant::now() >= self.next_mix {
                self.mix_ticks(Instant::now());
                self.route(Instant::now());
            }
        }
        self.close_all();
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Offer {
                key,
                sdp,
                fresh,
                reply,
            } => {
                let result = self.offer(key, &sdp, fresh, Instant::now());
                let _ = reply.send(result);
            }
            Command::Mute {
                key,
                audio,
                video,
                reply,
            } => {
                let found = self.session_mut(&key).map(|s| {
                    s.audio_muted = audio;
                    s.video_muted = video;
                });
                let _ = reply.send(found.is_some());
            }
            Command::CloseParticipant { key, reply } => {
                let id = self.by_key.get(&key).copied();
                if let Some(id) = id {
                    self.close_session(id, None);
                }
                let _ = reply.send(id.is_some());
            }
            Command::CloseMeeting { meeting, reply } => {
                let ids = self.meetings.get(&meeting).cloned().unwrap_or_default();
                for id in &ids {
                    self.close_session(*id, None);
                }
                let _ = reply.send(ids.len());
            }
            Command::Meetings { reply } => {
                let _ = reply.send(self.meetings.keys().cloned().collect());
            }
            Command::Sessions { reply } => {
                let list = self
                    .by_key
                    .values()
                    .filter_map(|id| self.sessions.get(id))
                    .map(|s| SessionInfo {
                        key: s.key.clone(),
                        state: s.state(),
                        created_at_ms: s.created_at_ms,
                        audio_muted: s.audio_muted,
                        video_muted: s.video_muted,
                        watching: s
                            .video
                            .from
                            .and_then(|id| self.sessions.get(&id))
                            .map(|w| w.key.participant.clone()),
                        frames_in: s.frames_in,
                        frames_out: s.frames_out,
                        bytes_in: s.bytes_in,
                        bytes_out: s.bytes_out,
                        presenting: self.presenters.get(&s.key.meeting) == Some(&s.key.participant),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::ActiveSpeaker { meeting, reply } => {
                let speaker = self
                    .mixers
                    .get(&meeting)
                    .and_then(|m| m.speaker.current)
                    .and_then(|id| self.sessions.get(&id))
                    .map(|s| s.key.participant.clone());
                let _ = reply.send(speaker);
            }
            Command::SetPresenter {
                meeting,
                participant,
                reply,
            } => {
                self.set_presenter(meeting, participant, Instant::now());
                let _ = reply.send(());
            }
            Command::Presenter { meeting, reply } => {
                let _ = reply.send(self.presenters.get(&meeting).cloned());
            }
            Command::Shutdown { reply } => {
                self.close_all();
                let _ = reply.send(());
            }
        }
    }

    fn session_mut(&mut self, key: &SessionKey) -> Option<&mut Session> {
        let id = self.by_key.get(key)?;
        self.sessions.get_mut(id)
    }

    /// `MediaEngine::offer`.
    fn offer(
        &mut self,
        key: SessionKey,
        sdp: &str,
        fresh: bool,
        now: Instant,
    ) -> Result<Answer, MediaError> {
        let (parsed, facts) = offer::read(sdp)?;

        let existing = self.by_key.get(&key).copied();
        if let (Some(id), false) = (existing, fresh) {
            return self.renegotiate(id, parsed, facts.roles, now);
        }
        if let Some(id) = existing {
            self.close_session(id, None);
        }

        let others = self.meetings.get(&key.meeting).map_or(0, Vec::len);
        if others >= self.config.max_per_meeting {
            return Err(MediaError::MeetingFull {
                limit: self.config.max_per_meeting,
            });
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Err(MediaError::NodeFull {
                limit: self.config.max_sessions,
            });
        }

        let id = self.next_id;
        self.next_id += 1;
        let mut session = Session::new(id, key.clone(), self.candidate, now)
            .map_err(|e| MediaError::InvalidOffer(format!("could not make a session: {e}")))?;
        let answer = match session.accept_offer(parsed, facts.roles, now) {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(MediaError::InvalidOffer(e.to_string())),
            Err(Panicked) => {
                metrics::session_panic();
                return Err(MediaError::InvalidOffer(
                    "the WebRTC stack panicked on this offer".into(),
                ));
            }
        };
        self.demux.set_ufrag(session.ufrag.clone(), id);
        self.sessions.insert(id, session);
        self.by_key.insert(key.clone(), id);
        self.meetings
            .entry(key.meeting.clone())
            .or_default()
            .push(id);
        self.update_mixer(&key.meeting, now);
        metrics::set_sessions(self.sessions.len());
        self.next_wake = now;
        tracing::debug!(?key, "media session created");
        Ok(Answer {
            sdp: crate::answer::candidates_on_every_mline(&answer.to_sdp_string()),
            new_session: true,
        })
    }

    fn renegotiate(
        &mut self,
        id: SessionId,
        offer: SdpOffer,
        roles: Vec<(String, offer::Role)>,
        now: Instant,
    ) -> Result<Answer, MediaError> {
        let Some(session) = self.sessions.get_mut(&id) else {
            return Err(MediaError::Stopped);
        };
        match session.accept_offer(offer, roles, now) {
            Ok(Ok(answer)) => {
                let sdp = crate::answer::candidates_on_every_mline(&answer.to_sdp_string());
                if let Some(ufrag) = sdp
                    .lines()
                    .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
                {
                    session.ufrag = ufrag.to_string();
                    self.demux.set_ufrag(ufrag.to_string(), id);
                }
                self.next_wake = now;
                Ok(Answer {
                    sdp,
                    new_session: false,
                })
            }
            Ok(Err(e)) => Err(MediaError::InvalidOffer(e.to_string())),
            Err(Panicked) => {
                self.panicked(id);
                Err(MediaError::InvalidOffer(
                    "the WebRTC stack panicked on this offer".into(),
                ))
            }
        }
    }

    /// One datagram from `source`.
    fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let mut id = self.demux.by_addr(source);
        let mut learn = false;
        if let Some(ufrag) = demux::stun_local_ufrag(data)
            && let Some(by_ufrag) = self.demux.by_ufrag(ufrag)
        {
            learn = id != Some(by_ufrag);
            id = Some(by_ufrag);
        }
        let Some(id) = id else {
            metrics::dropped("unknown_source");
            return;
        };
        let Some(input) = Session::input(now, source, self.candidate, data) else {
            metrics::dropped("unparseable");
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            metrics::dropped("unknown_source");
            return;
        };
        if learn {
            match session.accepts(&input) {
                Ok(true) => self.demux.map_addr(source, id),
                Ok(false) => {
                    metrics::dropped("unknown_source");
                    return;
                }
                Err(Panicked) => {
                    self.panicked(id);
                    return;
                }
            }
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.handle_input(input).is_err() {
            self.panicked(id);
            return;
        }
        self.poll(id, now);
    }

    /// After writing media or a request into session `id`: str0m's pacer
    /// sees what was written only at its next timeout input, so give it one
    /// now, then poll; else the packets wait for the next datagram or timer
    /// (milliseconds in a quiet session).
    pub(crate) fn flush(&mut self, id: SessionId, now: Instant) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.handle_input(Input::Timeout(now)).is_err() {
            self.panicked(id);
            return;
        }
        self.poll(id, now);
    }

    /// Polls session `id`: transmits go out, its events wait in `raised`.
    pub(crate) fn poll(&mut self, id: SessionId, now: Instant) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let socket = &self.socket;
        let mut send = |data: &[u8], to: SocketAddr| send_to(socket, data, to);
        if session.poll(now, &mut send, &mut self.raised).is_err() {
            self.panicked(id);
            return;
        }
        self.next_wake = self.next_wake.min(session.next_timeout);
    }

    /// Timeouts due, and housekeeping.
    fn timeouts(&mut self, now: Instant) {
        let due: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.next_timeout <= now)
            .map(|s| s.id)
            .collect();
        for id in due {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            if session.handle_input(Input::Timeout(now)).is_err() {
                self.panicked(id);
                continue;
            }
            self.poll(id, now);
        }
        if now >= self.next_housekeeping {
            self.housekeeping(now);
            self.next_housekeeping = now + HOUSEKEEPING;
        }
        self.next_wake = self
            .sessions
            .values()
            .map(|s| s.next_timeout)
            .fold(self.next_housekeeping, Instant::min)
            .max(now + Duration::from_micros(500));
    }

    /// Closes the sessions that died, lost ICE or never connected.
    fn housekeeping(&mut self, now: Instant) {
        let mut dead = Vec::new();
        for s in self.sessions.values() {
            let failure = if !s.is_alive() {
                Some(s.failure)
            } else if s
                .disconnected_since
                .is_some_and(|t| now.saturating_duration_since(t) > DISCONNECTED_LIMIT)
            {
                Some(Some(Failure::Ice))
            } else if !s.connected && now.saturating_duration_since(s.offered_at) > CONNECT_LIMIT {
                let ice_up = matches!(
                    s.ice,
                    IceConnectionState::Connected | IceConnectionState::Completed
                );
                Some(Some(if ice_up { Failure::Dtls } else { Failure::Ice }))
            } else {
                None
            };
            if let Some(failure) = failure {
                dead.push((s.id, failure));
            }
        }
        for (id, failure) in dead {
            self.close_session(id, failure);
        }
    }

    /// Closes session `id` after str0m panicked in it.
    pub(crate) fn panicked(&mut self, id: SessionId) {
        tracing::error!(
            session = id,
            "the WebRTC stack panicked; media session closed"
        );
        metrics::session_panic();
        self.remove(id);
    }

    /// Closes session `id` (telling the peer) and forgets it.
    pub(crate) fn close_session(&mut self, id: SessionId, failure: Option<Failure>) {
        match failure {
            Some(Failure::Ice) => metrics::ice_failure(),
            Some(Failure::Dtls) => metrics::dtls_failure(),
            Some(Failure::Other) | None => {}
        }
        if let Some(session) = self.sessions.get_mut(&id) {
            tracing::debug!(key = ?session.key, ?failure, "media session closed");
            let socket = &self.socket;
            let mut send = |data: &[u8], to: SocketAddr| send_to(socket, data, to);
            session.close(Instant::now(), &mut send);
        }
        self.remove(id);
    }

    /// Forgets session `id` everywhere.
    fn remove(&mut self, id: SessionId) {
        let Some(session) = self.sessions.remove(&id) else {
            return;
        };
        self.demux.remove(id);
        if self.by_key.get(&session.key) == Some(&id) {
            self.by_key.remove(&session.key);
        }
        if let Some(ids) = self.meetings.get_mut(&session.key.meeting) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.meetings.remove(&session.key.meeting);
            }
        }
        if let Some(mixer) = self.mixers.get_mut(&session.key.meeting) {
            mixer.forget(id);
        }
        self.update_mixer(&session.key.meeting, Instant::now());
        self.raised.retain(|(from, _)| *from != id);
        metrics::set_sessions(self.sessions.len());
    }

    /// Mixes the meetings of more than two, and only those: two
    /// participants get each other's frames as they are (cheaper, and
    /// without a decode/encode round).
    fn update_mixer(&mut self, meeting: &str, now: Instant) {
        let size = self.meetings.get(meeting).map_or(0, Vec::len);
        if size > 2 {
            if !self.mixers.contains_key(meeting) {
                tracing::debug!(meeting, "mixing audio");
                if self.mixers.is_empty() {
                    self.next_mix = now + mix::TICK;
                }
                self.mixers.insert(meeting.to_string(), Mixer::default());
            }
        } else if self.mixers.remove(meeting).is_some() {
            tracing::debug!(meeting, "forwarding audio");
        }
    }

    /// The mix tick due, if any. A thread more than a tick late makes one
    /// frame and resyncs: the frames it missed are not made back to back,
    /// which would hold the thread from every session's DTLS, ICE and
    /// SRTP work just when it is short of time (25 mixed meetings on a
    /// loaded machine failed their handshakes that way); the senders'
    /// jitter buffers cut back what piled up, the receivers conceal.
    fn mix_ticks(&mut self, now: Instant) {
        if self.next_mix > now {
            return;
        }
        self.mix_tick(now);
        self.next_mix += mix::TICK;
        if self.next_mix <= now {
            self.next_mix = now + mix::TICK;
        }
    }

    /// One frame of every mixed meeting, written to its receivers.
    fn mix_tick(&mut self, now: Instant) {
        let meetings: Vec<String> = self.mixers.keys().cloned().collect();
        for meeting in meetings {
            let started = Instant::now();
            let receivers: Vec<SessionId> = self
                .meetings
                .get(&meeting)
                .map(|ids| {
                    ids.iter()
                        .copied()
                        .filter(|id| self.sessions.get(id).is_some_and(|s| s.connected))
                        .collect()
                })
                .unwrap_or_default();
            let Some(mixer) = self.mixers.get_mut(&meeting) else {
                continue;
            };
            let (frames, switched) = mixer.tick(&receivers);
            if switched {
                metrics::speaker_switch();
                let speaker = mixer
                    .speaker
                    .current
                    .and_then(|id| self.sessions.get(&id))
                    .map(|s| s.key.participant.clone());
                if let Some(participant) = speaker {
                    tracing::debug!(%meeting, %participant, "media: active speaker switched");
                    // Nobody listening is fine.
                    let _ = self.speakers.send(crate::SpeakerChange {
                        meeting: meeting.clone(),
                        participant,
                    });
                }
            }
            for frame in frames {
                let Some(session) = self.sessions.get_mut(&frame.to) else {
                    continue;
                };
                let Some(mid) = session.mid_for(Role::Audio) else {
                    continue;
                };
                let t = session
                    .audio_line
                    .map(mix::MIXER_SOURCE, frame.time, 48_000, now);
                let time = MediaTime::new(t, Frequency::FORTY_EIGHT_KHZ);
                match session.write_opus(mid, now, time, frame.packet) {
                    Ok(true) => self.flush(frame.to, now),
                    Ok(false) => {}
                    Err(_) => self.panicked(frame.to),
                }
            }
            metrics::mixed(started.elapsed());
        }
    }

    fn close_all(&mut self) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.close_session(id, None);
        }
    }
}

/// Sends one datagram; a full socket buffer drops it (UDP).
fn send_to(socket: &UdpSocket, data: &[u8], to: SocketAddr) {
    if let Err(e) = socket.try_send_to(data, to) {
        tracing::trace!(error = %e, %to, "media send failed");
        metrics::dropped("send_failed");
    }
}
