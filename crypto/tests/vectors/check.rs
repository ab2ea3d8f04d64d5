//! Sealpost message format v1: the generator and checker of Sealpost's own known-answer vectors
//! (`crypto/tests/vectors/sealpost-v1/*.json`, described in `crypto/tests/vectors/README.md`).
//!
//! Shared, through `#[path = ...] mod check;`, by `crypto/tests/sealpost_vectors.rs` (native) and
//! `web-recipient/tests/wasm_vectors.rs` (wasm32 in node). It works on JSON text only, never on
//! files, so that the wasm tests can feed it `include_str!` contents.
//!
//! Every vector is a pure function of its recorded inputs: [`check_vector`] (a) opens it (or
//! fails to, with the recorded error class) using only the recorded outputs, and (b) rebuilds
//! the whole file from the recorded inputs and requires it to be byte-identical. [`generate`]
//! builds a vector from scratch, drawing every input from [`TestRng`] seeded by the vector's
//! name; it must agree with the committed file too.

#![allow(dead_code)]

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sealpost_crypto::header::Header;
use sealpost_crypto::keyblob::{KdfParams, KeyBlob, UserKeys, argon2id};
use sealpost_crypto::manifest::{AttachmentInfo, Manifest};
use sealpost_crypto::merkle::{leaf_hash, root_of};
use sealpost_crypto::message::{AttachmentInput, Envelope, SealedMessage, encrypt_payload, seal_message_with};
use sealpost_crypto::primitives::{
    chacha20poly1305_seal, ed25519_public, hkdf_sha256_32, hpke_derive_keypair, hpke_open_base, sha256, x25519_base,
    xchacha20poly1305_seal,
};
use sealpost_crypto::recipient::{MessageId, RecipientPublicKey, RecipientSecretKey, STANZA_TYPE};
use sealpost_crypto::seal::{PayloadDigest, SealBody};
use sealpost_crypto::secrets::{FileKey, ServerShare, SymmetricKey};
use sealpost_crypto::stream::{CHUNK_LEN, ENCRYPTED_CHUNK_LEN, NONCE_LEN, chunk_nonce};
use sealpost_crypto::{Error, b64};
use serde_json::Value;

/// The `format` field of every vector.
pub const FORMAT: &str = "sealpost-v1";

/// Every vector, by file stem. The directory must hold exactly these files.
pub const VECTOR_NAMES: &[&str] = &[
    "msg_one_recipient",
    "msg_three_recipients",
    "msg_attachment_sizes",
    "keyblob_nfc_nfd",
    "fail_wrong_server_share",
    "fail_server_share_of_other_recipient",
    "fail_not_a_recipient",
    "fail_msg_id_swapped",
    "fail_stanza_body_79_bytes",
    "fail_stanza_body_81_bytes",
    "fail_header_mac_flipped",
    "fail_header_extra_byte",
    "fail_seal_signature_flipped",
    "fail_seal_signed_by_other_key",
    "fail_seal_names_other_header",
    "fail_payload_chunk_swapped",
    "fail_payload_truncated",
    "fail_payload_appended",
    "fail_payload_empty_final_chunk",
    "fail_manifest_size_mismatch",
    "fail_keyblob_wrong_password",
    "fail_keyblob_m_below_floor",
    "fail_keyblob_m_above_cap",
];

fn describe(name: &str) -> &'static str {
    match name {
        "msg_one_recipient" => "One recipient, non-ASCII subject, one small attachment.",
        "msg_three_recipients" => "Three recipients; each opens the message with its own key and server share.",
        "msg_attachment_sizes" => {
            "Attachments of 0, 1, 65536 and 65537 bytes (empty, one byte, one full chunk, a full chunk and a one-byte chunk)."
        }
        "keyblob_nfc_nfd" => {
            "Key blob at the Argon2id floor (m=19456, t=2, p=1); the NFC and NFD forms of the same non-ASCII password open it and give the same login key."
        }
        "fail_wrong_server_share" => "A random server share instead of the recipient's.",
        "fail_server_share_of_other_recipient" => {
            "Recipient 0 combines its share with the server share of recipient 1."
        }
        "fail_not_a_recipient" => "A key that is not among the recipients.",
        "fail_msg_id_swapped" => "The message is presented under another message id.",
        "fail_stanza_body_79_bytes" => {
            "The stanza body is cut to 79 bytes; header MAC recomputed and seal re-signed over the new header."
        }
        "fail_stanza_body_81_bytes" => {
            "The stanza body is extended to 81 bytes; header MAC recomputed and seal re-signed over the new header."
        }
        "fail_header_mac_flipped" => {
            "One bit of the header MAC flipped; the seal is re-signed over the altered header so that only the MAC catches it."
        }
        "fail_header_extra_byte" => "One byte appended to the header; the seal is re-signed over the longer header.",
        "fail_seal_signature_flipped" => "One bit of the Ed25519 signature on the seal flipped.",
        "fail_seal_signed_by_other_key" => "The same seal text signed by another Ed25519 key.",
        "fail_seal_names_other_header" => "A genuine seal by the sender for the same message id but another header.",
        "fail_payload_chunk_swapped" => {
            "Chunk 0 of an attachment replaced by chunk 0 of the same attachment in another message."
        }
        "fail_payload_truncated" => "An attachment payload with its last byte removed.",
        "fail_payload_appended" => "An attachment payload with one byte appended.",
        "fail_payload_empty_final_chunk" => {
            "A 65536-byte attachment encrypted by the sender as a full chunk plus an empty final chunk, sealed with that length."
        }
        "fail_manifest_size_mismatch" => {
            "The sender's manifest lists an attachment size that disagrees with the sealed payload."
        }
        "fail_keyblob_wrong_password" => "The key blob opened with a wrong password.",
        "fail_keyblob_m_below_floor" => "A key blob genuinely sealed with m = 19455 KiB, one below the floor.",
        "fail_keyblob_m_above_cap" => "A key blob whose m is raised to 1048577 KiB, one above the cap.",
        _ => panic!("unknown vector {name}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness.

/// Label of the test RNG's SHA-256 counter mode.
pub const RNG_LABEL: &[u8] = b"sealpost.org/v1/test-rng";
const RNG_ALGORITHM: &str = "block_i = SHA-256(\"sealpost.org/v1/test-rng\" || 0x00 || seed || BE64(i)), i = 0, 1, ...; bytes are taken in order";

/// A deterministic [`rand_core::CryptoRng`] for tests only: SHA-256 in counter mode from a seed,
/// or a replay of recorded bytes. It logs every byte it hands out.
pub struct TestRng {
    source: Source,
    consumed: Vec<u8>,
}

enum Source {
    Counter {
        seed: [u8; 32],
        counter: u64,
        block: [u8; 32],
        used: usize,
    },
    Replay {
        bytes: Vec<u8>,
        pos: usize,
    },
}

impl TestRng {
    /// The SHA-256 counter stream of `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            source: Source::Counter {
                seed,
                counter: 0,
                block: [0; 32],
                used: 32,
            },
            consumed: Vec::new(),
        }
    }

    /// Hands out exactly `bytes`, then panics.
    pub fn replay(bytes: &[u8]) -> Self {
        Self {
            source: Source::Replay {
                bytes: bytes.to_vec(),
                pos: 0,
            },
            consumed: Vec::new(),
        }
    }

    fn byte(&mut self) -> u8 {
        let byte = match &mut self.source {
            Source::Counter {
                seed,
                counter,
                block,
                used,
            } => {
                if *used == block.len() {
                    *block = sha256(&[RNG_LABEL, &[0], &seed[..], &counter.to_be_bytes()]);
                    *counter += 1;
                    *used = 0;
                }
                *used += 1;
                block[*used - 1]
            }
            Source::Replay { bytes, pos } => {
                let byte = *bytes
                    .get(*pos)
                    .expect("the code consumed more random bytes than the vector records");
                *pos += 1;
                byte
            }
        };
        self.consumed.push(byte);
        byte
    }

    /// Fills `dst`.
    pub fn fill(&mut self, dst: &mut [u8]) {
        dst.iter_mut().for_each(|b| *b = self.byte());
    }

    /// `N` fresh bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    /// `len` fresh bytes.
    pub fn vec(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.fill(&mut out);
        out
    }

    /// The bytes handed out since the last call.
    pub fn take_consumed(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.consumed)
    }

    /// Panics unless a replay has handed out every recorded byte.
    pub fn assert_exhausted(&self) {
        if let Source::Replay { bytes, pos } = &self.source {
            assert_eq!(
                *pos,
                bytes.len(),
                "the code consumed fewer random bytes than the vector records"
            );
        }
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_le_bytes(self.array()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from_le_bytes(self.array()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// The seed of vector `name`: `SHA-256("sealpost.org/v1/test-vectors" ‖ 0x00 ‖ name)`.
pub fn vector_seed(name: &str) -> [u8; 32] {
    sha256(&[b"sealpost.org/v1/test-vectors", &[0], name.as_bytes()])
}

// ---------------------------------------------------------------------------------------------
// JSON: an ordered writer (independent of serde_json's `preserve_order`) and strict readers.

/// A JSON value whose objects keep the order they were built in.
pub enum J {
    S(String),
    N(u64),
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

fn s(text: impl Into<String>) -> J {
    J::S(text.into())
}

fn h(bytes: &[u8]) -> J {
    J::S(hex(bytes))
}

fn n(number: usize) -> J {
    J::N(number as u64)
}

/// Pretty JSON, two-space indent, trailing newline.
pub fn render(value: &J) -> String {
    let mut out = String::new();
    write_json(value, 0, &mut out);
    out.push('\n');
    out
}

fn write_json(value: &J, indent: usize, out: &mut String) {
    let pad = |out: &mut String, width: usize| out.extend(core::iter::repeat_n(' ', width));
    match value {
        J::S(text) => out.push_str(&serde_json::to_string(text).expect("a string serialises")),
        J::N(number) => out.push_str(&number.to_string()),
        J::A(items) if items.is_empty() => out.push_str("[]"),
        J::O(fields) if fields.is_empty() => out.push_str("{}"),
        J::A(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, indent + 2);
                write_json(item, indent + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, indent);
            out.push(']');
        }
        J::O(fields) => {
            out.push_str("{\n");
            for (i, (key, item)) in fields.iter().enumerate() {
                pad(out, indent + 2);
                out.push_str(&serde_json::to_string(key).expect("a string serialises"));
                out.push_str(": ");
                write_json(item, indent + 2, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            pad(out, indent);
            out.push('}');
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower-case hex.
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = &text[i..i + 2];
            assert!(
                pair.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "not lower-case hex: {pair}"
            );
            u8::from_str_radix(pair, 16).expect("hex digit")
        })
        .collect()
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or_else(|| panic!("missing field `{key}`"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    field(value, key)
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string"))
}

fn number(value: &Value, key: &str) -> u64 {
    field(value, key)
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned integer"))
}

fn index(value: &Value, key: &str) -> usize {
    usize::try_from(number(value, key)).expect("index fits")
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    field(value, key)
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is not an array"))
}

fn hex_bytes(value: &Value, key: &str) -> Vec<u8> {
    unhex(text(value, key))
}

fn hex_array<const N: usize>(value: &Value, key: &str) -> [u8; N] {
    hex_bytes(value, key)
        .try_into()
        .unwrap_or_else(|_| panic!("`{key}` must be {N} bytes"))
}

fn hex_item<const N: usize>(value: &Value) -> [u8; N] {
    unhex(value.as_str().expect("a hex string"))
        .try_into()
        .unwrap_or_else(|_| panic!("expected {N} bytes"))
}

fn b64_bytes(value: &Value, key: &str) -> Vec<u8> {
    b64::decode(text(value, key)).unwrap_or_else(|_| panic!("`{key}` is not unpadded standard base64"))
}

fn b64_item(value: &Value) -> Vec<u8> {
    b64::decode(value.as_str().expect("a base64 string")).expect("unpadded standard base64")
}

// ---------------------------------------------------------------------------------------------
// Error classes and the opening procedure.

/// The name of an error's class, as vectors record it.
pub fn class(err: &Error) -> &'static str {
    match err {
        Error::Malformed(_) => "Malformed",
        Error::NoMatch => "NoMatch",
        Error::DecryptionFailed => "DecryptionFailed",
        Error::BadSignature => "BadSignature",
        Error::KdfParameters(_) => "KdfParameters",
        Error::InvalidArgument(_) => "InvalidArgument",
        _ => "Other",
    }
}

/// What a recipient is handed: the stored artefacts, its key and the released server share.
#[derive(Clone)]
struct Attempt {
    msg_id_text: String,
    header: Vec<u8>,
    seal: String,
    sender_public: [u8; 32],
    recipient_secret: [u8; 32],
    server_share: [u8; 32],
    payloads: Vec<Vec<u8>>,
}

impl Attempt {
    fn to_json(&self) -> J {
        J::O(vec![
            ("msg_id_text", s(&self.msg_id_text)),
            ("header_base64", s(b64::encode(&self.header))),
            ("seal", s(&self.seal)),
            ("sender_ed25519_public", h(&self.sender_public)),
            ("recipient_x25519_secret", h(&self.recipient_secret)),
            ("server_share", h(&self.server_share)),
            (
                "payloads_base64",
                J::A(self.payloads.iter().map(|p| s(b64::encode(p))).collect()),
            ),
        ])
    }

    fn from_json(v: &Value) -> Self {
        Self {
            msg_id_text: text(v, "msg_id_text").to_owned(),
            header: b64_bytes(v, "header_base64"),
            seal: text(v, "seal").to_owned(),
            sender_public: hex_array(v, "sender_ed25519_public"),
            recipient_secret: hex_array(v, "recipient_x25519_secret"),
            server_share: hex_array(v, "server_share"),
            payloads: list(v, "payloads_base64").iter().map(b64_item).collect(),
        }
    }
}

/// How far to go after unlocking.
#[derive(Clone, Copy)]
enum Plan {
    /// Manifest, then every payload.
    All,
    /// The manifest alone.
    Manifest,
    /// Payload `i` alone.
    Payload(usize),
}

#[derive(Default)]
struct Opened {
    rid: [u8; 16],
    policy_matches: Vec<bool>,
    manifest: Option<Manifest>,
    payloads: Vec<Vec<u8>>,
}

/// The recipient's procedure, step by step: `verify`, `open_share`, `unlock`, then `manifest`
/// and/or `decrypt_payload`. A failure reports its step and error.
fn open(a: &Attempt, plan: Plan, policies: &[&[u8]]) -> Result<Opened, (&'static str, Error)> {
    let msg_id = MessageId::from_text(&a.msg_id_text).map_err(|e| ("verify", e))?;
    let envelope = Envelope::verify(&msg_id, &a.header, &a.seal, &a.sender_public).map_err(|e| ("verify", e))?;
    let share = envelope
        .open_share(&RecipientSecretKey::from_bytes(a.recipient_secret))
        .map_err(|e| ("open_share", e))?;
    let message = envelope
        .unlock(&share, &ServerShare::from_bytes(a.server_share))
        .map_err(|e| ("unlock", e))?;
    let mut opened = Opened {
        rid: share.rid().0,
        policy_matches: policies.iter().map(|p| envelope.policy_matches(p)).collect(),
        ..Opened::default()
    };
    let payload = |i: usize| a.payloads.get(i).map_or(&[][..], Vec::as_slice);
    match plan {
        Plan::All => {
            assert_eq!(message.payload_count(), a.payloads.len(), "seal and payload count");
            opened.manifest = Some(message.manifest(payload(0)).map_err(|e| ("manifest", e))?);
            for i in 0..a.payloads.len() {
                opened.payloads.push(
                    message
                        .decrypt_payload(i, payload(i))
                        .map_err(|e| ("decrypt_payload", e))?,
                );
            }
        }
        Plan::Manifest => {
            opened.manifest = Some(message.manifest(payload(0)).map_err(|e| ("manifest", e))?);
        }
        Plan::Payload(i) => {
            opened.payloads.push(
                message
                    .decrypt_payload(i, payload(i))
                    .map_err(|e| ("decrypt_payload", e))?,
            );
        }
    }
    Ok(opened)
}

// ---------------------------------------------------------------------------------------------
// Messages.

#[derive(Clone)]
struct AttachmentSpec {
    name: String,
    media_type: String,
    data: Vec<u8>,
}

/// Everything `seal_message_with` takes, with the random bytes it consumes.
#[derive(Clone)]
struct MessageInputs {
    msg_id: [u8; 16],
    file_key: [u8; 16],
    sender_seed: [u8; 32],
    recipients: Vec<[u8; 32]>,
    subject: String,
    body: String,
    attachments: Vec<AttachmentSpec>,
    policy: Vec<u8>,
    /// Per recipient: rshare(32) ‖ server share(32) ‖ HPKE ephemeral IKM(32); then one 16-byte
    /// nonce per payload (the manifest first).
    randomness: Vec<u8>,
}

const PER_RECIPIENT_RANDOMNESS: usize = 96;

impl MessageInputs {
    fn sender_public(&self) -> [u8; 32] {
        ed25519_public(&self.sender_seed)
    }

    fn randomness_len(&self) -> usize {
        PER_RECIPIENT_RANDOMNESS * self.recipients.len() + NONCE_LEN * (1 + self.attachments.len())
    }

    fn seal_rng(&self, msg_id: &[u8; 16], file_key: &[u8; 16], rng: &mut TestRng) -> SealedMessage {
        let attachments: Vec<AttachmentInput<'_>> = self
            .attachments
            .iter()
            .map(|a| AttachmentInput {
                name: &a.name,
                media_type: &a.media_type,
                data: &a.data,
            })
            .collect();
        let recipients: Vec<RecipientPublicKey> = self
            .recipients
            .iter()
            .map(|sk| RecipientSecretKey::from_bytes(*sk).public())
            .collect();
        seal_message_with(
            &MessageId(*msg_id),
            &FileKey::from_bytes(*file_key),
            &self.subject,
            &self.body,
            &attachments,
            &self.policy,
            &recipients,
            &SymmetricKey::from_bytes(self.sender_seed),
            rng,
        )
        .expect("seal_message_with")
    }

    /// Seals these inputs with another id, file key and randomness (for "another message").
    fn seal_with(&self, msg_id: &[u8; 16], file_key: &[u8; 16], randomness: &[u8]) -> SealedMessage {
        let mut rng = TestRng::replay(randomness);
        let sealed = self.seal_rng(msg_id, file_key, &mut rng);
        rng.assert_exhausted();
        sealed
    }

    fn seal(&self) -> SealedMessage {
        self.seal_with(&self.msg_id, &self.file_key, &self.randomness)
    }

    /// Runs a sealing with `rng` and returns the bytes it consumed.
    fn record(&self, msg_id: &[u8; 16], file_key: &[u8; 16], rng: &mut TestRng) -> Vec<u8> {
        rng.take_consumed();
        self.seal_rng(msg_id, file_key, rng);
        let used = rng.take_consumed();
        assert_eq!(
            used.len(),
            self.randomness_len(),
            "randomness consumed by seal_message_with"
        );
        used
    }

    fn attachment_infos(&self) -> Vec<AttachmentInfo> {
        self.attachments
            .iter()
            .map(|a| AttachmentInfo {
                name: a.name.clone(),
                size: a.data.len() as u64,
                media_type: a.media_type.clone(),
            })
            .collect()
    }

    fn to_json(&self) -> J {
        J::O(vec![
            ("msg_id", h(&self.msg_id)),
            ("file_key", h(&self.file_key)),
            ("sender_ed25519_seed", h(&self.sender_seed)),
            (
                "recipient_x25519_secrets",
                J::A(self.recipients.iter().map(|sk| h(sk)).collect()),
            ),
            ("subject", s(&self.subject)),
            ("body", s(&self.body)),
            (
                "attachments",
                J::A(
                    self.attachments
                        .iter()
                        .map(|a| {
                            J::O(vec![
                                ("name", s(&a.name)),
                                ("media_type", s(&a.media_type)),
                                ("size", n(a.data.len())),
                                ("data_base64", s(b64::encode(&a.data))),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("policy_hex", h(&self.policy)),
            ("randomness_hex", h(&self.randomness)),
        ])
    }

    fn from_json(v: &Value) -> Self {
        let attachments = list(v, "attachments")
            .iter()
            .map(|a| {
                let data = b64_bytes(a, "data_base64");
                assert_eq!(data.len(), index(a, "size"), "attachment size");
                AttachmentSpec {
                    name: text(a, "name").to_owned(),
                    media_type: text(a, "media_type").to_owned(),
                    data,
                }
            })
            .collect();
        Self {
            msg_id: hex_array(v, "msg_id"),
            file_key: hex_array(v, "file_key"),
            sender_seed: hex_array(v, "sender_ed25519_seed"),
            recipients: list(v, "recipient_x25519_secrets").iter().map(hex_item).collect(),
            subject: text(v, "subject").to_owned(),
            body: text(v, "body").to_owned(),
            attachments,
            policy: hex_bytes(v, "policy_hex"),
            randomness: hex_bytes(v, "randomness_hex"),
        }
    }

    /// What recipient `r` is handed for the unaltered message.
    fn attempt(&self, sealed: &SealedMessage, r: usize) -> Attempt {
        Attempt {
            msg_id_text: sealed.msg_id.to_text(),
            header: sealed.header.clone(),
            seal: sealed.seal.clone(),
            sender_public: self.sender_public(),
            recipient_secret: self.recipients[r],
            server_share: *sealed.server_shares[r].share.expose_secret(),
            payloads: sealed.payloads.clone(),
        }
    }
}

enum Data {
    Text(&'static str),
    Random(usize),
}

fn draw_message(
    rng: &mut TestRng,
    recipients: usize,
    subject: &str,
    body: &str,
    attachments: &[(&str, &str, Data)],
    policy: &[u8],
) -> MessageInputs {
    let msg_id = rng.array();
    let file_key = rng.array();
    let sender_seed = rng.array();
    let recipients = (0..recipients).map(|_| rng.array()).collect();
    let attachments = attachments
        .iter()
        .map(|(name, media_type, data)| AttachmentSpec {
            name: (*name).to_owned(),
            media_type: (*media_type).to_owned(),
            data: match data {
                Data::Text(t) => t.as_bytes().to_vec(),
                Data::Random(len) => rng.vec(*len),
            },
        })
        .collect();
    let mut inputs = MessageInputs {
        msg_id,
        file_key,
        sender_seed,
        recipients,
        subject: subject.to_owned(),
        body: body.to_owned(),
        attachments,
        policy: policy.to_vec(),
        randomness: Vec::new(),
    };
    inputs.randomness = inputs.record(&msg_id, &file_key, rng);
    inputs
}

/// The `message` section: inputs, how the randomness was used, and every output, with the
/// intermediate values an independent implementation needs, cross-checked here.
fn message_section(m: &MessageInputs) -> (J, SealedMessage) {
    assert_eq!(m.randomness.len(), m.randomness_len(), "recorded randomness length");
    let sealed = m.seal();
    let (header, used) = Header::parse(&sealed.header).expect("own header parses");
    assert_eq!(used, sealed.header.len());
    let seal_body = SealBody::verify(&sealed.seal, &m.sender_public()).expect("own seal verifies");
    let mut uses = Vec::new();
    let mut recipients = Vec::new();
    for (r, sk) in m.recipients.iter().enumerate() {
        let block = &m.randomness[PER_RECIPIENT_RANDOMNESS * r..PER_RECIPIENT_RANDOMNESS * (r + 1)];
        let (rshare, sshare, ikm) = (&block[..32], &block[32..64], &block[64..]);
        for (what, bytes) in [
            ("rshare", rshare),
            ("server_share", sshare),
            ("hpke_ephemeral_ikm", ikm),
        ] {
            uses.push(J::O(vec![
                ("use", s(format!("recipients[{r}].{what}"))),
                ("hex", h(bytes)),
            ]));
        }
        let public = RecipientSecretKey::from_bytes(*sk).public();
        let rid = public.rid().0;
        let (ephemeral_secret, enc) = hpke_derive_keypair(ikm);
        let stanza = &header.stanzas()[r];
        assert_eq!(
            stanza.args,
            [
                STANZA_TYPE.to_owned(),
                b64::encode(&m.msg_id),
                b64::encode(&rid),
                b64::encode(&enc)
            ],
            "stanza {r} arguments"
        );
        let info = [&b"sealpost.org/v1/rshare"[..], &[0], &m.msg_id, &rid].concat();
        let opened = hpke_open_base(sk, &enc, &info, b"", &stanza.body[..48]).expect("HPKE opens");
        assert_eq!(opened.as_slice(), rshare, "HPKE-sealed rshare");
        let kek = hkdf_sha256_32(
            &block[..64],
            &m.msg_id,
            &[&b"sealpost.org/v1/kek"[..], &[0], &rid].concat(),
        );
        assert_eq!(
            chacha20poly1305_seal(&kek, &[0; 12], b"", &m.file_key),
            stanza.body[48..],
            "wrapped file key"
        );
        assert_eq!(sealed.server_shares[r].rid.0, rid);
        assert_eq!(&sealed.server_shares[r].share.expose_secret()[..], sshare);
        recipients.push(J::O(vec![
            ("x25519_public", h(&public.0)),
            ("rid", h(&rid)),
            ("hpke_ephemeral_secret", h(ephemeral_secret.as_ref())),
            ("enc", h(&enc)),
            ("kek", h(kek.as_ref())),
            ("stanza_body", h(&stanza.body)),
            ("server_share", h(sshare)),
        ]));
    }
    let nonces = &m.randomness[PER_RECIPIENT_RANDOMNESS * m.recipients.len()..];
    let mut payloads = Vec::new();
    for (p, payload) in sealed.payloads.iter().enumerate() {
        let nonce = &nonces[NONCE_LEN * p..NONCE_LEN * (p + 1)];
        uses.push(J::O(vec![
            ("use", s(format!("payloads[{p}].nonce"))),
            ("hex", h(nonce)),
        ]));
        assert_eq!(&payload[..NONCE_LEN], nonce, "payload {p} nonce");
        let digest = &seal_body.payloads[p];
        assert_eq!(digest.len, payload.len() as u64);
        payloads.push(J::O(vec![
            ("nonce", h(nonce)),
            (
                "payload_key",
                h(hkdf_sha256_32(&m.file_key, nonce, b"payload").as_ref()),
            ),
            ("length", n(payload.len())),
            ("chunk_root", h(&digest.chunk_root)),
            ("base64", s(b64::encode(payload))),
        ]));
    }
    let manifest = Manifest::new(&m.subject, &m.body, m.attachment_infos())
        .encode()
        .expect("manifest encodes");
    let outputs = J::O(vec![
        ("msg_id_text", s(sealed.msg_id.to_text())),
        ("sender_ed25519_public", h(&m.sender_public())),
        ("recipients", J::A(recipients)),
        (
            "header_mac_key",
            h(hkdf_sha256_32(&m.file_key, b"", b"header").as_ref()),
        ),
        (
            "header",
            s(String::from_utf8(sealed.header.clone()).expect("headers are ASCII")),
        ),
        ("header_sha256", h(&sha256(&[&sealed.header]))),
        ("policy_sha256", h(&sha256(&[&m.policy]))),
        (
            "manifest_plaintext",
            s(String::from_utf8(manifest).expect("manifests are UTF-8")),
        ),
        ("payloads", J::A(payloads)),
        ("seal", s(&sealed.seal)),
    ]);
    let section = J::O(vec![
        ("inputs", m.to_json()),
        ("randomness_use", J::A(uses)),
        ("outputs", outputs),
    ]);
    (section, sealed)
}

/// (a) for a `message` section: every recipient opens it to the recorded plaintexts, using
/// only the recorded outputs.
fn check_message_opens(name: &str, section: &Value, only_first: bool) {
    let inputs = field(section, "inputs");
    let outputs = field(section, "outputs");
    let payloads: Vec<Vec<u8>> = list(outputs, "payloads")
        .iter()
        .map(|p| b64_bytes(p, "base64"))
        .collect();
    let secrets = list(inputs, "recipient_x25519_secrets");
    let policy = hex_bytes(inputs, "policy_hex");
    let attachments = list(inputs, "attachments");
    for (r, recipient) in list(outputs, "recipients").iter().enumerate() {
        if only_first && r > 0 {
            break;
        }
        let attempt = Attempt {
            msg_id_text: text(outputs, "msg_id_text").to_owned(),
            header: text(outputs, "header").as_bytes().to_vec(),
            seal: text(outputs, "seal").to_owned(),
            sender_public: hex_array(outputs, "sender_ed25519_public"),
            recipient_secret: hex_item(&secrets[r]),
            server_share: hex_array(recipient, "server_share"),
            payloads: payloads.clone(),
        };
        let opened = open(&attempt, Plan::All, &[&policy, b"not the policy"])
            .unwrap_or_else(|(step, e)| panic!("{name}: recipient {r} fails at {step}: {e}"));
        assert_eq!(opened.rid, hex_array::<16>(recipient, "rid"), "{name}: rid");
        assert_eq!(opened.policy_matches, [true, false], "{name}: policy hash");
        let manifest = opened.manifest.expect("manifest read");
        assert_eq!(manifest.subject, text(inputs, "subject"), "{name}: subject");
        assert_eq!(manifest.body, text(inputs, "body"), "{name}: body");
        assert_eq!(
            manifest.attachments.len(),
            attachments.len(),
            "{name}: attachment count"
        );
        assert_eq!(
            opened.payloads[0],
            text(outputs, "manifest_plaintext").as_bytes(),
            "{name}: manifest plaintext"
        );
        for (i, (info, expected)) in manifest.attachments.iter().zip(attachments).enumerate() {
            assert_eq!(info.name, text(expected, "name"), "{name}: attachment {i} name");
            assert_eq!(
                info.media_type,
                text(expected, "media_type"),
                "{name}: attachment {i} type"
            );
            assert_eq!(info.size, number(expected, "size"), "{name}: attachment {i} size");
            assert!(
                opened.payloads[i + 1] == b64_bytes(expected, "data_base64"),
                "{name}: attachment {i} plaintext"
            );
        }
    }
}

/// How a failing message vector is derived from its base message.
enum Mutation {
    ReplaceServerShare {
        share: [u8; 32],
    },
    ServerShareOfRecipient {
        recipient: usize,
    },
    NotARecipient {
        secret: [u8; 32],
    },
    ReplaceMsgId {
        msg_id: [u8; 16],
    },
    StanzaBodyLength {
        length: usize,
    },
    FlipHeaderMacBit {
        byte: usize,
        mask: u8,
    },
    AppendToHeader {
        bytes: Vec<u8>,
    },
    FlipSealSignatureBit {
        byte: usize,
        mask: u8,
    },
    SealSignedByOtherKey {
        seed: [u8; 32],
    },
    SealOfOtherHeader {
        file_key: [u8; 16],
        randomness: Vec<u8>,
    },
    SwapChunkWithOtherMessage {
        payload: usize,
        chunk: usize,
        msg_id: [u8; 16],
        file_key: [u8; 16],
        randomness: Vec<u8>,
    },
    TruncatePayload {
        payload: usize,
        bytes: usize,
    },
    AppendToPayload {
        payload: usize,
        bytes: Vec<u8>,
    },
    EmptyFinalChunk {
        payload: usize,
    },
    ManifestSize {
        attachment: usize,
        size: u64,
        nonce: [u8; 16],
    },
}

/// The step at which a vector must fail, and how.
struct Expect {
    error: &'static str,
    fails_at: &'static str,
    payload_index: Option<usize>,
}

impl Expect {
    fn to_json(&self) -> J {
        let mut fields = vec![("error", s(self.error)), ("fails_at", s(self.fails_at))];
        if let Some(i) = self.payload_index {
            fields.push(("payload_index", n(i)));
        }
        J::O(fields)
    }
}

const fn expect(error: &'static str, fails_at: &'static str) -> Expect {
    Expect {
        error,
        fails_at,
        payload_index: None,
    }
}

impl Mutation {
    fn to_json(&self) -> J {
        let kind = |k: &str, mut rest: Vec<(&'static str, J)>| {
            rest.insert(0, ("kind", s(k)));
            J::O(rest)
        };
        match self {
            Self::ReplaceServerShare { share } => kind("replace_server_share", vec![("server_share", h(share))]),
            Self::ServerShareOfRecipient { recipient } => {
                kind("server_share_of_recipient", vec![("recipient", n(*recipient))])
            }
            Self::NotARecipient { secret } => kind("not_a_recipient", vec![("x25519_secret", h(secret))]),
            Self::ReplaceMsgId { msg_id } => kind("replace_msg_id", vec![("msg_id", h(msg_id))]),
            Self::StanzaBodyLength { length } => kind("stanza_body_length", vec![("length", n(*length))]),
            Self::FlipHeaderMacBit { byte, mask } => kind(
                "flip_header_mac_bit",
                vec![("byte", n(*byte)), ("mask", n(usize::from(*mask)))],
            ),
            Self::AppendToHeader { bytes } => kind("append_to_header", vec![("hex", h(bytes))]),
            Self::FlipSealSignatureBit { byte, mask } => kind(
                "flip_seal_signature_bit",
                vec![("byte", n(*byte)), ("mask", n(usize::from(*mask)))],
            ),
            Self::SealSignedByOtherKey { seed } => kind("seal_signed_by_other_key", vec![("ed25519_seed", h(seed))]),
            Self::SealOfOtherHeader { file_key, randomness } => kind(
                "seal_of_other_header",
                vec![("file_key", h(file_key)), ("randomness_hex", h(randomness))],
            ),
            Self::SwapChunkWithOtherMessage {
                payload,
                chunk,
                msg_id,
                file_key,
                randomness,
            } => kind(
                "swap_chunk_with_other_message",
                vec![
                    ("payload", n(*payload)),
                    ("chunk", n(*chunk)),
                    ("msg_id", h(msg_id)),
                    ("file_key", h(file_key)),
                    ("randomness_hex", h(randomness)),
                ],
            ),
            Self::TruncatePayload { payload, bytes } => {
                kind("truncate_payload", vec![("payload", n(*payload)), ("bytes", n(*bytes))])
            }
            Self::AppendToPayload { payload, bytes } => {
                kind("append_to_payload", vec![("payload", n(*payload)), ("hex", h(bytes))])
            }
            Self::EmptyFinalChunk { payload } => kind("empty_final_chunk", vec![("payload", n(*payload))]),
            Self::ManifestSize {
                attachment,
                size,
                nonce,
            } => kind(
                "manifest_size",
                vec![
                    ("attachment", n(*attachment)),
                    ("size", J::N(*size)),
                    ("nonce", h(nonce)),
                ],
            ),
        }
    }

    fn from_json(v: &Value) -> Self {
        let byte_mask = || u8::try_from(number(v, "mask")).expect("mask is a byte");
        match text(v, "kind") {
            "replace_server_share" => Self::ReplaceServerShare {
                share: hex_array(v, "server_share"),
            },
            "server_share_of_recipient" => Self::ServerShareOfRecipient {
                recipient: index(v, "recipient"),
            },
            "not_a_recipient" => Self::NotARecipient {
                secret: hex_array(v, "x25519_secret"),
            },
            "replace_msg_id" => Self::ReplaceMsgId {
                msg_id: hex_array(v, "msg_id"),
            },
            "stanza_body_length" => Self::StanzaBodyLength {
                length: index(v, "length"),
            },
            "flip_header_mac_bit" => Self::FlipHeaderMacBit {
                byte: index(v, "byte"),
                mask: byte_mask(),
            },
            "append_to_header" => Self::AppendToHeader {
                bytes: hex_bytes(v, "hex"),
            },
            "flip_seal_signature_bit" => Self::FlipSealSignatureBit {
                byte: index(v, "byte"),
                mask: byte_mask(),
            },
            "seal_signed_by_other_key" => Self::SealSignedByOtherKey {
                seed: hex_array(v, "ed25519_seed"),
            },
            "seal_of_other_header" => Self::SealOfOtherHeader {
                file_key: hex_array(v, "file_key"),
                randomness: hex_bytes(v, "randomness_hex"),
            },
            "swap_chunk_with_other_message" => Self::SwapChunkWithOtherMessage {
                payload: index(v, "payload"),
                chunk: index(v, "chunk"),
                msg_id: hex_array(v, "msg_id"),
                file_key: hex_array(v, "file_key"),
                randomness: hex_bytes(v, "randomness_hex"),
            },
            "truncate_payload" => Self::TruncatePayload {
                payload: index(v, "payload"),
                bytes: index(v, "bytes"),
            },
            "append_to_payload" => Self::AppendToPayload {
                payload: index(v, "payload"),
                bytes: hex_bytes(v, "hex"),
            },
            "empty_final_chunk" => Self::EmptyFinalChunk {
                payload: index(v, "payload"),
            },
            "manifest_size" => Self::ManifestSize {
                attachment: index(v, "attachment"),
                size: number(v, "size"),
                nonce: hex_array(v, "nonce"),
            },
            other => panic!("unknown mutation {other}"),
        }
    }

    fn expect(&self) -> Expect {
        match self {
            Self::ReplaceServerShare { .. } | Self::ServerShareOfRecipient { .. } | Self::FlipHeaderMacBit { .. } => {
                expect("DecryptionFailed", "unlock")
            }
            Self::NotARecipient { .. } => expect("NoMatch", "open_share"),
            Self::StanzaBodyLength { .. } => expect("Malformed", "open_share"),
            Self::ReplaceMsgId { .. } | Self::AppendToHeader { .. } | Self::SealOfOtherHeader { .. } => {
                expect("Malformed", "verify")
            }
            Self::FlipSealSignatureBit { .. } | Self::SealSignedByOtherKey { .. } => expect("BadSignature", "verify"),
            Self::ManifestSize { .. } => expect("Malformed", "manifest"),
            Self::SwapChunkWithOtherMessage { payload, .. }
            | Self::TruncatePayload { payload, .. }
            | Self::AppendToPayload { payload, .. }
            | Self::EmptyFinalChunk { payload } => Expect {
                payload_index: Some(*payload),
                ..expect("DecryptionFailed", "decrypt_payload")
            },
        }
    }

    /// What recipient 0 is handed once the mutation is applied. Mutations that stand for a
    /// misbehaving sender re-sign the seal, so that the seal is not what catches them.
    fn apply(&self, m: &MessageInputs, sealed: &SealedMessage) -> Attempt {
        let mut a = m.attempt(sealed, 0);
        let sender = SymmetricKey::from_bytes(m.sender_seed);
        let seal_body = || SealBody::verify(&sealed.seal, &m.sender_public()).expect("own seal verifies");
        let resign_header = |header: &[u8]| {
            let mut body = seal_body();
            body.header_sha256 = sha256(&[header]);
            body.sign(&sender).expect("seal signs")
        };
        match self {
            Self::ReplaceServerShare { share } => a.server_share = *share,
            Self::ServerShareOfRecipient { recipient } => {
                a.server_share = *sealed.server_shares[*recipient].share.expose_secret();
            }
            Self::NotARecipient { secret } => a.recipient_secret = *secret,
            Self::ReplaceMsgId { msg_id } => a.msg_id_text = MessageId(*msg_id).to_text(),
            Self::StanzaBodyLength { length } => {
                let (header, _) = Header::parse(&sealed.header).expect("own header parses");
                let mut stanzas = header.stanzas().to_vec();
                stanzas[0].body.resize(*length, 0);
                a.header = Header::new(stanzas, &FileKey::from_bytes(m.file_key))
                    .expect("header builds")
                    .as_bytes()
                    .to_vec();
                a.seal = resign_header(&a.header);
            }
            Self::FlipHeaderMacBit { byte, mask } => {
                let header = core::str::from_utf8(&sealed.header).expect("ASCII header");
                let mac_at = header.rfind("\n--- ").expect("MAC line") + 5;
                let mut mac = b64::decode(header[mac_at..].trim_end()).expect("MAC base64");
                mac[*byte] ^= mask;
                a.header = format!("{}{}\n", &header[..mac_at], b64::encode(&mac)).into_bytes();
                a.seal = resign_header(&a.header);
            }
            Self::AppendToHeader { bytes } => {
                a.header.extend_from_slice(bytes);
                a.seal = resign_header(&a.header);
            }
            Self::FlipSealSignatureBit { byte, mask } => {
                let line_at = sealed.seal.trim_end().rfind('\n').expect("signature line") + 1;
                let sig_at = line_at + sealed.seal[line_at..].rfind(' ').expect("signature") + 1;
                // Signed notes use padded base64: keep whatever padding there is.
                let sig_text = sealed.seal[sig_at..].trim_end();
                let unpadded = sig_text.trim_end_matches('=');
                let mut sig = b64::decode(unpadded).expect("signature base64");
                sig[4 + byte] ^= mask; // after the 4-byte key ID
                let padding = &sig_text[unpadded.len()..];
                a.seal = format!("{}{}{padding}\n", &sealed.seal[..sig_at], b64::encode(&sig));
            }
            Self::SealSignedByOtherKey { seed } => {
                a.seal = seal_body().sign(&SymmetricKey::from_bytes(*seed)).expect("seal signs");
            }
            Self::SealOfOtherHeader { file_key, randomness } => {
                a.seal = m.seal_with(&m.msg_id, file_key, randomness).seal;
            }
            Self::SwapChunkWithOtherMessage {
                payload,
                chunk,
                msg_id,
                file_key,
                randomness,
            } => {
                let other = m.seal_with(msg_id, file_key, randomness);
                let start = NONCE_LEN + chunk * ENCRYPTED_CHUNK_LEN;
                let end = (start + ENCRYPTED_CHUNK_LEN).min(a.payloads[*payload].len());
                assert_eq!(other.payloads[*payload].len(), a.payloads[*payload].len());
                a.payloads[*payload][start..end].copy_from_slice(&other.payloads[*payload][start..end]);
            }
            Self::TruncatePayload { payload, bytes } => {
                let len = a.payloads[*payload].len() - bytes;
                a.payloads[*payload].truncate(len);
            }
            Self::AppendToPayload { payload, bytes } => a.payloads[*payload].extend_from_slice(bytes),
            Self::EmptyFinalChunk { payload } => {
                let data = &m.attachments[payload - 1].data;
                assert_eq!(data.len(), CHUNK_LEN, "a full chunk of plaintext");
                let nonce: [u8; NONCE_LEN] = sealed.payloads[*payload][..NONCE_LEN].try_into().expect("nonce");
                let key = hkdf_sha256_32(&m.file_key, &nonce, b"payload");
                let full = chacha20poly1305_seal(&key, &chunk_nonce(0, false), b"", data);
                let empty = chacha20poly1305_seal(&key, &chunk_nonce(1, true), b"", b"");
                let bytes = [&nonce[..], &full, &empty].concat();
                let mut body = seal_body();
                body.payloads[*payload] = PayloadDigest {
                    nonce,
                    len: bytes.len() as u64,
                    chunk_root: root_of(&[leaf_hash(&full), leaf_hash(&empty)]),
                };
                a.payloads[*payload] = bytes;
                a.seal = body.sign(&sender).expect("seal signs");
            }
            Self::ManifestSize {
                attachment,
                size,
                nonce,
            } => {
                let mut infos = m.attachment_infos();
                infos[*attachment].size = *size;
                let plaintext = Manifest::new(&m.subject, &m.body, infos)
                    .encode()
                    .expect("manifest encodes");
                let (bytes, digest) =
                    encrypt_payload(&FileKey::from_bytes(m.file_key), *nonce, &plaintext).expect("payload encrypts");
                let mut body = seal_body();
                body.payloads[0] = digest;
                a.payloads[0] = bytes;
                a.seal = body.sign(&sender).expect("seal signs");
            }
        }
        a
    }
}

// ---------------------------------------------------------------------------------------------
// Key blobs.

struct KeyBlobInputs {
    x25519_secret: [u8; 32],
    ed25519_seed: [u8; 32],
    password_nfc: String,
    password_nfd: String,
    params: KdfParams,
    /// salt(16) ‖ nonce(24), in the order `UserKeys::seal` draws them.
    randomness: Vec<u8>,
}

const PASSWORD_NFC: &str = "Cr\u{e8}me br\u{fb}l\u{e9}e \u{2014} \u{c5}ngstr\u{f6}m 42!";
const PASSWORD_NFD: &str = "Cre\u{300}me bru\u{302}le\u{301}e \u{2014} A\u{30a}ngstro\u{308}m 42!";
const WRONG_PASSWORD: &str = "Cr\u{e8}me br\u{fb}l\u{e9}e \u{2014} \u{c5}ngstr\u{f6}m 43!";
const FLOOR: KdfParams = KdfParams {
    m_kib: KdfParams::MIN_M_KIB,
    t: KdfParams::MIN_T,
    p: 1,
};

struct SealedBlob {
    json: String,
    ikm: [u8; 32],
    wrap: [u8; 32],
    login: [u8; 32],
}

impl KeyBlobInputs {
    fn draw(rng: &mut TestRng, params: KdfParams) -> Self {
        Self {
            x25519_secret: rng.array(),
            ed25519_seed: rng.array(),
            password_nfc: PASSWORD_NFC.to_owned(),
            password_nfd: PASSWORD_NFD.to_owned(),
            params,
            randomness: rng.vec(40),
        }
    }

    fn user_keys(&self) -> UserKeys {
        UserKeys {
            encryption: RecipientSecretKey::from_bytes(self.x25519_secret),
            signing: SymmetricKey::from_bytes(self.ed25519_seed),
        }
    }

    /// The key blob built step by step from the format description, without the parameter
    /// check (so that a blob below the floor can be made). When the parameters are acceptable
    /// and `full`, `UserKeys::seal` must give the same blob from both password forms.
    fn seal(&self, full: bool) -> SealedBlob {
        let salt: [u8; 16] = self.randomness[..16].try_into().expect("salt");
        let nonce: [u8; 24] = self.randomness[16..].try_into().expect("nonce");
        let ikm = *argon2id(self.password_nfc.as_bytes(), &salt, self.params).expect("Argon2id");
        let wrap = *hkdf_sha256_32(&ikm, b"", b"sealpost.org/v1/keyblob");
        let login = *hkdf_sha256_32(&ikm, b"", b"sealpost.org/v1/login");
        let x25519_pk = x25519_base(&self.x25519_secret);
        let ed25519_pk = ed25519_public(&self.ed25519_seed);
        let p = self.params;
        let aad = [
            &b"sealpost.org/v1/keyblob"[..],
            &[0],
            &x25519_pk,
            &ed25519_pk,
            &p.m_kib.to_be_bytes(),
            &p.t.to_be_bytes(),
            &p.p.to_be_bytes(),
            &salt,
        ]
        .concat();
        let ct = xchacha20poly1305_seal(&wrap, &nonce, &aad, &[self.x25519_secret, self.ed25519_seed].concat());
        let blob = serde_json::json!({
            "v": 1,
            "kdf": {"alg": "argon2id", "version": 0x13, "m_kib": p.m_kib, "t": p.t, "p": p.p, "salt": b64::encode(&salt)},
            "x25519_pk": b64::encode(&x25519_pk),
            "ed25519_pk": b64::encode(&ed25519_pk),
            "nonce": b64::encode(&nonce),
            "ct": b64::encode(&ct),
        });
        let blob: KeyBlob = serde_json::from_value(blob).expect("a KeyBlob");
        let json = serde_json::to_string(&blob).expect("KeyBlob serialises");
        if full && self.params.check().is_ok() {
            for password in [&self.password_nfc, &self.password_nfd] {
                let mut rng = TestRng::replay(&self.randomness);
                let (sealed, login_key) = self.user_keys().seal(password, self.params, &mut rng).expect("seal");
                rng.assert_exhausted();
                assert_eq!(sealed, blob, "UserKeys::seal and the format description disagree");
                assert_eq!(login_key.expose_secret(), &login, "login key");
            }
        }
        SealedBlob { json, ikm, wrap, login }
    }

    fn section(&self, full: bool) -> (J, SealedBlob) {
        let sealed = self.seal(full);
        let p = self.params;
        let inputs = J::O(vec![
            ("x25519_secret", h(&self.x25519_secret)),
            ("ed25519_seed", h(&self.ed25519_seed)),
            ("password_nfc", s(&self.password_nfc)),
            ("password_nfc_utf8_hex", h(self.password_nfc.as_bytes())),
            ("password_nfd", s(&self.password_nfd)),
            ("password_nfd_utf8_hex", h(self.password_nfd.as_bytes())),
            (
                "kdf",
                J::O(vec![
                    ("m_kib", J::N(p.m_kib.into())),
                    ("t", J::N(p.t.into())),
                    ("p", J::N(p.p.into())),
                ]),
            ),
            ("randomness_hex", h(&self.randomness)),
        ]);
        let uses = J::A(vec![
            J::O(vec![("use", s("salt")), ("hex", h(&self.randomness[..16]))]),
            J::O(vec![("use", s("nonce")), ("hex", h(&self.randomness[16..]))]),
        ]);
        let outputs = J::O(vec![
            ("x25519_public", h(&x25519_base(&self.x25519_secret))),
            ("ed25519_public", h(&ed25519_public(&self.ed25519_seed))),
            ("argon2id_output", h(&sealed.ikm)),
            ("wrap_key", h(&sealed.wrap)),
            ("login_key", h(&sealed.login)),
            ("login_key_base64", s(b64::encode(&sealed.login))),
            ("keyblob_json", s(&sealed.json)),
        ]);
        (
            J::O(vec![("inputs", inputs), ("randomness_use", uses), ("outputs", outputs)]),
            sealed,
        )
    }

    fn from_json(v: &Value) -> Self {
        let kdf = field(v, "kdf");
        let param = |key| u32::try_from(number(kdf, key)).expect("u32");
        let inputs = Self {
            x25519_secret: hex_array(v, "x25519_secret"),
            ed25519_seed: hex_array(v, "ed25519_seed"),
            password_nfc: text(v, "password_nfc").to_owned(),
            password_nfd: text(v, "password_nfd").to_owned(),
            params: KdfParams {
                m_kib: param("m_kib"),
                t: param("t"),
                p: param("p"),
            },
            randomness: hex_bytes(v, "randomness_hex"),
        };
        assert_eq!(inputs.randomness.len(), 40, "salt and nonce");
        inputs
    }
}

enum BlobMutation {
    /// The blob as sealed (its parameters are already out of range).
    AsSealed,
    WrongPassword {
        password: String,
    },
    SetMKib {
        m_kib: u32,
    },
}

impl BlobMutation {
    fn to_json(&self) -> J {
        match self {
            Self::AsSealed => J::O(vec![("kind", s("as_sealed"))]),
            Self::WrongPassword { password } => J::O(vec![("kind", s("wrong_password")), ("password", s(password))]),
            Self::SetMKib { m_kib } => J::O(vec![("kind", s("set_m_kib")), ("m_kib", J::N((*m_kib).into()))]),
        }
    }

    fn from_json(v: &Value) -> Self {
        match text(v, "kind") {
            "as_sealed" => Self::AsSealed,
            "wrong_password" => Self::WrongPassword {
                password: text(v, "password").to_owned(),
            },
            "set_m_kib" => Self::SetMKib {
                m_kib: u32::try_from(number(v, "m_kib")).expect("u32"),
            },
            other => panic!("unknown key blob mutation {other}"),
        }
    }

    fn expect(&self) -> Expect {
        match self {
            Self::WrongPassword { .. } => expect("DecryptionFailed", "open"),
            Self::AsSealed | Self::SetMKib { .. } => expect("KdfParameters", "open"),
        }
    }

    /// The blob JSON and password presented to `KeyBlob::open`.
    fn apply(&self, k: &KeyBlobInputs, sealed: &SealedBlob) -> (String, String) {
        match self {
            Self::AsSealed => (sealed.json.clone(), k.password_nfc.clone()),
            Self::WrongPassword { password } => (sealed.json.clone(), password.clone()),
            Self::SetMKib { m_kib } => {
                let mut blob: KeyBlob = serde_json::from_str(&sealed.json).expect("own blob parses");
                blob.kdf.m_kib = *m_kib;
                (
                    serde_json::to_string(&blob).expect("serialises"),
                    k.password_nfc.clone(),
                )
            }
        }
    }
}

fn check_keyblob_opens(name: &str, section: &Value) {
    let inputs = field(section, "inputs");
    let outputs = field(section, "outputs");
    let nfc = text(inputs, "password_nfc");
    let nfd = text(inputs, "password_nfd");
    assert_ne!(nfc, nfd, "{name}: the two password forms must differ as strings");
    assert_eq!(nfc.as_bytes(), hex_bytes(inputs, "password_nfc_utf8_hex"));
    assert_eq!(nfd.as_bytes(), hex_bytes(inputs, "password_nfd_utf8_hex"));
    let blob: KeyBlob = serde_json::from_str(text(outputs, "keyblob_json")).expect("key blob JSON");
    let login: [u8; 32] = hex_array(outputs, "login_key");
    for password in [nfc, nfd] {
        let (keys, login_key) = blob
            .open(password)
            .unwrap_or_else(|e| panic!("{name}: the blob does not open: {e}"));
        assert_eq!(
            keys.encryption.expose_secret(),
            &hex_array::<32>(inputs, "x25519_secret")
        );
        assert_eq!(keys.signing.expose_secret(), &hex_array::<32>(inputs, "ed25519_seed"));
        assert_eq!(keys.encryption_public().0, hex_array::<32>(outputs, "x25519_public"));
        assert_eq!(keys.signing_public(), hex_array::<32>(outputs, "ed25519_public"));
        assert_eq!(login_key.expose_secret(), &login, "{name}: login key");
    }
    let login_only = blob.login_key(nfd).expect("login key");
    assert_eq!(login_only.to_text().as_str(), text(outputs, "login_key_base64"));
}

// ---------------------------------------------------------------------------------------------
// Whole vectors.

fn document(name: &str, kind: &str, body: Vec<(&'static str, J)>) -> J {
    let mut fields = vec![
        ("format", s(FORMAT)),
        ("name", s(name)),
        ("description", s(describe(name))),
        ("kind", s(kind)),
        (
            "rng",
            J::O(vec![("algorithm", s(RNG_ALGORITHM)), ("seed", h(&vector_seed(name)))]),
        ),
    ];
    fields.extend(body);
    J::O(fields)
}

fn message_vector(name: &str, m: &MessageInputs) -> J {
    document(name, "message", vec![("message", message_section(m).0)])
}

fn message_fail_vector(name: &str, m: &MessageInputs, mutation: &Mutation) -> J {
    let (section, sealed) = message_section(m);
    let attempt = mutation.apply(m, &sealed);
    document(
        name,
        "message_fail",
        vec![
            ("message", section),
            ("mutation", mutation.to_json()),
            ("attempt", attempt.to_json()),
            ("expect", mutation.expect().to_json()),
        ],
    )
}

fn keyblob_vector(name: &str, k: &KeyBlobInputs, full: bool) -> J {
    document(name, "keyblob", vec![("keyblob", k.section(full).0)])
}

fn keyblob_fail_vector(name: &str, k: &KeyBlobInputs, mutation: &BlobMutation, full: bool) -> J {
    let (section, sealed) = k.section(full);
    let (json, password) = mutation.apply(k, &sealed);
    document(
        name,
        "keyblob_fail",
        vec![
            ("keyblob", section),
            ("mutation", mutation.to_json()),
            (
                "attempt",
                J::O(vec![("keyblob_json", s(json)), ("password", s(password))]),
            ),
            ("expect", mutation.expect().to_json()),
        ],
    )
}

const POLICY: &[u8] = b"{\"v\":1,\"expires_at\":1893456000,\"max_opens\":3,\"require_2fa\":true}";

fn fail_base(rng: &mut TestRng, recipients: usize, attachment: Data) -> MessageInputs {
    draw_message(
        rng,
        recipients,
        "Failure vector",
        "This message must not open.",
        &[("data.bin", "application/octet-stream", attachment)],
        b"{}",
    )
}

/// Builds vector `name` from scratch, every input drawn from [`TestRng`] seeded with
/// [`vector_seed`]`(name)`.
pub fn generate(name: &str) -> String {
    let mut rng = TestRng::from_seed(vector_seed(name));
    let rng = &mut rng;
    let vector = match name {
        "msg_one_recipient" => message_vector(
            name,
            &draw_message(
                rng,
                1,
                "Quarterly results \u{2014} Z\u{fc}rich office \u{2713}",
                "Hello,\n\nplease find the figures attached.\n\n\u{2014} Ana",
                &[("figures.csv", "text/csv", Data::Text("quarter,revenue\nQ1,17\nQ2,42\n"))],
                POLICY,
            ),
        ),
        "msg_three_recipients" => message_vector(
            name,
            &draw_message(
                rng,
                3,
                "Board minutes",
                "Minutes of the meeting, for all three of you.",
                &[(
                    "minutes.txt",
                    "text/plain",
                    Data::Text("1. Opening\n2. Budget\n3. Any other business\n"),
                )],
                POLICY,
            ),
        ),
        "msg_attachment_sizes" => message_vector(
            name,
            &draw_message(
                rng,
                1,
                "Attachment sizes",
                "Four attachments around the chunk boundary.",
                &[
                    ("empty.bin", "application/octet-stream", Data::Random(0)),
                    ("one-byte.bin", "application/octet-stream", Data::Random(1)),
                    ("one-chunk.bin", "application/octet-stream", Data::Random(CHUNK_LEN)),
                    (
                        "chunk-and-a-byte.bin",
                        "application/octet-stream",
                        Data::Random(CHUNK_LEN + 1),
                    ),
                ],
                POLICY,
            ),
        ),
        "keyblob_nfc_nfd" => keyblob_vector(name, &KeyBlobInputs::draw(rng, FLOOR), true),
        "fail_keyblob_wrong_password" => keyblob_fail_vector(
            name,
            &KeyBlobInputs::draw(rng, FLOOR),
            &BlobMutation::WrongPassword {
                password: WRONG_PASSWORD.to_owned(),
            },
            true,
        ),
        "fail_keyblob_m_below_floor" => keyblob_fail_vector(
            name,
            &KeyBlobInputs::draw(
                rng,
                KdfParams {
                    m_kib: KdfParams::MIN_M_KIB - 1,
                    ..FLOOR
                },
            ),
            &BlobMutation::AsSealed,
            true,
        ),
        "fail_keyblob_m_above_cap" => keyblob_fail_vector(
            name,
            &KeyBlobInputs::draw(rng, FLOOR),
            &BlobMutation::SetMKib {
                m_kib: KdfParams::MAX_M_KIB + 1,
            },
            true,
        ),
        _ => {
            let (base, mutation) = draw_failure(name, rng);
            message_fail_vector(name, &base, &mutation)
        }
    };
    render(&vector)
}

fn draw_failure(name: &str, rng: &mut TestRng) -> (MessageInputs, Mutation) {
    let small = || Data::Random(1000);
    match name {
        "fail_wrong_server_share" => {
            let base = fail_base(rng, 1, small());
            (base, Mutation::ReplaceServerShare { share: rng.array() })
        }
        "fail_server_share_of_other_recipient" => (
            fail_base(rng, 2, small()),
            Mutation::ServerShareOfRecipient { recipient: 1 },
        ),
        "fail_not_a_recipient" => {
            let base = fail_base(rng, 1, small());
            (base, Mutation::NotARecipient { secret: rng.array() })
        }
        "fail_msg_id_swapped" => {
            let base = fail_base(rng, 1, small());
            (base, Mutation::ReplaceMsgId { msg_id: rng.array() })
        }
        "fail_stanza_body_79_bytes" => (fail_base(rng, 1, small()), Mutation::StanzaBodyLength { length: 79 }),
        "fail_stanza_body_81_bytes" => (fail_base(rng, 1, small()), Mutation::StanzaBodyLength { length: 81 }),
        "fail_header_mac_flipped" => (
            fail_base(rng, 1, small()),
            Mutation::FlipHeaderMacBit { byte: 0, mask: 0x01 },
        ),
        "fail_header_extra_byte" => (
            fail_base(rng, 1, small()),
            Mutation::AppendToHeader { bytes: b"\n".to_vec() },
        ),
        "fail_seal_signature_flipped" => (
            fail_base(rng, 1, small()),
            Mutation::FlipSealSignatureBit { byte: 0, mask: 0x01 },
        ),
        "fail_seal_signed_by_other_key" => {
            let base = fail_base(rng, 1, small());
            (base, Mutation::SealSignedByOtherKey { seed: rng.array() })
        }
        "fail_seal_names_other_header" => {
            let base = fail_base(rng, 1, small());
            let file_key = rng.array();
            let randomness = base.record(&base.msg_id, &file_key, rng);
            (base, Mutation::SealOfOtherHeader { file_key, randomness })
        }
        "fail_payload_chunk_swapped" => {
            let base = fail_base(rng, 1, Data::Random(CHUNK_LEN + 1));
            let msg_id = rng.array();
            let file_key = rng.array();
            let randomness = base.record(&msg_id, &file_key, rng);
            let mutation = Mutation::SwapChunkWithOtherMessage {
                payload: 1,
                chunk: 0,
                msg_id,
                file_key,
                randomness,
            };
            (base, mutation)
        }
        "fail_payload_truncated" => (
            fail_base(rng, 1, small()),
            Mutation::TruncatePayload { payload: 1, bytes: 1 },
        ),
        "fail_payload_appended" => (
            fail_base(rng, 1, small()),
            Mutation::AppendToPayload {
                payload: 1,
                bytes: vec![0],
            },
        ),
        "fail_payload_empty_final_chunk" => (
            fail_base(rng, 1, Data::Random(CHUNK_LEN)),
            Mutation::EmptyFinalChunk { payload: 1 },
        ),
        "fail_manifest_size_mismatch" => {
            let base = fail_base(rng, 1, small());
            let nonce = rng.array();
            (
                base,
                Mutation::ManifestSize {
                    attachment: 0,
                    size: 1001,
                    nonce,
                },
            )
        }
        _ => panic!("unknown vector {name}"),
    }
}

/// Rebuilds a vector from the inputs recorded in it.
fn regenerate(name: &str, v: &Value, full: bool) -> String {
    let vector = match text(v, "kind") {
        "message" => message_vector(name, &MessageInputs::from_json(field(field(v, "message"), "inputs"))),
        "message_fail" => message_fail_vector(
            name,
            &MessageInputs::from_json(field(field(v, "message"), "inputs")),
            &Mutation::from_json(field(v, "mutation")),
        ),
        "keyblob" => keyblob_vector(
            name,
            &KeyBlobInputs::from_json(field(field(v, "keyblob"), "inputs")),
            full,
        ),
        "keyblob_fail" => keyblob_fail_vector(
            name,
            &KeyBlobInputs::from_json(field(field(v, "keyblob"), "inputs")),
            &BlobMutation::from_json(field(v, "mutation")),
            full,
        ),
        other => panic!("{name}: unknown kind {other}"),
    };
    render(&vector)
}

/// (a) Opens the vector, or checks that it fails at the recorded step with the recorded error
/// class, from its recorded outputs alone.
pub fn check_behaviour(name: &str, v: &Value) {
    match text(v, "kind") {
        "message" => check_message_opens(name, field(v, "message"), false),
        "message_fail" => {
            // The unaltered message opens, so the failure is the mutation's doing.
            check_message_opens(name, field(v, "message"), true);
            let attempt = Attempt::from_json(field(v, "attempt"));
            let expected = field(v, "expect");
            let fails_at = text(expected, "fails_at");
            let plan = match fails_at {
                "manifest" => Plan::Manifest,
                "decrypt_payload" => Plan::Payload(index(expected, "payload_index")),
                _ => Plan::All,
            };
            match open(&attempt, plan, &[]) {
                Ok(_) => panic!("{name}: opened, but must fail"),
                Err((step, err)) => assert_eq!(
                    (step, class(&err)),
                    (fails_at, text(expected, "error")),
                    "{name}: wrong failure ({err})"
                ),
            }
        }
        "keyblob" => check_keyblob_opens(name, field(v, "keyblob")),
        "keyblob_fail" => {
            let attempt = field(v, "attempt");
            let expected = field(v, "expect");
            assert_eq!(text(expected, "fails_at"), "open");
            let blob: KeyBlob = serde_json::from_str(text(attempt, "keyblob_json")).expect("key blob JSON");
            match blob.open(text(attempt, "password")) {
                Ok(_) => panic!("{name}: the blob opened, but must not"),
                Err(err) => assert_eq!(class(&err), text(expected, "error"), "{name}: wrong failure ({err})"),
            }
        }
        other => panic!("{name}: unknown kind {other}"),
    }
}

/// Checks one vector file's contents: (a) behaviour, then (b) byte-identical regeneration from
/// its recorded inputs. `full_keyblob` also re-seals key blobs through `UserKeys::seal` with both
/// password forms (two more Argon2id runs each).
pub fn check_vector(name: &str, contents: &str, full_keyblob: bool) {
    let v: Value = serde_json::from_str(contents).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    assert_eq!(text(&v, "format"), FORMAT, "{name}: format");
    assert_eq!(text(&v, "name"), name, "{name}: name field");
    assert_eq!(
        text(field(&v, "rng"), "seed"),
        hex(&vector_seed(name)),
        "{name}: rng seed"
    );
    check_behaviour(name, &v);
    assert_same(
        name,
        &regenerate(name, &v, full_keyblob),
        contents,
        "regenerated from its recorded inputs",
    );
}

/// Panics, naming the first differing line, unless `actual == expected`.
pub fn assert_same(name: &str, actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    let line = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
    let clip = |text: &str| -> String {
        let l = text.lines().nth(line).unwrap_or("<end of file>");
        l.chars().take(200).collect()
    };
    panic!(
        "{name}: {what}: differs from the committed file at line {}:\n  got:      {}\n  expected: {}",
        line + 1,
        clip(actual),
        clip(expected)
    );
}
