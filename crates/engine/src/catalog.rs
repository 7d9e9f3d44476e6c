//! Table definitions: the durable record of each table in the `meta` column family
//! and the in-memory map the request path reads.
//!
//! Invariants: table ids are never reused (a dropped table's rows may linger until
//! compaction without ever being seen by a new table); the in-memory map changes only
//! after the `meta` write that records the change is durable.

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{ReservedThroughput, StreamSpec, TableOptions, TableSchema};

use crate::error::EngineError;

/// Key of the next table id in the `meta` column family.
pub(crate) const NEXT_TABLE_ID_KEY: &[u8] = b"next_table_id";

/// Key of a table's definition in the `meta` column family.
pub(crate) fn table_key(name: &str) -> Vec<u8> {
    let mut key = b"table/".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// Key of a table's auto-increment counter in the `meta` column family.
pub(crate) fn autoinc_key(table_id: u32) -> Vec<u8> {
    let mut key = b"autoinc/".to_vec();
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// Everything the engine knows about a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// Internal id, the prefix of every row key.
    pub id: u32,
    /// Name and primary key.
    pub schema: TableSchema,
    /// TTL, versions, time deviation.
    pub options: TableOptions,
    /// Reserved capacity (reported, not enforced).
    pub reserved: ReservedThroughput,
    /// Stream settings.
    pub stream: StreamSpec,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// When reserved throughput last changed, ms since the epoch.
    pub reserved_changed_at_ms: i64,
    /// When the stream was last enabled, µs since the epoch.
    pub stream_enabled_at_us: Option<i64>,
}

impl TableInfo {
    /// The stream id when the stream is on: stable for one enabling of the stream.
    pub fn stream_id(&self) -> Option<String> {
        match (self.stream.enabled, self.stream_enabled_at_us) {
            (true, Some(at)) => Some(format!("{}_{}", self.schema.name, at)),
            _ => None,
        }
    }

    /// The names of the primary key columns, in order.
    pub fn pk_names(&self) -> Vec<&str> {
        self.schema.primary_key.iter().map(|c| c.name.as_str()).collect()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<TableInfo, EngineError> {
        postcard::from_bytes(bytes).map_err(|e| EngineError::Corrupt { detail: format!("table definition: {e}") })
    }
}

/// Checks table options given to CreateTable or UpdateTable.
pub(crate) fn check_options(options: &TableOptions) -> Result<(), EngineError> {
    if options.time_to_live == 0 || options.time_to_live < -1 {
        return Err(EngineError::invalid("TimeToLive cannot be 0 or less than -1."));
    }
    if options.max_versions <= 0 {
        return Err(EngineError::invalid("MaxVersions must be greater than 0."));
    }
    if options.max_time_deviation <= 0 {
        return Err(EngineError::invalid("MaxTimeDeviation must be greater than 0."));
    }
    Ok(())
}

/// Checks stream settings.
pub(crate) fn check_stream(stream: &StreamSpec) -> Result<(), EngineError> {
    if stream.enabled && !(1..=168).contains(&stream.expiration_hours) {
        return Err(EngineError::invalid("The expiration time of a stream must be in range [1, 168] hours."));
    }
    Ok(())
}
