//! The backup crate's decoders of repository bytes on random and mutated input:
//! row and change record streams (cut into chunks anywhere), and the manifests a
//! key holder could have written with any content (snapshots, change segments,
//! notes, job records). Each returns a value or an error, never panics; a valid
//! stream decodes back to what was encoded, whatever the chunk boundaries.
//!
//! `DECODER_CASES` sets the cases per property: 2,000 by default (the README's
//! test command); `bench/decoders.sh` runs a million.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use tablesafe_backup::archive::{load_segment, CHANGES};
use tablesafe_backup::changes::{encode_change, Change, ChangeDecoder, ChangeKind};
use tablesafe_backup::format::{encode_row, RowDecoder};
use tablesafe_backup::jobs::JOBS;
use tablesafe_backup::manifest::SNAPSHOTS;
use tablesafe_backup::notes::{load_notes, NOTES};
use tablesafe_backup::{list_jobs, list_snapshots, load_snapshot, recovery_points, verify_repository};
use tablesafe_proto::model::{Cell, PkValue, PrimaryKey, Row, Value};
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage};

fn config() -> ProptestConfig {
    let cases = std::env::var("DECODER_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

/// A fresh repository for each case: every save and delete adds to the catalog,
/// which verification reads whole, so one shared repository makes each case
/// slower than the last (a million cases would take days).
async fn repository() -> Repository {
    let init = InitOptions {
        password: Some("pw".into()),
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        ..InitOptions::default()
    };
    Repository::init(Storage::memory("backup-decoders"), init).await.unwrap()
}

fn row() -> impl Strategy<Value = Row> {
    (any::<i64>(), vec(("[a-z]{1,6}", any::<i64>(), 0i64..1 << 42), 0..4)).prop_map(|(id, cells)| Row {
        primary_key: PrimaryKey::new([("id", PkValue::Integer(id))]),
        cells: cells.into_iter().map(|(n, v, ts)| Cell::version(n, Value::Integer(v), ts)).collect(),
        ..Row::default()
    })
}

/// Cuts `bytes` at the given points (as fractions of its length) into chunks.
fn chunks(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([bytes.len()]) {
        out.push(bytes[from..to].to_vec());
        from = to;
    }
    out
}

fn decode_rows(chunks: &[Vec<u8>]) -> Result<Vec<Row>, String> {
    let mut decoder = RowDecoder::default();
    let mut rows = Vec::new();
    for chunk in chunks {
        rows.extend(decoder.push(chunk)?);
    }
    decoder.finish()?;
    Ok(rows)
}

fn decode_changes(chunks: &[Vec<u8>]) -> Result<Vec<Change>, String> {
    let mut decoder = ChangeDecoder::default();
    let mut changes = Vec::new();
    for chunk in chunks {
        changes.extend(decoder.push(chunk)?);
    }
    decoder.finish()?;
    Ok(changes)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn record_streams_decode_back_whatever_the_chunks_and_mutations_never_panic(
        rows in vec(row(), 0..8),
        cuts in vec(any::<prop::sample::Index>(), 0..4),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut stream = Vec::new();
        for row in &rows {
            encode_row(row, &mut stream);
        }
        prop_assert_eq!(decode_rows(&chunks(&stream, &cuts)).unwrap(), rows.clone());
        let changes: Vec<Change> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| Change { position: i as u64, kind: ChangeKind::Put, row: row.clone() })
            .collect();
        let mut log = Vec::new();
        for change in &changes {
            encode_change(change, &mut log);
        }
        prop_assert_eq!(decode_changes(&chunks(&log, &cuts)).unwrap(), changes);
        for bytes in [&mut stream, &mut log] {
            if !bytes.is_empty() {
                for (at, byte) in &edits {
                    let i = at.index(bytes.len());
                    bytes[i] = *byte;
                }
            }
        }
        let _ = decode_rows(&chunks(&stream, &cuts));
        let _ = decode_changes(&chunks(&log, &cuts));
        let _ = decode_changes(&chunks(&stream, &cuts));
    }

    #[test]
    fn random_record_bytes_never_panic(bytes in vec(any::<u8>(), 0..400), cuts in vec(any::<prop::sample::Index>(), 0..3)) {
        let _ = decode_rows(&chunks(&bytes, &cuts));
        let _ = decode_changes(&chunks(&bytes, &cuts));
    }

    /// A manifest that authenticates but holds anything (JSON of the wrong shape, or not JSON).
    #[test]
    fn manifests_of_any_content_are_errors_not_panics(
        text in prop_oneof![
            "\\PC{0,200}",
            Just("{\"version\":3,\"time_ms\":1,\"tables\":[{}]}".to_owned()),
            Just("{\"stream_id\":\"s\",\"from\":5,\"to\":1,\"inline\":\"!!\"}".to_owned()),
            Just("{\"tags\":[1]}".to_owned()),
        ],
        kind in 0..4usize,
    ) {
        runtime().block_on(async {
            let repo = &repository().await;
            let kind = [SNAPSHOTS, CHANGES, NOTES, JOBS][kind];
            let id = "00ff-0000000000000000-0000000000000001";
            repo.save_manifest_as(kind, id, text.as_bytes()).await.unwrap();
            let _ = load_snapshot(repo, id).await;
            let _ = list_snapshots(repo).await;
            let _ = load_segment(repo, id).await;
            let _ = load_notes(repo, id).await;
            let _ = list_jobs(repo).await;
            let _ = recovery_points(repo, None).await;
            let _ = verify_repository(repo, true).await;
            repo.delete_manifest(kind, id).await.unwrap();
            let _ = verify_repository(repo, true).await;
        });
    }
}
