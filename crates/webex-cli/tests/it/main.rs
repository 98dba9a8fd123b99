//! The `webex` binary's integration tests, one binary: a module per subject
//! and one `support` module they share. Needs `cargo build --bins` first
//! (nextest and `cargo test` build the binary for this crate's tests).

mod support;

mod admin;
mod cli;
mod crash_restart;
mod dev;
mod media;
mod meetings;
mod quirks;
mod readme;
mod sdk_sigkill;
mod two_nodes;
