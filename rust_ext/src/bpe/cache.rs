//! A bounded, thread-safe cache of pre-token -> ids for pieces that needed the merge loop.
//!
//! Whole-token pieces never reach it (the vocabulary lookup answers them); the rest of natural
//! text repeats a lot ("ing,", " don't"), so remembering their merge result saves the O(n²) scan.
//! Sharded mutexes keep contention low under `encode_batch`, and a busy shard is skipped rather
//! than waited for; when a shard is full it simply stops inserting (no eviction bookkeeping on
//! the hot path).

use std::hash::BuildHasher;
use std::sync::{Mutex, TryLockError};

use rustc_hash::{FxBuildHasher, FxHashMap};

const SHARDS: usize = 64;
const ENTRIES_PER_SHARD: usize = 4096;
/// Longer pieces are rare and would make the cache's memory depend on the input.
const MAX_CACHED_PIECE: usize = 64;

type Shard = FxHashMap<Box<[u8]>, Box<[u32]>>;

#[derive(Debug)]
pub(crate) struct PieceCache {
    shards: Vec<Mutex<Shard>>,
}

impl PieceCache {
    pub(crate) fn new() -> Self {
        PieceCache { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect() }
    }

    /// The shard of `piece`, or None while another thread holds it: the caller then skips the
    /// cache (a miss costs one merge loop). Never waiting also keeps a child made by `fork()`
    /// from blocking forever on a shard that a parent thread held at the moment of the fork.
    fn shard(&self, piece: &[u8]) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // The high bits: FxHash's low bits are weak for short keys.
        let index = (FxBuildHasher.hash_one(piece) >> 58) as usize % SHARDS;
        match self.shards[index].try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Appends the cached ids of `piece` to `out`; false if it is not cached.
    pub(crate) fn get(&self, piece: &[u8], out: &mut Vec<u32>) -> bool {
        if piece.len() > MAX_CACHED_PIECE {
            return false;
        }
        match self.shard(piece).as_ref().and_then(|shard| shard.get(piece)) {
            Some(ids) => {
                out.extend_from_slice(ids);
                true
            }
            None => false,
        }
    }

    pub(crate) fn insert(&self, piece: &[u8], ids: &[u32]) {
        if piece.len() > MAX_CACHED_PIECE {
            return;
        }
        let Some(mut shard) = self.shard(piece) else { return };
        if shard.len() < ENTRIES_PER_SHARD {
            shard.insert(piece.into(), ids.into());
        }
    }
}
