//! Snapshot manifests: `snapshots/<id>` in the repository, sealed JSON, one per
//! backup run, naming each table's layers, digest and stream position. This module
//! owns their layout and how they are found; the backup that writes them is in
//! `snapshot`, the readers of their rows in `read`.
//!
//! Invariants: a manifest is written last, after every chunk it names is durable;
//! a manifest of a newer layout than [`MANIFEST_VERSION`] is refused, not guessed at.

use serde::{Deserialize, Serialize};
use tablesafe_repo::Repository;

use crate::digest::TableDigest;
use crate::source::{Consistency, TableDefinition};
use crate::BackupError;

/// Manifest kind of snapshots in the repository.
pub const SNAPSHOTS: &str = "snapshots";
/// Version of the snapshot manifest layout: 2 added `position_time_us` and
/// `fixup` (version 1 manifests read as having neither); 3 seals each table's
/// digest leaves (`sealed_leaves`), whose bounds are primary-key values, for
/// keys that read data (older manifests keep them in the clear, and still read).
pub const MANIFEST_VERSION: u32 = 3;

/// One table in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSnapshot {
    /// Table name at backup time.
    pub name: String,
    /// Schema, options, reserved throughput and stream settings.
    pub definition: TableDefinition,
    /// Exact (one snapshot of the table) or fuzzy.
    pub consistency: Consistency,
    /// The stream the position belongs to.
    pub stream_id: Option<String>,
    /// Stream position the data is consistent at, for stream-enabled tables.
    pub stream_position: Option<u64>,
    /// A time (µs) by which every change before `stream_position` was committed:
    /// the snapshot can start a restore to any later time.
    #[serde(default)]
    pub position_time_us: Option<i64>,
    /// For an incremental layer: the snapshot whose table this layer continues.
    pub base: Option<String>,
    /// Layers to read for a restore: 1 for a full copy, n + 1 for an incremental
    /// layer over a chain of n.
    pub chain: u32,
    /// Auto-increment counter, when the source reports it.
    pub auto_increment: Option<i64>,
    /// Rows.
    pub rows: u64,
    /// Cell versions.
    pub cells: u64,
    /// Bytes of serialized data in this layer.
    pub data_bytes: u64,
    /// Chunks of this layer's serialized data, in order (hex ids). A full layer
    /// holds every row; an incremental one the rows changed since its base and
    /// delete markers for rows removed since.
    pub chunks: Vec<String>,
    /// Digest of the rows (with the fixup applied).
    pub digest: TableDigest,
    /// For a table read while writes went on (a remote source): its rows replayed
    /// to `stream_position`, stored over `chunks`, making the table exact there.
    #[serde(default)]
    pub fixup: Option<FixupLayer>,
    /// Version 3: `digest.leaves` sealed for keys that read data (base64 of
    /// `Repository::seal_for_readers`, bound to the table's name), stored in
    /// their place. A loaded manifest keeps them sealed, since only a report of
    /// differing ranges needs them: [`digest_leaves`] opens them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_leaves: Option<String>,
}

impl TableSnapshot {
    /// Every chunk this table's entry references: its layer's and its fixup's.
    pub fn all_chunks(&self) -> impl Iterator<Item = &String> {
        self.chunks.iter().chain(self.fixup.iter().flat_map(|f| f.chunks.iter()))
    }
}

/// A snapshot manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// When the backup started, ms since the epoch.
    pub time_ms: i64,
    /// Where the tables were read from.
    pub origin: String,
    /// The tables.
    pub tables: Vec<TableSnapshot>,
    /// Bytes this backup added to the repository (packs and index).
    pub added_bytes: u64,
    /// The backup plan that made it; a plan's retention considers only its own
    /// snapshots. Absent for backups made by hand (and in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Rows replayed to the snapshot's stream position, stored over the table's layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixupLayer {
    /// The position the export was complete up to; changes from here were replayed.
    pub from: u64,
    /// Changes replayed.
    pub changes: u64,
    /// Rows rewritten (or delete markers for rows removed).
    pub rows: u64,
    /// Bytes of serialized rows.
    pub data_bytes: u64,
    /// Chunks of the serialized rows, in order (hex ids).
    pub chunks: Vec<String>,
}

/// Most layers a restore reads: after this many incremental layers the next
/// backup of the table is a full copy again.
pub const MAX_CHAIN: u32 = 16;

/// The entry of `table` in a snapshot's tables.
pub(crate) fn find_table<'a>(
    snapshot_id: &str,
    tables: &'a [TableSnapshot],
    table: &str,
) -> Result<&'a TableSnapshot, BackupError> {
    tables
        .iter()
        .find(|t| t.name == table)
        .ok_or_else(|| BackupError::NotFound(format!("snapshot {snapshot_id} has no table '{table}'")))
}

/// What names the newest snapshot wherever a snapshot id is taken.
pub const LATEST: &str = "latest";

/// Where in `snapshots` (oldest first, as [`list_snapshots`] returns them) the
/// newest snapshot is, of those holding `table` if one is named: what [`LATEST`]
/// names.
pub(crate) fn newest_holding(snapshots: &[(String, Snapshot)], table: Option<&str>) -> Option<usize> {
    snapshots.iter().rposition(|(_, s)| table.is_none_or(|table| s.tables.iter().any(|t| t.name == table)))
}

/// Loads a snapshot manifest; `id` may be a unique prefix, or [`LATEST`] for the
/// newest snapshot.
pub async fn load_snapshot(repo: &Repository, id: &str) -> Result<(String, Snapshot), BackupError> {
    load_snapshot_of(repo, id, None).await
}

/// [`load_snapshot`] for a use of one table: [`LATEST`] is then the newest
/// snapshot that holds `table` (a backup of other tables since does not hide it).
pub async fn load_snapshot_of(
    repo: &Repository,
    id: &str,
    table: Option<&str>,
) -> Result<(String, Snapshot), BackupError> {
    if id == LATEST {
        let mut all = list_snapshots(repo).await?;
        let newest = newest_holding(&all, table).map(|at| all.swap_remove(at));
        return newest.ok_or_else(|| {
            BackupError::NotFound(match table {
                Some(table) => format!("no snapshot holds table '{table}'"),
                None => "the repository holds no snapshot".to_owned(),
            })
        });
    }
    let ids = repo.list_manifests(SNAPSHOTS).await?;
    let matching: Vec<&String> = ids.iter().filter(|s| s.starts_with(id)).collect();
    let full = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => return Err(BackupError::NotFound(format!("no snapshot {id}"))),
        _ => return Err(BackupError::NotFound(format!("snapshot id prefix {id} is ambiguous; give more characters"))),
    };
    let snapshot = read_snapshot(repo, &full).await?;
    Ok((full, snapshot))
}

/// What binds a table's sealed digest leaves to it.
fn leaves_aad(table: &str) -> Vec<u8> {
    format!("tablesafe digest leaves {table}").into_bytes()
}

/// A snapshot manifest as stored, at [`MANIFEST_VERSION`]: each table's digest
/// leaves sealed for keys that read data, since manifests open with every key.
pub(crate) fn encode_snapshot(repo: &Repository, snapshot: &Snapshot) -> Result<Vec<u8>, BackupError> {
    use base64::Engine as _;
    let internal = |e: serde_json::Error| BackupError::Internal(format!("manifest: {e}"));
    let mut stored = snapshot.clone();
    stored.version = MANIFEST_VERSION;
    for table in &mut stored.tables {
        // Leaves in memory are new (a backup) or were read in the clear (version
        // 1 or 2); otherwise the table's sealed leaves stand as they were loaded.
        if !table.digest.leaves.is_empty() || table.sealed_leaves.is_none() {
            let leaves = serde_json::to_vec(&std::mem::take(&mut table.digest.leaves)).map_err(internal)?;
            let sealed = repo.seal_for_readers(&leaves, &leaves_aad(&table.name));
            table.sealed_leaves = Some(base64::engine::general_purpose::STANDARD.encode(sealed));
        }
    }
    serde_json::to_vec(&stored).map_err(internal)
}

/// The digest leaves of a table of snapshot `snapshot_id`: those read in the
/// clear, or its sealed ones opened (`RepoError::WriteOnly` for a write-only key).
pub async fn digest_leaves(
    repo: &Repository,
    snapshot_id: &str,
    table: &TableSnapshot,
) -> Result<Vec<crate::digest::DigestLeaf>, BackupError> {
    let Some(sealed) = table.sealed_leaves.as_deref() else { return Ok(table.digest.leaves.clone()) };
    use base64::Engine as _;
    let corrupt = |detail: String| BackupError::Corrupt {
        snapshot: snapshot_id.to_owned(),
        table: table.name.clone(),
        detail: format!("digest leaves: {detail}"),
    };
    let raw = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|e| corrupt(e.to_string()))?;
    let leaves = repo.open_for_readers(&raw, &leaves_aad(&table.name), &format!("{SNAPSHOTS}/{snapshot_id}"))?;
    serde_json::from_slice(&leaves).map_err(|e| corrupt(e.to_string()))
}

/// Reads the manifest of a snapshot by its full id.
async fn read_snapshot(repo: &Repository, full: &str) -> Result<Snapshot, BackupError> {
    let body = repo.load_manifest(SNAPSHOTS, full).await?;
    let snapshot: Snapshot = serde_json::from_slice(&body).map_err(|e| BackupError::Corrupt {
        snapshot: full.to_owned(),
        table: String::new(),
        detail: format!("manifest does not decode: {e}"),
    })?;
    if snapshot.version > MANIFEST_VERSION {
        // A newer layout may hold data this version would restore wrongly.
        return Err(BackupError::Corrupt {
            snapshot: full.to_owned(),
            table: String::new(),
            detail: format!(
                "manifest version {} is newer than this TableSafe reads ({MANIFEST_VERSION}); upgrade TableSafe",
                snapshot.version
            ),
        });
    }
    Ok(snapshot)
}

/// Every snapshot, oldest first. One listing, then each manifest read by its
/// full id: resolving each id as a prefix would list the directory again per
/// snapshot, which made a backup at 400 snapshots take seconds.
pub async fn list_snapshots(repo: &Repository) -> Result<Vec<(String, Snapshot)>, BackupError> {
    let ids = repo.list_manifests(SNAPSHOTS).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let snapshot = read_snapshot(repo, &id).await?;
        out.push((id, snapshot));
    }
    // By time, then id: two snapshots of one millisecond still have one order.
    out.sort_by(|(a_id, a), (b_id, b)| (a.time_ms, a_id).cmp(&(b.time_ms, b_id)));
    Ok(out)
}
