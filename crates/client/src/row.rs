//! Single-row actions: GetRow, PutRow, UpdateRow, DeleteRow, with their request and
//! response types. The batch actions reuse these request types as their rows, so a
//! row write means the same thing alone and in a batch.
//!
//! Invariants: a PutRow row carries plain puts only; an UpdateRow row carries puts,
//! deletes and increments built by [`UpdateRowRequest`]'s methods, in call order
//! (the service applies them in that order); a DeleteRow key is sent with the
//! delete-row marker and no cells.

use tablesafe_proto::convert;
use tablesafe_proto::model::{Cell, CellOp, Condition, PrimaryKey, ReadOptions, Row, Value};
use tablesafe_proto::{pb, plainbuffer};

use crate::error::ClientError;
use crate::retry;
use crate::wire::{self, CapacityUnits, ReturnContent};
use crate::Client;

/// GetRow: one row by primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRowRequest {
    /// Table name.
    pub table: String,
    /// The complete primary key.
    pub primary_key: PrimaryKey,
    /// Columns, versions and filter (default: every column, newest version).
    pub read: ReadOptions,
}

impl GetRowRequest {
    /// Reads every column's newest version of the row at `primary_key`.
    pub fn new(table: impl Into<String>, primary_key: PrimaryKey) -> Self {
        GetRowRequest { table: table.into(), primary_key, read: ReadOptions::default() }
    }
}

impl_read_setters!(GetRowRequest);

/// GetRow's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRowResponse {
    /// The row, or `None` when it does not exist (or the filter dropped it).
    pub row: Option<Row>,
    /// Capacity consumed.
    pub consumed: CapacityUnits,
}

/// PutRow: replace a whole row.
#[derive(Debug, Clone, PartialEq)]
pub struct PutRowRequest {
    /// Table name.
    pub table: String,
    /// Primary key (an AUTO_INCREMENT column holds [`PkValue::AutoIncrement`](tablesafe_proto::model::PkValue))
    /// and the cells to write; cells without timestamp get the server's time.
    pub row: Row,
    /// Condition checked against the current row.
    pub condition: Condition,
    /// What the response returns of the written row.
    pub return_content: ReturnContent,
}

impl PutRowRequest {
    /// Writes `cells` as the whole content of the row at `primary_key`, unconditionally.
    pub fn new(table: impl Into<String>, primary_key: PrimaryKey, cells: impl IntoIterator<Item = Cell>) -> Self {
        PutRowRequest {
            table: table.into(),
            row: Row { primary_key, cells: cells.into_iter().collect(), ..Row::default() },
            condition: Condition::default(),
            return_content: ReturnContent::None,
        }
    }
}

/// UpdateRow: change some columns of a row (creating it when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRowRequest {
    /// Table name.
    pub table: String,
    /// Primary key and the column changes, in order.
    pub row: Row,
    /// Condition checked against the current row.
    pub condition: Condition,
    /// What the response returns of the updated row.
    pub return_content: ReturnContent,
}

impl UpdateRowRequest {
    /// An update of the row at `primary_key` with no changes yet.
    pub fn new(table: impl Into<String>, primary_key: PrimaryKey) -> Self {
        UpdateRowRequest {
            table: table.into(),
            row: Row::from_key(primary_key),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        }
    }

    fn push(mut self, name: String, value: Option<Value>, op: Option<CellOp>, timestamp: Option<i64>) -> Self {
        self.row.cells.push(Cell { name, value, op, timestamp });
        self
    }

    /// Adds a version of `name` at the server's time.
    pub fn put(self, name: impl Into<String>, value: Value) -> Self {
        self.push(name.into(), Some(value), None, None)
    }

    /// Adds a version of `name` at `timestamp` (milliseconds).
    pub fn put_at(self, name: impl Into<String>, value: Value, timestamp: i64) -> Self {
        self.push(name.into(), Some(value), None, Some(timestamp))
    }

    /// Removes the version of `name` at exactly `timestamp`.
    pub fn delete_version(self, name: impl Into<String>, timestamp: i64) -> Self {
        self.push(name.into(), None, Some(CellOp::DeleteOneVersion), Some(timestamp))
    }

    /// Removes every version of `name`.
    pub fn delete_all_versions(self, name: impl Into<String>) -> Self {
        self.push(name.into(), None, Some(CellOp::DeleteAllVersions), None)
    }

    /// Adds `delta` to the newest INTEGER value of `name` (a missing column counts
    /// as 0); the result is a new version at the server's time.
    pub fn increment(self, name: impl Into<String>, delta: i64) -> Self {
        self.push(name.into(), Some(Value::Integer(delta)), Some(CellOp::Increment), None)
    }
}

/// DeleteRow: remove a row.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteRowRequest {
    /// Table name.
    pub table: String,
    /// The complete primary key.
    pub primary_key: PrimaryKey,
    /// Condition checked against the current row.
    pub condition: Condition,
    /// What the response returns (only [`ReturnContent::PrimaryKey`] is meaningful).
    pub return_content: ReturnContent,
}

impl DeleteRowRequest {
    /// Deletes the row at `primary_key`, unconditionally (a missing row is no error).
    pub fn new(table: impl Into<String>, primary_key: PrimaryKey) -> Self {
        DeleteRowRequest {
            table: table.into(),
            primary_key,
            condition: Condition::default(),
            return_content: ReturnContent::None,
        }
    }
}

impl_write_setters!(PutRowRequest);
impl_write_setters!(UpdateRowRequest);
impl_write_setters!(DeleteRowRequest);

/// The answer to PutRow, UpdateRow and DeleteRow.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRowResponse {
    /// The row as the request's [`ReturnContent`] asked for; `None` for
    /// [`ReturnContent::None`].
    pub row: Option<Row>,
    /// Capacity consumed.
    pub consumed: CapacityUnits,
}

/// The PlainBuffer row of a PutRow (also a BatchWriteRow PUT).
pub(crate) fn encode_put(request: &PutRowRequest) -> Vec<u8> {
    plainbuffer::encode_row(&request.row)
}

/// The PlainBuffer row of an UpdateRow (also a BatchWriteRow UPDATE).
pub(crate) fn encode_update(request: &UpdateRowRequest) -> Vec<u8> {
    plainbuffer::encode_row(&request.row)
}

/// The PlainBuffer key of a DeleteRow (also a BatchWriteRow DELETE): the key with
/// the delete-row marker.
pub(crate) fn encode_delete(request: &DeleteRowRequest) -> Vec<u8> {
    let row = Row { primary_key: request.primary_key.clone(), delete_marker: true, ..Row::default() };
    plainbuffer::encode_row(&row)
}

fn write_response(
    action: &'static str,
    consumed: &pb::ConsumedCapacity,
    row: Option<&[u8]>,
) -> Result<WriteRowResponse, ClientError> {
    Ok(WriteRowResponse {
        row: wire::decode_optional_row(action, row.unwrap_or_default())?,
        consumed: CapacityUnits::from(consumed),
    })
}

impl Client {
    /// Reads one row.
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
    /// use tablesafe_client::{Client, CreateTableRequest, GetRowRequest, UpdateRowRequest};
    /// use tablesafe_client::model::{PkValue, PrimaryKey, PrimaryKeyType, Value};
    ///
    /// let client = Client::new(&endpoint, "demo", "key-id", "secret")?;
    /// client.create_table(CreateTableRequest::new("counters").primary_key("name", PrimaryKeyType::String)).await?;
    /// let key = PrimaryKey::new([("name", PkValue::String("visits".into()))]);
    /// for _ in 0..3 {
    ///     client.update_row(UpdateRowRequest::new("counters", key.clone()).increment("n", 1)).await?;
    /// }
    /// let row = client.get_row(GetRowRequest::new("counters", key).columns(["n"])).await?.row.unwrap();
    /// assert_eq!(row.cells[0].value, Some(Value::Integer(3)));
    /// # Ok(()) }
    /// ```
    #[doc(alias = "GetRow")]
    pub async fn get_row(&self, request: GetRowRequest) -> Result<GetRowResponse, ClientError> {
        let action = retry::GET_ROW;
        let read = wire::read_fields(&request.read);
        let message = pb::GetRowRequest {
            table_name: request.table,
            primary_key: plainbuffer::encode_primary_key(&request.primary_key),
            columns_to_get: read.columns_to_get,
            time_range: read.time_range,
            max_versions: read.max_versions,
            filter: read.filter,
            start_column: read.start_column,
            end_column: read.end_column,
            ..Default::default()
        };
        let response: pb::GetRowResponse = self.transport.call(action, &message).await?;
        Ok(GetRowResponse {
            row: wire::decode_optional_row(action.name, &response.row)?,
            consumed: CapacityUnits::from(&response.consumed),
        })
    }

    /// Writes a whole row, replacing every column of an existing one.
    #[doc(alias = "PutRow")]
    pub async fn put_row(&self, request: PutRowRequest) -> Result<WriteRowResponse, ClientError> {
        let action = retry::PUT_ROW;
        let message = pb::PutRowRequest {
            row: encode_put(&request),
            condition: convert::condition_to_pb(&request.condition),
            return_content: wire::return_content_to_pb(&request.return_content),
            table_name: request.table,
            transaction_id: None,
        };
        let response: pb::PutRowResponse = self.transport.call(action, &message).await?;
        write_response(action.name, &response.consumed, response.row.as_deref())
    }

    /// Changes some columns of a row, creating the row when it does not exist.
    #[doc(alias = "UpdateRow")]
    pub async fn update_row(&self, request: UpdateRowRequest) -> Result<WriteRowResponse, ClientError> {
        let action = retry::UPDATE_ROW;
        let message = pb::UpdateRowRequest {
            row_change: encode_update(&request),
            condition: convert::condition_to_pb(&request.condition),
            return_content: wire::return_content_to_pb(&request.return_content),
            table_name: request.table,
            transaction_id: None,
        };
        let response: pb::UpdateRowResponse = self.transport.call(action, &message).await?;
        write_response(action.name, &response.consumed, response.row.as_deref())
    }

    /// Deletes a row.
    #[doc(alias = "DeleteRow")]
    pub async fn delete_row(&self, request: DeleteRowRequest) -> Result<WriteRowResponse, ClientError> {
        let action = retry::DELETE_ROW;
        let message = pb::DeleteRowRequest {
            primary_key: encode_delete(&request),
            condition: convert::condition_to_pb(&request.condition),
            return_content: wire::return_content_to_pb(&request.return_content),
            table_name: request.table,
            transaction_id: None,
        };
        let response: pb::DeleteRowResponse = self.transport.call(action, &message).await?;
        write_response(action.name, &response.consumed, response.row.as_deref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::PkValue;

    use super::*;

    fn key() -> PrimaryKey {
        PrimaryKey::new([("id", PkValue::Integer(1))])
    }

    #[test]
    fn update_builders_produce_the_plainbuffer_cell_shapes() {
        let request = UpdateRowRequest::new("t", key())
            .put("a", Value::Integer(1))
            .put_at("b", Value::Boolean(true), 7)
            .delete_version("c", 8)
            .delete_all_versions("d")
            .increment("e", -2);
        let row = plainbuffer::decode_row(&encode_update(&request)).unwrap();
        let shapes: Vec<_> =
            row.cells.iter().map(|c| (c.name.as_str(), c.value.is_some(), c.op, c.timestamp)).collect();
        assert_eq!(
            shapes,
            [
                ("a", true, None, None),
                ("b", true, None, Some(7)),
                ("c", false, Some(CellOp::DeleteOneVersion), Some(8)),
                ("d", false, Some(CellOp::DeleteAllVersions), None),
                ("e", true, Some(CellOp::Increment), None),
            ]
        );
    }

    #[test]
    fn deletes_carry_the_marker_and_no_cells() {
        let row = plainbuffer::decode_row(&encode_delete(&DeleteRowRequest::new("t", key()))).unwrap();
        assert!(row.delete_marker);
        assert!(row.cells.is_empty());
        assert_eq!(row.primary_key, key());
    }
}
