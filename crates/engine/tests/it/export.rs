use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tablesafe_engine::{CreateTable, EngineError, RowChange};
use tablesafe_proto::model::*;

use crate::common::*;
use crate::stream::{dump, replay};

fn create_with_stream(f: &Fixture, name: &str, stream: bool) {
    f.engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: name.into(),
                primary_key: pk_schema(&[("id", PrimaryKeyType::Integer)]),
                defined_columns: vec![],
            },
            options: TableOptions { max_versions: 3, ..TableOptions::default() },
            reserved: ReservedThroughput::default(),
            stream: StreamSpec { enabled: stream, expiration_hours: 24, columns_to_get: vec![] },
        })
        .unwrap();
}

#[test]
fn an_export_during_writes_plus_the_stream_after_its_position_rebuilds_the_table() {
    let f = Fixture::new();
    create_with_stream(&f, "src", true);
    create_with_stream(&f, "copy", false);
    create_with_stream(&f, "owned_copy", false);
    let stream_id = f.engine.table("src").unwrap().stream_id().unwrap();
    let engine = Arc::new(f.engine);
    let running = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..4i64)
        .map(|w| {
            let (engine, running) = (Arc::clone(&engine), Arc::clone(&running));
            std::thread::spawn(move || {
                let mut i = 0i64;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    let id = (i * 7 + w) % 300;
                    let change = match i % 5 {
                        0 => RowChange::Delete(int_pk(id)),
                        1 | 2 => RowChange::Update(Row {
                            primary_key: int_pk(id),
                            cells: vec![
                                Cell {
                                    name: "n".into(),
                                    value: Some(Value::Integer(1)),
                                    op: Some(CellOp::Increment),
                                    timestamp: None,
                                },
                                Cell::version("v", Value::Integer(i), NOW - i % 4),
                            ],
                            ..Row::default()
                        }),
                        _ => RowChange::Put(Row {
                            primary_key: int_pk(id),
                            cells: vec![Cell::put("s", Value::String(format!("{w}-{i}")))],
                            ..Row::default()
                        }),
                    };
                    write(&engine, "src", change, Condition::default()).unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut exported = Vec::new();
    let export = engine
        .export_table(
            "src",
            |_| Ok(()),
            |row| {
                exported.push(row);
                Ok::<(), EngineError>(())
            },
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    running.store(false, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let position = export.stream_position.expect("a stream-enabled table has a position");
    assert_eq!(export.rows as usize, exported.len());
    assert!(exported.windows(2).all(|w| w[0].primary_key.cmp_values(&w[1].primary_key).is_lt()), "key order");

    engine.import_rows("copy", &exported).unwrap();
    // The owned, unsynced import stores the same rows, whatever the order of their cells.
    let shuffled: Vec<Row> = exported
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.cells.reverse();
            row
        })
        .collect();
    engine.import_owned_rows_unsynced("owned_copy", shuffled).unwrap();
    engine.sync_wal().unwrap();
    let mut owned = Vec::new();
    engine.export_table("owned_copy", |_| Ok::<(), EngineError>(()), |row| {
        owned.push(row);
        Ok::<(), EngineError>(())
    })
    .unwrap();
    assert_eq!(owned, exported);
    let mut from = position;
    let mut replayed = 0;
    loop {
        let page = engine.stream_read(&stream_id, from, 500).unwrap();
        if page.records.is_empty() {
            break;
        }
        for record in &page.records {
            replay(&engine, "copy", record);
        }
        replayed += page.records.len();
        from = page.next;
    }
    assert!(replayed > 0, "writes continued after the export");
    assert_eq!(dump(&engine, "src"), dump(&engine, "copy"));
}

#[test]
fn export_skips_expired_versions_and_import_keeps_timestamps_and_counters() {
    let f = Fixture::new();
    f.engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: "t".into(),
                primary_key: vec![
                    PrimaryKeySchema { name: "p".into(), key_type: PrimaryKeyType::String, auto_increment: false },
                    PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: true },
                ],
                defined_columns: vec![],
            },
            options: TableOptions { time_to_live: 3600, ..TableOptions::default() },
            reserved: ReservedThroughput::default(),
            stream: StreamSpec::default(),
        })
        .unwrap();
    let key = |id: PkValue| PrimaryKey::new([("p", PkValue::String("a".into())), ("id", id)]);
    for _ in 0..3 {
        let row = Row {
            primary_key: key(PkValue::AutoIncrement),
            cells: vec![Cell::put("v", Value::Integer(1))],
            ..Row::default()
        };
        write(&f.engine, "t", RowChange::Put(row), Condition::default()).unwrap();
    }
    f.clock.advance(1_800_000);
    let row = Row {
        primary_key: key(PkValue::Integer(2)),
        cells: vec![Cell::put("w", Value::Boolean(true))],
        ..Row::default()
    };
    write(&f.engine, "t", RowChange::Update(row), Condition::default()).unwrap();
    f.clock.advance(1_900_000);
    let mut rows = Vec::new();
    let export = f.engine.export_table(
        "t",
        |_| Ok(()),
        |r| {
            rows.push(r);
            Ok::<(), EngineError>(())
        },
    );
    let export = export.unwrap();
    assert_eq!(export.auto_increment, Some(3));
    assert_eq!(export.stream_position, None);
    assert_eq!(rows.len(), 1, "rows 1 and 3 expired entirely");
    assert_eq!(rows[0].cells, vec![Cell::version("w", Value::Boolean(true), NOW + 1_800_000)]);

    f.engine.delete_table("t").unwrap();
    let err = f.engine.import_rows("t", &rows).unwrap_err();
    assert!(matches!(err, EngineError::TableNotFound { .. }));
}
