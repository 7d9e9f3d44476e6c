use tablesafe_engine::{EngineError, RowChange, TableUpdate};
use tablesafe_proto::model::*;

use crate::common::*;

#[test]
fn rows_and_tables_survive_reopen() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    put(&f.engine, "t", int_pk(1), vec![Cell::put("v", Value::Binary(vec![0, 255]))]);
    let f = f.reopen();
    assert_eq!(f.engine.list_tables(), vec!["t".to_string()]);
    let row = get(&f.engine, "t", &int_pk(1), &latest()).unwrap();
    assert_eq!(row.cells[0].value, Some(Value::Binary(vec![0, 255])));
    assert_eq!(row.cells[0].timestamp, Some(NOW));
}

#[test]
fn ttl_hides_then_compaction_reclaims_and_update_table_changes_it() {
    let f = Fixture::new();
    let options = TableOptions { time_to_live: 100, max_versions: 5, ..TableOptions::default() };
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), options);
    put(&f.engine, "t", int_pk(1), vec![Cell::put("v", Value::Integer(1))]);
    f.clock.advance(50_000);
    put(&f.engine, "t", int_pk(2), vec![Cell::put("v", Value::Integer(2))]);
    f.clock.advance(60_000); // row 1 is 110 s old, row 2 is 60 s old
    assert!(get(&f.engine, "t", &int_pk(1), &latest()).is_none());
    assert!(get(&f.engine, "t", &int_pk(2), &latest()).is_some());
    // An expired row does not satisfy EXPECT_EXIST.
    let update = Row { primary_key: int_pk(1), cells: vec![Cell::put("w", Value::Integer(0))], ..Row::default() };
    let expect_exist = Condition { row_existence: RowExistence::ExpectExist, column_condition: None };
    assert!(matches!(
        write(&f.engine, "t", RowChange::Update(update), expect_exist),
        Err(EngineError::ConditionFailed)
    ));
    f.engine.flush().unwrap();
    f.engine.compact().unwrap();
    f.engine.update_table("t", TableUpdate { time_to_live: Some(-1), ..TableUpdate::default() }).unwrap();
    assert!(get(&f.engine, "t", &int_pk(1), &latest()).is_none(), "compaction removed the expired row");
    assert!(get(&f.engine, "t", &int_pk(2), &latest()).is_some());
}

#[test]
fn versions_time_ranges_and_column_selection() {
    let f = Fixture::new();
    let options = TableOptions { max_versions: 3, ..TableOptions::default() };
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), options);
    let cells: Vec<Cell> = (0..4)
        .map(|i| Cell { name: "c".into(), value: Some(Value::Integer(i)), op: None, timestamp: Some(NOW - 1000 * i) })
        .chain([Cell::put("d", Value::Boolean(true))])
        .collect();
    put(&f.engine, "t", int_pk(1), cells);
    let all = ReadOptions { max_versions: Some(10), ..ReadOptions::default() };
    let row = get(&f.engine, "t", &int_pk(1), &all).unwrap();
    let c: Vec<i64> = row.cells.iter().filter(|c| c.name == "c").map(|c| c.timestamp.unwrap()).collect();
    assert_eq!(c, vec![NOW, NOW - 1000, NOW - 2000], "max_versions=3 keeps the newest three, newest first");
    let window = ReadOptions {
        time_range: Some(TimeRange::Range { start: NOW - 1500, end: NOW }),
        columns_to_get: vec!["c".into()],
        ..ReadOptions::default()
    };
    let row = get(&f.engine, "t", &int_pk(1), &window).unwrap();
    assert_eq!(row.cells.len(), 1);
    assert_eq!(row.cells[0].value, Some(Value::Integer(1)));
    let missing_column = ReadOptions { columns_to_get: vec!["zzz".into()], ..latest() };
    assert!(get(&f.engine, "t", &int_pk(1), &missing_column).is_none());
    let only_pk = ReadOptions { columns_to_get: vec!["id".into()], ..latest() };
    assert!(get(&f.engine, "t", &int_pk(1), &only_pk).unwrap().cells.is_empty());
    let no_version = ReadOptions::default();
    assert!(f.engine.get_row("t", &int_pk(1), &no_version).is_err());
}

#[test]
fn conditions_and_filters_decide_writes() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    let row = |v: i64| Row { primary_key: int_pk(1), cells: vec![Cell::put("v", Value::Integer(v))], ..Row::default() };
    let not_exist = Condition { row_existence: RowExistence::ExpectNotExist, column_condition: None };
    write(&f.engine, "t", RowChange::Put(row(1)), not_exist.clone()).unwrap();
    assert!(matches!(write(&f.engine, "t", RowChange::Put(row(2)), not_exist), Err(EngineError::ConditionFailed)));
    let v_equals = |v: i64| Condition {
        row_existence: RowExistence::Ignore,
        column_condition: Some(Filter::SingleColumn(SingleColumnFilter {
            comparator: Comparator::Equal,
            column_name: "v".into(),
            value: Some(Value::Integer(v)),
            filter_if_missing: true,
            latest_version_only: true,
            value_transfer: None,
        })),
    };
    assert!(write(&f.engine, "t", RowChange::Put(row(3)), v_equals(2)).is_err());
    write(&f.engine, "t", RowChange::Put(row(3)), v_equals(1)).unwrap();
    let got = get(&f.engine, "t", &int_pk(1), &latest()).unwrap();
    assert_eq!(got.cells[0].value, Some(Value::Integer(3)));
    write(&f.engine, "t", RowChange::Delete(int_pk(1)), v_equals(3)).unwrap();
    assert!(get(&f.engine, "t", &int_pk(1), &latest()).is_none());
}

#[test]
fn auto_increment_is_unique_and_increasing_across_restarts() {
    let f = Fixture::new();
    let mut schema = pk_schema(&[("p", PrimaryKeyType::String), ("seq", PrimaryKeyType::Integer)]);
    schema[1].auto_increment = true;
    create(&f.engine, "t", schema, TableOptions::default());
    let put_auto = |engine: &tablesafe_engine::Engine| {
        let pk = PrimaryKey::new([("p", PkValue::String("a".into())), ("seq", PkValue::AutoIncrement)]);
        let outcome = write(engine, "t", RowChange::Put(Row::from_key(pk)), Condition::default()).unwrap();
        match outcome.row.unwrap().primary_key.columns[1].value {
            PkValue::Integer(v) => v,
            ref other => panic!("not generated: {other:?}"),
        }
    };
    let a = put_auto(&f.engine);
    let b = put_auto(&f.engine);
    assert!(b > a);
    let f = f.reopen();
    let c = put_auto(&f.engine);
    assert!(c > b, "a restart must not hand out {c} again after {b}");
    let with_condition = Condition { row_existence: RowExistence::ExpectNotExist, column_condition: None };
    let pk = PrimaryKey::new([("p", PkValue::String("a".into())), ("seq", PkValue::AutoIncrement)]);
    assert!(write(&f.engine, "t", RowChange::Put(Row::from_key(pk)), with_condition).is_err());
}

#[test]
fn table_ddl_errors() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    let again = tablesafe_engine::CreateTable {
        schema: TableSchema {
            name: "t".into(),
            primary_key: pk_schema(&[("id", PrimaryKeyType::Integer)]),
            defined_columns: vec![],
        },
        options: TableOptions::default(),
        reserved: ReservedThroughput::default(),
        stream: StreamSpec::default(),
    };
    assert!(matches!(f.engine.create_table(again.clone()), Err(EngineError::TableExists { .. })));
    let mut bad_ttl = again.clone();
    bad_ttl.schema.name = "u".into();
    bad_ttl.options.time_to_live = 0;
    assert!(matches!(f.engine.create_table(bad_ttl), Err(EngineError::Invalid(_))));
    let mut five = again;
    five.schema.name = "v".into();
    five.schema.primary_key = pk_schema(&[
        ("a", PrimaryKeyType::Integer),
        ("b", PrimaryKeyType::Integer),
        ("c", PrimaryKeyType::Integer),
        ("d", PrimaryKeyType::Integer),
        ("e", PrimaryKeyType::Integer),
    ]);
    assert!(f.engine.create_table(five).is_err());
    f.engine.delete_table("t").unwrap();
    assert!(matches!(f.engine.delete_table("t"), Err(EngineError::TableNotFound { .. })));
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    assert!(get(&f.engine, "t", &int_pk(1), &latest()).is_none(), "a new table with an old name starts empty");
}

#[test]
fn reclaim_removes_expired_versions_from_rows_that_are_never_rewritten() {
    let f = Fixture::new();
    let options = TableOptions { time_to_live: 100, max_versions: 5, ..TableOptions::default() };
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), options);
    put(&f.engine, "t", int_pk(1), vec![Cell::put("old", Value::Integer(1))]);
    put(&f.engine, "t", int_pk(2), vec![Cell::put("gone", Value::Integer(2))]);
    f.clock.advance(90_000);
    let update = Row { primary_key: int_pk(1), cells: vec![Cell::put("new", Value::Integer(3))], ..Row::default() };
    // UpdateRow keeps "old" (still live at this instant).
    write(&f.engine, "t", RowChange::Update(update), Condition::default()).unwrap();
    f.clock.advance(20_000); // "old" and row 2 are 110 s old; "new" is 20 s old
    assert_eq!(f.engine.reclaim_expired().unwrap(), 2);
    assert_eq!(f.engine.reclaim_expired().unwrap(), 0, "nothing left to reclaim");
    // Turning TTL off would resurrect anything still on disk.
    f.engine.update_table("t", TableUpdate { time_to_live: Some(-1), ..TableUpdate::default() }).unwrap();
    let row = get(&f.engine, "t", &int_pk(1), &latest()).unwrap();
    let names: Vec<&str> = row.cells.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["new"]);
    assert!(get(&f.engine, "t", &int_pk(2), &latest()).is_none());
}
