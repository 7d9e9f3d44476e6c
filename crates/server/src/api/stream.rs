//! Stream actions: ListStream, DescribeStream, GetShardIterator, GetStreamRecord.
//!
//! Each stream has exactly one shard ([`SHARD_ID`]) that never splits, so consumers
//! written for the service's shard tree see a tree of one leaf. A shard iterator is
//! an opaque string naming the stream and a position in it; it stays valid until
//! the records it points at expire or the stream is disabled, then reads answer
//! OTSTrimmedDataAccess as the service does. Iterators are
//! [`tablesafe_proto::stream::ShardIterator`]s; GetShardIterator hands out open ones,
//! and TableSafe's tools make bounded ones to read the changes between two positions.

use tablesafe_engine::{ChangeAction, ChangeRecord, Consumed};
use tablesafe_proto::stream::ShardIterator;
use tablesafe_proto::{pb, plainbuffer, ErrorCode};

use super::convert::consumed;
use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

/// The id of the one shard of every stream.
pub(crate) const SHARD_ID: &str = "shard-0";

/// Records returned by GetStreamRecord when the request gives no limit.
const DEFAULT_RECORD_LIMIT: usize = 100;
/// Most records one GetStreamRecord returns.
const MAX_RECORD_LIMIT: usize = 1000;

pub(crate) fn list_stream(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::ListStreamRequest = decode("ListStreamRequest", body)?;
    if let Some(table) = &request.table_name {
        // Names the service's error for an unknown table rather than an empty list.
        state.engine.table(table)?;
    }
    let streams = state
        .engine
        .stream_tables()
        .into_iter()
        .filter(|info| request.table_name.as_ref().is_none_or(|t| *t == info.schema.name))
        .filter_map(|info| {
            Some(pb::Stream {
                stream_id: info.stream_id()?,
                table_name: info.schema.name.clone(),
                creation_time: info.stream_enabled_at_us?,
            })
        })
        .collect();
    encode(&pb::ListStreamResponse { streams })
}

pub(crate) fn describe_stream(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::DescribeStreamRequest = decode("DescribeStreamRequest", body)?;
    if request.shard_limit.is_some_and(|l| l <= 0) {
        return Err(ApiError::invalid("The shard limit must be greater than 0."));
    }
    let info = state.engine.stream_table(&request.stream_id)?;
    let include_shard = request.inclusive_start_shard_id.as_deref().is_none_or(|start| start <= SHARD_ID);
    let shards = if include_shard {
        vec![pb::StreamShard { shard_id: SHARD_ID.into(), parent_id: None, parent_sibling_id: None }]
    } else {
        Vec::new()
    };
    encode(&pb::DescribeStreamResponse {
        stream_id: request.stream_id,
        expiration_time: info.change_log_hours(),
        table_name: info.schema.name.clone(),
        creation_time: info.stream_enabled_at_us.unwrap_or_default(),
        stream_status: pb::StreamStatus::StreamActive as i32,
        shards,
        next_shard_id: None,
        is_timeseries_data_table: Some(false),
    })
}

pub(crate) fn get_shard_iterator(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::GetShardIteratorRequest = decode("GetShardIteratorRequest", body)?;
    state.engine.stream_table(&request.stream_id)?;
    if request.shard_id != SHARD_ID {
        return Err(ApiError::Wire {
            code: ErrorCode::ObjectNotExist,
            message: format!("Requested shard does not exist: {}.", request.shard_id),
        });
    }
    // Read before the position settles: every change stamped earlier is below it.
    let issued_at_us = state.clock.now_micros();
    let position = state.engine.stream_position(&request.stream_id, request.timestamp)?;
    encode(&pb::GetShardIteratorResponse {
        shard_iterator: ShardIterator {
            stream_id: request.stream_id,
            position,
            end: None,
            issued_at_us: Some(issued_at_us),
        }
        .encode(),
        next_token: None,
    })
}

pub(crate) fn get_stream_record(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::GetStreamRecordRequest = decode("GetStreamRecordRequest", body)?;
    let iterator = ShardIterator::decode(&request.shard_iterator)
        .ok_or_else(|| ApiError::invalid("The shard iterator is invalid."))?;
    let limit = match request.limit {
        None => DEFAULT_RECORD_LIMIT,
        Some(l) if l > 0 => usize::try_from(l).unwrap_or(MAX_RECORD_LIMIT).min(MAX_RECORD_LIMIT),
        Some(_) => return Err(ApiError::invalid("The limit must be greater than 0.")),
    };
    let mut page = state.engine.stream_read(&iterator.stream_id, iterator.position, limit)?;
    let full_page = page.records.len() >= limit;
    // A bounded iterator stops before its end and then reads as a closed shard.
    let end = iterator.end.unwrap_or(u64::MAX);
    page.records.retain(|r| r.seq < end);
    let next = (page.next < end && iterator.position < end).then(|| {
        let next = ShardIterator { position: page.next, issued_at_us: None, ..iterator.clone() };
        next.encode()
    });
    let mut bytes = 0usize;
    let stream_records: Vec<_> = page
        .records
        .iter()
        .map(|record| {
            let encoded = plainbuffer::encode_row(&record.row);
            bytes += encoded.len();
            pb::get_stream_record_response::StreamRecord {
                action_type: action_to_pb(record) as i32,
                record: encoded,
                origin_record: None,
                tablesafe_position: Some(record.seq),
            }
        })
        .collect();
    encode(&pb::GetStreamRecordResponse {
        stream_records,
        next_shard_iterator: next,
        consumed: Some(consumed(Consumed { read: capacity_units(bytes), write: 0 })),
        may_more_record: Some(full_page && page.next < end),
    })
}

fn action_to_pb(record: &ChangeRecord) -> pb::ActionType {
    match record.action {
        ChangeAction::Put => pb::ActionType::PutRow,
        ChangeAction::Update => pb::ActionType::UpdateRow,
        ChangeAction::Delete => pb::ActionType::DeleteRow,
    }
}

fn capacity_units(bytes: usize) -> i32 {
    i32::try_from(bytes.div_ceil(4096).max(1)).unwrap_or(i32::MAX)
}
