//! The sender's seal: an Ed25519 signed note that binds everything the server stores for a
//! message, so that neither a co-recipient (who knows the file key) nor the server can forge,
//! swap or reorder content without detection.
//!
//! ```text
//! sealpost.org/seal/v1
//! message <b64url msg_id>
//! header <b64 SHA-256(header bytes)>
//! policy <b64 SHA-256(policy bytes)>
//! payload <b64 nonce> <payload length, decimal> <b64 chunk root>    (the manifest first,
//! payload …                                                           then each attachment)
//!
//! — sealpost.org/sender <b64 key ID ‖ Ed25519 signature>
//! ```

use crate::merkle::Hash;
use crate::note::{self, VerifierKey};
use crate::primitives::ed25519_public;
use crate::recipient::MessageId;
use crate::secrets::SymmetricKey;
use crate::stream::NONCE_LEN;
use crate::{Error, Result, b64};

/// First line of a seal.
pub const SEAL_ORIGIN: &str = "sealpost.org/seal/v1";
/// Name of the sender's key in the signature line.
pub const SENDER_KEY_NAME: &str = "sealpost.org/sender";
/// Most payloads one seal lists.
pub const MAX_PAYLOADS: usize = 10_000;

/// What the seal says about one stored payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadDigest {
    /// The payload's nonce (its first 16 bytes).
    pub nonce: [u8; NONCE_LEN],
    /// The payload's length in bytes, nonce included.
    pub len: u64,
    /// RFC 6962 root over the encrypted chunks.
    pub chunk_root: Hash,
}

/// The statement a sender signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealBody {
    /// The message.
    pub msg_id: MessageId,
    /// SHA-256 of the exact header bytes.
    pub header_sha256: [u8; 32],
    /// SHA-256 of the message policy as the sender sent it.
    pub policy_sha256: [u8; 32],
    /// The manifest payload, then each attachment payload, in order.
    pub payloads: Vec<PayloadDigest>,
}

impl SealBody {
    /// The note text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{SEAL_ORIGIN}\nmessage {}\nheader {}\npolicy {}\n",
            self.msg_id.to_text(),
            b64::encode(&self.header_sha256),
            b64::encode(&self.policy_sha256)
        );
        for p in &self.payloads {
            text.push_str(&format!(
                "payload {} {} {}\n",
                b64::encode(&p.nonce),
                p.len,
                b64::encode(&p.chunk_root)
            ));
        }
        text
    }

    /// Parses the note text strictly: every line exactly as [`Self::to_text`] writes it.
    pub fn from_text(text: &str) -> Result<Self> {
        let body = text
            .strip_suffix('\n')
            .ok_or(Error::Malformed("seal must end in a newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(SEAL_ORIGIN) {
            return Err(Error::Malformed("not a seal"));
        }
        let mut field = |name: &str| -> Result<&str> {
            lines
                .next()
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or(Error::Malformed("seal line missing or out of order"))
        };
        let msg_id = MessageId::from_text(field("message")?)?;
        let header_sha256 = b64::decode_array(field("header")?)?;
        let policy_sha256 = b64::decode_array(field("policy")?)?;
        let mut payloads = Vec::new();
        for line in lines {
            let rest = line
                .strip_prefix("payload ")
                .ok_or(Error::Malformed("unexpected seal line"))?;
            if payloads.len() >= MAX_PAYLOADS {
                return Err(Error::Malformed("too many payloads"));
            }
            let mut parts = rest.split(' ');
            let (Some(nonce), Some(len), Some(root), None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(Error::Malformed("payload line must have three fields"));
            };
            payloads.push(PayloadDigest {
                nonce: b64::decode_array(nonce)?,
                len: parse_decimal(len)?,
                chunk_root: b64::decode_array(root)?,
            });
        }
        if payloads.is_empty() {
            return Err(Error::Malformed("seal lists no payloads"));
        }
        Ok(Self {
            msg_id,
            header_sha256,
            policy_sha256,
            payloads,
        })
    }

    /// Signs the statement with the sender's Ed25519 seed.
    pub fn sign(&self, sender_seed: &SymmetricKey) -> Result<String> {
        note::sign(&self.to_text(), SENDER_KEY_NAME, sender_seed.expose_secret())
    }

    /// Verifies a signed seal against the sender's Ed25519 public key and parses it.
    pub fn verify(signed: &str, sender_public: &[u8; 32]) -> Result<Self> {
        let key = VerifierKey::new(SENDER_KEY_NAME, *sender_public)?;
        Self::from_text(note::verify(signed, &key)?)
    }
}

/// A canonical decimal: digits only, no leading zero, fits in 64 bits.
fn parse_decimal(text: &str) -> Result<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return Err(Error::Malformed("not a canonical decimal"));
    }
    text.parse().map_err(|_| Error::Malformed("decimal out of range"))
}

/// The Ed25519 public key of a sender seed.
pub fn sender_public(seed: &SymmetricKey) -> [u8; 32] {
    ed25519_public(seed.expose_secret())
}
