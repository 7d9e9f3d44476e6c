//! Striped row locks: every read-modify-write of a row holds its stripe, so two
//! writers of one row never interleave (no lost UpdateRow or INCREMENT).
//!
//! Invariant: a batch takes its stripes in ascending index order, so batches never
//! deadlock with each other.

use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 4096;

/// A fixed set of mutexes indexed by a hash of the row key.
pub(crate) struct RowLocks {
    stripes: Vec<Mutex<()>>,
}

impl RowLocks {
    pub(crate) fn new() -> Self {
        RowLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }

    fn stripe(key: &[u8]) -> usize {
        // FNV-1a: cheap and good enough to spread keys over stripes.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % STRIPES as u64) as usize
    }

    /// Locks the stripes of all keys, in a deadlock-free order.
    pub(crate) fn lock_all<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> Vec<MutexGuard<'_, ()>> {
        let mut indexes: Vec<usize> = keys.map(Self::stripe).collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes.into_iter().filter_map(|i| self.stripes.get(i)).map(Mutex::lock).collect()
    }
}
