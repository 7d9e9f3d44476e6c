//! Replay of archived changes onto a restored table: the second half of a restore
//! to a point in time. A [`PointInTimePlan`] (chosen in `pitr`) names the snapshot
//! and the segments; replay applies their changes in position order, each once, up
//! to the plan's time, a window of rows at a time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_proto::plainbuffer;
use tablesafe_repo::Repository;

use crate::archive::{ChangeSegment, SegmentChanges};
use crate::changes::{apply_stored, Change, ChangeKind};
use crate::progress::Progress;
use crate::source::TableSink;
use crate::BackupError;

/// The snapshot and archived changes that rebuild a table as it was at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointInTimePlan {
    /// The snapshot restored first.
    pub snapshot: String,
    /// The table in it.
    pub table: String,
    /// Its stream position: changes from here on are replayed.
    pub position: u64,
    /// The time restored to, µs since the epoch.
    pub time_us: i64,
    /// The segments replayed, in order (ids with their manifests).
    #[serde(skip)]
    pub segments: Vec<(String, ChangeSegment)>,
    /// Max versions of the table, applied while replaying.
    pub max_versions: i32,
}

/// Changes applied per round trip to the sink.
const REPLAY_WINDOW: usize = 1000;

/// Replays the plan's changes onto `target`; returns how many were applied.
pub(crate) async fn replay<K: TableSink>(
    repo: &Repository,
    plan: &PointInTimePlan,
    sink: &K,
    target: &str,
    progress: &dyn Progress,
) -> Result<u64, BackupError> {
    let mut next_position = plan.position;
    let mut window: Vec<Change> = Vec::with_capacity(REPLAY_WINDOW);
    let mut replayed = 0u64;
    'segments: for (id, segment) in &plan.segments {
        let mut changes = SegmentChanges::new(repo, id, segment.clone());
        while let Some(change) = changes.next().await? {
            if change.position < next_position {
                continue; // Before the snapshot, or in an overlapping segment.
            }
            if change.time_us() > plan.time_us {
                break 'segments;
            }
            next_position = change.position + 1;
            window.push(change);
            if window.len() >= REPLAY_WINDOW {
                replayed += apply_window(sink, target, std::mem::take(&mut window), plan.max_versions).await?;
                progress.rows_done(REPLAY_WINDOW as u64, 0);
            }
        }
    }
    let last = window.len() as u64;
    replayed += apply_window(sink, target, window, plan.max_versions).await?;
    progress.rows_done(last, 0);
    Ok(replayed)
}

/// Applies changes in order: the rows they touch are read once, changed in
/// memory, and written back (or deleted) once.
async fn apply_window<K: TableSink>(
    sink: &K,
    target: &str,
    changes: Vec<Change>,
    max_versions: i32,
) -> Result<u64, BackupError> {
    if changes.is_empty() {
        return Ok(0);
    }
    let mut order: Vec<(Vec<u8>, PrimaryKey)> = Vec::new();
    let mut rows: HashMap<Vec<u8>, Option<Row>> = HashMap::new();
    // Only a row whose first change here is an update needs its stored state: a
    // put or a delete decides the row without it.
    let mut to_read: Vec<(Vec<u8>, PrimaryKey)> = Vec::new();
    for change in &changes {
        let key = plainbuffer::encode_primary_key(&change.row.primary_key);
        if !rows.contains_key(&key) {
            rows.insert(key.clone(), None);
            if change.kind == ChangeKind::Update {
                to_read.push((key.clone(), change.row.primary_key.clone()));
            }
            order.push((key, change.row.primary_key.clone()));
        }
    }
    if !to_read.is_empty() {
        let current = sink.read_rows(target, to_read.iter().map(|(_, k)| k.clone()).collect()).await?;
        for ((key, _), row) in to_read.into_iter().zip(current) {
            rows.insert(key, row);
        }
    }
    for change in &changes {
        let key = plainbuffer::encode_primary_key(&change.row.primary_key);
        let before = rows.remove(&key).flatten();
        rows.insert(key, apply_stored(before, change, max_versions, target)?);
    }
    let (mut writes, mut deletes) = (Vec::new(), Vec::new());
    for (key, primary_key) in order {
        match rows.remove(&key).flatten() {
            Some(row) => writes.push(row),
            None => deletes.push(primary_key),
        }
    }
    if !writes.is_empty() {
        sink.write_rows(target, writes).await?;
    }
    if !deletes.is_empty() {
        sink.delete_rows(target, deletes).await?;
    }
    Ok(changes.len() as u64)
}
