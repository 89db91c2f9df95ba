//! Validity of token strings for exact byte-level probabilities (tokfree.bytelevel): which tokens
//! `t` make `window_ids + [t]` a prefix of the encoding of some text. The Python twin is
//! `tokfree.bytelevel.covers.Canonicality.encode_prefix` / `mask_reference`; tests assert they agree.
//!
//! `encode_prefix(data)` is the set of token strings the encoding of a text starting with `data`
//! can have for exactly those bytes: without pre-tokenizer the BPE of `data` (research F1/F2); with
//! a regex preset, the pre-tokens of `data + z` cut at `data.len()` and BPE-encoded, over probe
//! continuations `z` (a trailing partial character's completions, else the given probes).

use crate::tokenizer::Tokenizer;

/// Length of the incomplete character at the end of `data` (0 if complete), None if `data` is not
/// a prefix of valid UTF-8.
pub fn utf8_tail(data: &[u8]) -> Option<usize> {
    match std::str::from_utf8(data) {
        Ok(_) => Some(0),
        Err(e) if e.error_len().is_none() => Some(data.len() - e.valid_up_to()),
        Err(_) => None,
    }
}

/// The byte strings completing the partial character `tail` (all next-byte values; further bytes
/// the smallest that give a valid character), in increasing order. Mirrors the Python twin.
pub fn completions(tail: &[u8]) -> Vec<Vec<u8>> {
    let lead = tail.first().copied().unwrap_or(0);
    let size = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    };
    let mut out = Vec::new();
    if size == 0 || tail.len() >= size {
        return out;
    }
    let need = size - tail.len();
    let mut buf = Vec::with_capacity(4);
    for next in 0x80u8..0xC0 {
        for fill in 0x80u8..0xC0 {
            buf.clear();
            buf.extend_from_slice(tail);
            buf.push(next);
            buf.extend(std::iter::repeat(fill).take(need - 1));
            if std::str::from_utf8(&buf).is_ok() {
                out.push(buf[tail.len()..].to_vec());
                break;
            }
            if need == 1 {
                break;
            }
        }
    }
    out
}

/// Whether `want` is one of the token strings of `encode_prefix(data)`.
pub fn is_prefix_encoding(tok: &Tokenizer, data: &[u8], want: &[u32], probes: &[Vec<u8>], scratch: &mut Scratch) -> bool {
    let Some(tail) = utf8_tail(data) else { return false };
    let model = tok.model();
    if tok.pre_tokenizer().name() == "none" {
        scratch.ids.clear();
        model.encode_piece(data, &mut scratch.ids);
        return scratch.ids == want;
    }
    let owned;
    let zs: &[Vec<u8>] = if tail > 0 {
        owned = completions(&data[data.len() - tail..]);
        &owned
    } else {
        probes
    };
    for z in zs {
        scratch.text.clear();
        scratch.text.extend_from_slice(data);
        scratch.text.extend_from_slice(z);
        let Ok(text) = std::str::from_utf8(&scratch.text) else { continue };
        scratch.spans.clear();
        if tok.pre_tokenizer().split_into(text, &mut scratch.spans).is_err() {
            continue;
        }
        scratch.ids.clear();
        for &(start, end) in &scratch.spans {
            if start >= data.len() {
                break;
            }
            model.encode_piece(&data[start..end.min(data.len())], &mut scratch.ids);
            if scratch.ids.len() > want.len() || scratch.ids[..] != want[..scratch.ids.len()] {
                break;
            }
        }
        if scratch.ids == want {
            return true;
        }
    }
    false
}

/// Reusable buffers for `is_prefix_encoding`.
#[derive(Default)]
pub struct Scratch {
    text: Vec<u8>,
    spans: Vec<(usize, usize)>,
    ids: Vec<u32>,
}

/// For each candidate id: is `window_ids + [id]` valid after the bytes `window`? Unknown ids are not.
pub fn valid_mask(tok: &Tokenizer, window: &[u8], window_ids: &[u32], candidates: &[u32], probes: &[Vec<u8>]) -> Vec<bool> {
    let mut scratch = Scratch::default();
    let mut data = window.to_vec();
    let mut want = window_ids.to_vec();
    candidates
        .iter()
        .map(|&id| {
            let Some(bytes) = tok.model().token_bytes(id) else { return false };
            data.truncate(window.len());
            data.extend_from_slice(bytes);
            want.truncate(window_ids.len());
            want.push(id);
            is_prefix_encoding(tok, &data, &want, probes, &mut scratch)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_tails() {
        assert_eq!(utf8_tail(b"a"), Some(0));
        assert_eq!(utf8_tail(b"a\xc3"), Some(1));
        assert_eq!(utf8_tail(b"\xe4\xb8"), Some(2));
        assert_eq!(utf8_tail(b"\xa9"), None);
        assert_eq!(completions(b"\xc3").len(), 64);
        assert_eq!(completions(b"\xe0").len(), 32); // E0 needs A0..BF next
    }
}
