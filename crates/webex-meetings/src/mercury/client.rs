//! [`MercuryClient`]: a live Mercury connection, and [`MercuryHost`], what
//! it asks of the rest of the SDK. Public only with the `testing` feature:
//! the SDK's own tests drive the client directly; apps get Mercury through
//! `Meetings::register`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{HostError, MercuryError, MercuryEvent, MercuryOptions};
use super::{backoff, endpoint, supervisor, transport};

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
