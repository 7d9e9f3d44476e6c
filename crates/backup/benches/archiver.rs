//! Archiver lag and replay rate: how long after a write is acknowledged its change
//! is durable in the repository, under a steady single-row write load, and how fast
//! a restore to a point in time replays archived changes. One run, markdown tables
//! on stdout, progress on stderr.
//!
//! Run: `bench/archiver.sh`, i.e. `cargo bench --workspace --bench archiver` with
//! the shared `CARGO_TARGET_DIR`. Settings (environment): `BENCH_SECONDS` (30),
//! `BENCH_RATE` (5000 writes/s), `BENCH_WRITERS` (16 threads), `BENCH_PRELOAD`
//! (100,000 rows), `BENCH_INTERVALS_MS` (100,1000), `TMPDIR`. About 4 minutes.
//!
//! For each archiver pass interval (`BENCH_INTERVALS_MS`, default 100 and 1000 ms):
//! a fresh stream-enabled table is preloaded and snapshotted into a fresh local
//! repository; then `BENCH_WRITERS` threads issue `BENCH_RATE` single-row PutRows
//! per second, paced by a shared schedule, for `BENCH_SECONDS`, through
//! `Engine::write_rows` with fsync on (as `serve` runs it), while an [`Archiver`]
//! makes one pass every interval. The time a pass returns is when its segment is
//! durable; each write carries its index in a `seq` column, so every archived
//! change maps back to the instant its write was acknowledged. Lag = durable −
//! acknowledged. Segments are read back after the window, outside the timed path.
//!
//! Then a restore to the last archived instant from the snapshot taken at the start
//! replays every change of the window (its snapshot part and its replay part timed
//! apart through `Progress`), the snapshot alone is restored for comparison, the
//! result is checked equal to the live table, and the engine's own write rate for
//! the same number of rows (1,000 per call) is the baseline. Last, an archiver
//! pass's cost at 10 and at 1,000 snapshots in the repository, with the repository
//! kept open (as a plan's archive loop does) beside reopened each
//! pass. Any error aborts.

#![allow(clippy::unwrap_used)] // A benchmark aborts on the first failure.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tablesafe_backup::archive::{ArchiveOptions, Archiver, ChangeSegment, SegmentChanges};
use tablesafe_backup::{
    backup, restore, restore_to_time, verify_table, EmbeddedTables, NoProgress, Progress, RestoreOptions,
};
use tablesafe_common::SystemClock;
use tablesafe_engine::{CreateTable, Engine, EngineOptions, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::{
    Cell, Condition, PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType, ReadOptions, ReservedThroughput, Row,
    StreamSpec, TableOptions, TableSchema, Value,
};
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage, Unlock};

mod support;
use support::*;

const PASSWORD: &str = "bench repository password";
/// Rows per engine call while preloading and in the baselines.
const BATCH: usize = 1000;

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

struct Settings {
    seconds: u64,
    rate: u64,
    writers: usize,
    preload: u64,
    intervals_ms: Vec<u64>,
}

impl Settings {
    fn from_env() -> Res<Settings> {
        let intervals_ms = match std::env::var("BENCH_INTERVALS_MS") {
            Ok(list) => list
                .split(',')
                .map(|v| v.trim().parse().map_err(|_| fail(format!("BENCH_INTERVALS_MS: {v} is not a number"))))
                .collect::<Res<Vec<u64>>>()?,
            Err(_) => vec![100, 1000],
        };
        let settings = Settings {
            seconds: env_u64("BENCH_SECONDS", 30)?,
            rate: env_u64("BENCH_RATE", 5000)?,
            writers: env_u64("BENCH_WRITERS", 16)? as usize,
            preload: env_u64("BENCH_PRELOAD", 100_000)?,
            intervals_ms,
        };
        if settings.rate == 0 || settings.seconds == 0 || settings.writers == 0 || settings.intervals_ms.is_empty() {
            return Err(fail("BENCH_RATE, BENCH_SECONDS, BENCH_WRITERS and BENCH_INTERVALS_MS must be positive"));
        }
        if settings.intervals_ms.contains(&0) {
            return Err(fail("an archiver interval of 0 ms would spin"));
        }
        Ok(settings)
    }

    fn writes(&self) -> u64 {
        self.rate * self.seconds
    }
}

// ------------------------------------------------------------------ measurement helpers

fn files_in(path: &Path) -> usize {
    std::fs::read_dir(path).map_or(0, |d| d.count())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// µs as milliseconds with one decimal.
fn ms(us: i64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// Thousands separated by commas.
fn group(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

// ------------------------------------------------------------------ the data

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// ~100 B of attributes: the write's index (`seq`, -1 for preloaded rows), a
/// string, an integer and 32 random bytes. Without `ts_ms` the engine stamps them.
fn bench_row(id: i64, seq: i64, ts_ms: Option<i64>) -> Row {
    let r = mix(id as u64 ^ (seq as u64).rotate_left(32));
    let blob: Vec<u8> = (0..4u64).flat_map(|k| mix(r ^ k).to_le_bytes()).collect();
    let cell = |name: &str, value: Value| match ts_ms {
        Some(ts) => Cell::version(name, value, ts),
        None => Cell::put(name, value),
    };
    let cells = vec![
        cell("seq", Value::Integer(seq)),
        cell("name", Value::String(format!("customer {id:012} of the benchmark"))),
        cell("score", Value::Integer((r % 1_000_000) as i64)),
        cell("blob", Value::Binary(blob)),
    ];
    Row { primary_key: PrimaryKey::new([("id", PkValue::Integer(id))]), cells, ..Row::default() }
}

fn put(table: &str, row: Row) -> RowWrite {
    RowWrite {
        table: table.into(),
        change: RowChange::Put(row),
        condition: Condition::default(),
        return_content: ReturnContent::None,
    }
}

/// The key written by write `i`: uniform over twice the preloaded keys, so about
/// half the writes replace a preloaded row and half add one.
fn key_of(i: u64, preload: u64) -> i64 {
    (mix(i) % (2 * preload.max(1))) as i64
}

fn create_table(engine: &Engine, name: &str, stream: bool) -> Res<()> {
    let key = PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: false };
    engine.create_table(CreateTable {
        schema: TableSchema { name: name.into(), primary_key: vec![key], defined_columns: vec![] },
        options: TableOptions::default(),
        reserved: ReservedThroughput::default(),
        stream: StreamSpec { enabled: stream, expiration_hours: 24, columns_to_get: vec![] },
    })?;
    Ok(())
}

/// Writes `rows` rows (ids `0..rows`, or the keys of writes `0..rows`) 1,000 per call.
fn write_batched(engine: &Engine, table: &str, rows: u64, preload: Option<u64>, import: bool) -> Res<f64> {
    let now_ms = now_us() / 1000;
    let started = Instant::now();
    let mut i = 0u64;
    while i < rows {
        let end = (i + BATCH as u64).min(rows);
        let row = |i: u64| match preload {
            None => bench_row(i as i64, -1, import.then_some(now_ms)),
            Some(preload) => bench_row(key_of(i, preload), i as i64, import.then_some(now_ms)),
        };
        if import {
            engine.import_rows(table, &(i..end).map(row).collect::<Vec<_>>())?;
        } else {
            for outcome in engine.write_rows((i..end).map(|i| put(table, row(i))).collect()) {
                outcome?;
            }
        }
        i = end;
    }
    Ok(started.elapsed().as_secs_f64())
}

// ------------------------------------------------------------------ one window

/// One write: its index, acknowledgement (µs since the epoch), call duration and
/// how late it started against its schedule (µs).
type WriteRecord = (u64, i64, i64, i64);

/// What the writers saw, by write index.
struct WriteLog {
    /// When each write was acknowledged (µs since the epoch).
    ack_us: Vec<i64>,
    /// How long each `write_rows` call took (µs).
    call_us: Vec<i64>,
    /// Scheduled start of write 0 → last acknowledgement, seconds.
    span_seconds: f64,
    /// How late the latest write started against its schedule (µs).
    max_late_us: i64,
}

/// `settings.writes()` single-row puts, write `i` started no earlier than
/// `i / rate` seconds after the start, by `settings.writers` threads.
fn run_writers(engine: &Engine, table: &str, settings: &Settings) -> Res<WriteLog> {
    let total = settings.writes();
    let next = AtomicU64::new(0);
    let started = Instant::now();
    let nanos_per_write = 1e9 / settings.rate as f64;
    let results: Vec<Res<Vec<WriteRecord>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..settings.writers)
            .map(|_| {
                let next = &next;
                scope.spawn(move || -> Res<Vec<WriteRecord>> {
                    let mut log = Vec::with_capacity((total as usize / settings.writers) + 16);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            return Ok(log);
                        }
                        let due = started + Duration::from_nanos((i as f64 * nanos_per_write) as u64);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let write = put(table, bench_row(key_of(i, settings.preload), i as i64, None));
                        let call = Instant::now();
                        for outcome in engine.write_rows(vec![write]) {
                            outcome?;
                        }
                        let ack = now_us();
                        let call_us = call.elapsed().as_micros() as i64;
                        let late_us = call.saturating_duration_since(due).as_micros() as i64;
                        log.push((i, ack, call_us, late_us));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(fail("a writer panicked")))).collect()
    });
    let span_seconds = started.elapsed().as_secs_f64();
    let mut log =
        WriteLog { ack_us: vec![0; total as usize], call_us: vec![0; total as usize], span_seconds, max_late_us: 0 };
    for entries in results {
        for (i, ack, call, late) in entries? {
            log.ack_us[i as usize] = ack;
            log.call_us[i as usize] = call;
            log.max_late_us = log.max_late_us.max(late);
        }
    }
    Ok(log)
}

/// What the archiver did during a window.
#[derive(Default)]
struct ArchiveLog {
    /// Segments with changes: id, manifest, when the pass that wrote it returned (µs).
    segments: Vec<(String, ChangeSegment, i64)>,
    /// Duration of the passes that wrote a segment (µs).
    pass_us: Vec<i64>,
    /// Passes that found nothing new.
    empty_passes: u64,
}

/// Passes every `interval` until `target` changes (unknown while it is
/// `u64::MAX`) are archived.
async fn archive_loop(
    mut archiver: Archiver<EmbeddedTables>,
    repo: Arc<Repository>,
    table: String,
    interval: Duration,
    target: Arc<AtomicU64>,
) -> Res<ArchiveLog> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut log = ArchiveLog::default();
    let mut archived = 0u64;
    let tables = [table];
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let passes = archiver.pass(&repo, &tables).await?;
        let durable_us = now_us();
        let took = started.elapsed().as_micros() as i64;
        let mut wrote = false;
        for pass in passes {
            if pass.gap {
                return Err(fail(format!("the archive of {} has a gap", pass.table)));
            }
            if let Some((id, segment)) = pass.segment {
                if segment.changes > 0 {
                    archived += segment.changes;
                    log.segments.push((id, segment, durable_us));
                    wrote = true;
                }
            }
        }
        if wrote {
            log.pass_us.push(took);
        } else {
            log.empty_passes += 1;
        }
        if archived >= target.load(Ordering::SeqCst) {
            return Ok(log);
        }
    }
}

struct Window {
    interval_ms: u64,
    table: String,
    repo: Arc<Repository>,
    snapshot_id: String,
    snapshot_rows: u64,
    preload_seconds: f64,
    writes: WriteLog,
    archive: ArchiveLog,
    cpu_seconds: f64,
    window_seconds: f64,
    repo_growth: u64,
    /// Archived changes: lag from acknowledgement and from the commit stamp (µs).
    lag_ack_us: Vec<i64>,
    lag_commit_us: Vec<i64>,
    /// The last instant the archive covers (µs).
    covered_until_us: i64,
    index_files: usize,
    open_seconds: f64,
    /// Reading every archived change back (`SegmentChanges`), seconds.
    read_back_seconds: f64,
}

async fn init_repo(dir: &Path) -> Res<Repository> {
    let options = InitOptions {
        password: Some(PASSWORD.into()),
        // Lowered: only opening the repository pays it.
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    Ok(Repository::init(Storage::from_url(dir.to_str().ok_or_else(|| fail("work dir not UTF-8"))?)?, options).await?)
}

fn run_window(
    rt: &tokio::runtime::Runtime,
    engine: &Arc<Engine>,
    work: &Path,
    settings: &Settings,
    interval_ms: u64,
) -> Res<Window> {
    let table = format!("bench_{interval_ms}ms");
    eprintln!("[{table}] preloading {} rows", settings.preload);
    create_table(engine, &table, true)?;
    let preload_seconds = write_batched(engine, &table, settings.preload, None, false)?;
    let repo_dir = work.join(format!("repo-{interval_ms}ms"));
    let repo = Arc::new(rt.block_on(init_repo(&repo_dir))?);
    let tables = EmbeddedTables::new(Arc::clone(engine), "archiver bench engine");
    let (snapshot_id, snapshot) = rt.block_on(backup(&repo, &tables, std::slice::from_ref(&table), &NoProgress))?;
    let snapshot_rows = snapshot.tables.first().map_or(0, |t| t.rows);
    // The first pass finds where to start (the snapshot's position) and writes the
    // stream's first, empty, segment; the window starts after it.
    let mut archiver = Archiver::new(tables.clone(), ArchiveOptions::default());
    rt.block_on(archiver.pass(&repo, std::slice::from_ref(&table)))?;
    let repo_before = dir_bytes(&repo_dir)?;

    eprintln!(
        "[{table}] {} writes/s for {} s by {} threads, archiver pass every {interval_ms} ms",
        settings.rate, settings.seconds, settings.writers
    );
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let cpu_start = cpu_seconds("self")?;
    let started = Instant::now();
    let archiving = rt.spawn(archive_loop(
        archiver,
        Arc::clone(&repo),
        table.clone(),
        Duration::from_millis(interval_ms),
        Arc::clone(&target),
    ));
    let writes = match run_writers(engine, &table, settings) {
        Ok(writes) => writes,
        Err(error) => {
            archiving.abort();
            return Err(error);
        }
    };
    target.store(settings.writes(), Ordering::SeqCst);
    let catch_up = Duration::from_secs(120) + Duration::from_millis(interval_ms) * 2;
    let archive = rt
        .block_on(async { tokio::time::timeout(catch_up, archiving).await })
        .map_err(|_| fail("the archiver did not catch up within 2 minutes of the last write"))???;
    let window_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds("self")? - cpu_start;
    let repo_growth = dir_bytes(&repo_dir)? - repo_before;

    eprintln!("[{table}] reading back {} segments", archive.segments.len());
    let mut seen = vec![false; settings.writes() as usize];
    let mut lag_ack_us = Vec::with_capacity(seen.len());
    let mut lag_commit_us = Vec::with_capacity(seen.len());
    let mut expected_from = None;
    let mut covered_until_us = i64::MIN;
    let read_back = Instant::now();
    rt.block_on(async {
        for (id, segment, durable_us) in &archive.segments {
            if expected_from.is_some_and(|to| to != segment.from) {
                return Err(fail(format!("segment {id} starts at {}, not {expected_from:?}", segment.from)));
            }
            expected_from = Some(segment.to);
            covered_until_us = covered_until_us.max(segment.complete_until_us);
            let mut changes = SegmentChanges::new(&repo, id, segment.clone());
            let mut count = 0u64;
            while let Some(change) = changes.next().await? {
                count += 1;
                let seq = change.row.cells.iter().find(|c| c.name == "seq").and_then(|c| match c.value {
                    Some(Value::Integer(v)) => usize::try_from(v).ok(),
                    _ => None,
                });
                let seq = seq.ok_or_else(|| fail(format!("change at {} has no seq", change.position)))?;
                if seq >= seen.len() || std::mem::replace(&mut seen[seq], true) {
                    return Err(fail(format!("write {seq} archived twice or unknown")));
                }
                lag_ack_us.push(durable_us - writes.ack_us[seq]);
                lag_commit_us.push(durable_us - change.time_us());
            }
            if count != segment.changes {
                return Err(fail(format!("segment {id} holds {count} changes, its manifest says {}", segment.changes)));
            }
        }
        Ok::<(), Error>(())
    })?;
    let read_back_seconds = read_back.elapsed().as_secs_f64();
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(fail(format!("write {missing} was never archived")));
    }
    lag_ack_us.sort_unstable();
    lag_commit_us.sort_unstable();

    // What a restart of the archiver or a restore pays to open this repository.
    let index_files = files_in(&repo_dir.join("index"));
    let opened = Instant::now();
    let unlock = Unlock { password: Some(PASSWORD.into()), identities: vec![] };
    rt.block_on(Repository::open(Storage::from_url(repo_dir.to_str().unwrap())?, &unlock))?;
    let open_seconds = opened.elapsed().as_secs_f64();

    Ok(Window {
        interval_ms,
        table,
        repo,
        snapshot_id,
        snapshot_rows,
        preload_seconds,
        writes,
        archive,
        cpu_seconds,
        window_seconds,
        repo_growth,
        lag_ack_us,
        lag_commit_us,
        covered_until_us,
        index_files,
        open_seconds,
        read_back_seconds,
    })
}

// ------------------------------------------------------------------ restores

/// When the snapshot part of a restore to a time ended: the progress call that
/// completes the snapshot's rows (the replay reports its changes after them).
struct RestoreTimeline {
    started: Instant,
    snapshot_rows: u64,
    done: AtomicU64,
    first_rows: Mutex<Option<f64>>,
    snapshot_done: Mutex<Option<f64>>,
}

impl Progress for RestoreTimeline {
    fn rows_done(&self, rows: u64, _bytes: u64) {
        let now = self.started.elapsed().as_secs_f64();
        let total = self.done.fetch_add(rows, Ordering::SeqCst) + rows;
        self.first_rows.lock().unwrap().get_or_insert(now);
        if total >= self.snapshot_rows {
            self.snapshot_done.lock().unwrap().get_or_insert(now);
        }
    }
}

struct Replay {
    snapshot_alone_seconds: f64,
    before_rows_seconds: f64,
    snapshot_part_seconds: f64,
    replay_seconds: f64,
    total_seconds: f64,
    changes: u64,
}

fn run_restores(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>, window: &Window) -> Res<Replay> {
    let tables = EmbeddedTables::new(Arc::clone(engine), "archiver bench engine");
    let options = |target: String| RestoreOptions {
        table: window.table.clone(),
        target: Some(target),
        ..RestoreOptions::default()
    };
    eprintln!("[{}] restoring the snapshot alone", window.table);
    let started = Instant::now();
    let report = rt.block_on(restore(
        &window.repo,
        &window.snapshot_id,
        &tables,
        &options(format!("{}_snapshot", window.table)),
        &NoProgress,
    ))?;
    let snapshot_alone_seconds = started.elapsed().as_secs_f64();
    if report.rows != window.snapshot_rows {
        return Err(fail(format!("snapshot restore wrote {} rows of {}", report.rows, window.snapshot_rows)));
    }

    eprintln!("[{}] restoring to the last archived instant", window.table);
    let timeline = RestoreTimeline {
        started: Instant::now(),
        snapshot_rows: window.snapshot_rows,
        done: AtomicU64::new(0),
        first_rows: Mutex::new(None),
        snapshot_done: Mutex::new(None),
    };
    let target = format!("{}_pitr", window.table);
    let report = rt.block_on(restore_to_time(
        &window.repo,
        &tables,
        &options(target.clone()),
        window.covered_until_us,
        None,
        &timeline,
    ))?;
    let total_seconds = timeline.started.elapsed().as_secs_f64();
    if report.snapshot != window.snapshot_id || report.changes_replayed != window.lag_ack_us.len() as u64 {
        return Err(fail(format!(
            "restore to time replayed {} changes from snapshot {}, expected {} from {}",
            report.changes_replayed,
            report.snapshot,
            window.lag_ack_us.len(),
            window.snapshot_id
        )));
    }
    let before_rows_seconds = timeline.first_rows.lock().unwrap().unwrap_or(0.0);
    let snapshot_done = timeline.snapshot_done.lock().unwrap().unwrap_or(0.0);

    // The window's table has not changed since: the restored copy must equal it.
    eprintln!("[{}] checking the restored table against the live one", window.table);
    let (check_id, _) = rt.block_on(backup(&window.repo, &tables, std::slice::from_ref(&window.table), &NoProgress))?;
    let verify = rt.block_on(verify_table(&window.repo, &check_id, &window.table, &tables, &target))?;
    if !verify.equal {
        return Err(fail(format!("{target} differs from {}: {:?}", window.table, verify.differing_ranges)));
    }
    Ok(Replay {
        snapshot_alone_seconds,
        before_rows_seconds,
        snapshot_part_seconds: snapshot_done - before_rows_seconds,
        replay_seconds: total_seconds - snapshot_done,
        total_seconds,
        changes: report.changes_replayed,
    })
}

/// An archiver pass's cost as the repository grows: `counts` snapshots (each with
/// new data, so each adds an index file), then passes over a few new changes with
/// the repository kept open (as a plan's archive loop does) and,
/// for comparison, reopened before each pass (as it did before). Returns markdown rows.
fn run_pass_cost(rt: &tokio::runtime::Runtime, engine: &Arc<Engine>, work: &Path, counts: &[usize]) -> Res<String> {
    const PASSES: usize = 20;
    let table = "pass_cost".to_owned();
    create_table(engine, &table, true)?;
    let tables = EmbeddedTables::new(Arc::clone(engine), "archiver bench engine");
    let repo_dir = work.join("repo-pass-cost");
    let repo = rt.block_on(init_repo(&repo_dir))?;
    let mut archiver = Archiver::new(tables.clone(), ArchiveOptions::default());
    let mut written = 0i64;
    let mut write_some = |n: i64| -> Res<()> {
        let rows = (written..written + n).map(|i| put(&table, bench_row(i, i, None))).collect();
        written += n;
        for result in engine.write_rows(rows) {
            result?;
        }
        Ok(())
    };
    let (mut snapshots, mut out) = (0usize, String::new());
    for &count in counts {
        eprintln!("[pass cost] {count} snapshots");
        while snapshots < count {
            write_some(5)?;
            rt.block_on(backup(&repo, &tables, std::slice::from_ref(&table), &NoProgress))?;
            snapshots += 1;
        }
        rt.block_on(archiver.pass(&repo, std::slice::from_ref(&table)))?;
        let (mut kept, mut reopened) = (Vec::new(), Vec::new());
        for _ in 0..PASSES {
            write_some(10)?;
            let started = Instant::now();
            rt.block_on(archiver.pass(&repo, std::slice::from_ref(&table)))?;
            kept.push(started.elapsed().as_micros() as i64);
            write_some(10)?;
            let started = Instant::now();
            rt.block_on(async {
                let fresh = repo.reopen().await?;
                archiver.pass(&fresh, std::slice::from_ref(&table)).await
            })?;
            reopened.push(started.elapsed().as_micros() as i64);
        }
        kept.sort_unstable();
        reopened.sort_unstable();
        let _ = writeln!(
            out,
            "| {count} | {} | {} / {} | {} / {} |",
            files_in(&repo_dir.join("index")),
            ms(percentile(&kept, 50.0)),
            ms(percentile(&kept, 99.0)),
            ms(percentile(&reopened, 50.0)),
            ms(percentile(&reopened, 99.0)),
        );
    }
    Ok(out)
}

/// Point reads of every write's key, one at a time with every version, as
/// replay's `read_rows` reads the rows its changes touch.
fn time_get_rows(engine: &Engine, table: &str, settings: &Settings) -> Res<f64> {
    let read = ReadOptions { max_versions: Some(i32::MAX), ..ReadOptions::default() };
    let started = Instant::now();
    for i in 0..settings.writes() {
        let key = PrimaryKey::new([("id", PkValue::Integer(key_of(i, settings.preload)))]);
        engine.get_row(table, &key, &read)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

// ------------------------------------------------------------------ main

fn run() -> Res<()> {
    let run_started = Instant::now();
    let settings = Settings::from_env()?;
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work = tempfile::Builder::new().prefix("tablesafe-archiver-bench-").tempdir()?;
    let data_dir = work.path().join("data/engine");
    std::fs::create_dir_all(&data_dir)?;
    // As `serve` opens it: fsync before every acknowledgement.
    let options = EngineOptions::default();
    if !options.sync_writes {
        return Err(fail("EngineOptions::default() no longer syncs writes; this bench measures the default"));
    }
    let engine = Arc::new(Engine::open(&data_dir, options, Arc::new(SystemClock))?);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    let mut windows = Vec::new();
    for &interval_ms in &settings.intervals_ms {
        windows.push(run_window(&rt, &engine, work.path(), &settings, interval_ms)?);
    }
    let mut replays = Vec::new();
    for window in &windows {
        replays.push(run_restores(&rt, &engine, window)?);
    }
    let changes = settings.writes();
    eprintln!("baseline: {changes} rows through the engine, {BATCH} per call");
    create_table(&engine, "baseline_write_rows", true)?;
    let write_rows_seconds = write_batched(&engine, "baseline_write_rows", changes, Some(settings.preload), false)?;
    create_table(&engine, "baseline_import_rows", true)?;
    let import_rows_seconds = write_batched(&engine, "baseline_import_rows", changes, Some(settings.preload), true)?;
    let get_rows_seconds = time_get_rows(&engine, "baseline_import_rows", &settings)?;
    let pass_cost = run_pass_cost(&rt, &engine, work.path(), &[10, 1000])?;

    let mut lag = String::new();
    for w in &windows {
        let achieved = w.writes.ack_us.len() as f64 / w.writes.span_seconds;
        let mut calls = w.writes.call_us.clone();
        calls.sort_unstable();
        let mut passes = w.archive.pass_us.clone();
        passes.sort_unstable();
        let segments = w.archive.segments.len();
        let data_bytes: u64 = w.archive.segments.iter().map(|(_, s, _)| s.data_bytes).sum();
        let (l, c) = (&w.lag_ack_us, &w.lag_commit_us);
        writeln!(
            lag,
            "| {} ms | {} ({} threads; latest start {} behind schedule) | {} / {} | **{}** | **{}** | {} | {} | {} ({} changes each) | {} → repository +{} | {} / {} / {} | from the commit stamp: p50 {}, p99 {}, max {}; {} empty passes; CPU {:.1} s over {:.1} s ({:.2} cores, writers + archiver); {} index files, repository opens in {:.2} s |",
            w.interval_ms,
            group(achieved),
            settings.writers,
            ms(w.writes.max_late_us),
            ms(percentile(&calls, 50.0)),
            ms(percentile(&calls, 99.0)),
            ms(percentile(l, 50.0)),
            ms(percentile(l, 99.0)),
            ms(l.last().copied().unwrap_or(0)),
            group(l.len() as f64),
            segments,
            group(l.len() as f64 / segments.max(1) as f64),
            mb(data_bytes as f64),
            mb(w.repo_growth as f64),
            ms(percentile(&passes, 50.0)),
            ms(percentile(&passes, 99.0)),
            ms(passes.last().copied().unwrap_or(0)),
            ms(percentile(c, 50.0)),
            ms(percentile(c, 99.0)),
            ms(c.last().copied().unwrap_or(0)),
            w.archive.empty_passes,
            w.cpu_seconds,
            w.window_seconds,
            w.cpu_seconds / w.window_seconds,
            w.index_files,
            w.open_seconds,
        )?;
    }
    let mut replay = String::new();
    for (w, r) in windows.iter().zip(&replays) {
        writeln!(
            replay,
            "| `restore_to_time`, replay part (archive of the {} ms window, {} segments) | {} changes | {:.2} s | **{} changes/s** | of {:.2} s in all: {:.2} s before the first rows (plan, marker, table), {:.2} s restoring the {} snapshot rows; restored table equal to the live one |",
            w.interval_ms,
            w.archive.segments.len(),
            group(r.changes as f64),
            r.replay_seconds,
            group(r.changes as f64 / r.replay_seconds),
            r.total_seconds,
            r.before_rows_seconds,
            r.snapshot_part_seconds,
            group(w.snapshot_rows as f64),
        )?;
        writeln!(
            replay,
            "| `restore` of the same snapshot alone | {} rows | {:.2} s | {} rows/s | `restore_to_time` − this = {:.2} s for the replay and its planning |",
            group(w.snapshot_rows as f64),
            r.snapshot_alone_seconds,
            group(w.snapshot_rows as f64 / r.snapshot_alone_seconds),
            r.total_seconds - r.snapshot_alone_seconds,
        )?;
    }
    writeln!(
        replay,
        "| baseline: `Engine::write_rows`, the same rows as PutRows, {BATCH} per call, 1 thread | {} rows | {:.2} s | {} rows/s | fsync on; stream-enabled table, so stream records are written too |",
        group(changes as f64),
        write_rows_seconds,
        group(changes as f64 / write_rows_seconds),
    )?;
    writeln!(
        replay,
        "| baseline: `Engine::import_rows` (what replay writes with), {BATCH} per call, 1 thread | {} rows | {:.2} s | {} rows/s | fsync on; no stream records |",
        group(changes as f64),
        import_rows_seconds,
        group(changes as f64 / import_rows_seconds),
    )?;
    if let Some(w) = windows.first() {
        writeln!(
            replay,
            "| component: reading the {} ms window's archive back (`SegmentChanges`: read, open, decompress, decode) | {} changes | {:.2} s | {} changes/s | {} segments; the first step of replay |",
            w.interval_ms,
            group(w.lag_ack_us.len() as f64),
            w.read_back_seconds,
            group(w.lag_ack_us.len() as f64 / w.read_back_seconds),
            w.archive.segments.len(),
        )?;
    }
    writeln!(
        replay,
        "| component: `Engine::get_row` of each change's key, one at a time, every version | {} reads | {:.2} s | {} reads/s | what replay's `read_rows` costs when every change is an update (puts and deletes need no read) |",
        group(changes as f64),
        get_rows_seconds,
        group(changes as f64 / get_rows_seconds),
    )?;

    let mut env_settings = String::new();
    for name in ["BENCH_SECONDS", "BENCH_RATE", "BENCH_WRITERS", "BENCH_PRELOAD", "BENCH_INTERVALS_MS", "TMPDIR"] {
        if let Ok(value) = std::env::var(name) {
            let _ = write!(env_settings, "{name}={value} ");
        }
    }
    let preload_rate = windows.first().map_or(0.0, |w| settings.preload as f64 / w.preload_seconds);
    println!();
    println!(
        "Machine: nproc={nproc} ({}), work dir {} ({}). Engine opened as `serve` opens it (fsync on). \
         Per configuration: a fresh table with a stream (one `INTEGER` key), preloaded with {} rows of ~100 B \
         ({} rows/s, {BATCH} per call) and snapshotted into a fresh local repository (password, Argon2id lowered); \
         then {} single-row PutRows/s for {} s ({} writes; keys uniform over {} ids, about half replacing a preloaded row) \
         by {} threads on a shared schedule, while an `Archiver` (`ArchiveOptions::default()`, this table) \
         makes a pass every interval. Lag = the time the pass that wrote a change's segment returned − the time \
         the change's `write_rows` returned. Whole run {:.1} min. Command: `{env_settings}cargo bench --workspace --bench archiver`",
        cpu_model(),
        work.path().display(),
        filesystem_of(work.path()),
        group(settings.preload as f64),
        group(preload_rate),
        group(settings.rate as f64),
        settings.seconds,
        group(changes as f64),
        group(2.0 * settings.preload as f64),
        settings.writers,
        run_started.elapsed().as_secs_f64() / 60.0,
    );
    println!();
    println!(
        "| archiver pass interval | writes/s achieved | write call p50 / p99 | lag p50 | lag p99 | lag max | changes archived | segments | serialized changes → repository | pass time p50 / p99 / max | notes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    print!("{lag}");
    println!();
    println!("| restore step | work | time | rate | notes |");
    println!("|---|---:|---:|---:|---|");
    print!("{replay}");
    println!();
    println!(
        "| snapshots in the repository | index files | pass p50 / p99, repository kept open | pass p50 / p99, reopened each pass |"
    );
    println!("|---:|---:|---:|---:|");
    print!("{pass_cost}");
    Ok(())
}

fn main() -> Res<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and must not
    // spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("archiver: benchmark skipped (run it with `cargo bench --workspace --bench archiver`)");
        return Ok(());
    }
    run()
}
