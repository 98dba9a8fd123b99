//! The integration tests of `webex-meetings`, linked into one binary: one
//! module per subject, and `support` for what they share (in-test servers,
//! quick timeouts, OAuth tokens from the real server, hang guards).

mod contract;
mod e2e;
mod lobby_e2e;
mod media;
mod meetings_e2e;
mod meetings_scripted;
mod mercury_client;
mod quirks_e2e;
mod resilience;
mod share_e2e;
mod steps_and_http;
mod support;
mod tokens;
mod warm_start;
