//! Local transactions on the engine's own clock: the timeout, the size limit,
//! the change records of a commit as one group, a table deleted under an open
//! transaction, and a restart discarding what was never committed.

use tablesafe_engine::{
    ChangeAction, CreateTable, Engine, EngineError, ReturnContent, RowChange, RowWrite, MAX_TRANSACTION_BYTES,
    TRANSACTION_TIMEOUT_MS,
};
use tablesafe_common::Clock;
use tablesafe_proto::model::*;

use crate::common::*;

const OWNER: &str = "key-1";

fn create_two_column(engine: &Engine, name: &str, stream: bool) -> Option<String> {
    engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: name.into(),
                primary_key: pk_schema(&[("p", PrimaryKeyType::Integer), ("k", PrimaryKeyType::Integer)]),
                defined_columns: vec![],
            },
            options: TableOptions::default(),
            reserved: ReservedThroughput::default(),
            stream: StreamSpec { enabled: stream, expiration_hours: 24, columns_to_get: vec![] },
        })
        .unwrap()
        .stream_id()
}

fn key(p: i64, k: i64) -> PrimaryKey {
    PrimaryKey::new([("p", PkValue::Integer(p)), ("k", PkValue::Integer(k))])
}

fn partition(p: i64) -> PrimaryKey {
    PrimaryKey::new([("p", PkValue::Integer(p))])
}

fn put_row(table: &str, pk: PrimaryKey, value: &str) -> RowWrite {
    RowWrite {
        table: table.into(),
        change: RowChange::Put(Row {
            primary_key: pk,
            cells: vec![Cell::put("v", Value::String(value.into()))],
            ..Row::default()
        }),
        condition: Condition::default(),
        return_content: ReturnContent::None,
    }
}

fn in_txn(engine: &Engine, id: &str, write: RowWrite) -> Result<(), EngineError> {
    engine.write_rows_in_transaction(OWNER, id, vec![write])?.pop().unwrap().map(|_| ())
}

fn value_of(engine: &Engine, table: &str, pk: &PrimaryKey) -> Option<Value> {
    let read = ReadOptions { max_versions: Some(1), ..ReadOptions::default() };
    engine.get_row(table, pk, &read).unwrap().row.map(|row| row.cells[0].value.clone().unwrap())
}

#[test]
fn a_transaction_expires_after_its_timeout_and_frees_its_partition() {
    let f = Fixture::new();
    create_two_column(&f.engine, "t", false);
    let id = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    in_txn(&f.engine, &id, put_row("t", key(1, 1), "in")).unwrap();
    f.clock.advance(TRANSACTION_TIMEOUT_MS - 1);
    // Still open a millisecond before: outside writes are refused.
    let outside = f.engine.write_rows(vec![put_row("t", key(1, 2), "out")]).pop().unwrap();
    assert!(matches!(outside, Err(EngineError::RowConflict(_))), "{outside:?}");
    f.clock.advance(1);
    assert!(matches!(f.engine.commit_transaction(OWNER, &id), Err(EngineError::TransactionGone)));
    assert_eq!(value_of(&f.engine, "t", &key(1, 1)), None, "an expired transaction wrote nothing");
    f.engine.write_rows(vec![put_row("t", key(1, 2), "out")]).pop().unwrap().unwrap();
    // An expired transaction also frees its partition for a new one.
    let first = f.engine.start_transaction(OWNER, "t", &partition(2)).unwrap();
    f.clock.advance(TRANSACTION_TIMEOUT_MS);
    let second = f.engine.start_transaction(OWNER, "t", &partition(2)).unwrap();
    assert_ne!(first, second);
    assert_eq!(f.engine.open_transactions(), 1);
    // Abandoned ones on other partitions do not pile up: the next start drops
    // every expired transaction.
    for p in 10..20 {
        f.engine.start_transaction(OWNER, "t", &partition(p)).unwrap();
    }
    assert_eq!(f.engine.open_transactions(), 11);
    f.clock.advance(TRANSACTION_TIMEOUT_MS);
    f.engine.start_transaction(OWNER, "t", &partition(30)).unwrap();
    assert_eq!(f.engine.open_transactions(), 1);
}

#[test]
fn writes_past_the_size_limit_are_refused_and_the_rest_commits() {
    let f = Fixture::new();
    create_two_column(&f.engine, "t", false);
    let id = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    let big = "x".repeat(1_000_000);
    let mut accepted = 0;
    let mut refused = 0;
    for k in 0..6 {
        match in_txn(&f.engine, &id, put_row("t", key(1, k), &big)) {
            Ok(()) => accepted += 1,
            Err(EngineError::TransactionTooLarge { limit }) => {
                assert_eq!(limit, MAX_TRANSACTION_BYTES);
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((accepted, refused), (4, 2));
    f.engine.commit_transaction(OWNER, &id).unwrap();
    assert!(value_of(&f.engine, "t", &key(1, 3)).is_some());
    assert!(value_of(&f.engine, "t", &key(1, 4)).is_none());
}

#[test]
fn a_commit_is_one_group_of_change_records_stamped_at_commit() {
    let f = Fixture::new();
    let stream = create_two_column(&f.engine, "t", true).unwrap();
    let start = f.engine.stream_position(&stream, None).unwrap();
    let id = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    for k in 0..3 {
        in_txn(&f.engine, &id, put_row("t", key(1, k), "in")).unwrap();
    }
    // Written between the transaction's writes and its commit: before it in the stream.
    f.engine.write_rows(vec![put_row("t", key(2, 0), "outside")]).pop().unwrap().unwrap();
    in_txn(
        &f.engine,
        &id,
        RowWrite {
            table: "t".into(),
            change: RowChange::Delete(key(1, 1)),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        },
    )
    .unwrap();
    f.clock.advance(5);
    f.engine.commit_transaction(OWNER, &id).unwrap();
    let records = f.engine.stream_read(&stream, start, 100).unwrap().records;
    let shape: Vec<(i64, i64, ChangeAction)> = records
        .iter()
        .map(|r| {
            let pk = &r.row.primary_key.columns;
            let int = |i: usize| match pk[i].value {
                PkValue::Integer(v) => v,
                _ => panic!(),
            };
            (int(0), int(1), r.action)
        })
        .collect();
    assert_eq!(
        shape,
        [
            (2, 0, ChangeAction::Put),
            (1, 0, ChangeAction::Put),
            (1, 1, ChangeAction::Put),
            (1, 2, ChangeAction::Put),
            (1, 1, ChangeAction::Delete)
        ]
    );
    let seqs: Vec<u64> = records[1..].iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "consecutive: {seqs:?}");
    let stamped = records[1].row.seq_info.unwrap().timestamp;
    assert_eq!(stamped, f.clock.now_micros(), "stamped at commit");
}

#[test]
fn deleting_the_table_ends_its_transactions() {
    let f = Fixture::new();
    create_two_column(&f.engine, "t", false);
    let id = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    in_txn(&f.engine, &id, put_row("t", key(1, 1), "in")).unwrap();
    f.engine.delete_table("t").unwrap();
    create_two_column(&f.engine, "t", false);
    assert!(matches!(f.engine.commit_transaction(OWNER, &id), Err(EngineError::TransactionGone)));
    assert_eq!(value_of(&f.engine, "t", &key(1, 1)), None);
}

#[test]
fn a_restart_discards_open_transactions_and_keeps_committed_ones() {
    let f = Fixture::new();
    create_two_column(&f.engine, "t", false);
    let committed = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    in_txn(&f.engine, &committed, put_row("t", key(1, 1), "kept")).unwrap();
    f.engine.commit_transaction(OWNER, &committed).unwrap();
    let open = f.engine.start_transaction(OWNER, "t", &partition(2)).unwrap();
    in_txn(&f.engine, &open, put_row("t", key(2, 1), "lost")).unwrap();
    let f = f.reopen();
    assert_eq!(value_of(&f.engine, "t", &key(1, 1)), Some(Value::String("kept".into())));
    assert_eq!(value_of(&f.engine, "t", &key(2, 1)), None);
    assert!(matches!(f.engine.commit_transaction(OWNER, &open), Err(EngineError::TransactionGone)));
    f.engine.write_rows(vec![put_row("t", key(2, 1), "free")]).pop().unwrap().unwrap();
}

#[test]
fn another_owner_cannot_use_a_transaction() {
    let f = Fixture::new();
    create_two_column(&f.engine, "t", false);
    let id = f.engine.start_transaction(OWNER, "t", &partition(1)).unwrap();
    let read = ReadOptions::default();
    assert!(matches!(
        f.engine.get_row_in_transaction("key-2", &id, "t", &key(1, 1), &read),
        Err(EngineError::TransactionGone)
    ));
    assert!(matches!(f.engine.abort_transaction("key-2", &id), Err(EngineError::TransactionGone)));
    f.engine.abort_transaction(OWNER, &id).unwrap();
}
