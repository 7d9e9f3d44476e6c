//! Reading back a record stream stored as chunks (a table layer's rows, a change
//! segment's changes), with read-ahead: a task of its own keeps [`READ_AHEAD`]
//! chunk reads in flight (each authenticated and decompressed off the async workers
//! by the repository) and decodes them in order on a blocking thread, while the
//! consumer works through the records decoded before.
//!
//! Invariants: chunks are decoded in their stored order; memory holds at most
//! `READ_AHEAD` chunks being read plus `READ_AHEAD` chunks' records decoded; a
//! stream that ends inside a record is an error; dropping the reader stops its task.

use std::collections::VecDeque;

use futures::StreamExt;
use tablesafe_repo::{crypto, Repository};
use tokio::sync::mpsc;

use crate::BackupError;

/// Chunks read ahead of the one being decoded.
pub(crate) const READ_AHEAD: usize = 4;

/// Turns pushed chunks into records; records may span chunks.
pub(crate) trait RecordDecoder: Default + Send + 'static {
    /// What the stream holds.
    type Record: Send + 'static;
    /// Adds a chunk; returns the records it completes.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Self::Record>, String>;
    /// Checks that the stream ended on a record boundary.
    fn finish(self) -> Result<(), String>;
}

/// The records of a chunk list, decoded by the read-ahead task.
pub(crate) struct ChunkRecords<D: RecordDecoder> {
    /// Each chunk's records in order, from the read-ahead task; `None` until the first fill.
    decoded: Option<mpsc::Receiver<Result<Vec<D::Record>, BackupError>>>,
    /// What the read-ahead task will read, until it starts.
    to_read: Option<(Repository, Vec<String>)>,
    reader: Option<tokio::task::JoinHandle<()>>,
    records: VecDeque<D::Record>,
    /// What errors name: the snapshot (or segment) and table.
    owner: (String, String),
}

impl<D: RecordDecoder> Drop for ChunkRecords<D> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

impl<D: RecordDecoder> ChunkRecords<D> {
    /// Reads `chunks` (hex ids) of `repo`; errors name `owner` and `table`.
    pub(crate) fn new(repo: &Repository, chunks: Vec<String>, owner: String, table: String) -> Self {
        ChunkRecords {
            decoded: None,
            to_read: Some((repo.clone(), chunks)),
            reader: None,
            records: VecDeque::new(),
            owner: (owner, table),
        }
    }

    fn corrupt(owner: &(String, String), detail: String) -> BackupError {
        BackupError::Corrupt { snapshot: owner.0.clone(), table: owner.1.clone(), detail }
    }

    /// Starts the read-ahead task (at the first fill, so that readers opened and
    /// never read cost nothing).
    fn start(&mut self) -> Result<(), BackupError> {
        let Some((repo, chunks)) = self.to_read.take() else { return Ok(()) };
        let owner = self.owner.clone();
        let ids = chunks
            .iter()
            .map(|hex| crypto::unhex32(hex).ok_or_else(|| Self::corrupt(&owner, format!("bad chunk id {hex}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        self.decoded = Some(rx);
        self.reader = Some(tokio::spawn(async move {
            let mut reads = futures::stream::iter(ids)
                .map(|id| {
                    let repo = repo.clone();
                    async move { repo.read_chunk(&id).await.map_err(BackupError::from) }
                })
                .buffered(READ_AHEAD);
            let mut decoder = Some(D::default());
            while let Some(chunk) = reads.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let Some(mut taken) = decoder.take() else { return };
                let owner = owner.clone();
                let decoded = tokio::task::spawn_blocking(move || {
                    let records = taken.push(&chunk).map_err(|e| Self::corrupt(&owner, e));
                    (taken, records)
                })
                .await;
                let records = match decoded {
                    Ok((back, records)) => {
                        decoder = Some(back);
                        records
                    }
                    Err(e) => Err(BackupError::Internal(format!("decode task: {e}"))),
                };
                let failed = records.is_err();
                if tx.send(records).await.is_err() || failed {
                    return;
                }
            }
            if let Some(decoder) = decoder {
                if let Err(e) = decoder.finish() {
                    let _ = tx.send(Err(Self::corrupt(&owner, e))).await;
                }
            }
        }));
        Ok(())
    }

    /// Waits until a record is ready or the stream is exhausted.
    pub(crate) async fn fill(&mut self) -> Result<(), BackupError> {
        self.start()?;
        while self.records.is_empty() {
            let next = match self.decoded.as_mut() {
                Some(decoded) => decoded.recv().await,
                None => None,
            };
            match next {
                Some(records) => self.records.extend(records?),
                None => break,
            }
        }
        Ok(())
    }

    /// The next record, if one is decoded.
    pub(crate) fn front(&self) -> Option<&D::Record> {
        self.records.front()
    }

    /// Takes the next decoded record.
    pub(crate) fn pop(&mut self) -> Option<D::Record> {
        self.records.pop_front()
    }

    /// The next record, or `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<D::Record>, BackupError> {
        self.fill().await?;
        Ok(self.pop())
    }
}
