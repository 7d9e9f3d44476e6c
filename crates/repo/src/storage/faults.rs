//! A layer that makes any store misbehave as real ones do, so that tests can show every repository
//! operation survives it: requests that fail, replies lost after the store acted, deletes reported done
//! but not done, torn writes, latency, and a crash (every request from the n-th on fails, as when the
//! process dies).
//!
//! A torn write is what a write cut off midway leaves on a store that keeps the promise of whole writes:
//! part of the bytes under the reserved `.tmp/` (where a local root writes before its rename; readers
//! never see it), the object itself unchanged, and the write reported failed.
//!
//! Faults are drawn from a seeded generator, so a failing case reruns exactly from its seed. The layer
//! never changes an object's bytes: flipped and truncated objects are the corruption tests' business.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Created, ObjectStore, TMP_DIR};
use crate::RepoError;

/// Which faults to inject, and how often.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Seed of the generator that decides each request's fate.
    pub seed: u64,
    /// Probability that a request fails before it reaches the store.
    pub error: f64,
    /// Probability that a write or delete reaches the store but its reply is lost (reported failed).
    pub lost_reply: f64,
    /// Probability that a delete is reported done and not done.
    pub lost_delete: f64,
    /// Probability that a write is torn: part of it left under `.tmp/`, the object unchanged, the write
    /// reported failed.
    pub torn_write: f64,
    /// Each request waits up to this long (uniformly) before it runs.
    pub max_latency: Duration,
    /// Every request from this one on (counted from 0) fails: the process died there.
    pub crash_at: Option<u64>,
    /// Only paths that start with one of these get faults (empty: every path).
    pub paths: Vec<String>,
}

/// How many faults the layer injected, to show a test exercised them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests that failed before reaching the store (crashes included).
    pub errors: u64,
    /// Writes and deletes done whose reply was lost.
    pub lost_replies: u64,
    /// Deletes reported done and not done.
    pub lost_deletes: u64,
    /// Writes torn.
    pub torn_writes: u64,
    /// Every request the layer saw.
    pub requests: u64,
}

/// The error an injected fault reports.
#[derive(Debug, thiserror::Error)]
#[error("injected fault: {0}")]
pub struct InjectedFault(&'static str);

/// A store whose requests fail as [`FaultPlan`] says.
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: FaultPlan,
    rng: Mutex<StdRng>,
    enabled: AtomicBool,
    requests: AtomicU64,
    errors: AtomicU64,
    lost_replies: AtomicU64,
    lost_deletes: AtomicU64,
    torn_writes: AtomicU64,
}

/// What happens to one request.
#[derive(PartialEq)]
enum Fate {
    Pass,
    Fail,
    LoseReply,
    LoseDelete,
    /// Leave this fraction of the write's bytes under `.tmp/`, then fail.
    Tear(f64),
}

impl FaultyStore {
    /// `inner` with faults as `plan` says, enabled.
    pub fn new(inner: Arc<dyn ObjectStore>, plan: FaultPlan) -> FaultyStore {
        FaultyStore {
            inner,
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            plan,
            enabled: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost_replies: AtomicU64::new(0),
            lost_deletes: AtomicU64::new(0),
            torn_writes: AtomicU64::new(0),
        }
    }

    /// Turns faults on or off (off: every request passes straight through).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// The faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            errors: self.errors.load(Ordering::SeqCst),
            lost_replies: self.lost_replies.load(Ordering::SeqCst),
            lost_deletes: self.lost_deletes.load(Ordering::SeqCst),
            torn_writes: self.torn_writes.load(Ordering::SeqCst),
            requests: self.requests.load(Ordering::SeqCst),
        }
    }

    /// Decides a request's fate (and waits its latency). `mutates` requests may lose their reply;
    /// deletes may be lost; writes (mutating, not deleting) may tear.
    async fn fate(&self, path: &str, mutates: bool, deletes: bool) -> Fate {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        let in_scope = self.plan.paths.is_empty() || self.plan.paths.iter().any(|p| path.starts_with(p.as_str()));
        if !self.enabled.load(Ordering::SeqCst) || !in_scope {
            return Fate::Pass;
        }
        let (delay, fate) = {
            let mut rng = self.rng.lock();
            let delay = if self.plan.max_latency.is_zero() {
                Duration::ZERO
            } else {
                self.plan.max_latency.mul_f64(rng.gen::<f64>())
            };
            let fate = if self.plan.crash_at.is_some_and(|at| n >= at) || rng.gen_bool(self.plan.error) {
                Fate::Fail
            } else if mutates && rng.gen_bool(self.plan.lost_reply) {
                Fate::LoseReply
            } else if deletes && rng.gen_bool(self.plan.lost_delete) {
                Fate::LoseDelete
            } else if mutates && !deletes && rng.gen_bool(self.plan.torn_write) {
                Fate::Tear(rng.gen::<f64>())
            } else {
                Fate::Pass
            };
            (delay, fate)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let counter = match fate {
            Fate::Pass => return Fate::Pass,
            Fate::Fail => &self.errors,
            Fate::LoseReply => &self.lost_replies,
            Fate::LoseDelete => &self.lost_deletes,
            Fate::Tear(_) => &self.torn_writes,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        fate
    }

    /// The error of a failed request, or of one whose reply was lost.
    fn error(operation: &'static str, path: &str, what: &'static str) -> RepoError {
        RepoError::Storage { operation, path: path.to_owned(), source: Box::new(InjectedFault(what)) }
    }

    /// Runs a request that reads: it fails or passes.
    async fn read_op<T>(
        &self,
        operation: &'static str,
        path: &str,
        run: impl std::future::Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        match self.fate(path, false, false).await {
            Fate::Pass => run.await,
            _ => Err(FaultyStore::error(operation, path, "request failed")),
        }
    }

    /// A torn write of `bytes` to `path`: the first `part` of them left under `.tmp/`, then an error.
    async fn tear<T>(&self, path: &str, mut bytes: Vec<u8>, part: f64) -> Result<T, RepoError> {
        bytes.truncate((bytes.len() as f64 * part) as usize);
        // A random name (not from the seeded generator, which decides fates): two tears of one path, or
        // two at once, leave two parts.
        let leftover = format!("{TMP_DIR}/torn-{:016x}-{}", rand::random::<u64>(), path.replace('/', "-"));
        self.inner.write(&leftover, bytes).await?;
        Err(FaultyStore::error("write", path, "the write was cut off midway"))
    }

    /// Runs a request that changes the store, given its fate: it fails, passes, or acts and loses its
    /// reply.
    async fn write_op<T>(
        &self,
        operation: &'static str,
        path: &str,
        fate: Fate,
        run: impl std::future::Future<Output = Result<T, RepoError>>,
    ) -> Result<T, RepoError> {
        match fate {
            Fate::Pass => run.await,
            Fate::LoseReply => {
                run.await?;
                Err(FaultyStore::error(operation, path, "the store acted but its reply was lost"))
            }
            _ => Err(FaultyStore::error(operation, path, "request failed")),
        }
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    fn url(&self) -> &str {
        self.inner.url()
    }

    fn forget_created_dirs(&self) {
        self.inner.forget_created_dirs();
    }

    async fn remove_leftovers(&self, age: Duration) -> Result<u64, RepoError> {
        self.inner.remove_leftovers(age).await
    }

    async fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError> {
        match self.fate(path, true, false).await {
            Fate::Tear(part) => self.tear(path, bytes, part).await,
            fate => self.write_op("write", path, fate, self.inner.write(path, bytes)).await,
        }
    }

    async fn create_new(&self, path: &str, bytes: Vec<u8>) -> Result<Created, RepoError> {
        match self.fate(path, true, false).await {
            Fate::Tear(part) => self.tear(path, bytes, part).await,
            fate => self.write_op("write", path, fate, self.inner.create_new(path, bytes)).await,
        }
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        self.read_op("read", path, self.inner.read(path)).await
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, RepoError> {
        self.read_op("read", path, self.inner.read_range(path, range)).await
    }

    async fn size(&self, path: &str) -> Result<u64, RepoError> {
        self.read_op("stat", path, self.inner.size(path)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RepoError> {
        self.read_op("list", prefix, self.inner.list(prefix)).await
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        match self.fate(path, true, true).await {
            Fate::Pass => self.inner.delete(path).await,
            Fate::LoseDelete => Ok(()),
            Fate::LoseReply => {
                self.inner.delete(path).await?;
                Err(FaultyStore::error("delete", path, "the store acted but its reply was lost"))
            }
            // Deletes never tear (`fate` gives tears to writes only).
            Fate::Fail | Fate::Tear(_) => Err(FaultyStore::error("delete", path, "request failed")),
        }
    }
}
