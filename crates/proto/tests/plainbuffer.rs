//! PlainBuffer codec: golden vectors of reference section 4.4, corruption handling and
//! property tests.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use proptest::prelude::*;
use tablesafe_proto::model::{Cell, CellOp, PkColumn, PkValue, PrimaryKey, Row, SeqInfo, Value, ValueRef};
use tablesafe_proto::plainbuffer::{
    crc8_bytes, decode_authenticated_row_ref, decode_primary_key, decode_row, decode_row_ref, decode_rows,
    encode_primary_key, encode_row, encode_rows, RowEncoder,
};
use tablesafe_proto::ProtoError;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).expect("in range"), 16).expect("hex digit"))
        .collect()
}

fn id1() -> PrimaryKey {
    PrimaryKey::new([("id", PkValue::Integer(1))])
}

const TS: i64 = 1_700_000_000_000;

const PK_HEX: &str =
    "7500000001030403000000706b3105060000000301000000610a19030403000000706b3205090000000003000000000000000ace09a3";
const RANGE_HEX: &str = "7500000001030403000000706b310501000000090ac8030403000000706b3205010000000a0afe091e";
const PUT_HEX: &str = concat!(
    "7500000001030402000000696405090000000001000000000000000a0a02030401000000630507000000030200000068690af6",
    "03040100000064050900000001000000000000f83f070068e5cf8b0100000ac503040100000062050200000002010a3e09c8"
);
const UPDATE_HEX: &str = concat!(
    "7500000001030402000000696405090000000001000000000000000a0a02030401000000780603070068e5cf8b0100000a6d",
    "0304010000007906010a180304010000007a050900000000050000000000000006040a8b09a4"
);
const DELETE_HEX: &str = "7500000001030402000000696405090000000001000000000000000a0a080985";

/// The five vectors of reference section 4.4 with their model values.
fn golden() -> Vec<(&'static str, Vec<u8>, Row)> {
    let pk = Row::from_key(PrimaryKey::new([("pk1", PkValue::String("a".into())), ("pk2", PkValue::Integer(3))]));
    let range = Row::from_key(PrimaryKey::new([("pk1", PkValue::InfMin), ("pk2", PkValue::InfMax)]));
    let put = Row {
        primary_key: id1(),
        cells: vec![
            Cell::put("c", Value::String("hi".into())),
            Cell::version("d", Value::Double(1.5), TS),
            Cell::put("b", Value::Boolean(true)),
        ],
        ..Row::default()
    };
    let update = Row {
        primary_key: id1(),
        cells: vec![
            Cell { name: "x".into(), value: None, op: Some(CellOp::DeleteOneVersion), timestamp: Some(TS) },
            Cell { name: "y".into(), value: None, op: Some(CellOp::DeleteAllVersions), timestamp: None },
            Cell { name: "z".into(), value: Some(Value::Integer(5)), op: Some(CellOp::Increment), timestamp: None },
        ],
        ..Row::default()
    };
    let delete = Row { primary_key: id1(), delete_marker: true, ..Row::default() };
    vec![
        ("pk", hex(PK_HEX), pk),
        ("range", hex(RANGE_HEX), range),
        ("put", hex(PUT_HEX), put),
        ("update", hex(UPDATE_HEX), update),
        ("delete", hex(DELETE_HEX), delete),
    ]
}

#[test]
fn crc8_matches_the_reference_table_and_check_value() {
    let table: Vec<u8> = (0..8u8).map(|i| crc8_bytes(0, &[i])).collect();
    assert_eq!(table, [0x00, 0x07, 0x0e, 0x09, 0x1c, 0x1b, 0x12, 0x15]);
    assert_eq!(crc8_bytes(0, b"123456789"), 0xF4); // CRC-8/SMBUS check value
    assert_eq!(crc8_bytes(crc8_bytes(0, b"1234"), b"56789"), 0xF4);
}

#[test]
fn huge_or_negative_lengths_are_rejected_without_allocating() {
    for len in [i32::MAX, i32::MIN, -1, 1 << 30, 0x7fff_fff0] {
        // As a cell name length.
        let mut buf = hex("750000000103 04");
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(b"abc");
        assert_plainbuffer_error(&buf, "length");
        // As a value length.
        let mut buf = hex("750000000103 04 01000000 61 05");
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(b"abc");
        assert_plainbuffer_error(&buf, "length");
        // As a STRING payload length.
        let mut buf = hex("750000000103 04 01000000 61 05 09000000 03");
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(b"abcd");
        assert_plainbuffer_error(&buf, "length");
        // As the extension length.
        let mut buf = hex("7500000001 0b");
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(b"abcd");
        assert_plainbuffer_error(&buf, "length");
    }
}

#[test]
fn golden_vectors_encode_byte_identically() {
    for (name, bytes, row) in golden() {
        assert_eq!(encode_row(&row), bytes, "encode {name}");
        assert_eq!(encode_rows(std::slice::from_ref(&row)), bytes, "encode_rows {name}");
    }
}

#[test]
fn golden_vectors_decode_to_the_model() {
    for (name, bytes, row) in golden() {
        assert_eq!(decode_row(&bytes).as_ref(), Ok(&row), "decode {name}");
        assert_eq!(decode_rows(&bytes), Ok(vec![row]), "decode_rows {name}");
    }
}

#[test]
fn primary_key_vectors_round_trip_through_the_pk_functions() {
    for (name, bytes, row) in golden().into_iter().take(2) {
        assert_eq!(encode_primary_key(&row.primary_key), bytes, "{name}");
        assert_eq!(decode_primary_key(&bytes), Ok(row.primary_key), "{name}");
    }
}

#[test]
fn decode_primary_key_rejects_rows_with_more_than_a_key() {
    for (name, bytes, _) in golden().into_iter().skip(2) {
        assert!(matches!(decode_primary_key(&bytes), Err(ProtoError::PlainBuffer { .. })), "{name}");
    }
}

#[test]
fn trailing_padding_after_a_single_row_is_ignored() {
    let mut bytes = hex(PK_HEX);
    bytes.extend_from_slice(&[0, 0]);
    let expected = golden().swap_remove(0).2;
    assert_eq!(decode_row(&bytes).as_ref(), Ok(&expected));
    assert_eq!(decode_primary_key(&bytes), Ok(expected.primary_key));
    // The multi-row reader reads to the end, so padding there is an error.
    assert!(decode_rows(&bytes).is_err());
}

#[test]
fn empty_inputs() {
    assert_eq!(encode_rows(&[]), Vec::<u8>::new());
    assert_eq!(decode_rows(&[]), Ok(vec![]));
    assert!(decode_row(&[]).is_err());
    assert!(decode_primary_key(&[]).is_err());
    assert!(decode_row(&hex("75000000")).is_err());
    assert!(decode_rows(&hex("75000000")).is_err());
}

#[test]
fn multiple_rows_share_one_header() {
    let rows: Vec<Row> = golden().into_iter().map(|(_, _, row)| row).collect();
    let bytes = encode_rows(&rows);
    let mut expected = hex("75000000");
    for (_, single, _) in golden() {
        expected.extend_from_slice(single.get(4..).expect("longer than the header"));
    }
    assert_eq!(bytes, expected);
    assert_eq!(decode_rows(&bytes), Ok(rows));
}

#[test]
fn corrupted_row_checksum_is_a_checksum_error() {
    for (name, mut bytes, _) in golden() {
        let last = bytes.last_mut().expect("non-empty");
        *last ^= 0x01;
        match decode_row(&bytes) {
            Err(ProtoError::Checksum { what, expected, actual }) => {
                assert_eq!(what, "row", "{name}");
                assert_eq!(expected ^ 0x01, actual, "{name}");
            }
            other => panic!("{name}: expected a row checksum error, got {other:?}"),
        }
    }
}

#[test]
fn an_authenticated_decode_skips_only_the_checksums() {
    for (name, bytes, row) in golden() {
        let checked = decode_row_ref(&bytes).unwrap();
        let trusted = decode_authenticated_row_ref(&bytes).unwrap();
        assert_eq!(checked, trusted, "{name}");
        assert_eq!(trusted.to_row(), row, "{name}");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0x01;
        assert!(decode_row_ref(&flipped).is_err(), "{name}");
        assert_eq!(decode_authenticated_row_ref(&flipped).unwrap().to_row(), row, "{name}");
        // Structure is still checked.
        assert!(decode_authenticated_row_ref(&bytes[..bytes.len() - 2]).is_err(), "{name}");
    }
}

#[test]
fn corrupted_cell_data_is_a_cell_checksum_error() {
    // The 'h' of "hi": a payload byte covered only by the cell checksum.
    let mut bytes = hex(PUT_HEX);
    let pos = bytes.windows(2).position(|w| w == b"hi").expect("contains hi");
    bytes[pos] = b'H';
    match decode_row(&bytes) {
        Err(ProtoError::Checksum { what, .. }) => assert_eq!(what, "cell c"),
        other => panic!("expected a cell checksum error, got {other:?}"),
    }
}

#[test]
fn every_single_byte_change_is_caught_or_changes_the_value() {
    for (name, bytes, row) in golden() {
        for pos in 0..bytes.len() {
            // Every other value at this position: must never panic.
            for delta in 1..=255u8 {
                let mut corrupt = bytes.clone();
                corrupt[pos] = corrupt[pos].wrapping_add(delta);
                let _ = decode_row(&corrupt);
                let _ = decode_rows(&corrupt);
                let _ = decode_primary_key(&corrupt);
            }
            // Inverting the byte must be noticed. (Only the redundant value-length
            // prefix is not checksummed, and inverting it overruns the input.)
            let mut corrupt = bytes.clone();
            corrupt[pos] ^= 0xFF;
            match decode_row(&corrupt) {
                Err(_) => {}
                Ok(decoded) => assert_ne!(decoded, row, "{name}: inverting byte {pos} went unnoticed"),
            }
        }
    }
}

#[test]
fn truncations_are_errors() {
    for (name, bytes, _) in golden() {
        for len in 0..bytes.len() {
            let cut = bytes.get(..len).expect("in range");
            assert!(decode_row(cut).is_err(), "{name} cut at {len}");
            assert!(decode_rows(cut).is_err() || len == 0, "{name} cut at {len}");
        }
    }
}

#[test]
fn stream_record_extension_layout() {
    let mut row = golden().swap_remove(2).2;
    let plain = encode_row(&row);
    row.seq_info = Some(SeqInfo { epoch: 2, timestamp: 1_700_000_000_000_123, row_index: 7 });
    let bytes = encode_row(&row);

    let mut ext = hex("0b180000000c130000000d02000000");
    ext.push(0x0e);
    ext.extend_from_slice(&1_700_000_000_000_123i64.to_le_bytes());
    ext.extend_from_slice(&hex("0f07000000"));
    // Same bytes as without the extension, with the extension before the row checksum,
    // which does not cover it.
    let split = plain.len() - 2;
    let mut expected = plain.get(..split).expect("in range").to_vec();
    expected.extend_from_slice(&ext);
    expected.extend_from_slice(plain.get(split..).expect("in range"));
    assert_eq!(bytes, expected);
    assert_eq!(decode_row(&bytes), Ok(row));
}

#[test]
fn unknown_extension_items_are_skipped() {
    let row = golden().swap_remove(4).2;
    let plain = encode_row(&row);
    let split = plain.len() - 2;
    let mut bytes = plain.get(..split).expect("in range").to_vec();
    bytes.extend_from_slice(&hex("0b080000002003000000aabbcc"));
    bytes.extend_from_slice(plain.get(split..).expect("in range"));
    assert_eq!(decode_row(&bytes), Ok(row));
}

#[test]
fn invalid_contents_are_rejected() {
    let cell = |name: &str, value: Option<Value>, op: Option<CellOp>| Row {
        primary_key: id1(),
        cells: vec![Cell { name: name.into(), value, op, timestamp: None }],
        ..Row::default()
    };
    // Non-UTF-8 string value: encode a BLOB, then retag it as STRING and fix the checksums.
    let bytes = encode_row(&cell("s", Some(Value::Binary(vec![0xff, 0xfe])), None));
    let fixed = retag_and_fix(&bytes, 0x07, 0x03);
    assert_plainbuffer_error(&fixed, "not UTF-8");
    // A DOUBLE primary key value.
    let bytes = encode_row(&cell("s", Some(Value::Double(1.0)), None));
    let pk_double = retag_first_pk_as_double(&bytes);
    let error = decode_row(&pk_double).expect_err("a DOUBLE key value");
    assert_eq!(error, ProtoError::InvalidPkType { type_name: "DOUBLE" });
    assert_eq!(error.to_string(), "DOUBLE is an invalid type for the primary key.");
    // A key of one BOOLEAN column, id=true, with correct checksums.
    let cell_crc = crc8_bytes(crc8_bytes(0, b"id"), &[0x02, 0x01]);
    let row_crc = crc8_bytes(crc8_bytes(0, &[cell_crc]), &[0]);
    let mut pk_bool = hex("75000000010304020000006964050200000002010a");
    pk_bool.extend_from_slice(&[cell_crc, 0x09, row_crc]);
    assert_eq!(decode_row(&pk_bool), Err(ProtoError::InvalidPkType { type_name: "BOOLEAN" }));
    // Unknown op byte 0x02 (with correct checksums).
    let bytes = encode_row(&cell("o", None, Some(CellOp::DeleteAllVersions)));
    let fixed = retag_and_fix(&bytes, 0x01, 0x02);
    assert_plainbuffer_error(&fixed, "unknown operation 0x02");
    // An attribute value that only primary keys may carry.
    let bytes = encode_row(&cell("i", Some(Value::Integer(0)), None));
    let mut inf = bytes;
    inf[ATTR_START + 12] = 0x09; // type byte of the attribute value
    inf.drain(ATTR_START + 13..ATTR_START + 21); // INF_MIN has no payload
    inf[ATTR_START + 8] = 1; // vlen
    fix_checksums(&mut inf, ATTR_START);
    assert_plainbuffer_error(&inf, "not allowed in attribute columns");
}

fn assert_plainbuffer_error(bytes: &[u8], needle: &str) {
    match decode_row(bytes) {
        Err(ProtoError::PlainBuffer { detail }) => assert!(detail.contains(needle), "{detail:?} lacks {needle:?}"),
        other => panic!("expected a PlainBuffer error containing {needle:?}, got {other:?} for {bytes:02x?}"),
    }
}

/// Byte layout of a row keyed by `id1()`: header 0..4, 0x01 at 4, the PK cell at 5..29
/// (type byte at 18, integer 19..27, cell checksum at 28), 0x02 at 29, attribute cells from 30.
const PK_TYPE_AT: usize = 18;
const PK_CRC_AT: usize = 28;
const ATTR_START: usize = 30;

/// Replaces the last occurrence of `from` in the (single) attribute cell with `to` and
/// recomputes the cell and row checksums.
fn retag_and_fix(bytes: &[u8], from: u8, to: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let n = out.len();
    let attr_start = ATTR_START;
    let pos = (attr_start..n - 4).rev().find(|&i| out[i] == from).expect("byte to retag");
    out[pos] = to;
    fix_checksums(&mut out, attr_start);
    out
}

fn retag_first_pk_as_double(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    assert_eq!(out[PK_TYPE_AT], 0x00);
    out[PK_TYPE_AT] = 0x01;
    out[PK_CRC_AT] = crc8_bytes(crc8_bytes(0, b"id"), out.get(PK_TYPE_AT..PK_CRC_AT - 1).expect("in range"));
    fix_checksums(&mut out, ATTR_START);
    out
}

/// Recomputes the checksum of the single attribute cell (spanning `attr_start..len-4`,
/// with a value and/or an op but no timestamp) and the row checksum.
fn fix_checksums(out: &mut [u8], attr_start: usize) {
    let n = out.len();
    let cell = out.get(attr_start..n - 4).expect("cell").to_vec();
    // cell = 03 04 len name [05 vlen type payload] [06 op]
    let name_len = usize::try_from(i32::from_le_bytes(cell[2..6].try_into().expect("4"))).expect("len");
    let name = &cell[6..6 + name_len];
    let mut crc = crc8_bytes(0, name);
    let mut rest = &cell[6 + name_len..];
    let mut op = None;
    while let Some((&tag, tail)) = rest.split_first() {
        match tag {
            0x05 => {
                let vlen = usize::try_from(i32::from_le_bytes(tail[..4].try_into().expect("4"))).expect("vlen");
                crc = crc8_bytes(crc, &tail[4..4 + vlen]);
                rest = &tail[4 + vlen..];
            }
            0x06 => {
                op = Some(tail[0]);
                rest = &tail[1..];
            }
            other => panic!("unexpected tag {other:#x}"),
        }
    }
    if let Some(op) = op {
        crc = crc8_bytes(crc, &[op]);
    }
    out[n - 3] = crc;
    // Row checksum: PK cell checksum (the byte after the first 0x0a), attr cell, delete 0.
    let pk_crc = out[PK_CRC_AT];
    out[n - 1] = crc8_bytes(0, &[pk_crc, crc, 0]);
}

// ---------------------------------------------------------------------------------------
// Property tests

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z_][a-z0-9_]{0,8}", 1 => "\\PC{0,6}"]
}

fn pk_value_strategy() -> impl Strategy<Value = PkValue> {
    prop_oneof![
        any::<i64>().prop_map(PkValue::Integer),
        "\\PC{0,12}".prop_map(PkValue::String),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(PkValue::Binary),
        Just(PkValue::InfMin),
        Just(PkValue::InfMax),
        Just(PkValue::AutoIncrement),
    ]
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()).prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        "\\PC{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::Binary),
    ]
}

fn op_strategy() -> impl Strategy<Value = Option<CellOp>> {
    prop_oneof![
        Just(None),
        Just(Some(CellOp::DeleteAllVersions)),
        Just(Some(CellOp::DeleteOneVersion)),
        Just(Some(CellOp::Increment)),
    ]
}

fn cell_strategy() -> impl Strategy<Value = Cell> {
    (name_strategy(), prop::option::of(value_strategy()), op_strategy(), prop::option::of(any::<i64>()))
        .prop_map(|(name, value, op, timestamp)| Cell { name, value, op, timestamp })
}

fn pk_strategy() -> impl Strategy<Value = PrimaryKey> {
    prop::collection::vec((name_strategy(), pk_value_strategy()), 0..5).prop_map(|cols| PrimaryKey {
        columns: cols.into_iter().map(|(name, value)| PkColumn { name, value }).collect(),
    })
}

fn row_strategy() -> impl Strategy<Value = Row> {
    let seq = prop::option::of((any::<i32>(), any::<i64>(), any::<i32>()))
        .prop_map(|s| s.map(|(epoch, timestamp, row_index)| SeqInfo { epoch, timestamp, row_index }));
    (pk_strategy(), prop::collection::vec(cell_strategy(), 0..6), any::<bool>(), seq)
        .prop_map(|(primary_key, cells, delete_marker, seq_info)| Row { primary_key, cells, delete_marker, seq_info })
}

proptest! {
    #[test]
    fn row_round_trips(row in row_strategy()) {
        let bytes = encode_row(&row);
        prop_assert_eq!(decode_row(&bytes), Ok(row.clone()));
        prop_assert_eq!(decode_rows(&bytes), Ok(vec![row]));
    }

    #[test]
    fn the_row_encoder_writes_what_encode_row_writes(
        pk in pk_strategy(),
        cells in prop::collection::vec((name_strategy(), value_strategy(), any::<i64>()), 0..6),
        prefix in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let row = Row {
            primary_key: pk.clone(),
            cells: cells.iter().map(|(n, v, ts)| Cell::version(n.clone(), v.clone(), *ts)).collect(),
            ..Row::default()
        };
        // Written after other bytes, as a batch of records is.
        let mut out = prefix.clone();
        let mut encoder = RowEncoder::begin(&mut out, &pk);
        for (name, value, ts) in &cells {
            encoder.cell(name, ValueRef::from(value), *ts);
        }
        let key = encoder.finish();
        let expected = encode_row(&row);
        prop_assert_eq!(&out[prefix.len()..], expected.as_slice());
        let mut key_bytes = out[prefix.len()..key.end].to_vec();
        key_bytes.extend_from_slice(&key.key_tail());
        prop_assert_eq!(key_bytes, encode_primary_key(&pk));
    }

    #[test]
    fn a_row_decoded_in_place_is_the_row_with_its_key_extent(row in row_strategy()) {
        let bytes = encode_row(&row);
        let decoded = decode_row_ref(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.to_row(), row.clone());
        let mut key = bytes[..decoded.key_extent.end].to_vec();
        key.extend_from_slice(&decoded.key_extent.key_tail());
        prop_assert_eq!(key, encode_primary_key(&row.primary_key));
        let canonical = !row.delete_marker
            && row.seq_info.is_none()
            && row.cells.iter().all(|c| c.value.is_some() && c.timestamp.is_some() && c.op.is_none())
            && row.cells.windows(2).all(|w| (&w[0].name, std::cmp::Reverse(w[0].timestamp)) <= (&w[1].name, std::cmp::Reverse(w[1].timestamp)));
        prop_assert_eq!(decoded.is_canonical(), canonical);
    }

    #[test]
    fn primary_key_round_trips(pk in pk_strategy()) {
        prop_assert_eq!(decode_primary_key(&encode_primary_key(&pk)), Ok(pk));
    }

    #[test]
    fn rows_round_trip(rows in prop::collection::vec(row_strategy(), 0..5)) {
        let bytes = encode_rows(&rows);
        prop_assert_eq!(bytes.is_empty(), rows.is_empty());
        let decoded = decode_rows(&bytes);
        prop_assert_eq!(decoded.as_ref().map(Vec::len), Ok(rows.len()));
        prop_assert_eq!(decoded, Ok(rows));
    }

    #[test]
    fn doubles_round_trip_bit_for_bit(bits in any::<u64>(), nan_bits in any::<u64>()) {
        // Also every NaN payload: set the exponent to all ones and keep some mantissa bit.
        let nan = f64::from_bits(0x7ff0_0000_0000_0000 | (nan_bits & 0x800f_ffff_ffff_ffff) | 1);
        prop_assert!(nan.is_nan());
        for d in [f64::from_bits(bits), nan] {
            let row = Row { primary_key: id1(), cells: vec![Cell::put("d", Value::Double(d))], ..Row::default() };
            let decoded = decode_row(&encode_row(&row)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            match decoded.cells.first().and_then(|c| c.value.as_ref()) {
                Some(Value::Double(back)) => prop_assert_eq!(back.to_bits(), d.to_bits()),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_row(&bytes);
        let _ = decode_rows(&bytes);
        let _ = decode_primary_key(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(tail in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = vec![0x75, 0, 0, 0, 0x01];
        bytes.extend_from_slice(&tail);
        let _ = decode_row(&bytes);
        let _ = decode_rows(&bytes);
        let _ = decode_primary_key(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        row in row_strategy(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_row(&row);
        for (index, byte) in edits {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_row(&bytes);
        let _ = decode_rows(&bytes);
        let _ = decode_primary_key(&bytes);
    }

    #[test]
    fn truncated_encodings_are_errors(row in row_strategy(), cut in any::<prop::sample::Index>()) {
        let bytes = encode_row(&row);
        let len = cut.index(bytes.len());
        prop_assert!(decode_row(bytes.get(..len).unwrap_or_default()).is_err());
    }
}
