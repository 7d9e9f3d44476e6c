//! Cross-check of the Rust client against the official SDKs (driven by
//! `tests/sdk/python/test_rust_client.py`).
//!
//! ```text
//! crosscheck write ENDPOINT INSTANCE KEYID SECRET TABLE
//! crosscheck dump  ENDPOINT INSTANCE KEYID SECRET TABLE
//! ```
//!
//! `write` creates TABLE if it is missing (key `pk_str STRING, pk_int INTEGER,
//! pk_bin BINARY`, 10 versions kept) and writes a fixed set of rows covering every
//! value type and several versions with explicit timestamps; it prints one line,
//! `{"base_ts":<ms>,"rows":<n>}`, from which the Python test rebuilds the same set.
//! The timestamps are `base_ts` minus fixed offsets, `base_ts` being the current
//! second minus one minute (so every timestamp is near now and in the past).
//!
//! `dump` scans the whole table with every version and prints one canonical JSON
//! line per row, in key order:
//! `{"pk":[[name,type,value],...],"cols":[[name,type,value,ts],...]}`, columns by
//! name then newest first; INTEGER as a JSON number, STRING as a JSON string, BINARY
//! as lowercase hex, DOUBLE as the 16 hex digits of its big-endian IEEE-754 bits,
//! BOOLEAN as true/false.

use std::process::ExitCode;

use futures::TryStreamExt;
use tablesafe_client::model::{Cell, PkValue, PrimaryKey, PrimaryKeyType, Row, Value};
use tablesafe_client::{
    BatchWriteRowRequest, Client, ClientError, CreateTableRequest, ErrorCode, GetRangeRequest, PutRowRequest,
    UpdateRowRequest,
};

const USAGE: &str = "usage: crosscheck write|dump ENDPOINT INSTANCE KEYID SECRET TABLE";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, endpoint, instance, key_id, secret, table] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match Client::new(endpoint, instance, key_id, secret) {
        Err(e) => Err(e.into()),
        Ok(client) => match command.as_str() {
            "write" => write(&client, table).await,
            "dump" => dump(&client, table).await,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crosscheck {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn key(s: &str, i: i64, b: &[u8]) -> PrimaryKey {
    PrimaryKey::new([
        ("pk_str", PkValue::String(s.into())),
        ("pk_int", PkValue::Integer(i)),
        ("pk_bin", PkValue::Binary(b.to_vec())),
    ])
}

fn v(name: &str, value: Value, ts: i64) -> Cell {
    Cell::version(name, value, ts)
}

/// The fixed rows, as functions of `base` (mirrored by the Python test).
fn dataset(base: i64) -> Vec<(PrimaryKey, Vec<Cell>)> {
    use Value::{Binary, Boolean, Double, Integer, String as Str};
    vec![
        (
            key("alpha", 1, &[0x00, 0xff]),
            vec![
                v("i", Integer(0), base - 4000),
                v("i", Integer(-1), base - 3000),
                v("i", Integer(i64::MAX), base - 2000),
                v("i", Integer(i64::MIN), base - 1000),
                v("d", Double(1.5), base - 3000),
                v("d", Double(-0.0), base - 2000),
                v("d", Double(1e300), base - 1000),
                v("b", Boolean(true), base - 2000),
                v("b", Boolean(false), base - 1000),
                v("s", Str("héllo ✓".into()), base - 2000),
                v("s", Str(String::new()), base - 1000),
                v("bin", Binary((0..=255).collect()), base - 1000),
            ],
        ),
        (
            key("alpha", 2, &[0x01]),
            vec![
                v("s", Str("quote \" backslash \\ newline \n tab \t".into()), base),
                v("d", Double(2.2250738585072014e-308), base),
                v("d", Double(-123456.789), base - 1000),
            ],
        ),
        (
            key("ünï©ødé ✓", -42, &(0..16).collect::<Vec<u8>>()),
            vec![v("i", Integer(7), base - 500), v("i", Integer(8), base), v("bin", Binary(Vec::new()), base)],
        ),
        (key("beta", i64::MIN, &[0x00]), vec![]),
        (key("beta", i64::MAX, &[0xff, 0xff]), vec![v("b", Boolean(true), base)]),
        (
            key("gamma", 0, b"z"),
            vec![
                v("i", Integer(1), base - 2000),
                v("i", Integer(2), base - 1000),
                v("s", Str("x".repeat(3000)), base),
                v("d", Double(0.1), base),
            ],
        ),
    ]
}

async fn ensure_table(client: &Client, table: &str) -> Result<(), ClientError> {
    match client.describe_table(table).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::ObjectNotExist) => {
            let request = CreateTableRequest::new(table)
                .primary_key("pk_str", PrimaryKeyType::String)
                .primary_key("pk_int", PrimaryKeyType::Integer)
                .primary_key("pk_bin", PrimaryKeyType::Binary)
                .max_versions(10);
            client.create_table(request).await
        }
        Err(e) => Err(e),
    }
}

async fn write(client: &Client, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    ensure_table(client, table).await?;
    let now_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis(),
    )
    .unwrap_or(i64::MAX);
    let base = now_ms - now_ms.rem_euclid(1000) - 60_000;
    let rows = dataset(base);
    let count = rows.len();
    let mut rows = rows.into_iter();
    // Exercise each write path: PutRow, UpdateRow, then BatchWriteRow for the rest.
    for (pk, cells) in rows.by_ref().take(2) {
        client.put_row(PutRowRequest::new(table, pk, cells)).await?;
    }
    if let Some((pk, cells)) = rows.next() {
        let mut update = UpdateRowRequest::new(table, pk);
        for cell in cells {
            let (Some(value), Some(ts)) = (cell.value, cell.timestamp) else { continue };
            update = update.put_at(cell.name, value, ts);
        }
        client.update_row(update).await?;
    }
    let batch: BatchWriteRowRequest = rows.map(|(pk, cells)| PutRowRequest::new(table, pk, cells)).collect();
    let response = client.batch_write_row(batch).await?;
    if let Some((index, error)) = response.failures().next() {
        return Err(format!("BatchWriteRow row {index} failed: {error}").into());
    }
    println!("{{\"base_ts\":{base},\"rows\":{count}}}");
    Ok(())
}

async fn dump(client: &Client, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    let described = client.describe_table(table).await?;
    let bound =
        |value: PkValue| PrimaryKey::new(described.schema.primary_key.iter().map(|c| (c.name.clone(), value.clone())));
    let range = GetRangeRequest::new(table, bound(PkValue::InfMin), bound(PkValue::InfMax)).max_versions(1000);
    let mut rows = std::pin::pin!(client.scan(range));
    while let Some(row) = rows.try_next().await? {
        println!("{}", row_json(&row));
    }
    Ok(())
}

fn row_json(row: &Row) -> String {
    let pk: Vec<String> = row
        .primary_key
        .columns
        .iter()
        .map(|c| {
            let (kind, value) = match &c.value {
                PkValue::Integer(i) => ("INTEGER", i.to_string()),
                PkValue::String(s) => ("STRING", json_string(s)),
                PkValue::Binary(b) => ("BINARY", json_string(&hex(b))),
                other => ("UNEXPECTED", json_string(&format!("{other:?}"))),
            };
            format!("[{},\"{kind}\",{value}]", json_string(&c.name))
        })
        .collect();
    let mut cells: Vec<&Cell> = row.cells.iter().collect();
    cells.sort_by(|a, b| a.name.cmp(&b.name).then(b.timestamp.cmp(&a.timestamp)));
    let cols: Vec<String> = cells
        .iter()
        .map(|c| {
            let (kind, value) = match &c.value {
                Some(Value::Integer(i)) => ("INTEGER", i.to_string()),
                Some(Value::Double(d)) => ("DOUBLE", format!("\"{:016x}\"", d.to_bits())),
                Some(Value::Boolean(b)) => ("BOOLEAN", b.to_string()),
                Some(Value::String(s)) => ("STRING", json_string(s)),
                Some(Value::Binary(b)) => ("BINARY", json_string(&hex(b))),
                None => ("NONE", "null".to_owned()),
            };
            let ts = c.timestamp.map_or_else(|| "null".to_owned(), |t| t.to_string());
            format!("[{},\"{kind}\",{value},{ts}]", json_string(&c.name))
        })
        .collect();
    format!("{{\"pk\":[{}],\"cols\":[{}]}}", pk.join(","), cols.join(","))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
