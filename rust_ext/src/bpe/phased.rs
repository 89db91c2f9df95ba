//! Fast exact encoding of superword vocabularies (SuperBPE), whose pre-tokens are whole lines.
//!
//! A superword vocabulary is a word-level BPE (stage 1: merges of rank below `split`) followed by
//! merges that cross spaces (stage 2). Its pieces are long and unique, so the piece cache never
//! hits and every line pays the full merge loop. This path gets the same ids in two phases:
//!
//! 1. **Stage 1 per chunk.** Call a byte pair *inner* if it occurs inside some token made by a
//!    stage-1 merge. No stage-1 merge can ever produce a token spanning a boundary whose byte pair
//!    is not inner, so the stage-1 merges inside the chunks between such boundaries evolve
//!    independently: merging each chunk alone with the stage-1 merges gives exactly the stage-1
//!    result of the whole line. The chunks are words (" the", " cat"), so they hit a cache.
//! 2. **Stage 2 on the ids.** Lowest-rank-first merging applies every applicable stage-1 merge
//!    before any stage-2 merge; after phase 1 none is applicable, and a stage-2 merge cannot make one
//!    applicable again as long as no stage-2 merge makes a token that a stage-1 merge takes as
//!    input (checked when the model is built; the path is off otherwise). So the rest of the
//!    merging is the linked-list loop started from the phase-1 ids.
//!
//! Exactness does not depend on where `split` lies, only speed does: it is the first merge whose
//! token has a space after a non-space byte (the first superword), found when the model is built.

use rustc_hash::FxHashSet;

use super::cache::PieceCache;
use super::{long, BpeModel, LONG_PIECE};

/// Below this many ids the stage-2 scan beats setting up the linked list.
const SHORT_IDS: usize = 32;

#[derive(Debug)]
pub(super) struct Phases {
    /// Merges of rank below this are stage 1.
    split: u32,
    /// Bit `a << 8 | b` is set if bytes a, b are adjacent inside some stage-1 token.
    inner_pairs: Box<[u64; 1024]>,
    /// Per id: the token's bytes merge (stage 1 only) to exactly that id.
    stage1_itself: Vec<bool>,
    /// Chunk -> stage-1 ids.
    cache: PieceCache,
}

impl Clone for Phases {
    fn clone(&self) -> Self {
        Phases {
            split: self.split,
            inner_pairs: self.inner_pairs.clone(),
            stage1_itself: self.stage1_itself.clone(),
            cache: PieceCache::new(),
        }
    }
}

fn is_space_like(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl Phases {
    /// The phases of `model`, if it has superword merges and they never feed a stage-1 merge.
    pub(super) fn detect(model: &BpeModel) -> Option<Phases> {
        if model.ignore_merges || model.merge_by_rank {
            return None; // other merge rules: keep the general loop
        }
        let makes_superword = |bytes: &[u8]| bytes.windows(2).any(|w| w[1] == b' ' && !is_space_like(w[0]));
        let split = model.merges.iter().position(|&(left, right)| {
            let (Some(a), Some(b)) = (model.token_bytes(left), model.token_bytes(right)) else { return false };
            makes_superword(&[a, b].concat())
        })? as u32;
        // Effective ranks come from `pair_ranks` (a pair listed twice keeps its last rank).
        let mut stage1_inputs: FxHashSet<u32> = FxHashSet::default();
        let mut stage1_tokens: FxHashSet<u32> = FxHashSet::default();
        for (&pair, &(rank, merged)) in &model.pair_ranks {
            if rank < split {
                stage1_inputs.insert((pair >> 32) as u32);
                stage1_inputs.insert(pair as u32);
                stage1_tokens.insert(merged);
            }
        }
        if model.pair_ranks.values().any(|&(rank, merged)| rank >= split && stage1_inputs.contains(&merged)) {
            return None;
        }
        let mut inner_pairs = Box::new([0u64; 1024]);
        for &id in &stage1_tokens {
            for w in model.token_bytes(id).unwrap_or_default().windows(2) {
                let bit = (w[0] as usize) << 8 | w[1] as usize;
                inner_pairs[bit / 64] |= 1 << (bit % 64);
            }
        }
        let mut phases = Phases { split, inner_pairs, stage1_itself: vec![false; model.id_to_bytes.len()], cache: PieceCache::new() };
        let mut out = Vec::new();
        for &id in &stage1_tokens {
            out.clear();
            phases.merge_stage1(model, model.token_bytes(id).unwrap_or_default(), &mut out);
            phases.stage1_itself[id as usize] = out == [id];
        }
        for byte in 0..=255u8 {
            phases.stage1_itself[model.byte_ids[byte as usize] as usize] = true;
        }
        Some(phases)
    }

    #[inline]
    fn is_inner(&self, a: u8, b: u8) -> bool {
        let bit = (a as usize) << 8 | b as usize;
        self.inner_pairs[bit / 64] >> (bit % 64) & 1 == 1
    }

    /// Appends the ids of `piece` (at least 2 bytes) to `out`.
    pub(super) fn encode(&self, model: &BpeModel, piece: &[u8], out: &mut Vec<u32>) {
        let mut stage1 = Vec::with_capacity(piece.len() / 3 + 1);
        let mut start = 0;
        for i in 1..piece.len() {
            if !self.is_inner(piece[i - 1], piece[i]) {
                self.chunk(model, &piece[start..i], &mut stage1);
                start = i;
            }
        }
        self.chunk(model, &piece[start..], &mut stage1);
        match stage1.len() {
            1 => out.push(stage1[0]),
            n if n < SHORT_IDS => model.merge_short_ids(stage1, u32::MAX, out),
            _ => long::merge_ids(model, &stage1, u32::MAX, out),
        }
    }

    /// Appends the stage-1 ids of one chunk.
    fn chunk(&self, model: &BpeModel, chunk: &[u8], out: &mut Vec<u32>) {
        if chunk.len() == 1 {
            out.push(model.byte_ids[chunk[0] as usize]);
            return;
        }
        if let Some(id) = model.whole_token(chunk) {
            if self.stage1_itself[id as usize] {
                out.push(id);
                return;
            }
        }
        if self.cache.get(chunk, out) {
            return;
        }
        let start = out.len();
        self.merge_stage1(model, chunk, out);
        self.cache.insert(chunk, &out[start..]);
    }

    fn merge_stage1(&self, model: &BpeModel, bytes: &[u8], out: &mut Vec<u32>) {
        let ids: Vec<u32> = bytes.iter().map(|&b| model.byte_ids[b as usize]).collect();
        if ids.len() < 2 {
            out.extend_from_slice(&ids);
        } else if ids.len() < LONG_PIECE {
            model.merge_short_ids(ids, self.split, out);
        } else {
            long::merge_ids(model, &ids, self.split, out);
        }
    }
}
