//! Snapshots: the manifest of one backup run (`snapshots/<id>` in the repository,
//! sealed JSON), and the backup that writes it.
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

use serde::{Deserialize, Serialize};
use tablesafe_repo::{crypto, ChunkId, LockKind, Repository};
use tokio::sync::mpsc;

use crate::consistent::FixupLayer;
use crate::digest::{DigestBuilder, TableDigest};
use crate::source::{changed_keys, now_us, Consistency, ExportItem, TableDefinition, TableSource};
use crate::layer::{self, FEED_BYTES};
use crate::{format, BackupError};

/// Manifest kind of snapshots in the repository.
pub const SNAPSHOTS: &str = "snapshots";
/// Version of the snapshot manifest layout: 2 added `position_time_us` and
/// `fixup`; version 1 manifests read as having neither.
pub const MANIFEST_VERSION: u32 = 2;

/// One table in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSnapshot {
    /// Table name at backup time.
    pub name: String,
    /// Schema, options, reserved throughput and stream settings.
    pub definition: TableDefinition,
    /// Exact (one snapshot of the table) or fuzzy.
    pub consistency: Consistency,
    /// The stream the position belongs to.
    pub stream_id: Option<String>,
    /// Stream position the data is consistent at, for stream-enabled tables.
    pub stream_position: Option<u64>,
    /// A time (µs) by which every change before `stream_position` was committed:
    /// the snapshot can start a restore to any later time.
    #[serde(default)]
    pub position_time_us: Option<i64>,
    /// For an incremental layer: the snapshot whose table this layer continues.
    pub base: Option<String>,
    /// Layers to read for a restore: 1 for a full copy, n + 1 for an incremental
    /// layer over a chain of n.
    pub chain: u32,
    /// Auto-increment counter, when the source reports it.
    pub auto_increment: Option<i64>,
    /// Rows.
    pub rows: u64,
    /// Cell versions.
    pub cells: u64,
    /// Bytes of serialized data in this layer.
    pub data_bytes: u64,
    /// Chunks of this layer's serialized data, in order (hex ids). A full layer
    /// holds every row; an incremental one the rows changed since its base and
    /// delete markers for rows removed since.
    pub chunks: Vec<String>,
    /// Digest of the rows (with the fixup applied).
    pub digest: TableDigest,
    /// For a table read while writes went on (a remote source): its rows replayed
    /// to `stream_position`, stored over `chunks`, making the table exact there.
    #[serde(default)]
    pub fixup: Option<FixupLayer>,
}

impl TableSnapshot {
    /// Every chunk this table's entry references: its layer's and its fixup's.
    pub fn all_chunks(&self) -> impl Iterator<Item = &String> {
        self.chunks.iter().chain(self.fixup.iter().flat_map(|f| f.chunks.iter()))
    }
}

/// A snapshot manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// When the backup started, ms since the epoch.
    pub time_ms: i64,
    /// Where the tables were read from.
    pub origin: String,
    /// The tables.
    pub tables: Vec<TableSnapshot>,
    /// Bytes this backup added to the repository (packs and index).
    pub added_bytes: u64,
    /// The backup plan that made it; a plan's retention considers only its own
    /// snapshots. Absent for backups made by hand (and in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Reports progress of long work (the CLI draws bars from it).
pub trait Progress: Send + Sync {
    /// A table's work begins.
    fn table_started(&self, _table: &str, _rows_hint: Option<u64>) {}
    /// More rows are done.
    fn rows_done(&self, _rows: u64, _bytes: u64) {}
    /// The table is done.
    fn table_finished(&self, _table: &str) {}
}

/// Progress reporting that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Most layers a restore reads: after this many incremental layers the next
/// backup of the table is a full copy again.
pub const MAX_CHAIN: u32 = 16;

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
    lock.release().await?;
    result
}

async fn backup_locked<S: TableSource>(
    repo: &Repository,
    source: &S,
    tables: &[String],
    plan: Option<&str>,
    progress: &dyn Progress,
) -> Result<(String, Snapshot), BackupError> {
    let time_ms = now_us() / 1000;
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
    let body = serde_json::to_vec(&snapshot).map_err(|e| BackupError::Internal(format!("manifest: {e}")))?;
    let id = repo.save_manifest(SNAPSHOTS, &body).await?;
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

/// Loads a snapshot manifest; `id` may be a unique prefix.
pub async fn load_snapshot(repo: &Repository, id: &str) -> Result<(String, Snapshot), BackupError> {
    let ids = repo.list_manifests(SNAPSHOTS).await?;
    let matching: Vec<&String> = ids.iter().filter(|s| s.starts_with(id)).collect();
    let full = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => return Err(BackupError::NotFound(format!("no snapshot {id}; `tablesafe snapshots` lists them"))),
        _ => return Err(BackupError::NotFound(format!("snapshot id prefix {id} is ambiguous; give more characters"))),
    };
    let body = repo.load_manifest(SNAPSHOTS, &full).await?;
    let snapshot: Snapshot = serde_json::from_slice(&body).map_err(|e| BackupError::Corrupt {
        snapshot: full.clone(),
        table: String::new(),
        detail: format!("manifest does not decode: {e}"),
    })?;
    if snapshot.version > MANIFEST_VERSION {
        // A newer layout may hold data this version would restore wrongly.
        return Err(BackupError::Corrupt {
            snapshot: full,
            table: String::new(),
            detail: format!(
                "manifest version {} is newer than this TableSafe reads ({MANIFEST_VERSION}); upgrade TableSafe",
                snapshot.version
            ),
        });
    }
    Ok((full, snapshot))
}

/// Every snapshot, oldest first.
pub async fn list_snapshots(repo: &Repository) -> Result<Vec<(String, Snapshot)>, BackupError> {
    let mut out = Vec::new();
    for id in repo.list_manifests(SNAPSHOTS).await? {
        out.push(load_snapshot(repo, &id).await?);
    }
    out.sort_by_key(|(_, s)| s.time_ms);
    Ok(out)
}
