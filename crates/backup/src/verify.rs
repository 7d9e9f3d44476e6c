//! Verification of a repository as its user sees it: the repository's own check
//! (every object authenticated, against the index and the catalog) and what the
//! snapshots and change segments reference (chunks, the bases of incremental
//! layers). `tablesafe verify` and the tests call [`verify_repository`], so what
//! is verified is decided in one place.

use serde::Serialize;
use tablesafe_repo::{crypto, RepoError, Repository};

use crate::archive::all_segments;
use crate::manifest::list_snapshots;
use crate::BackupError;

/// One finding, naming the object it is about when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The object's path in the repository.
    pub object: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// What [`verify_repository`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    /// Damage or loss: a snapshot or a time may not restore.
    pub problems: Vec<Finding>,
    /// What needs no repair to restore exactly: left by interruptions, damaged
    /// locks and job records.
    pub warnings: Vec<Finding>,
}

impl Verification {
    /// Whether there are no problems (warnings allowed).
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn finding(error: &RepoError) -> Finding {
    let object = match error {
        RepoError::Damaged { path, .. }
        | RepoError::Missing { path, .. }
        | RepoError::NotFound { path }
        | RepoError::Storage { path, .. } => Some(path.clone()),
        _ => None,
    };
    Finding { object, problem: error.to_string() }
}

/// Verifies a repository: its objects (with `read_data`, every pack read whole),
/// its catalog, then what its snapshots and segments reference.
pub async fn verify_repository(repo: &Repository, read_data: bool) -> Result<Verification, BackupError> {
    if read_data && !repo.can_read_data() {
        return Err(RepoError::WriteOnly.into());
    }
    let found = repo.check(read_data).await?;
    let mut verification = Verification {
        problems: found.problems.iter().map(finding).collect(),
        warnings: found.warnings.iter().map(finding).collect(),
    };
    match check_snapshots(repo).await {
        Ok(found) => verification.problems.extend(found.into_iter().map(|problem| Finding { object: None, problem })),
        // E.g. a damaged snapshot manifest, which the check above names.
        Err(error) => verification
            .problems
            .push(Finding { object: None, problem: format!("cannot check the snapshots: {error}") }),
    }
    Ok(verification)
}

/// How many of these chunks (hex ids) the repository does not hold.
fn missing_chunks<'s>(repo: &Repository, chunks: impl Iterator<Item = &'s String>) -> usize {
    chunks.filter(|hex_id| crypto::unhex32(hex_id).is_none_or(|chunk| !repo.has_chunk(&chunk))).count()
}

/// Checks what snapshots reference: every chunk of every layer is in the
/// repository's index, and every base an incremental layer builds on exists.
/// Returns one line per problem, naming the snapshot and table.
pub async fn check_snapshots(repo: &Repository) -> Result<Vec<String>, BackupError> {
    let mut problems = Vec::new();
    let snapshots = list_snapshots(repo).await?;
    for (id, snapshot) in &snapshots {
        for table in &snapshot.tables {
            let missing = missing_chunks(repo, table.all_chunks());
            if missing > 0 {
                problems.push(format!(
                    "snapshot {id}, table '{}': {missing} chunks are missing from the repository",
                    table.name
                ));
            }
            if let Some(base) = &table.base {
                let found =
                    snapshots.iter().any(|(other, s)| other == base && s.tables.iter().any(|t| t.name == table.name));
                if !found {
                    problems.push(format!(
                        "snapshot {id}, table '{}': the snapshot it builds on, {base}, is missing",
                        table.name
                    ));
                }
            }
        }
    }
    for (id, segment) in all_segments(repo).await? {
        let missing = missing_chunks(repo, segment.chunks.iter());
        if missing > 0 {
            problems.push(format!(
                "change segment {id}, table '{}': {missing} chunks are missing from the repository",
                segment.table
            ));
        }
    }
    Ok(problems)
}
