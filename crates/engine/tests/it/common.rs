use std::sync::Arc;

use tablesafe_common::{Clock, ManualClock};
use tablesafe_engine::{
    CreateTable, Engine, EngineError, EngineOptions, ReturnContent, RowChange, RowWrite, WriteOutcome,
};
use tablesafe_proto::model::*;

pub const NOW: i64 = 1_700_000_000_000;

pub struct Fixture {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(NOW);
        let engine = open(&dir, &clock);
        Fixture { engine, clock, dir }
    }

    pub fn reopen(self) -> Fixture {
        let Fixture { engine, clock, dir } = self;
        drop(engine);
        let engine = open(&dir, &clock);
        Fixture { engine, clock, dir }
    }
}

fn open(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> Engine {
    let clock: Arc<dyn Clock> = Arc::clone(clock) as Arc<dyn Clock>;
    Engine::open(dir.path(), EngineOptions::default(), clock).unwrap()
}

pub fn pk_schema(columns: &[(&str, PrimaryKeyType)]) -> Vec<PrimaryKeySchema> {
    columns
        .iter()
        .map(|(name, key_type)| PrimaryKeySchema { name: (*name).into(), key_type: *key_type, auto_increment: false })
        .collect()
}

pub fn create(engine: &Engine, name: &str, primary_key: Vec<PrimaryKeySchema>, options: TableOptions) {
    engine
        .create_table(CreateTable {
            schema: TableSchema { name: name.into(), primary_key, defined_columns: vec![] },
            options,
            reserved: ReservedThroughput::default(),
            stream: StreamSpec::default(),
        })
        .unwrap();
}

pub fn int_pk(id: i64) -> PrimaryKey {
    PrimaryKey::new([("id", PkValue::Integer(id))])
}

pub fn write(
    engine: &Engine,
    table: &str,
    change: RowChange,
    condition: Condition,
) -> Result<WriteOutcome, EngineError> {
    engine
        .write_rows(vec![RowWrite {
            table: table.into(),
            change,
            condition,
            return_content: ReturnContent::PrimaryKey,
        }])
        .pop()
        .unwrap()
}

pub fn put(engine: &Engine, table: &str, pk: PrimaryKey, cells: Vec<Cell>) {
    write(engine, table, RowChange::Put(Row { primary_key: pk, cells, ..Row::default() }), Condition::default())
        .unwrap();
}

pub fn latest() -> ReadOptions {
    ReadOptions { max_versions: Some(1), ..ReadOptions::default() }
}

pub fn get(engine: &Engine, table: &str, pk: &PrimaryKey, options: &ReadOptions) -> Option<Row> {
    engine.get_row(table, pk, options).unwrap().row
}
