//! Integration tests of the server's request path, driven through the router
//! in-process with correctly signed requests: checks, roles, metrics and the
//! backup API, and the web console.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod access;
mod backup_api;
mod console;
mod harness;
mod metrics;
mod request_path;
