//! A node whose Redis goes away: the admin API answers 503 `unavailable`
//! with `Retry-After` instead of hanging, the node keeps serving HTTP and
//! its open sockets, and delivery resumes once Redis is back. A socket that
//! may have missed events (the node's subscription broke) is then closed
//! with 1011 so its client reconnects and resynchronises
//! (`bus_redis_resync.rs` covers meetings).
//!
//! Runs its own `redis-server` on a free port (never the shared one, which
//! other tests use) and stops it mid-test. Skipped when `redis-server` is not
//! on `PATH`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::support::redis::{RedisProcess, free_port};
use crate::support::*;
use serde_json::{Value, json};

/// Hang guard for one admin call while Redis is down (the server must answer
/// well before this).
const CALL_GUARD: Duration = Duration::from_secs(20);
/// Hang guard for Redis to start or for delivery to resume.
const RECOVERY_GUARD: Duration = Duration::from_secs(60);

/// Asserts the answer of a publish while Redis is unusable: 503
/// `unavailable` with `Retry-After` and a tracking id.
async fn assert_unavailable(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert!(
        res.headers().contains_key(reqwest::header::RETRY_AFTER),
        "{:?}",
        res.headers()
    );
    json_error(res, reqwest::StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .await
        .unwrap();
}

/// Publishes event `n` until the node accepts it (503 while it recovers),
/// and returns the event id.
async fn publish_until_accepted(base: &str, device: &str, n: u32) -> String {
    tokio::time::timeout(RECOVERY_GUARD, async {
        loop {
            let res = publish(base, device, n).await;
            if res.status() == 202 {
                let body: Value = res.json().await.unwrap();
                break body["id"].as_str().unwrap().to_owned();
            }
            assert_unavailable(res).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("publishing never recovered")
}

/// `POST /admin/api/v1/events` for `device`, bounded by [`CALL_GUARD`].
async fn publish(base: &str, device: &str, n: u32) -> reqwest::Response {
    let body = json!({"deviceId": device, "data": {"eventType": "outage.test", "n": n}});
    tokio::time::timeout(CALL_GUARD, admin_publish(base, body))
        .await
        .expect("the admin API hung while Redis was down")
}

#[tokio::test]
async fn publishing_fails_fast_while_redis_is_down_and_resumes_after() {
    let port = free_port();
    let Some(redis) = RedisProcess::start(port).await else {
        return;
    };
    let url = redis.url();
    let node = format!("outage-{}", uuid::Uuid::new_v4().simple());
    let (server, token, device) = server_with_device(|c| {
        c.redis_url = Some(url);
        c.node_id = node;
    })
    .await;
    let base = server.base_url().to_owned();
    let mut ws = connect(&device, &token, false).await;

    // Baseline: delivery through Redis works.
    let res = publish(&base, &device.id, 1).await;
    assert_eq!(res.status(), 202);
    assert_eq!(next_json(&mut ws).await["data"]["n"], 1);

    // A frozen Redis (accepts connections, never answers): 503, not a hang.
    redis.signal("STOP");
    assert_unavailable(publish(&base, &device.id, 2).await).await;
    redis.signal("CONT");
    let id = publish_until_accepted(&base, &device.id, 3).await;
    let event = next_json(&mut ws).await;
    assert_eq!((&event["id"], &event["data"]["n"]), (&json!(id), &json!(3)));

    // A crashed Redis (connections refused): 503 too.
    redis.stop().await;
    for n in 4..6 {
        assert_unavailable(publish(&base, &device.id, n).await).await;
    }

    // The node keeps serving HTTP meanwhile.
    let me = tokio::time::timeout(
        CALL_GUARD,
        http()
            .get(format!("{base}/v1/people/me"))
            .bearer_auth(&token)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(me.status(), 200);
    let healthz = http().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    // …but is not ready: a load balancer should send meetings elsewhere.
    let readyz = tokio::time::timeout(CALL_GUARD, http().get(format!("{base}/readyz")).send())
        .await
        .expect("/readyz hung while Redis was down")
        .unwrap();
    let body = json_error(
        readyz,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await
    .unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Redis"),
        "{body}"
    );

    // Redis comes back (empty: no persistence) on the same port. The node
    // resubscribes and, since events may have been lost meanwhile, tells the
    // socket to reconnect; the new socket receives the next event.
    let _redis = RedisProcess::start(port).await.unwrap();
    let (code, reason) = expect_close_within(&mut ws, RECOVERY_GUARD).await;
    assert_eq!(
        (code, reason.as_str()),
        (1011, "event stream interrupted; reconnect")
    );
    let mut ws = connect(&device, &token, false).await;
    let id = publish_until_accepted(&base, &device.id, 100).await;
    let readyz = http().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 200, "ready again once Redis is back");
    let event = next_json(&mut ws).await;
    assert_eq!(event["id"], id.as_str(), "{event}");
    assert_eq!(event["data"]["n"], 100);

    // The presence registry is rebuilt in the empty Redis.
    let device_id = device.id.clone();
    tokio::time::timeout(RECOVERY_GUARD, async {
        loop {
            let online = server
                .server()
                .state()
                .bus
                .online_devices(std::slice::from_ref(&device_id))
                .await;
            if matches!(&online, Ok(Some(set)) if set.contains(&device_id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the presence registry was never rebuilt");

    server.shutdown().await;
}
