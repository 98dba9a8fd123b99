//! The `client_logs` domain: log files the official SDK uploads after a
//! meeting, kept bounded in size per person and in total (oldest evicted
//! first). A log's size for the caps is its content plus its metadata.
//!
//! One SQL text serves both backends. The one difference: on PostgreSQL,
//! eviction runs under a transaction-scoped advisory lock, so concurrent
//! uploads on several nodes cannot each keep "their" share and overshoot the
//! total cap together (SQLite's single writer already runs them one by one).

use async_trait::async_trait;
use futures::FutureExt;

use super::backend::Backend;
use super::sql::{self, Columns, Conn, Stmt};
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
    /// The log was finalized before; its metadata cannot change.
    AlreadyFinalized,
    /// The caller has no log with this id (or it was evicted).
    NotFound,
    /// The content has not been uploaded yet.
    NotUploaded,
}

/// How many bytes of logs (content plus metadata) are kept; beyond either
/// cap the oldest uploaded logs are evicted, the uploader's own first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLogCaps {
    /// Over every uploaded log.
    pub max_total: u64,
    /// Over one person's uploaded logs, so that one person's uploads cannot
    /// evict everyone else's logs.
    pub max_per_person: u64,
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
pub trait ClientLogStore: Send + Sync {
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
    /// upload secret hashes to `upload_hash`, then evicts (never this one)
    /// the uploader's oldest uploaded logs beyond `caps.max_per_person` and
    /// the oldest of all beyond `caps.max_total`.
    async fn store_client_log_content(
        &self,
        id: &str,
        upload_hash: &SecretHash,
        content: bytes::Bytes,
        now: Millis,
        caps: ClientLogCaps,
    ) -> StoreResult<UploadOutcome>;

    /// Whether log `id` exists with an upload secret hashing to
    /// `upload_hash` (the temporary URL is a valid capability); checked
    /// before the content is read.
    async fn client_log_upload_is_valid(
        &self,
        id: &str,
        upload_hash: &SecretHash,
    ) -> StoreResult<bool>;

    /// Stores the metadata of `person_id`'s uploaded, not yet finalized log
    /// `id` (once: a finalized log's metadata never changes), then evicts as
    /// [`Self::store_client_log_content`] does, the metadata now counting.
    async fn finalize_client_log(
        &self,
        id: &str,
        person_id: &str,
        meta: &serde_json::Value,
        now: Millis,
        caps: ClientLogCaps,
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
const COLUMNS: &str =
    "id, person_id, org_id, filename, created_at, uploaded_at, finalized_at, size, meta";

/// Key of the PostgreSQL advisory lock that serializes eviction ("clogs").
const EVICTION_LOCK: i64 = 0x0063_6c6f_6773;

/// Evicts the oldest uploaded logs beyond `$2` bytes (content and metadata)
/// in total, never `$1` (the one just stored, whatever the clocks of the
/// nodes say).
const EVICT: &str = "DELETE FROM client_logs WHERE id IN (\
     SELECT id FROM (SELECT id, CAST(SUM(size + meta_bytes) OVER (\
       ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END, uploaded_at DESC, id DESC) AS BIGINT) AS running \
     FROM client_logs WHERE uploaded_at IS NOT NULL) AS t WHERE running > $2 AND id <> $1)";

/// Evicts the oldest uploaded logs of `$3` beyond `$2` bytes, never `$1`.
const EVICT_PERSON: &str = "DELETE FROM client_logs WHERE id IN (\
     SELECT id FROM (SELECT id, CAST(SUM(size + meta_bytes) OVER (\
       ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END, uploaded_at DESC, id DESC) AS BIGINT) AS running \
     FROM client_logs WHERE uploaded_at IS NOT NULL AND person_id = $3) AS t \
     WHERE running > $2 AND id <> $1)";

/// The statements that keep the caps after log `id` of `person_id` grew:
/// the PostgreSQL lock, then the per-person and the total eviction.
fn evictions<B: Backend>(id: &str, person_id: &str, caps: ClientLogCaps) -> [Option<Stmt>; 3] {
    [
        (B::NAME == "postgres")
            .then(|| Stmt::new("SELECT pg_advisory_xact_lock($1)").bind(EVICTION_LOCK)),
        Some(
            Stmt::new(EVICT_PERSON)
                .bind(id)
                .bind(to_db(caps.max_per_person))
                .bind(person_id),
        ),
        Some(Stmt::new(EVICT).bind(id).bind(to_db(caps.max_total))),
    ]
}

/// Runs [`evictions`]; returns how many logs went.
async fn evict<C: Conn>(c: &mut C, stmts: [Option<Stmt>; 3]) -> StoreResult<u64> {
    let [lock, person, total] = stmts;
    if let Some(lock) = lock {
        c.execute(lock).await?;
    }
    let mut evicted = 0;
    for stmt in [person, total].into_iter().flatten() {
        evicted += c.execute(stmt).await?;
    }
    Ok(evicted)
}

fn record(row: &dyn Columns) -> StoreResult<ClientLogRecord> {
    let size = row.int("size")?;
    Ok(ClientLogRecord {
        id: row.text("id")?,
        person_id: row.text("person_id")?,
        org_id: row.text("org_id")?,
        filename: row.text("filename")?,
        created_at: row.int("created_at")?,
        uploaded_at: row.opt_int("uploaded_at")?,
        finalized_at: row.opt_int("finalized_at")?,
        size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("negative log size {size}")))?,
        meta: row
            .opt_text("meta")?
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column `meta`: {e}")))?,
    })
}

fn count(row: &dyn Columns) -> StoreResult<i64> {
    row.int("n")
}

fn finalize_counts(row: &dyn Columns) -> StoreResult<(i64, i64, i64)> {
    Ok((row.int("n")?, row.int("uploaded")?, row.int("finalized")?))
}

fn person_of(row: &dyn Columns) -> StoreResult<String> {
    row.text("n")
}

fn content(row: &dyn Columns) -> StoreResult<Vec<u8>> {
    row.bytes("content")
}

fn select_one(id: &str) -> Stmt {
    Stmt::new(format!("SELECT {COLUMNS} FROM client_logs WHERE id = $1")).bind(id)
}

/// A cap or size as a bind value (both are bounded far below `i64::MAX`).
fn to_db<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[async_trait]
impl<B: Backend> ClientLogStore for B {
    async fn create_client_log(
        &self,
        log: &NewClientLog,
        max_pending: u32,
        stale_before: Millis,
    ) -> StoreResult<()> {
        let stale =
            Stmt::new("DELETE FROM client_logs WHERE uploaded_at IS NULL AND created_at < $1")
                .bind(stale_before);
        // Keeps the owner's newest `max_pending - 1` pending logs.
        let trim = Stmt::new(
            "DELETE FROM client_logs WHERE id IN (\
             SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS n \
             FROM client_logs WHERE person_id = $1 AND uploaded_at IS NULL) AS t WHERE n >= $2)",
        )
        .bind(&log.person_id)
        .bind(i64::from(max_pending));
        let insert = Stmt::new(
            "INSERT INTO client_logs (id, person_id, org_id, filename, upload_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&log.id)
        .bind(&log.person_id)
        .bind(&log.org_id)
        .bind(&log.filename)
        .bind(&log.upload_hash.0)
        .bind(log.created_at)
        .constraint_errors("client log", "person");
        self.transaction(move |c| {
            async move {
                c.execute(stale).await?;
                c.execute(trim).await?;
                c.execute(insert).await.map(drop)
            }
            .boxed()
        })
        .await
    }

    async fn store_client_log_content(
        &self,
        id: &str,
        upload_hash: &SecretHash,
        content: bytes::Bytes,
        now: Millis,
        caps: ClientLogCaps,
    ) -> StoreResult<UploadOutcome> {
        let store = Stmt::new(
            "UPDATE client_logs SET content = $3, size = $4, uploaded_at = $5 \
             WHERE id = $1 AND upload_hash = $2 AND finalized_at IS NULL",
        )
        .bind(id)
        .bind(&upload_hash.0)
        .bind(content.as_ref())
        .bind(to_db(content.len()))
        .bind(now);
        let exists =
            Stmt::new("SELECT COUNT(*) AS n FROM client_logs WHERE id = $1 AND upload_hash = $2")
                .bind(id)
                .bind(&upload_hash.0);
        let owner = Stmt::new("SELECT person_id AS n FROM client_logs WHERE id = $1").bind(id);
        let (id, caps) = (id.to_owned(), caps);
        self.transaction(move |c| {
            async move {
                if c.execute(store).await? == 0 {
                    let found = c.fetch_optional(exists, count).await?.unwrap_or(0);
                    return Ok(if found > 0 {
                        UploadOutcome::Finalized
                    } else {
                        UploadOutcome::NotFound
                    });
                }
                let Some(person) = c.fetch_optional(owner, person_of).await? else {
                    return Ok(UploadOutcome::NotFound);
                };
                let evicted = evict(c, evictions::<B>(&id, &person, caps)).await?;
                Ok(UploadOutcome::Stored { evicted })
            }
            .boxed()
        })
        .await
    }

    async fn finalize_client_log(
        &self,
        id: &str,
        person_id: &str,
        meta: &serde_json::Value,
        now: Millis,
        caps: ClientLogCaps,
    ) -> StoreResult<FinalizeOutcome> {
        let meta = sql::to_json(meta, "log metadata")?;
        let finalize = Stmt::new(
            "UPDATE client_logs SET meta = $3, meta_bytes = $4, finalized_at = $5 \
             WHERE id = $1 AND person_id = $2 AND uploaded_at IS NOT NULL \
             AND finalized_at IS NULL",
        )
        .bind(id)
        .bind(person_id)
        .bind(&meta)
        .bind(to_db(meta.len()))
        .bind(now);
        let owned = Stmt::new(
            "SELECT COUNT(*) AS n, COUNT(uploaded_at) AS uploaded, COUNT(finalized_at) AS finalized \
             FROM client_logs WHERE id = $1 AND person_id = $2",
        )
        .bind(id)
        .bind(person_id);
        let read = select_one(id);
        let evictions = evictions::<B>(id, person_id, caps);
        self.transaction(move |c| {
            async move {
                if c.execute(finalize).await? == 0 {
                    let (n, uploaded, finalized) = c
                        .fetch_optional(owned, finalize_counts)
                        .await?
                        .unwrap_or((0, 0, 0));
                    return Ok(if n == 0 {
                        FinalizeOutcome::NotFound
                    } else if finalized > 0 {
                        FinalizeOutcome::AlreadyFinalized
                    } else if uploaded == 0 {
                        FinalizeOutcome::NotUploaded
                    } else {
                        FinalizeOutcome::NotFound
                    });
                }
                evict(c, evictions).await?;
                match c.fetch_optional(read, record).await? {
                    Some(r) => Ok(FinalizeOutcome::Finalized(r)),
                    None => Ok(FinalizeOutcome::NotFound),
                }
            }
            .boxed()
        })
        .await
    }

    async fn client_log_upload_is_valid(
        &self,
        id: &str,
        upload_hash: &SecretHash,
    ) -> StoreResult<bool> {
        let stmt =
            Stmt::new("SELECT COUNT(*) AS n FROM client_logs WHERE id = $1 AND upload_hash = $2")
                .bind(id)
                .bind(&upload_hash.0);
        Ok(self.read_optional(stmt, count).await?.unwrap_or(0) > 0)
    }

    async fn delete_client_log(&self, id: &str, person_id: Option<&str>) -> StoreResult<bool> {
        let stmt =
            Stmt::new("DELETE FROM client_logs WHERE id = $1 AND ($2 IS NULL OR person_id = $2)")
                .bind(id)
                .bind(&person_id.map(str::to_owned));
        Ok(self.execute(stmt).await? > 0)
    }

    async fn client_log(&self, id: &str) -> StoreResult<Option<ClientLogRecord>> {
        self.read_optional(select_one(id), record).await
    }

    async fn client_log_content(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let stmt =
            Stmt::new("SELECT content FROM client_logs WHERE id = $1 AND content IS NOT NULL")
                .bind(id);
        self.read_optional(stmt, content).await
    }

    async fn client_logs(&self, filter: &ClientLogFilter) -> StoreResult<Vec<ClientLogRecord>> {
        let stmt = Stmt::new(format!(
            "SELECT {COLUMNS} FROM client_logs \
             WHERE ($1 IS NULL OR person_id = $1) AND ($2 IS NULL OR created_at < $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(&filter.person_id)
        .bind(filter.before)
        .bind(i64::from(filter.limit));
        self.read_all(stmt, record).await
    }
}
