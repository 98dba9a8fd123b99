//! `meetings.create(destination)`, `meeting.join()`, the roster as it
//! changes, and `meeting.leave()` on Ctrl-C. No media: a headless bot.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… WEBEX_DISCOVERY_URL=http://127.0.0.1:8080/u2c/api/v1 \
//!     cargo run -p webex-meetings-examples --example join_meeting -- room1@webex.localhost
//! ```

use futures::StreamExt;
use webex_meetings::{MeetingEvent, Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let destination = std::env::args()
        .nth(1)
        .ok_or("usage: join_meeting <SIP URI | email | meeting number | link>")?;
    // WEBEX_ACCESS_TOKEN (required), WEBEX_DISCOVERY_URL (optional).
    let webex = Webex::init(WebexConfig::from_env()?);
    let meetings = webex.meetings();
    meetings.register().await?;

    // create() resolves the destination (meetingInfo) but does not join.
    let meeting = meetings.create(&destination).await?;
    let mut events = meeting.events();
    meeting.join().await?;
    println!("joined {}", meeting.locus_url().unwrap_or_default());

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.next() => match event {
                Some(MeetingEvent::MembersUpdate(delta)) => {
                    for m in delta.added.iter().chain(&delta.updated) {
                        println!("{} is {}{}", m.name, m.status, if m.is_host { " (host)" } else { "" });
                    }
                }
                Some(MeetingEvent::StateChange { current, .. }) => println!("meeting is {current}"),
                Some(other) => println!("{}", other.name()),
                // The meeting ended (or left the list otherwise).
                None => break,
            },
        }
    }
    if meeting.is_joined() {
        meeting.leave().await?;
        println!("left");
    }
    meetings.unregister().await?;
    Ok(())
}
