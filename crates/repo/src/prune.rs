//! Prune: removing the chunks no manifest needs (docs/REPOSITORY-FORMAT.md, "Prune").
//!
//! Invariant: new packs and the new index are written before any old index file
//! is deleted, and old packs only after the old index files are gone (listed no
//! more), so every kept chunk is reachable through some index file at every
//! moment and no index names a deleted pack; callers hold the exclusive lock.

use std::collections::{HashMap, HashSet};

use crate::codec::Codec;
use crate::lock::STALE_AFTER_MS;
use crate::pack::{self, ChunkId, PackBuilder, PackEntry, PackId};
use crate::repo::{IndexFile, Repository, PACK_TARGET_BYTES};
use crate::RepoError;

/// What a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Packs deleted whole.
    pub packs_deleted: u64,
    /// Packs rewritten without their unreferenced chunks.
    pub packs_rewritten: u64,
    /// Chunks removed.
    pub chunks_removed: u64,
    /// Bytes of packs deleted (rewritten packs' new copies not subtracted).
    pub bytes_freed: u64,
    /// Partial files of writers killed mid-write, removed.
    pub leftovers_removed: u64,
}

/// Packs chunks again during prune, without deduplication (the chunks are in
/// the index under their old packs until the new index replaces it).
struct RepackWriter<'a> {
    repo: &'a Repository,
    pack: PackBuilder,
    codec: Codec,
    done: Vec<(PackId, Vec<PackEntry>)>,
}

impl<'a> RepackWriter<'a> {
    fn new(repo: &'a Repository) -> Self {
        let codec = Codec::for_packs(repo.config.compression_level);
        RepackWriter { repo, pack: PackBuilder::default(), codec, done: Vec::new() }
    }

    async fn add(&mut self, id: ChunkId, chunk: &[u8]) -> Result<(), RepoError> {
        self.pack.add(&mut self.codec, id, chunk)?;
        if self.pack.len() >= PACK_TARGET_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), RepoError> {
        let pack = std::mem::take(&mut self.pack);
        if pack.is_empty() {
            return Ok(());
        }
        let (id, bytes, entries) = pack.finish(&self.repo.secrets)?;
        self.repo.storage.write(&pack::pack_path(&id), bytes).await?;
        self.done.push((id, entries));
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<(PackId, Vec<PackEntry>)>, RepoError> {
        self.flush().await?;
        Ok(self.done)
    }
}

impl Repository {
    /// Deletes every chunk not in `keep`: packs with no kept chunk are deleted,
    /// packs with some are rewritten with only those, and packs no index names
    /// (left by interrupted writers) are deleted; then the catalog is compacted
    /// and the partial files of writers killed mid-write are removed.
    /// Hold the exclusive lock.
    ///
    /// Crash safety: new packs and the new index are written before any old index
    /// file is deleted, and old packs only after that, so at every moment each
    /// kept chunk is reachable through some index file.
    pub async fn prune(&self, keep: &HashSet<ChunkId>) -> Result<PruneStats, RepoError> {
        let pruned = self.remove_unkept(keep).await;
        if pruned.is_err() {
            // A prune stopped midway may have replaced index files and deleted packs
            // this handle's index still names: read the index again (best effort; a
            // reload that fails leaves it as it was, and the next refresh retries).
            let _ = self.load_index().await;
        }
        pruned
    }

    /// The steps of [`Repository::prune`].
    async fn remove_unkept(&self, keep: &HashSet<ChunkId>) -> Result<PruneStats, RepoError> {
        let mut stats = PruneStats::default();
        let old_indexes: Vec<String> = self.storage.list("index").await?.into_iter().map(|(p, _)| p).collect();
        let mut packs: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
        for path in &old_indexes {
            packs.extend(self.read_index_file(path).await?.packs);
        }
        let mut kept: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
        let mut doomed: HashSet<String> = HashSet::new();
        let mut writer = RepackWriter::new(self);
        for (pack, entries) in packs {
            let wanted: Vec<PackEntry> = entries.iter().filter(|e| keep.contains(&e.id)).copied().collect();
            if wanted.len() == entries.len() {
                kept.push((pack, entries));
                continue;
            }
            doomed.insert(pack::pack_path(&pack));
            stats.chunks_removed += (entries.len() - wanted.len()) as u64;
            if wanted.is_empty() {
                stats.packs_deleted += 1;
                continue;
            }
            stats.packs_rewritten += 1;
            for entry in wanted {
                let chunk = self.read_chunk(&entry.id).await?;
                writer.add(entry.id, &chunk).await?;
            }
        }
        kept.extend(writer.finish().await?);
        for (path, size) in self.storage.list("data").await? {
            let indexed = kept.iter().any(|(id, _)| pack::pack_path(id) == path);
            if !indexed && !doomed.contains(&path) {
                stats.packs_deleted += 1;
                doomed.insert(path.clone());
            }
            if doomed.contains(&path) {
                stats.bytes_freed += size;
            }
        }
        let new_index = self.write_index_file(IndexFile { packs: kept }).await?;
        let replaced: Vec<&String> = old_indexes.iter().filter(|p| **p != new_index).collect();
        self.delete_index_files(&replaced).await?;
        for path in &doomed {
            self.storage.delete(path).await?;
        }
        self.compact_catalog().await?;
        // Writers hold a shared lock, so none runs beside this exclusive one; but a job record may be
        // written without a lock: only files as old as a stale lock are surely abandoned.
        let stale = std::time::Duration::from_millis(STALE_AFTER_MS.unsigned_abs());
        stats.leftovers_removed = self.storage.remove_leftovers(stale).await?;
        self.load_index().await?;
        Ok(stats)
    }

    /// Deletes index files and makes sure they are gone before any pack they name is: a delete a store
    /// reported done but did not do would leave an index naming deleted packs. Each is deleted up to
    /// [`DELETE_ATTEMPTS`] times; one still listed then fails the prune, with every pack kept.
    async fn delete_index_files(&self, paths: &[&String]) -> Result<(), RepoError> {
        let mut left: Vec<&String> = paths.to_vec();
        for _ in 0..DELETE_ATTEMPTS {
            for path in &left {
                self.storage.delete(path).await?;
            }
            let listed: HashSet<String> = self.storage.list("index").await?.into_iter().map(|(p, _)| p).collect();
            left.retain(|path| listed.contains(*path));
            if left.is_empty() {
                return Ok(());
            }
        }
        Err(RepoError::Invalid(format!(
            "prune stopped before deleting packs: the storage reported index file '{}' deleted, but it is still \
             there",
            left[0]
        )))
    }
}

/// How often prune deletes an index file that the storage says it deleted but still lists.
const DELETE_ATTEMPTS: usize = 3;
