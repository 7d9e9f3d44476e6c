//! Pack files: many compressed, encrypted chunks in one object, so that millions of
//! chunks are thousands of objects (docs/REPOSITORY-FORMAT.md, "Packs").
//!
//! Layout: `MAGIC ‖ blob… ‖ header ‖ wrapped key ‖ header_len u32 LE ‖
//! wrapped_len u32 LE ‖ MAGIC`. Each blob is a chunk encoded by the packs' codec
//! stack (`codec`: `seal(pack_key, zstd(chunk), aad = chunk id)`); the header is
//! `seal(pack_key, postcard(entries), aad = "pack header")`; the wrapped key is
//! the random pack key encrypted with age to the repository's data recipient. A pack is named by the BLAKE3 hash of its bytes.
//!
//! Invariants: a blob only opens under its own chunk id (blobs cannot be swapped);
//! a chunk read back is checked against its keyed id; nothing in a pack is readable
//! without the data identity.

use serde::{Deserialize, Serialize};

use crate::codec::{Blob, Codec};
use crate::crypto::{self, Secrets, KEY_LEN};
use crate::RepoError;

/// First and last bytes of every pack.
pub const MAGIC: &[u8; 8] = b"TSPACK1\n";
/// Bytes after the wrapped key: two lengths and the magic.
pub const TRAILER_LEN: u64 = 16;
const HEADER_AAD: &[u8] = b"tablesafe pack header v1";

/// A chunk id: keyed BLAKE3 of the chunk's plaintext.
pub type ChunkId = [u8; KEY_LEN];
/// A pack id: BLAKE3 of the pack's bytes.
pub type PackId = [u8; KEY_LEN];

/// Where a chunk sits in its pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    /// The chunk.
    pub id: ChunkId,
    /// Byte offset of its blob in the pack.
    pub offset: u64,
    /// Length of the blob (sealed, compressed).
    pub length: u32,
    /// Length of the chunk's plaintext.
    pub raw_length: u32,
}

/// The object path of a pack.
pub fn pack_path(id: &PackId) -> String {
    let hex = crypto::hex(id);
    format!("data/{}/{hex}", &hex[..2])
}

/// Collects chunks into one pack.
pub struct PackBuilder {
    key: [u8; KEY_LEN],
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        PackBuilder::with_capacity(0)
    }
}

impl PackBuilder {
    /// An empty pack with a fresh key and room for `bytes` (a pack filled to a
    /// known size grows without copying).
    pub fn with_capacity(bytes: usize) -> PackBuilder {
        let mut buffer = Vec::with_capacity(bytes.max(MAGIC.len()));
        buffer.extend_from_slice(MAGIC);
        PackBuilder { key: crypto::random_key(), bytes: buffer, entries: Vec::new() }
    }

    /// Adds a chunk, encoded by `codec` (the caller's, so that its contexts
    /// serve many packs) under this pack's key, bound to the chunk's id.
    pub fn add(&mut self, codec: &mut Codec, id: ChunkId, chunk: &[u8]) -> Result<(), RepoError> {
        let blob = codec.encode(chunk, &Blob { key: &self.key, aad: &id, raw_len: chunk.len() })?;
        let too_big = |_| RepoError::Invalid("a chunk over 4 GiB cannot be stored".into());
        self.entries.push(PackEntry {
            id,
            offset: self.bytes.len() as u64,
            length: u32::try_from(blob.len()).map_err(too_big)?,
            raw_length: u32::try_from(chunk.len()).map_err(too_big)?,
        });
        self.bytes.extend_from_slice(&blob);
        Ok(())
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no chunk was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Seals the header, wraps the key and names the pack.
    pub fn finish(mut self, secrets: &Secrets) -> Result<(PackId, Vec<u8>, Vec<PackEntry>), RepoError> {
        let header = postcard::to_stdvec(&self.entries).map_err(|e| RepoError::Invalid(format!("pack header: {e}")))?;
        let sealed = crypto::seal(&self.key, &header, HEADER_AAD);
        let wrapped = secrets.wrap_pack_key(&self.key);
        let as_u32 = |n: usize| u32::try_from(n).map_err(|_| RepoError::Invalid("pack header too large".into()));
        let (header_len, wrapped_len) = (as_u32(sealed.len())?, as_u32(wrapped.len())?);
        self.bytes.extend_from_slice(&sealed);
        self.bytes.extend_from_slice(&wrapped);
        self.bytes.extend_from_slice(&header_len.to_le_bytes());
        self.bytes.extend_from_slice(&wrapped_len.to_le_bytes());
        self.bytes.extend_from_slice(MAGIC);
        let id = *blake3::hash(&self.bytes).as_bytes();
        Ok((id, self.bytes, self.entries))
    }
}

/// The lengths in a pack's trailer: (header, wrapped key).
pub fn parse_trailer(trailer: &[u8], path: &str) -> Result<(u64, u64), RepoError> {
    let bad = || RepoError::damaged(path, "pack trailer is invalid");
    if trailer.len() != TRAILER_LEN as usize || &trailer[8..] != MAGIC {
        return Err(bad());
    }
    let header = u32::from_le_bytes(trailer[0..4].try_into().map_err(|_| bad())?);
    let wrapped = u32::from_le_bytes(trailer[4..8].try_into().map_err(|_| bad())?);
    Ok((u64::from(header), u64::from(wrapped)))
}

/// Decodes one blob with `codec` and checks it against its chunk id.
pub fn open_blob(
    secrets: &Secrets,
    codec: &mut Codec,
    pack_key: &[u8; KEY_LEN],
    entry: &PackEntry,
    blob: &[u8],
    path: &str,
) -> Result<Vec<u8>, RepoError> {
    let place = Blob { key: pack_key, aad: &entry.id, raw_len: entry.raw_length as usize };
    let chunk = codec
        .decode(blob, &place)
        .map_err(|cause| RepoError::damaged(path, format!("chunk {} {cause}", crypto::hex(&entry.id))))?;
    if chunk.len() != entry.raw_length as usize || secrets.chunk_id(&chunk) != entry.id {
        return Err(RepoError::damaged(path, format!("chunk {} does not match its id", crypto::hex(&entry.id))));
    }
    Ok(chunk)
}

/// Everything in a whole pack, checked: its name, header, key and every blob.
pub fn check_pack(secrets: &Secrets, id: &PackId, bytes: &[u8], path: &str) -> Result<Vec<PackEntry>, RepoError> {
    if blake3::hash(bytes).as_bytes() != id {
        return Err(RepoError::damaged(path, "content does not match the pack's name"));
    }
    let len = bytes.len() as u64;
    if len < MAGIC.len() as u64 + TRAILER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(RepoError::damaged(path, "not a pack file"));
    }
    let (header_len, wrapped_len) = parse_trailer(&bytes[(len - TRAILER_LEN) as usize..], path)?;
    let wrapped_start = len
        .checked_sub(TRAILER_LEN + wrapped_len)
        .ok_or_else(|| RepoError::damaged(path, "pack trailer lengths are invalid"))?;
    let header_start = wrapped_start
        .checked_sub(header_len)
        .filter(|s| *s >= MAGIC.len() as u64)
        .ok_or_else(|| RepoError::damaged(path, "pack trailer lengths are invalid"))?;
    let key = secrets.unwrap_pack_key(&bytes[wrapped_start as usize..(len - TRAILER_LEN) as usize], path)?;
    let entries = open_header(&key, &bytes[header_start as usize..wrapped_start as usize], path)?;
    let mut codec = Codec::for_packs(0); // The level matters only when encoding.
    for entry in &entries {
        let end = entry.offset + u64::from(entry.length);
        if end > header_start {
            return Err(RepoError::damaged(path, "pack header points past the blobs"));
        }
        open_blob(secrets, &mut codec, &key, entry, &bytes[entry.offset as usize..end as usize], path)?;
    }
    Ok(entries)
}

/// Opens a pack header.
pub fn open_header(key: &[u8; KEY_LEN], sealed: &[u8], path: &str) -> Result<Vec<PackEntry>, RepoError> {
    let header = crypto::open(key, sealed, HEADER_AAD)
        .ok_or_else(|| RepoError::damaged(path, "pack header fails authentication"))?;
    postcard::from_bytes(&header).map_err(|_| RepoError::damaged(path, "pack header does not decode"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn a_pack_round_trips_and_any_flipped_byte_is_caught() {
        let secrets = Secrets::generate();
        let (mut builder, mut codec) = (PackBuilder::default(), Codec::for_packs(3));
        let chunks: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
        for chunk in &chunks {
            builder.add(&mut codec, secrets.chunk_id(chunk), chunk).unwrap();
        }
        let (id, bytes, entries) = builder.finish(&secrets).unwrap();
        assert_eq!(check_pack(&secrets, &id, &bytes, "p").unwrap(), entries);
        assert!(!bytes.windows(1000).any(|w| w == chunks[0].as_slice()), "plaintext must not appear");
        for i in (0..bytes.len()).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(check_pack(&secrets, &id, &damaged, "p").is_err(), "flip at {i} accepted");
            // Even under the damaged bytes' own hash, the content is refused.
            let renamed = *blake3::hash(&damaged).as_bytes();
            assert!(check_pack(&secrets, &renamed, &damaged, "p").is_err(), "flip at {i} accepted after renaming");
        }
        assert!(matches!(check_pack(&secrets.write_only(), &id, &bytes, "p"), Err(RepoError::WriteOnly)));
    }
}
