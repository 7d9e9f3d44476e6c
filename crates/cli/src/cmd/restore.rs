//! `tablesafe restore` (one table of a snapshot into a data directory or through
//! an endpoint) and `tablesafe verify-restore` (a live table against a snapshot's
//! digest; fails when they differ, naming the differing key ranges).
//!
//! The library owns the rules (no write into a non-empty table without
//! `--overwrite`, the digest check of what is read back, dropping a partial
//! table); this module maps flags to options and prints the reports.

use tablesafe_backup::{restore, verify_table, RestoreOptions, TableSink};

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
        let tables = Tables::target(&args.target_tables)?;
        let (result, destination) = match &tables {
            Tables::Embedded { tables, .. } => {
                (restore(&repo, &args.snapshot, tables, &options, &*progress).await, tables.destination())
            }
            Tables::Remote(tables) => {
                (restore(&repo, &args.snapshot, tables, &options, &*progress).await, tables.destination())
            }
        };
        tables.close()?;
        Ok((result?, destination))
    })?;
    drop(progress);
    if args.output.json {
        return print_json(&report);
    }
    println!(
        "restored table '{}' of snapshot {} as '{}' in {}: {} rows, {} cell versions",
        report.table,
        short_id(&report.snapshot),
        report.target,
        destination,
        report.rows,
        report.cells
    );
    println!("  the rows read back match the snapshot's digest {}", report.digest);
    Ok(())
}

pub fn verify(args: VerifyRestoreArgs) -> anyhow::Result<()> {
    let live = args.live.clone().unwrap_or_else(|| args.table.clone());
    let report = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let tables = Tables::source(&args.source)?;
        let result = match &tables {
            Tables::Embedded { tables, .. } => verify_table(&repo, &args.snapshot, &args.table, tables, &live).await,
            Tables::Remote(tables) => verify_table(&repo, &args.snapshot, &args.table, tables, &live).await,
        };
        tables.close()?;
        Ok(result?)
    })?;
    let snapshot = short_id(&report.snapshot);
    if args.output.json {
        print_json(&report)?;
    } else if report.equal {
        println!(
            "live table '{}' equals table '{}' of snapshot {snapshot}: {} rows",
            report.live_table, report.table, report.live_rows
        );
    } else {
        println!(
            "live table '{}' differs from table '{}' of snapshot {snapshot}: the snapshot has {} rows, the live table {}",
            report.live_table, report.table, report.snapshot_rows, report.live_rows
        );
        println!("differing key ranges ({}):", report.differing_ranges.len());
        for range in report.differing_ranges.iter().take(SHOWN_RANGES) {
            println!("  {} ..= {}", range.first_key, range.last_key);
        }
        if let Some(more) = report.differing_ranges.len().checked_sub(SHOWN_RANGES).filter(|n| *n > 0) {
            println!("  ... and {more} more (--json lists every range)");
        }
    }
    if report.equal {
        return Ok(());
    }
    Err(Failure::plain(format!(
        "live table '{}' differs from table '{}' of snapshot {snapshot} in {}",
        report.live_table,
        report.table,
        count(report.differing_ranges.len(), "key range", "key ranges")
    ))
    .into())
}
