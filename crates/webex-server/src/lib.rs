//! A Webex-compatible server: identity and OAuth 2, the U2C service catalog,
//! the WDM device registry and Mercury websockets, on SQLite (default) or
//! PostgreSQL, with an in-process or Redis event bus.
//!
//! Start one in-process (tests, the CLI's `demo`):
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use webex_server::{Server, ServerConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let config = ServerConfig::for_tests(&dir.path().join("webex.sqlite"));
//! let server = Server::start(config).await?;
//! println!("listening on {}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod auth_cache;
pub mod bus;
pub mod catalog;
pub mod client_logs;
pub mod compat;
pub mod config;
pub mod devices;
pub mod error;
pub mod http;
pub mod identity;
pub mod limits;
pub mod locus;
pub mod mercury;
pub mod ops;
pub mod server;
pub mod state;
pub mod store;
pub mod testing;
pub mod time;
pub mod tls;

pub use config::ServerConfig;
pub use server::{RunningServer, Server};
