//! `webex register`, `webex devices`: the Rust SDK from the command line.

use std::time::Instant;

use futures::StreamExt;
use webex_meetings::{Credentials, FileDeviceStore, MeetingsEvent, Webex, WebexConfig};

use crate::cli::{ClientArgs, DevicesCommand, RegisterArgs};

/// Builds an SDK instance for the server (or Webex's cloud) the args name.
pub(crate) fn init(
    args: &ClientArgs,
    device_file: Option<&std::path::Path>,
) -> anyhow::Result<Webex> {
    let mut builder = WebexConfig::builder(Credentials::access_token(args.token.clone()))
        .device_name(args.device_name.clone());
    if let Some(discovery) = args.discovery_url() {
        builder = builder.discovery_url(discovery);
    }
    if let Some(path) = device_file {
        builder = builder.device_store(FileDeviceStore::new(path));
    }
    Ok(Webex::init(builder.build()?))
}

/// Registers, prints every event with its time, unregisters on Ctrl-C.
pub async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let webex = init(&args.client, args.device_file.as_deref())?;
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!("{:>9.1} ms  {}", ms(started), describe(&event));
        }
    });
    let report = meetings.register().await?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(device) = meetings.device() {
        eprintln!("device {} (Ctrl-C to unregister)", device.url);
    }
    tokio::signal::ctrl_c().await?;
    meetings.unregister().await?;
    // Let the printer drain the last events.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    printer.abort();
    Ok(())
}

/// `webex devices list|delete`.
pub async fn devices(command: DevicesCommand) -> anyhow::Result<()> {
    match command {
        DevicesCommand::List(args) => {
            let webex = init(&args, None)?;
            let devices = webex.devices().await?;
            if devices.is_empty() {
                eprintln!("no devices");
            }
            for d in devices {
                println!(
                    "{}\t{}\t{}\t{}",
                    d.id(),
                    d.name,
                    d.model,
                    d.modification_time
                );
            }
        }
        DevicesCommand::Delete { client, ids } => {
            let webex = init(&client, None)?;
            for id in ids {
                webex.delete_device(&id).await?;
                eprintln!("deleted {id}");
            }
        }
    }
    Ok(())
}

/// One line for an event: its Webex name and what it carries.
pub fn describe(event: &MeetingsEvent) -> String {
    match event {
        MeetingsEvent::NetworkDisconnected {
            code,
            reason,
            will_reconnect,
        } => format!(
            "{} (code {}, {reason}{})",
            event.name(),
            code.map_or_else(|| "none".into(), |c| c.to_string()),
            if *will_reconnect {
                ", reconnecting"
            } else {
                ""
            }
        ),
        MeetingsEvent::MeetingAdded { meeting, reason } => format!(
            "{} {} ({reason})",
            event.name(),
            meeting
                .sip_uri()
                .or_else(|| meeting.destination().map(str::to_owned))
                .unwrap_or_else(|| meeting.id().to_owned())
        ),
        MeetingsEvent::MeetingRemoved { reason, .. } => format!("{} ({reason})", event.name()),
        // Locus documents are long: the meetings events say what changed.
        MeetingsEvent::Mercury(frame)
            if frame.event_type().is_some_and(|t| t.starts_with("locus.")) =>
        {
            let sequence = frame
                .data
                .as_ref()
                .and_then(|d| d.rest.get("locus"))
                .and_then(|l| l.pointer("/sequence/entries"))
                .and_then(|e| e.as_array())
                .and_then(|e| e.last())
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("{} (sequence {sequence})", event.name())
        }
        MeetingsEvent::Mercury(frame) => format!(
            "{} {}",
            event.name(),
            serde_json::to_string(&frame.data).unwrap_or_default()
        ),
        other => other.name().into_owned(),
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
