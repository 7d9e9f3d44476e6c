//! The job history kept in the repository: `tablesafe jobs` lists it, and every
//! `backup`, `restore`, `verify-restore`, `verify`, `forget` and `prune` run
//! records one job at its end through [`Job`], failed runs with their error. A
//! run that could not open the repository records nothing (there is nowhere to
//! write), and a job that cannot be recorded is a warning, never the run's error.

use indicatif::HumanBytes;
use serde::Serialize;
use tablesafe_backup::{list_jobs, record_job, JobKind, JobRecord};
use tablesafe_repo::Repository;

use super::{block_on, one_line, open, print_json, rfc3339, short_id};
use crate::args::JobsArgs;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A job being run: its record, filled in as the run learns what it touches.
pub struct Job {
    /// What will be recorded (`finished_ms`, `succeeded` and `error` are set by
    /// [`Job::finish`]).
    pub record: JobRecord,
}

impl Job {
    /// A job of `kind` starting now.
    pub fn start(kind: JobKind) -> Job {
        Job {
            record: JobRecord {
                kind,
                started_ms: now_ms(),
                finished_ms: 0,
                succeeded: false,
                error: None,
                tables: Vec::new(),
                rows: 0,
                bytes: 0,
                snapshot: None,
                location: None,
            },
        }
    }

    /// Records the job with the outcome of `result` and returns `result` as it was.
    /// On success `describe` adds what the result tells (and may mark the job
    /// failed, e.g. a check that found problems).
    pub async fn finish<T>(
        mut self,
        repo: &Repository,
        result: anyhow::Result<T>,
        describe: impl FnOnce(&T, &mut JobRecord),
    ) -> anyhow::Result<T> {
        self.record.finished_ms = now_ms();
        match &result {
            Ok(value) => {
                self.record.succeeded = true;
                describe(value, &mut self.record);
            }
            Err(error) => {
                self.record.succeeded = false;
                self.record.error = Some(one_line(error));
            }
        }
        if let Err(error) = record_job(repo, &self.record).await {
            eprintln!("warning: the job could not be recorded in the repository: {error}");
        }
        result
    }
}

/// A job's kind as the CLI names it: the command that ran it.
fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Backup => "backup",
        JobKind::Restore => "restore",
        JobKind::VerifyRestore => "verify-restore",
        JobKind::Verify => "verify",
        JobKind::Forget => "forget",
        JobKind::Prune => "prune",
    }
}

/// One job, as printed.
#[derive(Serialize)]
struct JobLine {
    id: String,
    time: String,
    started_ms: i64,
    finished_ms: i64,
    duration_ms: i64,
    kind: &'static str,
    result: &'static str,
    succeeded: bool,
    error: Option<String>,
    tables: Vec<String>,
    rows: u64,
    bytes: u64,
    /// The snapshot written or read; for `forget`, the snapshots forgotten,
    /// comma-separated.
    snapshot: Option<String>,
    location: Option<String>,
}

impl JobLine {
    fn new(id: String, job: JobRecord) -> JobLine {
        JobLine {
            id,
            time: rfc3339(job.started_ms, true),
            started_ms: job.started_ms,
            finished_ms: job.finished_ms,
            duration_ms: job.finished_ms.saturating_sub(job.started_ms),
            kind: kind_name(job.kind),
            result: if job.succeeded { "ok" } else { "failed" },
            succeeded: job.succeeded,
            error: job.error,
            tables: job.tables,
            rows: job.rows,
            bytes: job.bytes,
            snapshot: job.snapshot,
            location: job.location,
        }
    }
}

pub fn list(args: JobsArgs) -> anyhow::Result<()> {
    let jobs = block_on(async {
        let repo = open::repository(&args.repo).await?;
        Ok(list_jobs(&repo).await?)
    })?;
    let lines: Vec<JobLine> = jobs.into_iter().map(|(id, job)| JobLine::new(id, job)).collect();
    if args.output.json {
        return print_json(&lines);
    }
    if lines.is_empty() {
        outln!("no jobs recorded yet; backup, restore, verify, forget and prune record theirs")?;
        return Ok(());
    }
    outln!(
        "{:<20}  {:<14}  {:<6}  {:>10}  {:>11}  {:<8}  {:<20}  LOCATION",
        "TIME",
        "KIND",
        "RESULT",
        "ROWS",
        "BYTES",
        "SNAPSHOT",
        "TABLES"
    )?;
    for line in &lines {
        let snapshot = match &line.snapshot {
            Some(ids) => ids.split(',').map(short_id).collect::<Vec<_>>().join(","),
            None => "-".to_owned(),
        };
        let tables = if line.tables.is_empty() { "-".to_owned() } else { line.tables.join(",") };
        outln!(
            "{:<20}  {:<14}  {:<6}  {:>10}  {:>11}  {:<8}  {:<20}  {}",
            rfc3339(line.started_ms, false),
            line.kind,
            line.result,
            line.rows,
            HumanBytes(line.bytes).to_string(),
            snapshot,
            tables,
            line.location.as_deref().unwrap_or("-")
        )?;
        if let Some(error) = &line.error {
            outln!("  failed: {error}")?;
        }
    }
    Ok(())
}
