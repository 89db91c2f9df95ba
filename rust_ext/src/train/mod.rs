//! Byte-level BPE training. (INTERFACE STUB: to be implemented.)

use crate::error::Result;
use crate::pretokenize::PreTokenizer;

/// Streams text in and keeps only the distinct pre-tokens with their counts.
pub struct PretokenCounter {
    _private: (),
}

impl PretokenCounter {
    pub fn new(pre_tokenizer: PreTokenizer) -> PretokenCounter {
        let _ = pre_tokenizer;
        unimplemented!()
    }

    /// Counts the pre-tokens of each text (each text is its own document), in parallel.
    pub fn add_texts(&mut self, texts: &[&str]) -> Result<()> {
        let _ = texts;
        unimplemented!()
    }

    /// Streams a UTF-8 file in bounded chunks; invalid UTF-8 is an error naming file and byte offset.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<()> {
        let _ = path;
        unimplemented!()
    }

    /// Number of distinct pre-tokens seen so far.
    pub fn distinct(&self) -> usize {
        unimplemented!()
    }
}

pub struct TrainerConfig {
    /// Total vocabulary size: special tokens + 256 bytes + merges.
    pub vocab_size: usize,
    /// A pair is merged only if it occurs at least this often.
    pub min_frequency: u64,
    /// Longest token allowed, in bytes (None = no limit).
    pub max_token_length: Option<usize>,
    /// Special tokens, given ids 0..k in this order.
    pub special_tokens: Vec<String>,
}

/// The result: ids 0..k are the special tokens, k..k+256 the bytes 0..=255, then one id per new merged token.
pub struct TrainedBpe {
    pub special_tokens: Vec<(String, u32)>,
    /// (id, bytes) of every model token (bytes and merged tokens).
    pub vocab: Vec<(u32, Vec<u8>)>,
    /// (left id, right id) in rank order (a merge whose bytes already exist reuses that id).
    pub merges: Vec<(u32, u32)>,
}

/// Runs the merge loop. `progress(done, total)` is called now and then with the number of merges.
pub fn train(counter: PretokenCounter, config: &TrainerConfig, progress: &mut dyn FnMut(usize, usize)) -> Result<TrainedBpe> {
    let _ = (counter, config, progress);
    unimplemented!()
}
