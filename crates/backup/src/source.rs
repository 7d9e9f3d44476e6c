//! Where table data comes from and goes to: one [`TableSource`] and one
//! [`TableSink`] trait, each with an embedded implementation (the local engine) and
//! a remote one (any Tablestore endpoint through `tablesafe-client`).
//!
//! Invariants: a source exports rows in primary-key order with every visible cell
//! version; an embedded export is consistent at a stream position, a remote one is
//! *fuzzy* (GetRange is not a snapshot read) until the stream-replay of continuous
//! backup makes it consistent. A sink writes rows with their original timestamps.

use std::future::Future;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tablesafe_client::model::{PkValue, PrimaryKey, ReservedThroughput, Row, StreamSpec, TableOptions, TableSchema};
use tablesafe_client::{
    BatchWriteRowRequest, Client, CreateTableRequest, GetRangeRequest, PutRowRequest, RowWrite, SplitPointsRequest,
    UpdateTableRequest,
};
use tablesafe_engine::{CreateTable, Direction, Engine, EngineError, RangeRequest};
use tablesafe_proto::model::ReadOptions;
use tokio::sync::mpsc;

use crate::BackupError;

/// Rows handed from a source to the backup in one message.
pub const ROW_BATCH: usize = 1000;

/// Everything needed to recreate a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDefinition {
    /// Name and primary key.
    pub schema: TableSchema,
    /// TTL, versions, time deviation, UpdateRow permission.
    pub options: TableOptions,
    /// Reserved throughput.
    pub reserved: ReservedThroughput,
    /// Stream settings.
    pub stream: StreamSpec,
}

/// How exactly an export reflects one moment of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// One snapshot of the table; with a stream, at a known stream position.
    Exact,
    /// Rows read over a period while writes went on.
    Fuzzy,
}

/// What an export reports besides its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    /// The table as exported.
    pub definition: TableDefinition,
    /// Exact or fuzzy.
    pub consistency: Consistency,
    /// The stream position the export is consistent at, when known.
    pub stream_position: Option<u64>,
    /// The auto-increment counter, when the source can tell.
    pub auto_increment: Option<i64>,
}

/// What an export sends, in order: one `Start`, then rows in key order.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportItem {
    /// The export's snapshot is taken: it is consistent at this stream position
    /// of this stream (both `None` for fuzzy exports and tables without a stream).
    Start {
        /// The table's stream id.
        stream_id: Option<String>,
        /// The stream position.
        stream_position: Option<u64>,
    },
    /// The next rows.
    Rows(Vec<Row>),
}

/// Reads tables.
pub trait TableSource: Send + Sync {
    /// Where the data comes from, for manifests and messages.
    fn origin(&self) -> String;
    /// Names of all tables.
    fn list_tables(&self) -> impl Future<Output = Result<Vec<String>, BackupError>> + Send;
    /// Sends [`ExportItem::Start`], then every row of `table` in key order, in
    /// batches; then returns the summary.
    fn export(
        &self,
        table: &str,
        items: mpsc::Sender<ExportItem>,
    ) -> impl Future<Output = Result<ExportSummary, BackupError>> + Send;
    /// The keys of `table` changed in `[from, to)` of stream `stream_id`, or `None`
    /// when the source cannot tell (stream gone, records trimmed, no stream access).
    fn changed_keys(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Option<Vec<PrimaryKey>>, BackupError>> + Send;
}

/// Writes tables.
pub trait TableSink: Send + Sync {
    /// Where the data goes, for messages.
    fn destination(&self) -> String;
    /// Whether a table of that name exists.
    fn table_exists(&self, table: &str) -> impl Future<Output = Result<bool, BackupError>> + Send;
    /// Whether `table` holds no rows.
    fn table_is_empty(&self, table: &str) -> impl Future<Output = Result<bool, BackupError>> + Send;
    /// Creates `table` as `definition` describes (its schema's name is ignored).
    fn create_table(
        &self,
        table: &str,
        definition: &TableDefinition,
    ) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Writes rows (each replacing any stored row with its key).
    fn write_rows(&self, table: &str, rows: Vec<Row>) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Completes a restored table: settings relaxed for loading are put back, the
    /// auto-increment counter raised where the destination allows.
    fn finish_table(
        &self,
        table: &str,
        definition: &TableDefinition,
        auto_increment: Option<i64>,
    ) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Deletes a table (a failed restore's partial target).
    fn drop_table(&self, table: &str) -> impl Future<Output = Result<(), BackupError>> + Send;
}

fn renamed(definition: &TableDefinition, table: &str) -> TableSchema {
    TableSchema { name: table.to_owned(), ..definition.schema.clone() }
}

/// The local engine, read from consistent snapshots and written by bulk import.
#[derive(Clone, Debug)]
pub struct EmbeddedTables {
    engine: Arc<Engine>,
    origin: String,
}

impl EmbeddedTables {
    /// Tables of `engine`; `origin` names it (e.g. the data directory).
    pub fn new(engine: Arc<Engine>, origin: impl Into<String>) -> Self {
        EmbeddedTables { engine, origin: origin.into() }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Engine) -> Result<T, BackupError> + Send + 'static,
    ) -> Result<T, BackupError> {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || work(&engine))
            .await
            .map_err(|e| BackupError::Internal(format!("engine task failed: {e}")))?
    }
}

impl TableSource for EmbeddedTables {
    fn origin(&self) -> String {
        self.origin.clone()
    }

    async fn list_tables(&self) -> Result<Vec<String>, BackupError> {
        Ok(self.engine.list_tables())
    }

    async fn export(&self, table: &str, items: mpsc::Sender<ExportItem>) -> Result<ExportSummary, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let cancelled = |_| BackupError::Internal("export cancelled".into());
            let stream_id = engine.table(&name).map_err(BackupError::engine(&name))?.stream_id();
            let mut batch = Vec::with_capacity(ROW_BATCH);
            let started = |stream_position| {
                items.blocking_send(ExportItem::Start { stream_id, stream_position }).map_err(cancelled)
            };
            let export = engine.export_table(&name, started, |row| {
                batch.push(row);
                if batch.len() >= ROW_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
                    items.blocking_send(ExportItem::Rows(full)).map_err(cancelled)?;
                }
                Ok::<(), BackupError>(())
            });
            let export = export.map_err(|e| match e {
                BackupError::Engine { source, .. } => BackupError::Engine { table: name.clone(), source },
                other => other,
            })?;
            if !batch.is_empty() {
                items.blocking_send(ExportItem::Rows(batch)).map_err(cancelled)?;
            }
            let info = &export.info;
            Ok(ExportSummary {
                definition: TableDefinition {
                    schema: info.schema.clone(),
                    options: info.options,
                    reserved: info.reserved,
                    stream: info.stream.clone(),
                },
                consistency: Consistency::Exact,
                stream_position: export.stream_position,
                auto_increment: export.auto_increment,
            })
        })
        .await
    }

    async fn changed_keys(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<PrimaryKey>>, BackupError> {
        let (name, stream_id) = (table.to_owned(), stream_id.to_owned());
        self.blocking(move |engine| {
            EmbeddedTables::read_changed_keys(engine, &stream_id, from, to).map_err(BackupError::engine(&name))
        })
        .await
    }
}

impl EmbeddedTables {
    fn read_changed_keys(
        engine: &Engine,
        stream_id: &str,
        from: u64,
        to: u64,
    ) -> Result<Option<Vec<PrimaryKey>>, EngineError> {
        let mut keys = Vec::new();
        let mut position = from;
        while position < to {
            let page = match engine.stream_read(stream_id, position, 1000) {
                Ok(page) => page,
                Err(EngineError::StreamTrimmed | EngineError::StreamNotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let done = page.records.is_empty();
            keys.extend(page.records.into_iter().take_while(|r| r.seq < to).map(|r| r.row.primary_key));
            if done {
                break;
            }
            position = page.next;
        }
        Ok(Some(keys))
    }
}

impl TableSink for EmbeddedTables {
    fn destination(&self) -> String {
        self.origin.clone()
    }

    async fn table_exists(&self, table: &str) -> Result<bool, BackupError> {
        match self.engine.table(table) {
            Ok(_) => Ok(true),
            Err(EngineError::TableNotFound { .. }) => Ok(false),
            Err(e) => Err(BackupError::engine(table)(e)),
        }
    }

    async fn table_is_empty(&self, table: &str) -> Result<bool, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let info = engine.table(&name).map_err(BackupError::engine(&name))?;
            let bound =
                |value: PkValue| PrimaryKey::new(info.pk_names().into_iter().map(|n| (n.to_owned(), value.clone())));
            let request = RangeRequest {
                table: name.clone(),
                direction: Direction::Forward,
                start: bound(PkValue::InfMin),
                end: bound(PkValue::InfMax),
                limit: Some(1),
                read: ReadOptions { max_versions: Some(1), ..ReadOptions::default() },
            };
            let page = engine.get_range(&request).map_err(BackupError::engine(&name))?;
            Ok(page.rows.is_empty())
        })
        .await
    }

    async fn create_table(&self, table: &str, definition: &TableDefinition) -> Result<(), BackupError> {
        let request = CreateTable {
            schema: renamed(definition, table),
            options: definition.options,
            reserved: definition.reserved,
            stream: definition.stream.clone(),
        };
        let name = table.to_owned();
        self.blocking(move |engine| engine.create_table(request).map(drop).map_err(BackupError::engine(&name))).await
    }

    async fn write_rows(&self, table: &str, rows: Vec<Row>) -> Result<(), BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| engine.import_rows(&name, &rows).map_err(BackupError::engine(&name))).await
    }

    async fn finish_table(
        &self,
        table: &str,
        _definition: &TableDefinition,
        auto_increment: Option<i64>,
    ) -> Result<(), BackupError> {
        let Some(value) = auto_increment else { return Ok(()) };
        let name = table.to_owned();
        self.blocking(move |engine| engine.raise_auto_increment(&name, value).map_err(BackupError::engine(&name))).await
    }

    async fn drop_table(&self, table: &str) -> Result<(), BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| match engine.delete_table(&name) {
            Ok(()) | Err(EngineError::TableNotFound { .. }) => Ok(()),
            Err(e) => Err(BackupError::engine(&name)(e)),
        })
        .await
    }
}

/// Any Tablestore endpoint (TableSafe or Alibaba Cloud) through the Rust client.
#[derive(Clone, Debug)]
pub struct RemoteTables {
    client: Client,
    split_bytes: i64,
}

/// Key ranges a remote export scans at once.
const SCAN_PARALLELISM: usize = 4;
/// Default size of the key ranges a remote export splits a table into.
const SPLIT_BYTES: i64 = 32 * 1024 * 1024;
/// BatchWriteRow requests a remote restore keeps in flight.
const WRITE_PARALLELISM: usize = 4;
/// Rows per BatchWriteRow (the service's limit).
const WRITE_BATCH: usize = 200;
/// Time deviation (seconds) a restored table allows while loading, so that old
/// versions keep their timestamps; the original setting is put back at the end.
const LOADING_DEVIATION: i64 = 100 * 365 * 86_400;

impl RemoteTables {
    /// Tables reached through `client`.
    pub fn new(client: Client) -> Self {
        RemoteTables { client, split_bytes: SPLIT_BYTES }
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

    async fn changed_keys(&self, _: &str, _: &str, _: u64, _: u64) -> Result<Option<Vec<PrimaryKey>>, BackupError> {
        // Remote exports are fuzzy and carry no stream position yet.
        Ok(None)
    }

    async fn export(&self, table: &str, items: mpsc::Sender<ExportItem>) -> Result<ExportSummary, BackupError> {
        let cancelled = |_| BackupError::Internal("export cancelled".into());
        items.send(ExportItem::Start { stream_id: None, stream_position: None }).await.map_err(cancelled)?;
        let description = self.client.describe_table(table).await.map_err(BackupError::remote(table))?;
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
            },
            consistency: Consistency::Fuzzy,
            stream_position: None,
            auto_increment: None,
        })
    }
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
        };
        self.client.create_table(request).await.map_err(BackupError::remote(table))
    }

    async fn write_rows(&self, table: &str, rows: Vec<Row>) -> Result<(), BackupError> {
        let requests: Vec<BatchWriteRowRequest> = rows
            .chunks(WRITE_BATCH)
            .map(|chunk| BatchWriteRowRequest {
                rows: chunk
                    .iter()
                    .map(|row| RowWrite::Put(PutRowRequest::new(table, row.primary_key.clone(), row.cells.clone())))
                    .collect(),
            })
            .collect();
        let client = &self.client;
        futures::stream::iter(requests)
            .map(|request| async move {
                // Rows carry their timestamps, so writing one twice is harmless:
                // rows that failed are retried a few times before giving up.
                let mut pending = request;
                for _ in 0..5 {
                    let response = client.batch_write_row(pending.clone()).await.map_err(BackupError::remote(table))?;
                    let failed: Vec<RowWrite> = pending
                        .rows
                        .iter()
                        .zip(&response.rows)
                        .filter(|(_, result)| result.is_err())
                        .map(|(row, _)| row.clone())
                        .collect();
                    if failed.is_empty() {
                        return Ok(());
                    }
                    pending = BatchWriteRowRequest { rows: failed };
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(BackupError::Internal(format!("table '{table}': rows kept failing to write")))
            })
            .buffer_unordered(WRITE_PARALLELISM)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
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
