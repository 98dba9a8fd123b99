//! `webex meetings join|list|admit|end` against `webex serve`.
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

/// `webex meetings join <room> --json` as `token`, stdout piped.
fn join_json(url: &str, token: &str, room: &str) -> tokio::process::Child {
    Command::new(WEBEX)
        .args(["meetings", "join", room, "--json", "--server", url])
        .args(["--token", token])
        .env_remove("WEBEX_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The JSON lines of a `join --json` child, read up to the first one `want`
/// accepts.
struct JsonLines {
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: Vec<serde_json::Value>,
}

impl JsonLines {
    fn of(child: &mut tokio::process::Child) -> Self {
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            lines,
            seen: Vec::new(),
        }
    }

    async fn until(
        &mut self,
        what: &str,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        tokio::time::timeout(PROCESS_GUARD, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                let event: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                assert!(event["atMs"].is_number(), "{event}");
                assert!(event["members"].is_array(), "{event}");
                self.seen.push(event.clone());
                if want(&event) {
                    return event;
                }
            }
            panic!(
                "`webex meetings join --json` ended before {what}: {:?}",
                self.seen
            );
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} in {:?}", self.seen))
    }
}

/// Whether `event`'s roster lists `email` with `status`.
fn lists(event: &serde_json::Value, email: &str, status: &str) -> bool {
    event["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["email"] == email && m["status"] == status)
}

#[tokio::test]
async fn join_json_prints_one_event_per_line_with_the_roster_and_leaves_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db], Stdio::null()).await;
    let ann = token_create(&db, "ann@example.com").await;
    let ben = token_create(&db, "ben@example.com").await;
    let room = "room2@webex.localhost";

    let mut ann_join = join_json(&serve.url, &ann, room);
    let mut ann_out = JsonLines::of(&mut ann_join);
    let joined = ann_out.until("joined", |e| e["event"] == "joined").await;
    assert!(
        joined["locusUrl"].as_str().unwrap().contains("/loci/"),
        "{joined}"
    );
    let me = &joined["members"][0];
    assert_eq!(me["email"], "ann@example.com", "{joined}");
    assert_eq!(
        (&me["isSelf"], &me["isHost"]),
        (&true.into(), &true.into()),
        "{joined}"
    );

    let mut ben_join = join_json(&serve.url, &ben, room);
    let mut ben_out = JsonLines::of(&mut ben_join);
    let ben_joined = ben_out.until("joined", |e| e["event"] == "joined").await;
    assert_eq!(ben_joined["locusUrl"], joined["locusUrl"]);
    assert!(
        lists(&ben_joined, "ann@example.com", "IN_MEETING"),
        "{ben_joined}"
    );
    let update = ann_out
        .until("ben in the meeting", |e| {
            lists(e, "ben@example.com", "IN_MEETING")
        })
        .await;
    assert_eq!(update["event"], "members:update", "{update}");

    let pid = ben_join.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    ben_out.until("left", |e| e["event"] == "left").await;
    let status = tokio::time::timeout(PROCESS_GUARD, ben_join.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    ann_out
        .until("ben gone", |e| {
            lists(e, "ben@example.com", "NOT_IN_MEETING")
        })
        .await;

    let (ok, _, err) = meetings(&serve.url, &ann, &["end", room]).await;
    assert!(ok, "{err}");
    let removed = ann_out
        .until("meeting:removed", |e| e["event"] == "meeting:removed")
        .await;
    assert_eq!(removed["reason"], "ended", "{removed}");
    let status = tokio::time::timeout(PROCESS_GUARD, ann_join.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn admit_lets_another_orgs_person_in_from_the_lobby() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.sqlite").display());
    let serve = Serve::start(&["--database", &db], Stdio::null()).await;
    let ann = token_create(&db, "ann@example.com").await;
    let vic = token_create(&db, "vic@partner.example").await;
    let room = "ann@example.com";

    let mut ann_join = join_json(&serve.url, &ann, room);
    let mut ann_out = JsonLines::of(&mut ann_join);
    let joined = ann_out.until("joined", |e| e["event"] == "joined").await;
    assert_eq!(joined["inLobby"], false, "{joined}");

    let mut vic_join = join_json(&serve.url, &vic, room);
    let mut vic_out = JsonLines::of(&mut vic_join);
    let waiting = vic_out.until("joined", |e| e["event"] == "joined").await;
    assert_eq!(waiting["inLobby"], true, "{waiting}");
    vic_out
        .until("lobbyWaiting", |e| {
            e["event"] == "meeting:self:lobbyWaiting"
        })
        .await;
    ann_out
        .until("vic IN_LOBBY", |e| {
            lists(e, "vic@partner.example", "IN_LOBBY")
        })
        .await;

    // vic cannot admit himself; ann can, by email.
    let (ok, _, err) = meetings(&serve.url, &vic, &["admit", room]).await;
    assert!(!ok || err.contains("nobody is waiting"), "{err}");
    let (ok, _, err) = meetings(&serve.url, &ann, &["admit", room, "vic@partner.example"]).await;
    assert!(ok, "{err}");
    assert!(err.contains("admitted"), "{err}");
    vic_out
        .until("guestAdmitted", |e| {
            e["event"] == "meeting:self:guestAdmitted"
        })
        .await;
    ann_out
        .until("vic IN_MEETING", |e| {
            lists(e, "vic@partner.example", "IN_MEETING")
        })
        .await;

    let (ok, _, err) = meetings(&serve.url, &ann, &["end", room]).await;
    assert!(ok, "{err}");
    for child in [&mut ann_join, &mut vic_join] {
        let status = tokio::time::timeout(PROCESS_GUARD, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
    }
}
