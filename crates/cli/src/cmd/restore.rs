//! `tablesafe restore` (one table of a snapshot into a data directory or through
//! an endpoint) and `tablesafe verify-restore` (a live table against a snapshot's
//! digest; fails when they differ, naming the differing key ranges).
//!
//! The library owns the rules (no write into a non-empty table without
//! `--overwrite`, the digest check of what is read back, dropping a partial
//! table); this module maps flags to options and prints the reports.

use tablesafe_backup::{restore, snapshot_table, verify_table, JobKind, RestoreOptions, TableSink, VerifyReport};
use tablesafe_repo::Repository;

use super::jobs::Job;
use super::open::{self, Tables};
use super::{block_on, count, print_json, short_id, Failure};
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
        job.record.snapshot = Some(args.snapshot.clone());
        let result = match Tables::target(&args.target_tables) {
            Ok(tables) => {
                job.record.location = Some(tables.location());
                let (result, destination) = match &tables {
                    Tables::Embedded { tables, .. } => {
                        (restore(&repo, &args.snapshot, tables, &options, &*progress).await, tables.destination())
                    }
                    Tables::Remote(tables) => {
                        (restore(&repo, &args.snapshot, tables, &options, &*progress).await, tables.destination())
                    }
                };
                let closed = tables.close();
                result.map_err(anyhow::Error::from).and_then(|report| closed.map(|()| (report, destination)))
            }
            Err(error) => Err(error),
        };
        let bytes = match &result {
            Ok((report, _)) => layer_bytes(&repo, &report.snapshot, &report.table).await,
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
        return print_json(&report);
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
    Ok(())
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
        outln!("differing key ranges ({}):", report.differing_ranges.len())?;
        for range in report.differing_ranges.iter().take(SHOWN_RANGES) {
            outln!("  {} ..= {}", range.first_key, range.last_key)?;
        }
        if let Some(more) = report.differing_ranges.len().checked_sub(SHOWN_RANGES).filter(|n| *n > 0) {
            outln!("  ... and {more} more (--json lists every range)")?;
        }
    }
    if report.equal {
        return Ok(());
    }
    Err(Failure::plain(differs(&report)).into())
}

/// `live table 'x' differs from table 'y' of snapshot abcd1234 in 2 key ranges`.
fn differs(report: &VerifyReport) -> String {
    format!(
        "live table '{}' differs from table '{}' of snapshot {} in {}",
        report.live_table,
        report.table,
        short_id(&report.snapshot),
        count(report.differing_ranges.len(), "key range", "key ranges")
    )
}

/// The snapshot's table, and the live or target table when its name differs.
fn tables_involved(table: &str, other: Option<&str>) -> Vec<String> {
    let mut tables = vec![table.to_owned()];
    tables.extend(other.filter(|other| *other != table).map(str::to_owned));
    tables
}

/// Bytes of table data a restore of `table` read: the serialized data of every
/// layer it is stored as (0 when a manifest cannot be read; only the job record
/// uses it).
async fn layer_bytes(repo: &Repository, snapshot: &str, table: &str) -> u64 {
    let mut bytes = 0;
    let mut next = Some(snapshot.to_owned());
    // A chain is at most MAX_CHAIN + 1 layers; the bound only guards against a loop.
    for _ in 0..=tablesafe_backup::snapshot::MAX_CHAIN {
        let Some(id) = next.take() else { break };
        let Ok((_, layer)) = snapshot_table(repo, &id, table).await else { return 0 };
        bytes += layer.data_bytes;
        next = layer.base;
    }
    bytes
}
