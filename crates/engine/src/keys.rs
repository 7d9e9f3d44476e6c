//! Key encoding of the `rows` column family: `table_id (u32 BE) ‖ memcomparable(pk)`.
//!
//! Invariants:
//! - Byte order of encoded keys equals Tablestore's primary-key order: integers
//!   sign-flipped big-endian, strings and binaries escaped (`00` → `00 FF`) and
//!   terminated by `00 01`, so that a shorter value sorts before its extensions.
//! - Complete keys of one table are prefix-free, so `k ‖ 00` is the smallest key
//!   greater than `k`.
//! - Every key of a table lies in `[table_prefix(id), table_prefix(id + 1))`.

use tablesafe_proto::model::{PkColumn, PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType};

use crate::error::EngineError;

/// The 4-byte prefix of every row of a table.
pub fn table_prefix(table_id: u32) -> Vec<u8> {
    table_id.to_be_bytes().to_vec()
}

/// The first key after every row of a table.
pub fn table_end(table_id: u32) -> Vec<u8> {
    (u64::from(table_id) + 1).to_be_bytes()[4..].to_vec()
}

fn encode_value(out: &mut Vec<u8>, value: &PkValue) {
    match value {
        PkValue::Integer(i) => {
            out.extend_from_slice(&((*i as u64) ^ (1u64 << 63)).to_be_bytes());
        }
        PkValue::String(s) => encode_bytes(out, s.as_bytes()),
        PkValue::Binary(b) => encode_bytes(out, b),
        // Sentinels never reach a complete key; callers handle them as bounds.
        PkValue::InfMin | PkValue::InfMax | PkValue::AutoIncrement => {}
    }
}

fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Encodes a complete primary key (no sentinels) of a table.
pub fn encode_row_key(table_id: u32, pk: &PrimaryKey) -> Vec<u8> {
    let mut out = table_prefix(table_id);
    for column in &pk.columns {
        encode_value(&mut out, &column.value);
    }
    out
}

/// The smallest byte string greater than every string that starts with `prefix`.
fn prefix_successor(prefix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return out;
        }
    }
    // Unreachable for table keys (the table id is never all 0xFF); an empty result
    // would mean "no upper bound", which is the right meaning anyway.
    out
}

/// Byte positions around a range key that may hold INF_MIN/INF_MAX.
///
/// For rows `r`: `r < key` ⟺ `enc(r) < lo`, and `r <= key` ⟺ `enc(r) < hi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPoint {
    /// Bound for "strictly below the key".
    pub lo: Vec<u8>,
    /// Bound for "at or below the key".
    pub hi: Vec<u8>,
}

/// Places a range key, which may hold sentinels, in the byte order of a table.
pub fn key_point(table_id: u32, pk: &PrimaryKey) -> KeyPoint {
    let mut prefix = table_prefix(table_id);
    for column in &pk.columns {
        match column.value {
            PkValue::InfMin => return KeyPoint { lo: prefix.clone(), hi: prefix },
            PkValue::InfMax => {
                let succ = prefix_successor(&prefix);
                return KeyPoint { lo: succ.clone(), hi: succ };
            }
            _ => encode_value(&mut prefix, &column.value),
        }
    }
    let mut hi = prefix.clone();
    hi.push(0);
    KeyPoint { lo: prefix, hi }
}

/// Decodes a row key back into a primary key, given the table's schema.
pub fn decode_row_key(key: &[u8], schema: &[PrimaryKeySchema]) -> Result<PrimaryKey, EngineError> {
    let corrupt = || EngineError::Corrupt { detail: format!("undecodable row key {key:02x?}") };
    let mut rest = key.get(4..).ok_or_else(corrupt)?;
    let mut columns = Vec::with_capacity(schema.len());
    for column in schema {
        let value = match column.key_type {
            PrimaryKeyType::Integer => {
                let (head, tail) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
                rest = tail;
                PkValue::Integer((u64::from_be_bytes(*head) ^ (1u64 << 63)) as i64)
            }
            PrimaryKeyType::String | PrimaryKeyType::Binary => {
                let mut bytes = Vec::new();
                loop {
                    match rest {
                        [0x00, 0x01, tail @ ..] => {
                            rest = tail;
                            break;
                        }
                        [0x00, 0xFF, tail @ ..] => {
                            bytes.push(0);
                            rest = tail;
                        }
                        [b, tail @ ..] if *b != 0 => {
                            bytes.push(*b);
                            rest = tail;
                        }
                        _ => return Err(corrupt()),
                    }
                }
                if column.key_type == PrimaryKeyType::String {
                    PkValue::String(String::from_utf8(bytes).map_err(|_| corrupt())?)
                } else {
                    PkValue::Binary(bytes)
                }
            }
        };
        columns.push(PkColumn { name: column.name.clone(), value });
    }
    if rest.is_empty() {
        Ok(PrimaryKey { columns })
    } else {
        Err(corrupt())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> Vec<PrimaryKeySchema> {
        vec![
            PrimaryKeySchema { name: "a".into(), key_type: PrimaryKeyType::String, auto_increment: false },
            PrimaryKeySchema { name: "b".into(), key_type: PrimaryKeyType::Integer, auto_increment: false },
            PrimaryKeySchema { name: "c".into(), key_type: PrimaryKeyType::Binary, auto_increment: false },
        ]
    }

    fn key(a: &str, b: i64, c: &[u8]) -> PrimaryKey {
        PrimaryKey::new([
            ("a", PkValue::String(a.into())),
            ("b", PkValue::Integer(b)),
            ("c", PkValue::Binary(c.to_vec())),
        ])
    }

    proptest! {
        #[test]
        fn byte_order_equals_key_order_and_decodes(
            a1 in ".{0,6}", b1 in any::<i64>(), c1 in proptest::collection::vec(any::<u8>(), 0..6),
            a2 in ".{0,6}", b2 in any::<i64>(), c2 in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            let k1 = key(&a1, b1, &c1);
            let k2 = key(&a2, b2, &c2);
            let e1 = encode_row_key(7, &k1);
            let e2 = encode_row_key(7, &k2);
            prop_assert_eq!(e1.cmp(&e2), k1.cmp_values(&k2));
            prop_assert_eq!(decode_row_key(&e1, &schema()).unwrap(), k1);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_row_key(&bytes, &schema());
        }
    }

    #[test]
    fn sentinels_bound_every_row_with_the_prefix() {
        let row = encode_row_key(3, &key("x", 5, b"\x00"));
        let min = key_point(3, &PrimaryKey::new([("a", PkValue::String("x".into())), ("b", PkValue::InfMin)]));
        let max = key_point(3, &PrimaryKey::new([("a", PkValue::String("x".into())), ("b", PkValue::InfMax)]));
        assert!(min.lo <= row && row < max.lo);
        let all_max = key_point(3, &PrimaryKey::new([("a", PkValue::InfMax)]));
        assert_eq!(all_max.lo, table_end(3));
        let exact = key_point(3, &key("x", 5, b"\x00"));
        assert_eq!(exact.lo, row);
        assert!(row < exact.hi);
    }
}
