//! Reading a table of a snapshot without restoring it: the rows of all its layers
//! merged by key (the newest layer wins, delete markers drop rows), decoded one
//! chunk at a time per layer, so memory does not grow with the table.

use tablesafe_client::model::{PrimaryKey, Row};
use tablesafe_repo::Repository;

use crate::format::RowDecoder;
use crate::records::ChunkRecords;
use crate::manifest::{find_table, load_snapshot, load_snapshot_of, TableSnapshot, MAX_CHAIN};
use crate::BackupError;

/// The rows of one layer (or fixup), decoded a chunk at a time.
type LayerRows = ChunkRecords<RowDecoder>;

/// The layers of a table in a snapshot, oldest (the full copy) first.
pub(crate) async fn layers(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
) -> Result<Vec<(String, TableSnapshot)>, BackupError> {
    let mut chain = vec![(snapshot_id.to_owned(), table.clone())];
    while let Some(base) = chain.last().and_then(|(_, t)| t.base.clone()) {
        let (base_id, base_snapshot) = load_snapshot(repo, &base).await.map_err(|e| BackupError::Corrupt {
            snapshot: snapshot_id.to_owned(),
            table: table.name.clone(),
            detail: format!("the snapshot it builds on, {base}, cannot be read: {e}"),
        })?;
        let base_table = find_table(&base_id, &base_snapshot.tables, &table.name)?.clone();
        chain.push((base_id, base_table));
        if chain.len() > 1 + MAX_CHAIN as usize {
            return Err(BackupError::Internal(format!("snapshot {snapshot_id}: chain of layers too long")));
        }
    }
    chain.reverse();
    Ok(chain)
}

/// The rows of one table of a snapshot, in key order.
pub struct SnapshotRows {
    layers: Vec<LayerRows>,
}

impl SnapshotRows {
    /// Opens `table` as stored in snapshot `snapshot_id` (all its layers).
    pub async fn open(repo: &Repository, snapshot_id: &str, table: &TableSnapshot) -> Result<Self, BackupError> {
        let chain = layers(repo, snapshot_id, table).await?;
        // A layer's fixup is newer than the layer itself, older than the next layer.
        let layers = chain
            .into_iter()
            .flat_map(|(id, t)| {
                let fixup = t.fixup.map(|f| LayerRows::new(repo, f.chunks, id.clone(), t.name.clone()));
                std::iter::once(LayerRows::new(repo, t.chunks, id, t.name)).chain(fixup)
            })
            .collect();
        Ok(SnapshotRows { layers })
    }

    /// The next row, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Row>, BackupError> {
        if let [only] = self.layers.as_mut_slice() {
            // A full copy: nothing to merge (its rows carry no delete markers).
            loop {
                match only.next().await? {
                    Some(row) if row.delete_marker => continue,
                    other => return Ok(other),
                }
            }
        }
        loop {
            let mut smallest: Option<PrimaryKey> = None;
            for layer in self.layers.iter_mut() {
                layer.fill().await?;
                if let Some(row) = layer.front() {
                    if smallest.as_ref().is_none_or(|s| row.primary_key.cmp_values(s).is_lt()) {
                        smallest = Some(row.primary_key.clone());
                    }
                }
            }
            let Some(key) = smallest else { return Ok(None) };
            let mut winner = None;
            for layer in self.layers.iter_mut() {
                if layer.front().is_some_and(|row| row.primary_key.cmp_values(&key).is_eq()) {
                    winner = layer.pop();
                }
            }
            if let Some(row) = winner.filter(|row| !row.delete_marker) {
                return Ok(Some(row));
            }
        }
    }
}

/// Loads snapshot `snapshot_id` (a unique prefix) and the named table's entry in it.
pub async fn snapshot_table(
    repo: &Repository,
    snapshot_id: &str,
    table: &str,
) -> Result<(String, TableSnapshot), BackupError> {
    let (id, snapshot) = load_snapshot_of(repo, snapshot_id, Some(table)).await?;
    let entry = find_table(&id, &snapshot.tables, table)?.clone();
    Ok((id, entry))
}
