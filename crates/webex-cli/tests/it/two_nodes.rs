//! Two `webex serve` PROCESSES sharing one fresh PostgreSQL database and one
//! Redis: a device registered through node A keeps its Mercury socket on
//! node B, and everything an operator does on A reaches that socket.
//!
//! Routing: both nodes run with their own public URL, so a device's
//! `webSocketUrl` points at A (where it was registered); the test opens the
//! socket on B by swapping A's `host:port` for B's in that URL, as a load
//! balancer in front of the nodes would.
//!
//! Needs `WEBEX_TEST_DATABASE_URL` and `WEBEX_TEST_REDIS_URL`; skipped
//! otherwise. The database `webex_test_<uuid>` is dropped at the end, also
//! when the test fails; the server processes are killed when their guards
//! drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Child;

use crate::support::mercury::*;
use crate::support::{PROCESS_GUARD, Serve, on_fresh_postgres, token_create};
use webex_server::testing::ADMIN_TOKEN;

/// How fast a revocation or device removal must close a remote socket.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// One `webex serve` child process; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    base_url: String,
    node_id: String,
}

impl Node {
    /// Starts `webex serve` on an ephemeral port and waits for its
    /// `listening on <url>` line.
    async fn start(database: &str, redis: &str, node_id: String) -> Node {
        let args = [
            "--database",
            database,
            "--redis",
            redis,
            "--admin-token",
            ADMIN_TOKEN,
            "--node-id",
            &node_id,
        ];
        let Serve { child, url } = Serve::start(&args, Stdio::inherit()).await;
        let base_url = url;
        Node {
            child,
            base_url,
            node_id,
        }
    }

    /// `host:port` of the node.
    fn authority(&self) -> &str {
        self.base_url
            .strip_prefix("http://")
            .expect("plain http base URL")
    }

    /// Sends SIGTERM and waits for a clean exit.
    async fn terminate(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(PROCESS_GUARD, self.child.wait())
            .await
            .expect("node did not exit after SIGTERM")
            .unwrap();
        assert!(status.success(), "{}: {status}", self.node_id);
    }
}

/// The same device, reached through `node` instead of the node that
/// registered it.
fn via(device: &Device, registered_on: &Node, node: &Node) -> Device {
    Device {
        ws_url: device
            .ws_url
            .replace(registered_on.authority(), node.authority()),
        ..device.clone()
    }
}

/// Waits until `on` lists a socket of `device` held by node `holder`.
async fn wait_for_registry(on: &Node, device: &str, holder: &Node) {
    tokio::time::timeout(GUARD, async {
        loop {
            let conns = admin_connections(&on.base_url, &format!("deviceId={device}")).await;
            if conns.iter().any(|c| c["node"] == holder.node_id.as_str()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the registry never showed the socket");
}

/// Publishes an event for `device` on `node`; returns the 202 body.
async fn publish(node: &Node, device: &Device, n: u32) -> Value {
    let res = admin_publish(
        &node.base_url,
        json!({"deviceId": device.id, "data": {"eventType": "two.nodes", "n": n}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    res.json().await.unwrap()
}

/// Reads the next frame and checks it is event `n` published as `published`.
async fn expect_event(ws: &mut Ws, published: &Value, n: u32) {
    let event = next_json(ws).await;
    assert_eq!(event["id"], published["id"], "{event}");
    assert_eq!(event["data"]["eventType"], "two.nodes", "{event}");
    assert_eq!(event["data"]["n"], n, "{event}");
}

#[tokio::test]
async fn two_server_processes_share_devices_events_and_revocations() {
    let (Some(db), Some(redis)) = (
        webex_server::testing::postgres_url(),
        webex_server::testing::redis_url(),
    ) else {
        return;
    };
    on_fresh_postgres(&db, |url| scenario(url, redis)).await;
}

async fn scenario(database: String, redis: String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let a = Node::start(&database, &redis, format!("a-{suffix}")).await;
    let b = Node::start(&database, &redis, format!("b-{suffix}")).await;
    assert_ne!(a.base_url, b.base_url);
    let alice = token_create(&database, &email("alice")).await;
    let bob = token_create(&database, &email("bob")).await;

    // Registered through A, connected to B: authenticated, buffer_state.
    let d1 = register_device(&a.base_url, &alice).await;
    let mut ws1 = connect(&via(&d1, &a, &b), &alice, false).await;
    wait_for_registry(&a, &d1.id, &b).await;

    // An event published on A reaches the socket on B.
    let published = publish(&a, &d1, 1).await;
    assert_eq!(
        (&published["onlineDevices"], &published["offlineDevices"]),
        (&json!(1), &json!(0)),
        "{published}"
    );
    expect_event(&mut ws1, &published, 1).await;

    // Revoking a token on A closes its socket on B with 4401.
    let d2 = register_device(&a.base_url, &bob).await;
    let mut ws2 = connect(&via(&d2, &a, &b), &bob, false).await;
    let res = admin_revoke(&a.base_url, &bob).await;
    assert_eq!(res.status(), 200);
    assert_eq!(expect_close_within(&mut ws2, CLOSE_DEADLINE).await.0, 4401);

    // Deleting a device on A closes its socket on B with 4404.
    let d3 = register_device(&a.base_url, &alice).await;
    let mut ws3 = connect(&via(&d3, &a, &b), &alice, false).await;
    let res = http()
        .delete(&d3.url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(expect_close_within(&mut ws3, CLOSE_DEADLINE).await.0, 4404);

    // SIGTERM on B: its socket is closed with 1001 and B leaves the registry.
    let terminating = tokio::spawn(b.terminate());
    assert_eq!(expect_close(&mut ws1).await.0, 1001);
    terminating.await.unwrap();
    // No node holds d1 now: A says so.
    let published = publish(&a, &d1, 2).await;
    assert_eq!(
        (&published["onlineDevices"], &published["offlineDevices"]),
        (&json!(0), &json!(1)),
        "{published}"
    );

    // The client reconnects to A (its webSocketUrl) and gets the next event.
    // Event 2 may still be on its way through Redis when the socket is back
    // (A counted the device offline when it published): if it arrives, it
    // arrives first, and it is event 2.
    let mut ws1 = connect(&d1, &alice, false).await;
    let published = publish(&a, &d1, 3).await;
    assert_eq!(published["onlineDevices"], 1, "{published}");
    let mut event = next_json(&mut ws1).await;
    if event["data"]["n"] == 2 {
        event = next_json(&mut ws1).await;
    }
    assert_eq!(event["id"], published["id"], "{event}");
    assert_eq!(event["data"]["n"], 3, "{event}");

    let terminating = tokio::spawn(a.terminate());
    assert_eq!(expect_close(&mut ws1).await.0, 1001);
    terminating.await.unwrap();
}
