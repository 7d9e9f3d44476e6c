//! Command-line arguments (raw, as typed) and logging set-up.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Restore one table of a snapshot.
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
    /// TOML file with `[[access_keys]]` entries (id, secret) to accept instead of the
    /// data directory's key file.
    #[arg(long, env = "TABLESAFE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Acknowledge writes before the WAL is fsynced (faster; loses recent writes on
    /// power failure, never on a process crash).
    #[arg(long)]
    pub no_fsync: bool,
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
    /// Snapshot id, or a unique prefix of it (`tablesafe snapshots` lists them).
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Table of the snapshot to restore.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
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
#[command(group(ArgGroup::new("which").required(true).args(["snapshots", "keep_last"])))]
pub struct ForgetArgs {
    /// Snapshot ids (or unique prefixes) to forget.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Forget all but the newest N snapshots (N >= 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
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

pub fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
