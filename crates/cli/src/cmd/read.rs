//! `tablesafe get` (one row of a table of a snapshot, every version of its cells),
//! `tablesafe export` (every row, as JSON lines) and `tablesafe diff` (rows added,
//! removed and changed between two snapshots), read straight from the repository
//! without a restore.
//!
//! Both read under a shared lock, so that a prune never deletes chunks under them.
//! A row as JSON is `{"pk": [{"name", "type", "value"}...], "cells": [{"name",
//! "type", "value", "timestamp"}...]}`: types as Tablestore names them (INTEGER,
//! DOUBLE, BOOLEAN, STRING, BINARY), BINARY values in hex, timestamps in
//! milliseconds since the epoch. An export checks the rows it wrote against the
//! snapshot's digest, as a restore does.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value as Json;
use tablesafe_backup::digest::DigestBuilder;
use tablesafe_backup::{diff_snapshots, snapshot_table, BackupError, SnapshotRows, TableDiff, TableSnapshot};
use tablesafe_client::model::{PkValue, PrimaryKey, PrimaryKeySchema, PrimaryKeyType, Row, Value};
use tablesafe_repo::{LockKind, Repository};

use super::{block_on, open, print_json, rfc3339, short_id, Failure};
use crate::args::{DiffArgs, ExportArgs, GetArgs, SnapshotTableArgs};

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
}

fn key_type_name(key_type: PrimaryKeyType) -> &'static str {
    match key_type {
        PrimaryKeyType::Integer => "INTEGER",
        PrimaryKeyType::String => "STRING",
        PrimaryKeyType::Binary => "BINARY",
    }
}

/// A primary key value: its type name and JSON value.
fn pk_json(value: &PkValue) -> (&'static str, Json) {
    match value {
        PkValue::Integer(n) => ("INTEGER", Json::from(*n)),
        PkValue::String(s) => ("STRING", Json::from(s.as_str())),
        PkValue::Binary(b) => ("BINARY", Json::from(hex(b))),
        // Never stored; named so that nothing is lost.
        PkValue::InfMin => ("INF_MIN", Json::Null),
        PkValue::InfMax => ("INF_MAX", Json::Null),
        PkValue::AutoIncrement => ("AUTO_INCREMENT", Json::Null),
    }
}

/// An attribute value: its type name and JSON value (a double that is not finite
/// as the string `NaN`, `inf` or `-inf`).
fn value_json(value: &Value) -> (&'static str, Json) {
    match value {
        Value::Integer(n) => ("INTEGER", Json::from(*n)),
        Value::Double(d) => {
            ("DOUBLE", serde_json::Number::from_f64(*d).map_or_else(|| Json::from(d.to_string()), Json::Number))
        }
        Value::Boolean(b) => ("BOOLEAN", Json::from(*b)),
        Value::String(s) => ("STRING", Json::from(s.as_str())),
        Value::Binary(b) => ("BINARY", Json::from(hex(b))),
    }
}

/// A value in text output: strings quoted, binaries as 0x-hex.
fn value_text(json: &Json, type_name: &str) -> String {
    match (json, type_name) {
        (Json::String(s), "BINARY") => format!("0x{s}"),
        (json, _) => json.to_string(),
    }
}

#[derive(Serialize)]
struct KeyColumnJson {
    name: String,
    #[serde(rename = "type")]
    type_name: &'static str,
    value: Json,
}

#[derive(Serialize)]
struct CellJson {
    name: String,
    #[serde(rename = "type")]
    type_name: Option<&'static str>,
    value: Json,
    timestamp: Option<i64>,
}

/// A row as JSON (`get --json` and each line of `export`).
#[derive(Serialize)]
struct RowJson {
    pk: Vec<KeyColumnJson>,
    cells: Vec<CellJson>,
}

impl RowJson {
    fn new(row: &Row) -> RowJson {
        let pk = row
            .primary_key
            .columns
            .iter()
            .map(|column| {
                let (type_name, value) = pk_json(&column.value);
                KeyColumnJson { name: column.name.clone(), type_name, value }
            })
            .collect();
        let cells = row
            .cells
            .iter()
            .map(|cell| {
                let (type_name, value) = cell.value.as_ref().map_or((None, Json::Null), |v| {
                    let (t, v) = value_json(v);
                    (Some(t), v)
                });
                CellJson { name: cell.name.clone(), type_name, value, timestamp: cell.timestamp }
            })
            .collect();
        RowJson { pk, cells }
    }

    /// `id=5` or `source="s1", n=3`.
    fn key_text(&self) -> String {
        let parts: Vec<String> =
            self.pk.iter().map(|c| format!("{}={}", c.name, value_text(&c.value, c.type_name))).collect();
        parts.join(", ")
    }
}

/// How to write a key, for hints: `source=<STRING>,n=<INTEGER>`.
fn key_usage(schema: &[PrimaryKeySchema]) -> String {
    let parts: Vec<String> = schema.iter().map(|c| format!("{}=<{}>", c.name, key_type_name(c.key_type))).collect();
    parts.join(",")
}

/// `name=value` when `name` is a key column: the column and the value.
fn column_of<'s, 't>(schema: &'s [PrimaryKeySchema], segment: &'t str) -> Option<(&'s PrimaryKeySchema, &'t str)> {
    let (name, value) = segment.split_once('=')?;
    let column = schema.iter().find(|c| c.name == name)?;
    Some((column, value))
}

/// Parses `--key name=value[,name=value...]` into a key in schema order, each
/// value typed by its column. A comma followed by text that does not start with
/// `<key column>=` belongs to the value before it (so strings may hold commas).
fn parse_key(text: &str, table: &str, schema: &[PrimaryKeySchema]) -> anyhow::Result<PrimaryKey> {
    let usage = || format!("the key of table '{table}' is --key {}", key_usage(schema));
    let mut given: Vec<(&PrimaryKeySchema, String)> = Vec::new();
    for segment in text.split(',') {
        match (column_of(schema, segment), given.last_mut()) {
            (Some((column, value)), _) => {
                if given.iter().any(|(c, _)| c.name == column.name) {
                    return Err(Failure::usage(format!("key column '{}' is given twice", column.name), usage()).into());
                }
                given.push((column, value.to_owned()));
            }
            (None, Some((column, value))) if column.key_type == PrimaryKeyType::String => {
                value.push(',');
                value.push_str(segment);
            }
            (None, _) => {
                let name = segment.split_once('=').map_or(segment, |(name, _)| name);
                return Err(Failure::usage(format!("'{name}' is not a key column of table '{table}'"), usage()).into());
            }
        }
    }
    let mut columns = Vec::with_capacity(schema.len());
    for column in schema {
        let Some((_, text)) = given.iter().find(|(c, _)| c.name == column.name) else {
            return Err(Failure::usage(format!("--key lacks the key column '{}'", column.name), usage()).into());
        };
        let value = match column.key_type {
            PrimaryKeyType::Integer => text.parse().ok().map(PkValue::Integer),
            PrimaryKeyType::String => Some(PkValue::String(text.clone())),
            PrimaryKeyType::Binary => unhex(text).map(PkValue::Binary),
        };
        let Some(value) = value else {
            return Err(Failure::usage(
                format!("'{text}' is not a valid {} for key column '{}'", key_type_name(column.key_type), column.name),
                "give INTEGER as a decimal number, STRING as is and BINARY as hex (e.g. 0a1b)",
            )
            .into());
        };
        columns.push((column.name.clone(), value));
    }
    Ok(PrimaryKey::new(columns))
}

/// Opens the repository and finds the table of the snapshot: the snapshot's full
/// id and the table's manifest.
async fn open_table(from: &SnapshotTableArgs) -> anyhow::Result<(Repository, String, TableSnapshot)> {
    let repo = open::repository(&from.repo).await?;
    let (id, table) = snapshot_table(&repo, &from.snapshot, &from.table).await?;
    Ok((repo, id, table))
}

/// Runs `work` under a shared lock of the repository (released on failure too).
async fn locked<T>(repo: &Repository, work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let lock = repo.lock(LockKind::Shared).await?;
    let result = work.await;
    lock.release().await;
    result
}

/// The row of `table` with `key`, if the snapshot has it.
async fn find_row(repo: &Repository, id: &str, table: &TableSnapshot, key: &PrimaryKey) -> anyhow::Result<Option<Row>> {
    let mut rows = SnapshotRows::open(repo, id, table).await?;
    while let Some(row) = rows.next().await? {
        match row.primary_key.cmp_values(key) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => return Ok(Some(row)),
            // Rows come in key order: past the key, it is not there.
            std::cmp::Ordering::Greater => break,
        }
    }
    Ok(None)
}

pub fn get(args: GetArgs) -> anyhow::Result<()> {
    let (id, row, key) = block_on(async {
        let (repo, id, table) = open_table(&args.from).await?;
        let key = parse_key(&args.key, &table.name, &table.definition.schema.primary_key)?;
        let row = locked(&repo, find_row(&repo, &id, &table, &key)).await?;
        Ok((id, row, key))
    })?;
    let Some(row) = row else {
        let key = RowJson::new(&Row::from_key(key)).key_text();
        return Err(Failure::new(
            format!("no such row: table '{}' of snapshot {} has no row {key}", args.from.table, short_id(&id)),
            "check the key; `tablesafe export` lists the table's rows",
        )
        .into());
    };
    let row = RowJson::new(&row);
    if args.output.json {
        return print_json(&row);
    }
    outln!("row {} of table '{}' in snapshot {}:", row.key_text(), args.from.table, short_id(&id))?;
    for cell in &row.cells {
        let value = value_text(&cell.value, cell.type_name.unwrap_or_default());
        let time = cell.timestamp.map_or_else(|| "-".to_owned(), |ts| rfc3339(ts, true));
        outln!("  {} = {value} @ {time}", cell.name)?;
    }
    Ok(())
}

/// What an export wrote.
#[derive(Serialize)]
struct ExportOutput {
    snapshot: String,
    table: String,
    rows: u64,
    cells: u64,
    file: Option<String>,
}

/// Writes every row as a JSON line to `out`; checks them against the snapshot's
/// digest. Returns the rows and cell versions written, or `None` when the reader
/// of stdout went away.
async fn write_rows(
    repo: &Repository,
    id: &str,
    table: &TableSnapshot,
    out: &mut dyn Write,
) -> anyhow::Result<Option<(u64, u64)>> {
    let mut rows = SnapshotRows::open(repo, id, table).await?;
    let mut digest = DigestBuilder::default();
    let mut line = Vec::new();
    while let Some(row) = rows.next().await? {
        digest.add(&row);
        line.clear();
        serde_json::to_writer(&mut line, &RowJson::new(&row))?;
        line.push(b'\n');
        match out.write_all(&line) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(None),
            result => result.context("writing the rows")?,
        }
    }
    match out.flush() {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(None),
        result => result.context("writing the rows")?,
    }
    let digest = digest.finish();
    if digest.root != table.digest.root {
        return Err(BackupError::Corrupt {
            snapshot: id.to_owned(),
            table: table.name.clone(),
            detail: "the rows read do not match the snapshot's digest".into(),
        }
        .into());
    }
    Ok(Some((digest.rows, digest.cells)))
}

/// Creates the output file; removes it again when dropped unless kept.
struct OutputFile<'a> {
    path: &'a Path,
    keep: bool,
}

impl Drop for OutputFile<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (id, written) = block_on(async {
        let (repo, id, table) = open_table(&args.from).await?;
        let written = match &args.output_file {
            Some(path) => {
                let file =
                    File::create(path).with_context(|| format!("cannot create the output file {}", path.display()))?;
                let mut guard = OutputFile { path, keep: false };
                let mut out = BufWriter::new(file);
                let written = locked(&repo, write_rows(&repo, &id, &table, &mut out)).await?;
                out.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|file| file.sync_all())
                    .with_context(|| format!("writing {}", path.display()))?;
                guard.keep = true;
                written
            }
            None => {
                let mut out = BufWriter::new(std::io::stdout().lock());
                locked(&repo, write_rows(&repo, &id, &table, &mut out)).await?
            }
        };
        Ok((id, written))
    })?;
    // The reader of stdout stopped reading: nothing more to say.
    let Some((rows, cells)) = written else { return Ok(()) };
    let file = args.output_file.as_ref().map(|p| p.display().to_string());
    let output = ExportOutput { snapshot: id, table: args.from.table.clone(), rows, cells, file };
    if args.json && output.file.is_some() {
        return print_json(&output);
    }
    eprintln!(
        "exported {rows} rows of table '{}' of snapshot {} to {}",
        output.table,
        short_id(&output.snapshot),
        output.file.as_deref().unwrap_or("stdout")
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use tablesafe_client::model::{PkValue, PrimaryKeySchema, PrimaryKeyType};

    use super::parse_key;

    fn schema() -> Vec<PrimaryKeySchema> {
        [("dir", PrimaryKeyType::String), ("n", PrimaryKeyType::Integer), ("hash", PrimaryKeyType::Binary)]
            .into_iter()
            .map(|(name, key_type)| PrimaryKeySchema { name: name.into(), key_type, auto_increment: false })
            .collect()
    }

    fn values(text: &str) -> Result<Vec<PkValue>, String> {
        parse_key(text, "t", &schema())
            .map(|key| key.columns.into_iter().map(|c| c.value).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_are_typed_by_the_schema_in_schema_order() {
        let expected = vec![PkValue::String("a,b=c".into()), PkValue::Integer(-7), PkValue::Binary(vec![0x0a, 0xff])];
        assert_eq!(values("dir=a,b=c,n=-7,hash=0aff"), Ok(expected.clone()));
        assert_eq!(values("hash=0x0aff,n=-7,dir=a,b=c"), Ok(expected));
        assert_eq!(
            values("dir=,n=0,hash="),
            Ok(vec![PkValue::String(String::new()), PkValue::Integer(0), PkValue::Binary(vec![])])
        );
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert_eq!(values("dir=a,n=1").unwrap_err(), "--key lacks the key column 'hash'");
        assert_eq!(values("dir=a,n=x,hash=00").unwrap_err(), "'x' is not a valid INTEGER for key column 'n'");
        assert_eq!(values("dir=a,n=1,hash=abc").unwrap_err(), "'abc' is not a valid BINARY for key column 'hash'");
        assert_eq!(values("n=1,n=2").unwrap_err(), "key column 'n' is given twice");
        assert_eq!(values("id=1").unwrap_err(), "'id' is not a key column of table 't'");
        assert_eq!(values("n=1,id=1").unwrap_err(), "'id' is not a key column of table 't'");
    }
}

#[derive(Serialize)]
struct DiffOutput {
    old: String,
    new: String,
    tables: Vec<TableDiff>,
}

pub fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let (old, new, tables) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        Ok(locked(&repo, async { Ok(diff_snapshots(&repo, &args.old, &args.new, args.table.as_deref()).await?) })
            .await?)
    })?;
    if args.output.json {
        return print_json(&DiffOutput { old, new, tables });
    }
    outln!("snapshot {} -> snapshot {}", short_id(&old), short_id(&new))?;
    for table in &tables {
        let presence = match (table.in_old, table.in_new) {
            (true, false) => " (only in the older snapshot)",
            (false, true) => " (only in the newer snapshot)",
            _ => "",
        };
        outln!(
            "  {}{presence}: {} added, {} removed, {} changed, {} unchanged",
            table.table,
            table.added,
            table.removed,
            table.changed,
            table.unchanged
        )?;
        for (what, total, keys) in [
            ("added", table.added, &table.added_keys),
            ("removed", table.removed, &table.removed_keys),
            ("changed", table.changed, &table.changed_keys),
        ] {
            if keys.is_empty() {
                continue;
            }
            let more = total - keys.len() as u64;
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            outln!("    {what:<8} {}{more}", keys.iter().map(|k| format!("({k})")).collect::<Vec<_>>().join(" "))?;
        }
    }
    Ok(())
}
