//! The tables page (each table's size, stream and archive state, the plans that
//! cover it, its last backup and newest restorable time), a table's recovery
//! timeline, and the restore started from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use tablesafe_backup::service::plans::ValidPlan;
use tablesafe_proto::backup_api::{
    Destination, Empty, Job, JobKind, JobResponse, JobState, ListBackupPlansResponse, ListJobsRequest,
    ListJobsResponse, ListRecoveryPointsRequest, ListRecoveryPointsResponse, PlanStatus, StartRestoreRequest,
    TableRecoveryPoints, VerifyRestoreRequest,
};

use super::svg::{self, Window};
use super::view::{self, escape};
use super::{field, refuse_post, Console, PostForm, Signed};

/// What the tables page shows of one table's backups.
#[derive(Debug, Default)]
struct Coverage {
    plans: Vec<String>,
    archived_by: Vec<String>,
    last_backup_ms: Option<i64>,
    restorable_until_ms: Option<i64>,
}

/// The newest time `points` can restore to: the end of its last archived
/// window, or its newest snapshot.
fn restorable_until(points: &TableRecoveryPoints) -> Option<i64> {
    points.spans.iter().map(|s| s.to_ms).chain(points.snapshots.iter().map(|s| s.time_ms)).max()
}

/// Whether plan `status` covers table `name`.
fn covers(status: &PlanStatus, name: &str) -> bool {
    ValidPlan::new(status.plan.clone()).is_ok_and(|plan| !plan.tables(&[name.to_owned()]).is_empty())
}

/// The plans, or none when the server runs no backup service.
async fn plans(console: &Console, signed: &Signed) -> Vec<PlanStatus> {
    match console.call::<ListBackupPlansResponse>(&signed.session, "ListBackupPlans", &Empty {}).await {
        Ok(list) => list.plans,
        Err(_) => Vec::new(),
    }
}

/// GET /tables.
pub(crate) async fn list(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let engine = &console.server.engine;
    let plans = plans(&console, &signed).await;
    let jobs = console
        .call::<ListJobsResponse>(
            &signed.session,
            "ListJobs",
            &ListJobsRequest { kind: Some(JobKind::Backup), limit: Some(1000), ..ListJobsRequest::default() },
        )
        .await
        .map(|r| r.jobs)
        .unwrap_or_default();
    let mut coverage: BTreeMap<String, Coverage> = BTreeMap::new();
    let names = engine.list_tables();
    for name in &names {
        let entry = coverage.entry(name.clone()).or_default();
        for status in plans.iter().filter(|s| covers(s, name)) {
            entry.plans.push(status.plan.name.clone());
            if status.plan.archive {
                entry.archived_by.push(status.plan.name.clone());
            }
        }
        entry.last_backup_ms = jobs
            .iter()
            .filter(|j| j.state == JobState::Succeeded && j.tables.contains(name))
            .filter_map(|j| j.finished_ms)
            .max();
    }
    for status in &plans {
        let request = ListRecoveryPointsRequest {
            from: Destination { plan: Some(status.plan.name.clone()), destination: None },
            table: None,
        };
        // A plan that has not run yet has no repository: nothing to restore from.
        let Ok(points) =
            console.call::<ListRecoveryPointsResponse>(&signed.session, "ListRecoveryPoints", &request).await
        else {
            continue;
        };
        for table in &points.tables {
            if let Some(entry) = coverage.get_mut(&table.table) {
                entry.restorable_until_ms = entry.restorable_until_ms.max(restorable_until(table));
            }
        }
    }
    let body = html! {
        @if names.is_empty() {
            p { "No tables yet. Create one with an SDK or " code { "tablesafe" } "." }
        } @else {
            div.scroll {
                table #tables {
                    thead { tr {
                        th { "Table" } th.num { "Rows (≈)" } th.num { "Size (≈)" } th { "Stream" } th { "Archive" }
                        th { "Plans" } th { "Last backup" } th { "Restorable until" }
                    } }
                    tbody {
                        @for name in &names {
                            @let info = engine.table(name).ok();
                            @let cover = &coverage[name];
                            tr data-table=(name) {
                                td { a.table-link href=(format!("/tables/{}", escape(name))) { (name) } }
                                td.num { (engine.estimate_rows(name).ok().flatten().map_or("—".to_owned(), |n| n.to_string())) }
                                td.num { (engine.approximate_bytes(name).map_or("—".to_owned(), view::bytes)) }
                                td { @if info.as_ref().is_some_and(|i| i.stream.enabled) { "on" } @else { "off" } }
                                td {
                                    @if cover.archived_by.is_empty() { "not archived" }
                                    @else { "by " (cover.archived_by.join(", ")) }
                                }
                                td {
                                    @if cover.plans.is_empty() { span.warn { "no plan" } }
                                    @for plan in &cover.plans {
                                        a.plan-link href=(format!("/plans/{}", escape(plan))) { (plan) } " "
                                    }
                                }
                                td { (view::maybe_time(cover.last_backup_ms)) }
                                td { (view::maybe_time(cover.restorable_until_ms)) }
                            }
                        }
                    }
                }
            }
            p.hint { "Rows and sizes are RocksDB's estimates of flushed data." }
        }
    };
    view::ok(view::page(Some(&signed.session), "tables", "Tables", body))
}

/// A query's integer parameter.
fn query_ms(query: &HashMap<String, String>, name: &str) -> Option<i64> {
    query.get(name).and_then(|v| v.parse().ok())
}

/// GET /tables/{name}: the table's recovery timeline through one of its plans
/// (`?plan=`), zoomed to `?from=&to=`, and the restore form.
pub(crate) async fn timeline(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = &signed.session;
    let all_plans = plans(&console, &signed).await;
    let covering: Vec<String> = all_plans.iter().filter(|s| covers(s, &name)).map(|s| s.plan.name.clone()).collect();
    let chosen = query.get("plan").cloned().or_else(|| covering.first().cloned());
    let now_ms = console.server.clock.now_millis();
    let points = match &chosen {
        Some(plan) => {
            let request = ListRecoveryPointsRequest {
                from: Destination { plan: Some(plan.clone()), destination: None },
                table: Some(name.clone()),
            };
            Some(
                console
                    .call::<ListRecoveryPointsResponse>(session, "ListRecoveryPoints", &request)
                    .await
                    .map(|mut r| r.tables.pop().unwrap_or_default()),
            )
        }
        None => None,
    };
    let empty = TableRecoveryPoints { table: name.clone(), ..TableRecoveryPoints::default() };
    let shown = match &points {
        Some(Ok(points)) => points,
        _ => &empty,
    };
    let window = match (query_ms(&query, "from"), query_ms(&query, "to")) {
        (Some(from_ms), Some(to_ms)) if from_ms < to_ms => Window { from_ms, to_ms },
        _ => Window::around(shown, now_ms),
    };
    let link = |w: Window| {
        format!(
            "/tables/{}?plan={}&from={}&to={}",
            escape(&name),
            escape(chosen.as_deref().unwrap_or("")),
            w.from_ms,
            w.to_ms
        )
    };
    let plan_query = chosen.as_deref().map(|p| format!("?plan={}", escape(p))).unwrap_or_default();
    let may_restore = Console::may(session, "StartRestore");
    let body = html! {
        @if covering.len() > 1 {
            p.plans { "Through plan: "
                @for plan in &covering {
                    a.plan-choice.active[Some(plan) == chosen.as_ref()] href=(format!("/tables/{}?plan={}", escape(&name), escape(plan))) { (plan) } " "
                }
            }
        }
        @match (&chosen, &points) {
            (None, _) => { p.warn { "No backup plan covers this table: it cannot be restored. Create a plan on the Plans page." } }
            (Some(_), Some(Err(failure))) => { (view::error_box(&failure.text())) }
            _ => {}
        }
        p { "Restorable until: " strong #restorable-until { (view::maybe_time(restorable_until(shown))) } }
        div.zoom {
            a #zoom-in href=(link(window.zoomed(0.25))) { "Zoom in" }
            a #zoom-out href=(link(window.zoomed(4.0))) { "Zoom out" }
            a #zoom-all href=(format!("/tables/{}{plan_query}", escape(&name))) { "All" }
            span.hint { "Click the timeline to choose an instant." }
        }
        (svg::timeline(shown, window, now_ms))
        div.legend {
            span.key-snapshot { "snapshot" } span.key-span { "archived changes: any instant" } span.key-gap { "gap" }
        }
        @if !shown.gaps.is_empty() {
            h2 { "Gaps" }
            ul #gaps { @for gap in &shown.gaps { li { (view::time(gap.from_ms)) " – " (view::time(gap.to_ms)) ": " (gap.cause) } } }
        }
        @for note in &shown.notes { p.hint { (note) } }
        @if may_restore && chosen.is_some() {
            h2 { "Restore" }
            form #restore-form method="post" action="/restore" {
                (view::csrf(session))
                input type="hidden" name="table" value=(name);
                label { "Plan" select name="plan" {
                    @for plan in &covering { option value=(plan) selected[Some(plan) == chosen.as_ref()] { (plan) } }
                    @if let Some(plan) = chosen.as_ref().filter(|c| !covering.contains(c)) { option value=(plan) selected { (plan) } }
                } }
                label { "Instant (RFC 3339 or ms since the epoch)"
                    input name="instant" placeholder="2026-12-07T18:00:00.123Z" autocomplete="off"; }
                label { "or snapshot" select name="snapshot" {
                    option value="" { "— (use the instant)" }
                    @for s in shown.snapshots.iter().rev() { option value=(s.snapshot) { (view::time(s.time_ms)) " · " (s.snapshot) } }
                } }
                label { "New table (optional)" input name="target" placeholder=(format!("{name}_restored_…")) autocomplete="off"; }
                button #restore-submit type="submit" { "Restore into a new table" }
                p.hint { "The restore is checked with verify-restore as soon as it finishes." }
            }
        }
        @if !shown.snapshots.is_empty() {
            h2 { "Snapshots" }
            div.scroll { table #table-snapshots {
                thead { tr { th { "Time" } th { "Snapshot" } th { "Consistency" } } }
                tbody { @for s in shown.snapshots.iter().rev() {
                    tr data-snapshot=(s.snapshot) { td { (view::time(s.time_ms)) } td { code { (s.snapshot) } }
                        td { @if s.exact { "exact" } @else { "fuzzy (exact with the archive)" } } }
                } }
            } }
        }
    };
    view::ok(view::page(Some(session), "tables", &format!("Table {name}"), body))
}

/// POST /restore: starts a restore into a new table, and its verify-restore once it succeeds.
pub(crate) async fn restore(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    PostForm(form): PostForm,
) -> Response {
    if let Some(refused) = refuse_post(&signed, &headers, &form) {
        return refused;
    }
    let session = &signed.session;
    // The role first: a key that may not restore learns nothing from the form's checks.
    if let Err(failure) = super::authorize(session, "StartRestore") {
        return failure.page(session);
    }
    let bad = |text: String| view::failure_page(Some(session), StatusCode::BAD_REQUEST, "Restore not started", &text);
    let Some(table) = field(&form, "table") else { return bad("Which table? The form names none.".into()) };
    let time_ms = match field(&form, "instant").map(tablesafe_backup::parse_time_us) {
        None => None,
        Some(Ok(us)) => Some(us.div_euclid(1000)),
        Some(Err(e)) => return bad(format!("The instant is {e}.")),
    };
    let request = StartRestoreRequest {
        from: Destination { plan: field(&form, "plan").map(str::to_owned), destination: None },
        table: table.to_owned(),
        snapshot: field(&form, "snapshot").map(str::to_owned),
        time_ms,
        target: field(&form, "target").map(str::to_owned),
        overwrite: false,
    };
    let job = match console.call::<JobResponse>(session, "StartRestore", &request).await {
        Ok(answer) => answer.job,
        Err(failure) => return failure.page(session),
    };
    verify_when_done(&console, session.clone(), &job);
    Redirect::to(&format!("/jobs/{}", escape(&job.id))).into_response()
}

/// Starts restore `job`'s verify-restore, as `session`'s key, once it has succeeded.
fn verify_when_done(console: &Arc<Console>, session: super::session::Session, job: &Job) {
    let Some(service) = console.backup.clone() else { return };
    let console = Arc::clone(console);
    let id = job.id.clone();
    console.pending_verify(&id, true);
    tokio::spawn(async move {
        if let Ok(done) = service.finished_job(&id).await {
            if done.state == JobState::Succeeded {
                let request = VerifyRestoreRequest { job_id: id.clone() };
                if let Err(failure) = console.call::<JobResponse>(&session, "VerifyRestore", &request).await {
                    tracing::warn!(job = id, error = failure.text(), "the console could not start a verify-restore");
                }
            }
        }
        console.pending_verify(&id, false);
    });
}
