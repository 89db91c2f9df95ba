//! Pre-token counting: cutting large texts at safe positions, parallel counting into thread-local
//! maps, and a sharded global table merged in parallel. Also the counter's export format
//! (`to_bytes` / `from_bytes`) and the merge of two counters, so that counts made on other
//! machines (Dask workers) can be shipped and added up.

use std::hash::BuildHasher;

use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::{Error, ErrorKind, Result};
use crate::pretokenize::PreTokenizer;

use super::PretokenCounter;

/// Where a large text may be cut without changing its pre-tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CutRule {
    /// Right after a '\n' that is followed by an ASCII letter or digit (gpt4, o200k, llama3:
    /// their `\s*[\r\n]` / `[\r\n]*` alternatives end a piece exactly there, also with
    /// whitespace before the newline).
    AfterNewline,
    /// Right before such a '\n' (gpt2, whitespace: there `\s+(?!\S)` stops before the newline,
    /// and the newline is a piece of its own because a non-space follows; cutting after it would
    /// turn "  \n" + "abc" into one piece "  \n" instead of "  ", "\n").
    BeforeNewline,
    /// Never cut (texts with a custom regex or "none": their pieces are not known).
    Never,
}

impl CutRule {
    /// Rule for in-memory texts: exact (only presets whose boundaries are known).
    pub(crate) fn for_texts(pre: &PreTokenizer) -> CutRule {
        match pre.name() {
            "gpt2" | "whitespace" => CutRule::BeforeNewline,
            "gpt4" | "o200k" | "llama3" => CutRule::AfterNewline,
            _ => CutRule::Never,
        }
    }

    /// Rule for files: like texts, but custom regexes and "none" are cut after the newline too,
    /// so that memory stays bounded (documented on `add_file`).
    pub(crate) fn for_files(pre: &PreTokenizer) -> CutRule {
        match CutRule::for_texts(pre) {
            CutRule::Never => CutRule::AfterNewline,
            rule => rule,
        }
    }

    /// The cut position for a newline at index `i` (with `bytes[i + 1]` an ASCII alphanumeric).
    #[inline]
    fn position(self, i: usize) -> usize {
        match self {
            CutRule::AfterNewline => i + 1,
            CutRule::BeforeNewline | CutRule::Never => i,
        }
    }
}

#[inline]
fn is_cut_newline(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\n' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_alphanumeric()
}

/// The first cut position >= `from` (and > 0), if any.
pub(crate) fn next_cut(bytes: &[u8], from: usize, rule: CutRule) -> Option<usize> {
    if rule == CutRule::Never {
        return None;
    }
    let mut i = from.saturating_sub(1);
    while i + 1 < bytes.len() {
        match bytes[i..bytes.len() - 1].iter().position(|&b| b == b'\n') {
            None => return None,
            Some(k) => {
                i += k;
                if is_cut_newline(bytes, i) {
                    let cut = rule.position(i);
                    if cut >= from.max(1) {
                        return Some(cut);
                    }
                }
                i += 1;
            }
        }
    }
    None
}

/// The last cut position in `bytes` that is > 0 and whose newline is at index >= `from`.
pub(crate) fn last_cut(bytes: &[u8], from: usize, rule: CutRule) -> Option<usize> {
    if rule == CutRule::Never || bytes.len() < 2 {
        return None;
    }
    let mut end = bytes.len() - 1; // a cut newline needs one byte after it
    while end > from {
        let k = bytes[from..end].iter().rposition(|&b| b == b'\n')? + from;
        if is_cut_newline(bytes, k) {
            let cut = rule.position(k);
            if cut > 0 {
                return Some(cut);
            }
        }
        end = k;
    }
    None
}

/// Cuts `text` into segments of about `target` bytes at cut positions (one segment if `rule`
/// is `Never` or no cut exists).
pub(crate) fn segments<'a>(text: &'a str, target: usize, rule: CutRule, out: &mut Vec<&'a str>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while bytes.len() - start > target {
        match next_cut(bytes, start + target, rule) {
            Some(cut) if cut < bytes.len() => {
                // Cut positions are at ASCII bytes, so they are char boundaries.
                out.push(&text[start..cut]);
                start = cut;
            }
            _ => break,
        }
    }
    if start < bytes.len() {
        out.push(&text[start..]);
    }
}

/// Number of shards of the global table; shards are merged into in parallel.
pub(crate) const SHARDS: usize = 32;

type Local<'a> = FxHashMap<&'a [u8], u64>;
pub(crate) type Shard = FxHashMap<Box<[u8]>, u64>;

#[inline]
pub(crate) fn shard_of(key: &[u8]) -> usize {
    // Remix the table hash so that shard bits are independent of the bits the tables use.
    let h = FxBuildHasher.hash_one(key);
    let h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 59) as usize % SHARDS
}

fn count_group<'a>(pre: &PreTokenizer, group: &[&'a str]) -> Result<Vec<Vec<(&'a [u8], u64)>>> {
    let mut local: Local<'a> = FxHashMap::default();
    let mut spans = Vec::new();
    for text in group {
        spans.clear();
        pre.split_into(text, &mut spans)?;
        let bytes = text.as_bytes();
        for &(s, e) in &spans {
            if let Some(piece) = bytes.get(s..e) {
                if !piece.is_empty() {
                    *local.entry(piece).or_insert(0) += 1;
                }
            }
        }
    }
    let mut parts: Vec<Vec<(&'a [u8], u64)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for (k, v) in local {
        parts[shard_of(k)].push((k, v));
    }
    Ok(parts)
}

/// Adds `(key, count)` to a shard, allocating the key only when it is new.
#[inline]
pub(crate) fn bump(shard: &mut Shard, key: &[u8], count: u64) {
    if let Some(c) = shard.get_mut(key) {
        *c = c.saturating_add(count);
    } else {
        shard.insert(key.into(), count);
    }
}

/// Counts the pieces of `segs` (each split on its own) into `shards`, in parallel.
/// Must run inside the intended rayon pool.
pub(crate) fn count_into(pre: &PreTokenizer, segs: &[&str], threads: usize, shards: &mut [Shard]) -> Result<u64> {
    let total: usize = segs.iter().map(|s| s.len()).sum();
    if segs.is_empty() || total == 0 {
        return Ok(0);
    }
    // Groups of contiguous segments with about equal bytes, a few per thread for balance.
    let n_groups = if total < (1 << 16) { 1 } else { (threads * 4).min(segs.len()).max(1) };
    let per_group = total.div_ceil(n_groups);
    let mut groups: Vec<&[&str]> = Vec::with_capacity(n_groups);
    let (mut start, mut acc) = (0, 0);
    for (i, s) in segs.iter().enumerate() {
        acc += s.len();
        if acc >= per_group {
            groups.push(&segs[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    if start < segs.len() {
        groups.push(&segs[start..]);
    }
    let parts: Vec<Vec<Vec<(&[u8], u64)>>> = if groups.len() == 1 {
        vec![count_group(pre, groups[0])?]
    } else {
        groups.par_iter().map(|g| count_group(pre, g)).collect::<Result<_>>()?
    };
    let mut pieces = 0u64;
    for part in &parts {
        for shard in part {
            pieces += shard.iter().map(|&(_, v)| v).sum::<u64>();
        }
    }
    shards.par_iter_mut().enumerate().for_each(|(s, shard)| {
        for part in &parts {
            for &(k, v) in &part[s] {
                bump(shard, k, v);
            }
        }
    });
    Ok(pieces)
}

/// First bytes of every exported counter.
const MAGIC: &[u8; 8] = b"TKFCOUNT";
/// Version of the export format; readers refuse other versions.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Longest pre-tokenizer spec (preset name or custom regex) an export may name.
const MAX_SPEC_BYTES: usize = 1 << 16;
/// Bytes of the smallest entry: key length (u32) + one key byte + count (u64).
const MIN_ENTRY_BYTES: usize = 4 + 1 + 8;

/// The string that rebuilds `pre` with `PreTokenizer::new`: the preset name or the custom regex.
pub(crate) fn spec_of(pre: &PreTokenizer) -> &str {
    match (pre.name(), pre.pattern()) {
        ("regex", Some(pattern)) => pattern,
        (name, _) => name,
    }
}

fn malformed(what: &str, at: usize) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "pre-token counts are malformed: {what} (at byte {at}); pass bytes made by PretokenCounter.to_bytes() \
             of a tokfree that writes format version {FORMAT_VERSION}, unmodified"
        ),
    )
}

/// Reads little-endian fields from an untrusted export, never past its end.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        match self.data.get(self.at..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.at += n;
                Ok(bytes)
            }
            None => Err(malformed(&format!("{what} needs {n} bytes but only {} remain", self.remaining()), self.at)),
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let bytes = self.take(8, what)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(word))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }
}

impl PretokenCounter {
    /// The string that rebuilds this counter's pre-tokenizer: the preset name or the custom regex.
    pub fn pre_tokenizer_spec(&self) -> &str {
        spec_of(&self.pre_tokenizer)
    }

    /// The counts as bytes, the same for equal counts whatever order they were added in.
    ///
    /// Layout (integers little-endian): `b"TKFCOUNT"`, format version (u32), pre-tokenizer spec
    /// length (u32) and UTF-8 bytes (preset name or custom regex), number of entries (u64), then
    /// per distinct pre-token in increasing byte order: its length (u32), its bytes, its count (u64).
    ///
    /// Errors only for what the format cannot hold: a pre-token of 4 GiB or more (possible with
    /// "none", which never cuts a text) or a custom regex longer than 64 KiB.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let spec = spec_of(&self.pre_tokenizer).as_bytes();
        if spec.len() > MAX_SPEC_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the pre-tokenizer regex is {} bytes long; counts can be exported only for patterns up to {MAX_SPEC_BYTES} bytes", spec.len()),
            ));
        }
        let mut entries: Vec<Entry<'_>> = self.iter().collect();
        if let Some((key, _)) = entries.iter().find(|e| e.0.len() > u32::MAX as usize) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a pre-token is {} bytes long, more than the export format's {} bytes; split the text into smaller documents",
                    key.len(),
                    u32::MAX
                ),
            ));
        }
        // Sequential on purpose (also below): rayon's global pool has no threads in a forked
        // child, and sorting 1M pre-tokens takes ~0.1 s, small next to counting them.
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Ok(write_export(spec, &entries))
    }

    /// Reads what `to_bytes` wrote. Every field is checked (magic, version, a valid
    /// pre-tokenizer, entry count against the data's size, non-empty UTF-8 pre-tokens in strictly
    /// increasing order, counts >= 1, no trailing bytes), so hostile bytes give an error, and
    /// memory stays proportional to `data.len()`.
    pub fn from_bytes(data: &[u8]) -> Result<PretokenCounter> {
        let (spec, entries) = parse_export(data)?;
        let mut counter = PretokenCounter::new(PreTokenizer::new(spec)?);
        for shard in &mut counter.shards {
            shard.reserve(entries.len() / SHARDS + entries.len() / (4 * SHARDS)); // hashes spread about evenly
        }
        for (key, count) in entries {
            counter.shards[shard_of(key)].insert(key.into(), count);
            counter.pieces = counter.pieces.saturating_add(count);
        }
        Ok(counter)
    }

    /// The export of the sum of `exports` (each as `to_bytes` writes it, all with the same
    /// pre-tokenizer): equal to `from_bytes` of each, `add_counts`, `to_bytes`, but a merge of
    /// the sorted entry lists, with no hash table (what a Dask merge-tree node runs).
    pub fn merge_exports(exports: &[&[u8]]) -> Result<Vec<u8>> {
        let Some((first, rest)) = exports.split_first() else {
            return Err(Error::new(ErrorKind::InvalidArgument, "merge_exports got no exports; pass at least one PretokenCounter.to_bytes()"));
        };
        let (spec, mut merged) = parse_export(first)?;
        PreTokenizer::new(spec)?;
        for (number, data) in rest.iter().enumerate() {
            let (other, entries) = parse_export(data)?;
            if other != spec {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "export #{} counts pre-tokens split by {other:?}, export #0 by {spec:?}; count every part with the same pre-tokenizer",
                        number + 1
                    ),
                ));
            }
            merged = merge_sorted(&merged, &entries);
        }
        Ok(write_export(spec.as_bytes(), &merged))
    }
}

/// One exported pre-token and its count.
type Entry<'a> = (&'a [u8], u64);

/// The export of `entries` (sorted, distinct, each key shorter than 4 GiB) split by `spec`.
fn write_export(spec: &[u8], entries: &[Entry<'_>]) -> Vec<u8> {
    let keys: usize = entries.iter().map(|e| e.0.len()).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 16 + spec.len() + keys + entries.len() * 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    out.extend_from_slice(spec);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for &(key, count) in entries {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&count.to_le_bytes());
    }
    out
}

/// Two sorted, distinct entry lists as one, counts of equal keys added.
fn merge_sorted<'a>(a: &[Entry<'a>], b: &[Entry<'a>]) -> Vec<Entry<'a>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((a[i].0, a[i].1.saturating_add(b[j].1)));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The pre-tokenizer spec and the (pre-token, count) entries of an export, every field checked
/// (see `PretokenCounter::from_bytes`; the spec's regex is not compiled here).
fn parse_export(data: &[u8]) -> Result<(&str, Vec<Entry<'_>>)> {
    let mut reader = Reader { data, at: 0 };
    if reader.take(MAGIC.len(), "the header")? != MAGIC {
        return Err(malformed("the data does not start with b\"TKFCOUNT\"", 0));
    }
    let version = reader.u32("the format version")?;
    if version != FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "pre-token counts use format version {version}, this tokfree reads version {FORMAT_VERSION}; \
                 count and read with the same tokfree version"
            ),
        ));
    }
    let spec_len = reader.u32("the pre-tokenizer length")? as usize;
    if spec_len > MAX_SPEC_BYTES {
        return Err(malformed(&format!("the pre-tokenizer is {spec_len} bytes long, more than {MAX_SPEC_BYTES}"), reader.at - 4));
    }
    let spec_at = reader.at;
    let spec = std::str::from_utf8(reader.take(spec_len, "the pre-tokenizer")?)
        .map_err(|_| malformed("the pre-tokenizer is not UTF-8", spec_at))?;
    let entries = reader.u64("the number of pre-tokens")?;
    if entries > (reader.remaining() / MIN_ENTRY_BYTES) as u64 {
        return Err(malformed(
            &format!("{entries} pre-tokens announced, but the {} remaining bytes hold at most {}", reader.remaining(), reader.remaining() / MIN_ENTRY_BYTES),
            reader.at - 8,
        ));
    }
    // Bounded by the check above: at most data.len() / 13 entries.
    let mut parsed: Vec<Entry<'_>> = Vec::with_capacity(entries as usize);
    let mut previous: Option<&[u8]> = None;
    for number in 0..entries {
        let key_at = reader.at;
        let len = reader.u32("a pre-token length")? as usize;
        let key = reader.take(len, "a pre-token")?;
        if key.is_empty() {
            return Err(malformed(&format!("pre-token #{number} is empty"), key_at));
        }
        if std::str::from_utf8(key).is_err() {
            return Err(malformed(&format!("pre-token #{number} is not UTF-8"), key_at));
        }
        if previous.is_some_and(|p| p >= key) {
            return Err(malformed(&format!("pre-token #{number} is not after the one before it in byte order (sorted, distinct)"), key_at));
        }
        previous = Some(key);
        let count = reader.u64("a count")?;
        if count == 0 {
            return Err(malformed(&format!("pre-token #{number} has count 0"), reader.at - 8));
        }
        parsed.push((key, count));
    }
    if reader.remaining() != 0 {
        return Err(malformed(&format!("{} bytes follow the last pre-token", reader.remaining()), reader.at));
    }
    Ok((spec, parsed))
}

impl PretokenCounter {

    /// Adds the counts of `other` (left unchanged) to this counter; both must split text with the
    /// same pre-tokenizer. Addition commutes, so merging in any order or tree gives equal counts.
    pub fn add_counts(&mut self, other: &PretokenCounter) -> Result<()> {
        let (mine, theirs) = (spec_of(&self.pre_tokenizer), spec_of(&other.pre_tokenizer));
        if mine != theirs {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "cannot merge counts split by pre-tokenizer {theirs:?} into counts split by {mine:?}; \
                     count every part with the same pre-tokenizer"
                ),
            ));
        }
        for (shard, from) in self.shards.iter_mut().zip(&other.shards) {
            for (key, &count) in from {
                bump(shard, key, count);
            }
        }
        self.pieces = self.pieces.saturating_add(other.pieces);
        Ok(())
    }
}

#[cfg(test)]
mod export_tests {
    use super::*;

    fn counter(spec: &str, texts: &[&str]) -> PretokenCounter {
        let mut counter = PretokenCounter::new(PreTokenizer::new(spec).unwrap());
        counter.add_texts(texts).unwrap();
        counter
    }

    fn sorted(counter: &PretokenCounter) -> Vec<(Vec<u8>, u64)> {
        let mut all: Vec<(Vec<u8>, u64)> = counter.iter().map(|(k, v)| (k.to_vec(), v)).collect();
        all.sort();
        all
    }

    #[test]
    fn round_trip_keeps_counts_spec_and_total() {
        for spec in ["gpt2", "gpt4", "none", r"\w+|\s+|[^\w\s]+"] {
            let a = counter(spec, &["low lower lowest", "naïve café\n\nx", "low"]);
            let bytes = a.to_bytes().unwrap();
            let b = PretokenCounter::from_bytes(&bytes).unwrap();
            assert_eq!(sorted(&a), sorted(&b));
            assert_eq!(a.total(), b.total());
            assert_eq!(spec_of(b.pre_tokenizer()), spec);
            assert_eq!(b.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn layout_is_the_documented_one() {
        let mut c = PretokenCounter::new(PreTokenizer::new("none").unwrap());
        c.add_pretoken("b", 3);
        c.add_pretoken("a", 1);
        let mut want = b"TKFCOUNT".to_vec();
        want.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 0]);
        want.extend_from_slice(b"none");
        want.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[1, 0, 0, 0, b'a', 1, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[1, 0, 0, 0, b'b', 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(c.to_bytes().unwrap(), want);
    }

    #[test]
    fn merge_in_any_order_equals_counting_everything_at_once() {
        let texts = ["low lower lowest", "newer wider\nnew", "low low new", "  \nabc", "café"];
        let whole = counter("gpt2", &texts);
        let parts: Vec<PretokenCounter> = texts.iter().map(|t| counter("gpt2", &[t])).collect();
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]] {
            let mut merged = PretokenCounter::new(PreTokenizer::new("gpt2").unwrap());
            for i in order {
                merged.add_counts(&parts[i]).unwrap();
            }
            assert_eq!(merged.to_bytes().unwrap(), whole.to_bytes().unwrap());
            assert_eq!(merged.total(), whole.total());
        }
    }

    #[test]
    fn training_on_merged_counts_equals_training_on_one_counter() {
        // Many distinct words with tied counts, so the merge order rests on the tie-breaks.
        let texts: Vec<String> = (0..400).map(|i| format!("w{} x{} y{}z {}", i % 37, i % 11, i % 5, i * 7919 % 1000)).collect();
        let refs: Vec<&str> = texts.iter().map(|t| t.as_str()).collect();
        let config = super::super::TrainerConfig {
            vocab_size: 256 + 120,
            min_frequency: 1,
            max_token_length: None,
            max_token_chars: None,
            special_tokens: vec!["<s>".into()],
        };
        let whole = super::super::train(counter("gpt2", &refs), &config, &mut |_, _| {}).unwrap();
        for parts in [2, 3, 7] {
            let mut merged = PretokenCounter::new(PreTokenizer::new("gpt2").unwrap());
            for chunk in refs.chunks(refs.len().div_ceil(parts)).rev() {
                let shipped = PretokenCounter::from_bytes(&counter("gpt2", chunk).to_bytes().unwrap()).unwrap();
                merged.add_counts(&shipped).unwrap();
            }
            let got = super::super::train(merged, &config, &mut |_, _| {}).unwrap();
            assert_eq!(got.merges, whole.merges, "{parts} parts");
            assert_eq!(got.vocab, whole.vocab, "{parts} parts");
        }
    }

    #[test]
    fn merging_exports_equals_merging_counters() {
        let texts = ["low lower lowest", "newer wider\nnew", "low low new", "", "café café"];
        let exports: Vec<Vec<u8>> = texts.iter().map(|t| counter("gpt4", &[t]).to_bytes().unwrap()).collect();
        let refs: Vec<&[u8]> = exports.iter().map(|e| e.as_slice()).collect();
        let whole = counter("gpt4", &texts).to_bytes().unwrap();
        assert_eq!(PretokenCounter::merge_exports(&refs).unwrap(), whole);
        let reversed: Vec<&[u8]> = refs.iter().rev().copied().collect();
        assert_eq!(PretokenCounter::merge_exports(&reversed).unwrap(), whole);
        assert_eq!(PretokenCounter::merge_exports(&refs[..1]).unwrap(), exports[0]);
        assert!(PretokenCounter::merge_exports(&[]).unwrap_err().message.contains("no exports"));
        let other = counter("gpt2", &["a"]).to_bytes().unwrap();
        let err = PretokenCounter::merge_exports(&[refs[0], &other]).unwrap_err();
        assert!(err.message.contains("export #1") && err.message.contains("\"gpt2\""), "{}", err.message);
        let err = PretokenCounter::merge_exports(&[refs[0], &other[..other.len() - 1]]).unwrap_err();
        assert!(err.message.contains("malformed"), "{}", err.message);
    }

    #[test]
    fn merge_refuses_another_pre_tokenizer() {
        let mut a = counter("gpt2", &["a b"]);
        let err = a.add_counts(&counter("gpt4", &["a b"])).unwrap_err();
        assert!(err.message.contains("\"gpt4\"") && err.message.contains("\"gpt2\""), "{}", err.message);
    }

    fn header(spec: &str, entries: u64) -> Vec<u8> {
        let mut out = b"TKFCOUNT".to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        out.extend_from_slice(spec.as_bytes());
        out.extend_from_slice(&entries.to_le_bytes());
        out
    }

    fn entry(key: &[u8], count: u64) -> Vec<u8> {
        let mut out = (key.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(key);
        out.extend_from_slice(&count.to_le_bytes());
        out
    }

    #[test]
    fn hostile_bytes_are_errors_naming_the_problem() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "the header needs 8 bytes"),
            (b"NOTCOUNTxxxxxxxx".to_vec(), "does not start"),
            ([b"TKFCOUNT".as_slice(), &[9, 0, 0, 0]].concat(), "format version 9"),
            ([b"TKFCOUNT".as_slice(), &[1, 0, 0, 0, 255, 255, 255, 255]].concat(), "more than 65536"),
            ([b"TKFCOUNT".as_slice(), &[1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xfe]].concat(), "not UTF-8"),
            (header("(unclosed", 0), "not a valid regex"),
            (header("gpt2", u64::MAX), "pre-tokens announced"),
            ([header("gpt2", 1), entry(b"", 1), vec![0; 8]].concat(), "is empty"),
            ([header("gpt2", 1), entry(b"\xff", 1)].concat(), "not UTF-8"),
            ([header("gpt2", 2), entry(b"b", 1), entry(b"a", 1)].concat(), "byte order"),
            ([header("gpt2", 2), entry(b"a", 1), entry(b"a", 1)].concat(), "byte order"),
            ([header("gpt2", 1), entry(b"a", 0)].concat(), "count 0"),
            ([header("gpt2", 1), entry(b"a", 1), vec![0]].concat(), "1 bytes follow"),
            ([header("gpt2", 1), (u32::MAX).to_le_bytes().to_vec(), vec![0; 9]].concat(), "a pre-token needs 4294967295 bytes"),
        ];
        for (data, want) in cases {
            let err = PretokenCounter::from_bytes(&data).err().unwrap_or_else(|| panic!("accepted {data:?}"));
            assert!(err.message.contains(want), "{data:?}: {}", err.message);
        }
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_valid_counter() {
        let bytes = counter("gpt2", &["low lower lowest café"]).to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(PretokenCounter::from_bytes(&bytes[..cut]).is_err(), "truncation at {cut} accepted");
        }
        for i in 0..bytes.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                if let Ok(c) = PretokenCounter::from_bytes(&bad) {
                    assert_eq!(c.to_bytes().unwrap(), bad, "accepted bytes must be canonical");
                }
            }
        }
    }
}
