//! Scenario 1: register latency, client side. Sequential
//! register/unregister cycles against one server, timed from the start of
//! `register` to "registered" and from `unregister()` to "unregistered".
//!
//! Two clients run in the same session: the Rust SDK (`webex-meetings`), and the
//! protocol floor — the same four steps (catalog, people/me, WDM device,
//! Mercury authorization) done with bare requests by this crate — so the
//! SDK's own overhead shows next to what the server needs.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{BenchError, BenchResult};
use crate::fixtures;
use crate::progress;
use crate::socket;
use crate::stats::Latencies;

/// One register/unregister cycle's two durations.
#[derive(Debug, Clone, Copy)]
pub struct Cycle {
    /// From the start of registration to "registered".
    pub register: Duration,
    /// From `unregister()` to "unregistered".
    pub unregister: Duration,
}

/// A client under test: runs one full cycle against the server at the
/// base URL with the token.
pub type Client = for<'a> fn(
    &'a reqwest::Client,
    &'a str,
    &'a SecretString,
) -> Pin<Box<dyn Future<Output = BenchResult<Cycle>> + Send + 'a>>;

/// Latencies of one client over many cycles.
#[derive(Debug, Clone)]
pub struct RegisterResult {
    /// Client name.
    pub client: &'static str,
    /// Start → registered.
    pub register: Latencies,
    /// `unregister()` → unregistered.
    pub unregister: Latencies,
}

/// Runs `iterations` sequential cycles of `client` (after `warmup`
/// untimed ones).
pub async fn measure(
    name: &'static str,
    client: Client,
    base: &str,
    token: &SecretString,
    iterations: usize,
    warmup: usize,
) -> BenchResult<RegisterResult> {
    let http = fixtures::http_client(4)?;
    for _ in 0..warmup {
        client(&http, base, token).await?;
    }
    let bar = progress::bar(iterations as u64, name);
    let mut out = RegisterResult {
        client: name,
        register: Latencies::new(),
        unregister: Latencies::new(),
    };
    for _ in 0..iterations {
        let c = client(&http, base, token).await?;
        out.register.record(c.register);
        out.unregister.record(c.unregister);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// The protocol floor: catalog, people/me, `POST` device, Mercury
/// authorization up to `mercury.buffer_state`; then close the socket and
/// `DELETE` the device.
pub fn protocol_floor<'a>(
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a SecretString,
) -> Pin<Box<dyn Future<Output = BenchResult<Cycle>> + Send + 'a>> {
    Box::pin(async move {
        let start = Instant::now();
        for (what, path) in [
            ("GET catalog", "/u2c/api/v1/catalog?format=hostmap"),
            ("GET people/me", "/v1/people/me"),
        ] {
            let res = http
                .get(format!("{base}{path}"))
                .bearer_auth(token.expose_secret())
                .send()
                .await?;
            if !res.status().is_success() {
                return Err(BenchError::Status {
                    what,
                    status: res.status().as_u16(),
                });
            }
            let _ = res.bytes().await?;
        }
        let device = fixtures::register_device(http, base, token, "bench-floor").await?;
        let mut ws = socket::connect(&device.web_socket_url, socket::source_addr(0), token).await?;
        let register = start.elapsed();

        let start = Instant::now();
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
        let _ = ws.flush().await;
        fixtures::delete_device(http, &device.url, token).await?;
        Ok(Cycle {
            register,
            unregister: start.elapsed(),
        })
    })
}

/// The Rust SDK: `Webex::init` → `meetings().register()` resolved, then
/// `unregister()` resolved. A fresh SDK (own HTTP client, in-memory device
/// store) every cycle, as a new app start would have.
pub fn rust_sdk<'a>(
    _http: &'a reqwest::Client,
    base: &'a str,
    token: &'a SecretString,
) -> Pin<Box<dyn Future<Output = BenchResult<Cycle>> + Send + 'a>> {
    Box::pin(async move {
        let sdk = |e: webex_meetings::Error| BenchError::Sdk(e.to_string());
        let start = Instant::now();
        let config = webex_meetings::WebexConfig::builder(
            webex_meetings::Credentials::access_token(token.expose_secret()),
        )
        .discovery_url(format!("{base}/u2c/api/v1"))
        .build()
        .map_err(|e| sdk(e.into()))?;
        let webex = webex_meetings::Webex::init(config);
        let meetings = webex.meetings();
        meetings.register().await.map_err(sdk)?;
        let register = start.elapsed();
        let start = Instant::now();
        meetings.unregister().await.map_err(sdk)?;
        Ok(Cycle {
            register,
            unregister: start.elapsed(),
        })
    })
}

/// The clients scenario 1 compares, by name.
pub fn clients() -> Vec<(&'static str, Client)> {
    vec![
        ("Rust SDK (webex-meetings)", rust_sdk),
        ("protocol floor (bare requests)", protocol_floor),
    ]
}
