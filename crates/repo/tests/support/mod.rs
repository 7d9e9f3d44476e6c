//! Helpers shared by the repository's integration tests. Each test file includes this with `mod support;`
//! and uses what it needs, hence the allowance for unused items.
#![allow(dead_code)]

pub mod s3;
