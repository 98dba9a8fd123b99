//! Token lifecycle against an in-test OAuth endpoint: refresh on a 401 and
//! before expiry, one refresh for many concurrent callers, typed failures.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::support::*;
use axum::Json;
use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_meetings::{AccessToken, AuthError, Credentials, MeetingsEvent, OAuthTokens, Webex};

const OLD: &str = "old_PF84_org1";
const NEW: &str = "new_PF84_org1";

struct Fake {
    base: String,
    refreshes: Arc<AtomicUsize>,
    forms: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

/// `people/me` accepts only `NEW`; the token endpoint answers `grant`.
async fn start_fake(grant: (StatusCode, serde_json::Value)) -> Fake {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let forms = Arc::new(Mutex::new(Vec::new()));
    let (r, f) = (refreshes.clone(), forms.clone());
    let base = serve(
        axum::Router::new()
            .route(
                "/v1/people/me",
                get(|headers: HeaderMap| async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth == Some(&format!("Bearer {NEW}")) {
                        Json(serde_json::json!({"id": "u1", "type": "person"})).into_response()
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            Json(serde_json::json!({"message": "bad", "code": "token_unknown"})),
                        )
                            .into_response()
                    }
                }),
            )
            .route(
                "/v1/access_token",
                post(move |Form(form): Form<HashMap<String, String>>| {
                    r.fetch_add(1, Ordering::SeqCst);
                    f.lock().unwrap().push(form);
                    let grant = grant.clone();
                    async move {
                        // Slow enough that concurrent callers pile up behind it.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        (grant.0, Json(grant.1))
                    }
                }),
            ),
    )
    .await;
    Fake {
        base,
        refreshes,
        forms,
    }
}

fn granted() -> (StatusCode, serde_json::Value) {
    (
        StatusCode::OK,
        serde_json::json!({"access_token": NEW, "expires_in": 3600, "refresh_token": "r2",
            "refresh_token_expires_in": 7_776_000, "token_type": "Bearer"}),
    )
}

fn oauth_webex(fake: &Fake, tokens: OAuthTokens) -> Webex {
    let cfg = config(
        Credentials::oauth(tokens),
        &format!("{}/u2c/api/v1", fake.base),
    )
    .build()
    .unwrap();
    Webex::init(cfg)
}

#[tokio::test]
async fn a_401_refreshes_once_for_all_concurrent_callers_and_replays() {
    let fake = start_fake(granted()).await;
    let webex = oauth_webex(&fake, OAuthTokens::new(OLD, "r1", "cid", "csecret"));
    let mut events = webex.meetings().events();
    let calls = (0..8).map(|_| webex.me());
    let results = within(futures::future::join_all(calls)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);

    let form = fake.forms.lock().unwrap()[0].clone();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(form.get("refresh_token").map(String::as_str), Some("r1"));
    assert_eq!(form.get("client_id").map(String::as_str), Some("cid"));
    assert_eq!(
        form.get("client_secret").map(String::as_str),
        Some("csecret")
    );

    assert!(matches!(events.next().await, Some(MeetingsEvent::Ready)));
    assert!(matches!(
        within(events.next()).await,
        Some(MeetingsEvent::TokenRefreshed)
    ));
    assert_eq!(webex.access_token().await.unwrap().expose_secret(), NEW);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_before_use_single_flight() {
    let fake = start_fake(granted()).await;
    let expired = SystemTime::now() - Duration::from_secs(10);
    let webex = oauth_webex(
        &fake,
        OAuthTokens::new(OLD, "r1", "cid", "csecret").expires_at(expired),
    );
    let tokens = within(futures::future::join_all(
        (0..8).map(|_| webex.access_token()),
    ))
    .await;
    assert!(
        tokens
            .iter()
            .all(|t| t.as_ref().unwrap().expose_secret() == NEW)
    );
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_grant_means_the_refresh_token_expired() {
    let fake = start_fake((
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "invalid_grant"}),
    ))
    .await;
    let webex = oauth_webex(&fake, OAuthTokens::new(OLD, "r1", "cid", "csecret"));
    let e = within(webex.me()).await.unwrap_err();
    assert_eq!(e.auth(), Some(&AuthError::RefreshTokenExpired), "{e:?}");

    let fake = start_fake((
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"error": "invalid_client"}),
    ))
    .await;
    let webex = oauth_webex(&fake, OAuthTokens::new(OLD, "r1", "cid", "csecret"));
    let e = within(webex.me()).await.unwrap_err();
    assert_eq!(
        e.auth(),
        Some(&AuthError::RefreshRejected {
            error: "invalid_client".into()
        })
    );
}

#[tokio::test]
async fn a_known_expired_refresh_token_is_not_sent() {
    let fake = start_fake(granted()).await;
    let tokens = OAuthTokens::new(OLD, "r1", "cid", "csecret")
        .expires_at(SystemTime::now() - Duration::from_secs(10))
        .refresh_token_expires_in(Duration::ZERO);
    let e = within(oauth_webex(&fake, tokens).access_token())
        .await
        .unwrap_err();
    assert_eq!(e.auth(), Some(&AuthError::RefreshTokenExpired));
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_fixed_token_is_never_refreshed_and_can_be_swapped_at_runtime() {
    let fake = start_fake(granted()).await;
    let cfg = config(
        Credentials::access_token(OLD),
        &format!("{}/u2c/api/v1", fake.base),
    )
    .build()
    .unwrap();
    let webex = Webex::init(cfg);
    let e = within(webex.me()).await.unwrap_err();
    assert!(
        matches!(e.auth(), Some(AuthError::TokenInvalid { .. })),
        "{e:?}"
    );
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 0);

    webex.set_access_token(AccessToken::new(NEW));
    assert!(within(webex.me()).await.is_ok());

    let expired = Credentials::access_token(OLD);
    let cfg = config(expired, &format!("{}/u2c/api/v1", fake.base))
        .build()
        .unwrap();
    let webex = Webex::init(cfg);
    webex.set_access_token(
        AccessToken::new(OLD).expiring_at(SystemTime::now() - Duration::from_secs(1)),
    );
    assert_eq!(
        within(webex.access_token()).await.unwrap_err().auth(),
        Some(&AuthError::TokenExpired)
    );
}

#[tokio::test]
async fn self_hosted_token_url_is_derived_from_discovery() {
    // No explicit token URL: `<base>/v1/access_token` is used for refreshes.
    let fake = start_fake(granted()).await;
    let webex = oauth_webex(&fake, OAuthTokens::new(OLD, "r1", "cid", "csecret"));
    assert!(within(webex.me()).await.is_ok());
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tokens_never_show_in_debug_output() {
    let fake = start_fake(granted()).await;
    let webex = oauth_webex(&fake, OAuthTokens::new(OLD, "r1-secret", "cid", "csecret"));
    let shown = format!("{webex:?} {:?} {:?}", webex.meetings(), webex.config());
    assert!(
        !shown.contains(OLD) && !shown.contains("r1-secret") && !shown.contains("csecret"),
        "{shown}"
    );
}
