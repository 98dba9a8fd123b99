//! What the server's integration tests share: the backend matrix, the
//! Webex JSON-error assertion, a plain Mercury client with the HTTP
//! calls around it (device registration, admin API), meetings over HTTP
//! (`locus`), and a private Redis a test may freeze, kill or cut off
//! (`redis`).
#![allow(dead_code)]

#[macro_use]
pub mod backends;
pub mod cluster;
pub mod json_error;
pub mod locus;
pub mod mercury;
pub mod redis;

pub use backends::on_every_backend;
pub use cluster::Cluster;
pub use json_error::{expect_json_error, json_error};
pub use mercury::*;
