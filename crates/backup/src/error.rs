//! The backup engine's error type: each failure says which table and step it was.

use tablesafe_client::ClientError;
use tablesafe_engine::EngineError;
use tablesafe_repo::RepoError;

/// A failed backup, restore or verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The local engine failed.
    #[error("{}{source}", table_prefix(table))]
    Engine {
        /// Table involved.
        table: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// A remote endpoint failed.
    #[error("{}{source}", table_prefix(table))]
    Remote {
        /// Table involved.
        table: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// The snapshot or table asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A restore target exists and may not be overwritten.
    #[error("table '{0}' already exists; restore to another table, or overwrite this one")]
    TargetExists(String),
    /// Stored table data does not decode or does not match its digest.
    #[error("snapshot {snapshot}, table '{table}': {detail}")]
    Corrupt {
        /// Snapshot id.
        snapshot: String,
        /// Table.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// A request or plan is not valid (a bad name, duration, cron expression...).
    #[error("{0}")]
    Invalid(String),
    /// What a request would create exists already, or a job of the plan is running.
    #[error("{0}")]
    Conflict(String),
    /// A background task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `table 'name': ` before a message about one table; nothing otherwise.
fn table_prefix(table: &str) -> String {
    if table.is_empty() {
        String::new()
    } else {
        format!("table '{table}': ")
    }
}

impl BackupError {
    pub(crate) fn engine(table: &str) -> impl FnOnce(EngineError) -> BackupError + '_ {
        move |source| BackupError::Engine { table: table.to_owned(), source }
    }

    pub(crate) fn remote(table: &str) -> impl FnOnce(ClientError) -> BackupError + '_ {
        move |source| BackupError::Remote { table: table.to_owned(), source }
    }
}

impl From<EngineError> for BackupError {
    fn from(source: EngineError) -> Self {
        BackupError::Engine { table: String::new(), source }
    }
}
