use std::collections::HashMap;

use super::*;
use crate::test_rng::Rng;

fn byte_vocab() -> Vec<(u32, Vec<u8>)> {
    (0..=255u8).map(|b| (b as u32, vec![b])).collect()
}

/// Builds a model from merges written as byte strings, e.g. [("a", "b"), ("ab", "c")].
fn model(merges: &[(&str, &str)], ignore_merges: bool) -> BpeModel {
    let mut vocab = byte_vocab();
    let mut ids: HashMap<Vec<u8>, u32> = vocab.iter().map(|(id, b)| (b.clone(), *id)).collect();
    // All tokens first: a merge list out of BPE order may use a token that a later merge makes.
    for (a, b) in merges {
        let joined = [a.as_bytes(), b.as_bytes()].concat();
        if !ids.contains_key(&joined) {
            let id = vocab.len() as u32;
            ids.insert(joined.clone(), id);
            vocab.push((id, joined));
        }
    }
    let pairs = merges.iter().map(|(a, b)| (ids[a.as_bytes()], ids[b.as_bytes()])).collect();
    BpeModel::new(vocab, pairs, ignore_merges, false).unwrap()
}

fn encode(model: &BpeModel, text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    model.encode_piece(text.as_bytes(), &mut out);
    out.iter().map(|&id| model.token_bytes(id).unwrap().to_vec()).collect()
}

fn strings(tokens: &[&str]) -> Vec<Vec<u8>> {
    tokens.iter().map(|t| t.as_bytes().to_vec()).collect()
}

#[test]
fn hand_derived_merge_order() {
    // One merge (a,a): left to right, non-overlapping.
    let m = model(&[("a", "a")], false);
    assert_eq!(encode(&m, "aaa"), strings(&["aa", "a"]));
    assert_eq!(encode(&m, "aaaa"), strings(&["aa", "aa"]));
    // The lower rank wins wherever it is: ab before ba gives ab|a, ba before ab gives a|ba.
    assert_eq!(encode(&model(&[("a", "b"), ("b", "a")], false), "aba"), strings(&["ab", "a"]));
    assert_eq!(encode(&model(&[("b", "a"), ("a", "b")], false), "aba"), strings(&["a", "ba"]));
    // A chain: (a,b) then (ab,c) then (b,c) never applies to "abc".
    assert_eq!(encode(&model(&[("a", "b"), ("ab", "c"), ("b", "c")], false), "abcbc"), strings(&["abc", "bc"]));
}

#[test]
fn whole_piece_shortcut_only_when_exact() {
    // "abc" exists as (a,bc), but (a,b) has the lower rank, so "abc" encodes as ab|c without
    // ignore_merges, and as the single token with it.
    let m = model(&[("a", "b"), ("b", "c"), ("a", "bc")], false);
    assert_eq!(encode(&m, "abc"), strings(&["ab", "c"]));
    let m = model(&[("a", "b"), ("b", "c"), ("a", "bc")], true);
    assert_eq!(encode(&m, "abc"), strings(&["abc"]));
}

#[test]
fn last_duplicate_pair_rank_wins() {
    // merges [a b, b a, a b]: (a,b) has rank 2, so (b,a) (rank 1) goes first: "aba" -> a|ba.
    let m = model(&[("a", "b"), ("b", "a"), ("a", "b")], false);
    assert_eq!(encode(&m, "aba"), strings(&["a", "ba"]));
}

#[test]
fn validation_errors() {
    let missing_byte: Vec<(u32, Vec<u8>)> = (0..255u8).map(|b| (b as u32, vec![b])).collect();
    let err = BpeModel::new(missing_byte, vec![], false, false).unwrap_err();
    assert!(err.message.contains("0xFF"), "{}", err.message);
    let mut dup_id = byte_vocab();
    dup_id.push((3, b"ab".to_vec()));
    assert!(BpeModel::new(dup_id, vec![], false, false).unwrap_err().message.contains("twice"));
    let mut dup_bytes = byte_vocab();
    dup_bytes.push((300, b"a".to_vec()));
    assert!(BpeModel::new(dup_bytes, vec![], false, false).unwrap_err().message.contains("same bytes"));
    assert!(BpeModel::new(byte_vocab(), vec![(1, 999)], false, false).unwrap_err().message.contains("not in the vocabulary"));
    assert!(BpeModel::new(byte_vocab(), vec![(97, 98)], false, false).unwrap_err().message.contains("\"ab\""));
    let mut far = byte_vocab();
    far.push((u32::MAX, b"ab".to_vec()));
    assert!(BpeModel::new(far, vec![], false, false).unwrap_err().message.contains("beyond"));
    let mut empty = byte_vocab();
    empty.push((256, vec![]));
    assert!(BpeModel::new(empty, vec![], false, false).is_err());
}

/// The definition, literally: merge the lowest-rank adjacent pair, leftmost first, until none is left.
fn naive_encode(pair_ranks: &HashMap<(u32, u32), (usize, u32)>, piece: &[u8]) -> Vec<u32> {
    let mut parts: Vec<u32> = piece.iter().map(|&b| b as u32).collect();
    loop {
        let best = (0..parts.len().saturating_sub(1))
            .filter_map(|i| pair_ranks.get(&(parts[i], parts[i + 1])).map(|&(rank, merged)| (rank, i, merged)))
            .min();
        let Some((_, i, merged)) = best else { return parts };
        parts[i] = merged;
        parts.remove(i + 1);
    }
}

#[test]
fn random_vocabularies_match_the_definition() {
    let mut rng = Rng::new(1);
    for case in 0..60 {
        let alphabet = &b"abcd"[..2 + case % 3];
        let mut vocab = byte_vocab();
        let mut ids: HashMap<Vec<u8>, u32> = vocab.iter().map(|(id, b)| (b.clone(), *id)).collect();
        let mut merges = Vec::new();
        let mut pool: Vec<u32> = alphabet.iter().map(|&b| b as u32).collect();
        for _ in 0..(5 + rng.below(40)) {
            let (a, b) = (pool[rng.below(pool.len())], pool[rng.below(pool.len())]);
            let joined = [vocab[a as usize].1.clone(), vocab[b as usize].1.clone()].concat();
            if !ids.contains_key(&joined) {
                let id = vocab.len() as u32;
                ids.insert(joined.clone(), id);
                vocab.push((id, joined));
                pool.push(id);
            }
            merges.push((a, b)); // duplicates of pairs and of results happen on purpose
        }
        let mut pair_ranks = HashMap::new();
        for (rank, &(a, b)) in merges.iter().enumerate() {
            let joined = [vocab[a as usize].1.clone(), vocab[b as usize].1.clone()].concat();
            pair_ranks.insert((a, b), (rank, ids[&joined]));
        }
        for ignore_merges in [false, true] {
            let model = BpeModel::new(vocab.clone(), merges.clone(), ignore_merges, false).unwrap();
            for _ in 0..40 {
                let len = [rng.below(12), rng.below(200), 63 + rng.below(3)][rng.below(3)];
                let piece: Vec<u8> = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
                let expected = match ids.get(&piece) {
                    Some(&id) if ignore_merges => vec![id],
                    _ => naive_encode(&pair_ranks, &piece),
                };
                for _ in 0..2 {
                    // twice: the second answer may come from the cache
                    let mut got = Vec::new();
                    model.encode_piece(&piece, &mut got);
                    assert_eq!(got, expected, "case {case}, piece {:?}", String::from_utf8_lossy(&piece));
                }
            }
        }
    }
}

#[test]
fn long_and_short_paths_agree() {
    let m = model(&[("a", "a"), ("aa", "aa"), ("a", "b"), ("aaaa", "ab"), ("b", "a")], false);
    for len in 2..300 {
        let piece: Vec<u8> = (0..len).map(|i| if i % 7 == 6 { b'b' } else { b'a' }).collect();
        let (mut short, mut long) = (Vec::new(), Vec::new());
        m.merge_short(&piece, &mut short);
        long::merge_long(&m, &piece, &mut long);
        assert_eq!(short, long, "length {len}");
    }
}

/// A random merge list over `letters` (up to `max_merges` merges, each joining two tokens made so
/// far), in BPE order or, if `shuffle`, in random order (later merges may come first).
fn random_merges(rng: &mut Rng, letters: &[&str], max_merges: usize, shuffle: bool) -> Vec<(String, String)> {
    let mut tokens: Vec<String> = letters.iter().map(|s| s.to_string()).collect();
    let mut merges: Vec<(String, String)> = Vec::new();
    add_random_merges(rng, &mut tokens, &mut merges, max_merges, |_| true);
    if shuffle {
        shuffle_merges(rng, &mut merges);
    }
    merges
}

/// Appends up to `max_merges` random merges of two tokens of `tokens` whose result `accept`s.
fn add_random_merges(
    rng: &mut Rng,
    tokens: &mut Vec<String>,
    merges: &mut Vec<(String, String)>,
    max_merges: usize,
    accept: impl Fn(&str) -> bool,
) {
    for _ in 0..rng.below(max_merges) + 1 {
        let left = tokens[rng.below(tokens.len())].clone();
        let right = tokens[rng.below(tokens.len())].clone();
        let joined = format!("{left}{right}");
        if !accept(&joined) || merges.iter().any(|(l, r)| *l == left && *r == right) {
            continue;
        }
        tokens.push(joined);
        merges.push((left, right));
    }
}

fn shuffle_merges(rng: &mut Rng, merges: &mut [(String, String)]) {
    for i in (1..merges.len()).rev() {
        merges.swap(i, rng.below(i + 1));
    }
}

/// Random merge lists over a 3-letter alphabet, in random order: some are BPE-ordered (a merge
/// only uses tokens made by earlier merges), some not, which sends the long path to its
/// binary-heap fallback. Every path must give the quadratic scan's answer.
#[test]
fn long_path_matches_the_scan_on_random_merge_lists() {
    let mut rng = Rng::new(11);
    let letters = ["a", "b", "c"];
    for case in 0..300 {
        let merges = random_merges(&mut rng, &letters, 12, case % 3 == 0);
        let pairs: Vec<(&str, &str)> = merges.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        let m = model(&pairs, false);
        for _ in 0..10 {
            let len = 2 + rng.below(200);
            let piece: Vec<u8> = (0..len).map(|_| letters[rng.below(3)].as_bytes()[0]).collect();
            let (mut short, mut long, mut heap) = (Vec::new(), Vec::new(), Vec::new());
            m.merge_short(&piece, &mut short);
            long::merge_long(&m, &piece, &mut long);
            long::merge_with_binary_heap(&m, &piece, &mut heap);
            assert_eq!(short, long, "case {case}: merges {merges:?}, piece {:?}", String::from_utf8_lossy(&piece));
            assert_eq!(short, heap, "case {case}");
        }
    }
}

/// Runs of one byte take a shortcut (the run is merged as a whole); random merge lists over
/// "a" and "b" (the tail can hold other tokens), shuffled or not, must give the general answer.
#[test]
fn runs_of_one_byte_match_the_general_loop() {
    let mut rng = Rng::new(5);
    for case in 0..400 {
        let merges = random_merges(&mut rng, &["a", "b"], 14, case % 3 == 0);
        let pairs: Vec<(&str, &str)> = merges.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        let m = model(&pairs, false);
        for len in [64, 65, 100, 127, 128, 129, 200, 255, 256, 257, 300 + rng.below(300)] {
            let piece = vec![b'a'; len];
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            long::merge_with_binary_heap(&m, &piece, &mut expected);
            long::merge_long(&m, &piece, &mut got);
            assert_eq!(got, expected, "case {case}: merges {merges:?}, {len} a's");
        }
    }
}

#[test]
fn one_mebibyte_of_one_letter_is_fast_enough() {
    let m = model(&[("a", "a"), ("aa", "aa"), ("aaaa", "aaaa")], false);
    let piece = vec![b'a'; 1 << 20];
    let mut out = Vec::new();
    m.encode_piece(&piece, &mut out);
    assert_eq!(out.len(), (1 << 20) / 8);
    assert!(out.iter().all(|&id| m.token_bytes(id) == Some(&b"aaaaaaaa"[..])));
}

/// Chunked merging (long pieces cut into chunks, stitched where the tokens at a cut are
/// compatible, re-merged in a window where not) against the whole-piece loop, on random merge
/// lists, BPE-ordered or shuffled, with chunks down to a few bytes so that most cuts need a window.
#[test]
fn chunked_merging_equals_the_whole_piece_loop() {
    let mut rng = Rng::new(23);
    let letters = ["a", "b", "c", "d"];
    let (mut stitched, mut gave_up) = (0, 0);
    for case in 0..300 {
        let merges = random_merges(&mut rng, &letters, 40, case % 3 == 0);
        let pairs: Vec<(&str, &str)> = merges.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        let m = model(&pairs, false);
        let alphabet = 2 + rng.below(3);
        for chunk in [2, 3, 7, 16, 50, 333] {
            let len = 2 + rng.below(3000);
            let piece: Vec<u8> = (0..len).map(|_| letters[rng.below(alphabet)].as_bytes()[0]).collect();
            let mut expected = Vec::new();
            long::merge_with_binary_heap(&m, &piece, &mut expected);
            let mut got = vec![7u32]; // something before: the chunked path must leave it alone
            if chunked::merge_chunked(&m, &piece, &mut got, chunk) {
                assert_eq!(got[1..], expected[..], "case {case}, chunk {chunk}: merges {merges:?}, piece {:?}", String::from_utf8_lossy(&piece));
                stitched += 1;
            } else {
                assert_eq!(got, [7], "a chunking that gives up leaves `out` as it was");
                gave_up += 1;
            }
        }
    }
    // Most inputs are stitched (the point of the test); giving up is the rare hostile case.
    assert!(stitched > 10 * gave_up, "stitched {stitched}, gave up {gave_up}");
}

/// A long piece of random letters under a vocabulary that BPE would learn from such text goes
/// through the chunked path in `encode_piece` and still equals the whole-piece loop.
#[test]
fn megabyte_scale_random_letters_match_the_whole_piece_loop() {
    let mut rng = Rng::new(3);
    let letters: Vec<u8> = (b'a'..=b'z').collect();
    let mut tokens: Vec<Vec<u8>> = letters.iter().map(|&b| vec![b]).collect();
    let mut merges: Vec<(String, String)> = Vec::new();
    while merges.len() < 3000 {
        let (left, right) = (tokens[rng.below(tokens.len())].clone(), tokens[rng.below(tokens.len())].clone());
        if left.len() + right.len() > 6 || merges.iter().any(|(l, r)| l.as_bytes() == left && r.as_bytes() == right) {
            continue;
        }
        merges.push((String::from_utf8(left.clone()).unwrap(), String::from_utf8(right.clone()).unwrap()));
        tokens.push([left, right].concat());
    }
    let pairs: Vec<(&str, &str)> = merges.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
    let m = model(&pairs, false);
    let piece: Vec<u8> = (0..chunked::CHUNKED_MIN * 2 + 123).map(|_| letters[rng.below(26)]).collect();
    let (mut expected, mut got) = (Vec::new(), Vec::new());
    long::merge_with_binary_heap(&m, &piece, &mut expected);
    assert!(chunked::merge_chunked(&m, &piece, &mut got, chunked::CHUNK));
    assert_eq!(got, expected);
    got.clear();
    m.encode_piece(&piece, &mut got);
    assert_eq!(got, expected);
}

/// A random superword-style merge list over "a", "b", " ": stage 1 never puts a space after a
/// letter (word-level tokens such as " ab"), stage 2 joins anything (" ab a", "b b "), so the
/// two-phase path (`phased.rs`) is on; with `shuffle` the order is random, which may turn it off.
fn random_superword_merges(rng: &mut Rng, shuffle: bool) -> Vec<(String, String)> {
    let mut tokens: Vec<String> = ["a", "b", " "].iter().map(|s| s.to_string()).collect();
    let mut merges: Vec<(String, String)> = Vec::new();
    let superword = |token: &str| token.as_bytes().windows(2).any(|w| w[0] != b' ' && w[1] == b' ');
    add_random_merges(rng, &mut tokens, &mut merges, 12, |joined| !superword(joined));
    add_random_merges(rng, &mut tokens, &mut merges, 12, |_| true);
    if shuffle {
        shuffle_merges(rng, &mut merges);
    }
    merges
}

/// The two-phase path gives the definition's answer on random superword vocabularies and texts
/// (lines of words and space runs), and the general path's answer too.
#[test]
fn phased_superword_path_matches_the_definition() {
    let mut rng = Rng::new(17);
    let mut phased_cases = 0;
    for case in 0..400 {
        let merges = random_superword_merges(&mut rng, case % 4 == 0);
        let pairs: Vec<(&str, &str)> = merges.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        let m = model(&pairs, false);
        phased_cases += m.is_phased() as usize;
        let plain = m.without_phases();
        let mut pair_ranks = HashMap::new();
        for (rank, (l, r)) in merges.iter().enumerate() {
            let id = |s: &str| m.token_id(s.as_bytes()).unwrap();
            pair_ranks.insert((id(l), id(r)), (rank, id(&format!("{l}{r}"))));
        }
        for _ in 0..10 {
            let len = [2 + rng.below(20), 2 + rng.below(300)][rng.below(2)];
            let piece: Vec<u8> = (0..len).map(|_| b"ab  "[rng.below(4)]).collect();
            let expected = naive_encode(&pair_ranks, &piece);
            let (mut got, mut general) = (Vec::new(), Vec::new());
            m.encode_piece(&piece, &mut got);
            plain.encode_piece(&piece, &mut general);
            assert_eq!(got, expected, "case {case}: merges {merges:?}, piece {:?}", String::from_utf8_lossy(&piece));
            assert_eq!(general, expected, "case {case}");
        }
    }
    assert!(phased_cases > 250, "only {phased_cases} of 400 vocabularies took the two-phase path");
}

#[test]
fn phased_path_hand_derived_cases() {
    // Stage 1: "  " and " a"; stage 2 from (a, " ") on. In "  a" the first two spaces are not a
    // chunk boundary (the pair "  " is inside a stage-1 token), so (" ", " ") wins as in HF.
    let m = model(&[(" ", " "), (" ", "a"), ("a", " "), ("a ", " a")], false);
    assert!(m.is_phased());
    assert_eq!(encode(&m, "  a"), strings(&["  ", "a"]));
    assert_eq!(encode(&m, "a a a"), strings(&["a", " a", " a"]));
    // Stage 1: "  ", "bb"; stage 2: "b ", "b b". Chunks of "bb  b": "bb" | "  " | "b".
    let m = model(&[(" ", " "), ("b", "b"), ("b", " "), ("b ", "b")], false);
    assert!(m.is_phased());
    assert_eq!(encode(&m, "b b"), strings(&["b b"]));
    assert_eq!(encode(&m, "bb  b"), strings(&["bb", "  ", "b"]));
    // A stage-2 merge that remakes a stage-1 input (" a" listed again after the split) would let a
    // stage-1 merge apply after stage 2: the path turns itself off and the answer stays exact.
    let m = model(&[(" ", "a"), (" a", "b"), ("b", " "), (" ", "a")], false);
    assert!(!m.is_phased());
    assert_eq!(encode(&m, " ab a"), strings(&[" a", "b ", "a"]));
}
