//! GetRange: one page ([`Client::get_range`]) or every row of a range as a stream
//! ([`Client::scan`]) that follows `next_start_primary_key` by itself.
//!
//! Invariants of `scan`: at most one page is held in memory (the next page is asked
//! for only when the current one is used up); rows come in the order the service
//! returns them, never repeated or skipped, because each page starts exactly at the
//! previous page's `next_start_primary_key`; the stream ends after the first error.

use std::collections::VecDeque;

use futures::Stream;
use tablesafe_proto::model::{PrimaryKey, ReadOptions, Row};
use tablesafe_proto::{pb, plainbuffer};

use crate::error::ClientError;
use crate::retry;
use crate::wire::{self, CapacityUnits};
use crate::Client;

/// Scan order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending keys; `start` must be below `end`.
    #[default]
    Forward,
    /// Descending keys; `start` must be above `end`.
    Backward,
}

/// GetRange: rows from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct GetRangeRequest {
    /// Table name.
    pub table: String,
    /// Inclusive start key; columns may be [`PkValue::InfMin`](tablesafe_proto::model::PkValue)/`InfMax`.
    pub start: PrimaryKey,
    /// Exclusive end key.
    pub end: PrimaryKey,
    /// Scan order.
    pub direction: Direction,
    /// [`Client::get_range`]: most rows of the page. [`Client::scan`]: most rows in
    /// total. `None`: no limit (pages are still cut at 5,000 rows or 4 MB).
    pub limit: Option<i32>,
    /// Columns, versions and filter.
    pub read: ReadOptions,
}

impl GetRangeRequest {
    /// A forward scan from `start` to `end` of every column's newest version.
    pub fn new(table: impl Into<String>, start: PrimaryKey, end: PrimaryKey) -> Self {
        GetRangeRequest {
            table: table.into(),
            start,
            end,
            direction: Direction::Forward,
            limit: None,
            read: ReadOptions::default(),
        }
    }

    /// Scans in descending key order (`start` must then be above `end`).
    pub fn backward(mut self) -> Self {
        self.direction = Direction::Backward;
        self
    }

    /// Caps the rows returned (per page for `get_range`, in total for `scan`).
    pub fn limit(mut self, limit: i32) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl_read_setters!(GetRangeRequest);

/// One page of GetRange.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRangeResponse {
    /// Rows in scan order.
    pub rows: Vec<Row>,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next_start: Option<PrimaryKey>,
    /// Capacity consumed.
    pub consumed: CapacityUnits,
}

impl Client {
    /// Reads one page of a range. A page may hold fewer rows than asked for (even
    /// none, when a filter drops them) while `next_start` is set; continue from
    /// there, or use [`scan`](Self::scan).
    #[doc(alias = "GetRange")]
    pub async fn get_range(&self, request: GetRangeRequest) -> Result<GetRangeResponse, ClientError> {
        let action = retry::GET_RANGE;
        let read = wire::read_fields(&request.read);
        let message = pb::GetRangeRequest {
            table_name: request.table,
            direction: match request.direction {
                Direction::Forward => pb::Direction::Forward,
                Direction::Backward => pb::Direction::Backward,
            } as i32,
            columns_to_get: read.columns_to_get,
            time_range: read.time_range,
            max_versions: read.max_versions,
            limit: request.limit,
            inclusive_start_primary_key: plainbuffer::encode_primary_key(&request.start),
            exclusive_end_primary_key: plainbuffer::encode_primary_key(&request.end),
            filter: read.filter,
            start_column: read.start_column,
            end_column: read.end_column,
            ..Default::default()
        };
        let response: pb::GetRangeResponse = self.transport.call(action, &message).await?;
        Ok(GetRangeResponse {
            rows: plainbuffer::decode_rows(&response.rows).map_err(|e| ClientError::decode(action.name, "rows", e))?,
            // Java chokes on a present-but-empty key; treat one as "exhausted" here.
            next_start: match response.next_start_primary_key.as_deref() {
                None | Some([]) => None,
                Some(bytes) => Some(wire::decode_key(action.name, "next_start_primary_key", bytes)?),
            },
            consumed: CapacityUnits::from(&response.consumed),
        })
    }

    /// Every row of a range, page by page, as a stream. `request.limit` caps the
    /// total; each page asks only for the rows still wanted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let clock: Arc<dyn tablesafe_common::Clock> = Arc::new(tablesafe_common::SystemClock);
    /// # let options = tablesafe_engine::EngineOptions { sync_writes: false, ..Default::default() };
    /// # let engine = tablesafe_engine::Engine::open(dir.path(), options, Arc::clone(&clock))?;
    /// # let keys = vec![tablesafe_server::AccessKey { id: "key-id".into(), secret: "secret".into() }];
    /// # let state = tablesafe_server::ServerState { engine: Arc::new(engine), instance: "demo".into(), keys, clock };
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let endpoint = format!("http://{}", listener.local_addr()?);
    /// # tokio::spawn(tablesafe_server::run(listener, Arc::new(state), std::future::pending()));
    /// use futures::TryStreamExt;
    /// use tablesafe_client::{BatchWriteRowRequest, Client, CreateTableRequest, GetRangeRequest, PutRowRequest};
    /// use tablesafe_client::model::{PkValue, PrimaryKey, PrimaryKeyType};
    ///
    /// let client = Client::new(&endpoint, "demo", "key-id", "secret")?;
    /// client.create_table(CreateTableRequest::new("events").primary_key("seq", PrimaryKeyType::Integer)).await?;
    /// let key = |seq| PrimaryKey::new([("seq", PkValue::Integer(seq))]);
    /// let batch: BatchWriteRowRequest = (0..100).map(|seq| PutRowRequest::new("events", key(seq), [])).collect();
    /// client.batch_write_row(batch).await?;
    ///
    /// // The newest 10 events, newest first.
    /// let range = GetRangeRequest::new("events", key(i64::MAX), key(i64::MIN)).backward().limit(10);
    /// let rows: Vec<_> = client.scan(range).try_collect().await?;
    /// assert_eq!(rows.len(), 10);
    /// assert_eq!(rows[0].primary_key, key(99));
    /// # Ok(()) }
    /// ```
    pub fn scan(&self, request: GetRangeRequest) -> impl Stream<Item = Result<Row, ClientError>> + Send + 'static {
        let state = ScanState {
            client: self.clone(),
            remaining: request.limit.map(|l| i64::from(l.max(0))),
            next: Some(request),
            page: VecDeque::new(),
        };
        futures::stream::try_unfold(state, next_row)
    }
}

/// The next row of a scan, fetching the next page when the current one is used up.
async fn next_row(mut state: ScanState) -> Result<Option<(Row, ScanState)>, ClientError> {
    loop {
        if state.remaining == Some(0) {
            return Ok(None);
        }
        if let Some(row) = state.page.pop_front() {
            state.remaining = state.remaining.map(|r| r - 1);
            return Ok(Some((row, state)));
        }
        let Some(mut request) = state.next.take() else { return Ok(None) };
        request.limit = state.remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX));
        let page = state.client.get_range(request.clone()).await?;
        state.page = page.rows.into();
        state.next = page.next_start.map(|start| GetRangeRequest { start, ..request });
    }
}

/// Where a scan stands: the rows of the current page not yet yielded, the request of
/// the next page (`None` once the range is exhausted) and the rows still wanted.
struct ScanState {
    client: Client,
    next: Option<GetRangeRequest>,
    page: VecDeque<Row>,
    remaining: Option<i64>,
}
