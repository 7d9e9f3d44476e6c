//! Command-line arguments (raw, as typed) and logging set-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

pub fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
