//! PostgreSQL store: how the domains' statements run on PostgreSQL.
//!
//! Reads take a pooled connection. Writes built from statements alone (one
//! statement, or a guarded write: lock a row, then write) go to a few writer
//! tasks that commit whatever is queued in one transaction each (group
//! commit, `writer.rs`), since a commit's round trips and WAL flush are what
//! a write costs here. The domains' own multi-statement transactions
//! (rotations, code exchange, person upsert: closures that can run only
//! once) run on a pooled connection in their own transaction.
//!
//! Read-then-write transactions lock the rows they decide on (`SELECT … FOR
//! UPDATE`, `RowLock`; the owner's `people` row for the device limit), so
//! concurrent calls serialize on exactly what they share and the default
//! READ COMMITTED isolation is enough.

mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};

use self::writer::Writers;
use super::StoreResult;
use super::backend::{Backend, Job, Rerun};
use super::meetings::{MeetingBackend, SnapshotCache};
use super::sql::{RowLock, impl_conn};

/// Connections the pool (reads, the domains' transactions) may open.
const MAX_CONNECTIONS: u32 = 10;

/// Writer tasks (each with its own connection, beside the pool's).
/// PostgreSQL commits concurrently, so a few batches in flight at once keep
/// a batch's round trips from being the only thing the database does.
const WRITERS: usize = 4;

/// PostgreSQL-backed [`Store`](super::Store).
pub struct PgStore {
    pool: PgPool,
    writers: Writers,
    /// The meetings store's cache (see `meetings::snapshot_cache`).
    snapshots: Arc<SnapshotCache>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`), which must exist,
    /// and runs the migrations (concurrent starts are safe: sqlx takes an
    /// advisory lock while migrating).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webex_server::store::StoreError> {
    /// use webex_server::store::{PgStore, Store};
    /// let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/webex").await?;
    /// assert_eq!(store.backend(), "postgres");
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx already tests a connection when it is given back; testing
            // it again when taken costs a round trip per query. A connection
            // that died while idle (server restart) fails one query with a
            // retryable error and is then dropped.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            writers: Writers::spawn(&options, WRITERS),
            snapshots: Arc::default(),
        })
    }
}

// Row locks are PostgreSQL's: `FOR UPDATE` and `FOR NO KEY UPDATE` as asked.
impl_conn!(PgConnection, Postgres, RowLock::postgres_clause);

impl MeetingBackend for PgStore {
    fn snapshots(&self) -> &Arc<SnapshotCache> {
        &self.snapshots
    }
}

#[async_trait]
impl Backend for PgStore {
    const NAME: &'static str = "postgres";
    const SERIAL_WRITES: bool = false;
    type Conn = PgConnection;

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writers.close().await;
        self.pool.close().await;
    }

    async fn run_read<T: Send + 'static>(&self, job: Job<PgConnection, T>) -> StoreResult<T> {
        job(&mut *self.pool.acquire().await?).await
    }

    /// In a writer's next batch.
    async fn run_write<T: Send + 'static>(
        &self,
        order: String,
        job: Rerun<PgConnection, T>,
    ) -> StoreResult<T> {
        self.writers.write(order, job).await
    }

    /// In a writer's next batch too: `job` may run more than once.
    async fn run_guarded<T: Send + 'static>(
        &self,
        order: String,
        job: Rerun<PgConnection, T>,
    ) -> StoreResult<T> {
        self.writers.write(order, job).await
    }

    /// Dropping the transaction unfinished (an error) rolls it back.
    async fn run_transaction<T: Send + 'static>(
        &self,
        job: Job<PgConnection, T>,
    ) -> StoreResult<T> {
        let mut tx = self.pool.begin().await?;
        let out = job(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}
