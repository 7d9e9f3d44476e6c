//! Where a plan's destination is, and which destinations a request may name.
//!
//! A destination is a name resolved under the server's backup root (by default
//! its data directory), or a URL or absolute path. A request (the backup API, so
//! any key, admin included) may name only: a destination a plan names already
//! (the plan file is the server's own configuration, checked by whoever edits
//! it), a relative name that stays inside the root (no `..`, no symlink that
//! leads out of it), or a URL or absolute path at or below one the server's
//! configuration allows. Anything else is refused as invalid: a key of the
//! backup API never chooses an arbitrary place on the server's disk or network.

use std::path::{Component, Path, PathBuf};

use crate::BackupError;

/// The server's rules for destinations: part of its configuration.
#[derive(Clone, Debug, Default)]
pub struct DestinationRules {
    /// The directory relative destinations resolve under; `None`: the data directory.
    pub root: Option<PathBuf>,
    /// URLs (`s3://bucket/prefix`) or absolute paths a request may name, each
    /// with everything below it.
    pub allowed: Vec<String>,
}

/// The rules with the data directory filled in.
#[derive(Clone, Debug)]
pub(crate) struct Destinations {
    root: PathBuf,
    allowed: Vec<String>,
}

impl Destinations {
    pub(crate) fn new(rules: &DestinationRules, data_dir: &Path) -> Destinations {
        Destinations {
            root: rules.root.clone().unwrap_or_else(|| data_dir.to_owned()),
            allowed: rules.allowed.iter().map(|a| a.trim_end_matches('/').to_owned()).collect(),
        }
    }

    /// Where a destination is: a URL or absolute path as given, a relative path under the root.
    pub(crate) fn resolve(&self, destination: &str) -> String {
        if is_url(destination) || Path::new(destination).is_absolute() {
            destination.to_owned()
        } else {
            self.root.join(destination).display().to_string()
        }
    }

    /// The directory a destination names when it is on the local filesystem (a
    /// path, relative or absolute, or a `file://` URL); `None` for a bucket.
    pub(crate) fn local_dir(&self, destination: &str) -> Option<PathBuf> {
        let location = self.resolve(destination);
        match location.split_once("://") {
            None => Some(PathBuf::from(location)),
            Some(("file", path)) => Some(PathBuf::from(path)),
            Some(_) => None,
        }
    }

    /// Whether a request may name `destination`, given whether a plan names it.
    pub(crate) fn check_requested(&self, destination: &str, named_by_a_plan: bool) -> Result<(), BackupError> {
        if named_by_a_plan {
            return Ok(());
        }
        let refuse = |why: &str| Err(BackupError::Invalid(format!("destination '{destination}' is refused: {why}")));
        if destination.trim().is_empty() {
            return refuse("it is empty");
        }
        if is_url(destination) || Path::new(destination).is_absolute() {
            if has_parent_dir(destination) {
                return refuse("it contains '..'");
            }
            return match self.allowed.iter().find(|allowed| is_at_or_below(destination, allowed)) {
                Some(allowed) if !is_url(allowed) => self.stays_inside(destination, Path::new(allowed), refuse),
                Some(_) => Ok(()),
                None => refuse(
                    "a request may name a destination under the server's backup root (a relative name), one a \
                     plan names, or a location the server's configuration allows",
                ),
            };
        }
        let path = Path::new(destination);
        if path.components().any(|c| c == Component::ParentDir) {
            return refuse("it contains '..'; destinations are names under the server's backup root");
        }
        if !path.components().any(|c| matches!(c, Component::Normal(_))) {
            return refuse("it names the backup root itself");
        }
        self.stays_inside(&self.root.join(path).display().to_string(), &self.root, refuse)
    }

    /// A path under `base` that, following the symlinks that exist along it, ends
    /// inside `base`.
    fn stays_inside(
        &self,
        path: &str,
        base: &Path,
        refuse: impl Fn(&str) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        let Ok(base) = base.canonicalize() else {
            return Ok(()); // Nothing exists below a missing directory, so no link leads out.
        };
        // The deepest part of the path that exists, with its links followed.
        let mut existing = PathBuf::from(path);
        let resolved = loop {
            match existing.canonicalize() {
                Ok(resolved) => break resolved,
                Err(_) if existing.pop() => continue,
                Err(_) => return Ok(()),
            }
        };
        if resolved.starts_with(&base) {
            Ok(())
        } else {
            refuse(&format!("a symbolic link along it leads out of {}", base.display()))
        }
    }
}

fn is_url(destination: &str) -> bool {
    destination.contains("://")
}

fn has_parent_dir(destination: &str) -> bool {
    let path = destination.split_once("://").map_or(destination, |(_, rest)| rest);
    path.split('/').any(|part| part == "..")
}

/// `destination` is `allowed` or below it, cut at a `/` (so `s3://b/pre` does not allow `s3://b/prefix2`).
fn is_at_or_below(destination: &str, allowed: &str) -> bool {
    let destination = destination.trim_end_matches('/');
    destination == allowed || destination.strip_prefix(allowed).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(root: &Path, allowed: &[&str]) -> Destinations {
        let rules = DestinationRules {
            root: Some(root.to_owned()),
            allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
        };
        Destinations::new(&rules, Path::new("/unused"))
    }

    fn refused(d: &Destinations, destination: &str) -> String {
        match d.check_requested(destination, false) {
            Err(BackupError::Invalid(message)) => message,
            other => panic!("{destination}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn relative_names_stay_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let d = rules(root.path(), &[]);
        for ok in ["backups", "nightly/users", "./x", "new/dir/"] {
            d.check_requested(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(refused(&d, "../../t").contains("'..'"));
        assert!(refused(&d, "a/b/../../c").contains("'..'"));
        assert!(refused(&d, ".").contains("root itself"));
        assert!(refused(&d, "").contains("empty"));
        assert_eq!(d.resolve("backups"), root.path().join("backups").display().to_string());
    }

    #[test]
    fn absolute_paths_and_urls_need_the_configuration() {
        let root = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let allowed = other.path().display().to_string();
        let d = rules(root.path(), &["s3://bucket/tablesafe/", &allowed]);
        assert!(refused(&d, "/etc").contains("configuration allows"));
        assert!(refused(&d, "s3://elsewhere/x").contains("configuration allows"));
        assert!(refused(&d, "s3://bucket/tablesafe2").contains("configuration allows"));
        assert!(refused(&d, "s3://bucket/tablesafe/../x").contains("'..'"));
        assert!(refused(&d, &format!("{allowed}/../x")).contains("'..'"));
        for ok in ["s3://bucket/tablesafe", "s3://bucket/tablesafe/users", &format!("{allowed}/repo")] {
            d.check_requested(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // A destination a plan names is the plan file's business.
        d.check_requested("/etc", true).unwrap();
    }

    #[test]
    fn a_symlink_out_of_the_root_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::fs::create_dir(root.path().join("inner")).unwrap();
        std::os::unix::fs::symlink(root.path().join("inner"), root.path().join("fine")).unwrap();
        let d = rules(root.path(), &[]);
        assert!(refused(&d, "escape").contains("symbolic link"));
        assert!(refused(&d, "escape/below/new").contains("symbolic link"));
        d.check_requested("fine/repo", false).unwrap();
    }
}
