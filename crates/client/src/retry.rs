//! Which failed calls are sent again, and how long to wait first.
//!
//! The rule (also in the crate documentation, "Retries"): a call is retried only when
//! sending it again cannot change the outcome a successful first attempt would have
//! had.
//! - Idempotent actions (every read, ListTable, DescribeTable,
//!   ComputeSplitPointsBySize and the stream reads) are retried on transient service
//!   errors (`OTSServerBusy`, `OTSQuotaExhausted` "Too frequent table operations.",
//!   `OTSRowOperationConflict`, `OTSTableNotReady`, `OTSTimeout`,
//!   `OTSInternalServerError`, `OTSServerUnavailable`, `OTSPartitionUnavailable`,
//!   `OTSNotEnoughCapacityUnit`, `OTSOperationThrottled`, any other 5xx) and on
//!   connection failures and timeouts.
//! - Other actions (writes; CreateTable, UpdateTable, DeleteTable) are retried only
//!   when the failure proves the request was not executed: the connection could not
//!   be established, or the service answered, with a *signed* response, one of the
//!   codes it returns before executing anything (`OTSServerBusy`,
//!   `OTSRowOperationConflict`, `OTSTableNotReady`, `OTSQuotaExhausted` "Too frequent
//!   table operations.", `OTSPartitionUnavailable`, `OTSNotEnoughCapacityUnit`,
//!   `OTSOperationThrottled`). An unsigned error response proves nothing (anyone on
//!   the path can forge it after letting the request through), and a timeout or
//!   reset may hide an executed write.
//! - Integrity failures, decode failures and all other service errors are never
//!   retried.

use std::time::Duration;

use rand::Rng;
use tablesafe_proto::ErrorCode;

use crate::config::RetryPolicy;
use crate::error::{ClientError, ServiceCode, TransportKind};

/// An action of the API and whether repeating it is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Action {
    /// The action name, the last path segment of the URL.
    pub(crate) name: &'static str,
    /// Whether executing the request twice has the same effect as once.
    pub(crate) idempotent: bool,
}

const fn read(name: &'static str) -> Action {
    Action { name, idempotent: true }
}

const fn write(name: &'static str) -> Action {
    Action { name, idempotent: false }
}

pub(crate) const CREATE_TABLE: Action = write("CreateTable");
pub(crate) const LIST_TABLE: Action = read("ListTable");
pub(crate) const DESCRIBE_TABLE: Action = read("DescribeTable");
pub(crate) const UPDATE_TABLE: Action = write("UpdateTable");
pub(crate) const DELETE_TABLE: Action = write("DeleteTable");
pub(crate) const CREATE_INDEX: Action = write("CreateIndex");
pub(crate) const DROP_INDEX: Action = write("DropIndex");
pub(crate) const COMPUTE_SPLIT_POINTS: Action = read("ComputeSplitPointsBySize");
pub(crate) const LIST_SEARCH_INDEX: Action = read("ListSearchIndex");
pub(crate) const GET_ROW: Action = read("GetRow");
pub(crate) const PUT_ROW: Action = write("PutRow");
pub(crate) const UPDATE_ROW: Action = write("UpdateRow");
pub(crate) const DELETE_ROW: Action = write("DeleteRow");
pub(crate) const BATCH_GET_ROW: Action = read("BatchGetRow");
pub(crate) const BATCH_WRITE_ROW: Action = write("BatchWriteRow");
pub(crate) const GET_RANGE: Action = read("GetRange");
pub(crate) const LIST_STREAM: Action = read("ListStream");
pub(crate) const DESCRIBE_STREAM: Action = read("DescribeStream");
pub(crate) const GET_SHARD_ITERATOR: Action = read("GetShardIterator");
pub(crate) const GET_STREAM_RECORD: Action = read("GetStreamRecord");
pub(crate) const START_LOCAL_TRANSACTION: Action = write("StartLocalTransaction");
pub(crate) const COMMIT_TRANSACTION: Action = write("CommitTransaction");
pub(crate) const ABORT_TRANSACTION: Action = write("AbortTransaction");

/// Message of the one `OTSQuotaExhausted` that is transient (the other, "Number of
/// tables exceeded the quota.", does not go away by waiting).
const TOO_FREQUENT_TABLE_OPERATIONS: &str = "Too frequent table operations.";

/// Codes the service answers before executing anything (retried for every action
/// when the response is signed). Codes TableSafe's table does not know are matched
/// by their wire strings.
fn answered_before_execution(code: &ServiceCode, message: &str) -> bool {
    match code {
        ServiceCode::Known(ErrorCode::QuotaExhausted) => message == TOO_FREQUENT_TABLE_OPERATIONS,
        ServiceCode::Known(known) => known.is_always_retried(),
        ServiceCode::Other(other) => {
            matches!(other.as_str(), "OTSPartitionUnavailable" | "OTSNotEnoughCapacityUnit" | "OTSOperationThrottled")
        }
    }
}

/// Transient codes whose request may nevertheless have been executed (retried only
/// for idempotent actions).
fn transient_after_execution(code: &ServiceCode, http_status: u16) -> bool {
    match code {
        ServiceCode::Known(ErrorCode::Timeout | ErrorCode::InternalServerError) => true,
        ServiceCode::Other(other) if other == "OTSServerUnavailable" => true,
        _ => http_status >= 500,
    }
}

/// Whether `error`, met by an action with the given idempotency, is worth another attempt.
pub(crate) fn is_retryable(error: &ClientError, idempotent: bool) -> bool {
    match error {
        ClientError::Service { code, message, http_status, signed, .. } => {
            let before = answered_before_execution(code, message);
            if idempotent {
                before || transient_after_execution(code, *http_status)
            } else {
                before && *signed
            }
        }
        ClientError::Http { http_status, .. } => idempotent && *http_status >= 500,
        ClientError::Transport { kind, .. } => idempotent || *kind == TransportKind::Connect,
        _ => false,
    }
}

/// The sleep before attempt `attempt + 1`: uniform in `[0, cap]` ("full jitter").
pub(crate) fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let cap = policy.delay_cap(attempt);
    let cap_micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand::thread_rng().gen_range(0..=cap_micros))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn service(code: &str, message: &str, http_status: u16, signed: bool) -> ClientError {
        ClientError::Service {
            action: "PutRow",
            code: ServiceCode::from_wire(code),
            message: message.into(),
            http_status,
            request_id: None,
            signed,
        }
    }

    #[test]
    fn pre_execution_codes_are_retried_for_writes_only_when_signed() {
        for code in ["OTSServerBusy", "OTSRowOperationConflict", "OTSTableNotReady", "OTSPartitionUnavailable"] {
            assert!(is_retryable(&service(code, "", 503, true), false), "{code}");
            assert!(!is_retryable(&service(code, "", 503, false), false), "{code} unsigned");
            assert!(is_retryable(&service(code, "", 503, false), true), "{code} idempotent");
        }
        let quota = service("OTSQuotaExhausted", TOO_FREQUENT_TABLE_OPERATIONS, 403, true);
        assert!(is_retryable(&quota, false));
        let table_quota = service("OTSQuotaExhausted", "Number of tables exceeded the quota.", 403, true);
        assert!(!is_retryable(&table_quota, false));
        assert!(!is_retryable(&table_quota, true));
    }

    #[test]
    fn post_execution_codes_are_retried_for_idempotent_actions_only() {
        for (code, status) in [("OTSInternalServerError", 500), ("OTSTimeout", 503), ("OTSServerUnavailable", 503)] {
            assert!(is_retryable(&service(code, "", status, true), true), "{code}");
            assert!(!is_retryable(&service(code, "", status, true), false), "{code}");
        }
        let proxy = ClientError::Http { action: "GetRow", http_status: 502, request_id: None };
        assert!(is_retryable(&proxy, true));
        assert!(!is_retryable(&proxy, false));
    }

    #[test]
    fn client_side_and_permanent_failures_are_never_retried() {
        for code in ["OTSConditionCheckFail", "OTSObjectNotExist", "OTSAuthFailed", "OTSParameterInvalid"] {
            assert!(!is_retryable(&service(code, "", 400, true), true), "{code}");
        }
        let integrity = ClientError::Integrity { action: "GetRow", detail: "x".into(), request_id: None };
        assert!(!is_retryable(&integrity, true));
        assert!(!is_retryable(&ClientError::decode("GetRow", "row", "bad"), true));
    }

    #[test]
    fn backoff_is_bounded_by_the_exponential_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        assert_eq!(policy.delay_cap(1), Duration::from_millis(100));
        assert_eq!(policy.delay_cap(3), Duration::from_millis(400));
        assert_eq!(policy.delay_cap(5), Duration::from_millis(1000));
        assert_eq!(policy.delay_cap(200), Duration::from_millis(1000));
        for attempt in 1..12 {
            assert!(backoff(&policy, attempt) <= policy.delay_cap(attempt));
        }
    }
}
