//! Command-line arguments (raw, as typed) and logging set-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// TableSafe: a Tablestore-compatible table store with backup and point-in-time restore.
#[derive(Debug, Parser)]
#[command(name = "tablesafe", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TABLESAFE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `tablesafe_server=debug` (RUST_LOG syntax).
    #[arg(long, global = true, env = "TABLESAFE_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Tablestore-compatible server on a local data directory.
    Serve(ServeArgs),
    /// Manage backup repositories.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Back up tables into a repository as a new snapshot.
    Backup(BackupArgs),
    /// List the snapshots of a repository.
    Snapshots(SnapshotsArgs),
    /// Check a repository's index and packs; with --read-data, every byte of data.
    Verify(VerifyArgs),
    /// Restore one table of a snapshot, or (--to-time) as it was at a time.
    Restore(RestoreArgs),
    /// Compare a live table with a table of a snapshot (e.g. after a restore).
    VerifyRestore(VerifyRestoreArgs),
    /// Print one row of a table of a snapshot, with every version of its cells.
    Get(GetArgs),
    /// Write every row of a table of a snapshot as JSON lines.
    Export(ExportArgs),
    /// Rows added, removed and changed per table between two snapshots.
    Diff(DiffArgs),
    /// Remove snapshots from the catalog (their data stays until `prune`).
    Forget(ForgetArgs),
    /// Attach a description, tags or protection to a snapshot, to find it again
    /// and keep it from retention.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Delete the data no snapshot references any more.
    Prune(PruneArgs),
    /// List the jobs run on a repository (backups, restores, checks, forget, prune);
    /// `tablesafe job list` lists a running server's backup jobs instead.
    Jobs(JobsArgs),
    /// Keep tables' changes in a repository, continuously, for `restore --to-time`.
    Archive(ArchiveArgs),
    /// List the times each table can be restored to (`restore --to-time`).
    RecoveryPoints(RecoveryPointsArgs),
    /// Manage the backup plans of a running `tablesafe serve` and run them now:
    /// create, update, delete, list, show, run, snapshots, points, verify, restore.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// The job history of a running `tablesafe serve`'s backup service (plan runs,
    /// restores, checks); `tablesafe jobs --repo` lists a repository's own records.
    #[command(subcommand)]
    Job(JobCommand),
    /// Print a shell completion script, e.g. `tablesafe completions bash >
    /// /etc/bash_completion.d/tablesafe`.
    Completions(CompletionsArgs),
    /// Print a manual page (roff), e.g. `tablesafe man backup | man -l -`, or
    /// write every page into a directory (--dir) for packaging.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The (sub)command whose page to print, e.g. `plan create`; none for `tablesafe` itself.
    pub subcommand: Vec<String>,
    /// Write every page (tablesafe.1, tablesafe-backup.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding the tables and the access key file (created if missing).
    #[arg(long, env = "TABLESAFE_DATA_DIR", default_value = "tablesafe-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "TABLESAFE_LISTEN", default_value = "127.0.0.1:8800")]
    pub listen: SocketAddr,
    /// Instance name clients must use (3-16 letters, digits or '-').
    #[arg(long, env = "TABLESAFE_INSTANCE", default_value = "tablesafe")]
    pub instance: String,
    /// TOML file with `[[access_keys]]` entries (id, secret, and optionally role:
    /// admin, read-write, read-only or backup-operator; admin by default) to accept
    /// instead of the data directory's key file.
    #[arg(long, env = "TABLESAFE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve the Prometheus metrics (GET /metrics) on this address instead of on
    /// the API listener.
    #[arg(long, value_name = "ADDR", env = "TABLESAFE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the web console (backups, jobs, recovery timelines, restore) on this
    /// address [default: 127.0.0.1:8801; when that is taken, the server starts
    /// without the console and says so].
    #[arg(long, value_name = "ADDR", env = "TABLESAFE_CONSOLE_LISTEN", conflicts_with = "no_console")]
    pub console_listen: Option<SocketAddr>,
    /// Serve no web console.
    #[arg(long)]
    pub no_console: bool,
    /// Connections served at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = tablesafe_server::MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Acknowledge writes before the WAL is fsynced (faster; loses recent writes on
    /// power failure, never on a process crash).
    #[arg(long)]
    pub no_fsync: bool,
    /// Keep every stream-enabled table's changes in this repository as they happen,
    /// for `restore --to-time` (see `tablesafe backup --help` for URLs). Opened
    /// with TABLESAFE_PASSWORD, --password-file or --identity-file.
    #[arg(long, value_name = "URL", env = "TABLESAFE_ARCHIVE_TO", hide_env_values = true)]
    pub archive_to: Option<String>,
    /// Time between archiver passes: about the most recent writes a crash of the
    /// whole machine could cost the archive.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub archive_interval: Duration,
    /// File whose first line is the password of every plan's repository and of
    /// the --archive-to repository (instead of TABLESAFE_PASSWORD).
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// File of age identities that open every plan's repository and the
    /// --archive-to repository; may be repeated.
    #[arg(long, value_name = "PATH", env = "TABLESAFE_IDENTITY_FILE")]
    pub identity_file: Vec<PathBuf>,
    /// The backup plan file (TOML, `[[plans]]`); `<data-dir>/backup-plans.toml` by
    /// default. When it does not exist it is created with the default plan: every
    /// table, hourly, kept 72 hours, into `<data-dir>/backups`.
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PLANS")]
    pub plans: Option<PathBuf>,
    /// Directory that backup destinations named without a path (`backups`, the
    /// default plan's) are kept under; the data directory by default. Point it at
    /// another disk so that one lost disk does not lose the data and its backups.
    #[arg(long, value_name = "DIR", env = "TABLESAFE_BACKUP_ROOT")]
    pub backup_root: Option<PathBuf>,
    /// A URL (`s3://bucket/prefix`) or absolute path that API requests may name as
    /// a destination, with everything below it; may be repeated. Requests may
    /// otherwise name only destinations under --backup-root and those of plans in
    /// the plan file.
    #[arg(long, value_name = "URL|PATH")]
    pub allow_destination: Vec<String>,
    /// Run no backup service: no plans, no scheduler, and the backup API answers
    /// that backups are not enabled.
    #[arg(long)]
    pub no_backups: bool,
    /// How backup work shares the cores with requests: `idle` runs it only on
    /// cores requests leave idle (Linux SCHED_IDLE) and never on the first core;
    /// on a server that is busy all the time, `low` (10 nice steps down) still
    /// gives backups a share.
    #[arg(long, value_enum, value_name = "PRIORITY", default_value_t = BackupPriority::Idle, env = "TABLESAFE_BACKUP_PRIORITY")]
    pub backup_priority: BackupPriority,
}

/// `serve --backup-priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupPriority {
    /// Only on cores that requests leave idle, never on the first.
    Idle,
    /// 10 nice steps below requests.
    Low,
    /// As requests.
    Normal,
}

impl From<BackupPriority> for tablesafe_backup::service::JobPriority {
    fn from(priority: BackupPriority) -> Self {
        match priority {
            BackupPriority::Idle => Self::Idle,
            BackupPriority::Low => Self::Low,
            BackupPriority::Normal => Self::Normal,
        }
    }
}

impl ServeArgs {
    /// The archive repository, when one is given.
    pub fn archive_repo(&self) -> Option<RepoArgs> {
        self.archive_to.as_ref().map(|url| RepoArgs {
            repo: url.clone(),
            password_file: self.password_file.clone(),
            identity_file: self.identity_file.clone(),
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository at an empty location. It opens with the password
    /// (TABLESAFE_PASSWORD or --password-file) and with the identities of the
    /// --recipient keys; at least one of them is required.
    Init(RepoInitArgs),
    /// What a repository holds: stored and logical size, compression and dedup
    /// ratios, packs, chunks, snapshots and archived changes.
    Stats(RepoStatsArgs),
    /// The keys that open a repository: list, add, remove, passwd. A change
    /// rewrites one key file, never the data.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the key files: id, access (full or write-only), password or age, and
    /// which one opened the repository now.
    List(RepoStatsArgs),
    /// Add a key: a new password (TABLESAFE_NEW_PASSWORD or --new-password-file)
    /// or age recipients (--recipient).
    Add(KeyAddArgs),
    /// Remove a key by id (or a unique prefix); not the one opening the
    /// repository now, nor the last that can read its data.
    Remove(KeyRemoveArgs),
    /// Change the password: the password key that opened the repository is
    /// replaced by one under the new password (TABLESAFE_NEW_PASSWORD or
    /// --new-password-file); the old password no longer opens it.
    Passwd(KeyPasswdArgs),
}

#[derive(Debug, Args)]
pub struct NewPasswordArgs {
    /// File whose first line is the new password (instead of TABLESAFE_NEW_PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeyAddArgs {
    /// Seal the new key to this age recipient (age1...) instead of a password; may be repeated.
    #[arg(long, value_name = "AGE-RECIPIENT")]
    pub recipient: Vec<String>,
    /// With --recipient: a key that adds backups but cannot read rows.
    #[arg(long, requires = "recipient")]
    pub write_only: bool,
    #[command(flatten)]
    pub new_password: NewPasswordArgs,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct KeyRemoveArgs {
    /// The key's id, or a unique prefix of it (`repo key list` shows them).
    pub id: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct KeyPasswdArgs {
    #[command(flatten)]
    pub new_password: NewPasswordArgs,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RepoStatsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where the repository is and what opens it. The password is never a flag: it
/// comes from a file or from the environment variable TABLESAFE_PASSWORD.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Repository location: a directory, file:///path, s3://bucket/prefix,
    /// oss://bucket/prefix, gcs://bucket/prefix or azblob://container/prefix
    /// (credentials come from the provider's usual environment variables).
    #[arg(long, value_name = "URL", env = "TABLESAFE_REPO", hide_env_values = true)]
    pub repo: String,
    /// File whose first line is the repository password (instead of TABLESAFE_PASSWORD).
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// File of age identities (AGE-SECRET-KEY-1... lines, as age-keygen writes)
    /// that open the repository; may be repeated.
    #[arg(long, value_name = "PATH", env = "TABLESAFE_IDENTITY_FILE")]
    pub identity_file: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RepoInitArgs {
    /// Repository location (see `tablesafe backup --help`).
    #[arg(long, value_name = "URL", env = "TABLESAFE_REPO", hide_env_values = true)]
    pub repo: String,
    /// File whose first line is the password that will open the repository
    /// (instead of TABLESAFE_PASSWORD).
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// age public key (age1...) whose identity opens everything; may be repeated.
    #[arg(long, value_name = "AGE_RECIPIENT")]
    pub recipient: Vec<String>,
    /// age public key whose identity can add backups but read no table data (for
    /// hosts that write backups); may be repeated.
    #[arg(long, value_name = "AGE_RECIPIENT")]
    pub write_only_recipient: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print one JSON document on stdout instead of text (and no progress bars).
    #[arg(long)]
    pub json: bool,
}

/// Where tables are read from: a local data directory whose server is stopped, or
/// a running Tablestore endpoint (access key from TABLESAFE_ACCESS_KEY_ID and
/// TABLESAFE_ACCESS_KEY_SECRET).
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(ArgGroup::new("source").required(true).args(["data_dir", "endpoint"])))]
pub struct SourceArgs {
    /// Data directory of a stopped `tablesafe serve` (its tables are read directly,
    /// consistently).
    #[arg(long, value_name = "DIR", conflicts_with = "instance")]
    pub data_dir: Option<PathBuf>,
    /// Tablestore endpoint, e.g. http://127.0.0.1:8800 (a running TableSafe or
    /// Alibaba Cloud Tablestore).
    #[arg(long, value_name = "URL", requires = "instance")]
    pub endpoint: Option<String>,
    /// Instance name at --endpoint.
    #[arg(long, value_name = "NAME", requires = "endpoint")]
    pub instance: Option<String>,
}

/// Where a table is restored to: as [`SourceArgs`], with `--to` for the endpoint.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(ArgGroup::new("destination").required(true).args(["data_dir", "to"])))]
pub struct TargetArgs {
    /// Data directory of a stopped `tablesafe serve`; it must exist unless --create.
    #[arg(long, value_name = "DIR", conflicts_with = "instance")]
    pub data_dir: Option<PathBuf>,
    /// Create the --data-dir when it does not exist (a new, empty TableSafe).
    #[arg(long, requires = "data_dir")]
    pub create: bool,
    /// Tablestore endpoint to restore through, e.g. http://127.0.0.1:8800 (`--to`
    /// is accepted too).
    #[arg(long = "endpoint", id = "to", value_name = "URL", requires = "instance", visible_alias = "to")]
    pub to: Option<String>,
    /// Instance name at --endpoint.
    #[arg(long, value_name = "NAME", requires = "to")]
    pub instance: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Table to back up; may be repeated (default: every table).
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Show this one snapshot in full (its tables, rows, bytes, what it adds and
    /// the snapshot each table's layer builds on): an id, a unique prefix of it,
    /// or `latest`.
    pub id: Option<String>,
    /// List only the snapshots carrying this tag; may be repeated (all of them).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Set a snapshot's description or add and remove its tags.
    Tag(SnapshotTagArgs),
    /// Keep a snapshot from every retention rule and from `forget` until unprotected.
    Protect(SnapshotIdArgs),
    /// Let retention and `forget` remove a snapshot again.
    Unprotect(SnapshotIdArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotIdArgs {
    /// Snapshot id, a unique prefix of it, or `latest`.
    #[arg(value_name = "SNAPSHOT")]
    pub id: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SnapshotTagArgs {
    #[command(flatten)]
    pub snapshot: SnapshotIdArgs,
    /// Add this tag (letters, digits, _ - . : / =); may be repeated.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Remove this tag; may be repeated.
    #[arg(long, value_name = "TAG")]
    pub untag: Vec<String>,
    /// Set the description (an empty one removes it).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Also read every pack whole and authenticate every chunk (reads the whole
    /// repository; needs a key that can read data).
    #[arg(long)]
    pub read_data: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Snapshot id, a unique prefix of it (`tablesafe snapshots` lists them), or
    /// `latest` for the newest holding the table; not with --to-time.
    #[arg(value_name = "SNAPSHOT", required_unless_present = "to_time", conflicts_with = "to_time")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Table of the snapshot to restore.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Restore the table as it was at this time instead of a snapshot: RFC 3339
    /// (e.g. 2026-11-24T20:00:44.123Z) or milliseconds since the epoch. Uses the
    /// newest exact snapshot before it and the changes `tablesafe archive` kept
    /// (`tablesafe recovery-points` lists the times that can be restored).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "table")]
    pub to_time: Option<i64>,
    /// With --to-time: use only snapshots and archives from this origin (as
    /// `tablesafe recovery-points` names it).
    // clap takes a requirement that conflicts with an argument given as met, so
    // `SNAPSHOT --origin X` needs the conflict spelled out.
    #[arg(long, value_name = "ORIGIN", requires = "to_time", conflicts_with = "snapshot")]
    pub origin: Option<String>,
    /// Name of the restored table (default: the original name).
    #[arg(long = "as", value_name = "NEW")]
    pub target: Option<String>,
    /// Restore into an existing table that holds rows (rows with the same key are
    /// replaced; other rows stay).
    #[arg(long)]
    pub overwrite: bool,
    /// Keep the partly restored table if the restore fails (default: drop it).
    #[arg(long)]
    pub keep_partial: bool,
    #[command(flatten)]
    pub target_tables: TargetArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct VerifyRestoreArgs {
    /// Snapshot id, a unique prefix of it, or `latest` for the newest holding the table.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Table of the snapshot to compare with.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Live table to compare (default: the same name as --table).
    #[arg(long, value_name = "NAME")]
    pub live: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A table of a snapshot to read, and the repository that holds it (`get`,
/// `export`).
#[derive(Debug, Args)]
#[group(skip)]
pub struct SnapshotTableArgs {
    /// Snapshot id, a unique prefix of it, or `latest` for the newest holding the table.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Table of the snapshot.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub from: SnapshotTableArgs,
    /// The row's primary key: every key column as name=value, comma-separated, e.g.
    /// `--key source=s1,n=7` (INTEGER as a decimal number, STRING as is, BINARY as
    /// hex).
    #[arg(long, value_name = "NAME=VALUE,...")]
    pub key: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older snapshot: an id, a unique prefix of it, or `latest`.
    pub old: String,
    /// The newer snapshot: an id, a unique prefix of it, or `latest`.
    pub new: String,
    /// Compare only this table.
    #[arg(long)]
    pub table: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub from: SnapshotTableArgs,
    /// File to write the rows to (default: stdout).
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// With --output, print a JSON summary on stdout instead of the row count on
    /// stderr (the rows are JSON lines either way).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("which")
        .required(true)
        .multiple(true)
        .args(["snapshots", "keep_last", "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"])
))]
pub struct ForgetArgs {
    /// Snapshot ids (or unique prefixes, or `latest`) to forget; or let --keep-* rules choose.
    #[arg(
        value_name = "SNAPSHOT",
        conflicts_with_all = ["keep_last", "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"]
    )]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Choose only among the snapshots carrying this tag (the --keep-* rules count
    /// those alone); may be repeated (all of them).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Keep the newest N snapshots (N >= 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// Keep every snapshot taken within this long of the newest one (72h, 30d, 1w).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub keep_within: Option<Duration>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months that have one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,
    /// Time zone the hours, days, weeks and months are counted in (IANA name).
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub timezone: String,
    /// Run `prune` afterwards, deleting the data of the forgotten snapshots.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where `archive` reads change streams from: as [`SourceArgs`] (`--from` is
/// accepted for `--endpoint`).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["data_dir", "from"])))]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Tablestore endpoint whose streams to archive, e.g. http://127.0.0.1:8800
    /// (access key from TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET).
    #[arg(long = "endpoint", id = "from", value_name = "URL", requires = "instance", visible_alias = "from")]
    pub from: Option<String>,
    /// Instance name at --endpoint.
    #[arg(long, value_name = "NAME", requires = "from")]
    pub instance: Option<String>,
    /// Data directory of a stopped `tablesafe serve` (read directly).
    #[arg(long, value_name = "DIR", conflicts_with = "instance")]
    pub data_dir: Option<PathBuf>,
    /// Table whose changes to archive; may be repeated (default: every table; a
    /// table without a client stream gets a change log the server keeps).
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    /// Time between passes, e.g. 1s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// An idle stream still gets an (empty) segment this often, so that its
    /// restorable window reaches the present; 0s (the default): every pass, one
    /// object rewritten in place (a longer heartbeat saves requests on object
    /// stores, and the window then lags by up to it).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Run one pass and exit (non-zero if it fails) instead of running until
    /// SIGINT or SIGTERM.
    #[arg(long)]
    pub once: bool,
    /// Print one JSON object per line for each segment written (JSON Lines).
    #[arg(long)]
    pub json: bool,
}

impl ArchiveArgs {
    /// The source flags as the other commands take them.
    pub fn source(&self) -> SourceArgs {
        SourceArgs { data_dir: self.data_dir.clone(), endpoint: self.from.clone(), instance: self.instance.clone() }
    }
}

#[derive(Debug, Args)]
pub struct RecoveryPointsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Only this table.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Which running `tablesafe serve` to talk to (access key from
/// TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET).
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Endpoint of the running `tablesafe serve`.
    #[arg(long, value_name = "URL", env = "TABLESAFE_ENDPOINT", default_value = "http://127.0.0.1:8800")]
    pub endpoint: String,
    /// Instance name at --endpoint.
    #[arg(long, value_name = "NAME", env = "TABLESAFE_INSTANCE", default_value = "tablesafe")]
    pub instance: String,
}

/// The backup plans of a running server, and what they run now. Plans live in
/// the server's plan file (`<data-dir>/backup-plans.toml`); these commands change
/// it through the backup API.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Create a backup plan: what to back up, how often, where to, how long to keep it.
    Create(PlanCreateArgs),
    /// Change a plan: only the settings given change.
    Update(PlanUpdateArgs),
    /// Delete a plan (its snapshots and job history stay).
    Delete(PlanNameArgs),
    /// List the plans with their next and last runs.
    List(PlanListArgs),
    /// Show one plan: its settings, next run, last run and last success.
    Show(PlanNameArgs),
    /// Back up a plan's tables now, with its destination, retention and check.
    Run(PlanRunArgs),
    /// List the snapshots of a plan (in its destination).
    Snapshots(PlanSnapshotsArgs),
    /// List where a plan's tables can be restored to: snapshots and restorable spans.
    Points(PlanPointsArgs),
    /// Read a snapshot of a plan's destination back and check it against its digests.
    Verify(PlanVerifyArgs),
    /// Restore one table from a plan's destination, into a new table by default.
    Restore(PlanRestoreArgs),
}

/// The settings `plan create` and `plan update` share.
#[derive(Debug, Args)]
pub struct PlanSettings {
    /// Run every this long: 90s, 15m, 1h, 1d (not with --cron).
    #[arg(long, value_name = "DURATION", conflicts_with = "cron")]
    pub every: Option<String>,
    /// Run at the times of a cron expression of 5 fields (or 6 with seconds), e.g.
    /// '0 3 * * *' (not with --every).
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// IANA time zone of --cron and of the hourly, daily, weekly and monthly
    /// retention buckets (default UTC).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// Table name or glob pattern (`*`, `?`) to back up; may be repeated (default:
    /// every table).
    #[arg(long, value_name = "PATTERN")]
    pub table: Vec<String>,
    /// Keep the newest N snapshots of the plan.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep every snapshot of the plan taken within this long of its newest (72h, 7d).
    #[arg(long, value_name = "AGE")]
    pub keep_within: Option<String>,
    /// Keep the newest snapshot of each of the last N hours.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// After each backup every chunk of the snapshot is checked to be stored; this
    /// percent of them (0 to 100) is also read back and authenticated (100: every
    /// table's rows are also checked against their digest).
    #[arg(long, value_name = "PCT")]
    pub verify_data: Option<u8>,
    /// Also archive the tables' changes continuously, for restores to any point in
    /// time (a table without a stream gets a change log the server keeps; its
    /// stream settings do not change).
    #[arg(long)]
    pub archive: bool,
    /// Run only when asked (`plan run`), not on the schedule.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("schedule").required(true).args(["every", "cron"])))]
pub struct PlanCreateArgs {
    /// Plan name: letters, digits, '-' and '_'.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The repository: a path (relative paths are inside the server's data
    /// directory; created on the first backup) or a URL (s3://, oss://, gcs://,
    /// azblob://, file://).
    #[arg(long, value_name = "DEST")]
    pub destination: String,
    #[command(flatten)]
    pub settings: PlanSettings,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanUpdateArgs {
    /// The plan to change.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// A new destination (see `plan create --help`).
    #[arg(long, value_name = "DEST")]
    pub destination: Option<String>,
    #[command(flatten)]
    pub settings: PlanSettings,
    /// Back up every table (drops the plan's --table patterns).
    #[arg(long, conflicts_with = "table")]
    pub all_tables: bool,
    /// Drop every --keep-* rule of the plan before applying the ones given.
    #[arg(long)]
    pub clear_retention: bool,
    /// Stop archiving the change streams.
    #[arg(long, conflicts_with = "archive")]
    pub no_archive: bool,
    /// Run on the schedule again.
    #[arg(long, conflicts_with = "disabled")]
    pub enabled: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanNameArgs {
    /// The plan's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanListArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanRunArgs {
    /// The plan to run.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Table name or pattern to back up instead of the plan's; may be repeated.
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    /// Wait for the backup to end and print its outcome (exit 1 if it failed).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanSnapshotsArgs {
    /// The plan.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Also list the snapshots other plans or commands keep in the same destination.
    #[arg(long)]
    pub all: bool,
    /// List only the snapshots carrying this tag; may be repeated (all of them).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanPointsArgs {
    /// The plan whose destination to read.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Only this table.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanVerifyArgs {
    /// The plan whose destination to read.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Snapshot id, or a unique prefix of it (default: the newest).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Wait for the check to end and print its outcome (exit 1 if it failed).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PlanRestoreArgs {
    /// The plan whose destination to restore from.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The table to restore (as the backups name it).
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Snapshot id, or a unique prefix of it (default: the newest holding the table).
    #[arg(long, value_name = "ID", conflicts_with = "to_time")]
    pub snapshot: Option<String>,
    /// Restore the table as it was at this time: RFC 3339 (e.g.
    /// 2026-11-24T20:00:44.123Z) or milliseconds since the epoch; needs archived
    /// changes (`plan points` lists the restorable spans).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to_time: Option<i64>,
    /// Name of the table to write (default: a new `<table>_restored_<time>`).
    #[arg(long = "as", value_name = "NEW")]
    pub target: Option<String>,
    /// Write into an existing table that holds rows (rows with the same key are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Wait for the restore to end and print its outcome (exit 1 if it failed).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The job history of a running server's backup service.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List jobs, newest first.
    List(JobListArgs),
    /// Show one job.
    Show(JobIdArgs),
    /// Wait for a job to end and print its outcome (exit 1 if it failed).
    Wait(JobIdArgs),
    /// Check that the table a restore job wrote still holds exactly what it wrote.
    VerifyRestore(JobVerifyRestoreArgs),
    /// Record a note and an outcome on a finished job (a recovery's, say).
    Note(JobNoteArgs),
}

#[derive(Debug, Args)]
pub struct JobNoteArgs {
    #[command(flatten)]
    pub job: JobIdArgs,
    /// The note, replacing an earlier one.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The outcome, e.g. accepted or rejected, replacing an earlier one.
    #[arg(long, value_name = "TEXT")]
    pub outcome: Option<String>,
}

/// What a job does, as `job list --kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobKindArg {
    /// A plan's backup (or a one-off backup).
    Backup,
    /// A check of a snapshot (`plan verify`).
    VerifyBackup,
    /// A restore of one table (`plan restore`).
    Restore,
    /// A check of a restored table (`job verify-restore`).
    VerifyRestore,
}

#[derive(Debug, Args)]
pub struct JobListArgs {
    /// Only the jobs of this plan (its backups).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<String>,
    /// Only jobs of this kind.
    #[arg(long, value_name = "KIND", value_enum)]
    pub kind: Option<JobKindArg>,
    /// At most this many jobs.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct JobIdArgs {
    /// Job id, a unique prefix of it (`job list` shows them), or `latest` for the
    /// newest job.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct JobVerifyRestoreArgs {
    /// The restore job: its id, a unique prefix of it, or `latest` for the newest
    /// restore that succeeded.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Wait for the check to end and print its outcome (exit 1 if the table differs).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A duration such as `1s`, `500ms`, `1m30s` or `PT1S`. jiff's `SignedDuration`
/// parses this "friendly" format (and ISO 8601) itself, so no parser of our own is
/// needed; negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration: jiff::SignedDuration =
        text.trim().parse().map_err(|e| format!("not a duration such as 1s, 500ms or 2m: {e}"))?;
    Duration::try_from(duration).map_err(|_| "a duration cannot be negative".to_owned())
}

/// An age such as `72h`, `30d` or `2w`: a duration as [`parse_duration`] takes,
/// or a span with days and weeks, counted as 24 and 168 hours.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    if let Ok(duration) = parse_duration(text) {
        return Ok(duration);
    }
    let span: jiff::Span = text.trim().parse().map_err(|e| format!("not an age such as 72h, 30d or 2w: {e}"))?;
    let seconds = span
        .total((jiff::Unit::Second, jiff::SpanRelativeTo::days_are_24_hours()))
        .map_err(|e| format!("not an age such as 72h, 30d or 2w: {e}"))?;
    if !(0.0..=1e12).contains(&seconds) {
        return Err("an age cannot be negative".to_owned());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A duration (as [`parse_duration`]) that is more than zero.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("the interval must be more than zero".to_owned());
    }
    Ok(duration)
}

/// `--to-time` and the like: [`tablesafe_backup::parse_time_us`].
pub fn parse_time(text: &str) -> Result<i64, String> {
    tablesafe_backup::parse_time_us(text)
}

pub fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a log file or journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations_parse_in_the_friendly_format() {
        assert_eq!(super::parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(super::parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(super::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(super::parse_duration("0s"), Ok(Duration::ZERO));
        assert!(super::parse_duration("-1s").is_err());
        assert!(super::parse_duration("soon").is_err());
        assert!(super::parse_interval("0s").is_err());
        assert_eq!(super::parse_interval("100ms"), Ok(Duration::from_millis(100)));
    }

    #[test]
    fn times_parse_as_rfc3339_or_epoch_milliseconds() {
        assert_eq!(super::parse_time("1795550444123"), Ok(1_795_550_444_123_999));
        assert_eq!(super::parse_time("2026-11-24T20:00:44.123Z"), Ok(1_795_550_444_123_999));
        assert_eq!(super::parse_time("2026-11-24T20:00:44Z"), Ok(1_795_550_444_000_999));
        assert_eq!(super::parse_time("2026-11-24T21:00:44.123456+01:00"), Ok(1_795_550_444_123_456));
        assert_eq!(super::parse_time("2026-11-24T20:00:44.123000Z"), Ok(1_795_550_444_123_000));
        assert_eq!(super::parse_time("0"), Ok(999));
        assert!(super::parse_time("2026-11-24T20:00:44").is_err(), "no offset");
        assert!(super::parse_time("99999999999999999999").is_err());
        assert!(super::parse_time("yesterday").is_err());
    }
}
