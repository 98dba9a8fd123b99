//! The `client_logs` domain: log files the official SDK uploads after a
//! meeting, kept bounded in total size (oldest evicted first).
//!
//! Both backends run the same SQL text with the same bind sequence: SQLite
//! reads `$N` as the N-th argument, as PostgreSQL does. The one difference
//! is PostgreSQL's advisory lock around eviction (SQLite's single writer
//! already serializes it).

use async_trait::async_trait;
use sqlx::{Decode, Type};

use super::rows::Columns;
use super::{Millis, SecretHash, StoreError, StoreResult};

/// Where a log is in its upload: `POST logs/urls` → upload → `POST logs/meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ClientLogState {
    /// A temporary URL was handed out; nothing uploaded yet.
    Pending,
    /// The content is stored; the client has not described it yet.
    Uploaded,
    /// The client sent its metadata: the upload is complete.
    Finalized,
}

/// What [`ClientLogStore::create_client_log`] stores.
#[derive(Debug, Clone)]
pub struct NewClientLog {
    /// Log id (UUID).
    pub id: String,
    /// Who uploads it.
    pub person_id: String,
    /// Their org.
    pub org_id: String,
    /// The file name the client asked for (already cleaned by the caller).
    pub filename: String,
    /// Hash of the secret in the temporary upload URL.
    pub upload_hash: SecretHash,
    /// Creation time.
    pub created_at: Millis,
}

/// One uploaded (or pending) log, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientLogRecord {
    /// Log id (UUID).
    pub id: String,
    /// Who uploaded it.
    pub person_id: String,
    /// Their org.
    pub org_id: String,
    /// The file name the client gave.
    pub filename: String,
    /// When the upload URL was handed out.
    pub created_at: Millis,
    /// When the content arrived.
    pub uploaded_at: Option<Millis>,
    /// When the client sent its metadata.
    pub finalized_at: Option<Millis>,
    /// Content size in bytes (0 while pending).
    pub size: u64,
    /// The client's metadata (`[{key, value}, …]`), once finalized.
    pub meta: Option<serde_json::Value>,
}

impl ClientLogRecord {
    /// Where the upload stands.
    pub fn state(&self) -> ClientLogState {
        match (self.uploaded_at, self.finalized_at) {
            (_, Some(_)) => ClientLogState::Finalized,
            (Some(_), None) => ClientLogState::Uploaded,
            (None, None) => ClientLogState::Pending,
        }
    }
}

/// Result of [`ClientLogStore::store_client_log_content`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadOutcome {
    /// Stored; `evicted` older logs were deleted to stay within the total cap.
    Stored {
        /// How many logs were evicted.
        evicted: u64,
    },
    /// No pending log with this id and upload secret.
    NotFound,
    /// The log was already finalized; its content can no longer change.
    Finalized,
}

/// Result of [`ClientLogStore::finalize_client_log`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FinalizeOutcome {
    /// The metadata is stored.
    Finalized(ClientLogRecord),
    /// The caller has no log with this id (or it was evicted).
    NotFound,
    /// The content has not been uploaded yet.
    NotUploaded,
}

/// Which logs [`ClientLogStore::client_logs`] lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct ClientLogFilter {
    /// Only this person's.
    pub person_id: Option<String>,
    /// Only those created strictly before this time (the next page).
    pub before: Option<Millis>,
    /// At most this many.
    pub limit: u32,
}

/// Storage of client logs. Each method is one transaction.
#[async_trait]
pub trait ClientLogStore {
    /// Stores a pending log. In the same transaction, deletes every pending
    /// log created before `stale_before` and the owner's oldest pending logs
    /// beyond `max_pending - 1`, so pending rows stay bounded.
    async fn create_client_log(
        &self,
        log: &NewClientLog,
        max_pending: u32,
        stale_before: Millis,
    ) -> StoreResult<()>;

    /// Stores (or replaces, until finalized) the content of log `id` whose
    /// upload secret hashes to `upload_hash`, then evicts the oldest uploaded
    /// logs (never this one) until their total size is at most `max_total`.
    async fn store_client_log_content(
        &self,
        id: &str,
        upload_hash: &SecretHash,
        content: bytes::Bytes,
        now: Millis,
        max_total: u64,
    ) -> StoreResult<UploadOutcome>;

    /// Stores the metadata of `person_id`'s uploaded log `id`.
    async fn finalize_client_log(
        &self,
        id: &str,
        person_id: &str,
        meta: &serde_json::Value,
        now: Millis,
    ) -> StoreResult<FinalizeOutcome>;

    /// Deletes log `id` (only if `person_id`'s, when given). Returns whether
    /// it existed.
    async fn delete_client_log(&self, id: &str, person_id: Option<&str>) -> StoreResult<bool>;

    /// One log's record.
    async fn client_log(&self, id: &str) -> StoreResult<Option<ClientLogRecord>>;

    /// One log's content; `None` when there is no such log or nothing was
    /// uploaded yet.
    async fn client_log_content(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Logs matching `filter`, newest first.
    async fn client_logs(&self, filter: &ClientLogFilter) -> StoreResult<Vec<ClientLogRecord>>;
}

/// Columns of a [`ClientLogRecord`] (everything but the content).
pub(super) const COLUMNS: &str =
    "id, person_id, org_id, filename, created_at, uploaded_at, finalized_at, size, meta";

/// Deletes stale pending logs: `$1` = stale_before.
pub(super) const DELETE_STALE_PENDING: &str =
    "DELETE FROM client_logs WHERE uploaded_at IS NULL AND created_at < $1";

/// Deletes a person's pending logs beyond the newest `$2 - 1`: `$1` = person.
pub(super) const TRIM_PENDING: &str = "DELETE FROM client_logs WHERE id IN (\
     SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS n \
     FROM client_logs WHERE person_id = $1 AND uploaded_at IS NULL) AS t WHERE n >= $2)";

/// Inserts a pending log.
pub(super) const INSERT: &str = "INSERT INTO client_logs \
     (id, person_id, org_id, filename, upload_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Stores content: `$1` id, `$2` upload hash, `$3` content, `$4` size, `$5` now.
pub(super) const STORE_CONTENT: &str = "UPDATE client_logs \
     SET content = $3, size = $4, uploaded_at = $5 \
     WHERE id = $1 AND upload_hash = $2 AND finalized_at IS NULL";

/// Whether a log with this id and upload hash exists (after
/// [`STORE_CONTENT`] changed nothing: then it is finalized, or unknown).
pub(super) const EXISTS_WITH_HASH: &str =
    "SELECT COUNT(*) FROM client_logs WHERE id = $1 AND upload_hash = $2";

/// Evicts the oldest uploaded logs beyond `$2` bytes in total, never `$1`
/// (the one just stored, whatever the clocks of the nodes say).
pub(super) const EVICT: &str = "DELETE FROM client_logs WHERE id IN (\
     SELECT id FROM (SELECT id, CAST(SUM(size) OVER (\
       ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END, uploaded_at DESC, id DESC) AS BIGINT) AS running \
     FROM client_logs WHERE uploaded_at IS NOT NULL) AS t WHERE running > $2 AND id <> $1)";

/// Finalizes: `$1` id, `$2` person, `$3` meta JSON, `$4` now.
pub(super) const FINALIZE: &str = "UPDATE client_logs SET meta = $3, finalized_at = $4 \
     WHERE id = $1 AND person_id = $2 AND uploaded_at IS NOT NULL";

/// How many of the person's logs with this id exist, and how many of them
/// were uploaded (after [`FINALIZE`] changed nothing).
pub(super) const OWNED_UPLOADED: &str = "SELECT COUNT(*), COUNT(uploaded_at) FROM client_logs \
     WHERE id = $1 AND person_id = $2";

/// Deletes one log: `$1` id, `$2` owner or NULL for any.
pub(super) const DELETE: &str =
    "DELETE FROM client_logs WHERE id = $1 AND ($2 IS NULL OR person_id = $2)";

/// One log's content.
pub(super) const CONTENT: &str = "SELECT content FROM client_logs WHERE id = $1";

/// One log's record.
pub(super) fn select_one() -> String {
    format!("SELECT {COLUMNS} FROM client_logs WHERE id = $1")
}

/// A page of records: `$1` person or NULL, `$2` before or NULL, `$3` limit.
pub(super) fn select_page() -> String {
    format!(
        "SELECT {COLUMNS} FROM client_logs \
         WHERE ($1 IS NULL OR person_id = $1) AND ($2 IS NULL OR created_at < $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    )
}

/// The stored text of a log's metadata.
pub(super) fn meta_to_db(meta: &serde_json::Value) -> StoreResult<String> {
    serde_json::to_string(meta)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode log metadata: {e}")))
}

/// A size as stored (sizes are bounded far below `i64::MAX`).
pub(super) fn size_to_db(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// A byte cap as a bind value.
pub(super) fn cap_to_db(cap: u64) -> i64 {
    i64::try_from(cap).unwrap_or(i64::MAX)
}

/// Decodes a `client_logs` row selected with [`COLUMNS`].
pub(super) fn record<R: Columns>(row: &R) -> StoreResult<ClientLogRecord>
where
    String: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<String>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    i64: for<'r> Decode<'r, R::Db> + Type<R::Db>,
    Option<i64>: for<'r> Decode<'r, R::Db> + Type<R::Db>,
{
    let size: i64 = row.col("size")?;
    let meta: Option<String> = row.col("meta")?;
    let meta = meta
        .map(|m| serde_json::from_str(&m))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column `meta`: {e}")))?;
    Ok(ClientLogRecord {
        id: row.col("id")?,
        person_id: row.col("person_id")?,
        org_id: row.col("org_id")?,
        filename: row.col("filename")?,
        created_at: row.col("created_at")?,
        uploaded_at: row.col("uploaded_at")?,
        finalized_at: row.col("finalized_at")?,
        size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("negative log size {size}")))?,
        meta,
    })
}
