//! WebAssembly bindings of `sealpost-crypto` for the recipient page (issue #4 builds the page).
//!
//! Small and deliberately thin: every function checks its arguments, calls the crate, and turns
//! a failure into a `JsError` carrying the error's plain message. Secrets stay inside opaque
//! handles (`VerifiedEnvelope`, `OpenedShare`, `UnlockedMessage`) and are wiped when the page
//! frees them; only public keys and decrypted content cross into JavaScript.
//!
//! The flow on the page: `verify_envelope` (seal and header, before any key is used), then
//! `open_share` with the link key, then `unlock` with the server share released after the
//! second factor, then `manifest`, and `payload_stream` (or `decrypt_payload` for small
//! payloads) for the attachments.
//!
//! Registered recipients have no link key: `derive_password_keys` runs Argon2id once over the
//! password and the `prelogin` KDF object, its `login_key` signs in, and after the second factor
//! `open_keyblob` opens the key blob into a `RecipientKeys` handle for `open_share_with_keys`.
//! `derive_login_key` and `unlock_keyblob` are the one-shot forms.
//!
//! Log before release: the server share comes with a proof that its release was recorded in the
//! access log (a transparency log). `verify_release` checks that proof against the log key, and
//! the page uses the share only after it succeeded; `check_log_key` checks the key's text early.

use sealpost_crypto::keyblob::{KdfSpec, KeyBlob, PasswordKeys};
use sealpost_crypto::message::Envelope;
use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey};
use sealpost_crypto::sealed_stream::SealedPayloadStream;
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

    /// As [`Self::open_share`], with a registered recipient's own key from their key blob.
    pub fn open_share_with_keys(&self, keys: &RecipientKeys) -> Result<OpenedShare, JsError> {
        let inner = self.inner.open_share(&keys.encryption).map_err(js)?;
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

    /// The same recipient id as text (URL-safe base64, no padding), as the API and the access
    /// log name it: the page checks the release proof against this sealed id.
    pub fn rid_text(&self) -> String {
        self.inner.rid().to_text()
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

    /// The plaintext length in bytes of payload `index`, as sealed (for `Content-Length`).
    pub fn plaintext_length(&self, index: usize) -> Result<f64, JsError> {
        let stream = self.inner.payload_stream(index).map_err(js)?;
        // Below 2^53 for any payload a browser can fetch.
        Ok(stream.plaintext_len() as f64)
    }

    /// A streaming decryptor for payload `index`: feed it the payload from its first byte in
    /// pieces of any size. It checks the sealed nonce, length, every chunk and the chunk root;
    /// its output is complete only when `finish` succeeds.
    pub fn payload_stream(&self, index: usize) -> Result<PayloadStream, JsError> {
        let inner = self.inner.payload_stream(index).map_err(js)?;
        Ok(PayloadStream { inner: Some(inner) })
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
    let (keys, _login) = parse_blob(json)?.open(password).map_err(js)?;
    Ok(KeyBlobPublicKeys {
        x25519: keys.encryption_public().0,
        ed25519: keys.signing_public(),
    })
}

/// Decrypts one payload as it arrives (a browser fetching ranges), checked against the seal.
///
/// `push` returns the plaintext of the chunks the bytes completed: a verified prefix of the
/// attachment, never the whole of it until `finish` has succeeded. The final chunk is released
/// only after the chunk root matched the seal. Any failure is "decryption failed" and ends the
/// stream.
#[wasm_bindgen]
pub struct PayloadStream {
    inner: Option<SealedPayloadStream>,
}

impl core::fmt::Debug for PayloadStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PayloadStream").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl PayloadStream {
    fn stream(&mut self) -> Result<&mut SealedPayloadStream, JsError> {
        self.inner.as_mut().ok_or_else(|| JsError::new("the stream has ended"))
    }

    /// The sealed payload length in bytes, nonce included: the bytes to fetch.
    pub fn payload_length(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |s| s.payload_len() as f64)
    }

    /// The plaintext length in bytes the seal promises.
    pub fn plaintext_length(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |s| s.plaintext_len() as f64)
    }

    /// Payload bytes received so far: the offset of the next byte to fetch.
    pub fn received(&self) -> f64 {
        self.inner.as_ref().map_or(0.0, |s| s.received() as f64)
    }

    /// Feeds the next bytes of the payload; returns the plaintext of every chunk they complete
    /// (possibly empty). Fails on more bytes than sealed, a wrong nonce, a bad chunk or a
    /// chunk root that differs from the seal; the stream is then dead.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, JsError> {
        let stream = self.stream()?;
        let mut out = Vec::with_capacity(bytes.len());
        match stream.push(bytes, &mut out) {
            Ok(()) => Ok(out),
            Err(err) => {
                self.inner = None;
                Err(js(err))
            }
        }
    }

    /// Ends the stream: succeeds only if exactly the sealed bytes arrived and everything
    /// verified. Call it before declaring the attachment saved.
    pub fn finish(&mut self) -> Result<(), JsError> {
        let stream = self.inner.take().ok_or_else(|| JsError::new("decryption failed"))?;
        stream.finish().map_err(js)
    }
}

/// A registered recipient's X25519 secret key, opened from their key blob. Opaque; wiped when
/// freed. The signing key in the blob is dropped at once: the page never signs.
#[wasm_bindgen]
pub struct RecipientKeys {
    encryption: RecipientSecretKey,
}

impl core::fmt::Debug for RecipientKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecipientKeys")
            .field("public", &self.encryption.public())
            .finish()
    }
}

#[wasm_bindgen]
impl RecipientKeys {
    /// The X25519 public key.
    #[wasm_bindgen(getter)]
    pub fn x25519_public(&self) -> Vec<u8> {
        self.encryption.public().0.to_vec()
    }
}

fn parse_kdf(kdf_json: &str) -> Result<KdfSpec, JsError> {
    serde_json::from_str(kdf_json).map_err(|_| JsError::new("the KDF description is not valid JSON"))
}

fn parse_blob(json: &str) -> Result<KeyBlob, JsError> {
    serde_json::from_str(json).map_err(|_| JsError::new("the key blob is not valid JSON"))
}

/// The two keys Argon2id derives from a password: the login key for the server, and the key
/// that opens the key blob. Derive once, use for both.
#[wasm_bindgen]
pub struct PasswordKeysHandle {
    inner: PasswordKeys,
}

impl core::fmt::Debug for PasswordKeysHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PasswordKeysHandle(<redacted>)")
    }
}

/// Runs Argon2id over `password` with the key blob's KDF object (`kdf_json`, the `kdf` member of
/// the `prelogin` answer). Parameters outside the accepted range fail before any work.
#[wasm_bindgen]
pub fn derive_password_keys(kdf_json: &str, password: &str) -> Result<PasswordKeysHandle, JsError> {
    let inner = parse_kdf(kdf_json)?.derive(password).map_err(js)?;
    Ok(PasswordKeysHandle { inner })
}

#[wasm_bindgen]
impl PasswordKeysHandle {
    /// The login key, standard base64 without padding, for the `login` request.
    pub fn login_key(&self) -> String {
        self.inner.login().to_text().to_string()
    }

    /// Opens the key blob (its JSON) with these keys; checks its secrets against its public
    /// keys. A wrong password fails with "decryption failed".
    pub fn open_keyblob(&self, json: &str) -> Result<RecipientKeys, JsError> {
        let keys = parse_blob(json)?.open_with(&self.inner).map_err(js)?;
        Ok(RecipientKeys {
            encryption: keys.encryption,
        })
    }
}

/// The login key for `password` under the key blob's KDF object (`kdf_json`), standard base64
/// without padding. One Argon2id run; prefer `derive_password_keys` when the blob is opened next.
#[wasm_bindgen]
pub fn derive_login_key(kdf_json: &str, password: &str) -> Result<String, JsError> {
    Ok(derive_password_keys(kdf_json, password)?.login_key())
}

/// Opens a key blob with its password into a handle for `open_share_with_keys`.
#[wasm_bindgen]
pub fn open_keyblob(json: &str, password: &str) -> Result<RecipientKeys, JsError> {
    let (keys, _login) = parse_blob(json)?.open(password).map_err(js)?;
    Ok(RecipientKeys {
        encryption: keys.encryption,
    })
}

/// Most inclusion-proof hashes accepted: a log of at most 2^56 entries needs at most 56.
const MAX_PROOF_HASHES: usize = 64;
/// Longest base64 leaf accepted (a log entry is at most 8192 bytes).
const MAX_LEAF_B64: usize = 8192usize.div_ceil(3) * 4;

/// Canonical standard base64 *with* padding (as c2sp.org/signed-note and the log use it).
fn decode_padded(text: &str, what: &str) -> Result<Vec<u8>, JsError> {
    let malformed = || JsError::new(&format!("{what} is not valid base64"));
    let bare = text.trim_end_matches('=');
    let bytes = sealpost_crypto::b64::decode(bare).map_err(|_| malformed())?;
    let mut canonical = sealpost_crypto::b64::encode(&bytes);
    while !canonical.len().is_multiple_of(4) {
        canonical.push('=');
    }
    if canonical != text {
        return Err(malformed());
    }
    Ok(bytes)
}

fn log_key(text: &str) -> Result<VerifierKey, JsError> {
    VerifierKey::from_vkey(text).map_err(|_| JsError::new("the log key is not a valid verifier key"))
}

/// Checks that `log_key_text` is a valid C2SP verifier key (`name+hex(key ID)+base64(0x01 ‖ pk)`).
/// The page calls it when it pins the key, before the recipient verifies.
#[wasm_bindgen]
pub fn check_log_key(log_key_text: &str) -> Result<(), JsError> {
    log_key(log_key_text).map(drop)
}

/// Checks the proof that comes with a released server share ("log before release"): the
/// checkpoint note (`checkpoint`) is signed by the log key `log_key_text` (C2SP vkey text),
/// the leaf (`leaf_b64`, standard padded base64 of the log entry text) is at `index` in that
/// checkpoint's tree by the inclusion proof `proof_b64` (standard padded base64 hashes, leaf to
/// root), and it is a `share.released` entry at that index naming `message_id` and `rid`.
///
/// `index` is a JavaScript number: it must be a non-negative integer below 2^53. Fails with a
/// plain message on any mismatch; the share must then not be used.
#[wasm_bindgen]
pub fn verify_release(
    log_key_text: &str,
    checkpoint: &str,
    index: f64,
    leaf_b64: &str,
    proof_b64: Vec<String>,
    message_id: &str,
    rid: &str,
) -> Result<(), JsError> {
    let key = log_key(log_key_text)?;
    // Integers up to 2^53 − 1 are exact in a JavaScript number; anything else is refused.
    if !(index.is_finite() && index >= 0.0 && index.fract() == 0.0 && index < 9_007_199_254_740_992.0) {
        return Err(JsError::new("the log index is not a valid number"));
    }
    if leaf_b64.len() > MAX_LEAF_B64 {
        return Err(JsError::new("the log entry is too long"));
    }
    let leaf = decode_padded(leaf_b64, "the log entry")?;
    if proof_b64.len() > MAX_PROOF_HASHES {
        return Err(JsError::new("the inclusion proof is too long"));
    }
    let proof = proof_b64
        .iter()
        .map(|hash| {
            decode_padded(hash, "an inclusion proof hash")?
                .try_into()
                .map_err(|_| JsError::new("an inclusion proof hash must be 32 bytes"))
        })
        .collect::<Result<Vec<[u8; 32]>, JsError>>()?;
    sealpost_crypto::tlog::verify_release(&key, checkpoint, index as u64, &leaf, &proof, message_id, rid)
        .map(drop)
        .map_err(js)
}
