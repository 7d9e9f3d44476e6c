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
    /// Remove snapshots from the catalog (their data stays until `prune`).
    Forget(ForgetArgs),
    /// Delete the data no snapshot references any more.
    Prune(PruneArgs),
    /// List the jobs run on a repository (backups, restores, checks, forget, prune).
    Jobs(JobsArgs),
    /// Keep tables' changes in a repository, continuously, for `restore --to-time`.
    Archive(ArchiveArgs),
    /// List the times each table can be restored to (`restore --to-time`).
    RecoveryPoints(RecoveryPointsArgs),
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
    /// File whose first line is the archive repository's password (instead of
    /// TABLESAFE_PASSWORD).
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// File of age identities that open the archive repository; may be repeated.
    #[arg(long, value_name = "PATH", env = "TABLESAFE_IDENTITY_FILE")]
    pub identity_file: Vec<PathBuf>,
    /// The backup plan file (TOML, `[[plans]]`); `<data-dir>/backup-plans.toml` by
    /// default. When it does not exist it is created with the default plan: every
    /// table, hourly, kept 72 hours, into `<data-dir>/backups`.
    #[arg(long, value_name = "PATH", env = "TABLESAFE_PLANS")]
    pub plans: Option<PathBuf>,
    /// Run no backup service: no plans, no scheduler, and the backup API answers
    /// that backups are not enabled.
    #[arg(long)]
    pub no_backups: bool,
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
    /// Data directory of a stopped `tablesafe serve` (created if missing).
    #[arg(long, value_name = "DIR", conflicts_with = "instance")]
    pub data_dir: Option<PathBuf>,
    /// Tablestore endpoint to restore through, e.g. http://127.0.0.1:8800.
    #[arg(long, value_name = "URL", requires = "instance")]
    pub to: Option<String>,
    /// Instance name at --to.
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
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub output: OutputArgs,
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
    /// Snapshot id, or a unique prefix of it (`tablesafe snapshots` lists them); not
    /// with --to-time.
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
    /// Snapshot id, or a unique prefix of it.
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
    /// Snapshot id, or a unique prefix of it.
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
    /// Snapshot ids (or unique prefixes) to forget; or let --keep-* rules choose.
    #[arg(
        value_name = "SNAPSHOT",
        conflicts_with_all = ["keep_last", "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"]
    )]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
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

/// Where `archive` reads change streams from: as [`SourceArgs`], with `--from` for
/// the endpoint (`--endpoint` is accepted too).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["data_dir", "from"])))]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Tablestore endpoint whose streams to archive, e.g. http://127.0.0.1:8800
    /// (access key from TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET).
    #[arg(long, value_name = "URL", requires = "instance", visible_alias = "endpoint")]
    pub from: Option<String>,
    /// Instance name at --from.
    #[arg(long, value_name = "NAME", requires = "from")]
    pub instance: Option<String>,
    /// Data directory of a stopped `tablesafe serve` (read directly).
    #[arg(long, value_name = "DIR", conflicts_with = "instance")]
    pub data_dir: Option<PathBuf>,
    /// Table whose stream to archive; may be repeated (default: every table with a
    /// stream).
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    /// Time between passes, e.g. 1s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// An idle stream still gets an (empty) segment this often, so that its
    /// restorable window reaches the present; 0s: every pass.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
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

/// A time as RFC 3339 (with an offset, e.g. `2026-11-24T20:00:44.123Z`) or as
/// milliseconds since the epoch (a bare integer); returns µs since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let timestamp = text
            .parse::<i64>()
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .ok_or_else(|| format!("{text} milliseconds since the epoch is out of range"))?;
        return Ok(timestamp.as_microsecond());
    }
    let timestamp: jiff::Timestamp = text.parse().map_err(|e| {
        format!(
            "not an RFC 3339 time with an offset (e.g. 2026-11-24T20:00:44.123Z) or milliseconds since the epoch: {e}"
        )
    })?;
    Ok(timestamp.as_microsecond())
}

pub fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
        assert_eq!(super::parse_time("1795550444123"), Ok(1_795_550_444_123_000));
        assert_eq!(super::parse_time("2026-11-24T20:00:44.123Z"), Ok(1_795_550_444_123_000));
        assert_eq!(super::parse_time("2026-11-24T21:00:44.123456+01:00"), Ok(1_795_550_444_123_456));
        assert_eq!(super::parse_time("0"), Ok(0));
        assert!(super::parse_time("2026-11-24T20:00:44").is_err(), "no offset");
        assert!(super::parse_time("99999999999999999999").is_err());
        assert!(super::parse_time("yesterday").is_err());
    }
}
