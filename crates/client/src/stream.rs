//! The Stream API: ListStream, DescribeStream, GetShardIterator, GetStreamRecord.
//!
//! A table with a stream records every applied change. Read it shard by shard: list
//! the shards with [`Client::describe_stream`], get an iterator for a shard with
//! [`Client::get_shard_iterator`], then call [`Client::get_stream_record`] with the
//! iterator and each answer's `next_shard_iterator` in turn. An empty page with an
//! iterator means "nothing new yet"; no iterator means the shard is closed and read
//! to its end (TableSafe's shards never close).
//!
//! Invariant: each record's PlainBuffer row is decoded with its sequence info
//! ([`Row::seq_info`]), which orders and deduplicates records; an unknown action type
//! or a record without sequence info is a [`ClientError::Decode`].

use tablesafe_proto::model::Row;
use tablesafe_proto::{pb, plainbuffer};

use crate::batch::RowWrite;
use crate::error::ClientError;
use crate::retry;
use crate::row::{DeleteRowRequest, PutRowRequest, UpdateRowRequest};
use crate::wire::CapacityUnits;
use crate::Client;

/// A stream as ListStream lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamInfo {
    /// Stream id for the other stream calls.
    pub stream_id: String,
    /// The table whose changes it records.
    pub table: String,
    /// When the stream was enabled (microseconds since the epoch in TableSafe).
    pub creation_time: i64,
}

/// The state of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamStatus {
    /// Being set up; records may not be readable yet.
    Enabling,
    /// Recording and readable.
    Active,
}

/// A shard of a stream; consume parents before their children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamShard {
    /// Shard id for [`GetShardIteratorRequest`].
    pub shard_id: String,
    /// The shard this one split from.
    pub parent_id: Option<String>,
    /// The other parent when two shards merged.
    pub parent_sibling_id: Option<String>,
}

/// DescribeStream: a stream's settings and (a page of) its shards.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeStreamRequest {
    /// Stream id.
    pub stream_id: String,
    /// First shard id to list (for paging with `next_shard_id`).
    pub inclusive_start_shard_id: Option<String>,
    /// Most shards to list.
    pub shard_limit: Option<i32>,
}

impl DescribeStreamRequest {
    /// Describes `stream_id`, listing its shards from the first.
    pub fn new(stream_id: impl Into<String>) -> Self {
        DescribeStreamRequest { stream_id: stream_id.into(), ..Default::default() }
    }
}

/// DescribeStream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// Stream id.
    pub stream_id: String,
    /// The table whose changes it records.
    pub table: String,
    /// Hours a record is kept.
    pub expiration_hours: i32,
    /// When the stream was enabled.
    pub creation_time: i64,
    /// Status.
    pub status: StreamStatus,
    /// Shards of this page.
    pub shards: Vec<StreamShard>,
    /// Where the next page of shards starts, if there is one.
    pub next_shard_id: Option<String>,
}

/// GetShardIterator: a position in a shard to read records from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetShardIteratorRequest {
    /// Stream id.
    pub stream_id: String,
    /// Shard id.
    pub shard_id: String,
    /// Start at the first record at or after this time (microseconds); `None`
    /// starts at the oldest record kept.
    pub timestamp: Option<i64>,
}

impl GetShardIteratorRequest {
    /// An iterator at the oldest record of the shard.
    pub fn new(stream_id: impl Into<String>, shard_id: impl Into<String>) -> Self {
        GetShardIteratorRequest { stream_id: stream_id.into(), shard_id: shard_id.into(), timestamp: None }
    }
}

/// GetStreamRecord: the records at a shard iterator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetStreamRecordRequest {
    /// Iterator from GetShardIterator or a previous GetStreamRecord.
    pub shard_iterator: String,
    /// Most records returned (`None`: the service's default).
    pub limit: Option<i32>,
}

impl GetStreamRecordRequest {
    /// Reads from `shard_iterator` with the service's default limit.
    pub fn new(shard_iterator: impl Into<String>) -> Self {
        GetStreamRecordRequest { shard_iterator: shard_iterator.into(), limit: None }
    }
}

/// What a change record did to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamAction {
    /// The row was written whole; the record lists every cell written.
    PutRow,
    /// Some columns changed; the record lists puts and deletes in apply order
    /// (an increment appears as the put of its result).
    UpdateRow,
    /// The row was deleted; the record carries only the key.
    DeleteRow,
}

/// One change of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    /// The kind of change.
    pub action: StreamAction,
    /// The change: key, cells, and `seq_info` (always set).
    pub row: Row,
    /// The previous values of the stream's `columns_to_get`, when the service sends them.
    pub origin: Option<Row>,
    /// The record's position in its stream, when the endpoint is TableSafe (the
    /// position `tablesafe_proto::stream::ShardIterator` names).
    pub position: Option<u64>,
}

impl StreamRecord {
    /// The write that applies this change to `table`, for followers that replicate
    /// a table from its stream. TableSafe's records hold the change as applied
    /// (server-stamped timestamps, increments as the put of their result), so
    /// applying a stream's records in order to an empty table with the same options
    /// rebuilds it, every version included; each write is idempotent.
    pub fn to_row_write(&self, table: impl Into<String>) -> RowWrite {
        let key = self.row.primary_key.clone();
        match self.action {
            StreamAction::PutRow => RowWrite::Put(PutRowRequest::new(table, key, self.row.cells.clone())),
            StreamAction::UpdateRow => {
                let mut update = UpdateRowRequest::new(table, key);
                update.row.cells = self.row.cells.clone();
                RowWrite::Update(update)
            }
            StreamAction::DeleteRow => RowWrite::Delete(DeleteRowRequest::new(table, key)),
        }
    }
}

/// GetStreamRecord's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GetStreamRecordResponse {
    /// Records in commit order.
    pub records: Vec<StreamRecord>,
    /// The iterator for the next call; `None` when the shard is closed and fully read.
    pub next_shard_iterator: Option<String>,
    /// Capacity consumed.
    pub consumed: CapacityUnits,
    /// Whether more records may be ready right away.
    pub may_more_record: Option<bool>,
}

fn decode_record(
    action: &'static str,
    record: &pb::get_stream_record_response::StreamRecord,
) -> Result<StreamRecord, ClientError> {
    let kind = match pb::ActionType::try_from(record.action_type) {
        Ok(pb::ActionType::PutRow) => StreamAction::PutRow,
        Ok(pb::ActionType::UpdateRow) => StreamAction::UpdateRow,
        Ok(pb::ActionType::DeleteRow) => StreamAction::DeleteRow,
        Err(_) => return Err(ClientError::decode(action, "stream action type", record.action_type)),
    };
    let row = plainbuffer::decode_row(&record.record).map_err(|e| ClientError::decode(action, "stream record", e))?;
    if row.seq_info.is_none() {
        return Err(ClientError::decode(action, "stream record", "the record has no sequence info"));
    }
    let origin = match record.origin_record.as_deref() {
        None | Some([]) => None,
        Some(bytes) => {
            Some(plainbuffer::decode_row(bytes).map_err(|e| ClientError::decode(action, "origin record", e))?)
        }
    };
    Ok(StreamRecord { action: kind, row, origin, position: record.tablesafe_position })
}

impl Client {
    /// The streams of the instance, or of one table.
    #[doc(alias = "ListStream")]
    pub async fn list_stream(&self, table: Option<&str>) -> Result<Vec<StreamInfo>, ClientError> {
        let request = pb::ListStreamRequest { table_name: table.map(str::to_owned) };
        let response: pb::ListStreamResponse = self.transport.call(retry::LIST_STREAM, &request).await?;
        Ok(response
            .streams
            .into_iter()
            .map(|s| StreamInfo { stream_id: s.stream_id, table: s.table_name, creation_time: s.creation_time })
            .collect())
    }

    /// A stream's settings and shards.
    #[doc(alias = "DescribeStream")]
    pub async fn describe_stream(&self, request: DescribeStreamRequest) -> Result<StreamDescription, ClientError> {
        let action = retry::DESCRIBE_STREAM;
        let message = pb::DescribeStreamRequest {
            stream_id: request.stream_id,
            inclusive_start_shard_id: request.inclusive_start_shard_id,
            shard_limit: request.shard_limit,
            support_timeseries_data_table: None,
        };
        let response: pb::DescribeStreamResponse = self.transport.call(action, &message).await?;
        let status = match pb::StreamStatus::try_from(response.stream_status) {
            Ok(pb::StreamStatus::StreamEnabling) => StreamStatus::Enabling,
            Ok(pb::StreamStatus::StreamActive) => StreamStatus::Active,
            Err(_) => return Err(ClientError::decode(action.name, "stream status", response.stream_status)),
        };
        Ok(StreamDescription {
            stream_id: response.stream_id,
            table: response.table_name,
            expiration_hours: response.expiration_time,
            creation_time: response.creation_time,
            status,
            shards: response
                .shards
                .into_iter()
                .map(|s| StreamShard {
                    shard_id: s.shard_id,
                    parent_id: s.parent_id,
                    parent_sibling_id: s.parent_sibling_id,
                })
                .collect(),
            next_shard_id: response.next_shard_id,
        })
    }

    /// An iterator positioned in a shard.
    #[doc(alias = "GetShardIterator")]
    pub async fn get_shard_iterator(&self, request: GetShardIteratorRequest) -> Result<String, ClientError> {
        let message = pb::GetShardIteratorRequest {
            stream_id: request.stream_id,
            shard_id: request.shard_id,
            timestamp: request.timestamp,
            token: None,
        };
        let response: pb::GetShardIteratorResponse = self.transport.call(retry::GET_SHARD_ITERATOR, &message).await?;
        Ok(response.shard_iterator)
    }

    /// The change records at an iterator, and the iterator to continue from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let clock: Arc<dyn tablesafe_common::Clock> = Arc::new(tablesafe_common::SystemClock);
    /// # let options = tablesafe_engine::EngineOptions { sync_writes: false, ..Default::default() };
    /// # let engine = tablesafe_engine::Engine::open(dir.path(), options, Arc::clone(&clock))?;
    /// # let keys = vec![tablesafe_server::AccessKey { id: "key-id".into(), secret: "secret".into() }];
    /// # let state = tablesafe_server::ServerState { engine: Arc::new(engine), instance: "demo".into(), keys, clock };
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let endpoint = format!("http://{}", listener.local_addr()?);
    /// # tokio::spawn(tablesafe_server::run(listener, Arc::new(state), std::future::pending()));
    /// use tablesafe_client::{
    ///     Client, CreateTableRequest, DeleteRowRequest, DescribeStreamRequest, GetShardIteratorRequest,
    ///     GetStreamRecordRequest, PutRowRequest, StreamAction,
    /// };
    /// use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Value};
    ///
    /// let client = Client::new(&endpoint, "demo", "key-id", "secret")?;
    /// client.create_table(CreateTableRequest::new("orders").primary_key("id", PrimaryKeyType::Integer).stream(24)).await?;
    /// let key = PrimaryKey::new([("id", PkValue::Integer(7))]);
    /// client.put_row(PutRowRequest::new("orders", key.clone(), [Cell::put("total", Value::Double(9.5))])).await?;
    /// client.delete_row(DeleteRowRequest::new("orders", key.clone())).await?;
    ///
    /// let stream = client.list_stream(Some("orders")).await?.remove(0);
    /// let shards = client.describe_stream(DescribeStreamRequest::new(&stream.stream_id)).await?.shards;
    /// let iterator = client.get_shard_iterator(GetShardIteratorRequest::new(&stream.stream_id, &shards[0].shard_id)).await?;
    /// let page = client.get_stream_record(GetStreamRecordRequest::new(iterator)).await?;
    /// let actions: Vec<_> = page.records.iter().map(|r| r.action).collect();
    /// assert_eq!(actions, [StreamAction::PutRow, StreamAction::DeleteRow]);
    /// assert_eq!(page.records[0].row.primary_key, key);
    /// assert!(page.next_shard_iterator.is_some());
    /// # Ok(()) }
    /// ```
    #[doc(alias = "GetStreamRecord")]
    pub async fn get_stream_record(
        &self,
        request: GetStreamRecordRequest,
    ) -> Result<GetStreamRecordResponse, ClientError> {
        let action = retry::GET_STREAM_RECORD;
        let message = pb::GetStreamRecordRequest {
            shard_iterator: request.shard_iterator,
            limit: request.limit,
            table_name: None,
        };
        let response: pb::GetStreamRecordResponse = self.transport.call(action, &message).await?;
        Ok(GetStreamRecordResponse {
            records: response.stream_records.iter().map(|r| decode_record(action.name, r)).collect::<Result<_, _>>()?,
            next_shard_iterator: response.next_shard_iterator,
            consumed: response.consumed.as_ref().map(CapacityUnits::from).unwrap_or_default(),
            may_more_record: response.may_more_record,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::{PkValue, PrimaryKey, SeqInfo};

    use super::*;

    fn record(action_type: i32, seq: Option<SeqInfo>) -> pb::get_stream_record_response::StreamRecord {
        let row = Row { primary_key: PrimaryKey::new([("id", PkValue::Integer(1))]), seq_info: seq, ..Row::default() };
        pb::get_stream_record_response::StreamRecord {
            action_type,
            record: plainbuffer::encode_row(&row),
            origin_record: None,
            tablesafe_position: None,
        }
    }

    #[test]
    fn records_decode_with_their_sequence_info() {
        let seq = SeqInfo { epoch: 0, timestamp: 1_700_000_000_000_000, row_index: 3 };
        let decoded = decode_record("GetStreamRecord", &record(pb::ActionType::DeleteRow as i32, Some(seq))).unwrap();
        assert_eq!(decoded.action, StreamAction::DeleteRow);
        assert_eq!(decoded.row.seq_info, Some(seq));
        assert!(decode_record("GetStreamRecord", &record(9, Some(seq))).is_err());
        assert!(decode_record("GetStreamRecord", &record(1, None)).is_err());
    }
}
