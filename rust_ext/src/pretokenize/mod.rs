//! Pre-tokenizers: UTF-8 text -> byte spans of pre-tokens.
//!
//! Contract: `split_into` appends non-empty, contiguous, in-order spans that cover the whole text
//! (text a custom regex does not match becomes its own piece, as HF's `Isolated` does), so
//! concatenating the pieces gives the text back.
//!
//! Presets run hand-written linear-time scanners (`scan.rs`) that split exactly as their regexes;
//! custom patterns run `fancy_regex` (the engine tiktoken uses), with a backtracking limit.

pub(crate) mod classes;
mod scan;

use crate::error::{Error, ErrorKind, Result};
use scan::Preset;

/// Names of the built-in presets, in the order the docs list them.
pub const PRESETS: [&str; 7] = ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword", "none"];

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
/// SuperBPE's stage 2: only digit groups and line breaks split, so a piece is a whole line.
const SUPERWORD: &str = r"\p{N}{1,3}|[\r\n]+|[^\p{N}\r\n]+";

/// The scanner and regex of a preset (None for "none" and for names that are not presets).
fn preset(name: &str) -> Option<(Preset, &'static str)> {
    match name {
        "gpt2" => Some((Preset::Gpt2, GPT2)),
        "gpt4" => Some((Preset::Gpt4, GPT4)),
        "o200k" => Some((Preset::O200k, O200K)),
        "llama3" => Some((Preset::Llama3, LLAMA3)),
        "whitespace" => Some((Preset::Whitespace, WHITESPACE)),
        "superword" => Some((Preset::Superword, SUPERWORD)),
        _ => None,
    }
}

#[derive(Clone, Debug)]
enum Splitter {
    /// The whole text is one piece.
    Whole,
    /// A preset's hand-written scanner.
    Scan(Preset),
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
        if let Some((scanner, pattern)) = preset(spec) {
            return Ok(PreTokenizer { name: spec.to_string(), pattern: Some(pattern.to_string()), splitter: Splitter::Scan(scanner) });
        }
        let regex = compile(spec)?;
        Ok(PreTokenizer { name: "regex".to_string(), pattern: Some(spec.to_string()), splitter: Splitter::Regex(Box::new(regex)) })
    }

    /// The preset name, or "regex" for a custom pattern.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The regex with the same splitting semantics (None for "none").
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Like `split_into` from byte `from` (0 or a value this returned), but a preset scanner stops
    /// after about `max_spans` spans: returns where to continue, `text.len()` when done. Lets a
    /// caller merge pre-tokens block by block, so the spans of a huge text never all exist at once.
    /// Custom patterns (which may look behind) and "none" do the whole text in one call.
    pub fn split_block(&self, text: &str, from: usize, max_spans: usize, spans: &mut Vec<(usize, usize)>) -> Result<usize> {
        match &self.splitter {
            Splitter::Scan(preset) => Ok(scan::split_from(*preset, text, from, max_spans.max(1), spans)),
            _ if from == 0 => self.split_into(text, spans).map(|()| text.len()),
            _ => Ok(text.len()),
        }
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
            Splitter::Scan(preset) => {
                scan::split(*preset, text, spans);
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
    use crate::test_rng::Rng;

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
        assert_eq!(pieces("superword", "Hi there, 12345 x\r\n\nend"), vec!["Hi there, ", "123", "45", " x", "\r\n\n", "end"]);
        assert_eq!(pieces("none", "a b"), vec!["a b"]);
        assert!(pieces("none", "").is_empty());
    }

    #[test]
    fn custom_regex_keeps_gaps() {
        assert_eq!(pieces(r"\d+", "ab12cd3"), vec!["ab", "12", "cd", "3"]);
        assert_eq!(pieces(r"x*", "abxxc"), vec!["ab", "xx", "c"]);
    }

    /// Every scanner splits as fancy-regex does with the preset's pattern, on random text weighted
    /// toward the hard cases (whitespace mixes, contractions, ſ, digits, case changes, marks, CJK).
    #[test]
    fn scanners_match_their_regex() {
        const HARD: &[&str] = &[
            " ", " ", " ", "  ", "\t", "\r", "\n", "\r\n", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}", "\u{b}",
            "'", "'", "s", "S", "t", "T", "re", "RE", "ve", "ll", "Ll", "m", "d", "D", "\u{17f}", "'s", "'T", "'re",
            "1", "23", "4567", "\u{663}", "\u{2164}", "a", "b", "Z", "Hello", "world", "\u{1c5}", "\u{2b0}",
            "\u{301}", "\u{308}", "\u{e9}", "\u{c9}", "\u{4e2d}", "\u{6587}", "\u{3072}", "\u{d55c}",
            "\u{5e9}", "\u{645}", "!", "?", ".", ",", "/", "//", "-", "(", "\u{1f600}", "\u{1d518}", "\u{df}",
        ];
        let mut rng = Rng::new(2);
        for name in ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword"] {
            let scanner = PreTokenizer::new(name).unwrap();
            let regex = PreTokenizer { name: "regex".into(), pattern: scanner.pattern.clone(), splitter: Splitter::Regex(Box::new(compile(scanner.pattern().unwrap()).unwrap())) };
            for case in 0..20_000 {
                let text: String = (0..rng.below(14)).map(|_| HARD[rng.below(HARD.len())]).collect();
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                scanner.split_into(&text, &mut ours).unwrap();
                regex.split_into(&text, &mut theirs).unwrap();
                assert_eq!(ours, theirs, "{name} case {case}: {text:?}");
            }
        }
    }

    /// Splitting block by block (resuming where the last block stopped) gives the spans of one
    /// whole split, for every splitter and block size, on texts of many pieces.
    #[test]
    fn blocks_resume_exactly() {
        const PARTS: &[&str] = &[" ", "  ", "\n", "\r\n", "\t", "a", "Hello", " world", "'s", "12345", "!?", "\u{e9}", "\u{4e2d}", "\u{a0}", "\u{301}"];
        let mut rng = Rng::new(9);
        for name in ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword", "none", r"\d+"] {
            let splitter = PreTokenizer::new(name).unwrap();
            for _ in 0..300 {
                let text: String = (0..rng.below(60)).map(|_| PARTS[rng.below(PARTS.len())]).collect();
                let mut whole = Vec::new();
                splitter.split_into(&text, &mut whole).unwrap();
                for max_spans in [1, 2, 3, 7, 1000] {
                    let (mut blocks, mut from) = (Vec::new(), 0);
                    while from < text.len() {
                        let before = blocks.len();
                        from = splitter.split_block(&text, from, max_spans, &mut blocks).unwrap();
                        assert!(blocks.len() > before, "{name}: a block must make progress");
                    }
                    assert_eq!(blocks, whole, "{name}, {max_spans} spans a block: {text:?}");
                }
            }
        }
    }

    #[test]
    fn long_runs_are_linear() {
        for name in ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "superword"] {
            let splitter = PreTokenizer::new(name).unwrap();
            for text in ["a".repeat(1 << 20), " ".repeat(1 << 20), format!("{}x", " ".repeat(1 << 20)), "\n".repeat(1 << 20)] {
                let mut spans = Vec::new();
                splitter.split_into(&text, &mut spans).unwrap();
                assert_eq!(spans.first().unwrap().0, 0);
                assert_eq!(spans.last().unwrap().1, text.len());
                assert!(spans.windows(2).all(|w| w[0].1 == w[1].0));
            }
        }
    }

    #[test]
    fn invalid_regex_is_an_error() {
        let err = PreTokenizer::new("(unclosed").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRegex);
        assert!(err.message.contains("(unclosed"));
    }
}
