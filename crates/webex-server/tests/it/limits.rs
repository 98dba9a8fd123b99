//! Rate limits end to end: a flooding token gets 429 with `Retry-After` and
//! the JSON error body, while a well-behaved token on the same server is not
//! slowed down; the token endpoints are limited per client id and issuer;
//! `RateLimits::off()` limits nothing; a device keeps at most
//! `MAX_SOCKETS_PER_DEVICE` sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::device_body;
use serde_json::{Value, json};
use webex_server::limits::{RateLimit, RateLimits};
use webex_server::testing::TestServer;

async fn assert_429(res: reqwest::Response) {
    assert_eq!(res.status(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!(retry >= 1);
    let body =
        crate::support::json_error(res, reqwest::StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            .await
            .unwrap();
    assert!(body["message"].as_str().unwrap().contains("retry after"));
    assert!(body["trackingId"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_token_is_limited_and_a_polite_one_is_not() {
    // Production defaults (20/s, bursts of 40 per token).
    let server = TestServer::start_with(|c| c.device_limit = 10_000)
        .await
        .unwrap();
    assert_eq!(
        server.server().state().config.rate_limits,
        RateLimits::default()
    );
    let base = server.base_url().to_owned();
    let flooder = server.token_for("flood@example.com").await.unwrap();
    let polite = server.token_for("polite@example.com").await.unwrap();
    let http = reqwest::Client::new();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, limited) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut floods = Vec::new();
    for w in 0..6 {
        let (http, base, token) = (http.clone(), base.clone(), flooder.clone());
        let (stop, ok, limited) = (stop.clone(), ok.clone(), limited.clone());
        floods.push(tokio::spawn(async move {
            let mut first_429 = None;
            while !stop.load(Ordering::Relaxed) {
                let res = http
                    .post(format!("{base}/wdm/api/v1/devices"))
                    .bearer_auth(&token)
                    .json(&device_body(&format!("flood-{w}")))
                    .send()
                    .await
                    .unwrap();
                match res.status().as_u16() {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    429 => {
                        if first_429.is_none() {
                            first_429 = Some(res);
                            continue;
                        }
                        limited.fetch_add(1, Ordering::Relaxed)
                    }
                    s => panic!("flood got {s}"),
                };
            }
            first_429
        }));
    }

    // The polite client: one registration, refresh and fetch every 50 ms.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let res = http
            .post(format!("{base}/wdm/api/v1/devices"))
            .bearer_auth(&polite)
            .json(&device_body(&format!("polite-{i}")))
            .send()
            .await
            .unwrap();
        latencies.push(t.elapsed());
        assert_eq!(res.status(), 200, "polite registration {i}");
        let device: Value = res.json().await.unwrap();
        let url = device["url"].as_str().unwrap().to_owned();
        let t = Instant::now();
        let res = http
            .put(&url)
            .bearer_auth(&polite)
            .json(&device_body("polite-renamed"))
            .send()
            .await
            .unwrap();
        latencies.push(t.elapsed());
        assert_eq!(res.status(), 200, "polite refresh {i}");
        let res = http.get(&url).bearer_auth(&polite).send().await.unwrap();
        assert_eq!(res.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut sample = None;
    for f in floods {
        if let Some(res) = f.await.unwrap() {
            sample = Some(res);
        }
    }
    assert_429(sample.expect("the flooder was limited")).await;

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    let (ok, limited) = (ok.load(Ordering::Relaxed), limited.load(Ordering::Relaxed));
    eprintln!(
        "rate limit: flooder {ok} accepted, {limited} answered 429; polite client 40/40 accepted, latency p50 {p50:?} max {max:?}"
    );
    assert!(limited > 0);
    // 40 at once plus 20/s over the test's few seconds, never the flood.
    assert!(ok < limited, "{ok} accepted vs {limited} limited");
    server.shutdown().await;
}

#[tokio::test]
async fn token_endpoints_are_limited_per_client_and_issuer() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.token_endpoints = Some(RateLimit::new(1.0, 3));
    })
    .await
    .unwrap();
    let base = server.base_url();
    let http = reqwest::Client::new();
    let store = server.server().state().store.clone();

    // OAuth: wrong secrets still count against their client id.
    let post_token = |client: &str| {
        http.post(format!("{base}/v1/access_token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("client_id", client),
                ("client_secret", "wrong"),
                ("redirect_uri", "http://localhost/cb"),
            ])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(post_token("Cflood").await.unwrap().status(), 401);
    }
    assert_429(post_token("Cflood").await.unwrap()).await;
    assert_eq!(post_token("Cother").await.unwrap().status(), 401);
    // HTTP Basic names the same client as the form field.
    let res = http
        .post(format!("{base}/idb/oauth2/v1/access_token"))
        .basic_auth("Cflood", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_429(res).await;

    // Guest login: limited per issuer; the JWT below is unsigned garbage
    // with an `iss`, which the handler rejects with 401 after the limiter.
    let (issuer, _secret) = webex_server::identity::admin::create_guest_issuer(
        store.as_ref(),
        "Flood",
        "guests.invalid",
    )
    .await
    .unwrap();
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let jwt = |iss: &str| {
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(&json!({"iss": iss, "sub": "g", "name": "G", "exp": 4_000_000_000u64}).to_string()),
            b64("sig")
        )
    };
    let login = |iss: &str| {
        http.post(format!("{base}/v1/jwt/login"))
            .header("authorization", format!("Bearer {}", jwt(iss)))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(login(&issuer).await.unwrap().status(), 401);
    }
    assert_429(login(&issuer).await.unwrap()).await;
    assert_eq!(login("another-issuer").await.unwrap().status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn limits_off_limit_nothing() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits::off();
        c.device_limit = 10_000;
    })
    .await
    .unwrap();
    let token = server.token_for("bench@example.com").await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/wdm/api/v1/devices", server.base_url());
    for i in 0..120 {
        let res = http
            .post(&url)
            .bearer_auth(&token)
            .json(&device_body(&format!("d{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "registration {i}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn registration_limits_are_per_token_not_per_person() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.registrations = Some(RateLimit::new(0.5, 2));
    })
    .await
    .unwrap();
    let a = server.token_for("two@example.com").await.unwrap();
    let b = server.token_for("two@example.com").await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/wdm/api/v1/devices", server.base_url());
    let register = |t: &str| {
        http.post(&url)
            .bearer_auth(t)
            .json(&device_body("x"))
            .send()
    };
    assert_eq!(register(&a).await.unwrap().status(), 200);
    assert_eq!(register(&a).await.unwrap().status(), 200);
    assert_429(register(&a).await.unwrap()).await;
    assert_eq!(register(&b).await.unwrap().status(), 200);
    // Reads are never limited.
    let res = http.get(&url).bearer_auth(&a).send().await.unwrap();
    assert_eq!(res.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_device_keeps_at_most_eight_sockets() {
    use webex_server::mercury::hub::MAX_SOCKETS_PER_DEVICE;
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("sockets@example.com").await.unwrap();
    let device = crate::support::register_device(server.base_url(), &token).await;
    let mut sockets = Vec::new();
    for _ in 0..MAX_SOCKETS_PER_DEVICE {
        sockets.push(crate::support::connect(&device, &token, true).await);
    }
    assert_eq!(
        server.server().state().hub.socket_count(),
        MAX_SOCKETS_PER_DEVICE
    );
    // One more: the oldest is closed with 4000, the rest stay.
    let newest = crate::support::connect(&device, &token, true).await;
    let (code, reason) = crate::support::expect_close(&mut sockets[0]).await;
    assert_eq!((code, reason.as_str()), (4000, "replaced"));
    assert_eq!(
        server.server().state().hub.socket_count(),
        MAX_SOCKETS_PER_DEVICE
    );
    for ws in sockets.iter_mut().skip(1) {
        crate::support::send_json(ws, json!({"id": "p", "type": "ping"})).await;
        assert_eq!(crate::support::next_json(ws).await["type"], "pong");
    }
    drop(newest);
    server.shutdown().await;
}

/// Each limited route counts against its limit, and routes beside them do
/// not: the routers attach the limits (`limits::layer`), so a limited route
/// that lost its layer, or a neighbour that gained one, fails here.
#[tokio::test]
async fn each_limited_route_is_limited_and_its_neighbours_are_not() {
    /// How a request names who it counts against.
    enum By {
        Token(usize),
        Client(&'static str),
        Jwt,
    }
    let one = Some(RateLimit::new(0.001, 1));
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            registrations: one,
            token_endpoints: one,
            meeting_joins: one,
            meeting_info: one,
            per_peer: None,
            ..RateLimits::default()
        };
    })
    .await
    .unwrap();
    let base = server.base_url().to_owned();
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..6 {
        let email = format!("route{i}@example.com");
        tokens.push(server.token_for(&email).await.unwrap());
    }
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let jwt = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(r#"{"iss":"route-issuer","sub":"g","name":"G","exp":4000000000}"#),
        b64("sig")
    );
    let request = |method: reqwest::Method, path: &str, by: &By| {
        let req = http.request(method, format!("{base}{path}"));
        match by {
            By::Token(i) => req.bearer_auth(&tokens[*i]).json(&device_body("r")),
            By::Client(id) => req.form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "wrong"),
            ]),
            By::Jwt => req.bearer_auth(&jwt),
        }
    };
    use reqwest::Method as M;
    let limited = [
        (M::POST, "/wdm/api/v1/devices", By::Token(0)),
        (M::PUT, "/wdm/api/v1/devices/none", By::Token(1)),
        (M::POST, "/locus/api/v1/loci/call", By::Token(2)),
        (M::POST, "/locus/api/v1/loci/none/participant", By::Token(3)),
        (M::POST, "/wbxappapi/v1/meetingInfo", By::Token(4)),
        (M::POST, "/v1/access_token", By::Client("Croute1")),
        (
            M::POST,
            "/idb/oauth2/v1/access_token",
            By::Client("Croute2"),
        ),
        (M::POST, "/v1/jwt/login", By::Jwt),
    ];
    for (method, path, by) in &limited {
        let first = request(method.clone(), path, by).send().await.unwrap();
        assert_ne!(
            first.status(),
            429,
            "{method} {path}: the first was limited"
        );
        let second = request(method.clone(), path, by).send().await.unwrap();
        assert_eq!(second.status(), 429, "{method} {path}: not limited");
        assert_429(second).await;
    }
    // A token spent on each limited route, on their neighbours.
    for _ in 0..3 {
        for (method, path) in [
            (M::GET, "/wdm/api/v1/devices"),
            (M::GET, "/wdm/api/v1/devices/none"),
            (M::DELETE, "/wdm/api/v1/devices/none"),
            (M::GET, "/locus/api/v1/loci"),
            (M::POST, "/locus/api/v1/loci/none/end"),
        ] {
            let res = request(method.clone(), path, &By::Token(0))
                .send()
                .await
                .unwrap();
            assert_ne!(res.status(), 429, "{method} {path} was limited");
        }
    }
    server.shutdown().await;
}

/// A locked-out address gets 429 from every admin route the OpenAPI
/// document lists: each admin router carries the admin limit.
#[tokio::test]
async fn every_admin_route_refuses_a_locked_out_address() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.admin_failures = Some(RateLimit::new(0.001, 1));
    })
    .await
    .unwrap();
    let base = server.base_url().to_owned();
    let http = reqwest::Client::new();
    let guess = || {
        http.get(format!("{base}/admin/api/v1/connections"))
            .bearer_auth("guess")
            .send()
    };
    let mut locked = false;
    for _ in 0..5 {
        if guess().await.unwrap().status() == 429 {
            locked = true;
            break;
        }
    }
    assert!(locked, "wrong admin tokens never locked the address out");
    let doc = serde_json::to_value(webex_server::ops::server_openapi()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = match method.as_str() {
                "get" => reqwest::Method::GET,
                "post" => reqwest::Method::POST,
                "put" => reqwest::Method::PUT,
                "patch" => reqwest::Method::PATCH,
                "delete" => reqwest::Method::DELETE,
                _ => continue,
            };
            let mut req = http
                .request(method.clone(), format!("{base}{concrete}"))
                .bearer_auth("guess");
            if method == reqwest::Method::POST {
                req = req.json(&json!({}));
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 429, "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} admin operations documented");
    server.shutdown().await;
}
