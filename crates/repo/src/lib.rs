//! The backup repository: a table-agnostic store of content-addressed, compressed,
//! encrypted chunks over any OpenDAL destination (docs/REPOSITORY-FORMAT.md).
//!
//! Map: `storage` (the `ObjectStore` trait with its OpenDAL, in-memory and fault-injecting
//! stores, behind the path-checking [`Storage`] handle),
//! `crypto` (keys, key files, sealing), `chunker` (content-defined chunks),
//! `codec` (the layers a chunk passes through: compression, then sealing),
//! `pack` (the layout of encoded chunks in one object), `repo` ([`Repository`]: config,
//! keys, index, reader, manifests), `catalog` (the authenticated record of named objects), `check`, `writer` (the staged [`ChunkWriter`]), `prune`, `lock` (shared and
//! exclusive repository locks).

mod catalog;
mod check;
pub mod chunker;
pub mod codec;
pub mod crypto;
mod error;
mod keys;
pub mod lock;
pub mod pack;
mod prune;
mod repo;
pub mod storage;
mod writer;

pub use check::Check;
pub use chunker::{Chunker, ChunkerParams};
pub use crypto::{parse_identities, Access, KdfParams};
pub use error::RepoError;
pub use keys::KeyInfo;
pub use lock::{LockKind, RepoLock, STALE_AFTER_MS};
pub use pack::ChunkId;
pub use prune::PruneStats;
pub use repo::{Config, IndexStats, InitOptions, Repository, Unlock, FORMAT_VERSION};
pub use writer::{ChunkWriter, WriteStats, WriterOptions};
pub use storage::{ObjectStore, Storage};
