//! The repository on a real filesystem: round trips, dedup, keys, and damage.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use tablesafe_repo::{ChunkId, InitOptions, KdfParams, RepoError, Repository, Storage, Unlock};

const FAST_KDF: KdfParams = KdfParams { m_kib: 256, t: 1, p: 1 };
const PASSWORD: &str = "correct horse battery staple";

fn storage(dir: &tempfile::TempDir) -> Storage {
    Storage::from_url(dir.path().to_str().unwrap()).unwrap()
}

fn with_password() -> InitOptions {
    InitOptions { password: Some(PASSWORD.into()), kdf: FAST_KDF, ..InitOptions::default() }
}

fn password() -> Unlock {
    Unlock { password: Some(PASSWORD.into()), identities: vec![] }
}

/// Recognisable "row data": a marker repeated, plus varying bytes.
fn table_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(b"ROWDATA-secret-");
        for _ in 0..17 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(b'a' + (x % 26) as u8);
        }
    }
    out.truncate(len);
    out
}

async fn store(repo: &Repository, data: &[u8]) -> (Vec<ChunkId>, tablesafe_repo::WriteStats) {
    let mut chunker = repo.chunker();
    let mut writer = repo.writer();
    let mut ids = Vec::new();
    for piece in data.chunks(100_000) {
        for chunk in chunker.push(piece) {
            ids.push(writer.add(&chunk).await.unwrap());
        }
    }
    for chunk in chunker.finish() {
        ids.push(writer.add(&chunk).await.unwrap());
    }
    (ids, writer.finish().await.unwrap())
}

async fn load(repo: &Repository, ids: &[ChunkId]) -> Vec<u8> {
    let mut out = Vec::new();
    for id in ids {
        out.extend(repo.read_chunk(id).await.unwrap());
    }
    out
}

async fn all_objects(storage: &Storage) -> Vec<String> {
    storage.list("").await.unwrap().into_iter().map(|(p, _)| p).collect()
}

#[tokio::test]
async fn data_round_trips_dedups_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(storage(&dir), with_password()).await.unwrap();
    let data = table_bytes(6_000_000, 1);
    let (ids, first) = store(&repo, &data).await;
    assert_eq!(first.new_chunks, first.chunks);
    assert_eq!(load(&repo, &ids).await, data);

    // The same data again stores nothing; a local change stores a little.
    let (again, second) = store(&repo, &data).await;
    assert_eq!((again, second.new_chunks, second.stored_bytes), (ids.clone(), 0, 0));
    let mut changed = data.clone();
    changed[3_000_000..3_000_100].copy_from_slice(&[b'#'; 100]);
    let (changed_ids, third) = store(&repo, &changed).await;
    assert!(third.new_chunks <= 2 && third.stored_bytes * 5 < first.stored_bytes, "{third:?} vs {first:?}");

    let manifest = repo.save_manifest("snapshots", b"{\"tables\":1}").await.unwrap();
    drop(repo);
    let repo = Repository::open(storage(&dir), &password()).await.unwrap();
    assert_eq!(load(&repo, &changed_ids).await, changed);
    assert_eq!(repo.load_manifest("snapshots", &manifest).await.unwrap(), b"{\"tables\":1}");
    assert_eq!(repo.list_manifests("snapshots").await.unwrap(), vec![manifest]);
    let check = repo.check(true).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "{check:?}");

    // Nothing of the row data is visible in any object.
    let st = storage(&dir);
    for path in all_objects(&st).await {
        let bytes = st.read(&path).await.unwrap();
        assert!(!bytes.windows(15).any(|w| w == b"ROWDATA-secret-"), "plaintext in {path}");
        assert!(!bytes.windows(8).any(|w| w == b"\"tables\""), "manifest plaintext in {path}");
    }
}

#[tokio::test]
async fn wrong_keys_are_clear_errors_and_age_only_repositories_need_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    Repository::init(storage(&dir), with_password()).await.unwrap();
    let wrong = Unlock { password: Some("nope".into()), identities: vec![] };
    let err = Repository::open(storage(&dir), &wrong).await.unwrap_err();
    assert!(matches!(err, RepoError::WrongKey), "{err}");
    assert!(err.to_string().contains("wrong password"));
    let again = Repository::init(storage(&dir), with_password()).await.unwrap_err();
    assert!(matches!(again, RepoError::AlreadyExists { .. }));

    let dir = tempfile::tempdir().unwrap();
    let owner = age::x25519::Identity::generate();
    let host = age::x25519::Identity::generate();
    let options = InitOptions {
        recipients: vec![owner.to_public().to_string()],
        write_only_recipients: vec![host.to_public().to_string()],
        kdf: FAST_KDF,
        ..InitOptions::default()
    };
    Repository::init(storage(&dir), options).await.unwrap();
    // The host writes a backup it cannot read.
    let writer = Repository::open(storage(&dir), &Unlock { password: None, identities: vec![host] }).await.unwrap();
    assert!(!writer.can_read_data());
    let data = table_bytes(500_000, 2);
    let (ids, _) = store(&writer, &data).await;
    assert!(matches!(writer.read_chunk(&ids[0]).await, Err(RepoError::WriteOnly)));
    // Without an identity nothing opens; with the owner's, everything does.
    let none = Repository::open(storage(&dir), &Unlock::default()).await.unwrap_err();
    assert!(matches!(none, RepoError::WrongKey));
    let stranger = Unlock { password: None, identities: vec![age::x25519::Identity::generate()] };
    assert!(matches!(Repository::open(storage(&dir), &stranger).await, Err(RepoError::WrongKey)));
    let reader = Repository::open(storage(&dir), &Unlock { password: None, identities: vec![owner] }).await.unwrap();
    assert_eq!(load(&reader, &ids).await, data);
}

#[tokio::test]
async fn a_flipped_byte_in_any_object_is_named_and_never_read_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(storage(&dir), with_password()).await.unwrap();
    let data = table_bytes(1_500_000, 3);
    let (ids, _) = store(&repo, &data).await;
    repo.save_manifest("snapshots", b"manifest").await.unwrap();
    let st = storage(&dir);
    let objects: Vec<String> =
        all_objects(&st).await.into_iter().filter(|p| p.starts_with("data/") || p.starts_with("index/")).collect();
    assert!(objects.iter().any(|p| p.starts_with("data/")) && objects.iter().any(|p| p.starts_with("index/")));
    for path in objects
        .iter()
        .chain(std::iter::once(&format!("snapshots/{}", repo.list_manifests("snapshots").await.unwrap()[0])))
    {
        let original = st.read(path).await.unwrap();
        for at in [0, original.len() / 2, original.len() - 1] {
            let mut damaged = original.clone();
            damaged[at] ^= 0x01;
            st.write(path, damaged).await.unwrap();
            let fresh = Repository::open(storage(&dir), &password()).await;
            let named = match fresh {
                Err(e) => e.to_string(),
                Ok(fresh) => {
                    if path.starts_with("snapshots/") {
                        let id = path.trim_start_matches("snapshots/");
                        assert!(fresh.load_manifest("snapshots", id).await.is_err());
                        // The check opens every manifest, even without reading data.
                        let problems = fresh.check(false).await.unwrap().problems;
                        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    } else {
                        let problems = fresh.check(true).await.unwrap().problems;
                        assert!(!problems.is_empty(), "flip at {at} of {path} not found");
                        // Reading the data gives an error, never wrong bytes.
                        for id in &ids {
                            if let Ok(chunk) = fresh.read_chunk(id).await {
                                assert!(data.windows(chunk.len()).any(|w| w == chunk.as_slice()));
                            }
                        }
                        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    }
                }
            };
            assert!(named.contains(path.as_str()), "flip at {at} of {path}: {named}");
            st.write(path, original.clone()).await.unwrap();
        }
    }
    let check = Repository::open(storage(&dir), &password()).await.unwrap().check(true).await.unwrap();
    assert!(check.problems.is_empty(), "{check:?}");
}

#[tokio::test]
async fn shared_and_exclusive_locks_exclude_each_other_and_stale_locks_do_not_block() {
    use tablesafe_repo::LockKind::{Exclusive, Shared};
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(storage(&dir), with_password()).await.unwrap();
    let a = repo.lock(Shared).await.unwrap();
    let b = repo.lock(Shared).await.unwrap();
    let err = repo.lock(Exclusive).await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }) && err.to_string().contains("shared lock of process"), "{err}");
    a.release().await;
    b.release().await;
    let x = repo.lock(Exclusive).await.unwrap();
    assert!(matches!(repo.lock(Shared).await, Err(RepoError::Locked { .. })));
    x.release().await;
    // A lock its holder stopped refreshing long ago belongs to a dead process.
    let stale = br#"{"kind":"exclusive","host":"gone","pid":1,"created_ms":0,"refreshed_ms":0}"#;
    storage(&dir).write("locks/deadbeef", stale.to_vec()).await.unwrap();
    let x = repo.lock(Exclusive).await.unwrap();
    assert!(!storage(&dir).exists("locks/deadbeef").await.unwrap(), "the exclusive taker removes stale locks");
    x.release().await;
    assert!(storage(&dir).list("locks").await.unwrap().is_empty());
}

/// Staleness is decided on the repository's clock: another host's lock blocks an
/// exclusive taker until the clock passes its last refresh by `STALE_AFTER_MS`.
#[tokio::test]
async fn a_lock_goes_stale_on_the_repositorys_clock() {
    use tablesafe_common::ManualClock;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_800_000_000_000);
    let repo = Repository::init(storage(&dir), with_password()).await.unwrap().with_clock(clock.clone());
    let other = format!(
        r#"{{"kind":"shared","host":"another-host","pid":7,"created_ms":{now},"refreshed_ms":{now}}}"#,
        now = 1_800_000_000_000i64
    );
    storage(&dir).write("locks/0ther", other.into_bytes()).await.unwrap();
    clock.advance(tablesafe_repo::STALE_AFTER_MS - 1);
    let err = repo.lock(tablesafe_repo::LockKind::Exclusive).await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    clock.advance(1);
    let x = repo.lock(tablesafe_repo::LockKind::Exclusive).await.unwrap();
    assert!(!storage(&dir).exists("locks/0ther").await.unwrap(), "the stale lock was removed");
    x.release().await;
}

/// A lock whose removal was lost stays in `locks/`; its own process no longer holds it, so it must not
/// keep that process (a server running for days) from prune, while a lock it holds still does.
#[tokio::test]
async fn a_lock_this_process_failed_to_remove_does_not_block_it() {
    use tablesafe_repo::storage::faults::{FaultPlan, FaultyStore};
    use tablesafe_repo::LockKind::{Exclusive, Shared};
    let dir = tempfile::tempdir().unwrap();
    Repository::init(storage(&dir), with_password()).await.unwrap();
    let plan = FaultPlan { lost_delete: 1.0, paths: vec!["locks/".into()], ..FaultPlan::default() };
    let layer = std::sync::Arc::new(FaultyStore::new(storage(&dir).store(), plan));
    let repo = Repository::open(Storage::new(layer.clone()), &password()).await.unwrap();
    let held = repo.lock(Shared).await.unwrap();
    assert!(matches!(repo.lock(Exclusive).await, Err(RepoError::Locked { .. })), "a held lock blocks");
    held.release().await;
    assert_eq!(storage(&dir).list("locks").await.unwrap().len(), 1, "the lost delete left the lock");
    assert_eq!(layer.counts().lost_deletes, 1);
    layer.set_enabled(false);
    let x = repo.lock(Exclusive).await.unwrap();
    x.release().await;
    assert!(storage(&dir).list("locks").await.unwrap().is_empty(), "the exclusive taker removed the leftover");
}

#[tokio::test]
async fn a_refresh_sees_what_other_handles_wrote_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Repository::init(storage(&dir), with_password()).await.unwrap();
    let holder = Repository::open(storage(&dir), &password()).await.unwrap();
    let (first, _) = store(&writer, &table_bytes(2_000_000, 7)).await;
    let (second, _) = store(&writer, &table_bytes(2_000_000, 8)).await;
    assert!(!holder.has_chunk(&first[0]), "opened before the writes");
    holder.refresh().await.unwrap();
    assert!(first.iter().chain(&second).all(|id| holder.has_chunk(id)));
    assert_eq!(load(&holder, &second).await, table_bytes(2_000_000, 8));

    // A prune replaces index files: the refresh notices and forgets what is gone.
    let keep: std::collections::HashSet<ChunkId> = second.iter().copied().collect();
    writer.prune(&keep).await.unwrap();
    holder.refresh().await.unwrap();
    assert!(first.iter().filter(|id| !keep.contains(*id)).all(|id| !holder.has_chunk(id)));
    assert!(second.iter().all(|id| holder.has_chunk(id)));
    assert_eq!(load(&holder, &second).await, table_bytes(2_000_000, 8));
}

#[tokio::test]
async fn a_writer_without_index_dedup_stores_what_a_stale_index_still_names() {
    let dir = tempfile::tempdir().unwrap();
    let pruner = Repository::init(storage(&dir), with_password()).await.unwrap();
    let (ids, _) = store(&pruner, &table_bytes(1_500_000, 9)).await;
    let holder = Repository::open(storage(&dir), &password()).await.unwrap();
    assert!(ids.iter().all(|id| holder.has_chunk(id)));
    // Another handle prunes everything; the holder's index (not refreshed) still
    // names those chunks.
    pruner.prune(&std::collections::HashSet::new()).await.unwrap();
    assert!(ids.iter().all(|id| holder.has_chunk(id)), "the holder's index is stale");

    let mut writer = holder.writer_with(tablesafe_repo::WriterOptions {
        dedup_with_index: false,
        ..tablesafe_repo::WriterOptions::default()
    });
    let mut chunker = holder.chunker();
    let mut again = Vec::new();
    let data = table_bytes(1_500_000, 9);
    for piece in data.chunks(100_000) {
        for chunk in chunker.push(piece) {
            again.push(writer.add(&chunk).await.unwrap());
        }
    }
    for chunk in chunker.finish() {
        again.push(writer.add(&chunk).await.unwrap());
    }
    let stats = writer.finish().await.unwrap();
    assert_eq!(again, ids);
    assert_eq!(stats.new_chunks, ids.len() as u64, "every chunk stored again");
    let fresh = Repository::open(storage(&dir), &password()).await.unwrap();
    assert_eq!(load(&fresh, &ids).await, data, "readable by a handle opened after the prune");
}

/// The catalog names what is gone or out of place; it survives prune's compaction, and a version 1
/// repository (no catalog) still opens, writes and checks, while a newer version is refused.
#[tokio::test]
async fn the_catalog_reports_lost_and_swapped_manifests_and_old_repositories_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(storage(&dir), with_password()).await.unwrap();
    let a = repo.save_manifest("snapshots", b"{\"a\":1}").await.unwrap();
    let b = repo.save_manifest("snapshots", b"{\"b\":2}").await.unwrap();
    let gone = repo.save_manifest("snapshots", b"{\"c\":3}").await.unwrap();
    repo.save_manifest_as("snapshot-notes", &a, b"{\"v\":1}").await.unwrap();
    let old_notes = storage(&dir).read(&format!("snapshot-notes/{a}")).await.unwrap();
    repo.save_manifest_as("snapshot-notes", &a, b"{\"v\":2}").await.unwrap();
    repo.delete_manifest("snapshots", &gone).await.unwrap();
    // Prune folds the catalog; a removal of an object that is gone is not needed any more.
    let before = storage(&dir).list("catalog").await.unwrap().len();
    repo.prune(&std::collections::HashSet::new()).await.unwrap();
    assert_eq!(storage(&dir).list("catalog").await.unwrap().len(), 1, "{before} catalog files folded into one");
    let fresh = Repository::open(storage(&dir), &password()).await.unwrap();
    let check = fresh.check(false).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "{check:?}");

    let st = storage(&dir);
    st.write(&format!("snapshots/{a}"), st.read(&format!("snapshots/{b}")).await.unwrap()).await.unwrap();
    st.write(&format!("snapshot-notes/{a}"), old_notes).await.unwrap();
    st.delete(&format!("snapshots/{b}")).await.unwrap();
    let check = fresh.check(false).await.unwrap();
    let found: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|p| p.contains(&format!("'snapshots/{a}'")) && p.contains("swapped")), "{found:#?}");
    assert!(found.iter().any(|p| p.contains(&format!("'snapshot-notes/{a}'")) && p.contains("rolled back")), "{found:#?}");
    assert!(found.iter().any(|p| p.contains(&format!("'snapshots/{b}' is missing"))), "{found:#?}");
    assert_eq!(check.missing, vec![("snapshots".to_owned(), b.clone())]);
    assert_eq!(fresh.recorded_missing("snapshots").await.unwrap(), vec![b]);

    // Version 1: the same config without the catalog, as older binaries wrote it.
    let old = tempfile::tempdir().unwrap();
    let v1 = Repository::init(storage(&old), with_password()).await.unwrap();
    let st = storage(&old);
    for (path, _) in st.list("catalog").await.unwrap() {
        st.delete(&path).await.unwrap();
    }
    let config = String::from_utf8(st.read("config").await.unwrap()).unwrap();
    st.write("config", config.replace("\"version\": 2", "\"version\": 1").into_bytes()).await.unwrap();
    drop(v1);
    let v1 = Repository::open(storage(&old), &password()).await.unwrap();
    assert!(!v1.has_catalog());
    let id = v1.save_manifest("snapshots", b"{}").await.unwrap();
    assert_eq!(v1.load_manifest("snapshots", &id).await.unwrap(), b"{}");
    v1.delete_manifest("snapshots", &id).await.unwrap();
    assert!(st.list("catalog").await.unwrap().is_empty(), "no catalog is started in a version 1 repository");
    let check = v1.check(true).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "{check:?}");

    st.write("config", config.replace("\"version\": 2", "\"version\": 3").into_bytes()).await.unwrap();
    let err = Repository::open(storage(&old), &password()).await.unwrap_err();
    assert!(err.to_string().contains("version 3 is not supported"), "{err}");
}
