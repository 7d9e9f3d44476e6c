//! The Tablestore wire protocol as TableSafe speaks it: protobuf messages, the
//! PlainBuffer row codec, filters, request and response signing, and the table of
//! Tablestore error codes. Pure: no I/O, no async runtime, no HTTP types.
//!
//! Layout:
//! - [`model`]: the typed row model every crate shares (keys, values, cells, rows,
//!   filters, table definitions).
//! - [`convert`]: model <-> protobuf conversions shared by the server and the client.
//! - [`pb`]: prost messages generated at build time from `proto/*.proto` (no system protoc).
//! - [`plainbuffer`]: PlainBuffer encode/decode with CRC8 checks.
//! - [`filter`]: serialized `Filter` bytes <-> [`model::Filter`].
//! - [`sign`]: V2/V4 request signatures and the response signature SDKs verify.
//! - [`stream`]: TableSafe shard iterators (stream positions) shared by server and tools.
//! - [`error`]: this crate's error type and the Tablestore error-code table.
//! - [`backup_api`]: the JSON messages of TableSafe's backup management actions.

pub mod backup_api;
pub mod convert;
pub mod error;
pub mod filter;
pub mod model;
pub mod plainbuffer;
pub mod sign;
pub mod stream;

/// Protobuf messages of the table, row, batch, range, split-point and stream APIs.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/tablesafe.pb.rs"));
}

pub use error::{ErrorCode, ProtoError};
