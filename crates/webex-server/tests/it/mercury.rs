//! Mercury websockets end to end: a plain websocket client against an
//! in-process server (SQLite, in-process bus).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::support::*;
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use webex_server::bus::{BusMessage, Target};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

/// How fast a revocation or device removal must close the socket.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn handshake_ping_pong_and_sequence_numbers() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut ws = open(&device.ws_url, false).await;
    send_auth(&mut ws, &token).await;

    let first = next_json(&mut ws).await;
    assert!(first.get("type").is_none(), "{first}");
    assert_eq!(first["data"]["eventType"], "mercury.buffer_state");
    assert_eq!(first["sequenceNumber"], 1);
    assert!(first["id"].as_str().is_some_and(|s| !s.is_empty()));

    send_json(&mut ws, json!({"id": "p1", "type": "ping"})).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(
        pong,
        json!({"id": "p1", "type": "pong", "sequenceNumber": 2})
    );

    // Acks, unknown frames, non-JSON text and binary frames are ignored.
    send_json(&mut ws, json!({"messageId": first["id"], "type": "ack"})).await;
    send_json(&mut ws, json!({"id": "x", "type": "something-new"})).await;
    ws.send(Message::text("not json at all")).await.unwrap();
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();

    let res = admin_publish(
        server.base_url(),
        json!({"deviceId": device.id, "data": {"eventType": "conversation.activity", "n": 1}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["onlineDevices"], 1);
    assert_eq!(body["offlineDevices"], 0);

    let event = next_json(&mut ws).await;
    assert_eq!(event["id"], body["id"]);
    assert_eq!(event["sequenceNumber"], 3);
    assert_eq!(
        event["data"],
        json!({"eventType": "conversation.activity", "n": 1})
    );
    assert!(event["timestamp"].as_i64().is_some());

    send_json(&mut ws, json!({"id": "p2", "type": "ping"})).await;
    assert_eq!(next_json(&mut ws).await["sequenceNumber"], 4);
    server.shutdown().await;
}

#[tokio::test]
async fn no_authorization_frame_in_time_is_4401() {
    let (server, _token, device) =
        server_with_device(|c| c.auth_timeout = Duration::from_millis(200)).await;
    let mut ws = open(&device.ws_url, false).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4401, "{reason}");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tokens_are_4401() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let person = server.person(&email("x")).await.unwrap();
    let unknown = format!("{}_PF84_{}", "a".repeat(44), person.org_id);
    for bad in [unknown.as_str(), "garbage", ""] {
        let mut ws = open(&device.ws_url, false).await;
        send_auth(&mut ws, bad).await;
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, 4401, "token {bad:?}: {reason}");
    }
    // The good token still works.
    let _ws = connect(&device, &token, false).await;
    server.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_4401() {
    let server = TestServer::start().await.unwrap();
    let who = email("exp");
    let token = server.token_for(&who).await.unwrap();
    let device = register_device(server.base_url(), &token).await;
    let expired = server.token_with(&who, Some(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut ws = open(&device.ws_url, false).await;
    send_auth(&mut ws, &expired).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4401);
    assert!(reason.contains("expired"), "{reason}");
    server.shutdown().await;
}

#[tokio::test]
async fn revoked_token_cannot_connect() {
    let (server, token, device) = server_with_device(|_| {}).await;
    assert_eq!(admin_revoke(server.base_url(), &token).await.status(), 200);
    let mut ws = open(&device.ws_url, false).await;
    send_auth(&mut ws, &token).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, 4401);
    assert!(reason.contains("revoked"), "{reason}");
    server.shutdown().await;
}

#[tokio::test]
async fn another_persons_device_closes_like_a_missing_one() {
    // Issue 14: 4403 told "someone else's device" from "no such device"
    // (4404), an oracle for device ids that HTTP (404 for both) did not give.
    let (server, _token, device) = server_with_device(|_| {}).await;
    let mallory = server.token_for(&email("mallory")).await.unwrap();
    let mut ws = open(&device.ws_url, false).await;
    send_auth(&mut ws, &mallory).await;
    let theirs = expect_close(&mut ws).await;
    let missing_url = device
        .ws_url
        .replace(&device.id, &uuid::Uuid::new_v4().to_string());
    let mut ws = open(&missing_url, false).await;
    send_auth(&mut ws, &mallory).await;
    let missing = expect_close(&mut ws).await;
    assert_eq!(theirs.0, 4404);
    assert_eq!(theirs, missing);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_device_is_4404() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let url = device
        .ws_url
        .replace(&device.id, &uuid::Uuid::new_v4().to_string());
    let mut ws = open(&url, false).await;
    send_auth(&mut ws, &token).await;
    assert_eq!(expect_close(&mut ws).await.0, 4404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_first_frame_that_is_not_authorization_is_4400() {
    let (server, _token, device) = server_with_device(|_| {}).await;
    for first in [
        Message::text("{not json"),
        Message::text(r#"{"id":"1","type":"ping"}"#),
        Message::text(r#"{"id":"1","type":"authorization","data":{}}"#),
        Message::binary(vec![0u8; 4]),
    ] {
        let mut ws = open(&device.ws_url, false).await;
        ws.send(first.clone()).await.unwrap();
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, 4400, "{first:?}: {reason}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_socket_replaces_the_first() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut first = connect(&device, &token, false).await;
    let mut second = connect(&device, &token, false).await;
    assert_eq!(
        expect_close(&mut first).await,
        (4000, "replaced".to_owned())
    );
    send_json(&mut second, json!({"id": "p", "type": "ping"})).await;
    assert_eq!(next_json(&mut second).await["type"], "pong");
    server.shutdown().await;
}

#[tokio::test]
async fn multiple_connections_both_receive_events() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut a = connect(&device, &token, true).await;
    let mut b = connect(&device, &token, true).await;
    let conns = admin_connections(server.base_url(), &format!("deviceId={}", device.id)).await;
    assert_eq!(conns.len(), 2);
    assert!(
        conns
            .iter()
            .all(|c| c["multipleConnections"] == true && c["authenticated"] == true)
    );

    let res = admin_publish(
        server.base_url(),
        json!({"deviceId": device.id, "data": {"eventType": "a.b"}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    assert_eq!(next_json(&mut a).await["data"]["eventType"], "a.b");
    assert_eq!(next_json(&mut b).await["data"]["eventType"], "a.b");
    server.shutdown().await;
}

#[tokio::test]
async fn events_for_a_person_reach_all_their_devices() {
    let server = TestServer::start().await.unwrap();
    let who = email("multi");
    let token = server.token_for(&who).await.unwrap();
    let d1 = register_device(server.base_url(), &token).await;
    let d2 = register_device(server.base_url(), &token).await;
    let _d3_offline = register_device(server.base_url(), &token).await;
    let mut a = connect(&d1, &token, false).await;
    let mut b = connect(&d2, &token, false).await;

    let res = admin_publish(
        server.base_url(),
        json!({"email": who.to_uppercase(), "data": {"eventType": "p.q"}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["onlineDevices"], 2);
    assert_eq!(body["offlineDevices"], 1);
    assert_eq!(next_json(&mut a).await["data"]["eventType"], "p.q");
    assert_eq!(next_json(&mut b).await["data"]["eventType"], "p.q");
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_is_1009() {
    let (server, token, device) = server_with_device(|c| c.max_frame_bytes = 1024).await;
    let mut ws = connect(&device, &token, false).await;
    ws.send(Message::text("x".repeat(4096))).await.unwrap();
    assert_eq!(expect_close(&mut ws).await.0, 1009);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_slow_consumer() {
    let (server, token, device) = server_with_device(|c| c.outbound_queue = 4).await;
    let mut ws = connect(&device, &token, false).await;
    let state = server.server().state();
    let payload = "y".repeat(64 * 1024);
    // Far more than socket buffers hold: without the bounded queue this
    // would pile up ≈ 256 MiB in the server.
    let mut published = 0;
    while state.hub.device_online(&device.id) && published < 4096 {
        state
            .bus
            .publish(BusMessage::Event {
                target: Target::Device(device.id.clone()),
                id: format!("e{published}"),
                data: json!({"eventType": "bulk", "payload": payload}),
                published_at: 0,
                tracking_id: None,
            })
            .await
            .unwrap();
        published += 1;
        tokio::task::yield_now().await;
        if published % 64 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        !state.hub.device_online(&device.id),
        "still connected after {published} events"
    );
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
    server.shutdown().await;
}

#[tokio::test]
async fn revoking_the_token_closes_the_socket_with_4401() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut ws = connect(&device, &token, false).await;
    let started = Instant::now();
    let res = admin_revoke(server.base_url(), &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], true);
    let (code, _) = expect_close_within(&mut ws, CLOSE_DEADLINE).await;
    assert_eq!(code, 4401);
    eprintln!("revocation closed the socket after {:?}", started.elapsed());
    // Revoking again is fine; unknown tokens are 404.
    let again = admin_revoke(server.base_url(), &token).await;
    assert_eq!(again.json::<Value>().await.unwrap()["revoked"], false);
    assert_eq!(
        admin_revoke(server.base_url(), "nope_PF84_x")
            .await
            .status(),
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_the_device_closes_the_socket_with_4404() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut ws = connect(&device, &token, false).await;
    let res = http()
        .delete(&device.url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let (code, _) = expect_close_within(&mut ws, CLOSE_DEADLINE).await;
    assert_eq!(code, 4404);
    server.shutdown().await;
}

#[tokio::test]
async fn client_closes_are_echoed() {
    let (server, token, device) = server_with_device(|_| {}).await;
    for (code, reason) in [
        (3050u16, "meetings unregister"),
        (1000, "Done"),
        (4999, "x"),
    ] {
        let mut ws = connect(&device, &token, false).await;
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })))
        .await
        .unwrap();
        // The official client fakes a reconnect-worthy close after 2 s.
        let (echoed, _) = expect_close_within(&mut ws, Duration::from_secs(2)).await;
        assert_eq!(echoed, code);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let mut ws = connect(&device, &token, false).await;
    let stopping = tokio::spawn(server.shutdown());
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1001);
    tokio::time::timeout(GUARD, stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn admin_api_requires_the_admin_token() {
    let (server, _token, device) = server_with_device(|_| {}).await;
    let url = format!("{}/admin/api/v1/connections", server.base_url());
    let none = http().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    let wrong = http().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http()
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    let base = server.base_url().to_owned();
    for (body, status) in [
        (json!({"data": {"eventType": "a"}}), 400),
        (
            json!({"deviceId": device.id, "personId": "p", "data": {"eventType": "a"}}),
            400,
        ),
        (json!({"deviceId": device.id, "data": {}}), 400),
        (json!({"deviceId": device.id, "data": "a"}), 400),
        (json!({"deviceId": device.id}), 400),
        (
            json!({"deviceId": "no-such-device", "data": {"eventType": "a"}}),
            404,
        ),
        (
            json!({"personId": "no-such-person", "data": {"eventType": "a"}}),
            404,
        ),
        (
            json!({"email": "nobody@nowhere.example", "data": {"eventType": "a"}}),
            404,
        ),
        (
            json!({"deviceId": device.id, "data": {"eventType": "a"}}),
            202,
        ),
    ] {
        let res = admin_publish(&base, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
    }
    let offline: Value = admin_publish(
        &base,
        json!({"deviceId": device.id, "data": {"eventType": "a"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            offline["onlineDevices"].clone(),
            offline["offlineDevices"].clone()
        ),
        (json!(0), json!(1))
    );
    server.shutdown().await;

    let disabled = TestServer::start_with(|c| c.admin_token = None)
        .await
        .unwrap();
    let res = http()
        .get(format!("{}/admin/api/v1/connections", disabled.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    disabled.shutdown().await;
}

#[tokio::test]
async fn connections_are_listed_with_their_owner() {
    let (server, token, device) = server_with_device(|_| {}).await;
    let _ws = connect(&device, &token, false).await;
    let all = admin_connections(server.base_url(), "").await;
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c["deviceId"], device.id.as_str());
    assert_eq!(c["node"], server.server().state().hub.node_id());
    assert_eq!(c["authenticated"], true);
    assert_eq!(c["multipleConnections"], false);
    assert!(c["connectedAt"].as_str().is_some());
    let person = c["personId"].as_str().unwrap().to_owned();
    assert_eq!(
        admin_connections(server.base_url(), &format!("personId={person}"))
            .await
            .len(),
        1
    );
    assert!(
        admin_connections(server.base_url(), "personId=someone-else")
            .await
            .is_empty()
    );
    server.shutdown().await;
}
