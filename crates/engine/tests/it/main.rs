//! Engine integration tests on a real RocksDB in a temp dir.

mod common;
mod concurrency;
mod range;
mod rows;
mod stream;
