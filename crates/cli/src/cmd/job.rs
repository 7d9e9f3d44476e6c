//! `tablesafe job ...`: the job history of a running server's backup service
//! (plan runs, snapshot checks, restores and their checks, as `plan` starts them
//! or the scheduler runs them), through its backup API: list, show, wait for a
//! job, and check a restore. Not to be confused with `tablesafe jobs --repo`
//! (`jobs.rs`), which lists the records the repository commands keep in a
//! repository.
//!
//! Also what `plan` shares for the jobs it starts: waiting with a progress bar
//! ([`started_or_waited`]) and printing a job's outcome, which is the command's
//! exit status: a job that failed, was interrupted or whose check found a
//! difference is an error with a hint.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Serialize;
use tablesafe_client::{Job, JobKind, JobState, ListJobsRequest, UpdateJobNoteRequest};

use super::plan::Server;
use super::{block_on, print_json, rfc3339, short_id, Failure};
use crate::args::{JobCommand, JobIdArgs, JobKindArg, JobListArgs, JobNoteArgs, JobVerifyRestoreArgs};

/// The hint for an unknown job.
const JOBS_HINT: &str = "`tablesafe job list` lists the jobs";

/// First and longest sleep between two looks at a job being waited for.
const FIRST_POLL: Duration = Duration::from_millis(50);
const LONGEST_POLL: Duration = Duration::from_millis(500);

pub fn run(command: JobCommand) -> anyhow::Result<()> {
    match command {
        JobCommand::List(args) => list(args),
        JobCommand::Show(args) => show(args, false),
        JobCommand::Wait(args) => show(args, true),
        JobCommand::VerifyRestore(args) => verify_restore(args),
        JobCommand::Note(args) => note(args),
    }
}

/// A job's kind as the API and `job list --kind` name it.
pub fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Backup => "backup",
        JobKind::VerifyBackup => "verify-backup",
        JobKind::Restore => "restore",
        JobKind::VerifyRestore => "verify-restore",
    }
}

/// A job's state as the API names it.
pub fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Interrupted => "interrupted",
    }
}

fn kind_of(kind: JobKindArg) -> JobKind {
    match kind {
        JobKindArg::Backup => JobKind::Backup,
        JobKindArg::VerifyBackup => JobKind::VerifyBackup,
        JobKindArg::Restore => JobKind::Restore,
        JobKindArg::VerifyRestore => JobKind::VerifyRestore,
    }
}

/// Prints rows (the first is the header) in columns two spaces apart.
pub fn print_table(rows: &[Vec<String>]) -> anyhow::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}

/// A job as `--json` prints it: the API's [`Job`] and readable times.
#[derive(Serialize)]
pub struct JobJson<'a> {
    #[serde(flatten)]
    job: &'a Job,
    started: String,
    finished: Option<String>,
    to_time: Option<String>,
}

impl JobJson<'_> {
    pub fn new(job: &Job) -> JobJson<'_> {
        JobJson {
            job,
            started: rfc3339(job.started_ms, true),
            finished: job.finished_ms.map(|ms| rfc3339(ms, true)),
            to_time: job.to_time_ms.map(|ms| rfc3339(ms, true)),
        }
    }
}

/// For a job a command just started: prints it (`wait` false), or waits for it
/// with a progress bar on a terminal and prints how it ended, failing when it did.
/// `plan` is the plan the command named, for the hints.
pub async fn started_or_waited(
    server: &Server,
    job: Job,
    wait: bool,
    json: bool,
    plan: Option<&str>,
) -> anyhow::Result<()> {
    if !wait {
        if json {
            return print_json(&JobJson::new(&job));
        }
        outln!("{}", started(&job))?;
        return outln!("  `tablesafe job wait {}` waits for it and prints how it ended", job.id);
    }
    let job = wait_for(server, job, json).await?;
    report(&job, json, true, plan)
}

/// What a command says when it has started `job`.
fn started(job: &Job) -> String {
    let what = match job.kind {
        JobKind::Backup => match &job.plan {
            Some(plan) => format!("backing up plan {plan}"),
            None => "backing up".to_owned(),
        },
        JobKind::VerifyBackup => match &job.snapshot {
            Some(snapshot) => format!("checking snapshot {snapshot}"),
            None => "checking the newest snapshot".to_owned(),
        },
        JobKind::Restore => {
            format!("restoring {} into table {}", job.tables.join(", "), job.target_table.as_deref().unwrap_or("-"))
        }
        JobKind::VerifyRestore => format!("checking table {}", job.target_table.as_deref().unwrap_or("-")),
    };
    format!("{} job {} started: {what}", kind_name(job.kind), job.id)
}

/// `job` once it has ended, with a progress bar on stderr meanwhile (on a
/// terminal, without `--json`).
async fn wait_for(server: &Server, mut job: Job, json: bool) -> anyhow::Result<Job> {
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar =
            ProgressBar::no_length().with_style(style("{spinner} {prefix:.bold} {human_pos} rows{msg} ({elapsed})"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut poll = FIRST_POLL;
    while !job.is_finished() {
        if let Some(bar) = &bar {
            show_progress(bar, &job);
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(LONGEST_POLL);
        job = server.client.describe_job(&job.id).await.map_err(|e| server.error(e, JOBS_HINT))?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(job)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn show_progress(bar: &ProgressBar, job: &Job) {
    let what = job.target_table.clone().unwrap_or_else(|| job.tables.join(","));
    bar.set_prefix(format!("{} {what}", kind_name(job.kind)).trim_end().to_owned());
    if let Some(total) = job.rows_total {
        if bar.length() != Some(total) {
            bar.set_length(total);
            bar.set_style(
                style("{prefix:.bold} [{wide_bar}] {human_pos}/{human_len} rows{msg} ({per_sec:0}, eta {eta})")
                    .progress_chars("=> "),
            );
        }
    }
    bar.set_position(job.rows);
    if job.bytes > 0 {
        bar.set_message(format!(", {}", HumanBytes(job.bytes)));
    }
}

/// Prints `job`; with `fail`, a job that did not succeed is an error, with a hint
/// naming `plan` (else the job's plan).
fn report(job: &Job, json: bool, fail: bool, plan: Option<&str>) -> anyhow::Result<()> {
    if json {
        print_json(&JobJson::new(job))?;
    } else {
        print_job(job)?;
    }
    if !fail {
        return Ok(());
    }
    let kind = kind_name(job.kind);
    let error = job.error.as_deref();
    let plan = plan.or(job.plan.as_deref()).unwrap_or("NAME");
    let (message, hint) = match (job.state, job.verified) {
        (JobState::Succeeded, Some(false)) => {
            (format!("{kind} job {}: the check found a difference", job.id), failure_hint(job, plan))
        }
        (JobState::Succeeded | JobState::Running, _) => return Ok(()),
        (JobState::Interrupted, _) => (
            format!("{kind} job {} was interrupted: {}", job.id, error.unwrap_or("the server stopped during the job")),
            "the server stopped while the job ran; start it again".to_owned(),
        ),
        (JobState::Failed, _) => (
            format!("{kind} job {} failed: {}", job.id, error.unwrap_or("no error was recorded")),
            failure_hint(job, plan),
        ),
    };
    Err(Failure::new(message, hint).into())
}

/// What to do about a job of plan `plan` that failed or found a difference.
fn failure_hint(job: &Job, plan: &str) -> String {
    let error = job.error.as_deref().unwrap_or_default();
    let damaged = job.verified == Some(false) || error.contains("damaged") || error.contains("match");
    match job.kind {
        JobKind::Backup => format!(
            "check the plan's destination and tables with `tablesafe plan show {plan}`; the server's log says more"
        ),
        JobKind::VerifyBackup if error.contains("no snapshot") => {
            format!("`tablesafe plan run {plan} --wait` makes a snapshot; `tablesafe plan snapshots {plan}` lists them")
        }
        JobKind::VerifyBackup if damaged => "the snapshot's data in the repository is missing or damaged: take a new \
                                             backup, and restore from another snapshot meanwhile"
            .to_owned(),
        JobKind::VerifyBackup => format!(
            "`tablesafe plan snapshots {plan} --all` lists the snapshots of the destination; the server's log says more"
        ),
        JobKind::Restore if error.contains("already exists") => {
            "pass --as NEW to restore into another table, or --overwrite to write into this one".to_owned()
        }
        JobKind::Restore => format!(
            "`tablesafe plan points {plan} --table {}` lists where the table can be restored to; the server's log says \
             more",
            job.tables.first().map_or("TABLE", String::as_str)
        ),
        JobKind::VerifyRestore if damaged => {
            "the table changed since it was restored, or was damaged: restore it again to get the backup's rows"
                .to_owned()
        }
        JobKind::VerifyRestore => "check that the restored table still exists (`tablesafe job show ID` names it); \
                                   the server's log says more"
            .to_owned(),
    }
}

/// The first line of a job's description: what it did, or how it failed.
fn headline(job: &Job) -> String {
    let kind = kind_name(job.kind);
    let snapshot = job.snapshot.as_deref().map_or("-", short_id);
    let target = job.target_table.as_deref().unwrap_or("-");
    match job.state {
        JobState::Running => format!("{kind} job {} is running: {} rows so far", job.id, job.rows),
        JobState::Failed => format!("{kind} job {} failed: {}", job.id, job.error.as_deref().unwrap_or("-")),
        JobState::Interrupted => format!("{kind} job {} was interrupted by the server's stop", job.id),
        JobState::Succeeded => match job.kind {
            JobKind::Backup if job.snapshot.is_none() => {
                format!("{kind} job {} succeeded: no table to back up, no snapshot", job.id)
            }
            JobKind::Backup => format!(
                "{kind} job {} succeeded: snapshot {snapshot}, {} rows, {} added",
                job.id,
                job.rows,
                HumanBytes(job.bytes)
            ),
            JobKind::VerifyBackup => format!(
                "{kind} job {} succeeded: snapshot {snapshot} read back, its {} rows match their digests",
                job.id, job.rows
            ),
            JobKind::Restore => format!(
                "{kind} job {} succeeded: {} restored into table {target}, {} rows",
                job.id,
                job.tables.join(", "),
                job.rows
            ),
            JobKind::VerifyRestore => {
                format!("{kind} job {} succeeded: table {target} holds the {} rows its restore wrote", job.id, job.rows)
            }
        },
    }
}

/// A job, one field a line.
fn print_job(job: &Job) -> anyhow::Result<()> {
    outln!("{}", headline(job))?;
    let field = |name: &str, value: &str| outln!("  {:<14} {value}", format!("{name}:"));
    if let Some(plan) = &job.plan {
        field("plan", plan)?;
    }
    let trigger = match job.trigger {
        tablesafe_client::JobTrigger::Request => "asked for",
        tablesafe_client::JobTrigger::Schedule => "on schedule",
        tablesafe_client::JobTrigger::CatchUp => "catch-up after downtime",
        tablesafe_client::JobTrigger::Retry => "retry",
    };
    field("trigger", &format!("{trigger}, attempt {}", job.attempt))?;
    field("state", state_name(job.state))?;
    if !job.destination.is_empty() {
        field("destination", &job.destination)?;
    }
    if let Some(snapshot) = &job.snapshot {
        field("snapshot", snapshot)?;
    }
    if !job.tables.is_empty() {
        field("tables", &job.tables.join(", "))?;
    }
    if let Some(target) = &job.target_table {
        let name = if job.kind == JobKind::Restore { "restored into" } else { "table" };
        field(name, target)?;
    }
    if let Some(ms) = job.to_time_ms {
        field("to time", &rfc3339(ms, true))?;
    }
    if let Some(restore) = &job.restore_job {
        field("restore job", restore)?;
    }
    let rows = match job.rows_total {
        Some(total) if job.state == JobState::Running => format!("{} of {total}", job.rows),
        _ => job.rows.to_string(),
    };
    field("rows", &rows)?;
    if job.bytes > 0 || job.kind == JobKind::Backup {
        let what = if job.kind == JobKind::Backup { "added to the repository" } else { "read" };
        field("bytes", &format!("{} {what}", HumanBytes(job.bytes)))?;
    }
    if let Some(verified) = job.verified {
        field("verified", if verified { "yes" } else { "no: the check found a difference" })?;
    }
    if let Some(outcome) = &job.outcome {
        field("outcome", outcome)?;
    }
    if let Some(note) = &job.note {
        field("note", note)?;
    }
    if job.kind == JobKind::Backup && job.state == JobState::Succeeded {
        let forgotten = if job.forgotten.is_empty() { "none".to_owned() } else { job.forgotten.join(", ") };
        field("forgotten", &forgotten)?;
    }
    if let Some(digest) = &job.digest {
        field("digest", digest)?;
    }
    field("started", &rfc3339(job.started_ms, true))?;
    if let Some(finished) = job.finished_ms {
        let took = Duration::from_millis(u64::try_from(finished - job.started_ms).unwrap_or(0));
        field("finished", &format!("{} (took {took:.1?})", rfc3339(finished, true)))?;
    }
    if let Some(error) = &job.error {
        field("error", error)?;
    }
    Ok(())
}

fn list(args: JobListArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = ListJobsRequest { plan: args.plan.clone(), kind: args.kind.map(kind_of), limit: Some(args.limit) };
    let jobs = block_on(async { server.client.list_jobs(request).await.map_err(|e| server.error(e, JOBS_HINT)) })?;
    if args.output.json {
        return print_json(&jobs.iter().map(JobJson::new).collect::<Vec<_>>());
    }
    if jobs.is_empty() {
        outln!("no jobs yet; `tablesafe plan run NAME` starts one, and the scheduler runs the plans")?;
        return Ok(());
    }
    let mut rows = vec![["ID", "STARTED", "KIND", "STATE", "PLAN", "TABLES", "ROWS", "BYTES", "DETAIL"]
        .map(String::from)
        .to_vec()];
    let mut errors = Vec::new();
    for job in &jobs {
        let detail = match job.kind {
            JobKind::Backup | JobKind::VerifyBackup => {
                job.snapshot.as_deref().map(|s| format!("snapshot {}", short_id(s)))
            }
            JobKind::Restore => job.target_table.as_ref().map(|t| format!("into {t}")),
            JobKind::VerifyRestore => job.restore_job.as_deref().map(|r| format!("restore {}", short_id(r))),
        };
        rows.push(vec![
            short_id(&job.id).to_owned(),
            rfc3339(job.started_ms, false),
            kind_name(job.kind).to_owned(),
            state_name(job.state).to_owned(),
            job.plan.clone().unwrap_or_else(|| "-".to_owned()),
            if job.tables.is_empty() { "-".to_owned() } else { job.tables.join(",") },
            job.rows.to_string(),
            HumanBytes(job.bytes).to_string(),
            detail.unwrap_or_else(|| "-".to_owned()),
        ]);
        if let Some(error) = &job.error {
            errors.push(format!("{}: {error}", short_id(&job.id)));
        }
    }
    print_table(&rows)?;
    for error in errors {
        outln!("failed {error}")?;
    }
    Ok(())
}

/// Which job `latest` names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Latest {
    /// The newest job of any kind.
    Job,
    /// The newest restore that succeeded.
    Restore,
}

/// The full id of the job `id` names: a full id, a unique prefix, or `latest`.
async fn resolve(server: &Server, id: &str, latest: Latest) -> anyhow::Result<String> {
    let id = id.trim();
    if id == "latest" {
        let kind = (latest == Latest::Restore).then_some(JobKind::Restore);
        let request = ListJobsRequest { plan: None, kind, limit: Some(1000) };
        let jobs = server.client.list_jobs(request).await.map_err(|e| server.error(e, JOBS_HINT))?;
        let found = jobs.into_iter().find(|j| latest == Latest::Job || j.state == JobState::Succeeded);
        return match (found, latest) {
            (Some(job), _) => Ok(job.id),
            (None, Latest::Job) => Err(Failure::new(
                "the server has run no backup job yet",
                "`tablesafe plan run NAME` starts one; `tablesafe plan list` lists the plans",
            )
            .into()),
            (None, Latest::Restore) => Err(Failure::new(
                "the server has no restore that succeeded",
                "restore a table first: `tablesafe plan restore NAME --table TABLE --wait`",
            )
            .into()),
        };
    }
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(id.to_owned());
    }
    if id.is_empty() {
        return Err(Failure::new("no job id given", JOBS_HINT).into());
    }
    let request = ListJobsRequest { plan: None, kind: None, limit: Some(10_000) };
    let jobs = server.client.list_jobs(request).await.map_err(|e| server.error(e, JOBS_HINT))?;
    let matching: Vec<Job> = jobs.into_iter().filter(|j| j.id.starts_with(id)).collect();
    match matching.as_slice() {
        [job] => Ok(job.id.clone()),
        [] => Err(Failure::new(format!("no job '{id}'"), JOBS_HINT).into()),
        several => Err(Failure::new(
            format!("'{id}' is the start of {} job ids", several.len()),
            "give more of the id; `tablesafe job list` lists the jobs",
        )
        .into()),
    }
}

/// `job show` (`wait` false: as it is now, exit 0 whatever its state) and
/// `job wait` (once it has ended; exit 1 unless it succeeded).
fn show(args: JobIdArgs, wait: bool) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    block_on(async {
        let id = resolve(&server, &args.id, Latest::Job).await?;
        let job = server.client.describe_job(&id).await.map_err(|e| server.error(e, JOBS_HINT))?;
        if wait {
            let job = wait_for(&server, job, args.output.json).await?;
            report(&job, args.output.json, true, None)
        } else {
            report(&job, args.output.json, false, None)
        }
    })
}

fn note(args: JobNoteArgs) -> anyhow::Result<()> {
    if args.note.is_none() && args.outcome.is_none() {
        return Err(Failure::usage("nothing to record", "give --note, --outcome or both").into());
    }
    let server = Server::connect(&args.job.endpoint)?;
    block_on(async {
        let job_id = resolve(&server, &args.job.id, Latest::Job).await?;
        let request = UpdateJobNoteRequest { job_id, note: args.note, outcome: args.outcome };
        let job = server.client.update_job_note(request).await.map_err(|e| server.error(e, JOBS_HINT))?;
        report(&job, args.job.output.json, false, None)
    })
}

fn verify_restore(args: JobVerifyRestoreArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let hint = "give a restore job that succeeded; `tablesafe job list --kind restore` lists them";
    block_on(async {
        let id = resolve(&server, &args.id, Latest::Restore).await?;
        let job = server.client.start_verify_restore(&id).await.map_err(|e| server.error(e, hint))?;
        started_or_waited(&server, job, args.wait, args.output.json, None).await
    })
}
