//! The README's program ("The SDK in one screen"), identical to it but for
//! these lines: `scripts/snippet-check` compares them and runs this one
//! against `webex serve --dev`.

use webex_meetings::{Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WEBEX_ACCESS_TOKEN, and WEBEX_DISCOVERY_URL for a server other than
    // Webex's cloud (`webex serve --dev` prints both). In code instead:
    // WebexConfig::builder(Credentials::access_token(t)).discovery_url(u).build()?
    let webex = Webex::init(WebexConfig::from_env()?); // no I/O, cannot hang
    let meetings = webex.meetings();
    meetings
        .on("meetings:registered", |_| println!("meetings:registered"))?
        .detach();
    let report = meetings.register().await?; // catalog → people/me → device → Mercury
    println!("registered as {}", report.device.url);
    meetings.unregister().await?; // close 1000, DELETE device, stop every timer
    Ok(())
}
