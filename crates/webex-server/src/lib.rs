//! A Webex-compatible server: identity and OAuth 2, the U2C service catalog,
//! the WDM device registry and Mercury websockets, on SQLite (default) or
//! PostgreSQL, with an in-process or Redis event bus.
//!
//! Start one in-process (tests, the CLI's `demo`):
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use std::net::SocketAddr;
//! use webex_server::{Server, ServerConfig};
//!
//! let listen = SocketAddr::from(([127, 0, 0, 1], 0));
//! let config = ServerConfig::new(listen, "sqlite://webex.sqlite");
//! let server = Server::start(config).await?;
//! println!("listening on {}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Tests get throwaway servers from the `testing` module (the `testing` feature, on
//! in this crate's dev-dependencies; other crates enable it in theirs). The
//! `fuzzing` feature adds a hidden `fuzzing` module: the entry points of the
//! cargo-fuzz targets in `fuzz/`.

#[cfg(all(test, not(feature = "testing")))]
compile_error!(
    "unit tests need the `testing` feature (webex-server's dev-dependency on itself turns it on)"
);

pub mod admin;
pub mod auth;
pub mod auth_cache;
pub mod body_auth;
pub mod budget;
pub mod bus;
pub mod catalog;
pub mod client_logs;
pub mod compat;
pub mod config;
pub mod connections;
pub mod delivery;
pub mod device_url;
pub mod devices;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod limits;
pub mod locus;
pub mod media;
pub mod mercury;
pub mod openapi;
pub mod ops;
pub mod proxy;
pub mod quirks;
pub mod quote;
pub mod retention;
pub mod server;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod tls;

pub use config::ServerConfig;
pub use server::{RunningServer, Server};
