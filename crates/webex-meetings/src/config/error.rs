//! [`ConfigError`]: why a configuration was refused.

use std::fmt;

/// A [`WebexConfigBuilder`](super::WebexConfigBuilder) option, as named by [`ConfigError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigOption {
    /// [`WebexConfigBuilder::discovery_url`](super::WebexConfigBuilder::discovery_url).
    DiscoveryUrl,
    /// [`WebexConfigBuilder::token_url`](super::WebexConfigBuilder::token_url).
    TokenUrl,
    /// [`WebexConfigBuilder::proxy`](super::WebexConfigBuilder::proxy) (or `HTTPS_PROXY`).
    Proxy,
    /// [`WebexConfigBuilder::device_name`](super::WebexConfigBuilder::device_name).
    DeviceName,
    /// [`WebexConfigBuilder::http_client`](super::WebexConfigBuilder::http_client) (the default client, when none was given).
    HttpClient,
    /// [`WebexConfigBuilder::add_root_certificate`](super::WebexConfigBuilder::add_root_certificate).
    RootCertificate,
    /// The credentials given to [`WebexConfig::builder`](super::WebexConfig::builder)
    /// (from `WEBEX_ACCESS_TOKEN` with [`WebexConfig::from_env`](super::WebexConfig::from_env)).
    Credentials,
}

impl ConfigOption {
    /// The builder method that sets the option, e.g. `"discovery_url"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiscoveryUrl => "discovery_url",
            Self::TokenUrl => "token_url",
            Self::Proxy => "proxy",
            Self::DeviceName => "device_name",
            Self::HttpClient => "http_client",
            Self::RootCertificate => "add_root_certificate",
            Self::Credentials => "credentials",
        }
    }
}

impl fmt::Display for ConfigOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`WebexConfigBuilder::build`](super::WebexConfigBuilder::build) refused the options: which option, and
/// what is wrong with it. Never retryable; the messages never show a
/// password (URLs are shown with `user:password@` replaced by `***@`).
///
/// ```
/// use webex_meetings::{ConfigError, ConfigOption, Credentials, Error, WebexConfig};
///
/// let config = WebexConfig::builder(Credentials::access_token("<token>"))
///     .discovery_url("ftp://u2c.example/u2c/api/v1")
///     .build()
///     .unwrap_err();
/// assert_eq!(config.option(), ConfigOption::DiscoveryUrl);
/// assert!(matches!(&config, ConfigError::UnsupportedScheme { scheme, .. } if scheme == "ftp"));
/// let e = Error::from(config);
/// assert!(!e.is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL option does not parse as a URL.
    #[error("{option} `{url}` is not a valid URL ({reason}); use http://host[:port]/…")]
    InvalidUrl {
        /// The option.
        option: ConfigOption,
        /// The value given, with any `user:password@` replaced by `***@`.
        url: String,
        /// What the URL parser objected to.
        reason: String,
    },
    /// A URL option is not `http://` or `https://`.
    #[error("{option} `{url}` must be an http:// or https:// URL, not {scheme}://")]
    UnsupportedScheme {
        /// The option.
        option: ConfigOption,
        /// The value given, with any `user:password@` replaced by `***@`.
        url: String,
        /// The scheme given.
        scheme: String,
    },
    /// The device name is empty or only whitespace.
    #[error("device_name must not be empty")]
    EmptyDeviceName,
    /// The HTTP client does not accept the proxy URL.
    #[error("proxy URL rejected by the HTTP client: {reason}")]
    ProxyRejected {
        /// The HTTP client's reason (without the URL).
        reason: String,
    },
    /// A root certificate given to `add_root_certificate` is not PEM.
    #[error("add_root_certificate: not a PEM certificate ({reason})")]
    InvalidCertificate {
        /// What is wrong with it.
        reason: String,
    },
    /// The default HTTP client could not be built (e.g. no TLS roots).
    #[error("building the HTTP client failed: {reason}; pass your own with `http_client`")]
    HttpClient {
        /// The HTTP client's reason.
        reason: String,
    },
    /// [`WebexConfig::from_env`](super::WebexConfig::from_env): a required
    /// variable is unset or empty.
    #[error("set {variable}: it is required (e.g. an access token from `webex token create`)")]
    MissingEnvironment {
        /// The variable, e.g. `WEBEX_ACCESS_TOKEN`.
        variable: &'static str,
    },
}

impl ConfigError {
    /// The option that is wrong.
    pub fn option(&self) -> ConfigOption {
        match self {
            Self::InvalidUrl { option, .. } | Self::UnsupportedScheme { option, .. } => *option,
            Self::EmptyDeviceName => ConfigOption::DeviceName,
            Self::ProxyRejected { .. } => ConfigOption::Proxy,
            Self::HttpClient { .. } => ConfigOption::HttpClient,
            Self::InvalidCertificate { .. } => ConfigOption::RootCertificate,
            Self::MissingEnvironment { .. } => ConfigOption::Credentials,
        }
    }
}
