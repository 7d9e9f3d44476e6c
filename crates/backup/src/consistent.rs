//! Making a fuzzy export exact: a remote table is read with GetRange, which is not
//! a snapshot read, so each row is as it was at some moment of the scan. The
//! export records the stream's settled end `P` before the scan; once the rows are
//! stored, the stream's settled end `Q` after it is taken, the changes in `[P, Q)`
//! are read, and each row they touch is replayed to its state at `Q` and stored
//! in a *fixup* layer over the table's data. The table is then exact at `Q`, and
//! its digest is the digest of that state.
//!
//! Replaying every change from `P` on a row that already holds some of them is
//! correct because a change sets or removes cell versions outright (increments
//! are recorded as the put of their result): the last change to touch a version
//! decides it, whatever the row held before.
//!
//! Invariants: the data is read back through the repository (so the key must be
//! able to read data; a write-only key leaves the table fuzzy); the changes are
//! held in memory, at most [`MAX_CHANGES`] (more leaves the table fuzzy).

use tablesafe_proto::model::{PrimaryKey, Row};
use tablesafe_proto::plainbuffer;
use tablesafe_repo::{crypto, ChunkWriter, Repository};

use crate::changes::{apply_stored, Change};
use crate::digest::DigestBuilder;
use crate::read::SnapshotRows;
use crate::manifest::{FixupLayer, TableSnapshot};
use crate::source::{Consistency, StreamEnd, TableSource};
use crate::{format, BackupError};

/// Most changes made during a scan that are replayed to make it exact.
pub const MAX_CHANGES: usize = 1_000_000;

/// Makes `entry` (a fuzzy table just stored through `writer`) exact when the
/// source can tell stream positions; leaves it as it is otherwise. `flushed`
/// grows by the bytes of a writer finished on the way.
pub(crate) async fn settle<'r, S: TableSource>(
    repo: &'r Repository,
    source: &S,
    writer: &mut ChunkWriter,
    flushed: &mut u64,
    entry: &mut TableSnapshot,
) -> Result<(), BackupError> {
    let (Some(stream_id), Some(from)) = (entry.stream_id.clone(), entry.stream_position) else { return Ok(()) };
    if entry.consistency != Consistency::Fuzzy || !repo.can_read_data() {
        return Ok(());
    }
    let Some(StreamEnd { stream_id: current, position: to, settled_at_us: settled_at }) =
        source.stream_end(&entry.name).await?
    else {
        return Ok(());
    };
    if current != stream_id {
        return Ok(()); // The stream was disabled and enabled again meanwhile.
    }
    let mut changes: Vec<Change> = Vec::new();
    let mut position = from;
    while position < to {
        let Some(page) = source.read_changes(&entry.name, &stream_id, position, Some(to), 1000).await? else {
            return Ok(());
        };
        if page.next <= position || changes.len() + page.changes.len() > MAX_CHANGES {
            return Ok(());
        }
        changes.extend(page.changes);
        position = page.next;
    }
    entry.consistency = Consistency::Exact;
    entry.stream_position = Some(to);
    entry.position_time_us = Some(settled_at);
    if changes.is_empty() {
        return Ok(()); // Nothing changed while the scan ran: it is exact as it is.
    }
    // The layer must be readable before it is read back.
    let finished = std::mem::replace(writer, repo.writer());
    *flushed += finished.finish().await?.stored_bytes;

    let mut by_key: Vec<(PrimaryKey, Vec<Change>)> = Vec::new();
    {
        let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
        for change in changes {
            let key = plainbuffer::encode_primary_key(&change.row.primary_key);
            match index.get(&key) {
                Some(&at) => by_key[at].1.push(change),
                None => {
                    index.insert(key, by_key.len());
                    by_key.push((change.row.primary_key.clone(), vec![change]));
                }
            }
        }
    }
    by_key.sort_by(|a, b| a.0.cmp_values(&b.0));
    let max_versions = entry.definition.options.max_versions;
    let replayed = |row: Option<Row>, changes: &[Change]| {
        changes.iter().try_fold(row, |row, change| apply_stored(row, change.clone(), max_versions, &entry.name))
    };

    let mut rows = SnapshotRows::open(repo, "(this backup)", entry).await?;
    let mut digest = DigestBuilder::default();
    let mut fixup = FixupLayer { from, changes: 0, rows: 0, data_bytes: 0, chunks: Vec::new() };
    let mut chunker = repo.chunker();
    let mut chunk_ids = Vec::new();
    let mut buffer = Vec::new();
    let mut pending = by_key.into_iter().peekable();
    let mut next = rows.next().await?;
    loop {
        let take_row = match (&next, pending.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(row), Some((key, _))) => row.primary_key.cmp_values(key).is_lt(),
        };
        if take_row {
            if let Some(row) = next.take() {
                digest.add(&row);
            }
            next = rows.next().await?;
            continue;
        }
        let Some((key, changes)) = pending.next() else { break };
        let stored = match &next {
            Some(row) if row.primary_key.cmp_values(&key).is_eq() => next.take(),
            _ => None,
        };
        let existed = stored.is_some();
        fixup.changes += changes.len() as u64;
        match replayed(stored, &changes)? {
            Some(row) => {
                digest.add(&row);
                format::encode_row(&row, &mut buffer);
                fixup.rows += 1;
            }
            None if existed => {
                let marker = Row { primary_key: key, delete_marker: true, ..Row::default() };
                format::encode_row(&marker, &mut buffer);
                fixup.rows += 1;
            }
            None => {}
        }
        if next.is_none() {
            next = rows.next().await?;
        }
        if buffer.len() >= 1 << 20 {
            fixup.data_bytes += buffer.len() as u64;
            for chunk in chunker.push(&buffer) {
                chunk_ids.push(writer.add(&chunk).await?);
            }
            buffer.clear();
        }
    }
    fixup.data_bytes += buffer.len() as u64;
    for chunk in chunker.push(&buffer).into_iter().chain(chunker.finish()) {
        chunk_ids.push(writer.add(&chunk).await?);
    }
    fixup.chunks = chunk_ids.iter().map(|c| crypto::hex(c)).collect();
    let digest = digest.finish();
    entry.rows = digest.rows;
    entry.cells = digest.cells;
    entry.digest = digest;
    entry.fixup = Some(fixup);
    Ok(())
}
