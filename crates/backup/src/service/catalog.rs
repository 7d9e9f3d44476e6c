//! What the backup API reads without starting a job: the snapshots and recovery
//! points of a destination, and the service's figures for `/metrics`.

use std::collections::HashMap;

use tablesafe_proto::backup_api::{
    JobKind, JobState, ListRecoveryPointsRequest, ListRecoveryPointsResponse, ListSnapshotsRequest,
    ListSnapshotsResponse, SnapshotInfo, SnapshotPoint, SnapshotTable, TableRecoveryPoints, TimeGap, TimeSpan,
};

use super::{lock, now_ms, BackupService, JobFigures, ServiceMetrics};
use crate::{BackupError, Consistency};

impl BackupService {
    /// ListSnapshots.
    pub async fn list_snapshots(&self, request: ListSnapshotsRequest) -> Result<ListSnapshotsResponse, BackupError> {
        let repo = self.existing_repository(&self.destination_of(&request.from)?).await?;
        let snapshots = crate::list_snapshots(&repo)
            .await?
            .into_iter()
            .filter(|(_, s)| request.only_plan.is_none() || s.plan == request.only_plan)
            .map(|(id, s)| SnapshotInfo {
                id,
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
            })
            .collect();
        Ok(ListSnapshotsResponse { snapshots })
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
                spans: windows
                    .iter()
                    .flat_map(|w| &w.spans)
                    .map(|s| TimeSpan { from_ms: s.from_us / 1000, to_ms: s.to_us / 1000 })
                    .collect(),
                gaps: windows
                    .iter()
                    .flat_map(|w| &w.gaps)
                    .map(|g| TimeGap { from_ms: g.after_us / 1000, to_ms: g.before_us / 1000, cause: g.cause.clone() })
                    .collect(),
                notes: windows.iter().flat_map(|w| w.notes.iter().cloned()).collect(),
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
        let now = now_ms();
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
