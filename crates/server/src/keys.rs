//! Access keys: who may call the server, and in which role. Keys come from the
//! environment (`TABLESAFE_ACCESS_KEY_ID`/`TABLESAFE_ACCESS_KEY_SECRET`, an admin
//! key), from a config file, or from `access-keys.toml` in the data directory, which
//! is created with a fresh random admin key on first start. In a file each
//! `[[access_keys]]` entry has `id`, `secret` and an optional `role` (`admin`,
//! `read-write`, `read-only` or `backup-operator`; `admin` when absent).
//!
//! Invariants: the key file is written atomically with mode 0600; a secret is never
//! logged or shown by `Debug`; key ids are unique.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::roles::{KeyRoles, Role};

/// One access key pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The public id sent in `x-ots-accesskeyid`.
    pub id: String,
    /// The shared secret used to sign requests and responses.
    pub secret: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl AccessKey {
    /// A new random key pair.
    pub fn generate() -> AccessKey {
        let mut rng = rand::thread_rng();
        let id: String = (&mut rng).sample_iter(&Alphanumeric).take(16).map(char::from).collect();
        let secret: String = (&mut rng).sample_iter(&Alphanumeric).take(32).map(char::from).collect();
        AccessKey { id: format!("TS{}", id.to_uppercase()), secret }
    }
}

/// One `[[access_keys]]` entry of a key file: a key pair and its role.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The public id sent in `x-ots-accesskeyid`.
    pub id: String,
    /// The shared secret.
    pub secret: String,
    /// What the key may do; `admin` when the file does not say.
    #[serde(default)]
    pub role: Role,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

impl KeyEntry {
    /// An entry for `key` with `role`.
    pub fn new(key: AccessKey, role: Role) -> KeyEntry {
        KeyEntry { id: key.id, secret: key.secret, role }
    }

    /// The key pair.
    pub fn access_key(&self) -> AccessKey {
        AccessKey { id: self.id.clone(), secret: self.secret.clone() }
    }
}

/// The key pairs of `entries`, for [`crate::ServerState::keys`].
pub fn access_keys(entries: &[KeyEntry]) -> Vec<AccessKey> {
    entries.iter().map(KeyEntry::access_key).collect()
}

/// The roles of `entries`, for [`crate::ServeOptions::roles`].
pub fn key_roles(entries: &[KeyEntry]) -> KeyRoles {
    KeyRoles::new(entries.iter().map(|e| (e.id.clone(), e.role)))
}

/// The file format of `access-keys.toml` and of `[[access_keys]]` in a config file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    /// The keys.
    #[serde(default)]
    pub access_keys: Vec<KeyEntry>,
}

/// Where the server's keys came from; the CLI words its start-up message by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Environment variables.
    Environment,
    /// A key file that existed.
    File(PathBuf),
    /// A key file created now: its secret should be shown once.
    Created(PathBuf),
}

/// The name of the key file inside the data directory.
pub const KEY_FILE_NAME: &str = "access-keys.toml";

/// Errors loading or creating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read or written.
    #[error("access key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not parse.
    #[error("access key file {path} is not valid TOML with [[access_keys]] id/secret/role: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// The backup password file's first line is empty.
    #[error("backup password file {path} is empty; write the password on its first line, or delete the file to have a new one made (existing repositories then no longer open)")]
    EmptyPassword {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no key.
    #[error("access key file {path} holds no key")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Two entries of the key file have the same id.
    #[error("access key file {path} lists the key id '{id}' more than once")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The repeated id.
        id: String,
    },
}

/// Reads keys and their roles from a TOML file with `[[access_keys]]` tables.
pub fn read_key_file(path: &Path) -> Result<Vec<KeyEntry>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
    let file: KeyFile =
        toml::from_str(&text).map_err(|e| KeyError::Parse { path: path.to_owned(), detail: e.to_string() })?;
    if file.access_keys.is_empty() {
        return Err(KeyError::Empty { path: path.to_owned() });
    }
    let mut ids = std::collections::HashSet::new();
    if let Some(entry) = file.access_keys.iter().find(|e| !ids.insert(e.id.as_str())) {
        return Err(KeyError::Duplicate { path: path.to_owned(), id: entry.id.clone() });
    }
    Ok(file.access_keys)
}

/// Keys from the environment if set (an admin key), else from the data directory's
/// key file, creating it with a fresh admin key when it does not exist.
pub fn load_or_create(
    data_dir: &Path,
    env_id: Option<String>,
    env_secret: Option<String>,
) -> Result<(Vec<KeyEntry>, KeySource), KeyError> {
    if let (Some(id), Some(secret)) = (env_id, env_secret) {
        if !id.is_empty() && !secret.is_empty() {
            return Ok((vec![KeyEntry { id, secret, role: Role::Admin }], KeySource::Environment));
        }
    }
    let path = data_dir.join(KEY_FILE_NAME);
    if path.exists() {
        return Ok((read_key_file(&path)?, KeySource::File(path)));
    }
    let key = KeyEntry::new(AccessKey::generate(), Role::Admin);
    let text = toml::to_string(&KeyFile { access_keys: vec![key.clone()] })
        .map_err(|e| KeyError::Parse { path: path.clone(), detail: e.to_string() })?;
    write_private_file(&path, text.as_bytes()).map_err(|source| KeyError::Io { path: path.clone(), source })?;
    Ok((vec![key], KeySource::Created(path)))
}

/// The file in the data directory holding the password of the server's backup
/// repositories when none is given.
pub const BACKUP_PASSWORD_FILE: &str = "backup-password";

/// The backup repositories' password from `<data-dir>/backup-password`, created
/// (48 random letters and digits, mode 0600) when missing; `true` when created now.
pub fn load_or_create_backup_password(data_dir: &Path) -> Result<(String, bool), KeyError> {
    let path = data_dir.join(BACKUP_PASSWORD_FILE);
    let io = |source| KeyError::Io { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.lines().next().filter(|line| !line.is_empty()) {
            Some(line) => Ok((line.to_owned(), false)),
            None => Err(KeyError::EmptyPassword { path: path.clone() }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(48).map(char::from).collect();
            write_private_file(&path, format!("{password}\n").as_bytes()).map_err(io)?;
            Ok((password, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file readable only by its owner: temp file, fsync, rename, fsync dir.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_a_private_key_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, source) = load_or_create(dir.path(), None, None).unwrap();
        assert!(matches!(source, KeySource::Created(_)));
        let (again, source) = load_or_create(dir.path(), None, None).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        assert_eq!(keys, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must not be readable by others");
        }
        assert_eq!(keys[0].role, Role::Admin);
        let text = std::fs::read_to_string(dir.path().join(KEY_FILE_NAME)).unwrap();
        assert!(text.contains("role = \"admin\""), "{text}");
        let (env, source) = load_or_create(dir.path(), Some("id".into()), Some("s".into())).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(env[0].id, "id");
        assert_eq!(env[0].role, Role::Admin);
        assert!(!format!("{:?}", keys[0]).contains(&keys[0].secret));
    }

    #[test]
    fn roles_are_read_from_the_file_and_default_to_admin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write(
            r#"
            [[access_keys]]
            id = "old"
            secret = "s1"

            [[access_keys]]
            id = "ro"
            secret = "s2"
            role = "read-only"

            [[access_keys]]
            id = "ops"
            secret = "s3"
            role = "backup-operator"
            "#,
        );
        let entries = read_key_file(&path).unwrap();
        let roles: Vec<Role> = entries.iter().map(|e| e.role).collect();
        assert_eq!(roles, [Role::Admin, Role::ReadOnly, Role::BackupOperator]);
        assert_eq!(key_roles(&entries).role_of("ro"), Role::ReadOnly);
        assert_eq!(access_keys(&entries)[2], AccessKey { id: "ops".into(), secret: "s3".into() });

        write("[[access_keys]]\nid = \"k\"\nsecret = \"s\"\nrole = \"root\"\n");
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("root") && err.contains("read-only"), "{err}");
        write("[[access_keys]]\nid = \"k\"\nsecret = \"s\"\n[[access_keys]]\nid = \"k\"\nsecret = \"t\"\n");
        assert!(matches!(read_key_file(&path), Err(KeyError::Duplicate { id, .. }) if id == "k"));
    }
}
