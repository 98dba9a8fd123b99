//! [`WebexConfig`] and its builder: everything `Webex::init` needs.
//!
//! Building a configuration does no I/O.

mod env;
mod error;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::credentials::Credentials;
use crate::device::{DeviceStore, MemoryDeviceStore};
use crate::mercury::MercuryOptions;

pub use error::{ConfigError, ConfigOption};

/// Webex's U2C service catalog, the default discovery URL.
pub const DEFAULT_DISCOVERY_URL: &str = "https://u2c.wbx2.com/u2c/api/v1";
/// Webex's public API base, used until the catalog names `hydra`.
pub const DEFAULT_HYDRA_URL: &str = "https://webexapis.com/v1";
/// Webex's OAuth token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://webexapis.com/v1/access_token";
/// The device name used unless one is set: keep it stable per app, since
/// devices are reused and reclaimed by name.
pub const DEFAULT_DEVICE_NAME: &str = "webex-rs";

/// How `Webex::init` is configured; build one with [`WebexConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use webex_meetings::{Credentials, WebexConfig};
///
/// let config = WebexConfig::builder(Credentials::access_token("tok_PF84_org"))
///     .discovery_url("http://127.0.0.1:8080/u2c/api/v1")
///     .device_name("my-bot")
///     .ephemeral_ttl(Some(Duration::from_secs(1800)))
///     .build()?;
/// assert_eq!(config.device_name(), "my-bot");
/// # Ok::<(), webex_meetings::Error>(())
/// ```
#[derive(Clone)]
pub struct WebexConfig {
    pub(crate) credentials: Credentials,
    pub(crate) discovery_url: Url,
    pub(crate) self_hosted: bool,
    pub(crate) hydra_url: String,
    pub(crate) token_url: Option<String>,
    pub(crate) device_name: String,
    pub(crate) ephemeral_ttl: Option<Duration>,
    pub(crate) timeouts: Timeouts,
    pub(crate) retry: RetryPolicy,
    pub(crate) http: reqwest::Client,
    pub(crate) mercury: MercuryOptions,
    pub(crate) device_store: Arc<dyn DeviceStore>,
    /// `spark-user-agent`.
    pub(crate) user_agent: String,
    /// `User-Agent`.
    pub(crate) http_user_agent: String,
    pub(crate) meeting_preferences: bool,
    pub(crate) meeting_options: crate::MeetingOptions,
}

impl WebexConfig {
    /// A builder with Webex's cloud as the default target.
    pub fn builder(credentials: Credentials) -> WebexConfigBuilder {
        WebexConfigBuilder {
            credentials,
            discovery_url: None,
            token_url: None,
            device_name: DEFAULT_DEVICE_NAME.into(),
            ephemeral_ttl: Some(Duration::from_secs(1800)),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            http: None,
            proxy: None,
            mercury: MercuryOptions::default(),
            device_store: None,
            app: None,
            meeting_preferences: true,
            root_certificates: Vec::new(),
            meeting_options: crate::MeetingOptions::default(),
        }
    }

    /// The U2C discovery URL.
    pub fn discovery_url(&self) -> &Url {
        &self.discovery_url
    }

    /// The device name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The step and request timeouts.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }
}

impl fmt::Debug for WebexConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebexConfig")
            .field("credentials", &self.credentials)
            .field("discovery_url", &self.discovery_url.as_str())
            .field("device_name", &self.device_name)
            .field("ephemeral_ttl", &self.ephemeral_ttl)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// Builder for [`WebexConfig`]; see there for an example.
#[must_use]
pub struct WebexConfigBuilder {
    credentials: Credentials,
    discovery_url: Option<String>,
    token_url: Option<String>,
    device_name: String,
    ephemeral_ttl: Option<Duration>,
    timeouts: Timeouts,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    proxy: Option<String>,
    mercury: MercuryOptions,
    device_store: Option<Arc<dyn DeviceStore>>,
    app: Option<(String, String)>,
    meeting_preferences: bool,
    root_certificates: Vec<Vec<u8>>,
    pub(crate) meeting_options: crate::MeetingOptions,
}

impl WebexConfigBuilder {
    /// Points the SDK at a self-hosted server's U2C, e.g.
    /// `http://127.0.0.1:8080/u2c/api/v1`. Its `hydra` then also serves the
    /// OAuth token endpoint (`<hydra>/access_token`) and guest `jwt/login`.
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.discovery_url = Some(url.into());
        self
    }

    /// Overrides the OAuth token endpoint.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The WDM device name. Keep it stable per app: stored devices are reused
    /// by name, and only devices with this name are ever reclaimed.
    pub fn device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = name.into();
        self
    }

    /// Registers an ephemeral device that expires `ttl` after its last
    /// refresh (refreshed while registered); `None` for a persistent device.
    /// Default: 1800 s.
    pub fn ephemeral_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ephemeral_ttl = ttl;
        self
    }

    /// Step and request timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Retry policy for 429/503 and transient failures.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Uses the app's own HTTP client (its proxy, TLS roots, pool). The
    /// client's timeouts are overridden per request by [`Timeouts::request`].
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Trusts `pem` (one or more PEM certificates) besides Webex's public
    /// roots, for HTTPS and for the Mercury websocket: a self-hosted server
    /// with a private CA or a test certificate. With
    /// [`WebexConfigBuilder::http_client`], add it to that client yourself;
    /// Mercury still trusts it. A value that is not PEM fails `build()`.
    ///
    /// ```no_run
    /// # use webex_meetings::{Credentials, WebexConfig};
    /// let pem = std::fs::read("/etc/webex/ca.pem")?;
    /// let config = WebexConfig::builder(Credentials::access_token("<token>"))
    ///     .discovery_url("https://webex.internal:8443/u2c/api/v1")
    ///     .add_root_certificate(pem)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// One proxy for HTTP and the Mercury websocket. Without it, `HTTPS_PROXY`
    /// (or `https_proxy`) is honoured for both.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Mercury keepalive, backoff and handshake options.
    pub fn mercury_options(mut self, options: MercuryOptions) -> Self {
        self.mercury = options;
        self
    }

    /// Where the registered device is remembered between runs. Default: in
    /// memory; use [`crate::FileDeviceStore`] to survive restarts.
    pub fn device_store(mut self, store: impl DeviceStore) -> Self {
        self.device_store = Some(Arc::new(store));
        self
    }

    /// Adds `<name>/<version>` to `spark-user-agent`.
    pub fn app(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.app = Some((name.into(), version.into()));
        self
    }

    /// Whether `register()` reads `meetingPreferences` (a warning on failure).
    /// Default: true.
    pub fn meeting_preferences(mut self, enabled: bool) -> Self {
        self.meeting_preferences = enabled;
        self
    }

    /// Validates the options. Does no I/O. A refused option is a
    /// [`ConfigError`] naming it (it converts into [`crate::Error::Config`],
    /// so `?` works in functions returning [`crate::Error`]).
    ///
    /// ```
    /// use webex_meetings::{ConfigOption, Credentials, WebexConfig};
    ///
    /// let built = WebexConfig::builder(Credentials::access_token("<token>"))
    ///     .discovery_url("ftp://example.com")
    ///     .build();
    /// assert!(matches!(built, Err(e) if e.option() == ConfigOption::DiscoveryUrl));
    /// ```
    pub fn build(self) -> Result<WebexConfig, ConfigError> {
        let self_hosted = self.discovery_url.is_some();
        let discovery = self
            .discovery_url
            .as_deref()
            .unwrap_or(DEFAULT_DISCOVERY_URL)
            .trim_end_matches('/');
        let discovery_url = parse_http_url(ConfigOption::DiscoveryUrl, discovery)?;
        let hydra_url = if self_hosted {
            hydra_of(&discovery_url)
        } else {
            DEFAULT_HYDRA_URL.to_owned()
        };
        if let Some(t) = &self.token_url {
            parse_http_url(ConfigOption::TokenUrl, t)?;
        }
        if self.device_name.trim().is_empty() {
            return Err(ConfigError::EmptyDeviceName);
        }
        let proxy = match self.proxy {
            Some(p) => Some(parse_http_url(ConfigOption::Proxy, &p)?),
            None => env_proxy(),
        };
        let roots = root_certificates(&self.root_certificates)?;
        let http = match self.http {
            Some(client) => client,
            None => default_http_client(self.timeouts.request, proxy.as_ref(), &roots)?,
        };
        let mut mercury = self.mercury;
        mercury
            .root_certificates
            .extend(roots.iter().map(|(der, _)| der.clone()));
        if mercury.proxy.is_none() {
            mercury.proxy = proxy;
        }
        mercury.multiple_connections = self.ephemeral_ttl.is_some();
        let user_agent = user_agent(self.app.as_ref());
        let http_user_agent = http_user_agent(self.app.as_ref());
        Ok(WebexConfig {
            credentials: self.credentials,
            discovery_url,
            self_hosted,
            hydra_url,
            token_url: self.token_url,
            device_name: self.device_name,
            ephemeral_ttl: self.ephemeral_ttl,
            timeouts: self.timeouts,
            retry: self.retry,
            http,
            mercury,
            device_store: self
                .device_store
                .unwrap_or_else(|| Arc::new(MemoryDeviceStore::default())),
            user_agent,
            http_user_agent,
            meeting_preferences: self.meeting_preferences,
            meeting_options: self.meeting_options,
        })
    }
}

/// Each PEM certificate of `pems`, as DER and as a reqwest certificate.
fn root_certificates(
    pems: &[Vec<u8>],
) -> Result<Vec<(Vec<u8>, reqwest::Certificate)>, ConfigError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut out = Vec::new();
    for pem in pems {
        let mut found = 0;
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| ConfigError::InvalidCertificate {
                reason: e.to_string(),
            })?;
            let cert = reqwest::Certificate::from_der(&der).map_err(|e| {
                ConfigError::InvalidCertificate {
                    reason: e.to_string(),
                }
            })?;
            out.push((der.to_vec(), cert));
            found += 1;
        }
        if found == 0 {
            return Err(ConfigError::InvalidCertificate {
                reason: "no `BEGIN CERTIFICATE` block".into(),
            });
        }
    }
    Ok(out)
}

/// The HTTP client used unless the app brings its own: one client per SDK
/// instance, so every request of a registration shares its keep-alive
/// connections.
fn default_http_client(
    connect_timeout: Duration,
    proxy: Option<&Url>,
    roots: &[(Vec<u8>, reqwest::Certificate)],
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::limited(10));
    for (_, cert) in roots {
        builder = builder.add_root_certificate(cert.clone());
    }
    if let Some(p) = proxy {
        let proxy = reqwest::Proxy::all(p.as_str()).map_err(|e| ConfigError::ProxyRejected {
            reason: e.without_url().to_string(),
        })?;
        builder = builder.proxy(proxy);
    }
    builder.build().map_err(|e| ConfigError::HttpClient {
        reason: e.without_url().to_string(),
    })
}

/// `spark-user-agent`, in the official clients' format
/// `webex/<version> (<platform>)[ <app>/<version>]`: the platform is
/// `rust`, and this SDK names itself (`webex-rs/<version>`) before the
/// app, so services that read the format can, and nobody mistakes it for
/// the JavaScript SDK.
fn user_agent(app: Option<&(String, String)>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut user_agent = format!("webex/{version} (rust) webex-rs/{version}");
    if let Some((name, version)) = app {
        user_agent.push_str(&format!(" {name}/{version}"));
    }
    user_agent
}

/// `User-Agent`: the app's `<name>/<version>` if set, then this SDK (the
/// official SDK in Node sends the app's, or its HTTP library's).
fn http_user_agent(app: Option<&(String, String)>) -> String {
    let sdk = format!("webex-rs/{}", env!("CARGO_PKG_VERSION"));
    match app {
        Some((name, version)) => format!("{name}/{version} {sdk}"),
        None => sdk,
    }
}

/// Parses `s` as an http(s) URL; errors name `option` and show `s` without
/// its credentials (a proxy URL may carry a password).
fn parse_http_url(option: ConfigOption, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s).map_err(|e| ConfigError::InvalidUrl {
        option,
        url: without_userinfo(s),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::UnsupportedScheme {
            option,
            url: without_userinfo(s),
            scheme: url.scheme().to_owned(),
        });
    }
    Ok(url)
}

/// `s` with any `user:password@` replaced by `***@`; works on strings that
/// do not parse as URLs too, since those are the ones error messages show.
fn without_userinfo(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return s.to_owned();
    };
    let rest = &s[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}://***@{}", &s[..scheme_end], &rest[at + 1..]),
        None => s.to_owned(),
    }
}

/// The API base of a self-hosted server: `<base>/u2c/api/v1` → `<base>/v1`.
fn hydra_of(discovery: &Url) -> String {
    let s = discovery.as_str().trim_end_matches('/');
    match s.strip_suffix("/u2c/api/v1") {
        Some(base) => format!("{base}/v1"),
        None => format!("{}/v1", discovery.origin().ascii_serialization()),
    }
}

fn env_proxy() -> Option<Url> {
    ["HTTPS_PROXY", "https_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .filter(|v| !v.is_empty())
        .and_then(|v| Url::parse(&v).ok())
}

/// Per-step timeouts of `register()`/`unregister()`, and the per-request
/// timeout. Every step fails with a named error when its timeout passes.
///
/// ```
/// use std::time::Duration;
/// let t = webex_meetings::Timeouts { catalog: Duration::from_secs(5), ..Default::default() };
/// assert_eq!(t.catalog, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Obtaining a token (guest JWT exchange). Default 15 s.
    pub credentials: Duration,
    /// Limited and authenticated catalog. Default 15 s.
    pub catalog: Duration,
    /// `people/me` (and `meetingPreferences`). Default 15 s.
    pub people: Duration,
    /// Device PUT/POST, including reclaiming old devices. Default 30 s.
    pub device: Duration,
    /// Mercury connect until `buffer_state`. Default 30 s.
    pub mercury: Duration,
    /// The whole of `unregister()`. Default 15 s.
    pub unregister: Duration,
    /// One HTTP request (connect to last byte). Default 20 s.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            credentials: Duration::from_secs(15),
            catalog: Duration::from_secs(15),
            people: Duration::from_secs(15),
            device: Duration::from_secs(30),
            mercury: Duration::from_secs(30),
            unregister: Duration::from_secs(15),
            request: Duration::from_secs(20),
        }
    }
}

/// Bounded retries: 429 and 503 wait for `Retry-After` (parsed defensively,
/// capped); other 5xx and network failures on idempotent requests back off
/// exponentially with jitter.
///
/// ```
/// use std::time::Duration;
/// let policy = webex_meetings::RetryPolicy { max_retries: 1, ..Default::default() };
/// assert!(policy.max_retry_after >= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 3.
    pub max_retries: u32,
    /// Wait when `Retry-After` is missing or unparseable. Default 10 s.
    pub default_retry_after: Duration,
    /// Longest wait honoured. Default 60 s.
    pub max_retry_after: Duration,
    /// First backoff delay. Default 500 ms.
    pub backoff_initial: Duration,
    /// Largest backoff delay. Default 8 s.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            default_retry_after: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt + 1`: exponential, capped, with
    /// jitter in its upper half.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .backoff_initial
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.backoff_max);
        let half = exp / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn self_hosted_hydra_is_derived_from_discovery() {
        let c = WebexConfig::builder(Credentials::access_token("a_b_c"))
            .discovery_url("http://127.0.0.1:9/u2c/api/v1/")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.hydra_url, "http://127.0.0.1:9/v1");
        assert!(c.self_hosted);
        let d = WebexConfig::builder(Credentials::access_token("a_b_c"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.discovery_url.as_str(), DEFAULT_DISCOVERY_URL);
        assert_eq!(d.hydra_url, DEFAULT_HYDRA_URL);
    }

    fn build_error(builder: WebexConfigBuilder) -> ConfigError {
        match builder.build() {
            Ok(c) => panic!("expected a config error, built {c:?}"),
            Err(e) => e,
        }
    }

    fn builder() -> WebexConfigBuilder {
        WebexConfig::builder(Credentials::access_token("a_b_c"))
    }

    #[test]
    fn each_bad_option_is_named() {
        let e = build_error(builder().discovery_url("ftp://x"));
        assert_eq!(e.option(), ConfigOption::DiscoveryUrl);
        assert!(
            matches!(&e, ConfigError::UnsupportedScheme { scheme, .. } if scheme == "ftp"),
            "{e:?}"
        );

        let e = build_error(builder().token_url("not a url"));
        assert_eq!(e.option(), ConfigOption::TokenUrl);
        assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e:?}");
        assert!(e.to_string().starts_with("token_url `not a url`"), "{e}");

        let e = build_error(builder().device_name("  "));
        assert_eq!(e, ConfigError::EmptyDeviceName);
        assert_eq!(e.option(), ConfigOption::DeviceName);

        let e = build_error(builder().proxy("socks9://proxy:1080"));
        assert_eq!(e.option(), ConfigOption::Proxy);
        assert!(matches!(e, ConfigError::UnsupportedScheme { .. }), "{e:?}");

        // `Error` wraps it, and it is never retryable.
        let e = Error::from(ConfigError::EmptyDeviceName);
        assert!(matches!(e, Error::Config(ConfigError::EmptyDeviceName)));
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "invalid configuration: device_name must not be empty"
        );
    }

    /// Regression: a rejected proxy URL used to be echoed, password included.
    #[test]
    fn proxy_errors_do_not_show_the_password() {
        for proxy in [
            "socks5://me:s3cret@proxy:1080",
            "http://me:s3cret@[::1",
            "ftp://me:s3cret@p",
        ] {
            let e = build_error(builder().proxy(proxy));
            assert_eq!(e.option(), ConfigOption::Proxy, "{proxy}");
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("s3cret"), "{shown}");
            }
        }
        assert_eq!(without_userinfo("http://a:b@h:1/p@x"), "http://***@h:1/p@x");
        assert_eq!(without_userinfo("http://h:1/p@x"), "http://h:1/p@x");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            let d = p.backoff(attempt);
            assert!(d <= p.backoff_max);
        }
    }
}
