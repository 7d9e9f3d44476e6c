//! Secondary indexes through backup and restore, from the data directory and over
//! the Tablestore API: the snapshot records the definitions, a restore beside the
//! table backed up gives the target its indexes as `<target>_<index>`, built from
//! (or kept by) its rows, and `verify_table` checks them.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::sync::Arc;

use tablesafe_backup::{backup, restore, verify_table, EmbeddedTables, NoProgress, RemoteTables, RestoreOptions};
use tablesafe_client::Client;
use tablesafe_common::SystemClock;
use tablesafe_engine::{CreateTable, Engine, EngineOptions, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::*;
use tablesafe_repo::{InitOptions, KdfParams, Repository, Storage};

fn indexed_engine(dir: &tempfile::TempDir) -> Arc<Engine> {
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default(), Arc::new(SystemClock)).unwrap());
    let schema = TableSchema {
        name: "users".into(),
        primary_key: vec![PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: false }],
        defined_columns: vec![
            DefinedColumnSchema { name: "email".into(), column_type: DefinedColumnType::String },
            DefinedColumnSchema { name: "age".into(), column_type: DefinedColumnType::Integer },
        ],
    };
    let index = |name: &str, key: &str, carried: &[&str]| IndexMeta {
        name: name.into(),
        primary_key: vec![key.into()],
        defined_columns: carried.iter().map(|c| (*c).into()).collect(),
        update_mode: IndexUpdateMode::Async,
        index_type: IndexType::Global,
    };
    let table = CreateTable {
        schema,
        options: TableOptions { time_to_live: -1, max_versions: 1, ..TableOptions::default() },
        reserved: ReservedThroughput::default(),
        stream: StreamSpec { enabled: true, expiration_hours: 24, columns_to_get: vec![] },
    };
    engine.create_table_with_indexes(table, vec![index("by_email", "email", &["age"]), index("by_age", "age", &[])]).unwrap();
    let writes = (0..300)
        .map(|i| RowWrite {
            table: "users".into(),
            change: RowChange::Put(Row {
                primary_key: PrimaryKey::new([("id", PkValue::Integer(i))]),
                cells: [("email", Value::String(format!("u{i}@example.com"))), ("age", Value::Integer(i % 90))]
                    .into_iter()
                    // A row in ten lacks an email: it is in by_age only.
                    .filter(|(name, _)| i % 10 != 0 || *name != "email")
                    .map(|(name, value)| Cell::put(name, value))
                    .collect(),
                ..Row::default()
            }),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        })
        .collect();
    assert!(engine.write_rows(writes).iter().all(Result::is_ok));
    engine
}

async fn repo(dir: &tempfile::TempDir) -> Repository {
    let options =
        InitOptions { password: Some("pw".into()), kdf: KdfParams { m_kib: 256, t: 1, p: 1 }, ..InitOptions::default() };
    Repository::init(Storage::from_url(dir.path().to_str().unwrap()).unwrap(), options).await.unwrap()
}

/// Every row of an index, in its key order.
fn index_rows(engine: &Engine, index: &str, key: &str) -> Vec<Row> {
    let bound = |v: PkValue| PrimaryKey::new([(key, v.clone()), ("id", v)]);
    let request = tablesafe_engine::RangeRequest {
        table: index.into(),
        direction: tablesafe_engine::Direction::Forward,
        start: bound(PkValue::InfMin),
        end: bound(PkValue::InfMax),
        limit: None,
        read: ReadOptions { max_versions: Some(1), ..ReadOptions::default() },
    };
    engine.get_range(&request).unwrap().rows
}

fn assert_same_indexes(engine: &Engine, target: &str) {
    let names: Vec<String> = engine.table(target).unwrap().indexes.iter().map(|i| i.meta.name.clone()).collect();
    assert_eq!(names, [format!("{target}_by_email"), format!("{target}_by_age")]);
    assert_eq!(engine.verify_indexes(target).unwrap(), Vec::<String>::new());
    for (index, key, rows) in [("by_email", "email", 270), ("by_age", "age", 300)] {
        let restored = index_rows(engine, &format!("{target}_{index}"), key);
        assert_eq!(restored.len(), rows, "{target}_{index}");
        assert_eq!(restored, index_rows(engine, index, key), "{target}_{index} equals {index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexed_table_restores_with_its_indexes_from_the_data_directory_and_over_the_api() {
    let (data, repo_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = indexed_engine(&data);
    let repo = repo(&repo_dir).await;
    let embedded = EmbeddedTables::new(Arc::clone(&engine), "test engine");
    let (id, snapshot) = backup(&repo, &embedded, &[], &NoProgress).await.unwrap();
    let recorded: Vec<&str> = snapshot.tables[0].definition.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(recorded, ["by_email", "by_age"], "the snapshot records the definitions");

    let options = |target: &str| RestoreOptions {
        table: "users".into(),
        target: Some(target.into()),
        ..RestoreOptions::default()
    };
    // Into the data directory: bulk-loaded rows, indexes built after.
    restore(&repo, &id, &embedded, &options("local_copy"), &NoProgress).await.unwrap();
    assert_same_indexes(&engine, "local_copy");
    assert!(verify_table(&repo, &id, "users", &embedded, "local_copy").await.unwrap().equal);

    // Over the API, from a backup taken over it: CreateTable carries the indexes,
    // BatchWriteRow keeps them.
    let endpoint = support::serve(&engine, "idx", ("k", "s")).await;
    let remote = RemoteTables::new(Client::new(&endpoint, "idx", "k", "s").unwrap());
    let (remote_id, remote_snapshot) = backup(&repo, &remote, &["users".into()], &NoProgress).await.unwrap();
    assert_eq!(remote_snapshot.tables[0].definition.indexes, snapshot.tables[0].definition.indexes);
    restore(&repo, &remote_id, &remote, &options("remote_copy"), &NoProgress).await.unwrap();
    assert_same_indexes(&engine, "remote_copy");
    assert!(verify_table(&repo, &remote_id, "users", &remote, "remote_copy").await.unwrap().equal);
}
