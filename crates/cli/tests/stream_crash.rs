//! `kill -9` of a real `tablesafe serve` process in the middle of a write load, then
//! a restart: no acknowledged change is missing from the stream, and no stream
//! record exists without its row change (replaying the stream rebuilds the table
//! exactly).

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::Server;

use futures::TryStreamExt;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Row, Value};
use tablesafe_client::{
    BatchWriteRowRequest, Client, CreateTableRequest, DeleteRowRequest, DescribeStreamRequest, GetRangeRequest,
    GetShardIteratorRequest, GetStreamRecordRequest, PutRowRequest, RowWrite, StreamAction, StreamRecord,
    UpdateRowRequest,
};

fn key(id: i64) -> PrimaryKey {
    PrimaryKey::new([("id", PkValue::Integer(id))])
}

/// What the writers were told succeeded.
#[derive(Default)]
struct Acknowledged {
    /// Marker values of acknowledged puts and updates.
    markers: Vec<i64>,
    /// Acknowledged deletes per row id.
    deletes: HashMap<i64, usize>,
}

/// Writes until the first failure (the kill): puts and updates carry a unique
/// marker in column `w`; every seventh call is a batch of several rows.
async fn write_until_killed(
    client: Client,
    writer: i64,
    acknowledged: Arc<Mutex<Acknowledged>>,
    stop: Arc<AtomicBool>,
) {
    let mut marker = writer * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        marker += 1;
        let id = marker % 97;
        let result = match marker % 7 {
            0 => {
                let rows: Vec<RowWrite> = (0..5)
                    .map(|i| {
                        RowWrite::Put(PutRowRequest::new(
                            "t",
                            key(id + 100 * i),
                            [Cell::put("w", Value::Integer(marker + i * 1000))],
                        ))
                    })
                    .collect();
                match client.batch_write_row(BatchWriteRowRequest { rows }).await {
                    Ok(response) if response.is_all_ok() => {
                        acknowledged.lock().unwrap().markers.extend((0..5).map(|i| marker + i * 1000));
                        continue;
                    }
                    Ok(_) => panic!("a batch row failed without a condition"),
                    Err(e) => Err(e),
                }
            }
            1 => client.delete_row(DeleteRowRequest::new("t", key(id))).await.map(|_| None),
            2 | 3 => client
                .update_row(UpdateRowRequest::new("t", key(id)).put("w", Value::Integer(marker)).increment("n", 1))
                .await
                .map(|_| Some(marker)),
            _ => client
                .put_row(PutRowRequest::new(
                    "t",
                    key(id),
                    [Cell::put("w", Value::Integer(marker)), Cell::put("s", Value::String(format!("{marker}")))],
                ))
                .await
                .map(|_| Some(marker)),
        };
        let mut acknowledged = acknowledged.lock().unwrap();
        match result {
            Ok(Some(marker)) => acknowledged.markers.push(marker),
            Ok(None) => *acknowledged.deletes.entry(id).or_default() += 1,
            Err(_) => return,
        }
    }
}

async fn read_stream(client: &Client) -> Vec<StreamRecord> {
    let stream = client.list_stream(Some("t")).await.unwrap().remove(0);
    let shard = client.describe_stream(DescribeStreamRequest::new(&stream.stream_id)).await.unwrap().shards.remove(0);
    let mut iterator =
        client.get_shard_iterator(GetShardIteratorRequest::new(&stream.stream_id, &shard.shard_id)).await.unwrap();
    let mut records = Vec::new();
    loop {
        let request = GetStreamRecordRequest { shard_iterator: iterator, limit: Some(1000) };
        let page = client.get_stream_record(request).await.unwrap();
        if page.records.is_empty() {
            return records;
        }
        records.extend(page.records);
        iterator = page.next_shard_iterator.unwrap();
    }
}

async fn dump(client: &Client, table: &str) -> Vec<Row> {
    let everything = GetRangeRequest::new(
        table,
        PrimaryKey::new([("id", PkValue::InfMin)]),
        PrimaryKey::new([("id", PkValue::InfMax)]),
    );
    client.scan(everything.max_versions(i32::MAX)).try_collect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_the_stream_and_the_table_agree_and_hold_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = server.client.clone();
    let table = |name: &str| CreateTableRequest::new(name).primary_key("id", PrimaryKeyType::Integer).max_versions(3);
    client.create_table(table("t").stream(24)).await.unwrap();

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=4)
        .map(|w| tokio::spawn(write_until_killed(client.clone(), w, Arc::clone(&acknowledged), Arc::clone(&stop))))
        .collect();
    // Kill once a good number of writes is acknowledged, while writes are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().markers.len() < 2_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop(); // SIGKILL
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(acknowledged.markers.len() >= 2_000, "too few writes before the kill: {}", acknowledged.markers.len());

    let server = Server::start(dir.path()).await;
    let client = server.client.clone();
    let records = read_stream(&client).await;

    // Every acknowledged change is in the stream.
    let mut recorded_markers = std::collections::HashSet::new();
    let mut recorded_deletes: HashMap<i64, usize> = HashMap::new();
    for record in &records {
        let Some(PkValue::Integer(id)) = record.row.primary_key.columns.first().map(|c| c.value.clone()) else {
            panic!("unexpected key {:?}", record.row.primary_key)
        };
        match record.action {
            StreamAction::DeleteRow => *recorded_deletes.entry(id).or_default() += 1,
            _ => recorded_markers.extend(record.row.cells.iter().filter(|c| c.name == "w").filter_map(
                |c| match c.value {
                    Some(Value::Integer(m)) => Some(m),
                    _ => None,
                },
            )),
        }
    }
    let missing: Vec<i64> = acknowledged.markers.iter().copied().filter(|m| !recorded_markers.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes missing from the stream, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for (id, count) in &acknowledged.deletes {
        assert!(recorded_deletes.get(id).copied().unwrap_or(0) >= *count, "acknowledged deletes of row {id} missing");
    }

    // No record without its row change (and no row change without its record):
    // replaying the stream on an empty table rebuilds the table exactly.
    client.create_table(table("copy")).await.unwrap();
    for record in &records {
        let write = record.to_row_write("copy");
        let response = client.batch_write_row(BatchWriteRowRequest { rows: vec![write] }).await.unwrap();
        assert!(response.is_all_ok());
    }
    let original = dump(&client, "t").await;
    assert!(!original.is_empty());
    assert_eq!(original, dump(&client, "copy").await);
    server.stop();
}
