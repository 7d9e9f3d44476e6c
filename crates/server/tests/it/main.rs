//! Integration tests of the server's request path, driven through the router
//! in-process with correctly signed requests: checks, roles, metrics and the
//! backup API.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod access;
mod backup_api;
mod harness;
mod metrics;
mod request_path;
