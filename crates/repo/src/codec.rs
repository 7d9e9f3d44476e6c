//! Blob codecs: the layers a chunk's plaintext passes through on its way into a
//! pack and back out, apart from where the blob sits in the pack (`pack` owns the
//! layout: offsets, header, wrapped key, trailer). As a storage layer wraps an
//! object store, a [`BlobLayer`] wraps the bytes: [`Compression`] (zstd), then
//! [`Sealing`] (XChaCha20-Poly1305 under the pack's key, bound to the chunk id).
//!
//! Invariants:
//! - A [`Codec`] encodes through its layers in order and decodes in reverse, so
//!   `decode(encode(x)) == x` for any stack whose layers each round-trip.
//! - Decoding gives back at most [`Blob::raw_len`] bytes (a blob cannot
//!   decompress into more than its entry says); the caller checks the result
//!   against the chunk id.
//! - The packs' stack, [`Codec::for_packs`], is the repository format
//!   (docs/REPOSITORY-FORMAT.md, "Packs"): changing it is a format change.

use crate::crypto::{self, KEY_LEN};
use crate::RepoError;

/// What a layer knows of the blob it transforms.
#[derive(Clone, Copy, Debug)]
pub struct Blob<'a> {
    /// The key of the pack the blob is in.
    pub key: &'a [u8; KEY_LEN],
    /// Associated data the blob is bound to (its chunk id).
    pub aad: &'a [u8],
    /// Length of the plaintext.
    pub raw_len: usize,
}

/// One reversible transformation of a blob's bytes.
pub trait BlobLayer: Send {
    /// Transforms bytes on their way into a pack.
    fn encode(&mut self, input: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, RepoError>;

    /// Reverses [`BlobLayer::encode`]; the error says why the stored bytes are
    /// refused (the caller names the object).
    fn decode(&mut self, input: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, String>;
}

/// zstd at a level, with contexts made once and reused: making one costs more
/// than compressing a small chunk.
pub struct Compression {
    level: i32,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

impl Compression {
    /// Compression at zstd `level` (decoding needs no level).
    pub fn new(level: i32) -> Compression {
        Compression { level, compressor: None, decompressor: None }
    }
}

impl BlobLayer for Compression {
    fn encode(&mut self, input: &[u8], _blob: &Blob<'_>) -> Result<Vec<u8>, RepoError> {
        let compressor = match &mut self.compressor {
            Some(compressor) => compressor,
            empty => empty.insert(
                zstd::bulk::Compressor::new(self.level)
                    .map_err(|e| RepoError::Invalid(format!("zstd compression context: {e}")))?,
            ),
        };
        compressor.compress(input).map_err(|e| RepoError::Invalid(format!("zstd compression failed: {e}")))
    }

    fn decode(&mut self, input: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, String> {
        let decompressor = match &mut self.decompressor {
            Some(decompressor) => decompressor,
            empty => {
                empty.insert(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd decompression context: {e}"))?)
            }
        };
        decompressor.decompress(input, blob.raw_len).map_err(|e| format!("does not decompress: {e}"))
    }
}

/// Authenticated encryption under the pack's key, bound to the blob's
/// associated data, so that a blob opens only in its own place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sealing;

impl BlobLayer for Sealing {
    fn encode(&mut self, input: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, RepoError> {
        Ok(crypto::seal(blob.key, input, blob.aad))
    }

    fn decode(&mut self, input: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, String> {
        crypto::open(blob.key, input, blob.aad).ok_or_else(|| "fails authentication".to_owned())
    }
}

/// A stack of layers.
pub struct Codec {
    layers: Vec<Box<dyn BlobLayer>>,
}

impl Codec {
    /// The stack packs use: compression at zstd `level`, then sealing.
    pub fn for_packs(level: i32) -> Codec {
        Codec::new(vec![Box::new(Compression::new(level)), Box::new(Sealing)])
    }

    /// A stack of `layers`, the first applied first on the way in.
    pub fn new(layers: Vec<Box<dyn BlobLayer>>) -> Codec {
        Codec { layers }
    }

    /// The stored bytes of `plaintext`.
    pub fn encode(&mut self, plaintext: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, RepoError> {
        let mut bytes = std::borrow::Cow::Borrowed(plaintext);
        for layer in &mut self.layers {
            bytes = std::borrow::Cow::Owned(layer.encode(&bytes, blob)?);
        }
        Ok(bytes.into_owned())
    }

    /// The plaintext of stored bytes, or why they are refused.
    pub fn decode(&mut self, stored: &[u8], blob: &Blob<'_>) -> Result<Vec<u8>, String> {
        let mut bytes = std::borrow::Cow::Borrowed(stored);
        for layer in self.layers.iter_mut().rev() {
            bytes = std::borrow::Cow::Owned(layer.decode(&bytes, blob)?);
        }
        if bytes.len() > blob.raw_len {
            return Err(format!("holds {} bytes, its entry says {}", bytes.len(), blob.raw_len));
        }
        Ok(bytes.into_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    /// Appends a marker on the way in and checks it on the way out.
    struct Marker(u8);

    impl BlobLayer for Marker {
        fn encode(&mut self, input: &[u8], _blob: &Blob<'_>) -> Result<Vec<u8>, RepoError> {
            Ok([input, &[self.0]].concat())
        }

        fn decode(&mut self, input: &[u8], _blob: &Blob<'_>) -> Result<Vec<u8>, String> {
            match input.split_last() {
                Some((last, rest)) if *last == self.0 => Ok(rest.to_vec()),
                _ => Err(format!("no marker {}", self.0)),
            }
        }
    }

    #[test]
    fn layers_encode_in_order_and_decode_in_reverse() {
        let key = crypto::random_key();
        let blob = Blob { key: &key, aad: b"id", raw_len: 3 };
        let mut codec = Codec::new(vec![Box::new(Marker(1)), Box::new(Marker(2))]);
        assert_eq!(codec.encode(b"abc", &blob).unwrap(), b"abc\x01\x02");
        assert_eq!(codec.decode(b"abc\x01\x02", &blob).unwrap(), b"abc");
        assert_eq!(codec.decode(b"abc\x02\x01", &blob).unwrap_err(), "no marker 2");
        // More bytes than the entry says are refused, whatever the layers gave.
        assert!(codec.decode(b"abcd\x01\x02", &blob).unwrap_err().contains("its entry says 3"));
    }

    #[test]
    fn the_pack_stack_compresses_seals_and_refuses_another_place_or_key() {
        let (key, other) = (crypto::random_key(), crypto::random_key());
        let plaintext = vec![7u8; 100_000];
        let blob = Blob { key: &key, aad: b"chunk a", raw_len: plaintext.len() };
        let mut codec = Codec::for_packs(3);
        let stored = codec.encode(&plaintext, &blob).unwrap();
        assert!(stored.len() < 1_000, "compressed before sealing: {} bytes", stored.len());
        assert_eq!(codec.decode(&stored, &blob).unwrap(), plaintext);
        // The same context serves the next blob.
        let next = codec.encode(b"next", &blob).unwrap();
        assert_eq!(codec.decode(&next, &blob).unwrap(), b"next");
        let moved = Blob { aad: b"chunk b", ..blob };
        assert_eq!(codec.decode(&stored, &moved).unwrap_err(), "fails authentication");
        let rekeyed = Blob { key: &other, ..blob };
        assert_eq!(codec.decode(&stored, &rekeyed).unwrap_err(), "fails authentication");
        // A blob that decompresses past its entry's length is refused.
        let short = Blob { raw_len: 10, ..blob };
        assert!(codec.decode(&stored, &short).unwrap_err().starts_with("does not decompress"));
    }
}
