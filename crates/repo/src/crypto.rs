//! Keys and authenticated encryption (docs/REPOSITORY-FORMAT.md, "Keys").
//!
//! A repository has one set of [`Secrets`]: `id_key` (keyed BLAKE3 chunk ids, so ids
//! reveal nothing about content), `meta_key` (XChaCha20-Poly1305 for index files and
//! manifests) and an age X25519 *data identity* whose public half (the data
//! recipient) wraps each pack's random key. Key files seal the secrets under a
//! password (Argon2id) or to the user's age recipients; a *write-only* key file
//! omits the data identity, so a host holding it can add backups but not read data.
//!
//! Invariants: every sealed object carries a random 24-byte nonce (XChaCha, so
//! random nonces never collide in practice) and is bound to its purpose by the
//! associated data; nothing secret is ever formatted into an error or a log.

use std::io::{Read, Write};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::RepoError;

/// Length of a chunk id, a pack id and every symmetric key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// A fresh random 32-byte key.
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// Encrypts and authenticates `plaintext` under `key`, bound to `aad`:
/// `nonce (24) ‖ ciphertext ‖ tag (16)`.
pub fn seal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    // Encryption fails only for inputs beyond 256 GiB, which never reach here.
    let ciphertext = cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad }).unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens what [`seal`] produced; `None` when the bytes were altered, the key is
/// wrong or the associated data differs.
pub fn open(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into()).decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad }).ok()
}

/// What a key file gives access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read and write everything.
    Full,
    /// Add backups and read metadata; no row data can be decrypted.
    WriteOnly,
}

/// The repository's secrets, as unsealed from a key file.
#[derive(Clone)]
pub struct Secrets {
    /// Key of the keyed BLAKE3 hash that names chunks.
    pub id_key: [u8; KEY_LEN],
    /// Key that seals index files and manifests.
    pub meta_key: [u8; KEY_LEN],
    /// The recipient every pack key is wrapped to.
    pub data_recipient: age::x25519::Recipient,
    /// The identity that unwraps pack keys; `None` in a write-only key.
    pub data_identity: Option<age::x25519::Identity>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("access", &self.access()).finish_non_exhaustive()
    }
}

/// The serialized form of [`Secrets`] inside a sealed key file.
#[derive(Serialize, Deserialize)]
struct SecretsFile {
    id_key: String,
    meta_key: String,
    data_recipient: String,
    data_identity: Option<String>,
}

impl Secrets {
    /// New random secrets for a new repository.
    pub fn generate() -> Secrets {
        let identity = age::x25519::Identity::generate();
        Secrets {
            id_key: random_key(),
            meta_key: random_key(),
            data_recipient: identity.to_public(),
            data_identity: Some(identity),
        }
    }

    /// What these secrets allow.
    pub fn access(&self) -> Access {
        if self.data_identity.is_some() {
            Access::Full
        } else {
            Access::WriteOnly
        }
    }

    /// The same secrets without the data identity.
    pub fn write_only(&self) -> Secrets {
        Secrets { data_identity: None, ..self.clone() }
    }

    /// The id of a chunk: keyed BLAKE3 of its plaintext.
    pub fn chunk_id(&self, plaintext: &[u8]) -> [u8; KEY_LEN] {
        *blake3::keyed_hash(&self.id_key, plaintext).as_bytes()
    }

    fn to_bytes(&self) -> Vec<u8> {
        let file = SecretsFile {
            id_key: hex(&self.id_key),
            meta_key: hex(&self.meta_key),
            data_recipient: self.data_recipient.to_string(),
            data_identity: self.data_identity.as_ref().map(|i| i.to_string().expose_secret().to_owned()),
        };
        serde_json::to_vec(&file).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8], path: &str) -> Result<Secrets, RepoError> {
        let bad = |detail: &str| RepoError::damaged(path, detail.to_owned());
        let file: SecretsFile = serde_json::from_slice(bytes).map_err(|_| bad("key secrets do not decode"))?;
        Ok(Secrets {
            id_key: unhex32(&file.id_key).ok_or_else(|| bad("bad id key"))?,
            meta_key: unhex32(&file.meta_key).ok_or_else(|| bad("bad meta key"))?,
            data_recipient: age::x25519::Recipient::from_str(&file.data_recipient)
                .map_err(|_| bad("bad data recipient"))?,
            data_identity: file
                .data_identity
                .map(|s| age::x25519::Identity::from_str(&s).map_err(|_| bad("bad data identity")))
                .transpose()?,
        })
    }

    /// Wraps a pack key to the data recipient.
    pub fn wrap_pack_key(&self, key: &[u8; KEY_LEN]) -> Vec<u8> {
        // Encrypting to a valid X25519 recipient cannot fail.
        age::encrypt(&self.data_recipient, key).unwrap_or_default()
    }

    /// Seals `plaintext` so that only holders of the data identity open it: a
    /// fresh key, wrapped to the data recipient, seals it (`u32 LE length of the
    /// wrapped key ‖ wrapped key ‖ sealed`). Write-only secrets seal; they cannot open.
    pub fn seal_for_readers(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = random_key();
        let wrapped = self.wrap_pack_key(&key);
        let mut out = Vec::with_capacity(4 + wrapped.len() + plaintext.len() + 40);
        out.extend_from_slice(&(wrapped.len() as u32).to_le_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&seal(&key, plaintext, aad));
        out
    }

    /// Opens what [`seal_for_readers`](Self::seal_for_readers) sealed; `WriteOnly`
    /// without the data identity, damaged when it does not authenticate.
    pub fn open_for_readers(&self, sealed: &[u8], aad: &[u8], path: &str) -> Result<Vec<u8>, RepoError> {
        let damaged = || RepoError::damaged(path, "sealed data is cut short");
        let length: [u8; 4] = sealed.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(damaged)?;
        let length = u32::from_le_bytes(length) as usize;
        let wrapped = sealed.get(4..4 + length).ok_or_else(damaged)?;
        let key = self.unwrap_pack_key(wrapped, path)?;
        open(&key, &sealed[4 + length..], aad).ok_or_else(|| RepoError::damaged(path, "sealed data fails authentication"))
    }

    /// Unwraps a pack key; `WriteOnly` without the data identity.
    pub fn unwrap_pack_key(&self, wrapped: &[u8], path: &str) -> Result<[u8; KEY_LEN], RepoError> {
        let identity = self.data_identity.as_ref().ok_or(RepoError::WriteOnly)?;
        let key = age::decrypt(identity, wrapped).map_err(|_| RepoError::damaged(path, "pack key does not unwrap"))?;
        key.try_into().map_err(|_| RepoError::damaged(path, "pack key has the wrong length"))
    }
}

/// Argon2id cost of password key files. 64 MiB and 3 passes take about a
/// second on this project's machines: slow for guessing, fine for opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams { m_kib: 64 * 1024, t: 3, p: 1 }
    }
}

/// How a key file is unsealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum KeySealing {
    /// XChaCha20-Poly1305 under an Argon2id hash of a password.
    Password {
        /// Argon2id cost.
        kdf: KdfParams,
        /// Random salt, hex.
        salt: String,
    },
    /// An age file to the user's recipients.
    Age,
}

/// A key file (`keys/<id>`): public parameters and the sealed secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// Format version of key files (1).
    pub version: u32,
    /// What the key gives access to.
    pub access: Access,
    /// How it is sealed.
    pub sealing: KeySealing,
    /// Sealed secrets, hex.
    pub sealed: String,
}

const KEY_FILE_AAD: &[u8] = b"tablesafe key file v1";

fn derive_key(password: &[u8], salt: &[u8], kdf: KdfParams) -> Result<[u8; KEY_LEN], RepoError> {
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(KEY_LEN))
        .map_err(|e| RepoError::Invalid(format!("invalid Argon2id parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; KEY_LEN];
    argon
        .hash_password_into(password, salt, &mut key)
        .map_err(|e| RepoError::Invalid(format!("cannot derive a key from the password: {e}")))?;
    Ok(key)
}

impl KeyFile {
    /// Seals `secrets` under `password`.
    pub fn with_password(secrets: &Secrets, password: &[u8], kdf: KdfParams) -> Result<KeyFile, RepoError> {
        if password.is_empty() {
            return Err(RepoError::Invalid("the repository password must not be empty".into()));
        }
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let key = derive_key(password, &salt, kdf)?;
        Ok(KeyFile {
            version: 1,
            access: secrets.access(),
            sealing: KeySealing::Password { kdf, salt: hex(&salt) },
            sealed: hex(&seal(&key, &secrets.to_bytes(), KEY_FILE_AAD)),
        })
    }

    /// Seals `secrets` to age recipients (`age1…` strings).
    pub fn with_recipients(secrets: &Secrets, recipients: &[String]) -> Result<KeyFile, RepoError> {
        let parsed: Vec<age::x25519::Recipient> = recipients
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r)
                    .map_err(|e| RepoError::Invalid(format!("'{r}' is not an age X25519 recipient: {e}")))
            })
            .collect::<Result<_, _>>()?;
        if parsed.is_empty() {
            return Err(RepoError::Invalid("at least one age recipient is needed".into()));
        }
        let encryptor = age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| RepoError::Invalid(format!("cannot encrypt to the recipients: {e}")))?;
        let mut sealed = Vec::new();
        let write = |sealed: &mut Vec<u8>| -> std::io::Result<()> {
            let mut writer = encryptor.wrap_output(sealed)?;
            writer.write_all(&secrets.to_bytes())?;
            writer.finish()?;
            Ok(())
        };
        write(&mut sealed).map_err(|e| RepoError::Invalid(format!("cannot encrypt to the recipients: {e}")))?;
        Ok(KeyFile { version: 1, access: secrets.access(), sealing: KeySealing::Age, sealed: hex(&sealed) })
    }

    /// Unseals with a password; `None` when this file is not a password key or
    /// the password is wrong.
    pub fn open_with_password(&self, password: &[u8], path: &str) -> Result<Option<Secrets>, RepoError> {
        let KeySealing::Password { kdf, salt } = &self.sealing else { return Ok(None) };
        let salt = unhex(salt).ok_or_else(|| RepoError::damaged(path, "bad salt"))?;
        let sealed = unhex(&self.sealed).ok_or_else(|| RepoError::damaged(path, "bad sealed secrets"))?;
        let key = derive_key(password, &salt, *kdf)?;
        match open(&key, &sealed, KEY_FILE_AAD) {
            Some(bytes) => Secrets::from_bytes(&bytes, path).map(Some),
            None => Ok(None),
        }
    }

    /// Unseals with age identities; `None` when none of them opens it.
    pub fn open_with_identities(
        &self,
        identities: &[age::x25519::Identity],
        path: &str,
    ) -> Result<Option<Secrets>, RepoError> {
        if self.sealing != KeySealing::Age || identities.is_empty() {
            return Ok(None);
        }
        let sealed = unhex(&self.sealed).ok_or_else(|| RepoError::damaged(path, "bad sealed secrets"))?;
        let decryptor =
            age::Decryptor::new(sealed.as_slice()).map_err(|_| RepoError::damaged(path, "not an age file"))?;
        let Ok(mut reader) = decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity)) else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|_| RepoError::damaged(path, "sealed secrets are damaged"))?;
        Secrets::from_bytes(&bytes, path).map(Some)
    }
}

/// Parses age identities (`AGE-SECRET-KEY-1…` lines; `#` comments allowed), as in
/// an identity file made by `age-keygen`.
pub fn parse_identities(text: &str) -> Result<Vec<age::x25519::Identity>, RepoError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            age::x25519::Identity::from_str(l)
                .map_err(|_| RepoError::Invalid("an identity line is not an age X25519 secret key".into()))
        })
        .collect()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Parses lowercase or uppercase hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// Parses 32 bytes of hex.
pub fn unhex32(text: &str) -> Option<[u8; KEY_LEN]> {
    unhex(text)?.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

    #[test]
    fn sealed_messages_detect_any_change() {
        let key = random_key();
        let sealed = seal(&key, b"row data", b"aad");
        assert_eq!(open(&key, &sealed, b"aad").unwrap(), b"row data");
        assert!(open(&key, &sealed, b"other").is_none());
        assert!(open(&random_key(), &sealed, b"aad").is_none());
        for i in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[i] ^= 1;
            assert!(open(&key, &damaged, b"aad").is_none(), "flip at {i} accepted");
        }
    }

    #[test]
    fn password_keys_open_with_the_password_only() {
        let secrets = Secrets::generate();
        let file = KeyFile::with_password(&secrets, b"correct horse", FAST).unwrap();
        let text = serde_json::to_string(&file).unwrap();
        assert!(!text.contains(&hex(&secrets.id_key)), "secrets must not appear in clear");
        let opened = file.open_with_password(b"correct horse", "keys/x").unwrap().unwrap();
        assert_eq!(opened.id_key, secrets.id_key);
        assert_eq!(opened.access(), Access::Full);
        assert!(file.open_with_password(b"wrong", "keys/x").unwrap().is_none());
        assert!(KeyFile::with_password(&secrets, b"", FAST).is_err());
    }

    #[test]
    fn age_keys_need_an_identity_and_write_only_keys_cannot_unwrap_data() {
        let secrets = Secrets::generate();
        let user = age::x25519::Identity::generate();
        let file = KeyFile::with_recipients(&secrets.write_only(), &[user.to_public().to_string()]).unwrap();
        assert_eq!(file.access, Access::WriteOnly);
        assert!(file.open_with_identities(&[age::x25519::Identity::generate()], "k").unwrap().is_none());
        let writer = file.open_with_identities(&[user], "k").unwrap().unwrap();
        let pack_key = random_key();
        let wrapped = writer.wrap_pack_key(&pack_key);
        assert!(matches!(writer.unwrap_pack_key(&wrapped, "p"), Err(RepoError::WriteOnly)));
        assert_eq!(secrets.unwrap_pack_key(&wrapped, "p").unwrap(), pack_key);
        assert_eq!(writer.chunk_id(b"x"), secrets.chunk_id(b"x"), "writers name chunks like readers");
    }
}
