//! Reading back a record stream stored as chunks (a table layer's rows, a change
//! segment's changes): chunks are fetched and decoded one at a time, so memory
//! holds one chunk's records, and a stream that ends inside a record is an error.

use std::collections::VecDeque;

use tablesafe_repo::{crypto, Repository};

use crate::BackupError;

/// Turns pushed chunks into records; records may span chunks.
pub(crate) trait RecordDecoder: Default {
    /// What the stream holds.
    type Record;
    /// Adds a chunk; returns the records it completes.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Self::Record>, String>;
    /// Checks that the stream ended on a record boundary.
    fn finish(self) -> Result<(), String>;
}

/// The records of a chunk list, decoded a chunk at a time.
pub(crate) struct ChunkRecords<'a, D: RecordDecoder> {
    repo: &'a Repository,
    chunks: Vec<String>,
    next_chunk: usize,
    decoder: D,
    records: VecDeque<D::Record>,
    /// What errors name: the snapshot (or segment) and table.
    owner: (String, String),
}

impl<'a, D: RecordDecoder> ChunkRecords<'a, D> {
    /// Reads `chunks` (hex ids) of `repo`; errors name `owner` and `table`.
    pub(crate) fn new(repo: &'a Repository, chunks: Vec<String>, owner: String, table: String) -> Self {
        ChunkRecords {
            repo,
            chunks,
            next_chunk: 0,
            decoder: D::default(),
            records: VecDeque::new(),
            owner: (owner, table),
        }
    }

    fn corrupt(&self, detail: String) -> BackupError {
        BackupError::Corrupt { snapshot: self.owner.0.clone(), table: self.owner.1.clone(), detail }
    }

    /// Decodes chunks until a record is ready or the stream is exhausted.
    pub(crate) async fn fill(&mut self) -> Result<(), BackupError> {
        while self.records.is_empty() && self.next_chunk < self.chunks.len() {
            let hex_id = &self.chunks[self.next_chunk];
            self.next_chunk += 1;
            let id = crypto::unhex32(hex_id).ok_or_else(|| self.corrupt(format!("bad chunk id {hex_id}")))?;
            let chunk = self.repo.read_chunk(&id).await?;
            let records = self.decoder.push(&chunk).map_err(|e| self.corrupt(e))?;
            self.records.extend(records);
        }
        if self.records.is_empty() {
            std::mem::take(&mut self.decoder).finish().map_err(|e| self.corrupt(e))?;
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
