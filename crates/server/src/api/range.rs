//! GetRange: one page of rows, with `next_start_primary_key` omitted when the range
//! is exhausted (Java rejects a present-but-empty field).

use tablesafe_engine::{Direction, RangeRequest};
use tablesafe_proto::{pb, plainbuffer};

use super::convert::{consumed, read_options, transaction_of, ReadFields};
use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

pub(crate) fn get_range(state: &ServerState, caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::GetRangeRequest = decode("GetRangeRequest", body)?;
    let transaction = transaction_of(request.transaction_id);
    let direction = match pb::Direction::try_from(request.direction) {
        Ok(pb::Direction::Forward) => Direction::Forward,
        Ok(pb::Direction::Backward) => Direction::Backward,
        Err(_) => return Err(ApiError::invalid(format!("Invalid direction: {}.", request.direction))),
    };
    let range = RangeRequest {
        start: plainbuffer::decode_primary_key(&request.inclusive_start_primary_key)?,
        end: plainbuffer::decode_primary_key(&request.exclusive_end_primary_key)?,
        direction,
        limit: request.limit,
        read: read_options(ReadFields {
            columns_to_get: request.columns_to_get,
            time_range: request.time_range,
            max_versions: request.max_versions,
            filter: request.filter,
            start_column: request.start_column,
            end_column: request.end_column,
        })?,
        table: request.table_name,
    };
    let page = match &transaction {
        Some(id) => state.engine.get_range_in_transaction(&caller.access_key_id, id, &range)?,
        None => state.engine.get_range(&range)?,
    };
    encode(&pb::GetRangeResponse {
        consumed: consumed(page.consumed),
        rows: plainbuffer::encode_rows(&page.rows),
        next_start_primary_key: page.next_start.as_ref().map(plainbuffer::encode_primary_key),
        ..Default::default()
    })
}
