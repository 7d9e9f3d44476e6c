//! Errors of the protocol crate, and the table of Tablestore error codes with the
//! HTTP status each is answered with. The server maps every failure to one of these
//! codes in exactly one place (`tablesafe-server`'s `error.rs`).

/// A failure to decode or check protocol data.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// PlainBuffer bytes that do not follow the format (`detail` says where).
    #[error("invalid PlainBuffer: {detail}")]
    PlainBuffer {
        /// What is wrong, with the offset where useful.
        detail: String,
    },
    /// A row or cell checksum that does not match the data.
    #[error("PlainBuffer checksum mismatch in {what}: expected={expected:#04x} actual={actual:#04x}")]
    Checksum {
        /// "row" or "cell <name>".
        what: String,
        /// Checksum computed from the data.
        expected: u8,
        /// Checksum found in the buffer.
        actual: u8,
    },
    /// A protobuf message that does not decode.
    #[error("invalid protobuf {message}: {detail}")]
    Protobuf {
        /// Message type.
        message: &'static str,
        /// Decoder error.
        detail: String,
    },
    /// A filter or column condition that is malformed.
    #[error("invalid filter: {detail}")]
    Filter {
        /// What is wrong.
        detail: String,
    },
    /// A signature or header problem.
    #[error("{detail}")]
    Auth {
        /// What is wrong, worded as the service words it.
        detail: String,
    },
    /// A primary key value of a type keys cannot have (DOUBLE, BOOLEAN), worded as
    /// the service words it (400 `OTSParameterInvalid`).
    #[error("{type_name} is an invalid type for the primary key.")]
    InvalidPkType {
        /// The value's type: `DOUBLE` or `BOOLEAN`.
        type_name: &'static str,
    },
    /// A request header the check needs is absent (400 `OTSParameterInvalid`).
    #[error("Missing header: {name}")]
    MissingHeader {
        /// Lowercased header name, e.g. `x-ots-signature`.
        name: String,
    },
}

impl ProtoError {
    /// Shorthand for a PlainBuffer format error.
    pub fn plainbuffer(detail: impl Into<String>) -> Self {
        ProtoError::PlainBuffer { detail: detail.into() }
    }

    /// Shorthand for a filter error.
    pub fn filter(detail: impl Into<String>) -> Self {
        ProtoError::Filter { detail: detail.into() }
    }

    /// Shorthand for an authentication failure worded as the service words it.
    pub fn auth(detail: impl Into<String>) -> Self {
        ProtoError::Auth { detail: detail.into() }
    }

    /// The Tablestore error code this failure is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtoError::Auth { .. } => ErrorCode::AuthFailed,
            _ => ErrorCode::ParameterInvalid,
        }
    }
}

/// Tablestore error codes, each with its HTTP status (reference section 5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400 any validation failure.
    ParameterInvalid,
    /// 400 primary key does not match the schema.
    InvalidPk,
    /// 400 too many columns in one row.
    OutOfColumnCountLimit,
    /// 400 row data too large.
    OutOfRowSizeLimit,
    /// 403 signature, key, instance, MD5 or clock problems.
    AuthFailed,
    /// 403 the service's answer to an access policy that denies an action
    /// (TableSafe answers a role that does not allow an action with `AuthFailed`).
    NoPermissionAccess,
    /// 403 a write condition did not hold.
    ConditionCheckFail,
    /// 403 quota (e.g. table count) exhausted.
    QuotaExhausted,
    /// 404 table (or stream) does not exist.
    ObjectNotExist,
    /// 404 table not ready.
    TableNotReady,
    /// 405 not POST.
    MethodNotAllowed,
    /// 409 table already exists.
    ObjectAlreadyExist,
    /// 409 concurrent modification.
    RowOperationConflict,
    /// 413 request body over 5 MB.
    RequestBodyTooLarge,
    /// 500 internal error.
    InternalServerError,
    /// 503 server busy.
    ServerBusy,
    /// 503 operation timeout.
    Timeout,
    /// 404 stream data already trimmed.
    TrimmedDataAccess,
    /// 404 a local transaction that ended, timed out or never existed (the
    /// service publishes no status for it; 404 as for other missing objects).
    SessionNotExist,
    /// 409 a local transaction still serving another request (status not
    /// published; 409 as for other conflicts).
    SessionBusy,
    /// 400 a local transaction's writes over its data size limit.
    OutOfTransactionDataSizeLimit,
    /// 400 a row outside the partition of the local transaction used.
    DataOutOfRange,
}

impl ErrorCode {
    /// The code string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParameterInvalid => "OTSParameterInvalid",
            ErrorCode::InvalidPk => "OTSInvalidPK",
            ErrorCode::OutOfColumnCountLimit => "OTSOutOfColumnCountLimit",
            ErrorCode::OutOfRowSizeLimit => "OTSOutOfRowSizeLimit",
            ErrorCode::AuthFailed => "OTSAuthFailed",
            ErrorCode::NoPermissionAccess => "OTSNoPermissionAccess",
            ErrorCode::ConditionCheckFail => "OTSConditionCheckFail",
            ErrorCode::QuotaExhausted => "OTSQuotaExhausted",
            ErrorCode::ObjectNotExist => "OTSObjectNotExist",
            ErrorCode::TableNotReady => "OTSTableNotReady",
            ErrorCode::MethodNotAllowed => "OTSMethodNotAllowed",
            ErrorCode::ObjectAlreadyExist => "OTSObjectAlreadyExist",
            ErrorCode::RowOperationConflict => "OTSRowOperationConflict",
            ErrorCode::RequestBodyTooLarge => "OTSRequestBodyTooLarge",
            ErrorCode::InternalServerError => "OTSInternalServerError",
            ErrorCode::ServerBusy => "OTSServerBusy",
            ErrorCode::Timeout => "OTSTimeout",
            ErrorCode::TrimmedDataAccess => "OTSTrimmedDataAccess",
            ErrorCode::SessionNotExist => "OTSSessionNotExist",
            ErrorCode::SessionBusy => "OTSSessionBusy",
            ErrorCode::OutOfTransactionDataSizeLimit => "OTSOutOfTransactionDataSizeLimit",
            ErrorCode::DataOutOfRange => "OTSDataOutOfRange",
        }
    }

    /// The HTTP status the service answers this code with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ParameterInvalid
            | ErrorCode::InvalidPk
            | ErrorCode::OutOfColumnCountLimit
            | ErrorCode::OutOfRowSizeLimit
            | ErrorCode::OutOfTransactionDataSizeLimit
            | ErrorCode::DataOutOfRange => 400,
            ErrorCode::AuthFailed
            | ErrorCode::NoPermissionAccess
            | ErrorCode::ConditionCheckFail
            | ErrorCode::QuotaExhausted => 403,
            ErrorCode::ObjectNotExist
            | ErrorCode::TableNotReady
            | ErrorCode::TrimmedDataAccess
            | ErrorCode::SessionNotExist => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::ObjectAlreadyExist | ErrorCode::RowOperationConflict | ErrorCode::SessionBusy => 409,
            ErrorCode::RequestBodyTooLarge => 413,
            ErrorCode::InternalServerError => 500,
            ErrorCode::ServerBusy | ErrorCode::Timeout => 503,
        }
    }

    /// Parses a wire code string.
    pub fn from_wire(code: &str) -> Option<ErrorCode> {
        ALL_CODES.iter().copied().find(|c| c.as_str() == code)
    }

    /// Whether the official SDKs retry this code for every API (not only idempotent ones).
    pub fn is_always_retried(self) -> bool {
        matches!(self, ErrorCode::RowOperationConflict | ErrorCode::TableNotReady | ErrorCode::ServerBusy)
    }
}

const ALL_CODES: [ErrorCode; 22] = [
    ErrorCode::ParameterInvalid,
    ErrorCode::InvalidPk,
    ErrorCode::OutOfColumnCountLimit,
    ErrorCode::OutOfRowSizeLimit,
    ErrorCode::AuthFailed,
    ErrorCode::NoPermissionAccess,
    ErrorCode::ConditionCheckFail,
    ErrorCode::QuotaExhausted,
    ErrorCode::ObjectNotExist,
    ErrorCode::TableNotReady,
    ErrorCode::MethodNotAllowed,
    ErrorCode::ObjectAlreadyExist,
    ErrorCode::RowOperationConflict,
    ErrorCode::RequestBodyTooLarge,
    ErrorCode::InternalServerError,
    ErrorCode::ServerBusy,
    ErrorCode::Timeout,
    ErrorCode::TrimmedDataAccess,
    ErrorCode::SessionNotExist,
    ErrorCode::SessionBusy,
    ErrorCode::OutOfTransactionDataSizeLimit,
    ErrorCode::DataOutOfRange,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_string() {
        for code in ALL_CODES {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
            assert!(code.as_str().starts_with("OTS"));
        }
        assert_eq!(ErrorCode::from_wire("Nope"), None);
    }
}
