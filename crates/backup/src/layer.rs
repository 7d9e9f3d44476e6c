//! The encode stage of a backup: a table's exported rows become one layer's
//! records, its digest and its chunks, on a blocking thread of its own.
//!
//! ```text
//! export (source) ─▶ encode stage (this) ─▶ ChunkWriter: seal workers ─▶ uploader ─▶ index
//!    row batches      PlainBuffer once,        (crates/repo/src/writer.rs)
//!    bounded queue    digest over those bytes,
//!                     FastCDC, chunk ids in order
//! ```
//!
//! Invariants: rows arrive in primary-key order and are digested in that order;
//! each row is encoded to PlainBuffer once, and the digest hashes those bytes (a
//! row not in canonical form is re-encoded for the digest only); the chunk ids
//! come out in stream order, which is the layer's order. Progress goes back to the
//! async side as counts, so the stage needs nothing borrowed from its caller.

use std::iter::Peekable;

use tablesafe_client::model::{PrimaryKey, Row};
use tablesafe_repo::{crypto, ChunkId, ChunkWriter, Chunker};
use tokio::sync::mpsc;

use crate::digest::{DigestBuilder, TableDigest};
use crate::format::EncodedRows;
use crate::source::ExportItem;
use crate::BackupError;

/// The keys an incremental layer stores, sorted, consumed as the rows pass.
type ChangedKeys = Peekable<std::vec::IntoIter<PrimaryKey>>;

/// Serialized bytes handed to the chunker at a time.
pub(crate) const FEED_BYTES: usize = 1 << 20;

/// What the encode stage made of a table.
pub(crate) struct EncodedLayer {
    /// The writer, handed back for the next table.
    pub(crate) writer: ChunkWriter,
    /// Chunk ids of the layer, in order, hex.
    pub(crate) chunks: Vec<String>,
    /// Digest of every row seen (stored or not).
    pub(crate) digest: TableDigest,
    /// Serialized bytes of the layer.
    pub(crate) data_bytes: u64,
}

/// Rows of a layer as records, with the digest and chunking of their bytes.
pub(crate) struct LayerEncoder {
    chunker: Chunker,
    digest: DigestBuilder,
    buffer: Vec<u8>,
    chunks: Vec<ChunkId>,
    data_bytes: u64,
}

impl LayerEncoder {
    pub(crate) fn new(chunker: Chunker) -> LayerEncoder {
        LayerEncoder {
            chunker,
            digest: DigestBuilder::default(),
            buffer: Vec::with_capacity(FEED_BYTES + 64 * 1024),
            chunks: Vec::new(),
            data_bytes: 0,
        }
    }

    /// Stores and digests a row.
    fn store(&mut self, row: &Row) {
        let start = self.buffer.len();
        crate::format::encode_row(row, &mut self.buffer);
        self.data_bytes += (self.buffer.len() - start) as u64;
        // The record is `u32 length ‖ PlainBuffer`: the digest hashes the PlainBuffer.
        let (digest, encoded) = (&mut self.digest, &self.buffer[start + 4..]);
        digest.add_encoded(row, encoded);
    }

    /// Stores and digests rows already encoded: a full layer takes the records as
    /// they are, in one copy; an incremental one those whose keys are in `changed`.
    fn store_encoded(&mut self, batch: &EncodedRows, changed: Option<&mut ChangedKeys>) {
        let Some(keys) = changed else {
            self.buffer.extend_from_slice(&batch.records);
            self.data_bytes += batch.records.len() as u64;
            for row in &batch.rows {
                self.digest.add_record(&batch.records, row);
            }
            return;
        };
        for row in &batch.rows {
            if self.is_changed(keys, &row.key) {
                let record = batch.record(row);
                self.buffer.extend_from_slice(record);
                self.data_bytes += record.len() as u64;
            }
            self.digest.add_record(&batch.records, row);
        }
    }

    /// Whether `key`, the next row's, changed since the base; the changed keys
    /// before it no longer exist, so they get delete markers.
    fn is_changed(&mut self, keys: &mut ChangedKeys, key: &PrimaryKey) -> bool {
        while let Some(gone) = keys.next_if(|k| k.cmp_values(key).is_lt()) {
            self.store_marker(&gone);
        }
        keys.next_if(|k| k.cmp_values(key).is_eq()).is_some()
    }

    /// Stores a delete marker (not part of the digest: the row is gone).
    fn store_marker(&mut self, key: &PrimaryKey) {
        let marker = Row { primary_key: key.clone(), delete_marker: true, ..Row::default() };
        let start = self.buffer.len();
        crate::format::encode_row(&marker, &mut self.buffer);
        self.data_bytes += (self.buffer.len() - start) as u64;
    }

    /// Cuts what is buffered into chunks once there is enough of it.
    fn feed(&mut self, writer: &mut ChunkWriter, last: bool) -> Result<(), BackupError> {
        if !last && self.buffer.len() < FEED_BYTES {
            return Ok(());
        }
        for chunk in self.chunker.push(&self.buffer) {
            self.chunks.push(writer.add_blocking(chunk)?);
        }
        self.buffer.clear();
        Ok(())
    }

    fn finish(mut self, mut writer: ChunkWriter) -> Result<EncodedLayer, BackupError> {
        self.feed(&mut writer, true)?;
        let chunker = std::mem::replace(&mut self.chunker, Chunker::new(Default::default()));
        for chunk in chunker.finish() {
            self.chunks.push(writer.add_blocking(chunk)?);
        }
        Ok(EncodedLayer {
            writer,
            chunks: self.chunks.iter().map(|c| crypto::hex(c)).collect(),
            digest: self.digest.finish(),
            data_bytes: self.data_bytes,
        })
    }
}

/// The encode stage: runs on a blocking thread until the export's queue closes.
/// `changed`, for an incremental layer, is the sorted keys changed since its base:
/// only those rows are stored, and those of them no longer present get delete
/// markers. Sends `(rows, bytes)` after each batch to `progress`.
pub(crate) fn encode_stage(
    mut items: mpsc::Receiver<ExportItem>,
    mut writer: ChunkWriter,
    chunker: Chunker,
    changed: Option<Vec<PrimaryKey>>,
    progress: mpsc::UnboundedSender<(u64, u64)>,
) -> Result<EncodedLayer, BackupError> {
    let mut layer = LayerEncoder::new(chunker);
    let mut changed: Option<ChangedKeys> = changed.map(|k| k.into_iter().peekable());
    while let Some(item) = items.blocking_recv() {
        let batch = match item {
            ExportItem::Start { .. } => continue,
            ExportItem::Encoded(encoded) => {
                let before = layer.data_bytes;
                layer.store_encoded(&encoded, changed.as_mut());
                let _ = progress.send((encoded.len() as u64, layer.data_bytes - before));
                layer.feed(&mut writer, false)?;
                continue;
            }
            ExportItem::Rows(batch) => batch,
        };
        let before = layer.data_bytes;
        for row in &batch {
            match changed.as_mut() {
                None => layer.store(row),
                Some(keys) => {
                    if layer.is_changed(keys, &row.primary_key) {
                        layer.store(row);
                    } else {
                        layer.digest.add(row);
                    }
                }
            }
        }
        // The caller may have stopped listening (it failed); the stage ends with the queue.
        let _ = progress.send((batch.len() as u64, layer.data_bytes - before));
        layer.feed(&mut writer, false)?;
    }
    if let Some(keys) = changed {
        for key in keys {
            layer.store_marker(&key);
        }
    }
    layer.finish(writer)
}
