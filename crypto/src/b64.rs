//! Strict base64 as the age header grammar requires: standard alphabet, no padding, canonical
//! encodings only (a decoder rejects `=` and non-zero trailing bits). Link fragments and key
//! strings use the URL-safe alphabet with the same strictness.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::{Error, Result};

/// Encodes with the standard alphabet, unpadded.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decodes canonical, unpadded standard base64.
pub fn decode(text: &str) -> Result<Vec<u8>> {
    STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| Error::Malformed("invalid base64"))
}

/// Decodes canonical, unpadded standard base64 of exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N]> {
    // Check the encoded length first, so a huge argument is refused before any allocation.
    if text.len() != encoded_len(N) {
        return Err(Error::Malformed("base64 value has the wrong length"));
    }
    decode(text)?
        .try_into()
        .map_err(|_| Error::Malformed("base64 value has the wrong length"))
}

/// Encodes with the URL-safe alphabet, unpadded.
pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical, unpadded URL-safe base64 of exactly `N` bytes.
pub fn decode_url_array<const N: usize>(text: &str) -> Result<[u8; N]> {
    if text.len() != encoded_len(N) {
        return Err(Error::Malformed("base64 value has the wrong length"));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::Malformed("invalid base64"))?
        .try_into()
        .map_err(|_| Error::Malformed("base64 value has the wrong length"))
}

/// Length of the unpadded encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (n * 8).div_ceil(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_padding_and_non_canonical_bits() {
        assert_eq!(decode("AA").unwrap(), vec![0]);
        assert!(decode("AA==").is_err());
        assert!(decode("AB").is_err(), "trailing bits must be zero");
        assert!(decode("A").is_err());
        assert!(decode("AA\n").is_err());
    }

    #[test]
    fn fixed_length_values() {
        let text = encode(&[7u8; 32]);
        assert_eq!(text.len(), 43);
        assert_eq!(decode_array::<32>(&text).unwrap(), [7u8; 32]);
        assert!(decode_array::<31>(&text).is_err());
        assert_eq!(decode_url_array::<16>(&encode_url(&[0xfb; 16])).unwrap(), [0xfb; 16]);
    }
}
