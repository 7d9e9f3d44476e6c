//! Table definitions: the durable record of each table in the `meta` column family
//! and the in-memory map the request path reads.
//!
//! Invariants: table ids are never reused (a dropped table's rows may linger until
//! compaction without ever being seen by a new table); the in-memory map changes only
//! after the `meta` write that records the change is durable.

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{ReservedThroughput, StreamSpec, TableOptions, TableSchema};

use crate::error::EngineError;
use crate::index::IndexInfo;

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
///
/// The table's change log is on while the client's stream is enabled or the
/// server keeps it for archiving (`kept_log`); `stream_enabled_at_us` is its
/// generation, set exactly while it is on. The client sees the log as its stream
/// only while `stream.enabled`.
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
    /// Stream settings, as the client set them.
    pub stream: StreamSpec,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// When reserved throughput last changed, ms since the epoch.
    pub reserved_changed_at_ms: i64,
    /// When the change log was last turned on, µs since the epoch.
    pub stream_enabled_at_us: Option<i64>,
    /// The server keeps the change log whatever the client's stream settings
    /// (a backup plan archives the table).
    pub kept_log: bool,
    /// Secondary indexes, in creation order.
    pub indexes: Vec<IndexInfo>,
}

/// [`TableInfo`] as stored before `indexes` (postcard has no defaults: a
/// definition written then decodes only as this).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct TableInfoV2 {
    id: u32,
    schema: TableSchema,
    options: TableOptions,
    reserved: ReservedThroughput,
    stream: StreamSpec,
    created_at_ms: i64,
    reserved_changed_at_ms: i64,
    stream_enabled_at_us: Option<i64>,
    kept_log: bool,
}

/// [`TableInfo`] as stored before `kept_log`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct TableInfoV1 {
    id: u32,
    schema: TableSchema,
    options: TableOptions,
    reserved: ReservedThroughput,
    stream: StreamSpec,
    created_at_ms: i64,
    reserved_changed_at_ms: i64,
    stream_enabled_at_us: Option<i64>,
}

/// Hours a change log the server keeps for archiving holds records when the
/// client's stream does not set them (an archiver that falls further behind
/// than this leaves a gap).
pub const KEPT_LOG_HOURS: i32 = 24;

impl TableInfo {
    /// The stream id the client sees: the change log's id while the client's
    /// stream is enabled.
    pub fn stream_id(&self) -> Option<String> {
        self.stream.enabled.then(|| self.change_log_id()).flatten()
    }

    /// The change log's id while it is on (client stream or kept for archiving):
    /// stable for one generation.
    pub fn change_log_id(&self) -> Option<String> {
        self.stream_enabled_at_us.map(|at| format!("{}_{}", self.schema.name, at))
    }

    /// Hours the change log keeps records.
    pub fn change_log_hours(&self) -> i32 {
        if self.stream.enabled {
            self.stream.expiration_hours.max(1)
        } else {
            KEPT_LOG_HOURS
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
        if let Ok(info) = postcard::from_bytes(bytes) {
            return Ok(info);
        }
        let v2 = match postcard::from_bytes::<TableInfoV2>(bytes) {
            Ok(v2) => v2,
            Err(_) => {
                let v1: TableInfoV1 = postcard::from_bytes(bytes)
                    .map_err(|e| EngineError::Corrupt { detail: format!("table definition: {e}") })?;
                TableInfoV2 {
                    id: v1.id,
                    schema: v1.schema,
                    options: v1.options,
                    reserved: v1.reserved,
                    stream: v1.stream,
                    created_at_ms: v1.created_at_ms,
                    reserved_changed_at_ms: v1.reserved_changed_at_ms,
                    stream_enabled_at_us: v1.stream_enabled_at_us,
                    kept_log: false,
                }
            }
        };
        Ok(TableInfo {
            id: v2.id,
            schema: v2.schema,
            options: v2.options,
            reserved: v2.reserved,
            stream: v2.stream,
            created_at_ms: v2.created_at_ms,
            reserved_changed_at_ms: v2.reserved_changed_at_ms,
            stream_enabled_at_us: v2.stream_enabled_at_us,
            kept_log: v2.kept_log,
            indexes: Vec::new(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_stored_before_kept_logs_still_reads() {
        let v1 = TableInfoV1 {
            id: 7,
            schema: TableSchema { name: "t".into(), primary_key: vec![], defined_columns: vec![] },
            options: TableOptions::default(),
            reserved: ReservedThroughput::default(),
            stream: StreamSpec { enabled: true, expiration_hours: 3, columns_to_get: vec![] },
            created_at_ms: 1,
            reserved_changed_at_ms: 2,
            stream_enabled_at_us: Some(5),
        };
        let info = TableInfo::decode(&postcard::to_stdvec(&v1).unwrap()).unwrap();
        assert_eq!((info.id, info.stream_enabled_at_us, info.kept_log), (7, Some(5), false));
        assert_eq!(info.change_log_id().as_deref(), Some("t_5"));
        let kept = TableInfo { kept_log: true, ..info };
        assert_eq!(TableInfo::decode(&kept.encode()).unwrap(), kept);
    }

    #[test]
    fn a_definition_stored_before_indexes_still_reads() {
        let v2 = TableInfoV2 {
            id: 9,
            schema: TableSchema { name: "t".into(), primary_key: vec![], defined_columns: vec![] },
            options: TableOptions::default(),
            reserved: ReservedThroughput::default(),
            stream: StreamSpec::default(),
            created_at_ms: 1,
            reserved_changed_at_ms: 2,
            stream_enabled_at_us: None,
            kept_log: true,
        };
        let info = TableInfo::decode(&postcard::to_stdvec(&v2).unwrap()).unwrap();
        assert_eq!((info.id, info.kept_log, info.indexes.len()), (9, true, 0));
    }
}
