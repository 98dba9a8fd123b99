//! Helpers shared by the Mercury end-to-end tests: a plain websocket client,
//! device registration over HTTP, admin calls.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

/// Hang guard for anything a test waits for.
pub const GUARD: Duration = Duration::from_secs(10);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A persistent device as the official JS SDK describes itself.
pub fn device_body(name: &str) -> Value {
    json!({
        "name": name,
        "deviceType": "WEB",
        "model": "web-js-sdk",
        "localizedModel": "webex-js-sdk",
        "systemName": "WEBEX_JS_SDK",
        "systemVersion": "3.12.0"
    })
}

/// A registered device: its id, WDM URL and websocket URL.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub url: String,
    pub ws_url: String,
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Registers a device over `POST /wdm/api/v1/devices`.
pub async fn register_device(base: &str, token: &str) -> Device {
    let res = http()
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(token)
        .json(&device_body("mercury-test"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "register: {}", res.status());
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    let ws_url = body["webSocketUrl"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    Device { id, url, ws_url }
}

/// Opens a socket with the official SDK's query parameters.
pub async fn open(ws_url: &str, multiple: bool) -> Ws {
    let mut url = format!(
        "{ws_url}?outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true&clientTimestamp=1"
    );
    if multiple {
        url.push_str("&multipleConnections=true");
    }
    let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    ws
}

/// Sends the authorization frame.
pub async fn send_auth(ws: &mut Ws, token: &str) {
    send_json(
        ws,
        json!({"id": "auth-1", "type": "authorization", "data": {"token": format!("Bearer {token}")}, "trackingId": "test_1"}),
    )
    .await;
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Opens, authenticates, and checks the buffer_state frame.
pub async fn connect(device: &Device, token: &str, multiple: bool) -> Ws {
    let mut ws = open(&device.ws_url, multiple).await;
    send_auth(&mut ws, token).await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        first["data"]["eventType"], "mercury.buffer_state",
        "{first}"
    );
    ws
}

/// The next text frame as JSON (panics on close or after [`GUARD`]).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("no frame in time")
            .expect("stream ended")
            .expect("read error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Reads until the server's close frame; returns its code and reason.
pub async fn expect_close_within(ws: &mut Ws, limit: Duration) -> (u16, String) {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    // One more read flushes tungstenite's reply to the close.
                    let _ = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
                    return match frame {
                        Some(CloseFrame { code, reason }) => (u16::from(code), reason.to_string()),
                        None => (1005, String::new()),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("read error before the close frame: {e}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("no close frame in time")
}

pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    expect_close_within(ws, GUARD).await
}

/// `POST /admin/api/v1/events` with the test admin token.
pub async fn admin_publish(base: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{base}/admin/api/v1/events"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST /admin/api/v1/tokens/revoke` with the test admin token.
pub async fn admin_revoke(base: &str, token: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/admin/api/v1/tokens/revoke"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
}

/// `GET /admin/api/v1/connections?<query>`'s list.
pub async fn admin_connections(base: &str, query: &str) -> Vec<Value> {
    let res = http()
        .get(format!("{base}/admin/api/v1/connections?{query}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["connections"].as_array().unwrap().clone()
}

/// A fresh email, so tests sharing a database never share people.
pub fn email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A server and one person's token and device.
pub async fn server_with_device(
    tweak: impl FnOnce(&mut webex_server::ServerConfig),
) -> (TestServer, String, Device) {
    let server = TestServer::start_with(tweak).await.unwrap();
    let token = server.token_for(&email("alice")).await.unwrap();
    let device = register_device(server.base_url(), &token).await;
    (server, token, device)
}
