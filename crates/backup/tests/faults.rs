//! Backup, restore, archive, forget and prune on storage that fails as real storage does: requests that
//! fail, replies lost after the store acted, deletes reported done and not done, writes torn midway
//! (their part left where readers never look), latency (the fault layer of
//! `tablesafe_repo::storage::faults`). A seeded random order of operations runs over one
//! long-lived repository handle (as `serve` keeps one), with table writes between them. After every
//! operation, whatever it returned, a fresh handle over the same objects (no faults) finds the repository
//! sound: `check --read-data` and the snapshot check report nothing, and no acknowledged snapshot is
//! missing. An interrupted restore reruns. At the end, with the faults off, every acknowledged snapshot
//! restores exactly and the archive restores the table to its newest instant.
//!
//! `FAULT_SEEDS=n` runs n seeds (default 4); a failure names its seed, and `FAULT_SEED=s` reruns one.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tablesafe_backup::archive::{ArchiveOptions, Archiver};
use tablesafe_backup::{
    backup, check_snapshots, forget, list_snapshots, prune, restore, restore_to_time, verify_table, EmbeddedTables,
    ForgetPolicy, NoProgress, RestoreOptions,
};
use tablesafe_common::SystemClock;
use tablesafe_engine::{Engine, EngineOptions};
use tablesafe_proto::model::TableOptions;
use tablesafe_repo::storage::faults::{FaultPlan, FaultyStore};
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage, Unlock};

use support::{create, random_writes, read_all, Rng};

const ROUNDS: usize = 40;

fn unlock() -> Unlock {
    Unlock { password: Some("pw".into()), identities: vec![] }
}

/// The repository as a fresh handle over the objects themselves finds it: sound, holding every
/// acknowledged snapshot.
async fn assert_sound(clean: &Storage, acknowledged: &BTreeSet<String>, context: &str) {
    let repo = Repository::open(clean.clone(), &unlock()).await.unwrap();
    let problems = repo.check(true).await.unwrap().problems;
    assert!(problems.is_empty(), "{context}: the repository check reports {problems:?}");
    let problems = check_snapshots(&repo).await.unwrap();
    assert!(problems.is_empty(), "{context}: the snapshot check reports {problems:?}");
    let listed: BTreeSet<String> = list_snapshots(&repo).await.unwrap().into_iter().map(|(id, _)| id).collect();
    let lost: Vec<&String> = acknowledged.difference(&listed).collect();
    assert!(lost.is_empty(), "{context}: acknowledged snapshots are gone: {lost:?}");
}

/// Restores `id` of table `t` as `target` and shows it equals the snapshot.
async fn restore_exactly(repo: &Repository, tables: &EmbeddedTables, id: &str, target: &str) {
    let options = RestoreOptions { table: "t".into(), target: Some(target.into()), ..RestoreOptions::default() };
    restore(repo, id, tables, &options, &NoProgress).await.unwrap_or_else(|e| panic!("restore {id}: {e}"));
    assert!(verify_table(repo, id, "t", tables, target).await.unwrap().equal, "{id} restored as {target}");
}

async fn run_seed(seed: u64) {
    let data = tempfile::tempdir().unwrap();
    let options = EngineOptions { sync_writes: false, ..EngineOptions::default() };
    let engine = Arc::new(Engine::open(data.path(), options, Arc::new(SystemClock)).unwrap());
    create(&engine, "t", TableOptions { max_versions: 3, ..TableOptions::default() });
    let tables = EmbeddedTables::new(Arc::clone(&engine), "fault engine");

    let clean = Storage::memory(&format!("faults-{seed}"));
    let init = InitOptions {
        password: Some("pw".into()),
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    Repository::init(clean.clone(), init).await.unwrap();
    let plan = FaultPlan {
        seed,
        error: 0.04,
        lost_reply: 0.04,
        lost_delete: 0.1,
        torn_write: 0.03,
        max_latency: Duration::from_millis(1),
        ..FaultPlan::default()
    };
    let layer = Arc::new(FaultyStore::new(clean.store(), plan));
    // Opened while healthy, as a server opens its repository once; the faults start after.
    layer.set_enabled(false);
    let repo = Repository::open(Storage::new(layer.clone()), &unlock()).await.unwrap();
    layer.set_enabled(true);
    let archive = ArchiveOptions { heartbeat: Duration::ZERO, compact_after: 3, ..ArchiveOptions::default() };
    let mut archiver = Archiver::new(EmbeddedTables::new(Arc::clone(&engine), "fault engine"), archive);

    let mut rng = Rng(seed.wrapping_mul(2_654_435_761) | 1);
    let mut acknowledged = BTreeSet::new();
    let (mut done, mut failed) = ([0usize; 5], [0usize; 5]);
    for round in 0..ROUNDS {
        random_writes(&engine, &mut rng, "t", 15);
        let step = rng.below(5) as usize;
        let context = format!("seed {seed}, round {round}, step {step}");
        let ok = match step {
            0 => match backup(&repo, &tables, &[], &NoProgress).await {
                Ok((id, _)) => acknowledged.insert(id),
                Err(_) => false,
            },
            1 => archiver.pass(&repo, &[]).await.is_ok(),
            2 => {
                // All but the newest two go; which those are, a failed forget leaves open.
                let newest: Vec<String> = {
                    let fresh = Repository::open(clean.clone(), &unlock()).await.unwrap();
                    let listed = list_snapshots(&fresh).await.unwrap();
                    listed.iter().rev().take(2).map(|(id, _)| id.clone()).collect()
                };
                match forget(&repo, &ForgetPolicy::KeepLast(2)).await {
                    Ok(report) => {
                        for id in &report.forgotten {
                            acknowledged.remove(id);
                        }
                        true
                    }
                    Err(_) => {
                        acknowledged.retain(|id| newest.contains(id));
                        false
                    }
                }
            }
            3 => prune(&repo).await.is_ok(),
            _ => match acknowledged.last().cloned() {
                None => true,
                Some(id) => {
                    let target = format!("r{round}");
                    let options =
                        RestoreOptions { table: "t".into(), target: Some(target.clone()), ..RestoreOptions::default() };
                    match restore(&repo, &id, &tables, &options, &NoProgress).await {
                        Ok(_) => {
                            // The check reads the repository too, so a fault may stop it: then it is
                            // run again with the storage healthy. Either way the table is equal.
                            let checked = match verify_table(&repo, &id, "t", &tables, &target).await {
                                Ok(report) => report,
                                Err(error) => {
                                    eprintln!("{context}: verify-restore failed: {error}");
                                    layer.set_enabled(false);
                                    let report = verify_table(&repo, &id, "t", &tables, &target).await.unwrap();
                                    layer.set_enabled(true);
                                    report
                                }
                            };
                            assert!(checked.equal, "{context}: {id} restored as {target} differs");
                            true
                        }
                        Err(error) => {
                            eprintln!("{context}: restore failed: {error}");
                            // An interrupted restore reruns, here with the storage healthy.
                            layer.set_enabled(false);
                            restore_exactly(&repo, &tables, &id, &target).await;
                            layer.set_enabled(true);
                            false
                        }
                    }
                }
            },
        };
        if ok {
            done[step] += 1;
        } else {
            failed[step] += 1;
        }
        assert_sound(&clean, &acknowledged, &context).await;
    }
    let counts = layer.counts();
    // The torn writes' parts are there, under `.tmp/`, and no check above saw them.
    let leftovers = clean.store().list(".tmp/").await.unwrap().len() as u64;
    assert_eq!(leftovers, counts.torn_writes, "seed {seed}: every torn write left its part");
    assert!(
        counts.errors + counts.lost_replies + counts.torn_writes > 0 && failed.iter().sum::<usize>() > 0,
        "seed {seed}: {counts:?}"
    );

    // The storage heals: what the faults interrupted completes, and every acknowledged snapshot restores
    // exactly, through the long-lived handle and through a fresh one.
    layer.set_enabled(false);
    let (last, _) = backup(&repo, &tables, &[], &NoProgress).await.unwrap();
    acknowledged.insert(last);
    random_writes(&engine, &mut rng, "t", 15);
    archiver.pass(&repo, &[]).await.unwrap();
    prune(&repo).await.unwrap_or_else(|e| panic!("seed {seed}: prune after the faults: {e}"));
    assert_sound(&clean, &acknowledged, &format!("seed {seed}, healed")).await;
    let fresh = Repository::open(clean.clone(), &unlock()).await.unwrap();
    for (i, id) in acknowledged.iter().enumerate() {
        restore_exactly(&fresh, &tables, id, &format!("final{i}")).await;
    }
    // The newest restorable instant: after every write, none of which followed the last pass.
    let windows = tablesafe_backup::recovery_points(&fresh, Some("t")).await.unwrap();
    let at = windows.iter().filter_map(|w| w.latest_us).max().unwrap();
    let options = RestoreOptions { table: "t".into(), target: Some("now".into()), ..RestoreOptions::default() };
    restore_to_time(&fresh, &tables, &options, at, None, &NoProgress)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: restore to the newest instant: {e}"));
    assert!(read_all(&engine, "now") == read_all(&engine, "t"), "seed {seed}: the archive restores the table as it is");
    eprintln!("seed {seed}: done {done:?}, failed {failed:?} (backup, archive, forget, prune, restore); {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_under_storage_faults_leaves_a_sound_repository_and_loses_no_snapshot() {
    let seeds: Vec<u64> = match std::env::var("FAULT_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => (1..=std::env::var("FAULT_SEEDS").map_or(4, |n| n.parse().unwrap())).collect(),
    };
    for seed in seeds {
        run_seed(seed).await;
    }
}
