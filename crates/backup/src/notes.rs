//! What people attach to a snapshot to find it again: a description, tags, and
//! a `protected` flag that retention honours. Manifests never change once
//! written, so notes are kept apart: one sealed manifest per snapshot,
//! `snapshot-notes/<snapshot id>`, replaced whole on each change.
//!
//! Invariants: a snapshot without a notes object has none (every snapshot of a
//! repository older than notes); `forget` never removes a protected snapshot
//! (it refuses one named outright and keeps one a policy would choose); the
//! notes of a forgotten snapshot go with it.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use tablesafe_repo::{RepoError, Repository};

use crate::BackupError;

/// Manifest kind of snapshot notes.
pub const NOTES: &str = "snapshot-notes";

/// Longest description kept.
const MAX_DESCRIPTION: usize = 4096;
/// Tags one snapshot may carry.
const MAX_TAGS: usize = 64;

/// A snapshot's notes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotNotes {
    /// Free text.
    pub description: Option<String>,
    /// Labels to find it by, sorted.
    pub tags: BTreeSet<String>,
    /// Kept by every retention rule and by `forget` until unprotected.
    pub protected: bool,
}

impl SnapshotNotes {
    /// Whether the snapshot carries every tag of `tags`.
    pub fn has_all(&self, tags: &[String]) -> bool {
        tags.iter().all(|tag| self.tags.contains(tag))
    }
}

/// A change to a snapshot's notes; what is `None` or empty stays as it is.
#[derive(Clone, Debug, Default)]
pub struct NotesChange {
    /// A new description (an empty one removes it).
    pub description: Option<String>,
    /// The tags, replacing the present ones.
    pub tags: Option<Vec<String>>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// Protect or unprotect.
    pub protected: Option<bool>,
}

/// A tag is 1 to 64 of letters, digits and `_ - . : / =`.
pub fn check_tag(tag: &str) -> Result<(), BackupError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || "_-.:/=".contains(c);
    if tag.is_empty() || tag.len() > 64 || !tag.chars().all(fine) {
        return Err(BackupError::Invalid(format!(
            "tag '{tag}' is not valid: 1 to 64 letters, digits or _ - . : / ="
        )));
    }
    Ok(())
}

/// The notes of snapshot `id` (its full id); none when it has no notes object.
pub async fn load_notes(repo: &Repository, id: &str) -> Result<SnapshotNotes, BackupError> {
    match repo.load_manifest(NOTES, id).await {
        Ok(body) => decode(id, &body),
        Err(RepoError::NotFound { .. }) => Ok(SnapshotNotes::default()),
        Err(error) => Err(error.into()),
    }
}

/// The notes of every snapshot that has some, by snapshot id.
pub async fn all_notes(repo: &Repository) -> Result<HashMap<String, SnapshotNotes>, BackupError> {
    let mut out = HashMap::new();
    for id in repo.list_manifests(NOTES).await? {
        let body = repo.load_manifest(NOTES, &id).await?;
        let notes = decode(&id, &body)?;
        out.insert(id, notes);
    }
    Ok(out)
}

/// Applies `change` to the notes of snapshot `id` (its full id) and stores them.
pub async fn update_notes(repo: &Repository, id: &str, change: &NotesChange) -> Result<SnapshotNotes, BackupError> {
    for tag in change.tags.iter().flatten().chain(&change.add_tags).chain(&change.remove_tags) {
        check_tag(tag)?;
    }
    if change.description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION) {
        return Err(BackupError::Invalid(format!("a description is at most {MAX_DESCRIPTION} bytes")));
    }
    let mut notes = load_notes(repo, id).await?;
    if let Some(description) = &change.description {
        notes.description = (!description.is_empty()).then(|| description.clone());
    }
    if let Some(tags) = &change.tags {
        notes.tags = tags.iter().cloned().collect();
    }
    notes.tags.extend(change.add_tags.iter().cloned());
    for tag in &change.remove_tags {
        notes.tags.remove(tag);
    }
    if notes.tags.len() > MAX_TAGS {
        return Err(BackupError::Invalid(format!("a snapshot carries at most {MAX_TAGS} tags")));
    }
    if let Some(protected) = change.protected {
        notes.protected = protected;
    }
    if notes == SnapshotNotes::default() {
        delete_notes(repo, id).await?;
    } else {
        let body = serde_json::to_vec(&notes).map_err(|e| BackupError::Internal(format!("notes: {e}")))?;
        repo.save_manifest_as(NOTES, id, &body).await?;
    }
    Ok(notes)
}

/// Removes the notes of snapshot `id`, if it has any.
pub(crate) async fn delete_notes(repo: &Repository, id: &str) -> Result<(), BackupError> {
    match repo.delete_manifest(NOTES, id).await {
        Ok(()) | Err(RepoError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

fn decode(id: &str, body: &[u8]) -> Result<SnapshotNotes, BackupError> {
    serde_json::from_slice(body).map_err(|e| BackupError::Corrupt {
        snapshot: id.to_owned(),
        table: String::new(),
        detail: format!("its notes do not decode: {e}"),
    })
}
