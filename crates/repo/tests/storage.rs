//! The storage layer's behaviour, run as one suite against a local directory (`storage_fs::…`), an S3
//! server (`storage_s3::…`, moto from the test virtualenv; see tests/support/s3.rs), the in-memory store
//! and the fault layer with its faults off; the fault layer's faults themselves; plus URL parsing and
//! secret-hygiene checks that need no server.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::s3::{self, MotoServer};
use tablesafe_repo::storage::faults::{FaultCounts, FaultPlan, FaultyStore};
use tablesafe_repo::storage::Storage;
use tablesafe_repo::RepoError;

/// A storage under test and whatever must outlive it.
struct Backend {
    storage: Storage,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    fn fs(_hint: &str) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        // A root that does not exist yet: from_url must create it.
        let storage = Storage::from_url(dir.path().join("nested/repo").to_str().unwrap()).unwrap();
        Backend { storage, _dir: Some(dir) }
    }

    fn memory(hint: &str) -> Backend {
        Backend { storage: Storage::memory(hint), _dir: None }
    }

    /// The fault layer with its faults off passes every request through unchanged.
    fn quiet_faults(hint: &str) -> Backend {
        let inner = Storage::memory(hint).store();
        let layer = FaultyStore::new(inner, FaultPlan { error: 1.0, ..FaultPlan::default() });
        layer.set_enabled(false);
        Backend { storage: Storage::new(Arc::new(layer)), _dir: None }
    }

    fn s3(hint: &str) -> Backend {
        let storage = Storage::from_url(&MotoServer::shared().fresh_url(hint)).unwrap();
        Backend { storage, _dir: None }
    }
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

mod cases {
    use super::*;

    pub async fn round_trip(s: &Storage) {
        s.write("config", b"hello".to_vec()).await.unwrap();
        assert_eq!(s.read("config").await.unwrap(), b"hello");

        s.write("keys/empty", Vec::new()).await.unwrap();
        assert_eq!(s.read("keys/empty").await.unwrap(), b"");
        assert_eq!(s.size("keys/empty").await.unwrap(), 0);
        assert!(s.exists("keys/empty").await.unwrap());

        let big = noise(20 * 1024 * 1024, 1);
        s.write("data/ab/big", big.clone()).await.unwrap();
        assert_eq!(s.size("data/ab/big").await.unwrap(), big.len() as u64);
        assert!(s.read("data/ab/big").await.unwrap() == big, "20 MB object differs after the round trip");
    }

    pub async fn read_range(s: &Storage) {
        let bytes = noise(1000, 2);
        s.write("data/ra/obj", bytes.clone()).await.unwrap();
        assert_eq!(s.read_range("data/ra/obj", 10..20).await.unwrap(), &bytes[10..20]);
        assert_eq!(s.read_range("data/ra/obj", 0..1000).await.unwrap(), bytes);
        assert_eq!(s.read_range("data/ra/obj", 990..1000).await.unwrap(), &bytes[990..]);
        assert_eq!(s.read_range("data/ra/obj", 5..5).await.unwrap(), b"");
        for beyond in [995..1005, 1000..1010, 2000..2010] {
            let err = s.read_range("data/ra/obj", beyond.clone()).await.unwrap_err();
            assert!(matches!(err, RepoError::Damaged { .. }), "{beyond:?}: {err:?}");
            assert!(err.to_string().contains("data/ra/obj"), "{err}");
        }
        let err = s.read_range("data/ra/missing", 0..10).await.unwrap_err();
        assert!(matches!(err, RepoError::NotFound { ref path } if path == "data/ra/missing"), "{err:?}");
    }

    pub async fn size_and_exists(s: &Storage) {
        assert!(!s.exists("index/one").await.unwrap());
        let err = s.size("index/one").await.unwrap_err();
        assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
        s.write("index/one", vec![7; 4321]).await.unwrap();
        assert!(s.exists("index/one").await.unwrap());
        assert_eq!(s.size("index/one").await.unwrap(), 4321);
    }

    pub async fn list(s: &Storage) {
        let objects = [
            ("config", 1usize),
            ("data/ab/ab01", 3),
            ("data/ab/ab02", 0),
            ("data/cd/cd01", 5),
            ("database", 2),
            ("index/i1", 7),
            ("snapshots/s1", 11),
        ];
        for (path, len) in objects {
            s.write(path, vec![b'x'; len]).await.unwrap();
        }
        let owned = |items: &[(&str, usize)]| -> Vec<(String, u64)> {
            items.iter().map(|(p, l)| ((*p).to_owned(), *l as u64)).collect()
        };
        let data = owned(&objects[1..4]);
        assert_eq!(s.list("data").await.unwrap(), data);
        assert_eq!(s.list("data/").await.unwrap(), data, "a trailing slash changes nothing");
        assert_eq!(s.list("data/ab").await.unwrap(), owned(&objects[1..3]));
        assert_eq!(s.list("").await.unwrap(), owned(&objects), "the whole repository, sorted");
        assert_eq!(s.list("locks").await.unwrap(), vec![], "an absent directory is empty");
        assert_eq!(s.list("dat").await.unwrap(), vec![], "a directory is not a name prefix");
        assert_eq!(s.list("config").await.unwrap(), vec![], "an object is not a directory");
    }

    pub async fn delete(s: &Storage) {
        s.write("locks/l1", b"x".to_vec()).await.unwrap();
        s.delete("locks/l1").await.unwrap();
        assert!(!s.exists("locks/l1").await.unwrap());
        s.delete("locks/l1").await.unwrap();
        s.delete("never/was/here").await.unwrap();
        assert_eq!(s.list("locks").await.unwrap(), vec![]);
    }

    pub async fn not_found(s: &Storage) {
        let err = s.read("snapshots/missing").await.unwrap_err();
        assert!(matches!(err, RepoError::NotFound { ref path } if path == "snapshots/missing"), "{err:?}");
        assert_eq!(err.to_string(), "object 'snapshots/missing' does not exist in the repository");
    }

    pub async fn write_if_absent(s: &Storage) {
        assert!(s.write_if_absent("locks/exclusive", b"first".to_vec()).await.unwrap());
        assert!(!s.write_if_absent("locks/exclusive", b"second".to_vec()).await.unwrap());
        assert_eq!(s.read("locks/exclusive").await.unwrap(), b"first");
        // The same bytes again count as created (what a retried PUT finds after a lost response).
        assert!(s.write_if_absent("locks/exclusive", b"first".to_vec()).await.unwrap());
        assert!(s.write_if_absent("locks/empty", Vec::new()).await.unwrap());
        assert!(!s.write_if_absent("locks/empty", b"x".to_vec()).await.unwrap());
        assert_eq!(s.read("locks/empty").await.unwrap(), b"");

        // Racing creators: exactly one wins, and the object holds the winner's bytes.
        let s = Arc::new(s.clone());
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let s = Arc::clone(&s);
                tokio::spawn(async move { (i, s.write_if_absent("locks/race", vec![i; 1000]).await.unwrap()) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (i, created) = task.await.unwrap();
            if created {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        assert_eq!(s.read("locks/race").await.unwrap(), vec![winners[0]; 1000]);
    }

    /// Readers racing an overwriting writer see one whole version, never a mix or a prefix.
    pub async fn overwrite_is_atomic(s: &Storage) {
        let a = vec![b'a'; 300_000];
        let b = vec![b'b'; 700_000];
        s.write("snapshots/current", a.clone()).await.unwrap();
        let writer = {
            let (s, a, b) = (s.clone(), a.clone(), b.clone());
            tokio::spawn(async move {
                for i in 0..20 {
                    s.write("snapshots/current", if i % 2 == 0 { b.clone() } else { a.clone() }).await.unwrap();
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            let got = s.read("snapshots/current").await.unwrap();
            assert!(got == a || got == b, "read {} bytes that are neither version", got.len());
            reads += 1;
        }
        writer.await.unwrap();
        assert_eq!(s.read("snapshots/current").await.unwrap(), a, "the last write wins, whole");
    }

    pub async fn invalid_paths(s: &Storage) {
        for path in ["", "/abs", "dir/", "a//b", "../escape", "a/../b", "./a", " padded", ".tmp/x"] {
            let err = s.write(path, b"x".to_vec()).await.unwrap_err();
            assert!(matches!(err, RepoError::Invalid(_)), "{path:?}: {err:?}");
        }
        assert!(matches!(s.read("../x").await.unwrap_err(), RepoError::Invalid(_)));
        assert!(matches!(s.list("..").await.unwrap_err(), RepoError::Invalid(_)));
    }
}

/// The suite once per backend: `storage_fs::round_trip`, `storage_s3::round_trip`, …
macro_rules! suite {
    ($module:ident, $backend:path) => {
        mod $module {
            use super::*;
            suite!(@cases $backend; round_trip, read_range, size_and_exists, list, delete, not_found,
                   write_if_absent, overwrite_is_atomic, invalid_paths);
        }
    };
    (@cases $backend:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let backend = $backend(stringify!($case));
                cases::$case(&backend.storage).await;
            }
        )*
    };
}

suite!(storage_fs, Backend::fs);
suite!(storage_s3, Backend::s3);
suite!(storage_memory, Backend::memory);
suite!(storage_quiet_faults, Backend::quiet_faults);

mod storage_fs_only {
    use super::*;

    /// Every file on disk outside `.tmp/`, relative to `root`.
    fn files_on_disk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_on_disk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let s = Storage::from_url(root.to_str().unwrap()).unwrap();
        s.write("config", b"c".to_vec()).await.unwrap();
        for i in 0..10u8 {
            s.write("data/ab/ab01", vec![i; 10_000]).await.unwrap();
            s.write(&format!("index/i{i}"), vec![i; 10]).await.unwrap();
        }
        assert!(s.write_if_absent("locks/l", b"1".to_vec()).await.unwrap());
        assert!(!s.write_if_absent("locks/l", b"2".to_vec()).await.unwrap());

        let mut expected: Vec<String> = ["config", "data/ab/ab01", "locks/l"].map(String::from).to_vec();
        expected.extend((0..10).map(|i| format!("index/i{i}")));
        expected.sort();
        let listed: Vec<String> = s.list("").await.unwrap().into_iter().map(|(p, _)| p).collect();
        assert_eq!(listed, expected);

        let mut on_disk = Vec::new();
        files_on_disk(&root, &root, &mut on_disk);
        on_disk.sort();
        let (tmp, visible): (Vec<String>, Vec<String>) = on_disk.into_iter().partition(|p| p.starts_with(".tmp/"));
        assert_eq!(visible, expected, "only the objects themselves are on disk");
        assert_eq!(tmp, Vec::<String>::new(), "no temporary file is left behind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partial_files_of_killed_writes_are_never_listed_and_removed_once_old() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let s = Storage::from_url(root.to_str().unwrap()).unwrap();
        s.write("config", b"c".to_vec()).await.unwrap();
        // What a writer killed mid-write leaves: part of an object under .tmp/, one long ago, one now.
        let (old, new) = (root.join(".tmp/ab01.1234-0"), root.join(".tmp/ab02.1234-1"));
        std::fs::write(&old, vec![1u8; 5_000]).unwrap();
        std::fs::write(&new, vec![2u8; 5_000]).unwrap();
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3_600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(hour_ago).unwrap();
        let listed: Vec<String> = s.list("").await.unwrap().into_iter().map(|(p, _)| p).collect();
        assert_eq!(listed, ["config"]);

        assert_eq!(s.remove_leftovers(Duration::from_secs(1_800)).await.unwrap(), 1);
        assert!(!old.exists() && new.exists(), "only the old partial file goes");
        assert_eq!(s.read("config").await.unwrap(), b"c");
        // A store with no local root leaves nothing behind, so removes nothing.
        assert_eq!(Storage::memory("leftovers").remove_leftovers(Duration::ZERO).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn url_forms() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("a");
        let by_url = Storage::from_url(&format!("file://{}", abs.display())).unwrap();
        by_url.write("config", b"1".to_vec()).await.unwrap();
        let by_path = Storage::from_url(abs.to_str().unwrap()).unwrap();
        assert_eq!(by_path.read("config").await.unwrap(), b"1");
        assert_eq!(by_url.url(), abs.to_str().unwrap());
        assert_eq!(by_path.url(), by_url.url());

        // A relative path resolves against the working directory and is shown absolute.
        let rel = Storage::from_url("./target-tablesafe-storage-test-does-not-write").unwrap();
        assert!(std::path::Path::new(rel.url()).is_absolute(), "{}", rel.url());
        let _ = std::fs::remove_dir_all("./target-tablesafe-storage-test-does-not-write");
    }
}

mod storage_url {
    use super::*;

    fn bad_url(url: &str) -> String {
        match Storage::from_url(url) {
            Err(e @ RepoError::BadUrl { .. }) => e.to_string(),
            other => panic!("{url}: expected BadUrl, got {other:?}"),
        }
    }

    #[test]
    fn unknown_scheme() {
        let msg = bad_url("ftp://host/backups");
        assert!(msg.contains("unsupported scheme 'ftp'") && msg.contains("s3://"), "{msg}");
        assert!(msg.starts_with("invalid repository URL 'ftp://host/backups'"), "{msg}");
    }

    #[test]
    fn missing_bucket() {
        for url in ["s3://", "s3:///prefix", "oss://?endpoint=http://x", "gcs://"] {
            let msg = bad_url(url);
            assert!(msg.contains("missing bucket name"), "{msg}");
        }
        let msg = bad_url("azblob:///p?account=acct");
        assert!(msg.contains("missing container name"), "{msg}");
    }

    #[test]
    fn other_mistakes() {
        let msg = bad_url("s3://b/p?path_style=maybe&endpoint=http://127.0.0.1:1");
        assert!(msg.contains("path_style must be true or false"), "{msg}");
        let msg = bad_url("s3://b/p?region=a&region=b");
        assert!(msg.contains("given twice"), "{msg}");
        let msg = bad_url("file://relative/path");
        assert!(msg.contains("absolute path"), "{msg}");
        let msg = bad_url("");
        assert!(msg.contains("empty"), "{msg}");
    }

    #[test]
    fn secrets_in_the_url_are_refused_and_not_echoed() {
        let msg = bad_url("s3://AKIDEXAMPLE:hunter2-secret@bucket/prefix");
        assert!(msg.contains("credentials in the URL are not accepted"), "{msg}");
        assert!(!msg.contains("hunter2") && !msg.contains("AKIDEXAMPLE"), "{msg}");
        // AWS secret keys may contain '/', which ends a URL's authority.
        let msg = bad_url("s3://AKIDEXAMPLE:hun/ter2-secret@bucket/prefix");
        assert!(msg.contains("credentials in the URL are not accepted"), "{msg}");
        assert!(!msg.contains("ter2") && !msg.contains("AKIDEXAMPLE"), "{msg}");
        let msg = bad_url("s3://bucket/prefix?secret_access_key=hunter2-secret&region=us-east-1");
        assert!(msg.contains("unknown parameter 'secret_access_key'"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = bad_url("azblob://container/p?account=a&sv=2024&sig=hunter2-sas");
        assert!(msg.contains("unknown parameter 'sv'") && !msg.contains("hunter2"), "{msg}");
    }

    /// One test owns the process environment of the non-S3 services, so nothing else races its changes.
    #[test]
    fn url_never_shows_secrets_from_the_environment() {
        s3::set_credentials();
        for var in ["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_NAME", "AZBLOB_ACCOUNT_NAME", "OSS_ENDPOINT"] {
            std::env::remove_var(var);
        }
        assert!(bad_url("azblob://container/p").contains("needs ?account="));
        assert!(bad_url("oss://bucket/p").contains("needs ?endpoint="));

        let azure_key = "dGFibGVzYWZlLWF6dXJlLXNlY3JldC1rZXk="; // base64, as Azure keys are
        let secrets = [s3::SECRET_ACCESS_KEY, "oss-secret-5b7e", "oss-token-91c2", azure_key];
        std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_ID", "oss-key-id");
        std::env::set_var("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secrets[1]);
        std::env::set_var("ALIBABA_CLOUD_SECURITY_TOKEN", secrets[2]);
        std::env::set_var("AZURE_STORAGE_ACCOUNT", "tablesafeacct");
        std::env::set_var("AZURE_STORAGE_KEY", azure_key);
        for url in [
            "s3://bucket/prefix",
            "s3://bucket/prefix?endpoint=http://127.0.0.1:9&region=eu-west-1&path_style=true",
            "oss://bucket/prefix?endpoint=https://oss-cn-hangzhou.aliyuncs.com",
            "oss://bucket/prefix?region=cn-beijing",
            "gcs://bucket/prefix",
            "azblob://container/prefix",
            "azblob://container/prefix?account=other&endpoint=http://127.0.0.1:10000/other",
        ] {
            let storage = Storage::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(storage.url(), url);
            let debug = format!("{storage:?}");
            for secret in secrets {
                assert!(!storage.url().contains(secret) && !debug.contains(secret), "{url} shows a secret");
            }
        }
    }
}

mod fault_layer {
    use super::*;

    fn layered(plan: FaultPlan) -> (Storage, Arc<FaultyStore>, Storage) {
        let clean = Storage::memory("faults");
        let layer = Arc::new(FaultyStore::new(clean.store(), plan));
        (Storage::new(layer.clone()), layer, clean)
    }

    fn injected(error: &RepoError) -> bool {
        matches!(error, RepoError::Storage { source, .. } if source.to_string().starts_with("injected fault"))
    }

    #[tokio::test]
    async fn failed_requests_do_nothing_and_lost_replies_do_everything() {
        let (faulty, layer, clean) = layered(FaultPlan { error: 1.0, ..FaultPlan::default() });
        let error = faulty.write("config", b"c".to_vec()).await.unwrap_err();
        assert!(injected(&error), "{error}");
        assert!(!clean.exists("config").await.unwrap(), "a failed write wrote nothing");
        assert!(injected(&faulty.read("config").await.unwrap_err()));

        let (faulty, _, clean) = layered(FaultPlan { lost_reply: 1.0, ..FaultPlan::default() });
        assert!(injected(&faulty.write("config", b"c".to_vec()).await.unwrap_err()));
        assert_eq!(clean.read("config").await.unwrap(), b"c", "the write whose reply was lost happened");
        assert_eq!(faulty.read("config").await.unwrap(), b"c", "reads are not lost replies");
        assert!(injected(&faulty.delete("config").await.unwrap_err()));
        assert!(!clean.exists("config").await.unwrap());
        assert_eq!(layer.counts().errors, 2);
    }

    #[tokio::test]
    async fn lost_deletes_report_success_and_leave_the_object() {
        let (faulty, layer, clean) = layered(FaultPlan { lost_delete: 1.0, ..FaultPlan::default() });
        faulty.write("index/a", b"i".to_vec()).await.unwrap();
        faulty.delete("index/a").await.unwrap();
        assert!(clean.exists("index/a").await.unwrap());
        assert_eq!(layer.counts().lost_deletes, 1);
    }

    #[tokio::test]
    async fn a_crash_fails_every_request_from_its_point_on() {
        let (faulty, layer, clean) = layered(FaultPlan { crash_at: Some(2), ..FaultPlan::default() });
        for i in 0..4 {
            let written = faulty.write(&format!("data/{i}"), vec![i]).await;
            assert_eq!(written.is_ok(), i < 2, "request {i}");
        }
        let listed: Vec<String> = clean.list("data").await.unwrap().into_iter().map(|(p, _)| p).collect();
        assert_eq!(listed, ["data/0", "data/1"]);
        assert_eq!(layer.counts(), FaultCounts { errors: 2, lost_replies: 0, lost_deletes: 0, torn_writes: 0, requests: 4 });
    }

    #[tokio::test]
    async fn faults_keep_to_their_paths_and_repeat_from_their_seed() {
        let plan = FaultPlan { seed: 7, error: 0.5, paths: vec!["data/".into()], ..FaultPlan::default() };
        let run = || async {
            let (faulty, _, _) = layered(plan.clone());
            let mut fates = Vec::new();
            for i in 0..64u8 {
                assert!(faulty.write(&format!("index/{i}"), vec![i]).await.is_ok(), "index/ is out of scope");
                fates.push(faulty.write(&format!("data/{i}"), vec![i]).await.is_ok());
            }
            fates
        };
        let (first, second) = (run().await, run().await);
        assert_eq!(first, second, "the same seed gives the same faults");
        let failed = first.iter().filter(|ok| !**ok).count();
        assert!((16..=48).contains(&failed), "about half of 64 requests fail, not {failed}");
    }
}
