//! Conversions between protobuf messages and the shared row model, with the
//! service's validation messages for malformed enum values and missing fields.
//! The symmetric model <-> pb mappings live in `tablesafe_proto::convert` (shared with
//! the client); this module adds the server's error wording and engine types.

use tablesafe_engine::{Consumed, ReturnContent, TableInfo};
use tablesafe_proto::model::{Condition, DefinedColumnSchema, PrimaryKeySchema, ReadOptions, TableSchema, TimeRange};
use tablesafe_proto::{convert, filter, pb};

use crate::error::{ApiError, ApiResult};

pub(crate) fn consumed(c: Consumed) -> pb::ConsumedCapacity {
    pb::ConsumedCapacity {
        capacity_unit: pb::CapacityUnit { read: Some(c.read), write: Some(c.write) },
        capacity_data_size: None,
    }
}

pub(crate) fn schema_from_pb(meta: pb::TableMeta) -> ApiResult<TableSchema> {
    let primary_key = meta
        .primary_key
        .into_iter()
        .map(|column| {
            let Some(key_type) = convert::pk_type_from_pb(column.r#type) else {
                if column.r#type == pb::PrimaryKeyType::PkBoolean as i32 {
                    return Err(ApiError::invalid("BOOLEAN is an invalid type for the primary key."));
                }
                return Err(ApiError::invalid(format!(
                    "Unsupported primary key type of column '{}': {}.",
                    column.name, column.r#type
                )));
            };
            let auto_increment = convert::pk_schema_is_auto_increment(&column);
            Ok(PrimaryKeySchema { name: column.name, key_type, auto_increment })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let defined_columns = meta
        .defined_column
        .into_iter()
        .map(|column| {
            let Some(column_type) = convert::defined_type_from_pb(column.r#type) else {
                return Err(ApiError::invalid(format!("Invalid defined column type: {}.", column.r#type)));
            };
            Ok(DefinedColumnSchema { name: column.name, column_type })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(TableSchema { name: meta.table_name, primary_key, defined_columns })
}

pub(crate) use convert::{options_from_pb, options_to_pb, pk_schema_to_pb, reserved_from_pb, schema_to_pb};

pub(crate) fn reserved_details(info: &TableInfo) -> pb::ReservedThroughputDetails {
    pb::ReservedThroughputDetails {
        capacity_unit: pb::CapacityUnit { read: Some(info.reserved.read), write: Some(info.reserved.write) },
        last_increase_time: info.reserved_changed_at_ms / 1000,
        last_decrease_time: None,
    }
}

pub(crate) use convert::stream_spec_from_pb as stream_from_pb;

/// A table's stream as DescribeTable shows it. With the client's stream off, a
/// change log the server keeps for archiving still shows its `stream_id` (and
/// nothing else): TableSafe's backup clients read it through the stream actions
/// so that their copies are exact; SDKs look at `enable_stream` first.
pub(crate) fn stream_details(info: &TableInfo) -> pb::StreamDetails {
    if !info.stream.enabled {
        return pb::StreamDetails { enable_stream: false, stream_id: info.change_log_id(), ..Default::default() };
    }
    pb::StreamDetails {
        enable_stream: true,
        stream_id: info.stream_id(),
        expiration_time: Some(info.stream.expiration_hours),
        last_enable_time: info.stream_enabled_at_us,
        columns_to_get: info.stream.columns_to_get.clone(),
    }
}

/// The `transaction_id` of a row request, if it names one (an empty id is taken
/// as none, as the SDKs send one for "no transaction").
pub(crate) fn transaction_of(transaction_id: Option<String>) -> Option<String> {
    transaction_id.filter(|id| !id.is_empty())
}

pub(crate) fn condition_from_pb(condition: Option<pb::Condition>) -> ApiResult<Condition> {
    let Some(condition) = condition else { return Ok(Condition::default()) };
    let Some(row_existence) = convert::row_existence_from_pb(condition.row_existence) else {
        return Err(ApiError::invalid(format!("Invalid row existence expectation: {}.", condition.row_existence)));
    };
    let column_condition = match condition.column_condition {
        Some(bytes) if !bytes.is_empty() => Some(filter::decode_filter(&bytes)?),
        _ => None,
    };
    Ok(Condition { row_existence, column_condition })
}

pub(crate) fn return_content_from_pb(content: Option<pb::ReturnContent>) -> ApiResult<ReturnContent> {
    let Some(content) = content else { return Ok(ReturnContent::None) };
    Ok(match content.return_type.map(pb::ReturnType::try_from) {
        None | Some(Ok(pb::ReturnType::RtNone)) => ReturnContent::None,
        Some(Ok(pb::ReturnType::RtPk)) => ReturnContent::PrimaryKey,
        Some(Ok(pb::ReturnType::RtAfterModify)) => ReturnContent::AfterModify(content.return_column_names),
        Some(Err(_)) => return Err(ApiError::invalid("Invalid return type.")),
    })
}

/// The read part shared by GetRow, BatchGetRow and GetRange.
pub(crate) struct ReadFields {
    pub columns_to_get: Vec<String>,
    pub time_range: Option<pb::TimeRange>,
    pub max_versions: Option<i32>,
    pub filter: Option<Vec<u8>>,
    pub start_column: Option<String>,
    pub end_column: Option<String>,
}

pub(crate) fn read_options(fields: ReadFields) -> ApiResult<ReadOptions> {
    let time_range = match fields.time_range {
        None => None,
        Some(pb::TimeRange { specific_time: Some(ts), start_time: None, end_time: None }) => {
            Some(TimeRange::Specific(ts))
        }
        Some(pb::TimeRange { specific_time: None, start_time: Some(start), end_time: Some(end) }) => {
            Some(TimeRange::Range { start, end })
        }
        Some(pb::TimeRange { specific_time: None, start_time: None, end_time: None }) => None,
        Some(_) => {
            return Err(ApiError::invalid("TimeRange must give either specific_time or both start_time and end_time."))
        }
    };
    let filter = match fields.filter {
        Some(bytes) if !bytes.is_empty() => Some(filter::decode_filter(&bytes)?),
        _ => None,
    };
    Ok(ReadOptions {
        columns_to_get: fields.columns_to_get,
        max_versions: fields.max_versions,
        time_range,
        start_column: fields.start_column.filter(|s| !s.is_empty()),
        end_column: fields.end_column.filter(|s| !s.is_empty()),
        filter,
    })
}
