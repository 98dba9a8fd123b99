//! Scenario 2: registration throughput. Concurrent clients each register a
//! device (`POST /wdm/api/v1/devices`) and delete it again, with real
//! tokens; the same generator against `GET /healthz` gives the HTTP stack's
//! ceiling on the same server.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{BenchError, BenchResult};
use crate::fixtures::{self, Account};
use crate::load::{self, LoadResult};
use crate::target::{Database, Launch, ServerSpec, ServerUnderTest};

/// Parameters of scenario 2.
#[derive(Debug, Clone)]
pub struct ThroughputParams {
    /// Workers (each owns one person and token).
    pub concurrency: usize,
    /// Length of each measured phase.
    pub duration: Duration,
    /// Untimed warm-up before each phase.
    pub warmup: Duration,
}

/// The figures of one scenario-2 run on one backend.
#[derive(Debug, Clone)]
pub struct ThroughputResult {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// `GET /healthz` as fast as it goes.
    pub healthz: LoadResult,
    /// POST device + DELETE device pairs.
    pub registrations: LoadResult,
}

impl ThroughputResult {
    /// HTTP requests per second of the registration phase divided by those
    /// of the `/healthz` phase (one registration is two requests).
    pub fn request_ratio(&self) -> f64 {
        2.0 * self.registrations.rate() / self.healthz.rate().max(1e-9)
    }
}

/// Runs scenario 2 once on `db`.
pub async fn run(
    launch: &Launch,
    db: &Database,
    log: &str,
    params: &ThroughputParams,
) -> BenchResult<ThroughputResult> {
    let server = ServerUnderTest::start(launch, &ServerSpec::single(db, log)).await?;
    let result = measure(&server, db, params).await;
    server.stop().await;
    result
}

async fn measure(
    server: &ServerUnderTest,
    db: &Database,
    params: &ThroughputParams,
) -> BenchResult<ThroughputResult> {
    let accounts: Arc<[Account]> = fixtures::accounts(db.url(), "load", params.concurrency.max(1))
        .await?
        .into();
    let http = fixtures::http_client(params.concurrency * 2)?;
    let base: Arc<str> = server.base_url().into();

    let healthz = {
        let (http, base) = (http.clone(), Arc::clone(&base));
        move |_w: usize, _i: u64| {
            let (http, base) = (http.clone(), Arc::clone(&base));
            async move {
                let res = http.get(format!("{base}/healthz")).send().await?;
                let ok = res.status().is_success();
                let _ = res.bytes().await?;
                if ok {
                    Ok(())
                } else {
                    Err(BenchError::Status {
                        what: "GET /healthz",
                        status: 500,
                    })
                }
            }
        }
    };
    let register = {
        let (http, base, accounts) = (http.clone(), Arc::clone(&base), Arc::clone(&accounts));
        move |w: usize, i: u64| {
            let (http, base, accounts) = (http.clone(), Arc::clone(&base), Arc::clone(&accounts));
            async move {
                let token = &accounts[w % accounts.len()].token;
                let device =
                    fixtures::register_device(&http, &base, token, &format!("load-{w}-{i}"))
                        .await?;
                fixtures::delete_device(&http, &device.url, token).await
            }
        }
    };

    let _ = load::run(params.concurrency, params.warmup, healthz.clone()).await;
    let healthz = load::run(params.concurrency, params.duration, healthz).await;
    let _ = load::run(params.concurrency, params.warmup, register.clone()).await;
    let registrations = load::run(params.concurrency, params.duration, register).await;
    if registrations.ok == 0 {
        return Err(BenchError::Setup(format!(
            "no registration succeeded ({} failed)",
            registrations.errors
        )));
    }
    Ok(ThroughputResult {
        backend: db.backend(),
        healthz,
        registrations,
    })
}
