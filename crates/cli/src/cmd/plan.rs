//! `tablesafe plan ...`: the backup plans of a running `tablesafe serve`, through
//! its backup API (the Rust client's methods): create, update, delete, list and
//! show plans; run one now, list its snapshots and recovery points, check a
//! snapshot, restore a table. Also what `job` shares: the client built from
//! `--endpoint`/`--instance` and the access key, and [`Server::error`], which turns
//! a failed call into a one-line cause and a hint.
//!
//! `--json` prints the API's own types (plans, jobs, snapshots), with readable
//! RFC 3339 times beside the millisecond ones.

use std::fmt::Write as _;

use indicatif::HumanBytes;
use serde::Serialize;
use tablesafe_client::{
    Client, ClientError, Destination, ErrorCode, ListRecoveryPointsRequest, ListSnapshotsRequest, Plan, PlanStatus,
    SnapshotInfo, StartBackupRequest, StartRestoreRequest, TableRecoveryPoints, VerifyBackupRequest,
};

use super::job;
use super::{block_on, count, print_json, rfc3339, short_id, Failure};
use crate::args::{
    EndpointArgs, PlanCommand, PlanCreateArgs, PlanListArgs, PlanNameArgs, PlanPointsArgs, PlanRestoreArgs,
    PlanRunArgs, PlanSettings, PlanSnapshotsArgs, PlanUpdateArgs, PlanVerifyArgs,
};

/// The hint for an unknown plan.
const PLANS_HINT: &str = "`tablesafe plan list` lists the plans";

pub fn run(command: PlanCommand) -> anyhow::Result<()> {
    match command {
        PlanCommand::Create(args) => create(args),
        PlanCommand::Update(args) => update(args),
        PlanCommand::Delete(args) => delete(args),
        PlanCommand::List(args) => list(args),
        PlanCommand::Show(args) => show(args),
        PlanCommand::Run(args) => run_now(args),
        PlanCommand::Snapshots(args) => snapshots(args),
        PlanCommand::Points(args) => points(args),
        PlanCommand::Verify(args) => verify(args),
        PlanCommand::Restore(args) => restore(args),
    }
}

/// A running server's backup API: the client, and where it points (for messages).
pub struct Server {
    /// The client.
    pub client: Client,
    endpoint: String,
    instance: String,
}

impl Server {
    /// A client for `--endpoint` and `--instance`, with the access key from
    /// TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET.
    pub fn connect(args: &EndpointArgs) -> anyhow::Result<Server> {
        let key = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(id), Some(secret)) = (key("TABLESAFE_ACCESS_KEY_ID"), key("TABLESAFE_ACCESS_KEY_SECRET")) else {
            return Err(Failure::new(
                "the server needs an access key: TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET are not both \
                 set",
                "export both; a local `tablesafe serve` prints its key id at start and keeps the key in \
                 <data-dir>/access-keys.toml",
            )
            .into());
        };
        let client = Client::new(&args.endpoint, &args.instance, id, secret).map_err(|error| {
            Failure::new(
                format!("cannot use the endpoint {}: {error}", args.endpoint),
                "give the server's address as --endpoint (or TABLESAFE_ENDPOINT), e.g. http://127.0.0.1:8800",
            )
        })?;
        Ok(Server { client, endpoint: args.endpoint.clone(), instance: args.instance.clone() })
    }

    /// A failed call as one line and a hint. `hint` is for the service errors
    /// whose fix depends on the command (an unknown snapshot, an invalid value);
    /// the errors whose fix is known whatever the command get their own.
    pub fn error(&self, error: ClientError, hint: &str) -> anyhow::Error {
        let failure = match &error {
            ClientError::Service { code, message, .. } => {
                let known = match error.code() {
                    Some(ErrorCode::AuthFailed) => Some(format!(
                        "check the instance name (--instance or TABLESAFE_INSTANCE, now '{}') and the access key in \
                         TABLESAFE_ACCESS_KEY_ID and TABLESAFE_ACCESS_KEY_SECRET; a backup plan needs an admin or \
                         backup-operator key",
                        self.instance
                    )),
                    Some(ErrorCode::ObjectNotExist) if message.contains("backup plan") => Some(PLANS_HINT.to_owned()),
                    Some(ErrorCode::ObjectNotExist) if message.starts_with("no job") => {
                        Some("`tablesafe job list` lists the jobs".to_owned())
                    }
                    Some(ErrorCode::ObjectAlreadyExist) if message.contains("update it instead") => {
                        Some("change it with `tablesafe plan update NAME`, or choose another name".to_owned())
                    }
                    Some(ErrorCode::ObjectAlreadyExist) if message.contains("is running") => Some(
                        "one run of a plan at a time: wait for it with `tablesafe job wait latest`, then run it again"
                            .to_owned(),
                    ),
                    Some(ErrorCode::ObjectAlreadyExist) if message.contains("already exists") => Some(
                        "pass --as NEW to restore into another table, or --overwrite to write into this one".to_owned(),
                    ),
                    Some(ErrorCode::ParameterInvalid) if message.contains("backups are not enabled") => {
                        Some("restart `tablesafe serve` without --no-backups".to_owned())
                    }
                    Some(ErrorCode::InternalServerError) => {
                        Some("the server's log (on its stderr) says more about the failure".to_owned())
                    }
                    _ => None,
                };
                Failure::new(format!("{message} ({code})"), known.unwrap_or_else(|| hint.to_owned()))
            }
            ClientError::Transport { .. } => Failure::new(
                format!("cannot reach the server at {}: {error}", self.endpoint),
                "start it with `tablesafe serve`, or point --endpoint (or TABLESAFE_ENDPOINT) at it",
            ),
            ClientError::Http { http_status, .. } => Failure::new(
                format!("{} answered HTTP {http_status} without a Tablestore error", self.endpoint),
                "check that --endpoint (or TABLESAFE_ENDPOINT) is the address of `tablesafe serve`",
            ),
            ClientError::Integrity { .. } => Failure::new(
                error.to_string(),
                "check TABLESAFE_ACCESS_KEY_SECRET: the server's answers are signed with the key's secret",
            ),
            ClientError::Decode { .. } => Failure::new(
                error.to_string(),
                "the server speaks another version of the backup API; use the `tablesafe` of the server's version",
            ),
            _ => Failure::new(error.to_string(), hint.to_owned()),
        };
        failure.into()
    }
}

/// The plan `create` sends.
fn new_plan(args: &PlanCreateArgs) -> Plan {
    let mut plan =
        Plan { name: args.name.clone(), destination: args.destination.clone(), enabled: true, ..Plan::default() };
    apply(&mut plan, &args.settings);
    plan
}

/// Sets on `plan` the settings given.
fn apply(plan: &mut Plan, settings: &PlanSettings) {
    if let Some(every) = &settings.every {
        plan.every = Some(every.clone());
        plan.cron = None;
    }
    if let Some(cron) = &settings.cron {
        plan.cron = Some(cron.clone());
        plan.every = None;
    }
    if let Some(timezone) = &settings.timezone {
        plan.timezone = Some(timezone.clone());
    }
    if !settings.table.is_empty() {
        plan.tables = settings.table.clone();
    }
    let counts = [
        (&mut plan.keep_last, settings.keep_last),
        (&mut plan.keep_hourly, settings.keep_hourly),
        (&mut plan.keep_daily, settings.keep_daily),
        (&mut plan.keep_weekly, settings.keep_weekly),
        (&mut plan.keep_monthly, settings.keep_monthly),
    ];
    for (field, value) in counts {
        if value.is_some() {
            *field = value;
        }
    }
    if let Some(age) = &settings.keep_within {
        plan.keep_within = Some(age.clone());
    }
    if let Some(percent) = settings.verify_data {
        plan.verify_data_percent = percent;
    }
    if settings.archive {
        plan.archive = true;
    }
    if settings.disabled {
        plan.enabled = false;
    }
}

/// Whether `update` was given anything to change.
fn changes_something(args: &PlanUpdateArgs) -> bool {
    let s = &args.settings;
    args.destination.is_some()
        || args.all_tables
        || args.clear_retention
        || args.no_archive
        || args.enabled
        || s.every.is_some()
        || s.cron.is_some()
        || s.timezone.is_some()
        || !s.table.is_empty()
        || s.keep_last.is_some()
        || s.keep_within.is_some()
        || s.keep_hourly.is_some()
        || s.keep_daily.is_some()
        || s.keep_weekly.is_some()
        || s.keep_monthly.is_some()
        || s.verify_data.is_some()
        || s.archive
        || s.disabled
}

/// The hint for a plan the server refuses.
const INVALID_PLAN_HINT: &str =
    "`tablesafe plan create --help` describes each setting (e.g. --every 1h, --cron '0 3 * * *', --keep-within 72h)";

fn create(args: PlanCreateArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let plan = new_plan(&args);
    let status = block_on(async {
        server.client.create_backup_plan(&plan).await.map_err(|e| server.error(e, INVALID_PLAN_HINT))
    })?;
    print_plan(&status, "created", args.output.json)
}

fn update(args: PlanUpdateArgs) -> anyhow::Result<()> {
    if !changes_something(&args) {
        return Err(Failure::new(
            format!("nothing to change in plan '{}'", args.name),
            "give the settings to change, e.g. --every 2h or --keep-daily 7; `tablesafe plan update --help` lists them",
        )
        .into());
    }
    let server = Server::connect(&args.endpoint)?;
    let status = block_on(async {
        let mut plan =
            server.client.describe_backup_plan(&args.name).await.map_err(|e| server.error(e, PLANS_HINT))?.plan;
        if let Some(destination) = &args.destination {
            plan.destination = destination.clone();
        }
        if args.all_tables {
            plan.tables.clear();
        }
        if args.clear_retention {
            plan.keep_last = None;
            plan.keep_within = None;
            plan.keep_hourly = None;
            plan.keep_daily = None;
            plan.keep_weekly = None;
            plan.keep_monthly = None;
        }
        if args.no_archive {
            plan.archive = false;
        }
        if args.enabled {
            plan.enabled = true;
        }
        apply(&mut plan, &args.settings);
        server.client.update_backup_plan(&plan).await.map_err(|e| server.error(e, INVALID_PLAN_HINT))
    })?;
    print_plan(&status, "updated", args.output.json)
}

fn delete(args: PlanNameArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    block_on(async { server.client.delete_backup_plan(&args.name).await.map_err(|e| server.error(e, PLANS_HINT)) })?;
    if args.output.json {
        return print_json(&serde_json::json!({ "deleted": args.name }));
    }
    outln!("plan {} deleted; its snapshots and its job history stay", args.name)
}

fn list(args: PlanListArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let plans = block_on(async { server.client.list_backup_plans().await.map_err(|e| server.error(e, PLANS_HINT)) })?;
    if args.output.json {
        return print_json(&plans.iter().map(PlanJson::new).collect::<Vec<_>>());
    }
    if plans.is_empty() {
        outln!("no backup plans; `tablesafe plan create` makes one")?;
        return Ok(());
    }
    let mut rows = vec![["NAME", "SCHEDULE", "TABLES", "DESTINATION", "RETENTION", "NEXT RUN", "LAST RUN"]
        .map(String::from)
        .to_vec()];
    for status in &plans {
        let plan = &status.plan;
        rows.push(vec![
            plan.name.clone(),
            schedule(plan),
            if plan.tables.is_empty() { "*".to_owned() } else { plan.tables.join(",") },
            plan.destination.clone(),
            retention(plan),
            next_run(status),
            match &status.last_run {
                Some(job) => format!("{} {}", job::state_name(job.state), rfc3339(job.started_ms, false)),
                None => "-".to_owned(),
            },
        ]);
    }
    job::print_table(&rows)
}

fn show(args: PlanNameArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let status = block_on(async {
        server.client.describe_backup_plan(&args.name).await.map_err(|e| server.error(e, PLANS_HINT))
    })?;
    print_plan(&status, "", args.output.json)
}

/// A plan as `--json` prints it: the API's [`PlanStatus`] and readable times.
#[derive(Serialize)]
struct PlanJson<'a> {
    #[serde(flatten)]
    status: &'a PlanStatus,
    next_run: Option<String>,
    last_success: Option<String>,
}

impl PlanJson<'_> {
    fn new(status: &PlanStatus) -> PlanJson<'_> {
        PlanJson {
            status,
            next_run: status.next_run_ms.map(|ms| rfc3339(ms, false)),
            last_success: status.last_success_ms.map(|ms| rfc3339(ms, false)),
        }
    }
}

/// Prints a plan; `done` ("created", "updated") heads the text when not empty.
fn print_plan(status: &PlanStatus, done: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&PlanJson::new(status));
    }
    let plan = &status.plan;
    if done.is_empty() {
        outln!("plan {}", plan.name)?;
    } else {
        outln!("plan {} {done}", plan.name)?;
    }
    let timezone = plan.timezone.as_deref().unwrap_or("UTC");
    outln!("  schedule:      {} ({timezone}){}", schedule(plan), if plan.enabled { "" } else { ", disabled" })?;
    let tables = if plan.tables.is_empty() { "every table".to_owned() } else { plan.tables.join(", ") };
    outln!("  tables:        {tables}")?;
    outln!("  destination:   {}", plan.destination)?;
    outln!("  retention:     {}", retention(plan))?;
    let check = match plan.verify_data_percent {
        0 => "every chunk checked to be stored".to_owned(),
        100 => "every chunk read back, every table's rows checked against its digest".to_owned(),
        percent => format!("every chunk checked to be stored, {percent}% read back"),
    };
    outln!("  check:         {check}")?;
    outln!("  archive:       {}", if plan.archive { "the change streams, continuously" } else { "no" })?;
    outln!("  next run:      {}", next_run(status))?;
    match &status.last_run {
        Some(run) => {
            let mut line =
                format!("{} {}, job {}", job::state_name(run.state), rfc3339(run.started_ms, false), short_id(&run.id));
            if let Some(snapshot) = &run.snapshot {
                let _ = write!(line, ", snapshot {}", short_id(snapshot));
            }
            outln!("  last run:      {line}")?;
            if let Some(error) = &run.error {
                outln!("  last error:    {error}")?;
            }
        }
        None => outln!("  last run:      never")?,
    }
    let success = status.last_success_ms.map_or_else(|| "never".to_owned(), |ms| rfc3339(ms, false));
    outln!("  last success:  {success}")
}

/// `every 1h` or `cron '0 3 * * *'`.
fn schedule(plan: &Plan) -> String {
    match (&plan.every, &plan.cron) {
        (Some(every), _) => format!("every {every}"),
        (None, Some(cron)) => format!("cron '{cron}'"),
        (None, None) => "-".to_owned(),
    }
}

/// The keep rules in words; `keep all` without any.
fn retention(plan: &Plan) -> String {
    let mut rules = Vec::new();
    if let Some(n) = plan.keep_last {
        rules.push(format!("last {n}"));
    }
    if let Some(age) = &plan.keep_within {
        rules.push(format!("within {age}"));
    }
    for (n, what) in [
        (plan.keep_hourly, "hourly"),
        (plan.keep_daily, "daily"),
        (plan.keep_weekly, "weekly"),
        (plan.keep_monthly, "monthly"),
    ] {
        if let Some(n) = n {
            rules.push(format!("{n} {what}"));
        }
    }
    if rules.is_empty() {
        "keep all".to_owned()
    } else {
        format!("keep {}", rules.join(", "))
    }
}

fn next_run(status: &PlanStatus) -> String {
    match status.next_run_ms {
        _ if status.running => "running now".to_owned(),
        _ if !status.plan.enabled => "disabled (runs only with `plan run`)".to_owned(),
        Some(ms) => rfc3339(ms, false),
        None => "-".to_owned(),
    }
}

/// The repository of plan `name`.
fn of_plan(name: &str) -> Destination {
    Destination { plan: Some(name.to_owned()), destination: None }
}

fn run_now(args: PlanRunArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = StartBackupRequest { plan: Some(args.name.clone()), policy: None, tables: args.table.clone() };
    let hint = "`--table` takes table names or patterns (`*`, `?`) of the server's tables";
    block_on(async {
        let job = server.client.start_backup(request).await.map_err(|e| server.error(e, hint))?;
        job::started_or_waited(&server, job, args.wait, args.output.json, Some(&args.name)).await
    })
}

fn snapshots(args: PlanSnapshotsArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = ListSnapshotsRequest {
        from: of_plan(&args.name),
        only_plan: (!args.all).then(|| args.name.clone()),
        tags: args.tag.clone(),
        table: None,
    };
    let snapshots =
        block_on(async { server.client.list_snapshots(request).await.map_err(|e| server.error(e, PLANS_HINT)) })?;
    if args.output.json {
        let lines: Vec<SnapshotJson> =
            snapshots.iter().map(|s| SnapshotJson { snapshot: s, time: rfc3339(s.time_ms, true) }).collect();
        return print_json(&lines);
    }
    if snapshots.is_empty() {
        outln!("plan {} has no snapshots yet; `tablesafe plan run {} --wait` makes one", args.name, args.name)?;
        return Ok(());
    }
    let mut rows = vec![["ID", "TIME", "PLAN", "TABLES", "ROWS", "SIZE", "ADDED"].map(String::from).to_vec()];
    for snapshot in &snapshots {
        let tables: Vec<&str> = snapshot.tables.iter().map(|t| t.name.as_str()).collect();
        rows.push(vec![
            short_id(&snapshot.id).to_owned(),
            rfc3339(snapshot.time_ms, false),
            snapshot.plan.clone().unwrap_or_else(|| "-".to_owned()),
            tables.join(","),
            snapshot.tables.iter().map(|t| t.rows).sum::<u64>().to_string(),
            HumanBytes(snapshot.tables.iter().map(|t| t.data_bytes).sum()).to_string(),
            HumanBytes(snapshot.added_bytes).to_string(),
        ]);
    }
    job::print_table(&rows)
}

/// A snapshot as `--json` prints it: the API's [`SnapshotInfo`] and its time.
#[derive(Serialize)]
struct SnapshotJson<'a> {
    #[serde(flatten)]
    snapshot: &'a SnapshotInfo,
    time: String,
}

/// One table's recovery points as `--json` prints them, with RFC 3339 times.
#[derive(Serialize)]
struct PointsJson {
    table: String,
    snapshots: Vec<SnapshotPointJson>,
    spans: Vec<SpanJson>,
    gaps: Vec<GapJson>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct SnapshotPointJson {
    snapshot: String,
    time: String,
    time_ms: i64,
    exact: bool,
}

#[derive(Serialize)]
struct SpanJson {
    from: String,
    to: String,
    from_ms: i64,
    to_ms: i64,
}

#[derive(Serialize)]
struct GapJson {
    from: String,
    to: String,
    from_ms: i64,
    to_ms: i64,
    cause: String,
}

impl PointsJson {
    fn new(points: TableRecoveryPoints) -> PointsJson {
        PointsJson {
            snapshots: points
                .snapshots
                .into_iter()
                .map(|s| SnapshotPointJson {
                    time: rfc3339(s.time_ms, true),
                    snapshot: s.snapshot,
                    time_ms: s.time_ms,
                    exact: s.exact,
                })
                .collect(),
            spans: points
                .spans
                .into_iter()
                .map(|s| SpanJson {
                    from: rfc3339(s.from_ms, true),
                    to: rfc3339(s.to_ms, true),
                    from_ms: s.from_ms,
                    to_ms: s.to_ms,
                })
                .collect(),
            gaps: points
                .gaps
                .into_iter()
                .map(|g| GapJson {
                    from: rfc3339(g.from_ms, true),
                    to: rfc3339(g.to_ms, true),
                    from_ms: g.from_ms,
                    to_ms: g.to_ms,
                    cause: g.cause,
                })
                .collect(),
            notes: points.notes,
            table: points.table,
        }
    }
}

fn points(args: PlanPointsArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = ListRecoveryPointsRequest { from: of_plan(&args.name), table: args.table.clone() };
    let hint = format!("`tablesafe plan snapshots {} --all` lists the tables of each snapshot", args.name);
    let tables =
        block_on(async { server.client.list_recovery_points_with(request).await.map_err(|e| server.error(e, &hint)) })?;
    let tables: Vec<PointsJson> = tables.into_iter().map(PointsJson::new).collect();
    if args.output.json {
        return print_json(&tables);
    }
    if tables.is_empty() {
        outln!(
            "plan {}'s destination holds no snapshots yet; `tablesafe plan run {} --wait` makes one",
            args.name,
            args.name
        )?;
        return Ok(());
    }
    for table in &tables {
        outln!("{}: {}", table.table, count(table.snapshots.len(), "snapshot", "snapshots"))?;
        for snapshot in &table.snapshots {
            let kind = if snapshot.exact { "exact" } else { "fuzzy" };
            outln!("  snapshot {}  {}  {kind}", short_id(&snapshot.snapshot), snapshot.time)?;
        }
        if table.spans.is_empty() {
            outln!("  any time between: none (a plan with --archive keeps the changes between snapshots)")?;
        }
        for span in &table.spans {
            outln!("  any time from {} to {}", span.from, span.to)?;
        }
        for gap in &table.gaps {
            outln!("  gap from {} to {}: {}", gap.from, gap.to, gap.cause)?;
        }
        for note in &table.notes {
            outln!("  note: {note}")?;
        }
    }
    Ok(())
}

fn verify(args: PlanVerifyArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = VerifyBackupRequest { from: of_plan(&args.name), snapshot: args.snapshot.clone() };
    let hint = format!("`tablesafe plan snapshots {} --all` lists the snapshots of its destination", args.name);
    block_on(async {
        let job = server.client.start_verify_backup(request).await.map_err(|e| server.error(e, &hint))?;
        job::started_or_waited(&server, job, args.wait, args.output.json, Some(&args.name)).await
    })
}

fn restore(args: PlanRestoreArgs) -> anyhow::Result<()> {
    let server = Server::connect(&args.endpoint)?;
    let request = StartRestoreRequest {
        from: of_plan(&args.name),
        table: args.table.clone(),
        snapshot: args.snapshot.clone(),
        // --to-time is parsed to microseconds; the API takes milliseconds.
        time_ms: args.to_time.map(|us| us.div_euclid(1000)),
        target: args.target.clone(),
        overwrite: args.overwrite,
    };
    let hint = format!(
        "`tablesafe plan points {} --table {}` lists where the table can be restored to",
        args.name, args.table
    );
    block_on(async {
        let job = server.client.start_restore(request).await.map_err(|e| server.error(e, &hint))?;
        job::started_or_waited(&server, job, args.wait, args.output.json, Some(&args.name)).await
    })
}
