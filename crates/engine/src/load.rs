//! Bulk loading of a table, for restores: rows given in key order are written into
//! SST files (RocksDB's `SstFileWriter`) beside the database and ingested in one
//! step, with no WAL, no memtable and no fsync per batch.
//!
//! Invariants:
//! - Rows are added in strictly ascending key order (checked, since SST files
//!   require it); the files of one load cover consecutive, disjoint key ranges.
//! - Nothing of a load is visible before [`Engine::finish_load`], which ingests
//!   every file in one call: RocksDB records an ingestion in one MANIFEST edit, so
//!   after a crash the table holds all of the load or none of it.
//! - Ingested rows are newer than anything stored with the same key (RocksDB
//!   assigns them a sequence number above every earlier write), so a load replaces
//!   rows like an import does; [`TableLoad::replacing`] first clears the table, for
//!   a rerun of an interrupted restore into its own target.
//! - Making entries ([`LoadEncoder`], any thread) and writing them
//!   ([`TableLoad::write`], one thread, in order) are apart, so that they can run
//!   side by side.
//! - Files of a load that never finished are removed when the load is dropped and,
//!   after a crash, when the engine next opens (`load-tmp/` in the data directory).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use rocksdb::{IngestExternalFileOptions, Options, SstFileWriter};
use tablesafe_proto::model::{Cell, PrimaryKey, Row, ValueRef};

use crate::catalog::TableInfo;
use crate::error::{EngineError, StorageContext};
use crate::stored::{StoredColumnRef, StoredRowRef, StoredVersionRef};
use crate::validate::{check_primary_key, KeyUse};
use crate::{keys, Engine, CF_ROWS};

/// The directory, inside the data directory, where loads write their files.
pub(crate) const LOAD_DIR: &str = "load-tmp";

/// Bytes an SST file of a load reaches before the next one starts.
const FILE_BYTES: u64 = 64 << 20;

/// Options the SST files are written with: those of the `rows` column family that
/// shape a table file (comparator, compression), so ingested files are as flushed
/// ones, but at zstd level 1, not 3. RocksDB's `SstFileWriter` compresses with the
/// bottommost type (zstd), and at level 3 that was a fifth of a restore's CPU;
/// RocksDB's own compactions rewrite them at its level when they next merge them.
static SST_OPTIONS: LazyLock<Options> = LazyLock::new(|| {
    let mut options = Options::default();
    crate::db::rows_file_options(&mut options);
    options.set_bottommost_compression_options(-14, LOAD_ZSTD_LEVEL, 0, 0, true);
    options
});

/// The zstd level of a load's files.
const LOAD_ZSTD_LEVEL: i32 = 1;

/// Distinguishes the directories of loads running at once.
static NEXT_LOAD: AtomicU64 = AtomicU64::new(0);

/// A bulk load of one table in progress; see the module documentation.
pub struct TableLoad {
    info: Arc<TableInfo>,
    dir: PathBuf,
    writer: Option<SstFileWriter<'static>>,
    files: Vec<PathBuf>,
    last_key: Option<Vec<u8>>,
    replace: bool,
    rows: u64,
}

impl std::fmt::Debug for TableLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLoad").field("table", &self.info.schema.name).field("rows", &self.rows).finish()
    }
}

impl Drop for TableLoad {
    fn drop(&mut self) {
        // After a successful ingest the files are the database's and the directory is gone.
        drop(self.writer.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Rows made ready for a load (engine keys and stored values back to back), on
/// any thread, by a [`LoadEncoder`]; [`TableLoad::write`] writes them in order.
#[derive(Debug, Default)]
pub struct LoadBatch {
    bytes: Vec<u8>,
    /// Per row: where its key ends and where its value ends in `bytes`.
    rows: Vec<(usize, usize)>,
}

impl LoadBatch {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut start = 0;
        self.rows.iter().map(move |&(key_end, value_end)| {
            let entry = (&self.bytes[start..key_end], &self.bytes[key_end..value_end]);
            start = value_end;
            entry
        })
    }
}

/// Turns rows into a load's entries: the table's key encoding and stored form,
/// checked against its schema. Cheap to clone, to work beside the writing thread.
#[derive(Clone, Debug)]
pub struct LoadEncoder {
    info: Arc<TableInfo>,
}

impl LoadEncoder {
    /// Adds a row given as cell versions in canonical order (columns by name, each
    /// newest first, as an export gives them); other orders are sorted first.
    pub fn add_cells<'c>(
        &self,
        batch: &mut LoadBatch,
        primary_key: &PrimaryKey,
        cells: impl IntoIterator<Item = (&'c str, ValueRef<'c>, i64)>,
    ) -> Result<(), EngineError> {
        let mut columns: Vec<StoredColumnRef<'c>> = Vec::new();
        let mut in_order = true;
        for (name, value, timestamp) in cells {
            match columns.last_mut() {
                Some(last) if last.name == name => {
                    in_order &= last.versions.last().is_some_and(|v| v.timestamp > timestamp);
                    last.versions.push(StoredVersionRef { timestamp, value });
                }
                last => {
                    in_order &= last.is_none_or(|l| l.name.as_bytes() < name.as_bytes());
                    columns.push(StoredColumnRef { name, versions: vec![StoredVersionRef { timestamp, value }] });
                }
            }
        }
        if !in_order {
            let mut row = Row::from_key(primary_key.clone());
            row.cells = columns
                .iter()
                .flat_map(|c| c.versions.iter().map(|v| Cell::version(c.name, v.value.to_value(), v.timestamp)))
                .collect();
            return self.add_row(batch, row);
        }
        self.add_key(batch, primary_key)?;
        StoredRowRef { columns }.encode_into(&mut batch.bytes);
        self.end_row(batch);
        Ok(())
    }

    /// Adds a row (every cell with a value and a timestamp, any order).
    pub fn add_row(&self, batch: &mut LoadBatch, row: Row) -> Result<(), EngineError> {
        let value = crate::export::stored_row(row.cells)?.encode();
        self.add_key(batch, &row.primary_key)?;
        batch.bytes.extend_from_slice(&value);
        self.end_row(batch);
        Ok(())
    }

    fn add_key(&self, batch: &mut LoadBatch, primary_key: &PrimaryKey) -> Result<(), EngineError> {
        check_primary_key(primary_key, &self.info.schema.primary_key, KeyUse::Point)?;
        batch.bytes.extend_from_slice(&keys::encode_row_key(self.info.id, primary_key));
        batch.rows.push((batch.bytes.len(), 0));
        Ok(())
    }

    fn end_row(&self, batch: &mut LoadBatch) {
        if let Some(last) = batch.rows.last_mut() {
            last.1 = batch.bytes.len();
        }
    }
}

impl TableLoad {
    /// Clears the table's rows when the load is ingested, instead of keeping rows
    /// the load does not replace (the range deletion commits just before the
    /// ingest; a crash between leaves the table empty, for the rerun to fill).
    pub fn replacing(mut self) -> Self {
        self.replace = true;
        self
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// What makes this table's entries.
    pub fn encoder(&self) -> LoadEncoder {
        LoadEncoder { info: Arc::clone(&self.info) }
    }

    /// Writes a batch's rows into the load's files; keys must ascend across batches.
    pub fn write(&mut self, batch: &LoadBatch) -> Result<(), EngineError> {
        for (key, value) in batch.entries() {
            self.put(key, value)?;
        }
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), EngineError> {
        if self.last_key.as_deref().is_some_and(|last| key <= last) {
            return Err(EngineError::invalid("Rows of a load must come in ascending primary-key order."));
        }
        if self.writer.as_ref().is_some_and(|w| w.file_size() >= FILE_BYTES) {
            self.close_file()?;
        }
        if self.writer.is_none() {
            let path = self.dir.join(format!("{:06}.sst", self.files.len()));
            let writer = SstFileWriter::create(&SST_OPTIONS);
            writer.open(&path).context("open load file")?;
            self.writer = Some(writer);
            self.files.push(path);
        }
        if let Some(writer) = self.writer.as_mut() {
            writer.put(key, value).context("write load file")?;
        }
        match self.last_key.as_mut() {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        self.rows += 1;
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), EngineError> {
        if let Some(mut writer) = self.writer.take() {
            writer.finish().context("finish load file")?;
        }
        Ok(())
    }
}

impl Engine {
    /// Starts a bulk load of `table`; rows added to it appear when
    /// [`finish_load`](Self::finish_load) ingests them.
    pub fn start_load(&self, table: &str) -> Result<TableLoad, EngineError> {
        let info = self.table(table)?;
        let n = NEXT_LOAD.fetch_add(1, Ordering::Relaxed);
        let dir = self.db.path().join(LOAD_DIR).join(format!("{}-{}-{n}", info.id, std::process::id()));
        create_private_dir(&dir)
            .map_err(|e| EngineError::Corrupt { detail: format!("cannot create {}: {e}", dir.display()) })?;
        Ok(TableLoad { info, dir, writer: None, files: Vec::new(), last_key: None, replace: false, rows: 0 })
    }

    /// Ingests a load: every row added becomes visible at once, durably. Fails,
    /// ingesting nothing, when the table was deleted or recreated meanwhile.
    pub fn finish_load(&self, mut load: TableLoad) -> Result<u64, EngineError> {
        load.close_file()?;
        let rows_cf = self.cf(CF_ROWS)?;
        // Table DDL waits, so the table cannot be deleted between the check and the ingest.
        let _ddl = self.ddl.lock();
        let current = self.table(&load.info.schema.name)?;
        if current.id != load.info.id {
            return Err(EngineError::TableNotFound { table: load.info.schema.name.clone() });
        }
        if load.replace {
            // A range deletion and the ingest: the ingest's files are newer than the
            // deletion, which removes only what was stored before.
            let (from, to) = (keys::table_prefix(load.info.id), keys::table_end(load.info.id));
            self.db.delete_range_cf_opt(rows_cf, from, to, &self.write_options).context("clear table for load")?;
        }
        if !load.files.is_empty() {
            tracing::debug!(table = %load.info.schema.name, files = load.files.len(), rows = load.rows, "ingesting");
            fail::fail_point!("engine::load::before-ingest");
            let mut options = IngestExternalFileOptions::default();
            // The files move into the database (a hard link, no copy).
            options.set_move_files(true);
            self.db.ingest_external_file_cf_opts(rows_cf, &options, load.files.clone()).context("ingest load")?;
        }
        Ok(load.rows)
    }

    /// Removes files of loads a crash interrupted.
    pub(crate) fn remove_unfinished_loads(dir: &Path) {
        let _ = std::fs::remove_dir_all(dir.join(LOAD_DIR));
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
