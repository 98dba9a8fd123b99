//! `webex meetings list|join|admit|end`: the SDK's meetings list from the
//! command line. Each command registers a device, does its work and unregisters.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use webex_meetings::{
    EventStream, Meeting, MeetingEvent, Meetings, MeetingsEvent, Member, MemberStatus,
    RemovedReason,
};

use crate::cli::{ClientArgs, MediaFlags, MeetingsCommand};
use crate::client::init;
use crate::join_output::JoinOutput;
use crate::media;

/// Runs one `webex meetings` command.
pub async fn run(command: MeetingsCommand) -> anyhow::Result<()> {
    match command {
        MeetingsCommand::List(client) => list(&client).await,
        MeetingsCommand::Join {
            client,
            destination,
            json,
            leave_after,
            media,
        } => join(&client, &destination, json, leave_after, &media).await,
        MeetingsCommand::Admit {
            client,
            target,
            who,
        } => admit(&client, &target, &who).await,
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

/// How `join`'s loop ended.
enum Exit {
    /// Ctrl-C, `leave` on stdin or `--leave-after`: leave the meeting.
    Leave,
    /// The meeting left the list (ended, mostly): nothing to leave.
    Removed(Option<RemovedReason>),
}

async fn join(
    client: &ClientArgs,
    destination: &str,
    json: bool,
    leave_after: Option<Duration>,
    flags: &MediaFlags,
) -> anyhow::Result<()> {
    let out = JoinOutput::new(json);
    registered(client, async |meetings: &Meetings| {
        let meeting = meetings.create(destination).await.context("create()")?;
        let mut events = meeting.events();
        // Listen for Ctrl-C before saying "joined": whoever reacts to that
        // line may interrupt at once.
        let mut interrupt = Interrupt::new()?;
        meeting.join().await.context("join()")?;
        out.joined(&meeting, destination);
        let mut removed = meetings.events();
        let id = meeting.id().to_owned();
        let media = if flags.wanted() {
            match media::join::start(&meeting, flags).await {
                Ok(media) => Some(media),
                Err(e) => {
                    if let Err(left) = leave_if_joined(&meeting).await {
                        eprintln!("warning: {left:#}");
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        let deadline = leave_after.map(|after| tokio::time::Instant::now() + after);
        let mut commands = if json { stdin_lines() } else { closed_lines() };
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + STATS_EVERY,
            STATS_EVERY,
        );
        let exit = loop {
            tokio::select! {
                () = interrupt.recv() => break Exit::Leave,
                () = sleep_until(deadline) => break Exit::Leave,
                _ = tick.tick(), if media.is_some() => {
                    if let Some(m) = &media {
                        out.stats(&m.stats());
                    }
                }
                Some(line) = commands.recv() => {
                    let command = line.trim();
                    let result = match command {
                        "" => continue,
                        "leave" => break Exit::Leave,
                        "mute-audio" => meeting.mute_audio().await.map_err(anyhow::Error::from),
                        "unmute-audio" => meeting.unmute_audio().await.map_err(anyhow::Error::from),
                        "mute-video" => meeting.mute_video().await.map_err(anyhow::Error::from),
                        "unmute-video" => meeting.unmute_video().await.map_err(anyhow::Error::from),
                        other => Err(anyhow::anyhow!(
                            "unknown command {other:?}: expected mute-audio, unmute-audio, mute-video, unmute-video or leave"
                        )),
                    };
                    out.command(command, result);
                }
                event = events.next() => match event {
                    Some(e) => out.event(&meeting, &e),
                    // The meeting left the list (ended): nothing to leave.
                    // Its `meeting:removed` (with the reason) is emitted
                    // right after the meeting's stream closes.
                    None => break Exit::Removed(removed_reason(&mut removed, &id).await),
                },
                event = removed.next() => match event {
                    Some(MeetingsEvent::MeetingRemoved { meeting_id, reason }) if meeting_id == id => {
                        break Exit::Removed(Some(reason));
                    }
                    Some(_) => {}
                    None => break Exit::Leave,
                },
            }
        };
        if let Some(m) = &media {
            out.stats(&m.stats());
        }
        let result = match exit {
            Exit::Removed(reason) => {
                out.removed(&meeting, reason);
                Ok(())
            }
            Exit::Leave if meeting.is_joined() || meeting.is_in_lobby() => {
                let left = meeting.leave().await.context("leave()");
                if left.is_ok() {
                    out.left(&meeting);
                }
                left
            }
            Exit::Leave => Ok(()),
        };
        if let Some(m) = media {
            m.finish().await;
        }
        result
    })
    .await
}

/// How often `join` prints media statistics.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Stdin's lines, read by a thread of its own (ends at end of input). Not
/// tokio's stdin: its blocking read would hold up the runtime's shutdown
/// (and so the exit) until the next line; a detached thread does not.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = std::thread::Builder::new()
        .name("stdin-commands".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = reader {
        eprintln!("warning: stdin commands are off: {e}");
    }
    rx
}

/// No commands (text mode: stdin is left alone).
fn closed_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    tokio::sync::mpsc::unbounded_channel().1
}

/// Ctrl-C, listened for from the moment it is made. Unlike a fresh
/// `tokio::signal::ctrl_c()` per loop turn, a signal that arrives while an
/// event is being printed is not lost.
struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("listening for Ctrl-C")?,
        })
    }

    /// Resolves at the next Ctrl-C (cancel-safe).
    async fn recv(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How long `join` waits for `meeting:removed` once the meeting's own
/// event stream has closed.
const REMOVED_GRACE: Duration = Duration::from_secs(2);

/// The reason of meeting `id`'s `meeting:removed` on `events`, if it comes
/// within [`REMOVED_GRACE`].
async fn removed_reason(events: &mut EventStream, id: &str) -> Option<RemovedReason> {
    let wait = async {
        while let Some(event) = events.next().await {
            if let MeetingsEvent::MeetingRemoved { meeting_id, reason } = event
                && meeting_id == id
            {
                return Some(reason);
            }
        }
        None
    };
    tokio::time::timeout(REMOVED_GRACE, wait)
        .await
        .ok()
        .flatten()
}

async fn leave_if_joined(meeting: &Meeting) -> anyhow::Result<()> {
    if meeting.is_joined() || meeting.is_in_lobby() {
        meeting.leave().await.context("leave()")?;
        eprintln!("left");
    }
    Ok(())
}

/// The meeting `target` names (synced, else created) and whether it had
/// to be joined from this device to learn its Locus.
async fn host_meeting(meetings: &Meetings, target: &str) -> anyhow::Result<(Meeting, bool)> {
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
        // Not joined and not synced: join to learn the Locus.
        meeting.join().await.context("join()")?;
    }
    Ok((meeting, joined_here))
}

/// Whether `m` is the one `who` names (email, person id or member id).
fn named(m: &Member, who: &str) -> bool {
    m.id == who
        || m.person_id == who
        || m.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(who))
}

async fn admit(client: &ClientArgs, target: &str, who: &[String]) -> anyhow::Result<()> {
    registered(client, async |meetings: &Meetings| {
        let (meeting, joined_here) = host_meeting(meetings, target).await?;
        let waiting: Vec<Member> = meeting
            .members()
            .into_iter()
            .filter(|m| m.status == MemberStatus::InLobby)
            .collect();
        let chosen: Vec<&Member> = if who.is_empty() {
            waiting.iter().collect()
        } else {
            let mut chosen = Vec::new();
            for w in who {
                match waiting.iter().find(|m| named(m, w)) {
                    Some(m) => chosen.push(m),
                    None => anyhow::bail!("{w} is not waiting in the lobby"),
                }
            }
            chosen
        };
        let result = if chosen.is_empty() {
            eprintln!("nobody is waiting in the lobby");
            Ok(())
        } else {
            let ids: Vec<String> = chosen.iter().map(|m| m.id.clone()).collect();
            meeting.admit(&ids).await.context("admit()")
        };
        if result.is_ok() {
            for m in &chosen {
                eprintln!("admitted {}", member(m));
            }
        }
        if joined_here && let Err(left) = leave_if_joined(&meeting).await {
            eprintln!("warning: {left:#}");
        }
        result
    })
    .await
}

async fn end(client: &ClientArgs, target: &str) -> anyhow::Result<()> {
    registered(client, async |meetings: &Meetings| {
        let (meeting, joined_here) = host_meeting(meetings, target).await?;
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
