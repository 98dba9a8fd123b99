//! End to end against the real server, in process (`TestServer`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::support::{devices, within};
use futures::StreamExt;
use secrecy::ExposeSecret;
use webex_meetings::{
    AuthError, Credentials, Error, EventStream, FileDeviceStore, MeetingsEvent, Warning, Webex,
    WebexConfig, WebexConfigBuilder,
};
use webex_server::testing::TestServer;

fn builder(server: &TestServer, token: &str) -> WebexConfigBuilder {
    WebexConfig::builder(Credentials::access_token(token))
        .discovery_url(server.discovery_url())
        .device_name("e2e-app")
}

/// Names of the lifecycle events received until `until` (inclusive).
async fn lifecycle_until(events: &mut EventStream, until: &str) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(e) = within(events.next()).await {
        let name = e.name().into_owned();
        if name.starts_with("meetings:") {
            names.push(name.clone());
        }
        if name == until {
            break;
        }
    }
    names
}

#[tokio::test]
async fn happy_path_emits_events_in_order_and_cleans_up() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("alice@example.com").await.unwrap();
    let webex = Webex::init(builder(&server, &token).build().unwrap());
    let meetings = webex.meetings();
    let mut events = meetings.events();

    let report = within(meetings.register()).await.unwrap();
    assert!(!report.reused_device);
    assert!(report.person.is_some());
    assert!(meetings.is_registered());
    assert!(meetings.status().connected);
    assert_eq!(devices(&server, &token).await.len(), 1);

    within(meetings.unregister()).await.unwrap();
    assert_eq!(
        lifecycle_until(&mut events, "meetings:unregistered").await,
        [
            "meetings:ready",
            "meetings:registered",
            "meetings:unregistered"
        ]
    );
    assert!(devices(&server, &token).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_late_subscriber_learns_the_current_state() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("bob@example.com").await.unwrap();
    let meetings = Webex::init(builder(&server, &token).build().unwrap()).meetings();
    within(meetings.register()).await.unwrap();

    let mut late = meetings.events();
    assert!(matches!(
        within(late.next()).await,
        Some(MeetingsEvent::Ready)
    ));
    assert!(matches!(
        within(late.next()).await,
        Some(MeetingsEvent::Registered)
    ));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = meetings
        .on("meetings:registered", move |e| {
            let _ = tx.send(e.name().into_owned());
        })
        .unwrap();
    // A misspelt name is refused, naming the events that exist.
    let e = meetings.on("meetings:registerd", |_| {}).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownEvent { name } if name == "meetings:registerd"),
        "{e:?}"
    );
    assert!(e.to_string().contains("meetings:registered"), "{e}");
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some("meetings:registered")
    );
    within(meetings.unregister()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn register_and_unregister_are_idempotent_and_serialized() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("carol@example.com").await.unwrap();
    let meetings = Webex::init(builder(&server, &token).build().unwrap()).meetings();

    let (a, b, c) = within(async {
        tokio::join!(
            meetings.register(),
            meetings.register(),
            meetings.register()
        )
    })
    .await;
    let urls: Vec<String> = [a, b, c]
        .into_iter()
        .map(|r| r.unwrap().device.url)
        .collect();
    assert!(urls.iter().all(|u| u == &urls[0]));
    assert_eq!(devices(&server, &token).await.len(), 1);

    let (x, y) = within(async { tokio::join!(meetings.unregister(), meetings.unregister()) }).await;
    x.unwrap();
    y.unwrap();
    assert!(!meetings.is_registered());
    assert!(devices(&server, &token).await.is_empty());

    // Register again after unregister works, and so does a racing pair.
    let (r, u) = within(async { tokio::join!(meetings.register(), meetings.unregister()) }).await;
    r.unwrap();
    u.unwrap();
    assert!(!meetings.is_registered());
    server.shutdown().await;
}

#[tokio::test]
async fn a_restarted_app_reuses_its_device_from_the_file_store() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("dave@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = Webex::init(
        builder(&server, &token)
            .device_store(FileDeviceStore::new(&path))
            .build()
            .unwrap(),
    );
    let url = within(first.meetings().register())
        .await
        .unwrap()
        .device
        .url;
    drop(first); // the app "crashes" without unregistering

    let second = Webex::init(
        builder(&server, &token)
            .device_store(FileDeviceStore::new(&path))
            .build()
            .unwrap(),
    );
    let report = within(second.meetings().register()).await.unwrap();
    assert!(report.reused_device);
    assert_eq!(report.device.url, url);
    assert_eq!(devices(&server, &token).await.len(), 1);
    within(second.meetings().unregister()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_device_quota_reclaims_only_this_apps_devices() {
    let server = TestServer::start_with(|c| c.device_limit = 2)
        .await
        .unwrap();
    let token = server.token_for("erin@example.com").await.unwrap();
    let app = || Webex::init(builder(&server, &token).build().unwrap());

    let (one, two, three) = (app(), app(), app());
    within(one.meetings().register()).await.unwrap();
    within(two.meetings().register()).await.unwrap();
    let report = within(three.meetings().register()).await.unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::DevicesReclaimed { urls } if urls.len() == 1)),
        "{:?}",
        report.warnings
    );
    assert!(devices(&server, &token).await.len() <= 2);

    // Another app (other name) may not touch them: typed quota error.
    let other = Webex::init(
        builder(&server, &token)
            .device_name("someone-else")
            .build()
            .unwrap(),
    );
    let e = within(other.meetings().register()).await.unwrap_err();
    assert!(
        matches!(e, Error::DeviceLimitExceeded { count: 2, limit: 2 }),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    for w in [one, two, three] {
        let _ = within(w.meetings().unregister()).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_a_typed_error() {
    let server = TestServer::start().await.unwrap();
    let token = server
        .token_with("frank@example.com", Some(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let webex = Webex::init(builder(&server, &token).build().unwrap());
    let e = within(webex.meetings().register()).await.unwrap_err();
    assert_eq!(e.auth(), Some(&AuthError::TokenExpired), "{e:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn oauth_tokens_refresh_on_expiry_and_on_401_with_the_server() {
    let server = TestServer::start().await.unwrap();
    let tokens = crate::support::oauth_tokens(&server, "grace@example.com").await;
    let webex = Webex::init(
        WebexConfig::builder(Credentials::oauth(
            tokens.expires_at(std::time::SystemTime::now() - Duration::from_secs(1)),
        ))
        .discovery_url(server.discovery_url())
        .build()
        .unwrap(),
    );
    // Expired: refreshed once (token URL derived from the discovery URL),
    // shared by concurrent callers.
    let all = within(futures::future::join_all(
        (0..4).map(|_| webex.access_token()),
    ))
    .await;
    let first = all[0].as_ref().unwrap().expose_secret().to_owned();
    assert!(
        all.iter()
            .all(|t| t.as_ref().unwrap().expose_secret() == first)
    );

    // Revoked behind our back: the 401 refreshes and replays.
    let store = server.server().state().store.clone();
    webex_server::identity::admin::revoke_token(store.as_ref(), None, &first)
        .await
        .unwrap();
    let me = within(webex.me()).await.unwrap();
    assert_eq!(
        me.emails.first().map(String::as_str),
        Some("grace@example.com")
    );
    assert_ne!(webex.access_token().await.unwrap().expose_secret(), first);
    server.shutdown().await;
}

#[tokio::test]
async fn an_ephemeral_device_is_refreshed_before_its_ttl_runs_out() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("henry@example.com").await.unwrap();
    // 30 s is the shortest TTL the server accepts; the SDK refreshes at half.
    let webex = Webex::init(
        builder(&server, &token)
            .ephemeral_ttl(Some(Duration::from_secs(30)))
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let registered = within(meetings.register()).await.unwrap().device;
    assert_eq!(registered.ttl, Some(30));
    let time = |d: &webex_meetings::Device| {
        chrono::DateTime::parse_from_rfc3339(&d.modification_time)
            .unwrap_or_else(|e| panic!("{:?}: {e}", d.modification_time))
    };

    within(async {
        while meetings.device().unwrap().modification_time == registered.modification_time {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let on_server = devices(&server, &token).await;
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].url, registered.url);
    assert!(time(&on_server[0]) > time(&registered));
    assert_eq!(
        meetings.device().unwrap().modification_time,
        on_server[0].modification_time
    );
    assert!(meetings.status().connected);
    within(meetings.unregister()).await.unwrap();
    server.shutdown().await;
}

/// An HS256 guest JWT for `issuer`, signed with the base64 `secret`.
fn guest_jwt(issuer: &str, secret: &str, sub: &str) -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .unwrap();
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = serde_json::json!({"sub": sub, "name": "Guest One", "iss": issuer, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .unwrap()
}

#[tokio::test]
async fn a_guest_jwt_is_exchanged_and_registers() {
    let server = TestServer::start().await.unwrap();
    let store = server.server().state().store.clone();
    let (issuer, secret) = webex_server::identity::admin::create_guest_issuer(
        store.as_ref(),
        "e2e guests",
        "guests.example.com",
    )
    .await
    .unwrap();
    let config = |jwt: String| {
        WebexConfig::builder(Credentials::guest_jwt(jwt))
            .discovery_url(server.discovery_url())
            .device_name("guest-app")
            .build()
            .unwrap()
    };

    let webex = Webex::init(config(guest_jwt(
        &issuer,
        secret.expose_secret(),
        "guest-1",
    )));
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let report = within(meetings.register()).await.unwrap();
    let person = report.person.unwrap();
    assert_eq!(person.kind, webex_wire::people::PersonType::Appuser);
    assert_eq!(person.display_name, "Guest One");
    assert_eq!(
        lifecycle_until(&mut events, "meetings:registered").await,
        ["meetings:ready", "meetings:registered"]
    );
    let guest_token = webex
        .access_token()
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_eq!(devices(&server, &guest_token).await.len(), 1);
    within(meetings.unregister()).await.unwrap();
    assert!(devices(&server, &guest_token).await.is_empty());

    // A JWT signed with another key is a typed auth error.
    use base64::Engine as _;
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let webex = Webex::init(config(guest_jwt(&issuer, &wrong, "guest-2")));
    let e = within(webex.meetings().register()).await.unwrap_err();
    assert!(
        matches!(&e, Error::Auth(AuthError::TokenInvalid { reason }) if reason.contains("signature")),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    server.shutdown().await;
}
