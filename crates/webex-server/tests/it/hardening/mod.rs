//! Issues 14 and 20: what an attacker tried, and what the server does now. One
//! module per defect; each test failed before its fix.
#![allow(clippy::unwrap_used)]

mod support;

mod bodies;
mod budgets;
mod connections;
mod echo;
mod etag;
mod grants;
mod guests;
mod keepalive;
mod limiters;
mod meeting_info;
mod retention;
mod websocket;
