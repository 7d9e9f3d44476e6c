//! `tablesafe restore` (one table of a snapshot, or with `--to-time` one table as
//! it was at a time, into a data directory or through an endpoint) and
//! `tablesafe verify-restore` (a live table against a snapshot's digest; fails
//! when they differ, naming the differing key ranges).
//!
//! The library owns the rules (no write into a non-empty table without
//! `--overwrite`, the digest check of what is read back, dropping a partial
//! table); this module maps flags to options and prints the reports.

use serde::Serialize;
use tablesafe_backup::{
    plan_point_in_time, restore, restore_to_time, snapshot_table, verify_table, BackupError, JobKind, KeysOfKind, Progress,
    RestoreOptions, RestoreReport, TableSink, VerifyReport,
};
use tablesafe_repo::Repository;

use super::jobs::Job;
use super::open::{self, Tables};
use super::{block_on, count, print_json, rfc3339_us, short_id, Failure};
use crate::args::{RestoreArgs, VerifyRestoreArgs};
use crate::progress;

/// Differing key ranges listed in text output.
const SHOWN_RANGES: usize = 20;

pub fn run(args: RestoreArgs) -> anyhow::Result<()> {
    // Options the library may add keep their defaults.
    #[allow(clippy::needless_update)]
    let options = RestoreOptions {
        table: args.table.clone(),
        target: args.target.clone(),
        overwrite: args.overwrite,
        keep_partial: args.keep_partial,
        ..RestoreOptions::default()
    };
    let progress = progress::reporter(args.output.json);
    let (report, destination) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let mut job = Job::start(JobKind::Restore);
        job.record.tables = tables_involved(&args.table, args.target.as_deref());
        job.record.snapshot = args.snapshot.clone();
        let result = match Tables::target(&args.target_tables) {
            Ok(tables) => {
                // JobRecord has no field for the time restored to: the location,
                // free text, carries it.
                job.record.location = Some(match args.to_time {
                    Some(time_us) => format!("{}, as of {}", tables.location(), rfc3339_us(time_us)),
                    None => tables.location(),
                });
                let (result, destination) = match &tables {
                    Tables::Embedded { tables, .. } => {
                        (restore_one(&repo, &args, tables, &options, &*progress).await, tables.destination())
                    }
                    Tables::Remote(tables) => {
                        (restore_one(&repo, &args, tables, &options, &*progress).await, tables.destination())
                    }
                };
                let closed = tables.close();
                result.and_then(|report| closed.map(|()| (report, destination)))
            }
            Err(error) => Err(error),
        };
        let bytes = match &result {
            Ok((report, _)) => {
                layer_bytes(&repo, &report.snapshot, &report.table).await
                    + segment_bytes(&repo, &args, report.to_time_us).await
            }
            Err(_) => 0,
        };
        job.finish(&repo, result, |(report, _), job| {
            job.rows = report.rows;
            job.bytes = bytes;
            job.snapshot = Some(report.snapshot.clone());
        })
        .await
    })?;
    drop(progress);
    if args.output.json {
        return print_json(&RestoreLine { to_time: report.to_time_us.map(rfc3339_us), report: &report });
    }
    outln!(
        "restored table '{}' of snapshot {} as '{}' in {}: {} rows, {} cell versions",
        report.table,
        short_id(&report.snapshot),
        report.target,
        destination,
        report.rows,
        report.cells
    )?;
    outln!("  the rows read back match the snapshot's digest {}", report.digest)?;
    if let Some(time_us) = report.to_time_us {
        outln!(
            "  replayed {} up to {}",
            count(usize::try_from(report.changes_replayed).unwrap_or(usize::MAX), "change", "changes"),
            rfc3339_us(time_us)
        )?;
    }
    Ok(())
}

/// A restore's report as `--json` prints it: the library's, and for a restore to a
/// time, that time as RFC 3339.
#[derive(Serialize)]
struct RestoreLine<'a> {
    #[serde(flatten)]
    report: &'a RestoreReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_time: Option<String>,
}

/// Restores the snapshot given, or the table as of `--to-time`.
async fn restore_one<K: TableSink>(
    repo: &Repository,
    args: &RestoreArgs,
    sink: &K,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> anyhow::Result<RestoreReport> {
    Ok(match (args.to_time, &args.snapshot) {
        (Some(time_us), _) => {
            match restore_to_time(repo, sink, options, time_us, args.origin.as_deref(), progress).await {
                Ok(report) => report,
                // No snapshot and archive reach the time: point at the listing of
                // the times that can be restored (unless the message already does).
                Err(BackupError::NotFound(message)) if !message.contains("recovery-points") => {
                    return Err(Failure::new(
                        message,
                        "`tablesafe recovery-points` lists the times each table can be restored to",
                    )
                    .into())
                }
                Err(error) => return Err(error.into()),
            }
        }
        (None, Some(snapshot)) => restore(repo, snapshot, sink, options, progress).await?,
        // clap requires one of the two.
        (None, None) => return Err(Failure::plain("give a SNAPSHOT or --to-time").into()),
    })
}

pub fn verify(args: VerifyRestoreArgs) -> anyhow::Result<()> {
    let live = args.live.clone().unwrap_or_else(|| args.table.clone());
    let report = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let mut job = Job::start(JobKind::VerifyRestore);
        job.record.tables = tables_involved(&args.table, Some(&live));
        job.record.snapshot = Some(args.snapshot.clone());
        let result = match Tables::source(&args.source) {
            Ok(tables) => {
                job.record.location = Some(tables.location());
                let result = match &tables {
                    Tables::Embedded { tables, .. } => {
                        verify_table(&repo, &args.snapshot, &args.table, tables, &live).await
                    }
                    Tables::Remote(tables) => verify_table(&repo, &args.snapshot, &args.table, tables, &live).await,
                };
                let closed = tables.close();
                result.map_err(anyhow::Error::from).and_then(|report| closed.map(|()| report))
            }
            Err(error) => Err(error),
        };
        job.finish(&repo, result, |report, job| {
            job.rows = report.live_rows;
            job.snapshot = Some(report.snapshot.clone());
            if !report.equal {
                job.succeeded = false;
                job.error = Some(differs(report));
            }
        })
        .await
    })?;
    let snapshot = short_id(&report.snapshot);
    if args.output.json {
        print_json(&report)?;
    } else if report.equal {
        outln!(
            "live table '{}' equals table '{}' of snapshot {snapshot}: {} rows",
            report.live_table,
            report.table,
            report.live_rows
        )?;
    } else {
        outln!(
            "live table '{}' differs from table '{}' of snapshot {snapshot}: the snapshot has {} rows, the live table {}",
            report.live_table, report.table, report.snapshot_rows, report.live_rows
        )?;
        for (kind, rows) in [
            ("missing (in the snapshot, not the live table)", &report.missing),
            ("extra (in the live table, not the snapshot)", &report.extra),
            ("different (in both, with other cells)", &report.different),
        ] {
            outln!("{}", rows_of_kind(kind, rows))?;
        }
        outln!("differing key ranges ({}):", report.differing_ranges.len())?;
        for range in report.differing_ranges.iter().take(SHOWN_RANGES) {
            if range.first_key == range.last_key {
                outln!("  {}", range.first_key)?;
            } else {
                outln!("  from {} to {}", range.first_key, range.last_key)?;
            }
        }
        if let Some(more) = report.differing_ranges.len().checked_sub(SHOWN_RANGES).filter(|n| *n > 0) {
            outln!("  ... and {more} more (--json lists every range)")?;
        }
        for problem in &report.index_problems {
            outln!("  {problem}")?;
        }
    }
    if report.equal {
        return Ok(());
    }
    Err(Failure::plain(differs(&report)).into())
}

/// `  missing (...): 2 rows: id=1; id=2`, with `...` when more rows are of the kind
/// than are named.
fn rows_of_kind(kind: &str, rows: &KeysOfKind) -> String {
    let mut line = format!("  {kind}: {}", count(rows.count as usize, "row", "rows"));
    if !rows.first.is_empty() {
        line.push_str(": ");
        line.push_str(&rows.first.join("; "));
        if rows.count > rows.first.len() as u64 {
            line.push_str("; ...");
        }
    }
    line
}

/// `live table 'x' differs from table 'y' of snapshot abcd1234 in 2 key ranges`.
fn differs(report: &VerifyReport) -> String {
    let mut message = format!(
        "live table '{}' differs from table '{}' of snapshot {} in {}",
        report.live_table,
        report.table,
        short_id(&report.snapshot),
        count(report.differing_ranges.len(), "key range", "key ranges")
    );
    if !report.index_problems.is_empty() {
        message.push_str(&format!(", and its {}", count(report.index_problems.len(), "index differs", "indexes differ")));
        message.push_str(" from its rows");
    }
    message
}

/// The snapshot's table, and the live or target table when its name differs.
fn tables_involved(table: &str, other: Option<&str>) -> Vec<String> {
    let mut tables = vec![table.to_owned()];
    tables.extend(other.filter(|other| *other != table).map(str::to_owned));
    tables
}

/// Bytes of archived changes a restore to a time read: the serialized changes of
/// the segments its plan replays (0 for a restore of a snapshot, or when the plan
/// cannot be made again; only the job record uses it).
async fn segment_bytes(repo: &Repository, args: &RestoreArgs, to_time_us: Option<i64>) -> u64 {
    let Some(time_us) = to_time_us else { return 0 };
    match plan_point_in_time(repo, &args.table, time_us, args.origin.as_deref()).await {
        Ok(plan) => plan.segments.iter().map(|(_, segment)| segment.data_bytes).sum(),
        Err(_) => 0,
    }
}

/// Bytes of table data a restore of `table` read: the serialized data of every
/// layer it is stored as (0 when a manifest cannot be read; only the job record
/// uses it).
async fn layer_bytes(repo: &Repository, snapshot: &str, table: &str) -> u64 {
    let mut bytes = 0;
    let mut next = Some(snapshot.to_owned());
    // A chain is at most MAX_CHAIN + 1 layers; the bound only guards against a loop.
    for _ in 0..=tablesafe_backup::manifest::MAX_CHAIN {
        let Some(id) = next.take() else { break };
        let Ok((_, layer)) = snapshot_table(repo, &id, table).await else { return 0 };
        bytes += layer.data_bytes;
        next = layer.base;
    }
    bytes
}
