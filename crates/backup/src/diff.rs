//! What changed in a table between two snapshots: [`diff_snapshots`] reads both
//! tables' rows in key order (each snapshot's layers merged, as a restore would
//! see them) and counts the rows only the newer holds (added), only the older
//! holds (removed) and both hold with different cells (changed), keeping the
//! first few keys of each for a person to look at. Nothing is restored and
//! memory stays at one row per side.

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
        let old_rows = open(&old_id, &old_snapshot).await?;
        let new_rows = open(&new_id, &new_snapshot).await?;
        let mut diff = TableDiff {
            table: name.to_owned(),
            in_old: old_rows.is_some(),
            in_new: new_rows.is_some(),
            ..TableDiff::default()
        };
        compare(old_rows, new_rows, &mut diff).await?;
        diffs.push(diff);
    }
    Ok((old_id, new_id, diffs))
}

/// A merge join of the two row streams in key order.
async fn compare(
    mut old: Option<SnapshotRows>,
    mut new: Option<SnapshotRows>,
    diff: &mut TableDiff,
) -> Result<(), BackupError> {
    async fn next(rows: &mut Option<SnapshotRows>) -> Result<Option<Row>, BackupError> {
        match rows {
            Some(rows) => rows.next().await,
            None => Ok(None),
        }
    }
    let mut left = next(&mut old).await?;
    let mut right = next(&mut new).await?;
    loop {
        let order = match (&left, &right) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(l), Some(r)) => l.primary_key.cmp_values(&r.primary_key),
        };
        match order {
            Ordering::Less => {
                let row = left.take().unwrap_or_default();
                note(&mut diff.removed, &mut diff.removed_keys, &row);
                left = next(&mut old).await?;
            }
            Ordering::Greater => {
                let row = right.take().unwrap_or_default();
                note(&mut diff.added, &mut diff.added_keys, &row);
                right = next(&mut new).await?;
            }
            Ordering::Equal => {
                let (l, r) = (left.take().unwrap_or_default(), right.take().unwrap_or_default());
                if sorted_cells(&l) == sorted_cells(&r) {
                    diff.unchanged += 1;
                } else {
                    note(&mut diff.changed, &mut diff.changed_keys, &r);
                }
                left = next(&mut old).await?;
                right = next(&mut new).await?;
            }
        }
    }
}

fn note(count: &mut u64, keys: &mut Vec<String>, row: &Row) {
    *count += 1;
    if keys.len() < DIFF_EXAMPLES {
        keys.push(format_key(&row.primary_key));
    }
}

/// A row's cells by name, newest version first: layers may store a row's cells
/// in any order, and the order is not part of the row.
fn sorted_cells(row: &Row) -> Vec<&Cell> {
    let mut cells: Vec<&Cell> = row.cells.iter().collect();
    cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
    cells
}
