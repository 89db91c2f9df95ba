//! Pre-token counting: cutting large texts at safe positions, parallel counting into thread-local
//! maps, and a sharded global table merged in parallel.

use std::hash::BuildHasher;

use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::Result;
use crate::pretokenize::PreTokenizer;

/// Where a large text may be cut without changing its pre-tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CutRule {
    /// Right after a '\n' that is followed by an ASCII letter or digit (gpt4, o200k, llama3:
    /// their `\s*[\r\n]` / `[\r\n]*` alternatives end a piece exactly there, also with
    /// whitespace before the newline).
    AfterNewline,
    /// Right before such a '\n' (gpt2, whitespace: there `\s+(?!\S)` stops before the newline,
    /// and the newline is a piece of its own because a non-space follows; cutting after it would
    /// turn "  \n" + "abc" into one piece "  \n" instead of "  ", "\n").
    BeforeNewline,
    /// Never cut (texts with a custom regex or "none": their pieces are not known).
    Never,
}

impl CutRule {
    /// Rule for in-memory texts: exact (only presets whose boundaries are known).
    pub(crate) fn for_texts(pre: &PreTokenizer) -> CutRule {
        match pre.name() {
            "gpt2" | "whitespace" => CutRule::BeforeNewline,
            "gpt4" | "o200k" | "llama3" => CutRule::AfterNewline,
            _ => CutRule::Never,
        }
    }

    /// Rule for files: like texts, but custom regexes and "none" are cut after the newline too,
    /// so that memory stays bounded (documented on `add_file`).
    pub(crate) fn for_files(pre: &PreTokenizer) -> CutRule {
        match CutRule::for_texts(pre) {
            CutRule::Never => CutRule::AfterNewline,
            rule => rule,
        }
    }

    /// The cut position for a newline at index `i` (with `bytes[i + 1]` an ASCII alphanumeric).
    #[inline]
    fn position(self, i: usize) -> usize {
        match self {
            CutRule::AfterNewline => i + 1,
            CutRule::BeforeNewline | CutRule::Never => i,
        }
    }
}

#[inline]
fn is_cut_newline(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\n' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_alphanumeric()
}

/// The first cut position >= `from` (and > 0), if any.
pub(crate) fn next_cut(bytes: &[u8], from: usize, rule: CutRule) -> Option<usize> {
    if rule == CutRule::Never {
        return None;
    }
    let mut i = from.saturating_sub(1);
    while i + 1 < bytes.len() {
        match bytes[i..bytes.len() - 1].iter().position(|&b| b == b'\n') {
            None => return None,
            Some(k) => {
                i += k;
                if is_cut_newline(bytes, i) {
                    let cut = rule.position(i);
                    if cut >= from.max(1) {
                        return Some(cut);
                    }
                }
                i += 1;
            }
        }
    }
    None
}

/// The last cut position in `bytes` that is > 0 and whose newline is at index >= `from`.
pub(crate) fn last_cut(bytes: &[u8], from: usize, rule: CutRule) -> Option<usize> {
    if rule == CutRule::Never || bytes.len() < 2 {
        return None;
    }
    let mut end = bytes.len() - 1; // a cut newline needs one byte after it
    while end > from {
        let k = bytes[from..end].iter().rposition(|&b| b == b'\n')? + from;
        if is_cut_newline(bytes, k) {
            let cut = rule.position(k);
            if cut > 0 {
                return Some(cut);
            }
        }
        end = k;
    }
    None
}

/// Cuts `text` into segments of about `target` bytes at cut positions (one segment if `rule`
/// is `Never` or no cut exists).
pub(crate) fn segments<'a>(text: &'a str, target: usize, rule: CutRule, out: &mut Vec<&'a str>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while bytes.len() - start > target {
        match next_cut(bytes, start + target, rule) {
            Some(cut) if cut < bytes.len() => {
                // Cut positions are at ASCII bytes, so they are char boundaries.
                out.push(&text[start..cut]);
                start = cut;
            }
            _ => break,
        }
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
}

/// Number of shards of the global table; shards are merged into in parallel.
pub(crate) const SHARDS: usize = 32;

type Local<'a> = FxHashMap<&'a [u8], u64>;
pub(crate) type Shard = FxHashMap<Box<[u8]>, u64>;

#[inline]
pub(crate) fn shard_of(key: &[u8]) -> usize {
    // Remix the table hash so that shard bits are independent of the bits the tables use.
    let h = FxBuildHasher.hash_one(key);
    let h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 59) as usize % SHARDS
}

fn count_group<'a>(pre: &PreTokenizer, group: &[&'a str]) -> Result<Vec<Vec<(&'a [u8], u64)>>> {
    let mut local: Local<'a> = FxHashMap::default();
    let mut spans = Vec::new();
    for text in group {
        spans.clear();
        pre.split_into(text, &mut spans)?;
        let bytes = text.as_bytes();
        for &(s, e) in &spans {
            if let Some(piece) = bytes.get(s..e) {
                if !piece.is_empty() {
                    *local.entry(piece).or_insert(0) += 1;
                }
            }
        }
    }
    let mut parts: Vec<Vec<(&'a [u8], u64)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for (k, v) in local {
        parts[shard_of(k)].push((k, v));
    }
    Ok(parts)
}

/// Adds `(key, count)` to a shard, allocating the key only when it is new.
#[inline]
pub(crate) fn bump(shard: &mut Shard, key: &[u8], count: u64) {
    if let Some(c) = shard.get_mut(key) {
        *c = c.saturating_add(count);
    } else {
        shard.insert(key.into(), count);
    }
}

/// Counts the pieces of `segs` (each split on its own) into `shards`, in parallel.
/// Must run inside the intended rayon pool.
pub(crate) fn count_into(pre: &PreTokenizer, segs: &[&str], threads: usize, shards: &mut [Shard]) -> Result<u64> {
    let total: usize = segs.iter().map(|s| s.len()).sum();
    if segs.is_empty() || total == 0 {
        return Ok(0);
    }
    // Groups of contiguous segments with about equal bytes, a few per thread for balance.
    let n_groups = if total < (1 << 16) { 1 } else { (threads * 4).min(segs.len()).max(1) };
    let per_group = total.div_ceil(n_groups);
    let mut groups: Vec<&[&str]> = Vec::with_capacity(n_groups);
    let (mut start, mut acc) = (0, 0);
    for (i, s) in segs.iter().enumerate() {
        acc += s.len();
        if acc >= per_group {
            groups.push(&segs[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    if start < segs.len() {
        groups.push(&segs[start..]);
    }
    let parts: Vec<Vec<Vec<(&[u8], u64)>>> = if groups.len() == 1 {
        vec![count_group(pre, groups[0])?]
    } else {
        groups.par_iter().map(|g| count_group(pre, g)).collect::<Result<_>>()?
    };
    let mut pieces = 0u64;
    for part in &parts {
        for shard in part {
            pieces += shard.iter().map(|&(_, v)| v).sum::<u64>();
        }
    }
    shards.par_iter_mut().enumerate().for_each(|(s, shard)| {
        for part in &parts {
            for &(k, v) in &part[s] {
                bump(shard, k, v);
            }
        }
    });
    Ok(pieces)
}
