//! The history of backup and restore jobs, kept in the repository (`jobs/<id>`,
//! sealed JSON) so that every host that opens it sees the same history.

use serde::{Deserialize, Serialize};
use tablesafe_repo::Repository;

use crate::BackupError;

/// Manifest kind of job records.
pub const JOBS: &str = "jobs";

/// What a job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// A backup.
    Backup,
    /// A restore.
    Restore,
    /// A comparison of a live table with a snapshot.
    VerifyRestore,
    /// A check of the repository.
    Verify,
    /// Forgetting snapshots.
    Forget,
    /// Pruning data.
    Prune,
}

/// One finished job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// What it did.
    pub kind: JobKind,
    /// Start, ms since the epoch.
    pub started_ms: i64,
    /// End, ms since the epoch.
    pub finished_ms: i64,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Tables involved.
    pub tables: Vec<String>,
    /// Rows handled.
    pub rows: u64,
    /// Bytes added to (backup) or read from (restore) the repository.
    pub bytes: u64,
    /// The snapshot written or read.
    pub snapshot: Option<String>,
    /// Where data came from or went to.
    pub location: Option<String>,
}

/// Stores a job record; returns its id.
pub async fn record_job(repo: &Repository, job: &JobRecord) -> Result<String, BackupError> {
    let body = serde_json::to_vec(job).map_err(|e| BackupError::Internal(format!("job record: {e}")))?;
    Ok(repo.save_manifest(JOBS, &body).await?)
}

/// Every job record with its id, oldest first.
pub async fn list_jobs(repo: &Repository) -> Result<Vec<(String, JobRecord)>, BackupError> {
    let mut jobs = Vec::new();
    for id in repo.list_manifests(JOBS).await? {
        let body = repo.load_manifest(JOBS, &id).await?;
        let job: JobRecord = serde_json::from_slice(&body).map_err(|e| BackupError::Corrupt {
            snapshot: String::new(),
            table: String::new(),
            detail: format!("job record {id} does not decode: {e}"),
        })?;
        jobs.push((id, job));
    }
    jobs.sort_by_key(|(_, j)| j.started_ms);
    Ok(jobs)
}
