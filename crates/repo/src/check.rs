//! Verification of a repository: every object it holds, against its own
//! authentication, against the index, and against the catalog of what it should
//! hold. Findings name their object; problems are what makes a restore point
//! untrustworthy, warnings what an interruption leaves or what costs no restore
//! point (locks, job records).

use std::collections::{BTreeMap, HashMap};

use crate::crypto::KeyFile;
use crate::pack::{self, PackEntry, PackId};
use crate::{catalog, lock, RepoError, Repository};

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
        // Each recorded object is read once: parsed or opened here, its hash compared with the catalog after.
        let mut present = BTreeMap::new();
        for (path, _) in self.storage.list("").await? {
            let kind = catalog::kind_of(&path);
            if matches!(kind, "config" | "data" | "index" | "catalog") {
                continue; // Checked below, or by the catalog check.
            }
            let bytes = match self.storage.read(&path).await {
                Ok(bytes) => bytes,
                Err(RepoError::NotFound { .. }) => continue, // Released or removed meanwhile.
                Err(e) if kind == "locks" || catalog::LOSSLESS_KINDS.contains(&kind) => {
                    check.warnings.push(e);
                    continue;
                }
                Err(e) => {
                    check.problems.push(e);
                    continue;
                }
            };
            match kind {
                "locks" if !lock::parses(&bytes) => {
                    check.warnings.push(RepoError::damaged(&path, "not a lock file (it is ignored)"));
                }
                "locks" => {}
                "keys" if serde_json::from_slice::<KeyFile>(&bytes).is_err() => {
                    check.problems.push(RepoError::damaged(&path, "not a key file"));
                }
                "keys" => {}
                _ => {
                    if let Err(e) = self.open_manifest(kind, &path, &bytes) {
                        if catalog::LOSSLESS_KINDS.contains(&kind) {
                            check.warnings.push(e);
                        } else {
                            check.problems.push(e);
                        }
                    }
                }
            }
            if catalog::recorded(&path) {
                present.insert(path, catalog::hash_hex(&bytes));
            }
        }
        let catalog = self.check_catalog(&present).await?;
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
