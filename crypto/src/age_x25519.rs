//! The plain age `X25519` recipient stanza (C2SP age §"X25519 recipient type"), kept for
//! interoperability tests with independent age implementations and for the CCTV vectors.
//! Sealpost messages use [`crate::recipient`] instead.
//!
//! ```text
//! -> X25519 BASE64(ephemeral share)
//! BASE64(ChaCha20-Poly1305(HKDF(X25519(e, R), share ‖ R, "age-encryption.org/v1/X25519"), 0¹², file key))
//! ```

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::header::Stanza;
use crate::identity::Identity;
use crate::primitives::{chacha20poly1305_open, chacha20poly1305_seal, hkdf_sha256_32, x25519, x25519_base};
use crate::secrets::FileKey;
use crate::{Error, Result, b64};

const TYPE: &str = "X25519";
const LABEL: &[u8] = b"age-encryption.org/v1/X25519";

/// An age X25519 recipient (public key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X25519Recipient(pub [u8; 32]);

impl X25519Recipient {
    /// Wraps `file_key` for this recipient in a fresh stanza.
    pub fn wrap(&self, file_key: &FileKey, rng: &mut impl CryptoRng) -> Result<Stanza> {
        let mut ephemeral = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ephemeral.as_mut());
        let share = x25519_base(&ephemeral);
        let shared = x25519(&ephemeral, &self.0).map_err(|_| Error::InvalidArgument("low-order X25519 recipient"))?;
        let wrap_key = hkdf_sha256_32(shared.as_ref(), &[share, self.0].concat(), LABEL);
        let body = chacha20poly1305_seal(&wrap_key, &[0; 12], b"", file_key.expose_secret());
        Stanza::new(vec![TYPE.to_owned(), b64::encode(&share)], body)
    }
}

/// An age X25519 identity (secret key).
pub struct X25519Identity {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl core::fmt::Debug for X25519Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("X25519Identity")
            .field("public", &b64::encode(&self.public))
            .finish_non_exhaustive()
    }
}

impl X25519Identity {
    /// An identity from its 32-byte secret scalar.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let public = x25519_base(&secret);
        Self {
            secret: Zeroizing::new(secret),
            public,
        }
    }

    /// A fresh random identity.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let identity = Self::from_secret(secret);
        zeroize::Zeroize::zeroize(&mut secret);
        identity
    }

    /// The matching recipient.
    pub fn recipient(&self) -> X25519Recipient {
        X25519Recipient(self.public)
    }

    /// The secret scalar.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl Identity for X25519Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        if stanza.kind() != TYPE {
            return None;
        }
        self.unwrap_checked(stanza).transpose()
    }
}

impl X25519Identity {
    fn unwrap_checked(&self, stanza: &Stanza) -> Result<Option<FileKey>> {
        if stanza.args.len() != 2 {
            return Err(Error::Malformed("X25519 stanza must have exactly one argument"));
        }
        let share = b64::decode_array::<32>(&stanza.args[1])?;
        // The exact length is checked before decrypting (multi-key attacks on ChaCha20-Poly1305).
        if stanza.body.len() != 32 {
            return Err(Error::Malformed("X25519 stanza body must be 32 bytes"));
        }
        let shared = x25519(&self.secret, &share)?;
        let wrap_key = hkdf_sha256_32(shared.as_ref(), &[share, self.public].concat(), LABEL);
        match chacha20poly1305_open(&wrap_key, &[0; 12], b"", &stanza.body) {
            Ok(file_key) => Ok(Some(FileKey::try_from_slice(&file_key)?)),
            // Not encrypted to us: the stanza belongs to another recipient.
            Err(_) => Ok(None),
        }
    }
}
