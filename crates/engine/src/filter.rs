//! Evaluation of row filters and column conditions against a row's visible cells.
//!
//! Semantics (Tablestore's): a single-column filter on a missing column passes iff
//! `filter_if_missing` is false; with `latest_version_only` false any version may
//! match; values of different types never match; NOT takes exactly one sub-filter,
//! AND/OR at least two. Regexes are compiled once per request, not per row.

use std::cmp::Ordering;

use regex::Regex;
use tablesafe_proto::model::{CastType, Comparator, Filter, LogicalOperator, SingleColumnFilter, Value};

use crate::error::EngineError;

/// A column as a filter sees it: its name and visible values, newest first.
pub(crate) struct ColumnView<'a> {
    pub name: &'a str,
    pub values: Vec<&'a Value>,
}

/// A filter with its regexes compiled.
#[derive(Debug)]
pub(crate) enum CompiledFilter {
    Single {
        filter: SingleColumnFilter,
        regex: Option<Regex>,
    },
    Not(Box<CompiledFilter>),
    And(Vec<CompiledFilter>),
    Or(Vec<CompiledFilter>),
    /// Column pagination does not filter rows; it shapes the returned columns.
    Pass,
}

impl CompiledFilter {
    pub(crate) fn compile(filter: &Filter) -> Result<CompiledFilter, EngineError> {
        Ok(match filter {
            Filter::SingleColumn(single) => {
                let regex = match &single.value_transfer {
                    Some(rule) => Some(
                        Regex::new(&rule.regex)
                            .map_err(|e| EngineError::invalid(format!("Invalid regex in value transfer rule: {e}")))?,
                    ),
                    None => None,
                };
                CompiledFilter::Single { filter: single.clone(), regex }
            }
            Filter::Composite { operator, filters } => {
                let compiled = filters.iter().map(CompiledFilter::compile).collect::<Result<Vec<_>, _>>()?;
                match operator {
                    LogicalOperator::Not => {
                        let mut compiled = compiled;
                        if compiled.len() != 1 {
                            return Err(EngineError::invalid("The number of sub-filters of NOT must be 1."));
                        }
                        CompiledFilter::Not(Box::new(compiled.remove(0)))
                    }
                    LogicalOperator::And | LogicalOperator::Or if compiled.len() < 2 => {
                        return Err(EngineError::invalid("The number of sub-filters of AND/OR must be at least 2."))
                    }
                    LogicalOperator::And => CompiledFilter::And(compiled),
                    LogicalOperator::Or => CompiledFilter::Or(compiled),
                }
            }
            Filter::ColumnPagination { .. } => CompiledFilter::Pass,
        })
    }

    /// Whether a row with these columns (sorted by name) passes.
    pub(crate) fn matches(&self, columns: &[ColumnView<'_>]) -> bool {
        match self {
            CompiledFilter::Single { filter, regex } => single_matches(filter, regex.as_ref(), columns),
            CompiledFilter::Not(inner) => !inner.matches(columns),
            CompiledFilter::And(all) => all.iter().all(|f| f.matches(columns)),
            CompiledFilter::Or(any) => any.iter().any(|f| f.matches(columns)),
            CompiledFilter::Pass => true,
        }
    }
}

fn single_matches(filter: &SingleColumnFilter, regex: Option<&Regex>, columns: &[ColumnView<'_>]) -> bool {
    let column = columns
        .binary_search_by(|c| c.name.as_bytes().cmp(filter.column_name.as_bytes()))
        .ok()
        .and_then(|i| columns.get(i))
        .filter(|c| !c.values.is_empty());
    let Some(column) = column else {
        return match filter.comparator {
            Comparator::Exist => false,
            Comparator::NotExist => true,
            _ => !filter.filter_if_missing,
        };
    };
    match filter.comparator {
        Comparator::Exist => return true,
        Comparator::NotExist => return false,
        _ => {}
    }
    let Some(expected) = &filter.value else { return false };
    let candidates: &[&Value] =
        if filter.latest_version_only { column.values.get(..1).unwrap_or(&[]) } else { &column.values };
    candidates.iter().any(|value| {
        let transformed;
        let value = match (regex, &filter.value_transfer) {
            (Some(regex), Some(rule)) => match transform(value, regex, rule.cast_type) {
                Some(v) => {
                    transformed = v;
                    &transformed
                }
                None => return false,
            },
            _ => *value,
        };
        compare(filter.comparator, value, expected)
    })
}

fn transform(value: &Value, regex: &Regex, cast: Option<CastType>) -> Option<Value> {
    let Value::String(text) = value else { return None };
    let captures = regex.captures(text)?;
    let matched = captures.get(1).or_else(|| captures.get(0))?.as_str();
    Some(match cast {
        Some(CastType::Integer) => Value::Integer(matched.trim().parse().ok()?),
        Some(CastType::Double) => Value::Double(matched.trim().parse().ok()?),
        Some(CastType::Binary) => Value::Binary(matched.as_bytes().to_vec()),
        Some(CastType::String) | None => Value::String(matched.to_owned()),
    })
}

fn compare(comparator: Comparator, actual: &Value, expected: &Value) -> bool {
    let Some(ordering) = actual.partial_cmp_same_type(expected) else {
        // Different types (or NaN): only "not equal" can hold.
        return comparator == Comparator::NotEqual;
    };
    match comparator {
        Comparator::Equal => ordering == Ordering::Equal,
        Comparator::NotEqual => ordering != Ordering::Equal,
        Comparator::GreaterThan => ordering == Ordering::Greater,
        Comparator::GreaterEqual => ordering != Ordering::Less,
        Comparator::LessThan => ordering == Ordering::Less,
        Comparator::LessEqual => ordering != Ordering::Greater,
        Comparator::Exist | Comparator::NotExist => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;
    use tablesafe_proto::model::ValueTransferRule;

    fn single(comparator: Comparator, column: &str, value: Value, filter_if_missing: bool) -> Filter {
        Filter::SingleColumn(SingleColumnFilter {
            comparator,
            column_name: column.into(),
            value: Some(value),
            filter_if_missing,
            latest_version_only: true,
            value_transfer: None,
        })
    }

    #[test]
    fn single_column_semantics() {
        let (v1, v2) = (Value::Integer(10), Value::Integer(3));
        let cols = [ColumnView { name: "a", values: vec![&v1, &v2] }];
        let check = |f: &Filter| CompiledFilter::compile(f).unwrap().matches(&cols);
        assert!(check(&single(Comparator::GreaterThan, "a", Value::Integer(5), true)));
        assert!(!check(&single(Comparator::LessThan, "a", Value::Integer(5), true)));
        assert!(check(&single(Comparator::Equal, "b", Value::Integer(5), false)));
        assert!(!check(&single(Comparator::Equal, "b", Value::Integer(5), true)));
        assert!(!check(&single(Comparator::Equal, "a", Value::String("10".into()), true)));
        let mut any_version = single(Comparator::LessThan, "a", Value::Integer(5), true);
        if let Filter::SingleColumn(s) = &mut any_version {
            s.latest_version_only = false;
        }
        assert!(check(&any_version));
        let not = Filter::Composite { operator: LogicalOperator::Not, filters: vec![any_version.clone()] };
        assert!(!check(&not));
        let bad_and = Filter::Composite { operator: LogicalOperator::And, filters: vec![any_version] };
        assert!(CompiledFilter::compile(&bad_and).is_err());
    }

    #[test]
    fn value_transfer_extracts_and_casts() {
        let v = Value::String("id=42;x".into());
        let cols = [ColumnView { name: "s", values: vec![&v] }];
        let f = Filter::SingleColumn(SingleColumnFilter {
            comparator: Comparator::GreaterThan,
            column_name: "s".into(),
            value: Some(Value::Integer(40)),
            filter_if_missing: true,
            latest_version_only: true,
            value_transfer: Some(ValueTransferRule { regex: "id=([0-9]+)".into(), cast_type: Some(CastType::Integer) }),
        });
        assert!(CompiledFilter::compile(&f).unwrap().matches(&cols));
    }
}
