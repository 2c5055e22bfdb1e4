//! Application-made identifiers. Ids are made by the application, never by the
//! database (no sequences), so that rows can move between backends and shards.

use rand::Rng;

/// A new time-ordered id (UUIDv7, hyphenated lowercase text).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Alphabet for codes read aloud over a phone: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A short receipt code (一案一码) such as `K7M-4Q9X-2`: 9 symbols from a
/// 31-symbol alphabet, about 44 bits, with a check symbol so that a mistyped code
/// is caught before any lookup.
pub fn new_receipt_code<R: Rng + ?Sized>(rng: &mut R) -> String {
    let body: Vec<u8> = (0..8)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())])
        .collect();
    let check = receipt_check_symbol(&body);
    format!(
        "{}-{}-{}",
        String::from_utf8_lossy(&body[..3]),
        String::from_utf8_lossy(&body[3..8]),
        check as char
    )
}

fn receipt_check_symbol(body: &[u8]) -> u8 {
    let n = CODE_ALPHABET.len();
    let sum: usize = body
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let v = CODE_ALPHABET.iter().position(|c| c == b).unwrap_or(0);
            v * (i + 1)
        })
        .sum();
    CODE_ALPHABET[sum % n]
}

/// Normalises and checks a receipt code typed by a person. Returns the canonical
/// form, or `None` when it cannot be a code we issued.
pub fn normalize_receipt_code(input: &str) -> Option<String> {
    let symbols: Vec<u8> = input
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' '))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if symbols.len() != 9 || !symbols.iter().all(|b| CODE_ALPHABET.contains(b)) {
        return None;
    }
    if receipt_check_symbol(&symbols[..8]) != symbols[8] {
        return None;
    }
    Some(format!(
        "{}-{}-{}",
        String::from_utf8_lossy(&symbols[..3]),
        String::from_utf8_lossy(&symbols[3..8]),
        symbols[8] as char
    ))
}

/// A receipt code from the thread's random generator.
pub fn random_receipt_code() -> String {
    new_receipt_code(&mut rand::thread_rng())
}

/// A fresh random salt (128 bits, hex) for hashing one case's personal data.
pub fn new_salt() -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn receipt_codes_round_trip_and_catch_typos() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let code = new_receipt_code(&mut rng);
            assert_eq!(
                normalize_receipt_code(&code).as_deref(),
                Some(code.as_str())
            );
            let lower = code.to_lowercase().replace('-', " ");
            assert_eq!(
                normalize_receipt_code(&lower).as_deref(),
                Some(code.as_str())
            );
            // Change one body symbol: the check symbol must reject it.
            let mut bytes = code.clone().into_bytes();
            bytes[0] = if bytes[0] == b'2' { b'3' } else { b'2' };
            let typo = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(normalize_receipt_code(&typo), None);
        }
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
