//! How a backend runs the domains' statements: the one thing SQLite and
//! PostgreSQL do differently besides a few words of SQL.
//!
//! Every domain trait (`PeopleStore`, `DeviceStore`, …) is implemented once,
//! for every [`Backend`], out of [`Stmt`]s. A backend says only where a
//! statement runs: on a read connection, as one write, or as several
//! statements in one transaction.

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::StoreResult;
use super::sql::{Conn, Decoder, RowLock, Stmt};

/// Work on one connection, inside the transaction the backend opened.
pub(crate) type Job<C, T> =
    Box<dyn for<'c> FnOnce(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send>;

/// One backend's execution model. Each call is one transaction: it either
/// fully happens or not at all, and is durable once it returns `Ok`.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    const NAME: &'static str;
    /// Whether writes never run concurrently (SQLite's single writer), so a
    /// statement that reads rows and writes on what it read needs no lock.
    const SERIAL_WRITES: bool;
    /// The connection statements run on.
    type Conn: Conn;

    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for in-flight calls and closes every connection.
    async fn close(&self);
    /// Runs `job`, which only reads, on a read connection.
    async fn run_read<T: Send + 'static>(&self, job: Job<Self::Conn, T>) -> StoreResult<T>;
    /// Runs `job`, which is ONE writing statement (atomic by itself).
    async fn run_write<T: Send + 'static>(&self, job: Job<Self::Conn, T>) -> StoreResult<T>;
    /// Runs `job`, any number of statements, as one transaction: all or none.
    /// Rows it reads with a [`RowLock`] stay locked until it ends.
    async fn run_transaction<T: Send + 'static>(&self, job: Job<Self::Conn, T>) -> StoreResult<T>;

    /// Runs several statements as one transaction ([`Backend::run_transaction`]).
    async fn transaction<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Self::Conn) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.run_transaction(Box::new(job)).await
    }

    /// Runs a read; its first row, decoded.
    async fn read_optional<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Option<T>> {
        self.run_read(Box::new(move |c| c.fetch_optional(stmt, decode)))
            .await
    }

    /// Runs a read; every row, decoded.
    async fn read_all<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Vec<T>> {
        self.run_read(Box::new(move |c| c.fetch_all(stmt, decode)))
            .await
    }

    /// Runs one writing statement; how many rows it changed.
    async fn execute(&self, stmt: Stmt) -> StoreResult<u64> {
        self.run_write(Box::new(move |c| c.execute(stmt))).await
    }

    /// Runs one writing statement with `RETURNING`; its first row, decoded.
    async fn write_optional<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Option<T>> {
        self.run_write(Box::new(move |c| c.fetch_optional(stmt, decode)))
            .await
    }

    /// Runs one writing statement with `RETURNING`; every row, decoded.
    async fn write_all<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Vec<T>> {
        self.run_write(Box::new(move |c| c.fetch_all(stmt, decode)))
            .await
    }

    /// Runs `write`, one statement whose effect depends on other rows it
    /// reads, so that concurrent writes deciding on the same rows take turns:
    /// `guard` selects the one row they all share, which is locked first.
    /// Returns how many rows `write` changed, or `None` when `guard` found no
    /// row.
    ///
    /// With [`Backend::SERIAL_WRITES`] nothing runs beside the write, so
    /// `guard` is not run at all (one statement, one round trip): a missing
    /// row must then show up as `write`'s own error (a foreign key).
    async fn write_guarded(&self, guard: Stmt, write: Stmt) -> StoreResult<Option<u64>> {
        if Self::SERIAL_WRITES {
            return self.execute(write).await.map(Some);
        }
        let guard = guard.locking(RowLock::NoKeyUpdate);
        self.transaction(move |c| {
            async move {
                if c.fetch_optional(guard, |_| Ok(())).await?.is_none() {
                    return Ok(None);
                }
                c.execute(write).await.map(Some)
            }
            .boxed()
        })
        .await
    }
}
