//! Adding chunks to a repository: a pipeline of named stages on an owned handle.
//!
//! ```text
//! add (caller: keyed id, dedup) ─▶ seal workers ×N ─▶ uploader (K packs in flight) ─▶ index
//!          bounded queue            (zstd + XChaCha,      bounded queue      every 8 packs
//!                                    each its own pack)                      and at finish
//! ```
//!
//! Invariants:
//! - Order of writes as everywhere in the repository: a pack is uploaded before an
//!   index file names it, and [`ChunkWriter::finish`] returns only once every chunk
//!   it was given is in a durable pack named by a durable index file; only then
//!   may a manifest reference the chunks.
//! - Each chunk is stored at most once per writer and never when the repository
//!   has it already: the caller's stage deduplicates before anything is queued.
//! - Memory is bounded by the queues: `2N` chunks waiting to be sealed, one open
//!   pack per worker, one finished pack waiting and `K` uploading (16 MiB each).
//! - A failure in any stage ends the pipeline; the next `add` or `finish` returns
//!   that stage's error. A writer dropped unfinished stops its workers; what it had
//!   uploaded is unreferenced data that prune removes.
//! - Seal workers are threads of their own, never the async runtime's workers, so a
//!   backup inside `serve` does not take CPU from request handling there.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::codec::Codec;
use crate::pack::{self, ChunkId, PackBuilder, PackEntry, PackId};
use crate::repo::{IndexFile, Repository, PACK_TARGET_BYTES};
use crate::RepoError;

/// Packs named by one index file (the last one may name fewer).
const PACKS_PER_INDEX: usize = 8;

/// Counts of what a writer stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Chunks offered.
    pub chunks: u64,
    /// Chunks that were new.
    pub new_chunks: u64,
    /// Plaintext bytes offered.
    pub bytes: u64,
    /// Bytes written to storage (packs and index files).
    pub stored_bytes: u64,
}

/// How many stages run side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Seal workers (compression and encryption), each filling its own pack.
    pub seal_workers: usize,
    /// Finished packs uploading (or waiting to) at once.
    pub uploads_in_flight: usize,
    /// Skip chunks the repository's index names. Off for a long-lived holder that
    /// does not keep its index current (the archiver): it then stores every chunk
    /// it is given once, and never references a chunk a prune has since removed.
    pub dedup_with_index: bool,
}

impl Default for WriterOptions {
    /// A seal worker per core, two uploads in flight.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        WriterOptions { seal_workers: cores, uploads_in_flight: 2, dedup_with_index: true }
    }
}

/// Room for a full pack: the target, the chunk that crosses it (at most the
/// chunker's 1 MiB maximum, compressed no larger plus zstd's and the seal's
/// overhead) and the header.
const PACK_CAPACITY: usize = PACK_TARGET_BYTES + (1 << 20) + (256 << 10);

/// A finished pack on its way to storage.
struct SealedPack {
    id: PackId,
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// Adds chunks to a repository, deduplicating against everything already stored
/// (or, without [`WriterOptions::dedup_with_index`], against its own chunks only).
/// Call [`finish`](Self::finish) before referencing the chunks from a manifest.
pub struct ChunkWriter {
    repo: Repository,
    to_seal: Option<mpsc::Sender<(ChunkId, Vec<u8>)>>,
    workers: Vec<std::thread::JoinHandle<Result<(), RepoError>>>,
    uploader: Option<tokio::task::JoinHandle<Result<u64, RepoError>>>,
    pending: HashSet<ChunkId>,
    dedup_with_index: bool,
    stats: WriteStats,
}

impl ChunkWriter {
    /// Starts the stages. Must be called inside a Tokio runtime (the uploader is a task).
    pub(crate) fn start(repo: Repository, options: WriterOptions) -> ChunkWriter {
        let seal_workers = options.seal_workers.max(1);
        let (to_seal, sealing) = mpsc::channel::<(ChunkId, Vec<u8>)>(2 * seal_workers);
        // One finished pack may wait while `uploads_in_flight` upload.
        let (to_upload, uploading) = mpsc::channel::<SealedPack>(1);
        let sealing = Arc::new(Mutex::new(sealing));
        let workers = (0..seal_workers)
            .map(|n| {
                let (repo, sealing, to_upload) = (repo.clone(), Arc::clone(&sealing), to_upload.clone());
                std::thread::Builder::new()
                    .name(format!("tablesafe-seal-{n}"))
                    .spawn(move || seal_worker(&repo, &sealing, &to_upload))
                    .map_err(|e| RepoError::Invalid(format!("cannot start a seal worker: {e}")))
            })
            .collect::<Result<Vec<_>, _>>();
        let (workers, failed) = match workers {
            Ok(workers) => (workers, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        drop(to_upload);
        let uploader = tokio::spawn(upload_stage(repo.clone(), uploading, options.uploads_in_flight.max(1)));
        let mut writer = ChunkWriter {
            repo,
            to_seal: Some(to_seal),
            workers,
            uploader: Some(uploader),
            pending: HashSet::new(),
            dedup_with_index: options.dedup_with_index,
            stats: WriteStats::default(),
        };
        if failed.is_some() {
            // No worker would ever take a chunk: every add must fail.
            writer.to_seal = None;
        }
        writer
    }

    /// Stores a chunk unless the repository has it; returns its id.
    pub async fn add(&mut self, chunk: &[u8]) -> Result<ChunkId, RepoError> {
        let id = self.repo.secrets.chunk_id(chunk);
        if !self.is_new(&id, chunk.len()) {
            return Ok(id);
        }
        let sent = match &self.to_seal {
            Some(queue) => queue.send((id, chunk.to_vec())).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(id)
        } else {
            Err(self.failure().await)
        }
    }

    /// [`add`](Self::add) from a thread that may block (not an async worker),
    /// taking the chunk's bytes (no copy).
    pub fn add_blocking(&mut self, chunk: Vec<u8>) -> Result<ChunkId, RepoError> {
        let id = self.repo.secrets.chunk_id(&chunk);
        if !self.is_new(&id, chunk.len()) {
            return Ok(id);
        }
        let sent = match &self.to_seal {
            Some(queue) => queue.blocking_send((id, chunk)).is_ok(),
            None => false,
        };
        if sent {
            Ok(id)
        } else {
            Err(tokio::runtime::Handle::current().block_on(self.failure()))
        }
    }

    /// Counts a chunk and decides whether it is new (to be queued).
    fn is_new(&mut self, id: &ChunkId, len: usize) -> bool {
        self.stats.chunks += 1;
        self.stats.bytes += len as u64;
        if self.pending.contains(id) || (self.dedup_with_index && self.repo.has_chunk(id)) {
            return false;
        }
        self.pending.insert(*id);
        self.stats.new_chunks += 1;
        true
    }

    /// What was offered so far (stored bytes are known at [`finish`](Self::finish)).
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// Ends the stages and returns the first error one of them met.
    async fn failure(&mut self) -> RepoError {
        match self.join().await {
            Err(e) => e,
            Ok(_) => RepoError::Invalid("the chunk writer's stages stopped".into()),
        }
    }

    /// Closes the queue, waits for the workers and the uploader; stored bytes.
    async fn join(&mut self) -> Result<u64, RepoError> {
        self.to_seal = None;
        let workers = std::mem::take(&mut self.workers);
        let sealed = tokio::task::spawn_blocking(move || {
            let mut first = Ok(());
            for worker in workers {
                let outcome = worker
                    .join()
                    .unwrap_or_else(|_| Err(RepoError::Invalid("a seal worker panicked".into())));
                if first.is_ok() {
                    first = outcome;
                }
            }
            first
        })
        .await
        .unwrap_or_else(|e| Err(RepoError::Invalid(format!("seal workers: {e}"))));
        let uploaded = match self.uploader.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(RepoError::Invalid(format!("uploader: {e}")))),
            None => Err(RepoError::Invalid("the chunk writer was already finished".into())),
        };
        // An upload failure closes the workers' queue, so theirs is the consequence.
        let stored = uploaded?;
        sealed?;
        Ok(stored)
    }

    /// Writes the last packs and the index of everything added: afterwards every
    /// chunk returned by [`add`](Self::add) is durable and may be referenced.
    pub async fn finish(mut self) -> Result<WriteStats, RepoError> {
        self.stats.stored_bytes = self.join().await?;
        Ok(self.stats)
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        // Closing the queue ends the workers; an unfinished writer's uploads stop.
        self.to_seal = None;
        if let Some(uploader) = self.uploader.take() {
            uploader.abort();
        }
    }
}

/// Seal stage: takes chunks, encodes them (one codec, its zstd context reused)
/// into this worker's own pack, hands each full pack to the uploader.
fn seal_worker(
    repo: &Repository,
    sealing: &Mutex<mpsc::Receiver<(ChunkId, Vec<u8>)>>,
    to_upload: &mpsc::Sender<SealedPack>,
) -> Result<(), RepoError> {
    let mut codec = Codec::for_packs(repo.config.compression_level);
    let mut pack = PackBuilder::with_capacity(PACK_CAPACITY);
    let send = |pack: PackBuilder| -> Result<bool, RepoError> {
        let (id, bytes, entries) = pack.finish(&repo.secrets)?;
        Ok(to_upload.blocking_send(SealedPack { id, bytes, entries }).is_ok())
    };
    loop {
        // The lock is held only while waiting for the next chunk, never while sealing.
        let next = sealing.lock().blocking_recv();
        let Some((id, chunk)) = next else { break };
        pack.add(&mut codec, id, &chunk)?;
        if pack.len() >= PACK_TARGET_BYTES
            && !send(std::mem::replace(&mut pack, PackBuilder::with_capacity(PACK_CAPACITY)))?
        {
            return Ok(()); // The uploader stopped; the writer reports its error.
        }
    }
    if !pack.is_empty() {
        send(pack)?;
    }
    Ok(())
}

/// Upload stage: keeps up to `in_flight` pack uploads running; indexes uploaded
/// packs every [`PACKS_PER_INDEX`] and the rest at the end. Returns bytes stored.
async fn upload_stage(
    repo: Repository,
    mut packs: mpsc::Receiver<SealedPack>,
    in_flight: usize,
) -> Result<u64, RepoError> {
    let mut uploads: JoinSet<Result<(PackId, Vec<PackEntry>, u64), RepoError>> = JoinSet::new();
    let mut unindexed: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
    let mut stored = 0u64;
    let mut open = true;
    loop {
        tokio::select! {
            next = packs.recv(), if open && uploads.len() < in_flight => match next {
                Some(pack) => {
                    let storage = repo.storage.clone();
                    uploads.spawn(async move {
                        let len = pack.bytes.len() as u64;
                        storage.write(&pack::pack_path(&pack.id), pack.bytes).await?;
                        Ok((pack.id, pack.entries, len))
                    });
                }
                None => open = false,
            },
            done = uploads.join_next(), if !uploads.is_empty() => {
                let (id, entries, len) = match done {
                    Some(Ok(uploaded)) => uploaded?,
                    Some(Err(e)) => return Err(RepoError::Invalid(format!("pack upload task: {e}"))),
                    None => continue,
                };
                stored += len;
                tracing::debug!(pack = %pack::pack_path(&id), bytes = len, "pack stored");
                // Crash tests hold a backup here: a pack stored, no index naming it.
                fail::fail_point!("repo::writer::pack-stored");
                unindexed.push((id, entries));
                if unindexed.len() >= PACKS_PER_INDEX {
                    stored += write_index(&repo, std::mem::take(&mut unindexed)).await?;
                }
            },
            else => break,
        }
    }
    if !unindexed.is_empty() {
        stored += write_index(&repo, unindexed).await?;
    }
    Ok(stored)
}

/// Writes one index file naming `packs` and adds them to the in-memory index.
async fn write_index(repo: &Repository, packs: Vec<(PackId, Vec<PackEntry>)>) -> Result<u64, RepoError> {
    let path = repo.write_index_file(IndexFile { packs: packs.clone() }).await?;
    let size = repo.storage.size(&path).await?;
    repo.index_packs(packs);
    Ok(size)
}
