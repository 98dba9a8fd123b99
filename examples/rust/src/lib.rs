//! Runnable programs for the `webex-meetings` SDK; this library is empty.
//!
//! Each file in `examples/` is one program; its header says which
//! environment variables it reads and how to run it, for instance:
//!
//! ```text
//! WEBEX_ACCESS_TOKEN=… cargo run -p webex-meetings-examples --example events
//! ```
//!
//! They live in this package, not in the SDK's own `examples/`, so that
//! building one compiles the SDK and nothing else: the SDK's dev-dependencies
//! include the server its end-to-end tests start.

/// The workspace README's Rust program, compiled as a doc test with this
/// package's dependencies only (those the README tells a reader to add).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;

/// The SDK README's programs (its recording bot), compiled the same way.
#[cfg(doctest)]
#[doc = include_str!("../../../crates/webex-meetings/README.md")]
pub struct SdkReadme;
