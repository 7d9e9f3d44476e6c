//! TableSafe's storage engine: Tablestore tables on RocksDB, with a synchronous API
//! and no HTTP. The server calls it from blocking tasks; the backup engine will read
//! and write through it directly.
//!
//! Map:
//! - [`Engine`] (`db.rs`): open, table catalog, CreateTable/UpdateTable/DeleteTable.
//! - `rows.rs`: PutRow/UpdateRow/DeleteRow/BatchWriteRow as [`Engine::write_rows`],
//!   GetRow as [`Engine::get_row`].
//! - `range.rs`: GetRange pages and split points.
//! - `keys.rs`: order-preserving key encoding; `stored.rs`: the stored row value;
//!   `read.rs`: TTL/versions/projection; `filter.rs`: filters and column conditions;
//!   `mutate.rs`: write rules; `validate.rs`: names and limits; `locks.rs`: row locks;
//!   `compaction.rs`: TTL reclamation during compaction.
//! - `stream.rs`: the change stream, written with the rows it describes.
//! - `transaction.rs`: local transactions, held in memory and committed in one write.
//! - `index.rs`: secondary indexes, kept in the same write batch as their rows.
//! - `export.rs`: consistent whole-table export and import, for backup and restore;
//!   `load.rs`: bulk loads by SST ingestion, for restores into a table.
//!
//! Invariants (details in each module): one RocksDB value per row, so a row changes
//! atomically; every read-modify-write holds the row's lock; an acknowledged write
//! was fsynced (with the default options); a stream-enabled table's change record is
//! committed in the same write batch as the change.
//!
//! ```
//! use std::sync::Arc;
//! use tablesafe_common::SystemClock;
//! use tablesafe_engine::{CreateTable, Engine, EngineOptions, RowChange, RowWrite};
//! use tablesafe_proto::model::*;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let engine = Engine::open(dir.path(), EngineOptions::default(), Arc::new(SystemClock)).unwrap();
//! engine.create_table(CreateTable {
//!     schema: TableSchema {
//!         name: "users".into(),
//!         primary_key: vec![PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: false }],
//!         defined_columns: vec![],
//!     },
//!     options: TableOptions::default(),
//!     reserved: ReservedThroughput::default(),
//!     stream: StreamSpec::default(),
//! }).unwrap();
//! let pk = PrimaryKey::new([("id", PkValue::Integer(1))]);
//! let row = Row { primary_key: pk.clone(), cells: vec![Cell::put("name", Value::String("Ada".into()))], ..Row::default() };
//! let results = engine.write_rows(vec![RowWrite {
//!     table: "users".into(), change: RowChange::Put(row), condition: Condition::default(), return_content: Default::default(),
//! }]);
//! assert!(results[0].is_ok());
//! let read = ReadOptions { max_versions: Some(1), ..ReadOptions::default() };
//! let got = engine.get_row("users", &pk, &read).unwrap().row.unwrap();
//! assert_eq!(got.cells[0].value, Some(Value::String("Ada".into())));
//! ```

mod catalog;
mod compaction;
mod db;
mod error;
mod export;
mod filter;
mod index;
mod keys;
mod load;
mod locks;
mod mutate;
mod range;
mod read;
mod rows;
mod stored;
mod stream;
mod transaction;
mod validate;

pub use catalog::TableInfo;
pub use db::{CreateTable, Engine, EngineOptions, TableUpdate};
pub use error::EngineError;
pub use export::{RowView, TableExport};
pub use index::{IndexInfo, MAX_INDEXES_PER_TABLE};
pub use load::{LoadBatch, LoadEncoder, TableLoad};
pub use range::{Direction, RangePage, RangeRequest, MAX_PAGE_BYTES, MAX_PAGE_ROWS};
pub use rows::{Consumed, ReadOutcome, ReturnContent, RowChange, RowWrite, WriteOutcome};
pub use stream::{ChangeAction, ChangeRecord, StreamPage, MAX_STREAM_PAGE_BYTES};
pub use transaction::{MAX_TRANSACTION_BYTES, TRANSACTION_TIMEOUT_MS};
pub use validate::{
    check_column_name, check_table_name, MAX_COLUMNS_PER_WRITE, MAX_NAME_BYTES, MAX_PK_VALUE_BYTES, MAX_VALUE_BYTES,
};

pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_ROWS: &str = "rows";
pub(crate) const CF_STREAM: &str = "stream";
