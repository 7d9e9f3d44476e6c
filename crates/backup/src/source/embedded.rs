//! The local engine as a source and a sink: exports read one RocksDB snapshot taken
//! at a quiet point of the change stream, so they are exact at a known position;
//! restores load rows by SST ingestion (`TableLoad`), and replay changes by writes.

use std::sync::Arc;

use tablesafe_client::model::{PkValue, PrimaryKey, Row};
use tablesafe_engine::{
    ChangeAction, CreateTable, Direction, Engine, EngineError, RangeRequest, ReturnContent, RowChange,
    RowWrite as EngineRowWrite, TableLoad,
};
use tablesafe_proto::model::{Condition, ReadOptions};
use tokio::sync::mpsc;

use super::{
    index_beside, renamed, ChangePage, Consistency, ExportItem, ExportSummary, StreamEnd, TableDefinition, TableSink,
    TableSource, ROW_BATCH,
};
use crate::changes::{Change, ChangeKind};
use crate::format::EncodedRows;
use crate::BackupError;

/// Record bytes an export batch holds at most (besides [`ROW_BATCH`] rows).
const BATCH_BYTES: usize = 1 << 20;

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

    /// Keeps the change log of each of `tables` on whatever its client stream
    /// settings (the engine writes a change record with every row change from now
    /// on), so that archiving covers tables whose client never enabled a stream.
    /// A table dropped meanwhile is skipped.
    async fn keep_change_logs(&self, tables: &[String]) -> Result<(), BackupError> {
        let tables = tables.to_vec();
        self.blocking(move |engine| {
            for table in &tables {
                match engine.keep_change_log(table, true) {
                    Ok(_) | Err(EngineError::TableNotFound { .. }) => {}
                    Err(error) => return Err(BackupError::engine(table)(error)),
                }
            }
            Ok(())
        })
        .await
    }

    async fn list_tables(&self) -> Result<Vec<String>, BackupError> {
        Ok(self.engine.list_tables())
    }

    async fn export(&self, table: &str, items: mpsc::Sender<ExportItem>) -> Result<ExportSummary, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let cancelled = |_| BackupError::Internal("export cancelled".into());
            let stream_id = engine.table(&name).map_err(BackupError::engine(&name))?.change_log_id();
            // Rows go out as records made in place from the stored bytes (`format::EncodedRows`).
            let fresh = || EncodedRows::with_capacity(BATCH_BYTES + 64 * 1024, ROW_BATCH);
            let mut batch = fresh();
            let mut position_time_us = None;
            let started = |stream_position: Option<u64>| {
                // Taken once the export's snapshot is: every change below the position was committed by now.
                position_time_us = stream_position.map(|_| engine.clock().now_micros());
                items.blocking_send(ExportItem::Start { stream_id, stream_position }).map_err(cancelled)
            };
            let export = engine.export_table_in_place(&name, started, |row| {
                batch.push_view(row);
                if batch.len() >= ROW_BATCH || batch.records.len() >= BATCH_BYTES {
                    items.blocking_send(ExportItem::Encoded(std::mem::replace(&mut batch, fresh()))).map_err(cancelled)?;
                }
                Ok::<(), BackupError>(())
            });
            let export = export.map_err(|e| match e {
                BackupError::Engine { source, .. } => BackupError::Engine { table: name.clone(), source },
                other => other,
            })?;
            if !batch.is_empty() {
                items.blocking_send(ExportItem::Encoded(batch)).map_err(cancelled)?;
            }
            let info = &export.info;
            Ok(ExportSummary {
                definition: TableDefinition {
                    schema: info.schema.clone(),
                    options: info.options,
                    reserved: info.reserved,
                    stream: info.stream.clone(),
                    indexes: info.indexes.iter().map(|i| i.meta.clone()).collect(),
                },
                consistency: Consistency::Exact,
                stream_position: export.stream_position,
                position_time_us,
                auto_increment: export.auto_increment,
            })
        })
        .await
    }

    async fn check_indexes(&self, table: &str) -> Result<Vec<String>, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| engine.verify_indexes(&name).map_err(BackupError::engine(&name))).await
    }

    async fn estimate_rows(&self, table: &str) -> Option<u64> {
        let name = table.to_owned();
        self.blocking(move |engine| Ok(engine.estimate_rows(&name).ok().flatten())).await.ok().flatten()
    }

    async fn stream_end(&self, table: &str) -> Result<Option<StreamEnd>, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let Some(stream_id) = engine.table(&name).map_err(BackupError::engine(&name))?.change_log_id() else {
                return Ok(None);
            };
            // Before the position settles: every change stamped earlier is below it.
            let settled_at_us = engine.clock().now_micros();
            let position = engine.stream_position(&stream_id, Some(i64::MAX)).map_err(BackupError::engine(&name))?;
            Ok(Some(StreamEnd { stream_id, position, settled_at_us }))
        })
        .await
    }

    async fn read_changes(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        end: Option<u64>,
        limit: usize,
    ) -> Result<Option<ChangePage>, BackupError> {
        let (name, stream_id) = (table.to_owned(), stream_id.to_owned());
        self.blocking(move |engine| {
            let page = match engine.stream_read(&stream_id, from, limit) {
                Ok(page) => page,
                Err(EngineError::StreamTrimmed | EngineError::StreamNotFound { .. }) => return Ok(None),
                Err(e) => return Err(BackupError::engine(&name)(e)),
            };
            let end = end.unwrap_or(u64::MAX);
            let mut next = page.next;
            let mut changes = Vec::with_capacity(page.records.len());
            for record in page.records {
                if record.seq >= end {
                    next = end;
                    break;
                }
                let kind = match record.action {
                    ChangeAction::Put => ChangeKind::Put,
                    ChangeAction::Update => ChangeKind::Update,
                    ChangeAction::Delete => ChangeKind::Delete,
                };
                changes.push(Change { position: record.seq, kind, row: record.row });
            }
            Ok(Some(ChangePage { changes, next: next.min(end) }))
        })
        .await
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
        let (name, indexes) = (table.to_owned(), definition.indexes.clone());
        self.blocking(move |engine| {
            // An index keeps its name unless a table or index has it (the table
            // restored beside the one backed up): then it is `<table>_<index>`.
            let indexes = indexes
                .into_iter()
                .map(|meta| if engine.name_taken(&meta.name) { index_beside(&name, &meta) } else { meta })
                .collect();
            engine.create_table_with_indexes(request, indexes).map(drop).map_err(BackupError::engine(&name))
        })
        .await
    }

    async fn write_rows(&self, table: &str, rows: Vec<Row>) -> Result<(), BackupError> {
        let name = table.to_owned();
        // Unsynced: `finish_table` syncs once, before the restore is reported done.
        self.blocking(move |engine| engine.import_owned_rows_unsynced(&name, rows).map_err(BackupError::engine(&name)))
            .await
    }

    async fn read_rows(&self, table: &str, keys: Vec<PrimaryKey>) -> Result<Vec<Option<Row>>, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let read = ReadOptions { max_versions: Some(i32::MAX), ..ReadOptions::default() };
            keys.iter()
                .map(|key| engine.get_row(&name, key, &read).map(|found| found.row).map_err(BackupError::engine(&name)))
                .collect()
        })
        .await
    }

    async fn delete_rows(&self, table: &str, keys: Vec<PrimaryKey>) -> Result<(), BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let writes = keys
                .into_iter()
                .map(|key| EngineRowWrite {
                    table: name.clone(),
                    change: RowChange::Delete(key),
                    condition: Condition::default(),
                    return_content: ReturnContent::None,
                })
                .collect();
            for result in engine.write_rows(writes) {
                result.map_err(BackupError::engine(&name))?;
            }
            Ok(())
        })
        .await
    }

    async fn finish_table(
        &self,
        table: &str,
        _definition: &TableDefinition,
        auto_increment: Option<i64>,
    ) -> Result<(), BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            // The rows were imported unsynced: durable now, before the restore is done.
            engine.sync_wal().map_err(BackupError::engine(&name))?;
            // Imports and bulk loads write rows around the index upkeep of ordinary
            // writes: the restored table's indexes are built from its rows here.
            engine.rebuild_indexes(&name).map_err(BackupError::engine(&name))?;
            match auto_increment {
                Some(value) => engine.raise_auto_increment(&name, value).map_err(BackupError::engine(&name)),
                None => Ok(()),
            }
        })
        .await
    }

    async fn start_load(&self, table: &str, replace: bool) -> Result<Option<TableLoad>, BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| {
            let load = engine.start_load(&name).map_err(BackupError::engine(&name))?;
            Ok(Some(if replace { load.replacing() } else { load }))
        })
        .await
    }

    async fn finish_load(&self, table: &str, load: TableLoad) -> Result<(), BackupError> {
        let name = table.to_owned();
        self.blocking(move |engine| engine.finish_load(load).map(drop).map_err(BackupError::engine(&name))).await
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
