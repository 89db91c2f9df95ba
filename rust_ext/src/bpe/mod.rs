//! The byte-level BPE model: pre-token bytes -> ids, ids -> bytes. (INTERFACE STUB: to be implemented.)

use crate::error::Result;

/// A byte-level BPE vocabulary with ranked merges (HF semantics: merge the adjacent pair of
/// lowest rank, leftmost first; `ignore_merges` = a pre-token that is itself a token is one id).
#[derive(Clone, Debug)]
pub struct BpeModel {
    _private: (),
}

impl BpeModel {
    /// `vocab`: every model token as (id, bytes); ids unique, bytes unique, all 256 single bytes present.
    /// `merges`: (left id, right id) in rank order; the concatenation of each pair must be a token.
    pub fn new(vocab: Vec<(u32, Vec<u8>)>, merges: Vec<(u32, u32)>, ignore_merges: bool) -> Result<BpeModel> {
        let _ = (vocab, merges, ignore_merges);
        unimplemented!()
    }

    /// Number of model tokens (not counting special tokens).
    pub fn len(&self) -> usize {
        unimplemented!()
    }

    /// The bytes of token `id`, if it is a model token.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let _ = id;
        unimplemented!()
    }

    /// The id of the token with exactly these bytes.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        let _ = bytes;
        unimplemented!()
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[(u32, u32)] {
        unimplemented!()
    }

    pub fn ignore_merges(&self) -> bool {
        unimplemented!()
    }

    /// Appends the ids of one pre-token to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        let _ = (piece, out);
        unimplemented!()
    }
}
