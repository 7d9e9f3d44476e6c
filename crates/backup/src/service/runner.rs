//! What one job does, given an open repository: a plan's backup (then its
//! verification and retention), the check of a snapshot, a restore, and the check
//! of a restored table. Each returns the finished [`Job`] fields it fills; the
//! service records starts, ends and failures around them.

use rand::seq::SliceRandom;
use tablesafe_proto::backup_api::Job;
use tablesafe_repo::{crypto, Repository};

use super::plans::ValidPlan;
use crate::digest::DigestBuilder;
use crate::forget::{forget, prune, ForgetPolicy};
use crate::manifest::{load_snapshot, Snapshot, TableSnapshot};
use crate::progress::Progress;
use crate::read::SnapshotRows;
use crate::snapshot::backup_for_plan;
use crate::source::{EmbeddedTables, TableSource};
use crate::{restore, restore_to_time, BackupError, RestoreOptions, RestoreReport};

/// Reports a job's progress into its history entry.
pub(crate) struct JobProgress<F: Fn(u64, u64) + Send + Sync> {
    pub(crate) on_rows: F,
}

impl<F: Fn(u64, u64) + Send + Sync> Progress for JobProgress<F> {
    fn rows_done(&self, rows: u64, bytes: u64) {
        (self.on_rows)(rows, bytes);
    }
}

/// Backs up `tables` for `plan`, checks the snapshot, then applies the plan's
/// retention. Fills `job` with the snapshot, rows, bytes, check and forgotten ids.
pub(crate) async fn plan_backup(
    repo: &Repository,
    source: &EmbeddedTables,
    plan: &ValidPlan,
    tables: &[String],
    progress: &dyn Progress,
    job: &mut Job,
) -> Result<(), BackupError> {
    let (id, snapshot) = backup_for_plan(repo, source, tables, Some(plan.name()), progress).await?;
    job.snapshot = Some(id.clone());
    job.tables = snapshot.tables.iter().map(|t| t.name.clone()).collect();
    job.rows = snapshot.tables.iter().map(|t| t.rows).sum();
    job.bytes = snapshot.added_bytes;
    check_snapshot(repo, &id, &snapshot, plan.plan.verify_data_percent).await?;
    job.verified = Some(true);
    if !plan.retention.is_empty() {
        let policy = ForgetPolicy::Plan {
            plan: plan.name().to_owned(),
            retention: plan.retention.clone(),
            timezone: plan.timezone.clone(),
        };
        let report = forget(repo, &policy).await?;
        job.forgotten = report.forgotten;
        if !job.forgotten.is_empty() {
            // Prune needs the repository to itself; when another job holds it,
            // the data waits for a later run's prune.
            if let Err(error) = prune(repo).await {
                tracing::info!(plan = plan.name(), %error, "pruning after retention deferred");
            }
        }
    }
    Ok(())
}

/// The check after a backup: every chunk the snapshot's tables (and the layers
/// they build on) name is stored; and `percent` of them, chosen at random, are
/// read back, decrypted and authenticated (100: all, plus every table's rows
/// decoded and digested).
pub(crate) async fn check_snapshot(
    repo: &Repository,
    id: &str,
    snapshot: &Snapshot,
    percent: u8,
) -> Result<(), BackupError> {
    let mut chunk_ids = Vec::new();
    for table in &snapshot.tables {
        for (layer_id, layer) in crate::read::layers(repo, id, table).await? {
            for hex in layer.all_chunks() {
                let chunk = crypto::unhex32(hex).ok_or_else(|| corrupt(&layer_id, &layer.name, "bad chunk id"))?;
                if !repo.has_chunk(&chunk) {
                    return Err(corrupt(&layer_id, &layer.name, &format!("chunk {hex} is missing")));
                }
                chunk_ids.push(chunk);
            }
        }
    }
    if percent >= 100 {
        for table in &snapshot.tables {
            let digest = snapshot_digest(repo, id, table).await?;
            if digest != table.digest.root {
                return Err(corrupt(id, &table.name, "its rows do not match the recorded digest"));
            }
        }
    } else if percent > 0 {
        let count = (chunk_ids.len() * usize::from(percent)).div_ceil(100);
        chunk_ids.shuffle(&mut rand::thread_rng());
        for chunk in chunk_ids.iter().take(count) {
            repo.read_chunk(chunk).await?;
        }
    }
    Ok(())
}

fn corrupt(snapshot: &str, table: &str, detail: &str) -> BackupError {
    BackupError::Corrupt { snapshot: snapshot.to_owned(), table: table.to_owned(), detail: detail.to_owned() }
}

/// The digest root of a table of a snapshot, from its rows read back.
async fn snapshot_digest(repo: &Repository, id: &str, table: &TableSnapshot) -> Result<String, BackupError> {
    let mut rows = SnapshotRows::open(repo, id, table).await?;
    let mut digest = DigestBuilder::default();
    while let Some(row) = rows.next().await? {
        digest.add(&row);
    }
    Ok(digest.finish().root)
}

/// VerifyBackup: every table of the snapshot read back and digested.
pub(crate) async fn verify_backup(repo: &Repository, snapshot: &str, job: &mut Job) -> Result<(), BackupError> {
    let (id, manifest) = load_snapshot(repo, snapshot).await?;
    job.snapshot = Some(id.clone());
    job.tables = manifest.tables.iter().map(|t| t.name.clone()).collect();
    job.rows = manifest.tables.iter().map(|t| t.rows).sum();
    let mut equal = true;
    let mut problems = Vec::new();
    for table in &manifest.tables {
        if snapshot_digest(repo, &id, table).await? != table.digest.root {
            equal = false;
            problems.push(table.name.clone());
        }
    }
    job.verified = Some(equal);
    if !equal {
        return Err(corrupt(&id, &problems.join(", "), "the rows read back do not match the recorded digest"));
    }
    Ok(())
}

/// StartRestore: a snapshot's table, or the table at a time, into `target`.
pub(crate) async fn restore_table(
    repo: &Repository,
    sink: &EmbeddedTables,
    options: &RestoreOptions,
    snapshot: Option<&str>,
    time_ms: Option<i64>,
    progress: &dyn Progress,
    job: &mut Job,
) -> Result<(), BackupError> {
    let report: RestoreReport = match (snapshot, time_ms) {
        (_, Some(time_ms)) => {
            let mut report =
                restore_to_time(repo, sink, options, crate::end_of_millisecond_us(time_ms), None, progress).await?;
            if report.changes_replayed > 0 {
                // The snapshot's digest (checked while its rows were read) is not the
                // table's once changes are replayed over it: VerifyRestore compares
                // with the table as this restore left it, read back now.
                let left = crate::restore::live_digest(sink, &report.target).await?;
                report.rows = left.rows;
                report.digest = left.root;
            }
            report
        }
        (Some(snapshot), None) => restore(repo, snapshot, sink, options, progress).await?,
        (None, None) => {
            let newest = crate::list_snapshots(repo)
                .await?
                .into_iter()
                .rev()
                .find(|(_, s)| s.tables.iter().any(|t| t.name == options.table))
                .map(|(id, _)| id)
                .ok_or_else(|| BackupError::NotFound(format!("no snapshot holds table '{}'", options.table)))?;
            restore(repo, &newest, sink, options, progress).await?
        }
    };
    job.snapshot = Some(report.snapshot);
    job.rows = report.rows;
    job.digest = Some(report.digest);
    job.verified = Some(true);
    Ok(())
}

/// VerifyRestore: the live table's digest against the one its restore wrote;
/// when they differ and the restore was of a snapshot (not of an instant), which
/// rows and key ranges differ from that snapshot's table.
pub(crate) async fn verify_restore(
    repo: &Repository,
    source: &EmbeddedTables,
    table: &str,
    expected: &str,
    job: &mut Job,
) -> Result<(), BackupError> {
    let actual = crate::restore::live_digest(source, table).await?;
    let index_problems = source.check_indexes(table).await?;
    job.rows = actual.rows;
    job.digest = Some(actual.root.clone());
    job.verified = Some(actual.root == expected && index_problems.is_empty());
    let detail = if actual.root != expected {
        if let (Some(snapshot), None, Some(original)) = (&job.snapshot, job.to_time_ms, job.tables.first()) {
            // The listing is a help: when the snapshot cannot be read any more
            // (forgotten and pruned since), the digests still say the table differs.
            job.differences = match crate::restore::verify_table(repo, snapshot, original, source, table).await {
                Ok(report) => difference_lines(&report),
                Err(e) => vec![format!("the rows that differ cannot be listed: {e}")],
            };
        }
        format!("the table's digest {} differs from the restored {}", actual.root, expected)
    } else if !index_problems.is_empty() {
        index_problems.join("; ")
    } else {
        return Ok(());
    };
    job.differences.extend(index_problems);
    Err(BackupError::Corrupt { snapshot: job.snapshot.clone().unwrap_or_default(), table: table.to_owned(), detail })
}

/// The differences of `report`, one line each, for [`Job::differences`].
fn difference_lines(report: &crate::VerifyReport) -> Vec<String> {
    let mut lines = Vec::new();
    for (kind, rows) in [("missing", &report.missing), ("extra", &report.extra), ("different", &report.different)] {
        if rows.count > 0 {
            let more = if rows.count > rows.first.len() as u64 { "; ..." } else { "" };
            lines.push(format!("{} rows {kind}: {}{more}", rows.count, rows.first.join("; ")));
        }
    }
    for range in &report.differing_ranges {
        lines.push(if range.first_key == range.last_key {
            format!("key range {}", range.first_key)
        } else {
            format!("key range from {} to {}", range.first_key, range.last_key)
        });
    }
    lines
}
