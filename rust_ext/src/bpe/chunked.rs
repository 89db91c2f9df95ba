//! Very long pieces merged in cache-sized chunks, then stitched together exactly.
//!
//! Why: merging a megabyte-long piece in one linked list touches symbols scattered over the whole
//! megabyte (the positions of one rank are spread across it), so nearly every merge is a cache
//! miss. A chunk of a few KB keeps its symbols and queues in L1/L2.
//!
//! Why it is exact: call two adjacent tokens *compatible* when merging their bytes alone gives
//! back exactly those two tokens. For lowest-rank-first merging (ties leftmost, any rank table):
//!
//! - every adjacent pair of a piece's encoding is compatible, and every token of it merges back
//!   to itself: the merges inside two neighbouring tokens' spans happen in the same relative
//!   order with or without the rest of the piece, so a merge across their boundary alone would
//!   also have happened in the whole piece;
//! - conversely, if every adjacent pair of a token sequence is compatible and every token merges
//!   back to itself, the sequence is the encoding of its bytes: take the first merge that would
//!   cross a token boundary in the whole piece; up to it both neighbours' spans evolve as they do
//!   alone, so merging that pair alone would cross it too, against compatibility.
//!
//! The chunks' encodings satisfy both inside themselves, so their concatenation is exact as soon
//! as each cut's pair is compatible. When one is not, a window of tokens around the cut is merged
//! again and its two new joints are checked, the window growing until they pass. A vocabulary on
//! which that keeps failing sends the piece back to the whole-piece loop: never a wrong answer.

use super::{long, BpeModel, LONG_PIECE};

/// Pieces at least this long are chunked.
pub(super) const CHUNKED_MIN: usize = 64 * 1024;
/// Chunk length in bytes: the merge loop's symbols (20 bytes a byte) and rank queues then stay
/// in L2/L3. Measured on 1 MiB of random letters, 32k vocabulary (ms, min of 30 encodes as in
/// `benchmarks/time_inputs.py`, lower is better): 2 KB
/// chunks 57, 16 KB 42, 32 KB 40, 64 KB 41, 256 KB 48, unchunked 53: small chunks pay the
/// per-chunk set-up and the stitching, large ones the cache misses.
pub(super) const CHUNK: usize = 32 * 1024;
/// A cut whose window has grown past this many tokens on each side gives up on chunking.
const MAX_WINDOW_TOKENS: usize = 64;

/// Appends the ids of `piece` to `out`, merging chunks of `chunk` bytes; false (and `out`
/// untouched) if a cut could not be stitched, for the caller to merge the piece whole.
pub(super) fn merge_chunked(model: &BpeModel, piece: &[u8], out: &mut Vec<u32>, chunk: usize) -> bool {
    let base = out.len();
    let mut next = Vec::new();
    let mut cut = 0;
    while cut < piece.len() {
        let mut end = (cut + chunk).min(piece.len());
        if piece.len() - end < chunk / 2 {
            end = piece.len(); // no sliver of a last chunk: one cut fewer
        }
        next.clear();
        merge_exact(model, &piece[cut..end], &mut next);
        if out.len() == base {
            out.extend_from_slice(&next);
        } else if !stitch(model, piece, base, cut, out, &next) {
            out.truncate(base);
            return false;
        }
        cut = end;
    }
    true
}

/// `out[base..]` encodes `piece[..cut]` and `next` the bytes that follow; appends `next` so that
/// the result encodes both (re-merging a window around the cut if the tokens there are not
/// compatible). False if no window up to `MAX_WINDOW_TOKENS` a side works.
fn stitch(model: &BpeModel, piece: &[u8], base: usize, cut: usize, out: &mut Vec<u32>, next: &[u32]) -> bool {
    if compatible(model, out[out.len() - 1], next[0]) {
        out.extend_from_slice(next);
        return true;
    }
    let mut window = Vec::new();
    let mut side = 1;
    while side <= MAX_WINDOW_TOKENS {
        let keep = out.len().saturating_sub(side).max(base);
        let skip = side.min(next.len());
        let (start, end) = (cut - byte_len(model, &out[keep..]), cut + byte_len(model, &next[..skip]));
        if end - start >= CHUNKED_MIN {
            return false; // hostile token lengths: let the whole-piece loop do it
        }
        window.clear();
        merge_exact(model, &piece[start..end], &mut window);
        let left_ok = keep == base || compatible(model, out[keep - 1], window[0]);
        let right_ok = skip == next.len() || compatible(model, window[window.len() - 1], next[skip]);
        if left_ok && right_ok {
            out.truncate(keep);
            out.extend_from_slice(&window);
            out.extend_from_slice(&next[skip..]);
            return true;
        }
        side *= 2;
    }
    false
}

/// Whether merging the bytes of `left` then `right` gives back exactly `[left, right]`.
/// Conservatively false for pairs too long to check cheaply (the caller then widens its window).
fn compatible(model: &BpeModel, left: u32, right: u32) -> bool {
    let (Some(a), Some(b)) = (model.token_bytes(left), model.token_bytes(right)) else {
        return false;
    };
    if a.len() + b.len() >= CHUNKED_MIN {
        return false;
    }
    let mut bytes = [0u8; 128];
    let joined: Vec<u8>;
    let joined = if a.len() + b.len() <= bytes.len() {
        bytes[..a.len()].copy_from_slice(a);
        bytes[a.len()..a.len() + b.len()].copy_from_slice(b);
        &bytes[..a.len() + b.len()]
    } else {
        joined = [a, b].concat();
        &joined[..]
    };
    let mut merged = Vec::with_capacity(2);
    merge_exact(model, joined, &mut merged);
    merged == [left, right]
}

/// The merge loop without chunking (chunks and windows must not be chunked again).
fn merge_exact(model: &BpeModel, bytes: &[u8], out: &mut Vec<u32>) {
    if bytes.len() < LONG_PIECE {
        model.merge_short(bytes, out);
    } else {
        long::merge_unchunked(model, bytes, out);
    }
}

fn byte_len(model: &BpeModel, ids: &[u32]) -> usize {
    ids.iter().map(|&id| model.token_bytes(id).map_or(0, <[u8]>::len)).sum()
}
