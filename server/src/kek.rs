//! Server shares at rest: wrapped under a server key-encryption key.
//!
//! The wrap is XChaCha20-Poly1305 with a random 24-byte nonce, the associated data binding the
//! share to its message and recipient:
//! `aad = "sealpost.org/v1/sshare-at-rest" ‖ 0x00 ‖ msg_id(16) ‖ rid(16)`, stored as
//! `nonce(24) ‖ ciphertext(32) ‖ tag(16)` (72 bytes). A row copied onto another message or
//! recipient does not open. The key comes from a file or the environment behind the
//! [`ShareWrapper`] trait, so a KMS or HSM can take its place.

use std::path::Path;

use sealpost_crypto::b64;
use sealpost_crypto::primitives::{xchacha20poly1305_open, xchacha20poly1305_seal};
use zeroize::Zeroizing;

use crate::config::Secret;

const AAD_LABEL: &[u8] = b"sealpost.org/v1/sshare-at-rest\0";

/// Length of a wrapped share.
pub const WRAPPED_LEN: usize = 24 + 32 + 16;

/// Failure of the key-encryption key.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The key could not be read or created.
    #[error("server key-encryption key: {0}")]
    Load(String),
    /// A wrapped share did not open (wrong key, or a tampered or misplaced row).
    #[error("a stored server share failed authentication")]
    Unwrap,
    /// The OS random generator failed.
    #[error("random generator failure")]
    Random,
}

/// Wraps and unwraps server shares.
pub trait ShareWrapper: Send + Sync + std::fmt::Debug {
    /// Wraps `share` for (`msg_id`, `rid`).
    fn wrap(&self, msg_id: &[u8; 16], rid: &[u8; 16], share: &[u8; 32]) -> Result<Vec<u8>, KekError>;
    /// Unwraps.
    fn unwrap(&self, msg_id: &[u8; 16], rid: &[u8; 16], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, KekError>;
    /// Wraps another server-side secret (a TOTP seed) under `label` for `context` (an owner id).
    fn wrap_secret(&self, label: &str, context: &[u8], secret: &[u8]) -> Result<Vec<u8>, KekError>;
    /// Unwraps what [`ShareWrapper::wrap_secret`] wrapped with the same label and context.
    fn unwrap_secret(&self, label: &str, context: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError>;
}

/// `"sealpost.org/v1/" ‖ label ‖ 0x00 ‖ context`: a secret wrapped for one use and one owner
/// never opens for another.
fn secret_aad(label: &str, context: &[u8]) -> Vec<u8> {
    [b"sealpost.org/v1/".as_slice(), label.as_bytes(), b"\0", context].concat()
}

/// A 32-byte key held in process memory, loaded from a file or the environment.
pub struct LocalKek {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKek(<redacted>)")
    }
}

fn aad(msg_id: &[u8; 16], rid: &[u8; 16]) -> Vec<u8> {
    [AAD_LABEL, msg_id, rid].concat()
}

impl LocalKek {
    /// From base64 text of 32 bytes.
    pub fn from_text(text: &Secret) -> Result<Self, KekError> {
        let bytes = b64::decode(text.expose().trim())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .ok_or_else(|| KekError::Load("the key must be base64 (standard, unpadded) of exactly 32 bytes".into()))?;
        Ok(Self {
            key: Zeroizing::new(bytes),
        })
    }

    /// Reads the key file; creates it (mode 0600, 32 random bytes) when `create` and it is absent.
    pub fn from_file(path: &Path, create: bool) -> Result<Self, KekError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_text(&Secret::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(key.as_mut()).map_err(|_| KekError::Random)?;
                let text = Zeroizing::new(b64::encode(key.as_ref()) + "\n");
                write_new_private(path, text.as_bytes())
                    .map_err(|e| KekError::Load(format!("cannot create {}: {e}", path.display())))?;
                Ok(Self { key })
            }
            Err(e) => Err(KekError::Load(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

/// Creates a file that must not exist yet, readable by its owner only, and syncs it.
fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

impl ShareWrapper for LocalKek {
    fn wrap(&self, msg_id: &[u8; 16], rid: &[u8; 16], share: &[u8; 32]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| KekError::Random)?;
        let ct = xchacha20poly1305_seal(&self.key, &nonce, &aad(msg_id, rid), share);
        Ok([nonce.as_slice(), &ct].concat())
    }

    fn unwrap(&self, msg_id: &[u8; 16], rid: &[u8; 16], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, KekError> {
        if wrapped.len() != WRAPPED_LEN {
            return Err(KekError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| KekError::Unwrap)?;
        let pt = xchacha20poly1305_open(&self.key, &nonce, &aad(msg_id, rid), ct).map_err(|_| KekError::Unwrap)?;
        let share: [u8; 32] = pt.as_slice().try_into().map_err(|_| KekError::Unwrap)?;
        Ok(Zeroizing::new(share))
    }

    fn wrap_secret(&self, label: &str, context: &[u8], secret: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| KekError::Random)?;
        let ct = xchacha20poly1305_seal(&self.key, &nonce, &secret_aad(label, context), secret);
        Ok([nonce.as_slice(), &ct].concat())
    }

    fn unwrap_secret(&self, label: &str, context: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        if wrapped.len() < 24 + 16 {
            return Err(KekError::Unwrap);
        }
        let (nonce, ct) = wrapped.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| KekError::Unwrap)?;
        let pt =
            xchacha20poly1305_open(&self.key, &nonce, &secret_aad(label, context), ct).map_err(|_| KekError::Unwrap)?;
        Ok(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_secrets_bind_label_and_owner() {
        let kek = LocalKek::from_text(&Secret::new(b64::encode(&[7u8; 32]))).unwrap();
        let w = kek.wrap_secret("totp", b"user-1", b"twenty bytes seed!!!").unwrap();
        assert_eq!(
            kek.unwrap_secret("totp", b"user-1", &w).unwrap().as_slice(),
            b"twenty bytes seed!!!"
        );
        assert!(kek.unwrap_secret("totp", b"user-2", &w).is_err());
        assert!(kek.unwrap_secret("other", b"user-1", &w).is_err());
        assert!(kek.unwrap_secret("totp", b"user-1", &w[..30]).is_err());
    }

    #[test]
    fn wrap_binds_message_and_recipient() {
        let kek = LocalKek::from_text(&Secret::new(b64::encode(&[7u8; 32]))).unwrap();
        let share = [9u8; 32];
        let w = kek.wrap(&[1; 16], &[2; 16], &share).unwrap();
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(*kek.unwrap(&[1; 16], &[2; 16], &w).unwrap(), share);
        assert!(kek.unwrap(&[1; 16], &[3; 16], &w).is_err());
        assert!(kek.unwrap(&[4; 16], &[2; 16], &w).is_err());
        let other = LocalKek::from_text(&Secret::new(b64::encode(&[8u8; 32]))).unwrap();
        assert!(other.unwrap(&[1; 16], &[2; 16], &w).is_err());
        let mut flipped = w.clone();
        flipped[30] ^= 1;
        assert!(kek.unwrap(&[1; 16], &[2; 16], &flipped).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let a = LocalKek::from_file(&path, true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = LocalKek::from_file(&path, false).unwrap();
        let w = a.wrap(&[1; 16], &[2; 16], &[5; 32]).unwrap();
        assert_eq!(*b.unwrap(&[1; 16], &[2; 16], &w).unwrap(), [5; 32]);
        assert!(LocalKek::from_file(&dir.path().join("absent"), false).is_err());
    }
}
