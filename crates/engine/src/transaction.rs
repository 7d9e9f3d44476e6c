//! Local transactions: the reads and writes of one partition-key value of one
//! table, held apart from the table until they commit together.
//!
//! A transaction keeps the rows it wrote, as their whole new stored state, in
//! memory; reads in it see those states over the table; nothing of it reaches
//! RocksDB before commit. Commit writes every row and every change record of the
//! transaction in one write batch (one WAL fsync), so after a crash it is all
//! there or not at all, and the stream holds its records as one consecutive
//! group. Abort, a timeout or a restart discards it.
//!
//! Invariants:
//! - While a transaction is open, a write outside it to a row of its partition
//!   fails (`OTSRowOperationConflict`), checked under the row's stripe lock; so
//!   the states it computed from the table stay right until it commits (the
//!   service's pessimistic lock). The partition stays held until the commit's
//!   write is done, so no outside write and no next transaction on it reads
//!   its rows as they were before.
//! - A transaction is used by one request at a time, and only by the access key
//!   that started it (others are told the id names no transaction).
//! - A transaction lives [`TRANSACTION_TIMEOUT_MS`] from its start, on the
//!   engine's clock; an expired one is discarded where it is next met.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use rocksdb::WriteBatch;
use tablesafe_proto::model::{PkValue, PrimaryKey, ReadOptions};

use crate::catalog::TableInfo;
use crate::error::EngineError;
use crate::range::{RangePage, RangeRequest};
use crate::rows::{ReadOutcome, RowWrite, WriteOutcome};
use crate::stored::StoredRow;
use crate::stream::PendingChange;
use crate::Engine;

/// How long a transaction lives, from its start (the service's 60 seconds).
pub const TRANSACTION_TIMEOUT_MS: i64 = 60_000;
/// Data one transaction may write, counted as its writes are (the service's 4 MB).
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// The message the service gives for an id that is not one it hands out.
const INVALID_ID: &str = "TransactionID is invalid.";

/// Whether `id` has the form of the ids [`Engine::start_transaction`] hands out;
/// one that has not is refused as the service refuses it, one that has but names
/// no open transaction of the caller's is gone.
fn well_formed(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// The open transactions of an engine.
#[derive(Default)]
pub(crate) struct Transactions {
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    by_id: HashMap<String, Arc<Transaction>>,
    /// (table id, partition-key value) → transaction id.
    by_partition: HashMap<(u32, PkValue), String>,
}

impl Open {
    /// Drops every expired transaction, so that ones abandoned by their clients
    /// (and what they hold) live no longer than their timeout past the next start.
    fn sweep(&mut self, now_ms: i64) {
        let expired: Vec<Arc<Transaction>> = self.by_id.values().filter(|t| t.expired(now_ms)).cloned().collect();
        for txn in expired {
            self.remove(&txn);
        }
    }

    /// Closes `txn`; its partition is freed unless a newer transaction holds it
    /// already (this one expired and was replaced while a request still had it).
    fn remove(&mut self, txn: &Transaction) {
        self.by_id.remove(&txn.id);
        let slot = (txn.table_id, txn.partition.clone());
        if self.by_partition.get(&slot) == Some(&txn.id) {
            self.by_partition.remove(&slot);
        }
    }
}

struct Transaction {
    id: String,
    owner: String,
    table: String,
    table_id: u32,
    partition: PkValue,
    started_ms: i64,
    /// Locked by the one request using the transaction (`try_lock`: a second is refused).
    state: Mutex<Pending>,
}

impl Transaction {
    fn expired(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.started_ms) >= TRANSACTION_TIMEOUT_MS
    }
}

/// What a transaction has written: each row's new state (`None`: deleted), the
/// change records in write order, and the data size counted so far.
#[derive(Default)]
struct Pending {
    rows: HashMap<Vec<u8>, Option<StoredRow>>,
    changes: Vec<PendingChange>,
    bytes: usize,
    done: bool,
}

fn conflict() -> EngineError {
    EngineError::RowConflict("Data is being modified by the other request.".into())
}

/// A partition-key value as the service's messages show it.
fn shown(value: &PkValue) -> String {
    match value {
        PkValue::Integer(i) => i.to_string(),
        PkValue::String(s) => s.clone(),
        PkValue::Binary(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
        other => format!("{other:?}"),
    }
}

impl Transaction {
    /// Fails unless `pk` lies in this transaction's partition.
    fn check_in_partition(&self, pk: &PrimaryKey) -> Result<(), EngineError> {
        match pk.columns.first() {
            Some(first) if first.value == self.partition => Ok(()),
            first => Err(EngineError::OutOfTransaction {
                transaction: shown(&self.partition),
                data: first.map(|c| shown(&c.value)).unwrap_or_default(),
            }),
        }
    }

    /// Fails unless `table` is this transaction's table.
    fn check_table(&self, table: &str) -> Result<(), EngineError> {
        if table == self.table {
            return Ok(());
        }
        Err(EngineError::invalid(format!(
            "The table '{table}' is not the table of the transaction, '{}'.",
            self.table
        )))
    }
}

impl Engine {
    /// StartLocalTransaction: opens a transaction on the rows of `table` whose
    /// partition key (first primary key column) has the value `key` holds (a key
    /// of that one column), owned by `owner` (an access key id); returns its id.
    pub fn start_transaction(&self, owner: &str, table: &str, key: &PrimaryKey) -> Result<String, EngineError> {
        let info = self.table(table)?;
        let first = info
            .schema
            .primary_key
            .first()
            .ok_or_else(|| EngineError::Corrupt { detail: format!("table {table} has no primary key") })?;
        let [column] = key.columns.as_slice() else {
            return Err(EngineError::invalid("StartLocalTransaction support only one primary key."));
        };
        let partition_schema = std::slice::from_ref(first);
        crate::validate::check_primary_key(key, partition_schema, crate::validate::KeyUse::Point)?;
        if info.schema.primary_key.iter().any(|c| c.auto_increment) {
            return Err(EngineError::invalid(
                "A local transaction cannot be used on a table with an auto-increment primary key column.",
            ));
        }
        let now = self.clock.now_millis();
        let mut open = self.transactions.open.lock();
        open.sweep(now);
        let slot = (info.id, column.value.clone());
        if open.by_partition.contains_key(&slot) {
            return Err(conflict());
        }
        let id = format!("{:032X}", rand::thread_rng().gen::<u128>());
        debug_assert!(well_formed(&id));
        let txn = Transaction {
            id: id.clone(),
            owner: owner.to_owned(),
            table: table.to_owned(),
            table_id: info.id,
            partition: column.value.clone(),
            started_ms: now,
            state: Mutex::default(),
        };
        open.by_partition.insert(slot, id.clone());
        open.by_id.insert(id.clone(), Arc::new(txn));
        Ok(id)
    }

    /// The open, unexpired transaction `id` of `owner`; an expired one is dropped.
    fn transaction(&self, owner: &str, id: &str) -> Result<Arc<Transaction>, EngineError> {
        let now = self.clock.now_millis();
        let mut open = self.transactions.open.lock();
        if !well_formed(id) {
            return Err(EngineError::invalid(INVALID_ID));
        }
        let txn = open.by_id.get(id).cloned().filter(|t| t.owner == owner).ok_or(EngineError::TransactionGone)?;
        if txn.expired(now) {
            open.remove(&txn);
            return Err(EngineError::TransactionGone);
        }
        Ok(txn)
    }

    /// The table of a transaction as it is now: gone or re-created, it ends the transaction.
    fn transaction_table(&self, txn: &Transaction) -> Result<Arc<TableInfo>, EngineError> {
        match self.table(&txn.table) {
            Ok(info) if info.id == txn.table_id => Ok(info),
            _ => {
                self.transactions.open.lock().remove(txn);
                Err(EngineError::TransactionGone)
            }
        }
    }

    /// Fails when a write outside any transaction would touch the partition of
    /// an open one (called with the row's stripe held).
    pub(crate) fn check_no_transaction(&self, table_id: u32, pk: &PrimaryKey, now_ms: i64) -> Result<(), EngineError> {
        let Some(first) = pk.columns.first() else { return Ok(()) };
        let mut open = self.transactions.open.lock();
        if open.by_partition.is_empty() {
            return Ok(());
        }
        let slot = (table_id, first.value.clone());
        let Some(txn) = open.by_partition.get(&slot).and_then(|id| open.by_id.get(id)).cloned() else { return Ok(()) };
        if txn.expired(now_ms) {
            open.remove(&txn);
            return Ok(());
        }
        Err(conflict())
    }

    /// The row writes of a PutRow, UpdateRow, DeleteRow or BatchWriteRow inside
    /// transaction `id`: checked and applied as outside one, against the
    /// transaction's view, and kept in it until commit.
    pub fn write_rows_in_transaction(
        &self,
        owner: &str,
        id: &str,
        writes: Vec<RowWrite>,
    ) -> Result<Vec<Result<WriteOutcome, EngineError>>, EngineError> {
        let txn = self.transaction(owner, id)?;
        let mut pending = txn.state.try_lock().ok_or(EngineError::TransactionBusy)?;
        if pending.done {
            return Err(EngineError::TransactionGone);
        }
        self.transaction_table(&txn)?;
        let now = self.clock.now_millis();
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            let outcome = (|| {
                txn.check_table(&write.table)?;
                let prepared = self.prepare(write, now)?;
                if prepared.key.is_empty() {
                    return Err(EngineError::invalid("AUTO_INCREMENT cannot be used in a local transaction."));
                }
                txn.check_in_partition(&prepared.pk)?;
                if pending.bytes + prepared.data_bytes > MAX_TRANSACTION_BYTES {
                    return Err(EngineError::TransactionTooLarge { limit: MAX_TRANSACTION_BYTES });
                }
                let bytes = prepared.data_bytes;
                // The stripe serialises this read with an outside write that passed
                // its check before the transaction began and is still committing.
                let _guard = self.locks.lock_all(std::iter::once(prepared.key.as_slice()));
                let Pending { rows, changes, .. } = &mut *pending;
                let outcome = self.apply_one(prepared, now, rows, changes, true)?;
                pending.bytes += bytes;
                Ok(outcome)
            })();
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// GetRow inside transaction `id`: the transaction's own writes over the table.
    pub fn get_row_in_transaction(
        &self,
        owner: &str,
        id: &str,
        table: &str,
        pk: &PrimaryKey,
        options: &ReadOptions,
    ) -> Result<ReadOutcome, EngineError> {
        let txn = self.transaction(owner, id)?;
        let pending = txn.state.try_lock().ok_or(EngineError::TransactionBusy)?;
        if pending.done {
            return Err(EngineError::TransactionGone);
        }
        let info = self.transaction_table(&txn)?;
        txn.check_table(table)?;
        crate::validate::check_primary_key(pk, &info.schema.primary_key, crate::validate::KeyUse::Point)?;
        txn.check_in_partition(pk)?;
        self.read_row(&info, pk, options, Some(&pending.rows))
    }

    /// GetRange inside transaction `id`, within its partition: a page of the
    /// table with the transaction's own writes in place of the rows they changed.
    pub fn get_range_in_transaction(&self, owner: &str, id: &str, request: &RangeRequest) -> Result<RangePage, EngineError> {
        let txn = self.transaction(owner, id)?;
        let pending = txn.state.try_lock().ok_or(EngineError::TransactionBusy)?;
        if pending.done {
            return Err(EngineError::TransactionGone);
        }
        let info = self.transaction_table(&txn)?;
        txn.check_table(&request.table)?;
        txn.check_in_partition(&request.start)?;
        txn.check_in_partition(&request.end)?;
        let page = self.get_range(request)?;
        if pending.rows.is_empty() {
            return Ok(page);
        }
        crate::range::overlay_page(&info, request, page, &pending.rows, &self.visibility(&info))
    }

    /// CommitTransaction: every row and change record of the transaction in one
    /// write; then it is closed.
    pub fn commit_transaction(&self, owner: &str, id: &str) -> Result<(), EngineError> {
        let txn = self.transaction(owner, id)?;
        let mut pending = txn.state.try_lock().ok_or(EngineError::TransactionBusy)?;
        if pending.done {
            return Err(EngineError::TransactionGone);
        }
        // Ended from here on, whatever follows: a request that still holds the
        // transaction finds it done.
        let Pending { rows, changes, .. } = std::mem::replace(&mut *pending, Pending { done: true, ..Pending::default() });
        let info = self.transaction_table(&txn)?;
        // The partition stays held until the rows are written, so that neither an
        // outside write nor a next transaction reads them as they were before.
        let _guards = self.locks.lock_all(rows.keys().map(Vec::as_slice));
        // The stream as it is at commit: enabled since the writes, or gone.
        let changes = match info.stream_enabled_at_us {
            Some(generation) => changes.into_iter().map(|c| PendingChange { generation, ..c }).collect(),
            None => Vec::new(),
        };
        let committed = self.commit_rows(WriteBatch::default(), &rows, changes);
        self.transactions.open.lock().remove(&txn);
        committed
    }

    /// AbortTransaction: discards everything the transaction wrote.
    pub fn abort_transaction(&self, owner: &str, id: &str) -> Result<(), EngineError> {
        let txn = self.transaction(owner, id)?;
        let mut pending = txn.state.try_lock().ok_or(EngineError::TransactionBusy)?;
        *pending = Pending { done: true, ..Pending::default() };
        self.transactions.open.lock().remove(&txn);
        Ok(())
    }

    /// How many transactions are open (expired ones not yet met included).
    pub fn open_transactions(&self) -> usize {
        self.transactions.open.lock().by_id.len()
    }
}

