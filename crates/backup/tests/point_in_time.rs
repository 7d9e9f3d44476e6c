//! Restore to any point in time: a known history of writes runs while the archiver
//! follows the streams; the content at 20 random instants is recorded, and a
//! restore to each instant equals it.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::{backup, restore_to_time, EmbeddedTables, NoProgress, RestoreOptions};
use tablesafe_common::SystemClock;
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_proto::model::*;
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage};

use support::{create, now_ms, now_us, random_writes, read_all, Rng};

/// Time-to-live of the `expiring` table, seconds: cells expire while the test runs.
const TTL_S: i32 = 4;

/// Rows as a reader at any time after `cutoff_ms + TTL` would see them, when
/// `ttl`: cells older than the cutoff dropped, and rows left without cells gone.
fn normalized(rows: Vec<Row>, ttl_cutoff_ms: Option<i64>) -> Vec<Row> {
    rows.into_iter()
        .filter_map(|mut row| {
            row.cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
            let Some(cutoff) = ttl_cutoff_ms else { return Some(row) };
            if row.cells.is_empty() {
                return Some(row);
            }
            row.cells.retain(|c| c.timestamp.unwrap() >= cutoff);
            (!row.cells.is_empty()).then_some(row)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restores_to_twenty_instants_equal_the_recorded_content() {
    let data = tempfile::tempdir().unwrap();
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(data.path(), options, Arc::new(SystemClock)).unwrap());
    create(&engine, "history", TableOptions { max_versions: 3, ..TableOptions::default() });
    create(&engine, "expiring", TableOptions { max_versions: 2, time_to_live: TTL_S, ..TableOptions::default() });
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(
        Storage::from_url(repo_dir.path().to_str().unwrap()).unwrap(),
        InitOptions {
            password: Some("pw".into()),
            kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
            ..InitOptions::default()
        },
    )
    .await
    .unwrap();
    let repo = Arc::new(repo);
    let tables = EmbeddedTables::new(Arc::clone(&engine), "pitr engine");

    let mut rng = Rng(2026);
    let write = |rng: &mut Rng, n: usize| {
        for _ in 0..n {
            let table = if rng.below(3) == 0 { "expiring" } else { "history" };
            random_writes(&engine, rng, table, 1);
        }
    };
    write(&mut rng, 300);
    backup(&repo, &tables, &[], &NoProgress).await.unwrap();

    // The archiver follows both streams while the history is written.
    let stop = Arc::new(AtomicBool::new(false));
    let archiving = {
        let (repo, stop) = (Arc::clone(&repo), Arc::clone(&stop));
        let source = EmbeddedTables::new(Arc::clone(&engine), "pitr engine");
        tokio::spawn(async move {
            // Small segments, merged four at a time.
            let options = ArchiveOptions {
                max_changes_per_segment: 150,
                heartbeat: Duration::from_millis(300),
                compact_after: 4,
            };
            let mut archiver = Archiver::new(source, options);
            let mut segments = 0;
            while !stop.load(Ordering::Relaxed) {
                segments += archiver.pass(&repo, &[]).await.unwrap().iter().filter(|p| p.segment.is_some()).count();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // A last pass once the writes are over, so the archive reaches the present.
            tokio::time::sleep(Duration::from_millis(350)).await;
            segments + archiver.pass(&repo, &[]).await.unwrap().len()
        })
    };
    let mut instants = Vec::new();
    for step in 0..40 {
        let count = 20 + rng.below(40) as usize;
        write(&mut rng, count);
        if step == 20 {
            // A second snapshot: later instants start from it.
            backup(&repo, &tables, &[], &NoProgress).await.unwrap();
        }
        if step % 2 == 1 {
            // Writes acknowledged so far were stamped before this instant, later ones after.
            std::thread::sleep(Duration::from_millis(2));
            let at = now_us();
            std::thread::sleep(Duration::from_millis(2));
            instants.push((at, read_all(&engine, "history"), read_all(&engine, "expiring")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let segments = archiving.await.unwrap();
    assert!(segments >= 10, "the history spans many segments: {segments}");

    // The window runs from the first snapshot to the last archived moment, whole.
    let windows = tablesafe_backup::recovery_points(&repo, None).await.unwrap();
    assert_eq!(windows.iter().map(|w| w.table.as_str()).collect::<Vec<_>>(), ["expiring", "history"]);
    for window in &windows {
        assert_eq!((window.snapshots, window.spans.len(), window.gaps.len()), (2, 1, 0), "{window:?}");
        assert!(
            window.earliest_us.unwrap() < instants[0].0 && window.latest_us.unwrap() > instants[19].0,
            "{window:?} {} {}",
            instants[0].0,
            instants[19].0
        );
    }

    let (first_instant, last_instant) = (instants[0].0, instants[19].0);
    for (i, (at, history, expiring)) in instants.into_iter().enumerate() {
        for (table, expected) in [("history", history), ("expiring", expiring)] {
            let target = format!("{table}_at_{i}");
            let options =
                RestoreOptions { table: table.into(), target: Some(target.clone()), ..RestoreOptions::default() };
            let report = restore_to_time(&repo, &tables, &options, at, None, &NoProgress).await.unwrap();
            assert_eq!(report.to_time_us, Some(at));
            // Cells of the expiring table near their end of life are compared by
            // a cutoff both sides pass through, read within 200 ms of each other.
            let cutoff = (table == "expiring").then(|| now_ms() - i64::from(TTL_S) * 1000 + 200);
            let restored = normalized(read_all(&engine, &target), cutoff);
            let expected = normalized(expected, cutoff);
            assert!(
                restored == expected,
                "instant {i} ({at}), table {table}: {} rows restored, {} expected (report {report:?})",
                restored.len(),
                expected.len()
            );
        }
    }

    // Forgetting the first snapshot drops the changes only it could use; prune
    // keeps the rest, and restores from the second snapshot still work.
    let kept_from: u64 = tablesafe_backup::list_snapshots(&repo).await.unwrap()[1].1.tables[0].stream_position.unwrap();
    let only_before = |segments: &[(String, tablesafe_backup::archive::ChangeSegment)]| {
        segments.iter().filter(|(_, s)| s.to <= kept_from && s.from < kept_from).count()
    };
    let before = tablesafe_backup::archive::all_segments(&repo).await.unwrap();
    let report = tablesafe_backup::forget(&repo, &tablesafe_backup::ForgetPolicy::KeepLast(1)).await.unwrap();
    // Most of these small tables changed, so the second backup is a full copy.
    assert_eq!(report.forgotten.len(), 1, "{report:?}");
    let after = tablesafe_backup::archive::all_segments(&repo).await.unwrap();
    assert_eq!(report.segments_dropped, only_before(&before), "{report:?}");
    assert_eq!((after.len(), only_before(&after)), (before.len() - report.segments_dropped, 0));
    tablesafe_backup::prune(&repo).await.unwrap();
    let check = repo.check(true).await.unwrap();
    assert!(check.problems.is_empty() && check.warnings.is_empty(), "{check:?}");
    assert!(tablesafe_backup::check_snapshots(&repo).await.unwrap().is_empty());
    let options =
        RestoreOptions { table: "history".into(), target: Some("history_last".into()), ..RestoreOptions::default() };
    restore_to_time(&repo, &tables, &options, last_instant, None, &NoProgress).await.unwrap();
    let options =
        RestoreOptions { table: "history".into(), target: Some("history_first".into()), ..RestoreOptions::default() };
    let err = restore_to_time(&repo, &tables, &options, first_instant, None, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("snapshot"), "{err}");
}
