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

/// A write that may run more than once: it holds only its statements and
/// clones them on each run, so a backend that batches writes can run it
/// again from the start after rolling its transaction back (PostgreSQL
/// group commit: a neighbour failed, or a deadlock chose it as the victim).
pub(crate) type Rerun<C, T> =
    Box<dyn for<'c> Fn(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send + Sync>;

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
    ///
    /// `order` is a text equal for writes that lock the same rows (the
    /// statement itself, [`Stmt::lock_key`]): a backend committing several
    /// writes in one transaction runs them sorted by it, so that two such
    /// transactions (two nodes, two writer connections) take the locks they
    /// share in the same order and cannot deadlock over them.
    async fn run_write<T: Send + 'static>(
        &self,
        order: String,
        job: Rerun<Self::Conn, T>,
    ) -> StoreResult<T>;

    /// Runs `job`, several statements as one transaction (all or none),
    /// the first of which locks the row that `order` names (see
    /// [`Backend::run_write`] for `order`). By default a
    /// [`Backend::run_transaction`]; a batching backend may run `job` more
    /// than once, which it allows by holding only its statements.
    async fn run_guarded<T: Send + 'static>(
        &self,
        order: String,
        job: Rerun<Self::Conn, T>,
    ) -> StoreResult<T> {
        let _ = order;
        self.run_transaction(Box::new(job)).await
    }
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
        let order = order_of::<Self>(&stmt);
        self.run_write(order, Box::new(move |c| c.execute(stmt.clone())))
            .await
    }

    /// Runs one writing statement with `RETURNING`; its first row, decoded.
    async fn write_optional<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Option<T>> {
        let order = order_of::<Self>(&stmt);
        self.run_write(
            order,
            Box::new(move |c| c.fetch_optional(stmt.clone(), decode)),
        )
        .await
    }

    /// Runs one writing statement with `RETURNING`; every row, decoded.
    async fn write_all<T: Send + 'static>(
        &self,
        stmt: Stmt,
        decode: Decoder<T>,
    ) -> StoreResult<Vec<T>> {
        let order = order_of::<Self>(&stmt);
        self.run_write(order, Box::new(move |c| c.fetch_all(stmt.clone(), decode)))
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
        let order = order_of::<Self>(&guard);
        self.run_guarded(
            order,
            Box::new(move |c| {
                let (guard, write) = (guard.clone(), write.clone());
                async move {
                    if c.fetch_optional(guard, |_| Ok(())).await?.is_none() {
                        return Ok(None);
                    }
                    c.execute(write).await.map(Some)
                }
                .boxed()
            }),
        )
        .await
    }
}

/// The order key of a write (see [`Backend::run_write`]); empty where writes
/// are serial anyway, so SQLite does not pay for building it.
fn order_of<B: Backend + ?Sized>(stmt: &Stmt) -> String {
    if B::SERIAL_WRITES {
        String::new()
    } else {
        stmt.lock_key()
    }
}
