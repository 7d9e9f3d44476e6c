//! Bulk loads (`TableLoad`): nothing shows before the ingest, everything after,
//! rows replace stored ones, keys must ascend, and no file outlives its load.

use tablesafe_engine::{EngineError, LoadBatch};
use tablesafe_proto::model::*;

use crate::common::*;

fn all_versions() -> ReadOptions {
    ReadOptions { max_versions: Some(i32::MAX), ..ReadOptions::default() }
}

fn count(f: &Fixture, table: &str) -> usize {
    let mut rows = 0;
    f.engine.export_table(table, |_| Ok::<(), EngineError>(()), |_| {
        rows += 1;
        Ok(())
    })
    .unwrap();
    rows
}

fn load_files(f: &Fixture) -> usize {
    let dir = f.dir.path().join("load-tmp");
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.flatten().map(|e| std::fs::read_dir(e.path()).map_or(0, |files| files.count())).sum()
    })
}

#[test]
fn a_load_shows_all_its_rows_at_once_and_replaces_stored_ones() {
    let f = Fixture::new();
    let options = TableOptions { max_versions: 5, ..TableOptions::default() };
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), options);
    for id in 0..10 {
        put(&f.engine, "t", int_pk(id), vec![Cell::version("old", Value::Integer(id), NOW - 5)]);
    }
    let mut load = f.engine.start_load("t").unwrap();
    let encoder = load.encoder();
    for ids in [5..1_000, 1_000..3_000] {
        let mut batch = LoadBatch::default();
        for id in ids {
            let cells = [
                ("a", ValueRef::Integer(id), NOW),
                ("b", ValueRef::String("new"), NOW),
                ("b", ValueRef::String("older"), NOW - 1),
            ];
            encoder.add_cells(&mut batch, &int_pk(id), cells).unwrap();
        }
        load.write(&batch).unwrap();
    }
    // Cells in another order are stored in canonical order all the same.
    let mut batch = LoadBatch::default();
    let unsorted = [("b", ValueRef::Binary(b"\0"), NOW - 2), ("a", ValueRef::Double(0.5), NOW)];
    encoder.add_cells(&mut batch, &int_pk(3_000), unsorted).unwrap();
    load.write(&batch).unwrap();
    let mut behind = LoadBatch::default();
    encoder.add_cells(&mut behind, &int_pk(10), []).unwrap();
    let err = load.write(&behind).unwrap_err();
    assert!(err.to_string().contains("ascending"), "{err}");
    let other = PrimaryKey::new([("other", PkValue::Integer(1))]);
    assert!(encoder.add_cells(&mut LoadBatch::default(), &other, []).is_err(), "a key not of the schema");
    assert!(get(&f.engine, "t", &int_pk(100), &latest()).is_none(), "rows show before the ingest");
    assert!(load_files(&f) > 0);
    assert_eq!(f.engine.finish_load(load).unwrap(), 2_996);
    assert_eq!(load_files(&f), 0, "the files moved into the database");

    assert_eq!(count(&f, "t"), 3_001);
    let kept = get(&f.engine, "t", &int_pk(4), &all_versions()).unwrap();
    assert_eq!(kept.cells, vec![Cell::version("old", Value::Integer(4), NOW - 5)]);
    let replaced = get(&f.engine, "t", &int_pk(7), &all_versions()).unwrap();
    assert_eq!(
        replaced.cells,
        vec![
            Cell::version("a", Value::Integer(7), NOW),
            Cell::version("b", Value::String("new".into()), NOW),
            Cell::version("b", Value::String("older".into()), NOW - 1),
        ]
    );
    let sorted = get(&f.engine, "t", &int_pk(3_000), &all_versions()).unwrap();
    assert_eq!(sorted.cells[0].name, "a");

    // A replacing load leaves only its own rows, across a reopen too.
    let mut load = f.engine.start_load("t").unwrap().replacing();
    let mut batch = LoadBatch::default();
    let row = Row { primary_key: int_pk(2), cells: vec![Cell::version("z", Value::Boolean(true), NOW)], ..Row::default() };
    load.encoder().add_row(&mut batch, row).unwrap();
    load.write(&batch).unwrap();
    f.engine.finish_load(load).unwrap();
    let f = f.reopen();
    assert_eq!(count(&f, "t"), 1);
    assert!(get(&f.engine, "t", &int_pk(2), &latest()).is_some());
}

#[test]
fn a_dropped_load_or_one_whose_table_went_leaves_nothing() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    let one = |load: &mut tablesafe_engine::TableLoad| {
        let mut batch = LoadBatch::default();
        load.encoder().add_cells(&mut batch, &int_pk(1), [("a", ValueRef::Integer(1), NOW)]).unwrap();
        load.write(&batch).unwrap();
    };
    let mut load = f.engine.start_load("t").unwrap();
    one(&mut load);
    drop(load);
    assert_eq!(load_files(&f), 0);
    assert_eq!(count(&f, "t"), 0);

    let mut load = f.engine.start_load("t").unwrap();
    one(&mut load);
    f.engine.delete_table("t").unwrap();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    assert!(f.engine.finish_load(load).is_err(), "a load must not land in a table created after it began");
    assert_eq!(count(&f, "t"), 0);
    assert_eq!(load_files(&f), 0);
}
