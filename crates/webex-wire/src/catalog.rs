//! U2C service catalog in the `format=hostmap` shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Well-known service names found in `serviceLinks`.
pub mod services {
    /// Device registry (WDM). Required for registration.
    pub const WDM: &str = "wdm";
    /// The public REST API (`people/me`, `meetingPreferences`, `jwt/login`).
    pub const HYDRA: &str = "hydra";
    /// Meeting state (`loci`).
    pub const LOCUS: &str = "locus";
    /// Client metrics sink.
    pub const METRICS: &str = "metrics";
    /// Media reachability clusters.
    pub const CALLIOPE_DISCOVERY: &str = "calliopeDiscovery";
    /// Conversation service (`users` preferences).
    pub const CONVERSATION: &str = "conversation";
    /// Client log uploads (`logs/urls`, `logs/meta`) after meetings.
    pub const CLIENT_LOGS: &str = "clientLogs";
    /// Meeting information (`meetingInfo`).
    pub const APPAPI: &str = "webex-appapi-service";
    /// Identity broker (OAuth token endpoint base).
    pub const IDBROKER: &str = "idbroker";
    /// Identity service.
    pub const IDENTITY: &str = "identity";
    /// Service catalog itself.
    pub const U2C: &str = "u2c";
}

/// A catalog answer from `GET {u2c}/limited/catalog` or `GET {u2c}/catalog`
/// with `format=hostmap`.
///
/// ```
/// use webex_wire::catalog::Catalog;
///
/// let json = r#"{"serviceLinks":{"wdm":"http://127.0.0.1:8080/wdm/api/v1"},"hostCatalog":{}}"#;
/// let catalog: Catalog = serde_json::from_str(json)?;
/// assert_eq!(catalog.service("wdm"), Some("http://127.0.0.1:8080/wdm/api/v1"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    /// Service name → base URL (no trailing slash).
    pub service_links: BTreeMap<String, String>,
    /// Host → alternate hosts. May be empty; entry hosts never carry a port.
    #[serde(default)]
    pub host_catalog: BTreeMap<String, Vec<HostEntry>>,
    /// The format of this answer; `"hostmap"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl Catalog {
    /// Base URL of the named service, if the catalog lists it.
    pub fn service(&self, name: &str) -> Option<&str> {
        self.service_links.get(name).map(String::as_str)
    }
}

/// One alternate host of a `hostCatalog` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    /// Host name without port.
    pub host: String,
    /// Seconds this entry stays valid; `-1` for forever.
    pub ttl: i64,
    /// Lower wins.
    pub priority: i64,
    /// `urn:TEAM:<cluster>:<service>`.
    pub id: String,
}
