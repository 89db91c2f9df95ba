//! Unicode character classes for the preset scanners and the word splitter, one byte of flags per code point.
//!
//! Membership comes from `regex-syntax` (`\p{L}`, `\p{N}`, `\s`, ...), the same tables the `regex`
//! crate and so tiktoken's fancy-regex use, so scanners and patterns agree on every code point.
//! A flat table (1.1 MB, built once on first use in ~10 ms) makes a lookup one load.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`
pub const LETTER: u8 = 1;
/// `\p{N}`
pub const NUMBER: u8 = 2;
/// `\s` (Unicode White_Space)
pub const SPACE: u8 = 4;
/// o200k's "upper-ish" `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`
pub const UPPERISH: u8 = 8;
/// o200k's "lower-ish" `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`
pub const LOWERISH: u8 = 16;
/// `\p{P}` (the word splitter, `crate::words`)
pub const PUNCTUATION: u8 = 32;
/// `\p{Ll}` (the word splitter's camelCase rule)
pub const LOWERCASE: u8 = 64;
/// `\p{Lu}` (the word splitter's camelCase rule)
pub const UPPERCASE: u8 = 128;

const CODE_POINTS: usize = 0x11_0000;

fn fill(table: &mut [u8], pattern: &str, flag: u8) {
    let hir = regex_syntax::Parser::new().parse(pattern).expect("class patterns are valid");
    let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
        unreachable!("{pattern} parses to a Unicode class")
    };
    for range in class.iter() {
        for cp in range.start() as usize..=range.end() as usize {
            table[cp] |= flag;
        }
    }
}

/// The flags of every code point (index = code point).
pub fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![0u8; CODE_POINTS];
        fill(&mut table, r"\p{L}", LETTER);
        fill(&mut table, r"\p{N}", NUMBER);
        fill(&mut table, r"\s", SPACE);
        fill(&mut table, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPERISH);
        fill(&mut table, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWERISH);
        fill(&mut table, r"\p{P}", PUNCTUATION);
        fill(&mut table, r"\p{Ll}", LOWERCASE);
        fill(&mut table, r"\p{Lu}", UPPERCASE);
        table
    })
}
