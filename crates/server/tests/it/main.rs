//! Integration tests of the server's request path, driven through the router
//! in-process with correctly signed requests.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod harness;
mod request_path;
