//! A backup through the API takes its times from the server, not from the
//! machine it runs on: with the server's clock 10 minutes ahead of or behind the
//! client's, a remote backup and a remote archiver still restore a table exactly
//! to an instant (in the server's time) between two snapshots.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::{backup, restore_to_time, EmbeddedTables, NoProgress, RemoteTables, RestoreOptions};
use tablesafe_client::Client;
use tablesafe_common::{Clock, SystemClock};
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_proto::model::*;
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage};
use tablesafe_server::{AccessKey, ServerState};

use support::{put, read_all};

/// This machine's clock moved by a fixed offset: the server's clock in this test.
#[derive(Debug)]
struct Skewed(i64);

impl Clock for Skewed {
    fn now_millis(&self) -> i64 {
        SystemClock.now_millis() + self.0
    }

    fn now_micros(&self) -> i64 {
        SystemClock.now_micros() + self.0 * 1000
    }
}

async fn restores_exactly_with_the_server_clock_off_by(offset_ms: i64) {
    let clock: Arc<dyn Clock> = Arc::new(Skewed(offset_ms));
    let data = tempfile::tempdir().unwrap();
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(data.path(), options, Arc::clone(&clock)).unwrap());
    support::create(&engine, "t", TableOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(ServerState {
        engine: Arc::clone(&engine),
        instance: "skewed".into(),
        keys: vec![AccessKey { id: "sk".into(), secret: "ss".into() }],
        clock: Arc::clone(&clock),
    });
    tokio::spawn(tablesafe_server::run(listener, state, std::future::pending::<()>()));
    let remote = || RemoteTables::new(Client::new(&endpoint, "skewed", "sk", "ss").unwrap());

    let repo_dir = tempfile::tempdir().unwrap();
    let init = InitOptions {
        password: Some("pw".into()),
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    let repo = Repository::init(Storage::from_url(repo_dir.path().to_str().unwrap()).unwrap(), init).await.unwrap();
    let archive = ArchiveOptions { heartbeat: Duration::ZERO, ..ArchiveOptions::default() };
    let mut archiver = Archiver::new(remote(), archive);

    put(&engine, "t", 0..50, "first");
    backup(&repo, &remote(), &[], &NoProgress).await.unwrap();
    archiver.pass(&repo, &[]).await.unwrap();
    put(&engine, "t", 50..60, "between");
    // The instant, in the server's time: the writes before it are stamped
    // earlier, the ones after later.
    std::thread::sleep(Duration::from_millis(2));
    let at = clock.now_micros();
    std::thread::sleep(Duration::from_millis(2));
    let expected = read_all(&engine, "t");
    put(&engine, "t", 0..10, "after");
    put(&engine, "t", 60..70, "after");
    // A second snapshot after the instant: it holds changes from after it, so a
    // restore to the instant must not start from it.
    backup(&repo, &remote(), &[], &NoProgress).await.unwrap();
    archiver.pass(&repo, &[]).await.unwrap();

    let options = RestoreOptions { table: "t".into(), target: Some("t_at".into()), ..RestoreOptions::default() };
    let sink = EmbeddedTables::new(Arc::clone(&engine), "skewed engine");
    let report = restore_to_time(&repo, &sink, &options, at, None, &NoProgress).await.unwrap();
    assert!(report.changes_replayed >= 10, "{report:?}");
    assert!(read_all(&engine, "t_at") == expected, "the table as it was at the instant (offset {offset_ms} ms)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_ten_minutes_ahead_of_the_client_still_restores_exactly() {
    restores_exactly_with_the_server_clock_off_by(10 * 60 * 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_ten_minutes_behind_the_client_still_restores_exactly() {
    restores_exactly_with_the_server_clock_off_by(-10 * 60 * 1000).await;
}
