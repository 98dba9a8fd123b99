//! The server under test: a `webex serve` child process (so its memory and
//! CPU are measured alone) or an in-process server (the smoke test), and the
//! database it runs on.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use webex_server::{RunningServer, Server, ServerConfig};

use crate::error::{BenchError, BenchResult};

/// The admin token every server under test is started with.
pub const ADMIN_TOKEN: &str = "bench-admin-token";

/// How long a server has to print `listening on …`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Devices one person may hold on a server under test: scenarios give many
/// devices to few people.
const DEVICE_LIMIT: u64 = 1_000_000;

/// Participants with media in one meeting on a server under test (the
/// largest `webex serve` allows): scenario 10 runs meetings of 50.
const MEDIA_PER_MEETING: u16 = 100;

/// How the server under test runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// `<bin> serve …` as a child process.
    Child {
        /// Path of the `webex` binary.
        bin: PathBuf,
    },
    /// In this process (memory and CPU figures then include the load
    /// generator).
    InProcess,
}

/// Where the server under test keeps its data.
pub struct Database {
    url: String,
    kind: DatabaseKind,
}

enum DatabaseKind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A fresh SQLite file in a temporary directory (removed on drop).
    pub fn sqlite() -> BenchResult<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.sqlite").display());
        Ok(Self {
            url,
            kind: DatabaseKind::Sqlite(dir),
        })
    }

    /// A fresh database `webex_bench_<uuid>` on the PostgreSQL server that
    /// `admin_url` points at; [`Database::cleanup`] drops it.
    pub async fn postgres(admin_url: &str) -> BenchResult<Self> {
        use sqlx::Connection;
        let name = format!("webex_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .map_err(|e| BenchError::Setup(format!("connecting to PostgreSQL: {e}")))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| BenchError::Setup(format!("creating database {name}: {e}")))?;
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url)
            .map_err(|e| BenchError::Setup(format!("PostgreSQL URL: {e}")))?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.to_string(),
            kind: DatabaseKind::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        })
    }

    /// The URL servers open. May hold a password: do not print it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.kind {
            DatabaseKind::Sqlite(_) => "sqlite",
            DatabaseKind::Postgres { .. } => "postgres",
        }
    }

    /// Removes the data (drops the PostgreSQL database; the SQLite
    /// directory goes with the value).
    pub async fn cleanup(self) {
        use sqlx::Connection;
        if let DatabaseKind::Postgres { admin_url, name } = &self.kind
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// What a server under test needs besides how it runs.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Store URL.
    pub database_url: String,
    /// Redis bus, for several nodes.
    pub redis_url: Option<String>,
    /// Node name.
    pub node_id: Option<String>,
    /// `RUST_LOG` of a child server.
    pub log: String,
    /// The URL clients are told to use (`--public-url`), e.g. a latency
    /// proxy in front of the server; `None`: the listening address.
    pub public_url: Option<String>,
    /// Serve HTTPS/WSS with this certificate (`--tls-cert/--tls-key`).
    pub tls: Option<webex_server::tls::TlsConfig>,
}

impl ServerSpec {
    /// One node on `db` with the in-process bus, logging at `log`.
    pub fn single(db: &Database, log: &str) -> Self {
        Self {
            database_url: db.url().to_owned(),
            redis_url: None,
            node_id: None,
            log: log.to_owned(),
            public_url: None,
            tls: None,
        }
    }
}

/// A running server under test.
pub struct ServerUnderTest {
    base_url: String,
    addr: std::net::SocketAddr,
    kind: Running,
}

enum Running {
    Child(Child),
    InProcess(RunningServer),
}

impl std::fmt::Debug for ServerUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUnderTest")
            .field("base_url", &self.base_url)
            .field("pid", &self.pid())
            .finish()
    }
}

impl ServerUnderTest {
    /// Starts a server on `127.0.0.1:<free port>` and waits until it
    /// accepts connections.
    pub async fn start(launch: &Launch, spec: &ServerSpec) -> BenchResult<Self> {
        match launch {
            Launch::Child { bin } => Self::start_child(bin, spec).await,
            Launch::InProcess => {
                let mut config = ServerConfig::new(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    spec.database_url.clone(),
                );
                config.redis_url = spec.redis_url.clone();
                config.admin_token = Some(ADMIN_TOKEN.to_owned().into());
                config.device_limit = DEVICE_LIMIT;
                // Benches measure the server, not its abuse protection.
                config.rate_limits = webex_server::limits::RateLimits::off();
                config.connections.max_connections = 0;
                config.connections.max_connections_per_peer = 0;
                config.media.max_per_meeting = usize::from(MEDIA_PER_MEETING);
                if let Some(node) = &spec.node_id {
                    config.node_id = node.clone();
                }
                config.public_url = spec.public_url.clone();
                config.tls = spec.tls.clone();
                let server = Server::start(config)
                    .await
                    .map_err(|e| BenchError::ServerStart(format!("{e:#}")))?;
                Ok(Self {
                    base_url: server.base_url().to_owned(),
                    addr: server.local_addr(),
                    kind: Running::InProcess(server),
                })
            }
        }
    }

    async fn start_child(bin: &PathBuf, spec: &ServerSpec) -> BenchResult<Self> {
        // With a public URL the printed URL is that one, not the listening
        // address: pick the port here (a free one, released just before).
        let listen = match &spec.public_url {
            None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(_) => std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?,
        };
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", &listen.to_string(), "--database"])
            .arg(&spec.database_url)
            .args(["--device-limit", &DEVICE_LIMIT.to_string()])
            // Benches measure the server, not its abuse protection (the
            // default 20 registrations/s per token capped scenario 2).
            .args(["--rate-limit", "off"])
            // Tens of thousands of sockets come from one address.
            .args(["--max-connections", "0", "--max-connections-per-peer", "0"])
            .args(["--media-max-per-meeting", &MEDIA_PER_MEETING.to_string()])
            .env("WEBEX_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", &spec.log)
            .env_remove("WEBEX_DATABASE_URL")
            .env_remove("WEBEX_REDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(redis) = &spec.redis_url {
            cmd.args(["--redis", redis]);
        }
        if let Some(node) = &spec.node_id {
            cmd.args(["--node-id", node]);
        }
        if let Some(url) = &spec.public_url {
            cmd.args(["--public-url", url]);
        }
        if let Some(tls) = &spec.tls {
            cmd.arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::ServerStart(format!("spawning {}: {e}", bin.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::ServerStart("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let base_url = match first {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) => {
                let status = child.wait().await.ok();
                return Err(BenchError::ServerStart(format!(
                    "the server exited before listening ({status:?})"
                )));
            }
            Ok(Err(e)) => return Err(BenchError::Io(e)),
            Err(_) => {
                let _ = child.kill().await;
                return Err(BenchError::ServerStart(
                    "the server did not print `listening on` in time".into(),
                ));
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = if listen.port() != 0 {
            listen
        } else {
            url::Url::parse(&base_url)
                .ok()
                .and_then(|u| u.socket_addrs(|| None).ok())
                .and_then(|a| a.into_iter().next())
                .ok_or_else(|| BenchError::ServerStart(format!("unusable URL {base_url}")))?
        };
        Ok(Self {
            base_url,
            addr,
            kind: Running::Child(child),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on (the base URL may name a proxy).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The child's process id (`None` in process).
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Running::Child(c) => c.id(),
            Running::InProcess(_) => None,
        }
    }

    /// Resource usage of the server (of this whole process when in process).
    pub fn usage(&self) -> BenchResult<ProcessUsage> {
        ProcessUsage::read(self.pid())
    }

    /// Stops the server (a child is killed: its data is thrown away).
    pub async fn stop(self) {
        match self.kind {
            Running::Child(mut c) => {
                let _ = c.kill().await;
            }
            Running::InProcess(s) => s.shutdown().await,
        }
    }
}

/// Memory and CPU time of a process, from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessUsage {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User + system CPU time so far, in clock ticks (1/100 s on Linux).
    pub cpu_ticks: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
pub const TICKS_PER_SEC: u64 = 100;

impl ProcessUsage {
    /// Reads `/proc/<pid>/{status,stat}` (`/proc/self` for `None`).
    ///
    /// A figure that cannot be read is an error, never a zero: a report
    /// saying 0 MB or 0 % CPU would look like a measurement.
    pub fn read(pid: Option<u32>) -> BenchResult<Self> {
        let dir = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
        let status = std::fs::read_to_string(format!("{dir}/status"))?;
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        Self::parse(&status, &stat).ok_or_else(|| {
            BenchError::Resources(format!(
                "{dir}/status has no readable VmRSS or {dir}/stat no readable CPU times"
            ))
        })
    }

    /// Reads the figures from the texts of `status` and `stat`.
    fn parse(status: &str, stat: &str) -> Option<Self> {
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())?;
        Some(Self {
            rss_bytes: rss_kb * 1024,
            cpu_ticks: cpu_ticks(stat)?,
        })
    }
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the
/// command name in field 2 may hold spaces, so count after its `)`).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_parses_cpu_time() {
        let line = "1234 (we ird) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_ticks(line), Some(300));
    }

    #[test]
    fn unreadable_figures_are_errors_not_zeros() {
        let line = "1234 (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(ProcessUsage::parse("Name: x\n", line), None);
        assert_eq!(ProcessUsage::parse("VmRSS:\t 12 kB\n", "garbage"), None);
        assert_eq!(
            ProcessUsage::parse("VmRSS:\t 12 kB\n", line),
            Some(ProcessUsage {
                rss_bytes: 12 * 1024,
                cpu_ticks: 300
            })
        );
    }

    #[test]
    fn own_usage_is_readable() {
        let u = ProcessUsage::read(None).unwrap();
        assert!(u.rss_bytes > 0);
    }
}
