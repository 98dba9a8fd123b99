//! Soak: continuous register → connect → publish → receive → close →
//! unregister churn for `SOAK_SECS` (default 60) seconds, with resident
//! memory, open file descriptors and live tokio tasks sampled before and
//! after. Leaks show as descriptors or tasks that do not come back.
//!
//! Ignored by default (it takes a minute):
//! `SOAK_SECS=60 cargo nextest run -p webex-server -E 'test(/^soak::/)' --run-ignored only --no-capture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use webex_server::limits::RateLimits;
use webex_server::testing::TestServer;

/// Concurrent churning clients.
const WORKERS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    tasks: usize,
}

fn sample() -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    Sample {
        rss_kib,
        fds,
        tasks,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: about a minute; run with --run-ignored only"]
async fn churn_leaves_no_descriptors_or_tasks_behind() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits::off();
        c.device_limit = 1_000;
    })
    .await
    .unwrap();
    let base = server.base_url().to_owned();

    // Warm up (connection pools, lazy statics) before the first sample.
    let token = server.token_for("warmup@example.com").await.unwrap();
    let device = crate::support::register_device(&base, &token).await;
    drop(crate::support::connect(&device, &token, false).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sample();

    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let token = server
            .token_for(&format!("soak{w}@example.com"))
            .await
            .unwrap();
        let (base, stop, cycles) = (base.clone(), stop.clone(), cycles.clone());
        workers.push(tokio::spawn(async move {
            let http = crate::support::http();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let device = crate::support::register_device(&base, &token).await;
                let mut ws = crate::support::connect(&device, &token, false).await;
                let res = crate::support::admin_publish(
                    &base,
                    json!({"deviceId": device.id, "data": {"eventType": "soak.tick", "n": n}}),
                )
                .await;
                assert_eq!(res.status(), 202);
                let event = crate::support::next_json(&mut ws).await;
                assert_eq!(event["data"]["eventType"], "soak.tick");
                drop(ws);
                let res = http
                    .delete(&device.url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 204);
                n += 1;
                cycles.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    // Let closing sockets finish their close handshakes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = sample();
    let cycles = cycles.load(Ordering::Relaxed);
    eprintln!(
        "soak: {WORKERS} workers, {cycles} register/connect/publish/receive/close/delete cycles in {:.0?} \
         ({:.0}/s); RSS {} → {} KiB, fds {} → {}, tokio tasks {} → {}",
        elapsed,
        cycles as f64 / elapsed.as_secs_f64(),
        before.rss_kib,
        after.rss_kib,
        before.fds,
        after.fds,
        before.tasks,
        after.tasks,
    );
    assert!(cycles > 0);
    // Idle HTTP keep-alive connections of the test's clients may remain.
    assert!(
        after.fds <= before.fds + 2 * WORKERS + 4,
        "descriptors leaked: {} → {}",
        before.fds,
        after.fds
    );
    assert!(
        after.tasks <= before.tasks + 2 * WORKERS + 4,
        "tasks leaked: {} → {}",
        before.tasks,
        after.tasks
    );
    assert_eq!(server.server().state().hub.socket_count(), 0);
    server.shutdown().await;
}
