//! `webex meetings join|list|end` against `webex serve`.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{PROCESS_GUARD, Serve, WEBEX, token_create};

/// `webex meetings <args> --server <url> --token <token>`: (success, stdout, stderr).
async fn meetings(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        PROCESS_GUARD,
        Command::new(WEBEX)
            .arg("meetings")
            .args(args)
            .args(["--server", url, "--token", token])
            .env_remove("WEBEX_ACCESS_TOKEN")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("webex meetings hung")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn join_prints_the_roster_list_shows_it_and_only_the_host_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db], Stdio::null()).await;
    let ann = token_create(&db, "ann@example.com").await;
    let ben = token_create(&db, "ben@example.com").await;

    let mut join = Command::new(WEBEX)
        .args([
            "meetings",
            "join",
            "room1@webex.localhost",
            "--server",
            &serve.url,
            "--token",
            &ann,
        ])
        .env_remove("WEBEX_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(join.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut until = async |want: &str, seen: &mut Vec<String>| {
        tokio::time::timeout(PROCESS_GUARD, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                seen.push(line.clone());
                if line.contains(want) {
                    return;
                }
            }
            panic!("`webex meetings join` ended before printing `{want}`: {seen:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("no `{want}` in {seen:?}"));
    };
    until("added [ann IN_MEETING (host, self)]", &mut seen).await;

    let (ok, out, err) = meetings(&serve.url, &ann, &["list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("room1@webex.localhost\tACTIVE"), "{out}");

    // Ben is not in the meeting: joining to end it is refused as not host.
    let (ok, _, err) = meetings(&serve.url, &ben, &["end", "room1@webex.localhost"]).await;
    assert!(!ok);
    assert!(err.contains("only the host"), "{err}");
    until("added [ben", &mut seen).await;
    until("updated [ben NOT_IN_MEETING]", &mut seen).await;

    let (ok, _, err) = meetings(&serve.url, &ann, &["end", "room1@webex.localhost"]).await;
    assert!(ok, "{err}");
    until("meeting:removed", &mut seen).await;
    let status = tokio::time::timeout(PROCESS_GUARD, join.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
