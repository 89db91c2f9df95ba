//! The merge loop for long pieces (a megabyte of one letter is one pre-token).
//!
//! Same result as the quadratic scan: repeatedly merge the adjacent pair of lowest rank, leftmost
//! on ties. Symbols live in a linked list over byte positions; candidate merges are keyed by
//! `rank << 32 | position`, so popping keys in increasing order is exactly "lowest rank, then
//! leftmost". A merge of rank r only creates pairs that contain the new, longer token; in a
//! vocabulary trained by BPE those pairs come later in the merge list (rank > r). So the merges
//! can be served rank by rank, each rank's positions left to right: pending positions are kept
//! in per-rank lists and the next rank is found in a bitset (O(1) per merge, no sift-downs
//! through a megabyte-sized binary heap). A file whose merges break that order falls back to a
//! binary heap, which does not need it.
//!
//! Pieces of `chunked::CHUNKED_MIN` bytes or more are first cut into cache-sized chunks that go
//! through this loop one by one and are stitched together exactly (`chunked.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{chunked, BpeModel};

const NONE: u32 = u32::MAX;

#[inline]
fn key(rank: u32, position: u32) -> u64 {
    ((rank as u64) << 32) | position as u64
}

/// Pending merges grouped by rank, for one thread, reused across calls (sized by the largest
/// rank seen). Each rank's positions are appended to its own vector (serving a rank then reads
/// contiguous memory); ranks with entries are marked in a two-level bitset, so the next rank is
/// found by scanning forward from the current one.
struct Scratch {
    positions: Vec<Vec<u32>>,
    bits: Vec<u64>,
    summary: Vec<u64>,
}

/// After a call that queued more entries than this, the per-rank vectors are freed rather than
/// kept for the next call, so one huge input does not pin its memory to the thread.
const KEEP_SCRATCH_ENTRIES: usize = 1 << 16;

impl Scratch {
    const fn new() -> Self {
        Scratch { positions: Vec::new(), bits: Vec::new(), summary: Vec::new() }
    }

    fn fit(&mut self, ranks: usize) {
        if self.positions.len() < ranks {
            self.positions.resize_with(ranks, Vec::new);
            self.bits.resize(ranks.div_ceil(64), 0);
            self.summary.resize(ranks.div_ceil(64 * 64), 0);
        }
    }

    /// The smallest marked rank at or above `from`.
    fn next_rank(&self, from: usize) -> Option<usize> {
        let mut word = from / 64;
        if word >= self.bits.len() {
            return None;
        }
        let here = self.bits[word] & (!0u64 << (from % 64));
        if here != 0 {
            return Some(word * 64 + here.trailing_zeros() as usize);
        }
        word += 1;
        let mut group = word / 64;
        if group >= self.summary.len() {
            return None;
        }
        let mut mask = self.summary[group] & (!0u64).checked_shl((word % 64) as u32).unwrap_or(0);
        loop {
            if mask != 0 {
                let word = group * 64 + mask.trailing_zeros() as usize;
                return Some(word * 64 + self.bits[word].trailing_zeros() as usize);
            }
            group += 1;
            if group >= self.summary.len() {
                return None;
            }
            mask = self.summary[group];
        }
    }

    fn mark(&mut self, rank: usize) {
        self.bits[rank / 64] |= 1 << (rank % 64);
        self.summary[rank / 4096] |= 1 << ((rank / 64) % 64);
    }

    fn unmark(&mut self, rank: usize) {
        let word = rank / 64;
        self.bits[word] &= !(1u64 << (rank % 64));
        if self.bits[word] == 0 {
            self.summary[word / 64] &= !(1u64 << (word % 64));
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const { std::cell::RefCell::new(Scratch::new()) };
}

/// Serves merges rank by rank, each rank's positions left to right; refuses a key whose rank is
/// not above the rank being served (the order would no longer be "lowest rank first").
struct RankBuckets<'a> {
    scratch: &'a mut Scratch,
    serving: Option<u32>,
    /// Positions of the rank being served, ascending; `cursor` is the next one.
    batch: Vec<u32>,
    cursor: usize,
    pushed: usize,
}

impl<'a> RankBuckets<'a> {
    fn new(scratch: &'a mut Scratch, ranks: usize) -> Self {
        scratch.fit(ranks);
        RankBuckets { scratch, serving: None, batch: Vec::new(), cursor: 0, pushed: 0 }
    }
}

impl MergeQueue for RankBuckets<'_> {
    #[inline(always)]
    fn push(&mut self, key: u64) -> bool {
        let (rank, position) = ((key >> 32) as usize, key as u32);
        if self.serving.is_some_and(|serving| rank as u32 <= serving) {
            return false;
        }
        let list = &mut self.scratch.positions[rank];
        if list.is_empty() {
            self.scratch.mark(rank);
        }
        let list = &mut self.scratch.positions[rank];
        if list.len() == list.capacity() {
            grow(list);
        }
        list.push(position);
        self.pushed += 1;
        true
    }

    #[inline]
    fn pop(&mut self) -> Option<u64> {
        if self.cursor == self.batch.len() {
            let from = match self.serving {
                Some(served) => {
                    // Hand the served rank's (now empty) vector back with its capacity.
                    self.batch.clear();
                    std::mem::swap(&mut self.batch, &mut self.scratch.positions[served as usize]);
                    served as usize + 1
                }
                None => 0,
            };
            let rank = self.scratch.next_rank(from)?;
            std::mem::swap(&mut self.batch, &mut self.scratch.positions[rank]);
            self.scratch.unmark(rank);
            // Usually sorted already (positions are queued while sweeping left to right).
            self.batch.sort_unstable();
            self.cursor = 0;
            self.serving = Some(rank as u32);
        }
        let position = self.batch[self.cursor];
        self.cursor += 1;
        Some(key(self.serving.unwrap_or(0), position))
    }

    #[inline]
    fn upcoming(&self) -> Option<u32> {
        self.batch.get(self.cursor + PREFETCH_AHEAD).copied()
    }
}

/// Out of line so the hot push stays small enough to inline.
#[cold]
#[inline(never)]
fn grow(list: &mut Vec<u32>) {
    list.reserve(list.capacity().max(64));
}

/// How many queued positions ahead of the current one to prefetch: the positions of one rank
/// are scattered over the piece, so without it each stale check is a cache miss.
const PREFETCH_AHEAD: usize = 8;

#[inline(always)]
fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults and the pointer comes from a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

impl Drop for RankBuckets<'_> {
    /// Leaves the scratch empty for the next call, also when the loop gave up half way.
    fn drop(&mut self) {
        while let Some(rank) = self.scratch.next_rank(0) {
            self.scratch.positions[rank].clear();
            self.scratch.unmark(rank);
        }
        if self.pushed > KEEP_SCRATCH_ENTRIES {
            let ranks = self.scratch.positions.len();
            self.scratch.positions.clear();
            self.scratch.positions.resize_with(ranks, Vec::new);
        }
    }
}

/// The queue of candidate merges: rank buckets while ranks come in order, else a binary heap.
trait MergeQueue {
    /// False if the queue cannot take this key (rank buckets, for a rank already served).
    fn push(&mut self, key: u64) -> bool;
    fn pop(&mut self) -> Option<u64>;
    /// A position that will be popped soon, if the queue knows it cheaply (for prefetching).
    fn upcoming(&self) -> Option<u32> {
        None
    }
}

impl MergeQueue for BinaryHeap<Reverse<u64>> {
    fn push(&mut self, key: u64) -> bool {
        BinaryHeap::push(self, Reverse(key));
        true
    }
    fn pop(&mut self) -> Option<u64> {
        BinaryHeap::pop(self).map(|Reverse(key)| key)
    }
}

/// Appends the ids of `piece` (at least 2 bytes) to `out`.
pub(super) fn merge_long(model: &BpeModel, piece: &[u8], out: &mut Vec<u32>) {
    if piece.len() >= chunked::CHUNKED_MIN && !is_run(piece) && chunked::merge_chunked(model, piece, out, chunked::CHUNK) {
        return;
    }
    merge_unchunked(model, piece, out);
}

fn is_run(piece: &[u8]) -> bool {
    piece.iter().all(|&b| b == piece[0])
}

/// `merge_long` without cutting the piece into chunks (what `chunked` merges each chunk with).
pub(super) fn merge_unchunked(model: &BpeModel, piece: &[u8], out: &mut Vec<u32>) {
    if is_run(piece) && merge_run(model, piece[0], piece.len(), out) {
        return;
    }
    let served = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            let queue = RankBuckets::new(&mut scratch, model.merges.len());
            merge_with(model, piece, out, queue)
        }
        Err(_) => false,
    });
    if !served {
        let done = merge_with(model, piece, out, BinaryHeap::with_capacity(piece.len()));
        debug_assert!(done);
    }
}

/// One byte repeated `n` times (a megabyte of spaces, newlines or one letter), in O(log n) steps.
///
/// Under BPE such a piece stays "one token T repeated `count` times, then a short tail": when
/// (T, T) is the lowest-ranked pair, the left-to-right sweep over its occurrences turns the run
/// into (TT)^(count/2), plus one T in front of the tail if `count` is odd. So the run is merged
/// as a whole and only the tail is explicit. The sweep is only that simple if the pairs it
/// creates rank after (T, T); otherwise this returns false (`out` untouched) for the general loop.
fn merge_run(model: &BpeModel, byte: u8, n: usize, out: &mut Vec<u32>) -> bool {
    let mut unit = model.byte_ids[byte as usize];
    let mut count = n;
    let mut tail: std::collections::VecDeque<u32> = std::collections::VecDeque::new();
    let after = |rank: Option<(u32, u32)>, r: u32| rank.is_none_or(|(other, _)| other > r);
    loop {
        while tail.front() == Some(&unit) {
            tail.pop_front();
            count += 1;
        }
        // The lowest-ranked pair touching the tail (leftmost on ties); index 0 is (unit, tail[0]).
        let mut best: Option<(u32, usize, u32)> = None;
        let mut consider = |found: Option<(u32, u32)>, index: usize| {
            if let Some((rank, merged)) = found {
                if best.is_none_or(|(best_rank, _, _)| rank < best_rank) {
                    best = Some((rank, index, merged));
                }
            }
        };
        if count > 0 && !tail.is_empty() {
            consider(model.rank(unit, tail[0]), 0);
        }
        for i in 1..tail.len() {
            consider(model.rank(tail[i - 1], tail[i]), i);
        }
        let run = if count >= 2 { model.rank(unit, unit) } else { None };
        match (run, best) {
            (Some((rank, merged)), best) if best.is_none_or(|(tail_rank, _, _)| rank <= tail_rank) => {
                let safe = after(model.rank(merged, unit), rank)
                    && after(model.rank(merged, merged), rank)
                    && (count % 2 == 1 || tail.front().is_none_or(|&first| after(model.rank(merged, first), rank)));
                if !safe {
                    return false;
                }
                if count % 2 == 1 {
                    tail.push_front(unit);
                }
                unit = merged;
                count /= 2;
            }
            (_, Some((_, 0, merged))) => {
                count -= 1;
                tail[0] = merged;
            }
            (_, Some((_, index, merged))) => {
                tail[index - 1] = merged;
                tail.remove(index);
            }
            (_, None) => break,
        }
    }
    out.extend(std::iter::repeat_n(unit, count));
    out.extend(tail);
    true
}

/// The fallback path on its own, for the tests.
#[cfg(test)]
pub(super) fn merge_with_binary_heap(model: &BpeModel, piece: &[u8], out: &mut Vec<u32>) {
    assert!(merge_with(model, piece, out, BinaryHeap::with_capacity(piece.len())));
}

/// One symbol of the linked list, at the byte position where it starts. Kept together (not in
/// parallel arrays) because a merge reads and writes all of it: one cache miss instead of four.
#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: u32,
    next: u32,
    /// Rank and result of merging with the next symbol; rank NONE if none (or merged away).
    rank: u32,
    merged: u32,
}

/// The linked-list merge loop over any queue; false (and `out` untouched) if the queue refused a key.
fn merge_with(model: &BpeModel, piece: &[u8], out: &mut Vec<u32>, queue: impl MergeQueue) -> bool {
    let first = |i: usize| model.byte_pairs[(piece[i] as usize) << 8 | piece[i + 1] as usize];
    merge_symbols(model, piece.len(), |i| model.byte_ids[piece[i] as usize], first, NONE, out, queue)
}

/// Merges a sequence of ids (already merged by lower ranks) with the merges of rank below `cap`,
/// appending the result to `out` (`phased.rs`: stage 2 of a superword vocabulary, or stage 1 with
/// the later merges held back).
pub(super) fn merge_ids(model: &BpeModel, ids: &[u32], cap: u32, out: &mut Vec<u32>) {
    let rank = |i: usize| model.rank(ids[i], ids[i + 1]).filter(|&(r, _)| r < cap).unwrap_or((NONE, NONE));
    let served = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            let queue = RankBuckets::new(&mut scratch, model.merges.len());
            merge_symbols(model, ids.len(), |i| ids[i], rank, cap, out, queue)
        }
        Err(_) => false,
    });
    if !served {
        let done = merge_symbols(model, ids.len(), |i| ids[i], rank, cap, out, BinaryHeap::with_capacity(ids.len()));
        debug_assert!(done);
    }
}

/// The loop proper: `n` symbols with ids `id_at(i)`, the pair starting at i ranked by `pair_at(i)`
/// ((NONE, NONE) if it does not merge), merges of rank `cap` or above ignored.
#[inline(always)]
fn merge_symbols(
    model: &BpeModel,
    n: usize,
    id_at: impl Fn(usize) -> u32,
    pair_at: impl Fn(usize) -> (u32, u32),
    cap: u32,
    out: &mut Vec<u32>,
    mut queue: impl MergeQueue,
) -> bool {
    debug_assert!(n >= 2 && n < NONE as usize);
    let rank_below_cap = |left: u32, right: u32| model.rank(left, right).filter(|&(r, _)| r < cap);
    let mut symbols: Vec<Symbol> = (0..n)
        .map(|i| Symbol {
            id: id_at(i),
            prev: (i as u32).wrapping_sub(1),
            next: if i + 1 < n { i as u32 + 1 } else { NONE },
            rank: NONE,
            merged: NONE,
        })
        .collect();
    for i in 0..n - 1 {
        let (rank, merged) = pair_at(i);
        if rank != NONE {
            symbols[i].rank = rank;
            symbols[i].merged = merged;
            if !queue.push(key(rank, i as u32)) {
                return false;
            }
        }
    }
    while let Some(k) = queue.pop() {
        let (rank, position) = ((k >> 32) as u32, k as u32 as usize);
        if let Some(ahead) = queue.upcoming() {
            prefetch(&symbols[ahead as usize]);
        }
        let symbol = symbols[position];
        if symbol.rank != rank {
            continue; // stale: the pair starting here changed or the symbol was merged away
        }
        let merged = symbol.merged;
        let right = symbol.next as usize;
        let after = symbols[right].next;
        symbols[right].rank = NONE;
        let (mut new_rank, mut new_merged) = (NONE, NONE);
        if after != NONE {
            symbols[after as usize].prev = position as u32;
            if let Some((r, m)) = rank_below_cap(merged, symbols[after as usize].id) {
                if !queue.push(key(r, position as u32)) {
                    return false;
                }
                (new_rank, new_merged) = (r, m);
            }
        }
        symbols[position] = Symbol { id: merged, prev: symbol.prev, next: after, rank: new_rank, merged: new_merged };
        if symbol.prev != NONE {
            let left = &mut symbols[symbol.prev as usize];
            match rank_below_cap(left.id, merged) {
                Some((r, m)) => {
                    (left.rank, left.merged) = (r, m);
                    if !queue.push(key(r, symbol.prev)) {
                        return false;
                    }
                }
                None => left.rank = NONE,
            }
        }
    }
    let mut i = 0u32;
    while i != NONE {
        out.push(symbols[i as usize].id);
        i = symbols[i as usize].next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn rank_buckets_serve_lowest_rank_then_leftmost() {
        let mut rng = Rng::new(7);
        let mut scratch = Scratch::new();
        for ranks in [1usize, 63, 64, 65, 4095, 4097, 70_000] {
            let mut keys: Vec<u64> = (0..500).map(|_| key(rng.below(ranks) as u32, rng.below(1 << 20) as u32)).collect();
            let mut queue = RankBuckets::new(&mut scratch, ranks);
            for &k in &keys {
                assert!(queue.push(k));
            }
            keys.sort_unstable();
            let popped: Vec<u64> = std::iter::from_fn(|| queue.pop()).collect();
            assert_eq!(popped, keys, "{ranks} ranks");
        }
        // Once a rank is served, lower or equal ranks are refused, higher ones accepted.
        let mut queue = RankBuckets::new(&mut scratch, 100);
        assert!(queue.push(key(50, 3)));
        assert_eq!(queue.pop(), Some(key(50, 3)));
        assert!(!queue.push(key(50, 9)) && !queue.push(key(7, 0)));
        assert!(queue.push(key(51, 0)));
        drop(queue);
        // Dropped with an entry left: the scratch is clean for the next user.
        assert_eq!(scratch.next_rank(0), None);
        assert!(scratch.positions.iter().all(Vec::is_empty));
    }
}
