//! `Webex.init({credentials: {access_token}})` → `webex.meetings.register()`.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… [WEBEX_DISCOVERY_URL=http://127.0.0.1:8080/u2c/api/v1] \
//!     cargo run -p webex --example init_and_register
//! ```

use webex_meetings::{Credentials, Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("WEBEX_ACCESS_TOKEN")?;
    let mut builder =
        WebexConfig::builder(Credentials::access_token(token)).device_name("webex-rs-example");
    if let Ok(discovery) = std::env::var("WEBEX_DISCOVERY_URL") {
        builder = builder.discovery_url(discovery);
    }
    let webex = Webex::init(builder.build()?);

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
