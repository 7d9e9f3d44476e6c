//! Restore of a table from a snapshot, and verification of a restored (or any
//! live) table against a snapshot's digest. A table stored as incremental layers
//! is restored by merging its layers by key, newest first, in one pass.
//!
//! Invariants: a restore writes into a table it created, or into an existing table
//! only when that table is empty or the caller explicitly allows overwriting; a
//! restore marker (`restores/<id>` in the repository) is written before the target
//! is created and removed when the restore ends, so running an interrupted restore
//! again (even after `kill -9`) resumes it into its own partial target; the
//! rows read back from the repository are digested while they are written and must
//! match the manifest, so damaged data fails the restore instead of producing a
//! wrong table; a failed restore drops the table it created unless asked to keep it.

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::Row;
use tablesafe_repo::{LockKind, Repository};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::digest::{differences, DifferingRange, DigestBuilder, TableDigest};
use crate::pitr::PointInTimePlan;
use crate::read::SnapshotRows;
use crate::snapshot::{load_snapshot, Progress, TableSnapshot};
use crate::source::{ExportItem, TableSink, TableSource, ROW_BATCH};
use crate::BackupError;

/// What to restore and how.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// The table in the snapshot.
    pub table: String,
    /// Name of the restored table; `None` keeps the original name.
    pub target: Option<String>,
    /// Restore into an existing table that holds rows.
    pub overwrite: bool,
    /// Keep a partially restored table when the restore fails.
    pub keep_partial: bool,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Snapshot id.
    pub snapshot: String,
    /// Table in the snapshot.
    pub table: String,
    /// Table written.
    pub target: String,
    /// Rows written.
    pub rows: u64,
    /// Cell versions written.
    pub cells: u64,
    /// The digest of the rows read back equalled the manifest's.
    pub digest: String,
    /// Archived changes replayed after the snapshot (a restore to a point in time).
    #[serde(default)]
    pub changes_replayed: u64,
    /// The time restored to (µs since the epoch), for a restore to a point in time.
    #[serde(default)]
    pub to_time_us: Option<i64>,
}

pub(crate) fn find_table<'a>(
    snapshot_id: &str,
    tables: &'a [TableSnapshot],
    table: &str,
) -> Result<&'a TableSnapshot, BackupError> {
    tables
        .iter()
        .find(|t| t.name == table)
        .ok_or_else(|| BackupError::NotFound(format!("snapshot {snapshot_id} has no table '{table}'")))
}

/// Restores one table of a snapshot into `sink`.
pub async fn restore<K: TableSink>(
    repo: &Repository,
    snapshot_id: &str,
    sink: &K,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    // Prune must not delete chunks while they are being read.
    let lock = repo.lock(LockKind::Shared).await?;
    let result = restore_locked(repo, snapshot_id, sink, options, None, progress).await;
    lock.release().await?;
    result
}

/// Restores a snapshot's table and, with a plan, replays archived changes onto it
/// before the table is finished; the caller holds a shared lock.
pub(crate) async fn restore_locked<K: TableSink>(
    repo: &Repository,
    snapshot_id: &str,
    sink: &K,
    options: &RestoreOptions,
    replay: Option<&PointInTimePlan>,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    let (snapshot_id, snapshot) = load_snapshot(repo, snapshot_id).await?;
    let table = find_table(&snapshot_id, &snapshot.tables, &options.table)?;
    let target = options.target.clone().unwrap_or_else(|| table.name.clone());
    let marker = RestoreMarker {
        snapshot: snapshot_id.clone(),
        table: table.name.clone(),
        target: target.clone(),
        destination: sink.destination(),
        to_time_us: replay.map(|plan| plan.time_us),
    };
    // An earlier run of this same restore that was interrupted left its marker and
    // a partial target: running again resumes it, as if the target were empty.
    let interrupted = find_marker(repo, &marker).await?;
    let exists = sink.table_exists(&target).await?;
    if exists && interrupted.is_none() && !options.overwrite && !sink.table_is_empty(&target).await? {
        return Err(BackupError::TargetExists(target));
    }
    let ours = interrupted.is_some() || !exists;
    // The marker goes first, so a kill at any later moment leaves it behind.
    let marker_id = match interrupted {
        Some(id) => Some(id),
        None if ours => Some(repo.save_manifest(RESTORES, &marker.encode()?).await?),
        None => None,
    };
    if !exists {
        sink.create_table(&target, &table.definition).await?;
    }
    progress.table_started(&target, Some(table.rows));
    let mut result = write_table(repo, &snapshot_id, table, &target, sink, progress).await;
    if let (Ok(report), Some(plan)) = (&mut result, replay) {
        match crate::pitr::replay(repo, plan, sink, &target, progress).await {
            Ok(changes) => {
                report.changes_replayed = changes;
                report.to_time_us = Some(plan.time_us);
            }
            Err(error) => result = Err(error),
        }
    }
    let result = match result {
        Ok(report) => sink.finish_table(&target, &table.definition, table.auto_increment).await.map(|()| report),
        Err(error) => Err(error),
    };
    match result {
        Ok(report) => {
            progress.table_finished(&target);
            if let Some(id) = marker_id {
                repo.delete_manifest(RESTORES, &id).await?;
            }
            Ok(report)
        }
        Err(error) => {
            if ours && !options.keep_partial {
                match sink.drop_table(&target).await {
                    Ok(()) => {
                        if let Some(id) = marker_id {
                            repo.delete_manifest(RESTORES, &id).await?;
                        }
                    }
                    Err(cleanup) => {
                        tracing::warn!(%cleanup, table = target, "could not drop the partially restored table")
                    }
                }
            }
            Err(error)
        }
    }
}

/// Row batches a restore writes at once.
const WRITES_IN_FLIGHT: usize = 4;

/// Manifest kind of restores in progress.
const RESTORES: &str = "restores";

/// Names a restore in progress: which snapshot table goes to which target where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RestoreMarker {
    snapshot: String,
    table: String,
    target: String,
    destination: String,
    /// For a restore to a point in time, the time (µs).
    #[serde(default)]
    to_time_us: Option<i64>,
}

impl RestoreMarker {
    fn encode(&self) -> Result<Vec<u8>, BackupError> {
        serde_json::to_vec(self).map_err(|e| BackupError::Internal(format!("restore marker: {e}")))
    }
}

async fn find_marker(repo: &Repository, marker: &RestoreMarker) -> Result<Option<String>, BackupError> {
    for id in repo.list_manifests(RESTORES).await? {
        let body = repo.load_manifest(RESTORES, &id).await?;
        if serde_json::from_slice::<RestoreMarker>(&body).ok().as_ref() == Some(marker) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

async fn write_table<K: TableSink>(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
    target: &str,
    sink: &K,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    // Reading (decrypt, decompress, decode, digest) and writing overlap: the
    // reader stays at most two batches ahead of the writes in flight.
    let (tx, rx) = mpsc::channel::<Vec<Row>>(2);
    let read = async move {
        let mut rows = SnapshotRows::open(repo, snapshot_id, table).await?;
        let mut digest = DigestBuilder::default();
        let mut batch = Vec::with_capacity(ROW_BATCH);
        let stopped = || BackupError::Internal("restore writer stopped".into());
        while let Some(row) = rows.next().await? {
            digest.add(&row);
            batch.push(row);
            if batch.len() >= ROW_BATCH {
                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH))).await.map_err(|_| stopped())?;
            }
        }
        let digest = digest.finish();
        // Checked before the last batch: rows that do not add up are never completed.
        if digest.root != table.digest.root {
            return Err(BackupError::Corrupt {
                snapshot: snapshot_id.to_owned(),
                table: table.name.clone(),
                detail: "the rows read back do not match the snapshot's digest".into(),
            });
        }
        if !batch.is_empty() {
            tx.send(batch).await.map_err(|_| stopped())?;
        }
        Ok(digest)
    };
    let write = async {
        // Several batches are written at once: a restore's keys are unique, so the
        // order of the writes does not matter, and the sink (RocksDB's write group,
        // or BatchWriteRow requests) overlaps them.
        let batches = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|rows| (rows, rx)) });
        let mut writes = std::pin::pin!(batches
            .map(|rows| async move {
                let count = rows.len() as u64;
                sink.write_rows(target, rows).await.map(|()| count)
            })
            .buffer_unordered(WRITES_IN_FLIGHT));
        while let Some(written) = writes.next().await {
            // An error drops the stream and its receiver, which stops the reader too.
            progress.rows_done(written?, 0);
        }
        Ok::<(), BackupError>(())
    };
    let (read, written) = tokio::join!(read, write);
    // A write error explains a reader that stopped because of it.
    written?;
    let digest = read?;
    Ok(RestoreReport {
        snapshot: snapshot_id.to_owned(),
        table: table.name.clone(),
        target: target.to_owned(),
        rows: digest.rows,
        cells: digest.cells,
        digest: digest.root,
        changes_replayed: 0,
        to_time_us: None,
    })
}

/// The outcome of comparing a live table with a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Snapshot id.
    pub snapshot: String,
    /// Table in the snapshot.
    pub table: String,
    /// Live table compared.
    pub live_table: String,
    /// Whether the digests are equal.
    pub equal: bool,
    /// Rows in the snapshot and in the live table.
    pub snapshot_rows: u64,
    /// Rows in the live table.
    pub live_rows: u64,
    /// Key ranges that differ.
    pub differing_ranges: Vec<DifferingRange>,
}

/// Recomputes the digest of `live_table` read from `source` and compares it with
/// the snapshot's digest of `table`.
pub async fn verify_table<S: TableSource>(
    repo: &Repository,
    snapshot_id: &str,
    table: &str,
    source: &S,
    live_table: &str,
) -> Result<VerifyReport, BackupError> {
    let (snapshot_id, snapshot) = load_snapshot(repo, snapshot_id).await?;
    let expected = find_table(&snapshot_id, &snapshot.tables, table)?;
    let actual = live_digest(source, live_table).await?;
    Ok(VerifyReport {
        snapshot: snapshot_id,
        table: table.to_owned(),
        live_table: live_table.to_owned(),
        equal: actual.root == expected.digest.root,
        snapshot_rows: expected.digest.rows,
        live_rows: actual.rows,
        differing_ranges: differences(&expected.digest, &actual),
    })
}

/// The digest of `table` as `source` holds it now.
pub(crate) async fn live_digest<S: TableSource>(source: &S, table: &str) -> Result<TableDigest, BackupError> {
    let (tx, mut rx) = mpsc::channel(4);
    let export = source.export(table, tx);
    let digest = async {
        let mut digest = DigestBuilder::default();
        while let Some(item) = rx.recv().await {
            match item {
                ExportItem::Rows(batch) => batch.iter().for_each(|row| digest.add(row)),
                ExportItem::Encoded(batch) => batch.rows.iter().for_each(|row| digest.add_record(&batch.records, row)),
                ExportItem::Start { .. } => {}
            }
        }
        digest.finish()
    };
    let (summary, actual) = tokio::join!(export, digest);
    summary?;
    Ok(actual)
}
