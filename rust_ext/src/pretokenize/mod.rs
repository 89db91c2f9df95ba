//! Pre-tokenizers: UTF-8 text -> byte spans of pre-tokens. (INTERFACE STUB: to be implemented.)
//!
//! Contract: `split_into` appends non-empty, contiguous, in-order spans that cover the whole text
//! (text a custom regex does not match becomes its own piece, as HF's `Isolated` does), so
//! concatenating the pieces gives the text back.

use crate::error::{Error, ErrorKind, Result};

/// Names of the built-in presets, in the order the docs list them.
pub const PRESETS: [&str; 6] = ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "none"];

#[derive(Clone, Debug)]
pub struct PreTokenizer {
    _private: (),
}

impl PreTokenizer {
    /// A preset by name (`PRESETS`) or, for any other string, a custom regex.
    pub fn new(spec: &str) -> Result<PreTokenizer> {
        let _ = spec;
        Err(Error::new(ErrorKind::InvalidArgument, "pre-tokenizer not implemented yet"))
    }

    /// The preset name, or "regex" for a custom pattern.
    pub fn name(&self) -> &str {
        unimplemented!()
    }

    /// The regex with the same splitting semantics (None for "none").
    pub fn pattern(&self) -> Option<&str> {
        unimplemented!()
    }

    /// Appends the byte spans `(start, end)` of the pre-tokens of `text` to `spans`.
    pub fn split_into(&self, text: &str, spans: &mut Vec<(usize, usize)>) -> Result<()> {
        let _ = (text, spans);
        unimplemented!()
    }
}
