//! Table-aware backup, restore and verification over a TableSafe repository.
//!
//! Modules, in layers: each imports only modules of the layers above it (the
//! test `module_layers` holds this), so nothing imports in a circle.
//! 1. `records` (chunks of records), `format` (rows as repository bytes),
//!    `changes` (stream changes: their repository form and how one applies),
//!    `digest` (Merkle digests over key ranges), `source` (the
//!    [`TableSource`]/[`TableSink`] traits with embedded and remote
//!    implementations), `progress`, `jobs` (the job history in the repository),
//!    `retention` (which snapshots a policy keeps);
//! 2. `manifest` (snapshot manifests: [`Snapshot`], [`load_snapshot`]), `notes`
//!    (descriptions, tags and protection attached to snapshots);
//! 3. `read` ([`SnapshotRows`]: a snapshot's rows without a restore);
//! 4. `diff` ([`diff_snapshots`]: a table's rows compared between snapshots),
//!    `layer` (a backup's encode stage), `consistent` (fuzzy exports made exact),
//!    `snapshot` ([`backup`]);
//! 5. `archive` (continuous archiving of change streams), `recovery`
//!    ([`recovery_points`]: restorable windows), `stats` ([`repository_stats`]),
//!    `verify` ([`verify_repository`]: the repository and what its snapshots reference);
//! 6. `replay` (archived changes applied to a restored table), `restore`
//!    ([`restore`] and [`verify_table`]), `pitr` ([`restore_to_time`]);
//! 7. `forget` ([`forget`] snapshots, [`prune`] data), `service` (plans, the
//!    scheduler, the job runner).

pub mod archive;
pub mod changes;
pub mod consistent;
pub mod diff;
pub mod digest;
mod error;
pub mod forget;
pub mod format;
pub mod jobs;
mod layer;
pub mod manifest;
pub mod notes;
pub mod pitr;
mod progress;
pub mod read;
mod records;
pub mod recovery;
mod replay;
pub mod restore;
pub mod retention;
pub mod service;
pub mod snapshot;
pub mod stats;
pub mod source;
pub mod verify;

pub use error::BackupError;

/// Microseconds since the epoch as RFC 3339 UTC with milliseconds, for messages.
pub fn format_time_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => format!("{us} µs since the epoch"),
    }
}

/// The last microsecond of millisecond `ms`: what a restore to a time given in
/// milliseconds restores to. Cell timestamps and the API's times are milliseconds,
/// so a restore to `ms` holds every change committed within it (a row stamped `ms`
/// and read back at `ms` is in), not only those committed at its first microsecond.
pub fn end_of_millisecond_us(ms: i64) -> i64 {
    ms.saturating_mul(1000).saturating_add(999)
}

/// A time as RFC 3339 (with an offset, e.g. `2026-11-24T20:00:44.123Z`) or as
/// milliseconds since the epoch (a bare integer); returns µs since the epoch. A
/// time given to the millisecond (a bare integer, or at most three fraction
/// digits) stands for all of that millisecond, its last µs, as the API's
/// `time_ms` does: cell timestamps are milliseconds, so a row stamped then is in.
/// A time with more digits is taken as given.
pub fn parse_time_us(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let timestamp = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>()
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .ok_or_else(|| format!("{text} milliseconds since the epoch is out of range"))?
    } else {
        text.parse::<jiff::Timestamp>().map_err(|e| {
            format!(
                "not an RFC 3339 time with an offset (e.g. 2026-11-24T20:00:44.123Z) or milliseconds since the epoch: \
                 {e}"
            )
        })?
    };
    let fraction_digits = text.split_once('.').map_or(0, |(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count());
    let us = timestamp.as_microsecond();
    Ok(if fraction_digits <= 3 { end_of_millisecond_us(us.div_euclid(1000)) } else { us })
}

pub use changes::{Change, ChangeKind};
pub use diff::{diff_snapshots, KeysOfKind, TableDiff};
pub use forget::{forget, forget_tagged, prune, ForgetPolicy, ForgetReport};
pub use verify::{check_snapshots, verify_repository, Finding, Verification};
pub use notes::{NotesChange, SnapshotNotes};
pub use jobs::{list_jobs, record_job, JobKind, JobRecord};
pub use pitr::{plan_point_in_time, restore_to_time};
pub use progress::{NoProgress, Progress};
pub use replay::PointInTimePlan;
pub use read::{snapshot_table, SnapshotRows};
pub use recovery::{recovery_points, RecoveryGap, RecoveryWindow, RestorableSpan};
pub use restore::{restore, verify_table, RestoreOptions, RestoreReport, VerifyReport};
pub use retention::Retention;
pub use manifest::{list_snapshots, load_snapshot, load_snapshot_of, FixupLayer, Snapshot, TableSnapshot};
pub use snapshot::backup;
pub use stats::{repository_stats, RepositoryStats};
pub use source::{
    changed_keys, ChangePage, Consistency, EmbeddedTables, ExportItem, RemoteTables, StreamEnd, TableDefinition,
    TableSink, TableSource,
};
