//! Table actions: CreateTable, ListTable, DescribeTable, UpdateTable, DeleteTable,
//! ComputeSplitPointsBySize and ListSearchIndex, with their request and response types.
//!
//! Invariant: every request type maps field by field onto its protobuf message; the
//! defaults of omitted settings are the service's (`TableOptions::default()`, reserved
//! throughput 0, streams off).

use tablesafe_proto::convert;
use tablesafe_proto::model::{
    DefinedColumnSchema, DefinedColumnType, IndexMeta, PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType,
    ReservedThroughput, StreamSpec, TableOptions, TableSchema,
};
use tablesafe_proto::pb;

use crate::error::ClientError;
use crate::retry;
use crate::wire::{self, CapacityUnits};
use crate::Client;

/// CreateTable: a schema, options, reserved throughput and optional stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTableRequest {
    /// Table name and key.
    pub schema: TableSchema,
    /// TTL, versions, time deviation, UpdateRow permission.
    pub options: TableOptions,
    /// Reserved capacity (stored and reported by TableSafe, not enforced).
    pub reserved: ReservedThroughput,
    /// Change stream settings; `None` leaves the stream off.
    pub stream: Option<StreamSpec>,
    /// Secondary indexes created with the table.
    pub indexes: Vec<IndexMeta>,
}

impl CreateTableRequest {
    /// A table named `name` with no key columns yet (add 1 to 4 with
    /// [`primary_key`](Self::primary_key)) and default options.
    pub fn new(name: impl Into<String>) -> Self {
        CreateTableRequest {
            schema: TableSchema { name: name.into(), primary_key: Vec::new(), defined_columns: Vec::new() },
            options: TableOptions::default(),
            reserved: ReservedThroughput::default(),
            stream: None,
            indexes: Vec::new(),
        }
    }

    /// Appends a primary key column.
    pub fn primary_key(mut self, name: impl Into<String>, key_type: PrimaryKeyType) -> Self {
        self.schema.primary_key.push(PrimaryKeySchema { name: name.into(), key_type, auto_increment: false });
        self
    }

    /// Appends an INTEGER primary key column whose values the server generates
    /// (never the first column).
    pub fn auto_increment_key(mut self, name: impl Into<String>) -> Self {
        self.schema.primary_key.push(PrimaryKeySchema {
            name: name.into(),
            key_type: PrimaryKeyType::Integer,
            auto_increment: true,
        });
        self
    }

    /// Appends a predefined attribute column.
    pub fn defined_column(mut self, name: impl Into<String>, column_type: DefinedColumnType) -> Self {
        self.schema.defined_columns.push(DefinedColumnSchema { name: name.into(), column_type });
        self
    }

    /// Replaces all table options.
    pub fn options(mut self, options: TableOptions) -> Self {
        self.options = options;
        self
    }

    /// Seconds a version lives (-1: forever).
    pub fn time_to_live(mut self, seconds: i32) -> Self {
        self.options.time_to_live = seconds;
        self
    }

    /// Versions kept per column.
    pub fn max_versions(mut self, versions: i32) -> Self {
        self.options.max_versions = versions;
        self
    }

    /// Reserved read and write capacity units.
    pub fn reserved(mut self, read: i32, write: i32) -> Self {
        self.reserved = ReservedThroughput { read, write };
        self
    }

    /// Enables the change stream, keeping records `expiration_hours` hours.
    pub fn stream(mut self, expiration_hours: i32) -> Self {
        self.stream = Some(StreamSpec { enabled: true, expiration_hours, columns_to_get: Vec::new() });
        self
    }
}

/// UpdateTable: the settings to change; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateTableRequest {
    /// Table name.
    pub table: String,
    /// New TTL in seconds.
    pub time_to_live: Option<i32>,
    /// New versions kept per column.
    pub max_versions: Option<i32>,
    /// New allowed client timestamp deviation in seconds.
    pub max_time_deviation: Option<i64>,
    /// New UpdateRow permission.
    pub allow_update: Option<bool>,
    /// New reserved throughput.
    pub reserved: Option<ReservedThroughput>,
    /// New stream settings (enable with an expiration, or disable).
    pub stream: Option<StreamSpec>,
}

impl UpdateTableRequest {
    /// A request that changes nothing yet.
    pub fn new(table: impl Into<String>) -> Self {
        UpdateTableRequest { table: table.into(), ..Default::default() }
    }
}

/// A table's change stream as DescribeTable and UpdateTable report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDetails {
    /// Settings; `enabled` is false for a table without a stream.
    pub spec: StreamSpec,
    /// Id for the stream APIs, when enabled; from a TableSafe endpoint also the
    /// id of a change log it keeps for archiving while the stream is off.
    pub stream_id: Option<String>,
    /// When the stream was last enabled (microseconds since the epoch).
    pub last_enable_time: Option<i64>,
}

fn stream_details(details: Option<&pb::StreamDetails>) -> StreamDetails {
    let Some(d) = details else { return StreamDetails::default() };
    StreamDetails {
        spec: StreamSpec {
            enabled: d.enable_stream,
            expiration_hours: d.expiration_time.unwrap_or(0),
            columns_to_get: d.columns_to_get.clone(),
        },
        stream_id: d.stream_id.clone(),
        last_enable_time: d.last_enable_time,
    }
}

/// DescribeTable's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDescription {
    /// Name and key.
    pub schema: TableSchema,
    /// Current options.
    pub options: TableOptions,
    /// Reserved throughput.
    pub reserved: ReservedThroughput,
    /// Last increase of the reserved throughput (seconds since the epoch).
    pub reserved_last_increase_time: i64,
    /// Change stream.
    pub stream: StreamDetails,
    /// Creation time (microseconds since the epoch), when reported.
    pub creation_time: Option<i64>,
    /// Secondary indexes (those of a kind this client does not know are left out).
    pub indexes: Vec<IndexMeta>,
}

/// UpdateTable's answer: the table's settings after the change.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateTableResponse {
    /// Options after the update.
    pub options: TableOptions,
    /// Reserved throughput after the update.
    pub reserved: ReservedThroughput,
    /// Change stream after the update.
    pub stream: StreamDetails,
}

/// ComputeSplitPointsBySize: cut a table into ranges of about `split_size` units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPointsRequest {
    /// Table name.
    pub table: String,
    /// Target range size in units of [`split_size_unit_bytes`](Self::split_size_unit_bytes).
    pub split_size: i64,
    /// Bytes per unit; `None` means the service's 100 MB.
    pub split_size_unit_bytes: Option<i64>,
    /// Most split points returned.
    pub split_point_limit: Option<i32>,
}

impl SplitPointsRequest {
    /// Ranges of about `split_size` × 100 MB.
    pub fn new(table: impl Into<String>, split_size: i64) -> Self {
        SplitPointsRequest { table: table.into(), split_size, split_size_unit_bytes: None, split_point_limit: None }
    }
}

/// Where a range of the split lives (informational).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLocation {
    /// Host or partition name.
    pub location: String,
    /// How many consecutive ranges it serves.
    pub repeat: i64,
}

/// ComputeSplitPointsBySize's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitPointsResponse {
    /// The table's primary key schema.
    pub schema: Vec<PrimaryKeySchema>,
    /// Ascending keys that separate the ranges (may omit trailing columns).
    pub split_points: Vec<PrimaryKey>,
    /// Locations of the ranges.
    pub locations: Vec<SplitLocation>,
    /// Capacity consumed.
    pub consumed: CapacityUnits,
}

impl SplitPointsResponse {
    /// The `split_points + 1` ranges `[start, end)` covering the whole table, each key
    /// with every schema column (omitted trailing columns become INF_MIN), ready for
    /// [`GetRangeRequest`](crate::GetRangeRequest).
    pub fn ranges(&self) -> Vec<(PrimaryKey, PrimaryKey)> {
        let bound = |value: PkValue| PrimaryKey::new(self.schema.iter().map(|c| (c.name.clone(), value.clone())));
        let mut points: Vec<PrimaryKey> = vec![bound(PkValue::InfMin)];
        for point in &self.split_points {
            let mut full = point.clone();
            for column in self.schema.iter().skip(full.columns.len()) {
                full.columns
                    .push(tablesafe_proto::model::PkColumn { name: column.name.clone(), value: PkValue::InfMin });
            }
            points.push(full);
        }
        points.push(bound(PkValue::InfMax));
        points.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect()
    }
}

impl Client {
    /// Creates a table.
    ///
    /// Fails with `OTSObjectAlreadyExist` if the name is taken. See the crate
    /// documentation for an example.
    #[doc(alias = "CreateTable")]
    pub async fn create_table(&self, request: CreateTableRequest) -> Result<(), ClientError> {
        let message = pb::CreateTableRequest {
            table_meta: convert::schema_to_pb(&request.schema),
            reserved_throughput: convert::reserved_to_pb(&request.reserved),
            table_options: Some(convert::options_to_pb(&request.options)),
            stream_spec: request.stream.as_ref().map(convert::stream_spec_to_pb),
            index_metas: request.indexes.iter().map(convert::index_meta_to_pb).collect(),
            ..Default::default()
        };
        let _: pb::CreateTableResponse = self.transport.call(retry::CREATE_TABLE, &message).await?;
        Ok(())
    }

    /// The names of all tables of the instance.
    #[doc(alias = "ListTable")]
    pub async fn list_table(&self) -> Result<Vec<String>, ClientError> {
        let response: pb::ListTableResponse = self.transport.call(retry::LIST_TABLE, &pb::ListTableRequest {}).await?;
        Ok(response.table_names)
    }

    /// A table's schema, options, reserved throughput and stream.
    #[doc(alias = "DescribeTable")]
    pub async fn describe_table(&self, table: &str) -> Result<TableDescription, ClientError> {
        let request = pb::DescribeTableRequest { table_name: table.to_owned() };
        let response: pb::DescribeTableResponse = self.transport.call(retry::DESCRIBE_TABLE, &request).await?;
        let details = &response.reserved_throughput_details;
        Ok(TableDescription {
            schema: wire::schema_from_pb(retry::DESCRIBE_TABLE.name, &response.table_meta)?,
            options: convert::options_from_pb(Some(response.table_options)),
            reserved: ReservedThroughput {
                read: details.capacity_unit.read.unwrap_or(0),
                write: details.capacity_unit.write.unwrap_or(0),
            },
            reserved_last_increase_time: details.last_increase_time,
            stream: stream_details(response.stream_details.as_ref()),
            creation_time: response.creation_time,
            indexes: response.index_metas.into_iter().filter_map(convert::index_meta_from_pb).collect(),
        })
    }

    /// Changes a table's options, reserved throughput or stream.
    #[doc(alias = "UpdateTable")]
    pub async fn update_table(&self, request: UpdateTableRequest) -> Result<UpdateTableResponse, ClientError> {
        let changes_options = request.time_to_live.is_some()
            || request.max_versions.is_some()
            || request.max_time_deviation.is_some()
            || request.allow_update.is_some();
        let message = pb::UpdateTableRequest {
            table_name: request.table,
            reserved_throughput: request.reserved.as_ref().map(convert::reserved_to_pb),
            table_options: changes_options.then(|| pb::TableOptions {
                time_to_live: request.time_to_live,
                max_versions: request.max_versions,
                deviation_cell_version_in_sec: request.max_time_deviation,
                allow_update: request.allow_update,
                ..Default::default()
            }),
            stream_spec: request.stream.as_ref().map(convert::stream_spec_to_pb),
        };
        let response: pb::UpdateTableResponse = self.transport.call(retry::UPDATE_TABLE, &message).await?;
        let unit = &response.reserved_throughput_details.capacity_unit;
        Ok(UpdateTableResponse {
            options: convert::options_from_pb(Some(response.table_options)),
            reserved: ReservedThroughput { read: unit.read.unwrap_or(0), write: unit.write.unwrap_or(0) },
            stream: stream_details(response.stream_details.as_ref()),
        })
    }

    /// Deletes a table and all its rows.
    #[doc(alias = "DeleteTable")]
    pub async fn delete_table(&self, table: &str) -> Result<(), ClientError> {
        let request = pb::DeleteTableRequest { table_name: table.to_owned() };
        let _: pb::DeleteTableResponse = self.transport.call(retry::DELETE_TABLE, &request).await?;
        Ok(())
    }

    /// Adds a secondary index to `table`; with `include_base_data` the rows the
    /// table has are indexed too.
    #[doc(alias = "CreateIndex")]
    pub async fn create_index(
        &self,
        table: &str,
        index: &tablesafe_proto::model::IndexMeta,
        include_base_data: bool,
    ) -> Result<(), ClientError> {
        let request = pb::CreateIndexRequest {
            main_table_name: table.to_owned(),
            index_meta: tablesafe_proto::convert::index_meta_to_pb(index),
            include_base_data: Some(include_base_data),
        };
        let _: pb::CreateIndexResponse = self.transport.call(retry::CREATE_INDEX, &request).await?;
        Ok(())
    }

    /// Drops a secondary index of `table`.
    #[doc(alias = "DropIndex")]
    pub async fn drop_index(&self, table: &str, index: &str) -> Result<(), ClientError> {
        let request = pb::DropIndexRequest { main_table_name: table.to_owned(), index_name: index.to_owned() };
        let _: pb::DropIndexResponse = self.transport.call(retry::DROP_INDEX, &request).await?;
        Ok(())
    }

    /// The search indexes of a table (or, with `None`, of the instance), as
    /// `(table, index)` names. TableSafe has none, so against it the list is empty;
    /// a table that does not exist is `OTSObjectNotExist`.
    #[doc(alias = "ListSearchIndex")]
    pub async fn list_search_index(&self, table: Option<&str>) -> Result<Vec<(String, String)>, ClientError> {
        let request = pb::ListSearchIndexRequest { table_name: table.map(str::to_owned) };
        let response: pb::ListSearchIndexResponse = self.transport.call(retry::LIST_SEARCH_INDEX, &request).await?;
        Ok(response
            .indices
            .into_iter()
            .map(|i| (i.table_name.unwrap_or_default(), i.index_name.unwrap_or_default()))
            .collect())
    }

    /// Keys that cut a table into ranges of about the requested size, for parallel
    /// scans (see [`SplitPointsResponse::ranges`]).
    #[doc(alias = "ComputeSplitPointsBySize")]
    pub async fn compute_split_points_by_size(
        &self,
        request: SplitPointsRequest,
    ) -> Result<SplitPointsResponse, ClientError> {
        let action = retry::COMPUTE_SPLIT_POINTS;
        let message = pb::ComputeSplitPointsBySizeRequest {
            table_name: request.table,
            split_size: request.split_size,
            split_size_unit_in_byte: request.split_size_unit_bytes,
            split_point_limit: request.split_point_limit,
        };
        let response: pb::ComputeSplitPointsBySizeResponse = self.transport.call(action, &message).await?;
        Ok(SplitPointsResponse {
            schema: response
                .schema
                .iter()
                .map(|c| wire::pk_schema_from_pb(action.name, c))
                .collect::<Result<_, _>>()?,
            split_points: response
                .split_points
                .iter()
                .map(|b| wire::decode_key(action.name, "split point", b))
                .collect::<Result<_, _>>()?,
            locations: response
                .locations
                .iter()
                .map(|l| SplitLocation { location: l.location.clone(), repeat: l.repeat })
                .collect(),
            consumed: CapacityUnits::from(&response.consumed),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn split_ranges_cover_the_table_and_pad_short_points() {
        let schema = vec![
            PrimaryKeySchema { name: "a".into(), key_type: PrimaryKeyType::String, auto_increment: false },
            PrimaryKeySchema { name: "b".into(), key_type: PrimaryKeyType::Integer, auto_increment: false },
        ];
        let response = SplitPointsResponse {
            schema,
            split_points: vec![PrimaryKey::new([("a", PkValue::String("m".into()))])],
            locations: vec![],
            consumed: CapacityUnits::default(),
        };
        let ranges = response.ranges();
        assert_eq!(ranges.len(), 2);
        let mid = PrimaryKey::new([("a", PkValue::String("m".into())), ("b", PkValue::InfMin)]);
        assert_eq!(ranges[0], (PrimaryKey::new([("a", PkValue::InfMin), ("b", PkValue::InfMin)]), mid.clone()));
        assert_eq!(ranges[1], (mid, PrimaryKey::new([("a", PkValue::InfMax), ("b", PkValue::InfMax)])));
    }
}
