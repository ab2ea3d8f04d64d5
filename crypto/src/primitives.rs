//! Thin wrappers over the primitive crates, so that every construction in this crate goes through
//! one audited call site per primitive, and so that the external vectors (Wycheproof, RFC 9180,
//! RFC 9106, RFC 8439) test exactly the functions the format uses.

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, XChaCha20Poly1305};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// HKDF-SHA256 (RFC 5869) extract-then-expand into `out`. Fails only if `out` is longer than
/// 255 × 32 bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| Error::InvalidArgument("HKDF output too long"))
}

/// HKDF-SHA256 into a fresh 32-byte key.
pub fn hkdf_sha256_32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Constant-time check of an HMAC-SHA256 tag; `tag` may be a truncation of the full tag.
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> Result<()> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    if tag.len() == 32 {
        mac.verify_slice(tag).map_err(|_| Error::DecryptionFailed)
    } else {
        mac.verify_truncated_left(tag).map_err(|_| Error::DecryptionFailed)
    }
}

/// ChaCha20-Poly1305 (RFC 8439) encryption of `buf` in place; returns the tag.
pub fn chacha20poly1305_seal_in_place(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    cipher
        .encrypt_inout_detached(&(*nonce).into(), aad, InOutBuf::from(buf))
        .expect("ChaCha20-Poly1305 accepts messages of this length")
        .into()
}

/// ChaCha20-Poly1305 decryption of `buf` in place. On failure `buf` is left unspecified and
/// must not be used.
pub fn chacha20poly1305_open_in_place(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt_inout_detached(&(*nonce).into(), aad, InOutBuf::from(buf), &(*tag).into())
        .map_err(|_| Error::DecryptionFailed)
}

/// ChaCha20-Poly1305 encryption returning `ciphertext ‖ tag`.
pub fn chacha20poly1305_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = chacha20poly1305_seal_in_place(key, nonce, aad, &mut out);
    out.extend_from_slice(&tag);
    out
}

/// ChaCha20-Poly1305 decryption of `ciphertext ‖ tag`.
pub fn chacha20poly1305_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let split = sealed.len().checked_sub(TAG_LEN).ok_or(Error::DecryptionFailed)?;
    let tag: [u8; TAG_LEN] = sealed[split..].try_into().expect("split leaves 16 bytes");
    let mut out = Zeroizing::new(sealed[..split].to_vec());
    chacha20poly1305_open_in_place(key, nonce, aad, &mut out, &tag)?;
    Ok(out)
}

/// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) encryption returning `ciphertext ‖ tag`.
pub fn xchacha20poly1305_seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&(*nonce).into(), aad, InOutBuf::from(out.as_mut_slice()))
        .expect("XChaCha20-Poly1305 accepts messages of this length");
    out.extend_from_slice(&tag);
    out
}

/// XChaCha20-Poly1305 decryption of `ciphertext ‖ tag`.
pub fn xchacha20poly1305_open(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let split = sealed.len().checked_sub(TAG_LEN).ok_or(Error::DecryptionFailed)?;
    let tag: [u8; TAG_LEN] = sealed[split..].try_into().expect("split leaves 16 bytes");
    let mut out = Zeroizing::new(sealed[..split].to_vec());
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt_inout_detached(&(*nonce).into(), aad, InOutBuf::from(out.as_mut_slice()), &tag.into())
        .map_err(|_| Error::DecryptionFailed)?;
    Ok(out)
}

/// X25519 (RFC 7748) with the all-zero output rejected, as age and RFC 9180 require.
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(Error::Malformed("X25519 shared secret is all zeros"));
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// X25519 public key for a secret scalar.
pub fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

/// The HPKE suite of format v1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305.
pub mod hpke_suite {
    /// KEM.
    pub type Kem = hpke::kem::X25519HkdfSha256;
    /// KDF.
    pub type Kdf = hpke::kdf::HkdfSha256;
    /// AEAD.
    pub type Aead = hpke::aead::ChaCha20Poly1305;
}

/// HPKE `SealBase` (RFC 9180 §6.1, single shot) to `recipient_pk`. Returns `(enc, ct ‖ tag)`.
pub fn hpke_seal_base(
    recipient_pk: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<([u8; 32], Vec<u8>)> {
    use hpke_suite::{Aead, Kdf, Kem};
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_pk)
        .map_err(|_| Error::Malformed("invalid X25519 public key"))?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(&OpModeS::Base, &pk, info, plaintext, aad, rng)
        .map_err(|_| Error::InvalidArgument("HPKE seal failed: low-order recipient key"))?;
    let enc: [u8; 32] = enc.to_bytes().into();
    Ok((enc, ct))
}

/// HPKE `OpenBase` (RFC 9180 §6.1, single shot). Any failure, including an all-zero shared
/// secret, is [`Error::DecryptionFailed`].
pub fn hpke_open_base(
    recipient_sk: &[u8; 32],
    enc: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    use hpke_suite::{Aead, Kdf, Kem};
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(recipient_sk).map_err(|_| Error::DecryptionFailed)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| Error::DecryptionFailed)?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info, ciphertext, aad)
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
}

/// RFC 9180 `DeriveKeyPair` for the suite's KEM: `(sk, pk)` from input keying material.
pub fn hpke_derive_keypair(ikm: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let (sk, pk) = hpke_suite::Kem::derive_keypair(ikm);
    let sk: [u8; 32] = sk.to_bytes().into();
    (Zeroizing::new(sk), pk.to_bytes().into())
}

/// Ed25519 (RFC 8032) signature with a 32-byte seed.
pub fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    ed25519_dalek::SigningKey::from_bytes(seed).sign(message).to_bytes()
}

/// Ed25519 public key for a seed.
pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Strict Ed25519 verification: rejects non-canonical encodings and small-order keys and `R`.
pub fn ed25519_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<()> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|_| Error::BadSignature)?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).map_err(|_| Error::BadSignature)
}
