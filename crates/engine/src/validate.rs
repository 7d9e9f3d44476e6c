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

/// The service's name of a primary key value's type in validation messages.
fn variant_name(key_type: PrimaryKeyType) -> &'static str {
    match key_type {
        PrimaryKeyType::Integer => "VT_INTEGER",
        PrimaryKeyType::String => "VT_STRING",
        PrimaryKeyType::Binary => "VT_BLOB",
    }
}

/// Checks a key against the schema: same names in the same order, matching types,
/// value sizes, and sentinels only where `key_use` allows them. Mismatches are
/// `OTSInvalidPK` with the service's detail ("Validate PK name fail. Input: PK2,
/// Meta: PK1."), checked as the service does: the column count, then column by
/// column the name and then the type.
pub(crate) fn check_primary_key(
    pk: &PrimaryKey,
    schema: &[PrimaryKeySchema],
    key_use: KeyUse,
) -> Result<(), EngineError> {
    if pk.columns.len() != schema.len() {
        return Err(EngineError::InvalidPk(format!(
            "Validate PK size fail. Input: {}, Meta: {}.",
            pk.columns.len(),
            schema.len()
        )));
    }
    for (column, def) in pk.columns.iter().zip(schema) {
        if column.name != def.name {
            return Err(EngineError::InvalidPk(format!(
                "Validate PK name fail. Input: {}, Meta: {}.",
                column.name, def.name
            )));
        }
        match &column.value {
            PkValue::InfMin | PkValue::InfMax if key_use == KeyUse::Range => {}
            PkValue::InfMin => return Err(EngineError::invalid("VT_INF_MIN is an invalid type for the primary key.")),
            PkValue::InfMax => return Err(EngineError::invalid("VT_INF_MAX is an invalid type for the primary key.")),
            PkValue::AutoIncrement => {
                if key_use != KeyUse::Put || !def.auto_increment {
                    return Err(EngineError::invalid(format!(
                        "PKAutoIncr can't be used for read operations or a column that is not AUTO_INCREMENT: {}.",
                        def.name
                    )));
                }
            }
            value => {
                if let Some(input) = value.key_type().filter(|t| *t != def.key_type) {
                    return Err(EngineError::InvalidPk(format!(
                        "Validate PK type fail. Input: {}, Meta: {}.",
                        variant_name(input),
                        variant_name(def.key_type)
                    )));
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
        let message = |pk: &PrimaryKey| match check_primary_key(pk, &schema, KeyUse::Point) {
            Err(EngineError::InvalidPk(message)) => message,
            other => panic!("not an OTSInvalidPK: {other:?}"),
        };
        assert_eq!(
            message(&key(PkValue::Integer(1), PkValue::Integer(1))),
            "Validate PK type fail. Input: VT_INTEGER, Meta: VT_STRING."
        );
        assert_eq!(
            message(&key(s(), PkValue::Binary(vec![1]))),
            "Validate PK type fail. Input: VT_BLOB, Meta: VT_INTEGER."
        );
        assert_eq!(message(&PrimaryKey::new([("p", s())])), "Validate PK size fail. Input: 1, Meta: 2.");
        let renamed = PrimaryKey::new([("p", s()), ("seq", PkValue::Integer(1))]);
        assert_eq!(message(&renamed), "Validate PK name fail. Input: seq, Meta: id.");
        // The name is checked before the type, column by column.
        let both = PrimaryKey::new([("q", PkValue::Integer(1)), ("id", PkValue::Integer(1))]);
        assert_eq!(message(&both), "Validate PK name fail. Input: q, Meta: p.");
        let long = PkValue::String("x".repeat(1025));
        assert!(check_primary_key(&key(long, PkValue::Integer(1)), &schema, KeyUse::Point).is_err());
        assert!(check_schema(&schema).is_ok());
        assert!(check_schema(&schema[1..]).is_err(), "first column auto-increment");
    }
}
