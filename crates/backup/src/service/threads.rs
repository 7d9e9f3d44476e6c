//! The threads a server's backup work runs on: a runtime of its own whose
//! threads run below the priority of the threads that answer requests.
//!
//! Invariants: every job and archiver of the service runs on this runtime, and
//! so do the blocking tasks they spawn; each of its threads lowers its own
//! scheduling priority (Linux's nice is per thread) by [`NICE_INCREMENT`] when
//! it starts, and the threads a job creates (the seal workers) inherit it. A
//! backup then takes the cores that requests leave idle: measured in
//! docs/BENCHMARKS.md ("GetRow latency while a backup runs inside `serve`").

use std::sync::atomic::{AtomicUsize, Ordering};

/// How much less priority backup threads have than the server's (nice steps).
/// At 10 the kernel gives a waiting request thread about ten times a backup
/// thread's share of a core, so a request rarely waits behind a backup, and a
/// backup on a busy server still makes progress.
pub const NICE_INCREMENT: i32 = 10;

/// The runtime backup jobs and archivers run on. Dropping it stops its threads
/// without waiting (the service records unfinished jobs as interrupted).
pub(crate) struct JobThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl JobThreads {
    /// Two async workers (a job's own work is I/O and hand-offs; its CPU work
    /// runs on blocking threads and seal workers), named `backup-job-N`.
    pub(crate) fn start() -> std::io::Result<JobThreads> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // Threads started from other backup threads inherit their nice value,
        // so the target is fixed once, from the thread that starts the service.
        let target = lowered_nice();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name_fn(|| format!("backup-job-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
            .on_thread_start(move || lower_priority(target))
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

/// Lowers the calling thread's priority to `target` unless it is that low
/// already. A failure only costs request latency, so it is logged, not returned.
fn lower_priority(target: Option<i32>) {
    #[cfg(target_os = "linux")]
    if let Some(target) = target {
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

    #[test]
    fn backup_threads_and_the_threads_they_start_run_below_the_caller() {
        let caller = nice();
        let expected = (caller + NICE_INCREMENT).min(19);
        let threads = JobThreads::start().expect("runtime");
        let on_worker = threads.handle().spawn(async {
            let worker = nice();
            let blocking = tokio::task::spawn_blocking(nice).await.expect("blocking task");
            let spawned = std::thread::spawn(nice).join().expect("thread");
            (worker, blocking, spawned)
        });
        let (worker, blocking, spawned) = threads.handle().block_on(on_worker).expect("worker task");
        assert_eq!((worker, blocking, spawned), (expected, expected, expected));
        assert_eq!(nice(), caller, "the caller's own priority is unchanged");
    }
}
