//! Conversions between protobuf messages and the shared row model, with the
//! service's validation messages for malformed enum values and missing fields.

use tablesafe_engine::{Consumed, ReturnContent, TableInfo};
use tablesafe_proto::model::{
    Condition, DefinedColumnSchema, DefinedColumnType, PrimaryKeySchema, PrimaryKeyType, ReadOptions,
    ReservedThroughput, RowExistence, StreamSpec, TableOptions, TableSchema, TimeRange,
};
use tablesafe_proto::{filter, pb};

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
            let key_type = match pb::PrimaryKeyType::try_from(column.r#type) {
                Ok(pb::PrimaryKeyType::Integer) => PrimaryKeyType::Integer,
                Ok(pb::PrimaryKeyType::String) => PrimaryKeyType::String,
                Ok(pb::PrimaryKeyType::Binary) => PrimaryKeyType::Binary,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Unsupported primary key type of column '{}': {}.",
                        column.name, column.r#type
                    )))
                }
            };
            let auto_increment = column.option == Some(pb::PrimaryKeyOption::AutoIncrement as i32);
            Ok(PrimaryKeySchema { name: column.name, key_type, auto_increment })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let defined_columns = meta
        .defined_column
        .into_iter()
        .map(|column| {
            let column_type = match pb::DefinedColumnType::try_from(column.r#type) {
                Ok(pb::DefinedColumnType::DctInteger) => DefinedColumnType::Integer,
                Ok(pb::DefinedColumnType::DctDouble) => DefinedColumnType::Double,
                Ok(pb::DefinedColumnType::DctBoolean) => DefinedColumnType::Boolean,
                Ok(pb::DefinedColumnType::DctString) => DefinedColumnType::String,
                Ok(pb::DefinedColumnType::DctBlob) => DefinedColumnType::Binary,
                Err(_) => return Err(ApiError::invalid(format!("Invalid defined column type: {}.", column.r#type))),
            };
            Ok(DefinedColumnSchema { name: column.name, column_type })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(TableSchema { name: meta.table_name, primary_key, defined_columns })
}

pub(crate) fn schema_to_pb(schema: &TableSchema) -> pb::TableMeta {
    pb::TableMeta {
        table_name: schema.name.clone(),
        primary_key: schema.primary_key.iter().map(pk_schema_to_pb).collect(),
        defined_column: schema
            .defined_columns
            .iter()
            .map(|c| pb::DefinedColumnSchema {
                name: c.name.clone(),
                r#type: match c.column_type {
                    DefinedColumnType::Integer => pb::DefinedColumnType::DctInteger,
                    DefinedColumnType::Double => pb::DefinedColumnType::DctDouble,
                    DefinedColumnType::Boolean => pb::DefinedColumnType::DctBoolean,
                    DefinedColumnType::String => pb::DefinedColumnType::DctString,
                    DefinedColumnType::Binary => pb::DefinedColumnType::DctBlob,
                } as i32,
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn pk_schema_to_pb(column: &PrimaryKeySchema) -> pb::PrimaryKeySchema {
    pb::PrimaryKeySchema {
        name: column.name.clone(),
        r#type: match column.key_type {
            PrimaryKeyType::Integer => pb::PrimaryKeyType::Integer,
            PrimaryKeyType::String => pb::PrimaryKeyType::String,
            PrimaryKeyType::Binary => pb::PrimaryKeyType::Binary,
        } as i32,
        option: column.auto_increment.then_some(pb::PrimaryKeyOption::AutoIncrement as i32),
    }
}

/// Table options given to CreateTable: defaults for every absent field.
pub(crate) fn options_from_pb(options: Option<pb::TableOptions>) -> TableOptions {
    let mut out = TableOptions::default();
    if let Some(o) = options {
        out.time_to_live = o.time_to_live.unwrap_or(out.time_to_live);
        out.max_versions = o.max_versions.unwrap_or(out.max_versions);
        out.max_time_deviation = o.deviation_cell_version_in_sec.unwrap_or(out.max_time_deviation);
        out.allow_update = o.allow_update.unwrap_or(out.allow_update);
    }
    out
}

pub(crate) fn options_to_pb(options: &TableOptions) -> pb::TableOptions {
    pb::TableOptions {
        time_to_live: Some(options.time_to_live),
        max_versions: Some(options.max_versions),
        deviation_cell_version_in_sec: Some(options.max_time_deviation),
        allow_update: Some(options.allow_update),
        ..Default::default()
    }
}

pub(crate) fn reserved_from_pb(reserved: Option<pb::ReservedThroughput>) -> ReservedThroughput {
    let unit = reserved.map(|r| r.capacity_unit).unwrap_or_default();
    ReservedThroughput { read: unit.read.unwrap_or(0), write: unit.write.unwrap_or(0) }
}

pub(crate) fn reserved_details(info: &TableInfo) -> pb::ReservedThroughputDetails {
    pb::ReservedThroughputDetails {
        capacity_unit: pb::CapacityUnit { read: Some(info.reserved.read), write: Some(info.reserved.write) },
        last_increase_time: info.reserved_changed_at_ms / 1000,
        last_decrease_time: None,
    }
}

pub(crate) fn stream_from_pb(spec: pb::StreamSpecification) -> StreamSpec {
    StreamSpec {
        enabled: spec.enable_stream,
        expiration_hours: spec.expiration_time.unwrap_or(if spec.enable_stream { 24 } else { 0 }),
        columns_to_get: spec.columns_to_get,
    }
}

pub(crate) fn stream_details(info: &TableInfo) -> pb::StreamDetails {
    if !info.stream.enabled {
        return pb::StreamDetails { enable_stream: false, ..Default::default() };
    }
    pb::StreamDetails {
        enable_stream: true,
        stream_id: info.stream_id(),
        expiration_time: Some(info.stream.expiration_hours),
        last_enable_time: info.stream_enabled_at_us,
        columns_to_get: info.stream.columns_to_get.clone(),
    }
}

pub(crate) fn condition_from_pb(condition: Option<pb::Condition>) -> ApiResult<Condition> {
    let Some(condition) = condition else { return Ok(Condition::default()) };
    let row_existence = match pb::RowExistenceExpectation::try_from(condition.row_existence) {
        Ok(pb::RowExistenceExpectation::Ignore) => RowExistence::Ignore,
        Ok(pb::RowExistenceExpectation::ExpectExist) => RowExistence::ExpectExist,
        Ok(pb::RowExistenceExpectation::ExpectNotExist) => RowExistence::ExpectNotExist,
        Err(_) => return Err(ApiError::invalid(format!("Invalid row existence expectation: {}.", condition.row_existence))),
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
        Some(pb::TimeRange { specific_time: Some(ts), start_time: None, end_time: None }) => Some(TimeRange::Specific(ts)),
        Some(pb::TimeRange { specific_time: None, start_time: Some(start), end_time: Some(end) }) => {
            Some(TimeRange::Range { start, end })
        }
        Some(pb::TimeRange { specific_time: None, start_time: None, end_time: None }) => None,
        Some(_) => {
            return Err(ApiError::invalid(
                "TimeRange must give either specific_time or both start_time and end_time.",
            ))
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
