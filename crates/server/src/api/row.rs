//! Single-row actions: GetRow, PutRow, UpdateRow, DeleteRow. The batch actions
//! reuse the row parsing here so that a row means the same thing in both.

use tablesafe_engine::{EngineError, RowChange, RowWrite, WriteOutcome};
use tablesafe_proto::model::Row;
use tablesafe_proto::{pb, plainbuffer};

use super::convert::{
    condition_from_pb, consumed, read_options, return_content_from_pb, transaction_of, ReadFields,
};
use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

/// Which write a row change belongs to; decides the shape it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteShape {
    Put,
    Update,
    Delete,
}

/// Parses and shape-checks the PlainBuffer row of a write.
pub(crate) fn parse_change(shape: WriteShape, bytes: &[u8]) -> ApiResult<RowChange> {
    let row: Row = plainbuffer::decode_row(bytes)?;
    match shape {
        WriteShape::Put | WriteShape::Update if row.delete_marker => {
            Err(ApiError::invalid("The row has unexpected RowDeleteMarker in request."))
        }
        WriteShape::Put => Ok(RowChange::Put(row)),
        WriteShape::Update => Ok(RowChange::Update(row)),
        WriteShape::Delete => {
            if !row.delete_marker {
                return Err(ApiError::invalid("The row to delete is missing RowDeleteMarker."));
            }
            if !row.cells.is_empty() {
                return Err(ApiError::invalid("The row to delete must not carry attribute columns."));
            }
            Ok(RowChange::Delete(row.primary_key))
        }
    }
}

pub(crate) fn encode_returned(outcome: &WriteOutcome) -> Option<Vec<u8>> {
    outcome.row.as_ref().map(plainbuffer::encode_row)
}

pub(crate) fn get_row(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::GetRowRequest = decode("GetRowRequest", body)?;
    let transaction = transaction_of(request.transaction_id);
    let pk = plainbuffer::decode_primary_key(&request.primary_key)?;
    let options = read_options(ReadFields {
        columns_to_get: request.columns_to_get,
        time_range: request.time_range,
        max_versions: request.max_versions,
        filter: request.filter,
        start_column: request.start_column,
        end_column: request.end_column,
    })?;
    let outcome = match &transaction {
        Some(id) => {
            state.engine.get_row_in_transaction(&caller.access_key_id, id, &request.table_name, &pk, &options)?
        }
        None => state.engine.get_row(&request.table_name, &pk, &options)?,
    };
    encode(&pb::GetRowResponse {
        consumed: consumed(outcome.consumed),
        row: outcome.row.as_ref().map(plainbuffer::encode_row).unwrap_or_default(),
        next_token: None,
    })
}

/// Row writes, inside the transaction named or not.
pub(crate) fn write_rows(
    state: &ServerState,
    caller: &Caller,
    transaction: Option<String>,
    writes: Vec<RowWrite>,
) -> ApiResult<Vec<Result<WriteOutcome, EngineError>>> {
    Ok(match transaction {
        Some(id) => state.engine.write_rows_in_transaction(&caller.access_key_id, &id, writes)?,
        None => state.engine.write_rows(writes),
    })
}

fn write_one(state: &ServerState, caller: &Caller, transaction: Option<String>, write: RowWrite) -> ApiResult<WriteOutcome> {
    match write_rows(state, caller, transaction, vec![write])?.pop() {
        Some(result) => Ok(result?),
        None => Err(ApiError::internal("write_rows returned no result")),
    }
}

pub(crate) fn put_row(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::PutRowRequest = decode("PutRowRequest", body)?;
    let outcome = write_one(
        state,
        caller,
        transaction_of(request.transaction_id),
        RowWrite {
            change: parse_change(WriteShape::Put, &request.row)?,
            condition: condition_from_pb(Some(request.condition))?,
            return_content: return_content_from_pb(request.return_content)?,
            table: request.table_name,
        },
    )?;
    encode(&pb::PutRowResponse { consumed: consumed(outcome.consumed), row: encode_returned(&outcome) })
}

pub(crate) fn update_row(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::UpdateRowRequest = decode("UpdateRowRequest", body)?;
    let outcome = write_one(
        state,
        caller,
        transaction_of(request.transaction_id),
        RowWrite {
            change: parse_change(WriteShape::Update, &request.row_change)?,
            condition: condition_from_pb(Some(request.condition))?,
            return_content: return_content_from_pb(request.return_content)?,
            table: request.table_name,
        },
    )?;
    encode(&pb::UpdateRowResponse { consumed: consumed(outcome.consumed), row: encode_returned(&outcome) })
}

pub(crate) fn delete_row(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::DeleteRowRequest = decode("DeleteRowRequest", body)?;
    let outcome = write_one(
        state,
        caller,
        transaction_of(request.transaction_id),
        RowWrite {
            change: parse_change(WriteShape::Delete, &request.primary_key)?,
            condition: condition_from_pb(Some(request.condition))?,
            return_content: return_content_from_pb(request.return_content)?,
            table: request.table_name,
        },
    )?;
    encode(&pb::DeleteRowResponse { consumed: consumed(outcome.consumed), row: encode_returned(&outcome) })
}
