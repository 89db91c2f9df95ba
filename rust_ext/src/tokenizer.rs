//! Tokenizer = pre-tokenizer + BPE model + special tokens. (INTERFACE STUB: to be implemented.)

use crate::bpe::BpeModel;
use crate::error::Result;
use crate::pretokenize::PreTokenizer;

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
    _private: (),
}

impl Tokenizer {
    /// `special_tokens`: (content, id); ids must not be model ids, contents unique and non-empty.
    pub fn new(pre_tokenizer: PreTokenizer, model: BpeModel, special_tokens: Vec<(String, u32)>) -> Result<Tokenizer> {
        let _ = (pre_tokenizer, model, special_tokens);
        unimplemented!()
    }

    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        unimplemented!()
    }

    pub fn model(&self) -> &BpeModel {
        unimplemented!()
    }

    pub fn special_tokens(&self) -> &[(String, u32)] {
        unimplemented!()
    }

    /// Model tokens + special tokens.
    pub fn vocab_size(&self) -> usize {
        unimplemented!()
    }

    /// Ids and, when `with_offsets`, the byte span of each id in `text` (else empty).
    pub fn encode(&self, text: &str, policy: &SpecialPolicy, with_offsets: bool) -> Result<(Vec<u32>, Vec<(usize, usize)>)> {
        let _ = (text, policy, with_offsets);
        unimplemented!()
    }

    /// `encode` over many texts in parallel (rayon); results in input order.
    pub fn encode_batch(&self, texts: &[&str], policy: &SpecialPolicy) -> Result<Vec<Vec<u32>>> {
        let _ = (texts, policy);
        unimplemented!()
    }

    /// The bytes of the ids; an unknown id is an `ErrorKind::UnknownId` error naming it.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let _ = ids;
        unimplemented!()
    }

    /// Bytes of a model or special token.
    pub fn id_to_token(&self, id: u32) -> Option<&[u8]> {
        let _ = id;
        unimplemented!()
    }

    /// Id of the model or special token with exactly these bytes (special tokens first).
    pub fn token_to_id(&self, bytes: &[u8]) -> Option<u32> {
        let _ = bytes;
        unimplemented!()
    }
}
