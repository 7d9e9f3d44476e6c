//! Any Tablestore endpoint as a source and a sink, through `tablesafe-client`:
//! exports scan split-point ranges in parallel with GetRange; restores write with
//! parallel BatchWriteRow, keeping every version's timestamp.
//!
//! GetRange is not a snapshot read, so an export is fuzzy: each row is as it was at
//! some moment of the scan. When the endpoint hands out TableSafe stream positions
//! (see `tablesafe_proto::stream`), the export records the stream's settled end
//! before the scan: every change before it is in the export, and later ones may
//! be. That position lets the next backup ask the stream which keys changed since,
//! and store only those rows (an incremental layer).

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tablesafe_client::model::{PkValue, PrimaryKey, Row, TableOptions};
use tablesafe_client::{
    BatchGetRowRequest, BatchGetTable, BatchWriteRowRequest, Client, ClientError, CreateTableRequest, DeleteRowRequest,
    DescribeStreamRequest, ErrorCode, GetRangeRequest, GetShardIteratorRequest, GetStreamRecordRequest, PutRowRequest,
    RowWrite, ServiceCode, SplitPointsRequest, StreamAction, UpdateTableRequest,
};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_proto::stream::ShardIterator;
use tokio::sync::mpsc;

use super::{
    index_beside, renamed, ChangePage, Consistency, ExportItem, ExportSummary, StreamEnd, TableDefinition, TableSink,
    TableSource, ROW_BATCH,
};
use crate::changes::{Change, ChangeKind};
use crate::BackupError;

/// Any Tablestore endpoint (TableSafe or Alibaba Cloud) through the Rust client.
#[derive(Clone, Debug)]
pub struct RemoteTables {
    client: Client,
    split_bytes: i64,
    /// This machine's clock, read only where the server gives no time.
    clock: Arc<dyn Clock>,
}

/// Key ranges a remote export scans at once.
const SCAN_PARALLELISM: usize = 4;
/// Default size of the key ranges a remote export splits a table into.
const SPLIT_BYTES: i64 = 32 * 1024 * 1024;
/// BatchWriteRow requests a remote restore keeps in flight.
const WRITE_PARALLELISM: usize = 4;
/// Rows per BatchGetRow (the service's limit).
const READ_BATCH: usize = 100;
/// Rows per BatchWriteRow (the service's limit).
const WRITE_BATCH: usize = 200;
/// Time deviation (seconds) a restored table allows while loading, so that old
/// versions keep their timestamps; the original setting is put back at the end.
const LOADING_DEVIATION: i64 = 100 * 365 * 86_400;

impl RemoteTables {
    /// Tables reached through `client`.
    pub fn new(client: Client) -> Self {
        RemoteTables { client, split_bytes: SPLIT_BYTES, clock: Arc::new(SystemClock) }
    }

    /// The same, reading this machine's time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Splits exports into key ranges of about `bytes` (default 32 MiB).
    pub fn with_split_bytes(mut self, bytes: i64) -> Self {
        self.split_bytes = bytes.max(1);
        self
    }
}

impl TableSource for RemoteTables {
    fn origin(&self) -> String {
        format!("{} instance {}", self.client.endpoint(), self.client.instance())
    }

    async fn list_tables(&self) -> Result<Vec<String>, BackupError> {
        self.client.list_table().await.map_err(BackupError::remote(""))
    }

    async fn estimate_rows(&self, _table: &str) -> Option<u64> {
        None // The Tablestore API tells sizes (split points), not row counts.
    }

    async fn stream_end(&self, table: &str) -> Result<Option<StreamEnd>, BackupError> {
        let description = self.client.describe_table(table).await.map_err(BackupError::remote(table))?;
        match description.stream.stream_id.as_deref() {
            Some(stream_id) => self.settled_end(table, stream_id).await,
            _ => Ok(None),
        }
    }

    async fn read_changes(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        end: Option<u64>,
        limit: usize,
    ) -> Result<Option<ChangePage>, BackupError> {
        let shard_iterator =
            ShardIterator { stream_id: stream_id.to_owned(), position: from, end, issued_at_us: None }.encode();
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let request = GetStreamRecordRequest { shard_iterator, limit: Some(limit) };
        let page = match self.client.get_stream_record(request).await {
            Ok(page) => page,
            Err(e) if stream_unreadable(&e) => return Ok(None),
            Err(e) => return Err(BackupError::remote(table)(e)),
        };
        let next = match page.next_shard_iterator.as_deref().map(ShardIterator::decode) {
            Some(Some(next)) => next.position,
            // A closed shard: a bounded iterator reached its end.
            None => end.unwrap_or(u64::MAX),
            Some(None) => return Ok(None),
        };
        let mut changes = Vec::with_capacity(page.records.len());
        for record in page.records {
            // Without positions, changes cannot be placed in the stream.
            let Some(position) = record.position else { return Ok(None) };
            let kind = match record.action {
                StreamAction::PutRow => ChangeKind::Put,
                StreamAction::UpdateRow => ChangeKind::Update,
                StreamAction::DeleteRow => ChangeKind::Delete,
            };
            changes.push(Change { position, kind, row: record.row });
        }
        Ok(Some(ChangePage { changes, next }))
    }

    async fn export(&self, table: &str, items: mpsc::Sender<ExportItem>) -> Result<ExportSummary, BackupError> {
        let cancelled = |_| BackupError::Internal("export cancelled".into());
        let description = self.client.describe_table(table).await.map_err(BackupError::remote(table))?;
        let stream = match description.stream.stream_id.as_deref() {
            Some(stream_id) => self.settled_end(table, stream_id).await?,
            _ => None,
        };
        let position_time_us = stream.as_ref().map(|end| end.settled_at_us);
        let (stream_id, stream_position) = stream.map(|end| (end.stream_id, end.position)).unzip();
        let start = ExportItem::Start { stream_id, stream_position };
        items.send(start).await.map_err(cancelled)?;
        // Key ranges of about `split_bytes` each, scanned SCAN_PARALLELISM at a time
        // and handed on in key order; each range buffers at most two batches.
        let splits =
            SplitPointsRequest { split_size_unit_bytes: Some(self.split_bytes), ..SplitPointsRequest::new(table, 1) };
        let ranges = self.client.compute_split_points_by_size(splits).await.map_err(BackupError::remote(table))?;
        let mut ranges = ranges.ranges().into_iter();
        let mut scans = std::collections::VecDeque::new();
        let start_scan = |(start, end): (PrimaryKey, PrimaryKey)| {
            let (client, table) = (self.client.clone(), table.to_owned());
            let (tx, rx) = mpsc::channel::<Vec<Row>>(2);
            let task = tokio::spawn(async move {
                let request = GetRangeRequest::new(&table, start, end).max_versions(i32::MAX);
                let mut scan = std::pin::pin!(client.scan(request).try_chunks(ROW_BATCH));
                while let Some(batch) = scan.next().await {
                    let batch = batch.map_err(|e| BackupError::remote(&table)(e.1))?;
                    if tx.send(batch).await.is_err() {
                        break;
                    }
                }
                Ok::<(), BackupError>(())
            });
            (task, rx)
        };
        scans.extend(ranges.by_ref().take(SCAN_PARALLELISM).map(start_scan));
        while let Some((task, mut rx)) = scans.pop_front() {
            while let Some(batch) = rx.recv().await {
                items.send(ExportItem::Rows(batch)).await.map_err(cancelled)?;
            }
            task.await.map_err(|e| BackupError::Internal(format!("scan task failed: {e}")))??;
            scans.extend(ranges.next().map(start_scan));
        }
        Ok(ExportSummary {
            definition: TableDefinition {
                schema: description.schema,
                options: description.options,
                reserved: description.reserved,
                stream: description.stream.spec,
                indexes: description.indexes,
            },
            consistency: Consistency::Fuzzy,
            stream_position,
            position_time_us,
            auto_increment: None,
        })
    }
}

impl RemoteTables {
    /// The stream's settled end (every change acknowledged before the call lies
    /// below it), when the endpoint hands out TableSafe positions; `None` otherwise.
    /// Its time is the server's, from the iterator; only a server too old to put
    /// it there gets this machine's clock, read before the call.
    async fn settled_end(&self, table: &str, stream_id: &str) -> Result<Option<StreamEnd>, BackupError> {
        let asked_at_us = self.clock.now_micros();
        let description = match self.client.describe_stream(DescribeStreamRequest::new(stream_id)).await {
            Ok(description) => description,
            Err(e) if stream_unreadable(&e) => return Ok(None),
            Err(e) => return Err(BackupError::remote(table)(e)),
        };
        // Positions are defined for a stream of one shard that never splits.
        let [shard] = description.shards.as_slice() else { return Ok(None) };
        let request = GetShardIteratorRequest {
            timestamp: Some(i64::MAX),
            ..GetShardIteratorRequest::new(stream_id, shard.shard_id.clone())
        };
        let iterator = match self.client.get_shard_iterator(request).await {
            Ok(iterator) => iterator,
            Err(e) if stream_unreadable(&e) || e.code() == Some(ErrorCode::ParameterInvalid) => return Ok(None),
            Err(e) => return Err(BackupError::remote(table)(e)),
        };
        Ok(ShardIterator::decode(&iterator).filter(|it| it.stream_id == stream_id && it.end.is_none()).map(|it| {
            StreamEnd {
                settled_at_us: it.issued_at_us.unwrap_or(asked_at_us),
                stream_id: it.stream_id,
                position: it.position,
            }
        }))
    }
}

impl RemoteTables {
    /// Writes rows of distinct keys with parallel BatchWriteRow requests, each a
    /// task of its own: encoding a request (PlainBuffer, its CRC-8s, the body's
    /// MD5) is most of a remote restore's CPU, so requests are encoded on the
    /// runtime's workers beside the task that reads the snapshot. Each write is
    /// idempotent (rows carry their timestamps), so rows that failed are retried a
    /// few times before giving up. Dropping the future aborts the writes in flight.
    async fn write_all(&self, table: &str, writes: Vec<RowWrite>) -> Result<(), BackupError> {
        let mut writes = writes.into_iter().peekable();
        let mut in_flight = tokio::task::JoinSet::new();
        let joined = |result: Result<Result<(), BackupError>, tokio::task::JoinError>| {
            result.map_err(|error| BackupError::Internal(format!("table '{table}': a write task failed: {error}")))?
        };
        while writes.peek().is_some() {
            if in_flight.len() >= WRITE_PARALLELISM {
                if let Some(done) = in_flight.join_next().await {
                    joined(done)?;
                }
            }
            let request = BatchWriteRowRequest { rows: writes.by_ref().take(WRITE_BATCH).collect() };
            in_flight.spawn(write_batch(self.client.clone(), table.to_owned(), request));
        }
        while let Some(done) = in_flight.join_next().await {
            joined(done)?;
        }
        Ok(())
    }
}

/// One BatchWriteRow request, and again for the rows that failed.
async fn write_batch(client: Client, table: String, request: BatchWriteRowRequest) -> Result<(), BackupError> {
    let mut pending = request;
    for _ in 0..5 {
        let response = client.batch_write_row(&pending).await.map_err(BackupError::remote(&table))?;
        let failed: Vec<RowWrite> = pending
            .rows
            .into_iter()
            .zip(&response.rows)
            .filter(|(_, result)| result.is_err())
            .map(|(row, _)| row)
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        pending = BatchWriteRowRequest { rows: failed };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(BackupError::Internal(format!("table '{table}': rows kept failing to write")))
}

/// Errors after which a stream cannot serve the changes asked for: records
/// trimmed, stream disabled or re-enabled.
fn stream_unreadable(error: &ClientError) -> bool {
    matches!(error.code(), Some(ErrorCode::TrimmedDataAccess | ErrorCode::ObjectNotExist))
}

impl TableSink for RemoteTables {
    fn destination(&self) -> String {
        format!("{} instance {}", self.client.endpoint(), self.client.instance())
    }

    async fn table_exists(&self, table: &str) -> Result<bool, BackupError> {
        let tables = self.client.list_table().await.map_err(BackupError::remote(table))?;
        Ok(tables.iter().any(|t| t == table))
    }

    async fn table_is_empty(&self, table: &str) -> Result<bool, BackupError> {
        let description = self.client.describe_table(table).await.map_err(BackupError::remote(table))?;
        let bound = |value: PkValue| {
            PrimaryKey::new(description.schema.primary_key.iter().map(|c| (c.name.clone(), value.clone())))
        };
        let request = GetRangeRequest::new(table, bound(PkValue::InfMin), bound(PkValue::InfMax)).limit(1);
        let page = self.client.get_range(request).await.map_err(BackupError::remote(table))?;
        Ok(page.rows.is_empty())
    }

    async fn create_table(&self, table: &str, definition: &TableDefinition) -> Result<(), BackupError> {
        let request = CreateTableRequest {
            schema: renamed(definition, table),
            options: TableOptions { max_time_deviation: LOADING_DEVIATION, ..definition.options },
            reserved: definition.reserved,
            stream: definition.stream.enabled.then(|| definition.stream.clone()),
            indexes: definition.indexes.clone(),
        };
        // An index name taken (the table restored beside the one backed up, whose
        // indexes keep theirs) is asked for again as `<table>_<index>`, as a
        // restore into the data directory names it.
        let renamed_indexes = CreateTableRequest {
            indexes: definition.indexes.iter().map(|meta| index_beside(table, meta)).collect(),
            ..request.clone()
        };
        match self.client.create_table(request).await {
            Err(ClientError::Service { code: ServiceCode::Known(ErrorCode::ObjectAlreadyExist), .. })
                if !definition.indexes.is_empty() =>
            {
                self.client.create_table(renamed_indexes).await.map_err(BackupError::remote(table))
            }
            other => other.map_err(BackupError::remote(table)),
        }
    }

    async fn write_rows(&self, table: &str, rows: Vec<Row>) -> Result<(), BackupError> {
        let writes =
            rows.into_iter().map(|row| RowWrite::Put(PutRowRequest::new(table, row.primary_key, row.cells))).collect();
        self.write_all(table, writes).await
    }

    async fn read_rows(&self, table: &str, keys: Vec<PrimaryKey>) -> Result<Vec<Option<Row>>, BackupError> {
        let client = &self.client;
        let pages = futures::stream::iter(keys.chunks(READ_BATCH).map(<[PrimaryKey]>::to_vec))
            .map(|keys| async move {
                let request =
                    BatchGetRowRequest::new().table(BatchGetTable::new(table).keys(keys).max_versions(i32::MAX));
                let response = client.batch_get_row(request).await.map_err(BackupError::remote(table))?;
                response
                    .rows()
                    .map(|(_, result)| match result {
                        Ok(found) => Ok(found.row.clone()),
                        Err(e) => Err(BackupError::Internal(format!("table '{table}': reading a row failed: {e}"))),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .buffered(WRITE_PARALLELISM)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn delete_rows(&self, table: &str, keys: Vec<PrimaryKey>) -> Result<(), BackupError> {
        let writes = keys.into_iter().map(|key| RowWrite::Delete(DeleteRowRequest::new(table, key))).collect();
        self.write_all(table, writes).await
    }

    async fn finish_table(
        &self,
        table: &str,
        definition: &TableDefinition,
        _auto_increment: Option<i64>,
    ) -> Result<(), BackupError> {
        // The Tablestore API cannot set an auto-increment counter; the service
        // allocates past existing keys on its own.
        let request = UpdateTableRequest {
            max_time_deviation: Some(definition.options.max_time_deviation),
            ..UpdateTableRequest::new(table)
        };
        self.client.update_table(request).await.map(drop).map_err(BackupError::remote(table))
    }

    async fn drop_table(&self, table: &str) -> Result<(), BackupError> {
        match self.client.delete_table(table).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(tablesafe_client::ErrorCode::ObjectNotExist) => Ok(()),
            Err(e) => Err(BackupError::remote(table)(e)),
        }
    }
}
