//! What the backup crate's integration tests share: a seeded generator, tables keyed by one integer `id`
//! with a stream, random and plain writes, and a whole-table read. Each test file uses a part of it.
#![allow(dead_code, clippy::unwrap_used)]

use tablesafe_engine::{CreateTable, Direction, Engine, RangeRequest, ReturnContent, RowChange, RowWrite};
use tablesafe_proto::model::*;

/// A small xorshift generator: the same seed gives the same history.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Wall-clock now, in microseconds.
pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Wall-clock now, in milliseconds.
pub fn now_ms() -> i64 {
    now_us() / 1000
}

/// The primary key `id = id`.
pub fn key(id: i64) -> PrimaryKey {
    PrimaryKey::new([("id", PkValue::Integer(id))])
}

/// Creates `name`, keyed by an integer `id`, with a stream.
pub fn create(engine: &Engine, name: &str, options: TableOptions) {
    engine
        .create_table(CreateTable {
            schema: TableSchema {
                name: name.into(),
                primary_key: vec![PrimaryKeySchema {
                    name: "id".into(),
                    key_type: PrimaryKeyType::Integer,
                    auto_increment: false,
                }],
                defined_columns: vec![],
            },
            options,
            reserved: ReservedThroughput::default(),
            stream: StreamSpec { enabled: true, expiration_hours: 1, columns_to_get: vec![] },
        })
        .unwrap();
}

/// Puts rows `ids` of `table`, each with the one column `v = value`.
pub fn put(engine: &Engine, table: &str, ids: std::ops::Range<i64>, value: &str) {
    let writes = ids
        .map(|id| RowWrite {
            table: table.into(),
            change: RowChange::Put(Row {
                primary_key: key(id),
                cells: vec![Cell::put("v", Value::String(value.into()))],
                ..Row::default()
            }),
            condition: Condition::default(),
            return_content: ReturnContent::None,
        })
        .collect();
    for result in engine.write_rows(writes) {
        result.unwrap();
    }
}

/// One random write to rows `0..120`: puts with versions, updates that add, replace and delete versions
/// and columns or increment, and row deletes.
pub fn random_write(rng: &mut Rng, table: &str) -> RowWrite {
    let id = rng.below(120) as i64;
    let now = now_ms();
    let column = |rng: &mut Rng| format!("c{}", rng.below(4));
    let change = match rng.below(10) {
        0..=2 => {
            let cells = (0..=rng.below(3))
                .map(|v| {
                    let value = match rng.below(3) {
                        0 => Value::Integer(rng.below(1000) as i64),
                        1 => Value::String(format!("s{}", rng.below(1000))),
                        _ => Value::Binary(vec![rng.below(256) as u8; rng.below(20) as usize]),
                    };
                    Cell::version(column(rng), value, now - 1000 * v as i64)
                })
                .collect();
            RowChange::Put(Row { primary_key: key(id), cells, ..Row::default() })
        }
        3..=6 => {
            let mut cells = vec![Cell::version(
                column(rng),
                Value::Double(rng.below(100) as f64 / 3.0),
                now - rng.below(3) as i64 * 1000,
            )];
            match rng.below(4) {
                0 => cells.push(Cell {
                    name: column(rng),
                    value: None,
                    op: Some(CellOp::DeleteOneVersion),
                    timestamp: Some(now - rng.below(3) as i64 * 1000),
                }),
                1 => cells.push(Cell {
                    name: column(rng),
                    value: None,
                    op: Some(CellOp::DeleteAllVersions),
                    timestamp: None,
                }),
                2 => cells = vec![Cell { op: Some(CellOp::Increment), ..Cell::put("counter", Value::Integer(1)) }],
                _ => {}
            }
            RowChange::Update(Row { primary_key: key(id), cells, ..Row::default() })
        }
        _ => RowChange::Delete(key(id)),
    };
    RowWrite { table: table.into(), change, condition: Condition::default(), return_content: ReturnContent::None }
}

/// Writes `n` random writes to `table`; increments of a non-integer column fail as they should.
pub fn random_writes(engine: &Engine, rng: &mut Rng, table: &str, n: usize) {
    for _ in 0..n {
        for result in engine.write_rows(vec![random_write(rng, table)]) {
            if let Err(e) = result {
                assert!(e.to_string().contains("INTEGER"), "{e}");
            }
        }
    }
}

/// Every row of `table` with every visible version.
pub fn read_all(engine: &Engine, table: &str) -> Vec<Row> {
    let bound = |v: PkValue| PrimaryKey::new([("id", v)]);
    let mut rows = Vec::new();
    let mut start = bound(PkValue::InfMin);
    loop {
        let page = engine
            .get_range(&RangeRequest {
                table: table.into(),
                direction: Direction::Forward,
                start,
                end: bound(PkValue::InfMax),
                limit: None,
                read: ReadOptions { max_versions: Some(i32::MAX), ..ReadOptions::default() },
            })
            .unwrap();
        rows.extend(page.rows);
        match page.next_start {
            Some(next) => start = next,
            None => return rows,
        }
    }
}

/// Serves `engine` over the Tablestore API on a free loopback port, as `instance`
/// with one access key; returns the endpoint.
pub async fn serve(engine: &std::sync::Arc<Engine>, instance: &str, (id, secret): (&str, &str)) -> String {
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let clock: Arc<dyn tablesafe_common::Clock> = Arc::new(tablesafe_common::SystemClock);
    let state = Arc::new(tablesafe_server::ServerState {
        engine: Arc::clone(engine),
        instance: instance.into(),
        keys: vec![tablesafe_server::AccessKey { id: id.into(), secret: secret.into() }],
        clock,
    });
    tokio::spawn(tablesafe_server::run(listener, state, std::future::pending::<()>()));
    endpoint
}
