//! Local transactions: StartLocalTransaction, CommitTransaction and
//! AbortTransaction. The row actions take the transaction id themselves (`row`,
//! `batch`, `range`); the engine keeps the transactions (`tablesafe_engine`'s
//! `transaction` module says how).

use tablesafe_proto::model::{PkColumn, PrimaryKey};
use tablesafe_proto::{filter, pb, plainbuffer};

use super::{decode, encode, Caller};
use crate::error::ApiResult;
use crate::ServerState;

/// The partition key of a StartLocalTransaction: a PlainBuffer primary key of
/// that one column, as the official SDKs send it, or a bare SQLVariant value
/// (as the protocol's comment describes it), named after the table's first column.
fn partition_key(state: &ServerState, table: &str, bytes: &[u8]) -> ApiResult<PrimaryKey> {
    if let Ok(key) = plainbuffer::decode_primary_key(bytes) {
        return Ok(key);
    }
    let value = filter::decode_pk_variant(bytes)?;
    let info = state.engine.table(table)?;
    let name = info.schema.primary_key.first().map(|c| c.name.clone()).unwrap_or_default();
    Ok(PrimaryKey { columns: vec![PkColumn { name, value }] })
}

pub(crate) fn start_local_transaction(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::StartLocalTransactionRequest = decode("StartLocalTransactionRequest", body)?;
    let key = partition_key(state, &request.table_name, &request.key)?;
    let transaction_id = state.engine.start_transaction(&caller.access_key_id, &request.table_name, &key)?;
    encode(&pb::StartLocalTransactionResponse { transaction_id })
}

pub(crate) fn commit_transaction(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::CommitTransactionRequest = decode("CommitTransactionRequest", body)?;
    state.engine.commit_transaction(&caller.access_key_id, &request.transaction_id)?;
    encode(&pb::CommitTransactionResponse {})
}

pub(crate) fn abort_transaction(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::AbortTransactionRequest = decode("AbortTransactionRequest", body)?;
    state.engine.abort_transaction(&caller.access_key_id, &request.transaction_id)?;
    // The empty AbortTransactionResponse, plus the transaction id as field 1: the
    // Node SDK (5.6.5) decodes this response as an AbortTransactionRequest, whose
    // id is required, and fails on an empty body; every other decoder skips the
    // unknown field.
    encode(&pb::AbortTransactionRequest { transaction_id: request.transaction_id })
}
