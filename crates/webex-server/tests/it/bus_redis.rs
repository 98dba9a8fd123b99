//! Two in-process nodes sharing one Redis and one PostgreSQL database:
//! events, revocations and device removals cross nodes; the presence
//! registry tells a node about sockets held by the other.
//!
//! Needs `WEBEX_TEST_REDIS_URL` and `WEBEX_TEST_DATABASE_URL`; skipped
//! otherwise, and a failure under `CI=true`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use webex_server::testing::TestServer;

/// How fast a revocation or device removal must close a remote socket.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// Waits until node `on` lists `device` as connected on node `node`.
async fn wait_for_registry(on: &TestServer, device: &str, node: &str) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let conns = admin_connections(on.base_url(), &format!("deviceId={device}")).await;
        if conns.iter().any(|c| c["node"] == node) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "registry never showed {device}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn events_published_on_one_node_reach_sockets_on_the_other() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let token = cluster.a.token_for(&email("x")).await.unwrap();
    let device = register_device(cluster.a.base_url(), &token).await;
    // Connect to node b although the device was registered on a.
    let b_device = Device {
        ws_url: device.ws_url.replace(
            cluster.a.server().local_addr().to_string().as_str(),
            &cluster.b.server().local_addr().to_string(),
        ),
        ..device.clone()
    };
    let mut ws = connect(&b_device, &token, false).await;
    let b_node = cluster.b.server().state().hub.node_id().to_owned();
    wait_for_registry(&cluster.a, &device.id, &b_node).await;

    let res = admin_publish(
        cluster.a.base_url(),
        json!({"deviceId": device.id, "data": {"eventType": "cross.node", "k": "v"}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["onlineDevices"], 1, "{body}");
    let event = next_json(&mut ws).await;
    assert_eq!(event["id"], body["id"]);
    assert_eq!(event["data"]["eventType"], "cross.node");
    assert_eq!(event["sequenceNumber"], 2);

    // Revoking on a closes the socket on b.
    let res = admin_revoke(cluster.a.base_url(), &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(expect_close_within(&mut ws, CLOSE_DEADLINE).await.0, 4401);
    cluster.shutdown().await;
}

#[tokio::test]
async fn deleting_a_device_on_one_node_closes_its_socket_on_the_other() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let token = cluster.a.token_for(&email("y")).await.unwrap();
    let device = register_device(cluster.a.base_url(), &token).await;
    let a_addr = cluster.a.server().local_addr().to_string();
    let b_addr = cluster.b.server().local_addr().to_string();
    let on_b = Device {
        ws_url: device.ws_url.replace(&a_addr, &b_addr),
        ..device.clone()
    };
    let mut ws = connect(&on_b, &token, false).await;
    let res = http()
        .delete(&device.url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(expect_close_within(&mut ws, CLOSE_DEADLINE).await.0, 4404);

    // Once b is gone, a no longer lists its sockets.
    let b_node = cluster.b.server().state().hub.node_id().to_owned();
    let Cluster { a, b } = cluster;
    b.shutdown().await;
    let conns = admin_connections(a.base_url(), "").await;
    assert!(conns.iter().all(|c| c["node"] != b_node.as_str()));
    a.shutdown().await;
}
