//! `tablesafe archive` (follow tables' change streams into a repository, a pass
//! every interval until SIGINT/SIGTERM, or one pass with `--once`) and
//! `tablesafe recovery-points` (the times each table can be restored to).
//!
//! The library's [`Archiver`] owns what a pass does and why a killed archiver
//! resumes with no gap and no duplicate; this module runs the passes, prints what
//! they wrote, keeps going through failures (a repository locked by prune, an
//! endpoint gone away: logged on stderr, retried with backoff) and stops cleanly on
//! a signal. It exits non-zero only when it cannot start: bad arguments, a
//! repository or data directory that does not open, or a failed `--once` pass.

use std::time::Duration;

use serde::Serialize;
use tablesafe_backup::archive::{ArchiveOptions, ArchivePass, Archiver, ChangeSegment};
use tablesafe_backup::{recovery_points, RecoveryWindow, TableSource};
use tablesafe_repo::Repository;

use super::open::{self, Tables};
use super::{block_on, count, one_line, print_json, rfc3339};
use crate::args::{ArchiveArgs, RecoveryPointsArgs};

/// The longest wait between passes while they keep failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stop waits for the pass under way (one stuck retrying an endpoint
/// that is gone would otherwise hold it up).
const STOP_GRACE: Duration = Duration::from_secs(10);

pub fn run(args: ArchiveArgs) -> anyhow::Result<()> {
    // Options the library may add keep their defaults.
    #[allow(clippy::needless_update)]
    let options = ArchiveOptions { heartbeat: args.heartbeat, ..ArchiveOptions::default() };
    block_on(async {
        // Listening before anything else: a signal at any moment stops cleanly.
        let mut signals = Signals::new()?;
        let repo = open::repository(&args.repo).await?;
        let tables = Tables::source(&args.source())?;
        let location = tables.location();
        let result = match &tables {
            Tables::Embedded { tables, .. } => {
                follow(&repo, Archiver::new(tables.clone(), options), &args, &location, &mut signals).await
            }
            Tables::Remote(tables) => {
                follow(&repo, Archiver::new(tables.clone(), options), &args, &location, &mut signals).await
            }
        };
        let closed = tables.close();
        result.and(closed)
    })
}

/// Runs passes until a signal (or one pass with `--once`).
async fn follow<S: TableSource>(
    repo: &Repository,
    mut archiver: Archiver<S>,
    args: &ArchiveArgs,
    location: &str,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    if args.once {
        let passes = archiver.pass(repo, &args.table).await?;
        return print_passes(&passes, args.json);
    }
    tracing::info!(
        source = location,
        interval = ?args.interval,
        "archiving change streams; SIGINT or SIGTERM stops after the pass under way"
    );
    let mut failures = 0u32;
    loop {
        let pass = archiver.pass(repo, &args.table);
        tokio::pin!(pass);
        let (result, stop) = tokio::select! {
            result = &mut pass => (Some(result), false),
            () = signals.recv() => {
                // Let the pass finish, so that its segment and the repository lock
                // are settled; a second signal or STOP_GRACE stops at once (which is
                // safe too: a segment counts only once its manifest is written).
                tracing::info!("stop requested; finishing the pass under way (signal again to stop now)");
                tokio::select! {
                    result = &mut pass => (Some(result), true),
                    () = signals.recv() => (None, true),
                    () = tokio::time::sleep(STOP_GRACE) => {
                        tracing::warn!("the pass under way did not finish within {}; stopping without it", seconds(STOP_GRACE));
                        (None, true)
                    }
                }
            }
        };
        let wait = match result {
            Some(Ok(passes)) => {
                failures = 0;
                print_passes(&passes, args.json)?;
                args.interval
            }
            Some(Err(error)) => {
                failures = failures.saturating_add(1);
                let wait = backoff(args.interval, failures);
                let error = anyhow::Error::from(error);
                if stop {
                    eprintln!("error: {}", one_line(&error));
                } else {
                    eprintln!("error: {} (retrying in {})", one_line(&error), seconds(wait));
                }
                wait
            }
            None => args.interval,
        };
        if stop {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = signals.recv() => break,
        }
    }
    tracing::info!("archiver stopped");
    Ok(())
}

/// The archiver inside `tablesafe serve`: a pass every `interval` until `stop`
/// turns true, then one last pass, so that the archive reaches the moment the
/// server stopped taking writes. Failures are logged and retried with backoff;
/// the server keeps serving either way.
pub async fn in_server<S: TableSource>(
    repo: Repository,
    mut archiver: Archiver<S>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let stopping = *stop.borrow();
        let wait = match archiver.pass(&repo, &[]).await {
            Ok(passes) => {
                failures = 0;
                for pass in passes.iter().filter(|p| p.gap) {
                    tracing::warn!(table = pass.table, "the stream lost changes before they were archived");
                }
                interval
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let wait = backoff(interval, failures);
                let error = anyhow::Error::from(error);
                tracing::warn!(error = one_line(&error), retry_in = seconds(wait), "archiving failed");
                wait
            }
        };
        if stopping {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    tracing::info!("archiver stopped");
}

/// The wait before the next pass after `failures` failed passes in a row: the
/// interval, doubled with each further failure, at most [`MAX_BACKOFF`] (or the
/// interval, when that is longer).
fn backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF).max(interval)
}

/// `1.5s`.
fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_millis() as f64 / 1000.0)
}

/// A written segment, as `--json` prints it (one object per line).
#[derive(Serialize)]
struct SegmentLine<'a> {
    table: &'a str,
    /// The segment's manifest id.
    segment: Option<&'a str>,
    origin: Option<&'a str>,
    stream_id: Option<&'a str>,
    /// Stream positions `[from, to)` covered.
    from: Option<u64>,
    to: Option<u64>,
    changes: u64,
    data_bytes: u64,
    first_time: Option<String>,
    last_time: Option<String>,
    /// Every change committed by this time is archived.
    complete_until: Option<String>,
    complete_until_us: Option<i64>,
    /// The stream had lost changes before they were archived; archiving restarted
    /// at `from`.
    gap: bool,
}

impl<'a> SegmentLine<'a> {
    fn new(pass: &'a ArchivePass) -> SegmentLine<'a> {
        let segment = pass.segment.as_ref();
        let part = |f: fn(&'a ChangeSegment) -> Option<i64>| segment.and_then(|(_, s)| f(s)).map(time_ms);
        SegmentLine {
            table: &pass.table,
            segment: segment.map(|(id, _)| id.as_str()),
            origin: segment.map(|(_, s)| s.origin.as_str()),
            stream_id: segment.map(|(_, s)| s.stream_id.as_str()),
            from: segment.map(|(_, s)| s.from),
            to: segment.map(|(_, s)| s.to),
            changes: segment.map_or(0, |(_, s)| s.changes),
            data_bytes: segment.map_or(0, |(_, s)| s.data_bytes),
            first_time: part(|s| s.first_time_us),
            last_time: part(|s| s.last_time_us),
            complete_until: part(|s| Some(s.complete_until_us)),
            complete_until_us: segment.map(|(_, s)| s.complete_until_us),
            gap: pass.gap,
        }
    }
}

/// µs since the epoch as RFC 3339 with milliseconds (truncated).
fn time_ms(us: i64) -> String {
    rfc3339(us.div_euclid(1000), true)
}

/// One line per segment written or gap found: text, or JSON Lines.
fn print_passes(passes: &[ArchivePass], json: bool) -> anyhow::Result<()> {
    for pass in passes {
        if json {
            outln!("{}", serde_json::to_string(&SegmentLine::new(pass))?)?;
            continue;
        }
        let Some((_, segment)) = &pass.segment else {
            outln!("{}: gap: the stream lost changes before they were archived", pass.table)?;
            continue;
        };
        if pass.gap {
            outln!(
                "{}: gap: the stream lost changes before they were archived; archiving restarts at position {}",
                pass.table,
                segment.from
            )?;
        }
        let until = time_ms(segment.complete_until_us);
        if segment.changes == 0 {
            outln!("{}: no new changes at position {}, complete until {until}", pass.table, segment.to)?;
        } else {
            outln!(
                "{}: archived {} at positions {}..{}, complete until {until}",
                pass.table,
                count(segment.changes as usize, "change", "changes"),
                segment.from,
                segment.to
            )?;
        }
    }
    Ok(())
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), listened to from creation on.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening (inside the runtime).
    fn new() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub fn recovery(args: RecoveryPointsArgs) -> anyhow::Result<()> {
    let windows = block_on(async {
        let repo = open::repository(&args.repo).await?;
        Ok::<_, anyhow::Error>(recovery_points(&repo, args.table.as_deref()).await?)
    })?;
    if args.output.json {
        return print_json(&windows);
    }
    if windows.is_empty() {
        match &args.table {
            Some(table) => outln!("no snapshot holds table '{table}'; `tablesafe backup` makes one")?,
            None => outln!(
                "no snapshot holds a table yet; `tablesafe backup` makes one, `tablesafe archive` keeps the \
                 changes after it"
            )?,
        }
        return Ok(());
    }
    print_windows(&windows)
}

/// The windows as a table, each followed by its gaps and notes.
fn print_windows(windows: &[RecoveryWindow]) -> anyhow::Result<()> {
    let width = windows.iter().map(|w| w.table.len()).max().unwrap_or(0).max("TABLE".len());
    outln!("{:<width$}  {:>9}  {:<24}  {:<24}  ORIGIN", "TABLE", "SNAPSHOTS", "EARLIEST", "LATEST")?;
    for window in windows {
        // Whole milliseconds whose end is restorable: every time printed in
        // between can be given to `restore --to-time`.
        let milliseconds: Vec<(i64, i64)> = window.spans.iter().filter_map(|s| s.milliseconds()).collect();
        let earliest = milliseconds.first().map_or_else(|| "-".to_owned(), |(first, _)| rfc3339(*first, true));
        let latest = milliseconds.last().map_or_else(|| "-".to_owned(), |(_, last)| rfc3339(*last, true));
        outln!("{:<width$}  {:>9}  {earliest:<24}  {latest:<24}  {}", window.table, window.snapshots, window.origin)?;
        if window.earliest_us.is_none() {
            outln!("  not restorable to a time: no snapshot is exact at a stream position")?;
        } else if milliseconds.is_empty() {
            outln!(
                "  not restorable to a time yet: no archived changes follow its snapshots (each restores by its id)"
            )?;
        }
        for gap in &window.gaps {
            outln!("  gap after {} until {}: {}", time_ms(gap.after_us), time_ms(gap.before_us), gap.cause)?;
        }
        for note in &window.notes {
            outln!("  note: {note}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let second = Duration::from_secs(1);
        let waits: Vec<u64> = (1..=7).map(|n| super::backoff(second, n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(super::backoff(Duration::from_secs(60), 3), Duration::from_secs(60));
        assert_eq!(super::backoff(Duration::from_millis(100), 40), Duration::from_secs(30));
    }
}
