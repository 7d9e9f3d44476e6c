//! What changed in a table between two snapshots: [`diff_snapshots`] reads both
//! tables' rows in key order (each snapshot's layers merged, as a restore would
//! see them) and counts the rows only the newer holds (added), only the older
//! holds (removed) and both hold with different cells (changed), keeping the
//! first few keys of each for a person to look at. Nothing is restored and
//! memory stays at one row per side. The same merge join (`compare_rows`)
//! names the rows a live table misses, adds or changes against a snapshot.

use std::cmp::Ordering;

use tablesafe_proto::model::{Cell, Row};
use tablesafe_repo::Repository;

use crate::digest::format_key;
use crate::manifest::load_snapshot;
use crate::read::SnapshotRows;
use crate::BackupError;

/// Keys of each kind a [`TableDiff`] keeps.
pub const DIFF_EXAMPLES: usize = 10;

/// One table's differences between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TableDiff {
    /// The table.
    pub table: String,
    /// Rows in the newer snapshot only.
    pub added: u64,
    /// Rows in the older snapshot only.
    pub removed: u64,
    /// Rows in both, with different cells.
    pub changed: u64,
    /// Rows in both, equal.
    pub unchanged: u64,
    /// The first added keys, as `id=1, k="a"`.
    pub added_keys: Vec<String>,
    /// The first removed keys.
    pub removed_keys: Vec<String>,
    /// The first changed keys.
    pub changed_keys: Vec<String>,
    /// Whether the table is in the older snapshot, the newer, or both.
    pub in_old: bool,
    /// See `in_old`.
    pub in_new: bool,
}

/// Compares the tables of snapshot `old` with those of `new` (ids, unique
/// prefixes or `latest`), or only `table`. Returns the full ids and one
/// [`TableDiff`] per table in either snapshot, by name.
pub async fn diff_snapshots(
    repo: &Repository,
    old: &str,
    new: &str,
    table: Option<&str>,
) -> Result<(String, String, Vec<TableDiff>), BackupError> {
    let (old_id, old_snapshot) = load_snapshot(repo, old).await?;
    let (new_id, new_snapshot) = load_snapshot(repo, new).await?;
    let mut names: Vec<&str> =
        old_snapshot.tables.iter().chain(&new_snapshot.tables).map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if let Some(table) = table {
        if !names.contains(&table) {
            return Err(BackupError::NotFound(format!(
                "neither snapshot {old_id} nor snapshot {new_id} holds table '{table}'"
            )));
        }
        names.retain(|n| *n == table);
    }
    let mut diffs = Vec::with_capacity(names.len());
    for name in names {
        let open = |id: &str, snapshot: &crate::Snapshot| {
            let entry = snapshot.tables.iter().find(|t| t.name == name).cloned();
            let id = id.to_owned();
            async move {
                match entry {
                    Some(entry) => SnapshotRows::open(repo, &id, &entry).await.map(Some),
                    None => Ok(None),
                }
            }
        };
        let mut old_rows = open(&old_id, &old_snapshot).await?;
        let mut new_rows = open(&new_id, &new_snapshot).await?;
        let (in_old, in_new) = (old_rows.is_some(), new_rows.is_some());
        let found = compare_rows(&mut old_rows, &mut new_rows).await?;
        diffs.push(TableDiff {
            table: name.to_owned(),
            added: found.only_second.count,
            removed: found.only_first.count,
            changed: found.changed.count,
            unchanged: found.unchanged,
            added_keys: found.only_second.first,
            removed_keys: found.only_first.first,
            changed_keys: found.changed.first,
            in_old,
            in_new,
        });
    }
    Ok((old_id, new_id, diffs))
}

/// Rows in key order, one at a time: a snapshot's table, or a live table as its
/// export sends it.
pub(crate) trait RowStream {
    /// The next row, or `None` at the end.
    async fn next_row(&mut self) -> Result<Option<Row>, BackupError>;
}

impl RowStream for SnapshotRows {
    async fn next_row(&mut self) -> Result<Option<Row>, BackupError> {
        self.next().await
    }
}

/// A table one side does not hold: no rows.
impl<T: RowStream> RowStream for Option<T> {
    async fn next_row(&mut self) -> Result<Option<Row>, BackupError> {
        match self {
            Some(rows) => rows.next_row().await,
            None => Ok(None),
        }
    }
}

/// Rows of one kind a comparison found: how many, and the first keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeysOfKind {
    /// How many rows.
    pub count: u64,
    /// The first [`DIFF_EXAMPLES`] keys, as `id=1, k="a"`.
    pub first: Vec<String>,
}

impl KeysOfKind {
    fn note(&mut self, row: &Row) {
        self.count += 1;
        if self.first.len() < DIFF_EXAMPLES {
            self.first.push(format_key(&row.primary_key));
        }
    }
}

/// What a merge join of two row streams found.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Rows only the first stream holds.
    pub only_first: KeysOfKind,
    /// Rows only the second stream holds.
    pub only_second: KeysOfKind,
    /// Rows both hold, with different cells (keys as the second has them).
    pub changed: KeysOfKind,
    /// Rows both hold, equal.
    pub unchanged: u64,
}

/// A merge join of two row streams in key order; memory is one row per side.
pub(crate) async fn compare_rows(
    first: &mut impl RowStream,
    second: &mut impl RowStream,
) -> Result<Comparison, BackupError> {
    let mut found = Comparison::default();
    let mut left = first.next_row().await?;
    let mut right = second.next_row().await?;
    loop {
        let order = match (&left, &right) {
            (None, None) => return Ok(found),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(l), Some(r)) => l.primary_key.cmp_values(&r.primary_key),
        };
        match order {
            Ordering::Less => {
                found.only_first.note(&left.take().unwrap_or_default());
                left = first.next_row().await?;
            }
            Ordering::Greater => {
                found.only_second.note(&right.take().unwrap_or_default());
                right = second.next_row().await?;
            }
            Ordering::Equal => {
                let (l, r) = (left.take().unwrap_or_default(), right.take().unwrap_or_default());
                if sorted_cells(&l) == sorted_cells(&r) {
                    found.unchanged += 1;
                } else {
                    found.changed.note(&r);
                }
                left = first.next_row().await?;
                right = second.next_row().await?;
            }
        }
    }
}

/// A row's cells by name, newest version first: layers may store a row's cells
/// in any order, and the order is not part of the row.
fn sorted_cells(row: &Row) -> Vec<&Cell> {
    let mut cells: Vec<&Cell> = row.cells.iter().collect();
    cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
    cells
}
