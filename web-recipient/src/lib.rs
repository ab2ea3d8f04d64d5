//! WebAssembly bindings of `sealpost-crypto` for the recipient page (issue #4 builds the page).
//!
//! Small and deliberately thin: every function checks its arguments, calls the crate, and turns
//! a failure into a `JsError` carrying the error's plain message. Secrets stay inside opaque
//! handles (`VerifiedEnvelope`, `OpenedShare`, `UnlockedMessage`) and are wiped when the page
//! frees them; only public keys and decrypted content cross into JavaScript.
//!
//! The flow on the page: `verify_envelope` (seal and header, before any key is used), then
//! `open_share` with the link key, then `unlock` with the server share released after the
//! second factor, then `manifest` and `decrypt_payload`. Users with an account unlock their key
//! blob with `unlock_keyblob`.

use sealpost_crypto::keyblob::KeyBlob;
use sealpost_crypto::message::Envelope;
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey};
use sealpost_crypto::secrets::ServerShare;
use wasm_bindgen::prelude::*;

/// The error as JavaScript sees it: an `Error` with the crate's plain message.
fn js(err: sealpost_crypto::Error) -> JsError {
    JsError::new(&err.to_string())
}

fn array32(bytes: &[u8], what: &str) -> Result<[u8; 32], JsError> {
    bytes
        .try_into()
        .map_err(|_| JsError::new(&format!("{what} must be 32 bytes")))
}

/// The browser's CSPRNG (Web Crypto `getRandomValues`), for operations that need randomness.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub fn web_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A message whose seal verified against the sender's key and whose header is the sealed one.
#[wasm_bindgen]
pub struct VerifiedEnvelope {
    inner: Envelope,
}

impl core::fmt::Debug for VerifiedEnvelope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifiedEnvelope").finish_non_exhaustive()
    }
}

/// Verifies the sender's seal (`seal_text`, a signed note) against the sender's Ed25519 public
/// key, checks that it names message `msg_id_text` (URL-safe base64) and binds `header`.
#[wasm_bindgen]
pub fn verify_envelope(
    msg_id_text: &str,
    header: &[u8],
    seal_text: &str,
    sender_public: &[u8],
) -> Result<VerifiedEnvelope, JsError> {
    let msg_id = MessageId::from_text(msg_id_text).map_err(js)?;
    let sender = array32(sender_public, "the sender's public key")?;
    let inner = Envelope::verify(&msg_id, header, seal_text, &sender).map_err(js)?;
    Ok(VerifiedEnvelope { inner })
}

#[wasm_bindgen]
impl VerifiedEnvelope {
    /// Number of payloads the seal lists: the manifest, then one per attachment.
    pub fn payload_count(&self) -> usize {
        self.inner.seal().payloads.len()
    }

    /// The sealed length in bytes of payload `index` (what the store must serve).
    pub fn payload_length(&self, index: usize) -> Result<f64, JsError> {
        let digest = self
            .inner
            .seal()
            .payloads
            .get(index)
            .ok_or_else(|| JsError::new("no such payload"))?;
        // Payload lengths are far below 2^53, so a JavaScript number holds them exactly.
        Ok(digest.len as f64)
    }

    /// Whether `policy` is the policy the sender sealed.
    pub fn policy_matches(&self, policy: &[u8]) -> bool {
        self.inner.policy_matches(policy)
    }

    /// Opens the recipient share addressed to the link key `link_secret` (the URL-safe base64
    /// secret from the link fragment). Needs no server share and reveals nothing on its own.
    pub fn open_share(&self, link_secret: &str) -> Result<OpenedShare, JsError> {
        let key = RecipientSecretKey::from_link_secret(link_secret).map_err(js)?;
        let inner = self.inner.open_share(&key).map_err(js)?;
        Ok(OpenedShare { inner })
    }

    /// Combines an opened share with the 32-byte server share and verifies the header MAC.
    pub fn unlock(&self, share: &OpenedShare, server_share: &[u8]) -> Result<UnlockedMessage, JsError> {
        let server_share = ServerShare::from_bytes(array32(server_share, "the server share")?);
        let inner = self.inner.unlock(&share.inner, &server_share).map_err(js)?;
        Ok(UnlockedMessage { inner })
    }
}

/// A recipient share opened from the header, waiting for the server share.
#[wasm_bindgen]
pub struct OpenedShare {
    inner: sealpost_crypto::recipient::OpenedShare,
}

impl core::fmt::Debug for OpenedShare {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenedShare").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl OpenedShare {
    /// The recipient id the share was addressed to (16 bytes), for requesting the server share.
    pub fn rid(&self) -> Vec<u8> {
        self.inner.rid().0.to_vec()
    }
}

/// A message whose file key is known and verified: an opaque handle that decrypts payloads.
#[wasm_bindgen]
pub struct UnlockedMessage {
    inner: sealpost_crypto::message::UnlockedMessage,
}

impl core::fmt::Debug for UnlockedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnlockedMessage").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl UnlockedMessage {
    /// Number of payloads: the manifest, then one per attachment.
    pub fn payload_count(&self) -> usize {
        self.inner.payload_count()
    }

    /// Decrypts payload `index` (0 is the manifest), checking its sealed nonce, length and chunk
    /// root. Fails with "decryption failed" on any tampering.
    pub fn decrypt_payload(&self, index: usize, payload: &[u8]) -> Result<Vec<u8>, JsError> {
        self.inner.decrypt_payload(index, payload).map_err(js)
    }

    /// Decrypts the manifest (payload 0), checks it against the seal, and returns it as JSON:
    /// `{"v":1,"subject":…,"body":…,"attachments":[{"name":…,"size":…,"media_type":…}]}`.
    pub fn manifest(&self, payload: &[u8]) -> Result<String, JsError> {
        let manifest = self.inner.manifest(payload).map_err(js)?;
        serde_json::to_string(&manifest).map_err(|_| JsError::new("the manifest does not serialise"))
    }
}

/// The public keys of an opened key blob. The secret keys are wiped before this returns.
#[wasm_bindgen]
#[derive(Debug)]
pub struct KeyBlobPublicKeys {
    x25519: [u8; 32],
    ed25519: [u8; 32],
}

#[wasm_bindgen]
impl KeyBlobPublicKeys {
    /// The X25519 public key messages are encrypted to.
    #[wasm_bindgen(getter)]
    pub fn x25519_public(&self) -> Vec<u8> {
        self.x25519.to_vec()
    }

    /// The Ed25519 public key that signs the user's seals.
    #[wasm_bindgen(getter)]
    pub fn ed25519_public(&self) -> Vec<u8> {
        self.ed25519.to_vec()
    }
}

/// Opens a password-protected key blob (its JSON as the server stores it) and returns its
/// public keys. A wrong password fails with "decryption failed"; Argon2id parameters outside
/// the accepted range fail before any work.
#[wasm_bindgen]
pub fn unlock_keyblob(json: &str, password: &str) -> Result<KeyBlobPublicKeys, JsError> {
    let blob: KeyBlob = serde_json::from_str(json).map_err(|_| JsError::new("the key blob is not valid JSON"))?;
    let (keys, _login) = blob.open(password).map_err(js)?;
    Ok(KeyBlobPublicKeys {
        x25519: keys.encryption_public().0,
        ed25519: keys.signing_public(),
    })
}
