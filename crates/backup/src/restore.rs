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
//! wrong table (into a sink with bulk loads, the engine, no row shows before the
//! digest matched); a failed restore drops the table it created unless asked to keep it.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tablesafe_engine::{LoadBatch, TableLoad};
use tablesafe_proto::model::Row;
use tablesafe_proto::plainbuffer;
use tablesafe_repo::{LockKind, Repository};
use tokio::sync::mpsc;

use crate::diff::{compare_rows, Comparison, KeysOfKind, RowStream};
use crate::digest::{differences, DifferingRange, DigestBuilder, TableDigest};
use crate::format::{RecordBatch, RecordFramer, RowDecoder};
use crate::records::ChunkRecords;
use crate::manifest::{digest_leaves, find_table, load_snapshot_of, TableSnapshot};
use crate::progress::Progress;
use crate::read::SnapshotRows;
use crate::replay::PointInTimePlan;
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
    lock.release().await;
    result
}

/// Restores a snapshot's table and, with a plan, replays archived changes onto it
/// before the table is finished; the caller holds a shared lock.
pub(crate) async fn restore_locked<K: TableSink>(
    repo: &Repository,
    snapshot_id: &str,
    sink: &K,
    options: &RestoreOptions,
    replay: Option<PointInTimePlan>,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    let (snapshot_id, snapshot) = load_snapshot_of(repo, snapshot_id, Some(&options.table)).await?;
    let table = find_table(&snapshot_id, &snapshot.tables, &options.table)?;
    let target = options.target.clone().unwrap_or_else(|| table.name.clone());
    let marker = RestoreMarker {
        snapshot: snapshot_id.clone(),
        table: table.name.clone(),
        target: target.clone(),
        destination: sink.destination(),
        to_time_us: replay.as_ref().map(|plan| plan.time_us),
    };
    // An earlier run of this same restore that was interrupted left its marker and
    // a partial target: running again resumes it, as if the target were empty.
    let interrupted = find_marker(repo, &marker).await?;
    let exists = sink.table_exists(&target).await?;
    if exists && interrupted.is_none() && !options.overwrite && !sink.table_is_empty(&target).await? {
        return Err(BackupError::TargetExists(target));
    }
    let ours = interrupted.is_some() || !exists;
    // A rerun loads into its own partial target: what the first run left is replaced.
    let replace = interrupted.is_some();
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
    let mut result = write_table(repo, &snapshot_id, table, &target, sink, replace, progress).await;
    if let (Ok(report), Some(plan)) = (&mut result, replay) {
        let time_us = plan.time_us;
        match crate::replay::replay(repo, plan, sink, &target, progress).await {
            Ok(changes) => {
                report.changes_replayed = changes;
                report.to_time_us = Some(time_us);
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
            // The table is done: a marker that cannot be removed must not turn that into a failure,
            // which a rerun would then refuse (the target exists and holds rows).
            if let Some(id) = marker_id {
                remove_marker(repo, &id).await;
            }
            Ok(report)
        }
        Err(error) => {
            if ours && !options.keep_partial {
                match sink.drop_table(&target).await {
                    Ok(()) => {
                        if let Some(id) = marker_id {
                            remove_marker(repo, &id).await;
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

/// Removes a restore's marker once its target is finished or dropped. A marker left behind only makes a
/// rerun of the same restore replace its own target, so a failure is logged, not returned.
async fn remove_marker(repo: &Repository, id: &str) {
    if let Err(error) = repo.delete_manifest(RESTORES, id).await {
        tracing::warn!(%error, marker = id, "could not remove the restore's marker");
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
    replace: bool,
    progress: &dyn Progress,
) -> Result<RestoreReport, BackupError> {
    let digest = match sink.start_load(target, replace).await? {
        Some(load) => {
            let (digest, load) = load_table(repo, snapshot_id, table, load, progress).await?;
            sink.finish_load(target, load).await?;
            digest
        }
        None => write_rows(repo, snapshot_id, table, target, sink, progress).await?,
    };
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

/// Rows read back that do not add up to the manifest's digest are never completed.
fn check_digest(snapshot_id: &str, table: &TableSnapshot, digest: &TableDigest) -> Result<(), BackupError> {
    if digest.root == table.digest.root {
        return Ok(());
    }
    Err(BackupError::Corrupt {
        snapshot: snapshot_id.to_owned(),
        table: table.name.clone(),
        detail: "the rows read back do not match the snapshot's digest".into(),
    })
}

/// What the decode thread is fed: a full copy's records as stored, or the rows
/// of several layers merged.
enum LoadInput {
    Records(RecordBatch),
    Rows(Vec<Row>),
}

/// What the write thread is handed: records with the load's entries made from
/// them and what their digest needs, or merged rows as they are.
enum LoadStep {
    Records { records: RecordBatch, digested: Vec<Digested>, entries: LoadBatch },
    Rows(Vec<Row>),
}

/// How one record of a [`LoadStep`] is digested.
enum Digested {
    /// Canonical: record `index`'s bytes as they are.
    Record { index: usize, key_extent: plainbuffer::KeyExtent, cells: u64 },
    /// Not canonical: the row, made canonical by the digest.
    Row(Row),
}

/// Loads a table through a sink's bulk load, in stages: the read-ahead task
/// authenticates and decompresses chunks; a decode thread decodes each record in
/// place and makes the load's entries; a write thread digests the records' stored
/// bytes and writes the entries into the load's files (rows merged from several
/// layers are digested and made into entries there too). Returns the load,
/// unfinished, once the digest matched.
async fn load_table(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
    load: TableLoad,
    progress: &dyn Progress,
) -> Result<(TableDigest, TableLoad), BackupError> {
    let (tx, mut rx) = mpsc::channel::<LoadInput>(2);
    let (steps_tx, mut steps_rx) = mpsc::channel::<LoadStep>(2);
    let encoder = load.encoder();
    let name = table.name.clone();
    let writer = {
        let encoder = encoder.clone();
        let mut load = load;
        tokio::task::spawn_blocking(move || {
            let loaded = |e| BackupError::engine(&name)(e);
            let mut digest = DigestBuilder::default();
            while let Some(step) = steps_rx.blocking_recv() {
                let entries = match step {
                    LoadStep::Records { records, digested, entries } => {
                        for item in digested {
                            match item {
                                Digested::Record { index, key_extent, cells } => {
                                    let encoded = records.record(index).unwrap_or_default();
                                    digest.add_canonical_record(encoded, key_extent, cells);
                                }
                                Digested::Row(row) => digest.add(&row),
                            }
                        }
                        entries
                    }
                    LoadStep::Rows(rows) => {
                        let mut entries = LoadBatch::default();
                        for row in rows {
                            digest.add(&row);
                            encoder.add_row(&mut entries, row).map_err(loaded)?;
                        }
                        entries
                    }
                };
                load.write(&entries).map_err(loaded)?;
            }
            Ok::<_, BackupError>((digest.finish(), load))
        })
    };
    let owner = (snapshot_id.to_owned(), table.name.clone());
    let decoder = tokio::task::spawn_blocking(move || {
        let corrupt = |detail: String| BackupError::Corrupt { snapshot: owner.0.clone(), table: owner.1.clone(), detail };
        let loaded = |e| BackupError::engine(&owner.1)(e);
        let stopped = || BackupError::Internal("restore writer stopped".into());
        while let Some(input) = rx.blocking_recv() {
            let step = match input {
                LoadInput::Records(records) => {
                    let mut entries = LoadBatch::default();
                    let mut digested = Vec::with_capacity(records.len());
                    for (index, encoded) in records.records().enumerate() {
                        // Chunks are authenticated (AEAD and their keyed id) before they get here.
                        let row = plainbuffer::decode_authenticated_row_ref(encoded)
                            .map_err(|e| corrupt(format!("row record: {e}")))?;
                        // A full copy holds no delete markers; one would mean nothing to load.
                        if row.delete_marker {
                            continue;
                        }
                        if row.is_canonical() {
                            let cells = row.cells.len() as u64;
                            digested.push(Digested::Record { index, key_extent: row.key_extent, cells });
                            // Canonical: every cell is a version with a value and a timestamp.
                            let cells = row.cells.iter().filter_map(|c| Some((c.name, c.value?, c.timestamp?)));
                            encoder.add_cells(&mut entries, &row.primary_key, cells).map_err(loaded)?;
                        } else {
                            digested.push(Digested::Row(row.to_row()));
                            encoder.add_row(&mut entries, row.to_row()).map_err(loaded)?;
                        }
                    }
                    LoadStep::Records { records, digested, entries }
                }
                LoadInput::Rows(rows) => LoadStep::Rows(rows),
            };
            steps_tx.blocking_send(step).map_err(|_| stopped())?;
        }
        Ok::<(), BackupError>(())
    });
    let feed = async {
        let stopped = || BackupError::Internal("restore decoder stopped".into());
        // A full copy with no fixup is its records as stored: nothing to merge.
        let chain = crate::read::layers(repo, snapshot_id, table).await?;
        let full_copy = match chain.as_slice() {
            [(_, only)] if only.fixup.is_none() => Some(only.chunks.clone()),
            _ => None,
        };
        if let Some(chunks) = full_copy {
            let (owner, name) = (snapshot_id.to_owned(), table.name.clone());
            let mut records = ChunkRecords::<RecordFramer>::new(repo, chunks, owner, name);
            while let Some(batch) = records.next().await? {
                let rows = batch.len() as u64;
                tx.send(LoadInput::Records(batch)).await.map_err(|_| stopped())?;
                progress.rows_done(rows, 0);
            }
        } else {
            let mut rows = SnapshotRows::open(repo, snapshot_id, table).await?;
            let mut batch = Vec::with_capacity(ROW_BATCH);
            while let Some(row) = rows.next().await? {
                batch.push(row);
                if batch.len() >= ROW_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
                    let count = full.len() as u64;
                    tx.send(LoadInput::Rows(full)).await.map_err(|_| stopped())?;
                    progress.rows_done(count, 0);
                }
            }
            let count = batch.len() as u64;
            tx.send(LoadInput::Rows(batch)).await.map_err(|_| stopped())?;
            progress.rows_done(count, 0);
        }
        Ok::<(), BackupError>(())
    };
    let fed = feed.await;
    drop(tx);
    let joined = |e: tokio::task::JoinError| BackupError::Internal(format!("restore stage: {e}"));
    let decoded = decoder.await.map_err(joined)?;
    let written = writer.await.map_err(joined)?;
    // A later stage's error explains an earlier one that stopped because of it.
    let (digest, load) = written?;
    decoded?;
    fed?;
    check_digest(snapshot_id, table, &digest)?;
    Ok((digest, load))
}

/// Restores through a sink's row writes: reading (decrypt, decompress, decode,
/// digest) and writing overlap, the reader at most two batches ahead of the writes.
async fn write_rows<K: TableSink>(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
    target: &str,
    sink: &K,
    progress: &dyn Progress,
) -> Result<TableDigest, BackupError> {
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
        check_digest(snapshot_id, table, &digest)?;
        if !batch.is_empty() {
            tx.send(batch).await.map_err(|_| stopped())?;
        }
        Ok(digest)
    };
    let write = async {
        // Several batches are written at once: a restore's keys are unique, so the
        // order of the writes does not matter, and the sink (BatchWriteRow
        // requests) overlaps them.
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
    read
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
    /// Rows the snapshot holds and the live table lacks (counted only when the
    /// digests differ).
    #[serde(default)]
    pub missing: KeysOfKind,
    /// Rows the live table holds and the snapshot lacks.
    #[serde(default)]
    pub extra: KeysOfKind,
    /// Rows both hold with different cells.
    #[serde(default)]
    pub different: KeysOfKind,
    /// Where the live table's secondary indexes differ from the indexes of its
    /// rows (a restore rebuilds them; this proves it did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_problems: Vec<String>,
}

/// Recomputes the digest of `live_table` read from `source` and compares it with
/// the snapshot's digest of `table`. When they differ, a second pass merge-joins
/// the snapshot's rows with the live table's and names the rows that are missing,
/// extra or different (the digest proves equality cheaply; only a difference
/// pays for reading the snapshot's rows).
pub async fn verify_table<S: TableSource>(
    repo: &Repository,
    snapshot_id: &str,
    table: &str,
    source: &S,
    live_table: &str,
) -> Result<VerifyReport, BackupError> {
    let (snapshot_id, snapshot) = load_snapshot_of(repo, snapshot_id, Some(table)).await?;
    let expected = find_table(&snapshot_id, &snapshot.tables, table)?;
    let actual = live_digest(source, live_table).await?;
    let rows_equal = actual.root == expected.digest.root;
    let index_problems = source.check_indexes(live_table).await?;
    let equal = rows_equal && index_problems.is_empty();
    // Only a difference needs the snapshot's leaves (sealed: opening them takes a
    // key that reads data, which the row comparison below needs anyway).
    let differing_ranges = if rows_equal {
        Vec::new()
    } else {
        let leaves = digest_leaves(repo, &snapshot_id, expected).await?;
        differences(&crate::digest::TableDigest { leaves, ..expected.digest.clone() }, &actual)
    };
    let mut report = VerifyReport {
        snapshot: snapshot_id.clone(),
        table: table.to_owned(),
        live_table: live_table.to_owned(),
        equal,
        snapshot_rows: expected.digest.rows,
        live_rows: actual.rows,
        differing_ranges,
        missing: KeysOfKind::default(),
        extra: KeysOfKind::default(),
        different: KeysOfKind::default(),
        index_problems,
    };
    if !rows_equal {
        let found = compare_with_live(repo, &snapshot_id, expected, source, live_table).await?;
        report.missing = found.only_first;
        report.extra = found.only_second;
        report.different = found.changed;
    }
    Ok(report)
}

/// The rows of `table` in snapshot `snapshot_id` against `live_table` as
/// `source` exports it now, row by row.
async fn compare_with_live<S: TableSource>(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
    source: &S,
    live_table: &str,
) -> Result<Comparison, BackupError> {
    let mut stored = SnapshotRows::open(repo, snapshot_id, table).await?;
    let (tx, rx) = mpsc::channel(4);
    let export = source.export(live_table, tx);
    let mut live = ExportedRows { items: rx, rows: std::collections::VecDeque::new() };
    let compare = async move { compare_rows(&mut stored, &mut live).await };
    let (exported, compared) = tokio::join!(export, compare);
    // A comparison that stopped early closes the channel, which fails the export:
    // the comparison's error is the cause.
    let found = compared?;
    exported?;
    Ok(found)
}

/// A live table's rows as its export sends them, one at a time.
struct ExportedRows {
    items: mpsc::Receiver<ExportItem>,
    rows: std::collections::VecDeque<Row>,
}

impl RowStream for ExportedRows {
    async fn next_row(&mut self) -> Result<Option<Row>, BackupError> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Ok(Some(row));
            }
            match self.items.recv().await {
                None => return Ok(None),
                Some(ExportItem::Rows(rows)) => self.rows.extend(rows),
                Some(ExportItem::Encoded(batch)) => {
                    // Whole records, framed as table data is: the one decoder of that format.
                    let mut decoder = RowDecoder::default();
                    let invalid = |e: String| BackupError::Internal(format!("a live row the export encoded: {e}"));
                    self.rows.extend(decoder.push(&batch.records).map_err(invalid)?);
                    decoder.finish().map_err(invalid)?;
                }
                Some(ExportItem::Start { .. }) => {}
            }
        }
    }
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
