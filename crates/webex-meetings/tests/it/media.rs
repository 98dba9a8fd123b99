//! `Meeting::add_media` end to end against the real server and its media
//! engine in process: two SDK clients hear each other's tone and receive
//! each other's video, mute shows in the roster, leave tears media down;
//! a ROAP error answer is a typed error.
#![allow(clippy::unwrap_used)]
use std::time::Duration;

use futures::StreamExt;
use webex_meetings::webex_wire::roap::ErrorType;
use webex_meetings::{
    AudioSource, Credentials, Media, MediaDirection, MediaError, MediaOptions, Meeting,
    MeetingEvent, Meetings, RemoteTrack, VideoSource, Webex, WebexConfig,
};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

use crate::support::within;

const ROOM: &str = "media-room@webex.localhost";

async fn user(server: &TestServer, email: &str) -> (Webex, Meetings) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let token = server.token_for(email).await.unwrap();
    let webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name("media-e2e")
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    within(meetings.register()).await.unwrap();
    (webex, meetings)
}

async fn joined(meetings: &Meetings) -> Meeting {
    let meeting = within(meetings.create(ROOM)).await.unwrap();
    within(meeting.join()).await.unwrap();
    meeting
}

fn sending(hz: f32) -> MediaOptions {
    MediaOptions::new()
        .audio(MediaDirection::SendRecv)
        .audio_source(AudioSource::Tone { hz })
        .video(MediaDirection::SendRecv)
        .video_source(VideoSource::H264)
}

/// A synthetic Annex B access unit: SPS, PPS and IDR, or one slice.
fn access_unit(keyframe: bool, n: u64) -> Vec<u8> {
    let mut au = Vec::new();
    if keyframe {
        au.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0x84]);
        au.extend(std::iter::repeat_n(0xab, 2000));
    } else {
        au.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a, 0x02]);
        au.extend(std::iter::repeat_n(0xab, 300));
    }
    au.push((n % 200) as u8 | 1);
    au
}

/// Sends an access unit every 33 ms (a keyframe every 15) until media
/// stops.
fn pump_video(media: Media) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            if media
                .send_h264(access_unit(n.is_multiple_of(15), n), n * 3000)
                .is_err()
            {
                return;
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    })
}

/// Normalized Goertzel power of `x` at `hz` (48 kHz).
fn goertzel(x: &[f64], hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / 48_000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = x.len() as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

/// Decodes `media`'s remote audio until 0.5 s of steady sound (after the
/// first second) is heard; its power at 440 and 660 Hz.
async fn tone_levels(media: &Media) -> (f64, f64) {
    let mut pcm = media.remote_audio().decoded();
    let mut heard: Vec<f64> = Vec::new();
    let mut frames = 0;
    within(async {
        while heard.len() < 24_000 {
            let frame = pcm.next().await.expect("remote audio ended");
            frames += 1;
            if frames > 50 {
                heard.extend(frame.samples.iter().map(|s| f64::from(*s) / 32768.0));
            }
        }
    })
    .await;
    (goertzel(&heard, 440.0), goertzel(&heard, 660.0))
}

/// Alice (sending 440 Hz) hears bob's 660 Hz and bob hears her 440 Hz,
/// each ten times above the other tone.
async fn hear_each_other(alice: &Media, bob: &Media) {
    let ((a440, a660), (b440, b660)) = tokio::join!(tone_levels(alice), tone_levels(bob));
    assert!(
        a660 > 10.0 * a440,
        "alice hears bob's 660 Hz: {a440} {a660}"
    );
    assert!(
        b440 > 10.0 * b660,
        "bob hears alice's 440 Hz: {b440} {b660}"
    );
}

/// Waits for `n` remote video access units, at least one a keyframe.
async fn video_arrives(media: &Media, n: usize) {
    let mut video = media.remote_video();
    let mut got = 0;
    let mut keyframes = 0;
    within(async {
        while got < n || keyframes == 0 {
            let frame = video.next().await.expect("remote video ended");
            assert!(frame.data.starts_with(&[0, 0, 0, 1]) || frame.data.starts_with(&[0, 0, 1]));
            got += 1;
            keyframes += usize::from(frame.keyframe);
        }
    })
    .await;
}

async fn media_sessions(server: &TestServer) -> Vec<serde_json::Value> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/api/v1/media/sessions", server.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    body["sessions"].as_array().cloned().unwrap_or_default()
}

async fn sessions_until(server: &TestServer, done: impl Fn(usize) -> bool) {
    within(async {
        while !done(media_sessions(server).await.len()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_hear_and_see_each_other_mute_and_leave() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (_b, bob) = user(&server, "bob@example.com").await;
    let alice_meeting = joined(&alice).await;
    let bob_meeting = joined(&bob).await;

    let (alice_media, bob_media) = within(async {
        tokio::join!(
            alice_meeting.add_media(sending(440.0)),
            bob_meeting.add_media(sending(660.0))
        )
    })
    .await;
    let (alice_media, bob_media) = (alice_media.unwrap(), bob_media.unwrap());
    assert!(alice_media.is_connected() && bob_media.is_connected());
    assert_eq!(
        alice_media.remote_tracks(),
        [RemoteTrack::Audio, RemoteTrack::Video, RemoteTrack::Share]
    );
    assert!(matches!(
        within(alice_meeting.add_media(MediaOptions::new())).await,
        Err(MediaError::AlreadyStarted)
    ));
    sessions_until(&server, |n| n == 2).await;

    let pumps = [
        pump_video(alice_media.clone()),
        pump_video(bob_media.clone()),
    ];
    hear_each_other(&alice_media, &bob_media).await;
    tokio::join!(
        video_arrives(&alice_media, 10),
        video_arrives(&bob_media, 10)
    );
    assert!(alice_media.request_keyframe(RemoteTrack::Video).is_ok());
    let stats = alice_media.stats();
    assert!(stats.audio_sent > 0 && stats.video_sent > 0 && stats.audio_received > 0);
    // The server reports on what alice sends (RTCP): a round-trip time.
    let rtt = within(async {
        loop {
            if let Some(rtt) = alice_media.stats().round_trip {
                break rtt;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(rtt < Duration::from_secs(1), "{rtt:?} on loopback");

    // A late subscriber learns the media state first.
    let mut events = alice_meeting.events();
    let mut seen = Vec::new();
    within(async {
        while !seen.contains(&"meeting:media:connected".to_owned()) {
            seen.push(events.next().await.unwrap().name().into_owned());
        }
    })
    .await;
    assert!(seen.contains(&"meeting:media:ready".to_owned()));
    assert!(seen.contains(&"meeting:media:remoteTrackAdded".to_owned()));

    // Bob mutes: alice's roster shows it; unmute clears it.
    within(bob_meeting.mute_audio()).await.unwrap();
    assert!(bob_media.is_audio_muted());
    let bob_muted = |muted: bool| {
        let alice_meeting = alice_meeting.clone();
        async move {
            within(async {
                while !alice_meeting
                    .members()
                    .iter()
                    .any(|m| !m.is_self && m.is_audio_muted == muted)
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
        }
    };
    bob_muted(true).await;
    within(bob_meeting.unmute_audio()).await.unwrap();
    bob_muted(false).await;

    // Leaving tears media down, here and on the server.
    let mut bob_events = bob_meeting.events();
    within(bob_meeting.leave()).await.unwrap();
    assert!(bob_media.is_stopped());
    assert!(bob_meeting.media().is_none());
    assert!(matches!(
        bob_media.send_h264(access_unit(true, 0), 0),
        Err(MediaError::NotStarted)
    ));
    within(async {
        while let Some(e) = bob_events.next().await {
            if e == MeetingEvent::RemoteTrackRemoved(RemoteTrack::Share) {
                break;
            }
        }
    })
    .await;
    within(alice_meeting.leave()).await.unwrap();
    assert!(alice_media.is_stopped());
    sessions_until(&server, |n| n == 0).await;
    for pump in pumps {
        within(pump).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roap_error_answer_is_a_typed_error() {
    let server = TestServer::start_with(|c| c.media.max_per_meeting = 1)
        .await
        .unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (_b, bob) = user(&server, "bob@example.com").await;
    let alice_meeting = joined(&alice).await;
    let bob_meeting = joined(&bob).await;

    // Dropped part-way (its first request in flight): nothing is left,
    // and the next call starts afresh.
    {
        let started = alice_meeting.add_media(MediaOptions::new());
        tokio::pin!(started);
        assert!(futures::poll!(started.as_mut()).is_pending());
    }
    assert!(alice_meeting.media().is_none());
    let media = within(alice_meeting.add_media(MediaOptions::new()))
        .await
        .unwrap();
    assert!(media.is_connected());

    let refused = within(bob_meeting.add_media(MediaOptions::new())).await;
    match refused {
        Err(
            e @ MediaError::Roap {
                error_type: ErrorType::Refused,
                ..
            },
        ) => assert!(!e.is_retryable(), "{e}"),
        other => panic!("expected a REFUSED ROAP error, got {other:?}"),
    }
    assert!(bob_meeting.media().is_none());

    // Not joined: refused before any request.
    within(bob_meeting.leave()).await.unwrap();
    assert!(matches!(
        within(bob_meeting.add_media(MediaOptions::new())).await,
        Err(MediaError::NotJoined)
    ));
    within(alice_meeting.stop_media()).await.unwrap();
    assert!(media.is_stopped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_and_dropping_the_sdk_stop_media() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (b, bob) = user(&server, "bob@example.com").await;
    let alice_meeting = joined(&alice).await;
    let bob_meeting = joined(&bob).await;
    let options = || {
        MediaOptions::new()
            .audio(MediaDirection::SendRecv)
            .audio_source(AudioSource::Pcm)
            .audio_muted(true)
    };
    let alice_media = within(alice_meeting.add_media(options())).await.unwrap();
    let bob_media = within(bob_meeting.add_media(options())).await.unwrap();
    // Started muted: the roster says so at once.
    assert!(alice_media.is_audio_muted());
    assert!(
        bob_meeting
            .members()
            .iter()
            .any(|m| m.is_self && m.is_audio_muted)
    );
    assert!(matches!(
        alice_media.send_pcm(&[0; 100]),
        Err(MediaError::InvalidInput(_))
    ));
    assert!(alice_media.send_pcm(&[0; 960]).is_ok());
    assert!(matches!(
        alice_media.send_opus(vec![1]),
        Err(MediaError::InvalidInput(_))
    ));

    within(alice.unregister()).await.unwrap();
    assert!(alice_media.is_stopped());
    assert!(alice_meeting.media().is_none());

    let mut bob_audio = bob_media.remote_audio();
    drop(bob_meeting);
    drop(bob);
    drop(b);
    within(async {
        while !bob_media.is_stopped() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Its streams end.
    within(async { while bob_audio.next().await.is_some() {} }).await;
}

#[tokio::test]
async fn the_active_speaker_comes_as_an_event_naming_the_member_who_talks() {
    let server = TestServer::start().await.unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (_b, bob) = user(&server, "bob@example.com").await;
    let (_c, carol) = user(&server, "carol@example.com").await;
    let alice_meeting = joined(&alice).await;
    let bob_meeting = joined(&bob).await;
    let carol_meeting = joined(&carol).await;
    // Only alice makes a sound; bob and carol only listen.
    let listening = || {
        MediaOptions::new()
            .audio(MediaDirection::RecvOnly)
            .video(MediaDirection::RecvOnly)
    };
    let (a, b, c) = tokio::join!(
        alice_meeting.add_media(sending(440.0)),
        bob_meeting.add_media(listening()),
        carol_meeting.add_media(listening()),
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let _video = pump_video(a.clone());
    let alice_id = alice_meeting
        .members()
        .into_iter()
        .find(|m| m.is_self)
        .unwrap()
        .id;
    let mut events = bob_meeting.events();
    let named = within(async {
        while let Some(event) = events.next().await {
            if let MeetingEvent::ActiveSpeakerChanged { member_ids } = event {
                return member_ids;
            }
        }
        Vec::new()
    })
    .await;
    assert_eq!(named, vec![alice_id.clone()]);
    assert_eq!(carol_meeting.active_speaker(), Some(alice_id.clone()));
    // A late subscriber is told who speaks first.
    let mut late = carol_meeting.events();
    let replayed = within(async {
        while let Some(event) = late.next().await {
            if let MeetingEvent::ActiveSpeakerChanged { member_ids } = event {
                return member_ids;
            }
        }
        Vec::new()
    })
    .await;
    assert_eq!(replayed, vec![alice_id]);
    server.shutdown().await;
}

/// A coturn on loopback for one test (Debian's `coturn`; `.ci/run`
/// installs it), with one long-term credential; its log is kept.
struct Coturn {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    port: u16,
}

impl Coturn {
    /// `None` (the test is skipped) where coturn is not installed, except
    /// under `CI=true`, where that is a failure.
    async fn start() -> Option<Self> {
        use tokio::io::AsyncBufReadExt;
        if std::process::Command::new("turnserver")
            .arg("--help")
            .output()
            .is_err()
        {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "turnserver (coturn) is missing: apt-get install coturn"
            );
            eprintln!("skipped: turnserver (coturn) is not installed");
            return None;
        }
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new("turnserver")
            // -v: the listener's "opened" line, which says it is ready.
            .args(["-n", "-v", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            // The media server is on loopback too.
            .arg("--allow-loopback-peers")
            .args(["--lt-cred-mech", "--user", "webex:turn-secret"])
            .args([
                "--realm",
                "webex.test",
                "--log-file",
                "stdout",
                "--simple-log",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let kept = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("UDP listener opened on")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        within(ready).await.expect("coturn exited before listening");
        Some(Self {
            child,
            _dir: dir,
            log,
            port,
        })
    }

    fn server(&self) -> webex_meetings::webex_wire::roap::TurnServer {
        webex_meetings::webex_wire::roap::TurnServer {
            url: format!("turn:127.0.0.1:{}?transport=udp", self.port),
            username: "webex".into(),
            password: "turn-secret".into(),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// With `force_turn`, alice offers only the relayed candidate of her
/// allocation on the TURN server the media server hands out; media flows
/// through it both ways (she hears bob, bob hears her), and coturn logged
/// the allocation and the permission for the media server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_through_the_turn_server_the_server_hands_out() {
    let Some(mut coturn) = Coturn::start().await else {
        return;
    };
    let turn = coturn.server();
    let server = TestServer::start_with(|c| c.media.turn = Some(turn.clone()))
        .await
        .unwrap();
    let (_a, alice) = user(&server, "alice@example.com").await;
    let (_b, bob) = user(&server, "bob@example.com").await;
    let alice_meeting = joined(&alice).await;
    let bob_meeting = joined(&bob).await;
    let audio_only = |hz| {
        MediaOptions::new()
            .audio(MediaDirection::SendRecv)
            .audio_source(AudioSource::Tone { hz })
    };
    let (alice_media, bob_media) = within(async {
        tokio::join!(
            alice_meeting.add_media(audio_only(440.0).force_turn(true)),
            bob_meeting.add_media(audio_only(660.0))
        )
    })
    .await;
    let (alice_media, bob_media) = (alice_media.unwrap(), bob_media.unwrap());
    assert_eq!(alice_media.turn_server().map(|t| t.url), Some(turn.url));
    hear_each_other(&alice_media, &bob_media).await;
    let log = coturn.log();
    assert!(log.contains("ALLOCATE processed, success"), "{log}");
    assert!(
        log.contains("CREATE_PERMISSION processed, success"),
        "{log}"
    );

    // Without a TURN server, forcing it is a typed error, not a hang.
    within(bob_meeting.stop_media()).await.unwrap();
    let plain = TestServer::start().await.unwrap();
    let (_c, carol) = user(&plain, "carol@example.com").await;
    let carol_meeting = joined(&carol).await;
    let refused = within(carol_meeting.add_media(MediaOptions::new().force_turn(true))).await;
    assert!(matches!(refused, Err(MediaError::Turn(_))), "{refused:?}");
    let _ = coturn.child.kill().await;
}
