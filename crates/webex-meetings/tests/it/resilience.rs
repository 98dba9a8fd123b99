//! Resilience at the `Meetings` level against the real server, in process:
//! server restarts (same and fresh database), revoked tokens, a second
//! instance taking the device over, and unregister during a backoff.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{devices, within};
use futures::{FutureExt as _, StreamExt};
use secrecy::ExposeSecret;
use serde_json::json;
use webex_meetings::mercury::MercuryOptions;
use webex_meetings::{
    AccessToken, AuthError, Credentials, Device, EventStream, FileDeviceStore, MeetingsEvent,
    TokenProvider, Webex, WebexConfig, WebexConfigBuilder,
};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

/// A server on the SQLite file `db`, at `addr` (an ephemeral port if `None`).
async fn start_server(db: &Path, addr: Option<SocketAddr>) -> TestServer {
    TestServer::start_with(|c| {
        c.database_url = format!("sqlite://{}", db.display());
        if let Some(addr) = addr {
            c.listen = addr;
        }
    })
    .await
    .unwrap()
}

/// Reconnects quickly (the hang guards stay far away).
fn quick_mercury() -> MercuryOptions {
    let mut o = MercuryOptions::default();
    o.backoff_initial = Duration::from_millis(50);
    o.backoff_max = Duration::from_millis(500);
    o.connect_timeout = Duration::from_secs(5);
    o.handshake_timeout = Duration::from_secs(5);
    o
}

fn builder(server: &TestServer, credentials: Credentials) -> WebexConfigBuilder {
    WebexConfig::builder(credentials)
        .discovery_url(server.discovery_url())
        .device_name("resilience-app")
        .mercury_options(quick_mercury())
}

/// Waits (hang-guarded) for the first event `pick` accepts.
async fn wait_for<T>(
    events: &mut EventStream,
    mut pick: impl FnMut(&MeetingsEvent) -> Option<T>,
) -> T {
    within(async {
        while let Some(e) = events.next().await {
            if let Some(t) = pick(&e) {
                return t;
            }
        }
        panic!("event stream ended");
    })
    .await
}

/// The close code of the next `network:disconnected`, and whether a
/// reconnect follows.
async fn disconnected(events: &mut EventStream) -> (Option<u16>, bool) {
    wait_for(events, |e| match e {
        MeetingsEvent::NetworkDisconnected {
            code,
            will_reconnect,
            ..
        } => Some((*code, *will_reconnect)),
        _ => None,
    })
    .await
}

async fn reconnected(events: &mut EventStream) {
    wait_for(events, |e| {
        matches!(e, MeetingsEvent::NetworkReconnected).then_some(())
    })
    .await
}

async fn mercury_event(events: &mut EventStream, event_type: &str) {
    let name = format!("event:{event_type}");
    wait_for(events, |e| (e.name() == name).then_some(())).await
}

fn device_id(device: &Device) -> &str {
    device.url.trim_end_matches('/').rsplit('/').next().unwrap()
}

async fn admin_post(server: &TestServer, path: &str, body: serde_json::Value) {
    reqwest::Client::new()
        .post(format!("{}/admin/api/v1/{path}", server.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

async fn publish(server: &TestServer, device: &Device, event_type: &str) {
    let body = json!({"deviceId": device_id(device), "data": {"eventType": event_type}});
    admin_post(server, "events", body).await;
}

#[tokio::test]
async fn a_server_restart_mid_session_reconnects_and_events_flow_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("webex.sqlite");
    let first = start_server(&db, None).await;
    let addr = first.server().local_addr();
    let token = first.token_for("alice@example.com").await.unwrap();
    let webex = Webex::init(
        builder(&first, Credentials::access_token(&token))
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let device = within(meetings.register()).await.unwrap().device;
    publish(&first, &device, "test.before").await;
    mercury_event(&mut events, "test.before").await;

    first.shutdown().await;
    assert_eq!(disconnected(&mut events).await, (Some(1001), true));
    assert!(!meetings.status().connected);
    assert!(meetings.is_registered(), "a drop is not an unregister");

    let second = start_server(&db, Some(addr)).await;
    reconnected(&mut events).await;
    assert!(meetings.status().connected);
    assert_eq!(meetings.device().unwrap().url, device.url);
    publish(&second, &device, "test.after").await;
    mercury_event(&mut events, "test.after").await;

    within(meetings.unregister()).await.unwrap();
    assert!(devices(&second, &token).await.is_empty());
    second.shutdown().await;
}

/// The app's own token source: whatever the test put in the slot.
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<String>>);

impl Slot {
    fn set(&self, token: &str) {
        *self.0.lock().unwrap() = token.to_owned();
    }
}

#[async_trait::async_trait]
impl TokenProvider for Slot {
    async fn access_token(&self) -> Result<AccessToken, AuthError> {
        Ok(AccessToken::new(self.0.lock().unwrap().clone()))
    }
}

#[tokio::test]
async fn a_server_restart_on_a_fresh_database_registers_the_device_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_server(&dir.path().join("first.sqlite"), None).await;
    let addr = first.server().local_addr();
    let slot = Slot::default();
    slot.set(&first.token_for("bob@example.com").await.unwrap());
    let webex = Webex::init(
        builder(&first, Credentials::provider(slot.clone()))
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let old = within(meetings.register()).await.unwrap().device;

    first.shutdown().await;
    assert_eq!(disconnected(&mut events).await, (Some(1001), true));

    // The new server knows neither the token nor the device: the socket is
    // refused (4401, the provider hands out a token this server knows), then
    // 4404, and the SDK registers the device again on its own.
    let second = start_server(&dir.path().join("second.sqlite"), Some(addr)).await;
    let token = second.token_for("bob@example.com").await.unwrap();
    slot.set(&token);
    reconnected(&mut events).await;
    let new = meetings.device().unwrap();
    assert_ne!(new.url, old.url);
    assert_eq!(
        meetings.status().device_url.as_deref(),
        Some(new.url.as_str())
    );
    let on_server = devices(&second, &token).await;
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].url, new.url);
    publish(&second, &new, "test.fresh").await;
    mercury_event(&mut events, "test.fresh").await;

    within(meetings.unregister()).await.unwrap();
    assert!(devices(&second, &token).await.is_empty());
    second.shutdown().await;
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_and_the_socket_reconnects() {
    let server = TestServer::start().await.unwrap();
    let tokens = crate::support::oauth_tokens(&server, "carol@example.com").await;
    let webex = Webex::init(
        builder(&server, Credentials::oauth(tokens))
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let mut events = meetings.events();
    let device = within(meetings.register()).await.unwrap().device;
    let revoked = webex
        .access_token()
        .await
        .unwrap()
        .expose_secret()
        .to_owned();

    admin_post(&server, "tokens/revoke", json!({"token": revoked})).await;
    // The token manager announces the refresh itself, the socket's events
    // come through the registration: collect both until the reconnect.
    let mut seen = Vec::new();
    wait_for(&mut events, |e| {
        seen.push(e.clone());
        matches!(e, MeetingsEvent::NetworkReconnected).then_some(())
    })
    .await;
    assert!(
        seen.iter().any(|e| matches!(
            e,
            MeetingsEvent::NetworkDisconnected {
                code: Some(4401),
                will_reconnect: true,
                ..
            }
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, MeetingsEvent::TokenRefreshed)),
        "{seen:?}"
    );
    assert_ne!(webex.access_token().await.unwrap().expose_secret(), revoked);
    assert!(meetings.status().connected);
    publish(&server, &device, "test.after_refresh").await;
    mercury_event(&mut events, "test.after_refresh").await;

    within(meetings.unregister()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_fixed_token_that_is_revoked_ends_in_a_final_disconnect() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("erin@example.com").await.unwrap();
    let webex = Webex::init(
        builder(&server, Credentials::access_token(&token))
            .build()
            .unwrap(),
    );
    let meetings = webex.meetings();
    let mut events = meetings.events();
    within(meetings.register()).await.unwrap();

    admin_post(&server, "tokens/revoke", json!({"token": token})).await;
    // 4401 promises a reconnect; a fixed token cannot be refreshed, so the
    // client gives up and says so (the official SDK's `offline.permanent`).
    assert_eq!(disconnected(&mut events).await, (Some(4401), true));
    let reason = wait_for(&mut events, |e| match e {
        MeetingsEvent::NetworkDisconnected {
            code: None,
            will_reconnect: false,
            reason,
        } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(!reason.is_empty());
    assert!(!meetings.status().connected);

    within(meetings.unregister()).await.ok();
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_instance_on_the_same_device_replaces_the_first() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("dave@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("devices.json");
    // A persistent device: one socket per device (no multipleConnections).
    let app = || {
        Webex::init(
            builder(&server, Credentials::access_token(&token))
                .ephemeral_ttl(None)
                .device_store(FileDeviceStore::new(&store))
                .build()
                .unwrap(),
        )
    };
    let first = app();
    let mut first_events = first.meetings().events();
    let device = within(first.meetings().register()).await.unwrap().device;

    let second = app();
    let mut second_events = second.meetings().events();
    let report = within(second.meetings().register()).await.unwrap();
    assert!(report.reused_device);
    assert_eq!(report.device.url, device.url);

    assert_eq!(disconnected(&mut first_events).await, (Some(4000), false));
    wait_for(&mut first_events, |e| {
        matches!(e, MeetingsEvent::Replaced).then_some(())
    })
    .await;
    let status = first.meetings().status();
    assert!(status.replaced && !status.connected, "{status:?}");

    // The replaced instance stands down: shutting it down leaves the device
    // to the instance that took it over.
    within(first.meetings().unregister()).await.unwrap();
    assert_eq!(devices(&server, &token).await.len(), 1);
    publish(&server, &device, "test.to_second").await;
    mercury_event(&mut second_events, "test.to_second").await;
    assert!(second.meetings().status().connected);
    let first_seen: Vec<String> =
        std::iter::from_fn(|| first_events.next().now_or_never().flatten())
            .map(|e| e.name().into_owned())
            .collect();
    assert!(
        !first_seen.iter().any(|n| n == "network:reconnected"),
        "{first_seen:?}"
    );

    within(second.meetings().unregister()).await.unwrap();
    assert!(devices(&server, &token).await.is_empty());
    server.shutdown().await;
}

/// Unregister while the socket waits out a long backoff: it returns at once,
/// and afterwards not one SDK task is left on the runtime. The server runs
/// on its own runtime so the SDK's runtime can be counted.
#[test]
fn unregister_during_a_reconnect_backoff_is_prompt_and_leaves_no_task() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(TestServer::start()).unwrap();
    let token = server_rt
        .block_on(server.token_for("erin@example.com"))
        .unwrap();

    let sdk_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    sdk_rt.block_on(async {
        // No idle pooled connections, so no HTTP connection task outlives its request.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let mut mercury = quick_mercury();
        mercury.backoff_initial = Duration::from_secs(600);
        mercury.backoff_max = Duration::from_secs(600);
        let webex = Webex::init(
            builder(&server, Credentials::access_token(&token))
                .http_client(http.clone())
                .mercury_options(mercury)
                .build()
                .unwrap(),
        );
        let meetings = webex.meetings();
        let mut events = meetings.events();
        let device = within(meetings.register()).await.unwrap().device;

        // The device disappears: 4404, and the re-registration waits out the backoff.
        http.delete(&device.url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        assert_eq!(disconnected(&mut events).await, (Some(4404), true));

        tokio::time::timeout(Duration::from_secs(10), meetings.unregister())
            .await
            .expect("unregister waited for the backoff")
            .unwrap();
        assert!(!meetings.is_registered());
        within(async {
            while tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                > 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        drop(webex);
    });
    server_rt.block_on(server.shutdown());
}
