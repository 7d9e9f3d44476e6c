//! Secondary indexes: definitions checked against their table, index rows
//! computed from table rows and kept in the same write batch as the rows they
//! index, built for the rows a table has, read like tables, dropped with it.
//!
//! An index is stored like a table: its rows live in `rows` under an id of its
//! own (from the table id counter), keyed by the index's key columns and then the
//! table's key columns it does not name; an index row holds the indexed row's
//! columns that the index lists as defined columns. A table row without a value
//! of the right type for an index key column has no row in that index.
//!
//! Invariants:
//! - Every commit of table rows (`Engine::commit_rows`) also deletes the index
//!   rows of their old states and puts those of their new ones, in the same batch
//!   and under the rows' stripes: an index never disagrees with its table, across
//!   `kill -9` too (a guarantee stronger than the service's asynchronous global
//!   index, whose update mode is kept and reported only).
//! - A new index is registered (so that every later commit maintains it) before
//!   the rows the table has are written into it, each under its row's stripe; it
//!   is marked ready only when that is done, a not-ready index is not read, and
//!   one found not ready at open is built again.

use std::collections::HashMap;
use std::sync::Arc;

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{
    DefinedColumnSchema, DefinedColumnType, IndexMeta, IndexType, PkValue, PrimaryKey, PrimaryKeySchema,
    PrimaryKeyType, StreamSpec, TableSchema, Value,
};

use crate::catalog::{TableInfo, NEXT_TABLE_ID_KEY};
use crate::error::{EngineError, StorageContext};
use crate::keys::{self, decode_row_key};
use crate::read::{latest_value, Visibility};
use crate::stored::StoredRow;
use crate::validate::{check_table_name, MAX_PK_VALUE_BYTES};
use crate::{Engine, CF_META, CF_ROWS};

/// Indexes one table may have (the service's limit).
pub const MAX_INDEXES_PER_TABLE: usize = 5;

/// Rows an index build reads, locks and writes at a time.
const BUILD_CHUNK: usize = 512;

/// An index of a table: its definition and the id its rows are stored under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// The id prefixing the index's rows.
    pub id: u32,
    /// The definition.
    pub meta: IndexMeta,
    /// Every row the table had when the index was created is in it.
    pub ready: bool,
}

/// The key type a defined column has as an index key column, if it may be one.
fn key_type_of(column: &DefinedColumnSchema) -> Option<PrimaryKeyType> {
    match column.column_type {
        DefinedColumnType::Integer => Some(PrimaryKeyType::Integer),
        DefinedColumnType::String => Some(PrimaryKeyType::String),
        DefinedColumnType::Binary => Some(PrimaryKeyType::Binary),
        DefinedColumnType::Double | DefinedColumnType::Boolean => None,
    }
}

/// The key columns of an index table: the index's own, then the table's others.
fn index_key_schema(table: &TableSchema, meta: &IndexMeta) -> Vec<PrimaryKeySchema> {
    let named = meta.primary_key.iter().filter_map(|name| {
        let key_type = match table.primary_key.iter().find(|c| &c.name == name) {
            Some(pk) => pk.key_type,
            None => table.defined_columns.iter().find(|c| &c.name == name).and_then(key_type_of)?,
        };
        Some(PrimaryKeySchema { name: name.clone(), key_type, auto_increment: false })
    });
    let rest = table
        .primary_key
        .iter()
        .filter(|c| !meta.primary_key.contains(&c.name))
        .map(|c| PrimaryKeySchema { auto_increment: false, ..c.clone() });
    named.chain(rest).collect()
}

/// An index as the table it is read as (rows keyed by the index key schema).
fn index_table(table: &TableInfo, index: &IndexInfo) -> TableInfo {
    let defined_columns =
        table.schema.defined_columns.iter().filter(|c| index.meta.defined_columns.contains(&c.name)).cloned().collect();
    TableInfo {
        id: index.id,
        schema: TableSchema {
            name: index.meta.name.clone(),
            primary_key: index_key_schema(&table.schema, &index.meta),
            defined_columns,
        },
        options: table.options,
        reserved: table.reserved,
        stream: StreamSpec::default(),
        created_at_ms: table.created_at_ms,
        reserved_changed_at_ms: table.reserved_changed_at_ms,
        stream_enabled_at_us: None,
        kept_log: false,
        indexes: Vec::new(),
    }
}

/// Checks a new index of `table` as the service does. `taken` tells whether a
/// name is already a table's or an index's.
fn check_index(table: &TableInfo, meta: &IndexMeta, taken: impl Fn(&str) -> bool) -> Result<(), EngineError> {
    check_table_name(&meta.name)?;
    if taken(&meta.name) {
        return Err(EngineError::TableExists { table: meta.name.clone() });
    }
    if table.indexes.len() >= MAX_INDEXES_PER_TABLE {
        return Err(EngineError::invalid(format!(
            "The number of indexes of a table exceeds the limit {MAX_INDEXES_PER_TABLE}."
        )));
    }
    if table.options.max_versions != 1 || table.options.time_to_live != -1 {
        return Err(EngineError::invalid(
            "A table with an index must keep one version (max_versions 1) with no time to live (-1).",
        ));
    }
    if meta.primary_key.is_empty() {
        return Err(EngineError::invalid("The primary key of an index cannot be empty."));
    }
    let schema = &table.schema;
    let mut seen = std::collections::HashSet::new();
    for name in meta.primary_key.iter().chain(&meta.defined_columns) {
        if !seen.insert(name.as_str()) {
            return Err(EngineError::invalid(format!("The column {name} is named twice in the index.")));
        }
    }
    for name in &meta.primary_key {
        if schema.primary_key.iter().any(|c| &c.name == name) {
            continue;
        }
        match schema.defined_columns.iter().find(|c| &c.name == name) {
            Some(column) if key_type_of(column).is_some() => {}
            Some(_) => {
                return Err(EngineError::invalid(format!(
                    "The defined column {name} is a DOUBLE or BOOLEAN, which cannot be a primary key of an index."
                )))
            }
            None => {
                return Err(EngineError::invalid(format!(
                    "The index primary key {name} is neither a primary key nor a defined column of the table."
                )))
            }
        }
    }
    for name in &meta.defined_columns {
        if !schema.defined_columns.iter().any(|c| &c.name == name) {
            return Err(EngineError::invalid(format!("The index column {name} is not a defined column of the table.")));
        }
    }
    if meta.index_type == IndexType::Local && meta.primary_key.first() != schema.primary_key.first().map(|c| &c.name) {
        return Err(EngineError::invalid(
            "The first primary key of a local index must be the first primary key of its table.",
        ));
    }
    Ok(())
}

/// The index row of the table row `pk` → `row`: its key and value, or `None`
/// when the row has no value of the right type (and size) for a key column.
fn index_row(
    table: &TableInfo,
    index: &IndexInfo,
    pk: &PrimaryKey,
    row: &StoredRow,
    visibility: &Visibility,
) -> Option<(Vec<u8>, StoredRow)> {
    let mut columns = Vec::with_capacity(index.meta.primary_key.len() + pk.columns.len());
    for name in &index.meta.primary_key {
        let value = match pk.columns.iter().find(|c| &c.name == name) {
            Some(column) => column.value.clone(),
            None => {
                let defined = table.schema.defined_columns.iter().find(|c| &c.name == name)?;
                match (latest_value(row, name, visibility)?, defined.column_type) {
                    (Value::Integer(i), DefinedColumnType::Integer) => PkValue::Integer(*i),
                    (Value::String(s), DefinedColumnType::String) if s.len() <= MAX_PK_VALUE_BYTES => {
                        PkValue::String(s.clone())
                    }
                    (Value::Binary(b), DefinedColumnType::Binary) if b.len() <= MAX_PK_VALUE_BYTES => {
                        PkValue::Binary(b.clone())
                    }
                    _ => return None,
                }
            }
        };
        columns.push((name.clone(), value));
    }
    columns.extend(
        pk.columns.iter().filter(|c| !index.meta.primary_key.contains(&c.name)).map(|c| (c.name.clone(), c.value.clone())),
    );
    let key = keys::encode_row_key(index.id, &PrimaryKey::new(columns));
    let value = StoredRow {
        columns: row.columns.iter().filter(|c| index.meta.defined_columns.contains(&c.name)).cloned().collect(),
    };
    Some((key, value))
}

/// The table id a row key belongs to.
fn table_id_of(key: &[u8]) -> Option<u32> {
    key.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
}

impl Engine {
    /// A table or an index by name, for reads (GetRow, GetRange, BatchGetRow).
    pub(crate) fn readable_table(&self, name: &str) -> Result<Arc<TableInfo>, EngineError> {
        match self.table(name) {
            Err(EngineError::TableNotFound { .. }) => {}
            found => return found,
        }
        let tables = self.tables.read();
        let found = tables.values().find_map(|t| t.indexes.iter().find(|i| i.meta.name == name).map(|i| (t, i)));
        match found {
            Some((_, index)) if !index.ready => {
                Err(EngineError::invalid("Disallow read index table in building base state"))
            }
            Some((table, index)) => Ok(Arc::new(index_table(table, index))),
            None => Err(EngineError::TableNotFound { table: name.to_owned() }),
        }
    }

    /// Whether `name` is a table's or an index's (a new table or index may not take it).
    pub fn name_taken(&self, name: &str) -> bool {
        let tables = self.tables.read();
        tables.contains_key(name) || tables.values().any(|t| t.indexes.iter().any(|i| i.meta.name == name))
    }

    /// Adds to `batch` the index rows' changes that writing `rows` (new states by
    /// key) makes: called by `commit_rows`, under the rows' stripes.
    pub(crate) fn index_changes(
        &self,
        batch: &mut WriteBatch,
        rows: &HashMap<Vec<u8>, Option<StoredRow>>,
    ) -> Result<(), EngineError> {
        let indexed: HashMap<u32, Arc<TableInfo>> = self
            .tables
            .read()
            .values()
            .filter(|t| !t.indexes.is_empty())
            .map(|t| (t.id, Arc::clone(t)))
            .collect();
        if indexed.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_ROWS)?;
        for (key, new) in rows {
            let Some(info) = table_id_of(key).and_then(|id| indexed.get(&id)) else { continue };
            let pk = decode_row_key(key, &info.schema.primary_key)?;
            let old = self.load_row(key)?;
            let visibility = self.visibility(info);
            for index in &info.indexes {
                let before = old.as_ref().and_then(|row| index_row(info, index, &pk, row, &visibility));
                let after = new.as_ref().and_then(|row| index_row(info, index, &pk, row, &visibility));
                if let Some((old_key, _)) = &before {
                    if after.as_ref().map(|(k, _)| k) != Some(old_key) {
                        batch.delete_cf(cf, old_key);
                    }
                }
                if let Some((new_key, value)) = after {
                    batch.put_cf(cf, new_key, value.encode());
                }
            }
        }
        Ok(())
    }

    /// Checks the indexes of a table about to be created (its own, not yet in
    /// the catalog) and gives each an id from `next_id` on.
    pub(crate) fn new_indexes(
        &self,
        info: &TableInfo,
        metas: Vec<IndexMeta>,
        next_id: u32,
    ) -> Result<Vec<IndexInfo>, EngineError> {
        let mut table = info.clone();
        for (meta, id) in metas.into_iter().zip(next_id..) {
            let own = |name: &str| name == table.schema.name || table.indexes.iter().any(|i| i.meta.name == name);
            check_index(&table, &meta, |name| own(name) || self.name_taken(name))?;
            table.indexes.push(IndexInfo { id, meta, ready: true });
        }
        Ok(table.indexes)
    }

    /// CreateIndex: adds an index to `table`; with `include_base_data` the rows
    /// the table has are indexed too (the service leaves them out otherwise).
    pub fn create_index(&self, table: &str, meta: IndexMeta, include_base_data: bool) -> Result<(), EngineError> {
        let (info, index) = {
            let _ddl = self.ddl.lock();
            let mut info = (*self.table(table)?).clone();
            check_index(&info, &meta, |name| self.name_taken(name))?;
            let meta_cf = self.cf(CF_META)?;
            let id = self.next_table_id()?;
            let index = IndexInfo { id, meta, ready: !include_base_data };
            info.indexes.push(index.clone());
            let mut batch = WriteBatch::default();
            batch.put_cf(meta_cf, NEXT_TABLE_ID_KEY, (id + 1).to_be_bytes());
            self.save_table(batch, info.clone())?;
            (info, index)
        };
        if include_base_data {
            self.build_index(&info, &index)?;
            self.mark_ready(table, index.id)?;
        }
        Ok(())
    }

    /// Writes into `index` (registered already) the index row of every row the
    /// table has, each read again under its stripe: a commit that landed since
    /// the scan passed it is what counts, and one still to come maintains the
    /// index itself.
    fn build_index(&self, info: &TableInfo, index: &IndexInfo) -> Result<(), EngineError> {
        let cf = self.cf(CF_ROWS)?;
        let visibility = self.visibility(info);
        let mut iter = self.table_rows(info)?;
        loop {
            let mut chunk = Vec::with_capacity(BUILD_CHUNK);
            while chunk.len() < BUILD_CHUNK && iter.valid() {
                if let Some(key) = iter.key() {
                    chunk.push(key.to_vec());
                }
                iter.next();
            }
            iter.status().context("index build")?;
            if chunk.is_empty() {
                return Ok(());
            }
            let _guards = self.locks.lock_all(chunk.iter().map(Vec::as_slice));
            // DDL waits for the chunk (stripes before `ddl`, the one order both
            // are taken in), so a DropIndex or DeleteTable that landed since the
            // last chunk stops the build here instead of leaving rows under an
            // id nothing names.
            let _ddl = self.ddl.lock();
            let registered = self.table(&info.schema.name).ok().is_some_and(|current| {
                current.id == info.id && current.indexes.iter().any(|i| i.id == index.id)
            });
            if !registered {
                return Ok(());
            }
            let mut batch = WriteBatch::default();
            for key in &chunk {
                let Some(row) = self.load_row(key)? else { continue };
                let pk = decode_row_key(key, &info.schema.primary_key)?;
                if let Some((index_key, value)) = index_row(info, index, &pk, &row, &visibility) {
                    batch.put_cf(cf, index_key, value.encode());
                }
            }
            self.db.write_opt(batch, &self.write_options).context("index build")?;
        }
    }

    /// Marks index `id` of `table` ready (every row it had is indexed).
    fn mark_ready(&self, table: &str, id: u32) -> Result<(), EngineError> {
        let _ddl = self.ddl.lock();
        let mut info = (*self.table(table)?).clone();
        for index in info.indexes.iter_mut().filter(|i| i.id == id) {
            index.ready = true;
        }
        self.save_table(WriteBatch::default(), info)?;
        Ok(())
    }

    /// Builds again, from empty, every index found not ready at open (a build a
    /// crash cut short).
    pub(crate) fn finish_index_builds(&self) -> Result<(), EngineError> {
        let unfinished: Vec<(Arc<TableInfo>, IndexInfo)> = self
            .tables
            .read()
            .values()
            .flat_map(|t| t.indexes.iter().filter(|i| !i.ready).map(|i| (Arc::clone(t), i.clone())))
            .collect();
        for (info, index) in unfinished {
            tracing::info!(table = info.schema.name, index = index.meta.name, "building an index a restart interrupted");
            self.clear_rows(index.id)?;
            self.build_index(&info, &index)?;
            self.mark_ready(&info.schema.name, index.id)?;
        }
        Ok(())
    }

    /// Builds every index of `table` again from its rows: for a table whose rows
    /// were written around `commit_rows` (a restore's bulk load).
    pub fn rebuild_indexes(&self, table: &str) -> Result<(), EngineError> {
        let info = self.table(table)?;
        for index in &info.indexes {
            self.clear_rows(index.id)?;
            self.build_index(&info, index)?;
        }
        Ok(())
    }

    /// Where the indexes of `table` differ from the indexes recomputed from its
    /// rows, one line per index that does (none when they agree); both read
    /// from one RocksDB snapshot.
    pub fn verify_indexes(&self, table: &str) -> Result<Vec<String>, EngineError> {
        let info = self.table(table)?;
        let visibility = self.visibility(&info);
        let snapshot = self.db.snapshot();
        let cf = self.cf(CF_ROWS)?;
        let scan = |id: u32| {
            let mut options = rocksdb::ReadOptions::default();
            options.set_snapshot(&snapshot);
            options.set_iterate_lower_bound(keys::table_prefix(id));
            options.set_iterate_upper_bound(keys::table_end(id));
            let mut iter = self.db.raw_iterator_cf_opt(cf, options);
            iter.seek_to_first();
            iter
        };
        let mut problems = Vec::new();
        for index in &info.indexes {
            let mut expected = std::collections::BTreeMap::new();
            let mut rows = scan(info.id);
            while let (Some(key), Some(value)) = (rows.key(), rows.value()) {
                let pk = decode_row_key(key, &info.schema.primary_key)?;
                if let Some((index_key, row)) = index_row(&info, index, &pk, &StoredRow::decode(value)?, &visibility) {
                    expected.insert(index_key, row.encode());
                }
                rows.next();
            }
            rows.status().context("index check")?;
            let (mut extra, mut different) = (0usize, 0usize);
            let mut stored = scan(index.id);
            while let (Some(key), Some(value)) = (stored.key(), stored.value()) {
                match expected.remove(key) {
                    None => extra += 1,
                    Some(row) if row != value => different += 1,
                    Some(_) => {}
                }
                stored.next();
            }
            stored.status().context("index check")?;
            let missing = expected.len();
            if missing + extra + different > 0 {
                problems.push(format!(
                    "index {} of table {table}: {missing} rows missing, {extra} extra, {different} different from \
                     the index of the table's rows",
                    index.meta.name
                ));
            }
        }
        Ok(problems)
    }

    /// DropIndex: removes the index and its rows.
    pub fn drop_index(&self, table: &str, name: &str) -> Result<(), EngineError> {
        let _ddl = self.ddl.lock();
        let mut info = (*self.table(table)?).clone();
        let Some(position) = info.indexes.iter().position(|i| i.meta.name == name) else {
            return Err(EngineError::TableNotFound { table: name.to_owned() });
        };
        let index = info.indexes.remove(position);
        self.save_table(WriteBatch::default(), info)?;
        self.clear_rows(index.id)
    }

    /// Deletes every row stored under `id` (an index's).
    pub(crate) fn clear_rows(&self, id: u32) -> Result<(), EngineError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_ROWS)?, keys::table_prefix(id), keys::table_end(id));
        self.db.write_opt(batch, &self.write_options).context("clear index rows")
    }
}
