//! The backup service inside `tablesafe serve`: backup plans (kept in a TOML file),
//! the scheduler that runs them, the jobs it and the backup API start, their
//! history (kept in the data directory, so that runs against an unreachable
//! repository are recorded too), and continuous archiving for plans that ask.
//!
//! Map: `plans` (plan checks, schedules, the plan file), `history` (the job
//! history file), `catalog` (snapshots, recovery points and figures, read without a job), `runner` (what one job does), `scheduler` (when plans run).
//!
//! Invariants: at most one run of a plan at a time; every job is in the history
//! before it does any work, and its end is recorded whatever the outcome; a job
//! the server stopped during is recorded as interrupted at the next start; the plan
//! file is replaced atomically, so a crash leaves the old or the new plans; a
//! destination without a repository gets one, created with the server's password.

mod catalog;
mod destinations;
mod history;
pub mod plans;
mod runner;
mod scheduler;
mod threads;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tablesafe_engine::Engine;
use tablesafe_proto::backup_api::{
    Destination, Job, JobIdRequest, JobKind, JobState, JobTrigger, ListBackupPlansResponse, ListJobsRequest,
    ListJobsResponse, Plan, PlanStatus, StartBackupRequest, StartRestoreRequest, VerifyBackupRequest,
    VerifyRestoreRequest,
};
use tablesafe_repo::{InitOptions, Repository, Storage, Unlock};
use tokio::sync::{watch, Notify};

pub use destinations::DestinationRules;
pub use history::JobHistory;
pub use threads::{JobPriority, NICE_INCREMENT as JOB_NICE_INCREMENT};
use plans::{ValidPlan, DEFAULT_DESTINATION, DEFAULT_PLAN};
use runner::JobProgress;

use crate::source::{EmbeddedTables, TableSource};
use crate::{BackupError, RepositoryStats, RestoreOptions};

/// How the service is set up.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The engine the server serves.
    pub engine: Arc<Engine>,
    /// The data directory: the job history lives here, and relative destinations
    /// unless `destinations.root` says otherwise.
    pub data_dir: PathBuf,
    /// The plan file.
    pub plan_file: PathBuf,
    /// What opens (and, with a password, creates) every destination repository.
    pub unlock: Unlock,
    /// Whether to write the default plan when the plan file does not exist yet.
    pub default_plan: bool,
    /// Where relative destinations go and which others a request may name.
    pub destinations: DestinationRules,
    /// How backup work shares the cores with requests.
    pub priority: JobPriority,
}

/// Backup figures for `/metrics`, taken at scrape time.
#[derive(Clone, Debug, Default)]
pub struct ServiceMetrics {
    /// Per plan: its name and the end of its last successful run (ms), if any.
    pub last_success_ms: Vec<(String, Option<i64>)>,
    /// Per plan: whether its newest finished backup run failed or was interrupted.
    pub last_run_failed: Vec<(String, bool)>,
    /// Finished jobs by kind and outcome.
    pub jobs: Vec<JobFigures>,
    /// Per plan that archives: seconds since its archive last reached the stream's end.
    pub archive_lag_seconds: Vec<(String, f64)>,
}

/// Finished jobs of one kind and outcome.
#[derive(Clone, Debug, Default)]
pub struct JobFigures {
    /// `backup`, `verify-backup`, `restore` or `verify-restore`.
    pub kind: &'static str,
    /// `succeeded`, `failed` or `interrupted`.
    pub state: &'static str,
    /// Jobs.
    pub count: u64,
    /// Their durations added up, in seconds.
    pub seconds: f64,
    /// Their bytes added up.
    pub bytes: u64,
}

/// A plan with what the scheduler knows of it.
struct PlanSlot {
    plan: ValidPlan,
    /// When it runs next, and why.
    next_due_ms: i64,
    next_trigger: JobTrigger,
    /// The due time on the schedule that the next (or running) run stands for.
    regular_due_ms: i64,
    /// The running job, if any.
    running: Option<String>,
    /// Scheduled runs failed in a row.
    failures: u32,
    last_success_ms: Option<i64>,
}

/// The backup service; share it behind the `Arc` [`BackupService::start`] returns.
pub struct BackupService {
    config: ServiceConfig,
    source: EmbeddedTables,
    plans: Mutex<Vec<PlanSlot>>,
    history: Arc<JobHistory>,
    destinations: destinations::Destinations,
    /// Unlocked repositories by resolved location, each handed out
    /// [`reopen`](Repository::reopen)ed (a fresh index, so another process's
    /// backups and prunes are seen); dropped after a repository error, so that
    /// the next job opens (or creates) it afresh.
    repos: tokio::sync::Mutex<HashMap<String, Arc<Repository>>>,
    /// Plans whose archiver runs.
    archiving: Mutex<HashSet<String>>,
    /// Per plan: when its last archive pass that succeeded started (ms).
    archived_ms: Mutex<HashMap<String, i64>>,
    /// Jobs under way (for shutdown).
    running_jobs: Mutex<usize>,
    wake: Notify,
    stopping: watch::Sender<bool>,
    /// Where jobs and archivers run: threads below the request threads' priority.
    threads: threads::JobThreads,
    me: Weak<BackupService>,
}

impl std::fmt::Debug for BackupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupService").field("plan_file", &self.config.plan_file).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A plan whose destination does not open: [`BackupService::check_destinations`].
#[derive(Debug)]
pub struct DestinationProblem {
    /// The plan's name.
    pub plan: String,
    /// Its destination, resolved (a relative one is inside the data directory).
    pub location: String,
    /// Why it does not open; `BackupError::Repo(RepoError::WrongKey)` when the
    /// repository there is not the service's password's or identities'.
    pub error: BackupError,
}

impl BackupService {
    /// Now on the server's clock (the engine's, injected at start), ms since the epoch.
    fn now_ms(&self) -> i64 {
        self.config.engine.clock().now_millis()
    }

    /// Loads the plans (writing the default plan when the file does not exist and
    /// that is asked for), marks jobs left running by a previous process as
    /// interrupted, and starts the scheduler on the current runtime; jobs and archivers run
    /// on threads of their own below the requests (`threads`, `config.priority`).
    pub async fn start(config: ServiceConfig) -> Result<Arc<BackupService>, BackupError> {
        let plans = match plans::read_plan_file(&config.plan_file)? {
            Some(plans) => plans,
            None if config.default_plan => {
                let plans = vec![ValidPlan::new(plans::default_plan())?];
                plans::write_plan_file(&config.plan_file, &plans)?;
                plans
            }
            None => Vec::new(),
        };
        let now = config.engine.clock().now_millis();
        let history = Arc::new(JobHistory::open(config.data_dir.join("backup-jobs.jsonl"), now)?);
        let slots = plans.into_iter().map(|plan| scheduler::first_slot(plan, &history, now)).collect();
        let threads = threads::JobThreads::start(config.priority)
            .map_err(|error| BackupError::Internal(format!("cannot start the backup threads: {error}")))?;
        let origin =
            std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone()).display().to_string();
        let service = Arc::new_cyclic(|me| BackupService {
            source: EmbeddedTables::new(Arc::clone(&config.engine), origin),
            destinations: destinations::Destinations::new(&config.destinations, &config.data_dir),
            config,
            plans: Mutex::new(slots),
            history,
            repos: tokio::sync::Mutex::default(),
            archiving: Mutex::default(),
            archived_ms: Mutex::default(),
            running_jobs: Mutex::new(0),
            wake: Notify::new(),
            stopping: watch::channel(false).0,
            threads,
            me: me.clone(),
        });
        let archived: Vec<String> =
            lock(&service.plans).iter().filter(|s| s.plan.plan.archive).map(|s| s.plan.name().to_owned()).collect();
        for name in archived {
            service.ensure_archiver(&name);
        }
        tokio::spawn(scheduler::run(Arc::clone(&service)));
        Ok(service)
    }

    /// Stops scheduling and archiving (archivers make a last pass), then waits up
    /// to `grace` for running jobs; any still running are recorded as interrupted
    /// at the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.send_replace(true);
        self.wake.notify_waiters();
        let deadline = tokio::time::Instant::now() + grace;
        while (*lock(&self.running_jobs) > 0 || !lock(&self.archiving).is_empty())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn this(&self) -> Arc<BackupService> {
        self.me.upgrade().expect("the service is alive while its methods run")
    }

    fn stopped(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Opens (or creates) the repository of every plan's destination with the
    /// service's password or identities, so a plan that cannot back up is known
    /// before its first run: each failing plan with where it points and why.
    pub async fn check_destinations(&self) -> Vec<DestinationProblem> {
        let plans: Vec<(String, String)> =
            lock(&self.plans).iter().map(|s| (s.plan.name().to_owned(), s.plan.plan.destination.clone())).collect();
        let mut problems = Vec::new();
        for (plan, destination) in plans {
            if let Err(error) = self.repository(&destination).await {
                problems.push(DestinationProblem { plan, location: self.resolve(&destination), error });
            }
        }
        problems
    }

    /// The plan's destination opens (or is created) now, or the plan is refused
    /// with the reason: a plan that could only fail at its first run is not saved.
    async fn check_destination(&self, plan: &ValidPlan) -> Result<(), BackupError> {
        let destination = &plan.plan.destination;
        let location = self.resolve(destination);
        if self.local_destination(destination).is_some_and(|dir| dir.exists() && !dir.is_dir()) {
            return Err(BackupError::Invalid(format!(
                "plan '{}': the destination {location} is a file; a repository is a directory or a bucket",
                plan.name()
            )));
        }
        self.repository(destination).await.map(|_| ()).map_err(|error| {
            let why = match &error {
                BackupError::Repo(tablesafe_repo::RepoError::WrongKey) => {
                    "holds a repository that the server's password or identities do not open".to_owned()
                }
                // These name the location already.
                BackupError::Invalid(message) => return BackupError::Invalid(format!("plan '{}': {message}", plan.name())),
                other => format!("cannot be opened: {other}"),
            };
            BackupError::Invalid(format!("plan '{}': the destination {location} {why}", plan.name()))
        })
    }

    /// CreateBackupPlan.
    pub async fn create_plan(&self, plan: Plan) -> Result<PlanStatus, BackupError> {
        let plan = ValidPlan::new(plan)?;
        let name = plan.name().to_owned();
        let exists = || BackupError::Conflict(format!("plan '{name}' exists; update it instead"));
        if lock(&self.plans).iter().any(|s| s.plan.name() == name) {
            return Err(exists());
        }
        self.check_requested_destination(&plan.plan.destination)?;
        self.check_destination(&plan).await?;
        {
            let mut slots = lock(&self.plans);
            if slots.iter().any(|s| s.plan.name() == name) {
                return Err(exists());
            }
            let mut all: Vec<ValidPlan> = slots.iter().map(|s| s.plan.clone()).collect();
            all.push(plan.clone());
            plans::write_plan_file(&self.config.plan_file, &all)?;
            slots.push(scheduler::first_slot(plan, &self.history, self.now_ms()));
        }
        self.plan_changed(&name);
        self.describe_plan(&name).await
    }

    /// UpdateBackupPlan: replaces the plan of the same name; a new schedule counts from now.
    pub async fn update_plan(&self, plan: Plan) -> Result<PlanStatus, BackupError> {
        let plan = ValidPlan::new(plan)?;
        let name = plan.name().to_owned();
        // Looked up first: checking the destination may create a repository there,
        // which an update of no plan must not leave behind.
        if !lock(&self.plans).iter().any(|s| s.plan.name() == name) {
            return Err(BackupError::NotFound(format!("no backup plan '{name}'")));
        }
        self.check_requested_destination(&plan.plan.destination)?;
        self.check_destination(&plan).await?;
        {
            let mut slots = lock(&self.plans);
            let index = slots
                .iter()
                .position(|s| s.plan.name() == name)
                .ok_or_else(|| BackupError::NotFound(format!("no backup plan '{name}'")))?;
            let mut all: Vec<ValidPlan> = slots.iter().map(|s| s.plan.clone()).collect();
            all[index] = plan.clone();
            plans::write_plan_file(&self.config.plan_file, &all)?;
            let slot = &mut slots[index];
            let schedule_changed =
                (slot.plan.plan.every.clone(), slot.plan.plan.cron.clone(), slot.plan.plan.timezone.clone())
                    != (plan.plan.every.clone(), plan.plan.cron.clone(), plan.plan.timezone.clone());
            if schedule_changed {
                let now = self.now_ms();
                slot.regular_due_ms = plan.schedule.next_after(now);
                slot.next_due_ms = slot.regular_due_ms;
                slot.next_trigger = JobTrigger::Schedule;
                slot.failures = 0;
            }
            slot.plan = plan;
        }
        self.plan_changed(&name);
        self.describe_plan(&name).await
    }

    /// DeleteBackupPlan. Its snapshots and job history stay; a running job finishes.
    pub async fn delete_plan(&self, name: &str) -> Result<(), BackupError> {
        let mut slots = lock(&self.plans);
        let index = slots
            .iter()
            .position(|s| s.plan.name() == name)
            .ok_or_else(|| BackupError::NotFound(format!("no backup plan '{name}'")))?;
        let all: Vec<ValidPlan> =
            slots.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, s)| s.plan.clone()).collect();
        plans::write_plan_file(&self.config.plan_file, &all)?;
        slots.remove(index);
        drop(slots);
        self.wake.notify_waiters();
        Ok(())
    }

    fn plan_changed(&self, name: &str) {
        let archive = lock(&self.plans).iter().any(|s| s.plan.name() == name && s.plan.plan.archive);
        if archive {
            self.ensure_archiver(name);
        }
        self.wake.notify_waiters();
    }

    fn status(&self, slot: &PlanSlot) -> PlanStatus {
        let last_run =
            self.history.list(1, |j| j.kind == JobKind::Backup && j.plan.as_deref() == Some(slot.plan.name()));
        PlanStatus {
            plan: slot.plan.plan.clone(),
            next_run_ms: (slot.plan.plan.enabled && slot.running.is_none()).then_some(slot.next_due_ms),
            running: slot.running.is_some(),
            last_run: last_run.into_iter().next(),
            last_success_ms: slot.last_success_ms,
        }
    }

    /// ListBackupPlans.
    pub async fn list_plans(&self) -> ListBackupPlansResponse {
        let slots = lock(&self.plans);
        ListBackupPlansResponse { plans: slots.iter().map(|s| self.status(s)).collect() }
    }

    /// DescribeBackupPlan.
    pub async fn describe_plan(&self, name: &str) -> Result<PlanStatus, BackupError> {
        let slots = lock(&self.plans);
        let slot = slots
            .iter()
            .find(|s| s.plan.name() == name)
            .ok_or_else(|| BackupError::NotFound(format!("no backup plan '{name}'")))?;
        Ok(self.status(slot))
    }

    /// StartBackup: starts the job and answers at once with it (state `running`).
    pub async fn start_backup(&self, request: StartBackupRequest) -> Result<Job, BackupError> {
        match (request.plan, request.policy) {
            (Some(name), None) => self.start_plan_run(&name, JobTrigger::Request, request.tables),
            (None, Some(mut policy)) => {
                // A one-off backup: the policy's schedule does not matter.
                if policy.every.is_none() && policy.cron.is_none() {
                    policy.every = Some("1h".into());
                }
                if policy.name.is_empty() {
                    policy.name = "adhoc".into();
                }
                let plan = ValidPlan::new(policy)?;
                self.check_requested_destination(&plan.plan.destination)?;
                let name = plan.name().to_owned();
                self.start_job(
                    Job { kind: JobKind::Backup, plan: Some(name), ..Job::default() },
                    &plan.plan.destination.clone(),
                    move |service, repo, job| {
                        Box::pin(async move { service.backup_job(&repo, &plan, &request.tables, job).await })
                    },
                )
            }
            _ => Err(BackupError::Invalid("StartBackup needs either 'plan' (a plan's name) or 'policy'".into())),
        }
    }

    /// Starts a run of plan `name` unless one is running.
    fn start_plan_run(&self, name: &str, trigger: JobTrigger, tables: Vec<String>) -> Result<Job, BackupError> {
        let plan = {
            let slots = lock(&self.plans);
            let slot = slots
                .iter()
                .find(|s| s.plan.name() == name)
                .ok_or_else(|| BackupError::NotFound(format!("no backup plan '{name}'")))?;
            if let Some(job) = &slot.running {
                return Err(BackupError::Conflict(format!("plan '{name}' is running (job {job}); wait for it to end")));
            }
            slot.plan.clone()
        };
        let attempt = if trigger == JobTrigger::Retry {
            lock(&self.plans).iter().find(|s| s.plan.name() == name).map_or(1, |s| s.failures + 1)
        } else {
            1
        };
        let destination = plan.plan.destination.clone();
        let job = Job { kind: JobKind::Backup, trigger, attempt, plan: Some(name.to_owned()), ..Job::default() };
        let job = self.start_job(job, &destination, move |service, repo, job| {
            Box::pin(async move { service.backup_job(&repo, &plan, &tables, job).await })
        })?;
        if let Some(slot) = lock(&self.plans).iter_mut().find(|s| s.plan.name() == name) {
            slot.running = Some(job.id.clone());
        }
        Ok(job)
    }

    async fn backup_job(
        &self,
        repo: &Repository,
        plan: &ValidPlan,
        tables: &[String],
        job: &mut Job,
    ) -> Result<(), BackupError> {
        let all = self.source.list_tables().await?;
        let chosen = if tables.is_empty() {
            plan.tables(&all)
        } else {
            let mut chosen = Vec::new();
            for pattern in tables {
                let pattern = glob::Pattern::new(pattern)
                    .map_err(|e| BackupError::Invalid(format!("table pattern '{pattern}': {e}")))?;
                chosen.extend(all.iter().filter(|t| pattern.matches(t)).cloned());
            }
            chosen.sort();
            chosen.dedup();
            if chosen.is_empty() {
                return Err(BackupError::NotFound(format!("no table matches {}", tables.join(", "))));
            }
            chosen
        };
        job.tables = chosen.clone();
        if chosen.is_empty() {
            // Nothing to copy yet: a success with no snapshot, not an error.
            return Ok(());
        }
        let progress = self.progress(&job.id);
        runner::plan_backup(repo, &self.source, plan, &chosen, &progress, job).await
    }

    fn progress(&self, id: &str) -> JobProgress<impl Fn(u64, u64) + Send + Sync> {
        let history = Arc::clone(&self.history);
        let id = id.to_owned();
        JobProgress {
            on_rows: move |rows, bytes| {
                history.update(&id, |job| {
                    job.rows += rows;
                    job.bytes += bytes;
                })
            },
        }
    }

    /// Records `job` as started, then runs `work` with the destination's
    /// repository on a task of its own; the end is recorded whatever happens.
    fn start_job<W>(&self, mut job: Job, destination: &str, work: W) -> Result<Job, BackupError>
    where
        W: for<'a> FnOnce(
                Arc<BackupService>,
                Arc<Repository>,
                &'a mut Job,
            )
                -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BackupError>> + Send + 'a>>
            + Send
            + 'static,
    {
        if self.stopped() {
            return Err(BackupError::Conflict("the server is stopping".into()));
        }
        job.id = uuid::Uuid::new_v4().simple().to_string();
        job.state = JobState::Running;
        job.started_ms = self.now_ms();
        job.destination = destination.to_owned();
        job.attempt = job.attempt.max(1);
        self.history.record(&job)?;
        *lock(&self.running_jobs) += 1;
        let service = self.this();
        let started = job.clone();
        self.threads.handle().spawn(async move {
            let mut done = job.clone();
            let opened = if job.kind == JobKind::Backup {
                service.repository(&job.destination).await
            } else {
                service.existing_repository(&job.destination).await
            };
            let result = match opened {
                Ok(repo) => work(Arc::clone(&service), repo, &mut done).await,
                Err(error) => Err(error),
            };
            service.finish(done, result).await;
        });
        Ok(started)
    }

    async fn finish(&self, mut job: Job, result: Result<(), BackupError>) {
        job.finished_ms = Some(self.now_ms());
        match result {
            Ok(()) => job.state = JobState::Succeeded,
            Err(error) => {
                job.state = JobState::Failed;
                job.error = Some(error.to_string());
                tracing::warn!(job = job.id, kind = ?job.kind, plan = job.plan, %error, "backup job failed");
                if matches!(error, BackupError::Repo(_)) {
                    self.repos.lock().await.remove(&self.resolve(&job.destination));
                }
            }
        }
        if let Err(error) = self.history.record(&job) {
            tracing::error!(job = job.id, %error, "cannot record the end of a job");
        }
        if job.kind == JobKind::Backup {
            scheduler::run_ended(self, &job);
        }
        *lock(&self.running_jobs) -= 1;
        self.wake.notify_waiters();
    }

    /// Where a destination is: a URL as given, or a path (relative paths under the backup root).
    fn resolve(&self, destination: &str) -> String {
        self.destinations.resolve(destination)
    }

    /// The directory a destination names when it is on the local filesystem (a
    /// path, relative or absolute, or a `file://` URL); `None` for a bucket.
    pub fn local_destination(&self, destination: &str) -> Option<PathBuf> {
        self.destinations.local_dir(destination)
    }

    /// A destination a request names is one it may name (`destinations`): under
    /// the backup root, named by a plan, or allowed by the configuration.
    fn check_requested_destination(&self, destination: &str) -> Result<(), BackupError> {
        let named = lock(&self.plans).iter().any(|s| s.plan.plan.destination == destination);
        self.destinations.check_requested(destination, named)
    }

    /// The repository at `destination` with its index read now; unlocked once and
    /// kept; created if the location holds none and the service has a password.
    async fn repository(&self, destination: &str) -> Result<Arc<Repository>, BackupError> {
        self.open_repository(destination, true).await
    }

    /// The repository at `destination`, which must exist: reads, checks and
    /// restores never leave a repository behind at a mistyped destination.
    async fn existing_repository(&self, destination: &str) -> Result<Arc<Repository>, BackupError> {
        self.open_repository(destination, false).await
    }

    async fn open_repository(&self, destination: &str, create: bool) -> Result<Arc<Repository>, BackupError> {
        let location = self.resolve(destination);
        let mut repos = self.repos.lock().await;
        if let Some(repo) = repos.get(&location) {
            return Ok(Arc::new(repo.reopen().await?));
        }
        let storage = Storage::from_url(&location)?;
        let repo = if storage.exists("config").await? {
            Repository::open(storage, &self.config.unlock).await?
        } else if !create {
            storage.forget_created_dirs();
            return Err(BackupError::NotFound(format!(
                "no repository at {location}; a backup to it creates one"
            )));
        } else {
            let Some(password) = self.config.unlock.password.clone() else {
                return Err(BackupError::Invalid(format!(
                    "{location} holds no repository and the server has no password to create one; \
                     create it with `tablesafe repo init --repo {location}`"
                )));
            };
            tracing::info!(location, "creating the backup repository");
            Repository::init(storage, InitOptions { password: Some(password), ..InitOptions::default() }).await?
        };
        let repo = Arc::new(repo);
        repos.insert(location, Arc::clone(&repo));
        Ok(repo)
    }

    /// The destination a listing or check reads.
    fn destination_of(&self, from: &Destination) -> Result<String, BackupError> {
        let slots = lock(&self.plans);
        match (&from.plan, &from.destination) {
            (Some(name), _) => slots
                .iter()
                .find(|s| s.plan.name() == name)
                .map(|s| s.plan.plan.destination.clone())
                .ok_or_else(|| BackupError::NotFound(format!("no backup plan '{name}'"))),
            (None, Some(destination)) => {
                let named = slots.iter().any(|s| &s.plan.plan.destination == destination);
                self.destinations.check_requested(destination, named)?;
                Ok(destination.clone())
            }
            (None, None) => Ok(slots
                .iter()
                .find(|s| s.plan.name() == DEFAULT_PLAN)
                .map_or_else(|| DEFAULT_DESTINATION.to_owned(), |s| s.plan.plan.destination.clone())),
        }
    }

    /// VerifyBackup: starts a job reading the snapshot back and checking its digests.
    pub async fn verify_backup(&self, request: VerifyBackupRequest) -> Result<Job, BackupError> {
        let destination = self.destination_of(&request.from)?;
        let job = Job {
            kind: JobKind::VerifyBackup,
            plan: request.from.plan.clone(),
            snapshot: request.snapshot.clone(),
            ..Job::default()
        };
        self.start_job(job, &destination, move |_service, repo, job| {
            Box::pin(async move {
                let snapshot = match request.snapshot {
                    Some(id) => id,
                    None => crate::list_snapshots(&repo)
                        .await?
                        .pop()
                        .map(|(id, _)| id)
                        .ok_or_else(|| BackupError::NotFound("the repository holds no snapshot".into()))?,
                };
                runner::verify_backup(&repo, &snapshot, job).await
            })
        })
    }

    /// StartRestore: starts a restore job (to a new table unless `target` is given).
    pub async fn start_restore(&self, request: StartRestoreRequest) -> Result<Job, BackupError> {
        if request.table.is_empty() {
            return Err(BackupError::Invalid("StartRestore needs 'table'".into()));
        }
        if request.snapshot.is_some() && request.time_ms.is_some() {
            return Err(BackupError::Invalid("give 'snapshot' or 'time_ms', not both".into()));
        }
        let destination = self.destination_of(&request.from)?;
        let target = match &request.target {
            Some(target) => target.clone(),
            None => {
                // A new name: the time, and a counter when that name is taken.
                let now = jiff::Timestamp::from_millisecond(self.now_ms())
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    .strftime("%Y%m%dT%H%M%S");
                let base = format!("{}_restored_{now}", request.table);
                let existing = self.source.list_tables().await?;
                (1..)
                    .map(|n| if n == 1 { base.clone() } else { format!("{base}_{n}") })
                    .find(|name| !existing.contains(name))
                    .unwrap_or(base)
            }
        };
        let options = RestoreOptions {
            table: request.table.clone(),
            target: Some(target.clone()),
            overwrite: request.overwrite,
            keep_partial: false,
        };
        let job = Job {
            kind: JobKind::Restore,
            plan: request.from.plan.clone(),
            tables: vec![request.table.clone()],
            snapshot: request.snapshot.clone(),
            to_time_ms: request.time_ms,
            target_table: Some(target),
            ..Job::default()
        };
        self.start_job(job, &destination, move |service, repo, job| {
            Box::pin(async move {
                let progress = service.progress(&job.id);
                runner::restore_table(
                    &repo,
                    &service.source,
                    &options,
                    request.snapshot.as_deref(),
                    request.time_ms,
                    &progress,
                    job,
                )
                .await
            })
        })
    }

    /// VerifyRestore: starts a job comparing a restore's table with the digest it wrote.
    pub async fn verify_restore(&self, request: VerifyRestoreRequest) -> Result<Job, BackupError> {
        let restore = self
            .history
            .get(&request.job_id)
            .ok_or_else(|| BackupError::NotFound(format!("no job '{}'", request.job_id)))?;
        if restore.kind != JobKind::Restore || restore.state != JobState::Succeeded {
            return Err(BackupError::Invalid(format!(
                "job '{}' is not a restore that succeeded (it is a {:?} job, {:?})",
                restore.id, restore.kind, restore.state
            )));
        }
        let (Some(table), Some(digest)) = (restore.target_table.clone(), restore.digest.clone()) else {
            return Err(BackupError::Invalid(format!("restore job '{}' recorded no table and digest", restore.id)));
        };
        let job = Job {
            kind: JobKind::VerifyRestore,
            plan: restore.plan.clone(),
            restore_job: Some(restore.id.clone()),
            snapshot: restore.snapshot.clone(),
            tables: restore.tables.clone(),
            target_table: Some(table.clone()),
            ..Job::default()
        };
        self.start_job(job, &restore.destination, move |service, repo, job| {
            Box::pin(async move { runner::verify_restore(&repo, &service.source, &table, &digest, job).await })
        })
    }

    /// ListJobs, newest first.
    pub async fn list_jobs(&self, request: ListJobsRequest) -> Result<ListJobsResponse, BackupError> {
        let limit = request.limit.unwrap_or(100).clamp(1, 10_000) as usize;
        let jobs = self.history.list(limit, |job| {
            request.plan.as_ref().is_none_or(|p| job.plan.as_ref() == Some(p))
                && request.kind.is_none_or(|k| job.kind == k)
        });
        Ok(ListJobsResponse { jobs })
    }

    /// DescribeJob.
    pub async fn describe_job(&self, request: JobIdRequest) -> Result<Job, BackupError> {
        self.history.get(&request.job_id).ok_or_else(|| BackupError::NotFound(format!("no job '{}'", request.job_id)))
    }

    /// A receiver that wakes whenever a job starts, ends or makes progress
    /// (for live views; read the jobs with [`describe_job`](Self::describe_job)).
    pub fn job_changes(&self) -> watch::Receiver<u64> {
        self.history.subscribe()
    }

    /// Job `id` once it has finished, however it ended.
    pub async fn finished_job(&self, id: &str) -> Result<Job, BackupError> {
        let mut changes = self.history.subscribe();
        loop {
            let job = self.history.get(id).ok_or_else(|| BackupError::NotFound(format!("no job '{id}'")))?;
            if job.is_finished() {
                return Ok(job);
            }
            if changes.changed().await.is_err() {
                return Err(BackupError::Internal("the job history closed".into()));
            }
        }
    }

    /// What the repository of `from` holds, in figures (see [`RepositoryStats`]).
    pub async fn repository_stats(&self, from: &Destination) -> Result<RepositoryStats, BackupError> {
        let repo = self.existing_repository(&self.destination_of(from)?).await?;
        crate::stats::repository_stats(&repo).await
    }

    /// Starts the archiver of plan `name` unless it runs.
    fn ensure_archiver(&self, name: &str) {
        if !lock(&self.archiving).insert(name.to_owned()) {
            return;
        }
        self.threads.handle().spawn(scheduler::archive(self.this(), name.to_owned()));
    }
}
