//! The client's side of the model <-> protobuf mapping that is not shared with the
//! server (`tablesafe_proto::convert` holds the shared part): read options into
//! request fields, consumed capacity, return content, and decoding of the PlainBuffer
//! fields of responses with the action named in every error.
//!
//! Invariant: a read that names neither `max_versions` nor a time range asks for the
//! newest version (`max_versions = 1`), as the SDKs do; the service rejects a read
//! without either.

use tablesafe_proto::convert;
use tablesafe_proto::model::{DefinedColumnSchema, PrimaryKey, PrimaryKeySchema, ReadOptions, Row, TableSchema};
use tablesafe_proto::{filter, pb, plainbuffer};

use crate::error::{ClientError, RowError, ServiceCode};

/// Capacity units a call consumed, as the service reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapacityUnits {
    /// Read capacity units.
    pub read: i32,
    /// Write capacity units.
    pub write: i32,
}

impl From<&pb::ConsumedCapacity> for CapacityUnits {
    fn from(c: &pb::ConsumedCapacity) -> Self {
        CapacityUnits { read: c.capacity_unit.read.unwrap_or(0), write: c.capacity_unit.write.unwrap_or(0) }
    }
}

/// What a write returns of the row it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum ReturnContent {
    /// Nothing (the default).
    #[default]
    None,
    /// The primary key, with the generated AUTO_INCREMENT value filled in.
    PrimaryKey,
    /// The primary key and the new values of these columns (e.g. after INCREMENT).
    AfterModify(Vec<String>),
}

pub(crate) fn return_content_to_pb(content: &ReturnContent) -> Option<pb::ReturnContent> {
    match content {
        ReturnContent::None => None,
        ReturnContent::PrimaryKey => {
            Some(pb::ReturnContent { return_type: Some(pb::ReturnType::RtPk as i32), return_column_names: Vec::new() })
        }
        ReturnContent::AfterModify(columns) => Some(pb::ReturnContent {
            return_type: Some(pb::ReturnType::RtAfterModify as i32),
            return_column_names: columns.clone(),
        }),
    }
}

/// The read fields shared by GetRow, BatchGetRow and GetRange, in wire form.
pub(crate) struct ReadFields {
    pub(crate) columns_to_get: Vec<String>,
    pub(crate) time_range: Option<pb::TimeRange>,
    pub(crate) max_versions: Option<i32>,
    pub(crate) filter: Option<Vec<u8>>,
    pub(crate) start_column: Option<String>,
    pub(crate) end_column: Option<String>,
}

pub(crate) fn read_fields(read: &ReadOptions) -> ReadFields {
    let max_versions = match (read.max_versions, read.time_range) {
        (None, None) => Some(1),
        (max_versions, _) => max_versions,
    };
    ReadFields {
        columns_to_get: read.columns_to_get.clone(),
        time_range: read.time_range.as_ref().map(convert::time_range_to_pb),
        max_versions,
        filter: read.filter.as_ref().map(filter::encode_filter),
        start_column: read.start_column.clone(),
        end_column: read.end_column.clone(),
    }
}

/// A PlainBuffer row field of a response; empty bytes mean "no row".
pub(crate) fn decode_optional_row(action: &'static str, bytes: &[u8]) -> Result<Option<Row>, ClientError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    plainbuffer::decode_row(bytes).map(Some).map_err(|e| ClientError::decode(action, "row", e))
}

/// A PK-only PlainBuffer field of a response.
pub(crate) fn decode_key(action: &'static str, what: &'static str, bytes: &[u8]) -> Result<PrimaryKey, ClientError> {
    plainbuffer::decode_primary_key(bytes).map_err(|e| ClientError::decode(action, what, e))
}

/// The error of one batch row.
pub(crate) fn row_error(error: Option<pb::Error>) -> RowError {
    match error {
        Some(e) => RowError { code: ServiceCode::from_wire(&e.code), message: e.message.unwrap_or_default() },
        None => RowError { code: ServiceCode::Other(String::new()), message: "row failed without an error".into() },
    }
}

pub(crate) fn pk_schema_from_pb(
    action: &'static str,
    column: &pb::PrimaryKeySchema,
) -> Result<PrimaryKeySchema, ClientError> {
    let key_type = convert::pk_type_from_pb(column.r#type).ok_or_else(|| {
        ClientError::decode(action, "primary key type", format!("column {:?} has type {}", column.name, column.r#type))
    })?;
    Ok(PrimaryKeySchema {
        name: column.name.clone(),
        key_type,
        auto_increment: convert::pk_schema_is_auto_increment(column),
    })
}

pub(crate) fn schema_from_pb(action: &'static str, meta: &pb::TableMeta) -> Result<TableSchema, ClientError> {
    let primary_key = meta.primary_key.iter().map(|c| pk_schema_from_pb(action, c)).collect::<Result<Vec<_>, _>>()?;
    let defined_columns = meta
        .defined_column
        .iter()
        .map(|c| {
            let column_type = convert::defined_type_from_pb(c.r#type).ok_or_else(|| {
                ClientError::decode(action, "defined column type", format!("column {:?} has type {}", c.name, c.r#type))
            })?;
            Ok(DefinedColumnSchema { name: c.name.clone(), column_type })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(TableSchema { name: meta.table_name.clone(), primary_key, defined_columns })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::TimeRange;

    use super::*;

    #[test]
    fn a_read_without_version_condition_asks_for_the_newest_version() {
        assert_eq!(read_fields(&ReadOptions::default()).max_versions, Some(1));
        let ranged = ReadOptions { time_range: Some(TimeRange::Specific(5)), ..ReadOptions::default() };
        let fields = read_fields(&ranged);
        assert_eq!(fields.max_versions, None);
        assert_eq!(fields.time_range.and_then(|t| t.specific_time), Some(5));
        let both = ReadOptions { max_versions: Some(3), ..ReadOptions::default() };
        assert_eq!(read_fields(&both).max_versions, Some(3));
    }

    #[test]
    fn empty_row_bytes_mean_no_row_and_garbage_is_a_decode_error() {
        assert_eq!(decode_optional_row("GetRow", &[]).unwrap(), None);
        let err = decode_optional_row("GetRow", &[0x75, 0, 0, 0, 0x01, 0x09]).unwrap_err();
        assert!(matches!(err, ClientError::Decode { action: "GetRow", what: "row", .. }), "{err}");
    }
}
