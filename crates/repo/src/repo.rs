//! A repository: its config, keys, index of chunks, packs and manifests
//! (docs/REPOSITORY-FORMAT.md).
//!
//! Invariants:
//! - Objects are written whole and never changed; names are content hashes or
//!   random ids, so concurrent writers never collide.
//! - Order of writes: packs, then the index files naming them, then the manifest
//!   that references their chunks. A crash leaves at most unreferenced packs and
//!   index entries, which verification reports as harmless and prune removes.
//! - Every chunk read is authenticated and checked against its keyed id; damage is
//!   reported with the object's path, never returned as data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tablesafe_common::{Clock, SystemClock};

use crate::catalog::CatalogState;
use crate::chunker::{Chunker, ChunkerParams};
use crate::codec::Codec;
use crate::crypto::{self, KdfParams, KeyFile, Secrets, KEY_LEN};
use crate::lock::{LockKind, RepoLock};
use crate::pack::{self, ChunkId, PackEntry, PackId};
use crate::storage::Storage;
use crate::writer::{ChunkWriter, WriterOptions};
use crate::RepoError;

/// Version of the repository format this code writes; it reads this one and every
/// older one (docs/REPOSITORY-FORMAT.md: version 2 added the catalog).
pub const FORMAT_VERSION: u32 = 2;
/// The first version with a catalog.
pub(crate) const CATALOG_SINCE: u32 = 2;
/// A pack is written once it holds this many bytes.
pub const PACK_TARGET_BYTES: usize = 16 * 1024 * 1024;
const INDEX_AAD: &[u8] = b"tablesafe index v1";
const CONFIG_PATH: &str = "config";

/// The plaintext `config` object: what every reader needs before any key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Always "tablesafe-repository".
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer that created it.
    pub version: u32,
    /// Random repository id, hex.
    pub id: String,
    /// Chunk size bounds.
    pub chunker: ChunkerParams,
    /// zstd level of chunks.
    pub compression_level: i32,
}

/// How to create a repository's first keys.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// A password that opens everything.
    pub password: Option<String>,
    /// age recipients (`age1…`) that open everything.
    pub recipients: Vec<String>,
    /// age recipients that may only add backups (no data can be read with them).
    pub write_only_recipients: Vec<String>,
    /// Argon2id cost (tests lower it).
    pub kdf: KdfParams,
    /// Chunk size bounds.
    pub chunker: ChunkerParams,
}

/// What opens a repository.
#[derive(Clone, Default)]
pub struct Unlock {
    /// The password.
    pub password: Option<String>,
    /// age identities.
    pub identities: Vec<age::x25519::Identity>,
}

/// Where a chunk is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Location {
    pack: PackId,
    entry: PackEntry,
}

/// Totals over a repository's index ([`Repository::index_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Distinct chunks.
    pub chunks: u64,
    /// Packs holding them.
    pub packs: u64,
    /// Their stored (compressed, sealed) bytes.
    pub stored_bytes: u64,
    /// Their plaintext bytes.
    pub raw_bytes: u64,
}

/// The sealed content of an index file: the entries of some packs.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    pub(crate) packs: Vec<(PackId, Vec<PackEntry>)>,
}

/// An open repository: a handle, cheap to clone; clones share the index and the
/// cache of pack keys, so a chunk one clone writes is known to all.
#[derive(Clone)]
pub struct Repository {
    pub(crate) storage: Storage,
    pub(crate) config: Config,
    pub(crate) secrets: Secrets,
    index: Arc<Mutex<HashMap<ChunkId, Location>>>,
    /// The index files the index was read from (their names are their hashes:
    /// a file never changes, a prune replaces files).
    index_files: Arc<Mutex<HashSet<String>>>,
    pack_keys: Arc<Mutex<HashMap<PackId, [u8; KEY_LEN]>>>,
    /// The id of the key file this handle was opened with (none after `init`).
    pub(crate) opened_key: Option<String>,
    /// BLAKE3 of the `config` bytes this handle read or wrote (the catalog records it).
    pub(crate) config_hash: [u8; 32],
    pub(crate) catalog: Arc<CatalogState>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository").field("url", &self.storage.url()).field("id", &self.config.id).finish()
    }
}

impl Repository {
    /// Creates a repository at an empty location.
    pub async fn init(storage: Storage, options: InitOptions) -> Result<Repository, RepoError> {
        options.chunker.check().map_err(RepoError::Invalid)?;
        if options.password.is_none() && options.recipients.is_empty() {
            return Err(RepoError::Invalid(
                "a repository needs a password or an age recipient that can read it".into(),
            ));
        }
        if storage.exists(CONFIG_PATH).await? {
            return Err(RepoError::AlreadyExists { path: CONFIG_PATH.into() });
        }
        let secrets = Secrets::generate();
        let mut key_files = Vec::new();
        if let Some(password) = &options.password {
            key_files.push(KeyFile::with_password(&secrets, password.as_bytes(), options.kdf)?);
        }
        if !options.recipients.is_empty() {
            key_files.push(KeyFile::with_recipients(&secrets, &options.recipients)?);
        }
        if !options.write_only_recipients.is_empty() {
            key_files.push(KeyFile::with_recipients(&secrets.write_only(), &options.write_only_recipients)?);
        }
        for key in key_files {
            let bytes = serde_json::to_vec_pretty(&key).map_err(|e| RepoError::Invalid(e.to_string()))?;
            storage.write(&format!("keys/{}", crypto::hex(&crypto::random_key()[..16])), bytes).await?;
        }
        let config = Config {
            format: "tablesafe-repository".into(),
            version: FORMAT_VERSION,
            id: crypto::hex(&crypto::random_key()[..16]),
            chunker: options.chunker,
            compression_level: 3,
        };
        let bytes = serde_json::to_vec_pretty(&config).map_err(|e| RepoError::Invalid(e.to_string()))?;
        let repo = Repository::new(storage, config, secrets, &bytes);
        // The catalog's first file records the key files and the config's hash.
        repo.start_catalog().await?;
        // The config goes last: a location with a config is a complete repository.
        repo.storage.write(CONFIG_PATH, bytes).await?;
        Ok(repo)
    }

    /// Opens an existing repository with a password or age identities.
    pub async fn open(storage: Storage, unlock: &Unlock) -> Result<Repository, RepoError> {
        let not_a_repo = |reason: String| RepoError::NotARepository { url: storage.url().to_owned(), reason };
        let bytes = match storage.read(CONFIG_PATH).await {
            Ok(bytes) => bytes,
            Err(RepoError::NotFound { .. }) => {
                storage.forget_created_dirs();
                return Err(not_a_repo("there is no 'config' object".into()));
            }
            Err(e) => return Err(e),
        };
        let config: Config =
            serde_json::from_slice(&bytes).map_err(|_| not_a_repo("'config' is not a repository config".into()))?;
        if config.format != "tablesafe-repository" || !(1..=FORMAT_VERSION).contains(&config.version) {
            return Err(not_a_repo(format!("format {} version {} is not supported", config.format, config.version)));
        }
        config.chunker.check().map_err(not_a_repo)?;
        let mut secrets = None;
        for (path, _) in storage.list("keys").await? {
            let key: KeyFile = serde_json::from_slice(&storage.read(&path).await?)
                .map_err(|_| RepoError::damaged(&path, "not a key file"))?;
            let opened = match &unlock.password {
                Some(password) => key.open_with_password(password.as_bytes(), &path)?,
                None => None,
            };
            let opened = match opened {
                Some(s) => Some(s),
                None => key.open_with_identities(&unlock.identities, &path)?,
            };
            // Prefer a key that opens everything over a write-only one.
            if let Some(s) = opened {
                let full = s.data_identity.is_some();
                secrets = Some((s, path.trim_start_matches("keys/").to_owned()));
                if full {
                    break;
                }
            }
        }
        let (secrets, opened_key) = secrets.ok_or(RepoError::WrongKey)?;
        let mut repo = Repository::new(storage, config, secrets, &bytes);
        repo.opened_key = Some(opened_key);
        repo.load_index().await?;
        Ok(repo)
    }

    /// The same repository opened again, without its keys' cost: the secrets are
    /// reused and the index is read afresh, so chunks written or pruned by other
    /// processes since this one was opened are seen. Long-lived holders (the
    /// server's backup service) take one per job.
    pub async fn reopen(&self) -> Result<Repository, RepoError> {
        let mut repo = Repository {
            index: Arc::default(),
            index_files: Arc::default(),
            pack_keys: Arc::default(),
            ..self.clone()
        };
        repo.opened_key.clone_from(&self.opened_key);
        repo.load_index().await?;
        Ok(repo)
    }

    fn new(storage: Storage, config: Config, secrets: Secrets, config_bytes: &[u8]) -> Repository {
        Repository {
            storage,
            config,
            secrets,
            index: Arc::default(),
            index_files: Arc::default(),
            pack_keys: Arc::default(),
            opened_key: None,
            config_hash: *blake3::hash(config_bytes).as_bytes(),
            catalog: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock this handle reads time from (catalog events, locks, snapshot times).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The same handle reading time from `clock` (catalog events, tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Repository {
        self.clock = clock;
        self
    }

    /// The repository's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The storage it lives on.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Whether data can be read with the key that opened it.
    pub fn can_read_data(&self) -> bool {
        self.secrets.data_identity.is_some()
    }

    /// A chunker with the repository's bounds.
    pub fn chunker(&self) -> Chunker {
        Chunker::new(self.config.chunker)
    }

    /// Reads every index file, then replaces the in-memory index with what they
    /// name and forgets the cached pack keys. Every file is read before anything
    /// is replaced: a read that fails (the storage does fail) leaves the index as
    /// it was, never half empty, so a long-lived handle still finds every chunk it
    /// found before.
    pub(crate) async fn load_index(&self) -> Result<(), RepoError> {
        let (mut files, mut index) = (HashSet::new(), HashMap::new());
        for (path, _) in self.storage.list("index").await? {
            index.extend(locations(self.read_index_file(&path).await?.packs));
            files.insert(path);
        }
        *self.index.lock() = index;
        *self.index_files.lock() = files;
        self.pack_keys.lock().clear();
        Ok(())
    }

    async fn load_index_file(&self, path: String) -> Result<(), RepoError> {
        let file = self.read_index_file(&path).await?;
        self.index_packs(file.packs);
        self.index_files.lock().insert(path);
        Ok(())
    }

    /// Brings the index up to date for a long-lived holder that reads or
    /// deduplicates against it: only index files written since are read, unless one
    /// read before is gone (a prune replaced it), when everything is read again.
    /// The cost of a refresh is a listing, not the size of the repository.
    pub async fn refresh(&self) -> Result<(), RepoError> {
        let listed: HashSet<String> = self.storage.list("index").await?.into_iter().map(|(path, _)| path).collect();
        let gone = self.index_files.lock().iter().any(|known| !listed.contains(known));
        if gone {
            return self.load_index().await;
        }
        let new: Vec<String> = {
            let known = self.index_files.lock();
            listed.into_iter().filter(|path| !known.contains(path)).collect()
        };
        for path in new {
            self.load_index_file(path).await?;
        }
        Ok(())
    }

    pub(crate) async fn read_index_file(&self, path: &str) -> Result<IndexFile, RepoError> {
        let sealed = self.storage.read(path).await?;
        let bytes = crypto::open(&self.secrets.meta_key, &sealed, INDEX_AAD)
            .ok_or_else(|| RepoError::damaged(path, "index file fails authentication"))?;
        postcard::from_bytes(&bytes).map_err(|_| RepoError::damaged(path, "index file does not decode"))
    }

    /// Whether the repository holds a chunk.
    pub fn has_chunk(&self, id: &ChunkId) -> bool {
        self.index.lock().contains_key(id)
    }

    /// Number of chunks in the index.
    pub fn chunk_count(&self) -> usize {
        self.index.lock().len()
    }

    /// What the index holds: chunks, the packs they are in, and their sizes.
    pub fn index_stats(&self) -> IndexStats {
        let index = self.index.lock();
        let mut packs = std::collections::HashSet::new();
        let mut stats = IndexStats { chunks: index.len() as u64, ..IndexStats::default() };
        for location in index.values() {
            packs.insert(location.pack);
            stats.stored_bytes += u64::from(location.entry.length);
            stats.raw_bytes += u64::from(location.entry.raw_length);
        }
        stats.packs = packs.len() as u64;
        stats
    }

    /// Stored (compressed, sealed) size of a chunk, if present.
    pub fn stored_size(&self, id: &ChunkId) -> Option<u64> {
        self.index.lock().get(id).map(|l| u64::from(l.entry.length))
    }

    /// Starts adding chunks, with a seal worker per core (see [`ChunkWriter`]).
    /// Must be called inside a Tokio runtime.
    pub fn writer(&self) -> ChunkWriter {
        ChunkWriter::start(self.clone(), WriterOptions::default())
    }

    /// Starts adding chunks with these stage widths.
    pub fn writer_with(&self, options: WriterOptions) -> ChunkWriter {
        ChunkWriter::start(self.clone(), options)
    }

    /// Adds the entries of packs named by a durable index file to the index.
    pub(crate) fn index_packs(&self, packs: Vec<(PackId, Vec<PackEntry>)>) {
        self.index.lock().extend(locations(packs));
    }

    /// Reads a chunk by id.
    pub async fn read_chunk(&self, id: &ChunkId) -> Result<Vec<u8>, RepoError> {
        let location = self
            .index
            .lock()
            .get(id)
            .copied()
            .ok_or_else(|| RepoError::NotFound { path: format!("chunk {}", crypto::hex(id)) })?;
        let path = pack::pack_path(&location.pack);
        let key = self.pack_key(&location.pack, &path).await?;
        let start = location.entry.offset;
        let blob = self.storage.read_range(&path, start..start + u64::from(location.entry.length)).await?;
        // Decryption, decompression and the id check are CPU work: off the async workers.
        let secrets = self.secrets.clone();
        let open = move || {
            let mut codec = Codec::for_packs(0); // The level matters only when encoding.
            pack::open_blob(&secrets, &mut codec, &key, &location.entry, &blob, &path)
        };
        tokio::task::spawn_blocking(open).await.map_err(|e| RepoError::Invalid(format!("chunk read task: {e}")))?
    }

    async fn pack_key(&self, id: &PackId, path: &str) -> Result<[u8; KEY_LEN], RepoError> {
        if let Some(key) = self.pack_keys.lock().get(id) {
            return Ok(*key);
        }
        if !self.can_read_data() {
            return Err(RepoError::WriteOnly);
        }
        let size = self.storage.size(path).await?;
        let trailer_start = size.checked_sub(pack::TRAILER_LEN).ok_or_else(|| RepoError::damaged(path, "too short"))?;
        let trailer = self.storage.read_range(path, trailer_start..size).await?;
        let (_, wrapped_len) = pack::parse_trailer(&trailer, path)?;
        let wrapped_start =
            trailer_start.checked_sub(wrapped_len).ok_or_else(|| RepoError::damaged(path, "bad trailer"))?;
        let wrapped = self.storage.read_range(path, wrapped_start..trailer_start).await?;
        let key = self.secrets.unwrap_pack_key(&wrapped, path)?;
        self.pack_keys.lock().insert(*id, key);
        Ok(key)
    }

    /// Stores a sealed manifest under `kind/` (e.g. `snapshots`); returns its id.
    pub async fn save_manifest(&self, kind: &str, body: &[u8]) -> Result<String, RepoError> {
        let id = crypto::hex(&crypto::random_key()[..16]);
        self.save_manifest_as(kind, &id, body).await?;
        Ok(id)
    }

    /// Stores a sealed manifest under `kind/<id>` with an id of the caller's (hex
    /// digits and `-` only), for manifests found by name without being opened.
    /// Ids must not reveal what the repository protects: build them from
    /// positions and [`name_tag`](Self::name_tag)s.
    pub async fn save_manifest_as(&self, kind: &str, id: &str, body: &[u8]) -> Result<(), RepoError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(RepoError::Invalid(format!("manifest id {id:?} is not hex digits and '-'")));
        }
        let sealed = crypto::seal(&self.secrets.meta_key, body, manifest_aad(kind).as_bytes());
        let path = format!("{kind}/{id}");
        // The object, then its record: an interruption leaves an unrecorded object, never a recorded absent one.
        self.storage.write(&path, sealed.clone()).await?;
        self.record_saved(&[(&path, &sealed)]).await
    }

    /// A short tag standing for `name` in object names: the same in every session
    /// of this repository, meaningless without its keys (keyed BLAKE3, 16 hex).
    pub fn name_tag(&self, name: &str) -> String {
        let id = self.secrets.chunk_id(format!("tablesafe name tag\0{name}").as_bytes());
        crypto::hex(&id[..8])
    }

    /// Reads a manifest saved with [`save_manifest`](Self::save_manifest).
    pub async fn load_manifest(&self, kind: &str, id: &str) -> Result<Vec<u8>, RepoError> {
        let path = format!("{kind}/{id}");
        let sealed = self.storage.read(&path).await?;
        self.open_manifest(kind, &path, &sealed)
    }

    /// Opens the stored bytes of the manifest at `path`, of `kind`.
    pub(crate) fn open_manifest(&self, kind: &str, path: &str, sealed: &[u8]) -> Result<Vec<u8>, RepoError> {
        crypto::open(&self.secrets.meta_key, sealed, manifest_aad(kind).as_bytes())
            .ok_or_else(|| RepoError::damaged(path, "manifest fails authentication"))
    }

    /// Seals bytes that carry row data or key values for keys that can read data
    /// only (write-only keys seal them too, but cannot open them): what a
    /// manifest, which write-only keys read, carries of a table's content.
    pub fn seal_for_readers(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.secrets.seal_for_readers(plaintext, aad)
    }

    /// Opens what [`seal_for_readers`](Self::seal_for_readers) sealed; `path`
    /// names the object in errors. `RepoError::WriteOnly` for a write-only key.
    pub fn open_for_readers(&self, sealed: &[u8], aad: &[u8], path: &str) -> Result<Vec<u8>, RepoError> {
        self.secrets.open_for_readers(sealed, aad, path)
    }

    /// Ids of the manifests of a kind, sorted.
    pub async fn list_manifests(&self, kind: &str) -> Result<Vec<String>, RepoError> {
        let prefix = format!("{kind}/");
        Ok(self
            .storage
            .list(kind)
            .await?
            .into_iter()
            .filter_map(|(path, _)| path.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    /// Deletes a manifest (its chunks stay until prune).
    pub async fn delete_manifest(&self, kind: &str, id: &str) -> Result<(), RepoError> {
        self.delete_manifests(kind, &[id.to_owned()]).await
    }

    /// Deletes manifests of one kind, their removal recorded in one catalog file first.
    pub async fn delete_manifests(&self, kind: &str, ids: &[String]) -> Result<(), RepoError> {
        if ids.is_empty() {
            return Ok(());
        }
        let paths: Vec<String> = ids.iter().map(|id| format!("{kind}/{id}")).collect();
        self.record_removed(&paths).await?;
        for path in &paths {
            self.storage.delete(path).await?;
        }
        Ok(())
    }

    /// Takes a repository lock (see `lock`): shared to add data, exclusive to prune.
    pub async fn lock(&self, kind: LockKind) -> Result<RepoLock, RepoError> {
        RepoLock::acquire(self.storage.clone(), kind, Arc::clone(&self.clock)).await
    }

    pub(crate) async fn write_index_file(&self, file: IndexFile) -> Result<String, RepoError> {
        let bytes = postcard::to_stdvec(&file).map_err(|e| RepoError::Invalid(format!("index: {e}")))?;
        let sealed = crypto::seal(&self.secrets.meta_key, &bytes, INDEX_AAD);
        let path = format!("index/{}", crypto::hex(blake3::hash(&sealed).as_bytes()));
        self.storage.write(&path, sealed).await?;
        // Its entries are added by the writer; a refresh need not read it back.
        self.index_files.lock().insert(path.clone());
        Ok(path)
    }
}

pub(crate) fn manifest_aad(kind: &str) -> String {
    format!("tablesafe manifest v1 {kind}")
}

/// Where each chunk of `packs` lies.
fn locations(packs: Vec<(PackId, Vec<PackEntry>)>) -> impl Iterator<Item = (ChunkId, Location)> {
    packs
        .into_iter()
        .flat_map(|(pack, entries)| entries.into_iter().map(move |entry| (entry.id, Location { pack, entry })))
}
