//! Starting and stopping a server: bind, migrate, spawn background tasks,
//! serve until shutdown, close every socket with 1001.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::state::{AppState, Inner};

/// Entry point for starting servers.
pub struct Server;

impl Server {
    /// Opens the store (running migrations), connects the bus, binds
    /// `config.listen` and serves in the background until
    /// [`RunningServer::shutdown`].
    pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
        let store = crate::store::connect(&config.database_url)
            .await
            .with_context(|| format!("opening database {}", redact_url(&config.database_url)))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => Some(
                TcpListener::bind(at)
                    .await
                    .with_context(|| format!("binding the metrics address {at}"))?,
            ),
            None => None,
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let tls = config
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        if crate::locus::address::has_three_labels(&config.sip_domain) {
            tracing::warn!(
                sip_domain = %config.sip_domain,
                "the SIP domain has three labels: the official JS SDK will send meeting-info requests to https://<domain>/wbxappapi instead of this server"
            );
        }
        if config
            .admin_token
            .as_ref()
            .is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).chars().count() < 32)
        {
            tracing::warn!(
                "the admin token is shorter than 32 characters: the right token passes an address's lockout, so a short one can be guessed; use a long random token"
            );
        }
        let cancel = CancellationToken::new();
        let bus = crate::bus::connect(config.redis_url.as_deref(), &config.node_id)
            .await
            .context("connecting the event bus")?;
        let auth_cache = crate::auth_cache::AuthCache::default();
        let bus: Arc<dyn crate::bus::Bus> = Arc::new(crate::auth_cache::InvalidatingBus::new(
            bus,
            auth_cache.clone(),
        ));
        let hub = crate::mercury::Hub::new(&config);
        let permission_key = match &config.permission_secret {
            Some(key) => key.clone(),
            None => {
                let candidate = SecretString::from(crate::auth::random_secret());
                store
                    .shared_secret(crate::locus::permission::SECRET_NAME, candidate)
                    .await
                    .context("reading the deployment's permission-token key")?
            }
        };
        let media = crate::media::start(&config.media, addr);
        let state = AppState::new(Inner {
            config,
            public_url,
            store,
            bus: Arc::clone(&bus),
            auth_cache,
            hub,
            locus_backlog: crate::locus::republish::Backlog::default(),
            permission_key,
            media,
            metrics: crate::ops::prometheus_handle(),
        });

        let mut tasks = vec![
            crate::devices::spawn_sweeper(state.clone(), cancel.clone()),
            crate::delivery::spawn_bus_listener(state.clone(), cancel.clone()),
            crate::locus::service::spawn_idle_sweeper(state.clone(), cancel.clone()),
            crate::locus::republish::spawn_republisher(state.clone(), cancel.clone()),
        ];
        tasks.extend(crate::media::speaker::spawn(state.clone(), cancel.clone()));
        tasks.extend(crate::retention::spawn_sweeper(
            state.clone(),
            cancel.clone(),
        ));

        let app = crate::http::router(state.clone());
        let limits = state.config.connections.clone();
        let limits_for_metrics = limits.clone();
        let gate = crate::connections::Gate::new(&limits);
        let serve_cancel = cancel.clone();
        let serve = match tls {
            None => {
                let (tx, rx) = tokio::sync::mpsc::channel(READY_QUEUE);
                crate::connections::spawn_tcp_acceptor(listener, gate, cancel.clone(), tx);
                tokio::spawn(crate::connections::serve(rx, app, limits, serve_cancel))
            }
            Some(tls) => {
                let (tx, rx) = tokio::sync::mpsc::channel(READY_QUEUE);
                crate::tls::spawn_acceptor(listener, tls, gate, cancel.clone(), tx);
                tokio::spawn(crate::connections::serve(rx, app, limits, serve_cancel))
            }
        };
        if let Some(listener) = metrics_listener {
            tasks.push(spawn_metrics_listener(
                listener,
                crate::ops::metrics_router(state.clone()),
                limits_for_metrics,
                cancel.clone(),
            ));
        }
        tracing::info!(%addr, ?metrics_addr, public_url = %state.public_url, backend = state.store.backend(), "webex server listening");
        Ok(RunningServer {
            addr,
            metrics_addr,
            state,
            cancel,
            serve,
            tasks,
        })
    }
}

/// Serves `/metrics` alone on its own listener (`--metrics-listen`), under
/// the same connection caps and deadlines as the API port.
fn spawn_metrics_listener(
    listener: TcpListener,
    app: axum::Router,
    limits: crate::connections::ConnectionLimits,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let gate = crate::connections::Gate::new(&limits);
    let (tx, rx) = tokio::sync::mpsc::channel(READY_QUEUE);
    crate::connections::spawn_tcp_acceptor(listener, gate, cancel.clone(), tx);
    tokio::spawn(crate::connections::serve(rx, app, limits, cancel))
}

/// Without TCP_NODELAY, back-to-back websocket frames wait for the peer's
/// delayed ACK (Nagle): up to 40 ms per event on Linux.
pub(crate) fn set_nodelay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

/// Accepted connections waiting for the server to take them.
const READY_QUEUE: usize = 256;

/// A server serving in the background.
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    state: AppState,
    cancel: CancellationToken,
    serve: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The bound address of `/metrics` when it has its own
    /// ([`ServerConfig::metrics_listen`]); `None`: on the API port.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// The public URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.state.public_url
    }
    /// The shared state (store, bus, hub), for tests and the CLI.
    pub fn state(&self) -> &AppState {
        &self.state
    }
    /// Stops accepting, closes every Mercury socket with 1001, waits for
    /// in-flight requests and background tasks.
    pub async fn shutdown(self) {
        self.state.hub.shutdown();
        self.state.media.shutdown().await;
        self.cancel.cancel();
        let _ = self.serve.await;
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.store.close().await;
    }
    /// Waits until the server stops (after a signal handler calls shutdown
    /// elsewhere, or a fatal error).
    pub async fn wait_for_signal_then_shutdown(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A database URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
