//! The CLI through every cloud quirk: `webex register`, `webex meetings
//! join|list|end` against `webex serve --cloud-quirks all`, and
//! `webex demo --cloud-quirks all` (whose server runs in-process).
#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{PROCESS_GUARD, Serve, WEBEX, token_create, webex};

/// `webex <args> --server <url> --token <token>`: (success, stdout, stderr).
async fn run(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        PROCESS_GUARD,
        Command::new(WEBEX)
            .args(args)
            .args(["--server", url, "--token", token])
            .env_remove("WEBEX_ACCESS_TOKEN")
            .env_remove("WEBEX_CLOUD_QUIRKS")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("webex hung")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads `lines` until one contains `want`.
async fn until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    want: &str,
    seen: &mut Vec<String>,
) {
    tokio::time::timeout(PROCESS_GUARD, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.contains(want) {
                return;
            }
        }
        panic!("ended before printing `{want}`: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no `{want}` in {seen:?}"));
}

async fn sigint(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
}

#[tokio::test]
async fn register_join_list_and_end_work_through_every_cloud_quirk() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db, "--cloud-quirks", "all"], Stdio::null()).await;
    let ann = token_create(&db, "ann@example.com").await;

    // The quirks are on: a plain request that asks for cisco-location gets it.
    let res = reqwest::Client::new()
        .get(format!("{}/u2c/api/v1/limited/catalog?orgId=o", serve.url))
        .header("cisco-no-http-redirect", "true")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("cisco-location").is_some());

    // webex register: registered, then unregistered on Ctrl-C.
    let mut register = Command::new(WEBEX)
        .args(["register", "--server", &serve.url, "--token", &ann])
        .env_remove("WEBEX_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(register.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    until(&mut lines, "meetings:registered", &mut seen).await;
    sigint(&register).await;
    until(&mut lines, "meetings:unregistered", &mut seen).await;
    let status = tokio::time::timeout(PROCESS_GUARD, register.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}: {seen:?}");

    // webex meetings join, list, end.
    let room = "quirks@webex.localhost";
    let mut join = Command::new(WEBEX)
        .args(["meetings", "join", room, "--server", &serve.url])
        .args(["--token", &ann])
        .env_remove("WEBEX_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(join.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    until(&mut lines, "added [ann IN_MEETING (host, self)]", &mut seen).await;

    let (ok, out, err) = run(&serve.url, &ann, &["meetings", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{room}\tACTIVE")), "{out}");

    let (ok, _, err) = run(&serve.url, &ann, &["meetings", "end", room]).await;
    assert!(ok, "{err}");
    until(&mut lines, "meeting:removed", &mut seen).await;
    let status = tokio::time::timeout(PROCESS_GUARD, join.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}: {seen:?}");
}

#[test]
fn demo_runs_through_every_cloud_quirk() {
    let out = webex()
        .args(["demo", "--cloud-quirks", "all"])
        .env_remove("WEBEX_CLOUD_QUIRKS")
        .output()
        .expect("run webex demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "cloud quirks on: locus-redirect, cisco-location",
        "meetings.register() resolved",
        "meeting.end_for_all() resolved",
        "no devices left",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
}
