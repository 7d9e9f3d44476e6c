//! Every kind of object a repository holds, damaged three ways: one byte flipped,
//! the object cut in half, the object deleted. For each, verification (what
//! `tablesafe verify --read-data` runs) reports it, as a problem or, for job
//! records and locks, at least a warning; and no restore, of a snapshot or to the
//! newest instant, gives rows other than the intact repository gives: it fails or
//! it is exact. The one damage with nothing to report is a deleted lock, which
//! loses nothing; the test shows the restores stay exact then too.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::notes::{update_notes, NotesChange};
use tablesafe_backup::{
    backup, record_job, recovery_points, restore, restore_to_time, verify_repository, EmbeddedTables, JobKind,
    JobRecord, NoProgress, RestoreOptions,
};
use tablesafe_common::SystemClock;
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_proto::model::{Row, TableOptions};
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage, Unlock};

use support::{create, put, random_writes, read_all, Rng};

fn kdf() -> KdfParams {
    KdfParams { m_kib: 256, t: 1, p: 1 }
}

fn unlock() -> Unlock {
    Unlock { password: Some("pw".into()), identities: vec![] }
}

/// A copy of every object of `from` in a new in-memory repository location.
async fn copy(from: &Storage, name: &str) -> Storage {
    let to = Storage::memory(name);
    for (path, _) in from.list("").await.unwrap() {
        to.write(&path, from.read(&path).await.unwrap()).await.unwrap();
    }
    to
}

/// What a restore gives: each snapshot's rows, and the rows at the newest instant.
#[derive(Debug, PartialEq)]
struct Restored {
    snapshots: BTreeMap<String, Result<Vec<Row>, String>>,
    newest: Result<Vec<Row>, String>,
}

async fn restore_all(
    repo: &Repository,
    engine: &Arc<Engine>,
    snapshots: &[String],
    newest_us: i64,
    tag: &str,
) -> Restored {
    let tables = EmbeddedTables::new(Arc::clone(engine), "corruption engine");
    let mut restored = BTreeMap::new();
    for (i, id) in snapshots.iter().enumerate() {
        let target = format!("{tag}_s{i}");
        let options = RestoreOptions { table: "t".into(), target: Some(target.clone()), ..RestoreOptions::default() };
        let rows = match restore(repo, id, &tables, &options, &NoProgress).await {
            Ok(_) => Ok(read_all(engine, &target)),
            Err(error) => Err(error.to_string()),
        };
        restored.insert(id.clone(), rows);
    }
    let target = format!("{tag}_now");
    let options = RestoreOptions { table: "t".into(), target: Some(target.clone()), ..RestoreOptions::default() };
    let newest = match restore_to_time(repo, &tables, &options, newest_us, None, &NoProgress).await {
        Ok(_) => Ok(read_all(engine, &target)),
        Err(error) => Err(error.to_string()),
    };
    Restored { snapshots: restored, newest }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_damaged_object_is_reported_and_no_restore_is_silently_wrong() {
    let data = tempfile::tempdir().unwrap();
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(data.path(), options, Arc::new(SystemClock)).unwrap());
    create(&engine, "t", TableOptions { max_versions: 3, ..TableOptions::default() });
    let tables = EmbeddedTables::new(Arc::clone(&engine), "corruption engine");

    // A repository holding one object of every kind, at least.
    let pristine = Storage::memory("corruption-pristine");
    let init = InitOptions { password: Some("pw".into()), kdf: kdf(), ..InitOptions::default() };
    let repo = Repository::init(pristine.clone(), init).await.unwrap();
    repo.add_password_key("second", kdf()).await.unwrap();
    let mut rng = Rng(7);
    random_writes(&engine, &mut rng, "t", 60);
    let (full, _) = backup(&repo, &tables, &[], &NoProgress).await.unwrap();
    let archive = ArchiveOptions { heartbeat: Duration::ZERO, ..ArchiveOptions::default() };
    let mut archiver = Archiver::new(EmbeddedTables::new(Arc::clone(&engine), "corruption engine"), archive);
    random_writes(&engine, &mut rng, "t", 30);
    archiver.pass(&repo, &[]).await.unwrap(); // A small segment, inline.
    put(&engine, "t", 1000..1400, &"x".repeat(1024));
    archiver.pass(&repo, &[]).await.unwrap(); // Over 256 KiB: a segment in chunks.
    let (layer, _) = backup(&repo, &tables, &[], &NoProgress).await.unwrap();
    random_writes(&engine, &mut rng, "t", 30);
    archiver.pass(&repo, &[]).await.unwrap();
    let change = NotesChange { add_tags: vec!["monthly".into()], protected: Some(true), ..NotesChange::default() };
    update_notes(&repo, &full, &change).await.unwrap();
    let job = JobRecord {
        kind: JobKind::Verify,
        started_ms: 1,
        finished_ms: 2,
        succeeded: true,
        error: None,
        tables: vec![],
        rows: 0,
        bytes: 0,
        snapshot: None,
        location: None,
    };
    record_job(&repo, &job).await.unwrap();
    let lock = br#"{"kind":"shared","host":"another-host","pid":1,"created_ms":1,"refreshed_ms":1}"#;
    pristine.write("locks/00112233445566778899aabbccddeeff", lock.to_vec()).await.unwrap();

    let fresh = Repository::open(pristine.clone(), &unlock()).await.unwrap();
    let intact = verify_repository(&fresh, true).await.unwrap();
    assert!(intact.problems.is_empty() && intact.warnings.is_empty(), "{intact:?}");
    let snapshots = vec![full.clone(), layer.clone()];
    let windows = recovery_points(&fresh, Some("t")).await.unwrap();
    let newest_us = windows.iter().filter_map(|w| w.latest_us).max().unwrap();
    let expected = restore_all(&fresh, &engine, &snapshots, newest_us, "intact").await;
    assert!(expected.snapshots.values().all(Result::is_ok) && expected.newest.is_ok(), "{expected:?}");
    assert_eq!(expected.newest.as_ref().unwrap(), &read_all(&engine, "t"));

    let objects: Vec<(String, u64)> = pristine.list("").await.unwrap();
    let kinds: std::collections::BTreeSet<&str> = objects.iter().map(|(p, _)| p.split('/').next().unwrap()).collect();
    for kind in
        ["config", "keys", "index", "data", "snapshots", "changes", "snapshot-notes", "jobs", "locks", "catalog"]
    {
        assert!(kinds.contains(kind), "the repository holds no {kind} object: {kinds:?}");
    }
    let mut case = 0;
    let mut unreported = Vec::new();
    for (path, size) in &objects {
        // Beyond damage that authentication catches: bytes that still parse or open, in the wrong place.
        let extra: &[&str] = match path.split('/').next().unwrap() {
            "config" => &["edit-id"],
            "snapshots" => &["swap"],
            _ => &[],
        };
        for damage in ["flip", "truncate", "delete"].iter().chain(extra) {
            let damage = *damage;
            case += 1;
            let store = copy(&pristine, &format!("corruption-{case}")).await;
            let bytes = pristine.read(path).await.unwrap();
            match damage {
                "flip" => {
                    let mut flipped = bytes.clone();
                    let at = flipped.len() / 2;
                    flipped[at] ^= 0xff;
                    store.write(path, flipped).await.unwrap();
                }
                "truncate" => store.write(path, bytes[..bytes.len() / 2].to_vec()).await.unwrap(),
                "edit-id" => {
                    // One hex digit of the id changed: still a config that parses.
                    let text = String::from_utf8(bytes.clone()).unwrap();
                    let at = text.find("\"id\": \"").unwrap() + 7;
                    let digit = if &text[at..=at] == "0" { "1" } else { "0" };
                    let edited = format!("{}{digit}{}", &text[..at], &text[at + 1..]);
                    store.write(path, edited.into_bytes()).await.unwrap();
                }
                "swap" => {
                    // Another snapshot's manifest in its place: it opens (same kind, same key).
                    let other = snapshots.iter().find(|id| !path.ends_with(id.as_str())).unwrap();
                    store.write(path, pristine.read(&format!("snapshots/{other}")).await.unwrap()).await.unwrap();
                }
                _ => store.delete(path).await.unwrap(),
            }
            let context = format!("{damage} {path} ({size} bytes)");
            let repo = match Repository::open(store.clone(), &unlock()).await {
                Ok(repo) => repo,
                // Reported: the repository does not open (its config, or the key that opens it).
                Err(error) => {
                    eprintln!("{context}: open fails: {error}");
                    continue;
                }
            };
            let found = match verify_repository(&repo, true).await {
                Ok(found) => found,
                Err(error) => {
                    eprintln!("{context}: verify fails: {error}");
                    continue;
                }
            };
            let lock_deleted = path.starts_with("locks/") && damage == "delete";
            if found.problems.is_empty() && found.warnings.is_empty() && !lock_deleted {
                unreported.push(context.clone());
            }
            // Job records and locks cost no restore point, nor does a catalog file whose objects are all
            // there (they are reported as unrecorded): a warning is enough for them.
            let warning_enough = path.starts_with("locks/")
                || path.starts_with("jobs/")
                || (path.starts_with("catalog/") && damage == "delete");
            if found.problems.is_empty() && !warning_enough && !lock_deleted {
                unreported.push(format!("{context}: only warnings: {:?}", found.warnings));
            }
            if damage == "delete" && path.starts_with("changes/") {
                // The restorable window says why it stops or breaks there.
                let id = path.trim_start_matches("changes/");
                let windows = recovery_points(&repo, Some("t")).await.unwrap();
                let said = windows
                    .iter()
                    .any(|w| w.gaps.iter().any(|g| g.cause.contains(id)) || w.notes.iter().any(|n| n.contains(id)));
                assert!(said, "{context}: recovery points do not name the lost segment: {windows:#?}");
            }
            // No restore gives other rows than the intact repository: it fails, or it is exact.
            let got = restore_all(&repo, &engine, &snapshots, newest_us, &format!("c{case}")).await;
            for (id, rows) in &got.snapshots {
                if let Ok(rows) = rows {
                    assert_eq!(
                        Ok(rows),
                        expected.snapshots[id].as_ref(),
                        "{context}: snapshot {id} restores wrong rows"
                    );
                }
            }
            if let Ok(rows) = &got.newest {
                assert_eq!(
                    rows,
                    expected.newest.as_ref().unwrap(),
                    "{context}: the newest instant restores wrong rows"
                );
            }
            let problem = found.problems.first().or(found.warnings.first()).map(|f| f.problem.as_str());
            eprintln!("{context}: {problem:?}");
        }
    }
    assert!(unreported.is_empty(), "damage that verification did not report: {unreported:#?}");
}
