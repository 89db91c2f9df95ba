//! Tokenizer = pre-tokenizer + BPE model + special tokens.
//!
//! Special tokens are found first (leftmost-longest over all of them); what lies between the
//! allowed ones is pre-tokenized and BPE-encoded piece by piece. Offsets are byte offsets.

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::bpe::BpeModel;
use crate::error::{Error, ErrorKind, Result};
use crate::pretokenize::PreTokenizer;

/// Pre-tokens split and merged per block in `encode_ordinary` (~64 KB of spans).
const SPANS_PER_BLOCK: usize = 4096;

/// What to do with special-token text found in user input, per special token (index into
/// `Tokenizer::special_tokens()`): allowed -> the special id; else disallowed -> an error
/// (`ErrorKind::SpecialToken`) naming the token, its byte position and the fix; else plain text.
#[derive(Clone, Debug, Default)]
pub struct SpecialPolicy {
    pub allowed: Vec<bool>,
    pub disallowed: Vec<bool>,
}

#[derive(Clone, Debug)]
pub struct Tokenizer {
    pre_tokenizer: PreTokenizer,
    model: BpeModel,
    special_tokens: Vec<(String, u32)>,
    special_by_id: FxHashMap<u32, usize>,
    /// None when there are no special tokens (then no scan of the text is needed).
    special_matcher: Option<AhoCorasick>,
}

impl Tokenizer {
    /// `special_tokens`: (content, id); ids must not be model ids, contents unique and non-empty.
    pub fn new(pre_tokenizer: PreTokenizer, model: BpeModel, special_tokens: Vec<(String, u32)>) -> Result<Tokenizer> {
        let mut special_by_id = FxHashMap::default();
        for (index, (content, id)) in special_tokens.iter().enumerate() {
            if content.is_empty() {
                return Err(Error::new(ErrorKind::Format, format!("special token id {id} has empty text; give it a non-empty string")));
            }
            if model.token_bytes(*id).is_some() {
                return Err(Error::new(
                    ErrorKind::Format,
                    format!("special token {content:?} has id {id}, which is already a model token; give it an id of its own"),
                ));
            }
            if special_by_id.insert(*id, index).is_some() {
                return Err(Error::new(ErrorKind::Format, format!("two special tokens share the id {id}; give each its own id")));
            }
            if special_tokens[..index].iter().any(|(other, _)| other == content) {
                return Err(Error::new(ErrorKind::Format, format!("special token {content:?} is listed twice; list it once")));
            }
        }
        let special_matcher = if special_tokens.is_empty() {
            None
        } else {
            let matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(special_tokens.iter().map(|(content, _)| content.as_bytes()))
                .map_err(|e| Error::new(ErrorKind::Format, format!("cannot index the special tokens: {e}")))?;
            Some(matcher)
        };
        Ok(Tokenizer { pre_tokenizer, model, special_tokens, special_by_id, special_matcher })
    }

    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre_tokenizer
    }

    pub fn model(&self) -> &BpeModel {
        &self.model
    }

    pub fn special_tokens(&self) -> &[(String, u32)] {
        &self.special_tokens
    }

    /// Model tokens + special tokens.
    pub fn vocab_size(&self) -> usize {
        self.model.len() + self.special_tokens.len()
    }

    /// Ids and, when `with_offsets`, the byte span of each id in `text` (else empty).
    pub fn encode(&self, text: &str, policy: &SpecialPolicy, with_offsets: bool) -> Result<(Vec<u32>, Vec<(usize, usize)>)> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut offsets = Vec::new();
        let mut spans = Vec::new();
        let mut segment_start = 0;
        if let Some(matcher) = &self.special_matcher {
            for found in matcher.find_iter(text) {
                let index = found.pattern().as_usize();
                if policy.allowed.get(index).copied().unwrap_or(false) {
                    self.encode_ordinary(text, segment_start, found.start(), &mut spans, &mut ids, with_offsets.then_some(&mut offsets))?;
                    ids.push(self.special_tokens[index].1);
                    if with_offsets {
                        offsets.push((found.start(), found.end()));
                    }
                    segment_start = found.end();
                } else if policy.disallowed.get(index).copied().unwrap_or(true) {
                    let content = &self.special_tokens[index].0;
                    return Err(Error::new(
                        ErrorKind::SpecialToken,
                        format!(
                            "the text contains the special token {content:?} at byte {}; to encode it as the special token \
                             pass allowed_special={{{content:?}}} (or \"all\"), to encode it as plain text pass \
                             disallowed_special=()",
                            found.start()
                        ),
                    ));
                }
                // Neither allowed nor disallowed: it stays part of the ordinary text.
            }
        }
        self.encode_ordinary(text, segment_start, text.len(), &mut spans, &mut ids, with_offsets.then_some(&mut offsets))?;
        Ok((ids, offsets))
    }

    /// Encodes `text[start..end]` (no special tokens), appending ids and, if asked, their spans.
    fn encode_ordinary(
        &self,
        text: &str,
        start: usize,
        end: usize,
        spans: &mut Vec<(usize, usize)>,
        ids: &mut Vec<u32>,
        mut offsets: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let segment = &text[start..end];
        let bytes = segment.as_bytes();
        let mut from = 0;
        while from < segment.len() {
            // Block by block: a huge text's spans would otherwise outgrow the caches (16 bytes each).
            spans.clear();
            from = self.pre_tokenizer.split_block(segment, from, SPANS_PER_BLOCK, spans)?;
            for &(piece_start, piece_end) in spans.iter() {
                let first = ids.len();
                self.model.encode_piece(&bytes[piece_start..piece_end], ids);
                if let Some(offsets) = offsets.as_deref_mut() {
                    let mut at = start + piece_start;
                    for &id in &ids[first..] {
                        let len = self.model.token_bytes(id).map_or(0, <[u8]>::len);
                        offsets.push((at, at + len));
                        at += len;
                    }
                }
            }
        }
        Ok(())
    }

    /// `encode` over many texts in parallel (rayon); results in input order.
    pub fn encode_batch(&self, texts: &[&str], policy: &SpecialPolicy) -> Result<Vec<Vec<u32>>> {
        texts.par_iter().map(|text| self.encode(text, policy, false).map(|(ids, _)| ids)).collect()
    }

    /// The bytes of the ids; an unknown id is an `ErrorKind::UnknownId` error naming it.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for (position, &id) in ids.iter().enumerate() {
            match self.id_to_token(id) {
                Some(token) => bytes.extend_from_slice(token),
                None => {
                    return Err(Error::new(
                        ErrorKind::UnknownId,
                        format!(
                            "id {id} at position {position} is not in the vocabulary ({} tokens, ids up to {}); \
                             pass ids produced by this tokenizer",
                            self.vocab_size(),
                            self.max_id()
                        ),
                    ))
                }
            }
        }
        Ok(bytes)
    }

    /// The largest model or special id.
    pub fn max_id(&self) -> u32 {
        let special_max = self.special_tokens.iter().map(|&(_, id)| id).max().unwrap_or(0);
        self.model.max_id().max(special_max)
    }

    /// Bytes of a model or special token.
    pub fn id_to_token(&self, id: u32) -> Option<&[u8]> {
        self.model
            .token_bytes(id)
            .or_else(|| self.special_by_id.get(&id).map(|&index| self.special_tokens[index].0.as_bytes()))
    }

    /// Id of the model or special token with exactly these bytes (special tokens first).
    pub fn token_to_id(&self, bytes: &[u8]) -> Option<u32> {
        self.special_tokens
            .iter()
            .find(|(content, _)| content.as_bytes() == bytes)
            .map(|&(_, id)| id)
            .or_else(|| self.model.token_id(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokenizer over bytes with the merges (a,b) and (ab,c), and specials "<s>" (id 1000) and "<s>x" (1001).
    fn tokenizer(pre_tokenizer: &str) -> Tokenizer {
        let mut vocab: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (b as u32, vec![b])).collect();
        vocab.push((256, b"ab".to_vec()));
        vocab.push((257, b"abc".to_vec()));
        let model = BpeModel::new(vocab, vec![(97, 98), (256, 99)], false, false).unwrap();
        let specials = vec![("<s>".to_string(), 1000), ("<s>x".to_string(), 1001)];
        Tokenizer::new(PreTokenizer::new(pre_tokenizer).unwrap(), model, specials).unwrap()
    }

    fn policy(allowed: [bool; 2], disallowed: [bool; 2]) -> SpecialPolicy {
        SpecialPolicy { allowed: allowed.to_vec(), disallowed: disallowed.to_vec() }
    }

    #[test]
    fn special_policy() {
        let t = tokenizer("gpt2");
        // allowed: longest match "<s>x" wins over "<s>".
        let (ids, offsets) = t.encode("abc<s>xab", &policy([true, true], [false, false]), true).unwrap();
        assert_eq!(ids, vec![257, 1001, 256]);
        assert_eq!(offsets, vec![(0, 3), (3, 7), (7, 9)]);
        // disallowed: an error naming the token and its byte position.
        let err = t.encode("ab <s>", &policy([false, false], [true, true]), false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::SpecialToken);
        assert!(err.message.contains("\"<s>\"") && err.message.contains("byte 3"), "{}", err.message);
        // neither: plain text, split by the pre-tokenizer as usual: "<" "s" ">" are bytes 60 115 62.
        let (ids, _) = t.encode("<s>", &policy([false, false], [false, false]), false).unwrap();
        assert_eq!(ids, vec![60, 115, 62]);
    }

    #[test]
    fn offsets_cover_the_text() {
        let t = tokenizer("gpt2");
        let text = "abc abcab naïve";
        let (ids, offsets) = t.encode(text, &SpecialPolicy::default(), true).unwrap();
        assert_eq!(ids.len(), offsets.len());
        let mut at = 0;
        for (&id, &(start, end)) in ids.iter().zip(&offsets) {
            assert_eq!(start, at);
            assert_eq!(&text.as_bytes()[start..end], t.id_to_token(id).unwrap());
            at = end;
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn decode_and_lookups() {
        let t = tokenizer("gpt2");
        assert_eq!(t.decode_bytes(&[257, 1000, 32]).unwrap(), b"abc<s> ");
        let err = t.decode_bytes(&[97, 5000]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownId);
        assert!(err.message.contains("5000") && err.message.contains("position 1"));
        assert_eq!(t.token_to_id(b"<s>x"), Some(1001));
        assert_eq!(t.token_to_id(b"abc"), Some(257));
        assert_eq!(t.token_to_id(b"zz"), None);
        assert_eq!(t.vocab_size(), 260);
    }

    #[test]
    fn batch_equals_one_by_one() {
        let t = tokenizer("gpt4");
        let texts = ["abc", "", "ab ab abc", "xyz 123"];
        let batch = t.encode_batch(&texts, &SpecialPolicy::default()).unwrap();
        for (text, ids) in texts.iter().zip(batch) {
            assert_eq!(ids, t.encode(text, &SpecialPolicy::default(), false).unwrap().0);
        }
    }

    #[test]
    fn bad_special_tokens_are_refused() {
        let vocab: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (b as u32, vec![b])).collect();
        let model = BpeModel::new(vocab, vec![], false, false).unwrap();
        let pre = PreTokenizer::new("gpt2").unwrap();
        assert!(Tokenizer::new(pre.clone(), model.clone(), vec![("<s>".into(), 5)]).is_err());
        assert!(Tokenizer::new(pre.clone(), model.clone(), vec![("".into(), 300)]).is_err());
        assert!(Tokenizer::new(pre, model, vec![("<s>".into(), 300), ("<t>".into(), 300)]).is_err());
    }
}
