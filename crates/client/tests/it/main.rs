//! Integration tests of the client against a real TableSafe server started
//! in-process (`harness`), with a programmable HTTP proxy (`proxy`) for the
//! integrity and retry tests.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod batch;
mod errors;
mod harness;
mod integrity;
mod proxy;
mod range;
mod requests;
mod retry;
mod roles;
mod rows;
mod stream_follow;
mod stream_smoke;
mod tables;
