//! The morphological segmenter of the hybrid tokenizer: root and suffix tries over characters, and
//! the search that splits one lowercase word into root + suffixes (or marks a rest for the BPE).
//!
//! The rule, in order (the same as `tokfree._reference.morph.segment`, its Python twin):
//! 1. the longest root prefix whose remainder is a chain of suffixes, the chain with the fewest
//!    suffixes (on ties, the longest first suffix);
//! 2. else the longest root prefix of at least 2 characters, then a rest;
//! 3. else a rest of at least 2 characters followed by a suffix chain, the shortest such rest;
//! 4. else the whole word as a rest (an empty word has no pieces).
//!
//! Offsets are character offsets. Each trie walk is bounded by the longest entry. Never panics.

use std::collections::HashMap;

/// A character trie mapping strings to class indices.
struct Trie {
    children: Vec<HashMap<char, u32>>,
    value: Vec<Option<u32>>,
}

impl Trie {
    fn new() -> Self {
        Trie { children: vec![HashMap::new()], value: vec![None] }
    }

    /// Inserts `key -> class` unless `key` already has a class (the first class listed wins).
    fn insert(&mut self, key: &str, class: u32) {
        let mut node = 0usize;
        for c in key.chars() {
            node = match self.children[node].get(&c) {
                Some(&next) => next as usize,
                None => {
                    let next = self.value.len();
                    self.children.push(HashMap::new());
                    self.value.push(None);
                    self.children[node].insert(c, next as u32);
                    next
                }
            };
        }
        if self.value[node].is_none() {
            self.value[node] = Some(class);
        }
    }

    /// (end, class) of every entry that is a prefix of `chars[start..]`, shortest first.
    fn matches(&self, chars: &[char], start: usize) -> Vec<(usize, u32)> {
        let mut found = Vec::new();
        let mut node = 0usize;
        for (offset, c) in chars[start..].iter().enumerate() {
            match self.children[node].get(c) {
                Some(&next) => node = next as usize,
                None => break,
            }
            if let Some(class) = self.value[node] {
                found.push((start + offset + 1, class));
            }
        }
        found
    }
}

/// The kind of a piece: a root, a suffix, or a rest the lexicon does not cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Root,
    Suffix,
    Rest,
}

/// A piece of a segmented word: character offsets and, for roots and suffixes, the class index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub class: Option<u32>,
}

/// Root and suffix classes; `segment` applies the rule in the module docstring.
pub struct MorphLexicon {
    roots: Trie,
    suffixes: Trie,
}

impl MorphLexicon {
    /// `roots` and `suffixes` are (surface form, class index) pairs; a form keeps its first class.
    pub fn new(roots: &[(String, u32)], suffixes: &[(String, u32)]) -> Self {
        let mut root_trie = Trie::new();
        for (form, class) in roots {
            root_trie.insert(form, *class);
        }
        let mut suffix_trie = Trie::new();
        for (form, class) in suffixes {
            suffix_trie.insert(form, *class);
        }
        MorphLexicon { roots: root_trie, suffixes: suffix_trie }
    }

    /// The fewest suffixes spelling `chars[from..]` exactly (ties: longest first suffix), or None.
    fn suffix_chain(&self, chars: &[char], from: usize) -> Option<Vec<Piece>> {
        let n = chars.len();
        // best[i] = (count, end of the first suffix, its class) of the best chain for chars[i..].
        let mut best: Vec<Option<(usize, usize, u32)>> = vec![None; n + 1];
        best[n] = Some((0, n, 0));
        for start in (from..n).rev() {
            // Longest first, so a tie keeps the longest first suffix.
            for &(end, class) in self.suffixes.matches(chars, start).iter().rev() {
                if let Some((count, _, _)) = best[end] {
                    if best[start].map_or(true, |(current, _, _)| count + 1 < current) {
                        best[start] = Some((count + 1, end, class));
                    }
                }
            }
        }
        best[from]?;
        let mut pieces = Vec::new();
        let mut at = from;
        while at < n {
            let (_, end, class) = best[at]?;
            pieces.push(Piece { kind: Kind::Suffix, start: at, end, class: Some(class) });
            at = end;
        }
        Some(pieces)
    }

    /// Splits one lowercase word (see the module docstring).
    pub fn segment(&self, word: &str) -> Vec<Piece> {
        let chars: Vec<char> = word.chars().collect();
        let n = chars.len();
        if n == 0 {
            return Vec::new();
        }
        let roots = self.roots.matches(&chars, 0);
        for &(end, class) in roots.iter().rev() {
            if let Some(chain) = self.suffix_chain(&chars, end) {
                let mut pieces = vec![Piece { kind: Kind::Root, start: 0, end, class: Some(class) }];
                pieces.extend(chain);
                return pieces;
            }
        }
        if let Some(&(end, class)) = roots.last() {
            if end >= 2 {
                return vec![
                    Piece { kind: Kind::Root, start: 0, end, class: Some(class) },
                    Piece { kind: Kind::Rest, start: end, end: n, class: None },
                ];
            }
        }
        for start in 2..n {
            if let Some(chain) = self.suffix_chain(&chars, start) {
                let mut pieces = vec![Piece { kind: Kind::Rest, start: 0, end: start, class: None }];
                pieces.extend(chain);
                return pieces;
            }
        }
        vec![Piece { kind: Kind::Rest, start: 0, end: n, class: None }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> MorphLexicon {
        let roots = [("ev", 0), ("kitap", 1), ("kitab", 1), ("kale", 2), ("kalem", 3)];
        let suffixes = [("ler", 4), ("lar", 4), ("de", 5), ("da", 5), ("ı", 6), ("m", 7)];
        let own = |items: &[(&str, u32)]| items.iter().map(|(s, c)| (s.to_string(), *c)).collect::<Vec<_>>();
        MorphLexicon::new(&own(&roots), &own(&suffixes))
    }

    fn spans(pieces: &[Piece]) -> Vec<(Kind, usize, usize)> {
        pieces.iter().map(|p| (p.kind, p.start, p.end)).collect()
    }

    #[test]
    fn root_then_suffixes() {
        let pieces = lexicon().segment("evlerde");
        assert_eq!(spans(&pieces), vec![(Kind::Root, 0, 2), (Kind::Suffix, 2, 5), (Kind::Suffix, 5, 7)]);
        assert_eq!(pieces[1].class, Some(4));
    }

    #[test]
    fn longest_root_wins_and_offsets_count_chars() {
        assert_eq!(spans(&lexicon().segment("kalem")), vec![(Kind::Root, 0, 5)]);
        assert_eq!(spans(&lexicon().segment("kitabı")), vec![(Kind::Root, 0, 5), (Kind::Suffix, 5, 6)]);
    }

    #[test]
    fn rests() {
        assert_eq!(spans(&lexicon().segment("evxyz")), vec![(Kind::Root, 0, 2), (Kind::Rest, 2, 5)]);
        assert_eq!(spans(&lexicon().segment("qqlar")), vec![(Kind::Rest, 0, 2), (Kind::Suffix, 2, 5)]);
        assert_eq!(spans(&lexicon().segment("qqq")), vec![(Kind::Rest, 0, 3)]);
        assert!(lexicon().segment("").is_empty());
    }
}
