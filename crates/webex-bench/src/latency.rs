//! Scenario 6: register over a link with real latency. The server's public
//! URL points at a [`Proxy`] that adds a round-trip time, so every URL the
//! catalog and the device hand out goes through it; each client registers
//! and unregisters at each RTT, over plain TCP and over TLS.
//!
//! Clients: the Rust SDK from a cold start (empty device store), the Rust
//! SDK from a warm start (a file device store that remembers the catalog and
//! the device of the previous run, which ended without unregistering, as an
//! app that quits does), the Rust SDK warm after unregister (the same store
//! after a run that unregistered, as a clean Ctrl-C does: the user and
//! catalog are remembered, the device is gone), and the official JS SDK in Node
//! (`compat/js-sdk/latency.js`, when Node and its `node_modules` are there).
//! The proxy's log of the last cycle gives each client's request sequence.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use secrecy::{ExposeSecret, SecretString};

use crate::error::{BenchError, BenchResult};
use crate::fixtures;
use crate::progress;
use crate::proxy::{Proxy, Seen};
use crate::target::{Database, Launch, ServerSpec, ServerUnderTest};

/// Parameters of scenario 6.
#[derive(Debug, Clone)]
pub struct LatencyParams {
    /// Round-trip times, one phase each.
    pub rtts: Vec<Duration>,
    /// Timed cycles per client and RTT.
    pub iterations: usize,
    /// Transports: plain TCP and/or TLS.
    pub transports: Vec<Transport>,
    /// `compat/js-sdk` (the official SDK runs when it is installed there).
    pub js_sdk: Option<PathBuf>,
}

/// How the clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `http://` and `ws://`.
    Tcp,
    /// `https://` and `wss://` with a test certificate the clients trust.
    Tls,
}

impl Transport {
    /// `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }
}

/// Client names, in report order.
pub const RUST_COLD: &str = "Rust SDK, cold start";
/// The Rust SDK with a device store remembering the previous run.
pub const RUST_WARM: &str = "Rust SDK, warm start";
/// The Rust SDK with a device store whose device the previous run deleted
/// (a clean `unregister()`): the user and catalog are still remembered.
pub const RUST_REWARM: &str = "Rust SDK, warm after unregister";
/// The official SDK in Node.
pub const JS_NODE: &str = "official JS SDK (Node)";

/// One client at one RTT over one transport.
#[derive(Debug, Clone)]
pub struct LatencyResult {
    /// Transport.
    pub transport: Transport,
    /// Added round-trip time.
    pub rtt: Duration,
    /// Client name.
    pub client: &'static str,
    /// init → registered, every cycle.
    pub register: Vec<Duration>,
    /// unregister → unregistered (empty for the warm start, which ends
    /// like an app quitting).
    pub unregister: Vec<Duration>,
    /// What the proxy saw during the last cycle's registration.
    pub trace: Vec<(Duration, u64, String)>,
}

/// Runs every transport and RTT once.
pub async fn run(
    launch: &Launch,
    log: &str,
    params: &LatencyParams,
) -> BenchResult<Vec<LatencyResult>> {
    let mut out = Vec::new();
    for &transport in &params.transports {
        let db = Database::sqlite()?;
        let cert = match transport {
            Transport::Tcp => None,
            Transport::Tls => Some(TestCert::new()?),
        };
        let proxy = Proxy::bind().await?;
        let scheme = if cert.is_some() { "https" } else { "http" };
        let mut spec = ServerSpec::single(&db, log);
        spec.public_url = Some(format!("{scheme}://{}", proxy.addr()));
        spec.tls = cert.as_ref().map(|c| c.config.clone());
        let server = ServerUnderTest::start(launch, &spec).await?;
        let result = async {
            proxy.forward_to(server.local_addr())?;
            let account = fixtures::accounts(db.url(), "lat", 1)
                .await?
                .pop()
                .ok_or_else(|| BenchError::Setup("no account".into()))?;
            let env = Env {
                base: server.base_url().to_owned(),
                token: account.token,
                cert: cert.as_ref(),
                proxy: &proxy,
                transport,
            };
            let mut results = Vec::new();
            for &rtt in &params.rtts {
                proxy.set_rtt(rtt);
                results.push(env.rust_cold(rtt, params.iterations).await?);
                results.push(env.rust_warm(rtt, params.iterations).await?);
                results.push(env.rust_rewarm(rtt, params.iterations).await?);
                if let Some(dir) = &params.js_sdk {
                    results.push(env.js(dir, rtt, params.iterations).await?);
                }
            }
            Ok::<_, BenchError>(results)
        }
        .await;
        proxy.stop();
        server.stop().await;
        out.extend(result?);
    }
    Ok(out)
}

/// Whether the official SDK can run from `dir` (Node on the PATH and
/// `npm ci` done there).
pub fn js_sdk_available(dir: &Path) -> bool {
    dir.join("latency.js").is_file()
        && dir.join("node_modules/webex").is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A self-signed certificate for 127.0.0.1 in a temporary directory.
struct TestCert {
    _dir: tempfile::TempDir,
    config: webex_server::tls::TlsConfig,
    pem: String,
}

impl TestCert {
    fn new() -> BenchResult<Self> {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| BenchError::Setup(format!("making a test certificate: {e}")))?;
        let dir = tempfile::tempdir()?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem())?;
        std::fs::write(&key, ck.signing_key.serialize_pem())?;
        Ok(Self {
            pem: ck.cert.pem(),
            config: webex_server::tls::TlsConfig { cert, key },
            _dir: dir,
        })
    }
}

struct Env<'a> {
    base: String,
    token: SecretString,
    cert: Option<&'a TestCert>,
    proxy: &'a Proxy,
    transport: Transport,
}

fn sdk_error(e: webex_meetings::Error) -> BenchError {
    BenchError::Sdk(e.to_string())
}

impl Env<'_> {
    fn config(
        &self,
        store: Option<webex_meetings::FileDeviceStore>,
    ) -> BenchResult<webex_meetings::WebexConfig> {
        let mut b = webex_meetings::WebexConfig::builder(
            webex_meetings::Credentials::access_token(self.token.expose_secret()),
        )
        .discovery_url(format!("{}/u2c/api/v1", self.base));
        if let Some(cert) = self.cert {
            b = b.add_root_certificate(cert.pem.as_bytes());
        }
        if let Some(store) = store {
            b = b.device_store(store);
        }
        b.build().map_err(|e| sdk_error(e.into()))
    }

    fn result(&self, rtt: Duration, client: &'static str) -> LatencyResult {
        LatencyResult {
            transport: self.transport,
            rtt,
            client,
            register: Vec::new(),
            unregister: Vec::new(),
            trace: Vec::new(),
        }
    }

    fn label(&self, rtt: Duration, client: &str) -> String {
        format!(
            "{} {} ms: {client}",
            self.transport.as_str(),
            rtt.as_millis()
        )
    }

    /// A fresh SDK with an empty store each cycle: init → registered, then
    /// unregister.
    async fn rust_cold(&self, rtt: Duration, iterations: usize) -> BenchResult<LatencyResult> {
        let mut r = self.result(rtt, RUST_COLD);
        let bar = progress::bar(iterations as u64, &self.label(rtt, RUST_COLD));
        for i in 0..iterations {
            let last = i + 1 == iterations;
            if last {
                self.proxy.mark();
            }
            let (wall, start) = (SystemTime::now(), Instant::now());
            let webex = webex_meetings::Webex::init(self.config(None)?);
            let meetings = webex.meetings();
            meetings.register().await.map_err(sdk_error)?;
            let took = start.elapsed();
            r.register.push(took);
            if last {
                r.trace = window(&self.proxy.seen(), wall, took);
            }
            let start = Instant::now();
            meetings.unregister().await.map_err(sdk_error)?;
            r.unregister.push(start.elapsed());
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(r)
    }

    /// A device store that outlives each SDK: every cycle is an app start
    /// after a run that quit without unregistering.
    async fn rust_warm(&self, rtt: Duration, iterations: usize) -> BenchResult<LatencyResult> {
        let mut r = self.result(rtt, RUST_WARM);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("devices.json");
        let store = || Some(webex_meetings::FileDeviceStore::new(&path));
        // The previous run.
        {
            let webex = webex_meetings::Webex::init(self.config(store())?);
            webex.meetings().register().await.map_err(sdk_error)?;
        }
        let bar = progress::bar(iterations as u64, &self.label(rtt, RUST_WARM));
        for i in 0..iterations {
            let last = i + 1 == iterations;
            if last {
                self.proxy.mark();
            }
            let (wall, start) = (SystemTime::now(), Instant::now());
            let webex = webex_meetings::Webex::init(self.config(store())?);
            webex.meetings().register().await.map_err(sdk_error)?;
            let took = start.elapsed();
            r.register.push(took);
            if last {
                r.trace = window(&self.proxy.seen(), wall, took);
            }
            drop(webex);
            bar.inc(1);
        }
        bar.finish_and_clear();
        // Leave nothing behind.
        let webex = webex_meetings::Webex::init(self.config(store())?);
        let meetings = webex.meetings();
        meetings.register().await.map_err(sdk_error)?;
        meetings.unregister().await.map_err(sdk_error)?;
        Ok(r)
    }

    /// A device store that outlives each SDK, every cycle ending with a
    /// clean `unregister()`: each start knows the user and the catalog but
    /// has no device. Times init → registered.
    async fn rust_rewarm(&self, rtt: Duration, iterations: usize) -> BenchResult<LatencyResult> {
        let mut r = self.result(rtt, RUST_REWARM);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("devices.json");
        let store = || Some(webex_meetings::FileDeviceStore::new(&path));
        // The previous run, which unregistered.
        {
            let webex = webex_meetings::Webex::init(self.config(store())?);
            let meetings = webex.meetings();
            meetings.register().await.map_err(sdk_error)?;
            meetings.unregister().await.map_err(sdk_error)?;
        }
        let bar = progress::bar(iterations as u64, &self.label(rtt, RUST_REWARM));
        for i in 0..iterations {
            let last = i + 1 == iterations;
            if last {
                self.proxy.mark();
            }
            let (wall, start) = (SystemTime::now(), Instant::now());
            let webex = webex_meetings::Webex::init(self.config(store())?);
            let meetings = webex.meetings();
            meetings.register().await.map_err(sdk_error)?;
            let took = start.elapsed();
            r.register.push(took);
            if last {
                r.trace = window(&self.proxy.seen(), wall, took);
            }
            let start = Instant::now();
            meetings.unregister().await.map_err(sdk_error)?;
            r.unregister.push(start.elapsed());
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(r)
    }

    /// `node latency.js` in `dir`: the official SDK, a fresh instance per
    /// cycle.
    async fn js(&self, dir: &Path, rtt: Duration, iterations: usize) -> BenchResult<LatencyResult> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Run {
            init_epoch_ms: f64,
            registered_ms: f64,
            unregister_ms: f64,
        }
        #[derive(serde::Deserialize)]
        struct Output {
            runs: Vec<Run>,
        }
        let mut r = self.result(rtt, JS_NODE);
        let bar = progress::bar(1, &self.label(rtt, JS_NODE));
        let mut cmd = tokio::process::Command::new("node");
        cmd.current_dir(dir)
            .arg("latency.js")
            .args(["--base", &self.base, "--runs", &iterations.to_string()])
            .arg("--token")
            .arg(self.token.expose_secret())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(cert) = self.cert {
            cmd.env("NODE_EXTRA_CA_CERTS", &cert.config.cert);
        }
        self.proxy.mark();
        let limit = Duration::from_secs(60) + rtt * 40 * iterations as u32;
        let out = tokio::time::timeout(limit, cmd.output())
            .await
            .map_err(|_| BenchError::Timeout(format!("the official SDK ({limit:?})")))??;
        bar.finish_and_clear();
        if !out.status.success() {
            return Err(BenchError::Sdk(format!(
                "official SDK: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let parsed: Output = serde_json::from_slice(&out.stdout)
            .map_err(|e| BenchError::Sdk(format!("official SDK output: {e}")))?;
        for run in &parsed.runs {
            r.register
                .push(Duration::from_secs_f64(run.registered_ms / 1e3));
            r.unregister
                .push(Duration::from_secs_f64(run.unregister_ms / 1e3));
        }
        if let Some(last) = parsed.runs.last() {
            let wall = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(last.init_epoch_ms / 1e3);
            let took = Duration::from_secs_f64(last.registered_ms / 1e3);
            r.trace = window(&self.proxy.seen(), wall, took);
        }
        Ok(r)
    }
}

/// The proxy's entries from `start` to `start + took`, with their offsets.
fn window(seen: &[Seen], start: SystemTime, took: Duration) -> Vec<(Duration, u64, String)> {
    let first = seen
        .iter()
        .filter_map(|s| s.wall.duration_since(start).ok().map(|d| (d, s)))
        .filter(|(d, _)| *d <= took)
        .collect::<Vec<_>>();
    let min_conn = first.iter().map(|(_, s)| s.conn).min().unwrap_or(1);
    first
        .into_iter()
        .map(|(d, s)| (d, s.conn - min_conn + 1, s.what.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_what_happened_during_the_registration() {
        let t0 = SystemTime::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let seen = |ms, conn, what: &str| Seen {
            at: Duration::ZERO,
            wall: at(ms),
            conn,
            what: what.into(),
        };
        let log = [
            seen(0, 7, "connect"),
            seen(10, 7, "GET /a HTTP/1.1"),
            seen(30, 8, "connect"),
            seen(90, 8, "DELETE /x HTTP/1.1"),
        ];
        let w = window(&log, at(5), Duration::from_millis(50));
        assert_eq!(
            w,
            vec![
                (Duration::from_millis(5), 1, "GET /a HTTP/1.1".to_owned()),
                (Duration::from_millis(25), 2, "connect".to_owned()),
            ]
        );
    }
}
