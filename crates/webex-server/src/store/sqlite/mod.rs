//! SQLite store.
//!
//! One file in WAL mode. Every write goes through one task that owns the only
//! writing connection and commits queued writes together (`writer.rs`); reads
//! use a read-only pool, which WAL lets run beside the writer. Read-then-write
//! jobs run on the writing connection inside the writer's transaction, which
//! holds the write lock from its start (`BEGIN IMMEDIATE`), so they can
//! neither deadlock nor fail half-way with `SQLITE_BUSY`.

//!
//! This file is only that execution model; the SQL is the domains' own
//! (`store/people.rs`, …), shared with PostgreSQL.

mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool};

use self::writer::{Isolation, Writer};
use super::backend::{Backend, Job, Rerun};
use super::meetings::{MeetingBackend, SnapshotCache};
use super::sql::impl_conn;
use super::{StoreError, StoreResult};

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite-backed [`Store`](super::Store).
pub struct SqliteStore {
    /// The task that runs every write.
    writer: Writer,
    /// Read-only connections.
    read: SqlitePool,
    /// The meetings store's cache (see `meetings::snapshot_cache`).
    snapshots: Arc<SnapshotCache>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://PATH`, `sqlite:PATH` or a bare
    /// path), creating missing parent directories and the file, and runs
    /// the migrations.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webex_server::store::StoreError> {
    /// use webex_server::store::{SqliteStore, Store};
    /// let store = SqliteStore::connect("sqlite://data/webex.sqlite").await?;
    /// assert_eq!(store.backend(), "sqlite");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let base = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        // sqlx opens `:memory:` as a named shared-cache database, which the
        // writer and the readers then share while a connection stays open.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = base
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);

        if !in_memory
            && let Some(dir) = base.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let mut conn = if in_memory {
            base.connect().await?
        } else {
            base.clone()
                .journal_mode(SqliteJournalMode::Wal)
                .connect()
                .await?
        };
        sqlx::migrate!("migrations/sqlite").run(&mut conn).await?;
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(2, 16);
        let read = SqlitePoolOptions::new()
            .max_connections(u32::try_from(readers).unwrap_or(4))
            // Nothing can break a local file's connection between uses: skip
            // the extra round trip to its thread on every acquire.
            .test_before_acquire(false);
        let read = if in_memory {
            read.min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await?
        } else {
            read.connect_with(base.read_only(true)).await?
        };
        Ok(Self {
            writer: Writer::spawn(conn),
            read,
            snapshots: Arc::default(),
        })
    }
}

// No row locks: every job that reads before it writes runs on the writing
// connection inside the writer's `BEGIN IMMEDIATE` transaction, which holds
// the whole database's write lock (and SQLite has no `FOR UPDATE`).
impl_conn!(SqliteConnection, Sqlite, |_| "");

impl MeetingBackend for SqliteStore {
    fn snapshots(&self) -> &Arc<SnapshotCache> {
        &self.snapshots
    }
}

#[async_trait]
impl Backend for SqliteStore {
    const NAME: &'static str = "sqlite";
    /// One writer task runs every write, one after another.
    const SERIAL_WRITES: bool = true;
    type Conn = SqliteConnection;

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn close(&self) {
        self.read.close().await;
        self.writer.close().await;
    }

    async fn run_read<T: Send + 'static>(&self, job: Job<SqliteConnection, T>) -> StoreResult<T> {
        job(&mut *self.read.acquire().await?).await
    }

    /// One statement is atomic by itself; a failed one backs out alone and
    /// leaves the batch's transaction open.
    async fn run_write<T: Send + 'static>(
        &self,
        _order: String,
        job: Rerun<SqliteConnection, T>,
    ) -> StoreResult<T> {
        self.writer.write(Isolation::Statement, job).await
    }

    /// Its own savepoint inside the batch, rolled back alone if it fails.
    async fn run_transaction<T: Send + 'static>(
        &self,
        job: Job<SqliteConnection, T>,
    ) -> StoreResult<T> {
        self.writer.write(Isolation::Savepoint, job).await
    }
}
