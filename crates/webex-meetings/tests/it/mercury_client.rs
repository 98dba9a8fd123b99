//! End-to-end tests of the Mercury client.
//!
//! `real_server_*` tests run against the real server (`webex_server`); the
//! `peer_*` tests use a small scripted websocket peer defined below for what
//! the real server cannot easily be made to do (never answer a ping, refuse an
//! upgrade with 429 + Retry-After, send garbage).

// tungstenite's upgrade callback has a fixed `Result<Response, ErrorResponse>` type.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use webex_meetings::mercury::{
    HostError, MercuryClient, MercuryError, MercuryEvent, MercuryHost, MercuryOptions,
};

/// Hang guard for anything a test waits on.
const GUARD: Duration = Duration::from_secs(20);

type Events = mpsc::UnboundedReceiver<MercuryEvent>;

// ---------------------------------------------------------------- test host

/// Where `reregister_device` gets a new URL from.
enum Reregister {
    /// Always this URL.
    Fixed(String),
    /// Registers a device over HTTP at this WDM base, with the current token.
    Wdm(String),
}

/// A [`MercuryHost`] that records its calls.
struct TestHost {
    token: Mutex<String>,
    /// What `refresh_access_token` switches to (`None`: a refresh failure).
    next_token: Mutex<Option<String>>,
    reregister: Reregister,
    refreshes: AtomicU32,
    reregistrations: AtomicU32,
}

impl TestHost {
    fn new(token: &str, reregister: Reregister) -> Arc<Self> {
        Arc::new(Self {
            token: Mutex::new(token.to_owned()),
            next_token: Mutex::new(None),
            reregister,
            refreshes: AtomicU32::new(0),
            reregistrations: AtomicU32::new(0),
        })
    }

    fn set_next_token(&self, token: &str) {
        *self.next_token.lock().expect("lock") = Some(token.to_owned());
    }

    fn current(&self) -> String {
        self.token.lock().expect("lock").clone()
    }
}

#[async_trait]
impl MercuryHost for TestHost {
    async fn access_token(&self) -> Result<SecretString, HostError> {
        Ok(SecretString::from(self.current()))
    }

    async fn refresh_access_token(&self) -> Result<SecretString, HostError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let next = self.next_token.lock().expect("lock").clone();
        match next {
            Some(t) => {
                *self.token.lock().expect("lock") = t.clone();
                Ok(SecretString::from(t))
            }
            None => Err(HostError {
                message: "refresh token rejected".into(),
                retryable: false,
            }),
        }
    }

    async fn reregister_device(&self) -> Result<String, HostError> {
        self.reregistrations.fetch_add(1, Ordering::SeqCst);
        match &self.reregister {
            Reregister::Fixed(url) => Ok(url.clone()),
            Reregister::Wdm(base) => register_device(base, &self.current())
                .await
                .map(|d| d.web_socket_url)
                .map_err(|e| HostError {
                    message: e.to_string(),
                    retryable: true,
                }),
        }
    }
}

fn quick_options() -> MercuryOptions {
    let mut o = MercuryOptions::default();
    o.backoff_initial = Duration::from_millis(20);
    o.backoff_max = Duration::from_millis(200);
    o.connect_timeout = Duration::from_secs(5);
    o.handshake_timeout = Duration::from_secs(5);
    o
}

async fn connect(
    url: &str,
    host: Arc<TestHost>,
    options: MercuryOptions,
) -> (Result<MercuryClient, MercuryError>, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let result = timeout(GUARD, MercuryClient::connect(url, host, options, tx))
        .await
        .expect("connect settles");
    (result, rx)
}

/// The next event that is not a `Message` for which `skip` holds.
async fn next_event(rx: &mut Events) -> MercuryEvent {
    timeout(GUARD, rx.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

/// Skips events until `pick` returns `Some`.
async fn wait_for<T>(rx: &mut Events, mut pick: impl FnMut(&MercuryEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + GUARD;
    loop {
        let event = timeout(deadline - Instant::now(), rx.recv())
            .await
            .expect("the awaited event in time")
            .expect("channel open");
        if let Some(t) = pick(&event) {
            return t;
        }
    }
}

async fn wait_for_message(rx: &mut Events, event_type: &str) -> Value {
    wait_for(rx, |e| match e {
        MercuryEvent::Message(f) if f.event_type() == Some(event_type) => {
            Some(serde_json::to_value(f).expect("serializable"))
        }
        _ => None,
    })
    .await
}

async fn wait_finished(client: &MercuryClient) {
    timeout(GUARD, async {
        while !client.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("background task ended");
}

// ------------------------------------------------------------- scripted peer

type Ws = WebSocketStream<TcpStream>;

/// A websocket server that runs `script(n, tcp)` for its n-th connection.
struct Peer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn start<F, Fut>(script: F) -> Self
    where
        F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut n = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(script(n, tcp));
                n += 1;
            }
        });
        Self { addr, task }
    }

    fn url(&self) -> String {
        format!(
            "ws://{}/mercury/registrations/d1/messages?region=test",
            self.addr
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts the upgrade and returns the socket and the request URI.
async fn upgrade(tcp: TcpStream) -> (Ws, String) {
    let uri = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&uri);
    let ws = tokio_tungstenite::accept_hdr_async(tcp, move |req: &Request, resp: Response| {
        *seen.lock().expect("lock") = req.uri().to_string();
        Ok(resp)
    })
    .await
    .expect("upgrade");
    let uri = uri.lock().expect("lock").clone();
    (ws, uri)
}

/// Answers the upgrade with `status` (and `Retry-After` when given).
async fn refuse(tcp: TcpStream, status: u16, retry_after: Option<&'static str>) {
    let _ = tokio_tungstenite::accept_hdr_async(tcp, move |_: &Request, _: Response| {
        let mut resp = ErrorResponse::new(None);
        *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
        if let Some(v) = retry_after {
            resp.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static(v));
        }
        Err(resp)
    })
    .await;
}

async fn recv_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match timeout(GUARD, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send_json(ws: &mut Ws, v: Value) {
    let _ = ws.send(Message::text(v.to_string())).await;
}

/// Reads the authorization frame and answers with a buffer_state.
async fn handshake(ws: &mut Ws) -> Value {
    let auth = recv_json(ws).await.expect("authorization frame");
    assert_eq!(auth["type"], "authorization");
    send_json(
        ws,
        json!({"id": "bs", "data": {"eventType": "mercury.buffer_state"}}),
    )
    .await;
    auth
}

async fn close_with(ws: &mut Ws, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        }))
        .await;
    while let Some(Ok(_)) = ws.next().await {}
}

/// Answers pings until the client goes away; returns the client's close
/// frame, if any.
async fn serve(ws: &mut Ws) -> Option<(u16, String)> {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                if v["type"] == "ping" {
                    send_json(ws, json!({"id": v["id"], "type": "pong"})).await;
                }
            }
            Ok(Message::Close(f)) => return f.map(|f| (u16::from(f.code), f.reason.to_string())),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

// ---------------------------------------------------------------- peer tests

#[tokio::test]
async fn peer_handshake_query_acks_events_and_garbage() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, Value, Vec<Value>)>();
    let peer = Peer::start(move |_, tcp| {
        let seen_tx = seen_tx.clone();
        async move {
            let (mut ws, uri) = upgrade(tcp).await;
            let auth = recv_json(&mut ws).await.expect("auth");
            // An event before the buffer_state is delivered after it.
            send_json(&mut ws, json!({"id": "early", "data": {"eventType": "test.early"}})).await;
            send_json(&mut ws, json!({"id": "bs", "sequenceNumber": 1, "data": {"eventType": "mercury.buffer_state"}})).await;
            let _ = ws.send(Message::text("not json {")).await;
            send_json(&mut ws, json!({"data": {"eventType": "test.no_id"}})).await;
            let _ = ws.send(Message::binary(vec![0u8, 159, 146, 150])).await;
            send_json(&mut ws, json!({"id": "e1", "sequenceNumber": 5, "data": {"eventType": "test.hello", "n": 1}})).await;
            let mut frames = Vec::new();
            while let Some(v) = recv_json(&mut ws).await {
                let done = v["type"] == "ack" && v["messageId"] == "e1";
                frames.push(v);
                if done {
                    break;
                }
            }
            let _ = seen_tx.send((uri, auth, frames));
            serve(&mut ws).await;
        }
    })
    .await;
    let host = TestHost::new("tok-1", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, quick_options()).await;
    let client = client.expect("connected");
    assert!(client.is_connected());

    let early = wait_for_message(&mut rx, "test.early").await;
    assert_eq!(early["id"], "early");
    let hello = wait_for_message(&mut rx, "test.hello").await;
    assert_eq!(hello["data"]["n"], 1);

    let (uri, auth, frames) = timeout(GUARD, seen_rx.recv())
        .await
        .expect("peer report")
        .expect("report");
    assert_eq!(
        uri,
        "/mercury/registrations/d1/messages?region=test&outboundWireFormat=text&bufferStates=true&aliasHttpStatus=true"
    );
    assert_eq!(auth["data"]["token"], "Bearer tok-1");
    assert!(auth["trackingId"].as_str().is_some_and(|t| !t.is_empty()));
    let acked: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "ack")
        .filter_map(|f| f["messageId"].as_str())
        .collect();
    for id in ["early", "bs", "e1"] {
        assert!(acked.contains(&id), "{id} acked: {acked:?}");
    }
    client.close().await;
    assert!(client.is_finished());
    assert!(!client.is_connected());
}

/// Frames with an `id` but no `data.eventType` (or a `data` that is not
/// an object) are still acknowledged, as the official SDK does.
#[tokio::test]
async fn peer_frames_without_event_type_are_acked() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Vec<Value>>();
    let peer = Peer::start(move |_, tcp| {
        let seen_tx = seen_tx.clone();
        async move {
            let (mut ws, _) = upgrade(tcp).await;
            handshake(&mut ws).await;
            send_json(&mut ws, json!({"id": "n1", "data": {}})).await;
            send_json(&mut ws, json!({"id": "n2", "data": {"locusUrl": "x"}})).await;
            send_json(&mut ws, json!({"id": "n3", "data": "text"})).await;
            send_json(
                &mut ws,
                json!({"id": "e1", "data": {"eventType": "test.hello"}}),
            )
            .await;
            let mut acked = Vec::new();
            while let Some(v) = recv_json(&mut ws).await {
                let done = v["type"] == "ack" && v["messageId"] == "e1";
                if v["type"] == "ack" {
                    acked.push(v["messageId"].clone());
                }
                if done {
                    break;
                }
            }
            let _ = seen_tx.send(acked);
            serve(&mut ws).await;
        }
    })
    .await;
    let host = TestHost::new("tok-1", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, quick_options()).await;
    let client = client.expect("connected");
    wait_for_message(&mut rx, "test.hello").await;
    let acked = timeout(GUARD, seen_rx.recv())
        .await
        .expect("report")
        .expect("acks");
    for id in ["n1", "n2", "n3", "e1"] {
        assert!(acked.contains(&json!(id)), "{id} acked: {acked:?}");
    }
    client.close().await;
}

#[tokio::test]
async fn peer_missing_pong_closes_and_reconnects() {
    let (close_tx, mut close_rx) = mpsc::unbounded_channel();
    let peer = Peer::start(move |n, tcp| {
        let close_tx = close_tx.clone();
        async move {
            let (mut ws, _) = upgrade(tcp).await;
            handshake(&mut ws).await;
            if n == 0 {
                // Never answer pings; report how the client closes.
                while let Some(msg) = ws.next().await {
                    if let Ok(Message::Close(f)) = msg {
                        let _ = close_tx.send(f.map(|f| (u16::from(f.code), f.reason.to_string())));
                        break;
                    }
                }
            } else {
                serve(&mut ws).await;
            }
        }
    })
    .await;
    let mut options = quick_options();
    options.ping_interval = Duration::from_millis(50);
    options.pong_timeout = Duration::from_millis(200);
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, options).await;
    let client = client.expect("connected");

    match next_event(&mut rx).await {
        MercuryEvent::Disconnected { will_reconnect, .. } => assert!(will_reconnect),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        next_event(&mut rx).await,
        MercuryEvent::Reconnected
    ));
    let closed = timeout(GUARD, close_rx.recv())
        .await
        .expect("close seen")
        .expect("report");
    assert_eq!(closed, Some((1000, "Pong not received".to_owned())));
    client.close().await;
    assert!(client.is_finished());
}

#[tokio::test]
async fn peer_retry_after_on_upgrade_is_honoured() {
    let accepted = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let log = Arc::clone(&accepted);
    let peer = Peer::start(move |n, tcp| {
        let log = Arc::clone(&log);
        async move {
            log.lock().expect("lock").push(Instant::now());
            match n {
                0 => {
                    let (mut ws, _) = upgrade(tcp).await;
                    handshake(&mut ws).await;
                    close_with(&mut ws, 1011, "oops").await;
                }
                1 => refuse(tcp, 429, Some("1")).await,
                _ => {
                    let (mut ws, _) = upgrade(tcp).await;
                    handshake(&mut ws).await;
                    serve(&mut ws).await;
                }
            }
        }
    })
    .await;
    let mut options = quick_options();
    // Retry-After is capped at 4 × backoff_max: leave room for 1 s.
    options.backoff_max = Duration::from_secs(1);
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, options).await;
    let client = client.expect("connected");
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::Reconnected).then_some(())
    })
    .await;
    let times = accepted.lock().expect("lock").clone();
    assert!(times.len() >= 3);
    // Backoff alone would retry within 40 ms; the server asked for 1 s.
    assert!(
        times[2] - times[1] >= Duration::from_millis(950),
        "{:?}",
        times[2] - times[1]
    );
    client.close().await;
}

#[tokio::test]
async fn peer_upgrade_429_fails_the_first_connect() {
    let peer = Peer::start(|_, tcp| refuse(tcp, 429, Some("rand(30),add(30)"))).await;
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (result, _rx) = connect(&peer.url(), host, quick_options()).await;
    let err = result.expect_err("refused");
    assert!(matches!(err, MercuryError::UpgradeRefused(429)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn peer_close_while_reconnecting_stops_promptly() {
    let peer = Peer::start(|n, tcp| async move {
        if n == 0 {
            let (mut ws, _) = upgrade(tcp).await;
            handshake(&mut ws).await;
            close_with(&mut ws, 1001, "going away").await;
        } else {
            refuse(tcp, 503, None).await;
        }
    })
    .await;
    let mut options = quick_options();
    options.backoff_initial = Duration::from_secs(60);
    options.backoff_max = Duration::from_secs(600);
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, options).await;
    let client = client.expect("connected");
    match next_event(&mut rx).await {
        MercuryEvent::Disconnected {
            code,
            will_reconnect,
            ..
        } => {
            assert_eq!(code, Some(1001));
            assert!(will_reconnect);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // The client now sleeps for up to 60 s; close() must not wait for that.
    timeout(Duration::from_secs(5), client.close())
        .await
        .expect("close is prompt");
    assert!(client.is_finished());
    client.close().await; // idempotent
    drop(client);
    assert!(
        timeout(GUARD, rx.recv())
            .await
            .expect("channel closes")
            .is_none()
    );
}

#[tokio::test]
async fn peer_fatal_close_stops_and_replaced_stands_down() {
    for (code, replaced) in [(4403u16, false), (4000, true)] {
        let peer = Peer::start(move |_, tcp| async move {
            let (mut ws, _) = upgrade(tcp).await;
            handshake(&mut ws).await;
            close_with(&mut ws, code, "bye").await;
        })
        .await;
        let host = TestHost::new("t", Reregister::Fixed(peer.url()));
        let (client, mut rx) = connect(&peer.url(), host, quick_options()).await;
        let client = client.expect("connected");
        match next_event(&mut rx).await {
            MercuryEvent::Disconnected {
                code: c,
                will_reconnect,
                ..
            } => {
                assert_eq!(c, Some(code));
                assert!(!will_reconnect);
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        match next_event(&mut rx).await {
            MercuryEvent::Replaced => assert!(replaced),
            MercuryEvent::Stopped(MercuryError::Closed { code: c, .. }) => {
                assert!(!replaced);
                assert_eq!(c, code);
            }
            other => panic!("unexpected {other:?}"),
        }
        wait_finished(&client).await;
    }
}

#[tokio::test]
async fn peer_reregistration_is_bounded() {
    let peer = Peer::start(|n, tcp| async move {
        let (mut ws, _) = upgrade(tcp).await;
        if n == 0 {
            handshake(&mut ws).await;
        } else {
            let _ = recv_json(&mut ws).await;
        }
        close_with(&mut ws, 4404, "unknown device").await;
    })
    .await;
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), Arc::clone(&host), quick_options()).await;
    let client = client.expect("connected");
    let stopped = wait_for(&mut rx, |e| match e {
        MercuryEvent::Stopped(err) => Some(err.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(stopped, MercuryError::Closed { code: 4404, .. }),
        "{stopped:?}"
    );
    assert_eq!(host.reregistrations.load(Ordering::SeqCst), 3);
    wait_finished(&client).await;
}

#[tokio::test]
async fn peer_first_connect_refreshes_once_on_4401() {
    let peer = Peer::start(|_, tcp| async move {
        let (mut ws, _) = upgrade(tcp).await;
        let auth = recv_json(&mut ws).await.expect("auth");
        if auth["data"]["token"] == "Bearer good" {
            send_json(
                &mut ws,
                json!({"id": "bs", "data": {"eventType": "mercury.buffer_state"}}),
            )
            .await;
            serve(&mut ws).await;
        } else {
            close_with(&mut ws, 4401, "authentication failed").await;
        }
    })
    .await;
    let host = TestHost::new("expired", Reregister::Fixed(peer.url()));
    host.set_next_token("good");
    let (client, _rx) = connect(&peer.url(), Arc::clone(&host), quick_options()).await;
    let client = client.expect("connected after one refresh");
    assert_eq!(host.refreshes.load(Ordering::SeqCst), 1);
    client.close().await;

    // A refresh that yields another bad token: the 4401 is returned.
    let host = TestHost::new("expired", Reregister::Fixed(peer.url()));
    host.set_next_token("still-bad");
    let (result, _rx) = connect(&peer.url(), Arc::clone(&host), quick_options()).await;
    assert!(
        matches!(result, Err(MercuryError::Closed { code: 4401, .. })),
        "{result:?}"
    );
    assert_eq!(host.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn peer_missing_buffer_state_times_out() {
    let peer = Peer::start(|_, tcp| async move {
        let (mut ws, _) = upgrade(tcp).await;
        let _ = recv_json(&mut ws).await;
        // Pongs and other chatter, but never a buffer_state.
        send_json(&mut ws, json!({"id": "x", "type": "pong"})).await;
        serve(&mut ws).await;
    })
    .await;
    let mut options = quick_options();
    options.handshake_timeout = Duration::from_millis(300);
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (result, _rx) = connect(&peer.url(), host, options).await;
    let err = result.expect_err("no buffer_state");
    assert!(matches!(err, MercuryError::HandshakeTimeout(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn peer_stale_url_at_first_connect_reregisters_once() {
    /// Upgrades only URLs whose path contains `fresh`; 404 for the rest.
    async fn upgrade_fresh(tcp: TcpStream) {
        let Ok(mut ws) =
            tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
                if req.uri().path().contains("fresh") {
                    Ok(resp)
                } else {
                    let mut refused = ErrorResponse::new(None);
                    *refused.status_mut() = http::StatusCode::NOT_FOUND;
                    Err(refused)
                }
            })
            .await
        else {
            return;
        };
        handshake(&mut ws).await;
        serve(&mut ws).await;
    }
    let peer = Peer::start(|_, tcp| upgrade_fresh(tcp)).await;
    let stale = format!("ws://{}/stale/messages", peer.addr);
    let fresh = format!("ws://{}/fresh/messages", peer.addr);
    let host = TestHost::new("t", Reregister::Fixed(fresh));
    let (client, _rx) = connect(&stale, Arc::clone(&host), quick_options()).await;
    let client = client.expect("connected after re-registering");
    assert_eq!(host.reregistrations.load(Ordering::SeqCst), 1);
    client.close().await;

    // Still stale after re-registering: the 404 is returned, no loop.
    let host = TestHost::new("t", Reregister::Fixed(stale.clone()));
    let (result, _rx) = connect(&stale, Arc::clone(&host), quick_options()).await;
    assert!(
        matches!(result, Err(MercuryError::UpgradeRefused(404))),
        "{result:?}"
    );
    assert_eq!(host.reregistrations.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn peer_dropping_the_client_closes_the_socket() {
    let (close_tx, mut close_rx) = mpsc::unbounded_channel();
    let peer = Peer::start(move |_, tcp| {
        let close_tx = close_tx.clone();
        async move {
            let (mut ws, _) = upgrade(tcp).await;
            handshake(&mut ws).await;
            let _ = close_tx.send(serve(&mut ws).await);
        }
    })
    .await;
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, _rx) = connect(&peer.url(), host, quick_options()).await;
    drop(client.expect("connected"));
    let closed = timeout(GUARD, close_rx.recv())
        .await
        .expect("closed")
        .expect("report");
    assert_eq!(closed, Some((1000, "Done".to_owned())));
}

#[tokio::test]
async fn peer_through_connect_proxy() {
    let peer = Peer::start(|_, tcp| async move {
        let (mut ws, _) = upgrade(tcp).await;
        handshake(&mut ws).await;
        send_json(
            &mut ws,
            json!({"id": "p1", "data": {"eventType": "test.proxied"}}),
        )
        .await;
        serve(&mut ws).await;
    })
    .await;
    let (proxy_addr, mut connects) = start_connect_proxy().await;
    let mut options = quick_options();
    options.proxy = Some(
        format!("http://user:p%40ss@{proxy_addr}")
            .parse()
            .expect("proxy url"),
    );
    let host = TestHost::new("t", Reregister::Fixed(peer.url()));
    let (client, mut rx) = connect(&peer.url(), host, options).await;
    let client = client.expect("connected through the proxy");
    wait_for_message(&mut rx, "test.proxied").await;
    let head = timeout(GUARD, connects.recv())
        .await
        .expect("proxy used")
        .expect("head");
    assert!(
        head.starts_with(&format!("CONNECT {} HTTP/1.1\r\n", peer.addr)),
        "{head}"
    );
    // base64("user:p@ss")
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"),
        "{head}"
    );
    client.close().await;
}

/// A minimal HTTP CONNECT proxy; reports each request head.
async fn start_connect_proxy() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if inbound.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let _ = tx.send(head);
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    let _ = inbound.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = inbound
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (addr, rx)
}

// --------------------------------------------------------- real-server tests

/// Registers a device over HTTP and returns it.
async fn register_device(base: &str, token: &str) -> anyhow::Result<webex_wire::device::Device> {
    let resp = reqwest::Client::new()
        .post(format!("{base}/wdm/api/v1/devices"))
        .bearer_auth(token)
        .json(&webex_wire::device::DeviceRequest::web_sdk("test"))
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.json().await?)
}

fn device_id(device: &webex_wire::device::Device) -> String {
    device
        .url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn admin_post(base: &str, path: &str, body: Value) -> anyhow::Result<()> {
    reqwest::Client::new()
        .post(format!("{base}/admin/api/v1/{path}"))
        .bearer_auth(webex_server::testing::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn publish(base: &str, device: &webex_wire::device::Device, event_type: &str) {
    admin_post(
        base,
        "events",
        json!({"deviceId": device_id(device), "data": {"eventType": event_type}}),
    )
    .await
    .expect("event published");
}

#[tokio::test]
async fn real_server_connect_and_receive_events() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("alice@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    let (client, mut rx) = connect(&device.web_socket_url, host, quick_options()).await;
    let client = client?;
    assert!(client.is_connected());
    publish(&base, &device, "test.hello").await;
    let frame = wait_for_message(&mut rx, "test.hello").await;
    assert!(frame["id"].as_str().is_some_and(|id| !id.is_empty()));
    client.close().await;
    assert!(client.is_finished());
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn real_server_restart_disconnects_then_reconnects() -> anyhow::Result<()> {
    use webex_server::{Server, config::ServerConfig};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("webex.sqlite");
    let first = Server::start(ServerConfig::for_tests(&path)).await?;
    let addr = first.local_addr();
    let base = first.base_url().to_owned();
    let token = token_for(&first, "bob@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    let (client, mut rx) = connect(&device.web_socket_url, host, quick_options()).await;
    let client = client?;

    first.shutdown().await;
    match next_event(&mut rx).await {
        MercuryEvent::Disconnected { will_reconnect, .. } => assert!(will_reconnect),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let mut config = ServerConfig::for_tests(&path);
    config.listen = addr;
    let second = Server::start(config).await?;
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::Reconnected).then_some(())
    })
    .await;
    assert!(client.is_connected());
    publish(&base, &device, "test.after_restart").await;
    wait_for_message(&mut rx, "test.after_restart").await;
    client.close().await;
    second.shutdown().await;
    Ok(())
}

/// A token minted into `server`'s store (what `TestServer::token_for` does).
async fn token_for(
    server: &webex_server::server::RunningServer,
    email: &str,
) -> anyhow::Result<String> {
    use secrecy::ExposeSecret;
    let state = server.state();
    let person = state
        .store
        .upsert_person(&webex_server::store::NewPerson {
            email: email.into(),
            display_name: email.into(),
            kind: webex_wire::people::PersonType::Person,
            org_name: "example.com".into(),
        })
        .await?;
    let minted = webex_server::auth::mint_token(
        &person,
        &state.config.region,
        webex_server::auth::TokenSpec {
            ttl_ms: None,
            scope: "spark:all".into(),
            ..Default::default()
        },
    );
    state.store.insert_token(&minted.record).await?;
    Ok(minted.text.expose_secret().to_owned())
}

#[tokio::test]
async fn real_server_revoked_token_is_refreshed() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("carol@example.com").await?;
    let fresh = server.token_for("carol@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    host.set_next_token(&fresh);
    let (client, mut rx) =
        connect(&device.web_socket_url, Arc::clone(&host), quick_options()).await;
    let client = client?;

    admin_post(&base, "tokens/revoke", json!({"token": token})).await?;
    let code = wait_for(&mut rx, |e| match e {
        MercuryEvent::Disconnected { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(4401));
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::TokenRefreshed).then_some(())
    })
    .await;
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::Reconnected).then_some(())
    })
    .await;
    assert_eq!(host.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(host.current(), fresh);
    client.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn real_server_deleted_device_is_registered_again() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("dave@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    let (client, mut rx) =
        connect(&device.web_socket_url, Arc::clone(&host), quick_options()).await;
    let client = client?;

    reqwest::Client::new()
        .delete(&device.url)
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    let code = wait_for(&mut rx, |e| match e {
        MercuryEvent::Disconnected { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(4404));
    let new_url = wait_for(&mut rx, |e| match e {
        MercuryEvent::Reregistered { web_socket_url } => Some(web_socket_url.clone()),
        _ => None,
    })
    .await;
    assert_ne!(new_url, device.web_socket_url);
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::Reconnected).then_some(())
    })
    .await;
    assert_eq!(host.reregistrations.load(Ordering::SeqCst), 1);
    client.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn real_server_second_connection_replaces_the_first() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("erin@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    let (first, mut first_rx) =
        connect(&device.web_socket_url, Arc::clone(&host), quick_options()).await;
    let first = first?;
    let (second, mut second_rx) = connect(&device.web_socket_url, host, quick_options()).await;
    let second = second?;

    wait_for(&mut first_rx, |e| {
        matches!(e, MercuryEvent::Replaced).then_some(())
    })
    .await;
    wait_finished(&first).await;
    assert!(!first.is_connected());
    publish(&base, &device, "test.to_second").await;
    wait_for_message(&mut second_rx, "test.to_second").await;
    second.close().await;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn real_server_bad_token_fails_after_one_refresh() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("frank@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new("not-a-token", Reregister::Wdm(base.clone()));
    host.set_next_token("still_not_a_token");
    let (result, _rx) = connect(&device.web_socket_url, Arc::clone(&host), quick_options()).await;
    assert!(
        matches!(result, Err(MercuryError::Closed { code: 4401, .. })),
        "{result:?}"
    );
    assert_eq!(host.refreshes.load(Ordering::SeqCst), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn real_server_close_while_reconnecting_is_prompt() -> anyhow::Result<()> {
    let server = webex_server::testing::TestServer::start().await?;
    let base = server.base_url().to_owned();
    let token = server.token_for("gina@example.com").await?;
    let device = register_device(&base, &token).await?;
    let host = TestHost::new(&token, Reregister::Wdm(base.clone()));
    let mut options = quick_options();
    options.backoff_initial = Duration::from_secs(60);
    options.backoff_max = Duration::from_secs(600);
    let (client, mut rx) = connect(&device.web_socket_url, host, options).await;
    let client = client?;
    server.shutdown().await;
    wait_for(&mut rx, |e| {
        matches!(e, MercuryEvent::Disconnected { .. }).then_some(())
    })
    .await;
    timeout(Duration::from_secs(5), client.close()).await?;
    assert!(client.is_finished());
    Ok(())
}
