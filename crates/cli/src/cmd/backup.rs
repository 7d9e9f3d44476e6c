//! `tablesafe backup` (tables into a new snapshot) and `tablesafe snapshots` (the
//! catalog of a repository). Both describe snapshots the same way: per table its
//! rows, serialized data bytes and consistency (the stream position it is
//! consistent at, "exact" for a table without a stream read from one engine
//! snapshot, or "fuzzy" for rows read while writes could continue).

use indicatif::HumanBytes;
use serde::Serialize;
use tablesafe_backup::notes::{all_notes, load_notes};
use tablesafe_backup::{
    backup, list_snapshots, load_snapshot, Consistency, JobKind, Snapshot, SnapshotNotes, TableSnapshot,
};

use super::jobs::Job;
use super::open::{self, Tables};
use super::{block_on, count, print_json, rfc3339, short_id};
use crate::args::{BackupArgs, SnapshotsArgs};
use crate::progress;

/// One table of a snapshot, as printed.
#[derive(Serialize)]
struct TableLine {
    name: String,
    rows: u64,
    cells: u64,
    data_bytes: u64,
    consistency: Consistency,
    /// Stream position the table's data is consistent at, when it has a stream.
    stream_position: Option<u64>,
    /// Why a fuzzy copy is fuzzy.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    /// The snapshot this table's layer builds on (an incremental layer); none
    /// for a full copy.
    base: Option<String>,
    /// Layers a restore of the table reads: 1 for a full copy.
    chain: u32,
    /// Chunks this layer references.
    chunks: usize,
}

impl TableLine {
    fn new(table: &TableSnapshot) -> TableLine {
        let note = match (table.consistency, table.definition.stream.enabled) {
            (Consistency::Exact, _) => None,
            (_, false) => Some("fuzzy: the table has no stream; rows were read while writes could continue"),
            (_, true) => Some("fuzzy: rows were read through the API while writes could continue"),
        };
        TableLine {
            name: table.name.clone(),
            rows: table.rows,
            cells: table.cells,
            data_bytes: table.data_bytes,
            consistency: table.consistency,
            stream_position: table.stream_position,
            note,
            base: table.base.clone(),
            chain: table.chain,
            chunks: table.chunks.len() + table.fixup.as_ref().map_or(0, |f| f.chunks.len()),
        }
    }

    /// `name@position`, `name:exact` or `name:fuzzy`.
    fn position(&self) -> String {
        match (self.consistency, self.stream_position) {
            (Consistency::Exact, Some(position)) => format!("{}@{position}", self.name),
            (Consistency::Exact, None) => format!("{}:exact", self.name),
            _ => format!("{}:fuzzy", self.name),
        }
    }

    /// The consistency in words.
    fn describe(&self) -> String {
        match (self.note, self.stream_position) {
            (Some(note), _) => note.to_owned(),
            (None, Some(position)) => format!("consistent at stream position {position}"),
            (None, None) => "consistent (one engine snapshot; the table has no stream)".to_owned(),
        }
    }
}

/// One snapshot, as printed.
#[derive(Serialize)]
struct SnapshotLine {
    id: String,
    time: String,
    time_ms: i64,
    origin: String,
    /// The plan that made it; none for a backup made by hand.
    plan: Option<String>,
    tables: Vec<TableLine>,
    rows: u64,
    data_bytes: u64,
    added_bytes: u64,
    description: Option<String>,
    tags: Vec<String>,
    protected: bool,
}

impl SnapshotLine {
    /// What the list shows after the consistency: protection and tags.
    fn marks(&self) -> String {
        let mut marks = String::new();
        if self.protected {
            marks.push_str("  protected");
        }
        if !self.tags.is_empty() {
            marks.push_str(&format!("  [{}]", self.tags.join(",")));
        }
        marks
    }

    fn with_notes(mut self, notes: SnapshotNotes) -> SnapshotLine {
        self.description = notes.description;
        self.tags = notes.tags.into_iter().collect();
        self.protected = notes.protected;
        self
    }

    fn new(id: String, snapshot: &Snapshot) -> SnapshotLine {
        let tables: Vec<TableLine> = snapshot.tables.iter().map(TableLine::new).collect();
        SnapshotLine {
            id,
            time: rfc3339(snapshot.time_ms, true),
            time_ms: snapshot.time_ms,
            origin: snapshot.origin.clone(),
            plan: snapshot.plan.clone(),
            rows: tables.iter().map(|t| t.rows).sum(),
            data_bytes: tables.iter().map(|t| t.data_bytes).sum(),
            tables,
            added_bytes: snapshot.added_bytes,
            description: None,
            tags: Vec::new(),
            protected: false,
        }
    }
}

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let progress = progress::reporter(args.output.json);
    let (id, snapshot) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        let mut job = Job::start(JobKind::Backup);
        job.record.tables = args.table.clone();
        let result = match Tables::source(&args.source) {
            Ok(tables) => {
                job.record.location = Some(tables.location());
                let result = match &tables {
                    Tables::Embedded { tables, .. } => backup(&repo, tables, &args.table, &*progress).await,
                    Tables::Remote(tables) => backup(&repo, tables, &args.table, &*progress).await,
                };
                let closed = tables.close();
                result.map_err(anyhow::Error::from).and_then(|done| closed.map(|()| done))
            }
            Err(error) => Err(error),
        };
        job.finish(&repo, result, |(id, snapshot), job| {
            job.tables = snapshot.tables.iter().map(|t| t.name.clone()).collect();
            job.rows = snapshot.tables.iter().map(|t| t.rows).sum();
            job.bytes = snapshot.added_bytes;
            job.snapshot = Some(id.clone());
        })
        .await
    })?;
    drop(progress);
    let line = SnapshotLine::new(id, &snapshot);
    if args.output.json {
        return print_json(&line);
    }
    outln!(
        "snapshot {} saved: {}, {} rows, {} of table data, {} added to the repository",
        line.id,
        count(line.tables.len(), "table", "tables"),
        line.rows,
        HumanBytes(line.data_bytes),
        HumanBytes(line.added_bytes)
    )?;
    for table in &line.tables {
        outln!("  {}: {} rows, {}, {}", table.name, table.rows, HumanBytes(table.data_bytes), table.describe())?;
    }
    Ok(())
}

pub fn snapshots(args: SnapshotsArgs) -> anyhow::Result<()> {
    if let Some(id) = &args.id {
        let (id, snapshot, notes) = block_on(async {
            let repo = open::repository(&args.repo).await?;
            let (id, snapshot) = load_snapshot(&repo, id).await?;
            let notes = load_notes(&repo, &id).await?;
            Ok((id, snapshot, notes))
        })?;
        return print_snapshot(&SnapshotLine::new(id, &snapshot).with_notes(notes), args.output.json);
    }
    let (catalog, mut notes) = block_on(async {
        let repo = open::repository(&args.repo).await?;
        Ok((list_snapshots(&repo).await?, all_notes(&repo).await?))
    })?;
    let lines: Vec<SnapshotLine> = catalog
        .into_iter()
        .map(|(id, s)| {
            let notes = notes.remove(&id).unwrap_or_default();
            SnapshotLine::new(id, &s).with_notes(notes)
        })
        .filter(|line| args.tag.iter().all(|tag| line.tags.contains(tag)))
        .collect();
    if args.output.json {
        return print_json(&lines);
    }
    if lines.is_empty() && !args.tag.is_empty() {
        outln!("no snapshot carries the tags {}", args.tag.join(", "))?;
        return Ok(());
    }
    if lines.is_empty() {
        outln!("no snapshots yet; `tablesafe backup` makes one")?;
        return Ok(());
    }
    outln!(
        "{:<8}  {:<20}  {:>6}  {:>10}  {:>11}  {:>11}  CONSISTENCY",
        "ID",
        "TIME",
        "TABLES",
        "ROWS",
        "SIZE",
        "ADDED"
    )?;
    for line in &lines {
        let positions: Vec<String> = line.tables.iter().map(TableLine::position).collect();
        outln!(
            "{:<8}  {:<20}  {:>6}  {:>10}  {:>11}  {:>11}  {}",
            short_id(&line.id),
            rfc3339(line.time_ms, false),
            line.tables.len(),
            line.rows,
            HumanBytes(line.data_bytes).to_string(),
            HumanBytes(line.added_bytes).to_string(),
            positions.join(" ") + &line.marks()
        )?;
    }
    Ok(())
}

/// One snapshot in full: `tablesafe snapshots ID`.
fn print_snapshot(line: &SnapshotLine, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(line);
    }
    outln!("snapshot {}", line.id)?;
    outln!("  time:     {}", line.time)?;
    outln!("  origin:   {}", line.origin)?;
    outln!("  plan:     {}", line.plan.as_deref().unwrap_or("none (made by hand)"))?;
    outln!(
        "  holds:    {}, {} rows, {} of table data",
        count(line.tables.len(), "table", "tables"),
        line.rows,
        HumanBytes(line.data_bytes)
    )?;
    outln!("  added:    {} to the repository by this backup", HumanBytes(line.added_bytes))?;
    if let Some(description) = &line.description {
        outln!("  about:    {description}")?;
    }
    if !line.tags.is_empty() {
        outln!("  tags:     {}", line.tags.join(", "))?;
    }
    if line.protected {
        outln!("  protected: retention and forget keep it (`tablesafe snapshot unprotect` lets it go)")?;
    }
    for table in &line.tables {
        outln!("  table {}:", table.name)?;
        outln!("    rows:         {} ({} cell versions)", table.rows, table.cells)?;
        let layer = match &table.base {
            None => "a full copy".to_owned(),
            Some(base) => format!(
                "the changes since snapshot {} (a restore reads {})",
                short_id(base),
                count(table.chain as usize, "layer", "layers")
            ),
        };
        outln!(
            "    stored as:    {layer}: {} of rows in {}",
            HumanBytes(table.data_bytes),
            count(table.chunks, "chunk", "chunks")
        )?;
        outln!("    consistency:  {}", table.describe())?;
    }
    Ok(())
}
