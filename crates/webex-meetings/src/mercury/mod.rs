//! Mercury: the websocket that carries every server-side event to this device.
//!
//! `MercuryClient::connect` (in `client`) opens the socket, sends the
//! authorization frame and resolves once the server's
//! `mercury.buffer_state` arrives. A background task then keeps the socket
//! alive (ping every 15 s, pong deadline 14 s), acknowledges frames, and on
//! a drop reconnects with exponential backoff and full jitter (`backoff`),
//! reacting to close codes: 4401 → refresh the token, 4404 or a refused
//! upgrade → re-register the device (bounded), 4000 → stand down.
//!
//! The rest of the SDK plugs in through `MercuryHost` and listens on the
//! [`MercuryEvent`] channel. Apps configure Mercury with
//! [`MercuryOptions`] and meet its failures as [`MercuryError`]; the client,
//! the host trait and `backoff` are public only with the `testing` feature,
//! for the SDK's own tests.

#[cfg(feature = "testing")]
pub mod backoff;
#[cfg(not(feature = "testing"))]
mod backoff;
mod client;
pub(crate) mod connection;
mod endpoint;
mod policy;
mod supervisor;
mod transport;

use std::time::Duration;

use webex_wire::mercury::ServerFrame;

pub(crate) use client::preconnect;
#[cfg(feature = "testing")]
pub use client::{MercuryClient, MercuryHost};
#[cfg(not(feature = "testing"))]
pub(crate) use client::{MercuryClient, MercuryHost};

/// A failure reported by a `MercuryHost` callback (the SDK's tokens or
/// device registration), and whether retrying may help.
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
}
