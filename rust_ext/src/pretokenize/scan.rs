//! Hand-written scanners for the preset patterns: exact to the regex semantics, linear time.
//!
//! Each preset's regex reduces to a dispatch on the first character or two plus forward runs, so
//! no backtracking engine is needed: `\s+(?!\S)` gives back exactly one character before a
//! non-space, `\s*[\r\n]` ends after the last newline of a whitespace run, and o200k's overlapping
//! upper/lower classes give back to the last character that is both. Every character is looked at
//! a bounded number of times, so 1 MiB of spaces costs what 1 MiB of prose does (fancy-regex
//! overflows its stack there). The patterns themselves live in `mod.rs`; tests compare the two.

use super::classes::{table, LETTER, LOWERISH, NUMBER, SPACE, UPPERISH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Gpt2,
    Gpt4,
    O200k,
    Llama3,
    Whitespace,
    Superword,
}

const CR: u32 = '\r' as u32;
const LF: u32 = '\n' as u32;
const LONG_S: u32 = 0x17F; // 'ſ' case-folds to 's', so `(?i:'s)` matches "'ſ"

struct Text<'a> {
    bytes: &'a [u8],
    classes: &'static [u8],
}

impl Text<'_> {
    /// The code point at byte `i` (a char boundary) and its UTF-8 length.
    #[inline(always)]
    fn char_at(&self, i: usize) -> (u32, usize) {
        let b = self.bytes;
        let b0 = b[i];
        if b0 < 0x80 {
            (b0 as u32, 1)
        } else if b0 < 0xE0 {
            (((b0 as u32 & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
        } else if b0 < 0xF0 {
            (((b0 as u32 & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F), 3)
        } else {
            (
                ((b0 as u32 & 0x07) << 18) | ((b[i + 1] as u32 & 0x3F) << 12) | ((b[i + 2] as u32 & 0x3F) << 6) | (b[i + 3] as u32 & 0x3F),
                4,
            )
        }
    }

    #[inline(always)]
    fn class(&self, cp: u32) -> u8 {
        self.classes[cp as usize]
    }

    /// The class flags of the char at `i`, or 0 at the end of the text.
    #[inline(always)]
    fn class_at(&self, i: usize) -> u8 {
        if i < self.bytes.len() {
            self.class(self.char_at(i).0)
        } else {
            0
        }
    }

    /// End of the run of chars from `i` whose flags satisfy `keep`.
    #[inline(always)]
    fn run(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        while i < self.bytes.len() {
            let (cp, len) = self.char_at(i);
            if !keep(self.class(cp)) {
                break;
            }
            i += len;
        }
        i
    }

    /// A run of at most `max` chars of class `flag` from `i`.
    fn run_max(&self, mut i: usize, flag: u8, max: usize) -> usize {
        for _ in 0..max {
            if i >= self.bytes.len() {
                break;
            }
            let (cp, len) = self.char_at(i);
            if self.class(cp) & flag == 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// "Other": not whitespace, not a letter, not a number (`[^\s\p{L}\p{N}]`).
    #[inline(always)]
    fn is_other(flags: u8) -> bool {
        flags & (SPACE | LETTER | NUMBER) == 0
    }

    /// A contraction at `i` (`'s|'t|'re|'ve|'m|'ll|'d`): its end, or None.
    fn contraction(&self, i: usize, ignore_case: bool) -> Option<usize> {
        let b = self.bytes;
        if i >= b.len() || b[i] != b'\'' || i + 1 >= b.len() {
            return None;
        }
        let fold = |c: u8| if ignore_case { c.to_ascii_lowercase() } else { c };
        let second = fold(b[i + 1]);
        if matches!(second, b's' | b't' | b'm' | b'd') {
            return Some(i + 2);
        }
        if ignore_case && self.char_at(i + 1).0 == LONG_S {
            return Some(i + 3);
        }
        if i + 2 < b.len() {
            let pair = (second, fold(b[i + 2]));
            if matches!(pair, (b'r', b'e') | (b'v', b'e') | (b'l', b'l')) {
                return Some(i + 3);
            }
        }
        None
    }

    /// The whitespace run starting at `i`: (end, start of its last char, end of its last newline).
    fn space_run(&self, i: usize) -> (usize, usize, Option<usize>) {
        let (mut at, mut last, mut newline) = (i, i, None);
        while at < self.bytes.len() {
            let (cp, len) = self.char_at(at);
            if self.class(cp) & SPACE == 0 {
                break;
            }
            if cp == CR || cp == LF {
                newline = Some(at + len);
            }
            last = at;
            at += len;
        }
        (at, last, newline)
    }

    /// `\s+(?!\S)|\s+` from `i` (a space char): the whole run at the end of the text, else all but
    /// its last char (which then starts the next piece), else the single char.
    fn gpt2_spaces(&self, i: usize) -> usize {
        let (end, last, _) = self.space_run(i);
        if end == self.bytes.len() || last == i {
            end
        } else {
            last
        }
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+` (cl100k/llama3/o200k order), with tiktoken's `\s++$` first if
    /// `run_to_end_first`: a run that reaches the end of the text is then one piece.
    fn newline_spaces(&self, i: usize, run_to_end_first: bool) -> usize {
        let (end, last, newline) = self.space_run(i);
        if run_to_end_first && end == self.bytes.len() {
            return end;
        }
        if let Some(after_newline) = newline {
            return after_newline;
        }
        if end == self.bytes.len() || last == i {
            end
        } else {
            last
        }
    }

    fn gpt2(&self, i: usize) -> usize {
        if let Some(end) = self.contraction(i, false) {
            return end;
        }
        let (cp, len) = self.char_at(i);
        // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`: a leading space is not a letter, number or
        // "other", so only the "with the space" forms can match when `cp` is a space.
        let (j, flags) = if cp == ' ' as u32 { (i + len, self.class_at(i + len)) } else { (i, self.class(cp)) };
        if flags & LETTER != 0 {
            return self.run(j, |f| f & LETTER != 0);
        }
        if flags & NUMBER != 0 {
            return self.run(j, |f| f & NUMBER != 0);
        }
        if j < self.bytes.len() && Self::is_other(flags) {
            return self.run(j, Self::is_other);
        }
        self.gpt2_spaces(i)
    }

    /// `\p{N}{1,3}|[\r\n]+|[^\p{N}\r\n]+`
    fn superword(&self, i: usize) -> usize {
        let b = self.bytes;
        let line_break = |byte: u8| byte == b'\r' || byte == b'\n';
        if line_break(b[i]) {
            return self.newline_tail(i, false);
        }
        let flags = self.class(self.char_at(i).0);
        if flags & NUMBER != 0 {
            return self.run_max(i, NUMBER, 3);
        }
        let mut at = i;
        while at < b.len() && !line_break(b[at]) {
            let (cp, len) = self.char_at(at);
            if self.class(cp) & NUMBER != 0 {
                break;
            }
            at += len;
        }
        at
    }

    fn whitespace(&self, i: usize) -> usize {
        let (cp, len) = self.char_at(i);
        let not_space = |f: u8| f & SPACE == 0;
        if self.class(cp) & SPACE == 0 {
            return self.run(i, not_space);
        }
        if cp == ' ' as u32 && i + len < self.bytes.len() && not_space(self.class_at(i + len)) {
            return self.run(i + len, not_space);
        }
        self.gpt2_spaces(i)
    }

    /// cl100k (tiktoken, `run_to_end_first`) and Llama 3.
    fn cl100k(&self, i: usize, run_to_end_first: bool) -> usize {
        if let Some(end) = self.contraction(i, true) {
            return end;
        }
        let (cp, len) = self.char_at(i);
        let flags = self.class(cp);
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if flags & LETTER != 0 {
            return self.run(i, |f| f & LETTER != 0);
        }
        if cp != CR && cp != LF && flags & NUMBER == 0 && self.class_at(i + len) & LETTER != 0 {
            return self.run(i + len, |f| f & LETTER != 0);
        }
        // `\p{N}{1,3}`
        if flags & NUMBER != 0 {
            return self.run_max(i, NUMBER, 3);
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if let Some(end) = self.other_run(i, cp, len, flags) {
            return self.newline_tail(end, false);
        }
        self.newline_spaces(i, run_to_end_first)
    }

    /// ` ?[^\s\p{L}\p{N}]+` at `i` (whose char is `cp`, `len` bytes, class `flags`): its end, or None.
    fn other_run(&self, i: usize, cp: u32, len: usize, flags: u8) -> Option<usize> {
        let from = if cp == ' ' as u32 && i + len < self.bytes.len() && Self::is_other(self.class_at(i + len)) {
            i + len
        } else if Self::is_other(flags) {
            i
        } else {
            return None;
        };
        Some(self.run(from, Self::is_other))
    }

    /// `[\r\n]*` (or `[\r\n/]*` with `slash`) from `i`.
    fn newline_tail(&self, mut i: usize, slash: bool) -> usize {
        let b = self.bytes;
        while i < b.len() && (b[i] == b'\r' || b[i] == b'\n' || (slash && b[i] == b'/')) {
            i += 1;
        }
        i
    }

    /// o200k's `[UPPER]*[LOWER]+` from `j`: the end, or None. Greedy upper run, then a lower run;
    /// if none follows, give back to the last char of the upper run that is also lower.
    fn o200k_lower_word(&self, j: usize) -> Option<usize> {
        let mut at = j;
        let mut last_both: Option<usize> = None;
        while at < self.bytes.len() {
            let (cp, len) = self.char_at(at);
            let f = self.class(cp);
            if f & UPPERISH == 0 {
                break;
            }
            if f & LOWERISH != 0 {
                last_both = Some(at + len);
            }
            at += len;
        }
        if self.class_at(at) & LOWERISH != 0 {
            return Some(self.run(at, |f| f & LOWERISH != 0));
        }
        last_both
    }

    /// o200k's `[UPPER]+[LOWER]*` from `j`.
    fn o200k_upper_word(&self, j: usize) -> Option<usize> {
        if self.class_at(j) & UPPERISH == 0 {
            return None;
        }
        let upper_end = self.run(j, |f| f & UPPERISH != 0);
        Some(self.run(upper_end, |f| f & LOWERISH != 0))
    }

    fn o200k(&self, i: usize) -> usize {
        let (cp, len) = self.char_at(i);
        let flags = self.class(cp);
        let can_prefix = cp != CR && cp != LF && flags & (LETTER | NUMBER) == 0;
        // Alternatives 1 and 2, each with the optional prefix char tried first.
        for word in [Self::o200k_lower_word as fn(&Self, usize) -> Option<usize>, Self::o200k_upper_word] {
            let with_prefix = if can_prefix && i + len < self.bytes.len() { word(self, i + len) } else { None };
            if let Some(end) = with_prefix.or_else(|| word(self, i)) {
                return self.contraction(end, true).unwrap_or(end);
            }
        }
        if flags & NUMBER != 0 {
            return self.run_max(i, NUMBER, 3);
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        if let Some(end) = self.other_run(i, cp, len, flags) {
            return self.newline_tail(end, true);
        }
        self.newline_spaces(i, false)
    }
}

/// Appends the spans of `text`'s pieces under `preset`.
pub fn split(preset: Preset, text: &str, spans: &mut Vec<(usize, usize)>) {
    split_from(preset, text, 0, usize::MAX, spans);
}

/// `split` from byte `from` (a pre-token boundary), stopping after `max_spans` spans; returns where
/// the next call should start (`text.len()` when done). A pre-token depends only on the text from
/// its start on (no look-behind in any preset), so resuming at a boundary gives the same spans.
pub fn split_from(preset: Preset, text: &str, from: usize, max_spans: usize, spans: &mut Vec<(usize, usize)>) -> usize {
    let scanner = Text { bytes: text.as_bytes(), classes: table() };
    let mut i = from;
    let mut left = max_spans;
    while i < text.len() && left > 0 {
        left -= 1;
        let end = match preset {
            Preset::Gpt2 => scanner.gpt2(i),
            Preset::Gpt4 => scanner.cl100k(i, true),
            Preset::Llama3 => scanner.cl100k(i, false),
            Preset::O200k => scanner.o200k(i),
            Preset::Whitespace => scanner.whitespace(i),
            Preset::Superword => scanner.superword(i),
        };
        debug_assert!(end > i, "scanners always make progress");
        // A scanner bug must not hang or panic on user data: fall back to one char.
        let end = if end > i { end } else { i + scanner.char_at(i).1 };
        spans.push((i, end));
        i = end;
    }
    i
}
