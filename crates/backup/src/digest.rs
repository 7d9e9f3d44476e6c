//! Table digests: a Merkle list over key ranges, so that two copies of a table can
//! be proved equal, and where they differ, the differing key ranges named.
//!
//! Rows are hashed in primary-key order in a canonical form (cells sorted by name,
//! then newest version first; no stream or delete markers). A leaf ends after a
//! row whose key hash is 0 modulo [`LEAF_MODULUS`]: leaf boundaries depend on keys
//! only, so an inserted or deleted row changes one leaf, not every later one. The
//! root is the BLAKE3 hash of the leaf hashes in order.

use serde::{Deserialize, Serialize};
use tablesafe_proto::model::{PkValue, PrimaryKey, Row};
use tablesafe_proto::plainbuffer;

/// Average rows per leaf.
pub const LEAF_MODULUS: u64 = 1024;

/// One key range of a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DigestLeaf {
    /// First primary key of the range (PlainBuffer, hex).
    pub first_key: String,
    /// Last primary key of the range (PlainBuffer, hex).
    pub last_key: String,
    /// Rows in the range.
    pub rows: u64,
    /// BLAKE3 of the canonical rows, hex.
    pub hash: String,
}

/// The digest of a whole table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    /// BLAKE3 over the leaf hashes, hex.
    pub root: String,
    /// Rows hashed.
    pub rows: u64,
    /// Cell versions hashed.
    pub cells: u64,
    /// Key ranges in order.
    pub leaves: Vec<DigestLeaf>,
}

/// Builds a [`TableDigest`] from rows given in key order.
#[derive(Default)]
pub struct DigestBuilder {
    leaves: Vec<DigestLeaf>,
    current: Option<OpenLeaf>,
    rows: u64,
    cells: u64,
}

/// The leaf being built; keys stay bytes until the leaf closes.
struct OpenLeaf {
    first_key: Vec<u8>,
    last_key: Vec<u8>,
    rows: u64,
    hasher: blake3::Hasher,
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Whether cells are in canonical order: by name, then newest version first.
fn canonical_order(cells: &[tablesafe_proto::model::Cell]) -> bool {
    cells
        .windows(2)
        .all(|w| (&w[0].name, std::cmp::Reverse(w[0].timestamp)) <= (&w[1].name, std::cmp::Reverse(w[1].timestamp)))
}

/// Whether a row is in the digest's canonical form already.
fn is_canonical(row: &Row) -> bool {
    canonical_order(&row.cells) && row.seq_info.is_none() && !row.delete_marker
}

/// The row in canonical form: key and sorted cells, nothing else.
fn canonical(row: &Row) -> Row {
    let mut canonical = Row::from_key(row.primary_key.clone());
    canonical.cells = row.cells.clone();
    canonical.cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
    canonical
}

impl DigestBuilder {
    /// Adds the next row.
    pub fn add(&mut self, row: &Row) {
        // Rows usually arrive in canonical form already (reads return them so):
        // then they are encoded as they are, without a copy.
        if is_canonical(row) {
            self.add_canonical(row, &plainbuffer::encode_row(row));
        } else {
            self.add_non_canonical(row);
        }
    }

    /// Adds the next row, given `encoded`, its PlainBuffer bytes as stored in a
    /// layer: hashed as they are when the row is canonical (no second encoding).
    pub fn add_encoded(&mut self, row: &Row, encoded: &[u8]) {
        if is_canonical(row) {
            self.add_canonical(row, encoded);
        } else {
            self.add_non_canonical(row);
        }
    }

    /// Adds a row that is not in canonical form: its canonical form, encoded.
    fn add_non_canonical(&mut self, row: &Row) {
        self.add_canonical(row, &plainbuffer::encode_row(&canonical(row)));
    }

    /// Adds the next row of an encoded batch (already canonical, see
    /// [`EncodedRows`](crate::format::EncodedRows)).
    pub fn add_record(&mut self, records: &[u8], row: &crate::format::EncodedRow) {
        // The key's own encoding is the row's prefix up to the key's end, plus two bytes.
        let row_bytes = &records[row.start..row.end];
        let key_prefix = &records[row.start..row.key_extent.end];
        self.add_parts(row_bytes, [key_prefix, &row.key_extent.key_tail()], row.cells);
    }

    /// Adds the next row, decoded in place from `encoded`, its PlainBuffer bytes as
    /// stored in a layer: hashed as they are when the row is canonical.
    pub fn add_row_ref(&mut self, encoded: &[u8], row: &plainbuffer::RowRef<'_>) {
        if row.is_canonical() {
            self.add_canonical_record(encoded, row.key_extent, row.cells.len() as u64);
        } else {
            self.add_non_canonical(&row.to_row());
        }
    }

    /// Adds the next row given as its PlainBuffer bytes, known to be canonical
    /// ([`plainbuffer::RowRef::is_canonical`]), with where its key ends and its cell count.
    pub fn add_canonical_record(&mut self, encoded: &[u8], key_extent: plainbuffer::KeyExtent, cells: u64) {
        let key_prefix = &encoded[..key_extent.end];
        self.add_parts(encoded, [key_prefix, &key_extent.key_tail()], cells);
    }

    fn add_canonical(&mut self, row: &Row, encoded: &[u8]) {
        let key = plainbuffer::encode_primary_key(&row.primary_key);
        self.add_parts(encoded, [&key, &[]], row.cells.len() as u64);
    }

    /// Adds a canonical row's PlainBuffer bytes, given its key's encoding in two parts.
    fn add_parts(&mut self, encoded: &[u8], key: [&[u8]; 2], cells: u64) {
        let leaf = self.current.get_or_insert_with(|| OpenLeaf {
            first_key: key.concat(),
            last_key: Vec::new(),
            rows: 0,
            hasher: blake3::Hasher::new(),
        });
        leaf.hasher.update(&(encoded.len() as u64).to_le_bytes());
        leaf.hasher.update(encoded);
        leaf.rows += 1;
        self.rows += 1;
        self.cells += cells;
        // The last key is kept in a buffer reused row after row.
        leaf.last_key.clear();
        leaf.last_key.extend_from_slice(key[0]);
        leaf.last_key.extend_from_slice(key[1]);
        let key_hash = blake3::hash(&leaf.last_key);
        let mut low = [0u8; 8];
        low.copy_from_slice(&key_hash.as_bytes()[..8]);
        if u64::from_le_bytes(low) % LEAF_MODULUS == 0 {
            self.close_leaf();
        }
    }

    fn close_leaf(&mut self) {
        if let Some(leaf) = self.current.take() {
            self.leaves.push(DigestLeaf {
                first_key: hex(&leaf.first_key),
                last_key: hex(&leaf.last_key),
                rows: leaf.rows,
                hash: leaf.hasher.finalize().to_hex().to_string(),
            });
        }
    }

    /// The digest of every row added.
    pub fn finish(mut self) -> TableDigest {
        self.close_leaf();
        let mut root = blake3::Hasher::new();
        for leaf in &self.leaves {
            root.update(leaf.hash.as_bytes());
        }
        TableDigest {
            root: root.finalize().to_hex().to_string(),
            rows: self.rows,
            cells: self.cells,
            leaves: self.leaves,
        }
    }
}

/// A key range where two digests differ: keys as readable text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DifferingRange {
    /// First key of the range.
    pub first_key: String,
    /// Last key of the range.
    pub last_key: String,
}

/// The key ranges whose leaves are in one digest and not in the other, in key
/// order, overlapping ones merged (a changed row changes a leaf on both sides,
/// whose bounds differ when a row is missing or extra).
pub fn differences(expected: &TableDigest, actual: &TableDigest) -> Vec<DifferingRange> {
    use std::collections::HashSet;
    let ours: HashSet<&DigestLeaf> = expected.leaves.iter().collect();
    let theirs: HashSet<&DigestLeaf> = actual.leaves.iter().collect();
    let mut ranges: Vec<(Option<(PrimaryKey, PrimaryKey)>, &DigestLeaf)> = expected
        .leaves
        .iter()
        .filter(|l| !theirs.contains(l))
        .chain(actual.leaves.iter().filter(|l| !ours.contains(l)))
        .map(|l| (decode_key(&l.first_key).zip(decode_key(&l.last_key)), l))
        .collect();
    // In key order: PlainBuffer bytes do not sort like keys.
    ranges.sort_by(|a, b| match (&a.0, &b.0) {
        (Some((x, _)), Some((y, _))) => x.cmp_values(y),
        _ => a.1.first_key.cmp(&b.1.first_key),
    });
    let mut merged: Vec<(Option<(PrimaryKey, PrimaryKey)>, DifferingRange)> = Vec::new();
    for (keys, leaf) in ranges {
        let range = DifferingRange { first_key: readable_key(&leaf.first_key), last_key: readable_key(&leaf.last_key) };
        if let (Some((Some((_, last)), open)), Some((first, next_last))) = (merged.last_mut(), &keys) {
            if first.cmp_values(last) != std::cmp::Ordering::Greater {
                if next_last.cmp_values(last) == std::cmp::Ordering::Greater {
                    *last = next_last.clone();
                    open.last_key = range.last_key;
                }
                continue;
            }
        }
        if merged.last().is_some_and(|(_, r)| *r == range) {
            continue;
        }
        merged.push((keys, range));
    }
    merged.into_iter().map(|(_, r)| r).collect()
}

fn decode_key(hex_key: &str) -> Option<PrimaryKey> {
    let bytes: Option<Vec<u8>> = (0..hex_key.len())
        .step_by(2)
        .map(|i| hex_key.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    bytes.and_then(|b| plainbuffer::decode_primary_key(&b).ok())
}

/// A stored key (PlainBuffer hex) as `name=value, ...` ([`format_key`]).
pub fn readable_key(hex_key: &str) -> String {
    decode_key(hex_key).map_or_else(|| hex_key.to_owned(), |key| format_key(&key))
}

/// A primary key as a person writes it: `id=104070, k="key-86"`; strings quoted
/// and escaped, binary as `0x` hex.
pub fn format_key(key: &PrimaryKey) -> String {
    let value = |v: &PkValue| match v {
        PkValue::Integer(i) => i.to_string(),
        PkValue::String(s) => format!("{s:?}"),
        PkValue::Binary(b) => format!("0x{}", hex(b)),
        PkValue::InfMin => "INF_MIN".to_owned(),
        PkValue::InfMax => "INF_MAX".to_owned(),
        PkValue::AutoIncrement => "AUTO_INCREMENT".to_owned(),
    };
    let parts: Vec<String> = key.columns.iter().map(|c| format!("{}={}", c.name, value(&c.value))).collect();
    parts.join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_proto::model::{Cell, PkValue, Value};

    use super::*;

    fn rows(n: i64, changed: Option<i64>) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                primary_key: PrimaryKey::new([("id", PkValue::Integer(i))]),
                cells: vec![Cell::version("v", Value::Integer(if Some(i) == changed { -1 } else { i }), 5)],
                ..Row::default()
            })
            .collect()
    }

    fn digest(rows: &[Row]) -> TableDigest {
        let mut builder = DigestBuilder::default();
        rows.iter().for_each(|r| builder.add(r));
        builder.finish()
    }

    #[test]
    fn equal_tables_have_equal_digests_and_a_change_is_located() {
        let a = digest(&rows(20_000, None));
        assert!(a.leaves.len() > 5, "{} leaves", a.leaves.len());
        assert_eq!(a, digest(&rows(20_000, None)));
        let b = digest(&rows(20_000, Some(12_345)));
        assert_ne!(a.root, b.root);
        let diff = differences(&a, &b);
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert!(diff[0].first_key.starts_with("id=") && !diff[0].first_key.contains("Integer"), "{diff:?}");
        // Cell order does not matter; versions do.
        let mut reordered = rows(3, None);
        reordered[0].cells.push(Cell::version("a", Value::Integer(1), 9));
        let mut swapped = reordered.clone();
        swapped[0].cells.reverse();
        assert_eq!(digest(&reordered), digest(&swapped));
        // A missing row changes only its own leaf.
        let mut fewer = rows(20_000, None);
        fewer.remove(777);
        assert_eq!(differences(&a, &digest(&fewer)).len(), 1);
    }

    #[test]
    fn a_missing_row_at_a_leaf_bound_is_one_range_in_readable_keys() {
        let all = rows(20_000, None);
        let a = digest(&all);
        // The first row of a leaf: without it, that leaf starts later on one side.
        let Some(PkValue::Integer(bound)) = decode_key(&a.leaves[3].first_key).map(|k| k.columns[0].value.clone())
        else {
            panic!("an integer key")
        };
        let fewer: Vec<Row> = all.iter().filter(|r| r.primary_key.columns[0].value != PkValue::Integer(bound)).cloned().collect();
        let diff = differences(&a, &digest(&fewer));
        assert_eq!(diff.len(), 1, "overlapping ranges merged: {diff:?}");
        assert_eq!(diff[0].first_key, format!("id={bound}"), "{diff:?}");
        let key = PrimaryKey::new([
            ("id", PkValue::Integer(104_070)),
            ("k", PkValue::String("key-86".into())),
            ("b", PkValue::Binary(vec![0x0a, 0x1b])),
        ]);
        assert_eq!(format_key(&key), r#"id=104070, k="key-86", b=0x0a1b"#);
    }

    /// The digest as format v1 defines it, written plainly, to hold the fast path to it.
    fn reference_root(rows: &[Row]) -> String {
        let mut root = blake3::Hasher::new();
        let mut leaf = blake3::Hasher::new();
        let mut open = false;
        for row in rows {
            let mut canonical = Row::from_key(row.primary_key.clone());
            canonical.cells = row.cells.clone();
            canonical.cells.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.timestamp.cmp(&a.timestamp)));
            let encoded = plainbuffer::encode_row(&canonical);
            leaf.update(&(encoded.len() as u64).to_le_bytes());
            leaf.update(&encoded);
            open = true;
            let key_hash = blake3::hash(&plainbuffer::encode_primary_key(&row.primary_key));
            if u64::from_le_bytes(key_hash.as_bytes()[..8].try_into().unwrap()) % LEAF_MODULUS == 0 {
                root.update(leaf.finalize().to_hex().as_bytes());
                leaf = blake3::Hasher::new();
                open = false;
            }
        }
        if open {
            root.update(leaf.finalize().to_hex().as_bytes());
        }
        root.finalize().to_hex().to_string()
    }

    #[test]
    fn digests_follow_the_format_whatever_the_cell_order_or_markers() {
        let mut rows = rows(5_000, None);
        for (i, row) in rows.iter_mut().enumerate() {
            row.cells.push(Cell::version("a", Value::String(format!("x{i}")), 3 + (i % 3) as i64));
            row.cells.push(Cell::version("a", Value::Integer(1), 4));
            if i % 2 == 0 {
                row.cells.reverse();
            }
            if i % 7 == 0 {
                row.seq_info = Some(tablesafe_proto::model::SeqInfo { epoch: 0, timestamp: 1, row_index: 0 });
            }
        }
        assert_eq!(digest(&rows).root, reference_root(&rows));
        // Rows decoded in place from their stored bytes digest the same, canonical or not.
        for rows in [&rows[..], &super::tests::rows(5_000, None)[..]] {
            let mut in_place = DigestBuilder::default();
            for row in rows {
                let encoded = plainbuffer::encode_row(row);
                in_place.add_row_ref(&encoded, &plainbuffer::decode_row_ref(&encoded).unwrap());
            }
            assert_eq!(in_place.finish().root, reference_root(rows));
        }
        assert_eq!(digest(&rows).leaves[0].first_key, hex(&plainbuffer::encode_primary_key(&rows[0].primary_key)));
    }
}
