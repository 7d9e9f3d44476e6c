//! Content-defined chunking (FastCDC 2020) of a byte stream that arrives in pieces.
//!
//! Invariant: the chunks are the same however the input is split into pushes,
//! because a cut point depends only on the bytes since the previous cut; so an
//! unchanged region of a table serializes to the same chunks in the next backup
//! and stores nothing new. Memory: at most twice the maximum chunk size is held.

use serde::{Deserialize, Serialize};

/// Chunk size bounds, recorded in the repository config so every writer cuts alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk (except the last of a stream).
    pub min_size: u32,
    /// Target average.
    pub avg_size: u32,
    /// Largest chunk.
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 64 KiB / 256 KiB / 1 MiB: small enough that a local change rewrites little,
    /// large enough that a 5-million-row table is a few thousand chunks.
    fn default() -> Self {
        ChunkerParams { min_size: 64 * 1024, avg_size: 256 * 1024, max_size: 1024 * 1024 }
    }
}

impl ChunkerParams {
    /// Checks the bounds FastCDC accepts.
    pub fn check(&self) -> Result<(), String> {
        let ok = fastcdc::v2020::MINIMUM_MIN <= self.min_size
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size
            && self.max_size <= fastcdc::v2020::MAXIMUM_MAX
            && self.avg_size >= fastcdc::v2020::AVERAGE_MIN
            && self.avg_size <= fastcdc::v2020::AVERAGE_MAX
            && self.min_size <= fastcdc::v2020::MINIMUM_MAX
            && self.max_size >= fastcdc::v2020::MAXIMUM_MIN;
        if ok {
            Ok(())
        } else {
            Err(format!("invalid chunk sizes {self:?}"))
        }
    }
}

/// Cuts pushed bytes into content-defined chunks.
#[derive(Debug)]
pub struct Chunker {
    params: ChunkerParams,
    pending: Vec<u8>,
}

impl Chunker {
    /// A chunker with these bounds (checked by [`ChunkerParams::check`]).
    pub fn new(params: ChunkerParams) -> Chunker {
        Chunker { params, pending: Vec::new() }
    }

    /// Adds bytes; returns the chunks that are now complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(data);
        if self.pending.len() < 2 * self.params.max_size as usize {
            return Vec::new();
        }
        self.cut(false)
    }

    /// Ends the stream; returns the remaining chunks.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.cut(true)
    }

    fn cut(&mut self, last: bool) -> Vec<Vec<u8>> {
        let ChunkerParams { min_size, avg_size, max_size } = self.params;
        let mut bounds: Vec<(usize, usize)> = fastcdc::v2020::FastCDC::new(&self.pending, min_size, avg_size, max_size)
            .map(|c| (c.offset, c.length))
            .collect();
        if !last {
            // The final piece may only end because the input did.
            bounds.pop();
        }
        let consumed = bounds.last().map_or(0, |(offset, length)| offset + length);
        let chunks = bounds.iter().map(|&(offset, length)| self.pending[offset..offset + length].to_vec()).collect();
        self.pending.drain(..consumed);
        chunks
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    const SMALL: ChunkerParams = ChunkerParams { min_size: 256, avg_size: 1024, max_size: 4096 };

    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn chunk_in_pieces(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut chunker = Chunker::new(SMALL);
        let mut out = Vec::new();
        for part in input.chunks(piece) {
            out.extend(chunker.push(part));
        }
        out.extend(chunker.finish());
        out
    }

    #[test]
    fn cuts_do_not_depend_on_how_the_input_arrives() {
        let input = data(200_000, 7);
        let whole = chunk_in_pieces(&input, input.len());
        assert_eq!(whole.concat(), input);
        assert!(whole.len() > 50);
        assert!(whole.iter().all(|c| c.len() <= SMALL.max_size as usize));
        for piece in [1, 100, 4095, 9000] {
            assert_eq!(chunk_in_pieces(&input, piece), whole, "piece size {piece}");
        }
    }

    #[test]
    fn a_local_change_leaves_most_chunks_alone() {
        let input = data(400_000, 9);
        let mut changed = input.clone();
        changed[200_000] ^= 0xff;
        let before = chunk_in_pieces(&input, 10_000);
        let after = chunk_in_pieces(&changed, 10_000);
        let new: Vec<_> = after.iter().filter(|c| !before.contains(c)).collect();
        assert!(new.len() <= 2, "{} of {} chunks changed", new.len(), after.len());
        assert!(SMALL.check().is_ok() && ChunkerParams::default().check().is_ok());
        assert!(ChunkerParams { min_size: 10, avg_size: 5, max_size: 1 }.check().is_err());
    }
}
