//! `webex demo`: everything in one process, nothing to set up. Starts the
//! server on an embedded SQLite file, mints a token, and walks the Rust SDK
//! through init → ready → register → registered → a server event →
//! unregister → unregistered, printing each event with its time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_meetings::{Credentials, MeetingsEvent, Webex, WebexConfig};
use webex_server::bus::{BusMessage, Target};
use webex_server::identity::admin;
use webex_server::{Server, ServerConfig};
use webex_wire::people::PersonType;

use crate::cli::DemoArgs;
use crate::client::describe;

/// Runs the demo; fails (non-zero exit) if any step does not happen.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = args
        .database
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("webex.sqlite").display()));
    let t0 = Instant::now();
    let step = |what: &str| println!("{:>8.1} ms  {what}", t0.elapsed().as_secs_f64() * 1000.0);

    let server = Server::start(ServerConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        database.clone(),
    ))
    .await?;
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
    Ok(())
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
