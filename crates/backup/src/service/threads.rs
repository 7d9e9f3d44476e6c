//! The threads a server's backup work runs on: a runtime of its own whose
//! threads run below the priority of the threads that answer requests.
//!
//! Invariants: every job and archiver of the service runs on this runtime, and
//! so do the blocking tasks they spawn; each of its threads sets its own
//! scheduling (Linux schedules threads, not processes) to the service's
//! [`JobPriority`] when it starts, and the threads a job creates (the seal
//! workers) inherit it. Measured in docs/BENCHMARKS.md ("GetRow latency while a
//! backup runs inside `serve`").

use std::sync::atomic::{AtomicUsize, Ordering};

/// How much less priority backup threads have than the server's (nice steps)
/// under [`JobPriority::Low`].
pub const NICE_INCREMENT: i32 = 10;

/// How backup threads share the machine's cores with the threads that answer
/// requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobPriority {
    /// Linux's `SCHED_IDLE`: a backup runs on the cores requests leave idle, and
    /// a request that wakes takes the core at once. Nice values do not give that
    /// on Linux's scheduler (EEVDF, 6.6 and later): a request that wakes beside a
    /// niced backup thread still waits for the rest of its time slice, which
    /// measured as a p99 4-6× the idle one. A server kept busy all the time
    /// leaves such a backup almost nothing; use `Low` there.
    #[default]
    Idle,
    /// [`NICE_INCREMENT`] nice steps below the server: a request rarely waits
    /// behind a backup, and a backup on a busy server keeps about a tenth of a core.
    Low,
    /// The server's own priority.
    Normal,
}

/// The runtime backup jobs and archivers run on. Dropping it stops its threads
/// without waiting (the service records unfinished jobs as interrupted).
pub(crate) struct JobThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl JobThreads {
    /// Two async workers (a job's own work is I/O and hand-offs; its CPU work
    /// runs on blocking threads and seal workers), named `backup-job-N`.
    pub(crate) fn start(priority: JobPriority) -> std::io::Result<JobThreads> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // Threads started from other backup threads inherit their scheduling,
        // so the target is fixed once, from the thread that starts the service.
        let target = Scheduling::for_priority(priority);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name_fn(|| format!("backup-job-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
            .on_thread_start(move || target.apply())
            .enable_all()
            .build()?;
        Ok(JobThreads { runtime: Some(runtime) })
    }

    /// Where to spawn backup work.
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until drop").handle()
    }
}

impl Drop for JobThreads {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a backup thread sets for itself when it starts.
#[derive(Clone, Copy, Debug)]
enum Scheduling {
    /// `SCHED_IDLE`.
    Idle,
    /// This nice value (normal scheduling).
    Nice(i32),
    /// Nothing: the thread keeps what it inherits.
    Inherit,
}

impl Scheduling {
    fn for_priority(priority: JobPriority) -> Scheduling {
        match priority {
            JobPriority::Idle if cfg!(target_os = "linux") => Scheduling::Idle,
            JobPriority::Idle | JobPriority::Low => lowered_nice().map_or(Scheduling::Inherit, Scheduling::Nice),
            JobPriority::Normal => Scheduling::Inherit,
        }
    }

    /// Sets the calling thread's scheduling. A failure only costs request
    /// latency, so it is logged, not returned.
    fn apply(self) {
        match self {
            Scheduling::Idle => idle_policy(),
            Scheduling::Nice(target) => lower_priority(target),
            Scheduling::Inherit => {}
        }
    }
}

/// Puts the calling thread under `SCHED_IDLE`.
fn idle_policy() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, thread_schedule_policy, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        use thread_priority::ThreadPriority;
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        // The crate sets the policy, then a nice value of 0, which an unprivileged
        // server started under `nice` may not; the policy is what counts here.
        let set = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle);
        if thread_schedule_policy().ok() != Some(idle) {
            tracing::debug!(error = ?set.err(), "cannot put a backup thread under SCHED_IDLE");
        }
    }
}

/// The nice value of backup threads: the calling thread's raised by
/// [`NICE_INCREMENT`] (capped at 19). Relative, not absolute, so a server started
/// under `nice` keeps its order and a privileged server never raises a thread's
/// priority.
fn lowered_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(None).ok().map(|nice| (nice + NICE_INCREMENT).min(19))
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Elsewhere the call sets the whole process's priority, not one thread's.
        None
    }
}

/// Lowers the calling thread's priority to `target` unless it is that low already.
fn lower_priority(target: i32) {
    #[cfg(target_os = "linux")]
    {
        let lowered = rustix::process::getpriority_process(None).and_then(|nice| {
            if nice < target {
                rustix::process::setpriority_process(None, target)
            } else {
                Ok(())
            }
        });
        if let Err(error) = lowered {
            tracing::debug!(%error, "cannot lower a backup thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = target;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice() -> i32 {
        rustix::process::getpriority_process(None).expect("getpriority")
    }

    /// What `f` sees on a worker, on a blocking thread and on a thread a
    /// blocking task starts.
    fn on_backup_threads<T: Send + 'static>(priority: JobPriority, f: fn() -> T) -> (T, T, T) {
        let threads = JobThreads::start(priority).expect("runtime");
        let on_worker = threads.handle().spawn(async move {
            let worker = f();
            let blocking = tokio::task::spawn_blocking(f).await.expect("blocking task");
            let spawned = std::thread::spawn(f).join().expect("thread");
            (worker, blocking, spawned)
        });
        threads.handle().block_on(on_worker).expect("worker task")
    }

    fn policy() -> thread_priority::unix::ThreadSchedulePolicy {
        thread_priority::unix::thread_schedule_policy().expect("sched_getscheduler")
    }

    #[test]
    fn idle_backup_threads_and_the_threads_they_start_run_under_sched_idle() {
        use thread_priority::unix::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let caller = policy();
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        assert_ne!(caller, idle);
        assert_eq!(on_backup_threads(JobPriority::Idle, policy), (idle, idle, idle));
        assert_eq!(policy(), caller, "the caller's own scheduling is unchanged");
    }

    #[test]
    fn low_backup_threads_and_the_threads_they_start_run_below_the_caller() {
        let caller = nice();
        let expected = (caller + NICE_INCREMENT).min(19);
        assert_eq!(on_backup_threads(JobPriority::Low, nice), (expected, expected, expected));
        assert_eq!(nice(), caller, "the caller's own priority is unchanged");
        let normal = policy();
        assert_eq!(on_backup_threads(JobPriority::Normal, policy), (normal, normal, normal));
    }
}
