//! Errors: one [`Error`] for the whole crate, with [`AuthError`] for
//! credential problems and [`RegisterError`] naming the `register()` step
//! that failed.
//!
//! Every error says whether trying again may help ([`Error::is_retryable`]).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::config::ConfigError;
use crate::mercury::MercuryError;

/// Anything that can go wrong in this crate.
///
/// ```
/// use webex_meetings::{AuthError, Error};
///
/// let e = Error::Auth(AuthError::TokenExpired);
/// assert!(!e.is_retryable());
/// assert_eq!(e.auth(), Some(&AuthError::TokenExpired));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credentials cannot produce a usable access token.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A `register()` step failed; the variant names the step.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// The user already owns as many devices as the server allows, and none of
    /// them could be reclaimed (only this app's own devices ever are).
    #[error(
        "device limit reached: {count} devices registered, the limit is {limit}; delete unused devices"
    )]
    DeviceLimitExceeded {
        /// Devices the user owns.
        count: u64,
        /// The server's limit (as reported, else the number of devices seen).
        limit: u64,
    },
    /// The server answered with an error status.
    #[error(transparent)]
    Http(Box<HttpError>),
    /// The request never got an answer (DNS, TCP, TLS, proxy, broken connection).
    #[error("network error calling {url}: {message}")]
    Network {
        /// The URL called (no query string).
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer within the request timeout.
    #[error("no answer from {url} within {after:?}")]
    Timeout {
        /// The URL called (no query string).
        url: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The server answered 2xx with a body this crate cannot understand.
    #[error("unexpected answer from {url}: {message}")]
    InvalidResponse {
        /// The URL called (no query string).
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// A URL from an answer (a Locus, a redirect, a device) is on a host
    /// that neither the service catalog names nor an allowed domain covers:
    /// the request was not sent, so the access token never reached it.
    /// Retrying does not help; the server named a host it should not have.
    #[error(
        "refused to send the access token to {url}: its host is not in the service catalog or an allowed domain"
    )]
    UntrustedHost {
        /// The URL refused (no query string).
        url: String,
    },
    /// The server kept redirecting (`cisco-location` or Locus `2000002`)
    /// past the hop limit. Retrying later may help once the service has
    /// settled where the resource lives.
    #[error("{url}: still redirected after {hops} hops; gave up")]
    TooManyRedirects {
        /// The URL first asked (no query string).
        url: String,
        /// The redirects followed.
        hops: u32,
    },
    /// The device store failed to read or write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is not usable; the [`ConfigError`] names the option.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// `Meetings::on` was given a name that no event carries (a typo such
    /// as `meetings:registerd`); the message lists the known names.
    #[error(
        "no event is named `{name}`; known events: {}",
        crate::events::known_names()
    )]
    UnknownEvent {
        /// The name given.
        name: String,
    },
    /// `Meetings::on` was given the name of an event that each `Meeting`
    /// emits (`members:update`, `meeting:stateChange`,
    /// `meeting:self:left`), as in the official SDK: subscribing there would
    /// never fire.
    #[error(
        "`{name}` is emitted by each Meeting, not by Meetings: subscribe with \
         meeting.on(\"{name}\", …) on the meetings that `meeting:added` announces"
    )]
    MeetingEventOnMeetings {
        /// The name given.
        name: String,
    },
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        Self::Http(Box::new(e))
    }
}

impl Error {
    /// Whether trying the same operation again later may succeed.
    ///
    /// ```
    /// # use webex_meetings::Error;
    /// let e = Error::Network { url: "https://u2c.wbx2.com".into(), message: "reset".into() };
    /// assert!(e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Auth(e) => e.is_retryable(),
            Self::Register(e) => e.is_retryable(),
            Self::DeviceLimitExceeded { .. }
            | Self::InvalidResponse { .. }
            | Self::UntrustedHost { .. }
            | Self::Config(_)
            | Self::UnknownEvent { .. }
            | Self::MeetingEventOnMeetings { .. } => false,
            Self::Http(e) => e.is_retryable(),
            Self::Network { .. } | Self::Timeout { .. } | Self::TooManyRedirects { .. } => true,
            Self::Store(e) => e.is_retryable(),
        }
    }

    /// The authentication problem behind this error, however deeply wrapped.
    pub fn auth(&self) -> Option<&AuthError> {
        match self {
            Self::Auth(e) => Some(e),
            Self::Register(r) => r.source_error().and_then(Error::auth),
            _ => None,
        }
    }

    /// The `register()` step that failed, if this came from `register()`.
    pub fn step(&self) -> Option<Step> {
        match self {
            Self::Register(r) => Some(r.step()),
            _ => None,
        }
    }

    /// The HTTP status behind this error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http(e) => Some(e.status),
            Self::Register(r) => r.source_error().and_then(Error::status),
            _ => None,
        }
    }
}

/// Why no usable access token is available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were configured (empty token, no provider).
    #[error(
        "no credentials: configure an access token, OAuth tokens, a guest JWT or a token provider"
    )]
    NoCredentials,
    /// The server does not accept the access token (unknown, malformed, revoked).
    #[error("the access token is not valid: {reason}")]
    TokenInvalid {
        /// The server's explanation.
        reason: String,
    },
    /// The access token expired and cannot be refreshed (no refresh token).
    #[error("the access token has expired and there is no way to refresh it")]
    TokenExpired,
    /// The refresh token expired or was rejected (`invalid_grant`).
    #[error("the refresh token has expired or was revoked; sign in again")]
    RefreshTokenExpired,
    /// The token endpoint rejected the refresh for another reason
    /// (`invalid_client`, `unauthorized_client`, …).
    #[error("the token endpoint rejected the refresh: {error}")]
    RefreshRejected {
        /// The OAuth error code.
        error: String,
    },
    /// The token is valid but lacks a scope the call needs.
    #[error("the access token lacks a required scope: {0}")]
    MissingScope(String),
    /// The refresh could not reach the token endpoint (or a token provider
    /// failed transiently).
    #[error("refreshing the access token failed: {0}")]
    RefreshFailed(String),
}

impl AuthError {
    /// Whether trying again later may help (only transient refresh failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RefreshFailed(_))
    }
}

/// A `register()` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Obtaining an access token (guest JWT exchange, refresh).
    Credentials,
    /// U2C service catalog (limited, then authenticated).
    Catalog,
    /// `GET {hydra}/people/me`.
    PeopleMe,
    /// WDM device registration (PUT the stored device, or POST).
    Device,
    /// Mercury websocket connect, authorization and `buffer_state`.
    Mercury,
}

impl Step {
    /// A short lower-case name, e.g. `"catalog"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Catalog => "catalog",
            Self::PeopleMe => "people/me",
            Self::Device => "device",
            Self::Mercury => "mercury",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which `register()` step failed, and why.
///
/// Authentication problems and the device quota are reported as
/// [`Error::Auth`] and [`Error::DeviceLimitExceeded`] whatever step hit them,
/// since the remedy does not depend on the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Obtaining an access token failed for a reason other than the
    /// credentials themselves (e.g. the guest JWT exchange was unreachable).
    #[error("register failed at the credentials step: {0}")]
    Credentials(#[source] Box<Error>),
    /// The service catalog could not be fetched, or lacks `wdm`.
    #[error("register failed at the catalog step: {0}")]
    Catalog(#[source] Box<Error>),
    /// `people/me` failed in a way that is not just a missing scope.
    #[error("register failed at the people/me step: {0}")]
    PeopleMe(#[source] Box<Error>),
    /// The device could not be registered.
    #[error("register failed at the device step: {0}")]
    Device(#[source] Box<Error>),
    /// The Mercury websocket could not be opened or authenticated; the
    /// [`MercuryError`] says why, and whether retrying may help
    /// ([`MercuryError::is_retryable`]).
    #[error("register failed at the mercury step: {0}")]
    Mercury(#[source] MercuryError),
    /// A step did not finish within its timeout.
    #[error("register timed out at the {step} step after {after:?}")]
    Timeout {
        /// The step that did not finish.
        step: Step,
        /// Its timeout.
        after: Duration,
    },
}

impl RegisterError {
    /// The step that failed.
    pub fn step(&self) -> Step {
        match self {
            Self::Credentials(_) => Step::Credentials,
            Self::Catalog(_) => Step::Catalog,
            Self::PeopleMe(_) => Step::PeopleMe,
            Self::Device(_) => Step::Device,
            Self::Mercury(_) => Step::Mercury,
            Self::Timeout { step, .. } => *step,
        }
    }

    /// Whether calling `register()` again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Credentials(e) | Self::Catalog(e) | Self::PeopleMe(e) | Self::Device(e) => {
                e.is_retryable()
            }
            Self::Mercury(e) => e.is_retryable(),
            Self::Timeout { .. } => true,
        }
    }

    fn source_error(&self) -> Option<&Error> {
        match self {
            Self::Credentials(e) | Self::Catalog(e) | Self::PeopleMe(e) | Self::Device(e) => {
                Some(e)
            }
            Self::Mercury(_) | Self::Timeout { .. } => None,
        }
    }

    /// Wraps `error` as a failure of `step`, keeping auth and quota errors
    /// (and errors that already name their step) at the top level.
    pub(crate) fn wrap(step: CallStep, error: Error) -> Error {
        match error {
            e @ (Error::Auth(_) | Error::DeviceLimitExceeded { .. } | Error::Register(_)) => e,
            e => Error::Register(match step {
                CallStep::Credentials => Self::Credentials(Box::new(e)),
                CallStep::Catalog => Self::Catalog(Box::new(e)),
                CallStep::PeopleMe => Self::PeopleMe(Box::new(e)),
                CallStep::Device => Self::Device(Box::new(e)),
            }),
        }
    }

    /// Runs `fut` as `step`: bounded by `limit`, errors tagged with the step.
    pub(crate) async fn bounded<T>(
        step: CallStep,
        limit: Duration,
        fut: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(limit, fut).await {
            Ok(result) => result.map_err(|e| Self::wrap(step, e)),
            Err(_) => Err(Self::Timeout {
                step: step.into(),
                after: limit,
            }
            .into()),
        }
    }
}

/// A `register()` step made of HTTP calls: its failure wraps the crate's
/// [`Error`]. The Mercury step is not one: it fails with the typed
/// [`MercuryError`] ([`RegisterError::Mercury`]), never a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallStep {
    Credentials,
    Catalog,
    PeopleMe,
    Device,
}

impl From<CallStep> for Step {
    fn from(step: CallStep) -> Self {
        match step {
            CallStep::Credentials => Self::Credentials,
            CallStep::Catalog => Self::Catalog,
            CallStep::PeopleMe => Self::PeopleMe,
            CallStep::Device => Self::Device,
        }
    }
}

/// An error status from the server, with the Webex error body's details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {url} answered {status}: {message} (trackingid {tracking_id})")]
#[non_exhaustive]
pub struct HttpError {
    /// HTTP method.
    pub method: String,
    /// The URL called (no query string).
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// The body's machine-readable `code` (empty when absent).
    pub code: String,
    /// The body's `message` (or the status text).
    pub message: String,
    /// All `errors[].description` entries.
    pub details: Vec<String>,
    /// The tracking id the request carried.
    pub tracking_id: String,
    /// The parsed `Retry-After`, for 429 and 503.
    pub retry_after: Option<Duration>,
}

impl HttpError {
    /// Whether retrying later may help (429, 408 and 5xx).
    pub fn is_retryable(&self) -> bool {
        self.status == 429 || self.status == 408 || self.status >= 500
    }
}

/// A device store failure, and whether trying again may help.
///
/// ```
/// use webex_meetings::StoreError;
///
/// assert!(StoreError::Unavailable("database restarting".into()).is_retryable());
/// assert!(!StoreError::Corrupt("devices.json: expected value at line 1".into()).is_retryable());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be read or written (I/O error, backend down);
    /// it may work later.
    #[error("device store unavailable: {0}")]
    Unavailable(String),
    /// The store holds data that cannot be read back (e.g. a corrupt device
    /// file). Retrying does not help until it is repaired or removed.
    #[error("device store is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether trying again later may help (not for corrupt data).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Data that does not (de)serialize is corrupt, not a passing failure.
impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}
