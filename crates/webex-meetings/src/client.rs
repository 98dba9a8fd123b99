//! [`Webex`]: the SDK instance. Construction does no I/O.

use std::sync::Arc;

use crate::config::WebexConfig;
use crate::core::Core;
use crate::credentials::AccessToken;
use crate::error::Error;
use crate::meetings::Meetings;

/// The SDK instance. Cheap to clone; clones share everything.
///
/// ```
/// use webex_meetings::{Credentials, Webex, WebexConfig};
///
/// let config = WebexConfig::builder(Credentials::access_token("tok_PF84_org")).build()?;
/// let webex = Webex::init(config); // no I/O, cannot hang
/// let meetings = webex.meetings();
/// # let _ = meetings;
/// # Ok::<(), webex_meetings::Error>(())
/// ```
#[derive(Clone)]
pub struct Webex {
    pub(crate) core: Arc<Core>,
    meetings: Meetings,
}

impl Webex {
    /// Creates the SDK. Does no I/O; `meetings:ready` is emitted at once and
    /// replayed to every later subscriber.
    pub fn init(config: WebexConfig) -> Self {
        let core = Core::new(config);
        Self {
            meetings: Meetings::new(Arc::clone(&core)),
            core,
        }
    }

    /// The meetings handle (cheap; every handle shares one registration).
    pub fn meetings(&self) -> Meetings {
        self.meetings.clone()
    }

    /// Replaces the access token at runtime. Requests, refresh timers and
    /// the next Mercury authentication use it at once; no re-registration.
    /// Emits `token:refreshed`.
    ///
    /// ```
    /// # use webex_meetings::{AccessToken, Credentials, Webex, WebexConfig};
    /// # let webex = Webex::init(WebexConfig::builder(Credentials::access_token("a_b_c")).build()?);
    /// webex.set_access_token(AccessToken::new("new_PF84_org"));
    /// # Ok::<(), webex_meetings::Error>(())
    /// ```
    pub fn set_access_token(&self, token: AccessToken) {
        self.core.http.tokens.set(token);
    }

    /// The current access token, obtained or refreshed first when needed
    /// (concurrent callers share one refresh). Use it to call other Webex
    /// APIs; never log it.
    pub async fn access_token(&self) -> Result<secrecy::SecretString, Error> {
        Ok(self.core.http.tokens.current().await?.token)
    }

    /// `GET {hydra}/people/me`: the authenticated user. A 401 refreshes the
    /// token once and replays the request.
    pub async fn me(&self) -> Result<webex_wire::people::Person, Error> {
        crate::people::me(&self.core.http, &self.core.services.hydra()).await
    }

    /// The signed-in user's devices (`GET {wdm}/devices`), as WDM lists them.
    /// Use with [`Webex::delete_device`] to clean up devices another run of
    /// this app left behind; [`crate::Meetings::register`] already reuses its own.
    ///
    /// ```no_run
    /// # async fn run(webex: webex_meetings::Webex) -> Result<(), webex_meetings::Error> {
    /// for device in webex.devices().await? {
    ///     println!("{} {}", device.id(), device.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn devices(&self) -> Result<Vec<webex_wire::device::Device>, Error> {
        let wdm = self.wdm_url().await?;
        crate::device::list(&self.core.http, &wdm).await
    }

    /// Deletes one of the user's devices by id or URL. A device that is
    /// already gone counts as deleted.
    ///
    /// ```no_run
    /// # async fn run(webex: webex_meetings::Webex) -> Result<(), webex_meetings::Error> {
    /// webex.delete_device("0f2c…").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_device(&self, id_or_url: &str) -> Result<(), Error> {
        if id_or_url.contains("://") {
            return crate::device::delete(&self.core.http, id_or_url).await;
        }
        let wdm = self.wdm_url().await?;
        let mut url = crate::http::join(&wdm, "devices")?;
        // One path segment, percent-encoded: an id can never reach another path.
        url.path_segments_mut()
            .map_err(|()| Error::InvalidResponse {
                url: wdm.clone(),
                message: "the catalog's wdm URL cannot take a path".into(),
            })?
            .push(id_or_url);
        crate::device::delete(&self.core.http, url.as_str()).await
    }

    /// The `wdm` base URL, from a fresh catalog.
    async fn wdm_url(&self) -> Result<String, Error> {
        let org = self.core.org_id().await?;
        self.core.wdm(org.as_deref()).await
    }

    /// The configuration this instance was built with.
    pub fn config(&self) -> &WebexConfig {
        &self.core.config
    }
}

impl std::fmt::Debug for Webex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webex")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}
