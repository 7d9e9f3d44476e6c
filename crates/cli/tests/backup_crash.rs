//! `kill -9` in the middle of backups and restores, through the real binary: the
//! repository stays sound, the next backup is complete, and running a killed
//! restore again gives a table equal to the snapshot.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::io::{BufRead, BufReader};
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

/// Runs a command and kills it with SIGKILL once `reached` holds (polled on the
/// command's own progress, what it wrote); returns whether it was still running
/// then, so that the kill landed inside the step `reached` marks.
fn kill_when(args: &[&str], reached: impl Fn() -> bool) -> bool {
    let mut child = spawn(args);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !reached() && child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "{args:?} neither reached the step nor ended");
        std::thread::sleep(Duration::from_millis(1));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running && reached()
}

/// Runs a command held by the fail point `point` (paused there), waits for the
/// log line containing `reached` that it writes just before (logged with the
/// filter `log`), then kills it with SIGKILL.
fn kill_at(args: &[&str], point: &str, log: &str, reached: &str) {
    let pause = format!("{point}=pause");
    let mut child = command(args, &[("TABLESAFE_PASSWORD", PASSWORD), ("TABLESAFE_LOG", log), ("FAILPOINTS", &pause)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(reached) {
            break;
        }
    }
    assert!(seen.contains(reached), "{args:?} ended before {point}:\n{seen}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// How many files lie under `repo`/`folder` (locks, packs, ...).
fn objects(repo: &str, folder: &str) -> usize {
    walk(&Path::new(repo).join(folder)).len()
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

    // Kill backups inside their data phase, decided by what they wrote, not by
    // time (a timed kill mostly lands in the key derivation): once the backup's
    // lock is taken (keys derived, the repository open, reading begun), and twice
    // held by a fail point just after it stored a pack (data on its way, no index
    // or snapshot yet). Each kill must land while the backup still runs.
    let backup = ["backup", "--repo", &repo, "--data-dir", &data];
    assert!(kill_when(&backup, || objects(&repo, "locks") > 0), "the backup ended before it took its lock");
    for _ in 0..2 {
        let packs = objects(&repo, "data");
        kill_at(&backup, "repo::writer::pack-stored", "tablesafe_repo=debug", "pack stored");
        assert!(objects(&repo, "data") > packs, "the killed backup stored no pack");
    }
    assert_eq!(objects(&repo, "snapshots"), 0, "a killed backup left a snapshot");
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
    // Killed once it has begun writing the target (its restore marker is saved first).
    let markers = objects(&repo, "restores");
    assert!(
        kill_when(&restore, || objects(&repo, "restores") > markers),
        "the restore finished before it could be killed"
    );
    succeeded(&with_password(&restore));
    let verify =
        ["verify-restore", &snapshot, "--repo", &repo, "--table", "big", "--live", "again", "--data-dir", &data];
    succeeded(&with_password(&verify));

    // Killed while it ingests its SST files (a fail point holds it at that step):
    // the target shows none of the rows, and a rerun completes, equal, with no
    // load file left behind.
    let restore = ["restore", &snapshot, "--repo", &repo, "--table", "big", "--as", "ingested", "--data-dir", &data];
    kill_at(&restore, "engine::load::before-ingest", "tablesafe_engine=debug", "ingesting");
    let load_dir = Path::new(&data).join("engine").join("load-tmp");
    let files = walk(&load_dir).into_iter().filter(|f| f.extension().is_some_and(|e| e == "sst")).count();
    assert!(files > 0, "no load files in {}", load_dir.display());
    let verify =
        ["verify-restore", &snapshot, "--repo", &repo, "--table", "big", "--live", "ingested", "--data-dir", &data];
    let out = tablesafe(&[&verify[..], &["--json"]].concat(), &[("TABLESAFE_PASSWORD", PASSWORD)]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["live_rows"], 0, "a half-loaded table is visible: {report}");
    succeeded(&with_password(&restore));
    succeeded(&with_password(&verify));
    assert!(!load_dir.exists() || walk(&load_dir).is_empty(), "load files left in {}", load_dir.display());
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] })
        .collect()
}
