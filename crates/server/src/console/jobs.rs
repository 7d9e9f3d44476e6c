//! The jobs pages: the history with filters, one job with its live progress
//! (Server-Sent Events from `/jobs/{id}/events`, one event per change of the
//! job history, at most [`EVENT_EVERY`] apart) and its outcome, and the
//! verify-restore of a restore.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use tablesafe_proto::backup_api::{
    Job, JobIdRequest, JobKind, JobResponse, JobState, JobTrigger, ListJobsRequest, ListJobsResponse,
    VerifyRestoreRequest,
};

use super::view::{self, escape};
use super::{field, refuse_post, Console, PostForm, Signed};

/// The shortest time between two progress events of one job.
pub const EVENT_EVERY: Duration = Duration::from_millis(250);

/// A job state as the API spells it.
pub(crate) fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Interrupted => "interrupted",
    }
}

/// A job kind as the API spells it.
pub(crate) fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Backup => "backup",
        JobKind::VerifyBackup => "verify-backup",
        JobKind::Restore => "restore",
        JobKind::VerifyRestore => "verify-restore",
    }
}

fn kind_of(name: &str) -> Option<JobKind> {
    [JobKind::Backup, JobKind::VerifyBackup, JobKind::Restore, JobKind::VerifyRestore]
        .into_iter()
        .find(|k| kind_name(*k) == name)
}

/// What a page and an event show of a job's progress.
#[derive(Debug, serde::Serialize)]
struct Progress {
    state: &'static str,
    finished: bool,
    rows: u64,
    rows_total: Option<u64>,
    bytes: u64,
    rate: String,
    eta: String,
    elapsed: String,
    error: Option<String>,
    /// The verify-restore of a restore, once started.
    verify_job: Option<String>,
    /// Whether the page should keep listening (a restore whose verify-restore is still to start).
    waiting: bool,
}

fn progress(job: &Job, now_ms: i64, verify_job: Option<String>, waiting: bool) -> Progress {
    let elapsed_ms = job.finished_ms.unwrap_or(now_ms) - job.started_ms;
    let per_second = |n: u64| if elapsed_ms > 0 { n as f64 * 1000.0 / elapsed_ms as f64 } else { 0.0 };
    let (rows_per_s, bytes_per_s) = (per_second(job.rows), per_second(job.bytes));
    let eta = match job.rows_total {
        Some(total) if !job.is_finished() && rows_per_s > 0.0 && total > job.rows => {
            view::duration(((total - job.rows) as f64 / rows_per_s * 1000.0) as i64)
        }
        _ if job.is_finished() => "done".into(),
        _ => "—".into(),
    };
    Progress {
        state: state_name(job.state),
        finished: job.is_finished(),
        rows: job.rows,
        rows_total: job.rows_total,
        bytes: job.bytes,
        rate: format!("{:.0} rows/s, {}/s", rows_per_s, view::bytes(bytes_per_s as u64)),
        eta,
        elapsed: view::duration(elapsed_ms),
        error: job.error.clone(),
        verify_job,
        waiting,
    }
}

/// The verify-restore job of restore `id`, if one was started.
async fn verify_job_of(console: &Console, signed: &Signed, id: &str) -> Option<Job> {
    let request =
        ListJobsRequest { kind: Some(JobKind::VerifyRestore), limit: Some(200), ..ListJobsRequest::default() };
    let jobs = console.call::<ListJobsResponse>(&signed.session, "ListJobs", &request).await.ok()?;
    jobs.jobs.into_iter().find(|j| j.restore_job.as_deref() == Some(id))
}

/// GET /jobs: the history, filtered by `?plan=&kind=&state=`.
pub(crate) async fn list(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = &signed.session;
    let plan = field(&query, "plan");
    let kind = field(&query, "kind");
    let state = field(&query, "state");
    let request = ListJobsRequest { plan: plan.map(str::to_owned), kind: kind.and_then(kind_of), limit: Some(500) };
    let jobs = match console.call::<ListJobsResponse>(session, "ListJobs", &request).await {
        Ok(list) => list.jobs,
        Err(failure) => return failure.page(session),
    };
    let jobs: Vec<&Job> = jobs.iter().filter(|j| state.is_none_or(|s| state_name(j.state) == s)).collect();
    let now_ms = console.server.clock.now_millis();
    let body = html! {
        form.filters #job-filters method="get" action="/jobs" {
            label { "Plan" input name="plan" value=(plan.unwrap_or("")); }
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for k in ["backup", "verify-backup", "restore", "verify-restore"] { option value=(k) selected[kind == Some(k)] { (k) } }
            } }
            label { "State" select name="state" {
                option value="" { "any" }
                @for s in ["running", "succeeded", "failed", "interrupted"] { option value=(s) selected[state == Some(s)] { (s) } }
            } }
            button type="submit" { "Filter" }
        }
        @if jobs.is_empty() { p { "No jobs match." } }
        div.scroll { table #jobs {
            thead { tr { th { "Job" } th { "Kind" } th { "State" } th { "Plan" } th { "Tables" } th { "Started" }
                th { "Took" } th.num { "Rows" } th.num { "Bytes" } th { "Outcome" } } }
            tbody { @for job in &jobs {
                tr data-job=(job.id) data-kind=(kind_name(job.kind)) data-state=(state_name(job.state)) {
                    td { a href=(format!("/jobs/{}", escape(&job.id))) { code { (job.id) } } }
                    td { (kind_name(job.kind)) }
                    td { span class=(format!("state state-{}", state_name(job.state))) { (state_name(job.state)) } }
                    td { (job.plan.as_deref().unwrap_or("—")) }
                    td { (job.tables.join(", ")) @if let Some(t) = &job.target_table { " → " (t) } }
                    td { (view::time(job.started_ms)) }
                    td { (view::duration(job.finished_ms.unwrap_or(now_ms) - job.started_ms)) }
                    td.num { (job.rows) }
                    td.num { (view::bytes(job.bytes)) }
                    td { @if let Some(error) = &job.error { span.error-text { (error) } }
                         @else if let Some(v) = job.verified { @if v { "verified" } @else { "differs" } } }
                }
            } }
        } }
    };
    view::ok(view::page(Some(session), "jobs", "Jobs", body))
}

/// GET /jobs/{id}.
pub(crate) async fn show(State(console): State<Arc<Console>>, signed: Signed, Path(id): Path<String>) -> Response {
    let session = &signed.session;
    let job = match console.call::<JobResponse>(session, "DescribeJob", &JobIdRequest { job_id: id.clone() }).await {
        Ok(answer) => answer.job,
        Err(failure) => return failure.page(session),
    };
    let verify = if job.kind == JobKind::Restore { verify_job_of(&console, &signed, &id).await } else { None };
    let waiting = console.verify_pending(&id) && verify.is_none();
    let now = progress(&job, console.server.clock.now_millis(), verify.as_ref().map(|j| j.id.clone()), waiting);
    let live = !job.is_finished() || waiting;
    let title = format!("{} job {}", kind_name(job.kind), job.id);
    let body = html! {
        div #job data-job=(job.id) data-live=[live.then_some("1")] {
            p.status { "State: " strong #job-state data-state=(now.state) class=(format!("state state-{}", now.state)) { (now.state) } }
            @if let Some(total) = job.rows_total {
                progress #job-progress max=(total) value=(job.rows.min(total)) {}
            } @else if job.is_finished() {
                progress #job-progress max="1" value="1" {}
            } @else {
                progress #job-progress {}
            }
            dl.facts {
                dt { "Kind" } dd #job-kind { (kind_name(job.kind)) }
                dt { "Plan" } dd { @if let Some(plan) = &job.plan { a href=(format!("/plans/{}", escape(plan))) { (plan) } } @else { "—" } }
                dt { "Tables" } dd { (job.tables.join(", ")) }
                @if let Some(target) = &job.target_table { dt { "Into table" } dd #job-target { (target) } }
                @if let Some(ms) = job.to_time_ms { dt { "To the instant" } dd { (view::time(ms)) } }
                @if let Some(snapshot) = &job.snapshot { dt { "Snapshot" } dd { code { (snapshot) } } }
                dt { "Started" } dd { (view::time(job.started_ms)) " (" (trigger_name(job.trigger)) ")" }
                dt { "Elapsed" } dd #job-elapsed { (now.elapsed) }
                dt { "Rows" } dd #job-rows { (now.rows) @if let Some(total) = now.rows_total { " of " (total) } }
                dt { "Bytes" } dd #job-bytes { (view::bytes(now.bytes)) }
                dt { "Rate" } dd #job-rate { (now.rate) }
                dt { "ETA" } dd #job-eta { (now.eta) }
                @if let Some(digest) = &job.digest { dt { "Digest" } dd { code { (digest) } } }
                @if !job.forgotten.is_empty() { dt { "Retention forgot" } dd { (job.forgotten.join(", ")) } }
            }
            @if let Some(error) = &job.error { (view::error_box(error)) p #job-error hidden { (error) } }
            @if job.kind == JobKind::VerifyRestore || job.kind == JobKind::VerifyBackup {
                @if let Some(verified) = job.verified.filter(|_| job.is_finished()) {
                    p { "Result: " strong #verify-result class=(if verified { "ok" } else { "bad" }) {
                        @if verified { "equal" } @else { "different" } } }
                    @if !verified {
                        ul #differences {
                            @if let Some(error) = &job.error { li { (error) } }
                            @for line in &job.differences { li { (line) } }
                        }
                    }
                }
                @if let Some(restore) = &job.restore_job {
                    p { "Checks restore " a href=(format!("/jobs/{}", escape(restore))) { code { (restore) } } }
                }
            }
            @if job.kind == JobKind::Restore {
                @if let Some(verify) = &verify {
                    p { "Verify-restore: " a #verify-job href=(format!("/jobs/{}", escape(&verify.id))) { code { (verify.id) } }
                        " " span class=(format!("state state-{}", state_name(verify.state))) { (state_name(verify.state)) } }
                } @else if waiting {
                    p #verify-waiting { "Its verify-restore starts when the restore ends." }
                } @else if job.state == JobState::Succeeded && Console::may(session, "VerifyRestore") {
                    form #verify-restore method="post" action=(format!("/jobs/{}/verify-restore", escape(&job.id))) {
                        (view::csrf(session)) button #verify-restore-submit type="submit" { "Verify restore" } }
                }
            }
        }
    };
    view::ok(view::page(Some(session), "jobs", &title, body))
}

/// GET /jobs/{id}/events: the job's progress as Server-Sent Events until it
/// ends (and, for a restore the console verifies, until its verify-restore starts).
pub(crate) async fn events(State(console): State<Arc<Console>>, signed: Signed, Path(id): Path<String>) -> Response {
    let Some(service) = console.backup.clone() else {
        return super::view::failure_page(Some(&signed.session), axum::http::StatusCode::NOT_FOUND, "No jobs", "");
    };
    // The same permission as DescribeJob: the first call refuses a key without it.
    if let Err(failure) =
        console.call::<JobResponse>(&signed.session, "DescribeJob", &JobIdRequest { job_id: id.clone() }).await
    {
        return failure.page(&signed.session);
    }
    let changes = service.job_changes();
    let stream = futures::stream::unfold(
        (Some(changes), console, signed, id, false),
        move |(changes, console, signed, id, first_sent)| {
            let service = service.clone();
            async move {
                let mut changes = changes?;
                if first_sent {
                    tokio::time::sleep(EVENT_EVERY).await;
                    // Wait for the next change of the history (or the server stopping).
                    changes.changed().await.ok()?;
                }
                let job = service.describe_job(JobIdRequest { job_id: id.clone() }).await.ok()?;
                let verify =
                    if job.kind == JobKind::Restore { verify_job_of(&console, &signed, &id).await } else { None };
                let waiting = console.verify_pending(&id) && verify.is_none();
                let now = progress(&job, console.server.clock.now_millis(), verify.map(|j| j.id), waiting);
                let last = now.finished && !now.waiting;
                let event = Event::default().event("progress").json_data(&now).ok()?;
                let next = if last { None } else { Some(changes) };
                Some((Ok::<_, Infallible>(event), (next, console, signed, id, true)))
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// POST /jobs/{id}/verify-restore: VerifyRestore of a restore job.
pub(crate) async fn verify_restore(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    PostForm(form): PostForm,
) -> Response {
    if let Some(refused) = refuse_post(&signed, &headers, &form) {
        return refused;
    }
    match console.call::<JobResponse>(&signed.session, "VerifyRestore", &VerifyRestoreRequest { job_id: id }).await {
        Ok(answer) => Redirect::to(&format!("/jobs/{}", escape(&answer.job.id))).into_response(),
        Err(failure) => failure.page(&signed.session),
    }
}

/// Why a job ran, in words.
fn trigger_name(trigger: JobTrigger) -> &'static str {
    match trigger {
        JobTrigger::Request => "asked for",
        JobTrigger::Schedule => "on schedule",
        JobTrigger::CatchUp => "catching up a missed run",
        JobTrigger::Retry => "retry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_rate_and_time_left() {
        let job = Job { started_ms: 0, rows: 500, rows_total: Some(1500), bytes: 1000 * 1024, ..Job::default() };
        let now = progress(&job, 10_000, None, false);
        assert_eq!((now.state, now.finished), ("running", false));
        assert_eq!(now.rate, "50 rows/s, 100.0 KiB/s");
        assert_eq!(now.eta, "20.0 s");
        let done = Job { state: JobState::Succeeded, finished_ms: Some(4_000), ..job };
        let now = progress(&done, 10_000, Some("v1".into()), false);
        assert_eq!((now.eta.as_str(), now.elapsed.as_str(), now.verify_job.as_deref()), ("done", "4.0 s", Some("v1")));
        assert_eq!(kind_of("verify-restore"), Some(JobKind::VerifyRestore));
        assert_eq!(kind_of("snapshot"), None);
    }
}
