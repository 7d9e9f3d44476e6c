//! The catalog: an append-only, authenticated record of the repository's named
//! objects (manifests of every kind and key files) and of its `config`, so that a
//! check notices an object that is missing, altered, swapped for another or rolled
//! back to an earlier version. Authentication alone cannot: a deleted manifest
//! leaves nothing behind to fail, and a copy of another manifest of the same kind
//! opens.
//!
//! Invariants:
//! - `catalog/<µs since the epoch, 16 hex>-<random, 8 hex>` files are written whole
//!   and never changed; each is sealed with the meta key and holds events (an
//!   object's path and the BLAKE3 hash of its stored bytes, or its removal), the
//!   hash of `config`, and the name of the newest catalog file its writer knew.
//! - A save writes the object, then its event; a removal writes its event, then
//!   deletes. So an interruption leaves an object the catalog does not know, or a
//!   recorded removal of an object still present (both warnings), but never a
//!   recorded object that is absent unless something else removed it (a problem).
//! - Compaction (by prune, under the exclusive lock) folds the files into one,
//!   written before the folded ones are deleted; files that recorded another
//!   `config` are never folded, so a changed config stays reported.
//!
//! Repositories of format version 1 have no catalog and get none: version 1
//! binaries would take its files for damaged manifests. Every function here is a
//! no-op for them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::repo::CATALOG_SINCE;
use crate::{crypto, RepoError, Repository};

const CATALOG: &str = "catalog";
const CATALOG_AAD: &[u8] = b"tablesafe catalog v1";
const CATALOG_VERSION: u32 = 1;

/// Top-level names that the catalog does not record: content-addressed objects
/// (packs, index files, which verification checks by hash), locks (transient),
/// the config (recorded by hash in every file) and the catalog itself.
const UNRECORDED: [&str; 5] = ["config", "data", "index", "locks", CATALOG];

/// Kinds whose loss costs no restore point: a damaged or missing one is a warning.
pub(crate) const LOSSLESS_KINDS: [&str; 2] = ["jobs", "restores"];

/// One catalog file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    /// BLAKE3 of the `config` bytes, hex.
    config: String,
    /// The newest catalog file the writer knew of, if any.
    previous: Option<String>,
    /// Written by compaction: it holds the events of the files it replaced.
    #[serde(default)]
    compacted: bool,
    events: Vec<Event>,
}

/// What happened to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Event {
    /// The object's path, e.g. `snapshots/<id>`.
    path: String,
    /// When, µs since the epoch (by the writer's clock).
    at_us: i64,
    /// BLAKE3 of the stored bytes, hex; none for a removal.
    hash: Option<String>,
}

/// What a catalog writer knows, shared by the clones of a repository handle.
#[derive(Debug, Default)]
pub(crate) struct CatalogState {
    /// The newest catalog file known; `None` until the first write looked.
    head: Mutex<Option<Option<String>>>,
    /// The last event time used, so events of one process are strictly ordered.
    last_us: AtomicI64,
}

/// The findings of [`Repository::check_catalog`].
#[derive(Debug, Default)]
pub(crate) struct CatalogCheck {
    /// What makes a restore point or the repository untrustworthy.
    pub problems: Vec<RepoError>,
    /// What an interruption leaves, or what costs no restore point.
    pub warnings: Vec<RepoError>,
    /// Manifests the catalog records as present that are missing: `(kind, id)`.
    pub missing: Vec<(String, String)>,
}

pub(crate) fn hash_hex(bytes: &[u8]) -> String {
    crypto::hex(blake3::hash(bytes).as_bytes())
}

pub(crate) fn kind_of(path: &str) -> &str {
    path.split('/').next().unwrap_or_default()
}

/// Whether the catalog records objects at this path.
pub(crate) fn recorded(path: &str) -> bool {
    !UNRECORDED.contains(&kind_of(path))
}

/// Every recorded event of each object, in order (time, then catalog file name),
/// each with the catalog file that recorded it.
fn histories(files: Vec<(String, CatalogFile)>) -> BTreeMap<String, Vec<(Event, String)>> {
    let mut history: BTreeMap<String, Vec<(Event, String)>> = BTreeMap::new();
    for (file_path, file) in files {
        for event in file.events {
            history.entry(event.path.clone()).or_default().push((event, file_path.clone()));
        }
    }
    for events in history.values_mut() {
        events.sort_by(|(a, fa), (b, fb)| (a.at_us, fa).cmp(&(b.at_us, fb)));
    }
    history
}

impl Repository {
    /// Whether this repository keeps a catalog (format version 2 on).
    pub fn has_catalog(&self) -> bool {
        self.config.version >= CATALOG_SINCE
    }

    fn event_time_us(&self) -> i64 {
        let now = self.clock.now_micros();
        let state = &self.catalog;
        let mut last = state.last_us.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match state.last_us.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Writes the catalog's first file if it has none (at `init`, before the config).
    pub(crate) async fn start_catalog(&self) -> Result<(), RepoError> {
        if !self.has_catalog() {
            return Ok(());
        }
        self.catalog_head().await.map(|_| ())
    }

    /// Records that the objects at `saved` now hold these bytes: call after writing them.
    pub(crate) async fn record_saved(&self, saved: &[(&str, &[u8])]) -> Result<(), RepoError> {
        let events = saved
            .iter()
            .map(|(path, bytes)| Event {
                path: (*path).to_owned(),
                at_us: self.event_time_us(),
                hash: Some(hash_hex(bytes)),
            })
            .collect();
        self.append(events).await
    }

    /// Records the removal of the objects at `paths`: call before deleting them.
    pub(crate) async fn record_removed(&self, paths: &[String]) -> Result<(), RepoError> {
        let events =
            paths.iter().map(|path| Event { path: path.clone(), at_us: self.event_time_us(), hash: None }).collect();
        self.append(events).await
    }

    async fn append(&self, events: Vec<Event>) -> Result<(), RepoError> {
        if !self.has_catalog() {
            return Ok(());
        }
        let previous = self.catalog_head().await?;
        let file = CatalogFile {
            version: CATALOG_VERSION,
            config: crypto::hex(&self.config_hash),
            previous,
            compacted: false,
            events,
        };
        let name = self.write_catalog_file(&file).await?;
        *self.catalog.head.lock() = Some(Some(name));
        Ok(())
    }

    async fn write_catalog_file(&self, file: &CatalogFile) -> Result<String, RepoError> {
        let bytes = serde_json::to_vec(file).map_err(|e| RepoError::Invalid(format!("catalog: {e}")))?;
        let sealed = crypto::seal(&self.secrets.meta_key, &bytes, CATALOG_AAD);
        let name = format!("{CATALOG}/{:016x}-{}", self.event_time_us(), crypto::hex(&crypto::random_key()[..4]));
        self.storage.write(&name, sealed).await?;
        Ok(name)
    }

    /// The newest catalog file, looked up once per handle; a repository without
    /// catalog files gets its first one here, recording every object as it is now
    /// (at `init`: the key files).
    async fn catalog_head(&self) -> Result<Option<String>, RepoError> {
        if let Some(head) = self.catalog.head.lock().clone() {
            return Ok(head);
        }
        let listed = self.storage.list(CATALOG).await?;
        if let Some((newest, _)) = listed.last() {
            let head = Some(newest.clone());
            *self.catalog.head.lock() = Some(head.clone());
            return Ok(head);
        }
        let mut events = Vec::new();
        for (path, _) in self.storage.list("").await? {
            if recorded(&path) {
                let bytes = self.storage.read(&path).await?;
                events.push(Event { path, at_us: self.event_time_us(), hash: Some(hash_hex(&bytes)) });
            }
        }
        let file = CatalogFile {
            version: CATALOG_VERSION,
            config: crypto::hex(&self.config_hash),
            previous: None,
            compacted: false,
            events,
        };
        let name = self.write_catalog_file(&file).await?;
        *self.catalog.head.lock() = Some(Some(name.clone()));
        Ok(Some(name))
    }

    async fn read_catalog_file(&self, path: &str) -> Result<CatalogFile, RepoError> {
        let sealed = self.storage.read(path).await?;
        let bytes = crypto::open(&self.secrets.meta_key, &sealed, CATALOG_AAD)
            .ok_or_else(|| RepoError::damaged(path, "catalog file fails authentication"))?;
        let file: CatalogFile =
            serde_json::from_slice(&bytes).map_err(|_| RepoError::damaged(path, "catalog file does not decode"))?;
        if file.version != CATALOG_VERSION {
            return Err(RepoError::damaged(path, format!("catalog file version {} is not supported", file.version)));
        }
        Ok(file)
    }

    /// Folds every catalog file that recorded the current config into one (each
    /// object's versions since its last removal; removals of objects that are gone
    /// are dropped),
    /// written before the folded files are deleted. Hold the exclusive lock.
    pub(crate) async fn compact_catalog(&self) -> Result<(), RepoError> {
        if !self.has_catalog() {
            return Ok(());
        }
        let listed: Vec<String> = self.storage.list(CATALOG).await?.into_iter().map(|(p, _)| p).collect();
        if listed.len() < 2 {
            return Ok(());
        }
        let present: HashSet<String> = self.storage.list("").await?.into_iter().map(|(p, _)| p).collect();
        let config = crypto::hex(&self.config_hash);
        let mut files = Vec::new();
        for path in &listed {
            // A damaged file, or one that recorded another config, stays to be reported.
            let Ok(file) = self.read_catalog_file(path).await else { continue };
            if file.config == config {
                files.push((path.clone(), file));
            }
        }
        if files.len() < 2 {
            return Ok(());
        }
        let folded: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
        // Per object: the versions since its last removal (so a rollback to one stays visible), or
        // that removal alone while the object is still there.
        let mut events = Vec::new();
        for (path, mut list) in histories(files) {
            let last_removal = list.iter().rposition(|(e, _)| e.hash.is_none());
            let keep_from = match last_removal {
                Some(at) if at + 1 == list.len() && !present.contains(&path) => continue,
                Some(at) if at + 1 == list.len() => at,
                Some(at) => at + 1,
                None => 0,
            };
            events.extend(list.drain(keep_from..).map(|(e, _)| e));
        }
        *self.catalog.head.lock() = None;
        let file = CatalogFile { version: CATALOG_VERSION, config, previous: None, compacted: true, events };
        let name = self.write_catalog_file(&file).await?;
        *self.catalog.head.lock() = Some(Some(name));
        for path in &folded {
            self.storage.delete(path).await?;
        }
        Ok(())
    }

    /// The manifests of `kind` that the catalog records as present but that are
    /// missing, by id: what a listing alone cannot tell was ever there. Damaged
    /// catalog files are skipped ([`check_catalog`](Self::check_catalog) reports them).
    pub async fn recorded_missing(&self, kind: &str) -> Result<Vec<String>, RepoError> {
        if !self.has_catalog() {
            return Ok(Vec::new());
        }
        let prefix = format!("{kind}/");
        let mut files = Vec::new();
        for (path, _) in self.storage.list(CATALOG).await? {
            if let Ok(mut file) = self.read_catalog_file(&path).await {
                file.events.retain(|e| e.path.starts_with(&prefix));
                files.push((path, file));
            }
        }
        let present: HashSet<String> = self.list_manifests(kind).await?.into_iter().collect();
        Ok(histories(files)
            .into_iter()
            .filter(|(_, events)| events.last().is_some_and(|(last, _)| last.hash.is_some()))
            .filter_map(|(path, _)| path.strip_prefix(&prefix).map(str::to_owned))
            .filter(|id| !present.contains(id))
            .collect())
    }

    /// Compares the repository with its catalog. Problems: a catalog file that is
    /// damaged or missing from the chain; a `config` other than the one recorded; a
    /// recorded object that is missing, or holds an earlier version or another
    /// object's bytes. Warnings: what interruptions leave (an object the catalog
    /// does not know, or one recorded as removed), and any finding about job
    /// records and restore markers. `present` holds the hash of every recorded
    /// object, read before this call: the objects first, then the catalog, since a
    /// removal is recorded before its delete (one that runs meanwhile is in the
    /// catalog read after) and a save meanwhile is looked at again. A version 1
    /// repository has no catalog and no findings.
    pub(crate) async fn check_catalog(&self, present: &BTreeMap<String, String>) -> Result<CatalogCheck, RepoError> {
        let mut check = CatalogCheck::default();
        if !self.has_catalog() {
            return Ok(check);
        }
        let listed: Vec<String> = self.storage.list(CATALOG).await?.into_iter().map(|(p, _)| p).collect();
        if listed.is_empty() {
            return Ok(check);
        }
        let config = crypto::hex(&self.config_hash);
        let names: HashSet<&String> = listed.iter().collect();
        let mut files = Vec::new();
        for path in &listed {
            match self.read_catalog_file(path).await {
                Ok(file) => files.push((path.clone(), file)),
                Err(RepoError::NotFound { .. }) => {} // Folded by a compaction meanwhile.
                Err(error) => check.problems.push(error),
            }
        }
        // Files older than the newest compaction may have been folded into it.
        let horizon = files.iter().filter(|(_, f)| f.compacted).map(|(p, _)| p.clone()).max();
        let other_config: Vec<&String> = files.iter().filter(|(_, f)| f.config != config).map(|(p, _)| p).collect();
        if let Some(first) = other_config.first() {
            check.problems.push(RepoError::damaged(
                "config",
                format!(
                    "it is not the config that {} of the catalog's files recorded, {first} the first (altered or \
                     replaced)",
                    other_config.len()
                ),
            ));
        }
        for (path, file) in &files {
            if let Some(previous) = &file.previous {
                let folded = horizon.as_ref().is_some_and(|h| previous < h);
                if !names.contains(previous) && !folded {
                    check.problems.push(RepoError::Missing {
                        path: previous.clone(),
                        detail: format!("catalog file {path}, which follows it, names it"),
                    });
                }
            }
        }
        // Every recorded event of each object, in time order; and who recorded each hash.
        let history = histories(files);
        let mut owners: HashMap<&str, HashSet<&String>> = HashMap::new();
        for (path, events) in &history {
            for hash in events.iter().filter_map(|(e, _)| e.hash.as_deref()) {
                owners.entry(hash).or_default().insert(path);
            }
        }
        let mut missing = Vec::new();
        let mut report = |path: &str, problem: bool, finding: RepoError| {
            if problem && !LOSSLESS_KINDS.contains(&kind_of(path)) {
                check.problems.push(finding);
            } else {
                check.warnings.push(finding);
            }
        };
        for (path, events) in &history {
            let Some((last, recorded_in)) = events.last() else { continue };
            match (&last.hash, present.get(path)) {
                (Some(want), Some(have)) if want == have => {}
                (Some(_), None) if self.storage.exists(path).await? => {} // Saved meanwhile.
                (Some(_), None) => {
                    let detail = format!("the catalog records it ({recorded_in})");
                    report(path, true, RepoError::Missing { path: path.clone(), detail });
                    if let Some((kind, id)) = path.split_once('/') {
                        missing.push((kind.to_owned(), id.to_owned()));
                    }
                }
                (Some(_), Some(have)) => {
                    let earlier = events.iter().any(|(e, _)| e.hash.as_ref() == Some(have));
                    let other = owners.get(have.as_str()).and_then(|paths| paths.iter().find(|p| **p != path));
                    if earlier {
                        report(path, true, RepoError::damaged(path, format!("it holds an earlier version than the one recorded in {recorded_in} (rolled back)")));
                    } else if let Some(other) = other {
                        report(path, true, RepoError::damaged(path, format!("it holds the bytes of {other}, not its own (swapped)")));
                    } else {
                        // Only a key holder writes bytes that open; a save whose record was
                        // interrupted leaves this. Bytes that do not open are reported as damaged.
                        let problem = kind_of(path) == "keys";
                        report(path, problem, RepoError::damaged(path, format!("it differs from the version recorded in {recorded_in}")));
                    }
                }
                (None, Some(_)) => report(
                    path,
                    false,
                    RepoError::damaged(path, format!("the catalog records its removal ({recorded_in}) but it is still there (a delete that did not finish, or put back)")),
                ),
                (None, None) => {}
            }
        }
        for (path, hash) in present {
            if history.contains_key(path) {
                continue;
            }
            let other = owners.get(hash.as_str()).and_then(|paths| paths.iter().next());
            match other {
                Some(other) => report(
                    path,
                    true,
                    RepoError::damaged(
                        path,
                        format!("it holds the bytes of {other} and the catalog does not know it (a copy)"),
                    ),
                ),
                None => report(
                    path,
                    false,
                    RepoError::damaged(path, "the catalog does not record it (a save whose record was interrupted)"),
                ),
            }
        }
        check.missing = missing;
        Ok(check)
    }
}
