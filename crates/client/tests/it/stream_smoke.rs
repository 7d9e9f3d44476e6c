//! Smoke test of the Stream API: a table created with a stream is listed by
//! ListStream and described by DescribeStream, and its first change can be read.

use tablesafe_client::model::{Cell, PrimaryKeyType, Value};
use tablesafe_client::{
    CreateTableRequest, DescribeStreamRequest, GetShardIteratorRequest, GetStreamRecordRequest, PutRowRequest,
    StreamAction, StreamStatus,
};

use crate::harness::{int_key, table_name, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_enabled_table_is_listed_and_readable() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("streamed");
    let plain = table_name("plain");
    client
        .create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer).stream(24))
        .await
        .unwrap();
    client.create_table(CreateTableRequest::new(&plain).primary_key("id", PrimaryKeyType::Integer)).await.unwrap();

    let streams = client.list_stream(None).await.unwrap();
    assert_eq!(streams.iter().map(|s| s.table.as_str()).collect::<Vec<_>>(), [name.as_str()]);
    let stream = &streams[0];
    assert_eq!(client.list_stream(Some(&name)).await.unwrap(), streams);
    let described = client.describe_table(&name).await.unwrap();
    assert!(described.stream.spec.enabled);
    assert_eq!(described.stream.stream_id.as_deref(), Some(stream.stream_id.as_str()));

    let description = client.describe_stream(DescribeStreamRequest::new(&stream.stream_id)).await.unwrap();
    assert_eq!(description.table, name);
    assert_eq!(description.status, StreamStatus::Active);
    assert_eq!(description.expiration_hours, 24);
    assert!(!description.shards.is_empty());

    client.put_row(PutRowRequest::new(&name, int_key("id", 1), [Cell::put("v", Value::Integer(1))])).await.unwrap();
    let iterator = client
        .get_shard_iterator(GetShardIteratorRequest::new(&stream.stream_id, &description.shards[0].shard_id))
        .await
        .unwrap();
    let page = client.get_stream_record(GetStreamRecordRequest::new(iterator)).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].action, StreamAction::PutRow);
    assert_eq!(page.records[0].row.primary_key, int_key("id", 1));
    assert!(page.records[0].row.seq_info.is_some());
}
