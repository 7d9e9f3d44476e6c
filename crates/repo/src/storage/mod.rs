//! Where repository objects live: a [`Storage`] handle over one [`ObjectStore`], the small trait every
//! backend implements (as TiKV's `external_storage` and OpenDAL's services do), and layers over it.
//!
//! Backends and layers:
//! - [`opendal`]: a local directory, S3 (or an S3-compatible server), Alibaba OSS, Google Cloud Storage or
//!   Azure Blob, chosen by URL ([`Storage::from_url`]).
//! - [`memory`]: objects in a map, for tests and benchmarks that need no disk.
//! - [`faults`]: a layer over any store that injects errors, lost replies, lost deletes and latency, so that
//!   tests can show every repository operation survives them.
//!
//! Invariants the modules above rely on, held here for every backend:
//! - Object paths are '/'-separated keys relative to the repository root (`config`, `data/ab/ab12…`): never
//!   empty, no leading or trailing '/', no empty, `.` or `..` segment, and not under the reserved `.tmp/`.
//!   They are checked before a store sees them, so that a bad key cannot escape a local root.
//! - [`Storage::write`] is all-or-nothing for readers: a reader sees the old content, the new content or
//!   nothing, and an object reported written survives a power loss (each store's docs say how).
//! - [`Storage::write_if_absent`] is race-free where the store can do it and documents the race where it
//!   cannot; an object that already holds exactly the bytes given counts as created.
//! - [`Storage::read_range`] returns exactly the range asked for, or [`RepoError::Damaged`] when the
//!   object is shorter (it was truncated).
//! - [`Storage::list`] is sorted and shows only objects (no directories, nothing under `.tmp/`).
//! - [`Storage::url`] is safe to print: it never holds credentials.

pub mod faults;
pub mod memory;
pub mod opendal;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;

use crate::RepoError;

/// Directory under a local root for in-progress writes; reserved on every backend, so that a repository
/// copied between backends keeps its meaning.
pub(crate) const TMP_DIR: &str = ".tmp";

/// What [`ObjectStore::create_new`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object did not exist and now holds the bytes.
    Yes,
    /// An object exists at the path (its bytes are not compared).
    Exists,
    /// The store cannot create atomically; [`Storage`] falls back to check-then-write.
    Unsupported,
}

/// One backend's objects. Paths reach a store already checked (see the module invariants); a store
/// reports an absent object as [`RepoError::NotFound`] and its own failures as [`RepoError::Storage`].
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// The location for messages, without credentials.
    fn url(&self) -> &str;

    /// Writes an object whole (readers never see a part of it) and durably.
    async fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError>;

    /// Creates an object only if none exists at `path`.
    async fn create_new(&self, path: &str, bytes: Vec<u8>) -> Result<Created, RepoError>;

    /// Reads a whole object.
    async fn read(&self, path: &str) -> Result<Vec<u8>, RepoError>;

    /// Reads a non-empty `range` of an object; what lies past the object's end is not returned.
    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, RepoError>;

    /// The size of an object in bytes.
    async fn size(&self, path: &str) -> Result<u64, RepoError>;

    /// Every object whose path starts with `prefix` (`""` or a directory with its trailing '/'), as (path,
    /// size), in any order.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RepoError>;

    /// Deletes an object; an absent one is not an error.
    async fn delete(&self, path: &str) -> Result<(), RepoError>;

    /// Removes what opening this location created, if nothing was written since (a local root that did not
    /// exist). Most stores create nothing.
    fn forget_created_dirs(&self) {}

    /// Removes what writers killed mid-write left behind that is older than `age` (a local root's
    /// partial files in `.tmp/`) and returns how many. Readers never see such leftovers; this only
    /// frees their space. Stores whose writes leave nothing behind remove nothing.
    async fn remove_leftovers(&self, age: std::time::Duration) -> Result<u64, RepoError> {
        let _ = age;
        Ok(0)
    }
}

/// A repository location: one store (with its layers), shared by clones of the handle.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("url", &self.url()).finish_non_exhaustive()
    }
}

impl Storage {
    /// A handle over `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Storage {
        Storage { store }
    }

    /// Parses a repository URL and builds its OpenDAL store (no request is sent); see
    /// [`opendal::OpendalStore::from_url`] for the forms accepted and where credentials come from.
    pub fn from_url(url: &str) -> Result<Storage, RepoError> {
        Ok(Storage::new(Arc::new(opendal::OpendalStore::from_url(url)?)))
    }

    /// An empty repository location in memory, named `memory://<name>`.
    pub fn memory(name: &str) -> Storage {
        Storage::new(Arc::new(memory::MemoryStore::new(name)))
    }

    /// The store under this handle (to put a layer over it).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Removes the directories opening a local root created, as long as they are still empty (nothing was
    /// written): a command that found no repository leaves no directory behind.
    pub fn forget_created_dirs(&self) {
        self.store.forget_created_dirs();
    }

    /// The repository URL for messages; never contains credentials.
    pub fn url(&self) -> &str {
        self.store.url()
    }

    /// Writes an object whole: a reader sees the old content, the new content, or (before) nothing.
    pub async fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError> {
        check_path(path)?;
        self.store.write(path, bytes).await
    }

    /// Creates an object only if none exists at `path` (used for lock files). Returns `false` if an object
    /// with other bytes exists. One with exactly these bytes counts as created, on every backend: on object
    /// stores that is what a retried PUT whose first response was lost finds. So concurrent contenders must
    /// write distinct bytes (a lock carries a random nonce). Where the store cannot create atomically this
    /// is check-then-write, which two racing callers can both win.
    pub async fn write_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, RepoError> {
        check_path(path)?;
        match self.store.create_new(path, bytes.clone()).await? {
            Created::Yes => return Ok(true),
            Created::Exists => {}
            Created::Unsupported => {
                if !self.exists(path).await? {
                    self.store.write(path, bytes).await?;
                    return Ok(true);
                }
            }
        }
        match self.store.read(path).await {
            Ok(existing) => Ok(existing == bytes),
            Err(RepoError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads a whole object; a missing one is [`RepoError::NotFound`].
    pub async fn read(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        check_path(path)?;
        self.store.read(path).await
    }

    /// Reads `range` of an object. The range must lie within the object: a shorter object is
    /// [`RepoError::Damaged`] (it was truncated). An empty range returns nothing without a request.
    pub async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, RepoError> {
        check_path(path)?;
        if range.start > range.end {
            return Err(RepoError::Invalid(format!("invalid byte range {range:?} for '{path}'")));
        }
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = self.store.read_range(path, range.clone()).await?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(truncated(path, range.end));
        }
        Ok(bytes)
    }

    /// The size of an object in bytes; a missing one is [`RepoError::NotFound`].
    pub async fn size(&self, path: &str) -> Result<u64, RepoError> {
        check_path(path)?;
        self.store.size(path).await
    }

    /// Whether an object exists.
    pub async fn exists(&self, path: &str) -> Result<bool, RepoError> {
        check_path(path)?;
        match self.store.size(path).await {
            Ok(_) => Ok(true),
            Err(RepoError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object under `dir/` (recursively; `""` is the whole repository) as (path relative to the
    /// repository root, size), sorted by path. An absent directory is empty.
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, RepoError> {
        let dir = dir.trim_end_matches('/');
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            check_path(dir)?;
            format!("{dir}/")
        };
        let tmp = format!("{TMP_DIR}/");
        let mut objects = self.store.list(&prefix).await?;
        objects.retain(|(path, _)| !path.starts_with(&tmp) && !path.ends_with('/'));
        objects.sort();
        Ok(objects)
    }

    /// Removes partial writes older than `age` that killed writers left (see
    /// [`ObjectStore::remove_leftovers`]); returns how many.
    pub async fn remove_leftovers(&self, age: std::time::Duration) -> Result<u64, RepoError> {
        self.store.remove_leftovers(age).await
    }

    /// Deletes an object; an absent one is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), RepoError> {
        check_path(path)?;
        match self.store.delete(path).await {
            Err(RepoError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}

/// The error of a read that ended before `end`.
pub(crate) fn truncated(path: &str, end: u64) -> RepoError {
    RepoError::damaged(path, format!("the object ends before byte {end}"))
}

/// Rejects keys that a store would silently normalise or that could leave a local root.
fn check_path(path: &str) -> Result<(), RepoError> {
    let valid = path.trim() == path
        && !path.contains('\\')
        && path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && path.split('/').next() != Some(TMP_DIR);
    if valid {
        Ok(())
    } else {
        Err(RepoError::Invalid(format!("invalid object path '{path}' (expected a relative key like 'data/ab/ab12')")))
    }
}
