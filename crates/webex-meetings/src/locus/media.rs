//! Media on [`Meeting`]: `add_media`, `stop_media`, the mute calls, and
//! the teardown that `leave()`, `end_for_all()`, `unregister()`, a removed
//! meeting and dropping the SDK run. The machinery is in [`crate::media`].

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::collection::Source;
use super::events::MeetingEvent;
use super::meeting::{Meeting, MeetingInner, MeetingState};
use crate::media::roap::{self, Flags, Signal};
use crate::media::session::{self, Phase, Wiring};
use crate::media::{Media, MediaError, MediaInner, MediaOptions, Shared};

/// Commands (frames) queued for the media task: about 2 s of audio and
/// video.
const COMMAND_QUEUE: usize = 256;

/// How long `stop_media` waits for the task to close its socket.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Clears `media_starting`, and stops media that was installed but not
/// handed out (a dropped or failed `add_media`).
struct Starting<'a> {
    meeting: &'a Meeting,
    installed: Option<Media>,
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        let mut state = self.meeting.lock();
        state.media_starting = false;
        if let Some(media) = self.installed.take()
            && state.media.as_ref().is_some_and(|m| m.same(&media))
        {
            state.take_media();
        }
    }
}

impl Media {
    fn same(&self, other: &Media) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl MeetingState {
    /// Stops this meeting's media, if any, and says so to subscribers
    /// (`meeting:media:disconnected` if it was up, then each remote track
    /// removed).
    pub(super) fn take_media(&mut self) -> Option<Media> {
        let media = self.media.take()?;
        let was_connected = media.is_connected();
        media.stop();
        if was_connected {
            self.emit(MeetingEvent::MediaDisconnected);
        }
        for track in media.remote_tracks() {
            self.emit(MeetingEvent::RemoteTrackRemoved(track));
        }
        Some(media)
    }
}

/// The IP of the Locus host (where the media server most likely is), to
/// pick the local address to offer.
async fn server_ip(locus_url: &str) -> Option<IpAddr> {
    let url = url::Url::parse(locus_url).ok()?;
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            let mut addrs = tokio::time::timeout(Duration::from_secs(2), lookup)
                .await
                .ok()?
                .ok()?;
            addrs.next().map(|a| a.ip())
        }
    }
}

impl Meeting {
    /// Adds media to the meeting this device joined: the official SDK's
    /// transcoded path (ROAP over `PUT {selfUrl}/media`: TURN discovery and
    /// an allocation on the TURN server it names, whose relayed candidate
    /// joins the host ones — or replaces them with
    /// [`MediaOptions::force_turn`]; then an offer of audio, main video and
    /// slides; full ICE as the controlling agent; DTLS-SRTP). Resolves once the media is connected
    /// (within [`MediaOptions::connect_timeout`]); `meeting:media:ready`,
    /// `meeting:media:remoteTrackAdded` and `meeting:media:connected`
    /// follow on the meeting's events.
    ///
    /// Cancel-safe: dropped part-way, it leaves no media behind.
    ///
    /// ```no_run
    /// use webex_meetings::{AudioSource, MediaDirection, MediaOptions};
    /// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MediaError> {
    /// let media = meeting
    ///     .add_media(
    ///         MediaOptions::new()
    ///             .audio(MediaDirection::SendRecv)
    ///             .audio_source(AudioSource::Tone { hz: 440.0 }),
    ///     )
    ///     .await?;
    /// assert!(media.is_connected());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`MediaError::NotJoined`], [`MediaError::AlreadyStarted`], an
    /// invalid option, [`MediaError::Turn`] (with `force_turn` only), the
    /// server's ROAP error ([`MediaError::Roap`], e.g. `REFUSED` when the
    /// meeting's media is full), a malformed answer, or
    /// [`MediaError::ConnectTimeout`].
    pub async fn add_media(&self, options: MediaOptions) -> Result<Media, MediaError> {
        options.validate()?;
        let list = self.list()?;
        let device_url = list.device_url()?;
        if !self.is_joined() {
            return Err(MediaError::NotJoined);
        }
        {
            let mut state = self.lock();
            if state.media_starting || state.media.as_ref().is_some_and(|m| !m.is_stopped()) {
                return Err(MediaError::AlreadyStarted);
            }
            state.media_starting = true;
        }
        let mut starting = Starting {
            meeting: self,
            installed: None,
        };
        let (doc, locus_url) = self.current_locus()?;
        let self_url = doc
            .self_
            .as_ref()
            .and_then(|s| {
                s.url.clone().or_else(|| {
                    (!s.id.is_empty()).then(|| {
                        format!("{}/participant/{}", locus_url.trim_end_matches('/'), s.id)
                    })
                })
            })
            .ok_or(MediaError::NotJoined)?;
        let signal = Arc::new(self.signal(&list, device_url, self_url));
        let flags = Flags {
            audio_muted: options.audio_muted,
            video_muted: options.video_muted,
        };

        let turn = roap::turn_discovery(&signal, flags).await?;
        let relay = match &turn {
            Some(server) => match crate::media::relay::allocate(server).await {
                Ok(relay) => Some(relay),
                Err(e) if options.force_turn => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "media: going on without the TURN relay");
                    None
                }
            },
            None if options.force_turn => {
                return Err(MediaError::Turn(
                    "the media server handed out no TURN server".into(),
                ));
            }
            None => None,
        };
        let offered = session::offer(&options, server_ip(&locus_url).await, relay).await?;
        let (answer, _seq) = roap::offer(&signal, 1, &offered.sdp, flags).await?;
        let answered = offered.accept(&answer)?;
        let tracks = answered.tracks.clone();

        let shared = Arc::new(Shared::default());
        shared
            .audio_muted
            .store(options.audio_muted, std::sync::atomic::Ordering::Relaxed);
        shared
            .video_muted
            .store(options.video_muted, std::sync::atomic::Ordering::Relaxed);
        let cancel = list.core.shutdown.child_token();
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (phase, mut phase_rx) = watch::channel(Phase::Connecting);
        let (ended, ended_rx) = watch::channel(false);
        let sinks = Arc::new(crate::media::Sinks::default());
        let media = Media {
            inner: Arc::new(MediaInner {
                options: options.clone(),
                commands,
                sinks: Arc::clone(&sinks),
                shared: Arc::clone(&shared),
                cancel: cancel.clone(),
                ended: ended_rx,
                turn,
                tracks: tracks.clone(),
                pcm: Mutex::new(None),
                signal: Arc::clone(&signal),
            }),
        };
        session::spawn(
            answered,
            Wiring {
                options: options.clone(),
                shared,
                sinks,
                commands: command_rx,
                cancel,
                phase,
                ended,
            },
        );
        {
            let mut state = self.lock();
            if state.removed {
                media.stop();
                return Err(MediaError::NotStarted);
            }
            state.media = Some(media.clone());
            starting.installed = Some(media.clone());
            state.emit(MeetingEvent::MediaReady {
                tracks: tracks.clone(),
            });
            for track in &tracks {
                state.emit(MeetingEvent::RemoteTrackAdded(*track));
            }
        }
        tokio::spawn(watch_phase(
            Arc::downgrade(&self.inner),
            media.clone(),
            phase_rx.clone(),
        ));
        let connected = tokio::time::timeout(
            options.connect_timeout,
            phase_rx.wait_for(|p| *p != Phase::Connecting),
        )
        .await;
        match connected {
            Ok(Ok(p)) if *p == Phase::Connected => {
                starting.installed = None;
                Ok(media)
            }
            Ok(Ok(p)) => match &*p {
                Phase::Failed(e) => Err(e.clone()),
                _ => Err(MediaError::NotStarted),
            },
            Ok(Err(_)) => Err(MediaError::NotStarted),
            Err(_) => Err(MediaError::ConnectTimeout {
                after: options.connect_timeout,
            }),
        }
    }

    /// The meeting's media, if [`Meeting::add_media`] set it up and it has
    /// not stopped.
    pub fn media(&self) -> Option<Media> {
        self.lock().media.clone()
    }

    /// Stops this meeting's media without leaving the meeting: the
    /// connection closes and the remote streams end
    /// (`meeting:media:remoteTrackRemoved` for each).
    ///
    /// ```no_run
    /// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MediaError> {
    /// meeting.stop_media().await?;
    /// assert!(meeting.media().is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`MediaError::NotStarted`] when there is no media.
    pub async fn stop_media(&self) -> Result<(), MediaError> {
        let media = self.teardown_media().ok_or(MediaError::NotStarted)?;
        let _ = tokio::time::timeout(STOP_WAIT, media.ended()).await;
        Ok(())
    }

    /// Mutes the microphone: no audio is sent, and the server is told
    /// (`/media` with `audioMuted`), which shows it in everyone's roster
    /// ([`crate::Member::is_audio_muted`]).
    ///
    /// ```no_run
    /// # async fn run(meeting: webex_meetings::Meeting) -> Result<(), webex_meetings::MediaError> {
    /// meeting.mute_audio().await?;
    /// meeting.unmute_audio().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`MediaError::NotStarted`], or the request's failure (the flag is
    /// then put back).
    pub async fn mute_audio(&self) -> Result<(), MediaError> {
        self.set_muted(Some(true), None).await
    }

    /// Unmutes the microphone (see [`Meeting::mute_audio`]).
    ///
    /// # Errors
    /// As [`Meeting::mute_audio`].
    pub async fn unmute_audio(&self) -> Result<(), MediaError> {
        self.set_muted(Some(false), None).await
    }

    /// Mutes the camera: no video is sent, and the roster shows it.
    ///
    /// # Errors
    /// As [`Meeting::mute_audio`].
    pub async fn mute_video(&self) -> Result<(), MediaError> {
        self.set_muted(None, Some(true)).await
    }

    /// Unmutes the camera.
    ///
    /// # Errors
    /// As [`Meeting::mute_audio`].
    pub async fn unmute_video(&self) -> Result<(), MediaError> {
        self.set_muted(None, Some(false)).await
    }

    async fn set_muted(&self, audio: Option<bool>, video: Option<bool>) -> Result<(), MediaError> {
        use std::sync::atomic::Ordering::Relaxed;
        let media = self.media().ok_or(MediaError::NotStarted)?;
        let shared = &media.inner.shared;
        let before = Flags {
            audio_muted: shared.audio_muted.load(Relaxed),
            video_muted: shared.video_muted.load(Relaxed),
        };
        let after = Flags {
            audio_muted: audio.unwrap_or(before.audio_muted),
            video_muted: video.unwrap_or(before.video_muted),
        };
        shared.audio_muted.store(after.audio_muted, Relaxed);
        shared.video_muted.store(after.video_muted, Relaxed);
        if let Err(e) = media.inner.signal.put(None, after).await {
            shared.audio_muted.store(before.audio_muted, Relaxed);
            shared.video_muted.store(before.video_muted, Relaxed);
            return Err(e);
        }
        Ok(())
    }

    /// Stops the media, if any (leave, end, removal, unregister).
    pub(crate) fn teardown_media(&self) -> Option<Media> {
        self.lock().take_media()
    }

    /// The `/media` channel of this participant and device.
    fn signal(
        &self,
        list: &super::collection::Collection,
        device_url: String,
        self_url: String,
    ) -> Signal {
        let apply = {
            let meeting = Arc::downgrade(&self.inner);
            Box::new(move |doc| {
                let Some(inner) = meeting.upgrade() else {
                    return;
                };
                let meeting = Meeting { inner };
                if let Some(list) = meeting.inner.list.upgrade()
                    && let Err(e) = list.handle(doc, Some(&meeting), Source::Api)
                {
                    tracing::debug!(error = %e, "media answer's Locus not applied");
                }
            })
        };
        let sequence = {
            let meeting = Arc::downgrade(&self.inner);
            Box::new(move || {
                let inner = meeting.upgrade()?;
                let meeting = Meeting { inner };
                let state = meeting.lock();
                let doc = state.doc.as_ref()?;
                serde_json::to_value(&doc.sequence).ok()
            })
        };
        Signal {
            http: list.core.http.clone(),
            self_url,
            device_url,
            correlation_id: self.correlation_id().to_owned(),
            media_id: Mutex::new(None),
            limit: list.options.request_timeout,
            apply,
            sequence,
            in_flight: tokio::sync::Mutex::new(()),
        }
    }
}

/// Turns the media task's phases into meeting events; a failure also
/// removes the media from the meeting.
async fn watch_phase(meeting: Weak<MeetingInner>, media: Media, mut phase: watch::Receiver<Phase>) {
    let mut last = Phase::Connecting;
    loop {
        let now = phase.borrow_and_update().clone();
        if now != last {
            let Some(inner) = meeting.upgrade() else {
                return;
            };
            let meeting = Meeting { inner };
            let mut state = meeting.lock();
            let ours = state.media.as_ref().is_some_and(|m| m.same(&media));
            if !ours {
                return;
            }
            match &now {
                Phase::Connected => state.emit(MeetingEvent::MediaConnected),
                Phase::Disconnected => state.emit(MeetingEvent::MediaDisconnected),
                Phase::Failed(e) => {
                    state.emit(MeetingEvent::MediaFailed(e.clone()));
                    state.take_media();
                    return;
                }
                Phase::Stopped => {
                    state.take_media();
                    return;
                }
                Phase::Connecting => {}
            }
            last = now;
        }
        if phase.changed().await.is_err() {
            return;
        }
    }
}

/// What a late subscriber gets first about `media`: ready, its tracks,
/// connected if it is.
pub(super) fn replay(media: &Media) -> Vec<MeetingEvent> {
    let mut events = vec![MeetingEvent::MediaReady {
        tracks: media.remote_tracks(),
    }];
    events.extend(
        media
            .remote_tracks()
            .into_iter()
            .map(MeetingEvent::RemoteTrackAdded),
    );
    if media.is_connected() {
        events.push(MeetingEvent::MediaConnected);
    }
    events
}
