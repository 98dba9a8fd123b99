//! [`Webex`]: the SDK instance. Construction does no I/O.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::WebexConfig;
use crate::credentials::{AccessToken, TokenManager};
use crate::error::Error;
use crate::events::{EventHub, MeetingsEvent};
use crate::http::{Http, Transport};
use crate::meetings::{Lifecycle, Meetings, RegistrationStatus};
use crate::services::Services;

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
    pub(crate) shared: Arc<Shared>,
}

/// State shared by [`Webex`], [`Meetings`] handles and background tasks
/// (which hold it weakly, so dropping the SDK stops them).
pub(crate) struct Shared {
    pub(crate) config: WebexConfig,
    pub(crate) http: Http,
    /// Service URLs learned from the catalog.
    pub(crate) services: Arc<Services>,
    pub(crate) hub: Arc<EventHub>,
    pub(crate) lifecycle: tokio::sync::Mutex<Lifecycle>,
    pub(crate) status: Mutex<RegistrationStatus>,
    pub(crate) device: Mutex<Option<crate::meetings::CurrentDevice>>,
    /// The meetings list.
    pub(crate) locus: crate::locus::Collection,
    /// Cancelled when the SDK is dropped.
    pub(crate) shutdown: CancellationToken,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Webex {
    /// Creates the SDK. Does no I/O; `meetings:ready` is emitted at once and
    /// replayed to every later subscriber.
    pub fn init(config: WebexConfig) -> Self {
        let transport = Arc::new(Transport::new(
            config.http.clone(),
            &config.user_agent,
            &config.http_user_agent,
            config.retry,
            config.timeouts.request,
        ));
        let services = Arc::new(Services::new(
            config.hydra_url.clone(),
            config.token_url.clone(),
            config.self_hosted,
        ));
        services.trust_url(config.discovery_url.as_str());
        if let Some(token_url) = &config.token_url {
            services.trust_url(token_url);
        }
        let hub = Arc::new(EventHub::default());
        let on_refresh = {
            let hub = Arc::clone(&hub);
            Box::new(move || hub.emit(MeetingsEvent::TokenRefreshed))
        };
        let tokens = Arc::new(TokenManager::new(
            config.credentials.clone(),
            Arc::clone(&transport),
            Arc::clone(&services),
            on_refresh,
        ));
        hub.emit(MeetingsEvent::Ready);
        let locus = crate::locus::Collection::new(config.meeting_options, Arc::clone(&hub));
        Self {
            shared: Arc::new(Shared {
                http: Http {
                    transport,
                    tokens,
                    services: Arc::clone(&services),
                },
                services,
                hub,
                lifecycle: tokio::sync::Mutex::new(Lifecycle::default()),
                status: Mutex::new(RegistrationStatus::default()),
                device: Mutex::new(None),
                locus,
                shutdown: CancellationToken::new(),
                config,
            }),
        }
    }

    /// The meetings handle (cheap; every handle shares one registration).
    pub fn meetings(&self) -> Meetings {
        Meetings {
            shared: Arc::clone(&self.shared),
        }
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
        self.shared.http.tokens.set(token);
    }

    /// The current access token, obtained or refreshed first when needed
    /// (concurrent callers share one refresh). Use it to call other Webex
    /// APIs; never log it.
    pub async fn access_token(&self) -> Result<secrecy::SecretString, Error> {
        Ok(self.shared.http.tokens.current().await?.token)
    }

    /// `GET {hydra}/people/me`: the authenticated user. A 401 refreshes the
    /// token once and replays the request.
    pub async fn me(&self) -> Result<webex_wire::people::Person, Error> {
        crate::people::me(&self.shared.http, &self.shared.services.hydra()).await
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
        crate::device::list(&self.shared.http, &wdm).await
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
            return crate::device::delete(&self.shared.http, id_or_url).await;
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
        crate::device::delete(&self.shared.http, url.as_str()).await
    }

    /// The `wdm` base URL, from a fresh catalog.
    async fn wdm_url(&self) -> Result<String, Error> {
        let org = crate::meetings::steps::credentials(&self.shared).await?;
        crate::meetings::steps::catalog(&self.shared, org.as_deref()).await
    }

    /// The configuration this instance was built with.
    pub fn config(&self) -> &WebexConfig {
        &self.shared.config
    }
}

impl std::fmt::Debug for Webex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webex")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
