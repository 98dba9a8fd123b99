//! OAuth integration tokens: refreshed before expiry and on a 401, with
//! typed errors when the refresh token is gone.
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… WEBEX_REFRESH_TOKEN=… WEBEX_CLIENT_ID=… WEBEX_CLIENT_SECRET=… \
//!     cargo run -p webex-meetings-examples --example oauth
//! ```

use std::time::Duration;

use webex_meetings::{AuthError, Credentials, OAuthTokens, Webex, WebexConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each variable is named when it is missing.
    let env = |k: &'static str| std::env::var(k).map_err(|_| format!("set {k}"));
    let tokens = OAuthTokens::new(
        env("WEBEX_ACCESS_TOKEN")?,
        env("WEBEX_REFRESH_TOKEN")?,
        env("WEBEX_CLIENT_ID")?,
        env("WEBEX_CLIENT_SECRET")?,
    )
    .expires_in(Duration::from_secs(14 * 24 * 3600));
    let webex = Webex::init(WebexConfig::builder(Credentials::oauth(tokens)).build()?);
    webex
        .meetings()
        .on("token:refreshed", |_| println!("token refreshed"))?
        .detach();

    match webex.meetings().register().await {
        Err(e) if e.auth() == Some(&AuthError::RefreshTokenExpired) => {
            eprintln!("the refresh token expired: sign in again");
        }
        other => {
            other?;
        }
    }
    Ok(())
}
