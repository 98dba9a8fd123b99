//! `webex bench`: benchmarks of the Webex-compatible server and the Rust
//! SDK, every scenario one command, results as Markdown on stdout.
//!
//! | scenario | command |
//! |---|---|
//! | 1. register latency (client side) | `webex bench register` |
//! | 2. registration throughput (server side) | `webex bench throughput` |
//! | 3. idle connections held | `webex bench connections` |
//! | 4. event fan-out | `webex bench fanout` |
//! | 5. two nodes (PostgreSQL + Redis) | `webex bench two-nodes` |
//! | 6. register over a link with latency | `webex bench latency` |
//! | 7. fan-out against its floor | `webex bench fanout-floor` |
//! | 8. meetings: one large, many small | `webex bench meeting` |
//! | 10. media forwarding and mixing (meetings of 2 to 50, many at once) against a bare UDP relay; the largest load one core holds | `webex bench media`, `webex bench media --capacity` |
//! | all of them, tiny and quick | `webex bench smoke` |
//!
//! The server under test is a `webex serve` child process by default (its
//! memory and CPU are read from `/proc/<pid>`), or runs in this process with
//! `--server in-process`. PostgreSQL and Redis come from `--postgres` /
//! `--redis` (or `WEBEX_TEST_DATABASE_URL` / `WEBEX_TEST_REDIS_URL`); a
//! fresh database is created and dropped per run. Only 127.0.0.0/8 is
//! used; every run is bounded in time and connections and stops by itself.
//!
//! ```no_run
//! # async fn go() -> Result<(), webex_bench::BenchError> {
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     bench: webex_bench::BenchArgs,
//! }
//! let cli = Cli::parse_from(["bench", "--server", "in-process", "smoke"]);
//! println!("{}", webex_bench::run(cli.bench).await?);
//! # Ok(()) }
//! ```

pub mod args;
pub mod connections;
pub mod error;
pub mod fanout;
pub mod fixtures;
pub mod floor;
pub mod latency;
pub mod limits;
pub mod load;
pub mod media;
pub mod media_capacity;
pub mod media_floor;
mod media_report;
mod media_setup;
pub mod meeting;
mod meeting_report;
pub mod progress;
pub mod proxy;
pub mod register;
pub mod report;
pub mod roster;
mod scenarios;
pub mod socket;
pub mod stats;
pub mod target;
pub mod throughput;

pub use args::{BenchArgs, Scenario, ServerMode};
pub use error::{BenchError, BenchResult};

/// Runs the scenario `args` names; returns its report as Markdown.
pub async fn run(args: BenchArgs) -> BenchResult<String> {
    scenarios::run(args).await
}
