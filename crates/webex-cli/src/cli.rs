//! Command-line syntax.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use webex_wire::people::PersonType;

/// The default database: a SQLite file under `./webex-data/`.
pub const DEFAULT_DATABASE: &str = "sqlite://webex-data/webex.sqlite";

/// Webex meetings locally: a Webex-compatible server (identity, devices,
/// Mercury, meetings with owners and a lobby), the Rust SDK from the command
/// line (register, devices, meetings list/join/end), a demo and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "webex", version, about)]
pub struct Cli {
    /// More logging on stderr; repeat for more (`-v` info, `-vv` debug,
    /// `-vvv` trace; `serve` starts at info). Without it, only warnings and
    /// errors, so `bench` and `demo` output stays readable. `RUST_LOG`, when
    /// set, wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Logs as JSON lines.
    #[arg(long, global = true, env = "WEBEX_LOG_JSON")]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the server: identity, OAuth, U2C catalog, WDM devices, Mercury,
    /// meetings (`--dev`: two people, their tokens and client configuration).
    Serve(ServeArgs),
    /// Manage access tokens directly in the database.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage OAuth 2 integrations (clients).
    #[command(subcommand, name = "oauth-client")]
    OAuthClient(OAuthClientCommand),
    /// Manage guest issuers (HS256 JWTs exchanged at /v1/jwt/login).
    #[command(subcommand, name = "guest-issuer")]
    GuestIssuer(GuestIssuerCommand),
    /// Register a device with the Rust SDK, print events, unregister on Ctrl-C.
    Register(RegisterArgs),
    /// List or delete the signed-in user's devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// List, join (with media if asked) or end meetings with the Rust SDK.
    #[command(subcommand)]
    Meetings(MeetingsCommand),
    /// The operator API (`/admin/api/v1`, admin token): live sockets,
    /// meetings, media sessions, events, token revocation, client logs.
    /// Exits with 75 when trying again may help (no server yet, 503).
    Admin(AdminArgs),
    /// Media files: what an Ogg Opus or H.264 file holds (no server needed).
    #[command(subcommand)]
    Media(MediaCommand),
    /// Self-contained demo: server in-process on SQLite, then the SDK's
    /// init → ready → register → registered → event → unregister → unregistered.
    Demo(DemoArgs),
    /// Benchmarks: register latency, throughput, idle sockets, fan-out, two
    /// nodes, meetings and media.
    #[cfg(feature = "bench")]
    Bench(webex_bench::BenchArgs),
    /// Benchmarks (this build has none: `--features bench`).
    #[cfg(not(feature = "bench"))]
    #[command(hide = true)]
    Bench(NoBenchArgs),
}

/// What `webex bench` takes in a build without the `bench` feature:
/// anything, so the answer is the rebuild line rather than a parse error.
#[cfg(not(feature = "bench"))]
#[derive(Debug, Args)]
pub struct NoBenchArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// Where the database is; shared by every command that opens it.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created when missing) or `postgres://…`.
    #[arg(long = "database", env = "WEBEX_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    pub url: String,
}

/// `webex serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: create (or, on a later start with the same
    /// database, reuse) alice@example.com and bob@example.com, mint a token
    /// for each, generate an admin token unless one is given, turn rate
    /// limits off, and print the discovery URL and ready-to-paste
    /// configuration for the Rust SDK, the CLI and the official JS SDK
    /// after the `listening on` line.
    #[arg(long, env = "WEBEX_DEV", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "WEBEX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve Prometheus `/metrics` on this address only (plain HTTP, no
    /// auth: keep it reachable by the scraper alone); the API port then
    /// answers `/metrics` with 404. Default: `/metrics` on the API port.
    #[arg(long, env = "WEBEX_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// URL clients use to reach this server (default: http://<listen address>).
    #[arg(long, env = "WEBEX_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Redis URL for the cross-node event bus (several nodes behind one URL).
    #[arg(long, env = "WEBEX_REDIS_URL")]
    pub redis: Option<String>,
    /// Bearer token for the operator API under /admin (disabled when unset).
    #[arg(long, env = "WEBEX_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Most live devices per person.
    #[arg(long, env = "WEBEX_DEVICE_LIMIT", default_value_t = 100)]
    pub device_limit: u64,
    /// Origins allowed by CORS (repeatable; default: any origin).
    #[arg(
        long = "cors-origin",
        env = "WEBEX_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Name of this node in logs and the node registry.
    #[arg(long, env = "WEBEX_NODE_ID")]
    pub node_id: Option<String>,
    /// Largest log file one client upload may be (`clientLogs`), in MiB.
    #[arg(long, env = "WEBEX_CLIENT_LOG_MAX_UPLOAD_MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub client_log_max_upload_mib: u32,
    /// Most client-log bytes kept in the database, in MiB; the oldest
    /// uploads are evicted beyond it. At least the upload limit.
    #[arg(long, env = "WEBEX_CLIENT_LOG_MAX_TOTAL_MIB", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub client_log_max_total_mib: u32,
    /// Rate limiting of registrations and token endpoints: `on` or `off`
    /// (`off` for benchmarks and load tests).
    #[arg(long, env = "WEBEX_RATE_LIMIT", default_value = "on", value_parser = ["on", "off"])]
    pub rate_limit: String,
    /// Device registrations (POST/PUT devices) per bearer token:
    /// `PER_SECOND[:BURST]`.
    #[arg(long, env = "WEBEX_REGISTRATION_RATE", default_value = "20:40")]
    pub registration_rate: webex_server::limits::RateLimit,
    /// Token endpoint requests per OAuth client, guest issuer or peer
    /// address: `PER_SECOND[:BURST]`.
    #[arg(long, env = "WEBEX_TOKEN_RATE", default_value = "10:50")]
    pub token_rate: webex_server::limits::RateLimit,
    /// SIP domain of meeting addresses (`name@<domain>`); not three labels
    /// (the official SDK sends meeting info for those to the host itself).
    #[arg(long, env = "WEBEX_SIP_DOMAIN", default_value = webex_server::config::DEFAULT_SIP_DOMAIN)]
    pub sip_domain: String,
    /// Seconds an empty meeting stays active before it ends.
    #[arg(long, env = "WEBEX_LOCUS_IDLE_GRACE", default_value_t = 10)]
    pub locus_idle_grace: u64,
    /// Serve HTTPS/WSS with this PEM certificate chain (needs `--tls-key`).
    #[arg(long, env = "WEBEX_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "WEBEX_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Longest time from a request head's first byte to its last (and for
    /// a new connection, from accepting it), e.g. `10s`.
    #[arg(long, env = "WEBEX_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body, e.g. `30s`.
    #[arg(long, env = "WEBEX_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// How long an idle keep-alive connection waits for its next request.
    /// Websockets are not affected (Mercury pings them: see
    /// `--mercury-ping-interval`).
    #[arg(long, env = "WEBEX_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// The server pings a Mercury websocket it has not heard from for this
    /// long, and closes it (1000 `idle`) after twice this long, e.g. `30s`.
    #[arg(long, env = "WEBEX_MERCURY_PING_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub mercury_ping_interval: Duration,
    /// Ended meetings and unused ad-hoc meeting spaces older than this are
    /// deleted, e.g. `30d` (`0s`: kept forever). Personal rooms stay.
    #[arg(long, env = "WEBEX_MEETING_RETENTION", default_value = "30d", value_parser = humantime::parse_duration)]
    pub meeting_retention: Duration,
    /// Most open connections, websockets included (0: no cap).
    #[arg(long, env = "WEBEX_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most open connections per peer IP address, websockets included (0: no
    /// cap). Trusted proxies (--trusted-proxy) are exempt.
    #[arg(long, env = "WEBEX_MAX_CONNECTIONS_PER_PEER", default_value_t = 512)]
    pub max_connections_per_peer: usize,
    /// A reverse proxy (IP address or CIDR range; repeat, or comma-separate
    /// in the variable) whose `X-Forwarded-For` names the client: rate
    /// limits, the admin lockout and logs then count the client, not the
    /// proxy. Others' `X-Forwarded-For` is ignored.
    #[arg(long = "trusted-proxy", env = "WEBEX_TRUSTED_PROXIES", value_delimiter = ',', value_parser = webex_server::proxy::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub quirks: QuirkArgs,
    /// Key signing meetingInfo's `permissionToken`s (which joins by address
    /// require). Default: the deployment's own key, made by the first node
    /// on the database and shared by every node on it.
    #[arg(long, env = "WEBEX_PERMISSION_TOKEN_SECRET", hide_env_values = true)]
    pub permission_token_secret: Option<String>,
    #[command(flatten)]
    pub media: MediaArgs,
}

/// Meeting media (`webex serve`): the media engine's UDP socket and caps.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Media")]
pub struct MediaArgs {
    /// Meeting media (audio and video between participants, for the
    /// official SDK's `addMedia()`): `on` or `off`.
    #[arg(long = "media", env = "WEBEX_MEDIA", default_value = "on", value_parser = ["on", "off"])]
    pub mode: String,
    /// The media engine's UDP socket (every session shares it). Default:
    /// the IP of `--listen`, a free port.
    #[arg(long, env = "WEBEX_MEDIA_LISTEN")]
    pub media_listen: Option<std::net::SocketAddr>,
    /// The IP clients reach the media socket at, written into the
    /// answers' candidates. Required when the socket listens on 0.0.0.0
    /// or behind NAT (media is off otherwise).
    #[arg(long, env = "WEBEX_MEDIA_PUBLIC_ADDRESS")]
    pub media_public_address: Option<std::net::IpAddr>,
    /// Most media sessions on this node.
    #[arg(long, env = "WEBEX_MEDIA_MAX_SESSIONS", default_value_t = 1000)]
    pub media_max_sessions: usize,
    /// Most participants with media in one meeting (from three on, audio
    /// is mixed and video follows the active speaker).
    #[arg(long, env = "WEBEX_MEDIA_MAX_PER_MEETING", default_value_t = 25, value_parser = clap::value_parser!(u16).range(2..=100))]
    pub media_max_per_meeting: u16,
    /// The TURN server handed to clients by TURN discovery (`turn:host:port`).
    /// Default: none (clients reach the media socket directly).
    #[arg(long, env = "WEBEX_TURN_URL", requires_all = ["turn_username", "turn_password"])]
    pub turn_url: Option<String>,
    /// The TURN user name.
    #[arg(long, env = "WEBEX_TURN_USERNAME")]
    pub turn_username: Option<String>,
    /// The TURN password.
    #[arg(long, env = "WEBEX_TURN_PASSWORD", hide_env_values = true)]
    pub turn_password: Option<String>,
}

impl MediaArgs {
    /// The server's media settings.
    pub fn to_settings(&self) -> webex_server::config::MediaSettings {
        let mut m = webex_server::config::MediaSettings::default();
        m.enabled = self.mode == "on";
        m.listen = self.media_listen;
        m.public_address = self.media_public_address;
        m.max_sessions = self.media_max_sessions;
        m.max_per_meeting = usize::from(self.media_max_per_meeting);
        m.turn = match (&self.turn_url, &self.turn_username, &self.turn_password) {
            (Some(url), Some(username), Some(password)) => Some(webex_wire::roap::TurnServer {
                url: url.clone(),
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        };
        m
    }
}

/// `--cloud-quirks`, shared by `serve` and `demo`.
#[derive(Debug, Clone, Default, Args)]
pub struct QuirkArgs {
    /// Answer like the cloud where that costs clients a round trip, for
    /// testing clients (comma-separated, repeatable): `locus-redirect` (a
    /// join asking `alternateRedirect=true` first gets `404 {errorCode:
    /// 2000002, location}` naming the same URL), `cisco-location` (a
    /// request with `cisco-no-http-redirect: true` first gets a
    /// `cisco-location` header naming the same URL), `all`. Each redirects
    /// once per request; nothing is stored.
    #[arg(long, env = "WEBEX_CLOUD_QUIRKS", value_enum, value_delimiter = ',')]
    pub cloud_quirks: Vec<CloudQuirkArg>,
}

impl QuirkArgs {
    /// The server's setting for these flags.
    pub fn to_config(&self) -> webex_server::quirks::CloudQuirks {
        use webex_server::quirks::{CloudQuirk, CloudQuirks};
        self.cloud_quirks
            .iter()
            .flat_map(|q| match q {
                CloudQuirkArg::LocusRedirect => vec![CloudQuirk::LocusRedirect],
                CloudQuirkArg::CiscoLocation => vec![CloudQuirk::CiscoLocation],
                CloudQuirkArg::All => vec![CloudQuirk::LocusRedirect, CloudQuirk::CiscoLocation],
            })
            .collect::<CloudQuirks>()
    }
}

/// One value of `--cloud-quirks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudQuirkArg {
    /// Joins asking `alternateRedirect=true` get one Locus `2000002` redirect.
    LocusRedirect,
    /// Requests with `cisco-no-http-redirect: true` get one `cisco-location`.
    CiscoLocation,
    /// Every quirk.
    All,
}

/// `webex token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a person (when missing) and print one access token on stdout.
    Create(TokenCreateArgs),
}

/// `webex token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The person's email; created with its org (named after the domain) when missing.
    #[arg(long)]
    pub email: String,
    /// Kind of identity.
    #[arg(long = "type", default_value = "person", value_parser = parse_person_type)]
    pub kind: PersonType,
    /// Lifetime, e.g. `12h`, `30m` (default: never expires).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,
    /// Region tag in the token (`<secret>_<region>_<orgId>`).
    #[arg(long, default_value = "PF84", hide = true)]
    pub region: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `webex oauth-client …`.
#[derive(Debug, Subcommand)]
pub enum OAuthClientCommand {
    /// Register an integration; prints `client_id=…` and `client_secret=…`.
    Create(OAuthClientCreateArgs),
}

/// `webex oauth-client create`.
#[derive(Debug, Args)]
pub struct OAuthClientCreateArgs {
    /// Name shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// Allowed redirect URI (repeatable; matched exactly).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request, space separated.
    #[arg(long, default_value = "spark:all spark:kms")]
    pub scopes: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `webex guest-issuer …`.
#[derive(Debug, Subcommand)]
pub enum GuestIssuerCommand {
    /// Create a guest issuer; prints `issuer_id=…` and the base64 `secret=…`.
    Create(GuestIssuerCreateArgs),
}

/// `webex guest-issuer create`.
#[derive(Debug, Args)]
pub struct GuestIssuerCreateArgs {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Org (by name) the guests belong to; created when missing.
    #[arg(long, default_value = "guests.invalid")]
    pub org: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

fn parse_person_type(s: &str) -> Result<PersonType, String> {
    s.parse()
}

/// How the SDK reaches Webex (or a self-hosted server) and who it is.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of a self-hosted server, e.g. `http://127.0.0.1:8080`
    /// (default: Webex's cloud).
    #[arg(long, env = "WEBEX_SERVER")]
    pub server: Option<String>,
    /// U2C discovery URL; overrides `--server`.
    #[arg(long, env = "WEBEX_DISCOVERY_URL")]
    pub discovery: Option<String>,
    /// Access token.
    #[arg(long, env = "WEBEX_ACCESS_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Device name; devices with this name are this app's own and are reused.
    #[arg(long, default_value = "webex-cli")]
    pub device_name: String,
}

impl ClientArgs {
    /// The discovery URL to use, if not Webex's default.
    pub fn discovery_url(&self) -> Option<String> {
        self.discovery.clone().or_else(|| {
            self.server
                .as_ref()
                .map(|s| format!("{}/u2c/api/v1", s.trim_end_matches('/')))
        })
    }
}

/// `webex register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Remember the device in this file so the next run reuses it.
    #[arg(long)]
    pub device_file: Option<std::path::PathBuf>,
}

/// `webex devices …`.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Print the user's devices: id, name, model, last refresh.
    List(ClientArgs),
    /// Delete devices by id (a device already gone counts as deleted).
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Device ids or URLs.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// `webex meetings …`.
#[derive(Debug, Subcommand)]
pub enum MeetingsCommand {
    /// Register, sync, print the user's active meetings, unregister.
    List(ClientArgs),
    /// Join a meeting, print roster changes as they happen, leave on Ctrl-C.
    Join {
        #[command(flatten)]
        client: ClientArgs,
        /// SIP URI, a person's email (their personal room), meeting number
        /// or join link.
        destination: String,
        /// Print one JSON object per line instead of text: `joined`,
        /// `members:update`, `meeting:stateChange`, `meeting:self:left`,
        /// `meeting:removed` and `left`, each with `event`, `atMs` and the
        /// full roster in `members` (each `{id, personId, name, email, status,
        /// isHost, isSelf, isAudioMuted, isVideoMuted}`); with media, also
        /// the SDK's `meeting:media:*` events and `media:stats` once a
        /// second. Stdin lines are then commands: `mute-audio`,
        /// `unmute-audio`, `mute-video`, `unmute-video`, `leave`.
        #[arg(long)]
        json: bool,
        /// Leave by itself this long after joining (after media is
        /// connected, with media), e.g. `6s`.
        #[arg(long, value_parser = humantime::parse_duration)]
        leave_after: Option<Duration>,
        #[command(flatten)]
        media: MediaFlags,
    },
    /// Let people waiting in the lobby of a meeting you host in (host
    /// only; joins from this device first when you are not in it).
    Admit {
        #[command(flatten)]
        client: ClientArgs,
        /// SIP URI, email, meeting number, join link, or Locus URL.
        target: String,
        /// Who to let in: emails, person ids or member ids (default:
        /// everyone waiting).
        who: Vec<String>,
    },
    /// End a meeting for everyone (host only).
    End {
        #[command(flatten)]
        client: ClientArgs,
        /// SIP URI, email, meeting number, join link, or Locus URL.
        target: String,
    },
}

/// Media of `webex meetings join`; without any of these, no media.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Media")]
pub struct MediaFlags {
    /// Send a generated tone of this frequency (Hz).
    #[arg(long, value_name = "HZ", conflicts_with_all = ["send_audio", "receive_only"])]
    pub tone: Option<f32>,
    /// Send this Ogg Opus file (e.g. from `opusenc` or `--record-audio`),
    /// looped, each packet when the previous one's duration has passed.
    #[arg(long, value_name = "FILE.ogg", conflicts_with = "receive_only")]
    pub send_audio: Option<std::path::PathBuf>,
    /// Send this H.264 Annex B elementary stream, split into access units,
    /// looped, at `--video-fps`.
    #[arg(long, value_name = "FILE.h264", conflicts_with = "receive_only")]
    pub send_video: Option<std::path::PathBuf>,
    /// Frames per second of `--send-video`.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub video_fps: u32,
    /// Media in, nothing out.
    #[arg(long)]
    pub receive_only: bool,
    /// Record the remote (mixed) audio into this Ogg Opus file.
    #[arg(long, value_name = "OUT.ogg")]
    pub record_audio: Option<std::path::PathBuf>,
    /// Record the remote main video into this H.264 Annex B file (from its
    /// first keyframe).
    #[arg(long, value_name = "OUT.h264")]
    pub record_video: Option<std::path::PathBuf>,
    /// Media only through the TURN server the media server hands out (for
    /// networks that block direct UDP); without it, TURN is a fallback.
    #[arg(long)]
    pub force_turn: bool,
}

impl MediaFlags {
    /// Whether any flag asks for media.
    pub fn wanted(&self) -> bool {
        self.tone.is_some()
            || self.send_audio.is_some()
            || self.send_video.is_some()
            || self.receive_only
            || self.record_audio.is_some()
            || self.record_video.is_some()
    }
}

/// `webex media …`.
#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// What a file holds: for `.ogg` (Ogg Opus) packets, duration, level
    /// and dominant frequency; for `.h264` (Annex B) access units,
    /// keyframes and picture size.
    Info {
        /// The file.
        file: std::path::PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `webex admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the server.
    #[arg(
        long,
        env = "WEBEX_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// The server's admin token (`webex serve --admin-token`; `webex serve
    /// --dev` prints one).
    #[arg(long, env = "WEBEX_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,
    /// Print the server's JSON answer as it is instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to ask.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `webex admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Live Mercury sockets (every node's, with Redis).
    Connections {
        /// Only this device's sockets.
        #[arg(long)]
        device_id: Option<String>,
        /// Only this person's sockets.
        #[arg(long)]
        person_id: Option<String>,
    },
    /// Active meetings with their participants; `meetings end LOCUS_ID`
    /// ends one for everyone.
    Meetings {
        /// Most meetings to list (1–1000).
        #[arg(long)]
        limit: Option<u32>,
        /// `end`, or nothing to list.
        #[command(subcommand)]
        command: Option<AdminMeetingsCommand>,
    },
    /// This node's media sessions.
    MediaSessions,
    /// Events to a device's or a person's sockets.
    #[command(subcommand)]
    Events(AdminEventsCommand),
    /// Access tokens.
    #[command(subcommand)]
    Tokens(AdminTokensCommand),
    /// Logs the SDKs uploaded (`clientLogs`).
    #[command(subcommand)]
    ClientLogs(AdminClientLogsCommand),
}

/// `webex admin meetings …`.
#[derive(Debug, Subcommand)]
pub enum AdminMeetingsCommand {
    /// End a meeting for everyone.
    End {
        /// Locus id (`webex admin meetings` lists them).
        locus_id: String,
    },
}

/// `webex admin events …`.
#[derive(Debug, Subcommand)]
pub enum AdminEventsCommand {
    /// Publish one event to every socket of a device or a person.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["device_id", "person_id", "email"])))]
    Publish {
        /// To this device.
        #[arg(long)]
        device_id: Option<String>,
        /// To every device of this person (id).
        #[arg(long)]
        person_id: Option<String>,
        /// To every device of the person with this email.
        #[arg(long)]
        email: Option<String>,
        /// The event's `eventType` (or give it inside `--data`).
        #[arg(long)]
        event_type: Option<String>,
        /// The event's `data`: a JSON object, e.g. `'{"text":"hi"}'`.
        #[arg(long)]
        data: Option<String>,
    },
}

/// `webex admin tokens …`.
#[derive(Debug, Subcommand)]
pub enum AdminTokensCommand {
    /// Revoke an access token; its sockets close (4401) on every node.
    Revoke {
        /// The token.
        token: String,
    },
}

/// `webex admin client-logs …`.
#[derive(Debug, Subcommand)]
pub enum AdminClientLogsCommand {
    /// Uploaded logs, newest first.
    List {
        /// Only this person's logs (id).
        #[arg(long, conflicts_with = "email")]
        person_id: Option<String>,
        /// Only the logs of the person with this email.
        #[arg(long)]
        email: Option<String>,
        /// Only logs created before this time (Unix ms; the previous
        /// page's `next`).
        #[arg(long)]
        before: Option<i64>,
        /// Logs per page (1–1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One log's record.
    Show {
        /// Log id.
        id: String,
    },
    /// A log's file, to stdout or `--output`.
    Download {
        /// Log id.
        id: String,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Delete a log.
    Delete {
        /// Log id.
        id: String,
    },
}

/// `webex demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Database for the in-process server (default: a temporary SQLite file).
    #[arg(long)]
    pub database: Option<String>,
    #[command(flatten)]
    pub quirks: QuirkArgs,
}
