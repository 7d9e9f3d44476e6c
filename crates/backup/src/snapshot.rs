//! Backup: one run that exports tables and writes a snapshot (its manifest's
//! layout is `manifest`'s).
//!
//! A backup exports each table through a [`TableSource`], serializes its rows
//! (`format`), digests them (`digest`), cuts the bytes into content-defined
//! chunks and stores the new ones. When the previous copy of a table from the same
//! source is consistent at a position of the same stream, and the stream still
//! holds the changes since, only the rows changed since (and delete markers for
//! rows removed) are stored, as a layer over that copy: the backup is incremental.
//! Every layer's manifest still carries the digest of the whole table. A table
//! read while writes went on is made exact by a fixup layer (`consistent`). The manifest is saved last, after every chunk
//! it names is durable, so an interrupted backup leaves only unreferenced data.

use tablesafe_repo::{crypto, ChunkId, LockKind, Repository};
use tokio::sync::mpsc;

use crate::manifest::{encode_snapshot, list_snapshots, Snapshot, TableSnapshot, MANIFEST_VERSION, MAX_CHAIN, SNAPSHOTS};
use crate::progress::Progress;
use crate::digest::DigestBuilder;
use crate::source::{changed_keys, ExportItem, TableSource};
use crate::layer::{self, FEED_BYTES};
use crate::{format, BackupError};

/// Backs up `tables` (all tables when empty) from `source` into `repo`; returns the
/// snapshot id and manifest.
pub async fn backup<S: TableSource>(
    repo: &Repository,
    source: &S,
    tables: &[String],
    progress: &dyn Progress,
) -> Result<(String, Snapshot), BackupError> {
    backup_for_plan(repo, source, tables, None, progress).await
}

/// [`backup`], recording the plan the snapshot belongs to.
pub async fn backup_for_plan<S: TableSource>(
    repo: &Repository,
    source: &S,
    tables: &[String],
    plan: Option<&str>,
    progress: &dyn Progress,
) -> Result<(String, Snapshot), BackupError> {
    let lock = repo.lock(LockKind::Shared).await?;
    let result = backup_locked(repo, source, tables, plan, progress).await;
    // Released on failure too: a lock left behind would block prune until it is stale.
    lock.release().await;
    result
}

async fn backup_locked<S: TableSource>(
    repo: &Repository,
    source: &S,
    tables: &[String],
    plan: Option<&str>,
    progress: &dyn Progress,
) -> Result<(String, Snapshot), BackupError> {
    let time_ms = repo.clock().now_millis();
    let mut names = if tables.is_empty() { source.list_tables().await? } else { tables.to_vec() };
    names.sort();
    names.dedup();
    let history = list_snapshots(repo).await?;
    let origin = source.origin();
    // Moved into each table's encode stage and back.
    let mut writer = Some(repo.writer());
    // Bytes stored by writers finished before the last one.
    let mut flushed = 0u64;
    let mut snapshots = Vec::with_capacity(names.len());
    for name in &names {
        // The newest earlier copy of this table from the same place.
        let previous = history
            .iter()
            .rev()
            .filter(|(_, s)| s.origin == origin)
            .find_map(|(id, s)| s.tables.iter().find(|t| t.name == *name).map(|t| (id.clone(), t.clone())));
        // The newest copy of the same stream, reached from here or another way (a
        // data directory and the endpoint serving it share their streams).
        let same_stream = |stream: &str| {
            history.iter().rev().find_map(|(id, s)| {
                s.tables
                    .iter()
                    .find(|t| t.name == *name && t.stream_id.as_deref() == Some(stream))
                    .map(|t| (id.clone(), t.clone()))
            })
        };
        // The last copy's row count is the best guess of this one's, for an ETA;
        // the source's own estimate for a first copy.
        let rows_hint = match previous {
            Some((_, p)) => Some(p.rows),
            None => source.estimate_rows(name).await,
        };
        progress.table_started(name, rows_hint);
        let (tx, mut rx) = mpsc::channel::<ExportItem>(4);
        let export = source.export(name, tx);
        let consume = async {
            let Some(ExportItem::Start { stream_id, stream_position }) = rx.recv().await else {
                return Err(BackupError::Internal(format!("export of '{name}' sent no start")));
            };
            let parent = stream_id.as_deref().and_then(same_stream);
            let layer = match (&parent, &stream_id, stream_position) {
                (Some((parent_id, p)), Some(stream), Some(to))
                    if p.stream_id.as_deref() == Some(stream.as_str()) && p.chain < MAX_CHAIN =>
                {
                    match p.stream_position {
                        // Past a fifth of the table, a full copy is as cheap and ends the chain.
                        Some(from) => {
                            let max_keys = usize::try_from(p.rows / 5).unwrap_or(usize::MAX);
                            changed_keys(source, name, stream, (from, to), max_keys)
                                .await?
                                .map(|keys| (parent_id.clone(), p.chain, keys))
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            let (base, chain, changed) = match layer {
                Some((base, chain, keys)) => (Some(base), chain + 1, Some(keys)),
                None => (None, 1, None),
            };
            // Encoding, digest and chunking run on a thread of their own (`layer`).
            let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
            let stage_writer = writer.take().ok_or_else(|| BackupError::Internal("chunk writer lost".into()))?;
            let chunker = repo.chunker();
            let stage = tokio::task::spawn_blocking(move || {
                layer::encode_stage(rx, stage_writer, chunker, changed, progress_tx)
            });
            while let Some((rows, bytes)) = progress_rx.recv().await {
                progress.rows_done(rows, bytes);
            }
            let encoded =
                stage.await.map_err(|e| BackupError::Internal(format!("encode stage of '{name}' failed: {e}")))??;
            writer = Some(encoded.writer);
            Ok::<_, BackupError>((encoded.chunks, encoded.digest, encoded.data_bytes, stream_id, base, chain))
        };
        let (summary, consumed) = tokio::join!(export, consume);
        let summary = summary?;
        let (chunks, digest, data_bytes, stream_id, base, chain) = consumed?;
        let mut entry = TableSnapshot {
            name: name.clone(),
            definition: summary.definition,
            consistency: summary.consistency,
            stream_id,
            stream_position: summary.stream_position,
            position_time_us: summary.position_time_us,
            base,
            chain,
            auto_increment: summary.auto_increment,
            rows: digest.rows,
            cells: digest.cells,
            data_bytes,
            chunks,
            digest,
            fixup: None,
            sealed_leaves: None,
        };
        let table_writer = writer.as_mut().ok_or_else(|| BackupError::Internal("chunk writer lost".into()))?;
        crate::consistent::settle(repo, source, table_writer, &mut flushed, &mut entry).await?;
        snapshots.push(entry);
        progress.table_finished(name);
    }
    let stats = match writer {
        Some(writer) => writer.finish().await?,
        None => return Err(BackupError::Internal("chunk writer lost".into())),
    };
    let snapshot = Snapshot {
        version: MANIFEST_VERSION,
        time_ms,
        origin: source.origin(),
        tables: snapshots,
        added_bytes: flushed + stats.stored_bytes,
        plan: plan.map(str::to_owned),
    };
    let id = repo.save_manifest(SNAPSHOTS, &encode_snapshot(repo, &snapshot)?).await?;
    Ok((id, snapshot))
}

/// Rewrites `table` of snapshot `snapshot_id` as one full layer holding the rows
/// its layers (and fixups) add up to, so that it no longer builds on another
/// snapshot. The caller saves the manifest. The rows' digest must equal the one
/// recorded, or nothing changes.
pub(crate) async fn rewrite_as_full(
    repo: &Repository,
    snapshot_id: &str,
    table: &mut TableSnapshot,
) -> Result<(), BackupError> {
    let mut rows = crate::read::SnapshotRows::open(repo, snapshot_id, table).await?;
    let mut writer = repo.writer();
    let mut chunker = repo.chunker();
    let mut digest = DigestBuilder::default();
    let mut buffer = Vec::with_capacity(FEED_BYTES + 64 * 1024);
    let mut chunks: Vec<ChunkId> = Vec::new();
    let mut data_bytes = 0u64;
    while let Some(row) = rows.next().await? {
        digest.add(&row);
        let start = buffer.len();
        format::encode_row(&row, &mut buffer);
        data_bytes += (buffer.len() - start) as u64;
        if buffer.len() >= FEED_BYTES {
            for chunk in chunker.push(&buffer) {
                chunks.push(writer.add(&chunk).await?);
            }
            buffer.clear();
        }
    }
    for chunk in chunker.push(&buffer).into_iter().chain(chunker.finish()) {
        chunks.push(writer.add(&chunk).await?);
    }
    writer.finish().await?;
    let digest = digest.finish();
    if digest.root != table.digest.root {
        return Err(BackupError::Corrupt {
            snapshot: snapshot_id.to_owned(),
            table: table.name.clone(),
            detail: "its layers do not add up to the recorded digest; left as it is".into(),
        });
    }
    table.base = None;
    table.chain = 1;
    table.fixup = None;
    table.data_bytes = data_bytes;
    table.chunks = chunks.iter().map(|c| crypto::hex(c)).collect();
    Ok(())
}
