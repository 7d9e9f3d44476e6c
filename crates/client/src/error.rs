//! The client's one error type, [`ClientError`], and the small types it carries:
//! [`ServiceCode`] (a wire error code, typed where TableSafe knows it), [`RowError`]
//! (the failure of one row inside a batch) and [`TransportKind`]. A backup job
//! that a call waited for and that did not succeed is a [`ClientError::Job`].
//!
//! Invariants: every variant names the action it happened in; a secret never appears
//! in a message; `Display` output carries the data as `key=value` so that logs can be
//! searched.

use tablesafe_proto::backup_api::{Job, JobState};
use tablesafe_proto::ErrorCode;

/// A Tablestore error code as the service sent it: typed when TableSafe knows the
/// code, kept verbatim otherwise (the real service has codes TableSafe never sends,
/// such as `OTSPartitionUnavailable`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceCode {
    /// A code from TableSafe's table of error codes.
    Known(ErrorCode),
    /// Any other code string, verbatim.
    Other(String),
}

impl ServiceCode {
    /// Parses a wire code string.
    pub fn from_wire(code: &str) -> ServiceCode {
        ErrorCode::from_wire(code).map_or_else(|| ServiceCode::Other(code.to_owned()), ServiceCode::Known)
    }

    /// The code string as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ServiceCode::Known(code) => code.as_str(),
            ServiceCode::Other(code) => code,
        }
    }

    /// The typed code, when TableSafe knows it.
    pub fn known(&self) -> Option<ErrorCode> {
        match self {
            ServiceCode::Known(code) => Some(*code),
            ServiceCode::Other(_) => None,
        }
    }
}

impl PartialEq<ErrorCode> for ServiceCode {
    fn eq(&self, other: &ErrorCode) -> bool {
        self.known() == Some(*other)
    }
}

impl std::fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The failure of one row of a BatchGetRow or BatchWriteRow (the call itself
/// succeeded; other rows may have succeeded too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RowError {
    /// Error code, e.g. `OTSConditionCheckFail`.
    pub code: ServiceCode,
    /// Message worded by the service.
    pub message: String,
}

/// What went wrong below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// No connection could be established, so the request was never sent.
    Connect,
    /// The request (or reading its response) exceeded the request timeout; the
    /// server may have executed it.
    Timeout,
    /// Any other failure after the connection was made (reset, truncated
    /// response...); the server may have executed the request.
    Other,
}

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client could not be built (bad endpoint, TLS setup...).
    #[error("invalid client configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// The service answered with a Tablestore error.
    #[error(
        "{action} failed: code={code} http_status={http_status} request_id={}: {message}",
        .request_id.as_deref().unwrap_or("-")
    )]
    Service {
        /// Action name, e.g. `GetRow`.
        action: &'static str,
        /// Error code.
        code: ServiceCode,
        /// Message worded by the service.
        message: String,
        /// HTTP status of the response.
        http_status: u16,
        /// `x-ots-requestid` of the response, for the service's support.
        request_id: Option<String>,
        /// Whether the error response carried a valid response signature. Unsigned
        /// errors are answers to requests the server did not authenticate (and could
        /// be forged by anyone on the path), so they never cause a non-idempotent
        /// request to be sent again.
        signed: bool,
    },
    /// A non-2xx response whose body is not a Tablestore error (e.g. a proxy's 502).
    #[error(
        "{action} failed: http_status={http_status} request_id={} and no Tablestore error in the body",
        .request_id.as_deref().unwrap_or("-")
    )]
    Http {
        /// Action name.
        action: &'static str,
        /// HTTP status of the response.
        http_status: u16,
        /// `x-ots-requestid`, if present.
        request_id: Option<String>,
    },
    /// The request could not be exchanged with the endpoint.
    #[error("{action} failed: transport={kind:?}: {source}")]
    Transport {
        /// Action name.
        action: &'static str,
        /// Whether the request may have reached the server.
        kind: TransportKind,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The response failed verification (body MD5, response signature, date): it was
    /// altered on the way or does not come from a holder of the secret. Its content
    /// is discarded and the call is not retried.
    #[error("{action} failed: response integrity check failed: {detail} request_id={}", .request_id.as_deref().unwrap_or("-"))]
    Integrity {
        /// Action name.
        action: &'static str,
        /// Which check failed.
        detail: String,
        /// `x-ots-requestid`, if present (unverified).
        request_id: Option<String>,
    },
    /// A backup, restore or verification job the call waited for ended without
    /// success: it failed, was interrupted, or its check found a difference. The
    /// call itself went through; `job` is the job as the server last described it.
    #[error(
        "{action} failed: job={} state={}: {message}",
        .job.id,
        job_state_name(.job.state)
    )]
    Job {
        /// The action that started the job, e.g. `StartBackup`.
        action: &'static str,
        /// What went wrong: the job's error, or why a finished check is a failure.
        message: String,
        /// The job (id, state, error, snapshot, tables...).
        job: Box<Job>,
    },
    /// A verified response whose content does not decode (protobuf, PlainBuffer or
    /// an enum value this client does not know).
    #[error("{action} failed: undecodable {what} in the response: {detail}")]
    Decode {
        /// Action name.
        action: &'static str,
        /// What did not decode, e.g. `row` or `GetRowResponse`.
        what: &'static str,
        /// Decoder message.
        detail: String,
    },
}

/// A job state as the backup API writes it.
fn job_state_name(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Interrupted => "interrupted",
    }
}

impl ClientError {
    /// The job of a [`ClientError::Job`].
    pub fn job(&self) -> Option<&Job> {
        match self {
            ClientError::Job { job, .. } => Some(job),
            _ => None,
        }
    }

    /// The service's error code, for [`ClientError::Service`].
    pub fn service_code(&self) -> Option<&ServiceCode> {
        match self {
            ClientError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The typed service error code, when the service answered with one TableSafe knows.
    pub fn code(&self) -> Option<ErrorCode> {
        self.service_code().and_then(ServiceCode::known)
    }

    /// The HTTP status of an error response.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Service { http_status, .. } | ClientError::Http { http_status, .. } => Some(*http_status),
            _ => None,
        }
    }

    /// The `x-ots-requestid` of the failed response, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientError::Service { request_id, .. }
            | ClientError::Http { request_id, .. }
            | ClientError::Integrity { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The action of the failed call (`None` for configuration errors).
    pub fn action(&self) -> Option<&'static str> {
        match self {
            ClientError::Config { .. } => None,
            ClientError::Service { action, .. }
            | ClientError::Http { action, .. }
            | ClientError::Transport { action, .. }
            | ClientError::Integrity { action, .. }
            | ClientError::Job { action, .. }
            | ClientError::Decode { action, .. } => Some(action),
        }
    }

    pub(crate) fn decode(action: &'static str, what: &'static str, detail: impl std::fmt::Display) -> ClientError {
        ClientError::Decode { action, what, detail: detail.to_string() }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn service_codes_are_typed_when_known_and_kept_verbatim_otherwise() {
        assert_eq!(ServiceCode::from_wire("OTSObjectNotExist"), ServiceCode::Known(ErrorCode::ObjectNotExist));
        assert_eq!(ServiceCode::from_wire("OTSObjectNotExist"), ErrorCode::ObjectNotExist);
        let other = ServiceCode::from_wire("OTSPartitionUnavailable");
        assert_eq!(other, ServiceCode::Other("OTSPartitionUnavailable".into()));
        assert_eq!(other.as_str(), "OTSPartitionUnavailable");
        assert_eq!(other.known(), None);
    }

    #[test]
    fn service_errors_render_their_context() {
        let e = ClientError::Service {
            action: "GetRow",
            code: ServiceCode::Known(ErrorCode::ObjectNotExist),
            message: "Requested table does not exist.".into(),
            http_status: 404,
            request_id: Some("r-1".into()),
            signed: true,
        };
        assert_eq!(
            e.to_string(),
            "GetRow failed: code=OTSObjectNotExist http_status=404 request_id=r-1: Requested table does not exist."
        );
        assert_eq!(e.code(), Some(ErrorCode::ObjectNotExist));
        assert_eq!(e.http_status(), Some(404));
        assert_eq!(e.request_id(), Some("r-1"));
        assert_eq!(e.action(), Some("GetRow"));
    }
}
