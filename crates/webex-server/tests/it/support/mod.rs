//! What the server's integration tests share: the backend matrix, the
//! Webex JSON-error assertion, and a plain Mercury client with the HTTP
//! calls around it (device registration, admin API).
#![allow(dead_code)]

#[macro_use]
pub mod backends;
pub mod cluster;
pub mod json_error;
pub mod mercury;

pub use backends::on_every_backend;
pub use cluster::Cluster;
pub use json_error::{expect_json_error, json_error};
pub use mercury::*;
