//! The repository's decoders of stored bytes (config, key files, index files,
//! packs and their trailers, catalog files, locks) on random bytes and on
//! mutations of the real objects: opening and checking the repository return
//! an error or a finding naming the object, and never panic.
//!
//! `DECODER_CASES` sets the cases per property: 2,000 by default (the README's
//! test command); `bench/decoders.sh` runs a million.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use tablesafe_repo::{pack, InitOptions, KdfParams, Repository, Storage, Unlock};

fn config() -> ProptestConfig {
    let cases = std::env::var("DECODER_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn unlock() -> Unlock {
    Unlock { password: Some("pw".into()), identities: vec![] }
}

/// A small repository with one object of each kind, and its objects' bytes.
fn pristine() -> &'static (Storage, Vec<(String, Vec<u8>)>) {
    static PRISTINE: OnceLock<(Storage, Vec<(String, Vec<u8>)>)> = OnceLock::new();
    PRISTINE.get_or_init(|| {
        runtime().block_on(async {
            let storage = Storage::memory("decoders-pristine");
            let init = InitOptions {
                password: Some("pw".into()),
                kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
                ..InitOptions::default()
            };
            let repo = Repository::init(storage.clone(), init).await.unwrap();
            let mut writer = repo.writer();
            writer.add(b"some chunk of table data").await.unwrap();
            writer.finish().await.unwrap();
            repo.save_manifest("snapshots", b"{}").await.unwrap();
            let lock = br#"{"kind":"shared","host":"h","pid":1,"created_ms":1,"refreshed_ms":1}"#;
            storage.write("locks/00", lock.to_vec()).await.unwrap();
            let mut objects = Vec::new();
            for (path, _) in storage.list("").await.unwrap() {
                objects.push((path.clone(), storage.read(&path).await.unwrap()));
            }
            (storage, objects)
        })
    })
}

/// Opens and checks a copy of the pristine repository whose object `path` holds `bytes`.
fn open_and_check(case: u64, path: &str, bytes: Vec<u8>) {
    let (_, objects) = pristine();
    runtime().block_on(async {
        let storage = Storage::memory(&format!("decoders-{case}"));
        for (object, original) in objects {
            storage.write(object, original.clone()).await.unwrap();
        }
        storage.write(path, bytes).await.unwrap();
        if let Ok(repo) = Repository::open(storage.clone(), &unlock()).await {
            let check = repo.check(true).await.unwrap();
            let _ = (check.problems, check.warnings);
        }
        for (object, _) in storage.list("").await.unwrap() {
            storage.delete(&object).await.unwrap();
        }
    });
}

static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next_case() -> u64 {
    CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_in_any_object_never_panic_open_or_check(
        which in any::<prop::sample::Index>(),
        bytes in vec(any::<u8>(), 0..300),
    ) {
        let (_, objects) = pristine();
        let (path, _) = &objects[which.index(objects.len())];
        open_and_check(next_case(), path, bytes);
    }

    #[test]
    fn mutated_objects_never_panic_open_or_check(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (_, objects) = pristine();
        let (path, original) = &objects[which.index(objects.len())];
        let mut bytes = original.clone();
        for (at, byte) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        open_and_check(next_case(), path, bytes);
    }

    #[test]
    fn pack_trailers_of_random_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        let _ = pack::parse_trailer(&bytes, "data/00/00");
    }
}
