//! Throughput of the real server over real HTTP, next to the same work done on the
//! engine in-process (the physical limit of this machine).
//!
//! Run: `cargo bench -p tablesafe-server --bench throughput` (see `bench/README.md`).
//!
//! What it does:
//! - opens a fresh engine in a temp dir (default options: fsync on), starts
//!   `tablesafe_server::run` on 127.0.0.1:0 with a known access key, and creates two
//!   tables with one INTEGER primary key through the HTTP CreateTable API;
//! - preloads the read table with `BENCH_ROWS` rows (~100 bytes of attributes each);
//! - for each workload runs `BENCH_CLIENTS` tokio tasks, each on its own keep-alive
//!   HTTP/1.1 connection, sending V2-signed requests exactly like the SDKs (and checking
//!   the response MD5 and signature like the Python SDK does), then the same work with
//!   `BENCH_CLIENTS` OS threads calling the engine directly;
//! - repeats PutRow on a second engine with `sync_writes: false` to show the fsync cost;
//! - prints one markdown table.
//!
//! Nothing here judges speed. Any non-200 answer, failed row, bad signature or short
//! scan aborts the run with a panic: a benchmark over errors measures nothing.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use prost::Message;
use rand::Rng;
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Direction, Engine, EngineOptions, RangeRequest, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::{Cell, Condition, PkValue, PrimaryKey, ReadOptions, Row, Value};
use tablesafe_proto::sign::{self, SigningKey};
use tablesafe_proto::{pb, plainbuffer};
use tablesafe_server::{AccessKey, ServerState};

type BoxError = Box<dyn Error + Send + Sync>;

const INSTANCE: &str = "bench";
const KEY_ID: &str = "BENCHKEYID";
const SECRET: &str = "bench-secret-0123456789";
const WRITE_TABLE: &str = "bench_write";
const READ_TABLE: &str = "bench_read";
const PK: &str = "id";

// ---------------------------------------------------------------------------------------
// Configuration

#[derive(Debug, Clone)]
struct Config {
    /// Measured seconds per workload and side (HTTP, engine).
    seconds: f64,
    /// Unmeasured seconds before each measurement.
    warmup: f64,
    /// Concurrent HTTP clients and engine threads.
    clients: usize,
    /// Rows preloaded into the read table (GetRow keys, GetRange scans).
    rows: i64,
    /// BatchWriteRow batch sizes (the service allows at most 200).
    batches: Vec<usize>,
    /// GetRange page size (the server caps it at 5000).
    page_rows: i32,
    /// Check response MD5 and signature like the Python SDK.
    verify: bool,
    /// Workloads to run; empty = all.
    only: Vec<String>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} does not parse")),
        Err(_) => default,
    }
}

impl Config {
    fn from_env() -> Config {
        let batches = std::env::var("BENCH_BATCH_SIZES").unwrap_or_else(|_| "100,200".into());
        let only = std::env::var("BENCH_WORKLOADS").unwrap_or_default();
        Config {
            seconds: env_or("BENCH_SECONDS", 5.0),
            warmup: env_or("BENCH_WARMUP_SECONDS", 0.5),
            clients: env_or("BENCH_CLIENTS", 16usize).max(1),
            rows: env_or("BENCH_ROWS", 100_000i64).max(1),
            batches: batches
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("BENCH_BATCH_SIZES: bad size {s:?}")))
                .collect(),
            page_rows: env_or("BENCH_PAGE_ROWS", 5000i32).max(1),
            verify: env_or("BENCH_VERIFY_RESPONSES", 1u8) != 0,
            only: only.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect(),
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == name)
    }
}

// ---------------------------------------------------------------------------------------
// Row shapes

/// A row of the benchmark: `id` INTEGER key, ~100 bytes of attributes
/// (64-byte string, 28-byte binary, 8-byte integer).
fn bench_row(id: i64) -> Row {
    let mut text = format!("user-{id:012}-");
    while text.len() < 64 {
        text.push((b'a' + (text.len() as u8).wrapping_add(id as u8) % 26) as char);
    }
    let blob: Vec<u8> = (0..28u8).map(|i| i.wrapping_mul(31).wrapping_add(id as u8)).collect();
    Row {
        primary_key: pk(id),
        cells: vec![
            Cell::put("name", Value::String(text)),
            Cell::put("blob", Value::Binary(blob)),
            Cell::put("n", Value::Integer(id.wrapping_mul(7))),
        ],
        ..Row::default()
    }
}

fn pk(id: i64) -> PrimaryKey {
    PrimaryKey::new([(PK, PkValue::Integer(id))])
}

fn pk_inf(value: PkValue) -> PrimaryKey {
    PrimaryKey::new([(PK, value)])
}

fn read_options() -> ReadOptions {
    ReadOptions { max_versions: Some(1), ..ReadOptions::default() }
}

fn ignore() -> pb::Condition {
    pb::Condition { row_existence: pb::RowExistenceExpectation::Ignore as i32, column_condition: None }
}

// ---------------------------------------------------------------------------------------
// Workloads

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// PutRow, one row per request, fresh keys.
    Put,
    /// BatchWriteRow PUTs, n rows per request, fresh keys.
    Batch(usize),
    /// GetRow of a random preloaded key.
    Get,
    /// GetRange pages over the whole read table, forever from INF_MIN again.
    Range,
}

impl Workload {
    fn label(self, page_rows: i32) -> String {
        match self {
            Workload::Put => "PutRow (1 row/request)".into(),
            Workload::Batch(n) => format!("BatchWriteRow ({n} rows/request)"),
            Workload::Get => "GetRow (random existing key)".into(),
            Workload::Range => format!("GetRange (full scan, {page_rows}-row pages)"),
        }
    }
}

/// What one side (HTTP or engine) achieved in one workload.
#[derive(Debug, Default)]
struct Measured {
    requests: u64,
    rows: u64,
    elapsed: f64,
    /// Request latencies in microseconds (HTTP side only).
    latencies_us: Vec<u32>,
}

impl Measured {
    fn merge(parts: Vec<WorkerStats>, measure_from: Instant) -> Measured {
        let end = parts.iter().map(|p| p.last_finish).max().unwrap_or(measure_from);
        let mut m =
            Measured { elapsed: end.saturating_duration_since(measure_from).as_secs_f64(), ..Measured::default() };
        for p in parts {
            m.requests += p.requests;
            m.rows += p.rows;
            m.latencies_us.extend(p.latencies_us);
        }
        m.latencies_us.sort_unstable();
        m
    }

    fn per_sec(&self, n: u64) -> f64 {
        if self.elapsed > 0.0 {
            n as f64 / self.elapsed
        } else {
            0.0
        }
    }

    fn percentile(&self, p: f64) -> Option<u32> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let idx = ((self.latencies_us.len() as f64 * p) as usize).min(self.latencies_us.len() - 1);
        Some(self.latencies_us[idx])
    }
}

#[derive(Debug)]
struct WorkerStats {
    requests: u64,
    rows: u64,
    latencies_us: Vec<u32>,
    last_finish: Instant,
}

/// Per-worker state of a full-table scan: where the next page starts and how many rows
/// this pass has seen (checked against the table size at the end of each pass).
struct ScanState {
    next: PrimaryKey,
    seen: i64,
}

impl ScanState {
    fn new() -> Self {
        ScanState { next: pk_inf(PkValue::InfMin), seen: 0 }
    }

    fn advance(&mut self, rows: usize, next: Option<PrimaryKey>, expected: i64, side: &str) {
        self.seen += rows as i64;
        match next {
            Some(key) => self.next = key,
            None => {
                assert_eq!(
                    self.seen, expected,
                    "{side} GetRange full scan returned {} rows, table has {expected}",
                    self.seen
                );
                *self = ScanState::new();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP client: one keep-alive HTTP/1.1 connection, requests signed like the SDKs

struct Client {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
    verify: bool,
}

impl Client {
    async fn connect(addr: SocketAddr, verify: bool) -> Result<Client, BoxError> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("bench: HTTP connection ended with an error: {e}");
            }
        });
        Ok(Client { sender, host: addr.to_string(), verify })
    }

    /// Sends `POST /<action>` with V2 signing; panics on anything but a verified 200.
    async fn call(&mut self, action: &str, body: Vec<u8>) -> Bytes {
        // Like the Node SDK: real milliseconds in x-ots-date.
        let full = sign::format_ots_date(SystemClock.now_micros());
        let date = format!("{}Z", &full[..full.len() - 4]);
        let headers: Vec<(String, String)> = vec![
            ("x-ots-date".into(), date),
            ("x-ots-apiversion".into(), "2015-12-31".into()),
            ("x-ots-accesskeyid".into(), KEY_ID.into()),
            ("x-ots-instancename".into(), INSTANCE.into()),
            ("x-ots-contentmd5".into(), sign::content_md5(&body)),
        ];
        let signature = sign::v2_request_signature(SECRET, action, &headers);
        let mut request = Request::builder().method("POST").uri(format!("/{action}")).header("host", &self.host);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request =
            request.header("x-ots-signature", signature).body(Full::new(Bytes::from(body))).expect("request builds");
        self.sender.ready().await.unwrap_or_else(|e| panic!("{action}: connection not ready: {e}"));
        let response =
            self.sender.send_request(request).await.unwrap_or_else(|e| panic!("{action}: request failed: {e}"));
        let status = response.status();
        let response_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{action}: reading the response body failed: {e}"))
            .to_bytes();
        if status != hyper::StatusCode::OK {
            let detail = match pb::Error::decode(body.as_ref()) {
                Ok(e) => format!("{}: {}", e.code, e.message.unwrap_or_default()),
                Err(_) => format!("{} undecodable body bytes", body.len()),
            };
            panic!("{action}: HTTP {status} ({detail}) — a benchmark over errors is worthless");
        }
        if self.verify {
            verify_response(action, &response_headers, &body);
        }
        body
    }
}

/// The checks the Python SDK makes on every 2xx answer (reference 1.5).
fn verify_response(action: &str, headers: &[(String, String)], body: &[u8]) {
    for required in ["x-ots-contentmd5", "x-ots-requestid", "x-ots-date", "x-ots-contenttype", "authorization"] {
        assert!(sign::header_value(headers, required).is_some(), "{action}: response lacks {required}");
    }
    let md5 = sign::header_value(headers, "x-ots-contentmd5").unwrap_or_default();
    assert_eq!(md5, sign::content_md5(body), "{action}: response MD5 mismatch");
    let date = sign::header_value(headers, "x-ots-date").unwrap_or_default();
    assert!(sign::parse_ots_date(date).is_some(), "{action}: bad response x-ots-date {date:?}");
    let ots: Vec<(String, String)> = headers.iter().filter(|(n, _)| n.starts_with("x-ots-")).cloned().collect();
    let expected = format!("OTS {KEY_ID}:{}", sign::response_signature(&SigningKey::V2(SECRET.into()), &ots, action));
    let got = sign::header_value(headers, "authorization").unwrap_or_default();
    assert_eq!(got, expected, "{action}: response signature mismatch");
}

fn create_table_request(name: &str) -> pb::CreateTableRequest {
    pb::CreateTableRequest {
        table_meta: pb::TableMeta {
            table_name: name.into(),
            primary_key: vec![pb::PrimaryKeySchema {
                name: PK.into(),
                r#type: pb::PrimaryKeyType::Integer as i32,
                option: None,
            }],
            ..Default::default()
        },
        reserved_throughput: pb::ReservedThroughput {
            capacity_unit: pb::CapacityUnit { read: Some(0), write: Some(0) },
        },
        table_options: Some(pb::TableOptions {
            time_to_live: Some(-1),
            max_versions: Some(1),
            deviation_cell_version_in_sec: Some(86_400),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct HttpShared {
    addr: SocketAddr,
    cfg: Config,
    next_key: Arc<AtomicI64>,
}

async fn http_worker(
    shared: Arc<HttpShared>,
    workload: Workload,
    measure_from: Instant,
    deadline: Instant,
) -> WorkerStats {
    let mut client = Client::connect(shared.addr, shared.cfg.verify).await.expect("connect to the bench server");
    let mut stats = WorkerStats { requests: 0, rows: 0, latencies_us: Vec::new(), last_finish: Instant::now() };
    let mut scan = ScanState::new();
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let rows = match workload {
            Workload::Put => {
                let id = shared.next_key.fetch_add(1, Ordering::Relaxed);
                let request = pb::PutRowRequest {
                    table_name: WRITE_TABLE.into(),
                    row: plainbuffer::encode_row(&bench_row(id)),
                    condition: ignore(),
                    return_content: None,
                    transaction_id: None,
                };
                let body = client.call("PutRow", request.encode_to_vec()).await;
                pb::PutRowResponse::decode(body).expect("PutRowResponse decodes");
                1
            }
            Workload::Batch(n) => {
                let first = shared.next_key.fetch_add(n as i64, Ordering::Relaxed);
                let rows = (first..first + n as i64)
                    .map(|id| pb::RowInBatchWriteRowRequest {
                        r#type: pb::OperationType::Put as i32,
                        row_change: plainbuffer::encode_row(&bench_row(id)),
                        condition: ignore(),
                        return_content: None,
                    })
                    .collect();
                let request = pb::BatchWriteRowRequest {
                    tables: vec![pb::TableInBatchWriteRowRequest { table_name: WRITE_TABLE.into(), rows }],
                    transaction_id: None,
                    is_atomic: None,
                };
                let body = client.call("BatchWriteRow", request.encode_to_vec()).await;
                let response = pb::BatchWriteRowResponse::decode(body).expect("BatchWriteRowResponse decodes");
                let results: Vec<_> = response.tables.iter().flat_map(|t| t.rows.iter()).collect();
                assert_eq!(results.len(), n, "BatchWriteRow answered {} rows for {n}", results.len());
                if let Some(bad) = results.iter().find(|r| !r.is_ok) {
                    panic!("BatchWriteRow row failed: {:?}", bad.error);
                }
                n as u64
            }
            Workload::Get => {
                let id = rand::thread_rng().gen_range(0..shared.cfg.rows);
                let request = pb::GetRowRequest {
                    table_name: READ_TABLE.into(),
                    primary_key: plainbuffer::encode_primary_key(&pk(id)),
                    max_versions: Some(1),
                    ..Default::default()
                };
                let body = client.call("GetRow", request.encode_to_vec()).await;
                let response = pb::GetRowResponse::decode(body).expect("GetRowResponse decodes");
                assert!(!response.row.is_empty(), "GetRow: preloaded row {id} not found");
                if shared.cfg.verify {
                    let row = plainbuffer::decode_row(&response.row).expect("GetRow row decodes");
                    assert_eq!(row.primary_key, pk(id), "GetRow returned another row");
                    assert_eq!(row.cells.len(), 3, "GetRow returned {} cells", row.cells.len());
                }
                1
            }
            Workload::Range => {
                let request = pb::GetRangeRequest {
                    table_name: READ_TABLE.into(),
                    direction: pb::Direction::Forward as i32,
                    max_versions: Some(1),
                    limit: Some(shared.cfg.page_rows),
                    inclusive_start_primary_key: plainbuffer::encode_primary_key(&scan.next),
                    exclusive_end_primary_key: plainbuffer::encode_primary_key(&pk_inf(PkValue::InfMax)),
                    ..Default::default()
                };
                let body = client.call("GetRange", request.encode_to_vec()).await;
                let response = pb::GetRangeResponse::decode(body).expect("GetRangeResponse decodes");
                // Decoding every row, like an SDK does, also proves the page is sound.
                let rows = plainbuffer::decode_rows(&response.rows).expect("GetRange rows decode");
                let next = response
                    .next_start_primary_key
                    .as_deref()
                    .map(|b| plainbuffer::decode_primary_key(b).expect("next_start_primary_key decodes"));
                scan.advance(rows.len(), next, shared.cfg.rows, "HTTP");
                rows.len() as u64
            }
        };
        let finished = Instant::now();
        if started >= measure_from {
            stats.requests += 1;
            stats.rows += rows;
            stats.latencies_us.push(u32::try_from((finished - started).as_micros()).unwrap_or(u32::MAX));
            stats.last_finish = finished;
        }
    }
    stats
}

async fn run_http(shared: &Arc<HttpShared>, workload: Workload) -> Measured {
    let cfg = &shared.cfg;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(cfg.warmup);
    let deadline = measure_from + Duration::from_secs_f64(cfg.seconds);
    let tasks: Vec<_> = (0..cfg.clients)
        .map(|_| tokio::spawn(http_worker(Arc::clone(shared), workload, measure_from, deadline)))
        .collect();
    let mut parts = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(stats) => parts.push(stats),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("HTTP worker failed: {e}"),
        }
    }
    Measured::merge(parts, measure_from)
}

// ---------------------------------------------------------------------------------------
// The same work in-process on the engine

fn engine_worker(
    engine: &Engine,
    cfg: &Config,
    next_key: &AtomicI64,
    workload: Workload,
    measure_from: Instant,
    deadline: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats { requests: 0, rows: 0, latencies_us: Vec::new(), last_finish: Instant::now() };
    let mut scan = ScanState::new();
    let write = |row: Row| RowWrite {
        table: WRITE_TABLE.into(),
        change: RowChange::Put(row),
        condition: Condition::default(),
        return_content: ReturnContent::None,
    };
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let rows = match workload {
            Workload::Put => {
                let id = next_key.fetch_add(1, Ordering::Relaxed);
                for result in engine.write_rows(vec![write(bench_row(id))]) {
                    result.unwrap_or_else(|e| panic!("engine PutRow failed: {e}"));
                }
                1
            }
            Workload::Batch(n) => {
                let first = next_key.fetch_add(n as i64, Ordering::Relaxed);
                let writes = (first..first + n as i64).map(|id| write(bench_row(id))).collect();
                for result in engine.write_rows(writes) {
                    result.unwrap_or_else(|e| panic!("engine BatchWriteRow row failed: {e}"));
                }
                n as u64
            }
            Workload::Get => {
                let id = rand::thread_rng().gen_range(0..cfg.rows);
                let outcome = engine
                    .get_row(READ_TABLE, &pk(id), &read_options())
                    .unwrap_or_else(|e| panic!("engine GetRow: {e}"));
                assert!(outcome.row.is_some(), "engine GetRow: preloaded row {id} not found");
                1
            }
            Workload::Range => {
                let request = RangeRequest {
                    table: READ_TABLE.into(),
                    direction: Direction::Forward,
                    start: scan.next.clone(),
                    end: pk_inf(PkValue::InfMax),
                    limit: Some(cfg.page_rows),
                    read: read_options(),
                };
                let page = engine.get_range(&request).unwrap_or_else(|e| panic!("engine GetRange: {e}"));
                let n = page.rows.len();
                scan.advance(n, page.next_start, cfg.rows, "engine");
                n as u64
            }
        };
        let finished = Instant::now();
        if started >= measure_from {
            stats.requests += 1;
            stats.rows += rows;
            stats.last_finish = finished;
        }
    }
    stats
}

fn run_engine(engine: &Engine, cfg: &Config, next_key: &AtomicI64, workload: Workload) -> Measured {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(cfg.warmup);
    let deadline = measure_from + Duration::from_secs_f64(cfg.seconds);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.clients)
            .map(|_| scope.spawn(|| engine_worker(engine, cfg, next_key, workload, measure_from, deadline)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect::<Vec<_>>()
    });
    Measured::merge(parts, measure_from)
}

// ---------------------------------------------------------------------------------------
// One engine + server instance

struct Instance {
    engine: Arc<Engine>,
    http: Arc<HttpShared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn start(
        server_rt: &tokio::runtime::Runtime,
        client_rt: &tokio::runtime::Runtime,
        cfg: &Config,
        sync_writes: bool,
        preload: bool,
    ) -> Result<Instance, BoxError> {
        let dir = tempfile::Builder::new().prefix("tablesafe-bench-").tempdir()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let options = EngineOptions { sync_writes, ..EngineOptions::default() };
        let engine = Arc::new(Engine::open(&dir.path().join("engine"), options, Arc::clone(&clock))?);
        let state = Arc::new(ServerState {
            engine: Arc::clone(&engine),
            instance: INSTANCE.into(),
            keys: vec![AccessKey { id: KEY_ID.into(), secret: SECRET.into() }],
            clock,
        });
        let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = server_rt.spawn(tablesafe_server::run(listener, state, async {
            let _ = rx.await;
        }));
        let http = Arc::new(HttpShared { addr, cfg: cfg.clone(), next_key: Arc::new(AtomicI64::new(0)) });
        client_rt.block_on(async {
            let mut client = Client::connect(addr, cfg.verify).await?;
            for table in [WRITE_TABLE, READ_TABLE] {
                client.call("CreateTable", create_table_request(table).encode_to_vec()).await;
            }
            Ok::<(), BoxError>(())
        })?;
        if preload {
            let started = Instant::now();
            let mut id = 0;
            while id < cfg.rows {
                let end = (id + 200).min(cfg.rows);
                let writes = (id..end)
                    .map(|i| RowWrite {
                        table: READ_TABLE.into(),
                        change: RowChange::Put(bench_row(i)),
                        condition: Condition::default(),
                        return_content: ReturnContent::None,
                    })
                    .collect();
                for result in engine.write_rows(writes) {
                    result.map_err(|e| format!("preload failed: {e}"))?;
                }
                id = end;
            }
            // Reads should hit SST files like a table that has been around, not just the memtable.
            engine.flush()?;
            eprintln!("bench: preloaded {} rows in {:.1} s", cfg.rows, started.elapsed().as_secs_f64());
        }
        Ok(Instance { engine, http, shutdown: Some(tx), server: Some(server), _dir: dir })
    }

    fn stop(mut self, server_rt: &tokio::runtime::Runtime) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            match server_rt.block_on(server) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("server ended with an error: {e}"),
                Err(e) => panic!("server task failed: {e}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Report

struct Line {
    label: String,
    http: Measured,
    engine: Measured,
    /// Rows, not requests, are the unit (GetRange).
    rows_unit: bool,
    batch: Option<usize>,
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: Option<u32>) -> String {
    match us {
        Some(us) => format!("{:.2} ms", f64::from(us) / 1000.0),
        None => "-".into(),
    }
}

impl Line {
    fn rate(&self, m: &Measured) -> f64 {
        if self.rows_unit {
            m.per_sec(m.rows)
        } else {
            m.per_sec(m.requests)
        }
    }

    fn throughput(&self, m: &Measured) -> String {
        match (self.rows_unit, self.batch) {
            (true, _) => format!("{} rows/s", thousands(m.per_sec(m.rows))),
            (false, Some(_)) => {
                format!("{} req/s = {} rows/s", thousands(m.per_sec(m.requests)), thousands(m.per_sec(m.rows)))
            }
            (false, None) => format!("{} ops/s", thousands(m.per_sec(m.requests))),
        }
    }

    fn markdown(&self) -> String {
        let engine_rate = self.rate(&self.engine);
        let ratio = if engine_rate > 0.0 { format!("{:.2}", self.rate(&self.http) / engine_rate) } else { "-".into() };
        format!(
            "| {} | {} | {} / {} | {} | {} |",
            self.label,
            self.throughput(&self.http),
            ms(self.http.percentile(0.50)),
            ms(self.http.percentile(0.99)),
            self.throughput(&self.engine),
            ratio
        )
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Filesystem type and device under `path` (longest matching mount point).
fn filesystem_of(path: &Path) -> String {
    let Ok(path) = path.canonicalize() else { return "unknown filesystem".into() };
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return "unknown filesystem".into() };
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1])).then(|| (f[1].len(), format!("{} on {}", f[2], f[0])))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, s)| s)
        .unwrap_or_else(|| "unknown filesystem".into())
}

// ---------------------------------------------------------------------------------------

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and must not
    // spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: benchmark skipped (run it with `cargo bench -p tablesafe-server --bench throughput`)");
        return Ok(());
    }
    let cfg = Config::from_env();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // The server gets a runtime like `tablesafe serve` (one worker per core, blocking
    // pool for the engine); the clients get their own, as if they were another process.
    let server_rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("server").build()?;
    let client_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(nproc).enable_all().thread_name("client").build()?;

    let mut workloads = Vec::new();
    if cfg.wants("put") {
        workloads.push(Workload::Put);
    }
    for &n in &cfg.batches {
        if cfg.wants("batch") || cfg.wants(&format!("batch{n}")) {
            workloads.push(Workload::Batch(n));
        }
    }
    if cfg.wants("get") {
        workloads.push(Workload::Get);
    }
    if cfg.wants("range") {
        workloads.push(Workload::Range);
    }
    let needs_preload = workloads.iter().any(|w| matches!(w, Workload::Get | Workload::Range));
    let started = Instant::now();
    let mut lines = Vec::new();

    // fsync on (the default): every workload.
    if !workloads.is_empty() {
        let instance = Instance::start(&server_rt, &client_rt, &cfg, true, needs_preload)?;
        for &w in &workloads {
            eprintln!("bench: {} (fsync on) ...", w.label(cfg.page_rows));
            // Each side starts with an empty memtable, so one side's writes are not
            // flushed on the other side's clock.
            instance.engine.flush()?;
            let http = client_rt.block_on(run_http(&instance.http, w));
            instance.engine.flush()?;
            let engine = run_engine(&instance.engine, &cfg, &instance.http.next_key, w);
            lines.push(Line {
                label: w.label(cfg.page_rows),
                http,
                engine,
                rows_unit: w == Workload::Range,
                batch: match w {
                    Workload::Batch(n) => Some(n),
                    _ => None,
                },
            });
        }
        instance.stop(&server_rt);
    }

    // fsync off: PutRow only, to show what the fsync costs.
    if cfg.wants("put") || cfg.wants("put-nosync") {
        let instance = Instance::start(&server_rt, &client_rt, &cfg, false, false)?;
        eprintln!("bench: PutRow (sync_writes=false) ...");
        let http = client_rt.block_on(run_http(&instance.http, Workload::Put));
        instance.engine.flush()?;
        let engine = run_engine(&instance.engine, &cfg, &instance.http.next_key, Workload::Put);
        let line = Line {
            label: "PutRow (1 row/request), sync_writes=false".into(),
            http,
            engine,
            rows_unit: false,
            batch: None,
        };
        let at = lines.iter().position(|l| l.label.starts_with("PutRow")).map_or(lines.len(), |i| i + 1);
        lines.insert(at, line);
        instance.stop(&server_rt);
    }

    let data_fs = filesystem_of(&std::env::temp_dir());
    println!();
    println!(
        "Machine: nproc={nproc} ({}), data dir {} ({data_fs}); clients={} (HTTP: {} keep-alive HTTP/1.1 connections, \
         V2-signed, responses verified={}; engine: {} threads); {} s measured per workload after {} s warm-up; \
         fsync on (sync_writes=true) unless the row says otherwise; read table {} rows, ~100 B of attributes per row; \
         {}.",
        cpu_model(),
        std::env::temp_dir().display(),
        cfg.clients,
        cfg.clients,
        if cfg.verify { "yes" } else { "no" },
        cfg.clients,
        cfg.seconds,
        cfg.warmup,
        cfg.rows,
        if cfg!(debug_assertions) { "UNOPTIMISED build (debug assertions on)" } else { "release build" },
    );
    println!();
    println!("| workload | HTTP ops/s (or rows/s) | HTTP p50 / p99 latency | engine in-process ops/s | HTTP/engine |");
    println!("|---|---:|---:|---:|---:|");
    for line in &lines {
        println!("{}", line.markdown());
    }
    println!();
    eprintln!("bench: total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
