//! The threads a server's backup work runs on: a runtime of its own whose
//! threads run below the priority of the threads that answer requests.
//!
//! Invariants: every job and archiver of the service runs on this runtime, and
//! so do the blocking tasks they spawn; each of its threads sets its own
//! scheduling (Linux schedules threads, not processes) to the service's
//! [`JobPriority`] (a policy, a nice value, the cores it may use) when it
//! starts, and the threads a job creates (the seal workers) inherit it.
//! Measured in docs/BENCHMARKS.md ("Backup threads off the first core").

use std::sync::atomic::{AtomicUsize, Ordering};

/// How much less priority backup threads have than the server's (nice steps)
/// under [`JobPriority::Low`].
pub const NICE_INCREMENT: i32 = 10;

/// How backup threads share the machine's cores with the threads that answer
/// requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobPriority {
    /// Linux's `SCHED_IDLE`, on every core of the server's but its first (when
    /// it has two or more): a backup runs on the cores requests leave idle, and
    /// one core never runs backup work at all. The policy alone is not enough: a
    /// request thread still waited 3-5 ms behind `SCHED_IDLE` backup threads on
    /// both cores (`perf sched`; the kernel does not preempt a thread inside a
    /// system call). A server kept busy on every core all the time leaves such a
    /// backup little; use `Low` there.
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
#[derive(Clone, Copy)]
enum Scheduling {
    /// `SCHED_IDLE`, and these cores when `Some`.
    Idle(Option<CpuSet>),
    /// This nice value (normal scheduling).
    Nice(i32),
    /// Nothing: the thread keeps what it inherits.
    Inherit,
}

#[cfg(target_os = "linux")]
type CpuSet = rustix::thread::CpuSet;
#[cfg(not(target_os = "linux"))]
type CpuSet = ();

impl Scheduling {
    fn for_priority(priority: JobPriority) -> Scheduling {
        match priority {
            JobPriority::Idle if cfg!(target_os = "linux") => Scheduling::Idle(all_cores_but_the_first()),
            JobPriority::Idle | JobPriority::Low => lowered_nice().map_or(Scheduling::Inherit, Scheduling::Nice),
            JobPriority::Normal => Scheduling::Inherit,
        }
    }

    /// Sets the calling thread's scheduling. A failure only costs request
    /// latency, so it is logged, not returned.
    fn apply(&self) {
        match *self {
            Scheduling::Idle(cores) => {
                idle_policy();
                if let Some(cores) = cores {
                    keep_to(&cores);
                }
            }
            Scheduling::Nice(target) => lower_priority(target),
            Scheduling::Inherit => {}
        }
    }
}

/// The cores the calling thread may run on without the lowest of them, when
/// that leaves any.
fn all_cores_but_the_first() -> Option<CpuSet> {
    #[cfg(target_os = "linux")]
    {
        let mut cores = rustix::thread::sched_getaffinity(None).ok()?;
        if cores.count() < 2 {
            return None;
        }
        let first = (0..CpuSet::MAX_CPU).find(|&core| cores.is_set(core))?;
        cores.unset(first);
        Some(cores)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Keeps the calling thread (and the threads it starts) to `cores`.
fn keep_to(cores: &CpuSet) {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::sched_setaffinity(None, cores) {
        tracing::debug!(%error, "cannot keep a backup thread off the first core");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cores;
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

    /// The cores the calling thread may run on.
    fn cores() -> Vec<usize> {
        let set = rustix::thread::sched_getaffinity(None).expect("sched_getaffinity");
        (0..CpuSet::MAX_CPU).filter(|&core| set.is_set(core)).collect()
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
        let allowed = cores();
        let backup = if allowed.len() >= 2 { allowed[1..].to_vec() } else { allowed.clone() };
        assert_eq!(
            on_backup_threads(JobPriority::Idle, cores),
            (backup.clone(), backup.clone(), backup),
            "every core but the first"
        );
        assert_eq!(cores(), allowed, "the caller's own cores are unchanged");
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
