use std::sync::Arc;

use tablesafe_engine::{
    ChangeAction, ChangeRecord, CreateTable, Direction, Engine, EngineError, RangeRequest, ReturnContent, RowChange,
    RowWrite, TableUpdate,
};
use tablesafe_proto::model::*;

use crate::common::*;

fn stream_on(hours: i32) -> StreamSpec {
    StreamSpec { enabled: true, expiration_hours: hours, columns_to_get: vec![] }
}

fn create_streamed(engine: &Engine, name: &str, options: TableOptions) -> String {
    engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: name.into(),
                primary_key: pk_schema(&[("id", PrimaryKeyType::Integer)]),
                defined_columns: vec![],
            },
            options,
            reserved: ReservedThroughput::default(),
            stream: stream_on(24),
        })
        .unwrap()
        .stream_id()
        .unwrap()
}

fn read_all(engine: &Engine, stream_id: &str) -> Vec<ChangeRecord> {
    let mut position = engine.stream_position(stream_id, None).unwrap();
    let mut out = Vec::new();
    loop {
        let page = engine.stream_read(stream_id, position, 7).unwrap();
        if page.records.is_empty() {
            return out;
        }
        out.extend(page.records);
        position = page.next;
    }
}

fn cell(name: &str, value: Option<Value>, op: Option<CellOp>, timestamp: Option<i64>) -> Cell {
    Cell { name: name.into(), value, op, timestamp }
}

/// Applies a change record to another table, as a stream follower would.
pub fn replay(engine: &Engine, table: &str, record: &ChangeRecord) {
    let row = Row { primary_key: record.row.primary_key.clone(), cells: record.row.cells.clone(), ..Row::default() };
    let change = match record.action {
        ChangeAction::Put => RowChange::Put(row),
        ChangeAction::Update => RowChange::Update(row),
        ChangeAction::Delete => RowChange::Delete(row.primary_key),
    };
    write(engine, table, change, Condition::default()).unwrap();
}

/// Every row of a table with every version.
pub fn dump(engine: &Engine, table: &str) -> Vec<Row> {
    let mut start = PrimaryKey::new([("id", PkValue::InfMin)]);
    let end = PrimaryKey::new([("id", PkValue::InfMax)]);
    let read = ReadOptions { max_versions: Some(i32::MAX), ..ReadOptions::default() };
    let mut rows = Vec::new();
    loop {
        let request = RangeRequest {
            table: table.into(),
            direction: Direction::Forward,
            start: start.clone(),
            end: end.clone(),
            limit: None,
            read: read.clone(),
        };
        let page = engine.get_range(&request).unwrap();
        rows.extend(page.rows);
        match page.next_start {
            Some(next) => start = next,
            None => return rows,
        }
    }
}

#[test]
fn records_carry_the_change_as_applied_in_order() {
    let f = Fixture::new();
    let stream = create_streamed(&f.engine, "t", TableOptions { max_versions: 5, ..TableOptions::default() });
    put(
        &f.engine,
        "t",
        int_pk(1),
        vec![Cell::put("a", Value::Integer(1)), cell("b", Some(Value::Boolean(true)), None, Some(NOW - 5))],
    );
    let update = Row {
        primary_key: int_pk(1),
        cells: vec![
            cell("n", Some(Value::Integer(5)), Some(CellOp::Increment), None),
            cell("b", None, Some(CellOp::DeleteOneVersion), Some(NOW - 5)),
            cell("a", None, Some(CellOp::DeleteAllVersions), None),
        ],
        ..Row::default()
    };
    write(&f.engine, "t", RowChange::Update(update), Condition::default()).unwrap();
    // A failed condition changes nothing and records nothing.
    let failed = write(
        &f.engine,
        "t",
        RowChange::Delete(int_pk(2)),
        Condition { row_existence: RowExistence::ExpectExist, column_condition: None },
    );
    assert!(matches!(failed, Err(EngineError::ConditionFailed)));
    write(&f.engine, "t", RowChange::Delete(int_pk(1)), Condition::default()).unwrap();

    let records = read_all(&f.engine, &stream);
    let actions: Vec<ChangeAction> = records.iter().map(|r| r.action).collect();
    assert_eq!(actions, [ChangeAction::Put, ChangeAction::Update, ChangeAction::Delete]);
    assert_eq!(
        records[0].row.cells,
        vec![Cell::version("a", Value::Integer(1), NOW), Cell::version("b", Value::Boolean(true), NOW - 5)]
    );
    assert_eq!(
        records[1].row.cells,
        vec![
            Cell::version("n", Value::Integer(5), NOW),
            cell("b", None, Some(CellOp::DeleteOneVersion), Some(NOW - 5)),
            cell("a", None, Some(CellOp::DeleteAllVersions), None),
        ]
    );
    assert!(records[2].row.cells.is_empty());
    assert!(records.iter().all(|r| r.row.primary_key == int_pk(1)));
    let seq_infos: Vec<(i64, i32)> =
        records.iter().map(|r| r.row.seq_info.map(|s| (s.timestamp, s.row_index)).unwrap()).collect();
    assert!(seq_infos.windows(2).all(|w| w[0] < w[1]), "seq info must increase: {seq_infos:?}");
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[test]
fn tables_without_a_stream_record_nothing_and_unknown_streams_are_errors() {
    let f = Fixture::new();
    create(&f.engine, "plain", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    put(&f.engine, "plain", int_pk(1), vec![Cell::put("a", Value::Integer(1))]);
    assert!(f.engine.stream_tables().is_empty());
    assert!(matches!(f.engine.stream_position("plain_1", None), Err(EngineError::StreamNotFound { .. })));
    assert!(matches!(f.engine.stream_read("nope", 0, 10), Err(EngineError::StreamTrimmed)));
}

#[test]
fn a_kept_change_log_records_without_a_client_stream_and_outlives_the_clients_stream() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    put(&f.engine, "t", int_pk(0), vec![Cell::put("a", Value::Integer(0))]);
    let info = f.engine.keep_change_log("t", true).unwrap();
    assert_eq!(info.stream, StreamSpec::default(), "the client's stream settings stay as they were");
    assert!(info.stream_id().is_none() && f.engine.stream_tables().is_empty(), "ListStream shows client streams only");
    let log = info.change_log_id().unwrap();
    put(&f.engine, "t", int_pk(1), vec![Cell::put("a", Value::Integer(1))]);
    let keys = |log: &str| -> Vec<PrimaryKey> {
        let from = f.engine.stream_position(log, None).unwrap();
        f.engine.stream_read(log, from, 100).unwrap().records.into_iter().map(|r| r.row.primary_key).collect()
    };
    assert_eq!(keys(&log), vec![int_pk(1)], "the change after the log came on, not the row before");

    // The client's stream comes and goes on the same log: nothing is lost.
    let on = f.engine.update_table("t", TableUpdate { stream: Some(stream_on(1)), ..TableUpdate::default() }).unwrap();
    assert_eq!(on.stream_id().as_deref(), Some(log.as_str()));
    put(&f.engine, "t", int_pk(2), vec![Cell::put("a", Value::Integer(2))]);
    let off = StreamSpec::default();
    f.engine.update_table("t", TableUpdate { stream: Some(off), ..TableUpdate::default() }).unwrap();
    put(&f.engine, "t", int_pk(3), vec![Cell::put("a", Value::Integer(3))]);
    assert_eq!(keys(&log), vec![int_pk(1), int_pk(2), int_pk(3)]);

    // Kept across a restart; once no longer kept (and no client stream) it is gone.
    let f = f.reopen();
    assert_eq!(f.engine.table("t").unwrap().change_log_id().as_deref(), Some(log.as_str()));
    let info = f.engine.keep_change_log("t", false).unwrap();
    assert!(info.change_log_id().is_none());
    assert!(matches!(f.engine.stream_position(&log, None), Err(EngineError::StreamNotFound { .. })));
    put(&f.engine, "t", int_pk(4), vec![Cell::put("a", Value::Integer(4))]);
    assert!(f.engine.logged_tables().is_empty());
}

#[test]
fn a_follower_rebuilds_an_equal_table_from_the_records_alone() {
    let f = Fixture::new();
    let options = TableOptions { max_versions: 3, ..TableOptions::default() };
    let stream = create_streamed(&f.engine, "src", options);
    create(&f.engine, "copy", pk_schema(&[("id", PrimaryKeyType::Integer)]), options);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for step in 0..3000i64 {
        let id = (next() % 50) as i64;
        let ts = NOW - (next() % 20) as i64;
        let cells = match next() % 6 {
            0 => vec![
                cell("a", Some(Value::Integer(step)), None, Some(ts)),
                Cell::put("s", Value::String(format!("v{step}"))),
            ],
            1 => vec![cell("a", Some(Value::Double(step as f64 / 3.0)), None, Some(ts))],
            2 => vec![cell("a", None, Some(CellOp::DeleteOneVersion), Some(ts))],
            3 => vec![cell("s", None, Some(CellOp::DeleteAllVersions), None)],
            4 => vec![cell("n", Some(Value::Integer(3)), Some(CellOp::Increment), None)],
            _ => vec![],
        };
        let row = Row { primary_key: int_pk(id), cells: cells.clone(), ..Row::default() };
        let change = match (next() % 4, cells.is_empty()) {
            (_, true) => RowChange::Delete(int_pk(id)),
            (0, false) if !cells.iter().any(|c| c.op.is_some()) => RowChange::Put(row),
            _ => RowChange::Update(row),
        };
        // Increments on a non-integer column fail; that must record nothing.
        let _ = write(&f.engine, "src", change, Condition::default());
        if step % 100 == 0 {
            f.clock.advance(1);
        }
    }
    for record in read_all(&f.engine, &stream) {
        replay(&f.engine, "copy", &record);
    }
    let original = dump(&f.engine, "src");
    assert!(original.len() > 10);
    assert_eq!(original, dump(&f.engine, "copy"));
}

#[test]
fn readers_never_see_a_record_out_of_order_under_concurrent_writers() {
    let f = Fixture::new();
    let stream = create_streamed(&f.engine, "t", TableOptions::default());
    let engine = Arc::new(f.engine);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for i in 0..300 {
                    put(&engine, "t", int_pk(w * 1000 + i), vec![Cell::put("v", Value::Integer(i))]);
                }
            })
        })
        .collect();
    let mut position = engine.stream_position(&stream, None).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 1200 {
        let page = engine.stream_read(&stream, position, 50).unwrap();
        assert!(page.next >= position);
        seen.extend(page.records.iter().map(|r| r.seq));
        position = page.next;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert!(engine.stream_read(&stream, position, 50).unwrap().records.is_empty());
}

#[test]
fn records_expire_and_old_positions_are_trimmed() {
    let f = Fixture::new();
    let stream = create_streamed(&f.engine, "t", TableOptions::default());
    put(&f.engine, "t", int_pk(1), vec![Cell::put("a", Value::Integer(1))]);
    let start = f.engine.stream_position(&stream, None).unwrap();
    f.clock.advance(25 * 3_600_000);
    put(&f.engine, "t", int_pk(2), vec![Cell::put("a", Value::Integer(2))]);
    // The old record is past the 24 h expiration: reading it is refused, not skipped.
    assert!(matches!(f.engine.stream_read(&stream, start, 10), Err(EngineError::StreamTrimmed)));
    let since_start = f.engine.stream_position(&stream, Some((NOW - 1000) * 1000));
    assert!(matches!(since_start, Err(EngineError::StreamTrimmed)));
    let live = f.engine.stream_position(&stream, None).unwrap();
    assert_eq!(f.engine.stream_read(&stream, live, 10).unwrap().records.len(), 1);
    assert_eq!(f.engine.trim_streams().unwrap(), 1);
    assert_eq!(f.engine.trim_streams().unwrap(), 0, "trimming twice removes nothing more");
    assert!(matches!(f.engine.stream_read(&stream, start, 10), Err(EngineError::StreamTrimmed)));
    assert_eq!(f.engine.stream_read(&stream, live, 10).unwrap().records[0].row.primary_key, int_pk(2));
}

#[test]
fn disabling_a_stream_ends_it_and_reenabling_starts_an_empty_one() {
    let f = Fixture::new();
    let old = create_streamed(&f.engine, "t", TableOptions::default());
    put(&f.engine, "t", int_pk(1), vec![Cell::put("a", Value::Integer(1))]);
    let off = StreamSpec { enabled: false, ..StreamSpec::default() };
    f.engine.update_table("t", TableUpdate { stream: Some(off), ..TableUpdate::default() }).unwrap();
    assert!(f.engine.stream_tables().is_empty());
    put(&f.engine, "t", int_pk(2), vec![Cell::put("a", Value::Integer(2))]);
    f.clock.advance(1);
    let info =
        f.engine.update_table("t", TableUpdate { stream: Some(stream_on(1)), ..TableUpdate::default() }).unwrap();
    let new = info.stream_id().unwrap();
    assert_ne!(old, new);
    assert!(matches!(f.engine.stream_read(&old, 0, 10), Err(EngineError::StreamTrimmed)));
    assert!(read_all(&f.engine, &new).is_empty());
    put(&f.engine, "t", int_pk(3), vec![Cell::put("a", Value::Integer(3))]);
    let records = read_all(&f.engine, &new);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].row.primary_key, int_pk(3));
}

#[test]
fn the_stream_and_its_sequence_survive_a_restart() {
    let f = Fixture::new();
    let stream = create_streamed(&f.engine, "t", TableOptions::default());
    for i in 0..10 {
        put(&f.engine, "t", int_pk(i), vec![Cell::put("a", Value::Integer(i))]);
    }
    let before = read_all(&f.engine, &stream);
    let f = f.reopen();
    assert_eq!(read_all(&f.engine, &stream), before);
    put(&f.engine, "t", int_pk(99), vec![Cell::put("a", Value::Integer(99))]);
    let after = read_all(&f.engine, &stream);
    assert_eq!(after.len(), 11);
    let last = &after[10];
    assert!(last.seq > before[9].seq);
    assert!(
        (last.row.seq_info.unwrap().timestamp, last.row.seq_info.unwrap().row_index)
            > (before[9].row.seq_info.unwrap().timestamp, before[9].row.seq_info.unwrap().row_index)
    );
}

#[test]
fn batch_writes_record_every_row_and_deleted_tables_leave_no_stream() {
    let f = Fixture::new();
    let stream = create_streamed(&f.engine, "t", TableOptions::default());
    let writes = (0..5)
        .map(|i| RowWrite {
            table: "t".into(),
            change: RowChange::Put(Row {
                primary_key: int_pk(i),
                cells: vec![Cell::put("a", Value::Integer(i))],
                ..Row::default()
            }),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        })
        .collect();
    assert!(f.engine.write_rows(writes).iter().all(Result::is_ok));
    let records = read_all(&f.engine, &stream);
    assert_eq!(
        records.iter().map(|r| r.row.primary_key.clone()).collect::<Vec<_>>(),
        (0..5).map(int_pk).collect::<Vec<_>>()
    );
    f.engine.delete_table("t").unwrap();
    assert!(matches!(f.engine.stream_read(&stream, 0, 10), Err(EngineError::StreamTrimmed)));
}
