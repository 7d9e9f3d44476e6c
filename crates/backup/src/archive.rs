//! Continuous archiving of change streams: change segments in the repository, the
//! [`Archiver`] that writes them, and reading them back.
//!
//! A segment (manifest `changes/<tag>-<from>-<to>`, sealed JSON, where the tag is
//! the repository's name tag of the stream id) holds every change of one
//! stream with a position in `[from, to)`, serialized as `changes` defines and cut
//! into chunks like table data.
//!
//! Invariants: a segment's chunks are durable before its manifest is written, and
//! the archived position of a stream is the largest `to` among its segments' names,
//! so an archiver killed at any moment resumes with no gap and no duplicate. A
//! stream's segments follow each other (`from` = the previous `to`) unless the
//! stream lost records before they were archived: a gap, which recovery points
//! report. Readers skip changes at positions already read, so overlapping segments
//! (two archivers of one stream) are harmless.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tablesafe_repo::{crypto, LockKind, Repository, WriterOptions};

use crate::changes::{encode_change, Change, ChangeDecoder};
use crate::records::ChunkRecords;
use crate::manifest::{list_snapshots, Snapshot};
use crate::source::{Consistency, StreamEnd, TableSource};
use crate::BackupError;

/// Manifest kind of change segments.
pub const CHANGES: &str = "changes";
/// Version of the segment manifest layout: 2 seals inline changes for keys
/// that read data (`inline_sealed`); version 1 inline changes read as before.
pub const SEGMENT_VERSION: u32 = 2;

/// One archived run of a stream's changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeSegment {
    /// [`SEGMENT_VERSION`].
    pub version: u32,
    /// Where the changes were read from (as snapshots name it).
    pub origin: String,
    /// The table.
    pub table: String,
    /// The stream.
    pub stream_id: String,
    /// First position covered.
    pub from: u64,
    /// Every change of the stream below this position and at or after `from` is here.
    pub to: u64,
    /// Changes held.
    pub changes: u64,
    /// Commit time of the first change held, µs.
    pub first_time_us: Option<i64>,
    /// Commit time of the last change held, µs.
    pub last_time_us: Option<i64>,
    /// Every change of the stream committed by this time (µs) lies below `to`.
    pub complete_until_us: i64,
    /// Bytes of serialized changes.
    pub data_bytes: u64,
    /// Chunks of the serialized changes, in order (hex ids).
    pub chunks: Vec<String>,
    /// A small segment's serialized changes, zstd-compressed and base64-encoded,
    /// kept inside its (sealed) manifest instead of in packs: one object a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// `inline` is sealed for keys that read data (`Repository::seal_for_readers`,
    /// bound to the segment's id): manifests open with every key, write-only ones
    /// too, and inline changes are row data. Segments before version 2 lack it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline_sealed: bool,
}

/// Serialized changes a segment keeps inside its manifest rather than in packs.
const INLINE_BYTES: usize = 256 << 10;

/// What binds sealed inline changes to their segment: moved to another segment's
/// manifest, they do not open.
fn inline_aad(id: &str) -> Vec<u8> {
    format!("tablesafe inline changes {id}").into_bytes()
}

fn inline_encode(repo: &Repository, id: &str, data: &[u8]) -> Result<String, BackupError> {
    use base64::Engine as _;
    let packed = zstd::bulk::compress(data, 3).map_err(|e| BackupError::Internal(format!("compress changes: {e}")))?;
    let sealed = repo.seal_for_readers(&packed, &inline_aad(id));
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

fn inline_decode(repo: &Repository, id: &str, segment: &ChangeSegment, text: &str) -> Result<Vec<u8>, BackupError> {
    use base64::Engine as _;
    let corrupt = |detail: String| BackupError::Corrupt {
        snapshot: format!("change segment {id}"),
        table: segment.table.clone(),
        detail,
    };
    let mut packed =
        base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| corrupt(format!("inline data: {e}")))?;
    if segment.inline_sealed {
        packed = repo.open_for_readers(&packed, &inline_aad(id), &format!("{CHANGES}/{id}"))?;
    }
    // The manifest says how many bytes to expect; a little slack for its own rounding.
    let limit = usize::try_from(segment.data_bytes).unwrap_or(usize::MAX).max(1);
    let data = zstd::bulk::decompress(&packed, limit).map_err(|e| corrupt(format!("inline data: {e}")))?;
    if data.len() as u64 != segment.data_bytes {
        return Err(corrupt(format!("inline data holds {} bytes, not {}", data.len(), segment.data_bytes)));
    }
    Ok(data)
}

/// A segment as its manifest name tells it, without opening it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentName {
    /// Manifest id.
    pub id: String,
    /// First position covered.
    pub from: u64,
    /// End of the positions covered.
    pub to: u64,
}

/// The tag of a stream in segment names. A stream id names one generation of one
/// table's stream (`<table>_<enable time>`), whichever way it is reached (a data
/// directory, or an endpoint by any address), so the stream id alone is the key.
fn stream_tag(repo: &Repository, stream_id: &str) -> String {
    repo.name_tag(&format!("stream\0{stream_id}"))
}

fn segment_id(tag: &str, from: u64, to: u64) -> String {
    format!("{tag}-{from:016x}-{to:016x}")
}

fn parse_segment_id(id: &str, tag: &str) -> Option<SegmentName> {
    let rest = id.strip_prefix(tag)?.strip_prefix('-')?;
    let (from, to) = rest.split_once('-')?;
    let parse = |hex: &str| (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten();
    Some(SegmentName { id: id.to_owned(), from: parse(from)?, to: parse(to)? })
}

/// The segments of a stream, by position.
pub async fn list_segments(repo: &Repository, stream_id: &str) -> Result<Vec<SegmentName>, BackupError> {
    Ok(segments_named(repo, stream_id, &repo.list_manifests(CHANGES).await?))
}

/// The segment names among manifest `ids` that belong to a stream, by position
/// (e.g. those the catalog records as missing: the cause of a break in its archive).
pub(crate) fn segments_named(repo: &Repository, stream_id: &str, ids: &[String]) -> Vec<SegmentName> {
    let tag = stream_tag(repo, stream_id);
    let mut names: Vec<SegmentName> = ids.iter().filter_map(|id| parse_segment_id(id, &tag)).collect();
    names.sort_by_key(|n| (n.from, n.to));
    names
}

/// Every segment of the repository, opened, with its id.
pub async fn all_segments(repo: &Repository) -> Result<Vec<(String, ChangeSegment)>, BackupError> {
    let mut out = Vec::new();
    for id in repo.list_manifests(CHANGES).await? {
        let segment = load_segment(repo, &id).await?;
        out.push((id, segment));
    }
    Ok(out)
}

/// Drops the segments no remaining snapshot can use: those of a stream that end
/// at or before the oldest position a snapshot of that stream starts from, and
/// those of streams no snapshot holds that ended before the oldest snapshot was
/// taken. Returns how many were dropped.
pub(crate) async fn drop_unneeded_segments(
    repo: &Repository,
    snapshots: &[(String, Snapshot)],
) -> Result<usize, BackupError> {
    let Some(oldest_us) = snapshots.iter().map(|(_, s)| s.time_ms.saturating_mul(1000)).min() else {
        return Ok(0); // Nothing to go by: a first backup may be under way.
    };
    let mut first_position: HashMap<String, u64> = HashMap::new();
    for (_, snapshot) in snapshots {
        for table in &snapshot.tables {
            if let (Some(stream), Some(position)) = (&table.stream_id, table.stream_position) {
                let entry = first_position.entry(stream.clone()).or_insert(position);
                *entry = (*entry).min(position);
            }
        }
    }
    let mut unneeded = Vec::new();
    for (id, segment) in all_segments(repo).await? {
        let drop = match first_position.get(&segment.stream_id) {
            Some(&position) => segment.to <= position && segment.from < position,
            None => segment.complete_until_us < oldest_us,
        };
        if drop {
            unneeded.push(id);
        }
    }
    repo.delete_manifests(CHANGES, &unneeded).await?;
    Ok(unneeded.len())
}

/// Opens a segment manifest.
pub async fn load_segment(repo: &Repository, id: &str) -> Result<ChangeSegment, BackupError> {
    let body = repo.load_manifest(CHANGES, id).await?;
    serde_json::from_slice(&body).map_err(|e| BackupError::Corrupt {
        snapshot: format!("change segment {id}"),
        table: String::new(),
        detail: format!("manifest does not decode: {e}"),
    })
}

/// The changes of a segment, decoded a chunk at a time.
pub struct SegmentChanges {
    repo: Repository,
    records: ChunkRecords<ChangeDecoder>,
    /// An inline segment's id and data, decoded at the first read.
    inline: Option<(String, ChangeSegment)>,
    decoded: std::collections::VecDeque<Change>,
}

impl SegmentChanges {
    /// Reads segment `id`.
    pub fn new(repo: &Repository, id: &str, segment: ChangeSegment) -> Self {
        let owner = format!("change segment {id}");
        let records = ChunkRecords::new(repo, segment.chunks.clone(), owner, segment.table.clone());
        let inline = segment.inline.is_some().then(|| (id.to_owned(), segment));
        SegmentChanges { repo: repo.clone(), records, inline, decoded: std::collections::VecDeque::new() }
    }

    /// The next change, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Change>, BackupError> {
        if let Some((id, segment)) = self.inline.take() {
            let data = inline_decode(&self.repo, &id, &segment, segment.inline.as_deref().unwrap_or_default())?;
            let mut decoder = ChangeDecoder::default();
            let corrupt = |detail: String| BackupError::Corrupt {
                snapshot: format!("change segment {id}"),
                table: segment.table.clone(),
                detail,
            };
            self.decoded.extend(decoder.push(&data).map_err(corrupt)?);
            decoder.finish().map_err(corrupt)?;
        }
        if let Some(change) = self.decoded.pop_front() {
            return Ok(Some(change));
        }
        self.records.next().await
    }
}

/// How an [`Archiver`] writes segments.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveOptions {
    /// Most changes in one segment; a busy stream is archived in several.
    pub max_changes_per_segment: usize,
    /// An idle stream still gets an (empty) segment this often, so that its
    /// restorable window reaches the present. Zero (the default): every pass,
    /// so the window reaches the last pass; an idle pass rewrites the one empty
    /// segment at the stream's position, so the repository does not grow.
    pub heartbeat: Duration,
    /// Small segments (kept inside their manifests) are merged into one packed
    /// segment once this many follow each other, so that the repository does not
    /// collect an object per pass forever.
    pub compact_after: usize,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions { max_changes_per_segment: 100_000, heartbeat: Duration::ZERO, compact_after: 600 }
    }
}

/// Inline data (base64) the archiver holds for compaction at most, per table.
const COMPACT_BYTES: usize = 16 << 20;

/// What one pass did for one table.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchivePass {
    /// The table.
    pub table: String,
    /// The segment written, with its id, if any.
    pub segment: Option<(String, ChangeSegment)>,
    /// The stream had lost records the archive needed: archiving restarted at
    /// the stream's end.
    pub gap: bool,
}

#[derive(Clone, Debug)]
struct StreamState {
    stream_id: String,
    position: u64,
    last_write_us: i64,
    /// Small segments written since the last compaction, in order, with their
    /// changes: compaction merges what this archiver wrote without reading it
    /// back, so a write-only archiver compacts too.
    small: Vec<(String, ChangeSegment, Vec<u8>)>,
}

/// Follows the change streams of a source's tables into a repository.
pub struct Archiver<S> {
    source: S,
    options: ArchiveOptions,
    streams: HashMap<String, StreamState>,
}

impl<S: TableSource> Archiver<S> {
    /// An archiver of `source`'s streams.
    pub fn new(source: S, options: ArchiveOptions) -> Self {
        Archiver { source, options, streams: HashMap::new() }
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// One pass over `tables` (every table of the source when empty): whatever
    /// their streams hold past the archived position goes into new segments. A
    /// table that fails does not hold up the others: the first failure is
    /// returned once every table has had its turn.
    pub async fn pass(&mut self, repo: &Repository, tables: &[String]) -> Result<Vec<ArchivePass>, BackupError> {
        let names = if tables.is_empty() { self.source.list_tables().await? } else { tables.to_vec() };
        // Every table archived has a change log, whether or not its client asked
        // for a stream (a no-op once on, and for sources that cannot).
        self.source.keep_change_logs(&names).await?;
        let mut passes = Vec::new();
        let mut failure = None;
        for table in names {
            match self.pass_table(repo, &table).await {
                Ok(Some(pass)) => passes.push(pass),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(table, %error, "archiving a table failed");
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(passes),
        }
    }

    async fn pass_table(&mut self, repo: &Repository, table: &str) -> Result<Option<ArchivePass>, BackupError> {
        // The source's time (the server's, for an endpoint): the archive's windows
        // are in the clock that stamps the changes, not this machine's.
        let Some(StreamEnd { stream_id, position: end, settled_at_us: checked_at }) = self.source.stream_end(table).await?
        else {
            self.streams.remove(table);
            return Ok(None);
        };
        let known = self.streams.get(table).filter(|s| s.stream_id == stream_id).cloned();
        let mut state = match known {
            Some(state) => state,
            None => self.resume_point(repo, table, &stream_id, end).await?,
        };
        let heartbeat_due = checked_at.saturating_sub(state.last_write_us) >= self.options.heartbeat.as_micros() as i64;
        let mut gap = false;
        let segment = match self.read_segment(table, &stream_id, state.position, end, checked_at).await? {
            Some(segment) => segment,
            None => {
                // The changes since the archived position are gone from the
                // stream: start again at its end, leaving a gap.
                gap = true;
                self.read_segment(table, &stream_id, end, end, checked_at)
                    .await?
                    .ok_or_else(|| BackupError::Internal(format!("table '{table}': the stream cannot be read")))?
            }
        };
        let written = if segment.0.changes > 0 || heartbeat_due || gap {
            let data = (segment.1.len() <= INLINE_BYTES).then(|| segment.1.clone());
            let written = write_segment(repo, segment, true).await?;
            state.position = written.1.to;
            state.last_write_us = checked_at;
            match data.filter(|_| written.1.inline.is_some() && !gap) {
                Some(data) => {
                    // An idle pass rewrites the empty segment at the same position.
                    if state.small.last().is_some_and(|(id, _, _)| *id == written.0) {
                        state.small.pop();
                    }
                    state.small.push((written.0.clone(), written.1.clone(), data));
                }
                None => state.small.clear(),
            }
            let held: usize = state.small.iter().map(|(_, _, data)| data.len()).sum();
            if state.small.len() >= self.options.compact_after.max(2) || held >= COMPACT_BYTES {
                compact(repo, std::mem::take(&mut state.small)).await?;
            }
            Some(written)
        } else {
            None
        };
        self.streams.insert(table.to_owned(), state);
        Ok((written.is_some() || gap).then(|| ArchivePass { table: table.to_owned(), segment: written, gap }))
    }

    /// Where archiving of a stream starts when this archiver has not seen it: after
    /// the last archived segment; else at the newest snapshot's position, so the
    /// restorable window starts with it; else at the stream's end.
    async fn resume_point(
        &self,
        repo: &Repository,
        table: &str,
        stream_id: &str,
        end: u64,
    ) -> Result<StreamState, BackupError> {
        let fresh = |position| StreamState {
            stream_id: stream_id.to_owned(),
            position,
            last_write_us: i64::MIN,
            small: Vec::new(),
        };
        if let Some(last) = list_segments(repo, stream_id).await?.iter().map(|n| n.to).max() {
            return Ok(fresh(last));
        }
        let snapshot_position = list_snapshots(repo)
            .await?
            .iter()
            .rev()
            .flat_map(|(_, s)| s.tables.iter())
            .filter(|t| t.name == table && t.stream_id.as_deref() == Some(stream_id))
            .filter(|t| t.consistency == Consistency::Exact)
            .find_map(|t| t.stream_position);
        Ok(fresh(snapshot_position.unwrap_or(end).min(end)))
    }

    /// Reads the changes in `[from, end)` (or the first `max_changes_per_segment`
    /// of them) into a segment and its serialized data; `None` when the stream no
    /// longer holds them.
    async fn read_segment(
        &self,
        table: &str,
        stream_id: &str,
        from: u64,
        end: u64,
        checked_at: i64,
    ) -> Result<Option<(ChangeSegment, Vec<u8>)>, BackupError> {
        let mut data = Vec::new();
        let mut segment = ChangeSegment {
            version: SEGMENT_VERSION,
            origin: self.source.origin(),
            table: table.to_owned(),
            stream_id: stream_id.to_owned(),
            from,
            to: from,
            changes: 0,
            first_time_us: None,
            last_time_us: None,
            complete_until_us: checked_at,
            data_bytes: 0,
            chunks: Vec::new(),
            inline: None,
            inline_sealed: false,
        };
        let max = self.options.max_changes_per_segment.max(1);
        while segment.to < end && (segment.changes as usize) < max && data.len() < MAX_SEGMENT_BYTES {
            let limit = (max - segment.changes as usize).min(1000);
            let Some(page) = self.source.read_changes(table, stream_id, segment.to, Some(end), limit).await? else {
                return Ok(None);
            };
            if page.next <= segment.to {
                let at = segment.to;
                return Err(BackupError::Internal(format!("table '{table}': the stream does not move past {at}")));
            }
            for change in &page.changes {
                segment.first_time_us.get_or_insert(change.time_us());
                segment.last_time_us = Some(change.time_us());
                encode_change(change, &mut data);
            }
            segment.changes += page.changes.len() as u64;
            segment.to = page.next;
        }
        if segment.to < end {
            // Stopped early: complete only up to the last change held (its
            // microsecond may hold more changes, not yet read).
            segment.complete_until_us = segment.last_time_us.map_or(checked_at, |t| t - 1).min(checked_at);
        }
        segment.data_bytes = data.len() as u64;
        Ok(Some((segment, data)))
    }
}

/// Serialized changes one segment holds at most, so an archiver's memory stays bounded.
const MAX_SEGMENT_BYTES: usize = 64 << 20;

/// Stores a segment: small ones (when `inline_allowed`) as one manifest holding
/// their data; others as chunks first, under a shared lock, then the manifest.
async fn write_segment(
    repo: &Repository,
    (mut segment, data): (ChangeSegment, Vec<u8>),
    inline_allowed: bool,
) -> Result<(String, ChangeSegment), BackupError> {
    let id = segment_id(&stream_tag(repo, &segment.stream_id), segment.from, segment.to);
    let save = |segment: &ChangeSegment| {
        serde_json::to_vec(segment).map_err(|e| BackupError::Internal(format!("segment: {e}")))
    };
    if inline_allowed && data.len() <= INLINE_BYTES {
        // No chunks, so nothing prune could take away meanwhile: no lock needed.
        segment.inline = Some(inline_encode(repo, &id, &data)?);
        segment.inline_sealed = true;
        repo.save_manifest_as(CHANGES, &id, &save(&segment)?).await?;
        return Ok((id, segment));
    }
    let lock = repo.lock(LockKind::Shared).await?;
    let stored = async {
        // The archiver keeps its repository open across passes without rereading
        // the index (a listing that grows with every snapshot): its chunks are
        // change data that others rarely share, so it stores them without
        // deduplicating against an index that a prune may have outdated.
        let mut writer = repo.writer_with(WriterOptions { dedup_with_index: false, ..WriterOptions::default() });
        let mut chunker = repo.chunker();
        let mut chunks = Vec::new();
        for chunk in chunker.push(&data).into_iter().chain(chunker.finish()) {
            chunks.push(writer.add(&chunk).await?);
        }
        writer.finish().await?;
        segment.chunks = chunks.iter().map(|c| crypto::hex(c)).collect();
        segment.inline = None;
        segment.inline_sealed = false;
        repo.save_manifest_as(CHANGES, &id, &save(&segment)?).await?;
        Ok::<_, BackupError>(())
    }
    .await;
    lock.release().await;
    stored?;
    Ok((id, segment))
}

/// Merges consecutive small segments into one packed segment: the merged manifest
/// is written first, then the small ones are deleted, so a crash in between leaves
/// overlapping segments, which readers skip through.
async fn compact(repo: &Repository, small: Vec<(String, ChangeSegment, Vec<u8>)>) -> Result<(), BackupError> {
    let (Some((_, first, _)), Some((_, last, _))) = (small.first(), small.last()) else { return Ok(()) };
    if small.len() < 2 || small.windows(2).any(|w| w[1].1.from != w[0].1.to) {
        return Ok(());
    }
    let data: Vec<u8> = small.iter().flat_map(|(_, _, data)| data.iter().copied()).collect();
    let merged = ChangeSegment {
        from: first.from,
        to: last.to,
        changes: small.iter().map(|(_, s, _)| s.changes).sum(),
        first_time_us: small.iter().find_map(|(_, s, _)| s.first_time_us),
        last_time_us: small.iter().rev().find_map(|(_, s, _)| s.last_time_us),
        complete_until_us: last.complete_until_us,
        data_bytes: data.len() as u64,
        chunks: Vec::new(),
        inline: None,
        inline_sealed: false,
        ..first.clone()
    };
    let (merged_id, _) = write_segment(repo, (merged, data), false).await?;
    let merged_away: Vec<String> = small.into_iter().map(|(id, _, _)| id).filter(|id| *id != merged_id).collect();
    repo.delete_manifests(CHANGES, &merged_away).await?;
    Ok(())
}
