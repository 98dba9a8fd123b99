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
