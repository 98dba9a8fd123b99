//! PostgreSQL store: how the domains' statements run on PostgreSQL.
//!
//! One connection pool. Reads and single-statement writes take a pooled
//! connection (autocommit); several statements run in one transaction.
//! Read-then-write transactions lock the rows they decide on (`SELECT … FOR
//! UPDATE`, `RowLock`; the owner's `people` row for the device limit), so
//! concurrent calls serialize on exactly what they share and the default
//! READ COMMITTED isolation is enough.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres};

use super::StoreResult;
use super::backend::{Backend, Job};
use super::sql::{RowLock, impl_conn};

/// Connections the pool may open.
const MAX_CONNECTIONS: u32 = 10;

/// PostgreSQL-backed [`Store`](super::Store).
pub struct PgStore {
    pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx already tests a connection when it is given back; testing
            // it again when taken costs a round trip per query. A connection
            // that died while idle (server restart) fails one query with a
            // retryable error and is then dropped.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

// Row locks are PostgreSQL's: `FOR UPDATE` and `FOR NO KEY UPDATE` as asked.
impl_conn!(PgConnection, Postgres, RowLock::postgres_clause);

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
        self.pool.close().await;
    }

    async fn run_read<T: Send + 'static>(&self, job: Job<PgConnection, T>) -> StoreResult<T> {
        job(&mut *self.pool.acquire().await?).await
    }

    /// One statement commits by itself (autocommit).
    async fn run_write<T: Send + 'static>(&self, job: Job<PgConnection, T>) -> StoreResult<T> {
        job(&mut *self.pool.acquire().await?).await
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
