//! The plans pages: list, one plan with its next and last run, the form that
//! creates and edits one (checked and refused exactly as CreateBackupPlan and
//! UpdateBackupPlan are), run now, delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use tablesafe_proto::backup_api::{
    Empty, JobResponse, ListBackupPlansResponse, Plan, PlanNameRequest, PlanRequest, PlanStatus, StartBackupRequest,
};

use super::session::Session;
use super::view::{self, escape};
use super::{field, refuse_post, Console, Failure, PostForm, Signed};

/// The keep-* fields of a plan, by form name.
const KEEP_COUNTS: [&str; 5] = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"];

/// The plan a form describes, or what is wrong with a field (before the API's own checks).
fn plan_of(form: &HashMap<String, String>, name: Option<&str>) -> Result<Plan, String> {
    let text = |key: &str| field(form, key).map(str::to_owned);
    let count = |key: &str| -> Result<Option<u32>, String> {
        field(form, key)
            .map(|v| v.parse::<u32>().map_err(|_| format!("{key} must be a whole number, not '{v}'")))
            .transpose()
    };
    let [keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly] = KEEP_COUNTS.map(count);
    Ok(Plan {
        name: name.map(str::to_owned).or_else(|| text("name")).unwrap_or_default(),
        tables: field(form, "tables")
            .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        every: text("every"),
        cron: text("cron"),
        timezone: text("timezone"),
        destination: text("destination").unwrap_or_default(),
        keep_last: keep_last?,
        keep_within: text("keep_within"),
        keep_hourly: keep_hourly?,
        keep_daily: keep_daily?,
        keep_weekly: keep_weekly?,
        keep_monthly: keep_monthly?,
        verify_data_percent: match field(form, "verify_data_percent") {
            None => 0,
            Some(v) => v.parse().map_err(|_| format!("verify_data_percent must be 0 to 100, not '{v}'"))?,
        },
        archive: form.contains_key("archive"),
        enabled: form.contains_key("enabled"),
    })
}

/// The plan form, filled with `plan`; `editing` keeps the name fixed.
fn plan_form(session: &Session, plan: &Plan, editing: bool, problem: Option<&str>) -> Markup {
    let action = if editing { format!("/plans/{}", escape(&plan.name)) } else { "/plans".to_owned() };
    let number = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    let keep = [plan.keep_last, plan.keep_hourly, plan.keep_daily, plan.keep_weekly, plan.keep_monthly];
    html! {
        @if let Some(problem) = problem { (view::error_box(problem)) }
        form #plan-form method="post" action=(action) {
            (view::csrf(session))
            label { "Name" input name="name" value=(plan.name) required readonly[editing] pattern="[A-Za-z0-9_-]{1,64}"; }
            label { "Tables (comma-separated names or patterns; empty for every table)"
                input name="tables" value=(plan.tables.join(", ")); }
            fieldset { legend { "Schedule (one of)" }
                label { "Every (e.g. 1h, 30m, 1d)" input name="every" value=(plan.every.as_deref().unwrap_or("")); }
                label { "Cron (e.g. 0 3 * * *)" input name="cron" value=(plan.cron.as_deref().unwrap_or("")); }
                label { "Time zone of the cron (e.g. Europe/Berlin)" input name="timezone" value=(plan.timezone.as_deref().unwrap_or("")); }
            }
            label { "Destination (a path under the backup root, an absolute path, or s3://, azblob://, gcs:// URL)"
                input name="destination" value=(plan.destination) required; }
            fieldset { legend { "Retention" }
                @for (name, value) in KEEP_COUNTS.iter().zip(keep) {
                    label { (name.replace('_', " ")) input name=(name) inputmode="numeric" value=(number(value)); }
                }
                label { "keep within (e.g. 72h)" input name="keep_within" value=(plan.keep_within.as_deref().unwrap_or("")); }
            }
            label { "Verify this % of the data after each backup"
                input name="verify_data_percent" inputmode="numeric" value=(plan.verify_data_percent); }
            label.check { input type="checkbox" name="archive" checked[plan.archive]; " Archive changes continuously (restore to any instant)" }
            label.check { input type="checkbox" name="enabled" checked[plan.enabled]; " Enabled (runs on its schedule)" }
            button #plan-submit type="submit" { @if editing { "Save plan" } @else { "Create plan" } }
        }
    }
}

/// A page with the plan form, answered with `status`.
fn form_page(session: &Session, plan: &Plan, editing: bool, status: StatusCode, problem: Option<&str>) -> Response {
    let title = if editing { format!("Edit plan {}", plan.name) } else { "New plan".to_owned() };
    let markup = view::page(Some(session), "plans", &title, plan_form(session, plan, editing, problem));
    (status, Html(markup.into_string())).into_response()
}

/// GET /plans.
pub(crate) async fn list(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let session = &signed.session;
    let plans = match console.call::<ListBackupPlansResponse>(session, "ListBackupPlans", &Empty {}).await {
        Ok(list) => list.plans,
        Err(failure) => return failure.page(session),
    };
    let body = html! {
        @if Console::may(session, "CreateBackupPlan") { p { a #new-plan.button href="/plans/new" { "New plan" } } }
        div.scroll { table #plans {
            thead { tr { th { "Plan" } th { "Tables" } th { "Schedule" } th { "Destination" } th { "Archive" }
                th { "Next run" } th { "Last run" } th { "Last success" } } }
            tbody { @for status in &plans {
                @let plan = &status.plan;
                tr data-plan=(plan.name) {
                    td { a href=(format!("/plans/{}", escape(&plan.name))) { (plan.name) }
                        @if !plan.enabled { " " span.warn { "disabled" } } }
                    td { @if plan.tables.is_empty() { "every table" } @else { (plan.tables.join(", ")) } }
                    td { (schedule(plan)) }
                    td { code { (plan.destination) } }
                    td { @if plan.archive { "on" } @else { "off" } }
                    td { @if status.running { "running now" } @else { (view::maybe_time(status.next_run_ms)) } }
                    td { (last_run(status)) }
                    td { (view::maybe_time(status.last_success_ms)) }
                }
            } }
        } }
    };
    view::ok(view::page(Some(session), "plans", "Backup plans", body))
}

fn schedule(plan: &Plan) -> String {
    match (&plan.every, &plan.cron) {
        (Some(every), _) => format!("every {every}"),
        (None, Some(cron)) => {
            format!("cron {cron}{}", plan.timezone.as_ref().map(|z| format!(" ({z})")).unwrap_or_default())
        }
        (None, None) => "—".into(),
    }
}

fn last_run(status: &PlanStatus) -> Markup {
    html! {
        @match &status.last_run {
            None => "never",
            Some(job) => {
                a href=(format!("/jobs/{}", escape(&job.id))) { (super::jobs::state_name(job.state)) }
                " " (view::maybe_time(job.finished_ms.or(Some(job.started_ms))))
                @if let Some(error) = &job.error { br; span.error-text { (error) } }
            }
        }
    }
}

/// GET /plans/new.
pub(crate) async fn new_form(signed: Signed) -> Response {
    form_page(&signed.session, &Plan::default(), false, StatusCode::OK, None)
}

/// GET /plans/{name}/edit.
pub(crate) async fn edit_form(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(name): Path<String>,
) -> Response {
    match describe(&console, &signed.session, &name).await {
        Ok(status) => form_page(&signed.session, &status.plan, true, StatusCode::OK, None),
        Err(failure) => failure.page(&signed.session),
    }
}

async fn describe(console: &Console, session: &Session, name: &str) -> Result<PlanStatus, Failure> {
    console.call(session, "DescribeBackupPlan", &PlanNameRequest { name: name.to_owned() }).await
}

/// GET /plans/{name}.
pub(crate) async fn show(State(console): State<Arc<Console>>, signed: Signed, Path(name): Path<String>) -> Response {
    let session = &signed.session;
    let status = match describe(&console, session, &name).await {
        Ok(status) => status,
        Err(failure) => return failure.page(session),
    };
    let plan = &status.plan;
    let path = format!("/plans/{}", escape(&plan.name));
    let body = html! {
        dl.facts {
            dt { "Tables" } dd { @if plan.tables.is_empty() { "every table" } @else { (plan.tables.join(", ")) } }
            dt { "Schedule" } dd { (schedule(plan)) @if !plan.enabled { " (disabled)" } }
            dt { "Destination" } dd { code { (plan.destination) } }
            dt { "Retention" } dd { (retention(plan)) }
            dt { "Archive" } dd { @if plan.archive { "continuous: restorable to any instant" } @else { "off: snapshots only" } }
            dt { "Next run" } dd #next-run { @if status.running { "running now" } @else { (view::maybe_time(status.next_run_ms)) } }
            dt { "Last run" } dd #last-run { (last_run(&status)) }
            dt { "Last success" } dd { (view::maybe_time(status.last_success_ms)) }
        }
        div.actions {
            @if Console::may(session, "StartBackup") {
                form #run-now method="post" action=(format!("{path}/run")) {
                    (view::csrf(session)) button #run-now-submit type="submit" { "Run now" } }
            }
            @if Console::may(session, "UpdateBackupPlan") { a #edit-plan.button href=(format!("{path}/edit")) { "Edit" } }
            @if Console::may(session, "DeleteBackupPlan") {
                form #delete-plan method="post" action=(format!("{path}/delete"))
                    onsubmit="return confirm('Delete this plan? Its backups stay in the repository.')" {
                    (view::csrf(session)) button.danger type="submit" { "Delete" } }
            }
            a href=(format!("/jobs?plan={}", escape(&plan.name))) { "Its jobs" }
            a href=(format!("/repository?plan={}", escape(&plan.name))) { "Its repository" }
        }
    };
    view::ok(view::page(Some(session), "plans", &format!("Plan {}", plan.name), body))
}

fn retention(plan: &Plan) -> String {
    let counts = [
        ("last", plan.keep_last),
        ("hourly", plan.keep_hourly),
        ("daily", plan.keep_daily),
        ("weekly", plan.keep_weekly),
        ("monthly", plan.keep_monthly),
    ];
    let mut rules: Vec<String> = counts.iter().filter_map(|(n, v)| v.map(|v| format!("{v} {n}"))).collect();
    if let Some(within) = &plan.keep_within {
        rules.push(format!("everything within {within}"));
    }
    if rules.is_empty() {
        "keep everything".into()
    } else {
        format!("keep {}", rules.join(", "))
    }
}

/// POST /plans: CreateBackupPlan.
pub(crate) async fn create(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    PostForm(form): PostForm,
) -> Response {
    save(&console, &signed, &headers, &form, None).await
}

/// POST /plans/{name}: UpdateBackupPlan.
pub(crate) async fn update(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(name): Path<String>,
    PostForm(form): PostForm,
) -> Response {
    save(&console, &signed, &headers, &form, Some(&name)).await
}

async fn save(
    console: &Console,
    signed: &Signed,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    editing: Option<&str>,
) -> Response {
    if let Some(refused) = refuse_post(signed, headers, form) {
        return refused;
    }
    let session = &signed.session;
    let plan = match plan_of(form, editing) {
        Ok(plan) => plan,
        Err(problem) => {
            let mut shown = Plan { name: field(form, "name").unwrap_or_default().to_owned(), ..Plan::default() };
            shown.destination = field(form, "destination").unwrap_or_default().to_owned();
            return form_page(session, &shown, editing.is_some(), StatusCode::BAD_REQUEST, Some(&problem));
        }
    };
    let action = if editing.is_some() { "UpdateBackupPlan" } else { "CreateBackupPlan" };
    match console.call::<PlanStatus>(session, action, &PlanRequest { plan: plan.clone() }).await {
        Ok(status) => Redirect::to(&format!("/plans/{}", escape(&status.plan.name))).into_response(),
        Err(failure) if failure.code == tablesafe_proto::ErrorCode::AuthFailed => failure.page(session),
        Err(failure) => form_page(session, &plan, editing.is_some(), failure.status(), Some(&failure.text())),
    }
}

/// POST /plans/{name}/run: StartBackup of the plan.
pub(crate) async fn run(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(name): Path<String>,
    PostForm(form): PostForm,
) -> Response {
    if let Some(refused) = refuse_post(&signed, &headers, &form) {
        return refused;
    }
    let request = StartBackupRequest { plan: Some(name), ..StartBackupRequest::default() };
    match console.call::<JobResponse>(&signed.session, "StartBackup", &request).await {
        Ok(answer) => Redirect::to(&format!("/jobs/{}", escape(&answer.job.id))).into_response(),
        Err(failure) => failure.page(&signed.session),
    }
}

/// POST /plans/{name}/delete: DeleteBackupPlan.
pub(crate) async fn delete(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(name): Path<String>,
    PostForm(form): PostForm,
) -> Response {
    if let Some(refused) = refuse_post(&signed, &headers, &form) {
        return refused;
    }
    match console.call::<Empty>(&signed.session, "DeleteBackupPlan", &PlanNameRequest { name }).await {
        Ok(Empty {}) => Redirect::to("/plans").into_response(),
        Err(failure) => failure.page(&signed.session),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_form_becomes_the_plan_it_shows() {
        let plan = plan_of(
            &form(&[
                ("name", " nightly "),
                ("tables", "orders, users_*,"),
                ("every", "1d"),
                ("cron", ""),
                ("destination", "repo"),
                ("keep_daily", "7"),
                ("keep_within", "72h"),
                ("verify_data_percent", "10"),
                ("archive", "on"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(plan.name, "nightly");
        assert_eq!(plan.tables, ["orders", "users_*"]);
        assert_eq!((plan.every.as_deref(), plan.cron.as_deref()), (Some("1d"), None));
        assert_eq!((plan.keep_daily, plan.keep_last, plan.keep_within.as_deref()), (Some(7), None, Some("72h")));
        assert_eq!(plan.verify_data_percent, 10);
        assert!(plan.archive && !plan.enabled, "an unchecked box is absent from the form");
        // Editing keeps the name of the URL, whatever the form says.
        assert_eq!(plan_of(&form(&[("name", "other")]), Some("nightly")).unwrap().name, "nightly");
        let problem = plan_of(&form(&[("keep_last", "three")]), None).unwrap_err();
        assert_eq!(problem, "keep_last must be a whole number, not 'three'");
    }
}
