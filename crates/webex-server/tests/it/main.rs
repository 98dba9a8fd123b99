//! The server's integration tests, one binary: a module per subject and one
//! `support` module they share (backend matrix, JSON-error assertion,
//! Mercury client). Needs the `testing` feature, which webex-server's
//! dev-dependency on itself turns on.

#[macro_use]
mod support;

mod access_control;
mod bus_redis;
mod bus_redis_outage;
mod bus_redis_resync;
mod catalog_ops;
mod client_logs;
mod devices;
mod hardening;
mod identity;
mod limits;
mod locus;
mod media;
mod mercury;
mod mercury_fuzz;
mod rooms;
mod share;
mod soak;
mod strict;
mod tls;
