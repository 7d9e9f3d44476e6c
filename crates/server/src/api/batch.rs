//! BatchGetRow and BatchWriteRow. Responses keep the request's table and row order
//! one to one (SDKs match results by position); a row that fails carries its own
//! error with HTTP 200, while a malformed or over-limit request fails as a whole.

use std::collections::HashSet;

use tablesafe_engine::{EngineError, RowWrite};
use tablesafe_proto::{pb, plainbuffer};

use super::convert::{
    condition_from_pb, consumed, read_options, return_content_from_pb, transaction_of, ReadFields,
};
use super::row::{encode_returned, parse_change, write_rows, WriteShape};
use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

const MAX_BATCH_GET_ROWS: usize = 100;
const MAX_BATCH_WRITE_ROWS: usize = 200;

fn row_error(error: EngineError) -> pb::Error {
    let (code, message) = ApiError::from(error).to_wire();
    pb::Error { code: code.as_str().to_owned(), message: Some(message), access_denied_detail: None }
}

/// The request-level checks of a batch: some table, no table named twice, at most
/// `max` rows. `empty` is the message for a request naming no table (BatchGetRow's
/// and BatchWriteRow's are worded differently by the service).
fn check_tables<'a>(names: impl Iterator<Item = &'a str>, rows: usize, max: usize, empty: &str) -> ApiResult<()> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(ApiError::invalid(format!("Duplicated table name: '{name}'.")));
        }
    }
    if seen.is_empty() {
        return Err(ApiError::invalid(empty));
    }
    if rows > max {
        return Err(ApiError::invalid(format!("Rows count exceeds the upper limit: {max}.")));
    }
    Ok(())
}

pub(crate) fn batch_get_row(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::BatchGetRowRequest = decode("BatchGetRowRequest", body)?;
    let rows: usize = request.tables.iter().map(|t| t.primary_key.len()).sum();
    // A table named without rows is fine here (its result is empty); a request
    // naming no table is not.
    let empty = "No row specified in the request of BatchGetRow.";
    check_tables(request.tables.iter().map(|t| t.table_name.as_str()), rows, MAX_BATCH_GET_ROWS, empty)?;
    let mut tables = Vec::with_capacity(request.tables.len());
    for table in request.tables {
        let options = read_options(ReadFields {
            columns_to_get: table.columns_to_get,
            time_range: table.time_range,
            max_versions: table.max_versions,
            filter: table.filter,
            start_column: table.start_column,
            end_column: table.end_column,
        })?;
        let keys = table
            .primary_key
            .iter()
            .map(|bytes| plainbuffer::decode_primary_key(bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = keys
            .iter()
            .map(|pk| match state.engine.get_row(&table.table_name, pk, &options) {
                Ok(outcome) => pb::RowInBatchGetRowResponse {
                    is_ok: true,
                    error: None,
                    consumed: Some(consumed(outcome.consumed)),
                    row: Some(outcome.row.as_ref().map(plainbuffer::encode_row).unwrap_or_default()),
                    next_token: None,
                },
                Err(error) => pb::RowInBatchGetRowResponse {
                    is_ok: false,
                    error: Some(row_error(error)),
                    consumed: None,
                    row: None,
                    next_token: None,
                },
            })
            .collect();
        tables.push(pb::TableInBatchGetRowResponse { table_name: table.table_name, rows });
    }
    encode(&pb::BatchGetRowResponse { tables })
}

pub(crate) fn batch_write_row(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::BatchWriteRowRequest = decode("BatchWriteRowRequest", body)?;
    let rows: usize = request.tables.iter().map(|t| t.rows.len()).sum();
    // Unlike BatchGetRow, every table named must carry rows.
    if let Some(table) = request.tables.iter().find(|t| t.rows.is_empty()) {
        return Err(ApiError::invalid(format!("No operation is specified for table: '{}'.", table.table_name)));
    }
    let empty = "No row is specified in BatchWriteRow.";
    check_tables(request.tables.iter().map(|t| t.table_name.as_str()), rows, MAX_BATCH_WRITE_ROWS, empty)?;
    let mut writes = Vec::with_capacity(rows);
    let mut shape = Vec::with_capacity(request.tables.len());
    for table in &request.tables {
        shape.push((table.table_name.clone(), table.rows.len()));
        for row in &table.rows {
            let kind = match pb::OperationType::try_from(row.r#type) {
                Ok(pb::OperationType::Put) => WriteShape::Put,
                Ok(pb::OperationType::Update) => WriteShape::Update,
                Ok(pb::OperationType::Delete) => WriteShape::Delete,
                Err(_) => return Err(ApiError::invalid(format!("Invalid operation type: {}.", row.r#type))),
            };
            writes.push(RowWrite {
                table: table.table_name.clone(),
                change: parse_change(kind, &row.row_change)?,
                condition: condition_from_pb(Some(row.condition.clone()))?,
                return_content: return_content_from_pb(row.return_content.clone())?,
            });
        }
    }
    let mut results = write_rows(state, caller, transaction_of(request.transaction_id), writes)?.into_iter();
    let tables = shape
        .into_iter()
        .map(|(table_name, count)| pb::TableInBatchWriteRowResponse {
            table_name,
            rows: results
                .by_ref()
                .take(count)
                .map(|result| match result {
                    Ok(outcome) => pb::RowInBatchWriteRowResponse {
                        is_ok: true,
                        error: None,
                        consumed: Some(consumed(outcome.consumed)),
                        row: encode_returned(&outcome),
                    },
                    Err(error) => pb::RowInBatchWriteRowResponse {
                        is_ok: false,
                        error: Some(row_error(error)),
                        consumed: None,
                        row: None,
                    },
                })
                .collect(),
        })
        .collect();
    encode(&pb::BatchWriteRowResponse { tables })
}
