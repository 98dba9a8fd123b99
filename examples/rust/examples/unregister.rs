//! `webex.meetings.unregister()` and `meetings:unregistered`; a second call
//! is a no-op, and a device that is already gone counts as unregistered.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… cargo run -p webex-meetings-examples --example unregister
//! ```

use webex_meetings::{FileDeviceStore, Webex, WebexConfigBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WEBEX_ACCESS_TOKEN (required), WEBEX_DISCOVERY_URL (optional).
    let config = WebexConfigBuilder::from_env()?
        // Remember the device so the next run refreshes it instead of creating one.
        .device_store(FileDeviceStore::new("webex-devices.json"))
        .build()?;
    let webex = Webex::init(config);
    let meetings = webex.meetings();
    meetings
        .on("meetings:unregistered", |_| {
            println!("meetings:unregistered")
        })?
        .detach();

    meetings.register().await?;
    meetings.unregister().await?;
    meetings.unregister().await?; // idempotent
    Ok(())
}
