//! The typed row model that every TableSafe crate shares: primary keys, attribute
//! values, cells with versions and operations, rows, filters and table definitions.
//!
//! Invariants:
//! - `PkValue` orders like Tablestore orders primary keys: `InfMin` below every value,
//!   `InfMax` above, integers numerically (signed), strings and binaries bytewise.
//!   Values of different concrete types never meet in one table (the schema fixes the
//!   type), so their relative order is only defined to keep `Ord` total.
//! - Timestamps are milliseconds since the Unix epoch, as on the wire.
//! - This module is pure data: decoding (PlainBuffer, protobuf) lives beside it and the
//!   semantics (TTL, versions, conditions) live in the engine.

use std::cmp::Ordering;

/// Type of a primary key column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PrimaryKeyType {
    /// Signed 64-bit integer.
    Integer,
    /// UTF-8 string, at most 1 KB.
    String,
    /// Bytes, at most 1 KB.
    Binary,
}

/// One primary key column of a table's schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PrimaryKeySchema {
    /// Column name.
    pub name: String,
    /// Column type.
    pub key_type: PrimaryKeyType,
    /// Whether the server generates this column's value (INTEGER, never the first column).
    pub auto_increment: bool,
}

/// Type of a predefined (defined) attribute column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DefinedColumnType {
    /// INTEGER
    Integer,
    /// DOUBLE
    Double,
    /// BOOLEAN
    Boolean,
    /// STRING
    String,
    /// BINARY (BLOB)
    Binary,
}

/// A predefined attribute column (used by secondary indexes; stored and reported only).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DefinedColumnSchema {
    /// Column name.
    pub name: String,
    /// Column type.
    pub column_type: DefinedColumnType,
}

/// A value in a primary key column, including the range sentinels and the
/// auto-increment placeholder that only appear in requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PkValue {
    /// Signed 64-bit integer.
    Integer(i64),
    /// UTF-8 string.
    String(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Below every value (range scans only).
    InfMin,
    /// Above every value (range scans only).
    InfMax,
    /// Placeholder asking the server to generate the value (PutRow only).
    AutoIncrement,
}

impl PkValue {
    fn rank(&self) -> u8 {
        match self {
            PkValue::InfMin => 0,
            PkValue::Integer(_) => 1,
            PkValue::String(_) => 2,
            PkValue::Binary(_) => 3,
            PkValue::AutoIncrement => 4,
            PkValue::InfMax => 5,
        }
    }

    /// The type of a concrete value; `None` for sentinels and the placeholder.
    pub fn key_type(&self) -> Option<PrimaryKeyType> {
        match self {
            PkValue::Integer(_) => Some(PrimaryKeyType::Integer),
            PkValue::String(_) => Some(PrimaryKeyType::String),
            PkValue::Binary(_) => Some(PrimaryKeyType::Binary),
            _ => None,
        }
    }
}

impl Ord for PkValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PkValue::Integer(a), PkValue::Integer(b)) => a.cmp(b),
            (PkValue::String(a), PkValue::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PkValue::Binary(a), PkValue::Binary(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PkValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One named column of a primary key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PkColumn {
    /// Column name.
    pub name: String,
    /// Column value.
    pub value: PkValue,
}

/// A primary key: its columns in schema order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PrimaryKey {
    /// Columns in schema order.
    pub columns: Vec<PkColumn>,
}

impl PrimaryKey {
    /// Builds a key from `(name, value)` pairs.
    pub fn new<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = (S, PkValue)>,
        S: Into<String>,
    {
        PrimaryKey { columns: columns.into_iter().map(|(name, value)| PkColumn { name: name.into(), value }).collect() }
    }

    /// Compares two keys column by column by value (names are not compared).
    pub fn cmp_values(&self, other: &PrimaryKey) -> Ordering {
        let a = self.columns.iter().map(|c| &c.value);
        let b = other.columns.iter().map(|c| &c.value);
        a.cmp(b)
    }
}

/// An attribute column value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// Signed 64-bit integer.
    Integer(i64),
    /// IEEE-754 double.
    Double(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string.
    String(String),
    /// Bytes.
    Binary(Vec<u8>),
}

impl Value {
    /// Payload size in bytes as Tablestore counts it for limits and capacity.
    pub fn data_size(&self) -> usize {
        match self {
            Value::Integer(_) | Value::Double(_) => 8,
            Value::Boolean(_) => 1,
            Value::String(s) => s.len(),
            Value::Binary(b) => b.len(),
        }
    }

    /// Compares two values of the same type; `None` when the types differ
    /// (Tablestore treats such comparisons as not matching).
    pub fn partial_cmp_same_type(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
            (Value::Boolean(a), Value::Boolean(b)) => Some(a.cmp(b)),
            (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Value::Binary(a), Value::Binary(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// A [`Value`] borrowed from bytes it was decoded from (the engine's stored rows):
/// the same variants in the same order, so serde formats read either from the
/// same bytes.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ValueRef<'a> {
    /// Signed 64-bit integer.
    Integer(i64),
    /// IEEE-754 double.
    Double(f64),
    /// Boolean.
    Boolean(bool),
    /// UTF-8 string.
    String(&'a str),
    /// Bytes.
    Binary(&'a [u8]),
}

impl ValueRef<'_> {
    /// The owned value.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Double(d) => Value::Double(d),
            ValueRef::Boolean(b) => Value::Boolean(b),
            ValueRef::String(s) => Value::String(s.to_owned()),
            ValueRef::Binary(b) => Value::Binary(b.to_vec()),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Double(d) => ValueRef::Double(*d),
            Value::Boolean(b) => ValueRef::Boolean(*b),
            Value::String(s) => ValueRef::String(s),
            Value::Binary(b) => ValueRef::Binary(b),
        }
    }
}

/// What a cell in a write asks for. A plain put carries no operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CellOp {
    /// Remove every version of the column (no value, no timestamp).
    DeleteAllVersions,
    /// Remove the version with exactly the given timestamp (no value).
    DeleteOneVersion,
    /// Add an INTEGER delta to the latest value (missing counts as 0).
    Increment,
}

/// An attribute cell: a column name with an optional value, operation and timestamp.
///
/// In rows read from a table every cell has a value and a timestamp and no operation;
/// in writes and change records the combinations follow the PlainBuffer rules.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// Column name.
    pub name: String,
    /// Value, absent for deletes.
    pub value: Option<Value>,
    /// Operation, absent for a plain put.
    pub op: Option<CellOp>,
    /// Version timestamp in milliseconds.
    pub timestamp: Option<i64>,
}

impl Cell {
    /// A stored version: value at a timestamp.
    pub fn version(name: impl Into<String>, value: Value, timestamp: i64) -> Self {
        Cell { name: name.into(), value: Some(value), op: None, timestamp: Some(timestamp) }
    }

    /// A put without a timestamp (the server stamps it).
    pub fn put(name: impl Into<String>, value: Value) -> Self {
        Cell { name: name.into(), value: Some(value), op: None, timestamp: None }
    }
}

/// Stream sequence information carried by change records (PlainBuffer extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SeqInfo {
    /// Epoch.
    pub epoch: i32,
    /// Commit timestamp in microseconds.
    pub timestamp: i64,
    /// Orders records that share a timestamp.
    pub row_index: i32,
}

/// A row: primary key, attribute cells, and the markers PlainBuffer can carry.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Primary key.
    pub primary_key: PrimaryKey,
    /// Attribute cells.
    pub cells: Vec<Cell>,
    /// Set on DeleteRow requests and BatchWriteRow DELETE rows.
    pub delete_marker: bool,
    /// Set on stream records.
    pub seq_info: Option<SeqInfo>,
}

impl Row {
    /// A row with only a primary key.
    pub fn from_key(primary_key: PrimaryKey) -> Self {
        Row { primary_key, ..Row::default() }
    }
}

/// Row existence expectation of a conditional write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RowExistence {
    /// No check.
    #[default]
    Ignore,
    /// Fail if the row is absent.
    ExpectExist,
    /// Fail if the row is present.
    ExpectNotExist,
}

/// A write condition: row existence plus an optional column condition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Condition {
    /// Row existence expectation.
    pub row_existence: RowExistence,
    /// Column condition evaluated against the current row.
    pub column_condition: Option<Filter>,
}

/// Comparison of a single-column filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparator {
    /// ==
    Equal,
    /// !=
    NotEqual,
    /// >
    GreaterThan,
    /// >=
    GreaterEqual,
    /// <
    LessThan,
    /// <=
    LessEqual,
    /// column present
    Exist,
    /// column absent
    NotExist,
}

/// Logical operator of a composite filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalOperator {
    /// exactly one sub-filter
    Not,
    /// two or more sub-filters
    And,
    /// two or more sub-filters
    Or,
}

/// Regex extraction applied to a string column before comparing.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueTransferRule {
    /// Regular expression whose first capture group is compared.
    pub regex: String,
    /// Type the capture is cast to; `None` keeps it a string.
    pub cast_type: Option<CastType>,
}

/// Target type of a value transfer rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastType {
    /// INTEGER
    Integer,
    /// DOUBLE
    Double,
    /// STRING
    String,
    /// BINARY
    Binary,
}

/// A single-column value filter.
#[derive(Clone, Debug, PartialEq)]
pub struct SingleColumnFilter {
    /// Comparison.
    pub comparator: Comparator,
    /// Column compared.
    pub column_name: String,
    /// Value compared against (`None` for a NULL variant, used with Exist/NotExist).
    pub value: Option<Value>,
    /// When the column is missing: `true` filters the row out, `false` lets it pass.
    pub filter_if_missing: bool,
    /// Compare only the latest version (else any version may match).
    pub latest_version_only: bool,
    /// Optional regex extraction.
    pub value_transfer: Option<ValueTransferRule>,
}

/// A row filter or column condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Compare one column with a value.
    SingleColumn(SingleColumnFilter),
    /// Combine sub-filters.
    Composite {
        /// Operator.
        operator: LogicalOperator,
        /// Sub-filters.
        filters: Vec<Filter>,
    },
    /// Return attribute columns `[offset, offset + limit)` in name order.
    ColumnPagination {
        /// First column returned.
        offset: i32,
        /// Number of columns returned.
        limit: i32,
    },
}

/// Which versions a read returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeRange {
    /// Versions with `start <= ts < end`.
    Range {
        /// Inclusive start (ms).
        start: i64,
        /// Exclusive end (ms).
        end: i64,
    },
    /// Only the version at exactly this timestamp.
    Specific(i64),
}

/// What a read returns of each row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// Attribute (or key) column names to return; empty returns all columns.
    pub columns_to_get: Vec<String>,
    /// Newest N versions per column.
    pub max_versions: Option<i32>,
    /// Version window.
    pub time_range: Option<TimeRange>,
    /// First column name returned (inclusive).
    pub start_column: Option<String>,
    /// Column name where returning stops (exclusive).
    pub end_column: Option<String>,
    /// Row filter.
    pub filter: Option<Filter>,
}

/// Table options as Tablestore defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TableOptions {
    /// Seconds a version lives; -1 keeps data forever.
    pub time_to_live: i32,
    /// Versions kept per column.
    pub max_versions: i32,
    /// Allowed distance in seconds between a client timestamp and now.
    pub max_time_deviation: i64,
    /// Whether UpdateRow is allowed.
    pub allow_update: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { time_to_live: -1, max_versions: 1, max_time_deviation: 86_400, allow_update: true }
    }
}

/// Stream settings of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StreamSpec {
    /// Whether changes are recorded.
    pub enabled: bool,
    /// Hours a change record is kept.
    pub expiration_hours: i32,
    /// Columns whose previous value is reported in change records.
    pub columns_to_get: Vec<String>,
}

/// Whether a secondary index is global (any first key column) or local
/// (partitioned like its table: its first key column is the table's first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IndexType {
    /// IT_GLOBAL_INDEX
    Global,
    /// IT_LOCAL_INDEX
    Local,
}

/// How the service updates an index (TableSafe updates every index in the same
/// write as its table whatever the mode; the mode is kept and reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IndexUpdateMode {
    /// IUM_ASYNC_INDEX
    Async,
    /// IUM_SYNC_INDEX
    Sync,
}

/// A secondary index as CreateTable and CreateIndex define it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct IndexMeta {
    /// Index name (an index table's name, unique among tables and indexes).
    pub name: String,
    /// The index's key columns, table primary key or defined columns, in order;
    /// the table's key columns not named follow them in the index table's key.
    pub primary_key: Vec<String>,
    /// Defined columns the index rows carry.
    pub defined_columns: Vec<String>,
    /// Update mode.
    pub update_mode: IndexUpdateMode,
    /// Global or local.
    pub index_type: IndexType,
}

/// The part of a table that CreateTable fixes: name and schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Primary key columns in order (1 to 4).
    pub primary_key: Vec<PrimaryKeySchema>,
    /// Predefined attribute columns.
    pub defined_columns: Vec<DefinedColumnSchema>,
}

/// Reserved read/write capacity (stored and reported; not enforced).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ReservedThroughput {
    /// Read capacity units.
    pub read: i32,
    /// Write capacity units.
    pub write: i32,
}
