//! Backup and restore throughput, next to the physical limits of this machine over
//! the same bytes and to what a Tablestore user scripts today with the official
//! Python SDK. One run, one markdown table on stdout; progress on stderr.
//!
//! Run: `cargo bench --workspace --bench backup_restore` (see `bench/README.md`).
//! `BENCH_ROWS` (default 5,000,000) sets the table size.
//!
//! Every measured phase runs in its own process (this binary re-executed with
//! `--phase <name>`), so that its peak memory is its own: the child resets its peak
//! RSS (`/proc/self/clear_refs`) once its setup is done (engine or repository open,
//! Argon2id), runs the phase, and prints one `BENCH_RESULT {json}` line with its
//! timings, CPU time and `VmHWM`. Any error aborts the run, and every restore is
//! checked with `verify_table` against the snapshot's digest. After the remote
//! phases, one client's GetRow latencies are measured on the idle `serve` and then
//! while a `StartBackup` of the table runs inside it.

#![allow(clippy::unwrap_used)] // A benchmark aborts on the first failure.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::{json, Value as Json};
use tablesafe_backup::digest::{DigestBuilder, TableDigest};
use tablesafe_backup::format::{encode_row, RowDecoder};
use tablesafe_backup::{
    backup, restore, verify_table, EmbeddedTables, RemoteTables, RestoreOptions, TableSink, TableSource,
};
use tablesafe_client::{Client, GetRangeRequest};
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{CreateTable, Engine, EngineError, EngineOptions, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::{
    Cell, Condition, PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType, ReservedThroughput, Row, StreamSpec,
    TableOptions, TableSchema, Value,
};
use tablesafe_repo::{Chunker, ChunkerParams, InitOptions, Repository, Storage, Unlock};

mod support;
use support::*;

const TABLE: &str = "bench";
const INSTANCE: &str = "bench";
const KEY_ID: &str = "benchKeyId";
const SECRET: &str = "benchKeySecret0123456789";
const PASSWORD: &str = "bench repository password";
/// Rows per engine write while loading.
const LOAD_BATCH: usize = 1000;
/// Piece size of the physical-limit measurements (the chunker's average chunk).
const PIECE: usize = 256 * 1024;

// ------------------------------------------------------------------ measurement

/// `VmHWM` or `VmRSS` of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: &str, field: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.trim_start_matches(':').trim().strip_suffix("kB")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| fail(format!("no {field} in /proc/{pid}/status")))
}

/// Marks the end of a phase's setup: remembers the peak so far and resets it, so
/// that the peak reported afterwards belongs to the phase.
struct PhaseMemory {
    setup_peak_kib: u64,
    reset: bool,
    cpu_start: f64,
    started: Instant,
}

impl PhaseMemory {
    fn start() -> Res<PhaseMemory> {
        let setup_peak_kib = status_kib("self", "VmHWM")?;
        // Linux >= 4.0: writing 5 resets VmHWM to the current RSS.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        Ok(PhaseMemory { setup_peak_kib, reset, cpu_start: cpu_seconds("self")?, started: Instant::now() })
    }

    /// Seconds, CPU seconds and peak memory of the phase, as JSON fields.
    fn finish(self) -> Res<Json> {
        let seconds = self.started.elapsed().as_secs_f64();
        Ok(json!({
            "seconds": seconds,
            "cpu_seconds": cpu_seconds("self")? - self.cpu_start,
            "peak_kib": status_kib("self", "VmHWM")?,
            "setup_peak_kib": self.setup_peak_kib,
            "peak_reset": self.reset,
        }))
    }
}

/// When rows started and stopped flowing through a backup or restore (its
/// `Progress` callbacks), to tell fixed costs (locks, manifests, the last pack and
/// index) from streaming.
struct Timeline {
    started: Instant,
    first: std::sync::Mutex<Option<f64>>,
    last: std::sync::Mutex<Option<f64>>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline { started: Instant::now(), first: Default::default(), last: Default::default() }
    }

    /// Seconds from the start to the first rows, and from the last rows to `end`.
    fn json(&self, end: f64) -> Json {
        let first = self.first.lock().unwrap().unwrap_or(0.0);
        let last = self.last.lock().unwrap().unwrap_or(end);
        json!({ "before_rows_seconds": first, "after_rows_seconds": end - last })
    }
}

impl tablesafe_backup::Progress for Timeline {
    fn rows_done(&self, _rows: u64, _bytes: u64) {
        let now = self.started.elapsed().as_secs_f64();
        self.first.lock().unwrap().get_or_insert(now);
        *self.last.lock().unwrap() = Some(now);
    }
}

fn merge(mut a: Json, b: Json) -> Json {
    if let (Some(a), Json::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

// ------------------------------------------------------------------ the data

/// A row of ~100 bytes of attributes: strings, an integer, a double, a boolean and
/// 32 incompressible bytes; odd rows hold a second, older version of `score`.
fn bench_row(id: i64, base_ms: i64) -> Row {
    const CITIES: [&str; 8] = ["Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Chengdu", "Wuhan", "Xi'an", "Nanjing"];
    let mut x = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let blob: Vec<u8> = (0..4).flat_map(|_| next().to_le_bytes()).collect();
    let score = (next() % 1_000_000) as i64;
    let ts = base_ms - 1_000 - id % 1_000;
    let mut cells = vec![
        Cell::version("name", Value::String(format!("customer {id:012} of the benchmark")), ts),
        Cell::version("city", Value::String(CITIES[(id % 8) as usize].to_owned()), ts),
        Cell::version("score", Value::Integer(score), ts),
        Cell::version("ratio", Value::Double(id as f64 / 7.0), ts),
        Cell::version("active", Value::Boolean(id % 3 == 0), ts),
        Cell::version("blob", Value::Binary(blob), ts),
    ];
    if id % 2 == 1 {
        cells.push(Cell::version("score", Value::Integer(score / 2), ts - 60_000));
    }
    Row { primary_key: PrimaryKey::new([("id", PkValue::Integer(id))]), cells, ..Row::default() }
}

fn open_engine(dir: &Path, sync_writes: bool) -> Res<Arc<Engine>> {
    let options = EngineOptions { sync_writes, ..EngineOptions::default() };
    Ok(Arc::new(Engine::open(dir, options, Arc::new(SystemClock))?))
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn open_repo(dir: &str) -> Res<Repository> {
    let unlock = Unlock { password: Some(PASSWORD.into()), identities: vec![] };
    Ok(Repository::open(Storage::from_url(dir)?, &unlock).await?)
}

async fn init_repo(dir: &str) -> Res<Repository> {
    // Default Argon2id cost (64 MiB, t=3), as `tablesafe repo init` uses.
    let options = InitOptions { password: Some(PASSWORD.into()), ..InitOptions::default() };
    Ok(Repository::init(Storage::from_url(dir)?, options).await?)
}

fn remote(endpoint: &str) -> Res<RemoteTables> {
    Ok(RemoteTables::new(Client::new(endpoint, INSTANCE, KEY_ID, SECRET)?))
}

fn restore_as(target: &str) -> RestoreOptions {
    RestoreOptions { table: TABLE.into(), target: Some(target.into()), ..RestoreOptions::default() }
}

// ------------------------------------------------------------------ child phases

type Args = HashMap<String, String>;

fn arg<'a>(args: &'a Args, name: &str) -> Res<&'a str> {
    args.get(name).map(String::as_str).ok_or_else(|| fail(format!("phase argument {name} missing")))
}

/// Creates the table and loads it through the engine, then flushes and compacts,
/// so that every later phase reads the same settled SST files.
fn phase_load(args: &Args) -> Res<Json> {
    let rows: i64 = arg(args, "rows")?.parse()?;
    std::fs::create_dir_all(arg(args, "data")?)?;
    let engine = open_engine(Path::new(arg(args, "data")?), false)?;
    let key = PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: false };
    engine.create_table(CreateTable {
        schema: TableSchema { name: TABLE.into(), primary_key: vec![key], defined_columns: vec![] },
        options: TableOptions { max_versions: 2, ..TableOptions::default() },
        reserved: ReservedThroughput::default(),
        stream: StreamSpec::default(),
    })?;
    let base_ms = SystemClock.now_millis();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as i64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let engine = &engine;
                scope.spawn(move || -> Res<()> {
                    let (from, to) = (rows * t / threads, rows * (t + 1) / threads);
                    let mut id = from;
                    while id < to {
                        let end = (id + LOAD_BATCH as i64).min(to);
                        let writes = (id..end)
                            .map(|i| RowWrite {
                                table: TABLE.into(),
                                change: RowChange::Put(bench_row(i, base_ms)),
                                condition: Condition::default(),
                                return_content: ReturnContent::None,
                            })
                            .collect();
                        for outcome in engine.write_rows(writes) {
                            outcome?;
                        }
                        id = end;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| fail("load thread panicked"))?)
    })?;
    let load_seconds = started.elapsed().as_secs_f64();
    let settle = Instant::now();
    engine.flush()?;
    engine.compact()?;
    engine.flush()?;
    Ok(json!({ "seconds": load_seconds, "settle_seconds": settle.elapsed().as_secs_f64() }))
}

/// Timed pieces of the backup and restore paths, single-threaded, over the table's
/// serialized byte stream held in memory.
fn phase_limits(args: &Args) -> Res<Json> {
    let engine = open_engine(Path::new(arg(args, "data")?), true)?;
    let mut components = Vec::new();
    let mut component = |name: &str, seconds: f64, extra: Json| {
        eprintln!("  {name}: {seconds:.2} s");
        components.push(merge(json!({ "name": name, "seconds": seconds }), extra));
    };

    // The engine alone: rows out of a RocksDB snapshot, decoded into the row model.
    let started = Instant::now();
    let mut rows = 0u64;
    engine.export_table::<EngineError>(
        TABLE,
        |_| Ok(()),
        |row| {
            rows += 1;
            std::hint::black_box(row);
            Ok(())
        },
    )?;
    component("export", started.elapsed().as_secs_f64(), json!({}));

    // The same export, serialized (format::encode_row) and digested (DigestBuilder),
    // each timed per batch of rows.
    struct Serialize {
        batch: Vec<Row>,
        stream: Vec<u8>,
        digest: DigestBuilder,
        encode: Duration,
        digesting: Duration,
    }
    impl Serialize {
        fn flush(&mut self) {
            let started = Instant::now();
            for row in &self.batch {
                encode_row(row, &mut self.stream);
            }
            self.encode += started.elapsed();
            let started = Instant::now();
            for row in &self.batch {
                self.digest.add(row);
            }
            self.digesting += started.elapsed();
            self.batch.clear();
        }
    }
    let mut s = Serialize {
        batch: Vec::with_capacity(LOAD_BATCH),
        stream: Vec::with_capacity(rows as usize * 340),
        digest: DigestBuilder::default(),
        encode: Duration::ZERO,
        digesting: Duration::ZERO,
    };
    engine.export_table::<EngineError>(
        TABLE,
        |_| Ok(()),
        |row| {
            s.batch.push(row);
            if s.batch.len() >= LOAD_BATCH {
                s.flush();
            }
            Ok(())
        },
    )?;
    s.flush();
    let Serialize { stream, digest, encode, digesting, .. } = s;
    let digest = digest.finish();
    component("encode", encode.as_secs_f64(), json!({}));
    component("digest", digesting.as_secs_f64(), json!({}));
    let data_bytes = stream.len() as u64;

    // Content-defined chunking as the backup feeds it (1 MiB pushes).
    let started = Instant::now();
    let mut chunker = Chunker::new(ChunkerParams::default());
    let mut cdc_chunks = 0usize;
    for piece in stream.chunks(1 << 20) {
        cdc_chunks += chunker.push(piece).len();
    }
    cdc_chunks += chunker.finish().len();
    component("fastcdc", started.elapsed().as_secs_f64(), json!({ "chunks": cdc_chunks }));

    let pieces: Vec<&[u8]> = stream.chunks(PIECE).collect();
    let key = [7u8; 32];
    let started = Instant::now();
    for piece in &pieces {
        std::hint::black_box(blake3::keyed_hash(&key, piece));
    }
    component("blake3", started.elapsed().as_secs_f64(), json!({}));

    let started = Instant::now();
    let compressed = pieces.iter().map(|p| zstd::bulk::compress(p, 3)).collect::<Result<Vec<Vec<u8>>, _>>()?;
    let compressed_bytes: usize = compressed.iter().map(Vec::len).sum();
    component("zstd3", started.elapsed().as_secs_f64(), json!({ "compressed_bytes": compressed_bytes }));

    let started = Instant::now();
    for piece in &compressed {
        std::hint::black_box(zstd::bulk::decompress(piece, PIECE)?);
    }
    component("unzstd", started.elapsed().as_secs_f64(), json!({}));

    let started = Instant::now();
    for piece in &compressed {
        std::hint::black_box(tablesafe_repo::crypto::seal(&key, piece, b"bench"));
    }
    component("seal", started.elapsed().as_secs_f64(), json!({}));

    // Restore's first step: records back into rows (format::RowDecoder).
    let started = Instant::now();
    let mut decoder = RowDecoder::default();
    let mut decoded = 0u64;
    for piece in &pieces {
        decoded += decoder.push(piece)?.len() as u64;
    }
    decoder.finish()?;
    component("decode", started.elapsed().as_secs_f64(), json!({}));
    if decoded != rows || digest.rows != rows {
        return Err(fail(format!("decoded {decoded} rows, digested {}, exported {rows}", digest.rows)));
    }
    Ok(json!({
        "rows": rows,
        "cells": digest.cells,
        "data_bytes": data_bytes,
        "digest": digest.root,
        "components": components,
    }))
}

/// A backup of the table from `tables` into a new repository, with its memory,
/// time and timeline measured.
async fn measured_backup<S: TableSource>(args: &Args, tables: &S) -> Res<Json> {
    let repo = init_repo(arg(args, "repo")?).await?;
    let memory = PhaseMemory::start()?;
    let timeline = Timeline::new();
    let (id, snapshot) = backup(&repo, tables, &[TABLE.into()], &timeline).await?;
    let measured = memory.finish()?;
    let measured = merge(timeline.json(f(&measured, "seconds")?), measured);
    let table = &snapshot.tables[0];
    Ok(merge(
        measured,
        json!({
            "snapshot": id,
            "rows": table.rows,
            "cells": table.cells,
            "data_bytes": table.data_bytes,
            "chunks": table.chunks.len(),
            "digest": table.digest.root,
            "added_bytes": snapshot.added_bytes,
        }),
    ))
}

/// A restore of the snapshot into `tables`, with its memory, time and timeline
/// measured; returns them, the report and the repository.
async fn measured_restore<K: TableSink>(
    args: &Args,
    tables: &K,
) -> Res<(Json, tablesafe_backup::RestoreReport, Repository)> {
    let (snapshot, target) = (arg(args, "snapshot")?, arg(args, "target")?);
    let repo = open_repo(arg(args, "repo")?).await?;
    let memory = PhaseMemory::start()?;
    let timeline = Timeline::new();
    let report = restore(&repo, snapshot, tables, &restore_as(target), &timeline).await?;
    let measured = memory.finish()?;
    Ok((merge(timeline.json(f(&measured, "seconds")?), measured), report, repo))
}

fn phase_embedded_backup(args: &Args) -> Res<Json> {
    let data = arg(args, "data")?;
    let engine = open_engine(Path::new(data), true)?;
    runtime()?.block_on(measured_backup(args, &EmbeddedTables::new(engine, data)))
}

fn phase_embedded_restore(args: &Args) -> Res<Json> {
    let data = arg(args, "data")?;
    let (snapshot, target) = (arg(args, "snapshot")?, arg(args, "target")?);
    // `sync=0` (by hand only) shows what the WAL fsync of each imported batch costs.
    let engine = open_engine(Path::new(data), args.get("sync").is_none_or(|v| v != "0"))?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let tables = EmbeddedTables::new(Arc::clone(&engine), data);
        let (measured, report, repo) = measured_restore(args, &tables).await?;
        let started = Instant::now();
        let verify = verify_table(&repo, snapshot, TABLE, &tables, target).await?;
        if !verify.equal {
            return Err(fail(format!("restored table differs from the snapshot: {verify:?}")));
        }
        Ok::<_, Error>(merge(
            measured,
            json!({ "rows": report.rows, "verify_seconds": started.elapsed().as_secs_f64(), "digest": report.digest }),
        ))
    })?;
    // Not measured: leaves the data directory quick to open for the server.
    engine.flush()?;
    Ok(result)
}

fn phase_remote_backup(args: &Args) -> Res<Json> {
    let tables = remote(arg(args, "endpoint")?)?;
    runtime()?.block_on(measured_backup(args, &tables))
}

fn phase_remote_restore(args: &Args) -> Res<Json> {
    let tables = remote(arg(args, "endpoint")?)?;
    runtime()?.block_on(async {
        let (measured, report, _) = measured_restore(args, &tables).await?;
        Ok(merge(measured, json!({ "rows": report.rows })))
    })
}

fn child(phase: &str, rest: &[String]) -> Res<()> {
    let args: Args = rest.iter().filter_map(|a| a.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    let result = match phase {
        "load" => phase_load(&args)?,
        "limits" => phase_limits(&args)?,
        "embedded-backup" => phase_embedded_backup(&args)?,
        "embedded-restore" => phase_embedded_restore(&args)?,
        "remote-backup" => phase_remote_backup(&args)?,
        "remote-restore" => phase_remote_restore(&args)?,
        other => return Err(fail(format!("unknown phase {other}"))),
    };
    println!("BENCH_RESULT {result}");
    Ok(())
}

// ------------------------------------------------------------------ the parent

/// Runs one phase in a fresh process and returns its result.
fn run_phase(phase: &str, args: &[(&str, String)]) -> Res<Json> {
    let started = Instant::now();
    eprintln!("[backup_restore] phase {phase} ...");
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--phase", phase]).args(args.iter().map(|(k, v)| format!("{k}={v}")));
    let output = command.stderr(Stdio::inherit()).stdout(Stdio::piped()).output()?;
    if !output.status.success() {
        return Err(fail(format!("phase {phase} failed ({})", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_RESULT "))
        .ok_or_else(|| fail(format!("phase {phase} printed no result")))?;
    eprintln!("[backup_restore] phase {phase} done in {:.1} s (process)", started.elapsed().as_secs_f64());
    Ok(serde_json::from_str(line)?)
}

fn f(json: &Json, key: &str) -> Res<f64> {
    json.get(key).and_then(Json::as_f64).ok_or_else(|| fail(format!("result field {key} missing: {json}")))
}

fn s<'a>(json: &'a Json, key: &str) -> Res<&'a str> {
    json.get(key).and_then(Json::as_str).ok_or_else(|| fail(format!("result field {key} missing: {json}")))
}

fn mem_total_gib() -> f64 {
    status_like("/proc/meminfo", "MemTotal").map_or(0.0, |k| k as f64 / (1024.0 * 1024.0))
}

fn status_like(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok())
}

fn text_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().next().unwrap_or_default().trim().to_owned()
}

fn has_command(name: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {name} >/dev/null")]).status().is_ok_and(|s| s.success())
}

/// `tar -cf - DATA | zstd -3 -T1`, timed; returns (seconds, compressed bytes, peak
/// RSS of the larger of the two processes in KiB if `/usr/bin/time` is there).
fn tar_zstd(data: &Path, work: &Path) -> Res<(f64, u64, Option<u64>)> {
    let parent = data.parent().ok_or_else(|| fail("data dir has no parent"))?;
    let name = data.file_name().and_then(|n| n.to_str()).ok_or_else(|| fail("data dir name"))?;
    let pipeline = format!("set -o pipefail; tar -cf - -C '{}' '{name}' | zstd -3 -T1 -q -c | wc -c", parent.display());
    let time_file = work.join("tar-zstd.time");
    let mut command = if Path::new("/usr/bin/time").exists() {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o"]).arg(&time_file).args(["bash", "-c", &pipeline]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &pipeline]);
        c
    };
    let started = Instant::now();
    let output = command.stderr(Stdio::inherit()).output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(fail(format!("tar | zstd failed ({})", output.status)));
    }
    let compressed = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    let peak = std::fs::read_to_string(&time_file).ok().and_then(|t| t.trim().lines().last()?.trim().parse().ok());
    Ok((seconds, compressed, peak))
}

/// What a self-hosting user would reach for instead: `restic backup` of the stopped
/// data directory into a new repository, then `restic restore` of it; returns
/// (backup seconds, restore seconds, repository bytes).
fn restic(data: &Path, work: &Path) -> Res<(f64, f64, u64)> {
    let repo = work.join("repo-restic");
    let restored = work.join("restic-restored");
    let run = |args: &[&std::ffi::OsStr]| -> Res<f64> {
        let started = Instant::now();
        let status = Command::new("restic")
            .arg("--repo")
            .arg(&repo)
            .arg("--quiet")
            .args(args)
            .env("RESTIC_PASSWORD", PASSWORD)
            .env("RESTIC_CACHE_DIR", work.join("restic-cache"))
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(fail(format!("restic {args:?} failed ({status})")));
        }
        Ok(started.elapsed().as_secs_f64())
    };
    run(&["init".as_ref()])?;
    let backup = run(&["backup".as_ref(), data.as_os_str()])?;
    let restore = run(&["restore".as_ref(), "latest".as_ref(), "--target".as_ref(), restored.as_os_str()])?;
    // restic restores the absolute path under the target.
    let copy = restored.join(data.strip_prefix("/").unwrap_or(data));
    if dir_bytes(&copy)? != dir_bytes(data)? {
        return Err(fail("restic's restored data directory differs in size from the original"));
    }
    std::fs::remove_dir_all(&restored)?;
    Ok((backup, restore, dir_bytes(&repo)?))
}

/// GetRow latencies (µs, sorted) of one client reading random keys in turn:
/// for `idle` first, then while a backup job runs inside the server; returns
/// (idle, during the backup, the backup's seconds).
async fn get_row_latency(endpoint: &str, rows: u64, idle: Duration) -> Res<(Vec<u64>, Vec<u64>, f64)> {
    let client = Client::new(endpoint, INSTANCE, KEY_ID, SECRET)?;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut read = |client: &Client| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = PrimaryKey::new([("id", PkValue::Integer((x % rows) as i64))]);
        let request = tablesafe_client::GetRowRequest::new(TABLE, key);
        let client = client.clone();
        async move {
            let started = Instant::now();
            let found = client.get_row(request).await?.row.is_some();
            Ok::<_, Error>((started.elapsed().as_micros() as u64, found))
        }
    };
    let mut idle_us = Vec::new();
    let until = Instant::now() + idle;
    while Instant::now() < until {
        let (us, found) = read(&client).await?;
        if !found {
            return Err(fail("a GetRow of a loaded key found no row"));
        }
        idle_us.push(us);
    }
    let policy = tablesafe_proto::backup_api::Plan {
        name: "latency".into(),
        destination: "bench-latency-repo".into(),
        ..Default::default()
    };
    let request = tablesafe_proto::backup_api::StartBackupRequest {
        plan: None,
        policy: Some(policy),
        tables: vec![TABLE.to_owned()],
    };
    let started = Instant::now();
    let job = client.start_backup(request).await?;
    let waiter = client.clone();
    let mut done = tokio::spawn(async move { waiter.wait_for_job(&job.id, Duration::from_millis(100)).await });
    let mut busy_us = Vec::new();
    let job = loop {
        tokio::select! {
            job = &mut done => break job??,
            read = read(&client) => busy_us.push(read?.0),
        }
    };
    let backup_seconds = started.elapsed().as_secs_f64();
    if job.state != tablesafe_proto::backup_api::JobState::Succeeded {
        return Err(fail(format!("the backup inside serve did not succeed: {job:?}")));
    }
    idle_us.sort_unstable();
    busy_us.sort_unstable();
    Ok((idle_us, busy_us, backup_seconds))
}

/// The server process; stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Server {
    fn start(binary: &Path, data: &Path, log: PathBuf, rt: &tokio::runtime::Runtime) -> Res<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(binary)
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--instance", INSTANCE, "--listen", &format!("127.0.0.1:{port}")])
            .env("TABLESAFE_ACCESS_KEY_ID", KEY_ID)
            .env("TABLESAFE_ACCESS_KEY_SECRET", SECRET)
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        let mut server = Server { child, endpoint: format!("http://127.0.0.1:{port}"), log };
        let client = Client::new(&server.endpoint, INSTANCE, KEY_ID, SECRET)?;
        let deadline = Instant::now() + Duration::from_secs(180);
        rt.block_on(async {
            loop {
                if client.list_table().await.is_ok() {
                    return Ok(());
                }
                if let Some(status) = server.child.try_wait()? {
                    return Err(fail(format!("tablesafe serve exited ({status}): {}", server.log_tail())));
                }
                if Instant::now() > deadline {
                    return Err(fail(format!("tablesafe serve did not answer: {}", server.log_tail())));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })?;
        Ok(server)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    fn check_alive(&mut self) -> Res<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(fail(format!("tablesafe serve died ({status}): {}", self.log_tail()))),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The digest of a table's rows with `id` below `end` (all rows when `None`), read
/// through the client with every version.
async fn scan_digest(client: &Client, table: &str, end: Option<i64>) -> Res<TableDigest> {
    let start = PrimaryKey::new([("id", PkValue::InfMin)]);
    let end = PrimaryKey::new([("id", end.map_or(PkValue::InfMax, PkValue::Integer))]);
    let mut scan = std::pin::pin!(client.scan(GetRangeRequest::new(table, start, end).max_versions(i32::MAX)));
    let mut digest = DigestBuilder::default();
    while let Some(row) = scan.try_next().await? {
        digest.add(&row);
    }
    Ok(digest.finish())
}

/// Runs `bench/baseline_sdk.py <step>` and returns its JSON result.
fn run_baseline(python: &Path, step: &str, args: &[String]) -> Res<Json> {
    eprintln!("[backup_restore] baseline {step} (official Python SDK) ...");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/baseline_sdk.py");
    let output = Command::new(python)
        .arg(script)
        .arg(step)
        .args(args)
        .env("TABLESAFE_ACCESS_KEY_ID", KEY_ID)
        .env("TABLESAFE_ACCESS_KEY_SECRET", SECRET)
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()?;
    if !output.status.success() {
        return Err(fail(format!("baseline {step} failed ({})", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| fail("baseline printed no result"))?;
    Ok(serde_json::from_str(line)?)
}

struct Table {
    rows: u64,
    data_bytes: u64,
    lines: Vec<String>,
}

impl Table {
    fn line(&mut self, phase: &str, seconds: f64, rows: Option<u64>, peak_kib: Option<u64>, notes: &str) {
        let rows_per_s = group(rows.unwrap_or(self.rows) as f64 / seconds);
        let mb_per_s = self.data_bytes as f64 / 1e6 / seconds;
        let peak = peak_kib.map_or("—".into(), mib);
        self.lines.push(format!("| {phase} | {rows_per_s} | {mb_per_s:.1} | {peak} | {notes} |"));
    }
}

fn group(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// The work directory: removed at the end unless `BENCH_KEEP=1`.
enum Kept {
    Temp(tempfile::TempDir),
    Path(PathBuf),
}

impl Kept {
    fn path(&self) -> &Path {
        match self {
            Kept::Temp(dir) => dir.path(),
            Kept::Path(path) => path,
        }
    }
}

fn parent() -> Res<()> {
    let run_started = Instant::now();
    let rows = env_u64("BENCH_ROWS", 5_000_000)?;
    let baseline_rows = env_u64("BENCH_BASELINE_ROWS", 1_000_000)?.min(rows);
    let baseline = env_u64("BENCH_BASELINE", 1)? != 0;
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let exe = std::env::current_exe()?;
    let binary = match std::env::var_os("TABLESAFE_BIN") {
        Some(path) => PathBuf::from(path),
        // target/release/deps/backup_restore-<hash> → target/release/tablesafe
        None => {
            exe.parent().and_then(Path::parent).map(|p| p.join("tablesafe")).ok_or_else(|| fail("no target dir"))?
        }
    };
    if !binary.exists() {
        return Err(fail(format!(
            "{} is missing: build it with `cargo test --release --workspace` (or set TABLESAFE_BIN)",
            binary.display()
        )));
    }
    let venv = std::env::var_os("TABLESAFE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/tablesafe/venv"));
    let python = venv.join("bin/python");
    if baseline && !python.exists() {
        return Err(fail(format!(
            "{} is missing: run scripts/setup-test-deps.sh (or BENCH_BASELINE=0)",
            python.display()
        )));
    }
    let work = tempfile::Builder::new().prefix("tablesafe-bench-").tempdir()?;
    let work = if env_u64("BENCH_KEEP", 0)? != 0 { Kept::Path(work.keep()) } else { Kept::Temp(work) };
    // `tablesafe serve --data-dir D` keeps its engine in `D/engine`.
    let server_dir = work.path().join("data");
    let data = server_dir.join("engine");
    let repo_embedded = work.path().join("repo-embedded").display().to_string();
    let repo_remote = work.path().join("repo-remote").display().to_string();
    let data_arg = data.display().to_string();
    eprintln!("[backup_restore] {rows} rows in {}", work.path().display());

    // 1. The table, loaded through the engine and settled.
    let load = run_phase("load", &[("data", data_arg.clone()), ("rows", rows.to_string())])?;
    let data_dir_bytes = dir_bytes(&data)?;

    // 2. Physical limits and components over the serialized bytes.
    let limits = run_phase("limits", &[("data", data_arg.clone())])?;
    let data_bytes = f(&limits, "data_bytes")? as u64;
    let cells = f(&limits, "cells")? as u64;
    if f(&limits, "rows")? as u64 != rows {
        return Err(fail(format!("the table holds {} rows, not {rows}", f(&limits, "rows")?)));
    }
    let tar = if has_command("zstd") && has_command("tar") {
        eprintln!("[backup_restore] tar | zstd -3 -T1 of the data directory ...");
        Some(tar_zstd(&data, work.path())?)
    } else {
        None
    };

    let restic = if has_command("restic") {
        eprintln!("[backup_restore] restic backup and restore of the data directory ...");
        Some(restic(&data, work.path())?)
    } else {
        None
    };

    // 3. Embedded backup and restore.
    let eb = run_phase("embedded-backup", &[("data", data_arg.clone()), ("repo", repo_embedded.clone())])?;
    if f(&eb, "data_bytes")? as u64 != data_bytes || s(&eb, "digest")? != s(&limits, "digest")? {
        return Err(fail("the backup's serialized bytes or digest differ from the table's"));
    }
    let snapshot = s(&eb, "snapshot")?.to_owned();
    let er = run_phase(
        "embedded-restore",
        &[
            ("data", data_arg.clone()),
            ("repo", repo_embedded.clone()),
            ("snapshot", snapshot.clone()),
            ("target", "restored_embedded".into()),
        ],
    )?;

    // 4. Remote backup and restore through a real server process.
    let rt = runtime()?;
    eprintln!("[backup_restore] starting tablesafe serve ...");
    let mut server = Server::start(&binary, &server_dir, work.path().join("server.log"), &rt)?;
    let endpoint = server.endpoint.clone();
    let server_cpu = |server: &Server| cpu_seconds(&server.pid());
    let cpu0 = server_cpu(&server)?;
    let rb = run_phase("remote-backup", &[("endpoint", endpoint.clone()), ("repo", repo_remote.clone())])?;
    let rb_server_cpu = server_cpu(&server)? - cpu0;
    server.check_alive()?;
    if s(&rb, "digest")? != s(&eb, "digest")? || f(&rb, "data_bytes")? as u64 != data_bytes {
        return Err(fail("the remote backup's digest or bytes differ from the embedded one's"));
    }
    let cpu0 = server_cpu(&server)?;
    let rr = run_phase(
        "remote-restore",
        &[
            ("endpoint", endpoint.clone()),
            ("repo", repo_remote.clone()),
            ("snapshot", s(&rb, "snapshot")?.to_owned()),
            ("target", "restored_remote".into()),
        ],
    )?;
    let rr_server_cpu = server_cpu(&server)? - cpu0;
    server.check_alive()?;
    let started = Instant::now();
    eprintln!("[backup_restore] verifying the remote restore against the snapshot ...");
    let report = rt.block_on(async {
        let repo = open_repo(&repo_remote).await?;
        Ok::<_, Error>(verify_table(&repo, s(&rb, "snapshot")?, TABLE, &remote(&endpoint)?, "restored_remote").await?)
    })?;
    if !report.equal {
        return Err(fail(format!("the remote restore differs from the snapshot: {:?}", report.differing_ranges)));
    }
    let rr_verify_seconds = started.elapsed().as_secs_f64();
    eprintln!("[backup_restore] GetRow latency, idle and while a backup runs inside serve ...");
    let (idle_us, busy_us, busy_backup_seconds) =
        rt.block_on(get_row_latency(&endpoint, rows, Duration::from_secs(3)))?;
    server.check_alive()?;

    // 5. What a user scripts today: the official Python SDK, same server.
    let mut base = None;
    if baseline {
        let file = work.path().join("export.jsonl.gz");
        let common = vec![
            "--endpoint".to_string(),
            endpoint.clone(),
            "--instance".into(),
            INSTANCE.into(),
            "--file".into(),
            file.display().to_string(),
        ];
        let cpu0 = server_cpu(&server)?;
        let mut export_args = common.clone();
        export_args.extend(["--table".into(), TABLE.into(), "--rows".into(), baseline_rows.to_string()]);
        let export = run_baseline(&python, "export", &export_args)?;
        let export_server_cpu = server_cpu(&server)? - cpu0;
        let cpu0 = server_cpu(&server)?;
        let mut import_args = common;
        import_args.extend(["--table".into(), "restored_sdk".into()]);
        let import = run_baseline(&python, "import", &import_args)?;
        let import_server_cpu = server_cpu(&server)? - cpu0;
        server.check_alive()?;
        for (step, result) in [("export", &export), ("import", &import)] {
            if f(result, "rows")? as u64 != baseline_rows {
                return Err(fail(format!("baseline {step} moved {} rows, not {baseline_rows}", f(result, "rows")?)));
            }
        }
        // The SDK's copy must hold exactly the rows it exported, or the comparison is
        // unfair: the same canonical digest over the source's first rows and the copy.
        eprintln!("[backup_restore] verifying the SDK's copy against the source rows ...");
        let (source, copy) = rt.block_on(async {
            let client = Client::new(&endpoint, INSTANCE, KEY_ID, SECRET)?;
            let end = (baseline_rows < rows).then_some(baseline_rows as i64);
            Ok::<_, Error>((scan_digest(&client, TABLE, end).await?, scan_digest(&client, "restored_sdk", None).await?))
        })?;
        if source.root != copy.root || (baseline_rows == rows && source.root != s(&eb, "digest")?) {
            return Err(fail(format!(
                "the SDK's copy differs from the source: {:?}",
                tablesafe_backup::digest::differences(&source, &copy)
            )));
        }
        let verified = if baseline_rows == rows {
            "copy's digest equal to the snapshot's"
        } else {
            "copy's digest equal to the source's first rows"
        };
        base = Some((export, export_server_cpu, import, import_server_cpu, verified));
    }
    drop(server);

    // The table.
    let mut table = Table { rows, data_bytes, lines: Vec::new() };
    let cpu_note = |r: &Json| -> Res<String> {
        Ok(format!("CPU {:.1} s ({:.2} cores)", f(r, "cpu_seconds")?, f(r, "cpu_seconds")? / f(r, "seconds")?))
    };
    let fixed = |r: &Json| -> Res<String> {
        Ok(format!(
            "{:.1} s before the first rows, {:.1} s after the last",
            f(r, "before_rows_seconds")?,
            f(r, "after_rows_seconds")?
        ))
    };
    let peak = |r: &Json| -> Res<Option<u64>> {
        Ok(if r.get("peak_reset").and_then(Json::as_bool) == Some(true) {
            Some(f(r, "peak_kib")? as u64)
        } else {
            None
        })
    };
    let added = f(&eb, "added_bytes")?;
    table.line(
        "embedded backup (`backup`, `EmbeddedTables`)",
        f(&eb, "seconds")?,
        None,
        peak(&eb)?,
        &format!(
            "{:.1} s ({}); repository +{} ({:.0}% of the data), {} chunks; {}; process peak with repo init (Argon2id 64 MiB): {}",
            f(&eb, "seconds")?,
            fixed(&eb)?,
            mb(added),
            100.0 * added / data_bytes as f64,
            f(&eb, "chunks")?,
            cpu_note(&eb)?,
            mib(f(&eb, "setup_peak_kib")?.max(f(&eb, "peak_kib")?) as u64),
        ),
    );
    table.line(
        "embedded restore (`restore` into a new table)",
        f(&er, "seconds")?,
        None,
        peak(&er)?,
        &format!(
            "{:.1} s ({}); {}; `verify_table`: equal ({:.1} s, not counted); SST files ingested at the end (`TableLoad`)",
            f(&er, "seconds")?,
            fixed(&er)?,
            cpu_note(&er)?,
            f(&er, "verify_seconds")?
        ),
    );
    let radded = f(&rb, "added_bytes")?;
    table.line(
        "remote backup (`RemoteTables` → `tablesafe serve`)",
        f(&rb, "seconds")?,
        None,
        peak(&rb)?,
        &format!(
            "{:.1} s ({}); repository +{}; client {}; server CPU {:.1} s",
            f(&rb, "seconds")?,
            fixed(&rb)?,
            mb(radded),
            cpu_note(&rb)?,
            rb_server_cpu
        ),
    );
    table.line(
        "remote restore (`RemoteTables`, BatchWriteRow)",
        f(&rr, "seconds")?,
        None,
        peak(&rr)?,
        &format!(
            "{:.1} s ({}); client {}; server CPU {:.1} s; `verify_table`: equal ({:.1} s, not counted); server fsync on",
            f(&rr, "seconds")?,
            fixed(&rr)?,
            cpu_note(&rr)?,
            rr_server_cpu,
            rr_verify_seconds
        ),
    );
    let pct = |sorted: &[u64], p: f64| -> f64 {
        let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(at).map_or(f64::NAN, |&us| us as f64 / 1000.0)
    };
    table.lines.push(format!(
        "| GetRow latency, idle (one client, random keys) | {} | — | — | p50 {:.2} ms, p99 {:.2} ms over {} reads |",
        group(idle_us.len() as f64 / 3.0),
        pct(&idle_us, 0.5),
        pct(&idle_us, 0.99),
        idle_us.len()
    ));
    table.lines.push(format!(
        "| GetRow latency while a backup runs inside `serve` | {} | — | — | p50 {:.2} ms, p99 {:.2} ms over {} reads; p99 {:.2}× idle; the backup (StartBackup, embedded, all rows) took {:.1} s |",
        group(busy_us.len() as f64 / busy_backup_seconds),
        pct(&busy_us, 0.5),
        pct(&busy_us, 0.99),
        busy_us.len(),
        pct(&busy_us, 0.99) / pct(&idle_us, 0.99),
        busy_backup_seconds
    ));
    let components: HashMap<String, Json> = limits
        .get("components")
        .and_then(Json::as_array)
        .ok_or_else(|| fail("no components"))?
        .iter()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c.clone())))
        .collect();
    let comp = |name: &str| -> Res<&Json> { components.get(name).ok_or_else(|| fail(format!("no component {name}"))) };
    let zstd3 = comp("zstd3")?;
    table.line(
        "limit: zstd -3 (`zstd::bulk::compress`, 256 KiB pieces, 1 thread)",
        f(zstd3, "seconds")?,
        None,
        None,
        &format!("compresses to {:.1}%", 100.0 * f(zstd3, "compressed_bytes")? / data_bytes as f64),
    );
    table.line("limit: BLAKE3 (keyed, 256 KiB pieces, 1 thread)", f(comp("blake3")?, "seconds")?, None, None, "");
    match tar {
        Some((seconds, compressed, peak_kib)) => table.line(
            "limit: `tar -cf - DATA_DIR \\| zstd -3 -T1` (files, not rows)",
            seconds,
            None,
            peak_kib,
            &format!(
                "{:.1} s; data dir {} read at {:.1} MB/s → {} ({:.0}% of the serialized table); peak = the larger process",
                seconds,
                mb(data_dir_bytes as f64),
                data_dir_bytes as f64 / 1e6 / seconds,
                mb(compressed as f64),
                100.0 * compressed as f64 / data_bytes as f64
            ),
        ),
        None => table.lines.push("| limit: `tar \\| zstd -3 -T1` | — | — | — | skipped: zstd or tar not installed (apt-get install zstd) |".into()),
    }
    match restic {
        Some((backup, restore, repo_bytes)) => {
            let version = Command::new("restic").arg("version").output().map(|o| text_line(&o.stdout)).unwrap_or_default();
            table.line(
                "baseline: `restic backup` of the stopped data directory",
                backup,
                None,
                None,
                &format!(
                    "{backup:.1} s; {version}; repository {}; embedded backup takes {:.2}× restic's time",
                    mb(repo_bytes as f64),
                    f(&eb, "seconds")? / backup
                ),
            );
            table.line(
                "baseline: `restic restore latest` of it",
                restore,
                None,
                None,
                &format!("{restore:.1} s; embedded restore takes {:.2}× restic's time", f(&er, "seconds")? / restore),
            );
        }
        None => table.lines.push("| baseline: restic | — | — | — | skipped: restic not installed (scripts/setup-test-deps.sh as root) |".into()),
    }
    for (name, label, note) in [
        ("export", "component: engine export (`export_table`, rows dropped)", "RocksDB snapshot scan + row decode"),
        ("encode", "component: serialize (`format::encode_row`)", "PlainBuffer + length prefix"),
        ("digest", "component: digest (`DigestBuilder::add`)", "canonical re-encode, hex keys, BLAKE3"),
        ("fastcdc", "component: FastCDC (`Chunker`, 1 MiB pushes)", ""),
        ("seal", "component: XChaCha20-Poly1305 (`crypto::seal`, compressed pieces)", ""),
        ("unzstd", "component: zstd decompress (256 KiB pieces)", ""),
        ("decode", "component: decode (`format::RowDecoder`)", "owned rows; an embedded restore decodes in place"),
    ] {
        let c = comp(name)?;
        let note = match c.get("chunks").and_then(Json::as_u64) {
            Some(chunks) => format!("{chunks} chunks"),
            None => note.to_owned(),
        };
        table.line(label, f(c, "seconds")?, Some(rows), None, &note);
    }
    if let Some((export, export_cpu, import, import_cpu, verified)) = &base {
        let prefix = if baseline_rows == rows {
            String::new()
        } else {
            format!(" (first {} rows)", group(baseline_rows as f64))
        };
        table.data_bytes = (data_bytes as f64 * baseline_rows as f64 / rows as f64) as u64;
        table.line(
            &format!("baseline: Python SDK `get_range` → gzip JSON lines{prefix}"),
            f(export, "seconds")?,
            Some(baseline_rows),
            Some(f(export, "maxrss_kib")? as u64),
            &format!(
                "{:.1} s ({:.0}% in SDK calls); file {}; client CPU {:.1} s, server CPU {:.1} s; SDK's native PlainBuffer parser: {}",
                f(export, "seconds")?,
                100.0 * f(export, "sdk_seconds")? / f(export, "seconds")?,
                mb(f(export, "file_bytes")?),
                f(export, "cpu_seconds")?,
                export_cpu,
                if export.get("native_parser").and_then(Json::as_bool) == Some(true) { "on" } else { "off" }
            ),
        );
        table.line(
            &format!("baseline: Python SDK `batch_write_row` (200 rows/request){prefix}"),
            f(import, "seconds")?,
            Some(baseline_rows),
            Some(f(import, "maxrss_kib")? as u64),
            &format!(
                "{:.1} s ({:.0}% in SDK calls); client CPU {:.1} s, server CPU {:.1} s; {verified}",
                f(import, "seconds")?,
                100.0 * f(import, "sdk_seconds")? / f(import, "seconds")?,
                f(import, "cpu_seconds")?,
                import_cpu
            ),
        );
    }

    // The goals of docs/BENCHMARKS.md as ratios of this run's own lines.
    let zstd_seconds = f(zstd3, "seconds")?;
    let mut ratios = format!(
        "Ratios in this run: embedded backup {:.2}× the zstd -3 rate, embedded restore {:.2}× it and {:.2}× the embedded backup's",
        zstd_seconds / f(&eb, "seconds")?,
        zstd_seconds / f(&er, "seconds")?,
        f(&eb, "seconds")? / f(&er, "seconds")?
    );
    let _ = write!(ratios, "; GetRow p99 while a backup runs inside `serve` {:.2}× idle", pct(&busy_us, 0.99) / pct(&idle_us, 0.99));
    if let Some((backup, restore, _)) = restic {
        let _ = write!(
            ratios,
            "; embedded backup {:.2}× restic's backup time, embedded restore {:.2}× restic's restore time",
            f(&eb, "seconds")? / backup,
            f(&er, "seconds")? / restore
        );
    }
    if let Some((export, _, import, _, _)) = &base {
        let per_row = |r: &Json, n: u64| -> Res<f64> { Ok(n as f64 / f(r, "seconds")?) };
        let _ = write!(
            ratios,
            "; remote backup {:.1}× the SDK `get_range` rows/s, remote restore {:.1}× the SDK `batch_write_row` rows/s",
            per_row(&rb, rows)? / per_row(export, baseline_rows)?,
            per_row(&rr, rows)? / per_row(import, baseline_rows)?
        );
    }

    let mut env_settings = String::new();
    for name in ["BENCH_ROWS", "BENCH_BASELINE_ROWS", "BENCH_BASELINE", "TMPDIR"] {
        if let Ok(value) = std::env::var(name) {
            let _ = write!(env_settings, "{name}={value} ");
        }
    }
    println!();
    println!(
        "{rows} rows ({} cell versions, {} serialized = `TableSnapshot::data_bytes`, {} data dir after flush + compaction), \
         loaded in {:.1} s ({} rows/s, engine, fsync off) + {:.1} s flush/compaction. \
         Machine: nproc={nproc} ({}), {:.0} GiB RAM, work dir {} ({}), page cache warm. \
         MB/s = serialized table bytes (10^6) per second for every line. Whole run {:.1} min. \
         Command: `{env_settings}cargo bench --workspace --bench backup_restore`",
        cells,
        mb(data_bytes as f64),
        mb(data_dir_bytes as f64),
        f(&load, "seconds")?,
        group(rows as f64 / f(&load, "seconds")?),
        f(&load, "settle_seconds")?,
        cpu_model(),
        mem_total_gib(),
        work.path().display(),
        filesystem_of(work.path()),
        run_started.elapsed().as_secs_f64() / 60.0,
    );
    println!();
    println!("| phase | rows/s | MB/s | peak memory | notes |");
    println!("|---|---:|---:|---:|---|");
    for line in &table.lines {
        println!("{line}");
    }
    println!();
    println!("{ratios}.");
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--phase") {
        let phase = args.get(at + 1).ok_or_else(|| fail("--phase needs a name"))?;
        return child(phase, &args[at + 2..]);
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and must not
    // spend minutes here.
    if !args.iter().any(|a| a == "--bench") {
        println!("backup_restore: benchmark skipped (run it with `cargo bench --workspace --bench backup_restore`)");
        return Ok(());
    }
    parent()
}
