//! Table-aware backup, restore and verification over a TableSafe repository.
//!
//! Map: `archive` (continuous archiving of change streams), `consistent` (fuzzy exports made exact), `changes` (stream changes: their repository form and replay), `source` (the [`TableSource`]/[`TableSink`] traits with embedded and remote
//! implementations), `format` (rows as repository bytes), `digest` (Merkle digests
//! over key ranges), `snapshot` (manifests and [`backup`]), `layer` (a backup's encode stage), `restore` ([`restore`]
//! and [`verify_table`]), `jobs` (the job history in the repository), `read` ([`SnapshotRows`]: a snapshot's rows without a restore), `forget` ([`forget`] snapshots, [`prune`] data), `pitr` ([`restore_to_time`]), `recovery` ([`recovery_points`]: restorable windows), `retention` (which snapshots a policy keeps).

pub mod archive;
pub mod changes;
pub mod consistent;
pub mod digest;
mod error;
pub mod forget;
pub mod format;
pub mod jobs;
mod layer;
pub mod pitr;
pub mod read;
mod records;
pub mod recovery;
pub mod restore;
pub mod retention;
pub mod service;
pub mod snapshot;
pub mod source;

pub use error::BackupError;

/// Microseconds since the epoch as RFC 3339 UTC with milliseconds, for messages.
pub fn format_time_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => format!("{us} µs since the epoch"),
    }
}
pub use changes::{Change, ChangeKind};
pub use forget::{check_snapshots, forget, prune, ForgetPolicy, ForgetReport};
pub use jobs::{list_jobs, record_job, JobKind, JobRecord};
pub use pitr::{plan_point_in_time, restore_to_time, PointInTimePlan};
pub use read::{snapshot_table, SnapshotRows};
pub use recovery::{recovery_points, RecoveryGap, RecoveryWindow, RestorableSpan};
pub use restore::{restore, verify_table, RestoreOptions, RestoreReport, VerifyReport};
pub use retention::Retention;
pub use snapshot::{backup, list_snapshots, load_snapshot, NoProgress, Progress, Snapshot, TableSnapshot};
pub use source::{
    changed_keys, ChangePage, Consistency, EmbeddedTables, ExportItem, RemoteTables, TableDefinition, TableSink,
    TableSource,
};
