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
use tablesafe_proto::model::{Cell, Row};

use crate::catalog::{autoinc_key, TableInfo};
use crate::error::{EngineError, StorageContext};
use crate::stored::StoredRow;
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
        let info = self.table(table)?;
        let (snapshot, position) = self.sequencer.at_quiet_point(|next| (self.db.snapshot(), next));
        started(info.stream_id().map(|_| position))?;
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
            let stored = StoredRow::decode(value)?;
            iter.next();
            if !visibility.row_exists(&stored) {
                continue;
            }
            let mut row = Row::from_key(primary_key);
            for column in &stored.columns {
                for version in visibility.versions(column) {
                    row.cells.push(Cell::version(column.name.clone(), version.value.clone(), version.timestamp));
                }
            }
            rows += 1;
            cells += row.cells.len() as u64;
            visit(row)?;
        }
        iter.status().context("export scan")?;
        let stream_position = info.stream_id().map(|_| position);
        Ok(TableExport { info, stream_position, auto_increment, rows, cells })
    }

    /// Writes exported rows into `table` in one atomic batch, replacing stored rows
    /// with the same keys. Every cell must carry a value and a timestamp.
    pub fn import_rows(&self, table: &str, rows: &[Row]) -> Result<(), EngineError> {
        let info = self.table(table)?;
        let rows_cf = self.cf(CF_ROWS)?;
        let mut batch = WriteBatch::default();
        let mut keys_written = Vec::with_capacity(rows.len());
        for row in rows {
            check_primary_key(&row.primary_key, &info.schema.primary_key, KeyUse::Point)?;
            let mut stored = StoredRow::default();
            for cell in &row.cells {
                match (&cell.value, cell.timestamp, cell.op) {
                    (Some(value), Some(ts), None) => stored.column_mut(&cell.name).put(ts, value.clone()),
                    _ => return Err(EngineError::invalid("An imported cell needs a value and a timestamp.")),
                }
            }
            let key = keys::encode_row_key(info.id, &row.primary_key);
            batch.put_cf(rows_cf, &key, stored.encode());
            keys_written.push(key);
        }
        let _guards = self.locks.lock_all(keys_written.iter().map(Vec::as_slice));
        self.db.write_opt(batch, &self.write_options).context("import rows")
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
