//! End to end against the real server, in process (`TestServer`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::within;
use futures::StreamExt;
use secrecy::ExposeSecret;
use webex::{
    AuthError, Credentials, Error, EventStream, FileDeviceStore, MeetingsEvent, OAuthTokens,
    Warning, Webex, WebexConfig, WebexConfigBuilder,
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

/// The user's devices, straight from WDM.
async fn devices(server: &TestServer, token: &str) -> Vec<webex::Device> {
    let list: webex_wire::device::DeviceList = reqwest::Client::new()
        .get(format!("{}/wdm/api/v1/devices", server.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.devices
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
    let _sub = meetings.on("meetings:registered", move |e| {
        let _ = tx.send(e.name().into_owned());
    });
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

/// Authorization-code grant against the server's own OAuth endpoints.
async fn oauth_tokens(server: &TestServer, email: &str) -> OAuthTokens {
    let store = server.server().state().store.clone();
    let redirect = "http://127.0.0.1:1/callback".to_owned();
    let (client_id, secret) = webex_server::identity::admin::create_oauth_client(
        store.as_ref(),
        "e2e",
        std::slice::from_ref(&redirect),
        "spark:all",
    )
    .await
    .unwrap();
    let pat = server.token_for(email).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = http
        .post(format!("{}/v1/authorize", server.base_url()))
        .form(&[
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect.as_str()),
            ("scope", "spark:all"),
            ("email", email),
            ("token", pat.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens: webex_wire::oauth::TokenResponse = http
        .post(format!("{}/v1/access_token", server.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    OAuthTokens::from_response(&tokens, client_id, secret.expose_secret())
}

#[tokio::test]
async fn oauth_tokens_refresh_on_expiry_and_on_401_with_the_server() {
    let server = TestServer::start().await.unwrap();
    let tokens = oauth_tokens(&server, "grace@example.com").await;
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
