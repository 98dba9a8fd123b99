//! The fan-out floor: a minimal broadcast server on the same stack as
//! `webex serve` (tokio, axum's websocket = tungstenite, one task and one
//! bounded queue per socket, frames queued together written with one
//! flush into the same write buffer as the real server's), so
//! the fan-out load generator can be pointed at it and the real server's
//! rate read as a share of what this stack can do at all.
//!
//! It keeps only what the load generator needs, and nothing else:
//! - `POST /wdm/api/v1/devices` answers a device whose `webSocketUrl` names
//!   the caller's bearer token as its group (the bench's floor accounts use
//!   the email as the token), with no store;
//! - the websocket takes any first frame as the authorization (no check)
//!   and answers `mercury.buffer_state`; pings get pongs;
//! - `POST /admin/api/v1/events` `{"email", "data"}` serializes the frame
//!   once and hands the same bytes to every socket of the group: no auth,
//!   no sequence numbers, no acks, no bus, no metrics.
//!
//! ```no_run
//! # async fn go() -> std::io::Result<()> {
//! let floor = webex_bench::floor::FloorServer::start().await?;
//! println!("{}", floor.base_url());
//! floor.stop();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::SinkExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames queued per socket before the floor drops one (the real server
/// uses a bounded queue too).
const QUEUE: usize = 1024;

type Groups = Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Utf8Bytes>)>>>;

struct Floor {
    base: String,
    groups: Groups,
    next: AtomicU64,
}

/// A running floor server on `127.0.0.1:<free port>`.
#[derive(Debug)]
pub struct FloorServer {
    base_url: String,
    stop: CancellationToken,
}

impl FloorServer {
    /// Starts the floor server in this process.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let floor = Arc::new(Floor {
            base: base_url.clone(),
            groups: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/wdm/api/v1/devices", post(register))
            .route("/admin/api/v1/events", post(publish))
            .route("/floor/{group}", get(upgrade))
            .with_state(floor);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
        });
        Ok(Self { base_url, stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops accepting; open sockets end as their clients close them.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Runs the floor server until Ctrl-C, printing `listening on <url>`
    /// first (how `webex bench` starts it as a child process).
    pub async fn serve_until_signal() -> std::io::Result<()> {
        let floor = Self::start().await?;
        println!("listening on {}", floor.base_url());
        tokio::signal::ctrl_c().await?;
        floor.stop();
        Ok(())
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The floor server as a benchmark runs it: a `webex bench floor-serve`
/// child process (like `webex serve` in the fan-out scenario), or in this
/// process.
#[derive(Debug)]
pub enum FloorUnderTest {
    /// A child process, killed on drop.
    Child {
        /// The process.
        child: tokio::process::Child,
        /// Its base URL.
        base_url: String,
    },
    /// In this process.
    InProcess(FloorServer),
}

impl FloorUnderTest {
    /// Starts the floor server as `launch` says.
    pub async fn start(launch: &crate::target::Launch) -> crate::BenchResult<Self> {
        use crate::BenchError;
        use tokio::io::AsyncBufReadExt;
        match launch {
            crate::target::Launch::InProcess => Ok(Self::InProcess(FloorServer::start().await?)),
            crate::target::Launch::Child { bin } => {
                let mut child = tokio::process::Command::new(bin)
                    .args(["bench", "floor-serve"])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::inherit())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| BenchError::ServerStart(format!("floor server: {e}")))?;
                let stdout = child
                    .stdout
                    .take()
                    .ok_or_else(|| BenchError::ServerStart("floor server: no stdout".into()))?;
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                let first = tokio::time::timeout(std::time::Duration::from_secs(30), async {
                    while let Some(line) = lines.next_line().await? {
                        if let Some(url) = line.strip_prefix("listening on ") {
                            return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
                        }
                    }
                    Ok(None)
                })
                .await;
                let Ok(Ok(Some(base_url))) = first else {
                    let _ = child.kill().await;
                    return Err(BenchError::ServerStart(
                        "the floor server did not print `listening on`".into(),
                    ));
                };
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok(Self::Child { child, base_url })
            }
        }
    }

    /// Its base URL.
    pub fn base_url(&self) -> &str {
        match self {
            Self::Child { base_url, .. } => base_url,
            Self::InProcess(f) => f.base_url(),
        }
    }

    /// Stops it.
    pub async fn stop(self) {
        match self {
            Self::Child { mut child, .. } => {
                let _ = child.kill().await;
            }
            Self::InProcess(f) => f.stop(),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    // Group names go into a URL path segment.
    Some(url::form_urlencoded::byte_serialize(token.as_bytes()).collect())
}

async fn register(State(floor): State<Arc<Floor>>, headers: HeaderMap) -> Response {
    let Some(group) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let n = floor.next.fetch_add(1, Ordering::Relaxed);
    let ws = floor.base.replacen("http", "ws", 1);
    Json(serde_json::json!({
        "url": format!("{}/wdm/api/v1/devices/{n}", floor.base),
        "webSocketUrl": format!("{ws}/floor/{group}"),
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct Publish {
    email: String,
    data: Box<serde_json::value::RawValue>,
}

async fn publish(State(floor): State<Arc<Floor>>, Json(p): Json<Publish>) -> StatusCode {
    let group: String = url::form_urlencoded::byte_serialize(p.email.as_bytes()).collect();
    let n = floor.next.fetch_add(1, Ordering::Relaxed);
    // Serialized once; every socket gets the same bytes.
    let frame = Utf8Bytes::from(format!(
        r#"{{"id":"f{n}","data":{},"timestamp":0}}"#,
        p.data.get()
    ));
    let senders: Vec<mpsc::Sender<Utf8Bytes>> = floor
        .groups
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&group)
        .map(|v| v.iter().map(|(_, tx)| tx.clone()).collect())
        .unwrap_or_default();
    for tx in senders {
        let _ = tx.try_send(frame.clone());
    }
    StatusCode::ACCEPTED
}

async fn upgrade(
    State(floor): State<Arc<Floor>>,
    Path(group): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let group: String = url::form_urlencoded::byte_serialize(group.as_bytes()).collect();
    ws.read_buffer_size(4096)
        .write_buffer_size(webex_server::mercury::session::WRITE_BUFFER)
        .on_upgrade(move |socket| session(socket, floor, group))
}

async fn session(mut ws: WebSocket, floor: Arc<Floor>, group: String) {
    // Any first frame is the "authorization".
    if !matches!(ws.recv().await, Some(Ok(Message::Text(_)))) {
        return;
    }
    let id = floor.next.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel(QUEUE);
    floor
        .groups
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(group.clone())
        .or_default()
        .push((id, tx));
    let ready = r#"{"id":"b","data":{"eventType":"mercury.buffer_state"},"timestamp":0}"#;
    let mut open = ws.send(Message::text(ready)).await.is_ok();
    while open {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    if let Some(ping) = ping_id(&t) {
                        let pong = format!(r#"{{"id":"{ping}","type":"pong"}}"#);
                        open = ws.send(Message::text(pong)).await.is_ok();
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => open = false,
                Some(Ok(_)) => {}
            },
            Some(frame) = rx.recv() => {
                // As the real server: whatever is queued leaves with one flush.
                let mut next = Some(frame);
                while let Some(frame) = next.take() {
                    open = ws.feed(Message::Text(frame)).await.is_ok();
                    if open {
                        next = rx.try_recv().ok();
                    }
                }
                open = open && ws.flush().await.is_ok();
            }
        }
    }
    let mut groups = floor.groups.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(list) = groups.get_mut(&group) {
        list.retain(|(i, _)| *i != id);
        if list.is_empty() {
            groups.remove(&group);
        }
    }
}

/// The id of a `{"id":"…","type":"ping"}` frame (the bench's ids are plain).
fn ping_id(text: &str) -> Option<&str> {
    if !text.contains(r#""type":"ping""#) {
        return None;
    }
    let rest = text.split_once(r#""id":""#)?.1;
    rest.split_once('"').map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_ids_are_found() {
        assert_eq!(ping_id(r#"{"id":"p3","type":"ping"}"#), Some("p3"));
        assert_eq!(ping_id(r#"{"id":"x","data":{}}"#), None);
    }
}
