//! Pre-tokenizers: UTF-8 text -> byte spans of pre-tokens.
//!
//! Contract: `split_into` appends non-empty, contiguous, in-order spans that cover the whole text
//! (text a custom regex does not match becomes its own piece, as HF's `Isolated` does), so
//! concatenating the pieces gives the text back.
//!
//! This version matches every preset with `fancy_regex` (the engine tiktoken uses), so the
//! semantics are exactly the patterns'. Hand-written linear-time scanners replace it for the presets.

use crate::error::{Error, ErrorKind, Result};

/// Names of the built-in presets, in the order the docs list them.
pub const PRESETS: [&str; 6] = ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "none"];

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
// tiktoken's cl100k_base pattern, except `\p{N}{1,3}+` -> `\p{N}{1,3}`: the same language (the
// possessive is redundant there), but Oniguruma (HF tokenizers) reads `{1,3}+` as "one or more
// runs of 1-3 digits", so only this spelling splits identically in tiktoken, HF and `regex`.
const GPT4: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const WHITESPACE: &str = r" ?\S+|\s+(?!\S)|\s+";

/// The regex of a preset (None for "none" and for names that are not presets).
fn preset_pattern(name: &str) -> Option<&'static str> {
    match name {
        "gpt2" => Some(GPT2),
        "gpt4" => Some(GPT4),
        "o200k" => Some(O200K),
        "llama3" => Some(LLAMA3),
        "whitespace" => Some(WHITESPACE),
        _ => None,
    }
}

#[derive(Clone, Debug)]
enum Splitter {
    /// The whole text is one piece.
    Whole,
    /// Matches of a regex, with unmatched gaps kept as pieces.
    Regex(Box<fancy_regex::Regex>),
}

#[derive(Clone, Debug)]
pub struct PreTokenizer {
    name: String,
    pattern: Option<String>,
    splitter: Splitter,
}

fn compile(pattern: &str) -> Result<fancy_regex::Regex> {
    fancy_regex::RegexBuilder::new(pattern)
        // fancy-regex backtracks on look-arounds; bound it so hostile input errors instead of hanging.
        .backtrack_limit(10_000_000)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidRegex,
                format!("pre-tokenizer pattern {pattern:?} is not a valid regex ({e}); fix the pattern or use a preset: {PRESETS:?}"),
            )
        })
}

impl PreTokenizer {
    /// A preset by name (`PRESETS`) or, for any other string, a custom regex.
    pub fn new(spec: &str) -> Result<PreTokenizer> {
        if spec == "none" {
            return Ok(PreTokenizer { name: "none".into(), pattern: None, splitter: Splitter::Whole });
        }
        if spec.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidRegex,
                format!("pre-tokenizer \"\" is empty; pass a preset {PRESETS:?} or a non-empty regex"),
            ));
        }
        let (name, pattern) = match preset_pattern(spec) {
            Some(pattern) => (spec.to_string(), pattern.to_string()),
            None => ("regex".to_string(), spec.to_string()),
        };
        let regex = compile(&pattern)?;
        Ok(PreTokenizer { name, pattern: Some(pattern), splitter: Splitter::Regex(Box::new(regex)) })
    }

    /// The preset name, or "regex" for a custom pattern.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The regex with the same splitting semantics (None for "none").
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Appends the byte spans `(start, end)` of the pre-tokens of `text` to `spans`.
    pub fn split_into(&self, text: &str, spans: &mut Vec<(usize, usize)>) -> Result<()> {
        match &self.splitter {
            Splitter::Whole => {
                if !text.is_empty() {
                    spans.push((0, text.len()));
                }
                Ok(())
            }
            Splitter::Regex(regex) => {
                let mut covered = 0;
                for found in regex.find_iter(text) {
                    let found = found.map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidRegex,
                            format!(
                                "pre-tokenizer pattern {:?} failed on a text of {} bytes near byte {covered} ({e}); \
                                 simplify the pattern (avoid look-arounds on long runs) or use a preset",
                                self.pattern.as_deref().unwrap_or(""),
                                text.len()
                            ),
                        )
                    })?;
                    if found.start() == found.end() {
                        continue;
                    }
                    if found.start() > covered {
                        spans.push((covered, found.start()));
                    }
                    spans.push((found.start(), found.end()));
                    covered = found.end();
                }
                if covered < text.len() {
                    spans.push((covered, text.len()));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces<'a>(spec: &str, text: &'a str) -> Vec<&'a str> {
        let mut spans = Vec::new();
        PreTokenizer::new(spec).unwrap().split_into(text, &mut spans).unwrap();
        spans.iter().map(|&(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn hand_derived_examples() {
        assert_eq!(pieces("gpt2", "Hello world!! 123"), vec!["Hello", " world", "!!", " 123"]);
        assert_eq!(pieces("gpt2", "a  b"), vec!["a", " ", " b"]);
        assert_eq!(pieces("gpt4", "12345 it's"), vec!["123", "45", " it", "'s"]);
        assert_eq!(pieces("gpt4", "\r\u{a0}"), vec!["\r\u{a0}"]);
        assert_eq!(pieces("llama3", "\r\u{a0}"), vec!["\r", "\u{a0}"]);
        assert_eq!(pieces("o200k", "HelloWorld don't"), vec!["Hello", "World", " don't"]);
        assert_eq!(pieces("whitespace", "a  b\n"), vec!["a", " ", " b", "\n"]);
        assert_eq!(pieces("none", "a b"), vec!["a b"]);
        assert!(pieces("none", "").is_empty());
    }

    #[test]
    fn custom_regex_keeps_gaps() {
        assert_eq!(pieces(r"\d+", "ab12cd3"), vec!["ab", "12", "cd", "3"]);
        assert_eq!(pieces(r"x*", "abxxc"), vec!["ab", "xx", "c"]);
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let err = PreTokenizer::new("(unclosed").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRegex);
        assert!(err.message.contains("(unclosed"));
    }
}
