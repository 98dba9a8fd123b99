//! A closed-loop load generator: `concurrency` workers each run one
//! operation after another until the deadline; every operation's latency is
//! recorded.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::stats::Latencies;

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of each successful operation.
    pub latencies: Latencies,
}

impl LoadResult {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `op(worker, iteration)` in `concurrency` workers for `duration`.
/// An operation that fails is counted and the worker goes on.
///
/// ```
/// # tokio_test_block(async {
/// use std::time::Duration;
/// let r = webex_bench::load::run(2, Duration::from_millis(20), |_, _| async { Ok::<(), ()>(()) }).await;
/// assert!(r.ok > 0 && r.errors == 0);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Runtime::new().unwrap().block_on(f)
/// # }
/// ```
pub async fn run<F, Fut, E>(concurrency: usize, duration: Duration, op: F) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let op = op.clone();
        workers.spawn(async move {
            let mut lat = Latencies::new();
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op(w, i).await {
                    Ok(()) => {
                        ok += 1;
                        lat.record(t.elapsed());
                    }
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (ok, errors, lat)
        });
    }
    let mut total = LoadResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Latencies::new(),
    };
    while let Some(joined) = workers.join_next().await {
        if let Ok((ok, errors, lat)) = joined {
            total.ok += ok;
            total.errors += errors;
            total.latencies.merge(&lat);
        }
    }
    total.elapsed = start.elapsed();
    total
}
