//! Validation and application of row changes to a stored row: pure functions of the
//! current row, the change and "now", so that every rule is testable without RocksDB.
//!
//! Invariants: a change is fully validated before anything is applied, so a failed
//! write leaves the row untouched; every written version carries a timestamp (the
//! server's clock when the client gave none); pruning by TTL and max versions happens
//! on every write, so space is reclaimed as rows are rewritten.

use tablesafe_proto::model::{Cell, CellOp, PrimaryKeySchema, TableOptions, Value};

use crate::error::EngineError;
use crate::read::{latest_value, Visibility};
use crate::stored::StoredRow;
use crate::validate::{check_column_name, MAX_COLUMNS_PER_WRITE, MAX_ROW_BYTES, MAX_VALUE_BYTES};

/// Which write API a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Put,
    Update,
}

/// Checks the cells of a PutRow or UpdateRow against the service's rules.
pub(crate) fn validate_cells(
    kind: ChangeKind,
    cells: &[Cell],
    schema: &[PrimaryKeySchema],
    options: &TableOptions,
    now_ms: i64,
) -> Result<(), EngineError> {
    if kind == ChangeKind::Update && cells.is_empty() {
        return Err(EngineError::invalid("The row change of UpdateRow missing cells in request."));
    }
    if cells.len() > MAX_COLUMNS_PER_WRITE {
        return Err(EngineError::ColumnCountLimit);
    }
    let mut total = 0usize;
    for cell in cells {
        check_column_name(&cell.name)?;
        if schema.iter().any(|pk| pk.name == cell.name) {
            return Err(EngineError::invalid(format!(
                "The attribute column name {} is the same as a primary key column.",
                cell.name
            )));
        }
        if let Some(value) = &cell.value {
            check_value(value)?;
            total += cell.name.len() + value.data_size();
        }
        match (kind, cell.op) {
            (ChangeKind::Put, Some(_)) => {
                return Err(EngineError::invalid("OpType cannot be given for a column in PutRow."))
            }
            (_, None) => {
                if cell.value.is_none() {
                    return Err(EngineError::invalid(format!("Column value of {} is missing.", cell.name)));
                }
                if let Some(ts) = cell.timestamp {
                    check_timestamp(ts, options, now_ms)?;
                }
            }
            (ChangeKind::Update, Some(CellOp::DeleteOneVersion)) => {
                if cell.value.is_some() {
                    return Err(EngineError::invalid(
                        "Column value cannot be given when type is DELETE_ONE_VERSION,DELETE_ALL_VERSION.",
                    ));
                }
                if cell.timestamp.is_none() {
                    return Err(EngineError::invalid("Timestamp must be given when type is DELETE_ONE_VERSION."));
                }
            }
            (ChangeKind::Update, Some(CellOp::DeleteAllVersions)) => {
                if cell.value.is_some() {
                    return Err(EngineError::invalid(
                        "Column value cannot be given when type is DELETE_ONE_VERSION,DELETE_ALL_VERSION.",
                    ));
                }
                if cell.timestamp.is_some() {
                    return Err(EngineError::invalid("Timestamp cannot be given when type is DELETE_ALL_VERSION."));
                }
            }
            (ChangeKind::Update, Some(CellOp::Increment)) => {
                if !matches!(cell.value, Some(Value::Integer(_))) {
                    return Err(EngineError::invalid("The value of an INCREMENT column must be an INTEGER."));
                }
                if cell.timestamp.is_some() {
                    return Err(EngineError::invalid("Timestamp cannot be given when type is INCREMENT."));
                }
            }
        }
    }
    if total > MAX_ROW_BYTES {
        return Err(EngineError::RowSizeLimit);
    }
    Ok(())
}

fn check_value(value: &Value) -> Result<(), EngineError> {
    match value {
        Value::Double(d) if !d.is_finite() => {
            Err(EngineError::invalid("The value of a DOUBLE column cannot be NaN or Infinity."))
        }
        Value::String(s) if s.len() > MAX_VALUE_BYTES => Err(EngineError::invalid(format!(
            "The length of attribute column value exceeds the MaxLength:{MAX_VALUE_BYTES}."
        ))),
        Value::Binary(b) if b.len() > MAX_VALUE_BYTES => Err(EngineError::invalid(format!(
            "The length of attribute column value exceeds the MaxLength:{MAX_VALUE_BYTES}."
        ))),
        _ => Ok(()),
    }
}

/// A client timestamp must lie within the table's time deviation and TTL window.
fn check_timestamp(ts: i64, options: &TableOptions, now_ms: i64) -> Result<(), EngineError> {
    let now_s = now_ms.div_euclid(1000);
    let ts_s = ts.div_euclid(1000);
    let deviation = options.max_time_deviation.max(1);
    let mut lower = now_s.saturating_sub(deviation);
    if options.time_to_live > 0 {
        lower = lower.max(now_s.saturating_sub(i64::from(options.time_to_live)));
    }
    let upper = now_s.saturating_add(deviation);
    if ts < 0 || ts_s < lower || ts_s >= upper {
        return Err(EngineError::invalid(format!(
            "Invalid timestamp: {ts}. The timestamp must be in range [{}, {}).",
            lower.saturating_mul(1000),
            upper.saturating_mul(1000)
        )));
    }
    Ok(())
}

/// The row after a PutRow: the given cells replace every column and version.
pub(crate) fn apply_put(cells: &[Cell], now_ms: i64, visibility: &Visibility) -> StoredRow {
    let mut row = StoredRow::default();
    for cell in cells {
        if let Some(value) = &cell.value {
            row.column_mut(&cell.name).put(cell.timestamp.unwrap_or(now_ms), value.clone());
        }
    }
    visibility.prune(&mut row);
    row
}

/// The cells of a PutRow as they were written: every timestamp filled in.
pub(crate) fn resolved_put_cells(cells: &[Cell], now_ms: i64) -> Vec<Cell> {
    cells
        .iter()
        .filter_map(|c| c.value.clone().map(|v| Cell::version(c.name.clone(), v, c.timestamp.unwrap_or(now_ms))))
        .collect()
}

/// The row after an UpdateRow applied to `current` (absent rows start empty), and
/// the cells as they were applied: timestamps filled in and each increment turned
/// into the put of its result, so that replaying them anywhere gives the same row.
pub(crate) fn apply_update(
    current: Option<StoredRow>,
    cells: &[Cell],
    now_ms: i64,
    visibility: &Visibility,
) -> Result<(StoredRow, Vec<Cell>), EngineError> {
    let mut applied = Vec::with_capacity(cells.len());
    let mut row = current.unwrap_or_default();
    // Hidden data must not come back to life through an increment or a version delete.
    visibility.prune(&mut row);
    for cell in cells {
        match cell.op {
            None => {
                if let Some(value) = &cell.value {
                    let ts = cell.timestamp.unwrap_or(now_ms);
                    row.column_mut(&cell.name).put(ts, value.clone());
                    applied.push(Cell::version(cell.name.clone(), value.clone(), ts));
                }
            }
            Some(CellOp::DeleteOneVersion) => {
                if let Some(ts) = cell.timestamp {
                    row.column_mut(&cell.name).delete_version(ts);
                    applied.push(cell.clone());
                }
            }
            Some(CellOp::DeleteAllVersions) => {
                row.column_mut(&cell.name).versions.clear();
                applied.push(cell.clone());
            }
            Some(CellOp::Increment) => {
                let delta = match &cell.value {
                    Some(Value::Integer(d)) => *d,
                    _ => return Err(EngineError::invalid("The value of an INCREMENT column must be an INTEGER.")),
                };
                let base = match latest_value(&row, &cell.name, visibility) {
                    None => 0,
                    Some(Value::Integer(v)) => *v,
                    Some(_) => {
                        return Err(EngineError::invalid(format!(
                            "The type of column {} is not INTEGER and cannot be incremented.",
                            cell.name
                        )))
                    }
                };
                let sum = base.checked_add(delta).ok_or_else(|| {
                    EngineError::invalid(format!("Increment of column {} overflows INTEGER.", cell.name))
                })?;
                row.column_mut(&cell.name).put(now_ms, Value::Integer(sum));
                applied.push(Cell::version(cell.name.clone(), Value::Integer(sum), now_ms));
            }
        }
    }
    row.drop_empty_columns();
    visibility.prune(&mut row);
    if row.data_size() > MAX_ROW_BYTES * 16 {
        return Err(EngineError::RowSizeLimit);
    }
    Ok((row, applied))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn vis() -> Visibility {
        Visibility::new(&TableOptions { max_versions: 3, ..TableOptions::default() }, 1_000_000)
    }

    fn op(name: &str, value: Option<Value>, op: Option<CellOp>, ts: Option<i64>) -> Cell {
        Cell { name: name.into(), value, op, timestamp: ts }
    }

    #[test]
    fn update_applies_every_operation() {
        let v = vis();
        let row = apply_update(
            None,
            &[op("a", Some(Value::Integer(1)), None, Some(10)), op("a", Some(Value::Integer(2)), None, Some(20))],
            100,
            &v,
        )
        .unwrap()
        .0;
        let (row, applied) = apply_update(
            Some(row),
            &[
                op("a", None, Some(CellOp::DeleteOneVersion), Some(10)),
                op("n", Some(Value::Integer(5)), Some(CellOp::Increment), None),
            ],
            200,
            &v,
        )
        .unwrap();
        // The increment is recorded as the put of its result, at the write's time.
        assert_eq!(applied[1], Cell::version("n", Value::Integer(5), 200));
        assert_eq!(row.column("a").unwrap().versions.len(), 1);
        assert_eq!(latest_value(&row, "n", &v), Some(&Value::Integer(5)));
        let row = apply_update(Some(row), &[op("n", Some(Value::Integer(-7)), Some(CellOp::Increment), None)], 300, &v)
            .unwrap()
            .0;
        assert_eq!(latest_value(&row, "n", &v), Some(&Value::Integer(-2)));
        let row = apply_update(Some(row), &[op("a", None, Some(CellOp::DeleteAllVersions), None)], 400, &v).unwrap().0;
        assert!(row.column("a").is_none());
        let err = apply_update(
            Some(apply_put(&[op("s", Some(Value::String("x".into())), None, None)], 1, &v)),
            &[op("s", Some(Value::Integer(1)), Some(CellOp::Increment), None)],
            500,
            &v,
        );
        assert!(err.is_err());
    }

    #[test]
    fn max_versions_prunes_oldest_on_write() {
        let v = vis();
        let cells: Vec<Cell> = (1..=5).map(|ts| op("c", Some(Value::Integer(ts)), None, Some(ts))).collect();
        let row = apply_put(&cells, 0, &v);
        let stamps: Vec<i64> = row.column("c").unwrap().versions.iter().map(|x| x.timestamp).collect();
        assert_eq!(stamps, vec![5, 4, 3]);
    }

    #[test]
    fn validation_rejects_bad_shapes() {
        let o = TableOptions::default();
        let now = 1_700_000_000_000;
        let put = |cells: &[Cell]| validate_cells(ChangeKind::Put, cells, &[], &o, now);
        let upd = |cells: &[Cell]| validate_cells(ChangeKind::Update, cells, &[], &o, now);
        assert!(put(&[op("a", Some(Value::Double(f64::NAN)), None, None)]).is_err());
        assert!(put(&[op("a", Some(Value::Integer(1)), Some(CellOp::Increment), None)]).is_err());
        assert!(put(&[op("a", Some(Value::Integer(1)), None, Some(1))]).is_err(), "outside deviation");
        assert!(put(&[op("a", Some(Value::Integer(1)), None, Some(now - 1000))]).is_ok());
        assert!(upd(&[]).is_err());
        assert!(upd(&[op("a", None, Some(CellOp::DeleteOneVersion), None)]).is_err());
        assert!(upd(&[op("a", None, Some(CellOp::DeleteAllVersions), Some(now))]).is_err());
        assert!(upd(&[op("a", Some(Value::Integer(1)), Some(CellOp::DeleteAllVersions), None)]).is_err());
        assert!(put(&[op("1bad", Some(Value::Integer(1)), None, None)]).is_err());
    }
}
