//! The repository's error type: every failure names the object or setting involved,
//! so that a CLI can print one line of cause and a hint.

use std::path::PathBuf;

/// A failed repository operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The repository URL cannot be used.
    #[error("invalid repository URL '{url}': {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The storage backend failed.
    #[error("storage error during {operation} of '{path}': {source}")]
    Storage {
        /// What was being done (read, write, list, delete).
        operation: &'static str,
        /// Object path inside the repository.
        path: String,
        /// The backend's error (an OpenDAL error, or one a test layer injected).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An object that must exist does not.
    #[error("object '{path}' does not exist in the repository")]
    NotFound {
        /// Object path inside the repository.
        path: String,
    },
    /// An object exists that must not (e.g. `init` on a non-empty location).
    #[error("object '{path}' already exists in the repository")]
    AlreadyExists {
        /// Object path inside the repository.
        path: String,
    },
    /// The location holds no repository, or one of an unknown format version.
    #[error("no usable repository at '{url}': {reason}")]
    NotARepository {
        /// Repository URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No key file opens with the given password or identities.
    #[error("wrong password or identity: no key of the repository opens with it")]
    WrongKey,
    /// The repository was opened with a write-only key and data must be read.
    #[error("this key can write backups but not read them; open the repository with a password or an age identity")]
    WriteOnly,
    /// An object failed authentication or does not decode: it was damaged or
    /// tampered with.
    #[error("object '{path}' is damaged: {detail}")]
    Damaged {
        /// Object path inside the repository.
        path: String,
        /// What failed.
        detail: String,
    },
    /// An object the repository's catalog records is gone: deleted or lost.
    #[error("object '{path}' is missing from the repository: {detail}")]
    Missing {
        /// Object path inside the repository.
        path: String,
        /// What recorded it.
        detail: String,
    },
    /// Another process holds a conflicting lock.
    #[error("the repository is locked by {holder} (lock '{path}'); wait for it to finish (a lock not refreshed for 30 minutes is ignored)")]
    Locked {
        /// Lock object path.
        path: String,
        /// Who holds it (host, pid, since).
        holder: String,
    },
    /// Bad key material or settings given by the caller.
    #[error("{0}")]
    Invalid(String),
    /// A local file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// Local path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl RepoError {
    /// The repository object the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            RepoError::Storage { path, .. }
            | RepoError::NotFound { path }
            | RepoError::AlreadyExists { path }
            | RepoError::Damaged { path, .. }
            | RepoError::Locked { path, .. } => Some(path),
            _ => None,
        }
    }

    /// A `Damaged` error.
    pub(crate) fn damaged(path: &str, detail: impl Into<String>) -> RepoError {
        RepoError::Damaged { path: path.to_owned(), detail: detail.into() }
    }
}
