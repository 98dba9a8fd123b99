//! Group commit for PostgreSQL: a few writer tasks, each owning one
//! connection, each taking whatever writes are queued when it is free and
//! committing them in one transaction, answering each only after COMMIT.
//! An acknowledged write is as durable as with one transaction per write
//! (`synchronous_commit` untouched), and concurrent writes share a commit,
//! its round trips and its WAL flush.
//!
//! Several writers run at once because PostgreSQL, unlike SQLite, commits
//! concurrently; several nodes may run theirs against one database.
//!
//! # Jobs stay independent without savepoints
//!
//! PostgreSQL aborts the whole transaction on any error, so a failing write
//! must not take its neighbours with it. Instead of a savepoint per job
//! (two more statements each, and a subtransaction each: past 64 in one
//! transaction every snapshot in the database overflows its subtransaction
//! cache), every job here can be run again: it holds only its statements
//! ([`Rerun`]). A batch runs its jobs in turn; when job *k* fails:
//!
//! - the transaction is rolled back and nothing of it is stored;
//! - if *k* ran first, the error is its own (it saw only committed data):
//!   its caller gets it, and the rest of the batch runs next;
//! - otherwise the jobs before *k* run again as a batch of their own and
//!   commit, and *k* then runs first in the next one. So a job's error is
//!   only ever reported from a transaction it ran first in, exactly as if the
//!   writes had run one at a time, in that order.
//!
//! A deadlock victim (`40P01`), a serialization failure (`40001`), a lock
//! timeout (`55P03`) and a lost connection are not a job's fault: the job
//! runs again (the jobs before it first), up to [`MAX_ATTEMPTS`] times, before
//! its caller sees the (retryable) error. A COMMIT whose connection died
//! may have happened or not: its jobs get that error, not a false
//! "rolled back".
//!
//! # No deadlocks between batches over what they know they lock
//!
//! Each job carries an order key (the locking statement and its arguments,
//! e.g. the device owner's `people` row for a device create); a batch runs
//! its jobs sorted by it, so two batches (two writers, two nodes) take the
//! row locks they share in the same order. A deadlock the keys cannot
//! foresee (two different statements locking the same rows) is broken by
//! PostgreSQL after `deadlock_timeout`, and its victim runs again as above.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::super::backend::Rerun;
use super::super::{StoreError, StoreResult};

/// Most jobs one transaction takes.
const MAX_BATCH: usize = 128;

/// Jobs waiting for a writer before senders wait.
const QUEUE: usize = 8 * MAX_BATCH;

/// Runs a job gets when it is a deadlock victim or its connection is lost
/// (not when it fails by itself) before its caller gets the error.
pub(super) const MAX_ATTEMPTS: u32 = 5;

/// One queued write, its type erased.
struct Job {
    /// Batches run their jobs sorted by this (see the module docs).
    order: String,
    /// Runs that ended in a transient failure of this job.
    attempts: u32,
    work: Box<dyn Work>,
}

/// A write and the caller waiting for it.
trait Work: Send {
    /// Runs the write on the writing connection, keeping its result.
    fn run<'c>(&'c mut self, conn: &'c mut PgConnection) -> BoxFuture<'c, StoreResult<()>>;
    /// Answers the caller: the kept result once committed, or `error`.
    fn answer(self: Box<Self>, outcome: StoreResult<()>);
}

struct Pending<T> {
    job: Rerun<PgConnection, T>,
    /// The result of the latest run.
    done: Option<T>,
    answer: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> Work for Pending<T> {
    fn run<'c>(&'c mut self, conn: &'c mut PgConnection) -> BoxFuture<'c, StoreResult<()>> {
        Box::pin(async move {
            self.done = None;
            self.done = Some((self.job)(conn).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, outcome: StoreResult<()>) {
        let Self { done, answer, .. } = *self;
        let result = outcome.and_then(|()| {
            done.ok_or_else(|| StoreError::RolledBack("the write did not run".into()))
        });
        // The caller may have given up (request cancelled).
        let _ = answer.send(result);
    }
}

/// The store's handle on its writer tasks.
#[derive(Debug)]
pub(super) struct Writers {
    jobs: mpsc::Sender<Job>,
    queue: Arc<AsyncMutex<mpsc::Receiver<Job>>>,
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Writers {
    /// Starts `count` writer tasks, each connecting with `options` (and
    /// connecting again after losing its connection).
    pub(super) fn spawn(options: &PgConnectOptions, count: usize) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(AsyncMutex::new(queue));
        let stop = CancellationToken::new();
        let tasks = (0..count.max(1))
            .map(|_| tokio::spawn(run(options.clone(), Arc::clone(&queue), stop.clone())))
            .collect();
        Self {
            jobs,
            queue,
            stop,
            tasks: Mutex::new(tasks),
        }
    }

    /// Runs `job` in a writer's next batch and answers once that batch
    /// committed.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        order: String,
        job: Rerun<PgConnection, T>,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        let work = Box::new(Pending {
            job,
            done: None,
            answer,
        });
        let job = Job {
            order,
            attempts: 0,
            work,
        };
        self.jobs.send(job).await.map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }

    /// Lets each writer finish what it took, fails what is still queued,
    /// and closes the connections.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let tasks = self
            .tasks
            .lock()
            .map(|mut tasks| std::mem::take(&mut *tasks))
            .unwrap_or_default();
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "PostgreSQL writer task failed");
            }
        }
        let mut queue = self.queue.lock().await;
        queue.close();
        while let Ok(job) = queue.try_recv() {
            job.work.answer(Err(closed()));
        }
    }
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

/// How a failed job is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Its own error (a constraint, a decoding problem): final when it ran
    /// first in its transaction.
    Own,
    /// Not its fault and worth another run: deadlock victim, serialization
    /// failure, lock timeout.
    Transient,
    /// The connection is gone (and the transaction with it).
    Connection,
}

fn classify(e: &StoreError) -> Failure {
    match e {
        StoreError::Database(e) => classify_sqlx(e),
        _ => Failure::Own,
    }
}

fn classify_sqlx(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) => {
            match db.code().as_deref() {
                // deadlock_detected, serialization_failure, lock_not_available
                Some("40P01" | "40001" | "55P03") => Failure::Transient,
                // admin_shutdown, crash_shutdown, cannot_connect_now
                Some("57P01" | "57P02" | "57P03") => Failure::Connection,
                _ => Failure::Own,
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => Failure::Connection,
        _ => Failure::Own,
    }
}

/// One writer task: takes the queued jobs when free, runs them as batches.
async fn run(
    options: PgConnectOptions,
    queue: Arc<AsyncMutex<mpsc::Receiver<Job>>>,
    stop: CancellationToken,
) {
    let mut conn: Option<PgConnection> = None;
    let mut pending: VecDeque<Job> = VecDeque::new();
    // Most jobs the next batch may take (fewer after a failure, see `batch`).
    let mut limit = MAX_BATCH;
    loop {
        if pending.is_empty() {
            // One free writer at a time waits on the queue and takes all of
            // it; the others wait for their turn behind the lock.
            let mut rx = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                rx = queue.lock() => rx,
            };
            let first = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                job = rx.recv() => job,
            };
            let Some(first) = first else { break };
            pending.push_back(first);
            while pending.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => pending.push_back(job),
                    Err(_) => break,
                }
            }
            drop(rx);
            pending
                .make_contiguous()
                .sort_by(|a, b| a.order.cmp(&b.order));
            limit = MAX_BATCH;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match options.connect().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    // The database is unreachable: fail what is queued now
                    // (nothing of it ran) rather than spin.
                    let reason = format!("cannot connect: {e}");
                    tracing::warn!(%reason, jobs = pending.len(), "PostgreSQL writer");
                    for job in pending.drain(..) {
                        job.work.answer(Err(StoreError::RolledBack(reason.clone())));
                    }
                    continue;
                }
            },
        };
        let take = pending.len().min(limit);
        let jobs: Vec<Job> = pending.drain(..take).collect();
        let next = batch(c, jobs, &mut pending).await;
        limit = next.limit;
        if !next.connection_ok
            && let Some(c) = conn.take()
        {
            // Best effort: the connection is likely dead already.
            let _ = c.close().await;
        }
    }
    if let Some(c) = conn
        && let Err(error) = c.close().await
    {
        tracing::warn!(%error, "closing a PostgreSQL writer connection");
    }
}

/// What the writer does after a batch.
struct Next {
    /// Most jobs the next batch may take.
    limit: usize,
    /// False: drop the connection and open another.
    connection_ok: bool,
}

impl Next {
    fn fine() -> Self {
        Self {
            limit: MAX_BATCH,
            connection_ok: true,
        }
    }
}

/// Runs `jobs` in one transaction. Jobs to run again go back to the front
/// of `pending`, in order.
async fn batch(conn: &mut PgConnection, mut jobs: Vec<Job>, pending: &mut VecDeque<Job>) -> Next {
    if let Err(e) = conn.execute("BEGIN").await {
        return requeue_after(
            jobs,
            0,
            StoreError::Database(e),
            Failure::Connection,
            pending,
        );
    }
    metrics::histogram!("webex_postgres_batch_jobs").record(jobs.len() as f64);
    let mut failed = None;
    for (k, job) in jobs.iter_mut().enumerate() {
        match AssertUnwindSafe(job.work.run(&mut *conn))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed = Some((k, Some(e)));
                break;
            }
            Err(_) => {
                failed = Some((k, None));
                break;
            }
        }
    }
    let Some((k, error)) = failed else {
        return commit(conn, jobs, pending).await;
    };
    let rolled_back = conn.execute("ROLLBACK").await.is_ok();
    let Some(error) = error else {
        // A panicking job is a bug: its caller gets an error, the others
        // run again.
        tracing::error!("a PostgreSQL write panicked; its batch rolled back");
        let job = jobs.remove(k);
        job.work
            .answer(Err(StoreError::Database(sqlx::Error::WorkerCrashed)));
        requeue(jobs, pending);
        return Next {
            limit: MAX_BATCH,
            connection_ok: rolled_back,
        };
    };
    let failure = match classify(&error) {
        Failure::Own if !rolled_back => Failure::Connection,
        f => f,
    };
    requeue_after(jobs, k, error, failure, pending)
}

/// After job `k` of `jobs` failed with `error` (and the transaction is
/// gone): answers it if that is final, puts the rest back.
fn requeue_after(
    mut jobs: Vec<Job>,
    k: usize,
    error: StoreError,
    failure: Failure,
    pending: &mut VecDeque<Job>,
) -> Next {
    let connection_ok = failure != Failure::Connection;
    if failure == Failure::Own && k == 0 {
        // Its own error, from a transaction it ran first in: final.
        let job = jobs.remove(0);
        job.work.answer(Err(error));
        requeue(jobs, pending);
        return Next::fine();
    }
    if failure != Failure::Own
        && let Some(job) = jobs.get_mut(k)
    {
        job.attempts += 1;
        if job.attempts >= MAX_ATTEMPTS {
            tracing::warn!(%error, attempts = job.attempts, "PostgreSQL write gave up");
            let job = jobs.remove(k);
            job.work.answer(Err(error));
            requeue(jobs, pending);
            return Next {
                limit: MAX_BATCH,
                connection_ok,
            };
        }
    }
    requeue(jobs, pending);
    Next {
        // The jobs before `k` commit by themselves; `k` then runs first.
        limit: if k == 0 { MAX_BATCH } else { k },
        connection_ok,
    }
}

/// Puts `jobs` back at the front of `pending`, in order.
fn requeue(jobs: Vec<Job>, pending: &mut VecDeque<Job>) {
    for job in jobs.into_iter().rev() {
        pending.push_front(job);
    }
}

/// COMMITs and answers every job.
async fn commit(conn: &mut PgConnection, jobs: Vec<Job>, pending: &mut VecDeque<Job>) -> Next {
    match conn.execute("COMMIT").await {
        Ok(_) => {
            for job in jobs {
                job.work.answer(Ok(()));
            }
            Next::fine()
        }
        Err(e) => match classify_sqlx(&e) {
            Failure::Connection => {
                // Sent, but did it happen? Nobody can say: report the
                // failure as it is, not as a rollback.
                let reason = "the connection was lost during COMMIT; the write may or may not \
                              have been stored";
                tracing::warn!(jobs = jobs.len(), "{reason}");
                for job in jobs {
                    job.work
                        .answer(Err(StoreError::Database(sqlx::Error::Protocol(
                            reason.into(),
                        ))));
                }
                Next {
                    limit: MAX_BATCH,
                    connection_ok: false,
                }
            }
            _ => {
                // The server refused the COMMIT and rolled back: run again
                // (PostgreSQL has no deferred constraints here that could
                // make it fail the same way twice; the attempts bound it).
                let mut again = Vec::with_capacity(jobs.len());
                for mut job in jobs {
                    job.attempts += 1;
                    if job.attempts < MAX_ATTEMPTS {
                        again.push(job);
                    } else {
                        job.work
                            .answer(Err(StoreError::RolledBack(format!("COMMIT failed: {e}"))));
                    }
                }
                requeue(again, pending);
                Next::fine()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use std::str::FromStr;

    use sqlx::Connection;

    use super::*;
    use crate::testing::FreshDatabase;

    /// A job running `sql` statements in turn (`$1`-free).
    fn statements(sql: &'static [&'static str]) -> Rerun<PgConnection, ()> {
        Box::new(move |conn| {
            Box::pin(async move {
                for s in sql {
                    conn.execute(*s).await?;
                }
                Ok(())
            })
        })
    }

    /// Two writers (two nodes) whose batches lock two rows in opposite
    /// orders deadlock; PostgreSQL aborts one statement, and its job runs
    /// again after the jobs before it committed: every caller gets `Ok`.
    #[tokio::test]
    async fn a_deadlock_between_batches_reaches_no_caller() {
        let Some(admin) = crate::testing::postgres_url() else {
            return;
        };
        let db = FreshDatabase::create(&admin).await.unwrap();
        let mut setup = PgConnection::connect(&db.url).await.unwrap();
        setup
            .execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (1, ''), (2, '')")
            .await
            .unwrap();
        let options = PgConnectOptions::from_str(&db.url).unwrap();
        let (a, b) = (Writers::spawn(&options, 1), Writers::spawn(&options, 1));
        // On this single-threaded runtime all four are queued before either
        // writer runs, so each writer takes its two as one batch.
        let results = tokio::join!(
            a.write(
                "1".into(),
                statements(&["UPDATE t SET v = v || 'a' WHERE id = 1"])
            ),
            a.write(
                "2".into(),
                statements(&[
                    "SELECT pg_sleep(0.3)",
                    "UPDATE t SET v = v || 'a' WHERE id = 2"
                ])
            ),
            b.write(
                "1".into(),
                statements(&["UPDATE t SET v = v || 'b' WHERE id = 2"])
            ),
            b.write(
                "2".into(),
                statements(&[
                    "SELECT pg_sleep(0.3)",
                    "UPDATE t SET v = v || 'b' WHERE id = 1"
                ])
            ),
        );
        assert!(results.0.is_ok() && results.1.is_ok(), "{results:?}");
        assert!(results.2.is_ok() && results.3.is_ok(), "{results:?}");
        let mut rows: Vec<(i32, String)> = sqlx::query_as("SELECT id, v FROM t ORDER BY id")
            .fetch_all(&mut setup)
            .await
            .unwrap();
        // Each row got one 'a' and one 'b', whoever went first.
        for (_, v) in &mut rows {
            let mut letters: Vec<char> = v.chars().collect();
            letters.sort_unstable();
            *v = letters.into_iter().collect();
        }
        assert_eq!(rows, [(1, "ab".into()), (2, "ab".into())]);
        a.close().await;
        b.close().await;
        setup.close().await.unwrap();
        db.drop_database().await;
    }

    /// A failing job in the middle of a batch fails alone; the jobs before
    /// and after it are stored.
    #[tokio::test]
    async fn a_failure_mid_batch_fails_alone() {
        let Some(admin) = crate::testing::postgres_url() else {
            return;
        };
        let db = FreshDatabase::create(&admin).await.unwrap();
        let mut setup = PgConnection::connect(&db.url).await.unwrap();
        setup
            .execute("CREATE TABLE u (v TEXT PRIMARY KEY); INSERT INTO u VALUES ('taken')")
            .await
            .unwrap();
        let w = Writers::spawn(&PgConnectOptions::from_str(&db.url).unwrap(), 1);
        let (before, dup, after) = tokio::join!(
            w.write("1".into(), statements(&["INSERT INTO u VALUES ('before')"])),
            w.write(
                "2".into(),
                statements(&[
                    "INSERT INTO u VALUES ('half')",
                    "INSERT INTO u VALUES ('taken')"
                ])
            ),
            w.write("3".into(), statements(&["INSERT INTO u VALUES ('after')"])),
        );
        before.unwrap();
        after.unwrap();
        assert!(matches!(dup, Err(StoreError::Database(_))), "{dup:?}");
        let rows: Vec<String> = sqlx::query_scalar("SELECT v FROM u ORDER BY v")
            .fetch_all(&mut setup)
            .await
            .unwrap();
        assert_eq!(rows, ["after", "before", "taken"]);
        w.close().await;
        setup.close().await.unwrap();
        db.drop_database().await;
    }
}
