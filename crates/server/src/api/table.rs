//! Table actions: CreateTable (with its secondary indexes), ListTable, DescribeTable
//! (listing them), UpdateTable, DeleteTable, ComputeSplitPointsBySize, and
//! ListSearchIndex (TableSafe has no search indexes).

use tablesafe_engine::{CreateTable, TableUpdate};
use tablesafe_proto::{pb, plainbuffer};

use super::convert::{
    consumed, options_from_pb, options_to_pb, pk_schema_to_pb, reserved_details, reserved_from_pb, schema_from_pb,
    schema_to_pb, stream_details, stream_from_pb,
};
use super::index::index_meta_from_pb;
use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

pub(crate) fn create_table(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::CreateTableRequest = decode("CreateTableRequest", body)?;
    let schema = schema_from_pb(request.table_meta)?;
    let indexes = request.index_metas.into_iter().map(index_meta_from_pb).collect::<ApiResult<Vec<_>>>()?;
    let table = CreateTable {
        schema,
        options: options_from_pb(request.table_options),
        reserved: reserved_from_pb(Some(request.reserved_throughput)),
        stream: request.stream_spec.map(stream_from_pb).unwrap_or_default(),
    };
    state.engine.create_table_with_indexes(table, indexes)?;
    encode(&pb::CreateTableResponse {})
}

pub(crate) fn list_table(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let _: pb::ListTableRequest = decode("ListTableRequest", body)?;
    encode(&pb::ListTableResponse { table_names: state.engine.list_tables() })
}

/// ListSearchIndex: TableSafe has no search indexes, so the list is empty, for the
/// instance (no table named) or for a table that exists; a table that does not
/// exist is 404 `OTSObjectNotExist`, as DescribeTable answers.
pub(crate) fn list_search_index(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::ListSearchIndexRequest = decode("ListSearchIndexRequest", body)?;
    if let Some(table) = request.table_name.filter(|name| !name.is_empty()) {
        state.engine.table(&table)?;
    }
    encode(&pb::ListSearchIndexResponse { indices: Vec::new() })
}

pub(crate) fn describe_table(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::DescribeTableRequest = decode("DescribeTableRequest", body)?;
    let info = state.engine.table(&request.table_name)?;
    encode(&pb::DescribeTableResponse {
        table_meta: schema_to_pb(&info.schema),
        reserved_throughput_details: reserved_details(&info),
        table_options: options_to_pb(&info.options),
        table_status: pb::TableStatus::Active as i32,
        stream_details: Some(stream_details(&info)),
        shard_splits: Vec::new(),
        sse_details: Some(pb::SseDetails { enable: false, ..Default::default() }),
        index_metas: info.indexes.iter().map(|i| tablesafe_proto::convert::index_meta_to_pb(&i.meta)).collect(),
        creation_time: Some(info.created_at_ms.saturating_mul(1000)),
    })
}

pub(crate) fn update_table(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::UpdateTableRequest = decode("UpdateTableRequest", body)?;
    let options = request.table_options.unwrap_or_default();
    let update = TableUpdate {
        time_to_live: options.time_to_live,
        max_versions: options.max_versions,
        max_time_deviation: options.deviation_cell_version_in_sec,
        allow_update: options.allow_update,
        reserved: request.reserved_throughput.map(|r| reserved_from_pb(Some(r))),
        stream: request.stream_spec.map(stream_from_pb),
    };
    let info = state.engine.update_table(&request.table_name, update)?;
    encode(&pb::UpdateTableResponse {
        reserved_throughput_details: reserved_details(&info),
        table_options: options_to_pb(&info.options),
        stream_details: Some(stream_details(&info)),
    })
}

pub(crate) fn delete_table(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::DeleteTableRequest = decode("DeleteTableRequest", body)?;
    state.engine.delete_table(&request.table_name)?;
    encode(&pb::DeleteTableResponse {})
}

pub(crate) fn compute_split_points(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::ComputeSplitPointsBySizeRequest = decode("ComputeSplitPointsBySizeRequest", body)?;
    if request.split_size <= 0 {
        return Err(ApiError::invalid("Split size must be greater than 0."));
    }
    let unit = request.split_size_unit_in_byte.filter(|u| *u > 0).unwrap_or(100 * 1024 * 1024);
    let split_bytes = u64::try_from(request.split_size.saturating_mul(unit)).unwrap_or(u64::MAX);
    let info = state.engine.table(&request.table_name)?;
    let mut points = state.engine.split_points(&request.table_name, split_bytes)?;
    if let Some(limit) = request.split_point_limit.filter(|l| *l > 0) {
        points.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let repeat = i64::try_from(points.len()).unwrap_or(i64::MAX).saturating_add(1);
    encode(&pb::ComputeSplitPointsBySizeResponse {
        consumed: consumed(tablesafe_engine::Consumed { read: 1, write: 0 }),
        schema: info.schema.primary_key.iter().map(pk_schema_to_pb).collect(),
        split_points: points.iter().map(plainbuffer::encode_primary_key).collect(),
        locations: vec![pb::compute_split_points_by_size_response::SplitLocation {
            location: "tablesafe".into(),
            repeat,
        }],
    })
}
