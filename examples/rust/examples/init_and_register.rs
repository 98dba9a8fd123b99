//! `Webex.init({credentials: {access_token}})` → `webex.meetings.register()`.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… [WEBEX_DISCOVERY_URL=http://127.0.0.1:8080/u2c/api/v1] \
//!     cargo run -p webex-meetings-examples --example init_and_register
//! ```

use webex_meetings::{Webex, WebexConfigBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WEBEX_ACCESS_TOKEN (required), WEBEX_DISCOVERY_URL (optional).
    let config = WebexConfigBuilder::from_env()?
        .device_name("webex-rs-example")
        .build()?;
    let webex = Webex::init(config);

    match webex.meetings().register().await {
        Ok(report) => {
            println!(
                "registered device {} (reused: {})",
                report.device.url, report.reused_device
            );
            for warning in &report.warnings {
                println!("warning: {warning:?}");
            }
        }
        Err(e) => {
            // The error names the step that failed and whether a retry helps.
            eprintln!(
                "register failed at {:?}: {e} (retryable: {})",
                e.step(),
                e.is_retryable()
            );
            return Err(e.into());
        }
    }
    webex.meetings().unregister().await?;
    Ok(())
}
