//! Wrong admin tokens and made-up limiter keys (issue 14, defect 6; the
//! lockout that refused the right token too: issue 20).

use webex_server::limits::{RateLimit, RateLimits};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

use super::support::http;

#[tokio::test]
async fn wrong_admin_tokens_are_rate_limited_per_peer() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.admin_failures = Some(RateLimit::new(0.1, 5));
    })
    .await
    .unwrap();
    let url = format!("{}/admin/api/v1/connections", server.base_url());
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = http()
            .get(&url)
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    // The burst of five, then the failure that found it spent; after that
    // the address is locked out without its guesses being looked at.
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    // Locked out, a wrong token still gets 429 without being looked at…
    let res = http()
        .get(&url)
        .bearer_auth("guess-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // …but the right one is served (issue 20: an attacker sharing the
    // operator's address locked the operator out).
    let res = http()
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn rotating_made_up_client_ids_is_limited_by_address() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            token_endpoints: Some(RateLimit::new(1.0, 2)),
            per_peer: Some(RateLimit::new(1.0, 5)),
            ..RateLimits::default()
        };
    })
    .await
    .unwrap();
    let mut limited = 0;
    for i in 0..20 {
        let res = http()
            .post(format!("{}/v1/access_token", server.base_url()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &format!("made-up-{i}")),
                ("client_secret", "x"),
                ("code", "c"),
                ("redirect_uri", "http://x/"),
            ])
            .send()
            .await
            .unwrap();
        if res.status().as_u16() == 429 {
            limited += 1;
        }
    }
    assert!(
        limited >= 14,
        "only {limited} of 20 rotated ids were limited"
    );
    server.shutdown().await;
}

/// Eight wrong admin tokens from `client` (as `X-Forwarded-For`); the
/// statuses.
async fn guesses(server: &TestServer, client: &str) -> Vec<u16> {
    let url = format!("{}/admin/api/v1/connections", server.base_url());
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = http()
            .get(&url)
            .header("x-forwarded-for", client)
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_count_the_client_it_names() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.admin_failures = Some(RateLimit::new(0.1, 5));
        c.connections.max_connections_per_peer = 1;
        c.connections.trusted_proxies =
            webex_server::proxy::TrustedProxies::new(["127.0.0.0/8".parse().unwrap()]);
    })
    .await
    .unwrap();
    // One client behind the proxy is locked out…
    let first = guesses(&server, "198.51.100.7").await;
    assert!(first[6..].iter().all(|s| *s == 429), "{first:?}");
    // …another one behind the same proxy is not.
    let other = guesses(&server, "198.51.100.8").await;
    assert_eq!(&other[..6], &[401; 6], "{other:?}");
    // The proxy carries many clients: the per-address connection cap (1
    // here) does not apply to it — several connections at once are served.
    let clients: Vec<_> = (0..4).map(|_| http()).collect();
    let answers = futures::future::join_all(
        clients
            .iter()
            .map(|c| c.get(format!("{}/healthz", server.base_url())).send()),
    )
    .await;
    assert!(
        answers
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status() == 200))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_name_another_address() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.admin_failures = Some(RateLimit::new(0.1, 5));
    })
    .await
    .unwrap();
    // Rotating X-Forwarded-For from an address that is no trusted proxy
    // changes nothing: the peer's own address is locked out.
    let mut statuses = guesses(&server, "198.51.100.7").await;
    statuses.extend(guesses(&server, "198.51.100.8").await);
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    server.shutdown().await;
}
