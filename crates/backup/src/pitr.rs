//! Restore to a point in time: the newest snapshot of the table whose stream
//! position was reached by then, restored as usual, then the archived changes from
//! that position up to the time replayed onto the restored table.
//!
//! Invariants: a snapshot starts a restore to time `T` only when it is exact at a
//! stream position whose changes were all committed by `T` (`position_time_us <=
//! T`), and the archive holds every change from that position up to `T` without a
//! gap: a segment then holds a change after `T`, or proves that none was committed
//! by `T` (`complete_until_us >= T`). Changes are replayed in position order, each
//! once; the time is compared with the commit time the stream stamped.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_proto::plainbuffer;
use tablesafe_repo::{LockKind, Repository};

use crate::archive::{list_segments, load_segment, ChangeSegment, SegmentChanges};
use crate::changes::{apply_stored, Change, ChangeKind};
use crate::restore::{restore_locked, RestoreOptions, RestoreReport};
use crate::snapshot::{list_snapshots, Progress};
use crate::source::{Consistency, TableSink};
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

/// Chooses what restores `table` as it was at `time_us`: the newest snapshot that
/// can start it (from `origin` only, when given) and the segments after it.
pub async fn plan_point_in_time(
    repo: &Repository,
    table: &str,
    time_us: i64,
    origin: Option<&str>,
) -> Result<PointInTimePlan, BackupError> {
    let mut candidates: Vec<_> = list_snapshots(repo)
        .await?
        .into_iter()
        .filter(|(_, s)| origin.is_none_or(|o| s.origin == o))
        .filter_map(|(id, s)| {
            let entry = s.tables.into_iter().find(|t| t.name == table)?;
            Some((id, entry))
        })
        .collect();
    if candidates.is_empty() {
        return Err(BackupError::NotFound(format!("no snapshot holds table '{table}'")));
    }
    candidates
        .retain(|(_, t)| t.consistency == Consistency::Exact && t.stream_id.is_some() && t.stream_position.is_some());
    if candidates.is_empty() {
        return Err(BackupError::NotFound(format!(
            "no snapshot of table '{table}' is exact at a stream position; a restore to a time needs one (the \
             table needs a stream)"
        )));
    }
    let earliest = candidates.iter().filter_map(|(_, t)| t.position_time_us).min();
    candidates.retain(|(_, t)| t.position_time_us.is_some_and(|p| p <= time_us));
    candidates.sort_by_key(|(_, t)| std::cmp::Reverse(t.position_time_us));
    let mut reach = None;
    for (id, entry) in candidates {
        let (Some(stream_id), Some(position)) = (entry.stream_id.as_deref(), entry.stream_position) else { continue };
        match archived_changes(repo, stream_id, position, time_us).await? {
            Ok(segments) => {
                return Ok(PointInTimePlan {
                    snapshot: id,
                    table: table.to_owned(),
                    position,
                    time_us,
                    segments,
                    max_versions: entry.definition.options.max_versions,
                })
            }
            Err(covered_until) => reach = reach.max(covered_until),
        }
    }
    Err(BackupError::NotFound(match (reach, earliest) {
        (Some(until), _) => format!(
            "the archive of table '{table}' reaches only {}; `tablesafe recovery-points` shows the restorable window",
            crate::format_time_us(until)
        ),
        (None, Some(earliest)) if earliest > time_us => format!(
            "the oldest snapshot of table '{table}' is from {}, after the time asked for",
            crate::format_time_us(earliest)
        ),
        _ => format!("no archived changes of table '{table}' follow a snapshot that can start this restore"),
    }))
}

/// The segments holding every change from `position` up to `time_us`, or how far
/// the archive reaches (as a time) when it does not get there.
async fn archived_changes(
    repo: &Repository,
    stream_id: &str,
    position: u64,
    time_us: i64,
) -> Result<Result<Vec<(String, ChangeSegment)>, Option<i64>>, BackupError> {
    let mut chain = Vec::new();
    let mut at = position;
    let mut covered_until = None;
    for name in list_segments(repo, stream_id).await? {
        // Wholly before the position. One that ends there may still prove, by its
        // complete_until, that nothing followed.
        if name.to < at {
            continue;
        }
        if name.from > at {
            break; // A gap.
        }
        let segment = load_segment(repo, &name.id).await?;
        at = at.max(segment.to);
        covered_until = Some(segment.complete_until_us);
        let done = segment.complete_until_us >= time_us || segment.last_time_us.is_some_and(|t| t > time_us);
        chain.push((name.id, segment));
        if done {
            return Ok(Ok(chain));
        }
    }
    Ok(Err(covered_until))
}

/// Restores `options.table` as it was at `time_us` into `sink`; see [`plan_point_in_time`].
pub async fn restore_to_time<K: TableSink>(
    repo: &Repository,
    sink: &K,
    options: &RestoreOptions,
    time_us: i64,
    origin: Option<&str>,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    let lock = repo.lock(LockKind::Shared).await?;
    let result = async {
        let plan = plan_point_in_time(repo, &options.table, time_us, origin).await?;
        restore_locked(repo, &plan.snapshot.clone(), sink, options, Some(&plan), progress).await
    }
    .await;
    lock.release().await?;
    result
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
