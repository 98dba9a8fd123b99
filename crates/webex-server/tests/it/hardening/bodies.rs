//! Credentials are checked before a body is read, and per-address caps
//! bound an IPv6 /64 (issue 20, defect 5: 400 held unauthenticated uploads
//! took the server from 38 to 291 MiB; an IPv6 /64 was not bounded by the
//! per-address cap).

use std::time::{Duration, Instant};

use webex_server::connections::{ConnectionLimits, Gate, Refusal};
use webex_server::testing::TestServer;

use super::support::{raw, read_response, send};

/// The head of a POST announcing `len` bytes that never come.
fn head(path: &str, auth: Option<&str>, len: usize) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_large_body_without_valid_credentials_is_refused_before_it_is_read() {
    let server = TestServer::start_with(|c| c.connections = ConnectionLimits::default())
        .await
        .unwrap();
    let token = server.token_for("bodies@example.com").await.unwrap();
    let addr = server.server().local_addr();
    let forged = "Bearer AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh_PF84_org-1";
    let cases = [
        ("no token", None),
        ("an unknown token", Some(forged)),
        ("a guest JWT", Some("eyJhbGciOiJIUzI1NiJ9.e30.sig")),
    ];
    for (what, auth) in cases {
        let mut s = raw(addr).await;
        send(&mut s, &head("/wdm/api/v1/devices", auth, 200_000)).await;
        let started = Instant::now();
        let (status, text) = read_response(&mut s).await;
        assert_eq!(status, 413, "{what}: {text}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: {:?}",
            started.elapsed()
        );
    }
    // The client-log upload URL checks its capability before reading.
    let mut s = raw(addr).await;
    let path = format!(
        "/clientlogs/api/v1/uploads/{}?token=wrong",
        uuid::Uuid::new_v4()
    );
    send(&mut s, &head(&path, None, 10 << 20).replace("POST", "PUT")).await;
    let started = Instant::now();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 404, "{text}");
    let refused_in = started.elapsed();
    assert!(refused_in < Duration::from_secs(2), "{refused_in:?}");
    // A valid token may still send up to the server-wide limit: the server
    // waits for the body (answers nothing yet).
    let mut s = raw(addr).await;
    let bearer = format!("Bearer {token}");
    send(&mut s, &head("/wdm/api/v1/devices", Some(&bearer), 200_000)).await;
    let waited = tokio::time::timeout(Duration::from_millis(500), read_response(&mut s)).await;
    assert!(waited.is_err(), "answered before the body: {waited:?}");
    drop(s);
    eprintln!(
        "200 kB announced without valid credentials: 413 from the head (3 of 3); \
         a 10 MiB upload with a wrong capability: 404 in {} ms",
        refused_in.as_millis()
    );
    server.shutdown().await;
}

#[test]
fn an_ipv6_slash_64_is_one_peer() {
    let gate = Gate::new(&ConnectionLimits {
        max_connections_per_peer: 2,
        ..ConnectionLimits::default()
    });
    let a: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: std::net::IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
    let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
    let _a = gate.admit(a).unwrap();
    let _b = gate.admit(b).unwrap();
    assert_eq!(gate.admit(a).err(), Some(Refusal::Peer), "same /64");
    assert_eq!(
        gate.admit("2001:db8:1:2::99".parse().unwrap()).err(),
        Some(Refusal::Peer)
    );
    assert!(gate.admit(other).is_ok(), "another /64");
    // IPv4 (and IPv4-mapped IPv6) addresses stay one peer each.
    let v4: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    let _v4 = gate.admit(v4).unwrap();
    let _m = gate.admit(mapped).unwrap();
    assert_eq!(
        gate.admit(v4).err(),
        Some(Refusal::Peer),
        "mapped is the same peer"
    );
    assert!(gate.admit("192.0.2.2".parse().unwrap()).is_ok());
}
