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

use tablesafe_repo::{LockKind, Repository};

use crate::archive::{list_segments, load_segment, ChangeSegment};
use crate::manifest::list_snapshots;
use crate::progress::Progress;
use crate::replay::PointInTimePlan;
use crate::restore::{restore_locked, RestoreOptions, RestoreReport};
use crate::source::{Consistency, TableSink};
use crate::BackupError;

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
            "no snapshot of table '{table}' is exact at a stream position; a restore to a time needs one (taken \
             while the table has a stream, or a change log an archiving plan keeps)"
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
            "the archive of table '{table}' reaches only {}; the recovery points show the restorable window",
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
        let snapshot = plan.snapshot.clone();
        restore_locked(repo, &snapshot, sink, options, Some(plan), progress).await
    }
    .await;
    lock.release().await;
    result
}
