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
use super::{lock, BackupService, PlanSlot};
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
    let now = job.finished_ms.unwrap_or_else(|| service.now_ms());
    after_run(slot, job, now);
}

/// What a run's end at `now` does to its plan's slot (a pure function of the
/// slot, the job and the time, so the rules are tested on any clock).
fn after_run(slot: &mut PlanSlot, job: &Job, now: i64) {
    slot.running = None;
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

/// The plans to start at `now`, with why: enabled, due, and not running (a run
/// never overlaps the one before it).
fn due_runs(slots: &[PlanSlot], now: i64) -> Vec<(String, JobTrigger)> {
    slots
        .iter()
        .filter(|s| s.plan.plan.enabled && s.running.is_none() && s.next_due_ms <= now)
        .map(|s| (s.plan.name().to_owned(), s.next_trigger))
        .collect()
}

/// The scheduler: starts due runs of enabled plans until the service stops.
pub(super) async fn run(service: Arc<BackupService>) {
    loop {
        if service.stopped() {
            return;
        }
        let now = service.now_ms();
        let due = due_runs(&lock(&service.plans), now);
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
        let wait = Duration::from_millis(next.saturating_sub(service.now_ms()).clamp(0, 60_000) as u64);
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
        let started = service.now_ms();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    //! The scheduling rules on a clock of the test's own: every decision takes
    //! `now`, so catch-up, backoff, no overlap and the regular times are shown
    //! at chosen instants, with no sleeping.

    use super::*;
    use tablesafe_proto::backup_api::Plan;

    const HOUR: i64 = 3_600_000;
    const T0: i64 = 1_800_000_000_000;

    fn hourly() -> ValidPlan {
        let plan = Plan { name: "p".into(), every: Some("1h".into()), destination: "backups".into(), ..Plan::default() };
        ValidPlan::new(plan).unwrap()
    }

    fn history_of(jobs: &[Job]) -> (tempfile::TempDir, JobHistory) {
        let dir = tempfile::tempdir().unwrap();
        let history = JobHistory::open(dir.path().join("jobs.jsonl"), T0).unwrap();
        for job in jobs {
            history.record(job).unwrap();
        }
        (dir, history)
    }

    fn backup(id: &str, trigger: JobTrigger, state: JobState, started_ms: i64) -> Job {
        Job {
            id: id.into(),
            kind: JobKind::Backup,
            state,
            trigger,
            plan: Some("p".into()),
            started_ms,
            finished_ms: Some(started_ms + 1_000),
            ..Job::default()
        }
    }

    /// Starts the slot's due run at `now` and ends it at `end` in `state`; returns the trigger it ran with.
    fn run(slot: &mut PlanSlot, id: &str, state: JobState, now: i64, end: i64) -> JobTrigger {
        let due = due_runs(std::slice::from_ref(slot), now);
        assert_eq!(due.len(), 1, "a run is due at {now}: {:?}", slot.next_due_ms);
        let trigger = due[0].1;
        slot.running = Some(id.into());
        assert!(due_runs(std::slice::from_ref(slot), end).is_empty(), "no run starts beside a running one");
        let mut job = backup(id, trigger, state, now);
        job.finished_ms = Some(end);
        after_run(slot, &job, end);
        trigger
    }

    #[test]
    fn after_downtime_a_plan_catches_up_once_then_keeps_its_schedule() {
        // The last scheduled run was a day before the start: one catch-up run, no burst of 24.
        let (_dir, history) = history_of(&[backup("old", JobTrigger::Schedule, JobState::Succeeded, T0 - 24 * HOUR)]);
        let mut slot = first_slot(hourly(), &history, T0);
        assert_eq!((slot.next_due_ms, slot.next_trigger), (T0, JobTrigger::CatchUp));
        assert_eq!(run(&mut slot, "c", JobState::Succeeded, T0, T0 + 60_000), JobTrigger::CatchUp);
        assert_eq!((slot.next_due_ms, slot.next_trigger), (T0 + HOUR, JobTrigger::Schedule));
        assert!(due_runs(std::slice::from_ref(&slot), T0 + HOUR - 1).is_empty());

        // A run within the period before the start: no catch-up, the next time on the schedule.
        let (_dir, history) = history_of(&[backup("old", JobTrigger::Schedule, JobState::Succeeded, T0 - HOUR / 2)]);
        let slot = first_slot(hourly(), &history, T0);
        assert_eq!((slot.next_due_ms, slot.next_trigger), (T0 + HOUR / 2, JobTrigger::Schedule));
        // Runs asked for through the API do not count as the schedule's.
        let (_dir, history) = history_of(&[
            backup("sched", JobTrigger::Schedule, JobState::Succeeded, T0 - 3 * HOUR),
            backup("asked", JobTrigger::Request, JobState::Succeeded, T0 - 60_000),
        ]);
        assert_eq!(first_slot(hourly(), &history, T0).next_trigger, JobTrigger::CatchUp);
    }

    #[test]
    fn failed_runs_back_off_and_retries_never_move_the_next_regular_time() {
        // The last scheduled run a little less than an hour ago: the next is due on the schedule.
        let (_dir, history) = history_of(&[backup("old", JobTrigger::Schedule, JobState::Succeeded, T0 - HOUR + 1)]);
        let mut slot = first_slot(hourly(), &history, T0);
        let regular = slot.next_due_ms;
        assert_eq!((regular, slot.next_trigger), (T0 + 1, JobTrigger::Schedule));
        // Failures retry after 1, 2, 4, ... s; each run ends 10 ms after it starts.
        let mut now = regular;
        let mut waits = Vec::new();
        for i in 0..12 {
            let trigger = run(&mut slot, &format!("f{i}"), JobState::Failed, now, now + 10);
            assert_eq!(trigger, if i == 0 { JobTrigger::Schedule } else { JobTrigger::Retry });
            waits.push(slot.next_due_ms - (now + 10));
            assert_eq!(slot.regular_due_ms, regular + HOUR, "retry {i} moved the next regular time");
            now = slot.next_due_ms;
        }
        assert_eq!(&waits[..9], &[1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000]);
        assert!(waits[9..].iter().all(|&w| w == MAX_BACKOFF.as_millis() as i64), "capped: {waits:?}");
        // A retry that succeeds: the next run is the regular one, an hour after the failed one was due.
        run(&mut slot, "ok", JobState::Succeeded, now, now + 10);
        assert_eq!((slot.next_due_ms, slot.next_trigger, slot.failures), (regular + HOUR, JobTrigger::Schedule, 0));

        // A retry is never set past the next regular time: then the regular run comes instead.
        let near_end = regular + HOUR - 500;
        slot.next_due_ms = near_end;
        slot.next_trigger = JobTrigger::Retry;
        slot.failures = 3;
        slot.regular_due_ms = regular + HOUR;
        run(&mut slot, "late", JobState::Failed, near_end, near_end + 10);
        assert_eq!((slot.next_due_ms, slot.next_trigger), (regular + HOUR, JobTrigger::Schedule));
    }

    #[test]
    fn a_run_longer_than_a_period_is_followed_by_the_next_time_after_it_not_a_burst() {
        let (_dir, history) = history_of(&[backup("old", JobTrigger::Schedule, JobState::Succeeded, T0 - HOUR)]);
        let mut slot = first_slot(hourly(), &history, T0);
        // Due at T0, it runs 3.5 hours: the next run is an hour after its end, once.
        run(&mut slot, "long", JobState::Succeeded, T0, T0 + 7 * HOUR / 2);
        assert_eq!(slot.next_due_ms, T0 + 7 * HOUR / 2 + HOUR);
        assert_eq!(due_runs(std::slice::from_ref(&slot), T0 + 7 * HOUR / 2).len(), 0);
        // A run asked for through the API leaves the schedule as it was.
        let before = (slot.next_due_ms, slot.regular_due_ms);
        slot.running = Some("asked".into());
        let mut asked = backup("asked", JobTrigger::Request, JobState::Succeeded, T0 + 4 * HOUR);
        asked.finished_ms = Some(T0 + 4 * HOUR + 10);
        after_run(&mut slot, &asked, T0 + 4 * HOUR + 10);
        assert_eq!((slot.next_due_ms, slot.regular_due_ms), before);
        assert_eq!(slot.last_success_ms, Some(T0 + 4 * HOUR + 10));
    }

    #[test]
    fn a_disabled_plan_is_never_due() {
        let (_dir, history) = history_of(&[]);
        let mut plan = hourly();
        plan.plan.enabled = false;
        let slot = first_slot(plan, &history, T0);
        assert!(due_runs(std::slice::from_ref(&slot), T0 + 10 * HOUR).is_empty());
    }
}
