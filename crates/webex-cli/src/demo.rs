//! `webex demo`: everything in one process, nothing to set up. Starts the
//! server on an embedded SQLite file, mints a token, and walks the Rust SDK
//! through init → ready → register → registered → a server event →
//! unregister → unregistered, printing each event with its time. In
//! between, a meeting: demo creates and joins their personal room, a second
//! user joins it, each sees the other in the roster, the second leaves, the
//! host ends it, and both see `meeting:removed`. While both are in it, each
//! adds media with a tone of its own (demo 440 Hz, bob 660 Hz) and prints
//! what it hears of the other: packets received and the dominant frequency
//! of what it decoded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_meetings::{
    AudioSource, Credentials, Media, MediaDirection, MediaOptions, Meeting, Meetings,
    MeetingsEvent, MemberStatus, Webex, WebexConfig,
};
use webex_server::bus::{BusMessage, Target};
use webex_server::identity::admin;
use webex_server::{Server, ServerConfig};
use webex_wire::people::PersonType;

use crate::cli::DemoArgs;
use crate::client::describe;
use crate::meetings::describe as describe_meeting;

/// Runs the demo; fails (non-zero exit) if any step does not happen.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = args
        .database
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("webex.sqlite").display()));
    let t0 = Instant::now();
    let step = |what: &str| println!("{:>8.1} ms  {what}", t0.elapsed().as_secs_f64() * 1000.0);

    let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), database.clone());
    config.cloud_quirks = args.quirks.to_config();
    let server = Server::start(config).await?;
    if server.state().config.cloud_quirks.any() {
        step(&format!(
            "cloud quirks on: {}",
            server.state().config.cloud_quirks.names().join(", ")
        ));
    }
    step(&format!(
        "server listening on {} ({})",
        server.base_url(),
        server.state().store.backend()
    ));

    let token = admin::create_token(
        server.state().store.as_ref(),
        &server.state().config.region,
        "demo@example.com",
        PersonType::Person,
        Some(Duration::from_secs(3600)),
    )
    .await?;
    step("token minted for demo@example.com");

    let config = WebexConfig::builder(Credentials::access_token(token.expose_secret()))
        .discovery_url(format!("{}/u2c/api/v1", server.base_url()))
        .device_name("webex-demo")
        .build()?;
    let webex = Webex::init(config);
    step("Webex::init");
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!(
                "{:>8.1} ms    event {}",
                t0.elapsed().as_secs_f64() * 1000.0,
                describe(&event)
            );
            let _ = seen_tx.send(event);
        }
    });

    let report = meetings.register().await.context("register()")?;
    step("meetings.register() resolved");
    for warning in &report.warnings {
        println!("            warning: {warning}");
    }
    let device = meetings.device().context("registered but no device")?;
    println!("            device {}", device.url);

    server
        .state()
        .bus
        .publish(BusMessage::Event {
            target: Target::Device(device.id().to_owned()),
            id: uuid::Uuid::new_v4().to_string(),
            data: serde_json::json!({"eventType": "demo.hello", "message": "hello from webex serve"}),
            published_at: chrono_millis(),
            tracking_id: None,
        })
        .await?;
    step("server published demo.hello to the device");
    wait_for(
        &mut seen_rx,
        |e| matches!(e, MeetingsEvent::Mercury(f) if f.event_type() == Some("demo.hello")),
    )
    .await?;

    meeting_part(&server, &meetings, &mut seen_rx, t0).await?;

    meetings.unregister().await.context("unregister()")?;
    step("meetings.unregister() resolved");
    wait_for(&mut seen_rx, |e| matches!(e, MeetingsEvent::Unregistered)).await?;
    let left = webex.devices().await?;
    anyhow::ensure!(
        left.is_empty(),
        "{} device(s) left after unregister",
        left.len()
    );
    step("device deleted on the server; no devices left");

    printer.abort();
    server.shutdown().await;
    step("server stopped");
    println!();
    println!(
        "next: `webex serve --dev` runs a local Webex that stays up, with two people, their tokens"
    );
    println!("      and ready-to-paste configuration for the Rust SDK and the official JS SDK;");
    println!(
        "      `cargo run -p webex-meetings-examples --example events` with the variables it prints runs an example;"
    );
    println!("      README.md walks through the server, the CLI and the SDK.");
    Ok(())
}

/// Two users in one meeting, printed as a timed event log.
async fn meeting_part(
    server: &webex_server::RunningServer,
    alice: &Meetings,
    alice_seen: &mut tokio::sync::mpsc::UnboundedReceiver<MeetingsEvent>,
    t0: Instant,
) -> anyhow::Result<()> {
    let step = |what: &str| println!("{:>8.1} ms  {what}", t0.elapsed().as_secs_f64() * 1000.0);
    let room = "demo@example.com";

    let token = admin::create_token(
        server.state().store.as_ref(),
        &server.state().config.region,
        "bob@example.com",
        PersonType::Person,
        Some(Duration::from_secs(3600)),
    )
    .await?;
    let bob_webex = Webex::init(
        WebexConfig::builder(Credentials::access_token(token.expose_secret()))
            .discovery_url(format!("{}/u2c/api/v1", server.base_url()))
            .device_name("webex-demo")
            .build()?,
    );
    let bob = bob_webex.meetings();
    let mut bob_seen = print_events("bob", bob.events(), t0);
    bob.register().await.context("bob: register()")?;
    step("bob registered (second user)");

    let meeting = alice.create(room).await.context("create()")?;
    step(&format!(
        "meetings.create({room}) resolved: demo's personal room"
    ));
    let alice_log = print_meeting_events("demo", &meeting, t0);
    meeting.join().await.context("join()")?;
    step("meeting.join() resolved: demo is in the meeting (host)");

    let bob_meeting = bob.create(room).await.context("bob: create()")?;
    let bob_log = print_meeting_events("bob", &bob_meeting, t0);
    bob_meeting.join().await.context("bob: join()")?;
    step("bob: meeting.join() resolved");

    roster_shows(&meeting, "bob@example.com", MemberStatus::InMeeting).await?;
    roster_shows(&bob_meeting, "demo@example.com", MemberStatus::InMeeting).await?;
    step("each roster shows the other in the meeting");

    media_part(&meeting, &bob_meeting, t0).await?;

    bob_meeting.leave().await.context("bob: leave()")?;
    step("bob: meeting.leave() resolved");
    roster_shows(&meeting, "bob@example.com", MemberStatus::NotInMeeting).await?;
    step("demo's roster shows bob not in the meeting");

    meeting.end_for_all().await.context("end_for_all()")?;
    step("meeting.end_for_all() resolved (host)");
    let removed = |e: &MeetingsEvent| matches!(e, MeetingsEvent::MeetingRemoved { .. });
    wait_for(alice_seen, removed).await?;
    wait_for(&mut bob_seen, removed).await?;
    step("both saw meeting:removed");

    bob.unregister().await.context("bob: unregister()")?;
    alice_log.abort();
    bob_log.abort();
    Ok(())
}

/// Demo's tone.
const DEMO_HZ: f32 = 440.0;
/// Bob's tone.
const BOB_HZ: f32 = 660.0;
/// Decoded frames each listens to: one second of 20 ms frames.
const LISTEN_FRAMES: usize = 50;

/// Both add media with a tone each, and each hears the other's.
async fn media_part(demo: &Meeting, bob: &Meeting, t0: Instant) -> anyhow::Result<()> {
    let step = |what: &str| println!("{:>8.1} ms  {what}", t0.elapsed().as_secs_f64() * 1000.0);
    let tone = |hz: f32| {
        MediaOptions::new()
            .audio(MediaDirection::SendRecv)
            .audio_source(AudioSource::Tone { hz })
            .receive_share(false)
    };
    let (demo_media, bob_media) = tokio::try_join!(
        async { demo.add_media(tone(DEMO_HZ)).await.context("add_media()") },
        async {
            bob.add_media(tone(BOB_HZ))
                .await
                .context("bob: add_media()")
        },
    )?;
    step(&format!(
        "both added media: demo sends a {DEMO_HZ} Hz tone, bob {BOB_HZ} Hz"
    ));
    let (demo_heard, bob_heard) = tokio::join!(listen(&demo_media), listen(&bob_media));
    for (who, other, heard, want) in [
        ("demo", "bob", demo_heard, BOB_HZ),
        ("bob", "demo", bob_heard, DEMO_HZ),
    ] {
        let (frames, hz) = heard;
        step(&format!(
            "{who} hears {other}: {frames} packets, dominant frequency {}",
            hz.map_or_else(|| "none (silence)".to_owned(), |hz| format!("{hz} Hz"))
        ));
        anyhow::ensure!(
            hz == Some(f64::from(want)),
            "{who} should hear {other}'s {want} Hz tone"
        );
    }
    Ok(())
}

/// Decodes [`LISTEN_FRAMES`] frames of the remote audio (10 s at most):
/// how many came, and their dominant frequency.
async fn listen(media: &Media) -> (usize, Option<f64>) {
    let mut pcm = media.remote_audio().decoded();
    let mut samples = Vec::new();
    let mut frames = 0;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while frames < LISTEN_FRAMES {
            match pcm.next().await {
                Some(frame) => {
                    samples.extend_from_slice(&frame.samples);
                    frames += 1;
                }
                None => return,
            }
        }
    })
    .await;
    (frames, crate::media::analysis::dominant_frequency(&samples))
}

/// Prints `who`'s SDK events as they come; the returned channel sees them too.
fn print_events(
    who: &'static str,
    mut events: webex_meetings::EventStream,
    t0: Instant,
) -> tokio::sync::mpsc::UnboundedReceiver<MeetingsEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!(
                "{:>8.1} ms    {who:<5} event {}",
                t0.elapsed().as_secs_f64() * 1000.0,
                describe(&event)
            );
            let _ = tx.send(event);
        }
    });
    rx
}

/// Prints one meeting's events as `who` sees them.
fn print_meeting_events(
    who: &'static str,
    meeting: &Meeting,
    t0: Instant,
) -> tokio::task::JoinHandle<()> {
    let mut events = meeting.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!(
                "{:>8.1} ms    {who:<5} event {}",
                t0.elapsed().as_secs_f64() * 1000.0,
                describe_meeting(&event)
            );
        }
    })
}

/// Waits until `meeting`'s roster shows `email` with `status`.
async fn roster_shows(meeting: &Meeting, email: &str, status: MemberStatus) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if meeting
                .members()
                .iter()
                .any(|m| m.email.as_deref() == Some(email) && m.status == status)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .with_context(|| format!("the roster never showed {email} {status}"))
}

async fn wait_for(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<MeetingsEvent>,
    want: impl Fn(&MeetingsEvent) -> bool,
) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = rx.recv().await {
            if want(&e) {
                return Ok(());
            }
        }
        anyhow::bail!("event stream ended")
    })
    .await
    .context("timed out waiting for an event")?
}

fn chrono_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
