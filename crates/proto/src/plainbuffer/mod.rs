//! PlainBuffer: the row serialization carried in Tablestore's protobuf `bytes` fields
//! (reference section 4).
//!
//! Layout, all integers little-endian:
//! ```text
//! buffer := u32(0x75) row+
//! row    := 0x01 cell* [0x02 cell+] [0x08] [0x0B i32 len extension] 0x09 crc
//! cell   := 0x03 0x04 i32 name [0x05 i32 vlen type payload] [0x06 op] [0x07 i64 ts] 0x0A crc
//! ```
//! Checksums are CRC-8 (poly 0x07). A cell checksum covers name, value (type byte and
//! payload), timestamp and op, in that order (not wire order); the row checksum covers the
//! cell checksums and one delete-marker byte, not the extension.
//!
//! The decoder never panics and never trusts a length beyond the bytes that remain. It
//! verifies both checksums before it interprets cell contents, so corruption is reported
//! as [`ProtoError::Checksum`] where the checksum can see it.

use crate::error::ProtoError;
use crate::model::{Cell, CellOp, PkColumn, PkValue, PrimaryKey, Row, SeqInfo, Value, ValueRef};

/// Header that starts every buffer, written as a little-endian `u32`.
pub const HEADER: u32 = 0x75;

const TAG_ROW_PK: u8 = 0x01; // Start of a row's primary key section.
const TAG_ROW_DATA: u8 = 0x02; // Start of a row's attribute section.
const TAG_CELL: u8 = 0x03; // Start of a cell.
const TAG_CELL_NAME: u8 = 0x04; // Cell name: `i32` length and bytes.
const TAG_CELL_VALUE: u8 = 0x05; // Cell value: `i32` vlen, type byte, payload.
const TAG_CELL_TYPE: u8 = 0x06; // Cell operation byte.
const TAG_CELL_TIMESTAMP: u8 = 0x07; // Cell timestamp (`i64` milliseconds).
const TAG_DELETE_ROW_MARKER: u8 = 0x08; // Delete-row marker.
const TAG_ROW_CHECKSUM: u8 = 0x09; // Row checksum byte.
const TAG_CELL_CHECKSUM: u8 = 0x0A; // Cell checksum byte.
const TAG_EXTENSION: u8 = 0x0B; // Row extension (stream records).
const TAG_SEQ_INFO: u8 = 0x0C; // Sequence info inside the extension.
const TAG_SEQ_INFO_EPOCH: u8 = 0x0D; // Sequence info epoch (`i32`).
const TAG_SEQ_INFO_TS: u8 = 0x0E; // Sequence info timestamp (`i64`).
const TAG_SEQ_INFO_ROW_INDEX: u8 = 0x0F; // Sequence info row index (`i32`).

const VT_INTEGER: u8 = 0x00; // Variant type INTEGER (`i64`).
const VT_DOUBLE: u8 = 0x01; // Variant type DOUBLE (`f64` bits).
const VT_BOOLEAN: u8 = 0x02; // Variant type BOOLEAN (one byte 0 or 1).
const VT_STRING: u8 = 0x03; // Variant type STRING (`i32` length and UTF-8 bytes).
const VT_NULL: u8 = 0x06; // Variant type NULL (no payload; defined, unused by SDKs).
const VT_BLOB: u8 = 0x07; // Variant type BLOB (`i32` length and bytes).
const VT_INF_MIN: u8 = 0x09; // Variant type INF_MIN (no payload).
const VT_INF_MAX: u8 = 0x0A; // Variant type INF_MAX (no payload).
const VT_AUTO_INCREMENT: u8 = 0x0B; // Variant type AUTO_INCREMENT (no payload).

const OP_DELETE_ALL_VERSIONS: u8 = 0x01; // Cell operation DELETE_ALL_VERSION.
const OP_DELETE_ONE_VERSION: u8 = 0x03; // Cell operation DELETE_ONE_VERSION.
const OP_INCREMENT: u8 = 0x04; // Cell operation INCREMENT.

// ---------------------------------------------------------------------------------------
// CRC-8

const fn crc8_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut x = i as u8;
        let mut bit = 0;
        while bit < 8 {
            x = if x & 0x80 != 0 { (x << 1) ^ 0x07 } else { x << 1 };
            bit += 1;
        }
        table[i] = x;
        i += 1;
    }
    table
}

/// CRC-8 lookup table (polynomial 0x07, no reflection), computed at compile time.
const CRC8_TABLE: [u8; 256] = crc8_table();

/// The same CRC (CRC-8/SMBUS) sixteen bytes at a time, for runs longer than a few bytes.
const CRC8_SLICED: crc::Crc<u8, crc::Table<16>> = crc::Crc::<u8, crc::Table<16>>::new(&crc::CRC_8_SMBUS);

/// Feeds `bytes` into a running CRC-8 (poly 0x07, init 0, no reflection, no final XOR).
pub fn crc8_bytes(crc: u8, bytes: &[u8]) -> u8 {
    if bytes.len() < 16 {
        // Most pieces (types, integers, timestamps, short names) are this short.
        return bytes.iter().fold(crc, |crc, &b| CRC8_TABLE[usize::from(crc ^ b)]);
    }
    // SMBUS has no reflection and no final XOR, so a running value is its register.
    let mut digest = CRC8_SLICED.digest_with_initial(crc);
    digest.update(bytes);
    digest.finalize()
}

fn crc8_byte(crc: u8, byte: u8) -> u8 {
    CRC8_TABLE[usize::from(crc ^ byte)]
}

// ---------------------------------------------------------------------------------------
// Wire-level cells, shared by the encoder and the decoder

/// A value as it appears on the wire (a superset of [`PkValue`] and [`Value`]).
#[derive(Clone, Copy, Debug)]
enum Variant<'a> {
    Integer(i64),
    Double(u64),
    Boolean(bool),
    String(&'a [u8]),
    Blob(&'a [u8]),
    Null,
    InfMin,
    InfMax,
    AutoIncrement,
}

impl<'a> Variant<'a> {
    fn from_pk(value: &'a PkValue) -> Self {
        match value {
            PkValue::Integer(i) => Variant::Integer(*i),
            PkValue::String(s) => Variant::String(s.as_bytes()),
            PkValue::Binary(b) => Variant::Blob(b),
            PkValue::InfMin => Variant::InfMin,
            PkValue::InfMax => Variant::InfMax,
            PkValue::AutoIncrement => Variant::AutoIncrement,
        }
    }

    fn from_value(value: &'a Value) -> Self {
        Variant::from_value_ref(ValueRef::from(value))
    }

    fn from_value_ref(value: ValueRef<'a>) -> Self {
        match value {
            ValueRef::Integer(i) => Variant::Integer(i),
            ValueRef::Double(d) => Variant::Double(d.to_bits()),
            ValueRef::Boolean(b) => Variant::Boolean(b),
            ValueRef::String(s) => Variant::String(s.as_bytes()),
            ValueRef::Binary(b) => Variant::Blob(b),
        }
    }

    fn type_byte(&self) -> u8 {
        match self {
            Variant::Integer(_) => VT_INTEGER,
            Variant::Double(_) => VT_DOUBLE,
            Variant::Boolean(_) => VT_BOOLEAN,
            Variant::String(_) => VT_STRING,
            Variant::Blob(_) => VT_BLOB,
            Variant::Null => VT_NULL,
            Variant::InfMin => VT_INF_MIN,
            Variant::InfMax => VT_INF_MAX,
            Variant::AutoIncrement => VT_AUTO_INCREMENT,
        }
    }

    /// Calls `f` with the type byte and then each payload piece, in wire order (the
    /// checksum covers exactly these bytes).
    fn for_each_piece(&self, mut f: impl FnMut(&[u8])) {
        f(&[self.type_byte()]);
        match self {
            Variant::Integer(i) => f(&i.to_le_bytes()),
            Variant::Double(bits) => f(&bits.to_le_bytes()),
            Variant::Boolean(b) => f(&[u8::from(*b)]),
            Variant::String(bytes) | Variant::Blob(bytes) => {
                f(&len_i32(bytes.len()).to_le_bytes());
                f(bytes);
            }
            Variant::Null | Variant::InfMin | Variant::InfMax | Variant::AutoIncrement => {}
        }
    }

    fn wire_len(&self) -> usize {
        let mut n = 0usize;
        self.for_each_piece(|piece| n = n.saturating_add(piece.len()));
        n
    }
}

/// Length as the `i32` the format uses. Inputs are bounded far below 2 GiB by the request
/// size limit; a larger length saturates (and such a buffer would not decode).
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn op_byte(op: CellOp) -> u8 {
    match op {
        CellOp::DeleteAllVersions => OP_DELETE_ALL_VERSIONS,
        CellOp::DeleteOneVersion => OP_DELETE_ONE_VERSION,
        CellOp::Increment => OP_INCREMENT,
    }
}

/// A cell as it appears on the wire.
#[derive(Clone, Copy, Debug)]
struct WireCell<'a> {
    name: &'a [u8],
    value: Option<Variant<'a>>,
    op: Option<u8>,
    timestamp: Option<i64>,
}

impl WireCell<'_> {
    /// Cell checksum: name, value, timestamp, op (not wire order).
    fn checksum(&self) -> u8 {
        let mut crc = crc8_bytes(0, self.name);
        if let Some(value) = &self.value {
            value.for_each_piece(|piece| crc = crc8_bytes(crc, piece));
        }
        if let Some(ts) = self.timestamp {
            crc = crc8_bytes(crc, &ts.to_le_bytes());
        }
        if let Some(op) = self.op {
            crc = crc8_byte(crc, op);
        }
        crc
    }

    /// Writes the cell and returns its checksum.
    fn write(&self, out: &mut Vec<u8>) -> u8 {
        out.push(TAG_CELL);
        out.push(TAG_CELL_NAME);
        out.extend_from_slice(&len_i32(self.name.len()).to_le_bytes());
        out.extend_from_slice(self.name);
        if let Some(value) = &self.value {
            out.push(TAG_CELL_VALUE);
            out.extend_from_slice(&len_i32(value.wire_len()).to_le_bytes());
            value.for_each_piece(|piece| out.extend_from_slice(piece));
        }
        if let Some(op) = self.op {
            out.push(TAG_CELL_TYPE);
            out.push(op);
        }
        if let Some(ts) = self.timestamp {
            out.push(TAG_CELL_TIMESTAMP);
            out.extend_from_slice(&ts.to_le_bytes());
        }
        let crc = self.checksum();
        out.push(TAG_CELL_CHECKSUM);
        out.push(crc);
        crc
    }
}

// ---------------------------------------------------------------------------------------
// Encoder

/// Encodes one row with the header (PutRow/UpdateRow/DeleteRow payloads, response rows,
/// stream records when `row.seq_info` is set).
pub fn encode_row(row: &Row) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&HEADER.to_le_bytes());
    write_row(&mut out, &row.primary_key, &row.cells, row.delete_marker, row.seq_info);
    out
}

/// Encodes rows after a single header (GetRange `rows`). No rows encode to empty bytes.
pub fn encode_rows(rows: &[Row]) -> Vec<u8> {
    if rows.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(64 * rows.len());
    out.extend_from_slice(&HEADER.to_le_bytes());
    for row in rows {
        write_row(&mut out, &row.primary_key, &row.cells, row.delete_marker, row.seq_info);
    }
    out
}

/// Encodes a primary key as a header and a PK-only row (request keys, GetRange
/// `next_start_primary_key`, split points).
pub fn encode_primary_key(pk: &PrimaryKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&HEADER.to_le_bytes());
    write_row(&mut out, pk, &[], false, None);
    out
}

/// Writes a row's primary-key section; returns the row checksum so far.
fn write_key_section(out: &mut Vec<u8>, pk: &PrimaryKey) -> u8 {
    let mut row_crc = 0u8;
    out.push(TAG_ROW_PK);
    for column in &pk.columns {
        let cell = WireCell {
            name: column.name.as_bytes(),
            value: Some(Variant::from_pk(&column.value)),
            op: None,
            timestamp: None,
        };
        row_crc = crc8_byte(row_crc, cell.write(out));
    }
    row_crc
}

fn write_row(out: &mut Vec<u8>, pk: &PrimaryKey, cells: &[Cell], delete: bool, seq: Option<SeqInfo>) {
    let mut row_crc = write_key_section(out, pk);
    if !cells.is_empty() {
        out.push(TAG_ROW_DATA);
        for cell in cells {
            let wire = WireCell {
                name: cell.name.as_bytes(),
                value: cell.value.as_ref().map(Variant::from_value),
                op: cell.op.map(op_byte),
                timestamp: cell.timestamp,
            };
            row_crc = crc8_byte(row_crc, wire.write(out));
        }
    }
    if delete {
        out.push(TAG_DELETE_ROW_MARKER);
    }
    row_crc = crc8_byte(row_crc, u8::from(delete));
    if let Some(seq) = seq {
        // Extension length covers TAG_SEQ_INFO + its length + 19 bytes of fields.
        const SEQ_LEN: i32 = 1 + 4 + 1 + 8 + 1 + 4;
        out.push(TAG_EXTENSION);
        out.extend_from_slice(&(1 + 4 + SEQ_LEN).to_le_bytes());
        out.push(TAG_SEQ_INFO);
        out.extend_from_slice(&SEQ_LEN.to_le_bytes());
        out.push(TAG_SEQ_INFO_EPOCH);
        out.extend_from_slice(&seq.epoch.to_le_bytes());
        out.push(TAG_SEQ_INFO_TS);
        out.extend_from_slice(&seq.timestamp.to_le_bytes());
        out.push(TAG_SEQ_INFO_ROW_INDEX);
        out.extend_from_slice(&seq.row_index.to_le_bytes());
    }
    out.push(TAG_ROW_CHECKSUM);
    out.push(row_crc);
}

/// Encodes one row (with the header) from borrowed parts, for writers that hold no
/// [`Row`]: the bytes equal [`encode_row`] of the same row without a delete marker
/// or sequence info.
pub struct RowEncoder<'o> {
    out: &'o mut Vec<u8>,
    row_crc: u8,
    pk_end: usize,
    pk_crc: u8,
    data: bool,
}

/// Where the primary key ends in a row [`RowEncoder`] wrote, so that the key's own
/// encoding ([`encode_primary_key`]) can be had without encoding it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyExtent {
    /// Offset in the output just past the key's cells.
    pub end: usize,
    /// The row checksum after the key's cells.
    pub crc: u8,
}

impl KeyExtent {
    /// The two bytes that follow `out[row_start..self.end]` in [`encode_primary_key`]'s
    /// encoding of the key: the row checksum tag and the checksum.
    pub fn key_tail(&self) -> [u8; 2] {
        [TAG_ROW_CHECKSUM, crc8_byte(self.crc, 0)]
    }
}

impl<'o> RowEncoder<'o> {
    /// Appends the header and the primary key to `out`.
    pub fn begin(out: &'o mut Vec<u8>, pk: &PrimaryKey) -> Self {
        out.extend_from_slice(&HEADER.to_le_bytes());
        let row_crc = write_key_section(out, pk);
        let pk_end = out.len();
        RowEncoder { out, row_crc, pk_end, pk_crc: row_crc, data: false }
    }

    /// Appends a cell version.
    pub fn cell(&mut self, name: &str, value: ValueRef<'_>, timestamp: i64) {
        if !self.data {
            self.out.push(TAG_ROW_DATA);
            self.data = true;
        }
        let wire = WireCell {
            name: name.as_bytes(),
            value: Some(Variant::from_value_ref(value)),
            op: None,
            timestamp: Some(timestamp),
        };
        self.row_crc = crc8_byte(self.row_crc, wire.write(self.out));
    }

    /// Ends the row (no delete marker, no sequence info).
    pub fn finish(self) -> KeyExtent {
        let row_crc = crc8_byte(self.row_crc, 0);
        self.out.push(TAG_ROW_CHECKSUM);
        self.out.push(row_crc);
        KeyExtent { end: self.pk_end, crc: self.pk_crc }
    }
}

mod decode;
pub use decode::{
    decode_authenticated_row_ref, decode_primary_key, decode_row, decode_row_ref, decode_rows, CellRef, RowRef,
};
