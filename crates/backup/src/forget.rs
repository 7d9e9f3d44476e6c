//! Forgetting snapshots and pruning the data no snapshot needs.
//!
//! Invariant: every kept snapshot stays restorable. A snapshot that a kept
//! snapshot builds on (an incremental layer's base, transitively) is either kept
//! too, or, under a plan's retention, the kept layer is first rewritten as a full
//! copy of the same rows (its layers merged, the digest checked equal), so that
//! the plan keeps exactly what its rules say; archived changes are dropped only when no remaining snapshot can
//! start a replay before them; prune keeps every chunk of every layer of every
//! remaining snapshot and of every remaining change segment. A protected
//! snapshot (`notes`) is never forgotten: named outright it is refused, chosen
//! by a policy it is kept and reported.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tablesafe_repo::{crypto, LockKind, PruneStats, Repository};

use crate::archive::{all_segments, drop_unneeded_segments};
use crate::retention::Retention;
use crate::manifest::{encode_snapshot, list_snapshots, newest_holding, LATEST, SNAPSHOTS};
use crate::notes::{all_notes, delete_notes};
use crate::BackupError;

/// What `forget` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetReport {
    /// Snapshots removed.
    pub forgotten: Vec<String>,
    /// Snapshots asked for but kept because a kept snapshot builds on them.
    pub kept_as_base: Vec<String>,
    /// Change segments dropped because no remaining snapshot can use them.
    #[serde(default)]
    pub segments_dropped: usize,
    /// Kept snapshots rewritten as full copies because what they built on was forgotten.
    #[serde(default)]
    pub rewritten_as_full: Vec<String>,
    /// Snapshots the policy chose but kept because they are protected.
    #[serde(default)]
    pub kept_protected: Vec<String>,
}

/// Which snapshots to forget.
#[derive(Clone, Debug)]
pub enum ForgetPolicy {
    /// These ids (unique prefixes allowed).
    Ids(Vec<String>),
    /// All but the newest `n`.
    KeepLast(usize),
    /// All that a retention policy does not keep, with calendar buckets in a time zone.
    Retention(Retention, jiff::tz::TimeZone),
    /// A plan's snapshots that its retention does not keep; kept snapshots that
    /// build on one of them are rewritten as full copies instead of keeping it.
    Plan {
        /// The plan's name (snapshots of other plans and by hand are never chosen).
        plan: String,
        /// What the plan keeps.
        retention: Retention,
        /// The time zone of calendar buckets.
        timezone: jiff::tz::TimeZone,
    },
}

/// Forgets snapshots (their data stays until [`prune`]).
pub async fn forget(repo: &Repository, policy: &ForgetPolicy) -> Result<ForgetReport, BackupError> {
    forget_tagged(repo, policy, &[]).await
}

/// [`forget`] among the snapshots carrying every tag of `tags` only: the policy
/// counts and chooses among them (`KeepLast(1)` keeps the newest of them).
pub async fn forget_tagged(
    repo: &Repository,
    policy: &ForgetPolicy,
    tags: &[String],
) -> Result<ForgetReport, BackupError> {
    let lock = repo.lock(LockKind::Shared).await?;
    let result = forget_locked(repo, policy, tags).await;
    lock.release().await;
    result
}

async fn forget_locked(repo: &Repository, policy: &ForgetPolicy, tags: &[String]) -> Result<ForgetReport, BackupError> {
    let everything = list_snapshots(repo).await?;
    let notes = all_notes(repo).await?;
    let protected = |id: &str| notes.get(id).is_some_and(|n| n.protected);
    let all: Vec<_> = everything
        .iter()
        .filter(|(id, _)| tags.is_empty() || notes.get(id.as_str()).is_some_and(|n| n.has_all(tags)))
        .cloned()
        .collect();
    let mut chosen: HashSet<String> = match policy {
        ForgetPolicy::Ids(prefixes) => {
            let mut chosen = HashSet::new();
            for prefix in prefixes {
                let matching: Vec<&String> = if prefix == LATEST {
                    newest_holding(&all, None).map(|at| &all[at].0).into_iter().collect()
                } else {
                    all.iter().map(|(id, _)| id).filter(|id| id.starts_with(prefix.as_str())).collect()
                };
                match matching.as_slice() {
                    [one] => chosen.insert((*one).clone()),
                    [] => return Err(BackupError::NotFound(format!("no snapshot {prefix}"))),
                    _ => return Err(BackupError::NotFound(format!("snapshot id prefix {prefix} is ambiguous"))),
                };
            }
            chosen
        }
        ForgetPolicy::KeepLast(n) => all.iter().rev().skip(*n).map(|(id, _)| id.clone()).collect(),
        ForgetPolicy::Retention(policy, tz) => {
            let times: Vec<(String, i64)> = all.iter().map(|(id, s)| (id.clone(), s.time_ms)).collect();
            let keep = policy.keep(&times, tz);
            all.iter().map(|(id, _)| id).filter(|id| !keep.contains(*id)).cloned().collect()
        }
        ForgetPolicy::Plan { plan, retention, timezone } => {
            let own: Vec<(String, i64)> = all
                .iter()
                .filter(|(_, s)| s.plan.as_deref() == Some(plan.as_str()))
                .map(|(id, s)| (id.clone(), s.time_ms))
                .collect();
            let keep = retention.keep(&own, timezone);
            own.into_iter().map(|(id, _)| id).filter(|id| !keep.contains(id)).collect()
        }
    };
    let mut report = ForgetReport::default();
    if let ForgetPolicy::Ids(_) = policy {
        if let Some(id) = chosen.iter().find(|id| protected(id)) {
            return Err(BackupError::Invalid(format!("snapshot {id} is protected; unprotect it to forget it")));
        }
    }
    let mut kept_protected: Vec<String> = chosen.iter().filter(|id| protected(id)).cloned().collect();
    kept_protected.sort();
    chosen.retain(|id| !protected(id));
    report.kept_protected = kept_protected;
    let mut all = everything;
    if matches!(policy, ForgetPolicy::Plan { .. }) {
        // Oldest first: a layer is read through its bases before any is deleted.
        for (id, snapshot) in all.iter_mut().filter(|(id, _)| !chosen.contains(id)) {
            let mut rewritten = false;
            for table in snapshot.tables.iter_mut() {
                if table.base.as_ref().is_some_and(|base| chosen.contains(base)) {
                    crate::snapshot::rewrite_as_full(repo, id, table).await?;
                    rewritten = true;
                }
            }
            if rewritten {
                repo.save_manifest_as(SNAPSHOTS, id, &encode_snapshot(repo, snapshot)?).await?;
                report.rewritten_as_full.push(id.clone());
            }
        }
    }
    // Bases of kept snapshots stay, transitively.
    let mut needed: HashSet<String> = HashSet::new();
    let mut frontier: Vec<&String> = all.iter().map(|(id, _)| id).filter(|id| !chosen.contains(*id)).collect();
    while let Some(id) = frontier.pop() {
        if let Some((_, snapshot)) = all.iter().find(|(i, _)| i == id) {
            for base in snapshot.tables.iter().filter_map(|t| t.base.as_ref()) {
                if needed.insert(base.clone()) {
                    frontier.push(base);
                }
            }
        }
    }
    for (id, _) in &all {
        if !chosen.contains(id) {
            continue;
        }
        if needed.contains(id) {
            report.kept_as_base.push(id.clone());
        } else {
            repo.delete_manifest(SNAPSHOTS, id).await?;
            delete_notes(repo, id).await?;
            report.forgotten.push(id.clone());
        }
    }
    // Archived changes older than the oldest kept snapshot go with it.
    let remaining: Vec<_> = all.into_iter().filter(|(id, _)| !report.forgotten.contains(id)).collect();
    report.segments_dropped = drop_unneeded_segments(repo, &remaining).await?;
    Ok(report)
}

/// Removes every chunk no remaining snapshot references, under the exclusive lock.
pub async fn prune(repo: &Repository) -> Result<PruneStats, BackupError> {
    let lock = repo.lock(LockKind::Exclusive).await?;
    let result = prune_locked(repo).await;
    lock.release().await;
    result
}

async fn prune_locked(repo: &Repository) -> Result<PruneStats, BackupError> {
    let mut keep = HashSet::new();
    for (id, snapshot) in list_snapshots(repo).await? {
        for table in &snapshot.tables {
            for hex_id in table.all_chunks() {
                let chunk = crypto::unhex32(hex_id).ok_or_else(|| BackupError::Corrupt {
                    snapshot: id.clone(),
                    table: table.name.clone(),
                    detail: format!("bad chunk id {hex_id}"),
                })?;
                keep.insert(chunk);
            }
        }
    }
    for (id, segment) in all_segments(repo).await? {
        for hex_id in &segment.chunks {
            let chunk = crypto::unhex32(hex_id).ok_or_else(|| BackupError::Corrupt {
                snapshot: format!("change segment {id}"),
                table: segment.table.clone(),
                detail: format!("bad chunk id {hex_id}"),
            })?;
            keep.insert(chunk);
        }
    }
    Ok(repo.prune(&keep).await?)
}
