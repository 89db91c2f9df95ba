//! The word splitter of HAT (Neitemeier et al. 2025): UTF-8 text -> the byte offsets of its words.
//!
//! Words are what tokfree's word-pooling and hierarchical models pool bytes into. The rule, in order:
//!
//! 1. Unicode word boundaries (UAX #29, `unicode-segmentation`).
//! 2. Each punctuation character (`\p{P}`) becomes a piece of its own, together with the
//!    Extend/Format/ZWJ characters that follow it (UAX #29's WB4 attaches those to the character
//!    before them, so a piece may not start with one: alone it would split differently).
//! 3. camelCase splits between a `\p{Ll}` and a following `\p{Lu}`.
//! 4. Consecutive pieces that are a single space `" "` merge into one run.
//! 5. Pieces group into words. A whitespace piece other than a single space (a newline, a tab, a
//!    run of spaces; "whitespace" = Unicode White_Space) is a word of its own; otherwise a word is
//!    [one single-space piece] + [one other piece] + [all following punctuation pieces], each part
//!    optional but the word non-empty.
//!
//! An optional cap `max_bytes` then chops longer words: each cut goes at the last character
//! boundary that keeps the piece within the cap, and inside a character only when that character
//! alone is longer than the cap (`max_bytes` < 4). So "Hello, world!" gives `Hello,| world!`, and
//! with a cap of 4 `Hell|o,| wor|ld!`.
//!
//! Contract: the offsets start at 0, end at the text's length and strictly increase, so the words
//! cover the text exactly once (lossless). One pass, no allocation besides the output; never panics.
//! This file knows nothing about models or Python.

use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, ErrorKind, Result};
use crate::pretokenize::classes::{table, LOWERCASE, PUNCTUATION, SPACE, UPPERCASE};

/// What a piece (the output of steps 1-4) is, for grouping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Exactly one U+0020.
    Space,
    /// Only White_Space characters, and not a single space (merged spaces included).
    Whitespace,
    /// One `\p{P}` character.
    Punctuation,
    /// Anything else.
    Other,
}

/// Whether a piece of kind `next` continues the word whose last piece has kind `last`.
/// A word is `Space? Other? Punctuation*`, so continuing is a property of neighbours alone.
fn continues(last: Kind, next: Kind) -> bool {
    matches!((last, next), (Kind::Space, Kind::Other) | (Kind::Space | Kind::Other | Kind::Punctuation, Kind::Punctuation))
}

/// Turns pieces into word boundaries, chopping words longer than the cap as they close.
struct Grouper<'a> {
    bytes: &'a [u8],
    max_bytes: usize,
    out: &'a mut Vec<usize>,
    /// Where the open word starts.
    word_start: usize,
    /// The kind of the open word's last piece (None before the first piece).
    last: Option<Kind>,
    /// The last piece is a run of single-space pieces (step 4 extends it with the next one).
    in_space_run: bool,
}

impl Grouper<'_> {
    fn piece(&mut self, start: usize, kind: Kind) {
        if kind == Kind::Space && self.in_space_run {
            // Step 4: two or more single spaces are one whitespace run. Nothing continues a
            // space or a whitespace run, so no boundary decided earlier changes.
            self.last = Some(Kind::Whitespace);
            return;
        }
        if let Some(last) = self.last {
            if !continues(last, kind) {
                self.close(start);
            }
        }
        self.last = Some(kind);
        self.in_space_run = kind == Kind::Space;
    }

    /// Ends the open word at `end`, cut into pieces of at most `max_bytes` bytes.
    fn close(&mut self, end: usize) {
        while end - self.word_start > self.max_bytes {
            let limit = self.word_start + self.max_bytes;
            // The last character boundary in (word_start, limit]; a UTF-8 character is at most 4
            // bytes, so this looks back at most 3 bytes. None: one character longer than the cap.
            let cut = (self.word_start + 1..=limit).rev().take(4).find(|&i| is_char_boundary(self.bytes, i)).unwrap_or(limit);
            self.out.push(cut);
            self.word_start = cut;
        }
        self.out.push(end);
        self.word_start = end;
    }
}

/// `bytes[i]` starts a character (or `i` is the end). `bytes` is valid UTF-8.
fn is_char_boundary(bytes: &[u8], i: usize) -> bool {
    i >= bytes.len() || (bytes[i] as i8) >= -0x40
}

/// Appends to `out` the word boundaries of `text`: `0`, then the end of every word, so word `k` is
/// `text[out[k]..out[k + 1]]` (offsets relative to `text`). The empty text gives `[0]`.
///
/// `max_bytes`: the longest word in bytes (None: no cap); 0 is an `InvalidArgument` error.
pub fn word_boundaries_into(text: &str, max_bytes: Option<usize>, out: &mut Vec<usize>) -> Result<()> {
    if max_bytes == Some(0) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "max_bytes=0 is not allowed: a word holds at least one byte; pass max_bytes >= 1, or None for no cap",
        ));
    }
    let classes = table();
    out.push(0);
    let mut grouper = Grouper {
        bytes: text.as_bytes(),
        max_bytes: max_bytes.unwrap_or(usize::MAX),
        out,
        word_start: 0,
        last: None,
        in_space_run: false,
    };
    for (segment_start, segment) in text.split_word_bound_indices() {
        // Steps 2-3 inside one UAX #29 segment: a piece ends before and after every punctuation
        // character and between a lowercase and an uppercase letter.
        let mut start = segment_start; // of the current piece
        let mut all_space = true; // every character of the current piece is White_Space
        let mut after_lowercase = false; // the previous character of the current piece is \p{Ll}
        let mut after_punctuation = false; // the previous piece is punctuation (plus what it absorbed)
        for (offset, c) in segment.char_indices() {
            let at = segment_start + offset;
            if after_punctuation && joins_previous(c) {
                start = at + c.len_utf8();
                continue;
            }
            after_punctuation = false;
            let flags = classes[c as usize];
            if flags & PUNCTUATION != 0 {
                if at > start {
                    grouper.piece(start, plain_kind(text, start, at, all_space));
                }
                grouper.piece(at, Kind::Punctuation);
                start = at + c.len_utf8();
                all_space = true;
                after_lowercase = false;
                after_punctuation = true;
                continue;
            }
            if after_lowercase && flags & UPPERCASE != 0 {
                grouper.piece(start, plain_kind(text, start, at, all_space));
                start = at;
                all_space = true;
            }
            after_lowercase = flags & LOWERCASE != 0;
            all_space &= flags & SPACE != 0;
        }
        let end = segment_start + segment.len();
        if end > start {
            grouper.piece(start, plain_kind(text, start, end, all_space));
        }
    }
    if !text.is_empty() {
        grouper.close(text.len());
    }
    Ok(())
}

/// Whether `c` is Word_Break Extend, Format or ZWJ, i.e. WB4 attaches it to the character before.
/// Asked of the segmenter itself so both agree on every code point: after a comma at the start of
/// a text no rule but WB4 keeps the next character in the comma's segment. ASCII has no such
/// character, so the common case costs one comparison.
fn joins_previous(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    let mut buf = [b','; 5];
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    match std::str::from_utf8(&buf[..len]) {
        Ok(text) => text.split_word_bounds().nth(1).is_none(),
        Err(_) => false,
    }
}

/// The kind of the non-punctuation piece `text[start..end]`.
fn plain_kind(text: &str, start: usize, end: usize, all_space: bool) -> Kind {
    if &text.as_bytes()[start..end] == b" " {
        Kind::Space
    } else if all_space {
        Kind::Whitespace
    } else {
        Kind::Other
    }
}

/// The word boundaries of `text` (see `word_boundaries_into`).
pub fn word_boundaries(text: &str, max_bytes: Option<usize>) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(text.len() / 4 + 2);
    word_boundaries_into(text, max_bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn words(text: &str) -> Vec<&str> {
        let b = word_boundaries(text, None).unwrap();
        b.windows(2).map(|w| &text[w[0]..w[1]]).collect()
    }

    fn capped(text: &str, max_bytes: usize) -> Vec<&[u8]> {
        let b = word_boundaries(text, Some(max_bytes)).unwrap();
        b.windows(2).map(|w| &text.as_bytes()[w[0]..w[1]]).collect()
    }

    #[test]
    fn hat_examples() {
        assert_eq!(words("Hello, world!"), ["Hello,", " world!"]);
        assert_eq!(words("howAreYou"), ["how", "Are", "You"]);
        assert_eq!(words("how_are_you"), ["how_", "are_", "you"]);
        assert_eq!(capped("Hello, world!", 4), [&b"Hell"[..], b"o,", b" wor", b"ld!"]);
    }

    #[test]
    fn marks_after_punctuation_stay_with_it() {
        // WB4 keeps "_\u{200d}a" one UAX #29 segment; split after the ZWJ, "\u{200d}a" alone would
        // be two segments, so the ZWJ (and an accent, a soft hyphen) goes with the punctuation.
        assert_eq!(words("_\u{200d}a"), ["_\u{200d}", "a"]);
        assert_eq!(words("a.\u{301}b"), ["a.\u{301}", "b"]);
        assert_eq!(words("x,\u{ad}y"), ["x,\u{ad}", "y"]);
        assert!(joins_previous('\u{200d}') && joins_previous('\u{301}') && joins_previous('\u{ad}'));
        assert!(!joins_previous('a') && !joins_previous('é') && !joins_previous('\n') && !joins_previous('1'));
    }

    #[test]
    fn empty_text() {
        assert_eq!(word_boundaries("", None).unwrap(), [0]);
        assert_eq!(word_boundaries("", Some(1)).unwrap(), [0]);
    }

    #[test]
    fn whitespace_runs_are_words() {
        assert_eq!(words("a\nb"), ["a", "\n", "b"]);
        assert_eq!(words("a\r\nb"), ["a", "\r\n", "b"]);
        assert_eq!(words("a\tb"), ["a", "\t", "b"]);
        assert_eq!(words("a  b"), ["a", "  ", "b"]);
        assert_eq!(words("a \nb"), ["a", " ", "\n", "b"]);
        assert_eq!(words(" a"), [" a"]);
        assert_eq!(words("a "), ["a", " "]);
        assert_eq!(words("\n\n"), ["\n", "\n"]);
    }

    #[test]
    fn punctuation_attaches_to_the_word_before() {
        assert_eq!(words("(hi)"), ["(", "hi)"]);
        assert_eq!(words("a... b"), ["a...", " b"]);
        assert_eq!(words(" ."), [" ."]);
        assert_eq!(words("can't"), ["can'", "t"]);
        assert_eq!(words("3.14"), ["3.", "14"]);
        assert_eq!(words("x = y"), ["x", " =", " y"]); // '=' is \p{Sm}, not punctuation
    }

    #[test]
    fn scripts_and_marks() {
        assert_eq!(words("中文字"), ["中", "文", "字"]);
        assert_eq!(words("e\u{301}te\u{301}"), ["e\u{301}te\u{301}"]);
        assert_eq!(words("👍🏽 ok"), ["👍🏽", " ok"]);
    }

    #[test]
    fn cap_prefers_character_boundaries() {
        assert_eq!(capped("für", 2), [&b"f"[..], "ü".as_bytes(), b"r"]);
        assert_eq!(capped("😀", 2), [&[0xF0, 0x9F][..], &[0x98, 0x80]]);
        assert_eq!(capped("abc", 1), [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn zero_cap_is_an_error() {
        let err = word_boundaries("abc", Some(0)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("max_bytes=0"));
    }

    #[test]
    fn random_texts_are_covered_and_capped() {
        let alphabet: Vec<char> = " \t\n\r.,!?'\"-_()aAbBzZ0159éÉ\u{301}中ひ😀\u{200d}🏽\u{a0}\u{3000}ſ".chars().collect();
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let len = rng.below(30);
            let text: String = (0..len)
                .map(|_| if rng.below(8) == 0 { char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x') } else { alphabet[rng.below(alphabet.len())] })
                .collect();
            for cap in [None, Some(1), Some(2), Some(3), Some(5)] {
                let b = word_boundaries(&text, cap).unwrap();
                assert_eq!(b[0], 0);
                assert_eq!(*b.last().unwrap(), text.len());
                assert!(b.windows(2).all(|w| w[0] < w[1]), "{text:?} {b:?}");
                if let Some(cap) = cap {
                    assert!(b.windows(2).all(|w| w[1] - w[0] <= cap));
                }
            }
        }
    }

    #[test]
    fn long_pathological_inputs_are_linear() {
        // One word of 1 MiB, 1 MiB of spaces, of punctuation, of alternating case: each finishes
        // (a quadratic path would take minutes here).
        for unit in ["a", " ", ".", "aA", "\u{301}", "🇦", "1,"] {
            let text = unit.repeat((1 << 20) / unit.len());
            let b = word_boundaries(&text, Some(64)).unwrap();
            assert_eq!(*b.last().unwrap(), text.len());
        }
    }
}
