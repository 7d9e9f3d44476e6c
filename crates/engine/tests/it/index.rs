//! Secondary indexes: a property test of random puts, updates and deletes (alone,
//! in batches and in local transactions) keeping every index equal to the index
//! recomputed from its table; an index built for the rows a table has; drop; and
//! the checks on definitions.

use proptest::prelude::*;
use tablesafe_engine::{
    CreateTable, Direction, Engine, EngineError, RangeRequest, ReturnContent, RowChange, RowWrite,
};
use tablesafe_proto::model::*;

use crate::common::*;

const OWNER: &str = "key-1";

fn index(name: &str, primary_key: &[&str], defined: &[&str], index_type: IndexType) -> IndexMeta {
    IndexMeta {
        name: name.into(),
        primary_key: primary_key.iter().map(|s| (*s).into()).collect(),
        defined_columns: defined.iter().map(|s| (*s).into()).collect(),
        update_mode: IndexUpdateMode::Async,
        index_type,
    }
}

fn table_request(name: &str) -> CreateTable {
    let defined = |name: &str, column_type| DefinedColumnSchema { name: name.into(), column_type };
    CreateTable {
        schema: TableSchema {
            name: name.into(),
            primary_key: pk_schema(&[("p", PrimaryKeyType::Integer), ("k", PrimaryKeyType::String)]),
            defined_columns: vec![
                defined("a", DefinedColumnType::Integer),
                defined("b", DefinedColumnType::String),
                defined("c", DefinedColumnType::Double),
            ],
        },
        options: TableOptions { time_to_live: -1, max_versions: 1, ..TableOptions::default() },
        reserved: ReservedThroughput::default(),
        stream: StreamSpec::default(),
    }
}

/// The indexes of the property: global on `a` carrying `b` and `c`, local on
/// (`p`, `b`) carrying `a`.
fn indexes() -> Vec<IndexMeta> {
    vec![index("by_a", &["a"], &["b", "c"], IndexType::Global), index("by_pb", &["p", "b"], &["a"], IndexType::Local)]
}

/// Every row of a table or an index, in key order, page by page.
fn scan(engine: &Engine, name: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut start = bound(engine, name, PkValue::InfMin);
    loop {
        let request = RangeRequest {
            table: name.into(),
            direction: Direction::Forward,
            start,
            end: bound(engine, name, PkValue::InfMax),
            limit: Some(7),
            read: ReadOptions { max_versions: Some(1), ..ReadOptions::default() },
        };
        let page = engine.get_range(&request).unwrap();
        rows.extend(page.rows);
        match page.next_start {
            Some(next) => start = next,
            None => return rows,
        }
    }
}

/// INF_MIN / INF_MAX over every key column of a table or an index (an index's
/// key columns: its own, then its table's others).
fn bound(engine: &Engine, name: &str, value: PkValue) -> PrimaryKey {
    let names: Vec<String> = match engine.table(name) {
        Ok(info) => info.schema.primary_key.iter().map(|c| c.name.clone()).collect(),
        Err(_) => {
            let table = engine.table("t").unwrap();
            let meta = &table.indexes.iter().find(|i| i.meta.name == name).unwrap().meta;
            let mut names = meta.primary_key.clone();
            names.extend(table.schema.primary_key.iter().map(|c| c.name.clone()).filter(|n| !meta.primary_key.contains(n)));
            names
        }
    };
    PrimaryKey::new(names.into_iter().map(|n| (n, value.clone())))
}

/// The index recomputed from the table's rows, in the index's key order.
fn expected_index(rows: &[Row], meta: &IndexMeta) -> Vec<(PrimaryKey, Vec<Cell>)> {
    let mut out: Vec<(PrimaryKey, Vec<Cell>)> = rows
        .iter()
        .filter_map(|row| {
            let mut key = Vec::new();
            for name in &meta.primary_key {
                let value = match row.primary_key.columns.iter().find(|c| &c.name == name) {
                    Some(c) => c.value.clone(),
                    None => match row.cells.iter().find(|c| &c.name == name)?.value.clone()? {
                        Value::Integer(i) => PkValue::Integer(i),
                        Value::String(s) => PkValue::String(s),
                        _ => return None,
                    },
                };
                key.push((name.clone(), value));
            }
            key.extend(
                row.primary_key
                    .columns
                    .iter()
                    .filter(|c| !meta.primary_key.contains(&c.name))
                    .map(|c| (c.name.clone(), c.value.clone())),
            );
            let mut cells: Vec<Cell> =
                row.cells.iter().filter(|c| meta.defined_columns.contains(&c.name)).cloned().collect();
            cells.sort_by(|a, b| a.name.cmp(&b.name));
            Some((PrimaryKey::new(key), cells))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp_values(&b.0));
    out
}

fn actual_index(engine: &Engine, name: &str) -> Vec<(PrimaryKey, Vec<Cell>)> {
    scan(engine, name)
        .into_iter()
        .map(|mut row| {
            row.cells.sort_by(|a, b| a.name.cmp(&b.name));
            (row.primary_key, row.cells)
        })
        .collect()
}

fn assert_indexes_agree(engine: &Engine) {
    let rows = scan(engine, "t");
    for meta in engine.table("t").unwrap().indexes.iter().map(|i| &i.meta) {
        assert_eq!(actual_index(engine, &meta.name), expected_index(&rows, meta), "index {}", meta.name);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put { p: i64, k: u8, a: Option<i64>, b: Option<u8>, c: bool },
    SetA { p: i64, k: u8, a: i64 },
    DropB { p: i64, k: u8 },
    Delete { p: i64, k: u8 },
    Batch(Vec<(i64, u8, Option<i64>)>),
    Transaction { p: i64, writes: Vec<(u8, Option<i64>)>, commit: bool },
}

fn key(p: i64, k: u8) -> PrimaryKey {
    PrimaryKey::new([("p", PkValue::Integer(p)), ("k", PkValue::String(format!("k{k}")))])
}

fn put(p: i64, k: u8, a: Option<i64>, b: Option<u8>, c: bool) -> RowWrite {
    let mut cells = vec![Cell::put("x", Value::Integer(1))];
    if let Some(a) = a {
        cells.push(Cell::put("a", Value::Integer(a)));
    }
    if let Some(b) = b {
        cells.push(Cell::put("b", Value::String(format!("b{b}"))));
    }
    if c {
        cells.push(Cell::put("c", Value::Double(0.5)));
    }
    write(RowChange::Put(Row { primary_key: key(p, k), cells, ..Row::default() }))
}

fn write(change: RowChange) -> RowWrite {
    RowWrite { table: "t".into(), change, condition: Condition::default(), return_content: ReturnContent::None }
}

fn update(p: i64, k: u8, cells: Vec<Cell>) -> RowWrite {
    write(RowChange::Update(Row { primary_key: key(p, k), cells, ..Row::default() }))
}

fn apply(engine: &Engine, op: &Op) {
    match op {
        Op::Put { p, k, a, b, c } => drop(engine.write_rows(vec![put(*p, *k, *a, *b, *c)])),
        Op::SetA { p, k, a } => drop(engine.write_rows(vec![update(*p, *k, vec![Cell::put("a", Value::Integer(*a))])])),
        Op::DropB { p, k } => drop(engine.write_rows(vec![update(*p, *k, vec![Cell { name: "b".into(), value: None, op: Some(CellOp::DeleteAllVersions), timestamp: None }])])),
        Op::Delete { p, k } => drop(engine.write_rows(vec![write(RowChange::Delete(key(*p, *k)))])),
        Op::Batch(rows) => drop(engine.write_rows(rows.iter().map(|(p, k, a)| put(*p, *k, *a, Some(*k), false)).collect())),
        Op::Transaction { p, writes, commit } => {
            let id = engine.start_transaction(OWNER, "t", &PrimaryKey::new([("p", PkValue::Integer(*p))])).unwrap();
            let writes = writes
                .iter()
                .map(|(k, a)| match a {
                    Some(a) => update(*p, *k, vec![Cell::put("a", Value::Integer(*a))]),
                    None => write(RowChange::Delete(key(*p, *k))),
                })
                .collect();
            engine.write_rows_in_transaction(OWNER, &id, writes).unwrap();
            if *commit {
                engine.commit_transaction(OWNER, &id).unwrap();
            } else {
                engine.abort_transaction(OWNER, &id).unwrap();
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..3i64;
    let k = 0..6u8;
    prop_oneof![
        3 => (p.clone(), k.clone(), proptest::option::of(0..4i64), proptest::option::of(0..3u8), any::<bool>())
            .prop_map(|(p, k, a, b, c)| Op::Put { p, k, a, b, c }),
        2 => (p.clone(), k.clone(), 0..4i64).prop_map(|(p, k, a)| Op::SetA { p, k, a }),
        1 => (p.clone(), k.clone()).prop_map(|(p, k)| Op::DropB { p, k }),
        2 => (p.clone(), k.clone()).prop_map(|(p, k)| Op::Delete { p, k }),
        1 => proptest::collection::vec((p.clone(), k.clone(), proptest::option::of(0..4i64)), 1..6).prop_map(Op::Batch),
        1 => (p, proptest::collection::vec((k, proptest::option::of(0..4i64)), 1..5), any::<bool>())
            .prop_map(|(p, writes, commit)| Op::Transaction { p, writes, commit }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_index_equals_the_index_recomputed_from_its_table(ops in proptest::collection::vec(op(), 1..40)) {
        let f = Fixture::new();
        f.engine.create_table_with_indexes(table_request("t"), indexes()).unwrap();
        for (i, op) in ops.iter().enumerate() {
            apply(&f.engine, op);
            if i % 10 == 9 {
                assert_indexes_agree(&f.engine);
            }
        }
        assert_indexes_agree(&f.engine);
        // Built for the rows the table has, a new index equals its recomputation too.
        let late = index("late", &["b", "k"], &["a"], IndexType::Global);
        f.engine.create_index("t", late, true).unwrap();
        assert_indexes_agree(&f.engine);
        let f = f.reopen();
        assert_indexes_agree(&f.engine);
    }
}

#[test]
fn an_index_is_dropped_with_its_rows_and_refuses_what_the_service_refuses() {
    let f = Fixture::new();
    f.engine.create_table_with_indexes(table_request("t"), indexes()).unwrap();
    apply(&f.engine, &Op::Put { p: 1, k: 1, a: Some(2), b: Some(1), c: true });
    assert_eq!(actual_index(&f.engine, "by_a").len(), 1);
    // An index is read, never written.
    let written = f.engine.write_rows(vec![RowWrite { table: "by_a".into(), ..put(1, 1, None, None, false) }]);
    assert!(matches!(written[0], Err(EngineError::TableNotFound { .. })), "{written:?}");
    f.engine.drop_index("t", "by_a").unwrap();
    assert!(matches!(f.engine.get_row("by_a", &key(1, 1), &ReadOptions::default()), Err(EngineError::TableNotFound { .. })));
    assert_eq!(f.engine.table("t").unwrap().indexes.len(), 1);

    let refused = [
        index("t", &["a"], &[], IndexType::Global),
        index("by_pb", &["a"], &[], IndexType::Global),
        index("i1", &[], &[], IndexType::Global),
        index("i2", &["c"], &[], IndexType::Global),
        index("i3", &["nope"], &[], IndexType::Global),
        index("i4", &["a"], &["nope"], IndexType::Global),
        index("i5", &["a", "a"], &[], IndexType::Global),
        index("i6", &["a"], &[], IndexType::Local),
    ];
    for meta in refused {
        let name = meta.name.clone();
        assert!(f.engine.create_index("t", meta, false).is_err(), "{name} was accepted");
    }
    // A table that keeps versions or has a TTL cannot have an index, nor get one.
    let mut versioned = table_request("v");
    versioned.options.max_versions = 2;
    assert!(f.engine.create_table_with_indexes(versioned, vec![index("vi", &["a"], &[], IndexType::Global)]).is_err());
    assert!(f.engine.table("v").is_err(), "nothing is created when an index is refused");
    let update = tablesafe_engine::TableUpdate { max_versions: Some(3), ..Default::default() };
    assert!(f.engine.update_table("t", update).is_err());
    // DeleteTable drops its indexes.
    f.engine.delete_table("t").unwrap();
    assert!(f.engine.get_row("by_pb", &key(1, 1), &ReadOptions::default()).is_err());
}

#[test]
fn rows_imported_around_the_upkeep_are_found_by_the_check_and_indexed_by_a_rebuild() {
    let f = Fixture::new();
    f.engine.create_table_with_indexes(table_request("t"), indexes()).unwrap();
    apply(&f.engine, &Op::Put { p: 0, k: 0, a: Some(1), b: Some(1), c: false });
    assert_eq!(f.engine.verify_indexes("t").unwrap(), Vec::<String>::new());
    // A restore's import writes rows as they were stored, without index rows.
    let imported: Vec<Row> = (1..4)
        .map(|k| Row {
            primary_key: key(1, k),
            cells: vec![Cell::version("a", Value::Integer(k.into()), NOW), Cell::version("b", Value::String("b".into()), NOW)],
            ..Row::default()
        })
        .collect();
    f.engine.import_rows("t", &imported).unwrap();
    let problems = f.engine.verify_indexes("t").unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("by_a") && problems[0].contains("3 rows missing"), "{problems:?}");
    f.engine.rebuild_indexes("t").unwrap();
    assert_eq!(f.engine.verify_indexes("t").unwrap(), Vec::<String>::new());
    assert_indexes_agree(&f.engine);
}
