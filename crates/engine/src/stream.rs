//! The change stream: one durable change record per row change of a table whose
//! change log is on (its client enabled a stream, or the server keeps the log for
//! archiving: `TableInfo::kept_log`), committed in the same RocksDB write batch as
//! the row change itself. ListStream shows only client streams; the other
//! stream calls take either log's id.
//!
//! Layout: column family `stream`, key `table_id (u32 BE) ‖ seq (u64 BE)`, value a
//! format byte and a postcard [`StoredRecord`]. `meta` holds `stream_trim/<id>`, the
//! lowest sequence a reader may still ask for once old records were trimmed.
//!
//! Invariants:
//! - A record exists if and only if its row change was committed (one WriteBatch).
//! - Sequence numbers are engine-wide and allocated while the written rows are
//!   locked, so the changes of one row are numbered in the order they were applied;
//!   the seq info (µs timestamp, row index) strictly increases with the sequence.
//! - Readers see only sequences below the *visible end*, the lowest sequence still
//!   being committed: once a read has returned everything below `n`, no record below
//!   `n` appears later. A failed commit leaves a gap, never a late record.
//! - Each record carries its stream's generation (the µs at which the stream was
//!   enabled); a record of another generation is not part of the current stream.
//! - Records older than the table's `expiration_hours` are never returned: a reader
//!   positioned at or before one gets `StreamTrimmed`.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use rocksdb::{Direction as IterDirection, IteratorMode};
use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{Row, SeqInfo};

use crate::catalog::TableInfo;
use crate::error::{EngineError, StorageContext};
use crate::{keys, Engine, CF_META, CF_STREAM};

const RECORD_FORMAT_V1: u8 = 1;

/// Most bytes of change records one read returns (the service caps a response too).
pub const MAX_STREAM_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// What kind of change a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeAction {
    /// PutRow: the row was replaced by the record's cells.
    Put,
    /// UpdateRow: the record's cell operations were applied.
    Update,
    /// DeleteRow: the row was removed.
    Delete,
}

/// One change of a table, as a stream consumer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    /// Engine-wide sequence number; the table's records are ordered by it.
    pub seq: u64,
    /// What the change was.
    pub action: ChangeAction,
    /// The primary key and the cells as applied: puts carry value and timestamp,
    /// version deletes carry their timestamp, increments appear as the put of their
    /// result. `seq_info` is set.
    pub row: Row,
}

/// A page of change records.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPage {
    /// Records in sequence order.
    pub records: Vec<ChangeRecord>,
    /// Where the next read starts.
    pub next: u64,
}

/// A change waiting for its sequence number inside `write_rows`.
pub(crate) struct PendingChange {
    pub table_id: u32,
    pub generation: i64,
    pub action: ChangeAction,
    pub row: Row,
}

/// The stored value of a change record.
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    generation: i64,
    action: ChangeAction,
    row: Row,
}

impl StoredRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_FORMAT_V1];
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    fn decode(bytes: &[u8]) -> Result<StoredRecord, EngineError> {
        match bytes.split_first() {
            Some((&RECORD_FORMAT_V1, rest)) => {
                postcard::from_bytes(rest).map_err(|e| EngineError::Corrupt { detail: format!("stream record: {e}") })
            }
            _ => Err(EngineError::Corrupt { detail: "unknown stream record format".into() }),
        }
    }

    fn timestamp(&self) -> i64 {
        self.row.seq_info.map_or(i64::MIN, |s| s.timestamp)
    }
}

/// Key of a change record.
pub(crate) fn record_key(table_id: u32, seq: u64) -> Vec<u8> {
    let mut key = keys::table_prefix(table_id);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn record_seq(key: &[u8]) -> Result<u64, EngineError> {
    key.get(4..12)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| EngineError::Corrupt { detail: "stream record key".into() })
}

/// Key of a table's trim horizon in `meta`.
pub(crate) fn trim_key(table_id: u32) -> Vec<u8> {
    let mut key = b"stream_trim/".to_vec();
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// Hands out sequence numbers and seq info, and tracks which are still committing.
pub(crate) struct Sequencer {
    state: Mutex<SeqState>,
    /// Signalled when a reservation ends or a quiet point is over.
    changed: Condvar,
}

struct SeqState {
    next: u64,
    last_timestamp: i64,
    last_row_index: i32,
    in_flight: BTreeSet<u64>,
    /// A quiet point is being reached: no new reservations until it is over.
    pausing: bool,
}

/// Sequences `start..start + infos.len()`, released (made visible) on drop, which
/// happens after the write batch that uses them was committed or abandoned.
pub(crate) struct Reservation<'a> {
    sequencer: &'a Sequencer,
    pub start: u64,
    pub infos: Vec<SeqInfo>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.sequencer.state.lock().in_flight.remove(&self.start);
        self.sequencer.changed.notify_all();
    }
}

impl Sequencer {
    /// A sequencer that continues after `next - 1`, stamping after `last` (the µs
    /// timestamp and row index of the newest stored record).
    pub(crate) fn new(next: u64, last: (i64, i32)) -> Sequencer {
        let (last_timestamp, last_row_index) = last;
        let state = SeqState { next, last_timestamp, last_row_index, in_flight: BTreeSet::new(), pausing: false };
        Sequencer { state: Mutex::new(state), changed: Condvar::new() }
    }

    /// Reserves `count` consecutive sequences stamped at `now_us` (or just after the
    /// last stamp when the clock went back).
    pub(crate) fn reserve(&self, count: usize, now_us: i64) -> Reservation<'_> {
        let mut state = self.state.lock();
        while state.pausing {
            self.changed.wait(&mut state);
        }
        let start = state.next;
        state.next += count as u64;
        state.in_flight.insert(start);
        let mut infos = Vec::with_capacity(count);
        for _ in 0..count {
            if now_us > state.last_timestamp {
                state.last_timestamp = now_us;
                state.last_row_index = 0;
            } else if state.last_row_index == i32::MAX {
                state.last_timestamp += 1;
                state.last_row_index = 0;
            } else {
                state.last_row_index += 1;
            }
            infos.push(SeqInfo { epoch: 0, timestamp: state.last_timestamp, row_index: state.last_row_index });
        }
        Reservation { sequencer: self, start, infos }
    }

    /// Runs `f` at a moment when no reserved sequence is still committing, with the
    /// next sequence to be handed out: everything below it is committed, nothing at
    /// or above it is. New reservations wait meanwhile (about one commit's time).
    pub(crate) fn at_quiet_point<T>(&self, f: impl FnOnce(u64) -> T) -> T {
        let mut state = self.state.lock();
        while state.pausing {
            self.changed.wait(&mut state);
        }
        state.pausing = true;
        while !state.in_flight.is_empty() {
            self.changed.wait(&mut state);
        }
        let out = f(state.next);
        state.pausing = false;
        drop(state);
        self.changed.notify_all();
        out
    }

    /// The next sequence to be handed out, once every sequence below it is
    /// committed: a change acknowledged before this call lies below it, and one
    /// that starts after it lies at or above it. Waits about one commit's time.
    pub(crate) fn settled_end(&self) -> u64 {
        let mut state = self.state.lock();
        let end = state.next;
        while state.in_flight.first().is_some_and(|&start| start < end) {
            self.changed.wait(&mut state);
        }
        end
    }

    /// Every sequence below this one is committed or will never be.
    pub(crate) fn visible_end(&self) -> u64 {
        let state = self.state.lock();
        state.in_flight.first().copied().unwrap_or(state.next)
    }
}

impl PendingChange {
    pub(crate) fn encode(self, seq_info: SeqInfo) -> Vec<u8> {
        let mut row = self.row;
        row.seq_info = Some(seq_info);
        StoredRecord { generation: self.generation, action: self.action, row }.encode()
    }
}

impl Engine {
    /// Where the sequencer resumes after a restart: past every stored record and
    /// trim horizon, stamping after the newest record.
    pub(crate) fn recover_sequencer(&self) -> Result<Sequencer, EngineError> {
        let stream = self.cf(CF_STREAM)?;
        let meta = self.cf(CF_META)?;
        let (mut next, mut last) = (0u64, (i64::MIN, -1));
        let tables: Vec<u32> = self.tables.read().values().map(|t| t.id).collect();
        for id in tables {
            let end = keys::table_end(id);
            let mut iter = self.db.iterator_cf(stream, IteratorMode::From(&end, IterDirection::Reverse));
            if let Some(item) = iter.next() {
                let (key, value) = item.context("recover stream")?;
                if key.starts_with(&keys::table_prefix(id)) {
                    next = next.max(record_seq(&key)? + 1);
                    if let Some(info) = StoredRecord::decode(&value)?.row.seq_info {
                        last = last.max((info.timestamp, info.row_index));
                    }
                }
            }
            if let Some(bytes) = self.db.get_cf(meta, trim_key(id)).context("recover stream")? {
                next = next.max(decode_u64(&bytes)?);
            }
        }
        Ok(Sequencer::new(next, last))
    }

    /// Stream-enabled tables, sorted by name.
    pub fn stream_tables(&self) -> Vec<Arc<TableInfo>> {
        let mut tables: Vec<Arc<TableInfo>> =
            self.tables.read().values().filter(|t| t.stream_id().is_some()).cloned().collect();
        tables.sort_by(|a, b| a.schema.name.cmp(&b.schema.name));
        tables
    }

    /// Tables whose change log is on (a client stream or a kept log), sorted by name.
    pub fn logged_tables(&self) -> Vec<Arc<TableInfo>> {
        let mut tables: Vec<Arc<TableInfo>> =
            self.tables.read().values().filter(|t| t.change_log_id().is_some()).cloned().collect();
        tables.sort_by(|a, b| a.schema.name.cmp(&b.schema.name));
        tables
    }

    /// The table whose current change log has this id (whether the client sees
    /// it as a stream or the server keeps it for archiving: its id is named only
    /// by DescribeTable and backups).
    pub fn stream_table(&self, stream_id: &str) -> Result<Arc<TableInfo>, EngineError> {
        let not_found = || EngineError::StreamNotFound { stream_id: stream_id.to_owned() };
        let (name, _) = stream_id.rsplit_once('_').ok_or_else(not_found)?;
        let info = self.table(name).map_err(|_| not_found())?;
        if info.change_log_id().as_deref() != Some(stream_id) {
            return Err(not_found());
        }
        Ok(info)
    }

    /// The position of a stream's oldest retained record, or with `at_us`, of the
    /// first record committed at or after that time (µs). When no such record
    /// exists (e.g. a time in the future) it is the end of the stream, past every
    /// change acknowledged before the call. Asking for a time whose records were
    /// already trimmed is `StreamTrimmed`.
    pub fn stream_position(&self, stream_id: &str, at_us: Option<i64>) -> Result<u64, EngineError> {
        let info = self.stream_table(stream_id)?;
        let horizon = self.stream_horizon(info.id)?;
        // Settled rather than visible: a position at the end is then past every
        // change acknowledged before the call, which backups rely on.
        let end = self.sequencer.settled_end();
        let cutoff = self.stream_cutoff(&info);
        let Some(at_us) = at_us else {
            return Ok(self.first_record_since(&info, horizon, end, cutoff)?.unwrap_or(end));
        };
        if at_us < cutoff {
            // Changes since `at_us` are gone if some were trimmed or have expired.
            let oldest = self.first_record_since(&info, horizon, end, i64::MIN)?;
            let oldest_live = self.first_record_since(&info, horizon, end, cutoff)?;
            if horizon > 0 || oldest != oldest_live {
                return Err(EngineError::StreamTrimmed);
            }
        }
        Ok(self.first_record_since(&info, horizon, end, at_us.max(cutoff))?.unwrap_or(end))
    }

    /// Up to `limit` records of a stream from position `from`.
    pub fn stream_read(&self, stream_id: &str, from: u64, limit: usize) -> Result<StreamPage, EngineError> {
        let info = self.stream_table(stream_id).map_err(|_| EngineError::StreamTrimmed)?;
        let generation = info.stream_enabled_at_us.unwrap_or_default();
        if from < self.stream_horizon(info.id)? {
            return Err(EngineError::StreamTrimmed);
        }
        let end = self.sequencer.visible_end();
        let cutoff = self.stream_cutoff(&info);
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut next = from.max(end);
        if from < end {
            let mut iter = self.stream_iter(info.id, from, end)?;
            while iter.valid() {
                let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
                let seq = record_seq(key)?;
                let stored = StoredRecord::decode(value)?;
                bytes += value.len();
                iter.next();
                if stored.generation != generation {
                    continue;
                }
                if stored.timestamp() < cutoff {
                    return Err(EngineError::StreamTrimmed);
                }
                records.push(ChangeRecord { seq, action: stored.action, row: stored.row });
                if records.len() >= limit.max(1) || bytes >= MAX_STREAM_PAGE_BYTES {
                    next = seq + 1;
                    break;
                }
            }
            iter.status().context("read stream")?;
        }
        Ok(StreamPage { records, next })
    }

    /// Removes records older than their table's stream expiration; returns how many
    /// tables had records trimmed.
    pub fn trim_streams(&self) -> Result<u64, EngineError> {
        let stream = self.cf(CF_STREAM)?;
        let meta = self.cf(CF_META)?;
        let mut trimmed = 0;
        for info in self.logged_tables() {
            let horizon = self.stream_horizon(info.id)?;
            let end = self.sequencer.visible_end();
            let keep_from = self.first_record_since(&info, horizon, end, self.stream_cutoff(&info))?.unwrap_or(end);
            let has_older = self.first_record_since(&info, horizon, keep_from, i64::MIN)?.is_some();
            if !has_older {
                continue;
            }
            let mut batch = rocksdb::WriteBatch::default();
            batch.delete_range_cf(stream, record_key(info.id, 0), record_key(info.id, keep_from));
            batch.put_cf(meta, trim_key(info.id), keep_from.to_be_bytes());
            self.db.write_opt(batch, &self.write_options).context("trim stream")?;
            trimmed += 1;
        }
        Ok(trimmed)
    }

    /// Deletes every record of a table's stream (stream disabled or table dropped).
    pub(crate) fn clear_stream(&self, batch: &mut rocksdb::WriteBatch, table_id: u32) -> Result<(), EngineError> {
        batch.delete_range_cf(self.cf(CF_STREAM)?, keys::table_prefix(table_id), keys::table_end(table_id));
        batch.delete_cf(self.cf(CF_META)?, trim_key(table_id));
        Ok(())
    }

    fn stream_horizon(&self, table_id: u32) -> Result<u64, EngineError> {
        match self.db.get_cf(self.cf(CF_META)?, trim_key(table_id)).context("read stream horizon")? {
            Some(bytes) => decode_u64(&bytes),
            None => Ok(0),
        }
    }

    /// Records committed before this µs instant have expired.
    fn stream_cutoff(&self, info: &TableInfo) -> i64 {
        let hours = i64::from(info.change_log_hours());
        self.clock.now_micros().saturating_sub(hours * 3_600_000_000)
    }

    fn stream_iter(&self, table_id: u32, from: u64, end: u64) -> Result<rocksdb::DBRawIterator<'_>, EngineError> {
        let mut options = rocksdb::ReadOptions::default();
        options.set_iterate_lower_bound(record_key(table_id, from));
        options.set_iterate_upper_bound(record_key(table_id, end));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_STREAM)?, options);
        iter.seek_to_first();
        Ok(iter)
    }

    /// The first record of the current generation in `[from, end)` stamped at or
    /// after `min_us`. Stamps grow with the sequence, so this is a binary search
    /// over seeks rather than a scan.
    fn first_record_since(
        &self,
        info: &TableInfo,
        from: u64,
        end: u64,
        min_us: i64,
    ) -> Result<Option<u64>, EngineError> {
        let (mut lo, mut hi) = (from, end);
        // Invariant: records below `lo` are older than `min_us`; the first record at
        // or after `hi` (if any before `end`) is not.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.first_record(info.id, mid, hi)? {
                None => hi = mid,
                Some((_, stored)) if stored.timestamp() >= min_us => hi = mid,
                Some((seq, _)) => lo = seq + 1,
            }
        }
        let generation = info.stream_enabled_at_us.unwrap_or_default();
        let mut iter = self.stream_iter(info.id, lo, end)?;
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            if StoredRecord::decode(value)?.generation == generation {
                return Ok(Some(record_seq(key)?));
            }
            iter.next();
        }
        iter.status().context("seek stream")?;
        Ok(None)
    }

    fn first_record(&self, table_id: u32, from: u64, end: u64) -> Result<Option<(u64, StoredRecord)>, EngineError> {
        let iter = self.stream_iter(table_id, from, end)?;
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) => Ok(Some((record_seq(key)?, StoredRecord::decode(value)?))),
            _ => {
                iter.status().context("seek stream")?;
                Ok(None)
            }
        }
    }
}

fn decode_u64(bytes: &[u8]) -> Result<u64, EngineError> {
    bytes.try_into().map(u64::from_be_bytes).map_err(|_| EngineError::Corrupt { detail: "stream horizon".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_end_waits_for_the_oldest_commit() {
        let sequencer = Sequencer::new(10, (0, -1));
        let a = sequencer.reserve(2, 5);
        let b = sequencer.reserve(1, 5);
        assert_eq!((a.start, b.start), (10, 12));
        assert_eq!(sequencer.visible_end(), 10);
        drop(b);
        assert_eq!(sequencer.visible_end(), 10, "a later commit does not expose an earlier gap");
        drop(a);
        assert_eq!(sequencer.visible_end(), 13);
    }

    #[test]
    fn seq_info_increases_even_when_the_clock_goes_back() {
        let sequencer = Sequencer::new(0, (0, -1));
        let mut seen = Vec::new();
        for now in [100, 100, 50, 200] {
            seen.extend(sequencer.reserve(2, now).infos.iter().map(|s| (s.timestamp, s.row_index)));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "strictly increasing: {seen:?}");
        assert_eq!(seen[0], (100, 0));
        assert_eq!(seen[6], (200, 0));
    }
}
