//! The PlainBuffer decoder: one reader of rows, [`RowRef`], borrowing names and
//! values from the input; the owned forms ([`decode_row`], [`decode_rows`]) are
//! made from it.
//!
//! Invariants: the decoder never panics and never trusts a length beyond the bytes
//! that remain; both checksums are verified before cell contents are interpreted.

use super::*;

/// Decodes a header and exactly one row. Bytes after the row checksum are ignored (the
/// Node SDK pads single-row fields with zeros).
pub fn decode_row(bytes: &[u8]) -> Result<Row, ProtoError> {
    let mut cur = Cursor::new(bytes);
    read_header(&mut cur)?;
    read_row(&mut cur)
}

/// Decodes a header and rows until the input ends. Empty input is no rows.
pub fn decode_rows(bytes: &[u8]) -> Result<Vec<Row>, ProtoError> {
    let mut rows = Vec::new();
    if bytes.is_empty() {
        return Ok(rows);
    }
    let mut cur = Cursor::new(bytes);
    read_header(&mut cur)?;
    loop {
        rows.push(read_row(&mut cur)?);
        if cur.at_end() {
            return Ok(rows);
        }
    }
}

/// Decodes a header and one PK-only row (no attribute cells, no delete marker, no
/// extension). Trailing bytes are ignored as in [`decode_row`].
pub fn decode_primary_key(bytes: &[u8]) -> Result<PrimaryKey, ProtoError> {
    let row = decode_row(bytes)?;
    if !row.cells.is_empty() {
        return Err(ProtoError::plainbuffer("primary key buffer carries attribute columns"));
    }
    if row.delete_marker {
        return Err(ProtoError::plainbuffer("primary key buffer carries a delete-row marker"));
    }
    if row.seq_info.is_some() {
        return Err(ProtoError::plainbuffer("primary key buffer carries a row extension"));
    }
    Ok(row.primary_key)
}

/// Checked reader over `buf[pos..end]`; offsets in errors are absolute.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0, end: buf.len() }
    }

    fn err(&self, detail: impl std::fmt::Display) -> ProtoError {
        ProtoError::plainbuffer(format!("{detail} at offset {}", self.pos))
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn peek(&self) -> Option<u8> {
        if self.at_end() {
            None
        } else {
            self.buf.get(self.pos).copied()
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ProtoError> {
        if n > self.remaining() {
            return Err(self.err(format_args!("{what}: needs {n} bytes, {} left", self.remaining())));
        }
        let end = self.pos.saturating_add(n);
        let slice = self.buf.get(self.pos..end).ok_or_else(|| self.err(format_args!("{what}: truncated")))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ProtoError> {
        let slice = self.take(N, what)?;
        <[u8; N]>::try_from(slice).map_err(|_| self.err(format_args!("{what}: truncated")))
    }

    fn u8(&mut self, what: &str) -> Result<u8, ProtoError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn i32(&mut self, what: &str) -> Result<i32, ProtoError> {
        self.array(what).map(i32::from_le_bytes)
    }

    fn i64(&mut self, what: &str) -> Result<i64, ProtoError> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// An `i32` length checked to be non-negative and within the remaining input.
    fn len(&mut self, what: &str) -> Result<usize, ProtoError> {
        let at = self.pos;
        let raw = self.i32(what)?;
        match usize::try_from(raw) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(ProtoError::plainbuffer(format!(
                "{what}: length {raw} exceeds the {} bytes left at offset {at}",
                self.remaining()
            ))),
        }
    }

    /// A length-prefixed byte string.
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], ProtoError> {
        let n = self.len(what)?;
        self.take(n, what)
    }

    /// A cursor over the next `n` bytes; this cursor moves past them.
    fn sub(&mut self, n: usize, what: &str) -> Result<Cursor<'a>, ProtoError> {
        let start = self.pos;
        self.take(n, what)?;
        Ok(Cursor { buf: self.buf, pos: start, end: self.pos })
    }

    fn expect_tag(&mut self, tag: u8, what: &str) -> Result<(), ProtoError> {
        match self.peek() {
            Some(t) if t == tag => {
                self.pos = self.pos.saturating_add(1);
                Ok(())
            }
            Some(t) => Err(self.err(format_args!("expected {what} tag {tag:#04x}, found {t:#04x}"))),
            None => Err(self.err(format_args!("expected {what} tag {tag:#04x}, found end of input"))),
        }
    }

    /// Consumes `tag` if it is next.
    fn eat(&mut self, tag: u8) -> bool {
        if self.peek() == Some(tag) {
            self.pos = self.pos.saturating_add(1);
            true
        } else {
            false
        }
    }
}

fn read_header(cur: &mut Cursor<'_>) -> Result<(), ProtoError> {
    let header = u32::from_le_bytes(cur.array("header")?);
    if header != HEADER {
        return Err(ProtoError::plainbuffer(format!("bad header {header:#x}, expected {HEADER:#x}")));
    }
    Ok(())
}

fn read_row(cur: &mut Cursor<'_>) -> Result<Row, ProtoError> {
    Ok(read_row_ref(cur, Checksums::Verify)?.to_row())
}

/// Whether the CRC-8 checksums are verified.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checksums {
    Verify,
    /// The bytes were authenticated by a MAC before (a repository chunk): a
    /// checksum could catch nothing the MAC did not.
    Skip,
}

/// A row decoded in place: cell names and values borrow the bytes it was read
/// from, checksums verified. The primary key is owned (it is small, and callers
/// compare and encode it).
#[derive(Clone, Debug, PartialEq)]
pub struct RowRef<'a> {
    /// The primary key.
    pub primary_key: PrimaryKey,
    /// Attribute cells in wire order.
    pub cells: Vec<CellRef<'a>>,
    /// The delete-row marker.
    pub delete_marker: bool,
    /// Sequence info (stream records).
    pub seq_info: Option<SeqInfo>,
    /// Where the primary key's cells end, as [`RowEncoder::finish`] reports it
    /// for the same row (offsets from the start of the input, header included).
    pub key_extent: KeyExtent,
}

/// An attribute cell of a [`RowRef`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellRef<'a> {
    /// Column name.
    pub name: &'a str,
    /// Value, absent for deletes.
    pub value: Option<ValueRef<'a>>,
    /// Operation, absent for a plain put.
    pub op: Option<CellOp>,
    /// Version timestamp in milliseconds.
    pub timestamp: Option<i64>,
}

impl RowRef<'_> {
    /// The owned row.
    pub fn to_row(&self) -> Row {
        let cells = self
            .cells
            .iter()
            .map(|c| Cell { name: c.name.to_owned(), value: c.value.map(ValueRef::to_value), op: c.op, timestamp: c.timestamp })
            .collect();
        Row { primary_key: self.primary_key.clone(), cells, delete_marker: self.delete_marker, seq_info: self.seq_info }
    }

    /// Whether the row is as a table read returns it and the digest hashes it:
    /// every cell a value and a timestamp and no operation, columns by name and
    /// each newest first, no delete marker, no sequence info.
    pub fn is_canonical(&self) -> bool {
        !self.delete_marker
            && self.seq_info.is_none()
            && self.cells.iter().all(|c| c.value.is_some() && c.timestamp.is_some() && c.op.is_none())
            && self.cells.windows(2).all(|w| {
                (w[0].name.as_bytes(), std::cmp::Reverse(w[0].timestamp))
                    <= (w[1].name.as_bytes(), std::cmp::Reverse(w[1].timestamp))
            })
    }
}

/// Decodes a header and exactly one row in place; bytes after the row are ignored
/// as in [`decode_row`].
pub fn decode_row_ref(bytes: &[u8]) -> Result<RowRef<'_>, ProtoError> {
    let mut cur = Cursor::new(bytes);
    read_header(&mut cur)?;
    read_row_ref(&mut cur, Checksums::Verify)
}

/// [`decode_row_ref`] for bytes a MAC has authenticated (a repository chunk):
/// structure and bounds are checked as always, the CRC-8 checksums of attribute
/// cells and of the row are not.
pub fn decode_authenticated_row_ref(bytes: &[u8]) -> Result<RowRef<'_>, ProtoError> {
    let mut cur = Cursor::new(bytes);
    read_header(&mut cur)?;
    read_row_ref(&mut cur, Checksums::Skip)
}

fn read_row_ref<'a>(cur: &mut Cursor<'a>, checksums: Checksums) -> Result<RowRef<'a>, ProtoError> {
    cur.expect_tag(TAG_ROW_PK, "row primary key")?;
    let mut row_crc = 0u8;
    let mut pk_cells = Vec::with_capacity(4);
    while cur.peek() == Some(TAG_CELL) {
        // The key's checksum is needed either way: it is part of the key's own encoding.
        let cell = read_cell(cur, Checksums::Verify)?;
        row_crc = crc8_byte(row_crc, cell.checksum());
        pk_cells.push(cell);
    }
    let key_extent = KeyExtent { end: cur.pos, crc: row_crc };
    let mut cells = Vec::new();
    if cur.eat(TAG_ROW_DATA) {
        while cur.peek() == Some(TAG_CELL) {
            let cell = read_cell(cur, checksums)?;
            if checksums == Checksums::Verify {
                row_crc = crc8_byte(row_crc, cell.checksum());
            }
            cells.push(cell);
        }
    }
    let delete_marker = cur.eat(TAG_DELETE_ROW_MARKER);
    row_crc = crc8_byte(row_crc, u8::from(delete_marker));
    let seq_info = if cur.eat(TAG_EXTENSION) { read_extension(cur)? } else { None };
    cur.expect_tag(TAG_ROW_CHECKSUM, "row checksum")?;
    let actual = cur.u8("row checksum")?;
    if checksums == Checksums::Verify && actual != row_crc {
        return Err(ProtoError::Checksum { what: "row".to_owned(), expected: row_crc, actual });
    }
    let columns = pk_cells.into_iter().map(pk_column).collect::<Result<Vec<_>, _>>()?;
    let cells = cells.into_iter().map(attribute_cell).collect::<Result<Vec<_>, _>>()?;
    Ok(RowRef { primary_key: PrimaryKey { columns }, cells, delete_marker, seq_info, key_extent })
}

/// Reads one cell and verifies its checksum; contents are interpreted later.
fn read_cell<'a>(cur: &mut Cursor<'a>, checksums: Checksums) -> Result<WireCell<'a>, ProtoError> {
    cur.expect_tag(TAG_CELL, "cell")?;
    cur.expect_tag(TAG_CELL_NAME, "cell name")?;
    let name = cur.bytes("cell name")?;
    let value = if cur.eat(TAG_CELL_VALUE) { Some(read_variant(cur)?) } else { None };
    let op = if cur.eat(TAG_CELL_TYPE) { Some(cur.u8("cell op")?) } else { None };
    let timestamp = if cur.eat(TAG_CELL_TIMESTAMP) { Some(cur.i64("cell timestamp")?) } else { None };
    cur.expect_tag(TAG_CELL_CHECKSUM, "cell checksum")?;
    let actual = cur.u8("cell checksum")?;
    let cell = WireCell { name, value, op, timestamp };
    if checksums == Checksums::Skip {
        return Ok(cell);
    }
    let expected = cell.checksum();
    if actual != expected {
        let what = format!("cell {}", String::from_utf8_lossy(name));
        return Err(ProtoError::Checksum { what, expected, actual });
    }
    Ok(cell)
}

fn read_variant<'a>(cur: &mut Cursor<'a>) -> Result<Variant<'a>, ProtoError> {
    let at = cur.pos;
    // vlen is redundant (readers decode by type); only its bounds are checked.
    let vlen = cur.len("cell value")?;
    if vlen == 0 {
        return Err(ProtoError::plainbuffer(format!("cell value length 0 at offset {at}")));
    }
    let type_at = cur.pos;
    Ok(match cur.u8("value type")? {
        VT_INTEGER => Variant::Integer(cur.i64("integer value")?),
        VT_DOUBLE => Variant::Double(u64::from_le_bytes(cur.array("double value")?)),
        VT_BOOLEAN => match cur.u8("boolean value")? {
            0 => Variant::Boolean(false),
            1 => Variant::Boolean(true),
            b => return Err(cur.err(format_args!("boolean byte {b:#04x} is neither 0 nor 1"))),
        },
        VT_STRING => Variant::String(cur.bytes("string value")?),
        VT_BLOB => Variant::Blob(cur.bytes("binary value")?),
        VT_NULL => Variant::Null,
        VT_INF_MIN => Variant::InfMin,
        VT_INF_MAX => Variant::InfMax,
        VT_AUTO_INCREMENT => Variant::AutoIncrement,
        t => return Err(ProtoError::plainbuffer(format!("unknown value type {t:#04x} at offset {type_at}"))),
    })
}

fn read_extension(cur: &mut Cursor<'_>) -> Result<Option<SeqInfo>, ProtoError> {
    let len = cur.len("row extension")?;
    let mut ext = cur.sub(len, "row extension")?;
    let mut seq_info = None;
    while !ext.at_end() {
        let tag = ext.u8("extension tag")?;
        let body_len = ext.len("extension item")?;
        let mut body = ext.sub(body_len, "extension item")?;
        if tag != TAG_SEQ_INFO {
            continue; // unknown extension items are skipped, as the Java SDK does
        }
        if seq_info.is_some() {
            return Err(body.err("duplicate sequence info"));
        }
        body.expect_tag(TAG_SEQ_INFO_EPOCH, "sequence epoch")?;
        let epoch = body.i32("sequence epoch")?;
        body.expect_tag(TAG_SEQ_INFO_TS, "sequence timestamp")?;
        let timestamp = body.i64("sequence timestamp")?;
        body.expect_tag(TAG_SEQ_INFO_ROW_INDEX, "sequence row index")?;
        let row_index = body.i32("sequence row index")?;
        seq_info = Some(SeqInfo { epoch, timestamp, row_index });
    }
    Ok(seq_info)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, ProtoError> {
    utf8_ref(bytes, what).map(str::to_owned)
}

fn pk_column(cell: WireCell<'_>) -> Result<PkColumn, ProtoError> {
    let name = utf8(cell.name, "primary key column name")?;
    if cell.op.is_some() || cell.timestamp.is_some() {
        return Err(ProtoError::plainbuffer(format!("primary key column {name:?} carries an operation or timestamp")));
    }
    let value = match cell.value {
        Some(Variant::Integer(i)) => PkValue::Integer(i),
        Some(Variant::String(s)) => PkValue::String(utf8(s, "string primary key value")?),
        Some(Variant::Blob(b)) => PkValue::Binary(b.to_vec()),
        Some(Variant::InfMin) => PkValue::InfMin,
        Some(Variant::InfMax) => PkValue::InfMax,
        Some(Variant::AutoIncrement) => PkValue::AutoIncrement,
        Some(Variant::Double(_)) => return Err(ProtoError::InvalidPkType { type_name: "DOUBLE" }),
        Some(Variant::Boolean(_)) => return Err(ProtoError::InvalidPkType { type_name: "BOOLEAN" }),
        Some(other) => {
            return Err(ProtoError::plainbuffer(format!(
                "primary key column {name:?} has unsupported value type {:#04x}",
                other.type_byte()
            )))
        }
        None => return Err(ProtoError::plainbuffer(format!("primary key column {name:?} has no value"))),
    };
    Ok(PkColumn { name, value })
}

fn utf8_ref<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ProtoError> {
    std::str::from_utf8(bytes).map_err(|e| ProtoError::plainbuffer(format!("{what} is not UTF-8: {e}")))
}

fn attribute_cell<'a>(cell: WireCell<'a>) -> Result<CellRef<'a>, ProtoError> {
    let name = utf8_ref(cell.name, "column name")?;
    let value = match cell.value {
        None => None,
        Some(Variant::Integer(i)) => Some(ValueRef::Integer(i)),
        Some(Variant::Double(bits)) => Some(ValueRef::Double(f64::from_bits(bits))),
        Some(Variant::Boolean(b)) => Some(ValueRef::Boolean(b)),
        Some(Variant::String(s)) => Some(ValueRef::String(utf8_ref(s, "string value")?)),
        Some(Variant::Blob(b)) => Some(ValueRef::Binary(b)),
        Some(other @ (Variant::Null | Variant::InfMin | Variant::InfMax | Variant::AutoIncrement)) => {
            return Err(ProtoError::plainbuffer(format!(
                "column {name:?} has value type {:#04x}, not allowed in attribute columns",
                other.type_byte()
            )))
        }
    };
    let op = match cell.op {
        None => None,
        Some(OP_DELETE_ALL_VERSIONS) => Some(CellOp::DeleteAllVersions),
        Some(OP_DELETE_ONE_VERSION) => Some(CellOp::DeleteOneVersion),
        Some(OP_INCREMENT) => Some(CellOp::Increment),
        Some(b) => return Err(ProtoError::plainbuffer(format!("column {name:?} has unknown operation {b:#04x}"))),
    };
    Ok(CellRef { name, value, op, timestamp: cell.timestamp })
}
