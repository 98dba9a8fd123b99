//! Mercury sockets of expired devices (issue 14, defect 6).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::store::DeviceUpdateOutcome;
use webex_server::testing::TestServer;

use super::support::{GUARD, http};

fn device() -> Value {
    json!({"name": "gaps", "deviceType": "WEB", "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk", "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0"})
}

#[tokio::test]
async fn an_expired_device_stops_receiving_at_its_expiry() {
    let server = TestServer::start_with(|c| {
        c.sweep_interval = Duration::from_secs(3600);
    })
    .await
    .unwrap();
    let token = server.token_for("ttl@example.com").await.unwrap();
    let mut body = device();
    body["ttl"] = 30.into();
    let res = http()
        .post(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let dev: Value = res.json().await.unwrap();
    let id = dev["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // Bring the expiry to one second from now rather than waiting 30 s.
    let store = server.server().state().store.clone();
    let mut record = store.device(&id).await.unwrap().unwrap();
    record.expires_at = Some(chrono::Utc::now().timestamp_millis() + 1000);
    assert!(matches!(
        store.update_device(&record, None).await.unwrap(),
        DeviceUpdateOutcome::Updated(_)
    ));

    let ws_url = dev["webSocketUrl"].as_str().unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let auth = json!({"id": "a", "type": "authorization",
        "data": {"token": format!("Bearer {token}")}, "trackingId": "t"});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let started = std::time::Instant::now();
    let code = loop {
        match tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("still open at the guard")
        {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(code, 4404);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}
