//! Secondary index actions: CreateIndex and DropIndex (CreateTable's
//! `index_metas` and DescribeTable's list are in `table`). Reads from an index
//! are GetRow, GetRange and BatchGetRow naming it; the engine keeps indexes in
//! the same write as their table (`tablesafe_engine`'s `index` module).

use tablesafe_proto::model::IndexMeta;
use tablesafe_proto::{convert, pb};

use super::{decode, encode, Caller};
use crate::error::{ApiError, ApiResult};
use crate::ServerState;

/// An index definition from the wire, with the service's words for what is wrong.
pub(crate) fn index_meta_from_pb(meta: pb::IndexMeta) -> ApiResult<IndexMeta> {
    let (mode, kind) = (meta.index_update_mode, meta.index_type);
    convert::index_meta_from_pb(meta)
        .ok_or_else(|| ApiError::invalid(format!("Invalid index update mode {mode} or index type {kind}.")))
}

pub(crate) fn create_index(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::CreateIndexRequest = decode("CreateIndexRequest", body)?;
    let meta = index_meta_from_pb(request.index_meta)?;
    state.engine.create_index(&request.main_table_name, meta, request.include_base_data.unwrap_or(false))?;
    encode(&pb::CreateIndexResponse {})
}

pub(crate) fn drop_index(state: &ServerState, _caller: &Caller, body: &[u8]) -> ApiResult<Vec<u8>> {
    let request: pb::DropIndexRequest = decode("DropIndexRequest", body)?;
    state.engine.drop_index(&request.main_table_name, &request.index_name)?;
    encode(&pb::DropIndexResponse {})
}
