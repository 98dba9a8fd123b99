//! Warm starts against the real server: the device store remembers the
//! user, the catalog and the device, and a restarted app registers without
//! waiting for them; whatever proved stale is corrected in the same
//! `register()`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::support::{devices, within};
use webex_meetings::{
    Credentials, DeviceKey, DeviceStore, FileDeviceStore, Session, SessionKey, Webex, WebexConfig,
};
use webex_server::testing::TestServer;

const APP: &str = "warm-app";

fn start(server: &TestServer, token: &str, path: &std::path::Path) -> Webex {
    Webex::init(
        WebexConfig::builder(Credentials::access_token(token))
            .discovery_url(server.discovery_url())
            .device_name(APP)
            .device_store(FileDeviceStore::new(path))
            .build()
            .unwrap(),
    )
}

fn session_key(server: &TestServer) -> SessionKey {
    SessionKey {
        discovery_url: url::Url::parse(&server.discovery_url())
            .unwrap()
            .to_string(),
        device_name: APP.into(),
    }
}

async fn delete(server: &TestServer, token: &str, url: &str) {
    let res = reqwest::Client::new()
        .delete(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", server.base_url());
}

#[tokio::test]
async fn a_warm_start_reuses_the_remembered_device_and_catalog() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("warm@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = start(&server, &token, &path);
    let url = within(first.meetings().register())
        .await
        .unwrap()
        .device
        .url;
    drop(first);
    let remembered = FileDeviceStore::new(&path)
        .load_session(&session_key(&server))
        .await
        .unwrap()
        .expect("a warm-start record");
    assert!(remembered.services.contains_key("wdm"), "{remembered:?}");
    assert!(!remembered.user_id.is_empty());

    let second = start(&server, &token, &path);
    let meetings = second.meetings();
    let report = within(meetings.register()).await.unwrap();
    assert!(report.reused_device);
    assert_eq!(report.device.url, url);
    assert!(report.person.is_some());
    assert!(meetings.status().connected);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(devices(&server, &token).await.len(), 1);
    within(meetings.unregister()).await.unwrap();
    assert!(devices(&server, &token).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_remembered_device_that_is_gone_still_ends_registered() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("stale-device@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = start(&server, &token, &path);
    let old = within(first.meetings().register()).await.unwrap().device;
    drop(first);
    // Someone deleted it (another client, an admin, its TTL) meanwhile.
    delete(&server, &token, &old.url).await;

    let second = start(&server, &token, &path);
    let meetings = second.meetings();
    let report = within(meetings.register()).await.unwrap();
    assert!(!report.reused_device);
    assert_ne!(report.device.url, old.url);
    assert!(meetings.status().connected);
    let listed = devices(&server, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url, report.device.url);
    // The new device is what the store remembers now.
    let key = DeviceKey {
        discovery_url: session_key(&server).discovery_url,
        user_id: report.person.as_ref().unwrap().id.clone(),
        device_name: APP.into(),
    };
    let stored = FileDeviceStore::new(&path).load(&key).await.unwrap();
    assert_eq!(stored.map(|d| d.url), Some(report.device.url.clone()));
    within(meetings.unregister()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_remembered_catalog_that_is_wrong_is_corrected() {
    let server = TestServer::start().await.unwrap();
    let token = server.token_for("stale-catalog@example.com").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.json");

    let first = start(&server, &token, &path);
    let old = within(first.meetings().register()).await.unwrap().device;
    drop(first);
    delete(&server, &token, &old.url).await;
    // The remembered catalog points WDM (and everything else) at a port
    // where nothing listens.
    let store = FileDeviceStore::new(&path);
    let key = session_key(&server);
    let right = store.load_session(&key).await.unwrap().unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let wrong: BTreeMap<String, String> = right
        .services
        .keys()
        .map(|name| (name.clone(), format!("{dead}/{name}")))
        .collect();
    store
        .save_session(&key, &Session::new(right.user_id.clone(), wrong))
        .await
        .unwrap();

    let second = start(&server, &token, &path);
    let meetings = second.meetings();
    let report = within(meetings.register()).await.unwrap();
    assert!(!report.reused_device);
    assert!(
        report.device.url.starts_with(server.base_url()),
        "{}",
        report.device.url
    );
    assert!(meetings.status().connected);
    assert_eq!(devices(&server, &token).await.len(), 1);
    let corrected = store.load_session(&key).await.unwrap().unwrap();
    assert_eq!(corrected.services, right.services);
    within(meetings.unregister()).await.unwrap();
    server.shutdown().await;
}
