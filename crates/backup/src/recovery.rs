//! Recovery points: for each table, the times it can be restored to. A snapshot
//! exact at a stream position can be restored as of the time its position was
//! reached, and, with the archived changes that follow it without a gap, as of any
//! later time they cover; the union of these intervals is the table's window, and
//! what lies between them are gaps, each with its cause.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tablesafe_repo::Repository;

use crate::archive::{list_segments, load_segment, segments_named, ChangeSegment, SegmentName, CHANGES};
use crate::manifest::list_snapshots;
use crate::source::Consistency;
use crate::BackupError;

/// A span of time a table can be restored to, µs since the epoch (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorableSpan {
    /// First restorable time.
    pub from_us: i64,
    /// Last restorable time.
    pub to_us: i64,
}

impl RestorableSpan {
    /// The whole milliseconds a restore can be asked for in this span, first and
    /// last: a time given in milliseconds restores to that millisecond's end
    /// ([`crate::end_of_millisecond_us`]), so a millisecond qualifies when its end
    /// lies in the span. `None` when none does: a snapshot with no archived
    /// changes after it is exact at one microsecond, not at the end of one
    /// millisecond (it restores by its id).
    pub fn milliseconds(&self) -> Option<(i64, i64)> {
        let first = self.from_us.div_euclid(1000);
        let last = self.to_us.saturating_add(1).div_euclid(1000) - 1;
        (first <= last).then_some((first, last))
    }
}

/// A time between spans that cannot be restored to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryGap {
    /// The gap begins after this time.
    pub after_us: i64,
    /// The gap ends before this time.
    pub before_us: i64,
    /// Why.
    pub cause: String,
}

/// The restorable window of one table from one origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryWindow {
    /// The table.
    pub table: String,
    /// Where it was backed up from.
    pub origin: String,
    /// Snapshots of the table from there.
    pub snapshots: usize,
    /// Earliest restorable time, if any.
    pub earliest_us: Option<i64>,
    /// Latest restorable time, if any.
    pub latest_us: Option<i64>,
    /// Restorable spans, in time order.
    pub spans: Vec<RestorableSpan>,
    /// Gaps between the spans.
    pub gaps: Vec<RecoveryGap>,
    /// Snapshots that cannot start a restore to a time, and why (fuzzy, no stream).
    pub notes: Vec<String>,
}

/// A snapshot's stream, position and the time that position was reached.
type RestoreStart = (String, u64, i64);

/// The windows of every table (or only `table`), sorted by table and origin.
pub async fn recovery_points(repo: &Repository, table: Option<&str>) -> Result<Vec<RecoveryWindow>, BackupError> {
    let mut windows: BTreeMap<(String, String), RecoveryWindow> = BTreeMap::new();
    // Per (table, origin): the snapshots that can start a restore to a time.
    let mut starts: BTreeMap<(String, String), Vec<RestoreStart>> = BTreeMap::new();
    for (id, snapshot) in list_snapshots(repo).await? {
        for entry in snapshot.tables.iter().filter(|t| table.is_none_or(|name| t.name == name)) {
            let key = (entry.name.clone(), snapshot.origin.clone());
            let window = windows.entry(key.clone()).or_insert_with(|| RecoveryWindow {
                table: entry.name.clone(),
                origin: snapshot.origin.clone(),
                snapshots: 0,
                earliest_us: None,
                latest_us: None,
                spans: Vec::new(),
                gaps: Vec::new(),
                notes: Vec::new(),
            });
            window.snapshots += 1;
            let short = id.get(..8).unwrap_or(&id);
            match (&entry.stream_id, entry.stream_position, entry.position_time_us, entry.consistency) {
                (Some(stream), Some(position), Some(time), Consistency::Exact) => {
                    starts.entry(key).or_default().push((stream.clone(), position, time));
                }
                (None, ..) => window.notes.push(format!(
                    "snapshot {short}: the table had no stream or archived change log then, so it restores only as the \
                     snapshot holds it"
                )),
                _ => window.notes.push(format!(
                    "snapshot {short} is fuzzy (read while writes went on): it restores only as the snapshot holds it"
                )),
            }
        }
    }
    // Snapshots the catalog records but the repository lacks: their tables are unknown.
    let lost_snapshots = repo.recorded_missing(crate::manifest::SNAPSHOTS).await?;
    for window in windows.values_mut() {
        for id in &lost_snapshots {
            window.notes.push(format!(
                "snapshot {id} is missing from the repository (its catalog records it): if it held this table, the \
                 times it made restorable are gone"
            ));
        }
    }
    // Segments the catalog records but the repository lacks, read once for every stream.
    let lost_segments = repo.recorded_missing(CHANGES).await?;
    let mut segments_of: BTreeMap<String, (Vec<ChangeSegment>, Vec<SegmentName>)> = BTreeMap::new();
    for (key, points) in starts {
        let mut spans = Vec::new();
        // Where a span ends because a recorded segment is missing: its end time → the cause.
        let mut broken: BTreeMap<i64, String> = BTreeMap::new();
        for (stream, position, time) in points {
            if !segments_of.contains_key(&stream) {
                let mut loaded = Vec::new();
                for name in list_segments(repo, &stream).await? {
                    loaded.push(load_segment(repo, &name.id).await?);
                }
                segments_of.insert(stream.clone(), (loaded, segments_named(repo, &stream, &lost_segments)));
            }
            let (segments, missing) = &segments_of[&stream];
            let (covered, reached) = covered_until(segments, position);
            let to_us = covered.unwrap_or(time).max(time);
            if let Some(lost) = missing.iter().find(|m| m.from <= reached && reached < m.to) {
                broken.insert(
                    to_us,
                    format!(
                        "change segment changes/{} (stream positions {} to {}) is missing from the repository (its \
                         catalog records it)",
                        lost.id, lost.from, lost.to
                    ),
                );
            }
            spans.push(RestorableSpan { from_us: time, to_us });
        }
        let window = windows.get_mut(&key).ok_or_else(|| BackupError::Internal("recovery window lost".into()))?;
        spans.sort_by_key(|s| (s.from_us, s.to_us));
        for span in spans {
            match window.spans.last_mut() {
                Some(last) if span.from_us <= last.to_us => last.to_us = last.to_us.max(span.to_us),
                _ => window.spans.push(span),
            }
        }
        window.gaps = window
            .spans
            .windows(2)
            .map(|pair| RecoveryGap {
                after_us: pair[0].to_us,
                before_us: pair[1].from_us,
                cause: broken.get(&pair[0].to_us).cloned().unwrap_or_else(|| {
                    "no archived changes reach from the earlier point to the next snapshot (the archiver was not \
                     running, or the stream dropped changes before they were archived)"
                        .into()
                }),
            })
            .collect();
        if let Some(cause) = window.spans.last().and_then(|last| broken.get(&last.to_us)) {
            window.notes.push(format!("the window ends early: {cause}"));
        }
        window.earliest_us = window.spans.first().map(|s| s.from_us);
        window.latest_us = window.spans.last().map(|s| s.to_us);
    }
    Ok(windows.into_values().collect())
}

/// How far the archive covers the stream from `position` without a gap: the last
/// `complete_until_us` of the chain of segments that starts there, and the stream
/// position the chain reaches.
fn covered_until(segments: &[ChangeSegment], position: u64) -> (Option<i64>, u64) {
    let mut at = position;
    let mut covered = None;
    for segment in segments {
        if segment.to < at {
            continue; // Before the position: nothing it proves is needed.
        }
        if segment.from > at {
            break;
        }
        at = at.max(segment.to);
        covered = covered.max(Some(segment.complete_until_us));
    }
    (covered, at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::RestorableSpan;
    use crate::end_of_millisecond_us;

    #[test]
    fn a_span_in_milliseconds_holds_each_millisecond_whose_end_it_covers() {
        let span = |from_us, to_us| RestorableSpan { from_us, to_us }.milliseconds();
        // A snapshot alone, exact at one microsecond: no millisecond's end.
        assert_eq!(span(5_271_400, 5_271_400), None);
        // Covered to 5.272999 s: 5271 and 5272 both end inside.
        assert_eq!(span(5_271_400, 5_272_999), Some((5_271, 5_272)));
        assert_eq!(span(5_271_400, 5_272_998), Some((5_271, 5_271)));
        assert_eq!(span(5_271_999, 5_271_999), Some((5_271, 5_271)));
        for (from_us, to_us) in [(0, 999), (1_000, 1_000_000), (-1_500, 2_000)] {
            let (first, last) = span(from_us, to_us).unwrap();
            for ms in [first, last] {
                let end = end_of_millisecond_us(ms);
                assert!(from_us <= end && end <= to_us, "{ms} ms in [{from_us}, {to_us}] µs");
            }
            assert!(end_of_millisecond_us(last + 1) > to_us, "{} ms would reach past {to_us}", last + 1);
        }
    }
}
