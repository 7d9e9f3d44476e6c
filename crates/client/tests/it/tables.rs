//! Table actions against a real server: create/list/describe/update/delete and split points.

use futures::TryStreamExt;
use tablesafe_client::model::{
    Cell, DefinedColumnType, PrimaryKey, PrimaryKeySchema, PrimaryKeyType, ReservedThroughput, TableOptions, Value,
};
use tablesafe_client::{
    BatchWriteRowRequest, CreateTableRequest, ErrorCode, GetRangeRequest, PutRowRequest, SplitPointsRequest,
    UpdateTableRequest,
};

use crate::harness::{int_key, table_name, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_lifecycle_round_trips_every_setting() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("life");
    let options =
        TableOptions { time_to_live: 86_400 * 30, max_versions: 3, max_time_deviation: 3_600, allow_update: true };
    let request = CreateTableRequest::new(&name)
        .primary_key("s", PrimaryKeyType::String)
        .primary_key("i", PrimaryKeyType::Integer)
        .primary_key("b", PrimaryKeyType::Binary)
        .defined_column("d", DefinedColumnType::Double)
        .options(options)
        .reserved(1, 2);
    let schema = request.schema.clone();
    client.create_table(request).await.unwrap();
    assert!(client.list_table().await.unwrap().contains(&name));

    let described = client.describe_table(&name).await.unwrap();
    assert_eq!(described.schema, schema);
    assert_eq!(described.options, options);
    assert_eq!(described.reserved, ReservedThroughput { read: 1, write: 2 });
    assert!(!described.stream.spec.enabled);
    assert!(described.stream.stream_id.is_none());
    assert!(described.creation_time.is_some_and(|t| t > 0));

    let update = UpdateTableRequest { max_versions: Some(5), time_to_live: Some(-1), ..UpdateTableRequest::new(&name) };
    let updated = client.update_table(update).await.unwrap();
    assert_eq!(updated.options.max_versions, 5);
    assert_eq!(updated.options.time_to_live, -1);
    assert_eq!(updated.options.max_time_deviation, 3_600, "untouched options keep their values");
    let described = client.describe_table(&name).await.unwrap();
    assert_eq!(described.options.max_versions, 5);

    client.delete_table(&name).await.unwrap();
    assert!(!client.list_table().await.unwrap().contains(&name));
    let err = client.describe_table(&name).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ObjectNotExist), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_table_fails_and_auto_increment_is_reported() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("dup");
    let request = CreateTableRequest::new(&name).primary_key("p", PrimaryKeyType::String).auto_increment_key("n");
    client.create_table(request.clone()).await.unwrap();
    let err = client.create_table(request).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ObjectAlreadyExist), "{err}");
    assert_eq!(err.http_status(), Some(409));
    let described = client.describe_table(&name).await.unwrap();
    assert_eq!(
        described.schema.primary_key[1],
        PrimaryKeySchema { name: "n".into(), key_type: PrimaryKeyType::Integer, auto_increment: true }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_indexes_are_listed_empty() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("search");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    assert_eq!(client.list_search_index(Some(&name)).await.unwrap(), vec![]);
    assert_eq!(client.list_search_index(None).await.unwrap(), vec![]);
    let err = client.list_search_index(Some("no_such_table")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ObjectNotExist), "{err}");
    assert_eq!(err.http_status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_points_cut_the_table_into_ranges_that_cover_every_row() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("split");
    client.create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();
    let payload = Value::String("x".repeat(500));
    let batch: BatchWriteRowRequest = (0..100)
        .map(|id| PutRowRequest::new(&name, int_key("id", id), [Cell::put("payload", payload.clone())]))
        .collect();
    assert!(client.batch_write_row(batch).await.unwrap().is_all_ok());

    let request = SplitPointsRequest { split_size_unit_bytes: Some(5_000), ..SplitPointsRequest::new(&name, 1) };
    let split = client.compute_split_points_by_size(request).await.unwrap();
    assert_eq!(split.schema.len(), 1);
    assert_eq!(split.schema[0].name, "id");
    assert!(split.split_points.len() >= 5, "got {} split points", split.split_points.len());
    assert!(split.split_points.windows(2).all(|w| w[0].cmp_values(&w[1]).is_lt()), "ascending");
    assert_eq!(split.locations.iter().map(|l| l.repeat).sum::<i64>(), split.split_points.len() as i64 + 1);

    let ranges = split.ranges();
    assert_eq!(ranges.len(), split.split_points.len() + 1);
    let mut seen = Vec::new();
    for (start, end) in ranges {
        let rows: Vec<_> = client.scan(GetRangeRequest::new(&name, start, end)).try_collect().await.unwrap();
        seen.extend(rows.into_iter().map(|r| r.primary_key));
    }
    let expected: Vec<PrimaryKey> = (0..100).map(|id| int_key("id", id)).collect();
    assert_eq!(seen, expected, "the ranges partition the table in order");

    let limited = SplitPointsRequest {
        split_size_unit_bytes: Some(5_000),
        split_point_limit: Some(2),
        ..SplitPointsRequest::new(&name, 1)
    };
    assert_eq!(client.compute_split_points_by_size(limited).await.unwrap().split_points.len(), 2);
    let err = client.compute_split_points_by_size(SplitPointsRequest::new(&name, 0)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ParameterInvalid), "{err}");
}
