//! tiktoken rank files -> merges. A rank file lists tokens only; tiktoken builds each token by
//! merging the adjacent pair whose concatenation has the lowest rank. The merge that *makes* a
//! token is the one that rank-BPE on its own bytes ends on when only lower ranks may merge
//! (the same derivation as HF's `convert_slow_tokenizer` for tiktoken files).

use rustc_hash::FxHashMap;

use crate::error::{Error, ErrorKind, Result};

fn format_error(message: String) -> Error {
    Error::new(ErrorKind::Format, message)
}

/// A token's bytes for messages: the text when it is UTF-8, else hex.
fn describe(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
    }
}

/// tiktoken's merge loop on `piece`, allowing only merges whose result ranks below `cap`:
/// repeatedly join the adjacent parts whose concatenation has the lowest rank (leftmost on ties).
/// Returns the part boundaries (start offsets, plus the end).
fn rank_bpe(ranks: &FxHashMap<&[u8], u32>, piece: &[u8], cap: u32) -> Vec<usize> {
    let mut bounds: Vec<usize> = (0..=piece.len()).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..bounds.len().saturating_sub(2) {
            if let Some(&rank) = ranks.get(&piece[bounds[i]..bounds[i + 2]]) {
                if rank < cap && best.is_none_or(|(best_rank, _)| rank < best_rank) {
                    best = Some((rank, i));
                }
            }
        }
        match best {
            Some((_, i)) => {
                bounds.remove(i + 1);
            }
            None => return bounds,
        }
    }
}

/// For every multi-byte token, in rank order, the `(left rank, right rank)` merge that makes it.
///
/// `tokens`: (rank, bytes) as in a `.tiktoken` file; ranks and byte strings unique. Fails with a
/// `Format` error naming the token when a token is not reachable (rank-BPE on its bytes with only
/// lower ranks does not end in exactly two parts), or when a byte it starts from is not a token.
pub fn derive_merges(tokens: &[(u32, Vec<u8>)]) -> Result<Vec<(u32, u32)>> {
    let mut ranks: FxHashMap<&[u8], u32> = FxHashMap::default();
    ranks.reserve(tokens.len());
    let mut seen_ranks: FxHashMap<u32, usize> = FxHashMap::default();
    for (index, (rank, bytes)) in tokens.iter().enumerate() {
        if bytes.is_empty() {
            return Err(format_error(format!("rank {rank} has an empty token; every token needs at least one byte")));
        }
        if let Some(other) = ranks.insert(bytes, *rank) {
            return Err(format_error(format!(
                "the token {} has two ranks, {other} and {rank}; each byte string may appear once",
                describe(bytes)
            )));
        }
        if seen_ranks.insert(*rank, index).is_some() {
            return Err(format_error(format!("rank {rank} is given to two tokens; each rank may appear once")));
        }
    }
    let mut order: Vec<&(u32, Vec<u8>)> = tokens.iter().filter(|(_, bytes)| bytes.len() > 1).collect();
    order.sort_unstable_by_key(|(rank, _)| *rank);
    let mut merges = Vec::with_capacity(order.len());
    for &(rank, ref bytes) in order {
        let bounds = rank_bpe(&ranks, bytes, rank);
        if bounds.len() != 3 {
            return Err(format_error(format!(
                "the token {} (rank {rank}) cannot be built by merging two lower-ranked tokens: with only lower \
                 ranks its bytes merge into {} parts, not 2; a tiktoken rank file must list every token after \
                 the tokens it is merged from",
                describe(bytes),
                bounds.len() - 1
            )));
        }
        let (left, right) = (&bytes[..bounds[1]], &bytes[bounds[1]..]);
        let (Some(&left_rank), Some(&right_rank)) = (ranks.get(left), ranks.get(right)) else {
            let missing = if ranks.contains_key(left) { right } else { left };
            return Err(format_error(format!(
                "the token {} (rank {rank}) is built from the byte {}, which is not a token; a rank file must \
                 list all 256 single bytes",
                describe(bytes),
                describe(missing)
            )));
        };
        merges.push((left_rank, right_rank));
    }
    Ok(merges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::BpeModel;
    use crate::test_rng::Rng;

    fn byte_ranks() -> Vec<(u32, Vec<u8>)> {
        (0..=255u8).map(|b| (b as u32, vec![b])).collect()
    }

    fn with(extra: &[&str]) -> Vec<(u32, Vec<u8>)> {
        let mut tokens = byte_ranks();
        for (i, token) in extra.iter().enumerate() {
            tokens.push((256 + i as u32, token.as_bytes().to_vec()));
        }
        tokens
    }

    #[test]
    fn hand_derived_merges() {
        // ranks: ab 256, bc 257, abc 258, cd 259, abcd 260.
        // ab = (a, b); bc = (b, c); abc: below 258, "ab" (256) merges first, then only (ab, c)
        // is left -> (256, c). cd = (c, d). abcd: ab first, then (ab, cd)? no: after ab the
        // pairs are (ab,c) -> abc 258 and (c,d) -> cd 259; 258 wins, giving (abc, d).
        let merges = derive_merges(&with(&["ab", "bc", "abc", "cd", "abcd"])).unwrap();
        let (a, b, c, d) = (b'a' as u32, b'b' as u32, b'c' as u32, b'd' as u32);
        assert_eq!(merges, vec![(a, b), (b, c), (256, c), (c, d), (258, d)]);
    }

    #[test]
    fn ties_go_to_the_leftmost_pair() {
        // "aaa" (257) from "aa" (256): a|a|a has two equal pairs, the left one merges: (aa, a).
        let merges = derive_merges(&with(&["aa", "aaa"])).unwrap();
        assert_eq!(merges, vec![(97, 97), (256, 97)]);
    }

    #[test]
    fn rank_order_not_input_order() {
        let mut tokens = with(&["ab", "abc"]);
        tokens.reverse();
        assert_eq!(derive_merges(&tokens).unwrap(), vec![(97, 98), (256, 99)]);
    }

    #[test]
    fn unreachable_token_is_named() {
        // "abc" at 256 with no two-token split ranked below it: a|b|c stays three parts.
        let err = derive_merges(&with(&["abc"])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Format);
        assert!(err.message.contains("\"abc\" (rank 256)") && err.message.contains("3 parts"), "{}", err.message);
        // "ab" ranked above "abc": abc cannot use it.
        let tokens = vec![(300, b"ab".to_vec()), (299, b"abc".to_vec())];
        let mut all = byte_ranks();
        all.extend(tokens);
        assert!(derive_merges(&all).unwrap_err().message.contains("rank 299"));
    }

    #[test]
    fn missing_byte_and_duplicates_are_refused() {
        let tokens = vec![(0, b"a".to_vec()), (1, b"ab".to_vec())];
        assert!(derive_merges(&tokens).unwrap_err().message.contains("not a token"));
        let mut dup = byte_ranks();
        dup.push((256, b"a".to_vec()));
        assert!(derive_merges(&dup).unwrap_err().message.contains("two ranks"));
        let mut dup = byte_ranks();
        dup.push((5, b"ab".to_vec()));
        assert!(derive_merges(&dup).unwrap_err().message.contains("rank 5 is given to two tokens"));
        let mut empty = byte_ranks();
        empty.push((256, vec![]));
        assert!(derive_merges(&empty).is_err());
    }

    fn encode(model: &BpeModel, piece: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        model.encode_piece(piece, &mut out);
        out
    }

    #[test]
    fn merge_by_rank_merges_every_split_at_the_tokens_rank() {
        // Tokens bc (256), ab (257), abc (258); listed merges (b,c), (a,b), (ab,c).
        // "abc": (b,c) has the lowest rank, leaving a|bc. HF semantics stop there: (a,bc) is not
        // listed. tiktoken merges a+bc because "abc" is a token: rank 2 (the rank of abc's merge).
        let vocab = with(&["bc", "ab", "abc"]);
        let merges = vec![(98, 99), (97, 98), (257, 99)];
        let hf = BpeModel::new(vocab.clone(), merges.clone(), false, false).unwrap();
        assert_eq!(encode(&hf, b"abc"), vec![97, 256]);
        let by_rank = BpeModel::new(vocab, merges, false, true).unwrap();
        assert_eq!(encode(&by_rank, b"abc"), vec![258]);
        assert!(by_rank.merge_by_rank() && !hf.merge_by_rank());
        // The listed merges are still what the model reports (the splits are implied).
        assert_eq!(by_rank.merges(), &[(98, 99), (97, 98), (257, 99)]);
        // "xabc": the extra pair only joins a+bc, never x+a.
        assert_eq!(encode(&by_rank, b"xabc"), vec![b'x' as u32, 258]);
    }

    #[test]
    fn merge_by_rank_keeps_listed_pair_ranks() {
        // abc listed twice: (ab,c) at rank 2 and (a,bc) at rank 3 -> the token's rank is 2, but the
        // listed pair (a,bc) keeps its own rank 3; only unlisted splits take the token's rank.
        let vocab = with(&["ab", "bc", "abc", "cd"]);
        let merges = vec![(97, 98), (98, 99), (256, 99), (97, 257), (99, 100)];
        let model = BpeModel::new(vocab, merges, false, true).unwrap();
        // "abcd": ab (0) -> ab|c|d; (ab,c) rank 2 beats (c,d) rank 4 -> abc|d.
        assert_eq!(encode(&model, b"abcd"), vec![258, 100]);
    }

    /// tiktoken's encode, literally: a piece that is a token is that token; otherwise merge the
    /// adjacent parts whose concatenation has the lowest rank, leftmost on ties.
    fn tiktoken_encode(ranks: &FxHashMap<&[u8], u32>, piece: &[u8], whole_piece_lookup: bool) -> Vec<u32> {
        if whole_piece_lookup {
            if let Some(&rank) = ranks.get(piece) {
                return vec![rank];
            }
        }
        let bounds = rank_bpe(ranks, piece, u32::MAX);
        bounds.windows(2).map(|w| ranks[&piece[w[0]..w[1]]]).collect()
    }

    #[test]
    fn derived_merges_with_merge_by_rank_equal_tiktoken() {
        let mut rng = Rng::new(3);
        let mut checked = 0;
        for case in 0..300 {
            let alphabet = &b"abcd"[..2 + case % 3];
            // Tokens made by joining two existing tokens, ranks in order of creation (as a BPE
            // trainer makes them); some are unreachable by rank-BPE, and those cases are skipped.
            let mut tokens = byte_ranks();
            let mut pool: Vec<Vec<u8>> = alphabet.iter().map(|&b| vec![b]).collect();
            for _ in 0..(5 + rng.below(40)) {
                let joined = [pool[rng.below(pool.len())].clone(), pool[rng.below(pool.len())].clone()].concat();
                if !tokens.iter().any(|(_, t)| *t == joined) {
                    tokens.push((tokens.len() as u32, joined.clone()));
                    pool.push(joined);
                }
            }
            let Ok(merges) = derive_merges(&tokens) else { continue };
            checked += 1;
            let ranks: FxHashMap<&[u8], u32> = tokens.iter().map(|(r, t)| (&t[..], *r)).collect();
            for ignore_merges in [false, true] {
                let model = BpeModel::new(tokens.clone(), merges.clone(), ignore_merges, true).unwrap();
                for _ in 0..40 {
                    let len = [rng.below(12), rng.below(200), 63 + rng.below(3)][rng.below(3)];
                    let piece: Vec<u8> = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
                    let expected = tiktoken_encode(&ranks, &piece, ignore_merges);
                    for _ in 0..2 {
                        assert_eq!(encode(&model, &piece), expected, "case {case}, piece {:?}", String::from_utf8_lossy(&piece));
                    }
                }
            }
        }
        assert!(checked > 40, "only {checked} random vocabularies were reachable");
    }
}
