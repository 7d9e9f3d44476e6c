//! The backup API: TableSafe's 13 actions for backup plans, backups, restores,
//! verifications and their jobs (docs/API.md, "Backup API"), on the same signed
//! protocol as every other action but with JSON bodies ([`Transport::call_json`]).
//!
//! Owns: the methods of [`Client`] for those actions; the ones that wait for their
//! job ([`Client::backup`], [`Client::verify_backup`], [`Client::recover`],
//! [`Client::verify_recovery`]); [`BackupPolicy`], a plan written in words
//! ("hourly", "72 hours", "backup_bucket"); and [`RecoveryPoint`] /
//! [`RecoveryPoints`], where a restore goes back to. The wire types are
//! `tablesafe_proto::backup_api`'s, re-exported by the crate.
//!
//! Invariants:
//! - Requests are signed, responses verified, and failures retried exactly as for
//!   the protobuf actions; only the body codec differs. Error bodies are protobuf
//!   `Error` messages, as for every action.
//! - Reads (the List and Describe actions) and UpdateBackupPlan (a whole
//!   replacement) are idempotent; the actions that create, delete or start
//!   something are retried only when the request provably did not run.
//! - A call that waits returns only a job that succeeded; a job that failed, was
//!   interrupted or whose check found a difference (`verified == Some(false)`) is a
//!   [`ClientError::Job`] carrying the job.

use std::ops::Deref;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tablesafe_proto::backup_api::{
    Destination, Empty, Job, JobIdRequest, JobKind, JobResponse, JobState, ListBackupPlansResponse, ListJobsRequest,
    ListJobsResponse, ListRecoveryPointsRequest, ListRecoveryPointsResponse, ListSnapshotsRequest,
    ListSnapshotsResponse, Plan, PlanNameRequest, PlanRequest, PlanStatus, SnapshotInfo, StartBackupRequest,
    SnapshotInfoResponse, StartRestoreRequest, TableRecoveryPoints, UpdateJobNoteRequest, UpdateSnapshotInfoRequest,
    VerifyBackupRequest, VerifyRestoreRequest,
};

use crate::error::ClientError;
use crate::retry::Action;
use crate::transport::Transport;
use crate::Client;

const fn read(name: &'static str) -> Action {
    Action { name, idempotent: true }
}

const fn write(name: &'static str) -> Action {
    Action { name, idempotent: false }
}

const CREATE_BACKUP_PLAN: Action = write("CreateBackupPlan");
const UPDATE_BACKUP_PLAN: Action = read("UpdateBackupPlan");
const DELETE_BACKUP_PLAN: Action = write("DeleteBackupPlan");
const LIST_BACKUP_PLANS: Action = read("ListBackupPlans");
const DESCRIBE_BACKUP_PLAN: Action = read("DescribeBackupPlan");
const START_BACKUP: Action = write("StartBackup");
const LIST_SNAPSHOTS: Action = read("ListSnapshots");
const LIST_RECOVERY_POINTS: Action = read("ListRecoveryPoints");
const VERIFY_BACKUP: Action = write("VerifyBackup");
const START_RESTORE: Action = write("StartRestore");
const VERIFY_RESTORE: Action = write("VerifyRestore");
const LIST_JOBS: Action = read("ListJobs");
const DESCRIBE_JOB: Action = read("DescribeJob");
// Both replace what they set, so a repeat does the same.
const UPDATE_SNAPSHOT_INFO: Action = read("UpdateSnapshotInfo");
const UPDATE_JOB_NOTE: Action = read("UpdateJobNote");

/// First and longest sleep between two DescribeJob calls of a waiting method.
const FIRST_POLL: Duration = Duration::from_millis(20);
const LONGEST_POLL: Duration = Duration::from_secs(1);

impl Transport {
    /// Sends `request` as JSON to `action`, with the signing, verification and
    /// retries of every call, and decodes the verified JSON answer.
    pub(crate) async fn call_json<Req, Resp>(&self, action: Action, request: &Req) -> Result<Resp, ClientError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        // The API's message types always encode (no maps with non-string keys).
        let body = serde_json::to_vec(request).map_err(|e| ClientError::decode(action.name, "JSON request", e))?;
        let bytes = self.call_bytes(action, Bytes::from(body)).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::decode(action.name, "JSON response", e))
    }
}

/// A backup policy as the seed writes it: how often, how long to keep, where to.
///
/// A thin builder over [`Plan`] (the wire type, which it dereferences to), so that
/// a policy can be passed wherever a `&Plan` is expected:
///
/// ```
/// use tablesafe_client::BackupPolicy;
///
/// let policy = BackupPolicy::new("hourly", "72 hours", "backup_bucket").named("users_hourly");
/// assert_eq!(policy.every.as_deref(), Some("1h"));
/// assert_eq!(policy.keep_within.as_deref(), Some("72h"));
/// assert_eq!(policy.destination, "backup_bucket");
/// assert_eq!(policy.name, "users_hourly");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPolicy {
    plan: Plan,
}

impl BackupPolicy {
    /// A policy backing up every table (narrow with [`tables`](Self::tables)).
    ///
    /// `frequency` is `hourly`, `daily`, `weekly`, a duration (`15m`, `90 seconds`,
    /// `every 6 hours`), or a cron expression of 5 or 6 fields (`0 3 * * *`).
    /// `retention` is a duration snapshots are kept within (`72h`, `72 hours`,
    /// `7 days`, `2 weeks`). `destination` is a repository as in a plan: a path
    /// (relative to the server's data directory) or a URL. Words this does not
    /// recognize are sent as written, and the server says what is wrong with them.
    pub fn new(frequency: &str, retention: &str, destination: impl Into<String>) -> BackupPolicy {
        let (every, cron) = schedule(frequency);
        let keep_within = Some(duration(retention).unwrap_or_else(|| retention.trim().to_owned()));
        BackupPolicy { plan: Plan { every, cron, keep_within, destination: destination.into(), ..Plan::default() } }
    }

    /// The plan name, needed to create a plan from the policy (letters, digits,
    /// `-` and `_`).
    pub fn named(mut self, name: impl Into<String>) -> BackupPolicy {
        self.plan.name = name.into();
        self
    }

    /// Only these tables (names or glob patterns) instead of every table.
    pub fn tables<I, S>(mut self, tables: I) -> BackupPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.plan.tables = tables.into_iter().map(Into::into).collect();
        self
    }

    /// The plan, for settings the words do not cover (`keep_daily`, `archive`,
    /// `verify_data_percent`, `timezone`...).
    pub fn plan_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }

    /// The plan.
    pub fn into_plan(self) -> Plan {
        self.plan
    }
}

impl Deref for BackupPolicy {
    type Target = Plan;

    fn deref(&self) -> &Plan {
        &self.plan
    }
}

impl From<BackupPolicy> for Plan {
    fn from(policy: BackupPolicy) -> Plan {
        policy.plan
    }
}

impl From<Plan> for BackupPolicy {
    fn from(plan: Plan) -> BackupPolicy {
        BackupPolicy { plan }
    }
}

/// `(every, cron)` of a frequency in words.
fn schedule(frequency: &str) -> (Option<String>, Option<String>) {
    let words = frequency.trim();
    let every = match words.to_ascii_lowercase().as_str() {
        "hourly" => Some("1h".to_owned()),
        "daily" => Some("1d".to_owned()),
        "weekly" => Some("7d".to_owned()),
        lower => match lower.strip_prefix("every ") {
            // "every hour" is "every 1 hour".
            Some(rest) => duration(rest).or_else(|| duration(&format!("1 {rest}"))),
            None => duration(lower),
        },
    };
    match every {
        Some(every) => (Some(every), None),
        None if matches!(words.split_whitespace().count(), 5 | 6) => (None, Some(words.to_owned())),
        None => (Some(words.to_owned()), None),
    }
}

/// A duration in words (`72 hours`, `72h`, `an hour`, `2 weeks`) in the plan form
/// (`72h`, `1h`, `14d`); `None` when it is not one.
fn duration(words: &str) -> Option<String> {
    let lower = words.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let unit = unit.trim();
    let count: u64 = match number {
        "" if ["a ", "an ", "one "].iter().any(|a| unit.starts_with(a)) => 1,
        "" => return None,
        digits => digits.parse().ok()?,
    };
    let unit = unit.rsplit(' ').next().unwrap_or(unit);
    let (count, suffix) = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => (count, 's'),
        "m" | "min" | "mins" | "minute" | "minutes" => (count, 'm'),
        "h" | "hr" | "hrs" | "hour" | "hours" => (count, 'h'),
        "d" | "day" | "days" => (count, 'd'),
        "w" | "week" | "weeks" => (count.checked_mul(7)?, 'd'),
        _ => return None,
    };
    Some(format!("{count}{suffix}"))
}

/// What a restore goes back to, in one table's backups.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecoveryTarget {
    /// A snapshot (its id, or a unique prefix of it).
    Snapshot(String),
    /// The table as it was at this time (ms since the epoch); needs a snapshot
    /// before it and archived changes up to it.
    Time(i64),
}

/// A point a table can be recovered to: a snapshot or a time, in a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// The repository.
    pub from: Destination,
    /// The snapshot or time.
    pub target: RecoveryTarget,
}

impl RecoveryPoint {
    /// A snapshot in the repository `destination` (written as in a plan).
    pub fn snapshot(destination: impl Into<String>, snapshot: impl Into<String>) -> RecoveryPoint {
        RecoveryPoint { from: destination_of(destination), target: RecoveryTarget::Snapshot(snapshot.into()) }
    }

    /// A time (ms since the epoch) in the repository `destination`.
    pub fn time(destination: impl Into<String>, time_ms: i64) -> RecoveryPoint {
        RecoveryPoint { from: destination_of(destination), target: RecoveryTarget::Time(time_ms) }
    }

    /// The snapshot a backup job wrote, in its repository; `None` for a job that
    /// wrote none.
    pub fn of_backup(job: &Job) -> Option<RecoveryPoint> {
        let snapshot = job.snapshot.clone().filter(|_| job.kind == JobKind::Backup)?;
        Some(RecoveryPoint { from: job_destination(job), target: RecoveryTarget::Snapshot(snapshot) })
    }
}

/// The recovery points of one table in one repository (what
/// [`Client::list_recovery_points`] answers), with the repository they are in, so
/// that a point picked from them can be passed to [`Client::recover`]. Dereferences
/// to the wire type's snapshots, spans, gaps and notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryPoints {
    /// The repository.
    pub from: Destination,
    /// The table's points (empty when the repository holds nothing of the table).
    pub points: TableRecoveryPoints,
}

impl RecoveryPoints {
    /// The newest snapshot holding the table.
    pub fn latest_snapshot(&self) -> Option<RecoveryPoint> {
        let newest = self.points.snapshots.iter().max_by_key(|s| s.time_ms)?;
        Some(RecoveryPoint { from: self.from.clone(), target: RecoveryTarget::Snapshot(newest.snapshot.clone()) })
    }

    /// The table as it was at `time_ms`, when a restorable span covers that time.
    pub fn at_time(&self, time_ms: i64) -> Option<RecoveryPoint> {
        let covered = self.points.spans.iter().any(|s| (s.from_ms..=s.to_ms).contains(&time_ms));
        covered.then(|| RecoveryPoint { from: self.from.clone(), target: RecoveryTarget::Time(time_ms) })
    }
}

impl Deref for RecoveryPoints {
    type Target = TableRecoveryPoints;

    fn deref(&self) -> &TableRecoveryPoints {
        &self.points
    }
}

fn destination_of(destination: impl Into<String>) -> Destination {
    Destination { plan: None, destination: Some(destination.into()) }
}

/// The repository a job read or wrote: its destination, else its plan's.
fn job_destination(job: &Job) -> Destination {
    if job.destination.is_empty() {
        Destination { plan: job.plan.clone(), destination: None }
    } else {
        destination_of(job.destination.clone())
    }
}

/// The job if it succeeded; otherwise the error a waiting call returns.
fn succeeded(action: &'static str, job: Job) -> Result<Job, ClientError> {
    let message = match (job.state, job.verified) {
        (JobState::Succeeded, Some(false)) => "the check found a difference".to_owned(),
        (JobState::Succeeded, _) => return Ok(job),
        (JobState::Running, _) => "the job is still running".to_owned(),
        (JobState::Interrupted, _) => job.error.clone().unwrap_or_else(|| "the server stopped during the job".into()),
        (JobState::Failed, _) => job.error.clone().unwrap_or_else(|| "the job failed without an error".into()),
    };
    Err(ClientError::Job { action, message, job: Box::new(job) })
}

impl Client {
    /// Creates a backup plan; its schedule starts at once when it is enabled.
    ///
    /// Fails with `OTSObjectAlreadyExist` when a plan has the name, and
    /// `OTSParameterInvalid` for an invalid plan (name, schedule, retention,
    /// destination).
    #[doc(alias = "CreateBackupPlan")]
    pub async fn create_backup_plan(&self, plan: &Plan) -> Result<PlanStatus, ClientError> {
        let request = PlanRequest { plan: plan.clone() };
        self.transport.call_json(CREATE_BACKUP_PLAN, &request).await
    }

    /// Replaces the plan of the same name (`OTSObjectNotExist` when there is none).
    #[doc(alias = "UpdateBackupPlan")]
    pub async fn update_backup_plan(&self, plan: &Plan) -> Result<PlanStatus, ClientError> {
        let request = PlanRequest { plan: plan.clone() };
        self.transport.call_json(UPDATE_BACKUP_PLAN, &request).await
    }

    /// Deletes a plan; its snapshots and job history stay.
    #[doc(alias = "DeleteBackupPlan")]
    pub async fn delete_backup_plan(&self, name: &str) -> Result<(), ClientError> {
        let request = PlanNameRequest { name: name.to_owned() };
        let Empty {} = self.transport.call_json(DELETE_BACKUP_PLAN, &request).await?;
        Ok(())
    }

    /// Every plan with its schedule state, in the plan file's order.
    #[doc(alias = "ListBackupPlans")]
    pub async fn list_backup_plans(&self) -> Result<Vec<PlanStatus>, ClientError> {
        let response: ListBackupPlansResponse = self.transport.call_json(LIST_BACKUP_PLANS, &Empty {}).await?;
        Ok(response.plans)
    }

    /// One plan with its schedule state (`OTSObjectNotExist` when there is none).
    #[doc(alias = "DescribeBackupPlan")]
    pub async fn describe_backup_plan(&self, name: &str) -> Result<PlanStatus, ClientError> {
        let request = PlanNameRequest { name: name.to_owned() };
        self.transport.call_json(DESCRIBE_BACKUP_PLAN, &request).await
    }

    /// Starts a backup (a plan's, or one under an ad-hoc policy) and answers at
    /// once with its job, still running; see [`wait_for_job`](Self::wait_for_job).
    #[doc(alias = "StartBackup")]
    pub async fn start_backup(&self, request: StartBackupRequest) -> Result<Job, ClientError> {
        let response: JobResponse = self.transport.call_json(START_BACKUP, &request).await?;
        Ok(response.job)
    }

    /// Backs up `table` once under `policy` (its destination, retention and
    /// verification; its schedule is ignored) and waits for the job to end.
    ///
    /// The job's `snapshot` is the snapshot written, `rows` and `bytes` what it
    /// read and added. A job that does not succeed is a [`ClientError::Job`].
    pub async fn backup(&self, table: &str, policy: &Plan) -> Result<Job, ClientError> {
        let request = StartBackupRequest { plan: None, policy: Some(policy.clone()), tables: vec![table.to_owned()] };
        let job = self.start_backup(request).await?;
        succeeded(START_BACKUP.name, self.wait(job).await?)
    }

    /// The snapshots of a repository, oldest first.
    #[doc(alias = "ListSnapshots")]
    pub async fn list_snapshots(&self, request: ListSnapshotsRequest) -> Result<Vec<SnapshotInfo>, ClientError> {
        let response: ListSnapshotsResponse = self.transport.call_json(LIST_SNAPSHOTS, &request).await?;
        Ok(response.snapshots)
    }

    /// The recovery points of `table` in the repository `destination` (written as
    /// in a plan): its snapshots, the spans restorable to any millisecond, and the
    /// archive's gaps. Pick one with [`RecoveryPoints::latest_snapshot`] or
    /// [`RecoveryPoints::at_time`] and pass it to [`recover`](Self::recover).
    #[doc(alias = "ListRecoveryPoints")]
    pub async fn list_recovery_points(&self, table: &str, destination: &str) -> Result<RecoveryPoints, ClientError> {
        let from = destination_of(destination);
        let request = ListRecoveryPointsRequest { from: from.clone(), table: Some(table.to_owned()) };
        let tables = self.list_recovery_points_with(request).await?;
        let points = tables
            .into_iter()
            .find(|t| t.table == table)
            .unwrap_or_else(|| TableRecoveryPoints { table: table.to_owned(), ..TableRecoveryPoints::default() });
        Ok(RecoveryPoints { from, points })
    }

    /// ListRecoveryPoints as sent: every table's points, or one table's, in a
    /// plan's repository or a destination.
    pub async fn list_recovery_points_with(
        &self,
        request: ListRecoveryPointsRequest,
    ) -> Result<Vec<TableRecoveryPoints>, ClientError> {
        let response: ListRecoveryPointsResponse = self.transport.call_json(LIST_RECOVERY_POINTS, &request).await?;
        Ok(response.tables)
    }

    /// Starts reading a snapshot back and checking it; answers at once with the job.
    pub async fn start_verify_backup(&self, request: VerifyBackupRequest) -> Result<Job, ClientError> {
        let response: JobResponse = self.transport.call_json(VERIFY_BACKUP, &request).await?;
        Ok(response.job)
    }

    /// Checks the snapshot `backup` wrote, in its repository, and waits for the
    /// check. A check that fails or finds damage is a [`ClientError::Job`], as is
    /// a `backup` that is not a backup job with a snapshot.
    #[doc(alias = "VerifyBackup")]
    pub async fn verify_backup(&self, backup: &Job) -> Result<Job, ClientError> {
        let Some(RecoveryPoint { from, target: RecoveryTarget::Snapshot(snapshot) }) = RecoveryPoint::of_backup(backup)
        else {
            let message = format!("job {} is not a backup that wrote a snapshot", backup.id);
            return Err(ClientError::Job { action: VERIFY_BACKUP.name, message, job: Box::new(backup.clone()) });
        };
        let job = self.start_verify_backup(VerifyBackupRequest { from, snapshot: Some(snapshot) }).await?;
        succeeded(VERIFY_BACKUP.name, self.wait(job).await?)
    }

    /// Starts a restore as sent (target table, overwrite); answers at once with the job.
    #[doc(alias = "StartRestore")]
    pub async fn start_restore(&self, request: StartRestoreRequest) -> Result<Job, ClientError> {
        let response: JobResponse = self.transport.call_json(START_RESTORE, &request).await?;
        Ok(response.job)
    }

    /// Restores `table` to `point` into a new table, which the server names
    /// `<table>_restored_<yyyymmddThhmmss>` (the job's `target_table`), and waits
    /// for the restore. A restore that fails is a [`ClientError::Job`].
    pub async fn recover(&self, table: &str, point: &RecoveryPoint) -> Result<Job, ClientError> {
        let (snapshot, time_ms) = match &point.target {
            RecoveryTarget::Snapshot(id) => (Some(id.clone()), None),
            RecoveryTarget::Time(ms) => (None, Some(*ms)),
        };
        let request = StartRestoreRequest {
            from: point.from.clone(),
            table: table.to_owned(),
            snapshot,
            time_ms,
            target: None,
            overwrite: false,
        };
        let job = self.start_restore(request).await?;
        succeeded(START_RESTORE.name, self.wait(job).await?)
    }

    /// Starts comparing the table a restore job wrote with what it wrote; answers
    /// at once with the job.
    pub async fn start_verify_restore(&self, restore_job_id: &str) -> Result<Job, ClientError> {
        let request = VerifyRestoreRequest { job_id: restore_job_id.to_owned() };
        let response: JobResponse = self.transport.call_json(VERIFY_RESTORE, &request).await?;
        Ok(response.job)
    }

    /// Compares the table `restore` wrote with the digest it wrote, and waits. A
    /// table that differs (or a check that fails) is a [`ClientError::Job`].
    #[doc(alias = "VerifyRestore")]
    pub async fn verify_recovery(&self, restore: &Job) -> Result<Job, ClientError> {
        let job = self.start_verify_restore(&restore.id).await?;
        succeeded(VERIFY_RESTORE.name, self.wait(job).await?)
    }

    /// Jobs, newest first (100 unless the request says otherwise).
    #[doc(alias = "ListJobs")]
    pub async fn list_jobs(&self, request: ListJobsRequest) -> Result<Vec<Job>, ClientError> {
        let response: ListJobsResponse = self.transport.call_json(LIST_JOBS, &request).await?;
        Ok(response.jobs)
    }

    /// One job as it is now (`OTSObjectNotExist` for an unknown id).
    #[doc(alias = "DescribeJob")]
    pub async fn describe_job(&self, id: &str) -> Result<Job, ClientError> {
        let request = JobIdRequest { job_id: id.to_owned() };
        let response: JobResponse = self.transport.call_json(DESCRIBE_JOB, &request).await?;
        Ok(response.job)
    }

    /// Attaches a description, tags or protection to a snapshot (the newest, of
    /// a table if the request names one, unless it names a snapshot) and returns
    /// the snapshot as it is now. A protected snapshot is kept by retention and
    /// `forget` until unprotected.
    #[doc(alias = "UpdateSnapshotInfo")]
    pub async fn update_snapshot_info(&self, request: UpdateSnapshotInfoRequest) -> Result<SnapshotInfo, ClientError> {
        let response: SnapshotInfoResponse = self.transport.call_json(UPDATE_SNAPSHOT_INFO, &request).await?;
        Ok(response.snapshot)
    }

    /// Records a note and an outcome on a finished job (a recovery's, say), and
    /// returns the job.
    #[doc(alias = "UpdateJobNote")]
    pub async fn update_job_note(&self, request: UpdateJobNoteRequest) -> Result<Job, ClientError> {
        let response: JobResponse = self.transport.call_json(UPDATE_JOB_NOTE, &request).await?;
        Ok(response.job)
    }

    /// Describes job `id` every `poll` until it has ended, and returns it as it
    /// ended, whatever the outcome (check `state`). There is no time limit; wrap
    /// the call in `tokio::time::timeout` for one.
    pub async fn wait_for_job(&self, id: &str, poll: Duration) -> Result<Job, ClientError> {
        loop {
            let job = self.describe_job(id).await?;
            if job.is_finished() {
                return Ok(job);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// `job` once it has ended, polling quickly at first and then up to once a second.
    async fn wait(&self, mut job: Job) -> Result<Job, ClientError> {
        let mut poll = FIRST_POLL;
        while !job.is_finished() {
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(LONGEST_POLL);
            job = self.describe_job(&job.id).await?;
        }
        Ok(job)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::backup_api::{SnapshotPoint, TimeSpan};

    use super::*;

    #[test]
    fn the_seed_policy_reads_as_a_plan() {
        let policy = BackupPolicy::new("hourly", "72 hours", "backup_bucket").named("users").tables(["users"]);
        let plan: Plan = policy.clone().into();
        assert_eq!(
            plan,
            Plan {
                name: "users".into(),
                tables: vec!["users".into()],
                every: Some("1h".into()),
                keep_within: Some("72h".into()),
                destination: "backup_bucket".into(),
                ..Plan::default()
            }
        );
        assert_eq!(&*policy, &plan);
        assert!(plan.enabled);
    }

    #[test]
    fn frequencies_are_words_durations_or_cron() {
        let cases = [
            ("hourly", Some("1h"), None),
            ("Daily", Some("1d"), None),
            ("weekly", Some("7d"), None),
            ("15m", Some("15m"), None),
            ("every 6 hours", Some("6h"), None),
            ("90 seconds", Some("90s"), None),
            ("an hour", Some("1h"), None),
            ("every day", Some("1d"), None),
            ("0 3 * * *", None, Some("0 3 * * *")),
            ("0 0 3 * * *", None, Some("0 0 3 * * *")),
            ("fortnightly", Some("fortnightly"), None),
        ];
        for (words, every, cron) in cases {
            let (e, c) = schedule(words);
            assert_eq!((e.as_deref(), c.as_deref()), (every, cron), "{words}");
        }
    }

    #[test]
    fn retentions_are_durations_in_plan_form() {
        for (words, plan) in [("72h", "72h"), ("72 hours", "72h"), ("7 days", "7d"), ("2 weeks", "14d"), ("1 hr", "1h")]
        {
            assert_eq!(BackupPolicy::new("hourly", words, "d").keep_within.as_deref(), Some(plan), "{words}");
        }
        assert_eq!(BackupPolicy::new("hourly", " forever ", "d").keep_within.as_deref(), Some("forever"));
        assert_eq!(duration("h"), None);
        assert_eq!(duration("99999999999999999999h"), None);
    }

    #[test]
    fn recovery_points_carry_their_repository() {
        let points = RecoveryPoints {
            from: destination_of("bucket"),
            points: TableRecoveryPoints {
                table: "users".into(),
                snapshots: vec![
                    SnapshotPoint { snapshot: "aaa".into(), time_ms: 10, exact: true },
                    SnapshotPoint { snapshot: "bbb".into(), time_ms: 20, exact: true },
                ],
                spans: vec![TimeSpan { from_ms: 20, to_ms: 30 }],
                ..TableRecoveryPoints::default()
            },
        };
        assert_eq!(points.latest_snapshot(), Some(RecoveryPoint::snapshot("bucket", "bbb")));
        assert_eq!(points.at_time(25), Some(RecoveryPoint::time("bucket", 25)));
        assert_eq!(points.at_time(31), None);
        assert_eq!(points.snapshots.len(), 2);
    }

    #[test]
    fn a_backup_job_is_a_recovery_point_and_other_jobs_are_not() {
        let backup = Job {
            id: "j1".into(),
            snapshot: Some("abc".into()),
            destination: "bucket".into(),
            state: JobState::Succeeded,
            ..Job::default()
        };
        assert_eq!(RecoveryPoint::of_backup(&backup), Some(RecoveryPoint::snapshot("bucket", "abc")));
        let planned = Job { destination: String::new(), plan: Some("nightly".into()), ..backup.clone() };
        let from = RecoveryPoint::of_backup(&planned).unwrap().from;
        assert_eq!(from, Destination { plan: Some("nightly".into()), destination: None });
        let restore = Job { kind: JobKind::Restore, ..backup.clone() };
        assert_eq!(RecoveryPoint::of_backup(&restore), None);
        assert_eq!(RecoveryPoint::of_backup(&Job { snapshot: None, ..backup }), None);
    }

    #[test]
    fn only_succeeded_jobs_whose_check_passed_are_returned() {
        let ok = Job { id: "j".into(), state: JobState::Succeeded, verified: Some(true), ..Job::default() };
        assert!(succeeded("VerifyBackup", ok.clone()).is_ok());
        let failed = Job { state: JobState::Failed, error: Some("repository unreachable".into()), ..ok.clone() };
        let err = succeeded("StartBackup", failed).unwrap_err();
        assert_eq!(err.to_string(), "StartBackup failed: job=j state=failed: repository unreachable");
        assert_eq!(err.job().map(|j| j.id.as_str()), Some("j"));
        assert_eq!(err.action(), Some("StartBackup"));
        let differs = Job { verified: Some(false), ..ok };
        let err = succeeded("VerifyRestore", differs).unwrap_err();
        assert!(err.to_string().contains("state=succeeded: the check found a difference"), "{err}");
    }

    #[test]
    fn requests_encode_as_the_server_decodes_them() {
        let request = ListRecoveryPointsRequest { from: destination_of("b"), table: Some("users".into()) };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json, serde_json::json!({"plan": null, "destination": "b", "table": "users"}));
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
    }
}
