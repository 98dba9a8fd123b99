//! What the `webex` binary's tests share: the binary, `webex serve` child
//! processes, `webex token create`, a fresh PostgreSQL database per test,
//! and the server tests' plain Mercury client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use webex_server::testing::FreshDatabase;

/// The plain Mercury client and admin calls of webex-server's integration
/// tests (one copy, compiled into both test binaries).
#[path = "../../../../webex-server/tests/it/support/mercury.rs"]
pub mod mercury;

/// The `webex` binary under test.
pub const WEBEX: &str = env!("CARGO_BIN_EXE_webex");

/// Hang guard for a process to start, answer or stop.
pub const PROCESS_GUARD: Duration = Duration::from_secs(60);

/// A `webex` command (blocking `std::process`).
pub fn webex() -> std::process::Command {
    std::process::Command::new(WEBEX)
}

/// A running `webex serve`; killed (SIGKILL) when dropped.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// Its base URL, from its `listening on <url>` line.
    pub url: String,
}

impl Serve {
    /// Starts `webex serve --listen 127.0.0.1:0 <args>` with `WEBEX_*`
    /// variables that `args` could collide with removed, waits for its
    /// `listening on <url>` line and keeps draining its stdout.
    pub async fn start(args: &[&str], stderr: Stdio) -> Serve {
        Serve::start_on("127.0.0.1:0", args, stderr).await
    }

    /// [`Serve::start`] listening on `listen`: a server restarted where its
    /// clients already look for it (same port, same public URL).
    pub async fn start_on(listen: &str, args: &[&str], stderr: Stdio) -> Serve {
        let mut child = Command::new(WEBEX)
            .args(["serve", "--listen", listen])
            .args(args)
            .env_remove("WEBEX_ADMIN_TOKEN")
            .env_remove("WEBEX_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn webex serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(PROCESS_GUARD, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("webex serve {args:?} exited before listening");
        })
        .await
        .expect("webex serve never printed `listening on`");
        // Keep draining stdout so the server never writes to a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Serve { child, url }
    }

    /// SIGKILLs the server and reaps it: no shutdown of any kind, sockets
    /// closed by the kernel.
    pub async fn sigkill(mut self) {
        self.child.start_kill().expect("SIGKILL webex serve");
        let status = tokio::time::timeout(PROCESS_GUARD, self.child.wait())
            .await
            .expect("webex serve outlived SIGKILL")
            .unwrap();
        assert!(!status.success(), "killed: {status:?}");
    }
}

/// `webex token create --email <email> --database <url>`: the token.
pub async fn token_create(database: &str, email: &str) -> String {
    let out = tokio::time::timeout(
        PROCESS_GUARD,
        Command::new(WEBEX)
            .args(["token", "create", "--email", email, "--database", database])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("webex token create hung")
    .unwrap();
    assert!(
        out.status.success(),
        "webex token create: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!token.is_empty());
    token
}

/// Runs `scenario(url)` on a fresh database on the PostgreSQL server that
/// `admin_url` points at, and drops the database afterwards, also when the
/// scenario panics (it runs in its own task; the panic is passed on).
pub async fn on_fresh_postgres<F, Fut>(admin_url: &str, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let database = FreshDatabase::create(admin_url)
        .await
        .expect("create a fresh PostgreSQL database");
    let outcome = tokio::spawn(scenario(database.url.clone())).await;
    database.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
