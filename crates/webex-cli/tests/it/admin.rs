//! `webex admin` against an in-process server: every route family as a
//! table and as the server's JSON, and errors that name their fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use serde_json::{Value, json};
use webex_server::testing::{ADMIN_TOKEN, TestServer};

use crate::support::mercury::{self, connect, register_device};
use crate::support::{PROCESS_GUARD, WEBEX};

/// `webex admin --server <base> <args>` with the admin token in the
/// environment, as an operator sets it.
async fn admin(base: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(WEBEX);
    cmd.args(["admin", "--server", base])
        .args(args)
        .env_remove("WEBEX_ADMIN_TOKEN")
        .env_remove("WEBEX_SERVER")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("WEBEX_ADMIN_TOKEN", t);
    }
    tokio::time::timeout(PROCESS_GUARD, cmd.output())
        .await
        .expect("webex admin hung")
        .expect("run webex admin")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn parsed(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

/// Joins `address` as the official SDK does: meetingInfo, then `loci/call`.
async fn call(base: &str, token: &str, device_url: &str, address: &str) -> Value {
    let http = mercury::http();
    let info: Value = http
        .post(format!("{base}/wbxappapi/v1/meetingInfo"))
        .bearer_auth(token)
        .json(&json!({"sipUrl": address}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = http
        .post(format!("{base}/locus/api/v1/loci/call"))
        .bearer_auth(token)
        .json(&json!({
            "device": {"url": device_url, "deviceType": "WEB"},
            "correlationId": "admin-cli",
            "permissionToken": info["permissionToken"],
            "invitee": {"address": address},
        }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "join: {}", res.status());
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_publishes_ends_and_revokes() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();
    let email = mercury::email("ada");
    let token = server.token_for(&email).await.unwrap();
    let device = register_device(&base, &token).await;
    let mut ws = connect(&device, &token, false).await;
    let address = format!("ops-{}@webex.localhost", uuid::Uuid::new_v4().simple());
    let joined = call(&base, &token, &device.url, &address).await;
    let locus_url = joined["locus"]["url"].as_str().unwrap().to_owned();
    let locus_id = locus_url.rsplit('/').next().unwrap().to_owned();
    let t = Some(ADMIN_TOKEN);

    // Connections: the table names the device, --json is the server's list.
    let table = ok(&admin(&base, t, &["connections"]).await);
    assert!(table.starts_with("DEVICE"), "{table}");
    assert!(table.contains(&device.id), "{table}");
    let v = parsed(
        &admin(
            &base,
            t,
            &["--json", "connections", "--device-id", &device.id],
        )
        .await,
    );
    assert_eq!(v["connections"][0]["deviceId"], device.id.as_str(), "{v}");

    // Meetings: the meeting, and its participant as host.
    let table = ok(&admin(&base, t, &["meetings"]).await);
    assert!(
        table.contains(&locus_id) && table.contains(&address),
        "{table}"
    );
    assert!(
        table.contains(&email) && table.contains("JOINED") && table.contains("host"),
        "{table}"
    );
    let v = parsed(&admin(&base, t, &["meetings", "--json"]).await);
    assert!(
        v["meetings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["locusId"] == locus_id.as_str()),
        "{v}"
    );

    // Media sessions: none here, media on.
    let table = ok(&admin(&base, t, &["media-sessions"]).await);
    assert!(
        table.contains("media on") && table.contains("no media sessions"),
        "{table}"
    );
    let v = parsed(&admin(&base, t, &["media-sessions", "--json"]).await);
    assert_eq!(v["sessions"], json!([]), "{v}");

    // Events: reaches the socket.
    let line = ok(&admin(
        &base,
        t,
        &[
            "events",
            "publish",
            "--device-id",
            &device.id,
            "--event-type",
            "ops.hello",
            "--data",
            r#"{"n":7}"#,
        ],
    )
    .await);
    assert!(line.contains("1 device(s) online"), "{line}");
    loop {
        let frame = mercury::next_json(&mut ws).await;
        if frame["data"]["eventType"] == "ops.hello" {
            assert_eq!(frame["data"]["n"], 7, "{frame}");
            break;
        }
    }
    let err = failed(
        &admin(
            &base,
            t,
            &["events", "publish", "--email", &email, "--data", "[1]"],
        )
        .await,
    );
    assert!(err.contains("--data must be a JSON object"), "{err}");

    // Client logs: none uploaded.
    let table = ok(&admin(&base, t, &["client-logs", "list"]).await);
    assert!(table.contains("no client logs"), "{table}");

    // End, then the meeting is gone from the list; ending again says why.
    let line = ok(&admin(&base, t, &["meetings", "end", &locus_id]).await);
    assert!(
        line.contains("ended") && line.contains("INACTIVE"),
        "{line}"
    );
    let v = parsed(&admin(&base, t, &["meetings", "--json"]).await);
    assert!(
        !v["meetings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["locusId"] == locus_id.as_str()),
        "{v}"
    );
    let err = failed(&admin(&base, t, &["meetings", "end", &locus_id]).await);
    assert!(err.contains("409") && err.contains("trackingId"), "{err}");

    // Revoke: the socket closes with 4401; a second revoke says so.
    let line = ok(&admin(&base, t, &["tokens", "revoke", &token]).await);
    assert!(line.starts_with("revoked"), "{line}");
    let (code, _) = mercury::expect_close(&mut ws).await;
    assert_eq!(code, 4401);
    let line = ok(&admin(&base, t, &["tokens", "revoke", &token]).await);
    assert!(line.starts_with("already revoked"), "{line}");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_errors_name_the_fix() {
    let server = TestServer::start().await.unwrap();
    let base = server.base_url().to_owned();

    let out = admin(&base, Some("not-the-token"), &["meetings"]).await;
    let err = failed(&out);
    assert!(
        err.contains("the admin token is not valid: pass --admin-token or WEBEX_ADMIN_TOKEN (webex serve --dev prints one)"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = failed(&admin(&base, None, &["meetings"]).await);
    assert!(err.contains("no admin token: pass --admin-token"), "{err}");
    server.shutdown().await;

    // Nothing listens where the server was: retryable (75).
    let out = admin(&base, Some(ADMIN_TOKEN), &["connections"]).await;
    let err = failed(&out);
    assert!(err.contains(&format!("no server at {base}")), "{err}");
    assert_eq!(out.status.code(), Some(75));

    // A server without an admin token has no admin API.
    let server = TestServer::start_with(|c| c.admin_token = None)
        .await
        .unwrap();
    let err = failed(&admin(server.base_url(), Some(ADMIN_TOKEN), &["media-sessions"]).await);
    assert!(
        err.contains("the admin API is off") && err.contains("--admin-token"),
        "{err}"
    );
    server.shutdown().await;
}
