//! The backup management API: TableSafe's own actions on the signed Tablestore
//! protocol (`POST /<Action>`, the same headers, signatures and error bodies), with
//! JSON request and response bodies, since no SDK has messages for them
//! (docs/API.md, "Backup API"). The server decodes these types and the client
//! encodes them, so both sides share one definition.
//!
//! Invariants: every field a request may omit has a serde default, so a request
//! written by an older client still decodes; times are milliseconds since the
//! epoch (UTC); a [`Plan`] is the same value in the TOML plan file and on the wire.

use serde::{Deserialize, Serialize};

/// The backup API's actions, in the order docs/API.md lists them.
pub const ACTIONS: [&str; 15] = [
    "CreateBackupPlan",
    "UpdateBackupPlan",
    "DeleteBackupPlan",
    "ListBackupPlans",
    "DescribeBackupPlan",
    "StartBackup",
    "ListSnapshots",
    "ListRecoveryPoints",
    "VerifyBackup",
    "StartRestore",
    "VerifyRestore",
    "ListJobs",
    "DescribeJob",
    "UpdateSnapshotInfo",
    "UpdateJobNote",
];

/// A backup plan: what to back up, when, where to, and how long to keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plan {
    /// Unique name: letters, digits, `-` and `_`.
    pub name: String,
    /// Table names or glob patterns (`*`, `?`); empty means every table.
    pub tables: Vec<String>,
    /// Run every this long (`90s`, `15m`, `1h`, `1d`); exclusive with `cron`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Run at the times of this cron expression (5 fields, or 6 with seconds) in `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron` and of calendar retention buckets; UTC by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The repository: a path (relative paths are inside the server's data
    /// directory) or a URL (`s3://`, `oss://`, `gcs://`, `azblob://`, `file://`).
    pub destination: String,
    /// Keep the newest N snapshots of this plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep every snapshot of this plan younger than this (`72h`, `7d`), counted from its newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<String>,
    /// Keep the newest snapshot of each of the last N hours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// After each backup, every chunk the snapshot names (through the layers it
    /// builds on) is checked to be stored; this share of them (0 to 100), chosen
    /// at random, is also read back, decrypted and authenticated; at 100 every
    /// table's rows are also decoded and checked against its digest.
    pub verify_data_percent: u8,
    /// Also archive the change streams of the plan's tables continuously, for
    /// restores to any point in time.
    pub archive: bool,
    /// Scheduled runs happen only while enabled; StartBackup runs it either way.
    pub enabled: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            name: String::new(),
            tables: Vec::new(),
            every: None,
            cron: None,
            timezone: None,
            destination: String::new(),
            keep_last: None,
            keep_within: None,
            keep_hourly: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            verify_data_percent: 0,
            archive: false,
            enabled: true,
        }
    }
}

/// The plan file: `[[plans]]` tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanFile {
    /// The plans, in the order they were created.
    pub plans: Vec<Plan>,
}

/// A plan with what the scheduler knows of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanStatus {
    /// The plan.
    pub plan: Plan,
    /// When it runs next (absent while disabled or running).
    pub next_run_ms: Option<i64>,
    /// Whether a run is under way.
    pub running: bool,
    /// Its latest run.
    pub last_run: Option<Job>,
    /// When its latest successful run ended.
    pub last_success_ms: Option<i64>,
}

/// What a job does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// A backup (then retention, then verification).
    #[default]
    Backup,
    /// A check of a snapshot's data in the repository.
    VerifyBackup,
    /// A restore of one table.
    Restore,
    /// A comparison of a restored table with what its restore wrote.
    VerifyRestore,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Under way.
    #[default]
    Running,
    /// Done.
    Succeeded,
    /// Ended with an error (`error` says which).
    Failed,
    /// The server stopped while it ran.
    Interrupted,
}

/// Why a job ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobTrigger {
    /// Asked for through the API.
    #[default]
    Request,
    /// Its plan's schedule came due.
    Schedule,
    /// The first run after the server was down past a due time.
    CatchUp,
    /// A retry of a failed scheduled run.
    Retry,
}

/// One backup, restore or verification job, finished or under way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Job {
    /// Job id.
    pub id: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// Why it ran.
    pub trigger: JobTrigger,
    /// The plan it ran for.
    pub plan: Option<String>,
    /// 1 for a first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// Start (ms since the epoch).
    pub started_ms: i64,
    /// End (ms since the epoch), once finished.
    pub finished_ms: Option<i64>,
    /// The repository, as the plan or request named it.
    pub destination: String,
    /// Tables involved.
    pub tables: Vec<String>,
    /// Rows handled so far.
    pub rows: u64,
    /// The rows expected, when known (for progress).
    pub rows_total: Option<u64>,
    /// Bytes added to the repository (backup) or read from it.
    pub bytes: u64,
    /// The snapshot written (backup) or read (restore, verification).
    pub snapshot: Option<String>,
    /// The table written by a restore, or compared by a restore's verification.
    pub target_table: Option<String>,
    /// The point in time restored to, for a restore to a time.
    pub to_time_ms: Option<i64>,
    /// Digest of the restored table (restore), or of the snapshot's table.
    pub digest: Option<String>,
    /// The restore job a VerifyRestore job checks.
    pub restore_job: Option<String>,
    /// Outcome of a verification (VerifyBackup, VerifyRestore, or a backup's own check).
    pub verified: Option<bool>,
    /// Snapshots the plan's retention removed after this backup.
    pub forgotten: Vec<String>,
    /// What went wrong, for a failed job.
    pub error: Option<String>,
    /// Where a verification found the table differing from what it should
    /// hold, one line each: rows missing, extra or different (with the first
    /// keys), then the differing key ranges.
    pub differences: Vec<String>,
    /// Notes a person recorded about the job (UpdateJobNote), e.g. of a recovery.
    pub note: Option<String>,
    /// The outcome a person recorded (UpdateJobNote), e.g. `accepted`.
    pub outcome: Option<String>,
}

impl Job {
    /// Whether the job has ended, one way or the other.
    pub fn is_finished(&self) -> bool {
        self.state != JobState::Running
    }
}

/// CreateBackupPlan and UpdateBackupPlan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanRequest {
    /// The plan, whole (an update replaces the stored plan of that name).
    pub plan: Plan,
}

/// DeleteBackupPlan and DescribeBackupPlan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanNameRequest {
    /// The plan's name.
    pub name: String,
}

/// ListBackupPlans's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListBackupPlansResponse {
    /// Every plan, in file order.
    pub plans: Vec<PlanStatus>,
}

/// StartBackup: run a plan now, or back up once under an ad-hoc policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartBackupRequest {
    /// The plan to run now (its tables, destination, retention and verification).
    pub plan: Option<String>,
    /// A policy for this one backup when no plan is named (its schedule is ignored).
    pub policy: Option<Plan>,
    /// Tables (names or patterns) instead of the plan's or policy's.
    pub tables: Vec<String>,
}

/// Which repository a listing or verification reads: a plan's destination, or a
/// destination given as in a plan; the default plan's when neither is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Destination {
    /// A plan whose destination to read.
    pub plan: Option<String>,
    /// A destination, written as in a plan.
    pub destination: Option<String>,
}

/// ListSnapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListSnapshotsRequest {
    /// The repository.
    #[serde(flatten)]
    pub from: Destination,
    /// Only snapshots made by this plan.
    pub only_plan: Option<String>,
    /// Only snapshots carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only snapshots holding this table.
    pub table: Option<String>,
}

/// One table of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotTable {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// Cell versions.
    pub cells: u64,
    /// Serialized bytes of the table's data.
    pub data_bytes: u64,
    /// `exact` or `fuzzy`.
    pub consistency: String,
    /// Stream position it is consistent at, for a table with a stream.
    pub stream_position: Option<u64>,
    /// Digest of the table's rows.
    pub digest: String,
}

/// One snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: String,
    /// When the backup started.
    pub time_ms: i64,
    /// The plan that made it, if any.
    pub plan: Option<String>,
    /// Where its tables were read from.
    pub origin: String,
    /// Its tables.
    pub tables: Vec<SnapshotTable>,
    /// Bytes this backup added to the repository.
    pub added_bytes: u64,
    /// What a person wrote about it (UpdateSnapshotInfo).
    pub description: Option<String>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Kept by retention and forget until unprotected.
    pub protected: bool,
    /// The outcome of the newest VerifyBackup job of this server that checked
    /// it; `None` when none did.
    pub verified: Option<bool>,
}

/// UpdateSnapshotInfo: notes attached to a snapshot to find it again; what is
/// absent stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSnapshotInfoRequest {
    /// The repository.
    #[serde(flatten)]
    pub from: Destination,
    /// Snapshot id, a unique prefix of it, or `latest` (the default).
    pub snapshot: Option<String>,
    /// With `latest`: the newest snapshot holding this table.
    pub table: Option<String>,
    /// A new description (empty removes it).
    pub description: Option<String>,
    /// The tags, replacing the present ones.
    pub tags: Option<Vec<String>>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// Protect (retention and forget keep it) or unprotect.
    pub protected: Option<bool>,
}

/// UpdateSnapshotInfo's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotInfoResponse {
    /// The snapshot as it is now.
    pub snapshot: SnapshotInfo,
}

/// UpdateJobNote: what a person records about a job (a recovery's outcome).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateJobNoteRequest {
    /// The job's id (or a unique prefix).
    pub job_id: String,
    /// Notes, replacing earlier ones.
    pub note: Option<String>,
    /// The outcome, replacing an earlier one.
    pub outcome: Option<String>,
}

/// ListSnapshots's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListSnapshotsResponse {
    /// Oldest first.
    pub snapshots: Vec<SnapshotInfo>,
}

/// ListRecoveryPoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListRecoveryPointsRequest {
    /// The repository.
    #[serde(flatten)]
    pub from: Destination,
    /// Only this table.
    pub table: Option<String>,
}

/// A span of time any millisecond of which a table can be restored to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeSpan {
    /// First restorable time.
    pub from_ms: i64,
    /// Last restorable time.
    pub to_ms: i64,
}

/// A span the archive does not cover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeGap {
    /// Start of the gap.
    pub from_ms: i64,
    /// End of the gap.
    pub to_ms: i64,
    /// Why.
    pub cause: String,
}

/// A snapshot as a recovery point of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotPoint {
    /// Snapshot id.
    pub snapshot: String,
    /// When the backup started.
    pub time_ms: i64,
    /// Whether the copy is exact (one consistent state) rather than fuzzy.
    pub exact: bool,
}

/// The recovery points of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableRecoveryPoints {
    /// Table name.
    pub table: String,
    /// Snapshots holding it, oldest first.
    pub snapshots: Vec<SnapshotPoint>,
    /// Spans restorable to any millisecond (snapshot plus archived changes).
    pub spans: Vec<TimeSpan>,
    /// Gaps in the archive.
    pub gaps: Vec<TimeGap>,
    /// Notes (e.g. why a snapshot cannot start a point-in-time restore).
    pub notes: Vec<String>,
}

/// ListRecoveryPoints's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListRecoveryPointsResponse {
    /// One entry per table, by name.
    pub tables: Vec<TableRecoveryPoints>,
}

/// VerifyBackup: check a snapshot's data in the repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyBackupRequest {
    /// The repository.
    #[serde(flatten)]
    pub from: Destination,
    /// The snapshot (a unique id prefix); the newest when absent.
    pub snapshot: Option<String>,
}

/// StartRestore: restore one table to a snapshot or to a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartRestoreRequest {
    /// The repository.
    #[serde(flatten)]
    pub from: Destination,
    /// The table in the backups.
    pub table: String,
    /// Restore this snapshot (a unique id prefix).
    pub snapshot: Option<String>,
    /// Or restore the table as it was at this time (needs archived changes past a snapshot).
    pub time_ms: Option<i64>,
    /// The table to write; a new `<table>_restored_<yyyymmddThhmmss>` when absent.
    pub target: Option<String>,
    /// Write into an existing table with rows.
    pub overwrite: bool,
}

/// VerifyRestore: compare the table a restore wrote with what it wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyRestoreRequest {
    /// The restore job.
    pub job_id: String,
}

/// ListJobs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListJobsRequest {
    /// Only jobs of this plan.
    pub plan: Option<String>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// At most this many, newest first (100 by default).
    pub limit: Option<u32>,
}

/// ListJobs's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListJobsResponse {
    /// Newest first.
    pub jobs: Vec<Job>,
}

/// DescribeJob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobIdRequest {
    /// The job's id.
    pub job_id: String,
}

/// The answer of actions that start or describe one job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobResponse {
    /// The job.
    pub job: Job,
}

/// The answer of actions with nothing to say (DeleteBackupPlan).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}
