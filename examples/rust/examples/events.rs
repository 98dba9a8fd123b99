//! `meetings.on('meetings:ready', …)` and `meetings.on('meetings:registered', …)`,
//! plus the same events as a `Stream`.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… cargo run -p webex-meetings-examples --example events
//! ```

use futures::StreamExt;
use webex_meetings::{Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WEBEX_ACCESS_TOKEN (required), WEBEX_DISCOVERY_URL (optional).
    let webex = Webex::init(WebexConfig::from_env()?);
    let meetings = webex.meetings();

    // Subscribing after init still sees `meetings:ready`: state is replayed.
    let _ready = meetings.on("meetings:ready", |_| println!("meetings:ready"))?;
    let _registered = meetings.on("meetings:registered", |_| println!("meetings:registered"))?;
    // Every Mercury event whose type starts with `locus`.
    let _locus = meetings.on("event:locus", |e| println!("{}", e.name()))?;

    let mut events = meetings.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!("stream: {}", event.name());
        }
    });

    meetings.register().await?;
    tokio::signal::ctrl_c().await?;
    meetings.unregister().await?;
    Ok(())
}
