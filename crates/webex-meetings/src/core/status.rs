//! What `register()` reports, and the structured registration status.

use webex_wire::device::Device;
use webex_wire::people::Person;

use crate::error::Step;

/// Something that went wrong in an optional step; registration went on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The token lacks a scope an optional call needs (e.g. `spark:people_read`).
    MissingScope {
        /// The call that needed it.
        call: &'static str,
        /// The server's explanation.
        reason: String,
    },
    /// `people/me` failed; the stored device is then filed without a user id.
    PeopleMeUnavailable {
        /// Why.
        reason: String,
    },
    /// `meetingPreferences` failed; no default site is known.
    MeetingPreferencesUnavailable {
        /// Why.
        reason: String,
    },
    /// The device store could not be read or written.
    DeviceStore {
        /// Why.
        reason: String,
    },
    /// A warm start registered with the remembered catalog, but refreshing
    /// the catalog failed; the next `register()` tries again.
    CatalogRefreshFailed {
        /// Why.
        reason: String,
    },
    /// The device quota was full; this app's own oldest devices were deleted.
    DevicesReclaimed {
        /// URLs of the deleted devices.
        urls: Vec<String>,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingScope { call, reason } => {
                write!(f, "{call}: the token lacks a scope ({reason})")
            }
            Self::PeopleMeUnavailable { reason } => write!(f, "people/me unavailable: {reason}"),
            Self::MeetingPreferencesUnavailable { reason } => {
                write!(f, "meetingPreferences unavailable: {reason}")
            }
            Self::DeviceStore { reason } => write!(f, "device store: {reason}"),
            Self::CatalogRefreshFailed { reason } => {
                write!(f, "service catalog not refreshed: {reason}")
            }
            Self::DevicesReclaimed { urls } => write!(
                f,
                "device quota was full; deleted {} of this app's oldest devices",
                urls.len()
            ),
        }
    }
}

/// The outcome of a successful `register()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistrationReport {
    /// The registered device.
    pub device: Device,
    /// Whether a stored device was refreshed (PUT) instead of created.
    pub reused_device: bool,
    /// The user, when `people/me` answered.
    pub person: Option<Person>,
    /// The user's default Webex site, from `meetingPreferences`.
    pub default_site: Option<String>,
    /// What degraded without failing the registration.
    pub warnings: Vec<Warning>,
}

/// Where the registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RegistrationState {
    /// Not registered.
    #[default]
    Unregistered,
    /// `register()` is running this step.
    Registering(Step),
    /// Registered: device alive, Mercury connected (or reconnecting).
    Registered,
    /// `unregister()` is running.
    Unregistering,
}

/// A snapshot of the registration, for dashboards and debugging.
///
/// ```
/// # use webex_meetings::{Credentials, Webex, WebexConfig, RegistrationState};
/// # let webex = Webex::init(WebexConfig::builder(Credentials::access_token("a_b_c")).build()?);
/// let status = webex.meetings().status();
/// assert_eq!(status.state, RegistrationState::Unregistered);
/// # Ok::<(), webex_meetings::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RegistrationStatus {
    /// The lifecycle state.
    pub state: RegistrationState,
    /// The device URL while registered.
    pub device_url: Option<String>,
    /// Whether the Mercury socket is up.
    pub connected: bool,
    /// Whether another connection replaced this one (close 4000).
    pub replaced: bool,
    /// Warnings of the last registration.
    pub warnings: Vec<Warning>,
    /// The last failure (register, refresh, socket), as text.
    pub last_error: Option<String>,
}

impl RegistrationStatus {
    /// `register()` succeeded with `report`.
    pub(crate) fn mark_registered(&mut self, report: &RegistrationReport) {
        self.state = RegistrationState::Registered;
        self.connected = true;
        self.replaced = false;
        self.device_url = Some(report.device.url.clone());
        self.warnings = report.warnings.clone();
        self.last_error = None;
    }

    /// No registration is held any more; `error` says why, if it failed.
    pub(crate) fn mark_unregistered(&mut self, error: Option<String>) {
        self.state = RegistrationState::Unregistered;
        self.connected = false;
        self.device_url = None;
        self.last_error = error;
    }
}
