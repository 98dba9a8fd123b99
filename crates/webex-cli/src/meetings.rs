//! `webex meetings list|join|end`: the SDK's meetings list from the command
//! line. Each command registers a device, does its work and unregisters.

use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use webex_meetings::{Meeting, MeetingEvent, Meetings, MeetingsEvent, Member, MemberStatus};

use crate::cli::{ClientArgs, MeetingsCommand};
use crate::client::init;

/// Runs one `webex meetings` command.
pub async fn run(command: MeetingsCommand) -> anyhow::Result<()> {
    match command {
        MeetingsCommand::List(client) => list(&client).await,
        MeetingsCommand::Join {
            client,
            destination,
        } => join(&client, &destination).await,
        MeetingsCommand::End { client, target } => end(&client, &target).await,
    }
}

/// Registers (a failure here names the step), runs `work`, unregisters.
async fn registered<T>(
    client: &ClientArgs,
    work: impl AsyncFnOnce(&Meetings) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let webex = init(client, None)?;
    let meetings = webex.meetings();
    meetings.register().await.context("register()")?;
    let result = work(&meetings).await;
    if let Err(e) = meetings.unregister().await {
        eprintln!("warning: unregister failed: {e}");
    }
    result
}

async fn list(client: &ClientArgs) -> anyhow::Result<()> {
    registered(client, async |meetings: &Meetings| {
        let list = meetings.sync().await.context("sync()")?;
        if list.is_empty() {
            eprintln!("no active meetings");
        }
        for m in list {
            let joined = m
                .members()
                .iter()
                .filter(|m| m.status == MemberStatus::InMeeting)
                .count();
            println!(
                "{}\t{}\t{}\t{} in meeting\t{}",
                m.sip_uri().unwrap_or_default(),
                m.state().map(|s| s.to_string()).unwrap_or_default(),
                m.meeting_number().unwrap_or_default(),
                joined,
                m.locus_url().unwrap_or_default(),
            );
        }
        Ok(())
    })
    .await
}

async fn join(client: &ClientArgs, destination: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let at = move || started.elapsed().as_secs_f64() * 1000.0;
    registered(client, async |meetings: &Meetings| {
        let meeting = meetings.create(destination).await.context("create()")?;
        let mut events = meeting.events();
        meeting.join().await.context("join()")?;
        eprintln!(
            "joined {} ({}); Ctrl-C to leave",
            meeting.sip_uri().unwrap_or_else(|| destination.to_owned()),
            meeting.locus_url().unwrap_or_default()
        );
        let mut removed = meetings.events();
        let id = meeting.id().to_owned();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                event = events.next() => match event {
                    Some(e) => println!("{:>9.1} ms  {}", at(), describe(&e)),
                    // The meeting left the list (ended): nothing to leave.
                    None => {
                        println!("{:>9.1} ms  meeting:removed", at());
                        return Ok(());
                    }
                },
                event = removed.next() => match event {
                    Some(MeetingsEvent::MeetingRemoved { meeting_id, reason }) if meeting_id == id => {
                        println!("{:>9.1} ms  meeting:removed ({reason})", at());
                        return Ok(());
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        leave_if_joined(&meeting).await
    })
    .await
}

async fn leave_if_joined(meeting: &Meeting) -> anyhow::Result<()> {
    if meeting.is_joined() {
        meeting.leave().await.context("leave()")?;
        eprintln!("left");
    }
    Ok(())
}

async fn end(client: &ClientArgs, target: &str) -> anyhow::Result<()> {
    registered(client, async |meetings: &Meetings| {
        meetings.sync().await.context("sync()")?;
        let meeting = match meetings.get(target) {
            Some(m) => m,
            None if target.contains("://") && target.contains("/loci/") => {
                anyhow::bail!("{target} is not one of your active meetings")
            }
            None => meetings.create(target).await.context("create()")?,
        };
        let joined_here = meeting.locus().is_none();
        if joined_here {
            // Not joined and not synced: join to learn the Locus, then end.
            meeting.join().await.context("join()")?;
        }
        if let Err(e) = meeting.end_for_all().await {
            if joined_here && let Err(left) = leave_if_joined(&meeting).await {
                eprintln!("warning: {left:#}");
            }
            return Err(e).context("end_for_all()");
        }
        eprintln!("ended {}", meeting.locus_url().unwrap_or_default());
        Ok(())
    })
    .await
}

/// One line for a meeting event.
pub fn describe(event: &MeetingEvent) -> String {
    match event {
        MeetingEvent::StateChange { previous, current } => format!(
            "{} {} → {current}",
            event.name(),
            previous
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string)
        ),
        MeetingEvent::MembersUpdate(delta) => {
            let mut parts = Vec::new();
            for (what, members) in [("added", &delta.added), ("updated", &delta.updated)] {
                if !members.is_empty() {
                    let list: Vec<String> = members.iter().map(member).collect();
                    parts.push(format!("{what} [{}]", list.join(", ")));
                }
            }
            if !delta.removed.is_empty() {
                parts.push(format!("removed {:?}", delta.removed));
            }
            format!("{} {}", event.name(), parts.join("; "))
        }
        other => other.name().into_owned(),
    }
}

fn member(m: &Member) -> String {
    let mut flags = Vec::new();
    if m.is_host {
        flags.push("host");
    }
    if m.is_self {
        flags.push("self");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" ({})", flags.join(", "))
    };
    format!("{} {}{flags}", m.name, m.status)
}
