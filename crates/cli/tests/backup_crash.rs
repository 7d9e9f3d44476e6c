//! `kill -9` in the middle of backups and restores, through the real binary: the
//! repository stays sound, the next backup is complete, and running a killed
//! restore again gives a table equal to the snapshot.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Value};
use tablesafe_client::{BatchWriteRowRequest, CreateTableRequest, PutRowRequest, RowWrite};

const ROWS: i64 = 300_000;

/// Starts a repository command in the background with the password set.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tablesafe"))
        .args(args)
        .env("TABLESAFE_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs a command and kills it with SIGKILL after `delay`; returns whether it was
/// still running when killed.
fn kill_after(args: &[&str], delay: Duration) -> bool {
    let mut child = spawn(args);
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

async fn fill(data: &Path) {
    let server = Server::start(data).await;
    let table = CreateTableRequest::new("big").primary_key("id", PrimaryKeyType::Integer).stream(24);
    server.client.create_table(table).await.unwrap();
    let rows: Vec<RowWrite> = (0..ROWS)
        .map(|i| {
            let cells = [Cell::put("v", Value::String(format!("value {i:>40}"))), Cell::put("n", Value::Integer(i))];
            RowWrite::Put(PutRowRequest::new("big", PrimaryKey::new([("id", PkValue::Integer(i))]), cells))
        })
        .collect();
    for batch in rows.chunks(200) {
        assert!(server
            .client
            .batch_write_row(BatchWriteRowRequest { rows: batch.to_vec() })
            .await
            .unwrap()
            .is_all_ok());
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backups_and_restores_leave_a_sound_repository_and_rerun_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let (data, repo) = (dir.path().join("data"), dir.path().join("repo"));
    fill(&data).await;
    let (data, repo) = (path(&data).to_owned(), path(&repo).to_owned());
    succeeded(&with_password(&["repo", "init", "--repo", &repo]));

    // Kill backups at several moments; at least one must die mid-way.
    let backup = ["backup", "--repo", &repo, "--data-dir", &data];
    let mut interrupted = 0;
    for ms in [150, 400, 700, 1000, 1500] {
        if kill_after(&backup, Duration::from_millis(ms)) {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 2, "the backups finished before they could be killed");
    let out = succeeded(&with_password(&["verify", "--read-data", "--repo", &repo]));
    assert!(out.contains("no problems"), "{out}");

    // Backing up again gives a complete snapshot.
    let report = json(&with_password(&["backup", "--repo", &repo, "--data-dir", &data, "--json"]));
    let snapshot = report["id"].as_str().unwrap().to_owned();
    let listed = json(&with_password(&["snapshots", "--repo", &repo, "--json"]));
    let text = listed.to_string();
    assert!(text.contains(&snapshot) && text.contains(&ROWS.to_string()), "{text}");
    succeeded(&with_password(&["verify", "--read-data", "--repo", &repo]));

    // A restore killed mid-way, run again, gives a table equal to the snapshot.
    let restore = ["restore", &snapshot, "--repo", &repo, "--table", "big", "--as", "again", "--data-dir", &data];
    assert!(kill_after(&restore, Duration::from_millis(500)), "the restore finished before it could be killed");
    succeeded(&with_password(&restore));
    let verify =
        ["verify-restore", &snapshot, "--repo", &repo, "--table", "big", "--live", "again", "--data-dir", &data];
    succeeded(&with_password(&verify));
}
