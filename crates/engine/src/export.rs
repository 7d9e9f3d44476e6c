//! Whole-table export and import, for backup and restore.
//!
//! Export reads a table from one RocksDB snapshot taken at a *quiet point* of the
//! change stream: no stream commit is in flight, so the snapshot holds exactly the
//! changes numbered below the recorded position and none above it. Replaying the
//! stream from that position therefore continues the snapshot with no gap and no
//! overlap. Rows come out in primary-key order with every visible version.
//!
//! Import writes rows as they were exported: original timestamps, no time-deviation
//! check (these are not client writes), no change records (a restore is not a
//! change of the restored table's history), each row replacing what is stored.

use std::sync::Arc;

use rocksdb::WriteBatch;
use tablesafe_proto::model::{Cell, PrimaryKey, Row, ValueRef};

use crate::catalog::{autoinc_key, TableInfo};
use crate::error::{EngineError, StorageContext};
use crate::read::Visibility;
use crate::stored::{StoredColumn, StoredRow, StoredRowRef, StoredVersion};
use crate::validate::{check_primary_key, KeyUse};
use crate::{keys, Engine, CF_META, CF_ROWS};

/// What an export saw.
#[derive(Debug, Clone, PartialEq)]
pub struct TableExport {
    /// The table's definition at the snapshot.
    pub info: Arc<TableInfo>,
    /// For a stream-enabled table: the stream position the export is consistent
    /// at (every change below it is in the export, none at or above it).
    pub stream_position: Option<u64>,
    /// The table's auto-increment counter (the last value handed out).
    pub auto_increment: Option<i64>,
    /// Rows exported.
    pub rows: u64,
    /// Cell versions exported.
    pub cells: u64,
}

/// One row of an export, read in place from the engine's stored bytes.
pub struct RowView<'a> {
    /// The row's primary key.
    pub primary_key: PrimaryKey,
    stored: StoredRowRef<'a>,
    visibility: Visibility,
}

impl<'a> RowView<'a> {
    /// The visible cell versions in canonical order: columns by name, each newest
    /// first (the order [`Engine::export_table`]'s rows have).
    pub fn cells(&self) -> impl Iterator<Item = (&'a str, ValueRef<'a>, i64)> + '_ {
        let visibility = self.visibility;
        self.stored.columns.iter().flat_map(move |column| {
            visibility.visible(&column.versions, |v| v.timestamp).map(move |v| (column.name, v.value, v.timestamp))
        })
    }

    /// The row as an owned [`Row`].
    pub fn to_row(&self) -> Row {
        let mut row = Row::from_key(self.primary_key.clone());
        row.cells = self.cells().map(|(name, value, ts)| Cell::version(name, value.to_value(), ts)).collect();
        row
    }

    fn exists(&self) -> bool {
        self.stored.columns.is_empty() || self.cells().next().is_some()
    }
}

impl Engine {
    /// Calls `visit` with every row of `table` (primary-key order, all visible
    /// versions, newest first per column) as of one consistent snapshot. `started`
    /// is called first, once the snapshot is taken, with the stream position it is
    /// consistent at (for stream-enabled tables).
    pub fn export_table<E: From<EngineError>>(
        &self,
        table: &str,
        started: impl FnOnce(Option<u64>) -> Result<(), E>,
        mut visit: impl FnMut(Row) -> Result<(), E>,
    ) -> Result<TableExport, E> {
        self.export_table_in_place(table, started, |view| visit(view.to_row()))
    }

    /// [`export_table`](Self::export_table) without copying rows out: `visit` sees
    /// each row borrowed from the stored bytes, for callers that only re-encode it.
    pub fn export_table_in_place<E: From<EngineError>>(
        &self,
        table: &str,
        started: impl FnOnce(Option<u64>) -> Result<(), E>,
        mut visit: impl FnMut(&RowView<'_>) -> Result<(), E>,
    ) -> Result<TableExport, E> {
        let info = self.table(table)?;
        let (snapshot, position) = self.sequencer.at_quiet_point(|next| (self.db.snapshot(), next));
        started(info.change_log_id().map(|_| position))?;
        let meta = self.cf(CF_META)?;
        let auto_increment = match snapshot.get_cf(meta, autoinc_key(info.id)).context("export")? {
            Some(bytes) => Some(i64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| EngineError::Corrupt { detail: "auto-increment".into() })?,
            )),
            None => None,
        };
        let mut options = rocksdb::ReadOptions::default();
        options.set_snapshot(&snapshot);
        options.set_iterate_lower_bound(keys::table_prefix(info.id));
        options.set_iterate_upper_bound(keys::table_end(info.id));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_ROWS)?, options);
        iter.seek_to_first();
        let visibility = self.visibility(&info);
        let (mut rows, mut cells) = (0u64, 0u64);
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            let primary_key = keys::decode_row_key(key, &info.schema.primary_key)?;
            let view = RowView { primary_key, stored: StoredRowRef::decode(value)?, visibility };
            if view.exists() {
                rows += 1;
                cells += view.cells().count() as u64;
                visit(&view)?;
            }
            drop(view);
            iter.next();
        }
        iter.status().context("export scan")?;
        let stream_position = info.change_log_id().map(|_| position);
        Ok(TableExport { info, stream_position, auto_increment, rows, cells })
    }

    /// Writes exported rows into `table` in one atomic batch, replacing stored rows
    /// with the same keys. Every cell must carry a value and a timestamp.
    pub fn import_rows(&self, table: &str, rows: &[Row]) -> Result<(), EngineError> {
        self.import_rows_with(table, rows.iter().cloned(), &self.write_options)
    }

    /// Makes every write so far durable (fsyncs the WAL).
    pub fn sync_wal(&self) -> Result<(), EngineError> {
        self.db.flush_wal(true).context("sync WAL")
    }

    /// [`import_rows`](Self::import_rows) taking the rows (their names and values
    /// move into the stored rows, not copied) and without waiting for the disk: the
    /// batch is in the WAL (a killed process loses nothing) but not fsynced, so a
    /// power loss may lose it. For restores, which call [`sync_wal`](Self::sync_wal)
    /// before they report the table complete, and are rerun when interrupted.
    pub fn import_owned_rows_unsynced(&self, table: &str, rows: Vec<Row>) -> Result<(), EngineError> {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(false);
        self.import_rows_with(table, rows, &options)
    }

    fn import_rows_with(
        &self,
        table: &str,
        rows: impl IntoIterator<Item = Row>,
        write_options: &rocksdb::WriteOptions,
    ) -> Result<(), EngineError> {
        let info = self.table(table)?;
        let rows_cf = self.cf(CF_ROWS)?;
        let mut batch = WriteBatch::default();
        let mut keys_written = Vec::new();
        for row in rows {
            check_primary_key(&row.primary_key, &info.schema.primary_key, KeyUse::Point)?;
            let key = keys::encode_row_key(info.id, &row.primary_key);
            batch.put_cf(rows_cf, &key, stored_row(row.cells)?.encode());
            keys_written.push(key);
        }
        let _guards = self.locks.lock_all(keys_written.iter().map(Vec::as_slice));
        self.db.write_opt(batch, write_options).context("import rows")
    }

    /// Raises the table's auto-increment counter to at least `value`, so that new
    /// rows never reuse a restored key.
    pub fn raise_auto_increment(&self, table: &str, value: i64) -> Result<(), EngineError> {
        let info = self.table(table)?;
        let mut counters = self.autoinc.lock();
        let meta = self.cf(CF_META)?;
        let current = match self.db.get_cf(meta, autoinc_key(info.id)).context("read auto-increment")? {
            Some(bytes) => i64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| EngineError::Corrupt { detail: "auto-increment".into() })?,
            ),
            None => 0,
        };
        if value > current {
            self.db
                .put_cf_opt(meta, autoinc_key(info.id), value.to_be_bytes(), &self.write_options)
                .context("raise auto-increment")?;
            counters.insert(info.id, value);
        }
        Ok(())
    }
}

/// The stored form of exported cells. Cells in export order (by name, newest
/// first) are appended; others are inserted where they belong.
pub(crate) fn stored_row(cells: Vec<Cell>) -> Result<StoredRow, EngineError> {
    let mut stored = StoredRow::default();
    for cell in cells {
        let (Some(value), Some(ts), None) = (cell.value, cell.timestamp, cell.op) else {
            return Err(EngineError::invalid("An imported cell needs a value and a timestamp."));
        };
        match stored.columns.last_mut() {
            Some(last) if last.name == cell.name => match last.versions.last() {
                Some(older) if older.timestamp > ts => last.versions.push(StoredVersion { timestamp: ts, value }),
                _ => last.put(ts, value),
            },
            Some(last) if last.name.as_bytes() > cell.name.as_bytes() => stored.column_mut(&cell.name).put(ts, value),
            _ => stored.columns.push(StoredColumn { name: cell.name, versions: vec![StoredVersion { timestamp: ts, value }] }),
        }
    }
    Ok(stored)
}
