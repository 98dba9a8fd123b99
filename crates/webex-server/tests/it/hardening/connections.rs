//! Slow and idle connections, connection caps, early 413 (issue 14, defect 1).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use webex_server::ServerConfig;
use webex_server::connections::ConnectionLimits;
use webex_server::testing::TestServer;

use super::support::{GUARD, closed_within, raw, read_response, read_until_closed, send};

const HEADER: Duration = Duration::from_millis(300);
const BODY: Duration = Duration::from_millis(400);
const IDLE: Duration = Duration::from_millis(900);

fn quick(c: &mut ServerConfig) {
    c.connections = ConnectionLimits {
        header_read_timeout: HEADER,
        body_read_timeout: BODY,
        idle_timeout: IDLE,
        max_connections: 0,
        max_connections_per_peer: 0,
        trusted_proxies: Default::default(),
    };
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_deadline() {
    let server = TestServer::start_with(quick).await.unwrap();
    let mut s = raw(server.server().local_addr()).await;
    let (sent, took) = read_until_closed(&mut s).await;
    assert!(sent.is_empty(), "{sent}");
    assert!(took >= HEADER - Duration::from_millis(50), "{took:?}");
    assert!(took < HEADER + Duration::from_secs(1), "{took:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_header_dripped_byte_by_byte_is_cut_at_the_deadline() {
    let server = TestServer::start_with(quick).await.unwrap();
    let mut s = raw(server.server().local_addr()).await;
    let started = Instant::now();
    let head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for b in head.chars() {
        if tokio::io::AsyncWriteExt::write_all(&mut s, &[b as u8])
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        if closed_within(&mut s, Duration::from_millis(50)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a dripping header kept the connection open");
    let took = started.elapsed();
    assert!(took < HEADER + Duration::from_secs(1), "{took:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn half_a_body_is_answered_408_at_the_body_deadline() {
    let server = TestServer::start_with(quick).await.unwrap();
    let token = server.token_for("slow@example.com").await.unwrap();
    let mut s = raw(server.server().local_addr()).await;
    send(
        &mut s,
        &format!(
            "POST /wdm/api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
        ),
    )
    .await;
    let started = Instant::now();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("\"message\""), "JSON error body: {text}");
    assert!(started.elapsed() < BODY + Duration::from_secs(1));
    assert!(closed_within(&mut s, Duration::from_secs(2)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body() {
    let server = TestServer::start_with(|c| {
        c.connections = ConnectionLimits::default();
    })
    .await
    .unwrap();
    let token = server.token_for("big@example.com").await.unwrap();
    let mut s = raw(server.server().local_addr()).await;
    send(
        &mut s,
        &format!(
            "POST /wdm/api/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 300000\r\n\r\n"
        ),
    )
    .await;
    let started = Instant::now();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("300000"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(2));
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_deadline() {
    let server = TestServer::start_with(quick).await.unwrap();
    let mut s = raw(server.server().local_addr()).await;
    send(&mut s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (status, _) = read_response(&mut s).await;
    assert_eq!(status, 200);
    // Past the header deadline, the idle connection is still there…
    assert!(!closed_within(&mut s, HEADER + Duration::from_millis(200)).await);
    // …and a second request on it works.
    send(&mut s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(read_response(&mut s).await.0, 200);
    let (_, took) = read_until_closed(&mut s).await;
    assert!(took >= IDLE - Duration::from_millis(100), "{took:?}");
    assert!(took < IDLE + Duration::from_secs(1), "{took:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn each_peer_holds_at_most_its_cap() {
    let server = TestServer::start_with(|c| {
        c.connections.max_connections_per_peer = 3;
    })
    .await
    .unwrap();
    let addr = server.server().local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw(addr).await);
    }
    let mut fourth = raw(addr).await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2)).await,
        "a fourth connection from one peer was kept"
    );
    for s in &mut held {
        assert!(!closed_within(s, Duration::from_millis(100)).await);
    }
    drop(held.pop());
    // The server frees the place once it sees the close: until then a new
    // connection is refused, after that it is served.
    let deadline = Instant::now() + GUARD;
    let mut attempts = 0;
    while !healthz_served(addr).await {
        attempts += 1;
        assert!(
            Instant::now() < deadline,
            "the place of a closed connection was not given back ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await;
}

/// Whether a new connection to `addr` is kept and answers `GET /healthz`
/// with 200 (`false`: the server closed it first).
async fn healthz_served(addr: std::net::SocketAddr) -> bool {
    let mut s = raw(addr).await;
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if tokio::io::AsyncWriteExt::write_all(&mut s, request.as_bytes())
        .await
        .is_err()
    {
        return false;
    }
    let (answer, _) = read_until_closed(&mut s).await;
    answer.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn the_server_holds_at_most_its_cap() {
    let server = TestServer::start_with(|c| {
        c.connections.max_connections = 2;
        c.connections.max_connections_per_peer = 0;
    })
    .await
    .unwrap();
    let addr = server.server().local_addr();
    let _a = raw(addr).await;
    let _b = raw(addr).await;
    let mut third = raw(addr).await;
    assert!(closed_within(&mut third, Duration::from_secs(2)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_outlives_the_http_idle_deadline() {
    let server = TestServer::start_with(quick).await.unwrap();
    let token = server.token_for("ws@example.com").await.unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(&token)
        .json(&json!({"name": "idle-test", "deviceType": "WEB", "model": "web-js-sdk",
            "localizedModel": "webex-js-sdk", "systemName": "WEBEX_JS_SDK", "systemVersion": "3.12.0"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let body: Value = res.json().await.unwrap();
    let ws_url = body["webSocketUrl"].as_str().unwrap().to_owned();
    let (mut ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(ws_url))
        .await
        .unwrap()
        .unwrap();
    let auth = json!({"id": "auth-1", "type": "authorization",
        "data": {"token": format!("Bearer {token}")}, "trackingId": "t_1"});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let first = tokio::time::timeout(GUARD, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("mercury.buffer_state"));
    // Quiet for longer than both HTTP deadlines.
    tokio::time::sleep(IDLE * 2).await;
    ws.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(GUARD, ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(&p[..], b"still there?");
                break;
            }
            Some(Ok(Message::Close(c))) => panic!("closed: {c:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
    server.shutdown().await;
}

/// The attack with the default limits: one client opens 1,000
/// silent connections. Prints how many the server held and for how long
/// (RELIABILITY.md's figures); asserts only that every one was closed.
#[tokio::test]
#[ignore = "takes the default 10 s header deadline; run with --run-ignored"]
async fn figures_a_thousand_silent_connections_with_default_limits() {
    let server = TestServer::start().await.unwrap();
    let addr = server.server().local_addr();
    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..1000 {
        sockets.push(raw(addr).await);
    }
    let opened = started.elapsed();
    let closes = futures::future::join_all(sockets.iter_mut().map(|s| async {
        let t = Instant::now();
        let (_, took) = read_until_closed_within(s, Duration::from_secs(30)).await;
        took.unwrap_or(t.elapsed())
    }))
    .await;
    let refused = closes
        .iter()
        .filter(|d| **d < Duration::from_secs(1))
        .count();
    let held: Vec<_> = closes
        .iter()
        .filter(|d| **d >= Duration::from_secs(1))
        .collect();
    let last = closes.iter().max().copied().unwrap_or_default();
    eprintln!(
        "1000 silent connections opened in {opened:?}: {refused} closed at once (per-peer cap), \
         {} held, the last closed after {last:?}",
        held.len()
    );
    assert!(last < Duration::from_secs(15), "{last:?}");
    server.shutdown().await;
}

/// Like `read_until_closed`, with its own limit; `None` when still open.
async fn read_until_closed_within(
    s: &mut tokio::net::TcpStream,
    limit: Duration,
) -> (Vec<u8>, Option<Duration>) {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Err(_) => return (out, None),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(started.elapsed())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}
