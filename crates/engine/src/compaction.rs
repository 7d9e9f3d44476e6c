//! The compaction filter of the `rows` column family: it removes rows whose every
//! version has outlived the table's TTL.
//!
//! Versions that expire inside a row that still has live data are dropped the next
//! time the row is written (the filter can only keep or remove whole values here;
//! RocksDB's value-changing decision needs a `'static` buffer).

use std::collections::HashMap;

use parking_lot::RwLock;
use rocksdb::compaction_filter::Decision;
use tablesafe_proto::model::TableOptions;

use crate::read::Visibility;
use crate::stored::StoredRow;

pub(crate) fn decide(tables: &RwLock<HashMap<u32, TableOptions>>, now_ms: i64, key: &[u8], value: &[u8]) -> Decision {
    let Some(id) = key.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) else {
        return Decision::Keep;
    };
    let Some(options) = tables.read().get(&id).copied() else {
        // Unknown ids: the catalog may not be loaded yet (compactions start while the
        // database opens), and dropped tables are removed by DeleteTable's range
        // delete. Keeping is the only choice that can never lose data.
        return Decision::Keep;
    };
    if options.time_to_live <= 0 {
        return Decision::Keep;
    }
    match StoredRow::decode(value) {
        Ok(row) if !row.columns.is_empty() && !Visibility::new(&options, now_ms).row_exists(&row) => Decision::Remove,
        _ => Decision::Keep,
    }
}
