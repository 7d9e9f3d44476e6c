//! The Tablestore actions, one module per family: `table` (table APIs and split
//! points), `index` (secondary indexes), `row` (single-row APIs), `batch` (BatchGetRow, BatchWriteRow), `range`
//! (GetRange), `transaction` (local transactions) and `stream` (the Stream API).
//! Each handler decodes its protobuf request, calls the engine, and encodes the
//! response; all run on blocking threads.

mod batch;
mod convert;
mod index;
mod range;
mod row;
mod stream;
mod table;
mod transaction;

use prost::Message;

use crate::error::{ApiError, ApiResult};
use crate::ServerState;

/// Who sent a request: the access key it was signed with (a local transaction
/// belongs to the key that started it).
pub(crate) struct Caller {
    pub(crate) access_key_id: String,
}

/// A synchronous action handler: request body in, response body out.
pub(crate) type Handler = fn(&ServerState, &Caller, &[u8]) -> ApiResult<Vec<u8>>;

/// The handler of an action name, or `None` for an unsupported action.
pub(crate) fn handler_for(action: &str) -> Option<Handler> {
    Some(match action {
        "CreateTable" => table::create_table,
        "ListTable" => table::list_table,
        "DescribeTable" => table::describe_table,
        "UpdateTable" => table::update_table,
        "DeleteTable" => table::delete_table,
        "ComputeSplitPointsBySize" => table::compute_split_points,
        "ListSearchIndex" => table::list_search_index,
        "CreateIndex" => index::create_index,
        "DropIndex" => index::drop_index,
        "GetRow" => row::get_row,
        "PutRow" => row::put_row,
        "UpdateRow" => row::update_row,
        "DeleteRow" => row::delete_row,
        "BatchGetRow" => batch::batch_get_row,
        "BatchWriteRow" => batch::batch_write_row,
        "GetRange" => range::get_range,
        "StartLocalTransaction" => transaction::start_local_transaction,
        "CommitTransaction" => transaction::commit_transaction,
        "AbortTransaction" => transaction::abort_transaction,
        "ListStream" => stream::list_stream,
        "DescribeStream" => stream::describe_stream,
        "GetShardIterator" => stream::get_shard_iterator,
        "GetStreamRecord" => stream::get_stream_record,
        _ => return None,
    })
}

/// Decodes a request message; malformed bytes are OTSParameterInvalid.
pub(crate) fn decode<M: Message + Default>(name: &'static str, body: &[u8]) -> ApiResult<M> {
    M::decode(body).map_err(|e| ApiError::invalid(format!("Failed to parse {name}: {e}.")))
}

/// Encodes a response message.
pub(crate) fn encode<M: Message>(message: &M) -> ApiResult<Vec<u8>> {
    Ok(message.encode_to_vec())
}
