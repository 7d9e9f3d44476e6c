//! A stream follower rebuilds a table from change records alone while 100,000 mixed
//! changes are written concurrently, and the copy equals the original in every row
//! and every version.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::TryStreamExt;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Row, Value};
use tablesafe_client::{
    BatchWriteRowRequest, Client, CreateTableRequest, DeleteRowRequest, DescribeStreamRequest, GetRangeRequest,
    GetShardIteratorRequest, GetStreamRecordRequest, PutRowRequest, RowWrite, StreamRecord, UpdateRowRequest,
};

use crate::harness::{int_key, now_ms, table_name, TestServer};

const CHANGES: u64 = 100_000;
const WRITERS: u64 = 8;
const ROWS: u64 = 3_000;

/// A small xorshift generator: deterministic per writer, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_value(rng: &mut Rng, step: u64) -> Value {
    match rng.below(5) {
        0 => Value::Integer(step as i64 - 50_000),
        1 => Value::Double(step as f64 / 7.0),
        2 => Value::Boolean(step.is_multiple_of(2)),
        3 => Value::String(format!("s{step}")),
        _ => Value::Binary(step.to_be_bytes().to_vec()),
    }
}

/// One random change of row `id`: a put, an update mixing every cell operation, or
/// a delete. Version timestamps come from a small set so that deletes of one
/// version hit and max_versions prunes.
fn random_change(rng: &mut Rng, table: &str, id: i64, step: u64, base_ms: i64) -> RowWrite {
    let key = int_key("id", id);
    let ts = |rng: &mut Rng| base_ms - 1000 * rng.below(6) as i64;
    let column = |rng: &mut Rng| format!("c{}", rng.below(4));
    match rng.below(10) {
        0..=2 => {
            let mut cells = Vec::new();
            for _ in 0..=rng.below(3) {
                let name = column(rng);
                let value = random_value(rng, step);
                cells.push(if rng.below(2) == 0 {
                    Cell::put(name, value)
                } else {
                    Cell::version(name, value, ts(rng))
                });
            }
            RowWrite::Put(PutRowRequest::new(table, key, cells))
        }
        3..=8 => {
            let mut update = UpdateRowRequest::new(table, key);
            for _ in 0..=rng.below(3) {
                update = match rng.below(6) {
                    0 => update.put(column(rng), random_value(rng, step)),
                    1 | 2 => update.put_at(column(rng), random_value(rng, step), ts(rng)),
                    3 => update.delete_version(column(rng), ts(rng)),
                    4 => update.delete_all_versions(column(rng)),
                    // "n" only ever holds integers, so increments always apply.
                    _ => update.increment("n", rng.below(10) as i64 - 3),
                };
            }
            RowWrite::Update(update)
        }
        _ => RowWrite::Delete(DeleteRowRequest::new(table, key)),
    }
}

async fn write_batch(client: &Client, writes: Vec<RowWrite>) {
    let request = BatchWriteRowRequest { rows: writes };
    let response = client.batch_write_row(request).await.unwrap();
    let failures: Vec<_> = response.failures().collect();
    assert!(failures.is_empty(), "batch rows failed: {failures:?}");
}

/// Applies records in order, batching rows but never one key twice in a batch.
async fn apply_records(client: &Client, table: &str, records: &[StreamRecord]) {
    let mut batch = Vec::new();
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    for record in records {
        let key = tablesafe_proto::plainbuffer::encode_primary_key(&record.row.primary_key);
        if batch.len() == 200 || !keys.insert(key.clone()) {
            write_batch(client, std::mem::take(&mut batch)).await;
            keys.clear();
            keys.insert(key);
        }
        batch.push(record.to_row_write(table));
    }
    if !batch.is_empty() {
        write_batch(client, batch).await;
    }
}

pub async fn dump(client: &Client, table: &str) -> Vec<Row> {
    let start = PrimaryKey::new([("id", PkValue::InfMin)]);
    let end = PrimaryKey::new([("id", PkValue::InfMax)]);
    client.scan(GetRangeRequest::new(table, start, end).max_versions(i32::MAX)).try_collect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_rebuilds_an_equal_table_from_100k_concurrent_mixed_changes() {
    let server = TestServer::start().await;
    let client = server.client();
    let source = table_name("followed");
    let copy = table_name("rebuilt");
    let table = |name: &str| CreateTableRequest::new(name).primary_key("id", PrimaryKeyType::Integer).max_versions(4);
    client.create_table(table(&source).stream(24)).await.unwrap();
    client.create_table(table(&copy)).await.unwrap();
    let stream = client.list_stream(Some(&source)).await.unwrap().remove(0);
    let shard = client.describe_stream(DescribeStreamRequest::new(&stream.stream_id)).await.unwrap().shards.remove(0);
    let mut iterator =
        client.get_shard_iterator(GetShardIteratorRequest::new(&stream.stream_id, &shard.shard_id)).await.unwrap();

    let writing = Arc::new(AtomicBool::new(true));
    let written = Arc::new(AtomicU64::new(0));
    let base_ms = now_ms();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, source, written) = (client.clone(), source.clone(), Arc::clone(&written));
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
                let mut step = w * CHANGES;
                let mut remaining = CHANGES / WRITERS;
                while remaining > 0 {
                    // Mostly batches; every tenth call a single-row API.
                    if rng.below(10) == 0 {
                        let id = rng.below(ROWS) as i64;
                        match random_change(&mut rng, &source, id, step, base_ms) {
                            RowWrite::Put(r) => drop(client.put_row(r).await.unwrap()),
                            RowWrite::Update(r) => drop(client.update_row(r).await.unwrap()),
                            RowWrite::Delete(r) => drop(client.delete_row(r).await.unwrap()),
                        }
                        step += 1;
                        remaining -= 1;
                        written.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let size = remaining.min(1 + rng.below(100));
                    let mut ids = HashSet::new();
                    let mut writes = Vec::new();
                    while (writes.len() as u64) < size {
                        let id = rng.below(ROWS) as i64;
                        if ids.insert(id) {
                            writes.push(random_change(&mut rng, &source, id, step, base_ms));
                            step += 1;
                        }
                    }
                    write_batch(&client, writes).await;
                    remaining -= size;
                    written.fetch_add(size, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let follower = {
        let (client, copy, writing) = (client.clone(), copy.clone(), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut applied = 0u64;
            let mut last_seq = None;
            loop {
                // Sampled before the read: an empty page after the writers stopped is the end.
                let finished = !writing.load(Ordering::SeqCst);
                let page = client
                    .get_stream_record(GetStreamRecordRequest { shard_iterator: iterator.clone(), limit: Some(1000) })
                    .await
                    .unwrap();
                for record in &page.records {
                    let seq = record.row.seq_info.map(|s| (s.timestamp, s.row_index));
                    assert!(seq > last_seq, "records out of order: {last_seq:?} then {seq:?}");
                    last_seq = seq;
                }
                apply_records(&client, &copy, &page.records).await;
                applied += page.records.len() as u64;
                iterator = page.next_shard_iterator.expect("TableSafe's shards never close");
                if page.records.is_empty() {
                    if finished {
                        return applied;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let applied = follower.await.unwrap();
    assert_eq!(written.load(Ordering::Relaxed), CHANGES);
    assert_eq!(applied, CHANGES, "one record per acknowledged change");

    let original = dump(&client, &source).await;
    let rebuilt = dump(&client, &copy).await;
    assert!(original.len() > (ROWS / 2) as usize, "the workload leaves most rows: {}", original.len());
    let versions: usize = original.iter().map(|r| r.cells.len()).sum();
    assert!(versions > original.len() * 2, "rows hold several versions: {versions}");
    assert_eq!(original.len(), rebuilt.len());
    for (a, b) in original.iter().zip(&rebuilt) {
        assert_eq!(a, b);
    }
}
