//! The key files of a repository (`keys/<id>`): each seals the same secrets
//! under a password or to age recipients, so adding, removing or changing a key
//! rewrites one small object and never the data. Invariants: a repository keeps
//! at least one key that opens everything (a key is removed only when another
//! full key stays), and the key this handle was opened with is not removed
//! through it, so a handle never loses the key it stands on.

use crate::crypto::{self, Access, KdfParams, KeyFile, KeySealing};
use crate::{RepoError, Repository};

/// One key file, as [`Repository::list_keys`] describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Its id: the name of its object under `keys/`.
    pub id: String,
    /// What it gives access to.
    pub access: Access,
    /// `password` or `age`.
    pub sealing: &'static str,
    /// Whether this handle was opened with it.
    pub current: bool,
}

impl Repository {
    /// The id of the key file this handle was opened with.
    pub fn opened_key(&self) -> Option<&str> {
        self.opened_key.as_deref()
    }

    /// Every key file, by id.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, RepoError> {
        let mut keys = Vec::new();
        for (path, _) in self.storage.list("keys").await? {
            let file = self.read_key(&path).await?;
            let id = path.trim_start_matches("keys/").to_owned();
            keys.push(KeyInfo {
                current: self.opened_key.as_deref() == Some(id.as_str()),
                id,
                access: file.access,
                sealing: match file.sealing {
                    KeySealing::Password { .. } => "password",
                    KeySealing::Age => "age",
                },
            });
        }
        Ok(keys)
    }

    /// Adds a key sealed under `password`, with the access this handle has.
    /// Returns its id.
    pub async fn add_password_key(&self, password: &str, kdf: KdfParams) -> Result<String, RepoError> {
        self.add_key(KeyFile::with_password(&self.secrets, password.as_bytes(), kdf)?).await
    }

    /// Adds a key sealed to age `recipients`; `write_only` keys add backups but
    /// cannot read rows. Returns its id.
    pub async fn add_recipient_key(&self, recipients: &[String], write_only: bool) -> Result<String, RepoError> {
        let secrets = if write_only { self.secrets.write_only() } else { self.secrets.clone() };
        self.add_key(KeyFile::with_recipients(&secrets, recipients)?).await
    }

    /// Removes key `id` (or a unique prefix of it).
    pub async fn remove_key(&self, id: &str) -> Result<String, RepoError> {
        let keys = self.list_keys().await?;
        let matching: Vec<&KeyInfo> = keys.iter().filter(|k| k.id.starts_with(id)).collect();
        let key = match matching.as_slice() {
            [one] => *one,
            [] => return Err(RepoError::Invalid(format!("the repository has no key {id}"))),
            _ => return Err(RepoError::Invalid(format!("{id} names {} keys; give more of the id", matching.len()))),
        };
        if key.current {
            return Err(RepoError::Invalid(format!(
                "key {} is the one this repository was opened with; open it with another key to remove this one",
                key.id
            )));
        }
        let full_left = keys.iter().filter(|k| k.id != key.id && k.access == Access::Full).count();
        if key.access == Access::Full && full_left == 0 {
            return Err(RepoError::Invalid(format!(
                "key {} is the last key that can read the repository's data; add another first",
                key.id
            )));
        }
        self.remove_key_file(&key.id).await?;
        Ok(key.id.clone())
    }

    /// Replaces the password key this handle was opened with by one sealed
    /// under `password`: the new password opens, the old one no longer does.
    /// The new key is written before the old one is removed, so a failure
    /// between leaves both, never neither. Returns the new key's id.
    pub async fn change_password(&self, password: &str, kdf: KdfParams) -> Result<String, RepoError> {
        let Some(old) = self.opened_key.clone() else {
            return Err(RepoError::Invalid("this repository was not opened with a key file".into()));
        };
        let file = self.read_key(&format!("keys/{old}")).await?;
        if !matches!(file.sealing, KeySealing::Password { .. }) {
            return Err(RepoError::Invalid(format!(
                "key {old}, which opened the repository, is an age key, not a password"
            )));
        }
        let new = self.add_password_key(password, kdf).await?;
        self.remove_key_file(&old).await?;
        Ok(new)
    }

    async fn read_key(&self, path: &str) -> Result<KeyFile, RepoError> {
        serde_json::from_slice(&self.storage.read(path).await?).map_err(|_| RepoError::damaged(path, "not a key file"))
    }

    async fn add_key(&self, file: KeyFile) -> Result<String, RepoError> {
        let id = crypto::hex(&crypto::random_key()[..16]);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| RepoError::Invalid(e.to_string()))?;
        let path = format!("keys/{id}");
        self.storage.write(&path, bytes.clone()).await?;
        self.record_saved(&[(&path, &bytes)]).await?;
        Ok(id)
    }

    /// Deletes a key file, its removal recorded in the catalog first.
    async fn remove_key_file(&self, id: &str) -> Result<(), RepoError> {
        let path = format!("keys/{id}");
        self.record_removed(std::slice::from_ref(&path)).await?;
        self.storage.delete(&path).await
    }
}
