//! Webex Meetings SDK for Rust (work in progress).

pub mod mercury;
