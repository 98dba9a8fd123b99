//! Command-line syntax of `webex bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// `webex bench [options] <scenario>`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// How the server under test runs.
    #[arg(long, value_enum, default_value_t = ServerMode::Child, global = true)]
    pub server: ServerMode,
    /// The `webex` binary started as the server (default: this executable).
    #[arg(long, global = true)]
    pub webex_bin: Option<PathBuf>,
    /// Repetitions of the scenario; the report gives each run and the median.
    #[arg(long, default_value_t = 3, global = true)]
    pub runs: usize,
    /// `RUST_LOG` of a child server.
    #[arg(long, default_value = "warn", global = true)]
    pub server_log: String,
    /// PostgreSQL server (a fresh database is created and dropped per run).
    #[arg(
        long,
        env = "WEBEX_TEST_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub postgres: Option<String>,
    /// Redis, for two nodes.
    #[arg(
        long,
        env = "WEBEX_TEST_REDIS_URL",
        hide_env_values = true,
        global = true
    )]
    pub redis: Option<String>,
}

/// Where the server under test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerMode {
    /// A `webex serve` child process, measured alone.
    Child,
    /// In this process (memory/CPU figures include the load generator).
    InProcess,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// 1. Register/unregister latency of the Rust SDK (and of the bare
    ///    protocol), sequential cycles.
    Register {
        /// Timed cycles per client and run.
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// Untimed cycles first.
        #[arg(long, default_value_t = 50)]
        warmup: usize,
    },
    /// 2. Registrations/s (POST + DELETE device) vs `/healthz` requests/s,
    ///    on SQLite and (when configured) PostgreSQL.
    Throughput {
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Measured time per phase.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Warm-up per phase.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        warmup: Duration,
    },
    /// 3. N idle authenticated Mercury sockets: server RSS per socket, idle CPU.
    Connections {
        /// Socket counts, one run each per repetition.
        #[arg(long, value_delimiter = ',', default_value = "10000,50000,100000")]
        counts: Vec<usize>,
        /// Devices per person.
        #[arg(long, default_value_t = 100)]
        devices_per_person: usize,
        /// Client ping interval.
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        ping_interval: Duration,
        /// CPU measuring window once all sockets are open.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        idle: Duration,
    },
    /// 4. Event fan-out on one node: delivery latency and messages/s.
    Fanout(FanoutArgs),
    /// 5. Fan-out with sockets on one node and publishes on another
    ///    (PostgreSQL + Redis required).
    TwoNodes(FanoutArgs),
    /// 6. Register/unregister through a proxy adding round-trip time: the
    ///    Rust SDK (cold start, warm start, warm after unregister) and the
    ///    official JS SDK in Node, over TCP and TLS.
    Latency {
        /// Added round-trip times in milliseconds.
        #[arg(long = "rtt", value_delimiter = ',', default_value = "0,20,50,150")]
        rtts_ms: Vec<u64>,
        /// Timed cycles per client, RTT and transport.
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        /// Transports: `tcp`, `tls` or both.
        #[arg(long, value_delimiter = ',', default_value = "tcp,tls", value_parser = ["tcp", "tls"])]
        transports: Vec<String>,
        /// Where `compat/js-sdk` is (the official SDK runs when its
        /// `node_modules` is installed; `none` skips it).
        #[arg(long, default_value = "compat/js-sdk")]
        js_sdk: PathBuf,
    },
    /// 7. Fan-out floor: the fan-out load generator against a minimal
    ///    broadcast server (tokio + tungstenite, no auth, pre-serialized
    ///    frames), then against `webex serve`; ours as a share of the floor.
    FanoutFloor(FanoutArgs),
    /// 8. One large meeting (join, converge, churn) and many small ones.
    Meeting(crate::meeting::MeetingArgs),
    /// 10. Media forwarding and mixing: meetings of str0m clients sending
    ///     Opus and H.264 through the server's engine (from three people on
    ///     audio is mixed), against a bare UDP relay (the floor) in the same
    ///     run: frames/s, added latency, CPU, mixing CPU; or `--capacity`.
    Media(crate::media::MediaArgs),
    /// Every scenario, tiny and quick (seconds); PostgreSQL/Redis parts run
    /// only when configured.
    Smoke,
    /// Runs the fan-out floor server until Ctrl-C (how `fanout-floor`
    /// starts it as a child process).
    #[command(hide = true)]
    FloorServe,
    /// Runs the media floor's UDP relay until Ctrl-C (how `media` starts
    /// it as a child process).
    #[command(hide = true)]
    MediaFloorServe,
}

/// Parameters of the fan-out scenarios.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Sockets.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Devices per person: each event reaches this many sockets.
    #[arg(long, default_value_t = 100)]
    pub devices_per_person: usize,
    /// Publishing time per run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent publish requests.
    #[arg(long, default_value_t = 8)]
    pub publishers: usize,
    /// Most deliveries outstanding (0: one per socket).
    #[arg(long, default_value_t = 0)]
    pub window: usize,
}
