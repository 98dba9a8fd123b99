//! A latency-injecting TCP proxy on loopback: every byte is delayed by half
//! the round-trip time in each direction, order preserved, so a client
//! talking to the server through it sees a link with that RTT.
//!
//! A new connection also pays the TCP handshake: bytes from the client are
//! held until one RTT after the connection was accepted (the client could
//! not have sent them before its SYN-ACK came back), then take RTT/2 like
//! any other. TLS handshakes, keep-alive reuse and websocket upgrades need
//! no special case: they are bytes going through.
//!
//! Buffers are bounded (a reader stops reading while [`CHUNKS_IN_FLIGHT`]
//! chunks wait for their delivery time), only 127.0.0.0/8 is used, and the
//! proxy stops when dropped or after [`Proxy::stop`].
//!
//! For the report, the proxy logs each connection's opening and the first
//! line of every plain-text HTTP request it forwards (TLS traffic shows as
//! connection openings only), with the time since [`Proxy::mark`].
//!
//! ```no_run
//! # async fn go() -> std::io::Result<()> {
//! use std::time::Duration;
//! let proxy = webex_bench::proxy::Proxy::start("127.0.0.1:8080".parse().unwrap(), Duration::from_millis(50)).await?;
//! println!("talk to {}", proxy.addr());
//! proxy.stop();
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Chunks read but not yet delivered, per direction of a connection.
pub const CHUNKS_IN_FLIGHT: usize = 64;
/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Log entries kept (older ones are dropped).
const LOG_LIMIT: usize = 4096;

/// One thing the proxy saw, `at` after the last [`Proxy::mark`].
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Time since the mark.
    pub at: Duration,
    /// Wall-clock time (to line up with another process's clock).
    pub wall: std::time::SystemTime,
    /// Connection number (in accept order, from 1).
    pub conn: u64,
    /// `connect` or an HTTP request line (`GET /path HTTP/1.1`).
    pub what: String,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    stop: CancellationToken,
    log: Arc<Mutex<Log>>,
    rtt_nanos: Arc<AtomicU64>,
    listener: Mutex<Option<TcpListener>>,
}

struct Log {
    mark: Instant,
    next_conn: u64,
    seen: Vec<Seen>,
}

impl Log {
    fn push(&mut self, conn: u64, what: String) {
        if self.seen.len() < LOG_LIMIT {
            let at = self.mark.elapsed();
            let wall = std::time::SystemTime::now();
            self.seen.push(Seen {
                at,
                wall,
                conn,
                what,
            });
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish()
    }
}

impl Proxy {
    /// Listens on `127.0.0.1:<free port>` and forwards to `upstream` with
    /// `rtt` of round-trip time added.
    pub async fn start(upstream: SocketAddr, rtt: Duration) -> std::io::Result<Self> {
        let proxy = Self::bind().await?;
        proxy.set_rtt(rtt);
        proxy.forward_to(upstream)?;
        Ok(proxy)
    }

    /// Listens on `127.0.0.1:<free port>` without forwarding yet (so the
    /// server can be told the proxy's URL before it starts); connections
    /// wait in the backlog until [`Proxy::forward_to`].
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self {
            addr: listener.local_addr()?,
            stop: CancellationToken::new(),
            log: Arc::new(Mutex::new(Log {
                mark: Instant::now(),
                next_conn: 0,
                seen: Vec::new(),
            })),
            rtt_nanos: Arc::new(AtomicU64::new(0)),
            listener: Mutex::new(Some(listener)),
        })
    }

    /// Starts forwarding to `upstream` (loopback only). Once only.
    pub fn forward_to(&self, upstream: SocketAddr) -> std::io::Result<()> {
        if !upstream.ip().is_loopback() {
            return Err(std::io::Error::other("the proxy only forwards to loopback"));
        }
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| std::io::Error::other("the proxy is already forwarding"))?;
        tokio::spawn(accept_loop(
            listener,
            upstream,
            Arc::clone(&self.rtt_nanos),
            self.stop.clone(),
            Arc::clone(&self.log),
        ));
        Ok(())
    }

    /// The round-trip time added to connections opened from now on.
    pub fn set_rtt(&self, rtt: Duration) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.rtt_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Clears the log and restarts its clock.
    pub fn mark(&self) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.mark = Instant::now();
        log.seen.clear();
    }

    /// What was seen since the last [`Proxy::mark`].
    pub fn seen(&self) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .clone()
    }

    /// Stops accepting and closes every proxied connection.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    rtt: Arc<AtomicU64>,
    stop: CancellationToken,
    log: Arc<Mutex<Log>>,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((client, _)) = accepted else {
            // Out of descriptors or similar: back off a little.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let accepted_at = Instant::now();
        let rtt = Duration::from_nanos(rtt.load(Ordering::Relaxed));
        let conn = {
            let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
            l.next_conn += 1;
            let n = l.next_conn;
            l.push(n, "connect".into());
            n
        };
        let (stop, log) = (stop.clone(), Arc::clone(&log));
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let half = rtt / 2;
            // Client → server: not before the handshake's round trip is over.
            let up = relay(cr, sw, half, accepted_at + rtt, Some((conn, log)));
            let down = relay(sr, cw, half, accepted_at, None);
            tokio::select! {
                () = stop.cancelled() => {}
                _ = futures::future::join(up, down) => {}
            }
        });
    }
}

/// Copies `from` → `to`, each chunk delivered `delay` after it was read (and
/// not before `not_before`), in order; shuts `to` down after EOF.
async fn relay(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    not_before: Instant,
    log: Option<(u64, Arc<Mutex<Log>>)>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(CHUNKS_IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            let due = Instant::now().max(not_before) + delay;
            if n == 0 {
                let _ = tx.send((due, None)).await;
                return;
            }
            if let Some((conn, log)) = &log {
                note_requests(&buf[..n], *conn, log);
            }
            if tx.send((due, Some(buf[..n].to_vec()))).await.is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    futures::future::join(reader, writer).await;
}

/// Logs the request line of every HTTP request starting in `chunk` (the
/// bench's requests are small: a request head never straddles chunks in
/// practice, and a missed line only shortens the log).
fn note_requests(chunk: &[u8], conn: u64, log: &Mutex<Log>) {
    const METHODS: [&str; 6] = ["GET ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH "];
    let mut lines = Vec::new();
    let mut start = 0;
    while start < chunk.len() {
        let rest = &chunk[start..];
        if METHODS.iter().any(|m| rest.starts_with(m.as_bytes())) {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .unwrap_or(rest.len().min(200));
            let line = String::from_utf8_lossy(&rest[..end]);
            // Queries may carry ids, never secrets; keep the path short.
            let line = match line.split_once('?') {
                Some((path, tail)) => {
                    format!("{path}?… {}", tail.rsplit(' ').next().unwrap_or(""))
                }
                None => line.into_owned(),
            };
            lines.push(line);
        }
        // Next request head: after the next blank line (bodies are skipped
        // by the method check failing on them).
        match rest.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(p) => start += p + 4,
            None => break,
        }
    }
    if lines.is_empty() {
        return;
    }
    let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
    for line in lines {
        l.push(conn, line);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delays_each_direction_and_the_handshake() {
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        let rtt = Duration::from_millis(40);
        let proxy = Proxy::start(upstream, rtt).await.unwrap();
        proxy.mark();
        let start = Instant::now();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"GET /a HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 19];
        c.read_exact(&mut buf).await.unwrap();
        // Handshake (1 RTT) + the request's round trip.
        assert!(start.elapsed() >= rtt * 2, "{:?}", start.elapsed());
        let t = Instant::now();
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        assert!(t.elapsed() >= rtt, "{:?}", t.elapsed());
        assert!(t.elapsed() < rtt * 3, "{:?}", t.elapsed());
        let seen = proxy.seen();
        assert_eq!(seen[0].what, "connect");
        assert_eq!(seen[1].what, "GET /a HTTP/1.1");
    }
}
