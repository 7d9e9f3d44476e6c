//! When plans run: the scheduler loop, what a run's end does to its plan's next
//! due time, and the archive loop of plans that archive continuously.
//!
//! Rules: a plan never seen to run first runs at its schedule's next time (an
//! interval plan within [`FIRST_RUN_DELAY`] of the start); one
//! whose last scheduled run is more than a period ago (the server was down) runs
//! once at start ("catch-up"), then keeps its schedule, so downtime never causes a
//! burst; a failed scheduled run is retried after 1 s, 2 s, 4 s ... (at most
//! [`MAX_BACKOFF`]), but never later than the next regular time; a run asked for
//! through the API leaves the schedule as it is.

use std::sync::Arc;
use std::time::Duration;

use tablesafe_proto::backup_api::{Job, JobKind, JobState, JobTrigger};

use super::history::JobHistory;
use super::plans::{Schedule, ValidPlan};
use super::{lock, now_ms, BackupService, PlanSlot};
use crate::archive::{ArchiveOptions, Archiver};
use crate::source::TableSource;

/// The longest wait before retrying a failed scheduled run.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest wait for the first run of an interval plan that never ran.
pub const FIRST_RUN_DELAY: Duration = Duration::from_secs(300);
/// How often an archiving plan's streams are read.
pub const ARCHIVE_INTERVAL: Duration = Duration::from_secs(1);

/// A plan's slot at start, from what the history says of its runs.
pub(super) fn first_slot(plan: ValidPlan, history: &JobHistory, now: i64) -> PlanSlot {
    let runs = history.list(usize::MAX, |j| j.kind == JobKind::Backup && j.plan.as_deref() == Some(plan.name()));
    let last_success_ms = runs.iter().find(|j| j.state == JobState::Succeeded).and_then(|j| j.finished_ms);
    let last_scheduled = runs.iter().find(|j| j.trigger != JobTrigger::Request).map(|j| j.started_ms);
    let (due, trigger) = match last_scheduled {
        Some(last) if plan.schedule.next_after(last) <= now => (now, JobTrigger::CatchUp),
        Some(last) => (plan.schedule.next_after(last), JobTrigger::Schedule),
        // Never run: an interval plan's first run comes soon (within FIRST_RUN_DELAY),
        // so that a server restarted more often than its period still gets backups.
        None => match plan.schedule {
            Schedule::Every(interval) => (now + interval.min(FIRST_RUN_DELAY).as_millis() as i64, JobTrigger::Schedule),
            Schedule::Cron(..) => (plan.schedule.next_after(now), JobTrigger::Schedule),
        },
    };
    PlanSlot {
        next_due_ms: due,
        next_trigger: trigger,
        regular_due_ms: due,
        running: None,
        failures: 0,
        last_success_ms,
        plan,
    }
}

/// Sets the plan's next due time after a run of it ended.
pub(super) fn run_ended(service: &BackupService, job: &Job) {
    let Some(name) = job.plan.as_deref() else { return };
    let mut slots = lock(&service.plans);
    let Some(slot) = slots.iter_mut().find(|s| s.plan.name() == name) else { return };
    if slot.running.as_deref() != Some(job.id.as_str()) {
        return; // an ad-hoc policy named like the plan
    }
    slot.running = None;
    let now = job.finished_ms.unwrap_or_else(now_ms);
    if job.state == JobState::Succeeded {
        slot.last_success_ms = Some(now);
    }
    if job.trigger == JobTrigger::Request {
        return;
    }
    // The next time on the schedule after the one this run stood for (a retry
    // stands for none: the next regular time is still ahead), or after now when
    // the run took longer than a period.
    let mut regular = if job.trigger == JobTrigger::Retry {
        slot.regular_due_ms
    } else {
        slot.plan.schedule.next_after(slot.regular_due_ms)
    };
    if regular <= now {
        regular = slot.plan.schedule.next_after(now);
    }
    slot.regular_due_ms = regular;
    if job.state == JobState::Succeeded {
        slot.failures = 0;
        slot.next_due_ms = regular;
        slot.next_trigger = JobTrigger::Schedule;
    } else {
        slot.failures += 1;
        let backoff = Duration::from_secs(1 << (slot.failures - 1).min(16)).min(MAX_BACKOFF);
        let retry = now.saturating_add(backoff.as_millis() as i64);
        if retry < regular {
            slot.next_due_ms = retry;
            slot.next_trigger = JobTrigger::Retry;
        } else {
            slot.next_due_ms = regular;
            slot.next_trigger = JobTrigger::Schedule;
        }
    }
}

/// The scheduler: starts due runs of enabled plans until the service stops.
pub(super) async fn run(service: Arc<BackupService>) {
    loop {
        if service.stopped() {
            return;
        }
        let now = now_ms();
        let due: Vec<(String, JobTrigger)> = lock(&service.plans)
            .iter()
            .filter(|s| s.plan.plan.enabled && s.running.is_none() && s.next_due_ms <= now)
            .map(|s| (s.plan.name().to_owned(), s.next_trigger))
            .collect();
        for (name, trigger) in due {
            if let Err(error) = service.start_plan_run(&name, trigger, Vec::new()) {
                tracing::warn!(plan = name, %error, "cannot start a scheduled backup");
                // Recorded nowhere else: try again at the next period.
                if let Some(slot) = lock(&service.plans).iter_mut().find(|s| s.plan.name() == name) {
                    slot.next_due_ms = slot.plan.schedule.next_after(now);
                }
            }
        }
        let next = lock(&service.plans)
            .iter()
            .filter(|s| s.plan.plan.enabled && s.running.is_none())
            .map(|s| s.next_due_ms)
            .min()
            .unwrap_or(i64::MAX);
        let wait = Duration::from_millis(next.saturating_sub(now_ms()).clamp(0, 60_000) as u64);
        let woken = service.wake.notified();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = woken => {}
        }
    }
}

/// Archives the streams of plan `name`'s tables every [`ARCHIVE_INTERVAL`] while
/// the plan exists and asks for it; a last pass when the service stops.
pub(super) async fn archive(service: Arc<BackupService>, name: String) {
    let mut archiver = Archiver::new(service.source.clone(), ArchiveOptions::default());
    // The repository stays open from pass to pass (its keys and index read once,
    // never reread: a pass's cost must not grow with the snapshots beside it, and
    // the archiver's writes do not deduplicate against the index); reopened when
    // the destination changes or after an error.
    let mut kept: Option<(String, Arc<tablesafe_repo::Repository>)> = None;
    loop {
        let stopping = service.stopped();
        let plan = lock(&service.plans).iter().find(|s| s.plan.name() == name).map(|s| s.plan.clone());
        let Some(plan) = plan.filter(|p| p.plan.archive) else { break };
        let started = now_ms();
        let destination = &plan.plan.destination;
        let result = async {
            let repo = match kept.as_ref().filter(|(at, _)| at == destination) {
                Some((_, repo)) => Arc::clone(repo),
                None => {
                    let repo = service.repository(destination).await?;
                    kept = Some((destination.clone(), Arc::clone(&repo)));
                    repo
                }
            };
            let all = archiver.source().list_tables().await?;
            let tables = plan.tables(&all);
            if !tables.is_empty() {
                archiver.pass(&repo, &tables).await?;
            }
            Ok::<_, crate::BackupError>(())
        }
        .await;
        match result {
            Ok(()) => {
                lock(&service.archived_ms).insert(name.clone(), started);
            }
            Err(error) => {
                tracing::warn!(plan = name, %error, "archiving failed; retrying");
                kept = None;
                if matches!(error, crate::BackupError::Repo(_)) {
                    service.repos.lock().await.remove(&service.resolve(&plan.plan.destination));
                }
            }
        }
        if stopping {
            break;
        }
        let mut stop = service.stopping.subscribe();
        tokio::select! {
            () = tokio::time::sleep(ARCHIVE_INTERVAL) => {}
            _ = stop.changed() => {}
        }
    }
    lock(&service.archived_ms).remove(&name);
    lock(&service.archiving).remove(&name);
}
