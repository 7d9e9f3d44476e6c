//! The engine's error type. Each variant says which Tablestore error code it is
//! answered with (`code()`); the server turns that into the wire error in one place.

use tablesafe_proto::ErrorCode;

/// A failed engine operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The table does not exist.
    #[error("Requested table does not exist.")]
    TableNotFound {
        /// Table name.
        table: String,
    },
    /// A table with that name exists already.
    #[error("Requested table already exists.")]
    TableExists {
        /// Table name.
        table: String,
    },
    /// The request is invalid; the message is worded as the service words it.
    #[error("{0}")]
    Invalid(String),
    /// The primary key does not match the table's schema.
    #[error("{0}")]
    InvalidPk(String),
    /// Too many columns in one row of a request.
    #[error("The number of columns in one row exceeded the limit.")]
    ColumnCountLimit,
    /// Row data over the size limit.
    #[error("The total data size of columns in one row exceeded the limit.")]
    RowSizeLimit,
    /// A write condition did not hold.
    #[error("Condition check failed.")]
    ConditionFailed,
    /// A quota is exhausted (e.g. the number of tables).
    #[error("{0}")]
    Quota(String),
    /// A stream position lies before the retained records, or the stream it
    /// belongs to no longer exists (disabled, re-enabled or its table deleted).
    #[error("Requested stream data is already trimmed or does not exist.")]
    StreamTrimmed,
    /// No table has a stream with this id.
    #[error("Requested stream does not exist.")]
    StreamNotFound {
        /// The stream id asked for.
        stream_id: String,
    },
    /// A write met a row another request holds: a local transaction's partition,
    /// or a second transaction on it.
    #[error("{0}")]
    RowConflict(String),
    /// The local transaction named ended, timed out, or is not the caller's.
    #[error("Session not exist or may be timeout.")]
    TransactionGone,
    /// The local transaction named is serving another request.
    #[error("The last request on the transaction is not finished yet.")]
    TransactionBusy,
    /// A local transaction's writes over [`crate::MAX_TRANSACTION_BYTES`].
    #[error("The data written in the transaction exceeds the limit of {limit} bytes.")]
    TransactionTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A row outside the partition of the local transaction used.
    #[error("Data out of scope of transaction. Transaction PartKey:{transaction}. Data PartKey:{data}")]
    OutOfTransaction {
        /// The transaction's partition-key value, as text.
        transaction: String,
        /// The row's partition-key value, as text.
        data: String,
    },
    /// RocksDB failed.
    #[error("storage error during {context}: {source}")]
    Storage {
        /// What the engine was doing.
        context: &'static str,
        /// The RocksDB error.
        #[source]
        source: rocksdb::Error,
    },
    /// Stored bytes do not decode: the data directory is damaged.
    #[error("corrupt data: {detail}")]
    Corrupt {
        /// What failed to decode.
        detail: String,
    },
}

impl EngineError {
    /// Shorthand for a validation failure.
    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::Invalid(message.into())
    }

    /// The Tablestore error code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::TableNotFound { .. } => ErrorCode::ObjectNotExist,
            EngineError::TableExists { .. } => ErrorCode::ObjectAlreadyExist,
            EngineError::Invalid(_) => ErrorCode::ParameterInvalid,
            EngineError::InvalidPk(_) => ErrorCode::InvalidPk,
            EngineError::ColumnCountLimit => ErrorCode::OutOfColumnCountLimit,
            EngineError::RowSizeLimit => ErrorCode::OutOfRowSizeLimit,
            EngineError::ConditionFailed => ErrorCode::ConditionCheckFail,
            EngineError::Quota(_) => ErrorCode::QuotaExhausted,
            EngineError::StreamTrimmed => ErrorCode::TrimmedDataAccess,
            EngineError::StreamNotFound { .. } => ErrorCode::ObjectNotExist,
            EngineError::RowConflict(_) => ErrorCode::RowOperationConflict,
            EngineError::TransactionGone => ErrorCode::SessionNotExist,
            EngineError::TransactionBusy => ErrorCode::SessionBusy,
            EngineError::TransactionTooLarge { .. } => ErrorCode::OutOfTransactionDataSizeLimit,
            EngineError::OutOfTransaction { .. } => ErrorCode::DataOutOfRange,
            EngineError::Storage { .. } | EngineError::Corrupt { .. } => ErrorCode::InternalServerError,
        }
    }
}

/// Adds an operation name to a RocksDB error.
pub(crate) trait StorageContext<T> {
    fn context(self, context: &'static str) -> Result<T, EngineError>;
}

impl<T> StorageContext<T> for Result<T, rocksdb::Error> {
    fn context(self, context: &'static str) -> Result<T, EngineError> {
        self.map_err(|source| EngineError::Storage { context, source })
    }
}
