//! The job history of a server: every backup, restore and verification job, kept
//! in `<data-dir>/backup-jobs.jsonl` (one JSON line per start and per end; the
//! last line of an id wins), with the progress of running jobs in memory.
//!
//! It lives in the data directory rather than in a repository so that a run that
//! could not reach its repository is recorded too. Invariants: a job's start line
//! is durable (fsynced) before the job does any work, and its end line before its
//! result is reported; a job found running when the history is opened was cut
//! short by a stop and is recorded as interrupted; the file is compacted to the
//! newest [`KEEP_JOBS`] jobs by writing a new file and renaming it over the old.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tablesafe_proto::backup_api::{Job, JobState};

use crate::BackupError;

/// Jobs kept in the file and in memory.
pub const KEEP_JOBS: usize = 10_000;

struct State {
    /// Oldest first.
    jobs: Vec<Job>,
    index: HashMap<String, usize>,
    lines: usize,
}

/// The job history.
pub struct JobHistory {
    path: PathBuf,
    state: Mutex<State>,
    /// Counts every start, end and progress update: what live views await.
    changes: tokio::sync::watch::Sender<u64>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Internal(format!("job history {}: {e}", path.display()))
}

impl JobHistory {
    /// Opens (or creates) the history at `path`; jobs left running are marked
    /// interrupted. Lines that do not decode (a torn last line after a crash) are skipped.
    pub fn open(path: PathBuf, now_ms: i64) -> Result<JobHistory, BackupError> {
        let mut state = State { jobs: Vec::new(), index: HashMap::new(), lines: 0 };
        match std::fs::File::open(&path) {
            Ok(file) => {
                for line in std::io::BufReader::new(file).lines() {
                    let line = line.map_err(io_error(&path))?;
                    state.lines += 1;
                    if let Ok(job) = serde_json::from_str::<Job>(&line) {
                        state.put(job);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        let history = JobHistory { path, state: Mutex::new(state), changes: tokio::sync::watch::channel(0).0 };
        let cut_short: Vec<Job> = history.lock().jobs.iter().filter(|j| !j.is_finished()).cloned().collect();
        for mut job in cut_short {
            job.state = JobState::Interrupted;
            job.finished_ms = Some(now_ms);
            job.error = Some("the server stopped while the job ran".into());
            history.record(&job)?;
        }
        history.compact()?;
        Ok(history)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a job's start or end durably and in memory.
    pub fn record(&self, job: &Job) -> Result<(), BackupError> {
        let mut line = serde_json::to_vec(job).map_err(|e| BackupError::Internal(format!("job record: {e}")))?;
        line.push(b'\n');
        let mut state = self.lock();
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io_error(&self.path))?;
        file.write_all(&line).and_then(|()| file.sync_data()).map_err(io_error(&self.path))?;
        state.lines += 1;
        state.put(job.clone());
        let compact = state.lines > 2 * KEEP_JOBS + 1_000;
        drop(state);
        self.changes.send_modify(|n| *n += 1);
        if compact {
            self.compact()?;
        }
        Ok(())
    }

    /// Updates a running job's progress in memory only (its end is [`record`](Self::record)ed).
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Job)) {
        let mut state = self.lock();
        if let Some(&i) = state.index.get(id) {
            change(&mut state.jobs[i]);
        }
        drop(state);
        self.changes.send_modify(|n| *n += 1);
    }

    /// A receiver that wakes whenever a job starts, ends or makes progress.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Job> {
        let state = self.lock();
        state.index.get(id).map(|&i| state.jobs[i].clone())
    }

    /// Jobs that `keep` accepts, newest first, at most `limit`.
    pub fn list(&self, limit: usize, keep: impl Fn(&Job) -> bool) -> Vec<Job> {
        self.lock().jobs.iter().rev().filter(|j| keep(j)).take(limit).cloned().collect()
    }

    /// Every job, oldest first, through `visit` (under the lock: keep it short).
    pub fn for_each(&self, mut visit: impl FnMut(&Job)) {
        self.lock().jobs.iter().for_each(&mut visit);
    }

    /// Rewrites the file with the newest [`KEEP_JOBS`] jobs, one line each.
    fn compact(&self) -> Result<(), BackupError> {
        let mut state = self.lock();
        if state.lines <= state.jobs.len() && state.jobs.len() <= KEEP_JOBS {
            return Ok(());
        }
        let drop_count = state.jobs.len().saturating_sub(KEEP_JOBS);
        state.jobs.drain(..drop_count);
        state.index = state.jobs.iter().enumerate().map(|(i, j)| (j.id.clone(), i)).collect();
        let mut body = Vec::new();
        for job in &state.jobs {
            serde_json::to_writer(&mut body, job).map_err(|e| BackupError::Internal(format!("job record: {e}")))?;
            body.push(b'\n');
        }
        let temporary = self.path.with_extension("jsonl.tmp");
        let mut file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(&body).and_then(|()| file.sync_all()).map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, &self.path).map_err(io_error(&self.path))?;
        state.lines = state.jobs.len();
        Ok(())
    }
}

impl State {
    fn put(&mut self, job: Job) {
        match self.index.get(&job.id) {
            Some(&i) => self.jobs[i] = job,
            None => {
                self.index.insert(job.id.clone(), self.jobs.len());
                self.jobs.push(job);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn job(id: &str, state: JobState) -> Job {
        Job { id: id.into(), state, started_ms: 1, ..Job::default() }
    }

    #[test]
    fn ends_replace_starts_and_running_jobs_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.jsonl");
        let history = JobHistory::open(path.clone(), 10).unwrap();
        history.record(&job("a", JobState::Running)).unwrap();
        history.record(&job("a", JobState::Succeeded)).unwrap();
        history.record(&job("b", JobState::Running)).unwrap();
        history.update("b", |j| j.rows = 7);
        assert_eq!(history.get("b").unwrap().rows, 7);
        drop(history);
        // A torn last line, as a crash mid-append leaves.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":\"c\",").unwrap();
        let history = JobHistory::open(path.clone(), 20).unwrap();
        let jobs = history.list(10, |_| true);
        assert_eq!(
            jobs.iter().map(|j| (j.id.as_str(), j.state)).collect::<Vec<_>>(),
            vec![("b", JobState::Interrupted), ("a", JobState::Succeeded)]
        );
        assert_eq!(jobs[0].finished_ms, Some(20));
        // Compacted to one line per job.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
