//! The BPE merge loop on counted words (contract "Training" semantics), incremental:
//!
//! * Token ids here are internal: 0..=255 are the single bytes, 256.. the merged tokens in creation
//!   order (`train()` shifts them past the special tokens).
//! * Words with fewer than `long_word` symbols ("short") are stored CSR-style in one flat `u32`
//!   array and rewritten in place, left to right and non-overlapping, when a merge touches them.
//!   A word is only visited when the occurrence index says it contains the merged pair.
//! * Longer words ("long", e.g. a 1 MiB pre-token with no spaces) are doubly linked symbol lists
//!   indexed by position, so a merge costs O(occurrences of the pair) there, not O(word length):
//!   rewriting a 1M-symbol word on every merge would be quadratic.
//! * `pairs[idx].count` is the exact live weighted count of every pair seen so far (i64); byte
//!   pairs have the fixed index `a * 256 + b`, other pairs get an index from `pair_index`.
//! * Occurrences: one arena of `u32` entries (a short word id, or `LONG_TAG | position` for a long
//!   word). Every pair's occurrences are created during one merge (the one that created the newer
//!   of its two tokens), so they are appended as one contiguous range; the rare later additions
//!   (duplicate-bytes merges recreate an existing token) go to `extra_occ`. Stale entries are
//!   allowed; short words are deduplicated per merge with `stamp`.
//! * The queue is a lazy max-heap of `(count, pair)`: highest count, then smallest
//!   `(bytes(a), bytes(b))`. A popped entry whose count differs from the live count is re-pushed
//!   with the live count (if it still qualifies) or dropped (if the live count is higher, a newer
//!   entry holds it). Invariant: every candidate pair has an entry whose count >= its live count.

use rustc_hash::FxHashMap;

use super::heap::Heap;
use crate::error::{Error, ErrorKind, Result};

/// Words with more symbols than this are stored as linked lists (see module docs).
pub(crate) const LONG_WORD: usize = 64;

const LONG_TAG: u32 = 1 << 31;
const NONE: u32 = u32::MAX;
/// `lsym` value of a position that was merged into its left neighbour.
const DEAD: u32 = u32::MAX;

/// Characters that the bytes of `left` then `right` touch: every byte that starts a UTF-8 character
/// (not a continuation byte 0b10xxxxxx), plus one if `left` begins inside a character. So a
/// multi-byte character counts once however its bytes are split, and a cap in characters does not
/// penalise non-ASCII text the way a cap in bytes does.
pub(crate) fn chars_touched(left: &[u8], right: &[u8]) -> usize {
    let continuation = |byte: &u8| byte & 0xC0 == 0x80;
    let starts = left.iter().chain(right).filter(|byte| !continuation(byte)).count();
    starts + usize::from(left.first().is_some_and(continuation))
}

pub(crate) struct Params {
    /// How many new token ids may be created (vocab_size - specials - 256).
    pub max_new_tokens: usize,
    /// A pair qualifies when its count is at least this (>= 1).
    pub min_count: i64,
    pub max_token_length: Option<usize>,
    /// Longest token in characters (see `chars_touched`).
    pub max_token_chars: Option<usize>,
    /// Words longer than this use the linked-list representation.
    pub long_word: usize,
    /// Only pairs whose bytes are not yet a token qualify (extending a vocabulary: a merge that
    /// remade an existing token would change how the base vocabulary encodes).
    pub new_tokens_only: bool,
    /// Longest token in words: non-empty runs between spaces (superword training).
    pub max_words: Option<usize>,
    /// No token may contain one of these byte strings (e.g. b": " in SuperBPE).
    pub forbidden: Vec<Vec<u8>>,
}

impl Params {
    /// Whether the rules need the merged bytes (the common case, plain training, does not).
    fn checks_merged_bytes(&self) -> bool {
        self.new_tokens_only || self.max_words.is_some() || !self.forbidden.is_empty()
    }

    /// The rules on the bytes a merge would make.
    fn allows_merged(&self, merged: &[u8], token_ids: &FxHashMap<Vec<u8>, u32>) -> bool {
        !(self.new_tokens_only && token_ids.contains_key(merged))
            && self.max_words.is_none_or(|m| merged.split(|&byte| byte == b' ').filter(|word| !word.is_empty()).count() <= m)
            && !self.forbidden.iter().any(|f| !f.is_empty() && merged.windows(f.len()).any(|w| w == &f[..]))
    }
}

pub(crate) struct Learned {
    /// Bytes of every internal token id (0..=255 = single bytes).
    pub tokens: Vec<Vec<u8>>,
    /// Merges in rank order, as internal ids.
    pub merges: Vec<(u32, u32)>,
}

#[derive(Clone, Copy)]
struct PairStat {
    a: u32,
    b: u32,
    count: i64,
    occ_start: usize,
    occ_len: u32,
    /// Last short word id whose entry was added to this pair's occurrences (dedup), or NONE.
    last_word: u32,
}

impl PairStat {
    fn new(a: u32, b: u32) -> Self {
        PairStat { a, b, count: 0, occ_start: 0, occ_len: 0, last_word: NONE }
    }
}

struct State {
    tokens: Vec<Vec<u8>>,
    token_ids: FxHashMap<Vec<u8>, u32>,
    // Short words (CSR).
    syms: Vec<u32>,
    wstart: Vec<usize>,
    wlen: Vec<u32>,
    wcount: Vec<i64>,
    stamp: Vec<u32>,
    // Long words: one arena of positions with links.
    lsym: Vec<u32>,
    lprev: Vec<u32>,
    lnext: Vec<u32>,
    lword: Vec<u32>,
    lcount: Vec<i64>,
    // Pairs.
    pair_map: FxHashMap<u64, u32>,
    pairs: Vec<PairStat>,
    occ: Vec<u32>,
    extra_occ: FxHashMap<u32, Vec<u32>>,
    /// New occurrences of this merge: (pair index << 32) | entry.
    scratch: Vec<u64>,
    longs: Vec<u32>,
    merge_no: u32,
}

fn too_many(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("the corpus has too many {what} for the trainer (limit 2^31); train on a smaller sample"),
    )
}

impl State {
    /// `tokens`: bytes of the initial internal ids; 0..=255 must be the single bytes.
    fn new(tokens: Vec<Vec<u8>>) -> Self {
        debug_assert!(tokens.len() >= 256 && (0..256).all(|b| tokens[b] == [b as u8]));
        let token_ids = tokens.iter().enumerate().skip(256).map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut pairs = Vec::with_capacity(65536);
        for a in 0..256u32 {
            for b in 0..256u32 {
                pairs.push(PairStat::new(a, b));
            }
        }
        State {
            tokens,
            token_ids,
            syms: Vec::new(),
            wstart: Vec::new(),
            wlen: Vec::new(),
            wcount: Vec::new(),
            stamp: Vec::new(),
            lsym: Vec::new(),
            lprev: Vec::new(),
            lnext: Vec::new(),
            lword: Vec::new(),
            lcount: Vec::new(),
            pair_map: FxHashMap::default(),
            pairs,
            occ: Vec::new(),
            extra_occ: FxHashMap::default(),
            scratch: Vec::new(),
            longs: Vec::new(),
            merge_no: 0,
        }
    }

    /// Adds a word given as internal token ids.
    fn add_word(&mut self, word: impl ExactSizeIterator<Item = u32>, count: u64, long_word: usize) -> Result<()> {
        let n = word.len();
        if n < 2 || count == 0 {
            return Ok(()); // no pairs: cannot influence any merge
        }
        let count = count.min(i64::MAX as u64) as i64;
        if n <= long_word {
            if self.wstart.len() >= LONG_TAG as usize {
                return Err(too_many("distinct pre-tokens"));
            }
            self.wstart.push(self.syms.len());
            self.syms.extend(word);
            self.wlen.push(n as u32);
            self.wcount.push(count);
        } else {
            let base = self.lsym.len();
            if base + n >= LONG_TAG as usize || self.lcount.len() >= NONE as usize {
                return Err(too_many("bytes in long pre-tokens"));
            }
            let lw = self.lcount.len() as u32;
            self.lcount.push(count);
            for (i, symbol) in word.enumerate() {
                self.lsym.push(symbol);
                self.lprev.push(if i == 0 { NONE } else { (base + i - 1) as u32 });
                self.lnext.push(if i + 1 == n { NONE } else { (base + i + 1) as u32 });
                self.lword.push(lw);
            }
        }
        Ok(())
    }

    /// Initial pair counts and occurrence lists (byte pairs have dense indexes, others get one here).
    fn index_initial_pairs(&mut self) {
        self.stamp = vec![0; self.wstart.len()];
        // Pass 1: counts and number of entries per pair.
        for w in 0..self.wstart.len() {
            let s = self.wstart[w];
            let n = self.wlen[w] as usize;
            let c = self.wcount[w];
            for i in s..s + n - 1 {
                let idx = self.pair_index(self.syms[i], self.syms[i + 1]);
                let p = &mut self.pairs[idx as usize];
                p.count += c;
                if p.last_word != w as u32 {
                    p.last_word = w as u32;
                    p.occ_len += 1;
                }
            }
        }
        for g in 0..self.lsym.len() {
            let h = self.lnext[g];
            if h != NONE {
                let idx = self.pair_index(self.lsym[g], self.lsym[h as usize]);
                let p = &mut self.pairs[idx as usize];
                p.count += self.lcount[self.lword[g] as usize];
                p.occ_len += 1;
            }
        }
        // Prefix sums, then pass 2 fills.
        let mut total = 0usize;
        for p in self.pairs.iter_mut() {
            p.occ_start = total;
            total += p.occ_len as usize;
            p.occ_len = 0;
            p.last_word = NONE;
        }
        self.occ = vec![0; total];
        for w in 0..self.wstart.len() {
            let s = self.wstart[w];
            let n = self.wlen[w] as usize;
            for i in s..s + n - 1 {
                let idx = self.pair_index(self.syms[i], self.syms[i + 1]);
                let p = &mut self.pairs[idx as usize];
                if p.last_word != w as u32 {
                    p.last_word = w as u32;
                    self.occ[p.occ_start + p.occ_len as usize] = w as u32;
                    p.occ_len += 1;
                }
            }
        }
        for g in 0..self.lsym.len() {
            let h = self.lnext[g];
            if h != NONE {
                let idx = self.pair_index(self.lsym[g], self.lsym[h as usize]);
                let p = &mut self.pairs[idx as usize];
                self.occ[p.occ_start + p.occ_len as usize] = LONG_TAG | g as u32;
                p.occ_len += 1;
            }
        }
    }

    #[inline]
    fn pair_index(&mut self, x: u32, y: u32) -> u32 {
        if x < 256 && y < 256 {
            return x * 256 + y;
        }
        let pairs = &mut self.pairs;
        *self.pair_map.entry(((x as u64) << 32) | y as u64).or_insert_with(|| {
            pairs.push(PairStat::new(x, y));
            (pairs.len() - 1) as u32
        })
    }

    #[inline]
    fn sub(&mut self, x: u32, y: u32, c: i64) {
        let idx = self.pair_index(x, y);
        self.pairs[idx as usize].count -= c;
    }

    /// Adds `c` to pair (x, y), which contains the new token, and records the occurrence `entry`.
    #[inline]
    fn add_new(&mut self, x: u32, y: u32, c: i64, entry: u32) {
        let idx = self.pair_index(x, y);
        let p = &mut self.pairs[idx as usize];
        p.count += c;
        if entry & LONG_TAG == 0 {
            if p.last_word == entry {
                return;
            }
            p.last_word = entry;
        }
        self.scratch.push(((idx as u64) << 32) | entry as u64);
    }

    /// Rewrites short word `w`: every (a, b) left to right, non-overlapping, becomes `t`.
    fn merge_short(&mut self, w: u32, a: u32, b: u32, t: u32) {
        let wi = w as usize;
        if self.stamp[wi] == self.merge_no {
            return;
        }
        self.stamp[wi] = self.merge_no;
        let s = self.wstart[wi];
        let n = self.wlen[wi] as usize;
        let c = self.wcount[wi];
        // Cheap scan first: stale entries are common for late merges.
        if !self.syms[s..s + n].windows(2).any(|p| p[0] == a && p[1] == b) {
            return;
        }
        let (mut i, mut out) = (0usize, 0usize);
        // Whether new[out - 1] is a merge result (equivalently: old position i - 1 was merged).
        let mut prev_merged = false;
        while i < n {
            let x = self.syms[s + i];
            if x == a && i + 1 < n && self.syms[s + i + 1] == b {
                if out > 0 {
                    let l = self.syms[s + out - 1];
                    if !prev_merged {
                        self.sub(l, a, c); // old pair (old[i-1], a); l == old[i-1]
                    }
                    self.add_new(l, t, c, w);
                }
                self.sub(a, b, c);
                if i + 2 < n {
                    let r = self.syms[s + i + 2];
                    self.sub(b, r, c);
                }
                self.syms[s + out] = t;
                out += 1;
                i += 2;
                prev_merged = true;
            } else {
                if prev_merged {
                    self.add_new(t, x, c, w);
                }
                self.syms[s + out] = x;
                out += 1;
                i += 1;
                prev_merged = false;
            }
        }
        self.wlen[wi] = out as u32;
    }

    /// Merges (a, b) at position `g` of a long word, if it is still there.
    fn merge_long(&mut self, g: u32, a: u32, b: u32, t: u32) {
        let gi = g as usize;
        if self.lsym[gi] != a {
            return;
        }
        let h = self.lnext[gi];
        if h == NONE || self.lsym[h as usize] != b {
            return;
        }
        let c = self.lcount[self.lword[gi] as usize];
        let x = self.lprev[gi];
        let y = self.lnext[h as usize];
        if x != NONE {
            let xs = self.lsym[x as usize];
            self.sub(xs, a, c);
            self.add_new(xs, t, c, LONG_TAG | x);
        }
        self.sub(a, b, c);
        if y != NONE {
            let ys = self.lsym[y as usize];
            self.sub(b, ys, c);
            self.add_new(t, ys, c, LONG_TAG | g);
        }
        self.lsym[gi] = t;
        self.lsym[h as usize] = DEAD;
        self.lnext[gi] = y;
        if y != NONE {
            self.lprev[y as usize] = g;
        }
    }

    fn process_entry(&mut self, e: u32, a: u32, b: u32, t: u32) {
        if e & LONG_TAG != 0 {
            self.longs.push(e & !LONG_TAG);
        } else {
            self.merge_short(e, a, b, t);
        }
    }

    /// Applies merge (a, b) -> t to every word that contains it. Returns the pairs whose counts
    /// grew (they contain `t`), for the heap.
    fn apply_merge(&mut self, p: u32, t: u32, grown: &mut Vec<u32>) {
        let PairStat { a, b, occ_start, occ_len, .. } = self.pairs[p as usize];
        self.merge_no = self.merge_no.wrapping_add(1);
        if self.merge_no == 0 {
            // Stamps wrapped around (after 4G merges): forget them.
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.merge_no = 1;
        }
        {
            let pair = &mut self.pairs[p as usize];
            pair.occ_len = 0;
            pair.last_word = NONE;
        }
        self.scratch.clear();
        self.longs.clear();
        for k in occ_start..occ_start + occ_len as usize {
            let e = self.occ[k];
            self.process_entry(e, a, b, t);
        }
        if let Some(extra) = self.extra_occ.remove(&p) {
            for &e in &extra {
                self.process_entry(e, a, b, t);
            }
        }
        if !self.longs.is_empty() {
            // Positions in a long word increase left to right, so sorting gives the contract's
            // left-to-right, non-overlapping order (it matters when a == b: "aaa" -> [aa, a]).
            let mut longs = std::mem::take(&mut self.longs);
            longs.sort_unstable();
            longs.dedup();
            for &g in &longs {
                self.merge_long(g, a, b, t);
            }
            self.longs = longs;
        }
        debug_assert_eq!(self.pairs[p as usize].count, 0, "merged pair must vanish");
        // Group the new occurrences by pair and append them to the arena.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.sort_unstable();
        let mut i = 0;
        while i < scratch.len() {
            let idx = (scratch[i] >> 32) as u32;
            let mut j = i;
            while j < scratch.len() && (scratch[j] >> 32) as u32 == idx {
                j += 1;
            }
            let pair = &mut self.pairs[idx as usize];
            if pair.occ_len == 0 && !self.extra_occ.contains_key(&idx) {
                pair.occ_start = self.occ.len();
                pair.occ_len = (j - i) as u32;
                self.occ.extend(scratch[i..j].iter().map(|&e| e as u32));
            } else {
                self.extra_occ.entry(idx).or_default().extend(scratch[i..j].iter().map(|&e| e as u32));
            }
            grown.push(idx);
            i = j;
        }
        scratch.clear();
        self.scratch = scratch;
    }
}

/// Heap order: highest count, then smallest (bytes(a), bytes(b)).
#[inline]
fn better(tokens: &[Vec<u8>], pairs: &[PairStat], x: &(i64, u32), y: &(i64, u32)) -> bool {
    if x.0 != y.0 {
        return x.0 > y.0;
    }
    if x.1 == y.1 {
        return false;
    }
    let (px, py) = (&pairs[x.1 as usize], &pairs[y.1 as usize]);
    let ka = (&tokens[px.a as usize][..], &tokens[px.b as usize][..]);
    let kb = (&tokens[py.a as usize][..], &tokens[py.b as usize][..]);
    ka < kb
}

/// Learns merges from `(word bytes, count)` pairs. `progress(done, total)` counts new tokens.
pub(crate) fn learn<W: AsRef<[u8]>>(
    words: impl IntoIterator<Item = (W, u64)>,
    params: &Params,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Learned> {
    let mut st = State::new((0..=255u8).map(|b| vec![b]).collect());
    for (word, count) in words {
        st.add_word(word.as_ref().iter().map(|&b| b as u32), count, params.long_word)?;
    }
    run(st, params, progress)
}

/// Continues learning from a vocabulary: `tokens` are the bytes of the existing internal ids
/// (0..=255 the single bytes), `words` are already segmented into them. New ids follow `tokens`.
pub(crate) fn learn_more(
    tokens: Vec<Vec<u8>>,
    words: impl IntoIterator<Item = (Vec<u32>, u64)>,
    params: &Params,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Learned> {
    let mut st = State::new(tokens);
    for (word, count) in words {
        st.add_word(word.into_iter(), count, params.long_word)?;
    }
    run(st, params, progress)
}

fn run(mut st: State, params: &Params, progress: &mut dyn FnMut(usize, usize)) -> Result<Learned> {
    st.index_initial_pairs();

    let min_count = params.min_count.max(1);
    // (The token table is passed in because `st` is mutated between calls.)
    let qualifies = |tokens: &[Vec<u8>], token_ids: &FxHashMap<Vec<u8>, u32>, p: &PairStat| {
        let (left, right) = (&tokens[p.a as usize], &tokens[p.b as usize]);
        p.count >= min_count
            && params.max_token_length.is_none_or(|m| left.len() + right.len() <= m)
            && params.max_token_chars.is_none_or(|m| chars_touched(left, right) <= m)
            && (!params.checks_merged_bytes() || params.allows_merged(&[&left[..], &right[..]].concat(), token_ids))
    };
    let initial: Vec<(i64, u32)> = st
        .pairs
        .iter()
        .enumerate()
        .filter(|(_, p)| qualifies(&st.tokens, &st.token_ids, p))
        .map(|(i, p)| (p.count, i as u32))
        .collect();
    let mut heap = {
        let (tokens, pairs) = (&st.tokens, &st.pairs);
        Heap::from_vec(initial, &|x: &(i64, u32), y: &(i64, u32)| better(tokens, pairs, x, y))
    };

    let total = params.max_new_tokens;
    let step = (total / 100).max(1);
    let mut next_report = step;
    let mut added = 0usize;
    let mut merges = Vec::new();
    let mut grown = Vec::new();
    progress(0, total);
    while added < total {
        let top = {
            let (tokens, pairs) = (&st.tokens, &st.pairs);
            heap.pop(&|x: &(i64, u32), y: &(i64, u32)| better(tokens, pairs, x, y))
        };
        let Some((count, p)) = top else { break };
        let live = st.pairs[p as usize].count;
        if count != live {
            if count > live && qualifies(&st.tokens, &st.token_ids, &st.pairs[p as usize]) {
                let (tokens, pairs) = (&st.tokens, &st.pairs);
                heap.push((live, p), &|x: &(i64, u32), y: &(i64, u32)| better(tokens, pairs, x, y));
            }
            continue;
        }
        let PairStat { a, b, .. } = st.pairs[p as usize];
        let mut bytes = Vec::with_capacity(st.tokens[a as usize].len() + st.tokens[b as usize].len());
        bytes.extend_from_slice(&st.tokens[a as usize]);
        bytes.extend_from_slice(&st.tokens[b as usize]);
        let t = match st.token_ids.get(&bytes) {
            Some(&t) => t, // duplicate bytes: recorded as a merge, no new id
            None => {
                let t = st.tokens.len() as u32;
                st.token_ids.insert(bytes.clone(), t);
                st.tokens.push(bytes);
                added += 1;
                t
            }
        };
        merges.push((a, b));
        grown.clear();
        st.apply_merge(p, t, &mut grown);
        {
            let (tokens, pairs) = (&st.tokens, &st.pairs);
            let cmp = |x: &(i64, u32), y: &(i64, u32)| better(tokens, pairs, x, y);
            for &idx in &grown {
                let pair = &pairs[idx as usize];
                if qualifies(tokens, &st.token_ids, pair) {
                    heap.push((pair.count, idx), &cmp);
                }
            }
        }
        if added >= next_report {
            progress(added, total);
            next_report = added + step;
        }
    }
    progress(added, total);
    Ok(Learned { tokens: st.tokens, merges })
}
