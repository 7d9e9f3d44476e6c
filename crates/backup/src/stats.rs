//! What a repository holds, in figures a DBA compares: [`repository_stats`]
//! adds up the stored objects, the index's chunks (stored and plaintext) and
//! what the catalog references (snapshots, their serialized rows, archived
//! changes), so the compression and deduplication the repository achieves can
//! be read off. It reads listings, index files and manifests, never packs.

use std::collections::HashMap;

use tablesafe_repo::Repository;

use crate::archive::all_segments;
use crate::manifest::{list_snapshots, Snapshot};
use crate::BackupError;

/// Totals over one repository.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RepositoryStats {
    /// Objects stored (packs, index files, manifests, keys, config).
    pub objects: u64,
    /// Their bytes, as the storage holds them.
    pub stored_bytes: u64,
    /// Bytes of the packs alone.
    pub pack_bytes: u64,
    /// Packs the index names.
    pub packs: u64,
    /// Distinct chunks.
    pub chunks: u64,
    /// The chunks' plaintext bytes (each chunk once).
    pub unique_bytes: u64,
    /// The chunks' stored (compressed, sealed) bytes.
    pub compressed_bytes: u64,
    /// Snapshots in the catalog.
    pub snapshots: u64,
    /// Serialized rows and changes the catalog references: every layer each
    /// snapshot's tables read, once per snapshot, and every archived change.
    /// What the repository would hold without deduplication or compression.
    pub logical_bytes: u64,
    /// Archived change segments.
    pub change_segments: u64,
    /// Changes they hold.
    pub archived_changes: u64,
    /// `unique_bytes / compressed_bytes`.
    pub compression_ratio: f64,
    /// `logical_bytes / unique_bytes`: how many times the catalog reuses a chunk.
    pub dedup_ratio: f64,
}

/// Adds up what `repo` holds (see [`RepositoryStats`]).
pub async fn repository_stats(repo: &Repository) -> Result<RepositoryStats, BackupError> {
    repo.refresh().await?;
    let mut stats = RepositoryStats::default();
    for (path, size) in repo.storage().list("").await? {
        stats.objects += 1;
        stats.stored_bytes += size;
        if path.starts_with("data/") {
            stats.pack_bytes += size;
        }
    }
    let index = repo.index_stats();
    (stats.packs, stats.chunks, stats.unique_bytes, stats.compressed_bytes) =
        (index.packs, index.chunks, index.raw_bytes, index.stored_bytes);
    let snapshots = list_snapshots(repo).await?;
    stats.snapshots = snapshots.len() as u64;
    let by_id: HashMap<&str, &Snapshot> = snapshots.iter().map(|(id, s)| (id.as_str(), s)).collect();
    for (_, snapshot) in &snapshots {
        for table in &snapshot.tables {
            // The table's layers, newest first, down its chain of bases.
            let mut layer = Some(table);
            let mut depth = 0;
            while let Some(entry) = layer {
                stats.logical_bytes += entry.data_bytes + entry.fixup.as_ref().map_or(0, |f| f.data_bytes);
                depth += 1;
                layer = entry
                    .base
                    .as_deref()
                    .filter(|_| depth <= crate::manifest::MAX_CHAIN)
                    .and_then(|base| by_id.get(base))
                    .and_then(|s| s.tables.iter().find(|t| t.name == table.name));
            }
        }
    }
    for (_, segment) in all_segments(repo).await? {
        stats.change_segments += 1;
        stats.archived_changes += segment.changes;
        stats.logical_bytes += segment.data_bytes;
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    stats.compression_ratio = ratio(stats.unique_bytes, stats.compressed_bytes);
    stats.dedup_ratio = ratio(stats.logical_bytes, stats.unique_bytes);
    Ok(stats)
}
