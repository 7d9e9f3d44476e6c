//! An async client for the Tablestore wire protocol: TableSafe, and Alibaba Cloud
//! Tablestore with the same calls.
//!
//! One [`Client`] per endpoint and key; it is cheap to clone (clones share one
//! connection pool) and can be used from many tasks at once. Each API action is one
//! method taking a typed request and returning a typed response; rows use the shared
//! row model, re-exported as [`model`].
//!
//! ```
//! # use std::sync::Arc;
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let clock: Arc<dyn tablesafe_common::Clock> = Arc::new(tablesafe_common::SystemClock);
//! # let options = tablesafe_engine::EngineOptions { sync_writes: false, ..Default::default() };
//! # let engine = tablesafe_engine::Engine::open(dir.path(), options, Arc::clone(&clock))?;
//! # let keys = vec![tablesafe_server::AccessKey { id: "key-id".into(), secret: "secret".into() }];
//! # let state = tablesafe_server::ServerState { engine: Arc::new(engine), instance: "demo".into(), keys, clock };
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let endpoint = format!("http://{}", listener.local_addr()?);
//! # tokio::spawn(tablesafe_server::run(listener, Arc::new(state), std::future::pending()));
//! use tablesafe_client::{Client, CreateTableRequest, GetRowRequest, PutRowRequest};
//! use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Value};
//!
//! let client = Client::new(&endpoint, "demo", "key-id", "secret")?;
//! client.create_table(CreateTableRequest::new("users").primary_key("id", PrimaryKeyType::Integer)).await?;
//!
//! let ada = PrimaryKey::new([("id", PkValue::Integer(1))]);
//! let cells = [Cell::put("name", Value::String("Ada".into())), Cell::put("langs", Value::Integer(3))];
//! client.put_row(PutRowRequest::new("users", ada.clone(), cells)).await?;
//!
//! let row = client.get_row(GetRowRequest::new("users", ada)).await?.row.expect("the row exists");
//! assert_eq!(row.cells[1].name, "name");
//! assert_eq!(row.cells[1].value, Some(Value::String("Ada".into())));
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `table.rs`: CreateTable, ListTable, DescribeTable, UpdateTable, DeleteTable,
//!   ComputeSplitPointsBySize, ListSearchIndex.
//! - `row.rs`: GetRow, PutRow, UpdateRow, DeleteRow. `batch.rs`: BatchGetRow,
//!   BatchWriteRow. `range.rs`: GetRange and [`Client::scan`]. `stream.rs`: the Stream API.
//! - `backup.rs`: the backup API (plans, backups, restores, verifications, jobs;
//!   JSON bodies on the same signed protocol), [`BackupPolicy`] and [`RecoveryPoint`].
//! - `transport.rs`: signing, sending, response verification; `retry.rs`: which
//!   failures are retried; `config.rs`: [`ClientBuilder`] and [`RetryPolicy`];
//!   `wire.rs`: protobuf details; `error.rs`: [`ClientError`].
//!
//! # Response verification
//!
//! Requests are signed with the access key secret (V2 signatures, as the official
//! SDKs send by default). Every response is verified before anything in it is used:
//! the body's MD5 must match `x-ots-contentmd5`, the `authorization` header must hold
//! a response signature made with the same secret over every `x-ots-*` header and the
//! action, and the signed `x-ots-date` must be within 15 minutes of the local clock. A
//! failed check is a [`ClientError::Integrity`]; the response's content is discarded
//! and the call is not retried. Error responses are verified when signed; the server
//! cannot sign errors for requests it did not authenticate (wrong key, bad
//! signature), so those arrive as unsigned [`ClientError::Service`] errors.
//!
//! # Retries
//!
//! Failed calls are retried with exponential backoff and full jitter (see
//! [`RetryPolicy`]), only where sending the request again cannot change what a
//! successful first attempt would have done:
//!
//! - Idempotent actions (GetRow, BatchGetRow, GetRange, ListTable, DescribeTable,
//!   ComputeSplitPointsBySize, ListSearchIndex and the four stream actions) are retried on
//!   `OTSServerBusy`, `OTSQuotaExhausted` ("Too frequent table operations." only),
//!   `OTSRowOperationConflict`, `OTSTableNotReady`, `OTSTimeout`,
//!   `OTSInternalServerError`, `OTSServerUnavailable`, `OTSPartitionUnavailable`,
//!   `OTSNotEnoughCapacityUnit`, `OTSOperationThrottled`, any other HTTP 5xx, and on
//!   connection failures and timeouts.
//! - Non-idempotent actions (PutRow, UpdateRow, DeleteRow, BatchWriteRow, CreateTable,
//!   UpdateTable, DeleteTable) are retried only when the failure proves the request
//!   was not executed: the connection could not be established, or the service
//!   answered with a signed `OTSServerBusy`, `OTSQuotaExhausted` ("Too frequent table
//!   operations."), `OTSRowOperationConflict`, `OTSTableNotReady`,
//!   `OTSPartitionUnavailable`, `OTSNotEnoughCapacityUnit` or `OTSOperationThrottled`,
//!   which the service answers before executing anything. A timeout, a reset
//!   connection or an `OTSInternalServerError` may hide an executed write, and an
//!   unsigned error could have been forged after the request went through, so none
//!   of those is retried.
//! - Integrity and decode failures and every other service error
//!   (conditions, missing tables, authentication...) are returned at once.
//!
//! Per-row failures inside BatchGetRow/BatchWriteRow are results, not call failures,
//! and are never retried by the client.

#![warn(missing_docs)]

/// Adds the read-option setters (columns, versions, time range, filter, column
/// window) to a request type with a `read: ReadOptions` field.
macro_rules! impl_read_setters {
    ($type:ty) => {
        impl $type {
            /// Returns only these columns (attribute or key names); by default all.
            pub fn columns<I, S>(mut self, columns: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                self.read.columns_to_get = columns.into_iter().map(Into::into).collect();
                self
            }

            /// Returns the newest `versions` versions of each column (default 1).
            pub fn max_versions(mut self, versions: i32) -> Self {
                self.read.max_versions = Some(versions);
                self
            }

            /// Returns only versions in this window.
            pub fn time_range(mut self, range: tablesafe_proto::model::TimeRange) -> Self {
                self.read.time_range = Some(range);
                self
            }

            /// Returns only rows (and, for pagination filters, columns) that pass `filter`.
            pub fn filter(mut self, filter: tablesafe_proto::model::Filter) -> Self {
                self.read.filter = Some(filter);
                self
            }

            /// Returns only columns whose names are in `[start, end)`.
            pub fn column_window(mut self, start: Option<String>, end: Option<String>) -> Self {
                self.read.start_column = start;
                self.read.end_column = end;
                self
            }
        }
    };
}

/// Adds the condition and return-content setters to a row-write request type.
macro_rules! impl_write_setters {
    ($type:ty) => {
        impl $type {
            /// Replaces the whole condition.
            pub fn condition(mut self, condition: tablesafe_proto::model::Condition) -> Self {
                self.condition = condition;
                self
            }

            /// Requires the row to exist (or not) before the write.
            pub fn row_existence(mut self, existence: tablesafe_proto::model::RowExistence) -> Self {
                self.condition.row_existence = existence;
                self
            }

            /// Requires the current row to pass `filter` before the write.
            pub fn column_condition(mut self, filter: tablesafe_proto::model::Filter) -> Self {
                self.condition.column_condition = Some(filter);
                self
            }

            /// What the response returns of the written row.
            pub fn return_content(mut self, content: crate::wire::ReturnContent) -> Self {
                self.return_content = content;
                self
            }
        }
    };
}

mod backup;
mod batch;
mod config;
mod error;
mod range;
mod retry;
mod row;
mod stream;
mod table;
mod transaction;
mod transport;
mod wire;

use std::sync::Arc;

pub use backup::{BackupPolicy, RecoveryPoint, RecoveryPoints, RecoveryTarget};
pub use batch::{
    BatchGetRowRequest, BatchGetRowResponse, BatchGetTable, BatchGetTableResult, BatchWriteRowRequest,
    BatchWriteRowResponse, RowWrite,
};
pub use config::{ClientBuilder, RetryPolicy, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
pub use error::{ClientError, RowError, ServiceCode, TransportKind};
pub use range::{Direction, GetRangeRequest, GetRangeResponse};
pub use row::{DeleteRowRequest, GetRowRequest, GetRowResponse, PutRowRequest, UpdateRowRequest, WriteRowResponse};
pub use stream::{
    DescribeStreamRequest, GetShardIteratorRequest, GetStreamRecordRequest, GetStreamRecordResponse, StreamAction,
    StreamDescription, StreamInfo, StreamRecord, StreamShard, StreamStatus,
};
pub use table::{
    CreateTableRequest, SplitLocation, SplitPointsRequest, SplitPointsResponse, StreamDetails, TableDescription,
    UpdateTableRequest, UpdateTableResponse,
};
/// The backup API's wire types (plans, jobs, snapshots, recovery points, requests).
pub use tablesafe_proto::backup_api;
pub use tablesafe_proto::backup_api::{
    Destination, Job, JobKind, JobState, JobTrigger, ListJobsRequest, ListRecoveryPointsRequest, ListSnapshotsRequest,
    Plan, PlanStatus, SnapshotInfo, SnapshotPoint, SnapshotTable, StartBackupRequest, StartRestoreRequest,
    TableRecoveryPoints, TimeGap, TimeSpan, UpdateJobNoteRequest, UpdateSnapshotInfoRequest, VerifyBackupRequest,
};
/// The shared row model: keys, values, cells, rows, conditions, filters, table settings.
pub use tablesafe_proto::model;
pub use tablesafe_proto::ErrorCode;
pub use transport::MAX_RESPONSE_BYTES;
pub use wire::{CapacityUnits, ReturnContent};

/// A Tablestore client for one endpoint, instance and access key.
///
/// Cloning is cheap and clones share the connection pool; a `Client` can be used
/// from many tasks concurrently.
#[derive(Clone, Debug)]
pub struct Client {
    transport: Arc<transport::Transport>,
}

impl Client {
    /// A client with default settings (timeouts, [`RetryPolicy::default`]).
    ///
    /// `endpoint` is `http://host:port` or `https://host` (a path prefix is kept and
    /// the action appended to it); `instance` is sent as `x-ots-instancename`.
    /// Fails with [`ClientError::Config`] for a malformed endpoint or empty
    /// credentials; nothing is sent until the first call.
    pub fn new(
        endpoint: impl AsRef<str>,
        instance: impl AsRef<str>,
        access_key_id: impl AsRef<str>,
        access_key_secret: impl AsRef<str>,
    ) -> Result<Client, ClientError> {
        Client::builder(endpoint, instance, access_key_id, access_key_secret).build()
    }

    /// A builder for a client with non-default timeouts, retries, STS token, user
    /// agent or clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tablesafe_client::{Client, RetryPolicy};
    ///
    /// let client = Client::builder("http://127.0.0.1:8800", "demo", "key-id", "secret")
    ///     .request_timeout(Duration::from_secs(5))
    ///     .retry_policy(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() })
    ///     .build()?;
    /// assert_eq!(client.endpoint(), "http://127.0.0.1:8800");
    /// # Ok::<(), tablesafe_client::ClientError>(())
    /// ```
    pub fn builder(
        endpoint: impl AsRef<str>,
        instance: impl AsRef<str>,
        access_key_id: impl AsRef<str>,
        access_key_secret: impl AsRef<str>,
    ) -> ClientBuilder {
        ClientBuilder::new(endpoint.as_ref(), instance.as_ref(), access_key_id.as_ref(), access_key_secret.as_ref())
    }

    fn from_transport(transport: transport::Transport) -> Client {
        Client { transport: Arc::new(transport) }
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        self.transport.endpoint()
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        self.transport.instance()
    }
}
