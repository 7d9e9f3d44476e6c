//! Row writes and point reads.
//!
//! A write is: validate everything, fill auto-increment placeholders, lock the rows'
//! stripes, read the current rows, check conditions, apply, and commit every row of
//! the call in one atomic RocksDB write batch (one WAL fsync for a whole
//! BatchWriteRow). Rows that fail validation or their condition are reported one by
//! one and do not stop the others. The change records of stream-enabled tables are
//! numbered while the rows are still locked and go into the same batch.

use std::collections::HashMap;
use std::sync::Arc;

use rocksdb::WriteBatch;
use tablesafe_proto::model::{Cell, Condition, PkValue, PrimaryKey, ReadOptions, Row, RowExistence};

use crate::catalog::{autoinc_key, TableInfo};
use crate::error::{EngineError, StorageContext};
use crate::filter::CompiledFilter;
use crate::mutate::{apply_put, apply_update, resolved_put_cells, validate_cells, ChangeKind};
use crate::read::{Projection, Visibility};
use crate::stored::StoredRow;
use crate::stream::{record_key, ChangeAction, PendingChange};
use crate::validate::{check_primary_key, KeyUse};
use crate::{keys, Engine, CF_META, CF_ROWS, CF_STREAM};

/// The change a write makes to one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    /// PutRow: replace the row with these cells (the row's primary key may hold an
    /// auto-increment placeholder).
    Put(Row),
    /// UpdateRow: apply these cell operations.
    Update(Row),
    /// DeleteRow.
    Delete(PrimaryKey),
}

impl RowChange {
    fn primary_key(&self) -> &PrimaryKey {
        match self {
            RowChange::Put(row) | RowChange::Update(row) => &row.primary_key,
            RowChange::Delete(pk) => pk,
        }
    }
}

/// What a write returns of the row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReturnContent {
    /// Nothing.
    #[default]
    None,
    /// The primary key (with generated auto-increment values).
    PrimaryKey,
    /// The primary key and the latest values of these columns after the write.
    AfterModify(Vec<String>),
}

/// One row write of a PutRow, UpdateRow, DeleteRow or BatchWriteRow.
#[derive(Debug, Clone)]
pub struct RowWrite {
    /// Table name.
    pub table: String,
    /// The change.
    pub change: RowChange,
    /// Condition checked against the current row.
    pub condition: Condition,
    /// What to return.
    pub return_content: ReturnContent,
}

/// Capacity units an operation consumed (informational, as the service reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consumed {
    /// Read capacity units.
    pub read: i32,
    /// Write capacity units.
    pub write: i32,
}

/// Capacity units for `bytes` of data: one per 4 KB, at least one.
pub(crate) fn capacity_units(bytes: usize) -> i32 {
    i32::try_from(bytes.div_ceil(4096).max(1)).unwrap_or(i32::MAX)
}

/// The result of one row write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The row asked for by `return_content`.
    pub row: Option<Row>,
    /// Capacity consumed.
    pub consumed: Consumed,
}

/// The result of a point read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOutcome {
    /// The row, or `None` when absent or filtered out.
    pub row: Option<Row>,
    /// Capacity consumed.
    pub consumed: Consumed,
}

/// A row write checked against its table, ready to apply.
pub(crate) struct Prepared {
    info: Arc<TableInfo>,
    kind: Option<ChangeKind>,
    /// The primary key (auto-increment placeholders filled once `key` is set).
    pub(crate) pk: PrimaryKey,
    cells: Vec<Cell>,
    existence: RowExistence,
    column_condition: Option<CompiledFilter>,
    return_content: ReturnContent,
    /// The encoded row key; empty while an auto-increment value is still to come.
    pub(crate) key: Vec<u8>,
    /// Data size as the service counts a write.
    pub(crate) data_bytes: usize,
}

impl Engine {
    pub(crate) fn prepare(&self, write: RowWrite, now_ms: i64) -> Result<Prepared, EngineError> {
        let info = self.table(&write.table)?;
        let schema = &info.schema.primary_key;
        let (kind, key_use) = match &write.change {
            RowChange::Put(_) => (Some(ChangeKind::Put), KeyUse::Put),
            RowChange::Update(_) => (Some(ChangeKind::Update), KeyUse::Point),
            RowChange::Delete(_) => (None, KeyUse::Point),
        };
        check_primary_key(write.change.primary_key(), schema, key_use)?;
        if kind == Some(ChangeKind::Update) && !info.options.allow_update {
            return Err(EngineError::invalid("UpdateRow is not allowed on this table (allow_update is false)."));
        }
        let has_placeholder = write.change.primary_key().columns.iter().any(|c| c.value == PkValue::AutoIncrement);
        if has_placeholder
            && (write.condition.row_existence != RowExistence::Ignore || write.condition.column_condition.is_some())
        {
            return Err(EngineError::invalid(
                "The condition of a row with an AUTO_INCREMENT primary key column must be IGNORE without column condition.",
            ));
        }
        let column_condition = write.condition.column_condition.as_ref().map(CompiledFilter::compile).transpose()?;
        let (pk, cells) = match write.change {
            RowChange::Put(row) | RowChange::Update(row) => (row.primary_key, row.cells),
            RowChange::Delete(pk) => (pk, Vec::new()),
        };
        if let Some(kind) = kind {
            validate_cells(kind, &cells, schema, &info.options, now_ms)?;
        }
        let data_bytes = pk_bytes(&pk)
            + cells.iter().map(|c| c.name.len() + c.value.as_ref().map_or(0, |v| v.data_size())).sum::<usize>();
        let key = if has_placeholder { Vec::new() } else { keys::encode_row_key(info.id, &pk) };
        Ok(Prepared {
            info,
            kind,
            pk,
            cells,
            existence: write.condition.row_existence,
            column_condition,
            return_content: write.return_content,
            key,
            data_bytes,
        })
    }

    /// Applies row writes; one result per write, in order.
    pub fn write_rows(&self, writes: Vec<RowWrite>) -> Vec<Result<WriteOutcome, EngineError>> {
        let now = self.clock.now_millis();
        let mut prepared: Vec<Result<Prepared, EngineError>> =
            writes.into_iter().map(|w| self.prepare(w, now)).collect();
        let mut batch = WriteBatch::default();
        let meta = match self.cf(CF_META) {
            Ok(cf) => cf,
            Err(e) => {
                return prepared.into_iter().map(|_| Err(EngineError::Corrupt { detail: e.to_string() })).collect()
            }
        };
        let needs_autoinc = prepared.iter().any(|p| matches!(p, Ok(p) if p.key.is_empty()));
        // Held until the commit, so counters reach disk in allocation order.
        let mut autoinc = needs_autoinc.then(|| self.autoinc.lock());
        if let Some(counters) = autoinc.as_mut() {
            for item in prepared.iter_mut() {
                let Ok(p) = item else { continue };
                if !p.key.is_empty() {
                    continue;
                }
                match self.next_autoinc(counters, p.info.id) {
                    Ok(value) => {
                        for column in &mut p.pk.columns {
                            if column.value == PkValue::AutoIncrement {
                                column.value = PkValue::Integer(value);
                            }
                        }
                        p.key = keys::encode_row_key(p.info.id, &p.pk);
                        batch.put_cf(meta, autoinc_key(p.info.id), value.to_be_bytes());
                    }
                    Err(e) => *item = Err(e),
                }
            }
        }
        let _guards = self.locks.lock_all(prepared.iter().filter_map(|p| p.as_ref().ok()).map(|p| p.key.as_slice()));
        let mut pending: HashMap<Vec<u8>, Option<StoredRow>> = HashMap::new();
        let mut changes: Vec<PendingChange> = Vec::new();
        let mut outcomes: Vec<Result<WriteOutcome, EngineError>> = Vec::with_capacity(prepared.len());
        for item in prepared {
            outcomes.push(item.and_then(|p| {
                // Under the row's stripe, which a local transaction's write or
                // commit of this row takes too: one that begins after this check
                // reads the row only once this write is committed.
                self.check_no_transaction(p.info.id, &p.pk, now)?;
                self.apply_one(p, now, &mut pending, &mut changes, false)
            }));
        }
        match self.commit_rows(batch, &pending, changes) {
            Ok(()) => outcomes,
            Err(e) => {
                let message = e.to_string();
                outcomes.into_iter().map(|o| o.and_then(|_| Err(EngineError::Corrupt { detail: message.clone() }))).collect()
            }
        }
    }

    /// Commits the new states of `rows` and the change records `changes`, with
    /// whatever `batch` holds already, in one write. The caller holds the rows'
    /// stripes; the records are numbered here, so they lie together in the stream.
    pub(crate) fn commit_rows(
        &self,
        mut batch: WriteBatch,
        rows: &HashMap<Vec<u8>, Option<StoredRow>>,
        changes: Vec<PendingChange>,
    ) -> Result<(), EngineError> {
        let (rows_cf, stream) = (self.cf(CF_ROWS)?, self.cf(CF_STREAM)?);
        self.index_changes(&mut batch, rows)?;
        for (key, state) in rows {
            match state {
                Some(row) => batch.put_cf(rows_cf, key, row.encode()),
                None => batch.delete_cf(rows_cf, key),
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Released after the commit below, whether it succeeds or not.
        let reservation = (!changes.is_empty()).then(|| self.sequencer.reserve(changes.len(), self.clock.now_micros()));
        if let Some(reservation) = &reservation {
            for ((change, info), seq) in changes.into_iter().zip(&reservation.infos).zip(reservation.start..) {
                batch.put_cf(stream, record_key(change.table_id, seq), change.encode(*info));
            }
        }
        let committed = self.db.write_opt(batch, &self.write_options).context("write rows");
        drop(reservation);
        committed
    }

    fn next_autoinc(&self, counters: &mut HashMap<u32, i64>, table_id: u32) -> Result<i64, EngineError> {
        let current = match counters.get(&table_id) {
            Some(v) => *v,
            None => match self.db.get_cf(self.cf(CF_META)?, autoinc_key(table_id)).context("read auto-increment")? {
                Some(bytes) => i64::from_be_bytes(
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| EngineError::Corrupt { detail: "auto-increment".into() })?,
                ),
                None => 0,
            },
        };
        let next = current.checked_add(1).ok_or_else(|| EngineError::invalid("AUTO_INCREMENT values exhausted."))?;
        counters.insert(table_id, next);
        Ok(next)
    }

    /// Checks `p`'s condition against the row as `pending` (the states written so
    /// far in this call or transaction) or the table has it, and applies it into
    /// `pending`. Its change record goes to `changes` when the table has a stream,
    /// or always in a transaction (whose commit decides by the stream then).
    pub(crate) fn apply_one(
        &self,
        p: Prepared,
        now: i64,
        pending: &mut HashMap<Vec<u8>, Option<StoredRow>>,
        changes: &mut Vec<PendingChange>,
        in_transaction: bool,
    ) -> Result<WriteOutcome, EngineError> {
        let visibility = Visibility::new(&p.info.options, now);
        let current = match pending.get(&p.key) {
            Some(state) => state.clone(),
            None => self.load_row(&p.key)?,
        };
        let exists = current.as_ref().is_some_and(|r| visibility.row_exists(r));
        let condition_read = p.existence != RowExistence::Ignore || p.column_condition.is_some();
        match p.existence {
            RowExistence::ExpectExist if !exists => return Err(EngineError::ConditionFailed),
            RowExistence::ExpectNotExist if exists => return Err(EngineError::ConditionFailed),
            _ => {}
        }
        if let Some(filter) = &p.column_condition {
            let empty = StoredRow::default();
            let row = current.as_ref().filter(|_| exists).unwrap_or(&empty);
            if !filter.matches(&visibility.column_views(row)) {
                return Err(EngineError::ConditionFailed);
            }
        }
        let (new_state, action, applied) = match p.kind {
            Some(ChangeKind::Put) => {
                (Some(apply_put(&p.cells, now, &visibility)), ChangeAction::Put, resolved_put_cells(&p.cells, now))
            }
            Some(ChangeKind::Update) => {
                let (row, applied) = apply_update(current.filter(|_| exists), &p.cells, now, &visibility)?;
                // An update that leaves no attribute column leaves no row, as in the
                // service: on a missing row an update of only deletes writes none,
                // and deleting the last column removes the row. (A PutRow of only the
                // key still stores a row: that is a write the client asked for.)
                (Some(row).filter(|row| !row.columns.is_empty()), ChangeAction::Update, applied)
            }
            None => (None, ChangeAction::Delete, Vec::new()),
        };
        let row = match &p.return_content {
            ReturnContent::None => None,
            ReturnContent::PrimaryKey => Some(Row::from_key(p.pk.clone())),
            ReturnContent::AfterModify(names) => {
                let mut row = Row::from_key(p.pk.clone());
                if let Some(state) = &new_state {
                    for name in names {
                        if let Some(version) = state.column(name).and_then(|c| visibility.versions(c).next()) {
                            row.cells.push(Cell::version(name.clone(), version.value.clone(), version.timestamp));
                        }
                    }
                }
                Some(row)
            }
        };
        pending.insert(p.key, new_state);
        if p.info.stream_enabled_at_us.is_some() || in_transaction {
            let generation = p.info.stream_enabled_at_us.unwrap_or_default();
            let row = Row { primary_key: p.pk, cells: applied, ..Row::default() };
            changes.push(PendingChange { table_id: p.info.id, generation, action, row });
        }
        Ok(WriteOutcome {
            row,
            consumed: Consumed { read: i32::from(condition_read), write: capacity_units(p.data_bytes) },
        })
    }

    /// GetRow: the row as `options` select it.
    pub fn get_row(&self, table: &str, pk: &PrimaryKey, options: &ReadOptions) -> Result<ReadOutcome, EngineError> {
        let info = self.readable_table(table)?;
        check_primary_key(pk, &info.schema.primary_key, KeyUse::Point)?;
        self.read_row(&info, pk, options, None)
    }

    /// The row `pk` of `info` (its key checked) as `options` select it, from
    /// `overlay` (a local transaction's row states, `None` deleted) when it holds
    /// the row, else from the table.
    pub(crate) fn read_row(
        &self,
        info: &TableInfo,
        pk: &PrimaryKey,
        options: &ReadOptions,
        overlay: Option<&HashMap<Vec<u8>, Option<StoredRow>>>,
    ) -> Result<ReadOutcome, EngineError> {
        let projection = Projection::new(options, &info.pk_names())?;
        let key = keys::encode_row_key(info.id, pk);
        let stored = match overlay.and_then(|rows| rows.get(&key)) {
            Some(state) => state.clone(),
            None => self.load_row(&key)?,
        };
        let row = stored.and_then(|stored| projection.apply(pk.clone(), &stored, &self.visibility(info)));
        let bytes = row.as_ref().map_or(0, row_bytes);
        Ok(ReadOutcome { row, consumed: Consumed { read: capacity_units(bytes), write: 0 } })
    }
}

/// Data size of a primary key as the service counts it: each column's name and
/// value (8 bytes for an INTEGER).
pub(crate) fn pk_bytes(pk: &PrimaryKey) -> usize {
    pk.columns
        .iter()
        .map(|c| {
            c.name.len()
                + match &c.value {
                    PkValue::String(s) => s.len(),
                    PkValue::Binary(b) => b.len(),
                    _ => 8,
                }
        })
        .sum()
}

/// Data size of a returned row, for capacity and page-size accounting: the primary
/// key's names and values and each cell's name and value, as the service counts a
/// read (a cell's timestamp is not counted: a 4,090-byte row reads as one unit).
pub(crate) fn row_bytes(row: &Row) -> usize {
    pk_bytes(&row.primary_key)
        + row.cells.iter().map(|c| c.name.len() + c.value.as_ref().map_or(0, |v| v.data_size())).sum::<usize>()
}
