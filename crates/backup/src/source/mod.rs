//! Where table data comes from and goes to: one [`TableSource`] and one
//! [`TableSink`] trait, each with an embedded implementation (the local engine) and
//! a remote one (any Tablestore endpoint through `tablesafe-client`).
//!
//! Invariants: a source exports rows in primary-key order with every visible cell
//! version. An embedded export is exact: one snapshot of the table, at a stream
//! position. A remote one is *fuzzy* (GetRange is not a snapshot read); with a
//! stream position, it holds every change before that position and maybe some
//! after. Either way, the changes from the position on, applied to the export,
//! give the table as it is. A sink writes rows with their original timestamps.

use std::future::Future;

use serde::{Deserialize, Serialize};
use tablesafe_client::model::{
    IndexMeta, PrimaryKey, ReservedThroughput, Row, StreamSpec, TableOptions, TableSchema,
};
use tablesafe_engine::TableLoad;
use tokio::sync::mpsc;

use crate::changes::Change;
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
    /// Secondary indexes (absent in manifests written before they existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexMeta>,
}

/// How exactly an export reflects one moment of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// One snapshot of the table; with a stream, at a known stream position.
    Exact,
    /// Rows read over a period while writes went on; with a stream position,
    /// every change before it is included, later ones may be.
    Fuzzy,
}

/// A stream's settled end, as [`TableSource::stream_end`] tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    /// The stream.
    pub stream_id: String,
    /// Every change acknowledged before the call lies below this position.
    pub position: u64,
    /// A time (µs since the epoch, in the clock that stamps the stream's
    /// changes: the server's) such that every change stamped before it lies
    /// below `position`.
    pub settled_at_us: i64,
}

/// What an export reports besides its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    /// The table as exported.
    pub definition: TableDefinition,
    /// Exact or fuzzy.
    pub consistency: Consistency,
    /// The stream position the export is consistent at (exact) or complete up to
    /// (fuzzy), when known.
    pub stream_position: Option<u64>,
    /// A time (µs since the epoch, the source's clock where it can be read) by
    /// which every change before `stream_position` was committed.
    pub position_time_us: Option<i64>,
    /// The auto-increment counter, when the source can tell.
    pub auto_increment: Option<i64>,
}

/// What an export sends, in order: one `Start`, then rows in key order.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportItem {
    /// The export begins: it is consistent at (exact) or complete up to (fuzzy)
    /// this position of this stream; both `None` for a table without a stream or
    /// a source that cannot tell positions.
    Start {
        /// The table's stream id.
        stream_id: Option<String>,
        /// The stream position.
        stream_position: Option<u64>,
    },
    /// The next rows.
    Rows(Vec<Row>),
    /// The next rows, already records, in canonical form (the embedded source).
    Encoded(crate::format::EncodedRows),
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
    /// A rough count of `table`'s rows, when the source can tell one without
    /// reading them (for progress estimates only).
    fn estimate_rows(&self, table: &str) -> impl Future<Output = Option<u64>> + Send;
    /// The table's stream id and the stream's settled end: every change
    /// acknowledged before the call lies below that position. `None` for a table
    /// without a stream, or a source that cannot tell positions.
    fn stream_end(&self, table: &str) -> impl Future<Output = Result<Option<StreamEnd>, BackupError>> + Send;
    /// Up to about `limit` changes of `table` from position `from` of stream
    /// `stream_id`, none at or after `end`. `None` when the source cannot serve
    /// them: records trimmed, stream disabled or re-enabled, positions unknown.
    fn read_changes(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        end: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Option<ChangePage>, BackupError>> + Send;
    /// Where the secondary indexes of `table` differ from the indexes recomputed
    /// from its rows (none when they agree, or when the source cannot tell).
    fn check_indexes(&self, table: &str) -> impl Future<Output = Result<Vec<String>, BackupError>> + Send {
        let _ = table;
        async { Ok(Vec::new()) }
    }
    /// Keeps the change log of each of `tables` from now on, whether or not its
    /// client enabled a stream, so that archiving covers it. A source that cannot
    /// (a remote endpoint, whose own server decides) does nothing.
    fn keep_change_logs(&self, tables: &[String]) -> impl Future<Output = Result<(), BackupError>> + Send {
        let _ = tables;
        async { Ok(()) }
    }
}

/// Changes read from a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangePage {
    /// Changes in position order.
    pub changes: Vec<Change>,
    /// Where the next read starts; at the `end` asked for once it is reached.
    pub next: u64,
}

/// The distinct keys of `table` changed in `[from, to)` of stream `stream_id`, in
/// key order; `None` when the source cannot tell, or when more than `max_keys`
/// changed (memory stays bounded by `max_keys`).
pub async fn changed_keys<S: TableSource>(
    source: &S,
    table: &str,
    stream_id: &str,
    (from, to): (u64, u64),
    max_keys: usize,
) -> Result<Option<Vec<PrimaryKey>>, BackupError> {
    let mut keys: std::collections::BTreeMap<Vec<u8>, PrimaryKey> = std::collections::BTreeMap::new();
    let mut position = from;
    while position < to {
        let Some(page) = source.read_changes(table, stream_id, position, Some(to), 1000).await? else {
            return Ok(None);
        };
        // `to` is settled, so every change below it is readable: a page that
        // does not move on means the source cannot say which keys changed.
        if page.next <= position {
            return Ok(None);
        }
        for change in page.changes {
            let encoded = tablesafe_proto::plainbuffer::encode_primary_key(&change.row.primary_key);
            keys.entry(encoded).or_insert(change.row.primary_key);
        }
        if keys.len() > max_keys {
            return Ok(None);
        }
        position = page.next;
    }
    let mut keys: Vec<PrimaryKey> = keys.into_values().collect();
    keys.sort_by(|a, b| a.cmp_values(b));
    Ok(Some(keys))
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
    /// Writes rows (each replacing any stored row with its key). They need be
    /// durable only once [`finish_table`](Self::finish_table) returns.
    fn write_rows(&self, table: &str, rows: Vec<Row>) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// The rows with these keys as stored, every version; `None` where absent.
    fn read_rows(
        &self,
        table: &str,
        keys: Vec<PrimaryKey>,
    ) -> impl Future<Output = Result<Vec<Option<Row>>, BackupError>> + Send;
    /// Deletes the rows with these keys.
    fn delete_rows(&self, table: &str, keys: Vec<PrimaryKey>) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Completes a restored table: every row written is durable, settings relaxed
    /// for loading are put back, the auto-increment counter raised where the
    /// destination allows.
    fn finish_table(
        &self,
        table: &str,
        definition: &TableDefinition,
        auto_increment: Option<i64>,
    ) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Deletes a table (a failed restore's partial target).
    fn drop_table(&self, table: &str) -> impl Future<Output = Result<(), BackupError>> + Send;
    /// Opens a bulk load of a restore's rows into `table`: rows go in in key order
    /// and appear, all at once, when [`finish_load`](Self::finish_load) returns;
    /// with `replace`, what the table held before is gone then. `None` when the sink
    /// has no bulk path: rows then go through [`write_rows`](Self::write_rows).
    fn start_load(
        &self,
        _table: &str,
        _replace: bool,
    ) -> impl Future<Output = Result<Option<TableLoad>, BackupError>> + Send {
        async { Ok(None) }
    }
    /// Makes a load's rows visible and durable.
    fn finish_load(&self, table: &str, _load: TableLoad) -> impl Future<Output = Result<(), BackupError>> + Send {
        let message = format!("{} has no bulk load for table '{table}'", self.destination());
        async move { Err(BackupError::Internal(message)) }
    }
}

pub(crate) fn renamed(definition: &TableDefinition, table: &str) -> TableSchema {
    TableSchema { name: table.to_owned(), ..definition.schema.clone() }
}

/// An index of a table restored as `table`, named `<table>_<index>`: what it is
/// called when its own name is taken (the table restored beside the one backed up).
pub(crate) fn index_beside(table: &str, meta: &IndexMeta) -> IndexMeta {
    IndexMeta { name: format!("{table}_{}", meta.name), ..meta.clone() }
}

mod embedded;
mod remote;

pub use embedded::EmbeddedTables;
pub use remote::RemoteTables;
