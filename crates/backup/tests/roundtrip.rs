//! Backup and restore end to end on a real engine and a real repository on disk,
//! through the embedded path and through a real server (remote path).

#![allow(clippy::unwrap_used)] // Tests may unwrap.

#[path = "support/mod.rs"]
mod shared;
#[path = "../../repo/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::snapshot::backup_for_plan;
use tablesafe_backup::{
    backup, forget, list_snapshots, prune, restore, verify_table, BackupError, EmbeddedTables, ForgetPolicy,
    NoProgress, RemoteTables, RestoreOptions, Retention, TableSink,
};
use tablesafe_client::Client;
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{CreateTable, Engine, EngineOptions, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::*;
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage};

const ROWS: i64 = 20_000;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn open_engine(dir: &tempfile::TempDir) -> Arc<Engine> {
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    Arc::new(Engine::open(dir.path(), options, Arc::new(SystemClock)).unwrap())
}

fn key(i: i64) -> PrimaryKey {
    PrimaryKey::new([
        ("s", PkValue::String(format!("k{:03}", i % 997))),
        ("i", PkValue::Integer(i)),
        ("b", PkValue::Binary(vec![(i % 251) as u8, 0, 0xff])),
    ])
}

/// A row with every value type and up to three versions per column.
fn row(i: i64, rng: &mut Rng, now: i64) -> Row {
    let mut cells = Vec::new();
    for v in 0..=rng.below(3) as i64 {
        let ts = now - 1000 * (v + 1);
        cells.push(Cell::version("int", Value::Integer(i * 10 + v), ts));
        cells.push(Cell::version("dbl", Value::Double(i as f64 / 7.0 + v as f64), ts));
    }
    cells.push(Cell::version("bool", Value::Boolean(i % 2 == 0), now - 500));
    cells.push(Cell::version("str", Value::String(format!("row {i} ✓")), now - 500));
    cells.push(Cell::version("bin", Value::Binary((0..(i % 64) as u8).collect()), now - 500));
    Row { primary_key: key(i), cells, ..Row::default() }
}

fn put_all(engine: &Engine, table: &str, rows: Vec<Row>) {
    for chunk in rows.chunks(200) {
        let writes = chunk
            .iter()
            .map(|r| RowWrite {
                table: table.into(),
                change: RowChange::Put(r.clone()),
                condition: Condition::default(),
                return_content: ReturnContent::None,
            })
            .collect();
        assert!(engine.write_rows(writes).iter().all(Result::is_ok));
    }
}

fn create_tables(engine: &Engine) {
    let pk = |name: &str, key_type| PrimaryKeySchema { name: name.into(), key_type, auto_increment: false };
    engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: "all_types".into(),
                primary_key: vec![
                    pk("s", PrimaryKeyType::String),
                    pk("i", PrimaryKeyType::Integer),
                    pk("b", PrimaryKeyType::Binary),
                ],
                defined_columns: vec![],
            },
            options: TableOptions { max_versions: 5, ..TableOptions::default() },
            reserved: ReservedThroughput { read: 3, write: 4 },
            stream: StreamSpec { enabled: true, expiration_hours: 12, columns_to_get: vec![] },
        })
        .unwrap();
    engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: "counters".into(),
                primary_key: vec![
                    pk("g", PrimaryKeyType::String),
                    PrimaryKeySchema { name: "n".into(), key_type: PrimaryKeyType::Integer, auto_increment: true },
                ],
                defined_columns: vec![],
            },
            options: TableOptions::default(),
            reserved: ReservedThroughput::default(),
            stream: StreamSpec::default(),
        })
        .unwrap();
}

fn fill(engine: &Engine) {
    let now = SystemClock.now_millis();
    let mut rng = Rng(42);
    put_all(engine, "all_types", (0..ROWS).map(|i| row(i, &mut rng, now)).collect());
    let counter = |i: i64| Row {
        primary_key: PrimaryKey::new([("g", PkValue::String("a".into())), ("n", PkValue::AutoIncrement)]),
        cells: vec![Cell::put("v", Value::Integer(i))],
        ..Row::default()
    };
    put_all(engine, "counters", (0..50).map(counter).collect());
}

async fn new_repo(dir: &tempfile::TempDir) -> Repository {
    repo_at(dir.path().to_str().unwrap()).await
}

async fn repo_at(url: &str) -> Repository {
    let options = InitOptions {
        password: Some("pw".into()),
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    Repository::init(Storage::from_url(url).unwrap(), options).await.unwrap()
}

/// An engine with both test tables filled.
fn filled_engine() -> (tempfile::TempDir, Arc<Engine>) {
    let data = tempfile::tempdir().unwrap();
    let engine = open_engine(&data);
    create_tables(&engine);
    fill(&engine);
    (data, engine)
}

/// A filled engine and an empty repository on local disk.
struct Fixture {
    engine: Arc<Engine>,
    repo: Repository,
    tables: EmbeddedTables,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Fixture {
    async fn new() -> Fixture {
        let (data, engine) = filled_engine();
        let repo_dir = tempfile::tempdir().unwrap();
        let repo = new_repo(&repo_dir).await;
        let tables = EmbeddedTables::new(Arc::clone(&engine), "test engine");
        Fixture { engine, repo, tables, _dirs: (data, repo_dir) }
    }
}

fn restore_as(table: &str, target: &str) -> RestoreOptions {
    RestoreOptions { table: table.into(), target: Some(target.into()), ..RestoreOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backups_restore_exactly_and_verify() {
    let Fixture { engine, repo, tables, _dirs } = Fixture::new().await;

    let (first_id, first) = backup(&repo, &tables, &[], &NoProgress).await.unwrap();
    let all_types = first.tables.iter().find(|t| t.name == "all_types").unwrap();
    assert_eq!(all_types.rows, ROWS as u64);
    assert!(all_types.stream_position.is_some());
    assert_eq!(first.tables.iter().find(|t| t.name == "counters").unwrap().auto_increment, Some(50));

    // Change 1% of the rows, delete a few, then back up again.
    let now = SystemClock.now_millis();
    let mut rng = Rng(7);
    let changed: Vec<Row> = (0..ROWS / 100).map(|_| row(rng.below(ROWS as u64) as i64, &mut Rng(9), now)).collect();
    put_all(&engine, "all_types", changed);
    let deletes = (0..20).map(|i| RowWrite {
        table: "all_types".into(),
        change: RowChange::Delete(key(i * 13)),
        condition: Condition::default(),
        return_content: ReturnContent::None,
    });
    assert!(engine.write_rows(deletes.collect()).iter().all(Result::is_ok));
    let (second_id, second) = backup(&repo, &tables, &["all_types".into()], &NoProgress).await.unwrap();
    eprintln!("first backup added {} bytes, second {}", first.added_bytes, second.added_bytes);
    let layer = &second.tables[0];
    assert_eq!((layer.base.as_deref(), layer.chain), (Some(first_id.as_str()), 2), "the second backup is incremental");
    assert!(
        second.added_bytes * 100 <= first.added_bytes * 5,
        "1% of rows changed: {} vs {}",
        second.added_bytes,
        first.added_bytes
    );
    assert_eq!(layer.rows, ROWS as u64 - 20, "the manifest counts the whole table");

    // Restore both to new tables; each equals its snapshot, and the first is not the live table.
    let first_report = restore(&repo, &first_id, &tables, &restore_as("all_types", "r1"), &NoProgress).await.unwrap();
    assert_eq!(first_report.rows, ROWS as u64);
    restore(&repo, &second_id[..8], &tables, &restore_as("all_types", "r2"), &NoProgress).await.unwrap();
    let v1 = verify_table(&repo, &first_id, "all_types", &tables, "r1").await.unwrap();
    assert!(v1.equal && v1.differing_ranges.is_empty(), "{v1:?}");
    let v2 = verify_table(&repo, &second_id, "all_types", &tables, "r2").await.unwrap();
    assert!(v2.equal, "{v2:?}");
    // A snapshot's rows can be read without restoring it, layers merged.
    let (_, entry) = tablesafe_backup::snapshot_table(&repo, &second_id, "all_types").await.unwrap();
    let mut rows = tablesafe_backup::SnapshotRows::open(&repo, &second_id, &entry).await.unwrap();
    let mut count = 0u64;
    while let Some(row) = rows.next().await.unwrap() {
        assert!(!row.delete_marker && !row.cells.is_empty());
        count += 1;
    }
    assert_eq!(count, ROWS as u64 - 20);
    let live = verify_table(&repo, &first_id, "all_types", &tables, "all_types").await.unwrap();
    assert!(!live.equal && !live.differing_ranges.is_empty());
    assert!(live.differing_ranges.len() < 30, "differences are located: {}", live.differing_ranges.len());
    // Rows from the engine's encoded export, named by kind.
    assert!(live.missing.count + live.extra.count + live.different.count > 0, "{live:?}");
    for kind in [&live.missing, &live.extra, &live.different] {
        assert_eq!(kind.first.len() as u64, kind.count.min(10), "the first keys of each kind: {live:?}");
    }

    // No row data in clear in any object of the repository.
    for (path, _) in repo.storage().list("").await.unwrap() {
        let bytes = repo.storage().read(&path).await.unwrap();
        for needle in ["row 1234 ✓".as_bytes(), b"all_types", b"user"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{needle:?} in clear in {path}");
        }
    }

    // Jobs are recorded in the repository, for every host to see.
    let job = tablesafe_backup::JobRecord {
        kind: tablesafe_backup::JobKind::Restore,
        started_ms: 1,
        finished_ms: 2,
        succeeded: true,
        error: None,
        tables: vec!["all_types".into()],
        rows: first_report.rows,
        bytes: 0,
        snapshot: Some(first_id.clone()),
        location: Some("r1".into()),
    };
    tablesafe_backup::record_job(&repo, &job).await.unwrap();
    assert_eq!(
        tablesafe_backup::list_jobs(&repo).await.unwrap().into_iter().map(|(_, j)| j).collect::<Vec<_>>(),
        vec![job]
    );

    // Schema, options, stream settings and the auto-increment counter come back.
    let restored = engine.table("r1").unwrap();
    let original = engine.table("all_types").unwrap();
    assert_eq!(restored.schema.primary_key, original.schema.primary_key);
    assert_eq!(
        (restored.options, restored.reserved, restored.stream.clone()),
        (original.options, original.reserved, original.stream.clone())
    );
    restore(&repo, &first_id, &tables, &restore_as("counters", "c1"), &NoProgress).await.unwrap();
    let next = engine.write_rows(vec![RowWrite {
        table: "c1".into(),
        change: RowChange::Put(Row {
            primary_key: PrimaryKey::new([("g", PkValue::String("a".into())), ("n", PkValue::AutoIncrement)]),
            cells: vec![],
            ..Row::default()
        }),
        condition: Condition::default(),
        return_content: ReturnContent::PrimaryKey,
    }]);
    let pk = next[0].as_ref().unwrap().row.clone().unwrap().primary_key;
    assert_eq!(pk.columns[1].value, PkValue::Integer(51), "new keys continue after the restored ones");

    // In place only into an empty table or when asked.
    let err = restore(&repo, &first_id, &tables, &restore_as("all_types", "r2"), &NoProgress).await.unwrap_err();
    assert!(matches!(err, BackupError::TargetExists(_)), "{err}");
    let overwrite = RestoreOptions { overwrite: true, ..restore_as("all_types", "r2") };
    restore(&repo, &first_id, &tables, &overwrite, &NoProgress).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_data_fails_the_restore_and_leaves_no_table() {
    let Fixture { repo, tables, _dirs, .. } = Fixture::new().await;
    let (id, _) = backup(&repo, &tables, &["all_types".into()], &NoProgress).await.unwrap();
    let storage = repo.storage();
    let pack = storage.list("data").await.unwrap().into_iter().next().unwrap().0;
    let mut bytes = storage.read(&pack).await.unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    storage.write(&pack, bytes).await.unwrap();
    let err = restore(&repo, &id, &tables, &restore_as("all_types", "broken"), &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains(&pack), "the damaged object is named: {err}");
    assert!(!tables.table_exists("broken").await.unwrap(), "a failed restore leaves no half-written table");
    assert!(storage.list("locks").await.unwrap().is_empty(), "a failed restore leaves no lock behind");
    assert!(storage.list("restores").await.unwrap().is_empty(), "nor a marker, once its table is dropped");
    // Kept on request, the partial table is resumed by running the restore again.
    let keep = RestoreOptions { keep_partial: true, ..restore_as("all_types", "broken") };
    assert!(restore(&repo, &id, &tables, &keep, &NoProgress).await.is_err());
    assert!(tables.table_exists("broken").await.unwrap());
    assert_eq!(storage.list("restores").await.unwrap().len(), 1);
    let mut healthy = storage.read(&pack).await.unwrap();
    healthy[middle] ^= 0x10;
    storage.write(&pack, healthy).await.unwrap();
    restore(&repo, &id, &tables, &restore_as("all_types", "broken"), &NoProgress).await.unwrap();
    assert!(verify_table(&repo, &id, "all_types", &tables, "broken").await.unwrap().equal);
    assert!(storage.list("restores").await.unwrap().is_empty());
}

/// Serves `engine` over the Tablestore protocol; returns the endpoint.
/// The remote path end to end, into a real S3-compatible server: full backup,
/// 1% of the rows changed, incremental backup, both restored through the
/// protocol and verified equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_backups_to_s3_are_incremental_and_restore_through_the_protocol() {
    let (_data, engine) = filled_engine();
    let endpoint = shared::serve(&engine, "remote", ("rk", "rs")).await;
    let remote = RemoteTables::new(Client::new(&endpoint, "remote", "rk", "rs").unwrap());
    let repo = repo_at(&support::s3::MotoServer::shared().fresh_url("remote")).await;

    let (full, first) = backup(&repo, &remote, &[], &NoProgress).await.unwrap();
    let all_types = first.tables.iter().find(|t| t.name == "all_types").unwrap();
    assert_eq!(all_types.rows, ROWS as u64);
    assert_eq!(all_types.consistency, tablesafe_backup::Consistency::Exact, "exact at a stream position");
    assert!(all_types.stream_position.is_some() && all_types.fixup.is_none(), "nothing changed during the scan");
    let counters = first.tables.iter().find(|t| t.name == "counters").unwrap();
    assert_eq!((counters.rows, counters.stream_position), (50, None), "no stream, no position");
    assert_eq!(counters.consistency, tablesafe_backup::Consistency::Fuzzy);

    // 1% of the rows change: new versions for 180, and 20 deleted.
    let now = SystemClock.now_millis();
    put_all(&engine, "all_types", (0..180).map(|i| row(i * 97, &mut Rng(9), now)).collect());
    let deletes = (0..20).map(|i| RowWrite {
        table: "all_types".into(),
        change: RowChange::Delete(key(i * 101 + 1)),
        condition: Condition::default(),
        return_content: ReturnContent::None,
    });
    assert!(engine.write_rows(deletes.collect()).iter().all(Result::is_ok));
    let (layer_id, second) = backup(&repo, &remote, &["all_types".into()], &NoProgress).await.unwrap();
    let layer = &second.tables[0];
    assert_eq!((layer.base.as_deref(), layer.chain), (Some(full.as_str()), 2), "the second backup is incremental");
    assert!(second.added_bytes * 20 < first.added_bytes, "{} vs {}", second.added_bytes, first.added_bytes);
    assert_eq!(layer.rows, ROWS as u64 - 20, "the manifest counts the whole table");

    for (id, target) in [(&full, "remote_full"), (&layer_id, "remote_layer")] {
        restore(&repo, id, &remote, &restore_as("all_types", target), &NoProgress).await.unwrap();
        let report = verify_table(&repo, id, "all_types", &remote, target).await.unwrap();
        assert!(report.equal, "{id}: {report:?}");
    }
    // The embedded and remote paths agree on the content.
    let embedded = EmbeddedTables::new(Arc::clone(&engine), "test engine");
    assert!(verify_table(&repo, &full, "all_types", &embedded, "remote_full").await.unwrap().equal);
    assert!(verify_table(&repo, &layer_id, "all_types", &embedded, "all_types").await.unwrap().equal);
    assert!(!verify_table(&repo, &full, "all_types", &embedded, "all_types").await.unwrap().equal);
    // Many key ranges scanned in parallel still come out in key order, complete.
    let split = RemoteTables::new(Client::new(&endpoint, "remote", "rk", "rs").unwrap()).with_split_bytes(64 * 1024);
    let report = verify_table(&repo, &layer_id, "all_types", &split, "all_types").await.unwrap();
    assert!(report.equal, "{report:?}");
    let restored = engine.table("remote_layer").unwrap();
    assert_eq!(restored.options, engine.table("all_types").unwrap().options, "time deviation is put back");
    restore(&repo, &full, &remote, &restore_as("counters", "counters_copy"), &NoProgress).await.unwrap();
    assert!(verify_table(&repo, &full, "counters", &remote, "counters_copy").await.unwrap().equal);
}

/// A remote backup taken while writes go on is made exact at the stream position
/// after its scan: restored and replayed with the archived changes since, it
/// equals the live table; and the next incremental backup equals it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_backups_under_writes_are_exact_at_a_stream_position() {
    let (_data, engine) = filled_engine();
    let endpoint = shared::serve(&engine, "remote", ("rk", "rs")).await;
    let client = || Client::new(&endpoint, "remote", "rk", "rs").unwrap();
    let remote = RemoteTables::new(client()).with_split_bytes(256 * 1024);
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = new_repo(&repo_dir).await;
    let only = ["all_types".to_string()];
    let mut archiver = Archiver::new(RemoteTables::new(client()), ArchiveOptions::default());
    archiver.pass(&repo, &only).await.unwrap();

    let writer_engine = Arc::clone(&engine);
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(77);
        for round in 0..200 {
            let now = SystemClock.now_millis();
            // At most 2,200 keys change in all: under a fifth of the table, so
            // the copies after the first stay incremental.
            let rows = (0..10).map(|_| row(rng.below(ROWS as u64 * 2) as i64, &mut rng, now)).collect();
            put_all(&writer_engine, "all_types", rows);
            let victim = key(rng.below(ROWS as u64) as i64 + round);
            let delete = RowWrite {
                table: "all_types".into(),
                change: RowChange::Delete(victim),
                condition: Condition::default(),
                return_content: ReturnContent::None,
            };
            assert!(writer_engine.write_rows(vec![delete]).iter().all(Result::is_ok));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let (first, snapshot) = backup(&repo, &remote, &only, &NoProgress).await.unwrap();
    let table = &snapshot.tables[0];
    assert_eq!(table.consistency, tablesafe_backup::Consistency::Exact, "made exact after the scan");
    let fixup = table.fixup.as_ref().expect("writes during the scan are replayed into a fixup layer");
    assert!(fixup.changes > 0 && fixup.rows > 0, "{fixup:?}");
    archiver.pass(&repo, &only).await.unwrap();
    writer.join().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let now_us = (SystemClock.now_millis() + 1) * 1000;
    // Let the archive reach the present.
    let mut caught_up = Archiver::new(
        RemoteTables::new(client()),
        ArchiveOptions { heartbeat: std::time::Duration::ZERO, ..ArchiveOptions::default() },
    );
    caught_up.pass(&repo, &only).await.unwrap();

    // The snapshot restores (its digest holds) and, replayed to now, equals the table.
    let embedded = EmbeddedTables::new(Arc::clone(&engine), "test engine");
    let options = restore_as("all_types", "replayed");
    let report = tablesafe_backup::restore_to_time(&repo, &remote, &options, now_us, None, &NoProgress).await.unwrap();
    assert_eq!(report.snapshot, first);
    assert!(report.changes_replayed > 0);
    let (live, live_snapshot) = backup(&repo, &embedded, &only, &NoProgress).await.unwrap();
    let report = verify_table(&repo, &live, "all_types", &embedded, "replayed").await.unwrap();
    assert!(report.equal, "{report:?}");
    // The data directory and its endpoint share the stream: the engine's copy
    // continues the remote one, and the next remote copy continues it in turn.
    assert_eq!(live_snapshot.tables[0].base.as_deref(), Some(first.as_str()));

    let (second, snapshot) = backup(&repo, &remote, &only, &NoProgress).await.unwrap();
    assert_eq!(snapshot.tables[0].base.as_deref(), Some(live.as_str()));
    assert!(snapshot.tables[0].fixup.is_none(), "no writes during this scan");
    let report = verify_table(&repo, &second, "all_types", &embedded, "all_types").await.unwrap();
    assert!(report.equal, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_incremental_backups_restores_every_point() {
    let Fixture { engine, repo, tables, _dirs } = Fixture::new().await;
    let only = ["all_types".to_string()];
    let mut ids = vec![backup(&repo, &tables, &only, &NoProgress).await.unwrap().0];
    let mut rng = Rng(99);
    for round in 0..4i64 {
        let now = SystemClock.now_millis();
        let mut writes: Vec<RowWrite> = (0..150)
            .map(|_| {
                let i = rng.below(ROWS as u64 + 500) as i64;
                RowWrite {
                    table: "all_types".into(),
                    change: if i % 3 == 0 {
                        RowChange::Delete(key(i))
                    } else {
                        RowChange::Put(row(i, &mut Rng(i as u64 + 1), now))
                    },
                    condition: Condition::default(),
                    return_content: ReturnContent::None,
                }
            })
            .collect();
        // Rows deleted and put back within one round, and new keys beyond the original ones.
        writes.push(RowWrite {
            table: "all_types".into(),
            change: RowChange::Delete(key(round)),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        });
        for chunk in writes.chunks(50) {
            assert!(engine.write_rows(chunk.to_vec()).iter().all(Result::is_ok));
        }
        let (id, snapshot) = backup(&repo, &tables, &only, &NoProgress).await.unwrap();
        assert_eq!(snapshot.tables[0].chain, round as u32 + 2);
        ids.push(id);
    }
    for (n, id) in ids.iter().enumerate() {
        let target = format!("point_{n}");
        restore(&repo, id, &tables, &restore_as("all_types", &target), &NoProgress).await.unwrap();
        let report = verify_table(&repo, id, "all_types", &tables, &target).await.unwrap();
        assert!(report.equal, "snapshot {n}: {report:?}");
    }
    let latest = verify_table(&repo, ids.last().unwrap(), "all_types", &tables, "all_types").await.unwrap();
    assert!(latest.equal, "the newest snapshot equals the live table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_keeps_bases_and_prune_removes_only_unneeded_data() {
    let Fixture { engine, repo, tables, _dirs } = Fixture::new().await;
    let only = ["all_types".to_string()];
    let (full, _) = backup(&repo, &tables, &only, &NoProgress).await.unwrap();
    put_all(&engine, "all_types", (0..100).map(|i| row(i, &mut Rng(3), SystemClock.now_millis())).collect());
    let (layer, _) = backup(&repo, &tables, &only, &NoProgress).await.unwrap();
    // The layer builds on the full copy: forgetting the full copy keeps it.
    let report = forget(&repo, &ForgetPolicy::KeepLast(1)).await.unwrap();
    assert_eq!((report.forgotten.clone(), report.kept_as_base.clone()), (vec![], vec![full.clone()]));

    // A table without a stream is copied whole each time; forgetting the old copy frees its data.
    let counters = ["counters".to_string()];
    let (old, _) = backup(&repo, &tables, &counters, &NoProgress).await.unwrap();
    put_all(
        &engine,
        "counters",
        vec![Row {
            primary_key: PrimaryKey::new([("g", PkValue::String("b".into())), ("n", PkValue::AutoIncrement)]),
            cells: vec![Cell::put("v", Value::String("x".repeat(1000)))],
            ..Row::default()
        }],
    );
    let (new, _) = backup(&repo, &tables, &counters, &NoProgress).await.unwrap();
    let report = forget(&repo, &ForgetPolicy::Ids(vec![old[..10].to_string()])).await.unwrap();
    assert_eq!(report.forgotten, vec![old.clone()]);
    let stats = prune(&repo).await.unwrap();
    assert!(stats.chunks_removed >= 1, "{stats:?}");
    let check = repo.check(true).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "the repository checks clean after prune: {check:?}");
    for (id, table, target) in [(&new, "counters", "p1"), (&layer, "all_types", "p2")] {
        restore(&repo, id, &tables, &restore_as(table, target), &NoProgress).await.unwrap();
        assert!(verify_table(&repo, id, table, &tables, target).await.unwrap().equal);
    }
    assert!(matches!(
        restore(&repo, &old, &tables, &restore_as("counters", "p3"), &NoProgress).await,
        Err(BackupError::NotFound(_))
    ));
    assert!(tablesafe_backup::check_snapshots(&repo).await.unwrap().is_empty());
    // A base removed behind the repository's back is reported.
    repo.delete_manifest("snapshots", &full).await.unwrap();
    let problems = tablesafe_backup::check_snapshots(&repo).await.unwrap();
    assert!(problems.iter().any(|p| p.contains(&layer) && p.contains("builds on")), "{problems:?}");
}

/// A plan's retention keeps exactly what its rules say: kept incremental layers
/// whose bases are forgotten are rewritten as full copies, and every kept snapshot
/// still restores equal to the table it was taken of, also after prune.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_retention_rewrites_kept_layers_and_keeps_exactly_the_rule() {
    let Fixture { engine, repo, tables, _dirs } = Fixture::new().await;
    let only = ["all_types".to_string()];
    // A snapshot by hand, which the plan's retention must leave alone.
    let (by_hand, _) = backup(&repo, &tables, &only, &NoProgress).await.unwrap();
    let mut ids = Vec::new();
    for round in 0..6i64 {
        let now = SystemClock.now_millis();
        put_all(&engine, "all_types", (0..40).map(|i| row(i * 97 + round, &mut Rng(round as u64 + 7), now)).collect());
        let (id, snapshot) = backup_for_plan(&repo, &tables, &only, Some("p"), &NoProgress).await.unwrap();
        assert!(snapshot.tables[0].base.is_some(), "round {round}: an incremental layer");
        // What the table holds now, to compare the kept snapshots with later.
        let copy = format!("state_{round}");
        restore(&repo, &id, &tables, &restore_as("all_types", &copy), &NoProgress).await.unwrap();
        ids.push(id);
    }
    let policy = ForgetPolicy::Plan {
        plan: "p".into(),
        retention: Retention { keep_last: Some(3), ..Retention::default() },
        timezone: jiff::tz::TimeZone::UTC,
    };
    let report = forget(&repo, &policy).await.unwrap();
    assert_eq!(report.forgotten, ids[..3].to_vec());
    assert!(report.kept_as_base.is_empty(), "{report:?}");
    assert_eq!(report.rewritten_as_full, vec![ids[3].clone()], "only the oldest kept layer built on a forgotten one");
    let remaining: Vec<String> = list_snapshots(&repo).await.unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(remaining, [vec![by_hand.clone()], ids[3..].to_vec()].concat());
    prune(&repo).await.unwrap();
    assert!(tablesafe_backup::check_snapshots(&repo).await.unwrap().is_empty());
    for (round, id) in ids.iter().enumerate().skip(3) {
        let (_, snapshot) = tablesafe_backup::load_snapshot(&repo, id).await.unwrap();
        assert_eq!(snapshot.tables[0].base.is_none(), round == 3);
        let report = verify_table(&repo, id, "all_types", &tables, &format!("state_{round}")).await.unwrap();
        assert!(report.equal, "round {round}: {report:?}");
    }
    // The next backup still builds on the plan's newest snapshot.
    let (_, next) = backup_for_plan(&repo, &tables, &only, Some("p"), &NoProgress).await.unwrap();
    assert_eq!(next.tables[0].base.as_deref(), Some(ids[5].as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_to_an_s3_server_restore_and_verify() {
    let (_data, engine) = filled_engine();
    let url = support::s3::MotoServer::shared().fresh_url("backup");
    let repo = repo_at(&url).await;
    let tables = EmbeddedTables::new(Arc::clone(&engine), "test engine");
    let (full, first) = backup(&repo, &tables, &[], &NoProgress).await.unwrap();
    put_all(&engine, "all_types", (0..200).map(|i| row(i * 50, &mut Rng(5), SystemClock.now_millis())).collect());
    let (layer, second) = backup(&repo, &tables, &["all_types".into()], &NoProgress).await.unwrap();
    assert!(second.added_bytes * 20 < first.added_bytes, "{} vs {}", second.added_bytes, first.added_bytes);
    for (id, target) in [(&full, "s3_full"), (&layer, "s3_layer")] {
        restore(&repo, id, &tables, &restore_as("all_types", target), &NoProgress).await.unwrap();
        assert!(verify_table(&repo, id, "all_types", &tables, target).await.unwrap().equal);
    }
    // Reopened from the bucket alone, the repository checks clean.
    let reopened = Repository::open(
        Storage::from_url(&url).unwrap(),
        &tablesafe_repo::Unlock { password: Some("pw".into()), identities: vec![] },
    )
    .await
    .unwrap();
    let check = reopened.check(true).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "{check:?}");
}
