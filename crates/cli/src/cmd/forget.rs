//! `tablesafe forget` (remove snapshots from the catalog, by id or keeping the
//! newest N) and `tablesafe prune` (delete the data no snapshot references).
//!
//! The library owns the rules: a snapshot a kept incremental snapshot builds on is
//! never forgotten (it is reported as kept), and prune runs under the exclusive
//! lock. Both record a job.

use indicatif::HumanBytes;
use serde::Serialize;
use tablesafe_backup::{forget_tagged, prune, ForgetPolicy, ForgetReport, JobKind, Retention};
use tablesafe_repo::{PruneStats, Repository};

use super::jobs::Job;
use super::{block_on, count, open, print_json, Failure};
use crate::args::{ForgetArgs, PruneArgs};

/// What a prune did, as printed.
#[derive(Serialize)]
struct PruneOutput {
    repository: String,
    packs_deleted: u64,
    packs_rewritten: u64,
    chunks_removed: u64,
    bytes_freed: u64,
    leftovers_removed: u64,
}

impl PruneOutput {
    fn new(repo: &Repository, stats: &PruneStats) -> PruneOutput {
        PruneOutput {
            repository: repo.storage().url().to_owned(),
            packs_deleted: stats.packs_deleted,
            packs_rewritten: stats.packs_rewritten,
            chunks_removed: stats.chunks_removed,
            bytes_freed: stats.bytes_freed,
            leftovers_removed: stats.leftovers_removed,
        }
    }

    fn print(&self) -> anyhow::Result<()> {
        let leftovers = match self.leftovers_removed {
            0 => String::new(),
            n => format!("; {} of killed writes removed", count(n as usize, "partial file", "partial files")),
        };
        outln!(
            "pruned repository {}: {} deleted, {} rewritten, {} removed, {} freed{leftovers}",
            self.repository,
            count(self.packs_deleted as usize, "pack", "packs"),
            count(self.packs_rewritten as usize, "pack", "packs"),
            count(self.chunks_removed as usize, "chunk", "chunks"),
            HumanBytes(self.bytes_freed)
        )
    }
}

/// Prunes and records the job.
async fn prune_recorded(repo: &Repository) -> anyhow::Result<PruneOutput> {
    let job = Job::start(JobKind::Prune);
    let result = prune(repo).await.map(|stats| PruneOutput::new(repo, &stats)).map_err(anyhow::Error::from);
    job.finish(repo, result, |output, job| job.bytes = output.bytes_freed).await
}

#[derive(Serialize)]
struct ForgetOutput {
    #[serde(flatten)]
    report: ForgetReport,
    /// What the prune after it did (with --prune).
    prune: Option<PruneOutput>,
}

pub fn run(args: ForgetArgs) -> anyhow::Result<()> {
    let retention = Retention {
        keep_last: args.keep_last.map(|n| n as usize),
        keep_within_ms: args.keep_within.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        keep_hourly: args.keep_hourly.map(|n| n as usize),
        keep_daily: args.keep_daily.map(|n| n as usize),
        keep_weekly: args.keep_weekly.map(|n| n as usize),
        keep_monthly: args.keep_monthly.map(|n| n as usize),
    };
    let policy = if retention.is_empty() {
        ForgetPolicy::Ids(args.snapshots.clone())
    } else {
        // clap refuses snapshot ids together with rules.
        let tz = jiff::tz::TimeZone::get(&args.timezone).map_err(|e| {
            Failure::new(
                format!("unknown time zone '{}': {e}", args.timezone),
                "give an IANA name such as UTC or Asia/Shanghai",
            )
        })?;
        ForgetPolicy::Retention(retention, tz)
    };
    let (report, pruned) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let job = Job::start(JobKind::Forget);
        let result = forget_tagged(&repo, &policy, &args.tag).await.map_err(anyhow::Error::from);
        let report = job
            .finish(&repo, result, |report, job| {
                job.snapshot = (!report.forgotten.is_empty()).then(|| report.forgotten.join(","));
            })
            .await?;
        // A failed prune is reported after what forget did.
        let pruned = if args.prune { Some(prune_recorded(&repo).await) } else { None };
        Ok((report, pruned))
    })?;
    let (pruned, prune_error) = match pruned {
        Some(Ok(output)) => (Some(output), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    if args.output.json {
        print_json(&ForgetOutput { report, prune: pruned })?;
    } else {
        for id in &report.forgotten {
            outln!("forgot snapshot {id}")?;
        }
        for id in &report.kept_as_base {
            outln!("kept: {id} (a newer snapshot builds on it)")?;
        }
        for id in &report.kept_protected {
            outln!("kept: {id} (protected; `tablesafe snapshot unprotect` lets it go)")?;
        }
        match (report.forgotten.len(), &pruned) {
            (0, _) if report.kept_as_base.is_empty() && report.kept_protected.is_empty() => outln!("nothing to forget")?,
            (0, _) => {}
            (n, None) if prune_error.is_none() => outln!(
                "forgot {}; their data stays in the repository until `tablesafe prune`",
                count(n, "snapshot", "snapshots")
            )?,
            (n, _) => outln!("forgot {}", count(n, "snapshot", "snapshots"))?,
        }
        if let Some(pruned) = &pruned {
            pruned.print()?;
        }
    }
    match prune_error {
        Some(error) => Err(error.context("the snapshots were forgotten, but the prune after it failed")),
        None => Ok(()),
    }
}

pub fn run_prune(args: PruneArgs) -> anyhow::Result<()> {
    let output = block_on(async {
        let repo = open::repository(&args.repo).await?;
        prune_recorded(&repo).await
    })?;
    if args.output.json {
        return print_json(&output);
    }
    output.print()
}
