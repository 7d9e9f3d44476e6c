//! What the backup API reads without starting a job: the snapshots and recovery
//! points of a destination, and the service's figures for `/metrics`; and the
//! notes people attach to snapshots and jobs to find them again.

use std::collections::HashMap;

use tablesafe_proto::backup_api::{
    Job, JobKind, JobState, ListRecoveryPointsRequest, ListRecoveryPointsResponse, ListSnapshotsRequest,
    ListSnapshotsResponse, SnapshotInfo, SnapshotInfoResponse, SnapshotPoint, SnapshotTable, TableRecoveryPoints,
    TimeGap, TimeSpan, UpdateJobNoteRequest, UpdateSnapshotInfoRequest,
};

use super::{lock, BackupService, JobFigures, ServiceMetrics};
use crate::{BackupError, Consistency};

impl BackupService {
    /// ListSnapshots.
    pub async fn list_snapshots(&self, request: ListSnapshotsRequest) -> Result<ListSnapshotsResponse, BackupError> {
        let repo = self.existing_repository(&self.destination_of(&request.from)?).await?;
        let mut notes = crate::notes::all_notes(&repo).await?;
        let mut checked = self.check_outcomes();
        let snapshots = crate::list_snapshots(&repo)
            .await?
            .into_iter()
            .filter(|(_, s)| request.only_plan.is_none() || s.plan == request.only_plan)
            .filter(|(_, s)| request.table.as_ref().is_none_or(|table| s.tables.iter().any(|t| &t.name == table)))
            .filter_map(|(id, s)| {
                let notes = notes.remove(&id).unwrap_or_default();
                let verified = checked.remove(&id);
                notes.has_all(&request.tags).then(|| snapshot_info(id, s, notes, verified))
            })
            .collect();
        Ok(ListSnapshotsResponse { snapshots })
    }

    /// Per snapshot, the outcome of the newest check of it in this server's
    /// history (a VerifyBackup job, or the backup's own check), from one pass
    /// over the history rather than one per snapshot listed.
    fn check_outcomes(&self) -> HashMap<String, bool> {
        let mut outcomes = HashMap::new();
        let checks = self.history.list(usize::MAX, |j| {
            (j.kind == JobKind::VerifyBackup || (j.kind == JobKind::Backup && j.verified.is_some())) && j.is_finished()
        });
        // Newest first: the first outcome seen of a snapshot is its newest.
        for job in checks {
            if let Some(snapshot) = job.snapshot {
                outcomes.entry(snapshot).or_insert(job.state == JobState::Succeeded && job.verified != Some(false));
            }
        }
        outcomes
    }

    /// UpdateSnapshotInfo: changes a snapshot's notes and answers with the snapshot.
    pub async fn update_snapshot_info(
        &self,
        request: UpdateSnapshotInfoRequest,
    ) -> Result<SnapshotInfoResponse, BackupError> {
        let repo = self.existing_repository(&self.destination_of(&request.from)?).await?;
        let wanted = request.snapshot.as_deref().unwrap_or(crate::manifest::LATEST);
        let (id, snapshot) = crate::load_snapshot_of(&repo, wanted, request.table.as_deref()).await?;
        let change = crate::NotesChange {
            description: request.description,
            tags: request.tags,
            add_tags: request.add_tags,
            remove_tags: request.remove_tags,
            protected: request.protected,
        };
        let notes = crate::notes::update_notes(&repo, &id, &change).await?;
        let verified = self.check_outcomes().remove(&id);
        Ok(SnapshotInfoResponse { snapshot: snapshot_info(id, snapshot, notes, verified) })
    }

    /// UpdateJobNote: records a person's note and outcome on a finished job.
    pub async fn update_job_note(&self, request: UpdateJobNoteRequest) -> Result<Job, BackupError> {
        let mut job = self
            .history
            .get(&request.job_id)
            .ok_or_else(|| BackupError::NotFound(format!("no job '{}'", request.job_id)))?;
        if !job.is_finished() {
            return Err(BackupError::Conflict(format!("job '{}' is running; note it once it has ended", job.id)));
        }
        for (what, text) in [("note", &request.note), ("outcome", &request.outcome)] {
            if text.as_ref().is_some_and(|t| t.len() > 4096) {
                return Err(BackupError::Invalid(format!("a job's {what} is at most 4096 bytes")));
            }
        }
        if let Some(note) = request.note {
            job.note = (!note.is_empty()).then_some(note);
        }
        if let Some(outcome) = request.outcome {
            job.outcome = (!outcome.is_empty()).then_some(outcome);
        }
        self.history.record(&job)?;
        Ok(job)
    }

    /// ListRecoveryPoints.
    pub async fn list_recovery_points(
        &self,
        request: ListRecoveryPointsRequest,
    ) -> Result<ListRecoveryPointsResponse, BackupError> {
        let repo = self.existing_repository(&self.destination_of(&request.from)?).await?;
        let snapshots = crate::list_snapshots(&repo).await?;
        let windows = crate::recovery_points(&repo, request.table.as_deref()).await?;
        let mut tables: Vec<TableRecoveryPoints> = Vec::new();
        let mut names: Vec<String> = snapshots
            .iter()
            .flat_map(|(_, s)| s.tables.iter().map(|t| t.name.clone()))
            .filter(|name| request.table.as_ref().is_none_or(|t| t == name))
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let windows: Vec<_> = windows.iter().filter(|w| w.table == name).collect();
            tables.push(TableRecoveryPoints {
                snapshots: snapshots
                    .iter()
                    .filter_map(|(id, s)| {
                        s.tables.iter().find(|t| t.name == name).map(|t| SnapshotPoint {
                            snapshot: id.clone(),
                            time_ms: s.time_ms,
                            exact: t.consistency == Consistency::Exact,
                        })
                    })
                    .collect(),
                // In whole milliseconds: every time_ms in a span restores.
                spans: windows
                    .iter()
                    .flat_map(|w| &w.spans)
                    .filter_map(|s| s.milliseconds().map(|(from_ms, to_ms)| TimeSpan { from_ms, to_ms }))
                    .collect(),
                gaps: windows
                    .iter()
                    .flat_map(|w| &w.gaps)
                    .map(|g| TimeGap { from_ms: g.after_us / 1000, to_ms: g.before_us / 1000, cause: g.cause.clone() })
                    .collect(),
                notes: windows
                    .iter()
                    .flat_map(|w| w.notes.iter().cloned().chain(w.spans.iter().filter_map(within_one_millisecond)))
                    .collect(),
                table: name,
            });
        }
        if let Some(table) = &request.table {
            if tables.is_empty() {
                return Err(BackupError::NotFound(format!("no snapshot holds table '{table}'")));
            }
        }
        Ok(ListRecoveryPointsResponse { tables })
    }

    /// Figures for `/metrics`.
    pub fn metrics(&self) -> ServiceMetrics {
        let last_success_ms: Vec<(String, Option<i64>)> =
            lock(&self.plans).iter().map(|s| (s.plan.name().to_owned(), s.last_success_ms)).collect();
        // A plan whose newest finished run did not succeed: what an alert on
        // backups that stopped working keys on, before the last success ages.
        let last_run_failed = last_success_ms
            .iter()
            .map(|(name, _)| {
                let last = self.history.list(1, |j| {
                    j.kind == JobKind::Backup && j.plan.as_deref() == Some(name.as_str()) && j.finished_ms.is_some()
                });
                let failed = last.first().is_some_and(|j| j.state != JobState::Succeeded);
                (name.clone(), failed)
            })
            .collect();
        let mut figures: HashMap<(&'static str, &'static str), JobFigures> = HashMap::new();
        self.history.for_each(|job| {
            let Some(finished) = job.finished_ms else { return };
            let state = match job.state {
                JobState::Succeeded => "succeeded",
                JobState::Failed => "failed",
                JobState::Interrupted => "interrupted",
                JobState::Running => return,
            };
            let kind = match job.kind {
                JobKind::Backup => "backup",
                JobKind::VerifyBackup => "verify-backup",
                JobKind::Restore => "restore",
                JobKind::VerifyRestore => "verify-restore",
            };
            let entry =
                figures.entry((kind, state)).or_insert_with(|| JobFigures { kind, state, ..JobFigures::default() });
            entry.count += 1;
            entry.seconds += (finished - job.started_ms).max(0) as f64 / 1000.0;
            entry.bytes += job.bytes;
        });
        let mut jobs: Vec<JobFigures> = figures.into_values().collect();
        jobs.sort_by_key(|f| (f.kind, f.state));
        let now = self.now_ms();
        let archive_lag_seconds = lock(&self.archived_ms)
            .iter()
            .map(|(plan, at)| (plan.clone(), (now - at).max(0) as f64 / 1000.0))
            .collect();
        ServiceMetrics { last_success_ms, last_run_failed, jobs, archive_lag_seconds }
    }
}

fn consistency_name(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Exact => "exact",
        _ => "fuzzy",
    }
}

/// A snapshot as the API shows it: its manifest, its notes and the outcome of
/// its newest check.
fn snapshot_info(id: String, s: crate::Snapshot, notes: crate::SnapshotNotes, verified: Option<bool>) -> SnapshotInfo {
    SnapshotInfo {
        time_ms: s.time_ms,
        plan: s.plan,
        origin: s.origin,
        added_bytes: s.added_bytes,
        tables: s
            .tables
            .into_iter()
            .map(|t| SnapshotTable {
                name: t.name,
                rows: t.rows,
                cells: t.cells,
                data_bytes: t.data_bytes,
                consistency: consistency_name(t.consistency).into(),
                stream_position: t.stream_position,
                digest: t.digest.root,
            })
            .collect(),
        description: notes.description,
        tags: notes.tags.into_iter().collect(),
        protected: notes.protected,
        verified,
        id,
    }
}

/// The note for a span no whole millisecond fits in.
fn within_one_millisecond(span: &crate::RestorableSpan) -> Option<String> {
    span.milliseconds().is_none().then(|| {
        format!(
            "the table is restorable only at {}, the instant a snapshot is exact at, not to the end of a \
             millisecond (no archived changes follow it): restore that snapshot by its id",
            crate::format_time_us(span.from_us)
        )
    })
}
