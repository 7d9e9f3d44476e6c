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
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_proto::plainbuffer;
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

/// The rows one window leaves, keyed by encoded primary key (`None`: deleted).
type WindowRows = HashMap<Vec<u8>, Option<Row>>;

/// Replays the plan's changes onto `target`; returns how many were applied.
pub(crate) async fn replay<K: TableSink>(
    repo: &Repository,
    plan: &PointInTimePlan,
    sink: &K,
    target: &str,
    progress: &dyn Progress,
) -> Result<u64, BackupError> {
    let (tx, mut windows) = mpsc::channel(WINDOWS_AHEAD);
    let reader = tokio::spawn(read_windows(repo.clone(), Arc::new(plan.clone()), tx));
    let mut reader = AbortOnDrop(reader);
    let mut replayed = 0u64;
    // The write in flight, and the rows it writes (what a merge reads them as).
    let mut in_flight: Option<(Write, Arc<WindowRows>)> = None;
    while let Some(window) = windows.recv().await {
        let window = window?;
        let count = window.len() as u64;
        let merged = match in_flight.take() {
            None => merge_window(sink, target, window, &WindowRows::new(), plan.max_versions).await?,
            Some((write, written)) => {
                let (wrote, merged) = tokio::join!(
                    write_window(sink, target, write),
                    merge_window(sink, target, window, &written, plan.max_versions)
                );
                progress.rows_done(wrote?, 0);
                merged?
            }
        };
        replayed += count;
        in_flight = Some(merged);
    }
    // The queue closed: the reader ended, or failed without a word (a panic).
    (&mut reader.0).await.map_err(|e| BackupError::Internal(format!("replay reader: {e}")))?;
    if let Some((write, _)) = in_flight {
        progress.rows_done(write_window(sink, target, write).await?, 0);
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
    plan: Arc<PointInTimePlan>,
    windows: mpsc::Sender<Result<Vec<Change>, BackupError>>,
) {
    let mut next_position = plan.position;
    let mut window: Vec<Change> = Vec::with_capacity(REPLAY_WINDOW);
    'segments: for (id, segment) in &plan.segments {
        let mut changes = SegmentChanges::new(&repo, id, segment.clone());
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

/// What one window writes: rows to store whole, keys to delete, and how many
/// changes they stand for.
struct Write {
    rows: Vec<Row>,
    deletes: Vec<PrimaryKey>,
    changes: u64,
}

/// Merges a window's changes in order into the rows they leave. A row whose first
/// change here is an update starts from its state in `written` (the write in
/// flight) if it is there, else from the sink; a put or a delete decides the row
/// without it.
async fn merge_window<K: TableSink>(
    sink: &K,
    target: &str,
    changes: Vec<Change>,
    written: &WindowRows,
    max_versions: i32,
) -> Result<(Write, Arc<WindowRows>), BackupError> {
    let count = changes.len() as u64;
    let keys: Vec<Vec<u8>> = changes.iter().map(|c| plainbuffer::encode_primary_key(&c.row.primary_key)).collect();
    let mut order: Vec<(usize, PrimaryKey)> = Vec::new();
    let mut rows: WindowRows = HashMap::with_capacity(changes.len());
    let mut to_read: Vec<(usize, PrimaryKey)> = Vec::new();
    for (at, change) in changes.iter().enumerate() {
        let key = &keys[at];
        if rows.contains_key(key) {
            continue;
        }
        let start = match (change.kind, written.get(key)) {
            (ChangeKind::Update, Some(row)) => row.clone(),
            (ChangeKind::Update, None) => {
                to_read.push((at, change.row.primary_key.clone()));
                None
            }
            _ => None,
        };
        rows.insert(key.clone(), start);
        order.push((at, change.row.primary_key.clone()));
    }
    if !to_read.is_empty() {
        let current = sink.read_rows(target, to_read.iter().map(|(_, k)| k.clone()).collect()).await?;
        for ((at, _), row) in to_read.into_iter().zip(current) {
            rows.insert(keys[at].clone(), row);
        }
    }
    for (change, key) in changes.iter().zip(&keys) {
        let slot = rows.get_mut(key).ok_or_else(|| BackupError::Internal("replay lost a row".into()))?;
        *slot = apply_stored(slot.take(), change, max_versions, target)?;
    }
    let (mut write_rows, mut deletes) = (Vec::new(), Vec::new());
    for (at, primary_key) in order {
        match rows.get(&keys[at]) {
            Some(Some(row)) => write_rows.push(row.clone()),
            _ => deletes.push(primary_key),
        }
    }
    Ok((Write { rows: write_rows, deletes, changes: count }, Arc::new(rows)))
}

/// Writes one merged window; returns how many changes it stands for.
async fn write_window<K: TableSink>(sink: &K, target: &str, write: Write) -> Result<u64, BackupError> {
    if !write.rows.is_empty() {
        sink.write_rows(target, write.rows).await?;
    }
    if !write.deletes.is_empty() {
        sink.delete_rows(target, write.deletes).await?;
    }
    Ok(write.changes)
}
