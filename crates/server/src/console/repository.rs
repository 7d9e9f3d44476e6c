//! The repository page (stored and logical size, deduplication and compression,
//! the snapshots) and the charts page (backup durations and bytes per run from
//! the job history; archive lag over time from samples of the service's
//! figures, taken every [`LAG_EVERY`] and kept for a day).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use tablesafe_proto::backup_api::{
    Destination, Empty, JobKind, JobState, ListBackupPlansResponse, ListJobsRequest, ListJobsResponse,
    ListSnapshotsRequest, ListSnapshotsResponse,
};

use super::svg::{self, Bar};
use super::view::{self, escape};
use super::{field, Console, Failure, Signed};

/// How often the archive lag is sampled.
pub const LAG_EVERY: Duration = Duration::from_secs(10);

/// Lag samples kept: a day's worth.
const LAG_KEPT: usize = 24 * 60 * 60 / 10;

/// One sample: when (ms), and each archiving plan's lag in seconds.
type LagSample = (i64, Vec<(String, f64)>);

/// Archive lag per plan over time, oldest first.
#[derive(Debug, Default)]
pub(crate) struct LagSamples {
    samples: Mutex<VecDeque<LagSample>>,
}

impl LagSamples {
    fn push(&self, ms: i64, lag: Vec<(String, f64)>) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == LAG_KEPT {
            samples.pop_front();
        }
        samples.push_back((ms, lag));
    }

    /// The samples as one series per plan.
    fn series(&self) -> Vec<(String, Vec<(i64, f64)>)> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_plan: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
        for (ms, lags) in samples.iter() {
            for (plan, seconds) in lags {
                match by_plan.iter_mut().find(|(p, _)| p == plan) {
                    Some((_, series)) => series.push((*ms, *seconds)),
                    None => by_plan.push((plan.clone(), vec![(*ms, *seconds)])),
                }
            }
        }
        by_plan
    }
}

/// Samples the archive lag of `console`'s service until the console is gone.
pub(crate) async fn sample_lag(console: Weak<Console>) {
    let mut every = tokio::time::interval(LAG_EVERY);
    loop {
        every.tick().await;
        let Some(console) = console.upgrade() else { return };
        if let Some(service) = &console.backup {
            console.lag.push(console.server.clock.now_millis(), service.metrics().archive_lag_seconds);
        }
    }
}

/// GET /repository?plan=: what the plan's repository holds.
pub(crate) async fn show(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = &signed.session;
    let plans = match console.call::<ListBackupPlansResponse>(session, "ListBackupPlans", &Empty {}).await {
        Ok(list) => list.plans,
        Err(failure) => return failure.page(session),
    };
    let chosen = field(&query, "plan").map(str::to_owned).or_else(|| plans.first().map(|p| p.plan.name.clone()));
    let from = Destination { plan: chosen.clone(), destination: None };
    let snapshots = match &chosen {
        Some(_) => Some(
            console
                .call::<ListSnapshotsResponse>(
                    session,
                    "ListSnapshots",
                    &ListSnapshotsRequest { from: from.clone(), ..ListSnapshotsRequest::default() },
                )
                .await,
        ),
        None => None,
    };
    // Listing snapshots took the key's permission to read the catalog; the
    // figures come from the same repository.
    let stats = match (&snapshots, &console.backup) {
        (Some(Ok(_)), Some(service)) => Some(service.repository_stats(&from).await.map_err(|e| e.to_string())),
        _ => None,
    };
    let body = html! {
        @if plans.len() > 1 {
            p.plans { "Plan: " @for p in &plans {
                a.plan-choice.active[Some(&p.plan.name) == chosen.as_ref()]
                    href=(format!("/repository?plan={}", escape(&p.plan.name))) { (p.plan.name) } " "
            } }
        }
        @if chosen.is_none() { p { "No backup plans, so no repositories yet." } }
        @if let Some(plan) = plans.iter().find(|p| Some(&p.plan.name) == chosen.as_ref()) {
            p { "Destination: " code { (plan.plan.destination) } }
        }
        @match &stats {
            Some(Ok(stats)) => {
                dl.facts.figures {
                    dt { "Stored" } dd #stored-bytes { (view::bytes(stats.stored_bytes)) " in " (stats.objects) " objects" }
                    dt { "Logical (what the snapshots and archive hold)" } dd #logical-bytes { (view::bytes(stats.logical_bytes)) }
                    dt { "Deduplication" } dd #dedup-ratio { (format!("{:.2}×", stats.dedup_ratio)) }
                    dt { "Compression" } dd #compression-ratio { (format!("{:.2}×", stats.compression_ratio)) }
                    dt { "Chunks" } dd { (stats.chunks) " in " (stats.packs) " packs (" (view::bytes(stats.unique_bytes)) " before compression)" }
                    dt { "Archived changes" } dd { (stats.archived_changes) " in " (stats.change_segments) " segments" }
                }
            }
            Some(Err(error)) => { (view::error_box(error)) }
            None => {}
        }
        @match &snapshots {
            Some(Ok(list)) => {
                h2 { "Snapshots" }
                @if list.snapshots.is_empty() { p { "None yet: run the plan." } }
                div.scroll { table #snapshots {
                    thead { tr { th { "Time" } th { "Snapshot" } th { "Tables" } th.num { "Rows" } th.num { "Added" }
                        th { "Verified" } th { "Notes" } } }
                    tbody { @for s in list.snapshots.iter().rev() {
                        tr data-snapshot=(s.id) {
                            td { (view::time(s.time_ms)) }
                            td { code { (s.id) } }
                            td { @for t in &s.tables {
                                a href=(format!("/tables/{}?plan={}", escape(&t.name), escape(chosen.as_deref().unwrap_or("")))) { (t.name) }
                                " (" (t.consistency) ") "
                            } }
                            td.num { (s.tables.iter().map(|t| t.rows).sum::<u64>()) }
                            td.num { (view::bytes(s.added_bytes)) }
                            td { @match s.verified { Some(true) => "yes", Some(false) => span.error-text { "failed" }, None => "—" } }
                            td { @if s.protected { "protected " } (s.description.as_deref().unwrap_or("")) " " (s.tags.join(", ")) }
                        }
                    } }
                } }
            }
            Some(Err(failure)) => { (view::error_box(&Failure::text(failure))) }
            None => {}
        }
    };
    view::ok(view::page(Some(session), "repository", "Repository", body))
}

/// GET /charts: backup durations and bytes per run, archive lag over time.
pub(crate) async fn charts(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let session = &signed.session;
    let request = ListJobsRequest { kind: Some(JobKind::Backup), limit: Some(60), ..ListJobsRequest::default() };
    let jobs = match console.call::<ListJobsResponse>(session, "ListJobs", &request).await {
        Ok(list) => list.jobs,
        Err(failure) => return failure.page(session),
    };
    let finished: Vec<_> = jobs.iter().rev().filter(|j| j.is_finished()).collect();
    let bar = |value: f64, job: &tablesafe_proto::backup_api::Job| Bar {
        label: format!("{} {} ({})", job.plan.as_deref().unwrap_or("job"), view::time(job.started_ms), job.id),
        value,
        ok: job.state == JobState::Succeeded,
    };
    let durations: Vec<Bar> =
        finished.iter().map(|j| bar((j.finished_ms.unwrap_or(j.started_ms) - j.started_ms) as f64, j)).collect();
    let sizes: Vec<Bar> = finished.iter().map(|j| bar(j.bytes as f64, j)).collect();
    let lag = console.lag.series();
    let body = html! {
        h2 { "Backup duration per run" }
        (svg::bars("chart-durations", &durations, |ms| view::duration(ms as i64)))
        h2 { "Bytes per run" }
        (svg::bars("chart-bytes", &sizes, |b| view::bytes(b as u64)))
        h2 { "Archive lag" }
        (svg::lines("chart-lag", &lag, |s| format!("{s:.1} s")))
        @if !lag.is_empty() {
            p.legend { @for (i, (plan, _)) in lag.iter().enumerate() { span class=(format!("series-key series-{}", i % 4)) { (plan) } " " } }
        }
        p.hint { "The last " (finished.len()) " finished backup runs, oldest left; failed runs in red. Lag is sampled every "
            (LAG_EVERY.as_secs()) " s while the console runs." }
    };
    view::ok(view::page(Some(session), "charts", "Charts", body))
}
