//! Mercury: the websocket that carries every server-side event to this device.
//!
//! [`MercuryClient::connect`] opens the socket, sends the authorization frame
//! and resolves once the server's `mercury.buffer_state` arrives. A background
//! task then keeps the socket alive (ping every 15 s, pong deadline 14 s),
//! acknowledges frames, and on a drop reconnects with exponential backoff and
//! full jitter, reacting to close codes: 4401 → refresh the token, 4404 or a
//! refused upgrade → re-register the device (bounded), 4000 → stand down.
//!
//! The rest of the SDK plugs in through [`MercuryHost`] and listens on the
//! [`MercuryEvent`] channel.

pub mod backoff;
pub(crate) mod connection;
mod endpoint;
mod policy;
mod supervisor;
mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use webex_wire::mercury::ServerFrame;

/// What the Mercury client needs from the rest of the SDK.
#[async_trait]
pub trait MercuryHost: Send + Sync + 'static {
    /// The current access token.
    async fn access_token(&self) -> Result<SecretString, HostError>;
    /// Refreshes the access token (after close 4401) and returns the new one.
    async fn refresh_access_token(&self) -> Result<SecretString, HostError>;
    /// Registers the device again (after close 4404 or a 404 on upgrade) and
    /// returns its new `webSocketUrl`.
    async fn reregister_device(&self) -> Result<String, HostError>;
}

/// A failure reported by a [`MercuryHost`] callback.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    /// What failed.
    pub message: String,
    /// Whether trying again later may help.
    pub retryable: bool,
}

/// Timings and limits of the Mercury client.
///
/// ```
/// use std::time::Duration;
/// let mut options = webex_meetings::mercury::MercuryOptions::default();
/// options.backoff_max = Duration::from_secs(60);
/// options.proxy = Some("http://proxy.internal:3128".parse()?);
/// # Ok::<(), url::ParseError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct MercuryOptions {
    /// Time between a pong and the next ping (15 s).
    pub ping_interval: Duration,
    /// How long to wait for a pong (14 s).
    pub pong_timeout: Duration,
    /// First reconnect delay (1 s).
    pub backoff_initial: Duration,
    /// Largest reconnect delay (32 s).
    pub backoff_max: Duration,
    /// TCP + TLS + websocket upgrade deadline.
    pub connect_timeout: Duration,
    /// Deadline from upgrade to `mercury.buffer_state`.
    pub handshake_timeout: Duration,
    /// Consecutive re-registrations before giving up.
    pub max_reregistrations: u32,
    /// Adds `multipleConnections=true` (ephemeral devices).
    pub multiple_connections: bool,
    /// HTTP proxy to tunnel through (CONNECT); `None`: direct.
    pub proxy: Option<url::Url>,
    /// Certificates (DER) trusted for `wss://` besides Webex's public roots
    /// (set by `WebexConfigBuilder::add_root_certificate`).
    pub root_certificates: Vec<Vec<u8>>,
}

impl Default for MercuryOptions {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(14),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(32),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_reregistrations: 3,
            multiple_connections: false,
            proxy: None,
            root_certificates: Vec::new(),
        }
    }
}

impl std::fmt::Debug for MercuryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The proxy URL may carry credentials: show it without them.
        let proxy = self.proxy.as_ref().map(|p| {
            let mut shown = p.clone();
            if shown.password().is_some() {
                let _ = shown.set_password(Some("***"));
            }
            shown.to_string()
        });
        f.debug_struct("MercuryOptions")
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_reregistrations", &self.max_reregistrations)
            .field("multiple_connections", &self.multiple_connections)
            .field("proxy", &proxy)
            .field("root_certificates", &self.root_certificates.len())
            .finish()
    }
}

/// What the client reports, in order, on the channel given to `connect`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MercuryEvent {
    /// A server event (not pongs, not the buffer_state).
    Message(Box<ServerFrame>),
    /// The socket dropped; a reconnect follows unless `will_reconnect` is false.
    Disconnected {
        /// Close code, if the server sent one.
        code: Option<u16>,
        /// Close reason or error text.
        reason: String,
        /// Whether the client will try to reconnect.
        will_reconnect: bool,
    },
    /// Connected and authenticated again after a drop.
    Reconnected,
    /// The access token was refreshed after a 4401.
    TokenRefreshed,
    /// The device was registered again after a 4404; carries the new URL.
    Reregistered {
        /// The new `webSocketUrl`.
        web_socket_url: String,
    },
    /// Another connection replaced this one (4000); the client stopped.
    Replaced,
    /// The client gave up (fatal close code, or re-registration bound hit).
    Stopped(MercuryError),
}

/// Why connecting (or staying connected) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MercuryError {
    /// TCP, TLS, proxy or websocket upgrade failed.
    #[error("websocket connect failed: {0}")]
    Connect(String),
    /// The upgrade was answered with an HTTP status (404: unknown device URL).
    #[error("websocket upgrade refused with HTTP {0}")]
    UpgradeRefused(u16),
    /// Closed by the server during the handshake.
    #[error("server closed the websocket with {code}: {reason}")]
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// No `mercury.buffer_state` within the handshake timeout.
    #[error("no mercury.buffer_state within {0:?}")]
    HandshakeTimeout(Duration),
    /// The connect deadline passed.
    #[error("websocket connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// A host callback failed.
    #[error("{0}")]
    Host(#[from] HostError),
}

impl MercuryError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect(_) | Self::HandshakeTimeout(_) | Self::ConnectTimeout(_) => true,
            Self::UpgradeRefused(status) => *status >= 500 || *status == 429,
            Self::Closed { code, .. } => {
                webex_wire::close::action(*code) == webex_wire::close::CloseAction::Reconnect
            }
            Self::Host(e) => e.retryable,
        }
    }
}

/// A live Mercury connection, kept alive by a background task.
///
/// The task stops on [`MercuryClient::close`], when the client is dropped,
/// after [`MercuryEvent::Replaced`] or [`MercuryEvent::Stopped`].
///
/// ```no_run
/// # use std::sync::Arc;
/// # use webex_meetings::mercury::{MercuryClient, MercuryEvent, MercuryHost, MercuryOptions};
/// # async fn run(url: &str, host: Arc<dyn MercuryHost>) -> Result<(), webex_meetings::mercury::MercuryError> {
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let client = MercuryClient::connect(url, host, MercuryOptions::default(), tx).await?;
/// while let Some(event) = rx.recv().await {
///     match event {
///         MercuryEvent::Message(frame) => println!("{:?}", frame.event_type()),
///         MercuryEvent::Replaced | MercuryEvent::Stopped(_) => break,
///         _ => {}
///     }
/// }
/// client.close().await;
/// # Ok(()) }
/// ```
pub struct MercuryClient {
    cancel: CancellationToken,
    connected: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// Opens the TCP connection of a websocket to `web_socket_url`'s host
/// ahead of time (see `transport::preconnect`); nothing with a proxy.
pub(crate) async fn preconnect(web_socket_url: &str, options: &MercuryOptions) {
    if options.proxy.is_some() {
        return;
    }
    if let Ok(url) = url::Url::parse(web_socket_url) {
        transport::preconnect(&url).await;
    }
}

impl MercuryClient {
    /// Connects to `web_socket_url`, authenticates and waits for
    /// `mercury.buffer_state`. Events go to `events` from then on.
    ///
    /// There is no retry loop here, so that registration settles: a 4401
    /// gets one token refresh and one more try, a 404 upgrade or 4404 one
    /// re-registration and one more try; any other failure is returned.
    pub async fn connect(
        web_socket_url: &str,
        host: Arc<dyn MercuryHost>,
        options: MercuryOptions,
        events: mpsc::UnboundedSender<MercuryEvent>,
    ) -> Result<Self, MercuryError> {
        let (url, conn) = supervisor::first_connection(web_socket_url, host.as_ref(), &options)
            .instrument(tracing::info_span!("mercury_connect", url = %endpoint::loggable_str(web_socket_url)))
            .await?;
        tracing::info!(url = %endpoint::loggable(&url), "mercury connected");
        let cancel = CancellationToken::new();
        let connected = Arc::new(AtomicBool::new(true));
        let finished = Arc::new(AtomicBool::new(false));
        let supervisor = supervisor::Supervisor {
            backoff: backoff::Backoff::new(options.backoff_initial, options.backoff_max),
            url,
            host,
            options,
            events,
            cancel: cancel.clone(),
            connected: Arc::clone(&connected),
            reregistrations: 0,
        };
        let done = FinishedGuard {
            finished: Arc::clone(&finished),
            connected: Arc::clone(&connected),
        };
        let task = tokio::spawn(async move {
            let _done = done;
            supervisor.run(conn).await;
        });
        Ok(Self {
            cancel,
            connected,
            finished,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Closes with 1000 "Done", waits up to 2 s for the echo, and stops every
    /// timer and retry. Idempotent; when it returns, the background task has
    /// ended. No event is sent for a close the caller asked for.
    pub async fn close(&self) {
        self.cancel.cancel();
        let mut task = self.task.lock().await;
        if let Some(handle) = task.take()
            && let Err(e) = handle.await
        {
            tracing::warn!(error = %e, "mercury task ended abnormally");
        }
    }

    /// Whether the socket is currently open and authenticated.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Whether the background task has ended (after `close()`, `Replaced`
    /// or `Stopped`).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl Drop for MercuryClient {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl std::fmt::Debug for MercuryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MercuryClient")
            .field("connected", &self.is_connected())
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Marks the task finished (and disconnected) however it ends, panics
/// included.
struct FinishedGuard {
    finished: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
}

impl Drop for FinishedGuard {
    fn drop(&mut self) {
        self.connected.store(false, Ordering::SeqCst);
        self.finished.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_debug_hides_proxy_password() {
        let options = MercuryOptions {
            proxy: Some(url::Url::parse("http://me:s3cret@proxy:3128").expect("url")),
            ..MercuryOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("me:***@proxy:3128"), "{shown}");
    }

    /// Compile-time check: the client is shareable and `connect` can be
    /// spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn client_is_send_sync_and_connect_spawnable(
        host: Arc<dyn MercuryHost>,
        events: mpsc::UnboundedSender<MercuryEvent>,
    ) {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MercuryClient>();
        drop(tokio::spawn(MercuryClient::connect(
            "ws://127.0.0.1:1/",
            host,
            MercuryOptions::default(),
            events,
        )));
    }
}
