//! `register()` step failures, timeouts and the HTTP layer, against small
//! in-test servers that misbehave on purpose.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;
use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use webex_meetings::{AuthError, Credentials, Error, RegisterError, Step, Webex};

const TOKEN: &str = "tok_PF84_org1";

/// Catalog + people/me served here; `hydra`/`wdm` may point elsewhere.
fn u2c_and_hydra(base: &str, hydra: String, wdm: String) -> axum::Router {
    let cat = catalog(&[("hydra", hydra), ("wdm", wdm)]);
    let cat2 = cat.clone();
    let _ = base;
    axum::Router::new()
        .route(
            "/u2c/api/v1/limited/catalog",
            get(move || async move { Json(cat) }),
        )
        .route(
            "/u2c/api/v1/catalog",
            get(move || async move { Json(cat2) }),
        )
        .route(
            "/v1/people/me",
            get(|| async { Json(serde_json::json!({"id": "u1", "type": "person"})) }),
        )
}

async fn register_error(discovery: &str) -> Error {
    register_error_with(discovery, quick_timeouts()).await
}

async fn register_error_with(discovery: &str, timeouts: webex_meetings::Timeouts) -> Error {
    let config = config(Credentials::access_token(TOKEN), discovery)
        .timeouts(timeouts)
        .meeting_preferences(false)
        .build()
        .unwrap();
    let meetings = Webex::init(config).meetings();
    within(meetings.register()).await.unwrap_err()
}

#[tokio::test]
async fn catalog_step_times_out_on_a_silent_server() {
    let hole = black_hole().await;
    let e = register_error(&format!("http://{hole}/u2c/api/v1")).await;
    assert!(
        matches!(
            e,
            Error::Register(RegisterError::Timeout {
                step: Step::Catalog,
                ..
            })
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn people_step_times_out_on_a_silent_hydra() {
    let hole = black_hole().await;
    let base =
        serve_with(|b| u2c_and_hydra(&b, format!("http://{hole}/v1"), format!("{b}/wdm"))).await;
    let e = register_error(&format!("{base}/u2c/api/v1")).await;
    assert_eq!(e.step(), Some(Step::PeopleMe), "{e:?}");
    assert!(matches!(e, Error::Register(RegisterError::Timeout { .. })));
}

#[tokio::test]
async fn device_step_times_out_on_a_silent_wdm() {
    let hole = black_hole().await;
    let base =
        serve_with(|b| u2c_and_hydra(&b, format!("{b}/v1"), format!("http://{hole}/wdm"))).await;
    let e = register_error(&format!("{base}/u2c/api/v1")).await;
    assert!(
        matches!(
            e,
            Error::Register(RegisterError::Timeout {
                step: Step::Device,
                ..
            })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn mercury_step_failure_names_the_step_and_keeps_the_device() {
    let hole = black_hole().await;
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    let base = serve_with(move |b| {
        let device = serde_json::json!({
            "url": format!("{b}/wdm/devices/d1"),
            "webSocketUrl": format!("ws://{hole}/mercury/d1"),
            "userId": "u1", "name": "webex-rs", "model": "webex-rs",
        });
        let put_device = device.clone();
        u2c_and_hydra(&b, format!("{b}/v1"), format!("{b}/wdm"))
            .route(
                "/wdm/devices",
                post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move { Json(device) }
                }),
            )
            .route(
                "/wdm/devices/d1",
                axum::routing::put(move || async move { Json(put_device) }),
            )
    })
    .await;
    let config = config(
        Credentials::access_token(TOKEN),
        &format!("{base}/u2c/api/v1"),
    )
    .timeouts(quick_timeouts())
    .meeting_preferences(false)
    .build()
    .unwrap();
    let meetings = Webex::init(config).meetings();
    for _ in 0..2 {
        let e = within(meetings.register()).await.unwrap_err();
        assert_eq!(e.step(), Some(Step::Mercury), "{e:?}");
        assert!(!meetings.is_registered());
    }
    // The second attempt refreshed the stored device instead of leaking one.
    assert_eq!(posts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_with_one_tracking_id() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(
        Vec::<(Option<String>, Option<String>, bool)>::new(),
    ));
    let (h, s) = (hits.clone(), seen.clone());
    let base = serve_with(move |_| {
        axum::Router::new()
            .route(
                "/u2c/api/v1/limited/catalog",
                get(move |req: Request| {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    s.lock().unwrap().push((
                        header("trackingid"),
                        header("spark-user-agent"),
                        req.headers().contains_key("authorization"),
                    ));
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    async move {
                        match n {
                            0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}")
                                .into_response(),
                            1 => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                [("retry-after", "rand(30),add(30)")],
                                "{}",
                            )
                                .into_response(),
                            _ => Json(catalog(&[])).into_response(),
                        }
                    }
                }),
            )
            // No wdm: register stops at the catalog step after the retries.
            .route("/u2c/api/v1/catalog", get(|| async { Json(catalog(&[])) }))
    })
    .await;
    let timeouts = webex_meetings::Timeouts {
        catalog: std::time::Duration::from_secs(20),
        ..quick_timeouts()
    };
    let e = register_error_with(&format!("{base}/u2c/api/v1"), timeouts).await;
    assert!(
        matches!(e, Error::Register(RegisterError::Catalog(_))),
        "{e:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let seen = seen.lock().unwrap();
    let ids: Vec<_> = seen.iter().map(|(t, _, _)| t.clone().unwrap()).collect();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "a retried request keeps its trackingid"
    );
    let parts: Vec<&str> = ids[0].split('_').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "webex-rs");
    assert!(uuid::Uuid::parse_str(parts[1]).is_ok());
    assert!(seen.iter().all(|(_, ua, auth)| {
        ua.as_deref()
            .is_some_and(|u| u.starts_with("webex/") && u.contains(" webex-rs/"))
            && !auth
    }));
}

#[tokio::test]
async fn a_429_on_the_catalog_past_the_retry_budget_is_a_retryable_http_error() {
    let base = serve(axum::Router::new().route(
        "/u2c/api/v1/limited/catalog",
        get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "{}") }),
    ))
    .await;
    let e = register_error(&format!("{base}/u2c/api/v1")).await;
    assert_eq!(e.status(), Some(429), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn auth_errors_are_typed() {
    let e = within(async {
        let config = config(
            Credentials::access_token("  "),
            "http://127.0.0.1:9/u2c/api/v1",
        )
        .build()
        .unwrap();
        Webex::init(config).meetings().register().await
    })
    .await
    .unwrap_err();
    assert_eq!(e.auth(), Some(&AuthError::NoCredentials));

    for (code, expected) in [
        ("token_expired", AuthError::TokenExpired),
        (
            "missing_scope",
            AuthError::MissingScope("needs spark:all".into()),
        ),
    ] {
        let base = serve(
            axum::Router::new()
                .route(
                    "/u2c/api/v1/limited/catalog",
                    get(|| async { Json(catalog(&[])) }),
                )
                .route(
                    "/u2c/api/v1/catalog",
                    get(move || async move {
                        (
                            StatusCode::UNAUTHORIZED,
                            Json(serde_json::json!({"message": "no", "code": code,
                            "errors": [{"description": "needs spark:all"}], "trackingId": "t"})),
                        )
                    }),
                ),
        )
        .await;
        let e = register_error(&format!("{base}/u2c/api/v1")).await;
        assert_eq!(e.auth(), Some(&expected), "{e:?}");
        assert!(matches!(e, Error::Auth(_)));
    }
}

/// A minimal Mercury: reads the authorization frame, sends the
/// buffer_state, then holds the socket until the client closes it.
async fn fake_mercury(ws: axum::extract::ws::WebSocketUpgrade) -> axum::response::Response {
    use axum::extract::ws::Message;
    ws.on_upgrade(|mut socket| async move {
        let _authorization = socket.recv().await;
        let buffer_state = r#"{"id":"1","data":{"eventType":"mercury.buffer_state"}}"#;
        if socket.send(Message::text(buffer_state)).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
}

#[tokio::test]
async fn requests_name_the_registered_device_in_cisco_device_url() {
    let seen = Arc::new(Mutex::new(Vec::<(String, String, Option<String>)>::new()));
    let record = seen.clone();
    let base = serve_with(move |b| {
        let device = serde_json::json!({
            "url": format!("{b}/wdm/devices/d1"),
            "webSocketUrl": format!("{}/mercury/d1", b.replace("http://", "ws://")),
            "userId": "u1", "name": "webex-rs", "model": "webex-rs",
        });
        u2c_and_hydra(&b, format!("{b}/v1"), format!("{b}/wdm"))
            .route("/wdm/devices", post(move || async move { Json(device) }))
            .route(
                "/wdm/devices/d1",
                axum::routing::delete(|| async { StatusCode::NO_CONTENT }),
            )
            .route("/mercury/d1", get(fake_mercury))
            .layer(axum::middleware::from_fn(
                move |req: Request, next: axum::middleware::Next| {
                    let header = req
                        .headers()
                        .get("cisco-device-url")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    record.lock().unwrap().push((
                        req.method().to_string(),
                        req.uri().path().to_owned(),
                        header,
                    ));
                    next.run(req)
                },
            ))
    })
    .await;
    let webex = Webex::init(
        config(
            Credentials::access_token(TOKEN),
            &format!("{base}/u2c/api/v1"),
        )
        .meeting_preferences(false)
        .build()
        .unwrap(),
    );
    let meetings = webex.meetings();
    let device_url = within(meetings.register()).await.unwrap().device.url;
    within(webex.me()).await.unwrap();
    within(meetings.unregister()).await.unwrap();
    within(webex.me()).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let header_of = |method: &str, path: &str| -> Vec<Option<String>> {
        seen.iter()
            .filter(|(m, p, _)| m == method && p == path)
            .map(|(_, _, h)| h.clone())
            .collect()
    };
    // Before registration: no device to name.
    assert_eq!(header_of("POST", "/wdm/devices"), [None]);
    assert_eq!(header_of("GET", "/mercury/d1"), [None]);
    // Registered, including the DELETE that unregisters; then no more.
    assert_eq!(
        header_of("GET", "/v1/people/me"),
        [None, Some(device_url.clone()), None]
    );
    assert_eq!(header_of("DELETE", "/wdm/devices/d1"), [Some(device_url)]);
}
