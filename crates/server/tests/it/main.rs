//! Integration tests of the server's request path, driven through the router
//! in-process with correctly signed requests: checks, roles and metrics.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod access;
mod harness;
mod metrics;
mod request_path;
