//! Raw sockets and small HTTP helpers for the hardening tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Hang guard for anything a test waits for.
pub const GUARD: Duration = Duration::from_secs(10);

/// A raw TCP connection to `addr`.
pub async fn raw(addr: std::net::SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (or [`GUARD`] passes, which
/// fails the test); returns what it sent and how long that took.
pub async fn read_until_closed(s: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, s.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {GUARD:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Whether the server closed `s` within `within` (reading and discarding).
pub async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes `text` to `s`.
pub async fn send(s: &mut TcpStream, text: &str) {
    s.write_all(text.as_bytes()).await.unwrap();
}

/// Reads one HTTP/1.1 response with a `Content-Length` body.
pub async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(GUARD, s.read(&mut buf))
            .await
            .expect("no response in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before a full response: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                return (status, text);
            }
        }
    }
}

/// An HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The redirect URI every test OAuth client registers.
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A signed guest JWT for issuer `iss` (secret as the admin API returns it).
pub fn guest_jwt(secret: &str, claims: serde_json::Value) -> String {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .unwrap()
}

/// Exchanges a guest JWT; returns the status and the JSON body.
pub async fn jwt_login(base: &str, jwt: &str) -> (u16, serde_json::Value) {
    let res = http()
        .post(format!("{base}/v1/jwt/login"))
        .header("authorization", jwt)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}
