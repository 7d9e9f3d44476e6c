//! Integration tests of the client against a real TableSafe server started
//! in-process (`harness`), with a programmable HTTP proxy (`proxy`) for the
//! integrity and retry tests. `backup` also runs the backup service.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod backup;
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
