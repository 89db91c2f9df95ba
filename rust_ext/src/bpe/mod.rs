//! The byte-level BPE model: pre-token bytes -> ids, ids -> bytes.
//!
//! Merge semantics are HF's: start from single bytes, repeatedly merge the adjacent pair of lowest
//! merge rank (leftmost on ties) until no adjacent pair is a merge. Three paths give that result:
//! a whole-piece lookup (exact when the token is known to encode to itself), a quadratic scan for
//! short pieces (fastest below ~64 bytes), and a priority queue over linked symbols for long ones
//! (`long.rs`: 1 MiB of one letter must not take minutes).

mod cache;
mod chunked;
mod long;
mod phased;
pub mod ranks;

use rustc_hash::FxHashMap;

use crate::error::{Error, ErrorKind, Result};
use cache::PieceCache;

/// Pieces at least this long use the heap path; below it the scan does fewer operations.
const LONG_PIECE: usize = 64;
/// Reject ids so far above the vocabulary size that the id table would waste memory.
const MAX_ID_SLACK: usize = 1 << 20;

#[inline]
fn pair_key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

/// Up to 15 bytes packed into a u128 with the length in the top byte (None if longer).
#[inline]
fn pack(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > 15 {
        return None;
    }
    let mut buffer = [0u8; 16];
    buffer[..bytes.len()].copy_from_slice(bytes);
    buffer[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(buffer))
}

/// A byte-level BPE vocabulary with ranked merges.
#[derive(Debug)]
pub struct BpeModel {
    /// id -> bytes (None for ids not in the vocabulary).
    id_to_bytes: Vec<Option<Box<[u8]>>>,
    bytes_to_id: FxHashMap<Box<[u8]>, u32>,
    /// The tokens of at most 15 bytes again, keyed by `pack`: the whole-piece lookup for typical
    /// pieces then hashes one u128 and compares keys in place (no slice hash, no pointer chase).
    short_ids: FxHashMap<u128, u32>,
    /// (rank, merged id) of every pair of single bytes, (NONE, NONE) if no merge: the first
    /// round of a long piece looks up one pair per byte, so these come from a dense table.
    byte_pairs: Box<[(u32, u32)]>,
    byte_ids: [u32; 256],
    /// (left, right) -> (rank, merged id).
    pair_ranks: FxHashMap<u64, (u32, u32)>,
    merges: Vec<(u32, u32)>,
    /// Per id: the token's bytes encode to that one id, so the whole-piece lookup is exact.
    encodes_to_itself: Vec<bool>,
    ignore_merges: bool,
    /// tiktoken semantics: every split of a merged token into two tokens merges at that token's rank.
    merge_by_rank: bool,
    len: usize,
    /// Bytes in the longest token.
    max_token_len: usize,
    cache: PieceCache,
    /// The two-phase path for superword vocabularies (`phased.rs`), if this is one.
    phases: Option<phased::Phases>,
}

impl Clone for BpeModel {
    fn clone(&self) -> Self {
        BpeModel {
            id_to_bytes: self.id_to_bytes.clone(),
            bytes_to_id: self.bytes_to_id.clone(),
            short_ids: self.short_ids.clone(),
            byte_pairs: self.byte_pairs.clone(),
            byte_ids: self.byte_ids,
            pair_ranks: self.pair_ranks.clone(),
            merges: self.merges.clone(),
            encodes_to_itself: self.encodes_to_itself.clone(),
            ignore_merges: self.ignore_merges,
            merge_by_rank: self.merge_by_rank,
            len: self.len,
            max_token_len: self.max_token_len,
            cache: PieceCache::new(),
            phases: self.phases.clone(),
        }
    }
}

fn format_error(message: String) -> Error {
    Error::new(ErrorKind::Format, message)
}

/// `merge_by_rank`: gives every split of a merged token into two tokens the token's rank.
/// A pair determines its concatenation, so inserting only absent pairs never changes a listed
/// merge, and the order in which tokens are visited does not matter.
fn add_rank_splits(
    pair_ranks: &mut FxHashMap<u64, (u32, u32)>,
    id_to_bytes: &[Option<Box<[u8]>>],
    bytes_to_id: &FxHashMap<Box<[u8]>, u32>,
) {
    // Token -> its rank: the lowest effective rank among the listed merges that make it.
    let mut token_rank: FxHashMap<u32, u32> = FxHashMap::default();
    for &(rank, merged) in pair_ranks.values() {
        token_rank.entry(merged).and_modify(|r| *r = (*r).min(rank)).or_insert(rank);
    }
    for (&merged, &rank) in &token_rank {
        let Some(bytes) = id_to_bytes.get(merged as usize).and_then(|t| t.as_deref()) else { continue };
        for split in 1..bytes.len() {
            let (Some(&left), Some(&right)) = (bytes_to_id.get(&bytes[..split]), bytes_to_id.get(&bytes[split..])) else {
                continue;
            };
            pair_ranks.entry(pair_key(left, right)).or_insert((rank, merged));
        }
    }
}

impl BpeModel {
    /// `vocab`: every model token as (id, bytes); ids unique, bytes unique, all 256 single bytes present.
    /// `merges`: (left id, right id) in rank order; the concatenation of each pair must be a token.
    /// A pair listed twice takes its last rank (as HF does).
    /// `merge_by_rank`: tiktoken's rule. tiktoken merges any adjacent pair whose concatenation is a
    /// token, at that token's rank; so besides each listed merge (rank r, making token T), every
    /// other split of T's bytes into two tokens also merges at rank r (pairs not listed themselves;
    /// a token made by several listed merges uses the lowest of their ranks).
    pub fn new(vocab: Vec<(u32, Vec<u8>)>, merges: Vec<(u32, u32)>, ignore_merges: bool, merge_by_rank: bool) -> Result<BpeModel> {
        let len = vocab.len();
        let max_id = vocab.iter().map(|&(id, _)| id as usize).max().unwrap_or(0);
        if max_id > len.saturating_mul(16).saturating_add(MAX_ID_SLACK) || max_id >= (1usize << 31) {
            return Err(format_error(format!(
                "token id {max_id} is far beyond the {len} tokens of the vocabulary; ids must be below 2^31 and \
                 at most 16x the vocabulary size: renumber the vocabulary"
            )));
        }
        let mut id_to_bytes: Vec<Option<Box<[u8]>>> = vec![None; max_id + 1];
        let mut bytes_to_id: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        bytes_to_id.reserve(len);
        for (id, bytes) in vocab {
            if bytes.is_empty() {
                return Err(format_error(format!("token id {id} has no bytes; every token needs at least one byte")));
            }
            if id_to_bytes[id as usize].is_some() {
                return Err(format_error(format!("token id {id} appears twice in the vocabulary; give each token its own id")));
            }
            let bytes: Box<[u8]> = bytes.into_boxed_slice();
            if let Some(other) = bytes_to_id.insert(bytes.clone(), id) {
                return Err(format_error(format!(
                    "tokens {other} and {id} have the same bytes {:?}; each byte string may be one token only",
                    String::from_utf8_lossy(&bytes)
                )));
            }
            id_to_bytes[id as usize] = Some(bytes);
        }
        let mut byte_ids = [0u32; 256];
        for byte in 0..=255u8 {
            match bytes_to_id.get(&[byte][..]) {
                Some(&id) => byte_ids[byte as usize] = id,
                None => {
                    return Err(format_error(format!(
                        "the vocabulary has no token for the byte 0x{byte:02X}; byte-level BPE needs all 256 bytes as tokens \
                         (with HF tokenizers, train with initial_alphabet=ByteLevel.alphabet())"
                    )))
                }
            }
        }
        let token = |id: u32| id_to_bytes.get(id as usize).and_then(|t| t.as_deref());
        let mut pair_ranks: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        pair_ranks.reserve(merges.len());
        for (rank, &(left, right)) in merges.iter().enumerate() {
            let (Some(a), Some(b)) = (token(left), token(right)) else {
                return Err(format_error(format!(
                    "merge #{rank} ({left}, {right}) uses an id that is not in the vocabulary; merges must join existing tokens"
                )));
            };
            let joined = [a, b].concat();
            let Some(&merged) = bytes_to_id.get(&joined[..]) else {
                return Err(format_error(format!(
                    "merge #{rank} ({left}, {right}) makes {:?}, which is not in the vocabulary; add that token or drop the merge",
                    String::from_utf8_lossy(&joined)
                )));
            };
            pair_ranks.insert(pair_key(left, right), (rank as u32, merged));
        }
        if merge_by_rank {
            add_rank_splits(&mut pair_ranks, &id_to_bytes, &bytes_to_id);
        }
        let max_token_len = id_to_bytes.iter().flatten().map(|bytes| bytes.len()).max().unwrap_or(1);
        let mut model = BpeModel {
            id_to_bytes,
            short_ids: FxHashMap::default(),
            byte_pairs: Box::new([]),
            bytes_to_id,
            byte_ids,
            pair_ranks,
            merges,
            encodes_to_itself: Vec::new(),
            ignore_merges,
            merge_by_rank,
            len,
            max_token_len,
            cache: PieceCache::new(),
            phases: None,
        };
        model.short_ids = model.bytes_to_id.iter().filter_map(|(bytes, &id)| Some((pack(bytes)?, id))).collect();
        model.byte_pairs = (0..1usize << 16)
            .map(|pair| model.rank(byte_ids[pair >> 8], byte_ids[pair & 255]).unwrap_or((u32::MAX, u32::MAX)))
            .collect();
        model.encodes_to_itself = model.self_consistency();
        model.phases = phased::Phases::detect(&model);
        Ok(model)
    }

    /// For each id, whether merging its bytes gives back exactly that token.
    fn self_consistency(&self) -> Vec<bool> {
        let mut flags = vec![false; self.id_to_bytes.len()];
        let mut out = Vec::new();
        for (id, bytes) in self.id_to_bytes.iter().enumerate() {
            if let Some(bytes) = bytes {
                out.clear();
                self.merge_piece(bytes, &mut out);
                flags[id] = out.len() == 1 && out[0] as usize == id;
            }
        }
        flags
    }

    /// Number of model tokens (not counting special tokens).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of token `id`, if it is a model token.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.id_to_bytes.get(id as usize).and_then(|t| t.as_deref())
    }

    /// The id of the token with exactly these bytes.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.bytes_to_id.get(bytes).copied()
    }

    /// The largest id in the vocabulary.
    pub fn max_id(&self) -> u32 {
        self.id_to_bytes.len().saturating_sub(1) as u32
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    pub fn merge_by_rank(&self) -> bool {
        self.merge_by_rank
    }

    /// (rank, merged id) of merging `left` then `right`, if they merge.
    #[inline]
    fn rank(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.pair_ranks.get(&pair_key(left, right)).copied()
    }

    /// Appends the ids of one pre-token to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        match piece.len() {
            0 => return,
            1 => {
                out.push(self.byte_ids[piece[0] as usize]);
                return;
            }
            _ => {}
        }
        if let Some(id) = self.whole_token(piece) {
            if self.ignore_merges || self.encodes_to_itself[id as usize] {
                out.push(id);
                return;
            }
        }
        if self.cache.get(piece, out) {
            return;
        }
        let start = out.len();
        match &self.phases {
            Some(phases) => phases.encode(self, piece, out),
            None => self.merge_piece(piece, out),
        }
        self.cache.insert(piece, &out[start..]);
    }

    /// The id of the token whose bytes are exactly `piece`.
    #[inline]
    fn whole_token(&self, piece: &[u8]) -> Option<u32> {
        match pack(piece) {
            Some(packed) => self.short_ids.get(&packed).copied(),
            None if piece.len() <= self.max_token_len => self.bytes_to_id.get(piece).copied(),
            None => None, // longer than any token: skip hashing a possibly huge piece
        }
    }

    /// Whether the two-phase superword path is on (`phased.rs`).
    pub fn is_phased(&self) -> bool {
        self.phases.is_some()
    }

    /// A copy that encodes without the two-phase path (its oracle in the tests).
    #[cfg(test)]
    fn without_phases(&self) -> BpeModel {
        BpeModel { phases: None, ..self.clone() }
    }

    /// The merge loop proper (no whole-piece shortcut, no cache).
    fn merge_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.len() < LONG_PIECE {
            self.merge_short(piece, out);
        } else {
            long::merge_long(self, piece, out);
        }
    }

    /// O(n²) scan: find the lowest-rank adjacent pair (strict `<`, so leftmost wins), merge, repeat.
    fn merge_short(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_short_ids(piece.iter().map(|&b| self.byte_ids[b as usize]).collect(), u32::MAX, out);
    }

    /// The scan over a sequence of ids, using only merges of rank below `cap`. Each pair's rank is
    /// looked up once and after a merge only the two pairs around it again, so a merge costs a
    /// scan of a small array rather than a hash lookup per pair.
    fn merge_short_ids(&self, mut parts: Vec<u32>, cap: u32, out: &mut Vec<u32>) {
        const NO_MERGE: (u32, u32) = (u32::MAX, u32::MAX);
        let rank = |left: u32, right: u32| self.rank(left, right).filter(|&(r, _)| r < cap).unwrap_or(NO_MERGE);
        // On the stack for the short pieces this is for (no allocation per piece).
        let mut stack = [NO_MERGE; LONG_PIECE];
        let mut heap = Vec::new();
        let ranks: &mut [(u32, u32)] = if parts.len() <= LONG_PIECE {
            &mut stack[..parts.len().saturating_sub(1)]
        } else {
            heap.resize(parts.len() - 1, NO_MERGE);
            &mut heap
        };
        for (i, pair) in parts.windows(2).enumerate() {
            ranks[i] = rank(pair[0], pair[1]);
        }
        let mut pairs = ranks.len();
        loop {
            // The first of the lowest ranks: leftmost on ties.
            let Some((i, &(best, merged))) = ranks[..pairs].iter().enumerate().min_by_key(|&(_, &(r, _))| r) else { break };
            if best == u32::MAX {
                break;
            }
            parts[i] = merged;
            parts.remove(i + 1);
            ranks.copy_within(i + 1..pairs, i);
            pairs -= 1;
            if i > 0 {
                ranks[i - 1] = rank(parts[i - 1], parts[i]);
            }
            if i < pairs {
                ranks[i] = rank(parts[i], parts[i + 1]);
            }
        }
        out.extend_from_slice(&parts);
    }
}

#[cfg(test)]
mod tests;
