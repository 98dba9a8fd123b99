//! `webex serve --dev`: what it prints is configuration that works, and a
//! second start on the same database finds the same people.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use webex_meetings::{Credentials, Webex, WebexConfig};

use crate::support::{PROCESS_GUARD, WEBEX};

/// The last line of the dev block.
const LAST_LINE: &str = "globalThis.location = new URL('http://127.0.0.1/');";

/// A running `webex serve --dev` and what it printed.
struct DevServe {
    _child: Child,
    /// Every stdout line up to the end of the dev block.
    stdout: Vec<String>,
}

impl DevServe {
    /// `webex serve --dev --listen 127.0.0.1:0 --database <database>`,
    /// read up to the end of its dev block.
    async fn start(database: &str) -> DevServe {
        let mut child = Command::new(WEBEX)
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--database",
                database,
            ])
            .env_remove("WEBEX_ADMIN_TOKEN")
            .env_remove("WEBEX_PUBLIC_URL")
            .env_remove("WEBEX_RATE_LIMIT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn webex serve --dev");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stdout = tokio::time::timeout(PROCESS_GUARD, async {
            let mut stdout = Vec::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                let last = line.trim() == LAST_LINE;
                stdout.push(line);
                if last {
                    return stdout;
                }
            }
            panic!(
                "webex serve --dev exited before its dev block ended:\n{}",
                stdout.join("\n")
            );
        })
        .await
        .expect("webex serve --dev never finished its dev block");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        DevServe {
            _child: child,
            stdout,
        }
    }

    fn text(&self) -> String {
        self.stdout.join("\n")
    }

    /// The base URL of the first line, `listening on <url>`.
    fn base_url(&self) -> &str {
        self.stdout[0]
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first stdout line: {:?}", self.stdout[0]))
    }

    /// The text between `before` and the next `after` on the first line
    /// that has `before`.
    fn between(&self, before: &str, after: &str) -> String {
        let line = self
            .stdout
            .iter()
            .find(|l| l.contains(before))
            .unwrap_or_else(|| panic!("no `{before}` in:\n{}", self.text()));
        let rest = &line[line.find(before).unwrap() + before.len()..];
        rest[..rest.find(after).unwrap()].to_owned()
    }

    /// The Rust SDK configuration it printed: (token, discovery URL).
    fn rust_config(&self) -> (String, String) {
        (
            self.between("Credentials::access_token(\"", "\")"),
            self.between(".discovery_url(\"", "\")"),
        )
    }

    /// The token on `email`'s people line, and whether it says `reused`.
    fn person(&self, email: &str) -> (String, bool) {
        let line = self
            .stdout
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{email} ")))
            .unwrap_or_else(|| panic!("no line for {email} in:\n{}", self.text()));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert!(matches!(fields[1], "created" | "reused"), "{line}");
        (fields[2].to_owned(), fields[1] == "reused")
    }
}

/// Registers and unregisters with `token` at `discovery` (proving both
/// work) and returns the person id `people/me` answers.
async fn register_round_trip(token: &str, discovery: &str) -> String {
    let config = WebexConfig::builder(Credentials::access_token(token))
        .discovery_url(discovery)
        .device_name("webex-dev-test")
        .build()
        .unwrap();
    let webex = Webex::init(config);
    let meetings = webex.meetings();
    tokio::time::timeout(Duration::from_secs(30), async {
        meetings
            .register()
            .await
            .expect("register with the printed config");
        assert!(meetings.device().is_some());
        let me = webex.me().await.expect("people/me");
        meetings.unregister().await.expect("unregister");
        assert!(webex.devices().await.unwrap().is_empty());
        me.id
    })
    .await
    .expect("register/unregister hung")
}

async fn me(token: &str, discovery: &str) -> webex_wire::people::Person {
    let config = WebexConfig::builder(Credentials::access_token(token))
        .discovery_url(discovery)
        .build()
        .unwrap();
    Webex::init(config).me().await.expect("people/me")
}

#[tokio::test]
async fn serve_dev_prints_config_the_rust_sdk_registers_with_and_reuses_people() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("dev.sqlite").display());

    // First start: people created; the printed Rust config registers.
    let first = DevServe::start(&database).await;
    let base = first.base_url().to_owned();
    let (alice, discovery) = first.rust_config();
    assert_eq!(discovery, format!("{base}/u2c/api/v1"));
    assert!(
        first.text().contains(&format!("  discovery   {discovery}")),
        "{}",
        first.text()
    );
    assert!(
        first.text().contains(&format!(
            "WEBEX_ACCESS_TOKEN={alice} WEBEX_DISCOVERY_URL={discovery} "
        )),
        "{}",
        first.text()
    );
    let (alice_line, reused) = first.person("alice@example.com");
    assert_eq!(alice_line, alice);
    assert!(!reused, "a fresh database has no one to reuse");
    let (bob, reused) = first.person("bob@example.com");
    assert!(!reused);
    let alice_id = register_round_trip(&alice, &discovery).await;
    let bob_me = me(&bob, &discovery).await;
    assert_ne!(bob_me.id, alice_id);
    assert_eq!(bob_me.emails, ["bob@example.com"]);

    // The generated admin token opens the operator API.
    let admin = first.between("admin token ", " ");
    assert_eq!(admin.len(), 64, "{}", first.text());
    let client = reqwest::Client::new();
    let connections = |token: &str| {
        client
            .get(format!("{base}/admin/api/v1/connections"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(connections(&admin).await.unwrap().status(), 200);
    assert_eq!(connections("wrong").await.unwrap().status(), 401);
    drop(first);

    // Second start, same database: the same people, new tokens that work,
    // and the first start's tokens still work.
    let second = DevServe::start(&database).await;
    let (alice2, discovery2) = second.rust_config();
    assert_ne!(alice2, alice, "a fresh token each start");
    let (_, reused) = second.person("alice@example.com");
    assert!(reused, "{}", second.text());
    let (bob2, reused) = second.person("bob@example.com");
    assert!(reused, "{}", second.text());
    assert_eq!(register_round_trip(&alice2, &discovery2).await, alice_id);
    assert_eq!(me(&bob2, &discovery2).await.id, bob_me.id);
    assert_eq!(me(&alice, &discovery2).await.id, alice_id);
}

#[tokio::test]
async fn serve_dev_keeps_the_listening_line_first_and_a_given_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("dev.sqlite").display());
    let mut child = Command::new(WEBEX)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .args(["--dev", "--admin-token", "given-admin-token"])
        .args(["--public-url", "http://localhost:1"])
        .env_remove("WEBEX_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    tokio::time::timeout(PROCESS_GUARD, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.trim() == LAST_LINE;
            stdout.push(line);
            if last {
                break;
            }
        }
    })
    .await
    .expect("no dev block");
    let text = stdout.join("\n");
    assert_eq!(stdout[0], "listening on http://localhost:1", "{text}");
    assert!(text.contains("admin token given-admin-token "), "{text}");
    assert!(text.contains("from --admin-token"), "{text}");
    assert!(
        text.contains("u2c: 'http://localhost:1/u2c/api/v1'"),
        "{text}"
    );
    assert!(text.contains("allowedDomains: ['localhost']"), "{text}");
}
