//! The service's documented limits and the checks of names and primary keys
//! against a table's schema. Messages follow the service's wording where known.

use tablesafe_proto::model::{PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType};

use crate::error::EngineError;

/// Longest table or column name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest STRING/BINARY primary key value, in bytes.
pub const MAX_PK_VALUE_BYTES: usize = 1024;
/// Longest attribute value, in bytes.
pub const MAX_VALUE_BYTES: usize = 2 * 1024 * 1024;
/// Columns written by one row of a request.
pub const MAX_COLUMNS_PER_WRITE: usize = 1024;
/// Data of one row in one write request, in bytes.
pub const MAX_ROW_BYTES: usize = 4 * 1024 * 1024;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && name.len() <= MAX_NAME_BYTES && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Table names: 1–255 bytes of `[A-Za-z0-9_]`, starting with a letter or `_`.
pub fn check_table_name(name: &str) -> Result<(), EngineError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(EngineError::invalid(format!("Invalid table name: '{name}'.")))
    }
}

/// Column names follow the table-name rules.
pub fn check_column_name(name: &str) -> Result<(), EngineError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(EngineError::invalid(format!("Invalid column name: '{name}'.")))
    }
}

/// How a primary key is used, which decides the sentinels it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    /// PutRow: the auto-increment placeholder is allowed on auto-increment columns.
    Put,
    /// Reads, updates and deletes: concrete values only.
    Point,
    /// Range bounds: INF_MIN/INF_MAX allowed anywhere.
    Range,
}

/// Checks a key against the schema: same names in the same order, matching types,
/// value sizes, and sentinels only where `key_use` allows them.
pub(crate) fn check_primary_key(
    pk: &PrimaryKey,
    schema: &[PrimaryKeySchema],
    key_use: KeyUse,
) -> Result<(), EngineError> {
    let mismatch = || EngineError::InvalidPk("Validate PK size fail. Primary key schema mismatch.".into());
    if pk.columns.len() != schema.len() {
        return Err(mismatch());
    }
    for (column, def) in pk.columns.iter().zip(schema) {
        if column.name != def.name {
            return Err(EngineError::InvalidPk("Validate PK name fail. Primary key schema mismatch.".into()));
        }
        match &column.value {
            PkValue::InfMin | PkValue::InfMax if key_use == KeyUse::Range => {}
            PkValue::InfMin | PkValue::InfMax => {
                return Err(EngineError::invalid("INF_MIN or INF_MAX is only allowed in range queries."))
            }
            PkValue::AutoIncrement => {
                if key_use != KeyUse::Put || !def.auto_increment {
                    return Err(EngineError::invalid(format!(
                        "PKAutoIncr can't be used for read operations or a column that is not AUTO_INCREMENT: {}.",
                        def.name
                    )));
                }
            }
            value => {
                if value.key_type() != Some(def.key_type) {
                    return Err(EngineError::InvalidPk("Validate PK type fail. Primary key schema mismatch.".into()));
                }
                let len = match value {
                    PkValue::String(s) => s.len(),
                    PkValue::Binary(b) => b.len(),
                    _ => 0,
                };
                if len > MAX_PK_VALUE_BYTES {
                    return Err(EngineError::invalid(format!(
                        "The length of primary key column: '{}' exceeds the MaxLength:{MAX_PK_VALUE_BYTES} with CurrentLength:{len}.",
                        def.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Checks a schema given to CreateTable.
pub(crate) fn check_schema(primary_key: &[PrimaryKeySchema]) -> Result<(), EngineError> {
    if primary_key.is_empty() || primary_key.len() > 4 {
        return Err(EngineError::invalid(format!(
            "The number of primary key columns must be in range: [1, 4]. Current: {}.",
            primary_key.len()
        )));
    }
    let mut auto_increment = 0;
    for (i, column) in primary_key.iter().enumerate() {
        check_column_name(&column.name)?;
        if primary_key[..i].iter().any(|c| c.name == column.name) {
            return Err(EngineError::invalid(format!("Duplicated primary key name: '{}'.", column.name)));
        }
        if column.auto_increment {
            auto_increment += 1;
            if i == 0 {
                return Err(EngineError::invalid("The first primary key column can not be AUTO_INCREMENT."));
            }
            if column.key_type != PrimaryKeyType::Integer {
                return Err(EngineError::invalid("AUTO_INCREMENT primary key column must be INTEGER."));
            }
        }
    }
    if auto_increment > 1 {
        return Err(EngineError::invalid("At most one primary key column can be AUTO_INCREMENT."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_service_rules() {
        assert!(check_table_name("_t1").is_ok());
        assert!(check_table_name("t").is_ok());
        assert!(check_table_name("").is_err());
        assert!(check_table_name("1t").is_err());
        assert!(check_table_name("t-1").is_err());
        assert!(check_table_name(&"a".repeat(256)).is_err());
        assert!(check_table_name(&"a".repeat(255)).is_ok());
        assert!(check_table_name("表").is_err());
    }

    #[test]
    fn keys_must_match_the_schema() {
        let schema = vec![
            PrimaryKeySchema { name: "p".into(), key_type: PrimaryKeyType::String, auto_increment: false },
            PrimaryKeySchema { name: "id".into(), key_type: PrimaryKeyType::Integer, auto_increment: true },
        ];
        let key = |a: PkValue, b: PkValue| PrimaryKey::new([("p", a), ("id", b)]);
        let s = || PkValue::String("x".into());
        assert!(check_primary_key(&key(s(), PkValue::Integer(1)), &schema, KeyUse::Point).is_ok());
        assert!(check_primary_key(&key(s(), PkValue::AutoIncrement), &schema, KeyUse::Put).is_ok());
        assert!(check_primary_key(&key(s(), PkValue::AutoIncrement), &schema, KeyUse::Point).is_err());
        assert!(check_primary_key(&key(s(), PkValue::InfMax), &schema, KeyUse::Range).is_ok());
        assert!(check_primary_key(&key(s(), PkValue::InfMax), &schema, KeyUse::Point).is_err());
        assert!(check_primary_key(&key(PkValue::Integer(1), PkValue::Integer(1)), &schema, KeyUse::Point).is_err());
        assert!(check_primary_key(&PrimaryKey::new([("p", s())]), &schema, KeyUse::Point).is_err());
        let long = PkValue::String("x".repeat(1025));
        assert!(check_primary_key(&key(long, PkValue::Integer(1)), &schema, KeyUse::Point).is_err());
        assert!(check_schema(&schema).is_ok());
        assert!(check_schema(&schema[1..]).is_err(), "first column auto-increment");
    }
}
