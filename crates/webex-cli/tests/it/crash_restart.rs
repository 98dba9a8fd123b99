//! Crash and restart: `webex serve` is SIGKILLed while concurrent clients
//! register devices, then restarted on the same database. Every
//! registration that was acknowledged with a 2xx must still be there, whole;
//! nothing half-written may appear. Runs on SQLite, and on a fresh
//! PostgreSQL database when `WEBEX_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Serve, on_fresh_postgres, token_create};
use serde_json::{Value, json};
use webex_wire::device::DeviceList;

/// Hang guard for anything the test waits for.
const GUARD: Duration = Duration::from_secs(30);
/// Concurrent registering clients.
const CLIENTS: usize = 16;
/// People the clients register for (tokens are spread over them).
const PEOPLE: usize = 4;
/// Kill the server once this many registrations were acknowledged.
const KILL_AFTER: usize = 300;

/// `webex serve` on `database` with no limits in the way.
async fn serve(database: &str) -> Serve {
    let args = [
        "--database",
        database,
        "--rate-limit",
        "off",
        "--device-limit",
        "1000000",
    ];
    Serve::start(&args, Stdio::null()).await
}

/// An acknowledged registration: what the client was told.
#[derive(Debug, Clone)]
struct Acked {
    url: String,
    name: String,
    token: String,
}

async fn crash_and_restart(database: &str, backend: &str) {
    let mut tokens = Vec::new();
    for p in 0..PEOPLE {
        tokens.push(token_create(database, &format!("crash{p}@example.com")).await);
    }
    let server = serve(database).await;
    let base = server.url.clone();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let attempted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, base, acked, attempted) =
            (http.clone(), base.clone(), acked.clone(), attempted.clone());
        let token = tokens[c % PEOPLE].clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("crash-{c}-{i}");
                attempted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let res = http
                    .post(format!("{base}/wdm/api/v1/devices"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "name": name,
                        "deviceType": "WEB",
                        "model": "web-js-sdk",
                        "localizedModel": "webex-js-sdk",
                        "systemName": "WEBEX_JS_SDK",
                        "systemVersion": "3.12.0",
                        "ttl": 3600
                    }))
                    .send()
                    .await;
                // The server died: this client is done.
                let Ok(res) = res else { return };
                if !res.status().is_success() {
                    assert!(res.status().is_server_error(), "{}", res.status());
                    return;
                }
                let Ok(body) = res.json::<Value>().await else {
                    return;
                };
                let url = body["url"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push(Acked {
                    url,
                    name,
                    token: token.clone(),
                });
            }
        }));
    }

    // SIGKILL once enough registrations are acknowledged.
    tokio::time::timeout(GUARD, async {
        while acked.lock().unwrap().len() < KILL_AFTER {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("registrations did not proceed");
    server.sigkill().await;
    for c in clients {
        tokio::time::timeout(GUARD, c).await.unwrap().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.load(std::sync::atomic::Ordering::Relaxed);

    // Restart on the same database.
    let server = serve(database).await;
    let rebase = |url: &str| {
        let path = url.split_once("/wdm/").map(|(_, p)| p).unwrap();
        format!("{}/wdm/{path}", server.url)
    };
    let mut lost = 0usize;
    for a in &acked {
        let res = http
            .get(rebase(&a.url))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            lost += 1;
            eprintln!("lost: {} ({})", a.name, res.status());
            continue;
        }
        let device: Value = res.json().await.unwrap();
        assert_eq!(device["name"], a.name.as_str(), "{device}");
    }

    // Every stored device decodes as a whole device.
    let mut found = 0usize;
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for t in &tokens {
        let res = http
            .get(format!("{}/wdm/api/v1/devices", server.url))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        let list: DeviceList = serde_json::from_str(&text).expect("every device decodes");
        for d in &list.devices {
            let name = d.name.clone();
            assert!(name.starts_with("crash-"), "unexpected device {name}");
            assert!(!d.url.is_empty() && !d.web_socket_url.is_empty());
            assert_eq!(d.device_type, "WEB");
            assert_eq!(d.system_version, "3.12.0");
            *by_name.entry(name).or_default() += 1;
        }
        found += list.devices.len();
    }
    assert!(
        by_name.values().all(|n| *n == 1),
        "a registration was stored twice"
    );
    eprintln!(
        "crash/restart ({backend}): {CLIENTS} clients, {attempted} registrations attempted, \
         {} acknowledged before SIGKILL, {found} found after restart \
         ({} in flight at the kill and committed), lost {lost}",
        acked.len(),
        found.saturating_sub(acked.len()),
    );
    assert_eq!(lost, 0, "acknowledged registrations lost");
    assert!(found >= acked.len());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_every_acknowledged_registration_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("webex.sqlite").display());
    crash_and_restart(&database, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keeps_every_acknowledged_registration_across_sigkill() {
    let Some(admin_url) = webex_server::testing::postgres_url() else {
        return;
    };
    on_fresh_postgres(&admin_url, |url| async move {
        crash_and_restart(&url, "postgres").await
    })
    .await;
}
