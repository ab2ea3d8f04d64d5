//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures.
//!
//! ```text
//! <text, ending in a newline>
//! <empty line>
//! — <key name> BASE64(key ID(4) ‖ signature(64))   (one line per signature)
//! ```
//!
//! `key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`. Verifiers ignore signatures by
//! keys they do not know, and fail if a known key's signature does not verify.
//!
//! BASE64 here is standard base64 *with* padding, as c2sp.org/signed-note specifies (unlike the
//! unpadded base64 of the age header grammar in [`crate::b64`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::primitives::{ed25519_public, ed25519_sign, ed25519_verify, sha256};
use crate::{Error, Result};

const SIG_PREFIX: &str = "\u{2014} ";
const ED25519_TYPE: u8 = 0x01;
/// Most signature lines accepted on one note.
const MAX_SIGNATURES: usize = 100;

/// An Ed25519 verifier key: a name and a public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key name (no whitespace, no `+`).
    pub name: String,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// A verifier key; fails on a name the format forbids.
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            public,
        })
    }

    /// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pk)[..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        let digest = sha256(&[self.name.as_bytes(), b"\n", &[ED25519_TYPE], &self.public]);
        digest[..4].try_into().expect("4 of 32 bytes")
    }

    /// The `name+hex(key ID)+base64(0x01 ‖ pk)` text form.
    pub fn to_vkey(&self) -> String {
        let id = self.key_id();
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}+{}+{}",
            self.name,
            hex,
            STANDARD.encode([&[ED25519_TYPE][..], &self.public].concat())
        )
    }

    /// Parses the text form, checking that the key ID matches.
    pub fn from_vkey(text: &str) -> Result<Self> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hex), Some(key), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Malformed("verifier key must have three '+'-separated parts"));
        };
        let key = decode_padded(key)?;
        if key.len() != 33 || key[0] != ED25519_TYPE {
            return Err(Error::Malformed("verifier key is not an Ed25519 key"));
        }
        let vkey = Self::new(name, key[1..].try_into().expect("32 bytes"))?;
        let id = vkey.key_id();
        let id_hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        if hex != id_hex {
            return Err(Error::Malformed("verifier key ID does not match the key"));
        }
        Ok(vkey)
    }
}

/// Canonical padded standard base64.
fn decode_padded(text: &str) -> Result<Vec<u8>> {
    STANDARD.decode(text).map_err(|_| Error::Malformed("invalid base64"))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(Error::Malformed("invalid key name"));
    }
    Ok(())
}

/// Signs `text` (which must end in a newline and contain no empty line) as key `name`.
pub fn sign(text: &str, name: &str, seed: &[u8; 32]) -> Result<String> {
    check_text(text)?;
    check_name(name)?;
    let key = VerifierKey::new(name, ed25519_public(seed))?;
    let signature = ed25519_sign(seed, text.as_bytes());
    let mut blob = key.key_id().to_vec();
    blob.extend_from_slice(&signature);
    Ok(format!("{text}\n{SIG_PREFIX}{name} {}\n", STANDARD.encode(&blob)))
}

fn check_text(text: &str) -> Result<()> {
    if !text.ends_with('\n') || text.contains("\n\n") || text.starts_with('\n') {
        return Err(Error::Malformed(
            "note text must be non-empty lines ending in a newline",
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Malformed("note text has control characters"));
    }
    Ok(())
}

/// Verifies `note` against `key` and returns its text. Fails if the note is malformed, if it
/// carries no signature by `key`, or if any signature by `key` does not verify.
pub fn verify<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str> {
    let split = note
        .rfind("\n\n")
        .ok_or(Error::Malformed("note has no signature block"))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let signatures = &note[split + 2..];
    if !signatures.ends_with('\n') {
        return Err(Error::Malformed("note must end in a newline"));
    }
    let mut verified = false;
    for (count, line) in signatures[..signatures.len() - 1].split('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(Error::Malformed("too many signatures"));
        }
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(Error::Malformed("malformed signature line"))?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or(Error::Malformed("malformed signature line"))?;
        let sig = decode_padded(sig)?;
        if sig.len() < 5 {
            return Err(Error::Malformed("signature too short"));
        }
        if name != key.name || sig[..4] != key.key_id() {
            continue; // someone else's signature
        }
        let sig: [u8; 64] = sig[4..].try_into().map_err(|_| Error::BadSignature)?;
        ed25519_verify(&key.public, text.as_bytes(), &sig)?;
        verified = true;
    }
    if verified { Ok(text) } else { Err(Error::BadSignature) }
}
