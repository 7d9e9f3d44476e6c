//! Verification of a repository: every object it holds, against its own
//! authentication, against the index, and against the catalog of what it should
//! hold. Findings name their object; problems are what makes a restore point
//! untrustworthy, warnings what an interruption leaves or what costs no restore
//! point (locks, job records).

use std::collections::HashMap;

use crate::crypto::KeyFile;
use crate::pack::{self, PackEntry, PackId};
use crate::{lock, RepoError, Repository};

/// The findings of [`Repository::check`].
#[derive(Debug, Default)]
pub struct Check {
    /// Damage and loss.
    pub problems: Vec<RepoError>,
    /// What needs no repair to restore exactly (left by interruptions, locks, job records).
    pub warnings: Vec<RepoError>,
    /// Manifests the catalog records that are missing: `(kind, id)`.
    pub missing: Vec<(String, String)>,
}

impl Repository {
    /// Checks the repository: every key file parses, every manifest, index and
    /// catalog file opens, every indexed pack exists, every lock parses, and the
    /// objects are the ones the catalog records (see `catalog`); with `read_data`
    /// every pack is read whole and every chunk in it authenticated.
    pub async fn check(&self, read_data: bool) -> Result<Check, RepoError> {
        let mut check = Check::default();
        for (path, _) in self.storage.list("").await? {
            let kind = path.split('/').next().unwrap_or_default();
            match kind {
                "config" | "data" | "index" | "catalog" => {}
                "locks" => match self.storage.read(&path).await {
                    Ok(bytes) if lock::parses(&bytes) => {}
                    Ok(_) => check.warnings.push(RepoError::damaged(&path, "not a lock file (it is ignored)")),
                    Err(RepoError::NotFound { .. }) => {} // Released meanwhile.
                    Err(e) => check.warnings.push(e),
                },
                "keys" => {
                    let parsed = self.storage.read(&path).await.map(|b| serde_json::from_slice::<KeyFile>(&b).is_ok());
                    match parsed {
                        Ok(true) => {}
                        Ok(false) => check.problems.push(RepoError::damaged(&path, "not a key file")),
                        Err(e) => check.problems.push(e),
                    }
                }
                _ => {
                    let id = path.get(kind.len() + 1..).unwrap_or_default();
                    if let Err(e) = self.load_manifest(kind, id).await {
                        match kind {
                            "jobs" | "restores" => check.warnings.push(e),
                            _ => check.problems.push(e),
                        }
                    }
                }
            }
        }
        let catalog = self.check_catalog().await?;
        check.problems.extend(catalog.problems);
        check.warnings.extend(catalog.warnings);
        check.missing = catalog.missing;
        let mut indexed: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
        for (path, _) in self.storage.list("index").await? {
            match self.read_index_file(&path).await {
                Ok(file) => indexed.extend(file.packs),
                Err(e) => check.problems.push(e),
            }
        }
        let stored: HashMap<String, u64> = self.storage.list("data").await?.into_iter().collect();
        let mut packs: Vec<_> = indexed.into_iter().collect();
        packs.sort_by_key(|(id, _)| *id);
        for (id, entries) in packs {
            let path = pack::pack_path(&id);
            if !stored.contains_key(&path) {
                check.problems.push(RepoError::damaged(&path, "the index names a pack that does not exist"));
                continue;
            }
            if !read_data {
                continue;
            }
            match self.storage.read(&path).await {
                Ok(bytes) => match pack::check_pack(&self.secrets, &id, &bytes, &path) {
                    Ok(found) if found == entries => {}
                    Ok(_) => check.problems.push(RepoError::damaged(&path, "pack header differs from the index")),
                    Err(e) => check.problems.push(e),
                },
                Err(e) => check.problems.push(e),
            }
        }
        Ok(check)
    }
}
