//! The GPT-2 byte-to-unicode table used by Hugging Face `tokenizer.json` byte-level vocabularies:
//! printable bytes (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) map to themselves, the other 68 bytes in
//! increasing order map to U+0100..U+0143. The core works on bytes; only file I/O needs this.

/// The code point each byte maps to.
pub fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 0x100u32;
    for b in 0..256u32 {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let cp = if printable {
            b
        } else {
            let cp = next;
            next += 1;
            cp
        };
        table[b as usize] = char::from_u32(cp).expect("table code points are valid scalars");
    }
    table
}

/// Bytes -> the byte-level string HF writes in `tokenizer.json`.
pub fn bytes_to_unicode(bytes: &[u8]) -> String {
    let table = byte_to_char_table();
    bytes.iter().map(|&b| table[b as usize]).collect()
}

/// The byte-level string from a `tokenizer.json` -> its bytes, or `None` if it holds a character
/// outside the 256-character alphabet.
pub fn unicode_to_bytes(text: &str) -> Option<Vec<u8>> {
    let table = byte_to_char_table();
    let mut inverse = std::collections::HashMap::with_capacity(256);
    for (b, &c) in table.iter().enumerate() {
        inverse.insert(c, b as u8);
    }
    text.chars().map(|c| inverse.get(&c).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_entries() {
        let t = byte_to_char_table();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'\t' as usize], 'ĉ');
        assert_eq!(t[0x7F], 'ġ');
        assert_eq!(t[0xA0], 'ł');
        assert_eq!(t[0xAD], 'Ń');
        assert_eq!(t[b'a' as usize], 'a');
    }

    #[test]
    fn round_trip_all_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unicode_to_bytes(&bytes_to_unicode(&all)).unwrap(), all);
        assert_eq!(unicode_to_bytes("Ā€"), None);
    }
}

/// Validity of token strings for exact byte-level probabilities (`tokfree.bytelevel`).
pub mod canonical;
