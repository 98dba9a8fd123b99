//! A node whose Redis goes away: the admin API answers 503 `unavailable`
//! with `Retry-After` instead of hanging, the node keeps serving HTTP and
//! its open sockets, and delivery resumes once Redis is back.
//!
//! Runs its own `redis-server` on a free port (never the shared one, which
//! other tests use) and stops it mid-test. Skipped when `redis-server` is not
//! on `PATH`.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Hang guard for one admin call while Redis is down (the server must answer
/// well before this).
const CALL_GUARD: Duration = Duration::from_secs(20);
/// Hang guard for Redis to start or for delivery to resume.
const RECOVERY_GUARD: Duration = Duration::from_secs(60);

/// A private `redis-server`, killed when dropped.
struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    /// Starts `redis-server` on `port` (no persistence) and waits for PONG.
    /// `None` when `redis-server` is not installed.
    async fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("starting redis-server: {e}"),
        };
        let redis = Self { child, port };
        tokio::time::timeout(RECOVERY_GUARD, async {
            while !ping(port).await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("redis-server never answered PING");
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server.
    fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Whether a Redis server answers PING on `port`.
async fn ping(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

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
        eprintln!("skipped: redis-server is not on PATH");
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

    // Redis comes back (empty: no persistence) on the same port; the same
    // socket receives the next event once the node has resubscribed.
    let _redis = RedisProcess::start(port).await.unwrap();
    let id = publish_until_accepted(&base, &device.id, 100).await;
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
