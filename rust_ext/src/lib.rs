//! tokfree's Rust core: plain Rust, usable without Python. The PyO3 adapter is `py/`
//! (feature `python`), which is the only place that knows about Python objects.

pub mod bpe;
pub mod bytelevel;
pub mod morph;
pub mod error;
pub mod pretokenize;
pub mod tokenizer;
pub mod train;
pub mod words;

#[cfg(feature = "python")]
mod py;

#[cfg(test)]
mod test_rng;

pub use error::{Error, ErrorKind, Result};
