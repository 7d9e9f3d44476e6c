//! Every decoder of bytes that come from outside (PlainBuffer rows and keys,
//! filters and their variants, shard iterators, protobuf requests) on random and
//! on mutated valid input: it returns a value or an error and never panics, and
//! a valid row decodes back to itself.
//!
//! `DECODER_CASES` sets the cases per property: 2,000 by default (the README's
//! test command); `bench/decoders.sh` runs a million.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use tablesafe_proto::model::{Cell, PkValue, PrimaryKey, Row, Value};
use tablesafe_proto::stream::ShardIterator;
use tablesafe_proto::{filter, pb, plainbuffer};

fn config() -> ProptestConfig {
    let cases = std::env::var("DECODER_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn pk_value() -> impl Strategy<Value = PkValue> {
    prop_oneof![
        any::<i64>().prop_map(PkValue::Integer),
        "[a-zA-Z0-9]{0,12}".prop_map(PkValue::String),
        vec(any::<u8>(), 0..12).prop_map(PkValue::Binary),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        (-1e12f64..1e12).prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        "\\PC{0,16}".prop_map(Value::String),
        vec(any::<u8>(), 0..24).prop_map(Value::Binary),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    (vec(pk_value(), 1..=4), vec(("[a-z][a-z0-9_]{0,7}", value(), 0i64..1 << 42), 0..6)).prop_map(|(keys, cells)| Row {
        primary_key: PrimaryKey::new(keys.into_iter().enumerate().map(|(i, v)| (format!("pk{i}"), v))),
        cells: cells.into_iter().map(|(name, value, ts)| Cell::version(name, value, ts)).collect(),
        ..Row::default()
    })
}

/// Replaces bytes of `bytes` at the given positions.
fn mutate(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
    }
    bytes
}

/// Every decoder of outside bytes, on one input; what they return does not matter here.
fn decode_everything(bytes: &[u8]) {
    let _ = plainbuffer::decode_row(bytes);
    let _ = plainbuffer::decode_rows(bytes);
    let _ = plainbuffer::decode_primary_key(bytes);
    if let Ok(row) = plainbuffer::decode_row_ref(bytes) {
        let _ = row.to_row();
    }
    let _ = plainbuffer::decode_authenticated_row_ref(bytes);
    let _ = filter::decode_filter(bytes);
    let _ = filter::decode_variant(bytes);
    let _ = filter::decode_pk_variant(bytes);
    let _ = ShardIterator::decode(&String::from_utf8_lossy(bytes));
    let _ = pb::CreateTableRequest::decode(bytes);
    let _ = pb::GetRowRequest::decode(bytes);
    let _ = pb::PutRowRequest::decode(bytes);
    let _ = pb::UpdateRowRequest::decode(bytes);
    let _ = pb::DeleteRowRequest::decode(bytes);
    let _ = pb::BatchGetRowRequest::decode(bytes);
    let _ = pb::BatchWriteRowRequest::decode(bytes);
    if let Ok(request) = pb::GetRangeRequest::decode(bytes) {
        if let Some(filter) = request.filter.as_deref() {
            let _ = filter::decode_filter(filter);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn a_row_decodes_back_to_itself_and_its_mutations_never_panic(
        row in row(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
    ) {
        let bytes = plainbuffer::encode_row(&row);
        prop_assert_eq!(plainbuffer::decode_row(&bytes).unwrap(), row.clone());
        let key = plainbuffer::encode_primary_key(&row.primary_key);
        prop_assert_eq!(plainbuffer::decode_primary_key(&key).unwrap(), row.primary_key.clone());
        decode_everything(&mutate(bytes.clone(), &edits));
        decode_everything(&mutate(key, &edits));
        // The same row inside a request, mutated: protobuf first, then the PlainBuffer it carries.
        let request = pb::PutRowRequest { table_name: "t".into(), row: bytes, ..pb::PutRowRequest::default() };
        let mutated = mutate(request.encode_to_vec(), &edits);
        if let Ok(request) = pb::PutRowRequest::decode(mutated.as_slice()) {
            decode_everything(&request.row);
        }
    }
}
