//! `webex.meetings.unregister()` and `meetings:unregistered`; a second call
//! is a no-op, and a device that is already gone counts as unregistered.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… cargo run -p webex --example unregister
//! ```

use webex_meetings::{Credentials, FileDeviceStore, Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("WEBEX_ACCESS_TOKEN")?;
    let mut builder = WebexConfig::builder(Credentials::access_token(token))
        // Remember the device so the next run refreshes it instead of creating one.
        .device_store(FileDeviceStore::new("webex-devices.json"));
    if let Ok(discovery) = std::env::var("WEBEX_DISCOVERY_URL") {
        builder = builder.discovery_url(discovery);
    }
    let webex = Webex::init(builder.build()?);
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
