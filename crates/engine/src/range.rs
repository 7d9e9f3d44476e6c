//! GetRange and split points: ordered scans of a table's key range in either
//! direction, in pages bounded by rows, bytes and scan work.
//!
//! Invariant: when a page stops early, `next_start` is the key of the first row not
//! yet examined, so paging never skips or repeats a row.

use std::collections::HashMap;

use rocksdb::ReadOptions as RocksReadOptions;
use tablesafe_proto::model::{PrimaryKey, ReadOptions, Row};

use crate::catalog::TableInfo;
use crate::error::{EngineError, StorageContext};
use crate::keys::{self, decode_row_key, key_point};
use crate::read::{Projection, Visibility};
use crate::rows::{capacity_units, pk_bytes, row_bytes, Consumed};
use crate::stored::StoredRow;
use crate::validate::{check_primary_key, KeyUse};
use crate::{Engine, CF_ROWS};

/// Rows one page returns at most.
pub const MAX_PAGE_ROWS: usize = 5000;
/// Data one page returns at most.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Rows one page examines at most (filters may drop most of them).
const MAX_PAGE_SCAN: usize = 100_000;

/// Split points found from size estimates at most; more are found by a scan.
const MAX_ESTIMATED_POINTS: u64 = 1000;

/// Scan direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Ascending keys; start < end.
    #[default]
    Forward,
    /// Descending keys; start > end.
    Backward,
}

/// A GetRange request.
#[derive(Debug, Clone)]
pub struct RangeRequest {
    /// Table name.
    pub table: String,
    /// Direction.
    pub direction: Direction,
    /// Inclusive start (may hold INF_MIN/INF_MAX).
    pub start: PrimaryKey,
    /// Exclusive end (may hold INF_MIN/INF_MAX).
    pub end: PrimaryKey,
    /// Rows wanted in this page.
    pub limit: Option<i32>,
    /// What to return of each row.
    pub read: ReadOptions,
}

/// One page of a range scan.
#[derive(Debug, Clone, PartialEq)]
pub struct RangePage {
    /// Rows in scan order.
    pub rows: Vec<Row>,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next_start: Option<PrimaryKey>,
    /// Capacity consumed.
    pub consumed: Consumed,
}

/// The rows a page holds at most: the request's limit, within [`MAX_PAGE_ROWS`].
fn page_limit(limit: Option<i32>) -> Result<usize, EngineError> {
    match limit {
        Some(l) if l <= 0 => Err(EngineError::invalid("The limit must be greater than 0.")),
        Some(l) => Ok(usize::try_from(l).unwrap_or(MAX_PAGE_ROWS).min(MAX_PAGE_ROWS)),
        None => Ok(MAX_PAGE_ROWS),
    }
}

/// `page` of the table as a local transaction sees it: the transaction's row
/// states (`overlay`, by encoded key; `None` deleted) in place of the table's, over
/// the keys the page covered (from the start up to where the next page starts).
/// Rows past the limit move to the next page, so paging still neither skips nor
/// repeats a row.
pub(crate) fn overlay_page(
    info: &TableInfo,
    request: &RangeRequest,
    page: RangePage,
    overlay: &HashMap<Vec<u8>, Option<StoredRow>>,
    visibility: &Visibility,
) -> Result<RangePage, EngineError> {
    let projection = Projection::new(&request.read, &info.pk_names())?;
    let (start, end) = (key_point(info.id, &request.start), key_point(info.id, &request.end));
    let forward = request.direction == Direction::Forward;
    let stop = page.next_start.as_ref().map(|pk| keys::encode_row_key(info.id, pk));
    let covered = |key: &[u8]| match (forward, &stop) {
        (true, Some(stop)) => key >= start.lo.as_slice() && key < stop.as_slice(),
        (true, None) => key >= start.lo.as_slice() && key < end.lo.as_slice(),
        (false, Some(stop)) => key < start.hi.as_slice() && key > stop.as_slice(),
        (false, None) => key < start.hi.as_slice() && key >= end.hi.as_slice(),
    };
    let mut read_bytes = 0usize;
    let mut rows: Vec<(Vec<u8>, Row)> = page
        .rows
        .into_iter()
        .map(|row| (keys::encode_row_key(info.id, &row.primary_key), row))
        .filter(|(key, _)| !overlay.contains_key(key))
        .collect();
    for (key, state) in overlay.iter().filter(|(key, _)| covered(key)) {
        let Some(stored) = state else { continue };
        let pk = decode_row_key(key, &info.schema.primary_key)?;
        read_bytes += pk_bytes(&pk) + visibility.visible_bytes(stored);
        if let Some(row) = projection.apply(pk, stored, visibility) {
            rows.push((key.clone(), row));
        }
    }
    rows.sort_by(|a, b| if forward { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) });
    let mut next_start = page.next_start;
    let limit = page_limit(request.limit)?;
    if rows.len() > limit {
        next_start = rows.drain(limit..).next().map(|(_, row)| row.primary_key);
    }
    // The transaction's rows were read as well as the table's page.
    let extra = i32::try_from(read_bytes.div_ceil(4096)).unwrap_or(i32::MAX);
    let consumed = Consumed { read: page.consumed.read.saturating_add(extra), write: 0 };
    Ok(RangePage { rows: rows.into_iter().map(|(_, row)| row).collect(), next_start, consumed })
}

impl Engine {
    /// GetRange: one page of rows between `start` (inclusive) and `end` (exclusive).
    pub fn get_range(&self, request: &RangeRequest) -> Result<RangePage, EngineError> {
        let info = self.readable_table(&request.table)?;
        let schema = &info.schema.primary_key;
        check_primary_key(&request.start, schema, KeyUse::Range)?;
        check_primary_key(&request.end, schema, KeyUse::Range)?;
        let order = request.start.cmp_values(&request.end);
        match request.direction {
            Direction::Forward if order != std::cmp::Ordering::Less => {
                return Err(EngineError::invalid("Begin key must less than end key in FORWARD"))
            }
            Direction::Backward if order != std::cmp::Ordering::Greater => {
                return Err(EngineError::invalid("Begin key must more than end key in BACKWARD"))
            }
            _ => {}
        }
        let limit = page_limit(request.limit)?;
        let projection = Projection::new(&request.read, &info.pk_names())?;
        let visibility = self.visibility(&info);
        let start = key_point(info.id, &request.start);
        let end = key_point(info.id, &request.end);
        let (lower, upper) = match request.direction {
            Direction::Forward => (start.lo, end.lo),
            Direction::Backward => (end.hi, start.hi),
        };
        let mut options = RocksReadOptions::default();
        options.set_iterate_lower_bound(lower);
        options.set_iterate_upper_bound(upper);
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_ROWS)?, options);
        match request.direction {
            Direction::Forward => iter.seek_to_first(),
            Direction::Backward => iter.seek_to_last(),
        }
        let mut rows = Vec::new();
        // `bytes`: of the rows returned; `read_bytes`: of every row examined (a row
        // filtered out was read all the same), as capacity counts it.
        let (mut bytes, mut read_bytes, mut scanned) = (0usize, 0usize, 0usize);
        let mut next_start = None;
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            if rows.len() >= limit || bytes >= MAX_PAGE_BYTES || scanned >= MAX_PAGE_SCAN {
                next_start = Some(decode_row_key(key, schema)?);
                break;
            }
            scanned += 1;
            let stored = StoredRow::decode(value)?;
            let pk = decode_row_key(key, schema)?;
            let key_bytes = pk_bytes(&pk);
            match projection.apply(pk, &stored, &visibility) {
                Some(row) => {
                    let size = row_bytes(&row);
                    bytes += size;
                    read_bytes += size;
                    rows.push(row);
                }
                None => read_bytes += key_bytes + visibility.visible_bytes(&stored),
            }
            match request.direction {
                Direction::Forward => iter.next(),
                Direction::Backward => iter.prev(),
            }
        }
        iter.status().context("range scan")?;
        Ok(RangePage { rows, next_start, consumed: Consumed { read: capacity_units(read_bytes), write: 0 } })
    }

    /// A rough count of a table's rows from RocksDB's own estimates, without a
    /// scan: the rows column family's estimated keys, times the table's share of
    /// its flushed bytes. `None` while nothing is flushed and several tables
    /// share the column family. Good for progress estimates, nothing more.
    pub fn estimate_rows(&self, table: &str) -> Result<Option<u64>, EngineError> {
        let info = self.table(table)?;
        let cf = self.cf(CF_ROWS)?;
        let keys = self.db.property_int_value_cf(cf, "rocksdb.estimate-num-keys").context("estimate keys")?;
        let Some(keys) = keys else { return Ok(None) };
        let (start, end) = (keys::table_prefix(info.id), keys::table_end(info.id));
        let everything = [0xffu8; 8];
        let sizes = self
            .db
            .get_approximate_sizes_cf(cf, &[rocksdb::Range::new(&start, &end), rocksdb::Range::new(&[], &everything)]);
        let (ours, all) = (sizes[0], sizes[1]);
        if all == 0 {
            return Ok((self.tables.read().len() == 1).then_some(keys));
        }
        Ok(Some((u128::from(keys) * u128::from(ours) / u128::from(all)) as u64))
    }

    /// About how many bytes of flushed files `table`'s rows take, from RocksDB's
    /// estimates (rows still only in the memtable are not counted): for display.
    pub fn approximate_bytes(&self, table: &str) -> Result<u64, EngineError> {
        let info = self.table(table)?;
        let cf = self.cf(CF_ROWS)?;
        let (start, end) = (keys::table_prefix(info.id), keys::table_end(info.id));
        Ok(self.db.get_approximate_sizes_cf(cf, &[rocksdb::Range::new(&start, &end)])[0])
    }

    /// Keys that cut `table` into ranges of about `split_bytes` each, in order.
    ///
    /// From RocksDB's size estimates of the table's files, not a scan: each point
    /// is found by bisecting the key space (as a 16-byte big-endian number) with
    /// `get_approximate_sizes`, then moved to the first stored key at or after it.
    /// Rows still only in the memtable are not in the estimates; a table whose
    /// files hold less than two ranges is scanned instead (it is small then, or
    /// mostly in the memtable, at most its size), as is one cut into more than
    /// [`MAX_ESTIMATED_POINTS`] ranges. The points need only be ordered
    /// keys of the table: uneven ranges cost balance, never rows.
    pub fn split_points(&self, table: &str, split_bytes: u64) -> Result<Vec<PrimaryKey>, EngineError> {
        let info = self.table(table)?;
        let split_bytes = split_bytes.max(1);
        let cf = self.cf(CF_ROWS)?;
        let (start, end) = (keys::table_prefix(info.id), keys::table_end(info.id));
        let size_to = |key: &[u8]| self.db.get_approximate_sizes_cf(cf, &[rocksdb::Range::new(&start, key)])[0];
        let total = size_to(&end);
        // Bisection costs about a hundred estimates a point: past a thousand
        // points, reading the rows once is as cheap.
        if !(2..=MAX_ESTIMATED_POINTS).contains(&(total / split_bytes)) {
            return self.split_points_by_scan(&info, split_bytes);
        }
        let as_number = |key: &[u8]| {
            let mut bytes = [0u8; 16];
            let n = key.len().min(16);
            bytes[..n].copy_from_slice(&key[..n]);
            u128::from_be_bytes(bytes)
        };
        let (first, last) = (as_number(&start), as_number(&end));
        let mut iter = self.table_rows(&info)?;
        let Some(first_key) = iter.key().map(<[u8]>::to_vec) else { return Ok(Vec::new()) };
        let mut points = Vec::new();
        let mut previous = first_key;
        let mut low = first;
        for n in 1..total / split_bytes {
            let target = n * split_bytes;
            // The smallest 16-byte key whose prefix of the table holds `target` bytes.
            let (mut lo, mut hi) = (low, last);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if size_to(&mid.to_be_bytes()) < target {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            low = lo;
            iter.seek(hi.to_be_bytes());
            let Some(key) = iter.key() else { break };
            if key > previous.as_slice() {
                points.push(decode_row_key(key, &info.schema.primary_key)?);
                previous = key.to_vec();
            }
        }
        iter.status().context("split points")?;
        Ok(points)
    }

    /// Split points by reading every row of the table (for small tables).
    fn split_points_by_scan(&self, info: &crate::TableInfo, split_bytes: u64) -> Result<Vec<PrimaryKey>, EngineError> {
        let mut iter = self.table_rows(info)?;
        let mut points = Vec::new();
        let mut accumulated = 0u64;
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            if accumulated >= split_bytes {
                points.push(decode_row_key(key, &info.schema.primary_key)?);
                accumulated = 0;
            }
            accumulated += (key.len() + value.len()) as u64;
            iter.next();
        }
        iter.status().context("split points")?;
        Ok(points)
    }
}
