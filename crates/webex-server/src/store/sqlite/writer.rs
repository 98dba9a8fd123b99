//! Group commit: every SQLite write goes through one task.
//!
//! SQLite lets one connection write at a time, and for a small write the
//! commit (WAL frames, checksums) costs more than the statement. Going
//! through a pool also costs two extra round trips to the connection's
//! thread per statement (sqlx pings a connection when it is taken and when
//! it is given back). So one task owns the only writing connection; callers
//! send it [`Job`]s; it takes everything queued (up to [`MAX_BATCH`]), runs
//! the jobs one after another inside a single `BEGIN IMMEDIATE … COMMIT`,
//! and answers each job only after that commit. An acknowledged write is
//! therefore exactly as durable as before, and concurrent writes share one
//! commit instead of queueing for one each.
//!
//! Jobs stay independent of each other:
//! - a job of several statements runs inside its own `SAVEPOINT`, rolled
//!   back alone if it fails ([`Isolation::Savepoint`]);
//! - a single statement needs none: a failed constraint backs out only that
//!   statement and the transaction stays open ([`Isolation::Statement`]);
//! - any other database failure (disk full, I/O error) may have ended the
//!   transaction, so the whole batch is rolled back: the failing job gets its
//!   error, the jobs that ran before it get [`StoreError::RolledBack`]
//!   (retryable), and the jobs after it run in the next batch.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{Connection, Executor, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::super::{StoreError, StoreResult};

/// Most jobs one transaction takes.
pub(super) const MAX_BATCH: usize = 256;

/// Jobs waiting for the writer before senders wait.
const QUEUE: usize = 4 * MAX_BATCH;

/// How a job is kept apart from the others in its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isolation {
    /// The job is one statement; SQLite makes it atomic by itself.
    Statement,
    /// The job runs several statements inside its own savepoint.
    Savepoint,
}

/// What a job does once its batch's fate is known.
type Deliver = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// A job's run: its own success, and how to answer its caller.
type Ran<'c> = BoxFuture<'c, (Result<(), Fate>, Deliver)>;

/// One queued write, its type erased.
pub(super) struct Job {
    isolation: Isolation,
    work: Box<dyn Work>,
}

/// A write and the caller waiting for it.
trait Work: Send {
    /// Runs the write on the writing connection.
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> Ran<'c>;
    /// Answers without running (the batch could not start).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Pending<T, F> {
    job: F,
    answer: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> Ran<'c> {
        let Self { job, answer } = *self;
        Box::pin(async move {
            let result = job(conn).await;
            let fate = match &result {
                Ok(_) => Ok(()),
                Err(e) if ends_transaction(e) => Err(Fate::Fatal),
                Err(_) => Err(Fate::Contained),
            };
            let deliver: Deliver = Box::new(move |batch: StoreResult<()>| {
                // The caller may have given up (request cancelled).
                let _ = answer.send(batch.and(result));
            });
            (fate, deliver)
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send(Err(error));
    }
}

/// Why a job failed, as far as the batch is concerned.
enum Fate {
    /// The job failed but the transaction is intact.
    Contained,
    /// The transaction may be gone: roll the batch back.
    Fatal,
}

/// The store's handle on the writing task.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the task that owns `conn`.
    pub(super) fn spawn(conn: SqliteConnection) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(conn, queue, stop.clone()));
        Self {
            jobs,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// Finishes the batch in progress, fails what is still queued, and
    /// closes the connection.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "SQLite writer task failed");
        }
    }

    /// Runs `job` in the next batch and answers once that batch committed.
    pub(super) async fn write<T, F>(&self, isolation: Isolation, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let work = Box::new(Pending { job, answer });
        self.jobs
            .send(Job { isolation, work })
            .await
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

/// Runs `sql` (statements without parameters) on the writing connection.
fn exec<'c>(
    conn: &'c mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move { conn.execute(sql).await.map(drop) })
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

/// Whether `e` may have ended the open transaction. Constraint failures and
/// decoding problems leave it intact; anything else from the database
/// (I/O, disk full, a dead connection) may not.
fn ends_transaction(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            db.kind() == sqlx::error::ErrorKind::Other
        }
        StoreError::Database(
            sqlx::Error::RowNotFound
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. },
        ) => false,
        StoreError::Database(_) => true,
        _ => false,
    }
}

async fn run(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Job>, stop: CancellationToken) {
    let mut pending = VecDeque::new();
    loop {
        if pending.is_empty() {
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                job = queue.recv() => job,
            };
            match next {
                Some(job) => pending.push_back(job),
                None => break,
            }
        }
        while pending.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        batch(&mut conn, &mut pending).await;
    }
    queue.close();
    while let Ok(job) = queue.try_recv() {
        job.work.fail(closed());
    }
    if let Err(error) = conn.close().await {
        tracing::warn!(%error, "closing the SQLite writer");
    }
}

/// Runs the front of `pending` as one transaction, leaving in `pending` the
/// jobs a fatal failure kept from running.
async fn batch(conn: &mut SqliteConnection, pending: &mut VecDeque<Job>) {
    if let Err(e) = exec(&mut *conn, "BEGIN IMMEDIATE").await {
        // Cannot even start (e.g. another process holds the lock past the
        // busy timeout): fail what is queued now rather than spin.
        let reason = e.to_string();
        for job in pending.drain(..) {
            job.work.fail(StoreError::RolledBack(reason.clone()));
        }
        return;
    }
    metrics::histogram!("webex_sqlite_batch_jobs").record(pending.len() as f64);
    let mut ran: Vec<Deliver> = Vec::with_capacity(pending.len());
    let mut fatal: Option<(Deliver, String)> = None;
    while let Some(job) = pending.pop_front() {
        let savepoint = job.isolation == Isolation::Savepoint;
        if savepoint && let Err(e) = exec(&mut *conn, "SAVEPOINT job").await {
            // The job has not run: keep it for the next batch.
            pending.push_front(job);
            fatal = Some((Box::new(|_| {}), e.to_string()));
            break;
        }
        // A panicking job must not take the writer (and every later write)
        // down with it: its caller sees the store closed, the batch rolls back.
        let Ok((outcome, deliver)) = AssertUnwindSafe(job.work.run(&mut *conn))
            .catch_unwind()
            .await
        else {
            fatal = Some((Box::new(|_| {}), "a write panicked".into()));
            break;
        };
        let closing = match (outcome, savepoint) {
            (Ok(()), false) => Ok(()),
            (Ok(()), true) => exec(&mut *conn, "RELEASE job").await,
            (Err(Fate::Contained), false) => Ok(()),
            (Err(Fate::Contained), true) => match exec(&mut *conn, "ROLLBACK TO job").await {
                Ok(()) => exec(&mut *conn, "RELEASE job").await,
                Err(e) => Err(e),
            },
            (Err(Fate::Fatal), _) => {
                fatal = Some((deliver, "another write in the same commit failed".into()));
                break;
            }
        };
        match closing {
            Ok(()) => ran.push(deliver),
            Err(e) => {
                fatal = Some((deliver, e.to_string()));
                break;
            }
        }
    }
    let Some((failed, reason)) = fatal else {
        let committed = exec(&mut *conn, "COMMIT").await;
        let reason = committed.as_ref().err().map(ToString::to_string);
        for deliver in ran {
            deliver(match &reason {
                None => Ok(()),
                Some(reason) => Err(StoreError::RolledBack(reason.clone())),
            });
        }
        if reason.is_some() {
            // A failed COMMIT may leave the transaction open.
            let _ = exec(&mut *conn, "ROLLBACK").await;
        }
        return;
    };
    tracing::warn!(%reason, jobs = ran.len() + 1, "SQLite write batch rolled back");
    // "no transaction is active" is fine: SQLite may have rolled back already.
    let _ = exec(&mut *conn, "ROLLBACK").await;
    // The failing job keeps its own error (delivered with `Ok` for the batch).
    failed(Ok(()));
    for deliver in ran {
        deliver(Err(StoreError::RolledBack(reason.clone())));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use futures::FutureExt;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;

    async fn writer() -> (Writer, SqliteConnection) {
        let options = SqliteConnectOptions::new()
            .filename(format!("file:writer-{}", uuid::Uuid::new_v4()))
            .shared_cache(true)
            .in_memory(true);
        let mut reader = options.connect().await.unwrap();
        reader
            .execute("CREATE TABLE t (v TEXT NOT NULL UNIQUE)")
            .await
            .unwrap();
        (Writer::spawn(options.connect().await.unwrap()), reader)
    }

    fn insert(
        v: &'static str,
    ) -> impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> {
        move |conn| {
            async move {
                sqlx::query("INSERT INTO t (v) VALUES (?)")
                    .bind(v)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        }
    }

    async fn rows(reader: &mut SqliteConnection) -> Vec<String> {
        sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(reader)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_database_failure_rolls_back_its_batch_and_the_rest_runs_next() {
        let (writer, mut reader) = writer().await;
        // Sent together, so the writer takes all three as one batch.
        let (before, failing, after) = tokio::join!(
            writer.write(Isolation::Statement, insert("before")),
            writer.write(Isolation::Statement, |conn: &mut SqliteConnection| {
                async move {
                    conn.execute("SELECT * FROM no_such_table").await?;
                    Ok(())
                }
                .boxed()
            }),
            writer.write(Isolation::Statement, insert("after")),
        );
        assert!(
            matches!(before, Err(StoreError::RolledBack(_))),
            "{before:?}"
        );
        assert!(
            matches!(failing, Err(StoreError::Database(_))),
            "{failing:?}"
        );
        after.unwrap();
        assert_eq!(rows(&mut reader).await, ["after"]);
        writer.close().await;
    }

    #[tokio::test]
    async fn a_constraint_failure_fails_alone() {
        let (writer, mut reader) = writer().await;
        let (a, dup, b) = tokio::join!(
            writer.write(Isolation::Statement, insert("a")),
            writer.write(Isolation::Statement, insert("a")),
            writer.write(Isolation::Savepoint, |conn: &mut SqliteConnection| {
                async move {
                    insert("b")(&mut *conn).await?;
                    // Fails after its first statement: the savepoint undoes both.
                    insert("a")(conn).await
                }
                .boxed()
            }),
        );
        a.unwrap();
        assert!(matches!(dup, Err(StoreError::Database(_))), "{dup:?}");
        assert!(matches!(b, Err(StoreError::Database(_))), "{b:?}");
        assert_eq!(rows(&mut reader).await, ["a"]);
        writer.close().await;
    }

    #[tokio::test]
    async fn a_panicking_write_fails_its_batch_but_not_the_writer() {
        let (writer, mut reader) = writer().await;
        let (before, panicked) = tokio::join!(
            writer.write(Isolation::Statement, insert("before")),
            writer.write(Isolation::Statement, |_conn: &mut SqliteConnection| {
                async move {
                    if true {
                        panic!("a bug in a write");
                    }
                    Ok(())
                }
                .boxed()
            }),
        );
        assert!(
            matches!(before, Err(StoreError::RolledBack(_))),
            "{before:?}"
        );
        assert!(panicked.is_err());
        writer
            .write(Isolation::Statement, insert("after"))
            .await
            .unwrap();
        assert_eq!(rows(&mut reader).await, ["after"]);
        writer.close().await;
    }

    #[tokio::test]
    async fn close_fails_later_writes() {
        let (writer, _reader) = writer().await;
        writer
            .write(Isolation::Statement, insert("x"))
            .await
            .unwrap();
        writer.close().await;
        let late = writer.write(Isolation::Statement, insert("y")).await;
        assert!(late.is_err());
    }
}
