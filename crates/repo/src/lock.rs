//! Repository locks (`locks/<random id>`, plaintext JSON), so that work which
//! deletes objects (prune) never runs beside work that adds them.
//!
//! Adding data needs no coordination (every object name is unique), so backups and
//! restores take *shared* locks and run side by side; prune takes the *exclusive*
//! lock. Taking a lock writes it, then lists the locks again: if a conflicting lock
//! is there, the new lock is removed and the caller gets `Locked`, so two racing
//! takers may both back off but never both proceed. A holder refreshes its lock
//! every few minutes; a lock not refreshed for [`STALE_AFTER_MS`], or whose process
//! is known to be gone from this host, belongs to a process that died and is
//! ignored (and removed by the next exclusive taker). So is a lock of this very
//! process that it no longer holds: its removal failed (a lost reply, a lost
//! delete), and a long-running server must not lock itself out of prune for half
//! an hour over it.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tablesafe_common::Clock;

use crate::storage::Storage;
use crate::{crypto, RepoError};

/// A lock not refreshed for this long is stale.
pub const STALE_AFTER_MS: i64 = 30 * 60 * 1000;
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// Shared (add data) or exclusive (delete data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    /// Backups, restores, checks.
    Shared,
    /// Prune.
    Exclusive,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct LockFile {
    kind: LockKind,
    host: String,
    pid: u32,
    created_ms: i64,
    refreshed_ms: i64,
}

impl LockFile {
    fn holder(&self) -> String {
        format!("{:?} lock of process {} on {}", self.kind, self.pid, self.host).to_lowercase()
    }
}

/// Whether these bytes are a lock file (a check warns of those that are not; takers ignore them).
pub(crate) fn parses(bytes: &[u8]) -> bool {
    serde_json::from_slice::<LockFile>(bytes).is_ok()
}

/// The lock paths this process holds (or is taking) right now.
static HELD: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "unknown".into())
}

/// A held lock; refreshed in the background until [`release`](Self::release)d or
/// dropped (dropping removes it in the background, best effort).
pub struct RepoLock {
    storage: Storage,
    path: String,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl RepoLock {
    /// Takes a lock of `kind`, or fails with `Locked` naming the holder; its times
    /// (taken, refreshed, and what counts as stale) come from `clock`.
    pub async fn acquire(storage: Storage, kind: LockKind, clock: Arc<dyn Clock>) -> Result<RepoLock, RepoError> {
        let now = clock.now_millis();
        let mine = LockFile { kind, host: host_name(), pid: std::process::id(), created_ms: now, refreshed_ms: now };
        let path = format!("locks/{}", crypto::hex(&crypto::random_key()[..16]));
        let conflict = |others: &[(String, LockFile)]| {
            others
                .iter()
                .find(|(p, other)| *p != path && (kind == LockKind::Exclusive || other.kind == LockKind::Exclusive))
                .cloned()
        };
        if let Some((p, other)) = conflict(&live_locks(&storage, now).await?) {
            return Err(RepoError::Locked { path: p, holder: other.holder() });
        }
        let bytes = serde_json::to_vec(&mine).map_err(|e| RepoError::Invalid(e.to_string()))?;
        // Held before it is written, so that no taker in this process counts it as left over.
        HELD.lock().insert(path.clone());
        let taken = async {
            storage.write(&path, bytes).await?;
            if let Some((p, other)) = conflict(&live_locks(&storage, clock.now_millis()).await?) {
                storage.delete(&path).await?;
                return Err(RepoError::Locked { path: p, holder: other.holder() });
            }
            if kind == LockKind::Exclusive {
                remove_stale(&storage, clock.now_millis()).await?;
            }
            Ok(())
        };
        if let Err(e) = taken.await {
            HELD.lock().remove(&path);
            return Err(e);
        }
        let refresher = {
            let (storage, path) = (storage.clone(), path.clone());
            tokio::spawn(async move {
                let mut lock = mine;
                loop {
                    tokio::time::sleep(REFRESH_EVERY).await;
                    lock.refreshed_ms = clock.now_millis();
                    if let Ok(bytes) = serde_json::to_vec(&lock) {
                        if let Err(error) = storage.write(&path, bytes).await {
                            tracing::warn!(%error, "could not refresh the repository lock");
                        }
                    }
                }
            })
        };
        Ok(RepoLock { storage, path, refresher: Some(refresher) })
    }

    /// Removes the lock. A removal that fails does not fail the work the lock
    /// guarded (that is done): the lock is left to go stale, at once for this
    /// process, which no longer holds it, and after [`STALE_AFTER_MS`] for others.
    pub async fn release(mut self) {
        if let Some(refresher) = self.refresher.take() {
            refresher.abort();
        }
        HELD.lock().remove(&self.path);
        if let Err(error) = self.storage.delete(&self.path).await {
            tracing::warn!(%error, lock = %self.path, "could not remove the repository lock; it goes stale on its own");
        }
    }
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock").field("path", &self.path).finish()
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        if let Some(refresher) = self.refresher.take() {
            refresher.abort();
            HELD.lock().remove(&self.path);
            let (storage, path) = (self.storage.clone(), self.path.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { storage.delete(&path).await });
            }
        }
    }
}

/// Locks that are not stale at `now` (ms since the epoch).
async fn live_locks(storage: &Storage, now: i64) -> Result<Vec<(String, LockFile)>, RepoError> {
    let mut out = Vec::new();
    for (path, _) in storage.list("locks").await? {
        let lock = match storage.read(&path).await {
            Ok(bytes) => serde_json::from_slice::<LockFile>(&bytes).ok(),
            Err(RepoError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let live = |l: &LockFile| now - l.refreshed_ms < STALE_AFTER_MS && !died_here(l) && !left_here(l, &path);
        if let Some(lock) = lock.filter(live) {
            out.push((path, lock));
        }
    }
    Ok(out)
}

/// Whether the lock's process ran on this host and is gone (killed, crashed): then
/// the lock is stale at once rather than after [`STALE_AFTER_MS`].
fn died_here(lock: &LockFile) -> bool {
    lock.host == host_name()
        && lock.pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{}", lock.pid)).exists()
}

/// Whether the lock is this process's and no longer held: its removal failed.
fn left_here(lock: &LockFile, path: &str) -> bool {
    lock.host == host_name() && lock.pid == std::process::id() && !HELD.lock().contains(path)
}

async fn remove_stale(storage: &Storage, now: i64) -> Result<(), RepoError> {
    let live: Vec<String> = live_locks(storage, now).await?.into_iter().map(|(p, _)| p).collect();
    for (path, _) in storage.list("locks").await? {
        if !live.contains(&path) {
            storage.delete(&path).await?;
        }
    }
    Ok(())
}
