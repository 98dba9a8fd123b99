//! The public API calls made during registration: `people/me` and
//! `meetingPreferences`.

use webex_wire::people::Person;

use crate::error::Error;
use crate::http::{Http, HttpRequest, join};

/// `GET {hydra}/people/me`.
pub(crate) async fn me(http: &Http, hydra: &str) -> Result<Person, Error> {
    http.json(HttpRequest::get(join(hydra, "people/me")?)).await
}

/// `GET {hydra}/meetingPreferences`: the user's default Webex site, if any.
pub(crate) async fn default_site(http: &Http, hydra: &str) -> Result<Option<String>, Error> {
    let prefs: serde_json::Value = http
        .json(HttpRequest::get(join(hydra, "meetingPreferences")?))
        .await?;
    let sites = prefs
        .get("sites")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    let url_of =
        |s: &serde_json::Value| s.get("siteUrl").and_then(|u| u.as_str()).map(str::to_owned);
    Ok(sites
        .iter()
        .find(|s| s.get("default").and_then(|d| d.as_bool()) == Some(true))
        .or_else(|| sites.first())
        .and_then(url_of))
}
