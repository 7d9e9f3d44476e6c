//! Smoke test of the Stream API: a table created with a stream is listed by
//! ListStream and described by DescribeStream, and its first change can be read.

use tablesafe_client::model::{Cell, PrimaryKeyType, Value};
use tablesafe_client::{
    CreateTableRequest, DescribeStreamRequest, GetShardIteratorRequest, GetStreamRecordRequest, PutRowRequest,
    StreamAction, StreamStatus,
};

use tablesafe_proto::stream::ShardIterator;

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

/// TableSafe's stream extensions: records carry their position, a future time
/// gives the end of the stream, and a bounded iterator stops before its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_positions_and_bounded_iterators_stop_at_their_end() {
    let server = TestServer::start().await;
    let client = server.client();
    let name = table_name("positions");
    client
        .create_table(CreateTableRequest::new(&name).primary_key("id", PrimaryKeyType::Integer).stream(24))
        .await
        .unwrap();
    for i in 0..5 {
        client.put_row(PutRowRequest::new(&name, int_key("id", i), [Cell::put("v", Value::Integer(i))])).await.unwrap();
    }
    let stream_id = client.list_stream(Some(&name)).await.unwrap()[0].stream_id.clone();
    let oldest = client.get_shard_iterator(GetShardIteratorRequest::new(&stream_id, "shard-0")).await.unwrap();
    let page = client.get_stream_record(GetStreamRecordRequest::new(oldest)).await.unwrap();
    let positions: Vec<u64> = page.records.iter().map(|r| r.position.unwrap()).collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    let end =
        GetShardIteratorRequest { timestamp: Some(i64::MAX), ..GetShardIteratorRequest::new(&stream_id, "shard-0") };
    let end = ShardIterator::decode(&client.get_shard_iterator(end).await.unwrap()).unwrap();
    assert!(end.position > positions[4], "the end lies past every acknowledged change");
    let bounded = ShardIterator { stream_id, position: positions[1], end: Some(positions[3]), issued_at_us: None };
    let page = client.get_stream_record(GetStreamRecordRequest::new(bounded.encode())).await.unwrap();
    let keys: Vec<_> = page.records.iter().map(|r| r.row.primary_key.clone()).collect();
    assert_eq!(keys, [int_key("id", 1), int_key("id", 2)]);
    assert_eq!(page.next_shard_iterator, None, "the bounded shard reads as closed");
}
