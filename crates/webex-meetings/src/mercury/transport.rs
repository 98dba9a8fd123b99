//! Opening the socket: TCP (direct or through an HTTP CONNECT proxy), TLS and
//! the websocket upgrade.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::MercuryError;
use super::backoff::parse_retry_after;

/// An open websocket.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a pre-opened TCP connection waits to be used.
const WARM_FOR: Duration = Duration::from_secs(5);

/// TCP connections opened ahead of the websocket URL being known
/// ([`preconnect`]), by host and port.
static WARM: std::sync::Mutex<Vec<(String, u16, std::time::Instant, TcpStream)>> =
    std::sync::Mutex::new(Vec::new());

fn warm() -> std::sync::MutexGuard<'static, Vec<(String, u16, std::time::Instant, TcpStream)>> {
    WARM.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens a TCP connection to the host and port of `url` (a `ws`/`wss` URL)
/// and keeps it for the next [`open`] to that host and port within a few
/// seconds: a registration whose device is still being created overlaps the
/// socket's TCP handshake with the device request. Failures are ignored
/// (`open` connects as usual).
pub(super) async fn preconnect(url: &Url) {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return;
    };
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    if let Ok(Ok(tcp)) =
        tokio::time::timeout(WARM_FOR, TcpStream::connect((host.as_str(), port))).await
    {
        let _ = tcp.set_nodelay(true);
        let mut warm = warm();
        warm.retain(|(_, _, at, _)| at.elapsed() < WARM_FOR);
        if warm.len() < 8 {
            warm.push((host, port, std::time::Instant::now(), tcp));
        }
    }
}

/// A fresh pre-opened connection to `host:port`, if any.
fn take_warm(host: &str, port: u16) -> Option<TcpStream> {
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    let mut warm = warm();
    warm.retain(|(_, _, at, _)| at.elapsed() < WARM_FOR);
    let i = warm
        .iter()
        .position(|(h, p, _, _)| *h == host && *p == port)?;
    Some(warm.swap_remove(i).3)
}

/// Largest proxy response head read before giving up.
const MAX_PROXY_RESPONSE: usize = 8 * 1024;

/// A failed attempt, with the server's `Retry-After` when it sent one.
#[derive(Debug)]
pub(super) struct Failure {
    /// What went wrong.
    pub(super) error: MercuryError,
    /// How long the server asked us to wait (already capped).
    pub(super) retry_after: Option<Duration>,
}

impl From<MercuryError> for Failure {
    fn from(error: MercuryError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// Opens `url` (a `ws`/`wss` URL), through `proxy` when set, trusting
/// `roots` (DER) besides the public roots. `retry_after_cap` bounds a
/// `Retry-After` on a refused upgrade.
pub(super) async fn open(
    url: &Url,
    proxy: Option<&Url>,
    roots: &[Vec<u8>],
    retry_after_cap: Duration,
) -> Result<Socket, Failure> {
    let host = url
        .host_str()
        .ok_or_else(|| MercuryError::Connect("websocket URL has no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| MercuryError::Connect("websocket URL has no port".into()))?;
    let tcp = match proxy {
        None => match take_warm(host, port) {
            Some(tcp) => tcp,
            None => TcpStream::connect((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| MercuryError::Connect(format!("TCP connect: {e}")))?,
        },
        Some(proxy) => tunnel(proxy, host, port).await?,
    };
    let _ = tcp.set_nodelay(true);
    let request = url
        .as_str()
        .into_client_request()
        .map_err(|e| MercuryError::Connect(format!("websocket request: {e}")))?;
    let connector = if roots.is_empty() || url.scheme() != "wss" {
        None
    } else {
        Some(tls_connector(roots)?)
    };
    match tokio_tungstenite::client_async_tls_with_config(request, tcp, None, connector).await {
        Ok((socket, _response)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(Failure {
            error: MercuryError::UpgradeRefused(response.status().as_u16()),
            retry_after: response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, retry_after_cap)),
        }),
        Err(e) => Err(MercuryError::Connect(format!("websocket upgrade: {e}")).into()),
    }
}

/// A rustls connector trusting the public roots plus `roots` (DER).
fn tls_connector(roots: &[Vec<u8>]) -> Result<tokio_tungstenite::Connector, MercuryError> {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let mut store = rustls::RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| MercuryError::Connect(format!("root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MercuryError::Connect(format!("TLS config: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}

/// A TCP stream to `host:port` tunnelled through the HTTP proxy `proxy`
/// with `CONNECT`. Credentials in the proxy URL are sent as Basic auth.
async fn tunnel(proxy: &Url, host: &str, port: u16) -> Result<TcpStream, MercuryError> {
    if proxy.scheme() != "http" {
        return Err(MercuryError::Connect(format!(
            "unsupported proxy scheme `{}` (only http:// proxies are supported)",
            proxy.scheme()
        )));
    }
    let proxy_host = proxy
        .host_str()
        .ok_or_else(|| MercuryError::Connect("proxy URL has no host".into()))?;
    let proxy_port = proxy.port_or_known_default().unwrap_or(80);
    let mut stream = TcpStream::connect((proxy_host.trim_matches(['[', ']']), proxy_port))
        .await
        .map_err(|e| MercuryError::Connect(format!("TCP connect to proxy: {e}")))?;

    let authority = format!("{host}:{port}");
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if !proxy.username().is_empty() {
        let credentials = format!(
            "{}:{}",
            percent_decode(proxy.username()),
            percent_decode(proxy.password().unwrap_or_default())
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        head.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| MercuryError::Connect(format!("proxy CONNECT: {e}")))?;

    let status = read_proxy_status(&mut stream).await?;
    match status {
        200..=299 => Ok(stream),
        407 => Err(MercuryError::Connect(
            "proxy requires authentication (HTTP 407)".into(),
        )),
        other => Err(MercuryError::Connect(format!(
            "proxy refused CONNECT with HTTP {other}"
        ))),
    }
}

/// Reads the proxy's response head (byte by byte, so nothing after it is
/// consumed) and returns its status code.
async fn read_proxy_status(stream: &mut TcpStream) -> Result<u16, MercuryError> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_RESPONSE {
            return Err(MercuryError::Connect(
                "proxy response head too large".into(),
            ));
        }
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| MercuryError::Connect(format!("proxy CONNECT: {e}")))?;
        if n == 0 {
            return Err(MercuryError::Connect(
                "proxy closed the connection during CONNECT".into(),
            ));
        }
        head.push(byte[0]);
    }
    parse_status_line(&head)
        .ok_or_else(|| MercuryError::Connect("proxy sent a malformed CONNECT response".into()))
}

/// The status code of an `HTTP/1.x NNN reason` line at the start of `head`.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Decodes `%XX` escapes (URL userinfo is percent-encoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 407 Proxy Auth\r\n\r\n"),
            Some(407)
        );
        assert_eq!(parse_status_line(b"HTTP/2 200\r\n\r\n"), None);
        assert_eq!(parse_status_line(b"garbage\r\n\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20x ok\r\n\r\n"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("p%40ss%3Aw0rd"), "p@ss:w0rd");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
    }
}

#[cfg(test)]
mod warm_tests {
    use super::*;

    #[tokio::test]
    async fn a_preconnected_stream_is_used_once_by_its_host_and_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let url = Url::parse(&format!("ws://127.0.0.1:{port}/m")).unwrap_or_else(|e| panic!("{e}"));
        preconnect(&url).await;
        let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(
            matches!(accepted, Ok(Ok(_))),
            "the connection was opened ahead"
        );
        assert!(take_warm("127.0.0.1", port.wrapping_add(1)).is_none());
        assert!(take_warm("127.0.0.1", port).is_some());
        assert!(take_warm("127.0.0.1", port).is_none(), "used once");
    }
}
