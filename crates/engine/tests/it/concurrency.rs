use std::sync::Arc;

use tablesafe_engine::{ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::*;

use crate::common::*;

#[test]
fn concurrent_increments_on_one_row_never_lose_an_update() {
    let f = Fixture::new();
    create(&f.engine, "t", pk_schema(&[("id", PrimaryKeyType::Integer)]), TableOptions::default());
    let engine = Arc::new(f.engine);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let change = Row {
                        primary_key: int_pk(1),
                        cells: vec![Cell {
                            name: "n".into(),
                            value: Some(Value::Integer(1)),
                            op: Some(CellOp::Increment),
                            timestamp: None,
                        }],
                        ..Row::default()
                    };
                    let result = engine.write_rows(vec![RowWrite {
                        table: "t".into(),
                        change: RowChange::Update(change),
                        condition: Condition::default(),
                        return_content: ReturnContent::None,
                    }]);
                    result.into_iter().for_each(|r| {
                        r.unwrap();
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let row = get(&engine, "t", &int_pk(1), &latest()).unwrap();
    assert_eq!(row.cells[0].value, Some(Value::Integer(400)));
}
