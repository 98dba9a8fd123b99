//! A lean Mercury client for load: many sockets per process, each bound to a
//! chosen 127.x source address, authenticated with the real handshake, then
//! pinging and reading events until told to stop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use webex_wire::mercury::ClientFrame;

use crate::error::{BenchError, BenchResult};

/// An open, authenticated Mercury socket.
pub type Socket = WebSocketStream<TcpStream>;

/// How long connecting and the authorization handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sockets bound to one source address: ephemeral ports on Linux are shared
/// by every destination when `bind()` picks the port, so each address gives
/// about 28k (the default 32768–60999 range); stay well below.
pub const SOCKETS_PER_SOURCE: usize = 25_000;

/// The source address of the `i`-th socket: `127.0.0.2` for the first
/// [`SOCKETS_PER_SOURCE`], then `127.0.0.3`, …
///
/// ```
/// use std::net::Ipv4Addr;
/// use webex_bench::socket::source_addr;
/// assert_eq!(source_addr(0), Ipv4Addr::new(127, 0, 0, 2));
/// assert_eq!(source_addr(25_000), Ipv4Addr::new(127, 0, 0, 3));
/// ```
pub fn source_addr(i: usize) -> Ipv4Addr {
    let n = u32::try_from(i / SOCKETS_PER_SOURCE).unwrap_or(u32::MAX - 3);
    let host = 2u32.saturating_add(n).min(0x00ff_fffe);
    Ipv4Addr::from(0x7f00_0000 | host)
}

/// Counters shared by every socket of a run.
#[derive(Debug, Default)]
pub struct SocketCounters {
    /// Pongs received.
    pub pongs: AtomicU64,
    /// Event frames received.
    pub events: AtomicU64,
    /// Sockets that ended before being told to stop (closed by the server,
    /// reset, or a write failed).
    pub dropped: AtomicU64,
}

/// Opens the websocket `ws_url` from `source`, sends the authorization
/// frame and waits for `mercury.buffer_state`.
pub async fn connect(ws_url: &str, source: Ipv4Addr, token: &SecretString) -> BenchResult<Socket> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_inner(ws_url, source, token))
        .await
        .map_err(|_| BenchError::Timeout("websocket handshake".into()))?
}

async fn connect_inner(
    ws_url: &str,
    source: Ipv4Addr,
    token: &SecretString,
) -> BenchResult<Socket> {
    let url = url::Url::parse(ws_url).map_err(|e| BenchError::WebSocket(e.to_string()))?;
    let addr = url
        .socket_addrs(|| Some(80))
        .map_err(|e| BenchError::WebSocket(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| BenchError::WebSocket("no address".into()))?;
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .map_err(|e| BenchError::Resources(format!("binding {source}: {e}")))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(ws_url, stream, Some(config))
        .await
        .map_err(|e| BenchError::WebSocket(format!("upgrade: {e}")))?;
    let auth = ClientFrame::authorization("auth", token.expose_secret(), None);
    let auth = serde_json::to_string(&auth).map_err(|e| BenchError::WebSocket(e.to_string()))?;
    ws.send(Message::text(auth))
        .await
        .map_err(|e| BenchError::WebSocket(format!("sending authorization: {e}")))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("mercury.buffer_state") => return Ok(ws),
            Some(Ok(Message::Close(f))) => {
                return Err(BenchError::WebSocket(format!("closed at handshake: {f:?}")));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(BenchError::WebSocket(format!("handshake: {e}"))),
            None => return Err(BenchError::WebSocket("closed at handshake".into())),
        }
    }
}

/// Keeps `ws` open until `stop` fires: pings every `ping_interval` (the
/// first after `first_ping`, to spread pings out), counts pongs, hands every
/// event frame's text to `on_event`. Then closes the socket.
pub async fn hold(
    mut ws: Socket,
    first_ping: Duration,
    ping_interval: Duration,
    counters: &SocketCounters,
    stop: CancellationToken,
    mut on_event: impl FnMut(&str),
) {
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + first_ping,
        ping_interval.max(Duration::from_millis(10)),
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return;
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.contains(r#""type":"pong""#) {
                        counters.pongs.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.events.fetch_add(1, Ordering::Relaxed);
                        on_event(t.as_str());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = ping.tick() => {
                n += 1;
                let frame = format!(r#"{{"id":"p{n}","type":"ping"}}"#);
                if ws.send(Message::text(frame)).await.is_err() {
                    break;
                }
            }
        }
    }
    counters.dropped.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_rotate_past_the_port_range() {
        assert_eq!(
            source_addr(SOCKETS_PER_SOURCE - 1),
            Ipv4Addr::new(127, 0, 0, 2)
        );
        assert_eq!(
            source_addr(4 * SOCKETS_PER_SOURCE),
            Ipv4Addr::new(127, 0, 0, 6)
        );
    }
}
