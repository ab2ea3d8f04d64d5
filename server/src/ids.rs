//! Random identifiers and API tokens. Every id is 128 bits from the OS generator, never
//! sequential and never time-ordered; tokens are 256 bits and stored only as SHA-256 hashes.

use sealpost_crypto::{b64, primitives::sha256};

use crate::config::Secret;

/// The prefix that marks a Sealpost API token (helps secret scanners and log scrubbers).
pub const TOKEN_PREFIX: &str = "sp_";

/// Fills `buf` from the OS generator. Failure of the OS generator is unrecoverable for a server
/// whose every id and token depends on it, so it aborts the request with an error upstream.
pub fn fill_random(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

/// A new 128-bit random id, base64url (22 characters).
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(b64::encode_url(&bytes))
}

/// A new API token (`sp_` + base64url of 32 random bytes) and its hash.
pub fn new_token() -> Result<(Secret, [u8; 32]), getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    fill_random(bytes.as_mut())?;
    let token = Secret::new(format!("{TOKEN_PREFIX}{}", b64::encode_url(bytes.as_ref())));
    let hash = token_hash(token.expose());
    Ok((token, hash))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(&[b"sealpost.org/v1/api-token\0", token.as_bytes()])
}

/// Checks that `text` is a 16-byte id in canonical base64url (22 characters).
pub fn is_id(text: &str) -> bool {
    text.len() == 22 && b64::decode_url_array::<16>(text).is_ok()
}
