//! The serialized form of a table's rows inside the repository
//! (docs/REPOSITORY-FORMAT.md, "Table data").
//!
//! A table's data is one byte stream of records `u32 LE length ‖ PlainBuffer row`,
//! rows in primary-key order, each with every cell version (value and timestamp).
//! PlainBuffer is the Tablestore wire format: stable, typed, and checksummed per row.
//! The stream is cut into chunks by the repository's content-defined chunker.
//! [`EncodedRows`] are records made straight from the engine's stored rows, so the
//! bytes a backup stores are the bytes its digest hashes.

use tablesafe_engine::RowView;
use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_proto::plainbuffer::{self, KeyExtent, RowEncoder};

/// Appends one row record to `out`.
pub fn encode_row(row: &Row, out: &mut Vec<u8>) {
    let bytes = plainbuffer::encode_row(row);
    // Rows are at most a few MB (4 MB write limit), far below u32::MAX.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
}

/// Rows already in their record form, as the embedded source sends them: the
/// records back to back, and for each row what the backup needs besides its bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodedRows {
    /// Records (`u32 LE length ‖ PlainBuffer row`), rows in key order.
    pub records: Vec<u8>,
    /// One entry a row, in the same order.
    pub rows: Vec<EncodedRow>,
}

/// Where one row of [`EncodedRows`] is, with its key.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedRow {
    /// The row's primary key.
    pub key: PrimaryKey,
    /// Offset of the record's PlainBuffer bytes in `records` (after the length).
    pub start: usize,
    /// Offset just past the record.
    pub end: usize,
    /// Where its primary key ends, relative to `records`.
    pub key_extent: KeyExtent,
    /// Cell versions.
    pub cells: u64,
}

impl EncodedRows {
    /// An empty batch with room for `bytes` of records and `rows` rows.
    pub fn with_capacity(bytes: usize, rows: usize) -> Self {
        EncodedRows { records: Vec::with_capacity(bytes), rows: Vec::with_capacity(rows) }
    }

    /// Appends a row read in place from the engine; its cells are in canonical order.
    pub fn push_view(&mut self, view: &RowView<'_>) {
        let length_at = self.records.len();
        self.records.extend_from_slice(&[0; 4]);
        let start = self.records.len();
        let mut encoder = RowEncoder::begin(&mut self.records, &view.primary_key);
        let mut cells = 0u64;
        for (name, value, timestamp) in view.cells() {
            encoder.cell(name, value, timestamp);
            cells += 1;
        }
        let key_extent = encoder.finish();
        let end = self.records.len();
        self.records[length_at..start].copy_from_slice(&((end - start) as u32).to_le_bytes());
        self.rows.push(EncodedRow { key: view.primary_key.clone(), start, end, key_extent, cells });
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A row's record (length prefix included).
    pub fn record(&self, row: &EncodedRow) -> &[u8] {
        &self.records[row.start - 4..row.end]
    }
}

/// Complete records cut from a record stream (`u32 LE length ‖ body`, the framing
/// of table data and of change segments): the bytes of the records back to back,
/// and where each body lies in them.
#[derive(Debug, Default)]
pub struct RecordBatch {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl RecordBatch {
    /// Each record's body, in order (for table data, a PlainBuffer row).
    pub fn records(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&(start, end)| &self.bytes[start..end])
    }

    /// The body of record `index`.
    pub fn record(&self, index: usize) -> Option<&[u8]> {
        self.spans.get(index).map(|&(start, end)| &self.bytes[start..end])
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Cuts pushed chunks into complete records; records may span chunks. The one
/// reader of the record framing: [`RowDecoder`] and the change segments'
/// decoder decode what it cuts.
#[derive(Debug, Default)]
pub struct RecordFramer {
    pending: Vec<u8>,
}

impl crate::records::RecordDecoder for RecordFramer {
    type Record = RecordBatch;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, String> {
        Ok(vec![RecordFramer::push(self, chunk)])
    }

    fn finish(self) -> Result<(), String> {
        RecordFramer::finish(self)
    }
}

impl RecordFramer {
    /// Adds a chunk; returns the records it completes.
    pub fn push(&mut self, chunk: &[u8]) -> RecordBatch {
        self.pending.extend_from_slice(chunk);
        let mut spans = Vec::new();
        let mut at = 0usize;
        while let Some(header) = self.pending.get(at..at + 4) {
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if self.pending.len() - at - 4 < len {
                break;
            }
            spans.push((at + 4, at + 4 + len));
            at += 4 + len;
        }
        // The complete records leave as they are; only a partial one is copied.
        let rest = self.pending[at..].to_vec();
        let mut bytes = std::mem::replace(&mut self.pending, rest);
        bytes.truncate(at);
        RecordBatch { bytes, spans }
    }

    /// Checks that the stream ended on a record boundary.
    pub fn finish(self) -> Result<(), String> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(format!("the data ends inside a record ({} bytes left)", self.pending.len()))
        }
    }
}

/// Turns pushed chunks back into rows; records may span chunks.
#[derive(Debug, Default)]
pub struct RowDecoder {
    framer: RecordFramer,
}

impl crate::records::RecordDecoder for RowDecoder {
    type Record = Row;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Row>, String> {
        RowDecoder::push(self, chunk)
    }

    fn finish(self) -> Result<(), String> {
        RowDecoder::finish(self)
    }
}

impl RowDecoder {
    /// Adds a chunk; returns the rows it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Row>, String> {
        let batch = self.framer.push(chunk);
        batch.records().map(|row| plainbuffer::decode_row(row).map_err(|e| format!("row record: {e}"))).collect()
    }

    /// Checks that the stream ended on a record boundary.
    pub fn finish(self) -> Result<(), String> {
        self.framer.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::{Cell, PkValue, PrimaryKey, Value};

    use super::*;

    #[test]
    fn records_survive_any_chunking() {
        let rows: Vec<Row> = (0..200)
            .map(|i| Row {
                primary_key: PrimaryKey::new([("id", PkValue::Integer(i))]),
                cells: vec![Cell::version("v", Value::String("x".repeat(i as usize)), 1_000 + i)],
                ..Row::default()
            })
            .collect();
        let mut bytes = Vec::new();
        rows.iter().for_each(|r| encode_row(r, &mut bytes));
        for piece in [1, 7, 1000, bytes.len()] {
            let mut decoder = RowDecoder::default();
            let mut out = Vec::new();
            for chunk in bytes.chunks(piece) {
                out.extend(decoder.push(chunk).unwrap());
            }
            decoder.finish().unwrap();
            assert_eq!(out, rows);
        }
        let mut decoder = RowDecoder::default();
        decoder.push(&bytes[..bytes.len() - 1]).unwrap();
        assert!(decoder.finish().is_err());
    }
}
