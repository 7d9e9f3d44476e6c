//! Conversions between the shared row model ([`crate::model`]) and the protobuf
//! messages ([`crate::pb`]) that both ends of the wire need: the server decodes
//! requests with them and the client encodes requests with them (and the reverse for
//! responses), so the two cannot drift apart.
//!
//! Invariants:
//! - Every function here is total. Enum decoders return `None` for a number the model
//!   has no variant for (including `PK_BOOLEAN`, which TableSafe does not support) and
//!   leave the wording of the error to the caller, because the server must answer with
//!   the service's exact messages.
//! - Absent optional fields decode to the service's defaults (reference 3.2/3.3), the
//!   same defaults [`TableOptions::default`] holds.

use crate::model::{
    Condition, DefinedColumnSchema, DefinedColumnType, IndexMeta, IndexType, IndexUpdateMode, PrimaryKeySchema,
    PrimaryKeyType, ReservedThroughput, RowExistence, StreamSpec, TableOptions, TableSchema, TimeRange,
};
use crate::{filter, pb};

/// The wire enum of a primary key type.
pub fn pk_type_to_pb(key_type: PrimaryKeyType) -> pb::PrimaryKeyType {
    match key_type {
        PrimaryKeyType::Integer => pb::PrimaryKeyType::Integer,
        PrimaryKeyType::String => pb::PrimaryKeyType::String,
        PrimaryKeyType::Binary => pb::PrimaryKeyType::Binary,
    }
}

/// The primary key type of a wire enum number; `None` for unknown numbers and for
/// `PK_BOOLEAN`.
pub fn pk_type_from_pb(value: i32) -> Option<PrimaryKeyType> {
    match pb::PrimaryKeyType::try_from(value) {
        Ok(pb::PrimaryKeyType::Integer) => Some(PrimaryKeyType::Integer),
        Ok(pb::PrimaryKeyType::String) => Some(PrimaryKeyType::String),
        Ok(pb::PrimaryKeyType::Binary) => Some(PrimaryKeyType::Binary),
        Ok(pb::PrimaryKeyType::PkBoolean) | Err(_) => None,
    }
}

/// The wire enum of a defined column type.
pub fn defined_type_to_pb(column_type: DefinedColumnType) -> pb::DefinedColumnType {
    match column_type {
        DefinedColumnType::Integer => pb::DefinedColumnType::DctInteger,
        DefinedColumnType::Double => pb::DefinedColumnType::DctDouble,
        DefinedColumnType::Boolean => pb::DefinedColumnType::DctBoolean,
        DefinedColumnType::String => pb::DefinedColumnType::DctString,
        DefinedColumnType::Binary => pb::DefinedColumnType::DctBlob,
    }
}

/// The defined column type of a wire enum number; `None` for unknown numbers.
pub fn defined_type_from_pb(value: i32) -> Option<DefinedColumnType> {
    match pb::DefinedColumnType::try_from(value) {
        Ok(pb::DefinedColumnType::DctInteger) => Some(DefinedColumnType::Integer),
        Ok(pb::DefinedColumnType::DctDouble) => Some(DefinedColumnType::Double),
        Ok(pb::DefinedColumnType::DctBoolean) => Some(DefinedColumnType::Boolean),
        Ok(pb::DefinedColumnType::DctString) => Some(DefinedColumnType::String),
        Ok(pb::DefinedColumnType::DctBlob) => Some(DefinedColumnType::Binary),
        Err(_) => None,
    }
}

/// One primary key column of a schema on the wire.
pub fn pk_schema_to_pb(column: &PrimaryKeySchema) -> pb::PrimaryKeySchema {
    pb::PrimaryKeySchema {
        name: column.name.clone(),
        r#type: pk_type_to_pb(column.key_type) as i32,
        option: column.auto_increment.then_some(pb::PrimaryKeyOption::AutoIncrement as i32),
    }
}

/// Whether a wire primary key column asks for AUTO_INCREMENT.
pub fn pk_schema_is_auto_increment(column: &pb::PrimaryKeySchema) -> bool {
    column.option == Some(pb::PrimaryKeyOption::AutoIncrement as i32)
}

/// A table schema as `TableMeta` (name, primary key, defined columns; no indexes).
pub fn schema_to_pb(schema: &TableSchema) -> pb::TableMeta {
    pb::TableMeta {
        table_name: schema.name.clone(),
        primary_key: schema.primary_key.iter().map(pk_schema_to_pb).collect(),
        defined_column: schema
            .defined_columns
            .iter()
            .map(|c: &DefinedColumnSchema| pb::DefinedColumnSchema {
                name: c.name.clone(),
                r#type: defined_type_to_pb(c.column_type) as i32,
            })
            .collect(),
        ..Default::default()
    }
}

/// An index definition from the wire; `None` for an update mode or index type
/// the model has no variant for.
pub fn index_meta_from_pb(meta: pb::IndexMeta) -> Option<IndexMeta> {
    let update_mode = match pb::IndexUpdateMode::try_from(meta.index_update_mode).ok()? {
        pb::IndexUpdateMode::IumAsyncIndex => IndexUpdateMode::Async,
        pb::IndexUpdateMode::IumSyncIndex => IndexUpdateMode::Sync,
    };
    let index_type = match pb::IndexType::try_from(meta.index_type).ok()? {
        pb::IndexType::ItGlobalIndex => IndexType::Global,
        pb::IndexType::ItLocalIndex => IndexType::Local,
    };
    Some(IndexMeta {
        name: meta.name,
        primary_key: meta.primary_key,
        defined_columns: meta.defined_column,
        update_mode,
        index_type,
    })
}

/// An index definition on the wire (as DescribeTable lists it).
pub fn index_meta_to_pb(meta: &IndexMeta) -> pb::IndexMeta {
    pb::IndexMeta {
        name: meta.name.clone(),
        primary_key: meta.primary_key.clone(),
        defined_column: meta.defined_columns.clone(),
        index_update_mode: match meta.update_mode {
            IndexUpdateMode::Async => pb::IndexUpdateMode::IumAsyncIndex,
            IndexUpdateMode::Sync => pb::IndexUpdateMode::IumSyncIndex,
        } as i32,
        index_type: match meta.index_type {
            IndexType::Global => pb::IndexType::ItGlobalIndex,
            IndexType::Local => pb::IndexType::ItLocalIndex,
        } as i32,
        index_sync_phase: None,
    }
}

/// Table options with the service's default for every absent field.
pub fn options_from_pb(options: Option<pb::TableOptions>) -> TableOptions {
    let mut out = TableOptions::default();
    if let Some(o) = options {
        out.time_to_live = o.time_to_live.unwrap_or(out.time_to_live);
        out.max_versions = o.max_versions.unwrap_or(out.max_versions);
        out.max_time_deviation = o.deviation_cell_version_in_sec.unwrap_or(out.max_time_deviation);
        out.allow_update = o.allow_update.unwrap_or(out.allow_update);
    }
    out
}

/// Table options with every field the model knows set (Go dereferences them all).
pub fn options_to_pb(options: &TableOptions) -> pb::TableOptions {
    pb::TableOptions {
        time_to_live: Some(options.time_to_live),
        max_versions: Some(options.max_versions),
        deviation_cell_version_in_sec: Some(options.max_time_deviation),
        allow_update: Some(options.allow_update),
        ..Default::default()
    }
}

/// Reserved throughput; absent fields are 0.
pub fn reserved_from_pb(reserved: Option<pb::ReservedThroughput>) -> ReservedThroughput {
    let unit = reserved.map(|r| r.capacity_unit).unwrap_or_default();
    ReservedThroughput { read: unit.read.unwrap_or(0), write: unit.write.unwrap_or(0) }
}

/// Reserved throughput with both units set.
pub fn reserved_to_pb(reserved: &ReservedThroughput) -> pb::ReservedThroughput {
    pb::ReservedThroughput {
        capacity_unit: pb::CapacityUnit { read: Some(reserved.read), write: Some(reserved.write) },
    }
}

/// Stream settings of a request; an enabled stream without an expiration keeps
/// records 24 hours, as the service does.
pub fn stream_spec_from_pb(spec: pb::StreamSpecification) -> StreamSpec {
    StreamSpec {
        enabled: spec.enable_stream,
        expiration_hours: spec.expiration_time.unwrap_or(if spec.enable_stream { 24 } else { 0 }),
        columns_to_get: spec.columns_to_get,
    }
}

/// Stream settings for a request. An expiration of 0 or less is left out so that the
/// service applies its default (the inverse of [`stream_spec_from_pb`]).
pub fn stream_spec_to_pb(spec: &StreamSpec) -> pb::StreamSpecification {
    pb::StreamSpecification {
        enable_stream: spec.enabled,
        expiration_time: (spec.expiration_hours > 0).then_some(spec.expiration_hours),
        columns_to_get: spec.columns_to_get.clone(),
    }
}

/// The wire enum of a row existence expectation.
pub fn row_existence_to_pb(existence: RowExistence) -> pb::RowExistenceExpectation {
    match existence {
        RowExistence::Ignore => pb::RowExistenceExpectation::Ignore,
        RowExistence::ExpectExist => pb::RowExistenceExpectation::ExpectExist,
        RowExistence::ExpectNotExist => pb::RowExistenceExpectation::ExpectNotExist,
    }
}

/// The row existence expectation of a wire enum number; `None` for unknown numbers.
pub fn row_existence_from_pb(value: i32) -> Option<RowExistence> {
    match pb::RowExistenceExpectation::try_from(value) {
        Ok(pb::RowExistenceExpectation::Ignore) => Some(RowExistence::Ignore),
        Ok(pb::RowExistenceExpectation::ExpectExist) => Some(RowExistence::ExpectExist),
        Ok(pb::RowExistenceExpectation::ExpectNotExist) => Some(RowExistence::ExpectNotExist),
        Err(_) => None,
    }
}

/// A write condition; the column condition travels as a serialized `Filter`.
pub fn condition_to_pb(condition: &Condition) -> pb::Condition {
    pb::Condition {
        row_existence: row_existence_to_pb(condition.row_existence) as i32,
        column_condition: condition.column_condition.as_ref().map(filter::encode_filter),
    }
}

/// A version window of a read.
pub fn time_range_to_pb(range: &TimeRange) -> pb::TimeRange {
    match *range {
        TimeRange::Range { start, end } => {
            pb::TimeRange { start_time: Some(start), end_time: Some(end), specific_time: None }
        }
        TimeRange::Specific(ts) => pb::TimeRange { start_time: None, end_time: None, specific_time: Some(ts) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_reject_unknown_numbers() {
        for t in [PrimaryKeyType::Integer, PrimaryKeyType::String, PrimaryKeyType::Binary] {
            assert_eq!(pk_type_from_pb(pk_type_to_pb(t) as i32), Some(t));
        }
        assert_eq!(pk_type_from_pb(pb::PrimaryKeyType::PkBoolean as i32), None);
        assert_eq!(pk_type_from_pb(99), None);
        for t in [
            DefinedColumnType::Integer,
            DefinedColumnType::Double,
            DefinedColumnType::Boolean,
            DefinedColumnType::String,
            DefinedColumnType::Binary,
        ] {
            assert_eq!(defined_type_from_pb(defined_type_to_pb(t) as i32), Some(t));
        }
        assert_eq!(defined_type_from_pb(5), None);
        for e in [RowExistence::Ignore, RowExistence::ExpectExist, RowExistence::ExpectNotExist] {
            assert_eq!(row_existence_from_pb(row_existence_to_pb(e) as i32), Some(e));
        }
        assert_eq!(row_existence_from_pb(3), None);
    }

    #[test]
    fn options_reserved_and_streams_round_trip() {
        let options = TableOptions { time_to_live: 3600, max_versions: 3, max_time_deviation: 60, allow_update: false };
        assert_eq!(options_from_pb(Some(options_to_pb(&options))), options);
        assert_eq!(options_from_pb(None), TableOptions::default());
        let reserved = ReservedThroughput { read: 2, write: 7 };
        assert_eq!(reserved_from_pb(Some(reserved_to_pb(&reserved))), reserved);
        let spec = StreamSpec { enabled: true, expiration_hours: 12, columns_to_get: vec!["a".into()] };
        assert_eq!(stream_spec_from_pb(stream_spec_to_pb(&spec)), spec);
        let default_expiry = StreamSpec { enabled: true, expiration_hours: 0, columns_to_get: vec![] };
        assert_eq!(stream_spec_from_pb(stream_spec_to_pb(&default_expiry)).expiration_hours, 24);
    }

    #[test]
    fn schema_keeps_auto_increment_and_defined_columns() {
        let schema = TableSchema {
            name: "t".into(),
            primary_key: vec![
                PrimaryKeySchema { name: "a".into(), key_type: PrimaryKeyType::String, auto_increment: false },
                PrimaryKeySchema { name: "b".into(), key_type: PrimaryKeyType::Integer, auto_increment: true },
            ],
            defined_columns: vec![DefinedColumnSchema { name: "c".into(), column_type: DefinedColumnType::Double }],
        };
        let meta = schema_to_pb(&schema);
        assert_eq!(meta.table_name, "t");
        assert!(!pk_schema_is_auto_increment(&meta.primary_key[0]));
        assert!(pk_schema_is_auto_increment(&meta.primary_key[1]));
        assert_eq!(defined_type_from_pb(meta.defined_column[0].r#type), Some(DefinedColumnType::Double));
    }
}
