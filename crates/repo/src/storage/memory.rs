//! Objects in a map: a store for tests and benchmarks that need no disk, with the same invariants as the
//! others (whole writes, atomic `create_new`) because every operation holds one lock.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{Created, ObjectStore};
use crate::RepoError;

/// A repository location in memory, gone when the last handle is.
pub struct MemoryStore {
    url: String,
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store named `memory://<name>`.
    pub fn new(name: &str) -> MemoryStore {
        MemoryStore { url: format!("memory://{name}"), objects: Mutex::new(BTreeMap::new()) }
    }

    fn get<T>(&self, path: &str, f: impl FnOnce(&Vec<u8>) -> T) -> Result<T, RepoError> {
        self.objects.lock().get(path).map(f).ok_or_else(|| RepoError::NotFound { path: path.to_owned() })
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn url(&self) -> &str {
        &self.url
    }

    async fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError> {
        self.objects.lock().insert(path.to_owned(), bytes);
        Ok(())
    }

    async fn create_new(&self, path: &str, bytes: Vec<u8>) -> Result<Created, RepoError> {
        let mut objects = self.objects.lock();
        if objects.contains_key(path) {
            return Ok(Created::Exists);
        }
        objects.insert(path.to_owned(), bytes);
        Ok(Created::Yes)
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, RepoError> {
        self.get(path, Clone::clone)
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, RepoError> {
        self.get(path, |bytes| {
            let len = bytes.len() as u64;
            let (start, end) = (range.start.min(len), range.end.min(len));
            bytes[start as usize..end as usize].to_vec()
        })
    }

    async fn size(&self, path: &str) -> Result<u64, RepoError> {
        self.get(path, |bytes| bytes.len() as u64)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RepoError> {
        let objects = self.objects.lock();
        Ok(objects
            .range(prefix.to_owned()..)
            .take_while(|(path, _)| path.starts_with(prefix))
            .map(|(path, bytes)| (path.clone(), bytes.len() as u64))
            .collect())
    }

    async fn delete(&self, path: &str) -> Result<(), RepoError> {
        self.objects.lock().remove(path);
        Ok(())
    }
}
