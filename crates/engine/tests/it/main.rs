//! Engine integration tests on a real RocksDB in a temp dir.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod common;
mod concurrency;
mod export;
mod index;
mod load;
mod range;
mod rows;
mod stream;
mod transaction;
