//! Filters on the wire: the SQLVariant value codec and serialized `Filter` wrappers
//! (reference sections 3.9 and 4.6) <-> [`model::Filter`].
//!
//! A serialized filter is a `pb::Filter { type, filter }` whose `filter` bytes are the
//! serialized sub-message selected by `type`; composites hold full `Filter` wrappers
//! again, so decoding recurses (bounded by [`MAX_FILTER_DEPTH`]).
//!
//! Everything here is total on untrusted input: malformed bytes give
//! [`ProtoError::Filter`], never a panic.

use prost::Message;

use crate::error::ProtoError;
use crate::model::{
    CastType, Comparator, Filter, LogicalOperator, PkValue, SingleColumnFilter, Value, ValueTransferRule,
};
use crate::pb;

/// Deepest nesting of composite filters accepted (the outermost filter is depth 1).
pub const MAX_FILTER_DEPTH: usize = 32;

/// SQLVariant / PlainBuffer variant type bytes.
const VT_INTEGER: u8 = 0x00;
const VT_DOUBLE: u8 = 0x01;
const VT_BOOLEAN: u8 = 0x02;
const VT_STRING: u8 = 0x03;
const VT_NULL: u8 = 0x06;
const VT_BLOB: u8 = 0x07;
const VT_INF_MIN: u8 = 0x09;
const VT_INF_MAX: u8 = 0x0A;

// ---------------------------------------------------------------------------
// SQLVariant
// ---------------------------------------------------------------------------

/// Encodes an attribute value as a SQLVariant: type byte + payload, without the
/// PlainBuffer cell-value tag and outer length (`INTEGER 5` → `00 05000000 00000000`).
pub fn encode_variant(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8);
    match v {
        Value::Integer(i) => {
            out.push(VT_INTEGER);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Double(d) => {
            out.push(VT_DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Boolean(b) => {
            out.push(VT_BOOLEAN);
            out.push(u8::from(*b));
        }
        Value::String(s) => {
            out.push(VT_STRING);
            push_len_prefixed(&mut out, s.as_bytes());
        }
        Value::Binary(b) => {
            out.push(VT_BLOB);
            push_len_prefixed(&mut out, b);
        }
    }
    out
}

/// The SQLVariant of a NULL value (a bare `VT_NULL` type byte).
pub fn encode_null_variant() -> Vec<u8> {
    vec![VT_NULL]
}

/// Decodes a SQLVariant attribute value; `VT_NULL` gives `None`.
///
/// Bytes after the value are ignored (some SDKs over-allocate their buffers).
pub fn decode_variant(bytes: &[u8]) -> Result<Option<Value>, ProtoError> {
    let (&vt, payload) = bytes.split_first().ok_or_else(|| ProtoError::filter("empty column value"))?;
    let value = match vt {
        VT_INTEGER => Value::Integer(i64::from_le_bytes(take8(payload, "INTEGER")?)),
        VT_DOUBLE => Value::Double(f64::from_bits(u64::from_le_bytes(take8(payload, "DOUBLE")?))),
        VT_BOOLEAN => match payload.first() {
            Some(&b) => Value::Boolean(b != 0),
            None => return Err(ProtoError::filter("truncated BOOLEAN column value")),
        },
        VT_STRING => {
            let raw = take_len_prefixed(payload, "STRING")?;
            let s =
                std::str::from_utf8(raw).map_err(|_| ProtoError::filter("STRING column value is not valid UTF-8"))?;
            Value::String(s.to_owned())
        }
        VT_BLOB => Value::Binary(take_len_prefixed(payload, "BLOB")?.to_vec()),
        VT_NULL => return Ok(None),
        other => return Err(ProtoError::filter(format!("unsupported column value type {other:#04x}"))),
    };
    Ok(Some(value))
}

/// Encodes a primary-key value as a SQLVariant (PartitionRange begin/end,
/// StartLocalTransaction key). `InfMin`/`InfMax` are a bare type byte.
///
/// `AutoIncrement` has no SQLVariant form; it is encoded as its PlainBuffer type byte
/// `0x0B`, which [`decode_pk_variant`] rejects.
pub fn encode_pk_variant(v: &PkValue) -> Vec<u8> {
    match v {
        PkValue::Integer(i) => encode_variant(&Value::Integer(*i)),
        PkValue::String(s) => encode_variant(&Value::String(s.clone())),
        PkValue::Binary(b) => encode_variant(&Value::Binary(b.clone())),
        PkValue::InfMin => vec![VT_INF_MIN],
        PkValue::InfMax => vec![VT_INF_MAX],
        PkValue::AutoIncrement => vec![0x0B],
    }
}

/// Decodes a SQLVariant primary-key value: INTEGER, STRING, BLOB, or the bare
/// `INF_MIN` (0x09) / `INF_MAX` (0x0A) type bytes. Trailing bytes are ignored.
pub fn decode_pk_variant(bytes: &[u8]) -> Result<PkValue, ProtoError> {
    match bytes.first() {
        Some(&VT_INF_MIN) => return Ok(PkValue::InfMin),
        Some(&VT_INF_MAX) => return Ok(PkValue::InfMax),
        _ => {}
    }
    match decode_variant(bytes)? {
        Some(Value::Integer(i)) => Ok(PkValue::Integer(i)),
        Some(Value::String(s)) => Ok(PkValue::String(s)),
        Some(Value::Binary(b)) => Ok(PkValue::Binary(b)),
        Some(Value::Double(_)) => Err(ProtoError::filter("DOUBLE is not a primary key type")),
        Some(Value::Boolean(_)) => Err(ProtoError::filter("BOOLEAN is not a primary key type")),
        None => Err(ProtoError::filter("NULL is not a primary key value")),
    }
}

fn push_len_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    // Values never approach 2 GiB (requests are limited to 5 MB); saturate rather than wrap.
    let len = i32::try_from(data.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
}

fn take8(payload: &[u8], what: &str) -> Result<[u8; 8], ProtoError> {
    payload
        .get(..8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .ok_or_else(|| ProtoError::filter(format!("truncated {what} column value")))
}

fn take_len_prefixed<'a>(payload: &'a [u8], what: &str) -> Result<&'a [u8], ProtoError> {
    let len_bytes = payload
        .get(..4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .ok_or_else(|| ProtoError::filter(format!("truncated {what} column value length")))?;
    let len = i32::from_le_bytes(len_bytes);
    let len =
        usize::try_from(len).map_err(|_| ProtoError::filter(format!("negative {what} column value length {len}")))?;
    payload
        .get(4..)
        .and_then(|rest| rest.get(..len))
        .ok_or_else(|| ProtoError::filter(format!("truncated {what} column value")))
}

// ---------------------------------------------------------------------------
// Filter decoding
// ---------------------------------------------------------------------------

/// Decodes and validates a serialized `pb::Filter` wrapper (the bytes of
/// `GetRowRequest.filter`, `GetRangeRequest.filter`, `Condition.column_condition`, ...).
pub fn decode_filter(bytes: &[u8]) -> Result<Filter, ProtoError> {
    let wrapper = pb::Filter::decode(bytes).map_err(|e| ProtoError::filter(format!("malformed Filter: {e}")))?;
    filter_from_pb(&wrapper, 1)
}

/// Converts an already decoded `pb::Filter` wrapper (validating as [`decode_filter`]).
pub fn filter_from_pb(wrapper: &pb::Filter, depth: usize) -> Result<Filter, ProtoError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(ProtoError::filter(format!("The depth of the filter exceeds the limit {MAX_FILTER_DEPTH}")));
    }
    let ty = pb::FilterType::try_from(wrapper.r#type)
        .map_err(|_| ProtoError::filter(format!("Unknown filter type: {}", wrapper.r#type)))?;
    match ty {
        pb::FilterType::FtSingleColumnValue => {
            let single = pb::SingleColumnValueFilter::decode(wrapper.filter.as_slice())
                .map_err(|e| ProtoError::filter(format!("malformed SingleColumnValueFilter: {e}")))?;
            single_from_pb(&single).map(Filter::SingleColumn)
        }
        pb::FilterType::FtCompositeColumnValue => {
            let composite = pb::CompositeColumnValueFilter::decode(wrapper.filter.as_slice())
                .map_err(|e| ProtoError::filter(format!("malformed CompositeColumnValueFilter: {e}")))?;
            composite_from_pb(&composite, depth)
        }
        pb::FilterType::FtColumnPagination => {
            let page = pb::ColumnPaginationFilter::decode(wrapper.filter.as_slice())
                .map_err(|e| ProtoError::filter(format!("malformed ColumnPaginationFilter: {e}")))?;
            if page.offset < 0 {
                return Err(ProtoError::filter(format!(
                    "The offset of ColumnPaginationFilter must be non-negative, got {}",
                    page.offset
                )));
            }
            if page.limit <= 0 {
                return Err(ProtoError::filter(format!(
                    "The limit of ColumnPaginationFilter must be positive, got {}",
                    page.limit
                )));
            }
            Ok(Filter::ColumnPagination { offset: page.offset, limit: page.limit })
        }
    }
}

fn single_from_pb(single: &pb::SingleColumnValueFilter) -> Result<SingleColumnFilter, ProtoError> {
    let comparator = match pb::ComparatorType::try_from(single.comparator) {
        Ok(pb::ComparatorType::CtEqual) => Comparator::Equal,
        Ok(pb::ComparatorType::CtNotEqual) => Comparator::NotEqual,
        Ok(pb::ComparatorType::CtGreaterThan) => Comparator::GreaterThan,
        Ok(pb::ComparatorType::CtGreaterEqual) => Comparator::GreaterEqual,
        Ok(pb::ComparatorType::CtLessThan) => Comparator::LessThan,
        Ok(pb::ComparatorType::CtLessEqual) => Comparator::LessEqual,
        Ok(pb::ComparatorType::CtExist) => Comparator::Exist,
        Ok(pb::ComparatorType::CtNotExist) => Comparator::NotExist,
        Err(_) => {
            return Err(ProtoError::filter(format!(
                "Invalid comparator of SingleColumnValueFilter: {}",
                single.comparator
            )))
        }
    };
    if single.column_name.is_empty() {
        return Err(ProtoError::filter("The column name of SingleColumnValueFilter is missing"));
    }
    let existence_only = matches!(comparator, Comparator::Exist | Comparator::NotExist);
    let value =
        if existence_only && single.column_value.is_empty() { None } else { decode_variant(&single.column_value)? };
    if value.is_none() && !existence_only {
        return Err(ProtoError::filter(format!(
            "The column value of SingleColumnValueFilter on column '{}' must not be NULL",
            single.column_name
        )));
    }
    let value_transfer = match &single.value_trans_rule {
        None => None,
        Some(rule) => Some(transfer_rule_from_pb(rule)?),
    };
    Ok(SingleColumnFilter {
        comparator,
        column_name: single.column_name.clone(),
        value,
        filter_if_missing: single.filter_if_missing,
        latest_version_only: single.latest_version_only,
        value_transfer,
    })
}

fn transfer_rule_from_pb(rule: &pb::ValueTransferRule) -> Result<ValueTransferRule, ProtoError> {
    if rule.regex.is_empty() {
        return Err(ProtoError::filter("The regex of ValueTransferRule is missing"));
    }
    if let Err(e) = regex::Regex::new(&rule.regex) {
        return Err(ProtoError::filter(format!("Invalid regex of ValueTransferRule: {e}")));
    }
    let cast_type = match rule.cast_type {
        None => None,
        Some(raw) => Some(match pb::VariantType::try_from(raw) {
            Ok(pb::VariantType::VtInteger) => CastType::Integer,
            Ok(pb::VariantType::VtDouble) => CastType::Double,
            Ok(pb::VariantType::VtString) => CastType::String,
            Ok(pb::VariantType::VtBlob) => CastType::Binary,
            Ok(pb::VariantType::VtNull) | Err(_) => {
                return Err(ProtoError::filter(format!("Invalid cast type of ValueTransferRule: {raw}")))
            }
        }),
    };
    Ok(ValueTransferRule { regex: rule.regex.clone(), cast_type })
}

fn composite_from_pb(composite: &pb::CompositeColumnValueFilter, depth: usize) -> Result<Filter, ProtoError> {
    let operator = match pb::LogicalOperator::try_from(composite.combinator) {
        Ok(pb::LogicalOperator::LoNot) => LogicalOperator::Not,
        Ok(pb::LogicalOperator::LoAnd) => LogicalOperator::And,
        Ok(pb::LogicalOperator::LoOr) => LogicalOperator::Or,
        Err(_) => {
            return Err(ProtoError::filter(format!(
                "Invalid logical operator of CompositeColumnValueFilter: {}",
                composite.combinator
            )))
        }
    };
    let n = composite.sub_filters.len();
    match operator {
        LogicalOperator::Not if n != 1 => {
            return Err(ProtoError::filter(format!("The number of sub-filters of NOT must be 1, got {n}")))
        }
        LogicalOperator::And | LogicalOperator::Or if n < 2 => {
            let name = if operator == LogicalOperator::And { "AND" } else { "OR" };
            return Err(ProtoError::filter(format!("The number of sub-filters of {name} must be at least 2, got {n}")));
        }
        _ => {}
    }
    let filters =
        composite.sub_filters.iter().map(|sub| filter_from_pb(sub, depth + 1)).collect::<Result<Vec<_>, _>>()?;
    Ok(Filter::Composite { operator, filters })
}

// ---------------------------------------------------------------------------
// Filter encoding
// ---------------------------------------------------------------------------

/// Serializes a filter as a `pb::Filter` wrapper (inverse of [`decode_filter`]).
pub fn encode_filter(f: &Filter) -> Vec<u8> {
    filter_to_pb(f).encode_to_vec()
}

/// Builds the `pb::Filter` wrapper of a filter.
pub fn filter_to_pb(f: &Filter) -> pb::Filter {
    match f {
        Filter::SingleColumn(single) => pb::Filter {
            r#type: pb::FilterType::FtSingleColumnValue as i32,
            filter: single_to_pb(single).encode_to_vec(),
        },
        Filter::Composite { operator, filters } => {
            let combinator = match operator {
                LogicalOperator::Not => pb::LogicalOperator::LoNot,
                LogicalOperator::And => pb::LogicalOperator::LoAnd,
                LogicalOperator::Or => pb::LogicalOperator::LoOr,
            };
            let composite = pb::CompositeColumnValueFilter {
                combinator: combinator as i32,
                sub_filters: filters.iter().map(filter_to_pb).collect(),
            };
            pb::Filter { r#type: pb::FilterType::FtCompositeColumnValue as i32, filter: composite.encode_to_vec() }
        }
        Filter::ColumnPagination { offset, limit } => pb::Filter {
            r#type: pb::FilterType::FtColumnPagination as i32,
            filter: pb::ColumnPaginationFilter { offset: *offset, limit: *limit }.encode_to_vec(),
        },
    }
}

fn single_to_pb(single: &SingleColumnFilter) -> pb::SingleColumnValueFilter {
    let comparator = match single.comparator {
        Comparator::Equal => pb::ComparatorType::CtEqual,
        Comparator::NotEqual => pb::ComparatorType::CtNotEqual,
        Comparator::GreaterThan => pb::ComparatorType::CtGreaterThan,
        Comparator::GreaterEqual => pb::ComparatorType::CtGreaterEqual,
        Comparator::LessThan => pb::ComparatorType::CtLessThan,
        Comparator::LessEqual => pb::ComparatorType::CtLessEqual,
        Comparator::Exist => pb::ComparatorType::CtExist,
        Comparator::NotExist => pb::ComparatorType::CtNotExist,
    };
    let column_value = match &single.value {
        Some(v) => encode_variant(v),
        None => encode_null_variant(),
    };
    let value_trans_rule = single.value_transfer.as_ref().map(|rule| pb::ValueTransferRule {
        regex: rule.regex.clone(),
        cast_type: rule.cast_type.map(|c| {
            (match c {
                CastType::Integer => pb::VariantType::VtInteger,
                CastType::Double => pb::VariantType::VtDouble,
                CastType::String => pb::VariantType::VtString,
                CastType::Binary => pb::VariantType::VtBlob,
            }) as i32
        }),
    });
    pb::SingleColumnValueFilter {
        comparator: comparator as i32,
        column_name: single.column_name.clone(),
        column_value,
        filter_if_missing: single.filter_if_missing,
        latest_version_only: single.latest_version_only,
        value_trans_rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
    }

    fn single(name: &str, cmp: Comparator, value: Option<Value>) -> Filter {
        Filter::SingleColumn(SingleColumnFilter {
            comparator: cmp,
            column_name: name.to_owned(),
            value,
            filter_if_missing: false,
            latest_version_only: true,
            value_transfer: None,
        })
    }

    fn wrap(ty: pb::FilterType, inner: Vec<u8>) -> Vec<u8> {
        pb::Filter { r#type: ty as i32, filter: inner }.encode_to_vec()
    }

    #[test]
    fn variant_vectors_of_the_reference() {
        assert_eq!(encode_variant(&Value::Integer(5)), hex("000500000000000000"));
        assert_eq!(encode_variant(&Value::String("ab".into())), hex("03020000006162"));
        assert_eq!(decode_pk_variant(&hex("09")), Ok(PkValue::InfMin));
        assert_eq!(decode_pk_variant(&hex("0a")), Ok(PkValue::InfMax));
        assert_eq!(encode_pk_variant(&PkValue::InfMin), hex("09"));
        assert_eq!(decode_variant(&hex("000500000000000000")), Ok(Some(Value::Integer(5))));
        assert_eq!(decode_variant(&hex("03020000006162")), Ok(Some(Value::String("ab".into()))));
        assert_eq!(decode_variant(&hex("06")), Ok(None));
    }

    #[test]
    fn variant_round_trips() {
        let values = [
            Value::Integer(i64::MIN),
            Value::Integer(-1),
            Value::Double(1.5),
            Value::Double(-0.0),
            Value::Boolean(true),
            Value::Boolean(false),
            Value::String(String::new()),
            Value::String("héllo".into()),
            Value::Binary(vec![]),
            Value::Binary(vec![0, 1, 255]),
        ];
        for v in values {
            assert_eq!(decode_variant(&encode_variant(&v)), Ok(Some(v.clone())));
        }
        for pk in [
            PkValue::Integer(7),
            PkValue::String("k".into()),
            PkValue::Binary(vec![9]),
            PkValue::InfMin,
            PkValue::InfMax,
        ] {
            assert_eq!(decode_pk_variant(&encode_pk_variant(&pk)), Ok(pk.clone()));
        }
    }

    #[test]
    fn malformed_variants_are_errors() {
        for bad in [
            "",
            "00",
            "00010203",
            "01ffff",
            "02",
            "03",
            "03050000006162",
            "03ffffffff",
            "03020000c328",
            "07ffffff7f",
            "04",
            "0b",
            "ff",
        ] {
            let bytes = hex(bad);
            assert!(matches!(decode_variant(&bytes), Err(ProtoError::Filter { .. })), "{bad} should fail");
        }
        assert!(decode_pk_variant(&hex("010000000000000000")).is_err());
        assert!(decode_pk_variant(&hex("0201")).is_err());
        assert!(decode_pk_variant(&hex("06")).is_err());
        assert!(decode_pk_variant(&hex("0b")).is_err());
        assert!(decode_pk_variant(&[]).is_err());
    }

    #[test]
    fn trailing_bytes_after_a_variant_are_ignored() {
        assert_eq!(decode_variant(&hex("0003000000000000000000")), Ok(Some(Value::Integer(3))));
        assert_eq!(decode_pk_variant(&hex("0900")), Ok(PkValue::InfMin));
    }

    #[test]
    fn filter_round_trips() {
        let f = Filter::Composite {
            operator: LogicalOperator::Or,
            filters: vec![
                single("a", Comparator::Equal, Some(Value::Integer(1))),
                Filter::Composite {
                    operator: LogicalOperator::Not,
                    filters: vec![single("b", Comparator::Exist, None)],
                },
                Filter::SingleColumn(SingleColumnFilter {
                    comparator: Comparator::GreaterEqual,
                    column_name: "c".into(),
                    value: Some(Value::Double(2.5)),
                    filter_if_missing: true,
                    latest_version_only: false,
                    value_transfer: Some(ValueTransferRule {
                        regex: "t(\\d+)".into(),
                        cast_type: Some(CastType::Double),
                    }),
                }),
                Filter::ColumnPagination { offset: 0, limit: 3 },
            ],
        };
        assert_eq!(decode_filter(&encode_filter(&f)), Ok(f));
    }

    #[test]
    fn python_style_single_filter_decodes() {
        // What Python's SingleColumnCondition('age', 18, ComparatorType.EQUAL) puts on the wire
        // (pass_if_missing=True -> filter_if_missing=false, latest_version_only=True).
        let inner = pb::SingleColumnValueFilter {
            comparator: 1,
            column_name: "age".into(),
            column_value: hex("001200000000000000"),
            filter_if_missing: false,
            latest_version_only: true,
            value_trans_rule: None,
        };
        let bytes = wrap(pb::FilterType::FtSingleColumnValue, inner.encode_to_vec());
        assert_eq!(bytes[..2], [0x08, 0x01]);
        assert_eq!(decode_filter(&bytes), Ok(single("age", Comparator::Equal, Some(Value::Integer(18)))));
    }

    #[test]
    fn composite_arity_is_checked() {
        let leaf = filter_to_pb(&single("a", Comparator::Equal, Some(Value::Integer(1))));
        let composite = |op: pb::LogicalOperator, n: usize| {
            let inner = pb::CompositeColumnValueFilter { combinator: op as i32, sub_filters: vec![leaf.clone(); n] };
            wrap(pb::FilterType::FtCompositeColumnValue, inner.encode_to_vec())
        };
        for n in [0, 2, 3] {
            let err = decode_filter(&composite(pb::LogicalOperator::LoNot, n)).expect_err("must fail");
            assert!(err.to_string().contains("NOT must be 1"), "{err}");
        }
        assert!(decode_filter(&composite(pb::LogicalOperator::LoNot, 1)).is_ok());
        for op in [pb::LogicalOperator::LoAnd, pb::LogicalOperator::LoOr] {
            for n in [0, 1] {
                assert!(decode_filter(&composite(op, n)).is_err());
            }
            assert!(decode_filter(&composite(op, 2)).is_ok());
        }
        let bad_op = pb::CompositeColumnValueFilter { combinator: 9, sub_filters: vec![leaf; 2] };
        assert!(decode_filter(&wrap(pb::FilterType::FtCompositeColumnValue, bad_op.encode_to_vec())).is_err());
    }

    #[test]
    fn single_filter_fields_are_checked() {
        let base = pb::SingleColumnValueFilter {
            comparator: 1,
            column_name: "a".into(),
            column_value: encode_variant(&Value::Integer(1)),
            filter_if_missing: false,
            latest_version_only: true,
            value_trans_rule: None,
        };
        let run = |s: &pb::SingleColumnValueFilter| {
            decode_filter(&wrap(pb::FilterType::FtSingleColumnValue, s.encode_to_vec()))
        };
        assert!(run(&base).is_ok());
        assert!(run(&pb::SingleColumnValueFilter { comparator: 0, ..base.clone() }).is_err());
        assert!(run(&pb::SingleColumnValueFilter { comparator: 9, ..base.clone() }).is_err());
        assert!(run(&pb::SingleColumnValueFilter { column_name: String::new(), ..base.clone() }).is_err());
        assert!(run(&pb::SingleColumnValueFilter { column_value: vec![], ..base.clone() }).is_err());
        assert!(run(&pb::SingleColumnValueFilter { column_value: vec![6], ..base.clone() }).is_err());
        // Exist / NotExist accept NULL or nothing.
        for cmp in [7, 8] {
            for cv in [vec![], vec![6]] {
                let f = run(&pb::SingleColumnValueFilter { comparator: cmp, column_value: cv, ..base.clone() });
                assert!(matches!(f, Ok(Filter::SingleColumn(SingleColumnFilter { value: None, .. }))));
            }
        }
        let with_rule = |regex: &str, cast: Option<i32>| pb::SingleColumnValueFilter {
            value_trans_rule: Some(pb::ValueTransferRule { regex: regex.into(), cast_type: cast }),
            ..base.clone()
        };
        assert!(run(&with_rule("a(\\d+)", Some(0))).is_ok());
        assert!(run(&with_rule("a(\\d+)", None)).is_ok());
        assert!(run(&with_rule("", Some(0))).is_err());
        assert!(run(&with_rule("a(", Some(0))).is_err());
        assert!(run(&with_rule("a", Some(6))).is_err());
        assert!(run(&with_rule("a", Some(2))).is_err());
        let Ok(Filter::SingleColumn(s)) = run(&with_rule("x", Some(7))) else {
            panic!("rule with VT_BLOB must decode")
        };
        assert_eq!(s.value_transfer.and_then(|r| r.cast_type), Some(CastType::Binary));
    }

    #[test]
    fn pagination_is_checked() {
        let run = |offset, limit| {
            let inner = pb::ColumnPaginationFilter { offset, limit };
            decode_filter(&wrap(pb::FilterType::FtColumnPagination, inner.encode_to_vec()))
        };
        assert_eq!(run(0, 1), Ok(Filter::ColumnPagination { offset: 0, limit: 1 }));
        assert!(run(-1, 1).is_err());
        assert!(run(0, 0).is_err());
        assert!(run(0, -5).is_err());
    }

    #[test]
    fn unknown_type_and_garbage_are_errors() {
        assert!(decode_filter(&wrap(pb::FilterType::FtSingleColumnValue, vec![0xff])).is_err());
        let unknown = pb::Filter { r#type: 4, filter: vec![] }.encode_to_vec();
        assert!(decode_filter(&unknown).is_err());
        assert!(decode_filter(&[]).is_err());
        assert!(decode_filter(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let mut f = single("a", Comparator::Equal, Some(Value::Integer(1)));
        for _ in 0..(MAX_FILTER_DEPTH - 1) {
            f = Filter::Composite { operator: LogicalOperator::Not, filters: vec![f] };
        }
        assert!(decode_filter(&encode_filter(&f)).is_ok());
        let too_deep = Filter::Composite { operator: LogicalOperator::Not, filters: vec![f] };
        let err = decode_filter(&encode_filter(&too_deep)).expect_err("must fail");
        assert!(err.to_string().contains("depth"), "{err}");
        // A hand-built 10_000-deep chain must not blow the stack either.
        let mut bytes = encode_filter(&single("a", Comparator::Equal, Some(Value::Integer(1))));
        for _ in 0..10_000 {
            let wrapper = pb::Filter::decode(bytes.as_slice()).expect("own encoding");
            let inner = pb::CompositeColumnValueFilter {
                combinator: pb::LogicalOperator::LoNot as i32,
                sub_filters: vec![wrapper],
            };
            bytes = wrap(pb::FilterType::FtCompositeColumnValue, inner.encode_to_vec());
        }
        assert!(decode_filter(&bytes).is_err());
    }

    #[test]
    fn pb_wire_facts_of_the_reference() {
        // DescribeTable('t1') body of reference 1.4.
        let req = pb::DescribeTableRequest { table_name: "t1".into() };
        assert_eq!(req.encode_to_vec(), hex("0a027431"));
        // proto2 required scalars are written even when they hold the default value.
        let row = pb::RowInBatchWriteRowResponse { is_ok: false, ..Default::default() };
        assert_eq!(row.encode_to_vec(), hex("0800"));
        // SplitLocation.repeat is sint64 (zigzag): 1 -> 2, -1 -> 1.
        let loc = pb::compute_split_points_by_size_response::SplitLocation { location: String::new(), repeat: 1 };
        assert_eq!(loc.encode_to_vec(), hex("0a001002"));
        // ListTableResponse ["alpha", "beta"] of reference 1.6.
        let list = pb::ListTableResponse { table_names: vec!["alpha".into(), "beta".into()] };
        assert_eq!(list.encode_to_vec(), hex("0a05616c7068610a0462657461"));
        // Required sub-messages are plain fields in prost 0.14 and always written;
        // DescribeTableResponse.table_status (field 4) = ACTIVE -> 0x20 0x01.
        let desc = pb::DescribeTableResponse { table_status: pb::TableStatus::Active as i32, ..Default::default() };
        // table_meta{table_name:""}, reserved_throughput_details{capacity_unit{}, 0},
        // table_options{}, table_status=1.
        let expected = ["0a020a00", "12040a001000", "1a00", "2001"].concat();
        assert_eq!(desc.encode_to_vec(), hex(&expected));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Integer),
            // Compare by bits: NaN payloads survive, but NaN != NaN under PartialEq.
            any::<f64>().prop_filter("not NaN", |d| !d.is_nan()).prop_map(Value::Double),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,12}".prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Binary),
        ]
    }

    fn arb_single() -> impl Strategy<Value = Filter> {
        let cmp = prop_oneof![
            Just(Comparator::Equal),
            Just(Comparator::NotEqual),
            Just(Comparator::GreaterThan),
            Just(Comparator::GreaterEqual),
            Just(Comparator::LessThan),
            Just(Comparator::LessEqual),
            Just(Comparator::Exist),
            Just(Comparator::NotExist),
        ];
        let cast = prop_oneof![
            Just(None),
            Just(Some(CastType::Integer)),
            Just(Some(CastType::Double)),
            Just(Some(CastType::String)),
            Just(Some(CastType::Binary)),
        ];
        let rule = proptest::option::of(
            ("[a-z]{1,4}(\\(\\.\\*\\))?", cast).prop_map(|(regex, cast_type)| ValueTransferRule { regex, cast_type }),
        );
        (cmp, "[a-zA-Z_][a-zA-Z0-9_]{0,8}", arb_value(), any::<bool>(), any::<bool>(), any::<bool>(), rule).prop_map(
            |(comparator, column_name, v, null, filter_if_missing, latest, rule)| {
                let existence = matches!(comparator, Comparator::Exist | Comparator::NotExist);
                Filter::SingleColumn(SingleColumnFilter {
                    comparator,
                    column_name,
                    value: if existence && null { None } else { Some(v) },
                    filter_if_missing,
                    latest_version_only: latest,
                    value_transfer: rule,
                })
            },
        )
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            4 => arb_single(),
            1 => (0..1000i32, 1..1000i32)
                .prop_map(|(offset, limit)| Filter::ColumnPagination { offset, limit }),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|f| Filter::Composite { operator: LogicalOperator::Not, filters: vec![f] }),
                proptest::collection::vec(inner.clone(), 2..4)
                    .prop_map(|filters| { Filter::Composite { operator: LogicalOperator::And, filters } }),
                proptest::collection::vec(inner, 2..4)
                    .prop_map(|filters| Filter::Composite { operator: LogicalOperator::Or, filters }),
            ]
        })
    }

    proptest! {
        #[test]
        fn decode_filter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_filter(&bytes);
        }

        #[test]
        fn decode_variant_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = decode_variant(&bytes);
            let _ = decode_pk_variant(&bytes);
        }

        #[test]
        fn mutated_filters_never_panic(f in arb_filter(), pos in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = encode_filter(&f);
            if !bytes.is_empty() {
                let i = pos % bytes.len();
                bytes[i] = byte;
            }
            let _ = decode_filter(&bytes);
            bytes.truncate(pos % (bytes.len() + 1));
            let _ = decode_filter(&bytes);
        }

        #[test]
        fn filter_encode_decode_identity(f in arb_filter()) {
            prop_assert_eq!(decode_filter(&encode_filter(&f)), Ok(f));
        }

        #[test]
        fn variant_encode_decode_identity(v in arb_value()) {
            prop_assert_eq!(decode_variant(&encode_variant(&v)), Ok(Some(v)));
        }
    }
}
