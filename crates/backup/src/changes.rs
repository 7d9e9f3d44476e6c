//! Changes of a table as TableSafe keeps and replays them: one [`Change`] per
//! stream record, their serialized form in the repository
//! (docs/REPOSITORY-FORMAT.md, "Change data"), and [`apply`], which plays a change
//! onto a row.
//!
//! Invariants: a change holds the write as applied (every version timestamped,
//! increments as the put of their result), so replaying the changes of a stream
//! from position `p`, in order, onto the table as it was at `p` gives the table as
//! it was after the last change replayed. Changes of one stream are kept and
//! replayed in position order.

use tablesafe_proto::model::{Cell, CellOp, Row};
use tablesafe_proto::plainbuffer;

/// What a change did to its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The row was written whole: its cells replace every column.
    Put,
    /// Cells were put or deleted, in order.
    Update,
    /// The row was deleted.
    Delete,
}

/// One change of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Position in the stream.
    pub position: u64,
    /// Kind of change.
    pub kind: ChangeKind,
    /// The key, the cells written (with operations for updates) and the sequence
    /// info, whose timestamp (µs) is when the change was committed.
    pub row: Row,
}

impl Change {
    /// When the change was committed, µs since the epoch.
    pub fn time_us(&self) -> i64 {
        self.row.seq_info.map_or(0, |s| s.timestamp)
    }
}

impl ChangeKind {
    fn tag(self) -> u8 {
        match self {
            ChangeKind::Put => 1,
            ChangeKind::Update => 2,
            ChangeKind::Delete => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<ChangeKind> {
        match tag {
            1 => Some(ChangeKind::Put),
            2 => Some(ChangeKind::Update),
            3 => Some(ChangeKind::Delete),
            _ => None,
        }
    }
}

/// Appends one change record to `out`: `u32 LE length ‖ u64 LE position ‖ u8 kind
/// ‖ PlainBuffer row`, the length counting what follows it.
pub fn encode_change(change: &Change, out: &mut Vec<u8>) {
    let bytes = plainbuffer::encode_row(&change.row);
    // Rows are at most a few MB, far below u32::MAX.
    out.extend_from_slice(&((bytes.len() + 9) as u32).to_le_bytes());
    out.extend_from_slice(&change.position.to_le_bytes());
    out.push(change.kind.tag());
    out.extend_from_slice(&bytes);
}

/// Turns pushed chunks back into changes; records may span chunks.
#[derive(Debug, Default)]
pub struct ChangeDecoder {
    framer: crate::format::RecordFramer,
}

impl crate::records::RecordDecoder for ChangeDecoder {
    type Record = Change;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Change>, String> {
        ChangeDecoder::push(self, chunk)
    }

    fn finish(self) -> Result<(), String> {
        ChangeDecoder::finish(self)
    }
}

impl ChangeDecoder {
    /// Adds a chunk; returns the changes it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Change>, String> {
        let batch = self.framer.push(chunk);
        batch
            .records()
            .map(|record| {
                let (Some(position), Some(&tag), Some(row)) = (record.get(..8), record.get(8), record.get(9..)) else {
                    return Err(format!("change record of {} bytes is too short", record.len()));
                };
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(position);
                let kind = ChangeKind::from_tag(tag).ok_or_else(|| format!("unknown change kind {tag}"))?;
                let row = plainbuffer::decode_row(row).map_err(|e| format!("change record: {e}"))?;
                Ok(Change { position: u64::from_le_bytes(bytes), kind, row })
            })
            .collect()
    }

    /// Checks that the data ended on a record boundary.
    pub fn finish(self) -> Result<(), String> {
        self.framer.finish()
    }
}

/// [`apply`] for a replay of stored changes onto `table`: a change that cannot
/// be applied is damaged data, reported with its position. Takes the change, so
/// its cells move into the row instead of being copied.
pub(crate) fn apply_stored(
    current: Option<Row>,
    change: Change,
    max_versions: i32,
    table: &str,
) -> Result<Option<Row>, crate::BackupError> {
    let position = change.position;
    apply_owned(current, change, max_versions).map_err(|detail| crate::BackupError::Corrupt {
        snapshot: format!("change at position {position}"),
        table: table.to_owned(),
        detail,
    })
}

/// The row after `change`, given the row before it (`None`: absent) and the
/// table's max versions. Cells come out sorted by name, newest version first, as
/// a read returns them. Fails on an increment, which a change never holds.
pub fn apply(current: Option<Row>, change: &Change, max_versions: i32) -> Result<Option<Row>, String> {
    apply_owned(current, change.clone(), max_versions)
}

/// [`apply`] on a change of its own.
fn apply_owned(current: Option<Row>, change: Change, max_versions: i32) -> Result<Option<Row>, String> {
    let Change { kind, row: changed, .. } = change;
    let mut row = match (kind, current) {
        (ChangeKind::Delete, _) => return Ok(None),
        (ChangeKind::Update, Some(current)) => current,
        (ChangeKind::Put | ChangeKind::Update, _) => Row::from_key(changed.primary_key),
    };
    for cell in changed.cells {
        let same_version = |c: &Cell| c.name == cell.name && c.timestamp == cell.timestamp;
        match cell.op {
            None => {
                let (Some(value), Some(timestamp)) = (cell.value, cell.timestamp) else {
                    return Err(format!("change to column {} has no value or timestamp", cell.name));
                };
                row.cells.retain(|c| !same_version(c));
                row.cells.push(Cell::version(cell.name, value, timestamp));
            }
            Some(CellOp::DeleteOneVersion) => row.cells.retain(|c| !same_version(c)),
            Some(CellOp::DeleteAllVersions) => row.cells.retain(|c| c.name != cell.name),
            Some(CellOp::Increment) => return Err(format!("change holds an unresolved increment of {}", cell.name)),
        }
    }
    row.cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
    // Keep the newest `max_versions` of each column, as the table does on write:
    // cells are sorted, so a cell is the n-th version of its column when the n-1
    // kept before it share its name.
    let keep = usize::try_from(max_versions.max(1)).unwrap_or(1);
    let mut kept: Vec<Cell> = Vec::with_capacity(row.cells.len());
    let mut versions = 0usize;
    for cell in row.cells.drain(..) {
        versions = if kept.last().is_some_and(|last| last.name == cell.name) { versions + 1 } else { 1 };
        if versions <= keep {
            kept.push(cell);
        }
    }
    row.cells = kept;
    if kind == ChangeKind::Update && row.cells.is_empty() {
        // As the engine: an update that leaves no column leaves no row.
        return Ok(None);
    }
    row.seq_info = None;
    row.delete_marker = false;
    Ok(Some(row))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::{PkValue, PrimaryKey, SeqInfo, Value};

    use super::*;

    fn change(position: u64, kind: ChangeKind, cells: Vec<Cell>) -> Change {
        let key = PrimaryKey::new([("id", PkValue::Integer(1))]);
        let seq_info = Some(SeqInfo { epoch: 0, timestamp: 1_000 + position as i64, row_index: 0 });
        Change { position, kind, row: Row { primary_key: key, cells, delete_marker: false, seq_info } }
    }

    fn delete(name: &str, op: CellOp, timestamp: Option<i64>) -> Cell {
        Cell { name: name.into(), value: None, op: Some(op), timestamp }
    }

    #[test]
    fn records_survive_any_chunking() {
        let changes: Vec<Change> = (0..100)
            .map(|i| match i % 3 {
                0 => change(i, ChangeKind::Put, vec![Cell::version("v", Value::String("x".repeat(i as usize)), 5)]),
                1 => change(i, ChangeKind::Update, vec![delete("v", CellOp::DeleteOneVersion, Some(5))]),
                _ => change(i, ChangeKind::Delete, vec![]),
            })
            .collect();
        let mut bytes = Vec::new();
        changes.iter().for_each(|c| encode_change(c, &mut bytes));
        for piece in [1, 7, 1000, bytes.len()] {
            let mut decoder = ChangeDecoder::default();
            let mut out = Vec::new();
            for chunk in bytes.chunks(piece) {
                out.extend(decoder.push(chunk).unwrap());
            }
            decoder.finish().unwrap();
            assert_eq!(out, changes);
        }
        let mut decoder = ChangeDecoder::default();
        decoder.push(&bytes[..bytes.len() - 1]).unwrap();
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn apply_follows_the_write_rules() {
        let put = change(1, ChangeKind::Put, vec![Cell::version("a", Value::Integer(1), 10)]);
        let row = apply(None, &put, 2).unwrap().unwrap();
        assert_eq!(row.cells, vec![Cell::version("a", Value::Integer(1), 10)]);
        // Updates add versions, replace a version with the same timestamp, and
        // keep only the newest max_versions.
        let update = change(
            2,
            ChangeKind::Update,
            vec![
                Cell::version("a", Value::Integer(2), 20),
                Cell::version("a", Value::Integer(3), 30),
                Cell::version("a", Value::Integer(4), 30),
                Cell::version("b", Value::Boolean(true), 5),
            ],
        );
        let row = apply(Some(row), &update, 2).unwrap().unwrap();
        let expected = vec![
            Cell::version("a", Value::Integer(4), 30),
            Cell::version("a", Value::Integer(2), 20),
            Cell::version("b", Value::Boolean(true), 5),
        ];
        assert_eq!(row.cells, expected);
        let deletes = change(
            3,
            ChangeKind::Update,
            vec![delete("a", CellOp::DeleteOneVersion, Some(30)), delete("b", CellOp::DeleteAllVersions, None)],
        );
        let row = apply(Some(row), &deletes, 2).unwrap().unwrap();
        assert_eq!(row.cells, vec![Cell::version("a", Value::Integer(2), 20)]);
        // A put replaces the whole row; a delete removes it.
        let replaced = apply(Some(row.clone()), &change(4, ChangeKind::Put, vec![]), 2).unwrap().unwrap();
        assert!(replaced.cells.is_empty());
        assert_eq!(apply(Some(row.clone()), &change(5, ChangeKind::Delete, vec![]), 2).unwrap(), None);
        // An update that leaves no column leaves no row, on a row or on none; a
        // put of only the key (above) leaves one.
        let last = change(7, ChangeKind::Update, vec![delete("a", CellOp::DeleteAllVersions, None)]);
        assert_eq!(apply(Some(row), &last, 2).unwrap(), None);
        assert_eq!(apply(None, &last, 2).unwrap(), None);
        let increment = change(
            6,
            ChangeKind::Update,
            vec![Cell { op: Some(CellOp::Increment), ..Cell::put("a", Value::Integer(1)) }],
        );
        assert!(apply(None, &increment, 2).is_err());
    }
}
