//! The stored form of a row: one RocksDB value per row holding every column and
//! every version, so that a row is read and replaced atomically with one key.
//!
//! Invariants:
//! - Columns are sorted by name (bytewise); versions are sorted newest first and
//!   timestamps are unique within a column (a put at an existing timestamp replaces it).
//! - The value starts with a format byte (`ROW_FORMAT_V1`) so the layout can evolve.
//! - A stored row with no columns is a row that exists with only its primary key.

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{Value, ValueRef};

use crate::error::EngineError;

const ROW_FORMAT_V1: u8 = 1;

/// One version of a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The value.
    pub value: Value,
}

/// One attribute column with its versions, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredColumn {
    /// Column name.
    pub name: String,
    /// Versions, newest first.
    pub versions: Vec<StoredVersion>,
}

/// Every column of a row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredRow {
    /// Columns sorted by name.
    pub columns: Vec<StoredColumn>,
}

impl StoredRow {
    /// Serializes the row for RocksDB.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ROW_FORMAT_V1];
        // Serializing plain owned data into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    /// Deserializes a row read from RocksDB.
    pub fn decode(bytes: &[u8]) -> Result<StoredRow, EngineError> {
        decode_v1(bytes)
    }

    /// The column with this name, if any.
    pub fn column(&self, name: &str) -> Option<&StoredColumn> {
        self.columns.binary_search_by(|c| c.name.as_bytes().cmp(name.as_bytes())).ok().and_then(|i| self.columns.get(i))
    }

    /// The column with this name, created empty when absent.
    pub fn column_mut(&mut self, name: &str) -> &mut StoredColumn {
        let index = match self.columns.binary_search_by(|c| c.name.as_bytes().cmp(name.as_bytes())) {
            Ok(i) => i,
            Err(i) => {
                self.columns.insert(i, StoredColumn { name: name.to_owned(), versions: Vec::new() });
                i
            }
        };
        &mut self.columns[index]
    }

    /// Removes columns left without versions.
    pub fn drop_empty_columns(&mut self) {
        self.columns.retain(|c| !c.versions.is_empty());
    }

    /// Bytes of names and values, as Tablestore counts row size.
    pub fn data_size(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.versions.iter().map(|v| c.name.len() + v.value.data_size() + 8).sum::<usize>())
            .sum()
    }
}

/// A stored row read in place: names and values borrow the RocksDB value they
/// were decoded from (the same bytes [`StoredRow::decode`] reads), so a scan that
/// only re-encodes rows copies no names or values.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredRowRef<'a> {
    /// Columns sorted by name.
    #[serde(borrow)]
    pub columns: Vec<StoredColumnRef<'a>>,
}

/// A [`StoredColumn`] read in place.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredColumnRef<'a> {
    /// Column name.
    pub name: &'a str,
    /// Versions, newest first.
    #[serde(borrow)]
    pub versions: Vec<StoredVersionRef<'a>>,
}

/// A [`StoredVersion`] read in place.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredVersionRef<'a> {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The value.
    #[serde(borrow)]
    pub value: ValueRef<'a>,
}

impl<'a> StoredRowRef<'a> {
    /// Appends the stored value (the bytes [`StoredRow::encode`] gives for the same
    /// row) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(ROW_FORMAT_V1);
        // Serializing borrowed plain data into a Vec cannot fail.
        if let Ok(body) = postcard::to_extend(self, std::mem::take(out)) {
            *out = body;
        }
    }

    /// Deserializes a row read from RocksDB, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<StoredRowRef<'a>, EngineError> {
        decode_v1(bytes)
    }
}

/// Reads a stored row value: the format byte, then the postcard body (owned or
/// borrowing, the layout is the same).
fn decode_v1<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, EngineError> {
    match bytes.split_first() {
        Some((&ROW_FORMAT_V1, rest)) => {
            postcard::from_bytes(rest).map_err(|e| EngineError::Corrupt { detail: format!("row value: {e}") })
        }
        Some((format, _)) => Err(EngineError::Corrupt { detail: format!("unknown row format {format}") }),
        None => Err(EngineError::Corrupt { detail: "empty row value".into() }),
    }
}

impl StoredColumn {
    /// Inserts a version, replacing one at the same timestamp.
    pub fn put(&mut self, timestamp: i64, value: Value) {
        match self.versions.binary_search_by(|v| timestamp.cmp(&v.timestamp)) {
            Ok(i) => self.versions[i].value = value,
            Err(i) => self.versions.insert(i, StoredVersion { timestamp, value }),
        }
    }

    /// Removes the version at exactly this timestamp.
    pub fn delete_version(&mut self, timestamp: i64) {
        self.versions.retain(|v| v.timestamp != timestamp);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn versions_stay_sorted_newest_first_and_unique() {
        let mut row = StoredRow::default();
        let col = row.column_mut("c");
        col.put(5, Value::Integer(5));
        col.put(9, Value::Integer(9));
        col.put(7, Value::Integer(7));
        col.put(9, Value::Integer(90));
        let stamps: Vec<i64> = col.versions.iter().map(|v| v.timestamp).collect();
        assert_eq!(stamps, vec![9, 7, 5]);
        assert_eq!(col.versions[0].value, Value::Integer(90));
        row.column_mut("a").put(1, Value::Boolean(true));
        assert_eq!(row.columns[0].name, "a");
        row.column_mut("s").put(3, Value::String("in place".into()));
        row.column_mut("b").put(4, Value::Binary(vec![0, 1, 255]));
        row.column_mut("d").put(2, Value::Double(-0.5));
        let decoded = StoredRow::decode(&row.encode()).unwrap();
        assert_eq!(decoded, row);
        let bytes = row.encode();
        let borrowed = StoredRowRef::decode(&bytes).unwrap();
        let mut again = Vec::new();
        borrowed.encode_into(&mut again);
        assert_eq!(again, bytes, "the borrowed form encodes to the same stored bytes");
        let back: Vec<(String, Vec<(i64, Value)>)> = borrowed
            .columns
            .iter()
            .map(|c| (c.name.to_owned(), c.versions.iter().map(|v| (v.timestamp, v.value.to_value())).collect()))
            .collect();
        let owned: Vec<(String, Vec<(i64, Value)>)> = row
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.versions.iter().map(|v| (v.timestamp, v.value.clone())).collect()))
            .collect();
        assert_eq!(back, owned);
        assert!(StoredRow::decode(&[9, 1, 2]).is_err());
        assert!(StoredRow::decode(&[]).is_err());
    }
}
