//! `meetings.syncMeetings()` and `getAllMeetings()`: register, list the
//! user's active meetings, watch `meeting:added` / `meeting:removed`.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… WEBEX_DISCOVERY_URL=http://127.0.0.1:8080/u2c/api/v1 \
//!     cargo run -p webex-meetings-examples --example sync_meetings
//! ```

use webex_meetings::{MeetingsEvent, Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WEBEX_ACCESS_TOKEN (required), WEBEX_DISCOVERY_URL (optional).
    let webex = Webex::init(WebexConfig::from_env()?);
    let meetings = webex.meetings();

    // Meetings that start or end while this runs (someone else's call, a
    // join from another device) come as events.
    let _added = meetings.on("meeting:added", |e| {
        if let MeetingsEvent::MeetingAdded { meeting, reason } = e {
            println!(
                "meeting:added {} ({reason})",
                meeting.sip_uri().unwrap_or_default()
            );
        }
    })?;
    let _removed = meetings.on("meeting:removed", |e| {
        if let MeetingsEvent::MeetingRemoved { meeting_id, reason } = e {
            println!("meeting:removed {meeting_id} ({reason})");
        }
    })?;

    meetings.register().await?;
    for meeting in meetings.sync().await? {
        println!(
            "{}  {:?}  {} members  {}",
            meeting.sip_uri().unwrap_or_default(),
            meeting.state(),
            meeting.members().len(),
            meeting.locus_url().unwrap_or_default(),
        );
    }
    println!("{} meeting(s); Ctrl-C to stop", meetings.list().len());
    tokio::signal::ctrl_c().await?;
    meetings.unregister().await?;
    Ok(())
}
