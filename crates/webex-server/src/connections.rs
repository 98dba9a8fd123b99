//! Connection hygiene: how long a client may take to send a request, how
//! long an idle keep-alive connection stays open, and how many connections
//! the server (and each peer address) may hold at once.
//!
//! Every accepted socket is admitted by a [`Gate`] (one permit overall, one
//! per peer address) before anything is read from it; a socket over either
//! cap is closed at once. The admission lives inside the socket wrapper
//! ([`Tracked`]), so a connection upgraded to a Mercury websocket keeps
//! counting until the websocket closes.
//!
//! HTTP/1.1 connections are served by hyper with a watchdog per connection:
//! once the first byte of a request head arrives, the whole head must follow
//! within [`ConnectionLimits::header_read_timeout`]; with no request in
//! flight and no byte of a new one, the connection is closed after
//! [`ConnectionLimits::idle_timeout`]. Request bodies must arrive completely
//! within [`ConnectionLimits::body_read_timeout`] ([`guard_body`], which also
//! answers 413 as soon as a `Content-Length` announces too much). A socket
//! that became a websocket is no longer watched: Mercury applies its own
//! rules (authorization deadline, ping/pong).
//!
//! ```
//! use std::time::Duration;
//! use webex_server::connections::ConnectionLimits;
//!
//! let limits = ConnectionLimits {
//!     header_read_timeout: Duration::from_secs(5),
//!     ..ConnectionLimits::default()
//! };
//! assert_eq!(limits.max_connections_per_peer, 512);
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::body_auth::{UNAUTHENTICATED_BODY_LIMIT, Unverified};
use crate::error::ApiError;
use crate::proxy::TrustedProxies;

/// Deadlines and caps for client connections. `0` for a cap means no cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request head to its last.
    pub header_read_timeout: Duration,
    /// From the request head to the last byte of its body.
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Open connections (websockets included) overall; `0`: no cap.
    pub max_connections: usize,
    /// Open connections (websockets included) per peer IP address; `0`: no
    /// cap. Trusted proxies are exempt (they carry many clients).
    pub max_connections_per_peer: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// ([`crate::proxy`]): requests through them count as the client's in
    /// rate limits and logs. None by default.
    pub trusted_proxies: TrustedProxies,
}

impl Default for ConnectionLimits {
    /// 10 s for a request head, 30 s for a body, 60 s idle, 10 000
    /// connections overall and 512 per peer address.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_peer: 512,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl ConnectionLimits {
    /// No caps and day-long deadlines (benchmarks that open tens of
    /// thousands of sockets from one address).
    pub fn off() -> Self {
        let day = Duration::from_secs(24 * 3600);
        Self {
            header_read_timeout: day,
            body_read_timeout: day,
            idle_timeout: day,
            max_connections: 0,
            max_connections_per_peer: 0,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// The peer a connection or request counts against: an IPv4 address (an
/// IPv4-mapped IPv6 address is the IPv4 address), or an IPv6 address's
/// /64 network, which one host or customer is usually given whole: its
/// 2^64 addresses are one peer.
///
/// ```
/// use webex_server::connections::peer_key;
/// let a = peer_key("2001:db8:1:2::1".parse().unwrap());
/// assert_eq!(a, peer_key("2001:db8:1:2:ffff::9".parse().unwrap()));
/// assert_ne!(a, peer_key("2001:db8:1:3::1".parse().unwrap()));
/// assert_eq!(peer_key("::ffff:192.0.2.1".parse().unwrap()).to_string(), "192.0.2.1");
/// ```
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Admits connections under the overall and per-peer caps.
#[derive(Debug)]
pub struct Gate {
    total: Option<Arc<Semaphore>>,
    per_peer_max: usize,
    trusted_proxies: TrustedProxies,
    per_peer: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `max_connections`.
    Total,
    /// This peer holds `max_connections_per_peer`.
    Peer,
}

impl Gate {
    /// A gate enforcing `limits`' caps.
    pub fn new(limits: &ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            total: (limits.max_connections > 0)
                .then(|| Arc::new(Semaphore::new(limits.max_connections))),
            per_peer_max: limits.max_connections_per_peer,
            trusted_proxies: limits.trusted_proxies.clone(),
            per_peer: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one connection from `peer` (counted against its
    /// [`peer_key`]), released when the returned value is dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let counted = !self.trusted_proxies.contains(peer);
        let peer = peer_key(peer);
        let permit = match &self.total {
            Some(s) => Some(
                Arc::clone(s)
                    .try_acquire_owned()
                    .map_err(|_| Refusal::Total)?,
            ),
            None => None,
        };
        if counted && self.per_peer_max > 0 {
            let mut map = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(peer).or_insert(0);
            if *n >= self.per_peer_max {
                return Err(Refusal::Peer);
            }
            *n += 1;
        }
        Ok(Admission {
            gate: Arc::clone(self),
            peer: counted.then_some(peer),
            _permit: permit,
        })
    }

    /// Connections `peer` (its [`peer_key`]) holds now.
    pub fn held_by(&self, peer: IpAddr) -> usize {
        let map = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&peer_key(peer)).copied().unwrap_or(0)
    }
}

/// One admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<Gate>,
    /// The peer counted against its cap (`None`: a trusted proxy).
    peer: Option<IpAddr>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(peer) = self.peer.filter(|_| self.gate.per_peer_max > 0) else {
            return;
        };
        let mut map = self.gate.per_peer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&peer);
            }
        }
    }
}

/// What a connection is doing, for its watchdog. Times are milliseconds
/// since `origin`.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    /// Requests handed to the router and not answered yet.
    in_flight: AtomicU32,
    /// When the connection last became idle (accepted, or answered its last
    /// request).
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived; `u64::MAX`
    /// while none has.
    head_started: AtomicU64,
}

const NOT_STARTED: u64 = u64::MAX;

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection owes its first request head from the start.
            head_started: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NOT_STARTED
        {
            let _ = self.head_started.compare_exchange(
                NOT_STARTED,
                self.now(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.head_started.store(NOT_STARTED, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// When the connection must be closed, in ms since `origin`; `None`
    /// while a request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(u64, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2);
        match self.head_started.load(Ordering::Relaxed) {
            NOT_STARTED => Some((
                self.idle_since
                    .load(Ordering::Relaxed)
                    .saturating_add(ms(limits.idle_timeout)),
                "idle",
            )),
            started => Some((
                started.saturating_add(ms(limits.header_read_timeout)),
                "header_read",
            )),
        }
    }
}

/// Counts a request as in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A socket that reports reads to its connection's watchdog and holds
/// the connection's [`Admission`] for as long as it lives (through a
/// websocket upgrade too).
pub struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
    _admission: Admission,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Records a refused connection (metric and a debug line, no data from it).
pub(crate) fn refused(peer: SocketAddr, why: Refusal) {
    let reason = match why {
        Refusal::Total => "total",
        Refusal::Peer => "peer",
    };
    metrics::counter!("webex_connections_refused_total", "reason" => reason).increment(1);
    tracing::debug!(%peer, reason, "connection refused: over the connection cap");
}

/// An admitted connection waiting to be served.
pub(crate) type Accepted<IO> = (IO, SocketAddr, Admission);

/// Accepts TCP connections on `tcp` until `cancel`, admits each through
/// `gate` (closing refused ones at once) and hands the rest to `tx`.
pub(crate) fn spawn_tcp_acceptor(
    tcp: tokio::net::TcpListener,
    gate: Arc<Gate>,
    cancel: CancellationToken,
    tx: tokio::sync::mpsc::Sender<Accepted<tokio::net::TcpStream>>,
) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => return,
                accepted = tcp.accept() => accepted,
            };
            let (mut stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(error = %e, "accepting a TCP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match gate.admit(peer.ip()) {
                Ok(admission) => {
                    crate::server::set_nodelay(&mut stream);
                    if tx.send((stream, peer, admission)).await.is_err() {
                        return;
                    }
                }
                Err(why) => refused(peer, why),
            }
        }
    });
}

/// Serves every connection `accepted` yields until `cancel`, then lets
/// in-flight requests finish (hyper's graceful shutdown) and returns.
pub(crate) async fn serve<IO>(
    mut accepted: tokio::sync::mpsc::Receiver<Accepted<IO>>,
    app: Router,
    limits: ConnectionLimits,
    cancel: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Every connection task holds a sender; when all are gone, the
    // receiver yields `None`: every connection has finished.
    let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            next = accepted.recv() => next,
        };
        let Some((io, peer, admission)) = next else {
            break;
        };
        let (app, cancel, alive) = (app.clone(), cancel.clone(), alive.clone());
        let limits = limits.clone();
        tokio::spawn(async move {
            serve_connection(io, peer, admission, app, limits, cancel).await;
            drop(alive);
        });
    }
    drop(alive);
    let _ = all_done.recv().await;
}

async fn serve_connection<IO>(
    io: IO,
    peer: SocketAddr,
    admission: Admission,
    app: Router,
    limits: ConnectionLimits,
    cancel: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = Tracked {
        io,
        activity: Arc::clone(&activity),
        _admission: admission,
    };
    let svc_activity = Arc::clone(&activity);
    let proxies = limits.trusted_proxies.clone();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        svc_activity.request_started();
        let guard = InFlight(Arc::clone(&svc_activity));
        let mut req = req.map(Body::new);
        // Behind a trusted proxy, the client it names (crate::proxy).
        let client = SocketAddr::new(proxies.client(peer.ip(), req.headers()), peer.port());
        req.extensions_mut().insert(ConnectInfo(client));
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await;
            drop(guard);
            Ok::<_, Infallible>(match res {
                Ok(r) => r,
                Err(never) => match never {},
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below enforces the header deadline; hyper's own timer
    // would also cut idle keep-alive connections at the header deadline.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(
        hyper_util::rt::TokioIo::new(io),
        hyper_util::service::TowerToHyperService::new(service),
    );
    let conn = conn.with_upgrades();
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        let deadline = activity.deadline(&limits);
        let wake = match deadline {
            Some((at, _)) => activity.origin + Duration::from_millis(at.min(u64::MAX / 4)),
            None => Instant::now() + limits.idle_timeout.max(Duration::from_millis(100)),
        };
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = cancel.cancelled(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                // Recheck: activity may have moved the deadline.
                if let Some((at, why)) = activity.deadline(&limits)
                    && activity.now() >= at
                {
                    metrics::counter!("webex_connections_timed_out_total", "reason" => why)
                        .increment(1);
                    tracing::debug!(%peer, reason = why, "closing a connection that timed out");
                    return;
                }
            }
        }
    }
}

/// Settings [`guard_body`] needs.
#[derive(Debug, Clone)]
pub struct BodyGuard {
    /// Largest body accepted, in bytes, on routes without their own limit.
    pub limit: usize,
    /// Routes with their own body limit that read (and authorize) their
    /// own body within the body deadline (the client-log upload URL), by
    /// route template as the router matched it (`/a/{id}`). The guard only
    /// refuses an announced size over their limit.
    pub per_route: Arc<HashMap<String, usize>>,
    /// Longest time to receive a whole body.
    pub timeout: Duration,
}

impl BodyGuard {
    /// The route's own body limit, when the route that matched `req` reads
    /// its own body.
    fn own_limit(&self, req: &Request) -> Option<usize> {
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .and_then(|p| self.per_route.get(p.as_str()))
            .copied()
    }
}

/// Whether `req` announces a body (`Content-Length` above 0, or chunked).
pub(crate) fn has_body(req: &Request) -> bool {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    announced.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// Middleware: answers 413 as soon as `Content-Length` announces more than
/// the body limit (before any of the body is read), and reads every body
/// completely within the body deadline (408 otherwise). Both answers close
/// the connection. The limit is the server-wide one, at most
/// [`UNAUTHENTICATED_BODY_LIMIT`] for a request without valid credentials
/// ([`Unverified`], see [`crate::body_auth`]); a route that reads its own
/// body has its own limit and reads it itself. Runs after routing (a
/// `Router::layer`), so it knows the matched route.
pub async fn guard_body(State(guard): State<BodyGuard>, req: Request, next: Next) -> Response {
    let own = guard.own_limit(&req);
    let unverified = req.extensions().get::<Unverified>().is_some();
    let limit = match own {
        Some(l) => l,
        None if unverified => guard.limit.min(UNAUTHENTICATED_BODY_LIMIT),
        None => guard.limit,
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = announced
        && n > limit as u64
    {
        metrics::counter!("webex_request_body_refused_total", "reason" => "too_large").increment(1);
        let without = if unverified && own.is_none() {
            " without valid credentials"
        } else {
            ""
        };
        return closing(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            webex_wire::error::codes::PAYLOAD_TOO_LARGE,
            format!("The request body of {n} bytes exceeds the limit of {limit} bytes{without}"),
        ));
    }
    if own.is_some() || !has_body(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(guard.timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                closing(ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE))
            } else {
                closing(ApiError::bad_request("The request body could not be read"))
            }
        }
        Err(_) => {
            metrics::counter!("webex_request_body_refused_total", "reason" => "timeout")
                .increment(1);
            closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                webex_wire::error::codes::BAD_REQUEST,
                format!(
                    "The request body did not arrive within {} s",
                    guard.timeout.as_secs_f64()
                ),
            ))
        }
    }
}

/// `err` with `Connection: close`: the rest of the body is never read.
pub(crate) fn closing(err: ApiError) -> Response {
    let mut res = err.into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_caps_total_and_per_peer() {
        let gate = Gate::new(&ConnectionLimits {
            max_connections: 3,
            max_connections_per_peer: 2,
            ..ConnectionLimits::default()
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = gate.admit(a).expect("first");
        let _a2 = gate.admit(a).expect("second");
        assert_eq!(gate.admit(a).err(), Some(Refusal::Peer));
        let _b1 = gate.admit(b).expect("other peer");
        assert_eq!(gate.admit(b).err(), Some(Refusal::Total));
        drop(a1);
        assert_eq!(gate.held_by(a), 1);
        let _b2 = gate.admit(b).expect("room again");
    }

    #[test]
    fn watchdog_deadlines() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(1000),
            ..ConnectionLimits::default()
        };
        let a = Activity::new();
        assert_eq!(a.deadline(&limits), Some((100, "header_read")));
        a.head_started.store(NOT_STARTED, Ordering::Relaxed);
        assert_eq!(a.deadline(&limits), Some((1000, "idle")));
        a.head_started.store(50, Ordering::Relaxed);
        assert_eq!(a.deadline(&limits), Some((150, "header_read")));
        a.request_started();
        assert_eq!(a.deadline(&limits), None);
        a.request_finished();
        assert_eq!(a.deadline(&limits).map(|d| d.1), Some("idle"));
    }
}
