//! Read throughput through the Rust client over real HTTP, next to the same reads
//! done on the engine in-process (the limit of this machine):
//! - GetRange: a full-table scan with `Client::scan` (automatic paging);
//! - the change stream: GetStreamRecord pages of 1,000 records, decoded.
//!
//! Run: `cargo bench -p tablesafe-client --bench read_paths` (see `bench/README.md`).
//! `BENCH_ROWS` (default 300,000) sets the table size; each measurement runs
//! `BENCH_REPEATS` times (default 3) and the median is printed, in one markdown table.
//! Any error aborts the run: a benchmark over errors measures nothing.

#![allow(clippy::unwrap_used)] // A benchmark aborts on the first failure.

use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Row, Value};
use tablesafe_client::{Client, CreateTableRequest, GetRangeRequest, GetShardIteratorRequest, GetStreamRecordRequest};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Direction, Engine, EngineOptions, RangeRequest, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::{Condition, ReadOptions};
use tablesafe_server::{AccessKey, ServerState};

const INSTANCE: &str = "bench";
const KEY_ID: &str = "BENCHKEYID";
const SECRET: &str = "bench-secret-0123456789";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn row(id: i64) -> Row {
    let cells = vec![
        Cell::put("name", Value::String(format!("user-{id:012}"))),
        Cell::put("score", Value::Integer(id * 7)),
        Cell::put("ratio", Value::Double(id as f64 / 3.0)),
        Cell::put("blob", Value::Binary(vec![(id % 251) as u8; 48])),
    ];
    Row { primary_key: PrimaryKey::new([("id", PkValue::Integer(id))]), cells, ..Row::default() }
}

fn load(engine: &Engine, table: &str, rows: usize) {
    for chunk in (0..rows as i64).collect::<Vec<_>>().chunks(200) {
        let writes = chunk
            .iter()
            .map(|&id| RowWrite {
                table: table.into(),
                change: RowChange::Put(row(id)),
                condition: Condition::default(),
                return_content: ReturnContent::None,
            })
            .collect();
        assert!(engine.write_rows(writes).iter().all(Result::is_ok));
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn full_range() -> (PrimaryKey, PrimaryKey) {
    (PrimaryKey::new([("id", PkValue::InfMin)]), PrimaryKey::new([("id", PkValue::InfMax)]))
}

async fn client_scan(client: &Client, rows: usize) -> f64 {
    let (start, end) = full_range();
    let started = Instant::now();
    let scanned: Vec<Row> = client.scan(GetRangeRequest::new("scan", start, end)).try_collect().await.unwrap();
    assert_eq!(scanned.len(), rows);
    rows as f64 / started.elapsed().as_secs_f64()
}

fn engine_scan(engine: &Engine, rows: usize) -> f64 {
    let (mut start, end) = full_range();
    let read = ReadOptions { max_versions: Some(1), ..ReadOptions::default() };
    let started = Instant::now();
    let mut seen = 0;
    loop {
        let request = RangeRequest {
            table: "scan".into(),
            direction: Direction::Forward,
            start: start.clone(),
            end: end.clone(),
            limit: None,
            read: read.clone(),
        };
        let page = engine.get_range(&request).unwrap();
        seen += page.rows.len();
        match page.next_start {
            Some(next) => start = next,
            None => break,
        }
    }
    assert_eq!(seen, rows);
    rows as f64 / started.elapsed().as_secs_f64()
}

async fn client_stream(client: &Client, stream_id: &str, rows: usize) -> f64 {
    let started = Instant::now();
    let mut iterator = client.get_shard_iterator(GetShardIteratorRequest::new(stream_id, "shard-0")).await.unwrap();
    let mut seen = 0;
    while seen < rows {
        let page = client
            .get_stream_record(GetStreamRecordRequest { shard_iterator: iterator, limit: Some(1000) })
            .await
            .unwrap();
        assert!(!page.records.is_empty(), "stream ended after {seen} of {rows} records");
        seen += page.records.len();
        iterator = page.next_shard_iterator.unwrap();
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

fn engine_stream(engine: &Engine, stream_id: &str, rows: usize) -> f64 {
    let started = Instant::now();
    let mut position = engine.stream_position(stream_id, None).unwrap();
    let mut seen = 0;
    while seen < rows {
        let page = engine.stream_read(stream_id, position, 1000).unwrap();
        assert!(!page.records.is_empty());
        // Encode as the server does, so both sides pay for PlainBuffer.
        for record in &page.records {
            std::hint::black_box(tablesafe_proto::plainbuffer::encode_row(&record.row));
        }
        seen += page.records.len();
        position = page.next;
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 300_000);
    let repeats = env_usize("BENCH_REPEATS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(dir.path(), options, Arc::clone(&clock)).unwrap());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(ServerState {
        engine: Arc::clone(&engine),
        instance: INSTANCE.into(),
        keys: vec![AccessKey { id: KEY_ID.into(), secret: SECRET.into() }],
        clock,
    });
    runtime.spawn(tablesafe_server::run(listener, state, std::future::pending::<()>()));
    let client = Client::new(&endpoint, INSTANCE, KEY_ID, SECRET).unwrap();

    eprintln!("loading {rows} rows into a plain and a stream-enabled table ...");
    runtime.block_on(async {
        let table = |name: &str| CreateTableRequest::new(name).primary_key("id", PrimaryKeyType::Integer);
        client.create_table(table("scan")).await.unwrap();
        client.create_table(table("streamed").stream(24)).await.unwrap();
    });
    load(&engine, "scan", rows);
    load(&engine, "streamed", rows);
    engine.flush().unwrap();
    let stream_id = engine.table("streamed").unwrap().stream_id().unwrap();

    let mut results = Vec::new();
    let mut measure = |name: &str, unit: &str, client_rate: Vec<f64>, engine_rate: Vec<f64>| {
        let (c, e) = (median(client_rate), median(engine_rate));
        results.push(format!("| {name} | {c:.0} {unit}/s | {e:.0} {unit}/s | {:.2} |", c / e));
    };
    let scans: Vec<f64> = (0..repeats).map(|_| runtime.block_on(client_scan(&client, rows))).collect();
    let engine_scans: Vec<f64> = (0..repeats).map(|_| engine_scan(&engine, rows)).collect();
    measure("GetRange full scan (`Client::scan`, 5,000-row pages)", "rows", scans, engine_scans);
    let streams: Vec<f64> = (0..repeats).map(|_| runtime.block_on(client_stream(&client, &stream_id, rows))).collect();
    let engine_streams: Vec<f64> = (0..repeats).map(|_| engine_stream(&engine, &stream_id, rows)).collect();
    measure("GetStreamRecord (1,000 records/request)", "records", streams, engine_streams);

    println!("\n{rows} rows of ~90 B of attributes (4 columns), median of {repeats} runs\n");
    println!("| read | through the client over HTTP | engine in-process | client/engine |");
    println!("|---|---:|---:|---:|");
    for line in results {
        println!("{line}");
    }
}
