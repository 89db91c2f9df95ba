//! The one error type of the Rust core. Every fallible path on user data returns `Result`;
//! the PyO3 adapter turns an `Error` into `tokfree.TokfreeError` (or its subclass for `kind`).

use std::fmt;

/// What went wrong, so the Python side can raise the matching `TokfreeError` subclass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad argument value (vocab size too small, unknown option, ...).
    InvalidArgument,
    /// A pre-tokenizer pattern that does not compile, or that failed while matching.
    InvalidRegex,
    /// A file that could not be read.
    Io,
    /// A malformed tokenizer description (vocab, merges, special tokens).
    Format,
    /// Special-token text found in user input where it is not allowed.
    SpecialToken,
    /// An id that is not in the vocabulary.
    UnknownId,
    /// Training found nothing to learn from.
    EmptyCorpus,
}

/// An error with a message that names the value, the rule and the fix.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
