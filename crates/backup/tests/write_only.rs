//! A host with a write-only key backs up and archives a table it cannot read
//! back: through the API its own segments do not open, and in the objects it
//! wrote (and the manifests its key opens, snapshot manifests with their digest
//! leaves included) not one key or value of the table appears; every other API
//! that reads rows (chunks, snapshot rows, diff, verify-restore, restore, restore
//! to a time, verify reading data) refuses it, and what it does answer (verify, stats, recovery
//! points, the snapshot list) holds none of them; a key that reads data finds
//! them all.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::archive::{all_segments, ArchiveOptions, Archiver, SegmentChanges};
use tablesafe_backup::manifest::digest_leaves;
use tablesafe_backup::{
    backup, diff_snapshots, list_snapshots, load_snapshot, recovery_points, repository_stats, restore, restore_to_time,
    verify_repository, verify_table, BackupError, EmbeddedTables, NoProgress, RestoreOptions, SnapshotRows,
};
use tablesafe_common::SystemClock;
use tablesafe_engine::{Engine, EngineOptions, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::*;
use tablesafe_repo::{InitOptions, KdfParams, RepoError, Repository, Storage, Unlock};

/// In every value written, and (as its decimal digits) every key.
const NEEDLE: &str = "needle-7f3a9c";
const KEY_BASE: i64 = 918_273_645;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn holds(bytes: &[u8], what: &str) -> bool {
    bytes.windows(what.len()).any(|w| w == what.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_archiver_learns_no_key_or_value_of_what_it_archives() {
    let data = tempfile::tempdir().unwrap();
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(data.path(), options, Arc::new(SystemClock)).unwrap());
    support::create(&engine, "t", TableOptions::default());
    let write = |round: i64| {
        let writes = (0..20)
            .map(|i| RowWrite {
                table: "t".into(),
                change: RowChange::Put(Row {
                    primary_key: support::key(KEY_BASE + round * 100 + i),
                    cells: vec![Cell::put("v", Value::String(format!("{NEEDLE} {round} {i}")))],
                    ..Row::default()
                }),
                condition: Condition::default(),
                return_content: ReturnContent::None,
            })
            .collect();
        for result in engine.write_rows(writes) {
            result.unwrap();
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let storage = || Storage::from_url(dir.path().to_str().unwrap()).unwrap();
    let owner = age::x25519::Identity::generate();
    let host = age::x25519::Identity::generate();
    let init = InitOptions {
        recipients: vec![owner.to_public().to_string()],
        write_only_recipients: vec![host.to_public().to_string()],
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    Repository::init(storage(), init).await.unwrap();
    let writer = Repository::open(storage(), &Unlock { password: None, identities: vec![host] }).await.unwrap();
    assert!(!writer.can_read_data());

    // A snapshot first (its digest leaves name primary keys), then the archive.
    write(9);
    let (snapshot_id, _) =
        backup(&writer, &EmbeddedTables::new(Arc::clone(&engine), "engine"), &[], &NoProgress).await.unwrap();
    // Small inline segments, three of which are merged into a packed one.
    let archive = ArchiveOptions { heartbeat: Duration::ZERO, compact_after: 3, ..ArchiveOptions::default() };
    let mut archiver = Archiver::new(EmbeddedTables::new(Arc::clone(&engine), "engine"), archive);
    archiver.pass(&writer, &[]).await.unwrap(); // starts at the stream's end
    for round in 0..4 {
        write(round);
        archiver.pass(&writer, &[]).await.unwrap();
    }
    let segments = all_segments(&writer).await.unwrap();
    assert!(segments.iter().any(|(_, s)| s.inline.is_some()), "an inline segment: {segments:?}");
    assert!(segments.iter().any(|(_, s)| !s.chunks.is_empty()), "a packed (compacted) one: {segments:?}");
    assert_eq!(segments.iter().map(|(_, s)| s.changes).sum::<u64>(), 80);

    // Through the API: not one change opens with the write-only key.
    for (id, segment) in &segments {
        assert_refused(&format!("segment {id}"), SegmentChanges::new(&writer, id, segment.clone()).next().await);
    }
    // In the objects, and in every manifest as the write-only key opens it.
    let keys: Vec<String> =
        [0, 1, 2, 3, 9].into_iter().flat_map(|r| (0..20).map(move |i| (KEY_BASE + r * 100 + i).to_string())).collect();
    let mut files = Vec::new();
    walk(dir.path(), &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(!holds(&bytes, NEEDLE), "{}", file.display());
    }
    for (id, _) in &segments {
        let manifest = writer.load_manifest("changes", id).await.unwrap();
        assert!(!holds(&manifest, NEEDLE) && !keys.iter().any(|k| holds(&manifest, k)), "{id}");
        let json: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        if let Some(inline) = json["inline"].as_str() {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.decode(inline).unwrap();
            assert!(zstd::bulk::decompress(&raw, 1 << 20).is_err(), "{id}: the inline changes are not plain zstd");
        }
    }

    // The snapshot's manifest as the write-only key opens it names no key: the
    // digest leaves (hex PlainBuffer keys) are there only for a key that reads data.
    let reader = Repository::open(storage(), &Unlock { password: None, identities: vec![owner] }).await.unwrap();
    let (_, as_read) = load_snapshot(&reader, &snapshot_id).await.unwrap();
    let leaves = digest_leaves(&reader, &snapshot_id, &as_read.tables[0]).await.unwrap();
    assert!(!leaves.is_empty());
    let manifest = writer.load_manifest("snapshots", &snapshot_id).await.unwrap();
    for leaf in &leaves {
        assert!(!holds(&manifest, &leaf.first_key) && !holds(&manifest, &leaf.last_key), "{leaf:?}");
    }
    assert!(!keys.iter().any(|k| holds(&manifest, k)) && !holds(&manifest, NEEDLE));
    let (_, as_written) = load_snapshot(&writer, &snapshot_id).await.unwrap();
    assert!(as_written.tables[0].digest.leaves.is_empty(), "a write-only key gets no leaves");
    assert_refused("digest_leaves", digest_leaves(&writer, &snapshot_id, &as_written.tables[0]).await);
    assert_eq!(as_written.tables[0].digest.root, as_read.tables[0].digest.root);

    // Every other way the library reads rows refuses the write-only key with the
    // same error, and what it does answer (metadata) holds no key or value.
    let table = &as_written.tables[0];
    let chunk = tablesafe_repo::crypto::unhex32(&table.chunks[0]).unwrap();
    assert_refused("read_chunk", writer.read_chunk(&chunk).await.map_err(BackupError::Repo));
    let mut rows = SnapshotRows::open(&writer, &snapshot_id, table).await.unwrap();
    assert_refused("SnapshotRows", rows.next().await);
    write(5);
    let (second, _) =
        backup(&writer, &EmbeddedTables::new(Arc::clone(&engine), "engine"), &[], &NoProgress).await.unwrap();
    assert_refused("diff_snapshots", diff_snapshots(&writer, &snapshot_id, &second, None).await);
    let tables = EmbeddedTables::new(Arc::clone(&engine), "engine");
    assert_refused("verify_table", verify_table(&writer, &snapshot_id, "t", &tables, "t").await);
    let options = RestoreOptions { table: "t".into(), target: Some("copy".into()), ..RestoreOptions::default() };
    assert_refused("restore", restore(&writer, &snapshot_id, &tables, &options, &NoProgress).await);
    let at_us = table.position_time_us.unwrap();
    assert_refused("restore_to_time", restore_to_time(&writer, &tables, &options, at_us, None, &NoProgress).await);
    assert!(!engine.list_tables().contains(&"copy".to_owned()), "a refused restore left a table");
    assert_refused("verify --read-data", verify_repository(&writer, true).await);
    let metadata = format!(
        "{:?} {:?} {:?} {:?}",
        verify_repository(&writer, false).await.unwrap(),
        repository_stats(&writer).await.unwrap(),
        recovery_points(&writer, None).await.unwrap(),
        list_snapshots(&writer).await.unwrap(),
    );
    assert!(!holds(metadata.as_bytes(), NEEDLE) && !keys.iter().any(|k| holds(metadata.as_bytes(), k)), "{metadata}");

    // A key that reads data reads every change, values and keys included.
    let mut seen = 0;
    for (id, segment) in all_segments(&reader).await.unwrap() {
        let mut changes = SegmentChanges::new(&reader, &id, segment);
        while let Some(change) = changes.next().await.unwrap() {
            let text = format!("{change:?}");
            assert!(text.contains(NEEDLE) && keys.iter().any(|k| text.contains(k.as_str())), "{text}");
            seen += 1;
        }
    }
    assert_eq!(seen, 80);
}

/// Asserts that `what` was refused because the key cannot read data.
fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T, BackupError>) {
    match result {
        Err(BackupError::Repo(RepoError::WriteOnly)) => {}
        other => panic!("{what} with a write-only key: {other:?}"),
    }
}
