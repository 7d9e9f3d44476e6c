//! One module per command (`serve`; `repo` for `repo init` and `verify`; `backup`
//! for `backup` and `snapshots`; `archive` for `archive` and `recovery-points`;
//! `restore` for `restore` (of a snapshot or to a time) and `verify-restore`;
//! `read` for `get` and `export`; `forget` for `forget` and `prune`; `jobs` for
//! `jobs` and the job every repository command records); `plan` (the `plan`
//! subcommands) and `job` (the `job` subcommands) for the backup service of a
//! running server, through its backup API; `open` for what they share (opening
//! repositories and tables), and the hints printed under errors whose fix is
//! known.

/// `println!` that returns a write error instead of panicking, and that treats a
/// reader gone away (`tablesafe jobs | head -1`) as no error: see [`write_line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cmd::write_line(format_args!($($arg)*))
    };
}

pub mod archive;
pub mod backup;
pub mod forget;
pub mod job;
pub mod jobs;
pub mod notes;
pub mod open;
pub mod plan;
pub mod read;
pub mod repo;
pub mod restore;
pub mod serve;
pub mod shell;

use std::borrow::Cow;
use std::io::Write;

use anyhow::Context;

use tablesafe_backup::BackupError;
use tablesafe_client::{ClientError, ErrorCode};
use tablesafe_repo::RepoError;

/// A failure the CLI itself detects, with the hint that fixes it.
#[derive(Debug)]
pub struct Failure {
    message: String,
    hint: Option<String>,
    usage: bool,
}

impl Failure {
    /// A failure with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure { message: message.into(), hint: Some(hint.into()), usage: false }
    }

    /// A failure whose message says everything.
    pub fn plain(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), hint: None, usage: false }
    }

    /// Arguments that cannot be right whatever the data says (exit code 2, as
    /// clap's own usage errors).
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure { message: message.into(), hint: Some(hint.into()), usage: true }
    }
}

/// The process's exit code for a failed command: 2 for a usage error, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|c| c.downcast_ref::<Failure>().is_some_and(|f| f.usage));
    if usage {
        2
    } else {
        1
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Runs a command's async body on a fresh runtime.
pub fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(work)
}

/// Writes one line on stdout. When stdout is a pipe whose reader has closed it
/// (as `| head` does once it has its lines), the line is dropped without an error,
/// so that the command ends as it would have and with its own exit code.
pub fn write_line(line: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

/// Prints one JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)
}

/// An error on one line: its message and the causes that add to it, joined by ": ".
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    let mut said = line.clone();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !said.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
        said = cause;
    }
    line
}

/// A hint for errors whose fix is known.
pub fn hint_for(error: &anyhow::Error) -> Option<Cow<'static, str>> {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.hint.clone().map(Cow::Owned);
        }
        if let Some(error) = cause.downcast_ref::<BackupError>() {
            return backup_hint(error).map(Cow::Borrowed);
        }
        if let Some(error) = cause.downcast_ref::<RepoError>() {
            return repo_hint(error).map(Cow::Borrowed);
        }
    }
    serve_hint(&format!("{error:#}")).map(Cow::Borrowed)
}

fn repo_hint(error: &RepoError) -> Option<&'static str> {
    Some(match error {
        RepoError::WrongKey => {
            "check the password (TABLESAFE_PASSWORD or --password-file) or give --identity-file with an age identity \
             the repository was created for"
        }
        RepoError::WriteOnly => {
            "this needs a key that can read data: the repository's password or a full --identity-file"
        }
        RepoError::NotARepository { .. } => "check --repo, or create a repository there with `tablesafe repo init`",
        RepoError::AlreadyExists { path } if path == "config" => {
            "this location already holds a repository: use it as it is, or choose another --repo"
        }
        RepoError::BadUrl { .. } => {
            "use a directory, file:///path, s3://bucket/prefix, oss://bucket/prefix, gcs://bucket/prefix or \
             azblob://container/prefix"
        }
        RepoError::Damaged { .. } => {
            "run `tablesafe verify --read-data` to list every damaged object of the repository"
        }
        RepoError::Storage { .. } => {
            "check that the repository location is reachable and that its credentials allow access"
        }
        RepoError::Locked { .. } => {
            "backups, restores and reads run side by side, but prune needs the repository to itself: run it again \
             when the other command is done"
        }
        _ => return None,
    })
}

fn backup_hint(error: &BackupError) -> Option<&'static str> {
    Some(match error {
        BackupError::Repo(error) => return repo_hint(error),
        BackupError::TargetExists(_) => {
            "pass --as NEW to restore beside the existing table, or --overwrite to write the snapshot's rows into it"
        }
        BackupError::NotFound(message) if message.contains("recovery points") => {
            "`tablesafe recovery-points` shows the times each table can be restored to"
        }
        BackupError::NotFound(_) => "`tablesafe snapshots` lists the snapshots and their tables",
        BackupError::Corrupt { .. } => "run `tablesafe verify --read-data` to find damaged objects of the repository",
        BackupError::Remote { source, .. } => return client_hint(source),
        BackupError::Engine { source: tablesafe_engine::EngineError::TableNotFound { .. }, .. } => {
            "check the table name: the data directory has no table of that name"
        }
        _ => return None,
    })
}

fn client_hint(error: &ClientError) -> Option<&'static str> {
    match error {
        ClientError::Service { .. } => match error.code()? {
            ErrorCode::AuthFailed => {
                Some("check --instance and the access key in TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET")
            }
            ErrorCode::ObjectNotExist => Some("check the table name; the endpoint has no such table"),
            _ => None,
        },
        ClientError::Transport { .. } => Some("check --endpoint and that the server is running"),
        _ => None,
    }
}

fn serve_hint(text: &str) -> Option<&'static str> {
    if text.contains("Address already in use") {
        Some("another process listens on that address; pick another with --listen")
    } else if text.contains("LOCK") || text.contains("lock hold") {
        Some("another tablesafe process uses this data directory; stop it or choose another --data-dir")
    } else if text.contains("access key file") {
        Some("fix or delete the key file, or set TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET")
    } else if text.contains("instance name") {
        Some("use 3 to 16 letters, digits or '-', starting with a letter, e.g. --instance dev")
    } else {
        None
    }
}

/// `1 table`, `2 tables`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first 8 characters of a snapshot id, as text output shows it.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Milliseconds since the epoch as RFC 3339 UTC, e.g. `2026-11-24T20:00:44Z`
/// (with `.123` milliseconds when `millis`); the fraction is truncated, never
/// rounded up. Times jiff cannot represent (beyond the years -9999..=9999) are
/// written as a plain count.
pub fn rfc3339(ms: i64, millis: bool) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(time) if millis => format!("{time:.3}"),
        // A precision of 0 drops the fraction (truncating it).
        Ok(time) => format!("{time:.0}"),
        Err(_) => format!("{ms} ms since the epoch"),
    }
}

/// Microseconds since the epoch as RFC 3339 UTC, so that it can be given back to
/// `--to-time` unchanged: the last microsecond of a millisecond as milliseconds
/// (which `--to-time` reads as all of that millisecond), any other with
/// microseconds.
pub fn rfc3339_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(_) if us.rem_euclid(1000) == 999 => rfc3339(us.div_euclid(1000), true),
        Ok(time) => format!("{time:.6}"),
        Err(_) => format!("{us} µs since the epoch"),
    }
}

#[cfg(test)]
mod tests {
    /// The hand-written conversion `rfc3339` used before jiff (H. Hinnant's civil
    /// date algorithm), kept as an oracle: the output must not change.
    fn hinnant(ms: i64, millis: bool) -> String {
        let (secs, ms) = (ms.div_euclid(1000), ms.rem_euclid(1000));
        let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let (h, m, s) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
        let fraction = if millis { format!(".{ms:03}") } else { String::new() };
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(super::rfc3339(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400_123, true), "2000-02-29T00:00:00.123Z");
        assert_eq!(super::rfc3339(1_795_550_444_000, false), "2026-11-24T20:00:44Z");
        assert_eq!(super::rfc3339(-1, true), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_writes_what_the_hand_written_conversion_wrote() {
        // From 1000 to 9999, in steps that hit every month, leap days and
        // fractions, and around the epoch.
        let mut ms = -30_610_224_000_000_i64; // 1000-01-01
        while ms < 253_402_300_799_000 {
            for millis in [false, true] {
                assert_eq!(super::rfc3339(ms, millis), hinnant(ms, millis), "{ms}");
            }
            ms += 7_919_999_987;
        }
        for ms in -2_000..2_000 {
            assert_eq!(super::rfc3339(ms, true), hinnant(ms, true), "{ms}");
            assert_eq!(super::rfc3339(ms, false), hinnant(ms, false), "{ms}");
        }
    }

    #[test]
    fn rfc3339_us_gives_what_to_time_reads_back() {
        for (us, text) in [
            (1_795_550_444_123_999, "2026-11-24T20:00:44.123Z"),
            (1_795_550_444_123_000, "2026-11-24T20:00:44.123000Z"),
            (1_795_550_444_123_456, "2026-11-24T20:00:44.123456Z"),
            (1_795_550_444_000_999, "2026-11-24T20:00:44.000Z"),
        ] {
            assert_eq!(super::rfc3339_us(us), text);
            assert_eq!(crate::args::parse_time(text), Ok(us), "{text} reads back");
        }
    }
}
