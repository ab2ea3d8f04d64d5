//! Server shares at rest: wrapped under a server key-encryption key.
//!
//! The wrap is XChaCha20-Poly1305 with a random 24-byte nonce, the associated data binding the
//! share to its message and recipient:
//! `aad = "sealpost.org/v1/sshare-at-rest" ‖ 0x00 ‖ msg_id(16) ‖ rid(16)`, stored as
//! `nonce(24) ‖ ciphertext(32) ‖ tag(16)` (72 bytes). A row copied onto another message or
//! recipient does not open. The key comes from a file or the environment behind the
//! [`ShareWrapper`] trait, so a KMS or HSM can take its place.
//!
//! **Key ids and rotation.** Every wrap made since key rotation exists names the key that made
//! it: `0x01 ‖ key_id(8) ‖ nonce(24) ‖ ciphertext ‖ tag(16)` (9 bytes longer than before), where
//! `key_id = SHA-256("sealpost.org/v1/kek-id" ‖ 0x00 ‖ key)[..8]` (shown as 16 hex digits).
//! Older wraps carry no id; they are opened by trying each configured key. A [`LocalKek`] holds
//! one current key (every new wrap) and any number of previous keys (unwrap only), so replicas
//! can learn a new key before any of them uses it, and `sealpost-server admin kek rewrap` can
//! move stored material to the current key (`domain::kek`).

use std::path::{Path, PathBuf};

use sealpost_crypto::b64;
use sealpost_crypto::primitives::{xchacha20poly1305_open, xchacha20poly1305_seal};
use zeroize::Zeroizing;

use crate::config::Secret;

const AAD_LABEL: &[u8] = b"sealpost.org/v1/sshare-at-rest\0";

/// Length of a wrapped share made before key ids (legacy, no id).
pub const WRAPPED_LEN: usize = 24 + 32 + 16;
/// First byte of a wrap that names its key.
pub const TAGGED: u8 = 0x01;
/// Bytes a key id adds in front of a wrap: the marker and the 8-byte id.
pub const TAG_LEN: usize = 1 + KEY_ID_LEN;
/// Length of a key id.
pub const KEY_ID_LEN: usize = 8;
/// Length of a wrapped share that names its key.
pub const TAGGED_WRAPPED_LEN: usize = TAG_LEN + WRAPPED_LEN;

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
    /// Stored material names a key this server was not given.
    #[error(
        "stored material is wrapped by key-encryption key {0}, which this server does not have \
         (give its file in keys.previous_kek_files, or run `sealpost-server admin kek rewrap` on a server that has it)"
    )]
    UnknownKey(String),
}

/// The id of a key: `SHA-256("sealpost.org/v1/kek-id" ‖ 0x00 ‖ key)[..8]`.
pub fn key_id(key: &[u8; 32]) -> [u8; KEY_ID_LEN] {
    let digest = sealpost_crypto::primitives::sha256(&[b"sealpost.org/v1/kek-id\0", key.as_slice()]);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

/// A key id as shown to operators (16 lowercase hex digits).
pub fn key_id_hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key id a stored wrap names, if it names one.
pub fn wrapped_key_id(wrapped: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    if wrapped.len() < TAG_LEN + 24 + 16 || wrapped[0] != TAGGED {
        return None;
    }
    wrapped[1..TAG_LEN].try_into().ok()
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
    /// The id of the key new wraps are made with.
    fn current_key_id(&self) -> [u8; KEY_ID_LEN];
    /// Whether this wrapper can open wraps made by the key with this id.
    fn has_key_id(&self, id: &[u8]) -> bool;
}

/// `"sealpost.org/v1/" ‖ label ‖ 0x00 ‖ context`: a secret wrapped for one use and one owner
/// never opens for another.
fn secret_aad(label: &str, context: &[u8]) -> Vec<u8> {
    [b"sealpost.org/v1/".as_slice(), label.as_bytes(), b"\0", context].concat()
}

/// One 32-byte key and its id.
struct Key {
    id: [u8; KEY_ID_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl Key {
    fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { id: key_id(&key), key }
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| KekError::Random)?;
        let ct = xchacha20poly1305_seal(&self.key, &nonce, aad, plaintext);
        Ok([[TAGGED].as_slice(), &self.id, &nonce, &ct].concat())
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` (without the id prefix).
    fn open(&self, aad: &[u8], body: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if body.len() < 24 + 16 {
            return None;
        }
        let (nonce, ct) = body.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        xchacha20poly1305_open(&self.key, &nonce, aad, ct).ok()
    }
}

/// 32-byte keys held in process memory, loaded from files or the environment: the current key
/// (wraps and unwraps) and previous keys (unwrap only, during a rotation).
pub struct LocalKek {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKek")
            .field("current", &key_id_hex(&self.current.id))
            .field(
                "previous",
                &self.previous.iter().map(|k| key_id_hex(&k.id)).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
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
        Ok(Self::from_key(Zeroizing::new(bytes)))
    }

    fn from_key(key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            current: Key::new(key),
            previous: Vec::new(),
        }
    }

    /// Adds previous keys (unwrap only) read from these files, which must exist.
    pub fn with_previous_files(mut self, paths: &[PathBuf]) -> Result<Self, KekError> {
        for path in paths {
            let other = Self::from_file(path, false)?;
            if other.current.id != self.current.id && !self.has_key_id(&other.current.id) {
                self.previous.push(other.current);
            }
        }
        Ok(self)
    }

    /// Adds a previous key (unwrap only).
    pub fn with_previous(mut self, other: LocalKek) -> Self {
        if other.current.id != self.current.id && !self.has_key_id(&other.current.id) {
            self.previous.push(other.current);
        }
        self
    }

    /// The ids of every key held, current first.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| key_id_hex(&k.id))
            .collect()
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// Opens a stored wrap: by the key it names, else (a wrap made before key ids) by trying
    /// each key.
    fn open(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        let named = wrapped_key_id(wrapped);
        let by_name = named
            .and_then(|id| self.keys().find(|k| k.id == id))
            .and_then(|key| key.open(aad, &wrapped[TAG_LEN..]));
        if let Some(pt) = by_name {
            return Ok(pt);
        }
        if let Some(pt) = self.keys().find_map(|k| k.open(aad, wrapped)) {
            return Ok(pt);
        }
        match named {
            Some(id) if !self.has_key_id(&id) => Err(KekError::UnknownKey(key_id_hex(&id))),
            _ => Err(KekError::Unwrap),
        }
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
                Ok(Self::from_key(key))
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
        self.current.seal(&aad(msg_id, rid), share)
    }

    fn unwrap(&self, msg_id: &[u8; 16], rid: &[u8; 16], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, KekError> {
        let pt = self.open(&aad(msg_id, rid), wrapped)?;
        let share: [u8; 32] = pt.as_slice().try_into().map_err(|_| KekError::Unwrap)?;
        Ok(Zeroizing::new(share))
    }

    fn wrap_secret(&self, label: &str, context: &[u8], secret: &[u8]) -> Result<Vec<u8>, KekError> {
        self.current.seal(&secret_aad(label, context), secret)
    }

    fn unwrap_secret(&self, label: &str, context: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        self.open(&secret_aad(label, context), wrapped)
    }

    fn current_key_id(&self) -> [u8; KEY_ID_LEN] {
        self.current.id
    }

    fn has_key_id(&self, id: &[u8]) -> bool {
        self.keys().any(|k| k.id.as_slice() == id)
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
        assert_eq!(w.len(), TAGGED_WRAPPED_LEN);
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

    /// A wrap as servers made it before key ids: `nonce ‖ ciphertext ‖ tag`.
    fn legacy_wrap(key: &[u8; 32], msg_id: &[u8; 16], rid: &[u8; 16], share: &[u8; 32]) -> Vec<u8> {
        let nonce = [3u8; 24];
        let ct = xchacha20poly1305_seal(key, &nonce, &aad(msg_id, rid), share);
        [nonce.as_slice(), &ct].concat()
    }

    #[test]
    fn wraps_name_their_key_and_previous_keys_only_unwrap() {
        let old = LocalKek::from_text(&Secret::new(b64::encode(&[7u8; 32]))).unwrap();
        let w_old = old.wrap(&[1; 16], &[2; 16], &[5; 32]).unwrap();
        assert_eq!(wrapped_key_id(&w_old), Some(key_id(&[7u8; 32])));
        let legacy = legacy_wrap(&[7u8; 32], &[1; 16], &[2; 16], &[6; 32]);
        assert_eq!(legacy.len(), WRAPPED_LEN);

        // Phase 1: the new key is known but not used.
        let learning = LocalKek::from_text(&Secret::new(b64::encode(&[7u8; 32])))
            .unwrap()
            .with_previous(LocalKek::from_text(&Secret::new(b64::encode(&[8u8; 32]))).unwrap());
        assert_eq!(learning.current_key_id(), key_id(&[7u8; 32]));
        // Phase 2: the new key is current; the old one still opens everything it made.
        let rotated = LocalKek::from_text(&Secret::new(b64::encode(&[8u8; 32])))
            .unwrap()
            .with_previous(LocalKek::from_text(&Secret::new(b64::encode(&[7u8; 32]))).unwrap());
        let w_new = rotated.wrap(&[1; 16], &[2; 16], &[5; 32]).unwrap();
        assert_eq!(wrapped_key_id(&w_new), Some(key_id(&[8u8; 32])));
        // A replica still in phase 1 opens what a phase-2 replica wrapped, and the reverse.
        assert_eq!(*learning.unwrap(&[1; 16], &[2; 16], &w_new).unwrap(), [5; 32]);
        assert_eq!(*rotated.unwrap(&[1; 16], &[2; 16], &w_old).unwrap(), [5; 32]);
        assert_eq!(*rotated.unwrap(&[1; 16], &[2; 16], &legacy).unwrap(), [6; 32]);
        assert_eq!(rotated.key_ids().len(), 2);

        // Phase 4: the old key is gone; what it wrapped is refused, naming the key.
        let only_new = LocalKek::from_text(&Secret::new(b64::encode(&[8u8; 32]))).unwrap();
        let err = only_new.unwrap(&[1; 16], &[2; 16], &w_old).unwrap_err();
        let id = key_id_hex(&key_id(&[7u8; 32]));
        assert!(matches!(&err, KekError::UnknownKey(named) if *named == id), "{err}");
        assert!(err.to_string().contains(&id));
        assert!(matches!(
            only_new.unwrap(&[1; 16], &[2; 16], &legacy),
            Err(KekError::Unwrap)
        ));
        assert!(!only_new.has_key_id(&key_id(&[7u8; 32])));
    }
}
