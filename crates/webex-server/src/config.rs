//! Server configuration, shared by `webex serve` and in-process servers.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::client_logs::ClientLogLimits;
use crate::connections::ConnectionLimits;
use crate::limits::RateLimits;
pub use crate::quirks::CloudQuirks;
use crate::tls::TlsConfig;

/// Default [`ServerConfig::sip_domain`] (two labels, see there).
pub const DEFAULT_SIP_DOMAIN: &str = "webex.localhost";

/// Default [`ServerConfig::permission_token_ttl`], in seconds: short, like
/// the cloud's, so clients must ask meetingInfo again (the official SDK
/// does when the token expires within 30 s of a join).
pub const DEFAULT_PERMISSION_TOKEN_TTL_SECS: u64 = 15 * 60;

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Serve Prometheus `/metrics` on this address only (plain HTTP, no
    /// auth; the API port then answers `/metrics` with 404). `None`: on the
    /// API port.
    pub metrics_listen: Option<SocketAddr>,
    /// The URL clients reach this server at (scheme, host, port, no trailing
    /// slash). `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// `sqlite://PATH` (created when missing) or `postgres://…`.
    pub database_url: String,
    /// Redis URL for the cross-node event bus; `None`: in-process bus.
    pub redis_url: Option<String>,
    /// Bearer token guarding `/admin/api/v1/*`; `None` disables the admin API.
    pub admin_token: Option<SecretString>,
    /// Most live devices one person may have.
    pub device_limit: u64,
    /// Origins allowed by CORS; empty allows any origin (`*`). Never with
    /// credentials (the API uses no cookies).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Largest Mercury frame accepted from a client, in bytes.
    pub max_frame_bytes: usize,
    /// Frames queued per connection before a slow consumer is disconnected.
    pub outbound_queue: usize,
    /// How long a new socket has to send its authorization frame.
    pub auth_timeout: Duration,
    /// An authenticated Mercury socket the server has not heard from for
    /// this long is pinged; for twice this long, closed (1000, `idle`). See
    /// [`crate::mercury::keepalive`].
    pub mercury_ping_interval: Duration,
    /// Lifetime of OAuth access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of OAuth refresh tokens.
    pub refresh_token_ttl: Duration,
    /// Lifetime of guest tokens from `jwt/login`.
    pub guest_token_ttl: Duration,
    /// How often expired ephemeral devices are swept.
    pub sweep_interval: Duration,
    /// Ended meetings and unused ad-hoc spaces older than this are deleted
    /// ([`crate::retention`]); `None`: kept forever.
    pub meeting_retention: Option<Duration>,
    /// Region tag in minted tokens (`<secret>_<region>_<orgId>`).
    pub region: String,
    /// Name of this node (logs, liveness). Defaults to a random id.
    pub node_id: String,
    /// Serve HTTPS/WSS with this certificate and key; `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// SIP domain of meeting addresses (`name@<sip_domain>`). It must not
    /// have exactly three labels: the official JS SDK sends meeting-info
    /// requests for such hosts to `https://<host>/wbxappapi/…` instead of
    /// asking the catalog.
    pub sip_domain: String,
    /// How long a meeting whose last participant left stays ACTIVE (a
    /// rejoin within it keeps the same Locus).
    pub locus_idle_grace: Duration,
    /// Rate limits on registrations and token endpoints;
    /// [`RateLimits::off`] for benchmarks.
    pub rate_limits: RateLimits,
    /// Header, body and idle deadlines and connection caps;
    /// [`ConnectionLimits::off`] for benchmarks.
    pub connections: ConnectionLimits,
    /// Bounds on the log files clients upload (`clientLogs`).
    pub client_logs: ClientLogLimits,
    /// When the event bus was interrupted (this node's Redis subscription
    /// came back after a loss), this node asks its sockets to reconnect
    /// (1011) so clients resynchronise, spread over this window so they do
    /// not all reconnect at once.
    pub resync_window: Duration,
    /// Answers the cloud sends that cost a round trip, served on request
    /// so clients can be tested against them ([`crate::quirks`]); none by
    /// default.
    pub cloud_quirks: CloudQuirks,
    /// Key that signs the `permissionToken`s meetingInfo hands out and
    /// joins by address require ([`crate::locus::permission`]). `None`
    /// (the default): the deployment's own key, made by the first node
    /// that starts on the database and read from it by every other
    /// ([`crate::store::SecretsStore`]), so nodes behind one URL accept
    /// each other's tokens without configuration.
    pub permission_secret: Option<SecretString>,
    /// Lifetime of a `permissionToken`.
    pub permission_token_ttl: Duration,
    /// Meeting media (`--media-*`).
    pub media: MediaSettings,
}

/// Meeting media: the engine's socket, its caps, the TURN server handed out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MediaSettings {
    /// `false`: no engine; offers get a ROAP error saying media is off.
    pub enabled: bool,
    /// The engine's UDP socket; `None`: the HTTP listener's IP, a free
    /// port.
    pub listen: Option<SocketAddr>,
    /// The IP clients reach the socket at (behind NAT); `None`: the bound
    /// IP, which must then not be a wildcard (media is off otherwise).
    pub public_address: Option<std::net::IpAddr>,
    /// Most media sessions on this node.
    pub max_sessions: usize,
    /// Most media sessions in one meeting (25): two are forwarded to each
    /// other; from three on, audio is mixed (everyone but the receiver) and
    /// video follows the active speaker.
    pub max_per_meeting: usize,
    /// The TURN server TURN discovery answers (none by default).
    pub turn: Option<webex_wire::roap::TurnServer>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            public_address: None,
            max_sessions: 1000,
            max_per_meeting: 25,
            turn: None,
        }
    }
}

impl ServerConfig {
    /// Defaults for `database_url`, listening on `listen`.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen,
            metrics_listen: None,
            public_url: None,
            database_url: database_url.into(),
            redis_url: None,
            admin_token: None,
            device_limit: 100,
            cors_origins: Vec::new(),
            body_limit: 256 * 1024,
            max_frame_bytes: 64 * 1024,
            outbound_queue: 256,
            auth_timeout: Duration::from_secs(10),
            mercury_ping_interval: Duration::from_secs(30),
            access_token_ttl: Duration::from_secs(14 * 24 * 3600),
            refresh_token_ttl: Duration::from_secs(90 * 24 * 3600),
            guest_token_ttl: Duration::from_secs(12 * 3600),
            sweep_interval: Duration::from_secs(30),
            meeting_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            region: "PF84".into(),
            node_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            rate_limits: RateLimits::default(),
            client_logs: ClientLogLimits::default(),
            sip_domain: DEFAULT_SIP_DOMAIN.into(),
            locus_idle_grace: Duration::from_secs(10),
            connections: ConnectionLimits::default(),
            tls: None,
            resync_window: Duration::from_secs(2),
            cloud_quirks: CloudQuirks::default(),
            permission_secret: None,
            permission_token_ttl: Duration::from_secs(DEFAULT_PERMISSION_TOKEN_TTL_SECS),
            media: MediaSettings::default(),
        }
    }

    /// A server on `127.0.0.1:0` with a SQLite file at `path` and the admin
    /// token `admin-secret`: what tests use (the `testing` feature).
    #[cfg(feature = "testing")]
    pub fn for_tests(path: &std::path::Path) -> Self {
        let mut c = Self::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            format!("sqlite://{}", path.display()),
        );
        c.admin_token = Some(SecretString::from("admin-secret"));
        c
    }
}
