//! The `clientLogs` service: the official SDK uploads its log after every
//! meeting (on leave and on end), in three steps:
//!
//! 1. `POST {clientLogs}/logs/urls` `{file}` (Bearer) → a pending log and a
//!    temporary upload URL (`tempURL`) holding a one-off secret;
//! 2. `PUT {tempURL}` with the log as the body (no `Authorization`: the
//!    secret in the URL is the capability);
//! 3. `POST {clientLogs}/logs/meta` `{filename, data, userId}` (Bearer) →
//!    the log is finalized with the client's metadata.
//!
//! Logs live in the database, so every node behind one URL sees every
//! upload. Each upload is capped ([`ClientLogLimits::max_upload_bytes`],
//! the upload route's own body limit), its metadata too (64 KiB of JSON);
//! a log is finalized once. Content and
//! metadata both count: a person's oldest logs are evicted to keep theirs
//! under [`ClientLogLimits::max_person_bytes`], and the oldest of all to
//! keep the total under [`ClientLogLimits::max_total_bytes`]. The operator lists, downloads and
//! deletes them through `/admin/api/v1/clientLogs` ([`admin`]).

pub mod admin;
mod upload;

use std::time::Duration;

use axum::Router;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::ServerConfig;
use crate::state::AppState;
use crate::store::Millis;
use crate::store::{ClientLogCaps, ClientLogRecord, ClientLogState};

/// Base path of the service, as the catalog names it (`clientLogs`).
pub const BASE: &str = "/clientlogs/api/v1";

/// Bounds on what clients may upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLogLimits {
    /// Largest single upload, in bytes. The official SDK learns it in whole
    /// MiB (`fileUploadSizeLimit`), rounded down, at least 1.
    pub max_upload_bytes: usize,
    /// Most bytes kept over all uploads; the oldest are evicted beyond it.
    /// At least `max_upload_bytes`.
    pub max_total_bytes: u64,
    /// How long a temporary upload URL stays usable; pending uploads older
    /// than this are deleted.
    pub upload_window: Duration,
    /// Pending (not yet uploaded) logs one person may have; older ones are
    /// dropped when a new one starts.
    pub max_pending_per_person: u32,
    /// Most bytes (content and metadata) one person's logs may hold; their
    /// own oldest are evicted beyond it, so one person's uploads cannot evict
    /// everyone else's logs. `None`: an eighth of `max_total_bytes`, at least
    /// `max_upload_bytes`.
    pub max_person_bytes: Option<u64>,
}

impl Default for ClientLogLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 16 * MIB,
            max_total_bytes: 512 * MIB as u64,
            upload_window: Duration::from_secs(15 * 60),
            max_pending_per_person: 8,
            max_person_bytes: None,
        }
    }
}

const MIB: usize = 1024 * 1024;

impl ClientLogLimits {
    /// `max_upload_bytes` as the SDK's `fileUploadSizeLimit` (whole MiB,
    /// rounded down, at least 1).
    ///
    /// ```
    /// use webex_server::client_logs::ClientLogLimits;
    /// let limits = ClientLogLimits { max_upload_bytes: 5 << 20, ..ClientLogLimits::default() };
    /// assert_eq!(limits.upload_limit_mib(), 5);
    /// let tiny = ClientLogLimits { max_upload_bytes: 1000, ..ClientLogLimits::default() };
    /// assert_eq!(tiny.upload_limit_mib(), 1);
    /// ```
    pub fn upload_limit_mib(&self) -> u64 {
        u64::try_from(self.max_upload_bytes / MIB)
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The byte caps eviction keeps (content and metadata count).
    ///
    /// ```
    /// use webex_server::client_logs::ClientLogLimits;
    /// let caps = ClientLogLimits::default().caps();
    /// assert_eq!((caps.max_total, caps.max_per_person), (512 << 20, 64 << 20));
    /// ```
    pub fn caps(&self) -> ClientLogCaps {
        let upload = u64::try_from(self.max_upload_bytes).unwrap_or(u64::MAX);
        let per_person = self
            .max_person_bytes
            .unwrap_or_else(|| (self.max_total_bytes / 8).max(upload));
        ClientLogCaps {
            max_total: self.max_total_bytes,
            max_per_person: per_person.min(self.max_total_bytes),
        }
    }

    /// The upload window in milliseconds.
    fn window_millis(&self) -> Millis {
        Millis::try_from(self.upload_window.as_millis()).unwrap_or(Millis::MAX)
    }
}

/// Routes of this module (the SDK's and the operator's).
pub fn router(config: &ServerConfig) -> Router<AppState> {
    upload::router(&config.client_logs).merge(admin::router())
}

/// Routes of this module whose request bodies may exceed the server-wide
/// body limit, with their own limit: the temporary upload URL takes up to
/// [`ClientLogLimits::max_upload_bytes`] (what `logs/urls` advertises).
pub fn body_limits(config: &ServerConfig) -> Vec<(String, usize)> {
    vec![upload::upload_route(&config.client_logs)]
}

/// The OpenAPI description of this module's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = upload::openapi();
    doc.merge(admin::openapi());
    doc
}

/// A stored log as the SDK (after `logs/meta`) and the operator see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientLog {
    /// Log id.
    pub id: String,
    /// Who uploaded it.
    pub user_id: String,
    /// Their org.
    pub org_id: String,
    /// The file name the client gave.
    pub filename: String,
    /// Where the upload stands.
    pub state: ClientLogState,
    /// Content size in bytes.
    pub size: u64,
    /// When the upload URL was handed out (Unix ms).
    pub created_at: Millis,
    /// When the content arrived (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<Millis>,
    /// When the client sent its metadata (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalized_at: Option<Millis>,
    /// The client's metadata: `[{key, value}, …]` (locusId, correlationId, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub meta: Option<serde_json::Value>,
}

impl From<ClientLogRecord> for ClientLog {
    fn from(r: ClientLogRecord) -> Self {
        Self {
            state: r.state(),
            id: r.id,
            user_id: r.person_id,
            org_id: r.org_id,
            filename: r.filename,
            size: r.size,
            created_at: r.created_at,
            uploaded_at: r.uploaded_at,
            finalized_at: r.finalized_at,
            meta: r.meta,
        }
    }
}

/// A client-supplied file name reduced to `[A-Za-z0-9._-]` (others become
/// `_`), at most 128 characters; `log.txt` when nothing is left.
///
/// ```
/// use webex_server::client_logs::clean_filename;
/// assert_eq!(clean_filename("6b1c_2026-11-29T17:00:00.000Z.txt"), "6b1c_2026-11-29T17_00_00.000Z.txt");
/// assert_eq!(clean_filename("../../etc/passwd"), ".._.._etc_passwd");
/// assert_eq!(clean_filename(""), "log.txt");
/// ```
pub fn clean_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches(['.', '_']).is_empty() {
        "log.txt".to_owned()
    } else {
        cleaned
    }
}
