//! BatchGetRow and BatchWriteRow.
//!
//! Invariants:
//! - Results come back in request order, one per requested row. BatchWriteRow rows
//!   may name tables in any order; the wire groups rows by table (a table may appear
//!   once per request), so the client groups them in order of first appearance and
//!   puts every result back at its row's position.
//! - A response whose shape does not match the request (tables, row counts) is a
//!   [`ClientError::Decode`], never silently misattributed results.
//! - A row that fails inside a successful call is an `Err(RowError)` in its slot; the
//!   call itself fails only for request-level problems.

use tablesafe_proto::convert;
use tablesafe_proto::model::{PrimaryKey, ReadOptions};
use tablesafe_proto::{pb, plainbuffer};

use crate::error::{ClientError, RowError};
use crate::retry;
use crate::row::{encode_delete, encode_put, encode_update, DeleteRowRequest, GetRowResponse, PutRowRequest};
use crate::row::{UpdateRowRequest, WriteRowResponse};
use crate::wire::{self, CapacityUnits};
use crate::Client;

/// One row of a BatchWriteRow: a put, an update or a delete, each with its own
/// table, condition and return content.
#[derive(Debug, Clone, PartialEq)]
pub enum RowWrite {
    /// Replace a whole row.
    Put(PutRowRequest),
    /// Change some columns.
    Update(UpdateRowRequest),
    /// Delete a row.
    Delete(DeleteRowRequest),
}

impl RowWrite {
    /// The table the row belongs to.
    pub fn table(&self) -> &str {
        match self {
            RowWrite::Put(r) => &r.table,
            RowWrite::Update(r) => &r.table,
            RowWrite::Delete(r) => &r.table,
        }
    }

    fn to_pb(&self) -> pb::RowInBatchWriteRowRequest {
        let (op, row_change, condition, return_content) = match self {
            RowWrite::Put(r) => (pb::OperationType::Put, encode_put(r), &r.condition, &r.return_content),
            RowWrite::Update(r) => (pb::OperationType::Update, encode_update(r), &r.condition, &r.return_content),
            RowWrite::Delete(r) => (pb::OperationType::Delete, encode_delete(r), &r.condition, &r.return_content),
        };
        pb::RowInBatchWriteRowRequest {
            r#type: op as i32,
            row_change,
            condition: convert::condition_to_pb(condition),
            return_content: wire::return_content_to_pb(return_content),
        }
    }
}

impl From<PutRowRequest> for RowWrite {
    fn from(request: PutRowRequest) -> Self {
        RowWrite::Put(request)
    }
}

impl From<UpdateRowRequest> for RowWrite {
    fn from(request: UpdateRowRequest) -> Self {
        RowWrite::Update(request)
    }
}

impl From<DeleteRowRequest> for RowWrite {
    fn from(request: DeleteRowRequest) -> Self {
        RowWrite::Delete(request)
    }
}

/// BatchWriteRow: up to 200 row writes over any tables, committed together by
/// TableSafe (each row's condition is checked on its own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchWriteRowRequest {
    /// The rows, in the order their results are returned.
    pub rows: Vec<RowWrite>,
}

impl BatchWriteRowRequest {
    /// An empty batch.
    pub fn new() -> Self {
        BatchWriteRowRequest::default()
    }

    /// Appends a row write (a [`PutRowRequest`], [`UpdateRowRequest`] or [`DeleteRowRequest`]).
    pub fn row(mut self, row: impl Into<RowWrite>) -> Self {
        self.rows.push(row.into());
        self
    }
}

impl<W: Into<RowWrite>> FromIterator<W> for BatchWriteRowRequest {
    fn from_iter<I: IntoIterator<Item = W>>(iter: I) -> Self {
        BatchWriteRowRequest { rows: iter.into_iter().map(Into::into).collect() }
    }
}

impl<W: Into<RowWrite>> Extend<W> for BatchWriteRowRequest {
    fn extend<I: IntoIterator<Item = W>>(&mut self, iter: I) {
        self.rows.extend(iter.into_iter().map(Into::into));
    }
}

/// BatchWriteRow's answer: one result per request row, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchWriteRowResponse {
    /// Results in request order.
    pub rows: Vec<Result<WriteRowResponse, RowError>>,
}

impl BatchWriteRowResponse {
    /// Whether every row succeeded.
    pub fn is_all_ok(&self) -> bool {
        self.rows.iter().all(Result::is_ok)
    }

    /// The failed rows as `(index in the request, error)`.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &RowError)> {
        self.rows.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }
}

/// The rows of one table in a BatchGetRow, with the read options they share.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGetTable {
    /// Table name.
    pub table: String,
    /// Primary keys, in the order their results are returned.
    pub keys: Vec<PrimaryKey>,
    /// Columns, versions and filter for every key of this table.
    pub read: ReadOptions,
}

impl BatchGetTable {
    /// No keys yet; every column's newest version.
    pub fn new(table: impl Into<String>) -> Self {
        BatchGetTable { table: table.into(), keys: Vec::new(), read: ReadOptions::default() }
    }

    /// Appends a key.
    pub fn key(mut self, primary_key: PrimaryKey) -> Self {
        self.keys.push(primary_key);
        self
    }

    /// Appends keys.
    pub fn keys(mut self, keys: impl IntoIterator<Item = PrimaryKey>) -> Self {
        self.keys.extend(keys);
        self
    }
}

impl_read_setters!(BatchGetTable);

/// BatchGetRow: up to 100 rows from one or more tables (each table once).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchGetRowRequest {
    /// Tables with their keys, in the order results are returned.
    pub tables: Vec<BatchGetTable>,
}

impl BatchGetRowRequest {
    /// An empty batch.
    pub fn new() -> Self {
        BatchGetRowRequest::default()
    }

    /// Appends a table's keys.
    pub fn table(mut self, table: BatchGetTable) -> Self {
        self.tables.push(table);
        self
    }
}

/// The results for one table of a BatchGetRow.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGetTableResult {
    /// Table name.
    pub table: String,
    /// One result per key, in request order; a missing row is `Ok` with `row: None`.
    pub rows: Vec<Result<GetRowResponse, RowError>>,
}

/// BatchGetRow's answer, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGetRowResponse {
    /// One entry per requested table.
    pub tables: Vec<BatchGetTableResult>,
}

impl BatchGetRowResponse {
    /// Every row result with its table, in request order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &Result<GetRowResponse, RowError>)> {
        self.tables.iter().flat_map(|t| t.rows.iter().map(move |r| (t.table.as_str(), r)))
    }
}

fn shape_error(action: &'static str, detail: String) -> ClientError {
    ClientError::decode(action, "batch response shape", detail)
}

impl Client {
    /// Writes rows of one or more tables in one call.
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
    /// use tablesafe_client::{BatchWriteRowRequest, Client, CreateTableRequest, DeleteRowRequest, PutRowRequest};
    /// use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, RowExistence, Value};
    /// use tablesafe_client::ErrorCode;
    ///
    /// let client = Client::new(&endpoint, "demo", "key-id", "secret")?;
    /// client.create_table(CreateTableRequest::new("users").primary_key("id", PrimaryKeyType::Integer)).await?;
    /// let key = |id| PrimaryKey::new([("id", PkValue::Integer(id))]);
    /// let batch: BatchWriteRowRequest = (1..=3)
    ///     .map(|id| PutRowRequest::new("users", key(id), [Cell::put("score", Value::Integer(id * 10))]))
    ///     .collect();
    /// assert!(client.batch_write_row(batch).await?.is_all_ok());
    ///
    /// // Rows fail one by one; results keep the request order.
    /// let batch = BatchWriteRowRequest::new()
    ///     .row(DeleteRowRequest::new("users", key(1)))
    ///     .row(PutRowRequest::new("users", key(2), []).row_existence(RowExistence::ExpectNotExist));
    /// let response = client.batch_write_row(batch).await?;
    /// assert!(response.rows[0].is_ok());
    /// assert_eq!(response.rows[1].as_ref().unwrap_err().code, ErrorCode::ConditionCheckFail);
    /// # Ok(()) }
    /// ```
    #[doc(alias = "BatchWriteRow")]
    ///
    /// The request may be lent (`&request`): a caller that retries the rows that
    /// failed keeps its request without copying it.
    pub async fn batch_write_row(
        &self,
        request: impl std::borrow::Borrow<BatchWriteRowRequest>,
    ) -> Result<BatchWriteRowResponse, ClientError> {
        let request = request.borrow();
        let action = retry::BATCH_WRITE_ROW;
        // Group by table in order of first appearance, remembering each row's position.
        let mut groups: Vec<(String, Vec<usize>, Vec<pb::RowInBatchWriteRowRequest>)> = Vec::new();
        for (index, row) in request.rows.iter().enumerate() {
            let group = match groups.iter().position(|(table, _, _)| table == row.table()) {
                Some(g) => g,
                None => {
                    groups.push((row.table().to_owned(), Vec::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[group].1.push(index);
            groups[group].2.push(row.to_pb());
        }
        let mut positions = Vec::with_capacity(groups.len());
        let tables = groups
            .into_iter()
            .map(|(table_name, indexes, rows)| {
                positions.push((table_name.clone(), indexes));
                pb::TableInBatchWriteRowRequest { table_name, rows }
            })
            .collect();
        let message = pb::BatchWriteRowRequest { tables, transaction_id: None, is_atomic: None };
        let response: pb::BatchWriteRowResponse = self.transport.call(action, &message).await?;
        if response.tables.len() != positions.len() {
            let detail = format!("{} tables answered, {} sent", response.tables.len(), positions.len());
            return Err(shape_error(action.name, detail));
        }
        let mut results: Vec<Option<Result<WriteRowResponse, RowError>>> = vec![None; request.rows.len()];
        for (table, (name, indexes)) in response.tables.into_iter().zip(positions) {
            if table.table_name != name || table.rows.len() != indexes.len() {
                let detail = format!(
                    "table {:?} answered with {} rows where {name:?} had {}",
                    table.table_name,
                    table.rows.len(),
                    indexes.len()
                );
                return Err(shape_error(action.name, detail));
            }
            for (row, index) in table.rows.into_iter().zip(indexes) {
                let result = if row.is_ok {
                    Ok(WriteRowResponse {
                        row: wire::decode_optional_row(action.name, row.row.as_deref().unwrap_or_default())?,
                        consumed: row.consumed.as_ref().map(CapacityUnits::from).unwrap_or_default(),
                    })
                } else {
                    Err(wire::row_error(row.error))
                };
                results[index] = Some(result);
            }
        }
        // Every slot was filled: the groups partition the indexes and the shape matched.
        let rows = results.into_iter().flatten().collect::<Vec<_>>();
        if rows.len() != request.rows.len() {
            return Err(shape_error(action.name, "rows missing from the response".into()));
        }
        Ok(BatchWriteRowResponse { rows })
    }

    /// Reads rows of one or more tables in one call.
    #[doc(alias = "BatchGetRow")]
    pub async fn batch_get_row(&self, request: BatchGetRowRequest) -> Result<BatchGetRowResponse, ClientError> {
        let action = retry::BATCH_GET_ROW;
        let tables = request
            .tables
            .iter()
            .map(|t| {
                let read = wire::read_fields(&t.read);
                pb::TableInBatchGetRowRequest {
                    table_name: t.table.clone(),
                    primary_key: t.keys.iter().map(plainbuffer::encode_primary_key).collect(),
                    columns_to_get: read.columns_to_get,
                    time_range: read.time_range,
                    max_versions: read.max_versions,
                    filter: read.filter,
                    start_column: read.start_column,
                    end_column: read.end_column,
                    ..Default::default()
                }
            })
            .collect();
        let response: pb::BatchGetRowResponse = self.transport.call(action, &pb::BatchGetRowRequest { tables }).await?;
        if response.tables.len() != request.tables.len() {
            let detail = format!("{} tables answered, {} sent", response.tables.len(), request.tables.len());
            return Err(shape_error(action.name, detail));
        }
        let tables = response
            .tables
            .into_iter()
            .zip(&request.tables)
            .map(|(table, asked)| {
                if table.table_name != asked.table || table.rows.len() != asked.keys.len() {
                    let detail = format!(
                        "table {:?} answered with {} rows where {:?} had {}",
                        table.table_name,
                        table.rows.len(),
                        asked.table,
                        asked.keys.len()
                    );
                    return Err(shape_error(action.name, detail));
                }
                let rows = table
                    .rows
                    .into_iter()
                    .map(|row| {
                        if !row.is_ok {
                            return Ok(Err(wire::row_error(row.error)));
                        }
                        Ok(Ok(GetRowResponse {
                            row: wire::decode_optional_row(action.name, row.row.as_deref().unwrap_or_default())?,
                            consumed: row.consumed.as_ref().map(CapacityUnits::from).unwrap_or_default(),
                        }))
                    })
                    .collect::<Result<Vec<_>, ClientError>>()?;
                Ok(BatchGetTableResult { table: table.table_name, rows })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(BatchGetRowResponse { tables })
    }
}
