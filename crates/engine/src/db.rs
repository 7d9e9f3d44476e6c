//! The engine handle: opening the RocksDB database, the table catalog and the
//! table operations (create, list, describe, update, delete).
//!
//! Layout on disk: column family `meta` holds table definitions and counters,
//! `rows` holds one value per row (see `keys` and `stored`), `stream` holds change
//! records (see `stream`). Every write that a
//! caller sees acknowledged was committed with `sync = true` (WAL fsync) unless the
//! engine was opened with `sync_writes = false`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use tablesafe_common::Clock;
use tablesafe_proto::model::{IndexMeta, ReservedThroughput, StreamSpec, TableOptions, TableSchema};

use crate::catalog::{check_options, check_stream, table_key, TableInfo, NEXT_TABLE_ID_KEY};
use crate::error::{EngineError, StorageContext};
use crate::locks::RowLocks;
use crate::read::Visibility;
use crate::stored::StoredRow;
use crate::stream::Sequencer;
use crate::validate::{check_schema, check_table_name};
use crate::{keys, CF_META, CF_ROWS, CF_STREAM};

/// Settings of an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// fsync the WAL before a write is acknowledged (default true).
    pub sync_writes: bool,
    /// Most tables an instance may hold (the service allows 64).
    pub max_tables: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { sync_writes: true, max_tables: 64 }
    }
}

/// What CreateTable asks for.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// Name and primary key.
    pub schema: TableSchema,
    /// Options.
    pub options: TableOptions,
    /// Reserved throughput.
    pub reserved: ReservedThroughput,
    /// Stream settings.
    pub stream: StreamSpec,
}

/// What UpdateTable may change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct TableUpdate {
    /// Seconds a version lives.
    pub time_to_live: Option<i32>,
    /// Versions kept.
    pub max_versions: Option<i32>,
    /// Allowed client timestamp deviation in seconds.
    pub max_time_deviation: Option<i64>,
    /// Whether UpdateRow is allowed.
    pub allow_update: Option<bool>,
    /// Reserved throughput.
    pub reserved: Option<ReservedThroughput>,
    /// Stream settings.
    pub stream: Option<StreamSpec>,
}

/// An open TableSafe engine. Cheap to share behind an `Arc`; every method is sync.
pub struct Engine {
    pub(crate) db: DB,
    pub(crate) tables: RwLock<HashMap<String, Arc<TableInfo>>>,
    /// Table options by id, read by the compaction filter.
    pub(crate) options_by_id: Arc<RwLock<HashMap<u32, TableOptions>>>,
    /// Serialises table creation, update and deletion. Taken after row stripes
    /// (an index build's chunk), never before them.
    pub(crate) ddl: Mutex<()>,
    /// Serialises auto-increment allocation with its durable counter.
    pub(crate) autoinc: Mutex<HashMap<u32, i64>>,
    pub(crate) locks: RowLocks,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) write_options: WriteOptions,
    /// Sequence numbers of change records.
    pub(crate) sequencer: Sequencer,
    /// Open local transactions.
    pub(crate) transactions: crate::transaction::Transactions,
    options: EngineOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("path", &self.db.path()).finish_non_exhaustive()
    }
}

/// The `rows` column family's options that shape its table files, shared by bulk
/// loads (`load.rs`), whose files must look like flushed ones.
pub(crate) fn rows_file_options(options: &mut Options) {
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
}

impl Engine {
    /// Opens (creating if needed) the engine in `dir`.
    pub fn open(dir: &Path, options: EngineOptions, clock: Arc<dyn Clock>) -> Result<Engine, EngineError> {
        let options_by_id: Arc<RwLock<HashMap<u32, TableOptions>>> = Arc::default();
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.increase_parallelism(2);
        let mut rows_options = Options::default();
        rows_file_options(&mut rows_options);
        let filter_tables = Arc::clone(&options_by_id);
        let filter_clock = Arc::clone(&clock);
        rows_options.set_compaction_filter("tablesafe-ttl", move |_level: u32, key: &[u8], value: &[u8]| {
            crate::compaction::decide(&filter_tables, filter_clock.now_millis(), key, value)
        });
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_META, Options::default()),
            ColumnFamilyDescriptor::new(CF_ROWS, rows_options),
            ColumnFamilyDescriptor::new(CF_STREAM, stream_options()),
        ];
        let db = DB::open_cf_descriptors(&db_options, dir, cfs).context("open")?;
        Engine::remove_unfinished_loads(dir);
        let mut write_options = WriteOptions::default();
        write_options.set_sync(options.sync_writes);
        let mut engine = Engine {
            db,
            tables: RwLock::default(),
            options_by_id,
            ddl: Mutex::new(()),
            autoinc: Mutex::default(),
            locks: RowLocks::new(),
            clock,
            write_options,
            sequencer: Sequencer::new(0, (i64::MIN, -1)),
            transactions: Default::default(),
            options,
        };
        engine.load_catalog()?;
        engine.sequencer = engine.recover_sequencer()?;
        engine.finish_index_builds()?;
        Ok(engine)
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily, EngineError> {
        self.db.cf_handle(name).ok_or_else(|| EngineError::Corrupt { detail: format!("missing column family {name}") })
    }

    fn load_catalog(&self) -> Result<(), EngineError> {
        let meta = self.cf(CF_META)?;
        let mut tables = self.tables.write();
        let mut by_id = self.options_by_id.write();
        for item in self.db.prefix_iterator_cf(meta, b"table/") {
            let (key, value) = item.context("load catalog")?;
            if !key.starts_with(b"table/") {
                break;
            }
            let info = TableInfo::decode(&value)?;
            by_id.insert(info.id, info.options);
            tables.insert(info.schema.name.clone(), Arc::new(info));
        }
        Ok(())
    }

    /// The engine's clock: it stamps cells and change records, so times that must
    /// line up with them (a snapshot's position time, job times) read it too.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The table's definition, or `TableNotFound`.
    pub fn table(&self, name: &str) -> Result<Arc<TableInfo>, EngineError> {
        check_table_name(name)?;
        self.tables.read().get(name).cloned().ok_or_else(|| EngineError::TableNotFound { table: name.to_owned() })
    }

    /// Names of all tables, sorted.
    pub fn list_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Creates a table.
    pub fn create_table(&self, request: CreateTable) -> Result<Arc<TableInfo>, EngineError> {
        self.create_table_with_indexes(request, Vec::new())
    }

    /// Creates a table with secondary indexes (CreateTable's `index_metas`),
    /// checked before anything is written.
    pub fn create_table_with_indexes(
        &self,
        request: CreateTable,
        indexes: Vec<IndexMeta>,
    ) -> Result<Arc<TableInfo>, EngineError> {
        check_table_name(&request.schema.name)?;
        check_schema(&request.schema.primary_key)?;
        check_options(&request.options)?;
        check_stream(&request.stream)?;
        if request.schema.defined_columns.len() > 32 {
            return Err(EngineError::invalid("The number of defined columns exceeds the limit 32."));
        }
        let _ddl = self.ddl.lock();
        if self.name_taken(&request.schema.name) {
            return Err(EngineError::TableExists { table: request.schema.name });
        }
        if self.tables.read().len() >= self.options.max_tables {
            return Err(EngineError::Quota("Number of tables exceeded the quota.".into()));
        }
        let meta = self.cf(CF_META)?;
        let id = self.next_table_id()?;
        let now = self.clock.now_millis();
        let mut info = TableInfo {
            id,
            schema: request.schema,
            options: request.options,
            reserved: request.reserved,
            stream_enabled_at_us: request.stream.enabled.then(|| self.clock.now_micros()),
            stream: request.stream,
            created_at_ms: now,
            reserved_changed_at_ms: now,
            kept_log: false,
            indexes: Vec::new(),
        };
        let count = u32::try_from(indexes.len()).unwrap_or(u32::MAX);
        info.indexes = self.new_indexes(&info, indexes, id + 1)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, NEXT_TABLE_ID_KEY, (id + 1 + count).to_be_bytes());
        self.save_table(batch, info)
    }

    /// Writes `info` to the catalog with whatever `batch` holds, then shows it to
    /// readers (and its options to the compaction filter): the one place a table
    /// definition is saved.
    pub(crate) fn save_table(&self, mut batch: WriteBatch, info: TableInfo) -> Result<Arc<TableInfo>, EngineError> {
        batch.put_cf(self.cf(CF_META)?, table_key(&info.schema.name), info.encode());
        self.db.write_opt(batch, &self.write_options).context("save table definition")?;
        let info = Arc::new(info);
        self.options_by_id.write().insert(info.id, info.options);
        self.tables.write().insert(info.schema.name.clone(), Arc::clone(&info));
        Ok(info)
    }

    /// The next unused table (or index) id.
    pub(crate) fn next_table_id(&self) -> Result<u32, EngineError> {
        match self.db.get_cf(self.cf(CF_META)?, NEXT_TABLE_ID_KEY).context("read table id")? {
            Some(bytes) => Ok(u32::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| EngineError::Corrupt { detail: "next table id".into() })?,
            )),
            None => Ok(1),
        }
    }

    /// Changes a table's options, reserved throughput or stream settings.
    pub fn update_table(&self, name: &str, update: TableUpdate) -> Result<Arc<TableInfo>, EngineError> {
        let _ddl = self.ddl.lock();
        let mut info = (*self.table(name)?).clone();
        let now = self.clock.now_millis();
        if let Some(ttl) = update.time_to_live {
            info.options.time_to_live = ttl;
        }
        if let Some(max) = update.max_versions {
            info.options.max_versions = max;
        }
        if let Some(dev) = update.max_time_deviation {
            info.options.max_time_deviation = dev;
        }
        if let Some(allow) = update.allow_update {
            info.options.allow_update = allow;
        }
        check_options(&info.options)?;
        if !info.indexes.is_empty() && (info.options.max_versions != 1 || info.options.time_to_live != -1) {
            return Err(EngineError::invalid(
                "A table with an index must keep one version (max_versions 1) with no time to live (-1).",
            ));
        }
        if let Some(reserved) = update.reserved {
            if reserved.read < 0 || reserved.write < 0 || reserved.read > 100_000 || reserved.write > 100_000 {
                return Err(EngineError::invalid("Reserved throughput must be in range [0, 100000]."));
            }
            info.reserved = reserved;
            info.reserved_changed_at_ms = now;
        }
        let mut batch = WriteBatch::default();
        if let Some(stream) = update.stream {
            check_stream(&stream)?;
            // A log the server keeps goes on as it is: the client's stream
            // appears on it, or leaves it, without a gap in what is archived.
            if stream.enabled && info.stream_enabled_at_us.is_none() {
                info.stream_enabled_at_us = Some(self.clock.now_micros());
            }
            if !stream.enabled && info.stream.enabled && !info.kept_log {
                // A stream that is turned off is gone; a new one starts empty.
                info.stream_enabled_at_us = None;
                self.clear_stream(&mut batch, info.id)?;
            }
            info.stream = stream;
        }
        self.save_table(batch, info)
    }

    /// Keeps the table's change log on (`keep`) whatever its client stream
    /// settings, or stops keeping it; with the client's stream off, a log no
    /// longer kept is gone. The client's stream settings do not change. Returns
    /// the table as it is now (unchanged, and nothing written, when it already was).
    pub fn keep_change_log(&self, name: &str, keep: bool) -> Result<Arc<TableInfo>, EngineError> {
        let _ddl = self.ddl.lock();
        let current = self.table(name)?;
        if current.kept_log == keep {
            return Ok(current);
        }
        let mut info = (*current).clone();
        info.kept_log = keep;
        let mut batch = WriteBatch::default();
        if keep && info.stream_enabled_at_us.is_none() {
            info.stream_enabled_at_us = Some(self.clock.now_micros());
        }
        if !keep && !info.stream.enabled && info.stream_enabled_at_us.is_some() {
            info.stream_enabled_at_us = None;
            self.clear_stream(&mut batch, info.id)?;
        }
        self.save_table(batch, info)
    }

    /// Deletes a table and all its rows.
    pub fn delete_table(&self, name: &str) -> Result<(), EngineError> {
        let _ddl = self.ddl.lock();
        let info = self.table(name)?;
        let meta = self.cf(CF_META)?;
        let rows = self.cf(CF_ROWS)?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(meta, table_key(name));
        batch.delete_cf(meta, crate::catalog::autoinc_key(info.id));
        batch.delete_range_cf(rows, keys::table_prefix(info.id), keys::table_end(info.id));
        for index in &info.indexes {
            batch.delete_range_cf(rows, keys::table_prefix(index.id), keys::table_end(index.id));
        }
        self.clear_stream(&mut batch, info.id)?;
        self.db.write_opt(batch, &self.write_options).context("delete table")?;
        self.tables.write().remove(name);
        self.options_by_id.write().remove(&info.id);
        self.autoinc.lock().remove(&info.id);
        Ok(())
    }

    /// An iterator over every stored row of a table, positioned at the first.
    pub(crate) fn table_rows(&self, info: &TableInfo) -> Result<rocksdb::DBRawIterator<'_>, EngineError> {
        let mut options = rocksdb::ReadOptions::default();
        options.set_iterate_lower_bound(keys::table_prefix(info.id));
        options.set_iterate_upper_bound(keys::table_end(info.id));
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(CF_ROWS)?, options);
        iter.seek_to_first();
        Ok(iter)
    }

    /// Reads a stored row by its encoded key.
    pub(crate) fn load_row(&self, key: &[u8]) -> Result<Option<StoredRow>, EngineError> {
        let rows = self.cf(CF_ROWS)?;
        match self.db.get_pinned_cf(rows, key).context("read row")? {
            Some(bytes) => Ok(Some(StoredRow::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// What the table shows now.
    pub(crate) fn visibility(&self, info: &TableInfo) -> Visibility {
        Visibility::new(&info.options, self.clock.now_millis())
    }

    /// Flushes memtables to SST files (used before measuring sizes and on shutdown).
    pub fn flush(&self) -> Result<(), EngineError> {
        for cf in [CF_META, CF_ROWS, CF_STREAM] {
            self.db.flush_cf(self.cf(cf)?).context("flush")?;
        }
        Ok(())
    }

    /// Compacts every row, applying TTL reclamation now (tests and maintenance).
    pub fn compact(&self) -> Result<(), EngineError> {
        let rows = self.cf(CF_ROWS)?;
        self.db.compact_range_cf(rows, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }
}

/// Change records are written once and read in order: no point lookups, so no
/// bloom filters; compressed like the rows they copy.
fn stream_options() -> Options {
    let mut options = Options::default();
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
    options
}

impl Engine {
    /// Rewrites rows that hold versions hidden by TTL or max versions, and removes
    /// rows with nothing left visible, so expired data leaves the disk even in rows
    /// that are never written again (compaction alone only drops whole rows).
    /// Returns the number of rows rewritten or removed.
    pub fn reclaim_expired(&self) -> Result<u64, EngineError> {
        let tables: Vec<Arc<TableInfo>> = self.tables.read().values().cloned().collect();
        let rows_cf = self.cf(CF_ROWS)?;
        let mut changed = 0u64;
        for info in tables {
            let mut iter = self.table_rows(&info)?;
            while iter.valid() {
                let Some(key) = iter.key().map(<[u8]>::to_vec) else { break };
                iter.next();
                let _guard = self.locks.lock_all(std::iter::once(key.as_slice()));
                let Some(stored) = self.load_row(&key)? else { continue };
                let visibility = self.visibility(&info);
                let mut pruned = stored.clone();
                visibility.prune(&mut pruned);
                if pruned == stored {
                    continue;
                }
                if !visibility.row_exists(&stored) {
                    self.db.delete_cf_opt(rows_cf, &key, &self.write_options).context("reclaim")?;
                } else {
                    self.db.put_cf_opt(rows_cf, &key, pruned.encode(), &self.write_options).context("reclaim")?;
                }
                changed += 1;
            }
            iter.status().context("reclaim scan")?;
        }
        Ok(changed)
    }
}
