//! Replay of archived changes onto a restored table: the second half of a restore
//! to a point in time. A [`PointInTimePlan`] (chosen in `pitr`) names the snapshot
//! and the segments; replay applies their changes in position order, each once, up
//! to the plan's time, a window of rows at a time.
//!
//! Three stages overlap: a task of its own reads and decodes the segments into
//! windows (a bounded queue of [`WINDOWS_AHEAD`]); this task merges a window's
//! changes into the rows they leave; and the sink writes the previous window
//! meanwhile. Invariants: windows are written in order, one at a time, so a row's
//! writes land in position order; a merge never reads from the sink a row the
//! write in flight touches (it takes it from that write's results instead), so it
//! always starts from the row as every earlier change left it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_repo::Repository;
use tokio::sync::mpsc;

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

/// Changes merged and written per round trip to the sink.
const REPLAY_WINDOW: usize = 4096;
/// Windows decoded ahead of the one being merged.
const WINDOWS_AHEAD: usize = 2;

/// Replays the plan's changes onto `target`; returns how many were applied. Takes
/// the plan: its segments (inline data and all) move to the reading stage.
pub(crate) async fn replay<K: TableSink>(
    repo: &Repository,
    plan: PointInTimePlan,
    sink: &K,
    target: &str,
    progress: &dyn Progress,
) -> Result<u64, BackupError> {
    let max_versions = plan.max_versions;
    let (tx, mut windows) = mpsc::channel(WINDOWS_AHEAD);
    let reader = tokio::spawn(read_windows(repo.clone(), plan, tx));
    let mut reader = AbortOnDrop(reader);
    let mut replayed = 0u64;
    // The window merged last, not written yet.
    let mut merged: Option<Merged> = None;
    while let Some(window) = windows.recv().await {
        let window = window?;
        replayed += window.len() as u64;
        // Rows the previous window touches start from its results; then that window
        // is written while this one reads the other rows it needs and merges.
        let start = start_merge(&window, merged.as_ref());
        merged = Some(match merged.take() {
            None => finish_merge(sink, target, window, start, max_versions).await?,
            Some(previous) => {
                let (wrote, next) = tokio::join!(
                    write_window(sink, target, previous),
                    finish_merge(sink, target, window, start, max_versions)
                );
                progress.rows_done(wrote?, 0);
                next?
            }
        });
    }
    // The queue closed: the reader ended, or failed without a word (a panic).
    (&mut reader.0).await.map_err(|e| BackupError::Internal(format!("replay reader: {e}")))?;
    if let Some(last) = merged {
        progress.rows_done(write_window(sink, target, last).await?, 0);
    }
    Ok(replayed)
}

/// A dropped replay stops its reader.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reading stage: the plan's changes from its position up to its time, each
/// once, in windows of [`REPLAY_WINDOW`]; stops at the first error (sent on).
async fn read_windows(
    repo: Repository,
    plan: PointInTimePlan,
    windows: mpsc::Sender<Result<Vec<Change>, BackupError>>,
) {
    let mut next_position = plan.position;
    let mut window: Vec<Change> = Vec::with_capacity(REPLAY_WINDOW);
    'segments: for (id, segment) in plan.segments {
        let mut changes = SegmentChanges::new(&repo, &id, segment);
        loop {
            let change = match changes.next().await {
                Ok(Some(change)) => change,
                Ok(None) => break,
                Err(e) => {
                    let _ = windows.send(Err(e)).await;
                    return;
                }
            };
            if change.position < next_position {
                continue; // Before the snapshot, or in an overlapping segment.
            }
            if change.time_us() > plan.time_us {
                break 'segments;
            }
            next_position = change.position + 1;
            window.push(change);
            if window.len() >= REPLAY_WINDOW {
                let full = std::mem::replace(&mut window, Vec::with_capacity(REPLAY_WINDOW));
                if windows.send(Ok(full)).await.is_err() {
                    return; // The replay stopped.
                }
            }
        }
    }
    if !window.is_empty() {
        let _ = windows.send(Ok(window)).await;
    }
}

/// A merged window: the rows its changes leave (`None`: deleted), in the order
/// their keys first appear.
struct Merged {
    order: Vec<PrimaryKey>,
    rows: HashMap<PrimaryKey, Option<Row>>,
    changes: u64,
}

/// The first step of a merge: each row's state before the window, where it is
/// known without reading the sink.
struct MergeStart {
    order: Vec<PrimaryKey>,
    rows: HashMap<PrimaryKey, Option<Row>>,
    /// Rows whose first change here is an update and whose state is in the sink.
    to_read: Vec<PrimaryKey>,
}

/// A put or a delete decides a row without its state; an update starts from the
/// row as `previous` (the window merged before, not written yet) leaves it, else
/// from the sink.
fn start_merge(changes: &[Change], previous: Option<&Merged>) -> MergeStart {
    let mut start =
        MergeStart { order: Vec::new(), rows: HashMap::with_capacity(changes.len()), to_read: Vec::new() };
    for change in changes {
        let key = &change.row.primary_key;
        if start.rows.contains_key(key) {
            continue;
        }
        let state = match (change.kind, previous.and_then(|p| p.rows.get(key))) {
            (ChangeKind::Update, Some(row)) => row.clone(),
            (ChangeKind::Update, None) => {
                start.to_read.push(key.clone());
                None
            }
            _ => None,
        };
        start.rows.insert(key.clone(), state);
        start.order.push(key.clone());
    }
    start
}

/// Reads the rows `start` needs from the sink and applies the window's changes
/// in order. The sink is not written meanwhile except for the rows of the window
/// before, which `start` already holds.
async fn finish_merge<K: TableSink>(
    sink: &K,
    target: &str,
    changes: Vec<Change>,
    start: MergeStart,
    max_versions: i32,
) -> Result<Merged, BackupError> {
    let MergeStart { order, mut rows, to_read } = start;
    let count = changes.len() as u64;
    if !to_read.is_empty() {
        let current = sink.read_rows(target, to_read.clone()).await?;
        for (key, row) in to_read.into_iter().zip(current) {
            rows.insert(key, row);
        }
    }
    for change in changes {
        let slot =
            rows.get_mut(&change.row.primary_key).ok_or_else(|| BackupError::Internal("replay lost a row".into()))?;
        *slot = apply_stored(slot.take(), change, max_versions, target)?;
    }
    Ok(Merged { order, rows, changes: count })
}

/// Writes one merged window; returns how many changes it stands for.
async fn write_window<K: TableSink>(sink: &K, target: &str, merged: Merged) -> Result<u64, BackupError> {
    let Merged { order, mut rows, changes } = merged;
    let (mut writes, mut deletes) = (Vec::new(), Vec::new());
    for key in order {
        match rows.remove(&key).flatten() {
            Some(row) => writes.push(row),
            None => deletes.push(key),
        }
    }
    if !writes.is_empty() {
        sink.write_rows(target, writes).await?;
    }
    if !deletes.is_empty() {
        sink.delete_rows(target, deletes).await?;
    }
    Ok(changes)
}
