//! A whole Sealpost message: the header, the manifest payload, one payload per attachment and
//! the sender's seal, built and opened in memory. Large attachments use the same pieces in
//! batches ([`crate::stream`]); this module is the reference for how they fit together.
//!
//! Sending: pick `msg_id` and `file_key`, wrap the file key for every recipient
//! ([`crate::recipient`]), encrypt the manifest and each attachment as separate STREAM payloads
//! under the same file key with fresh nonces, then sign a [`SealBody`] over the header hash, the
//! policy hash and every payload's nonce, length and chunk root.
//!
//! Opening: verify the seal against the sender's key, check the header hash, open the recipient
//! share, combine it with the server share, verify the header MAC, then decrypt each payload
//! with the nonce and length the seal states, checking its chunk root.

use rand_core::CryptoRng;

use crate::header::Header;
use crate::manifest::{AttachmentInfo, Manifest};
use crate::merkle::root_of;
use crate::primitives::sha256;
use crate::recipient::{MessageId, OpenedShare, RecipientPublicKey, RecipientSecretKey, ServerShareFor, seal_header};
use crate::seal::{PayloadDigest, SealBody};
use crate::sealed_stream::SealedPayloadStream;
use crate::secrets::{FileKey, ServerShare, SymmetricKey};
use crate::stream::{NONCE_LEN, PayloadDecryptor, PayloadEncryptor};
use crate::{Error, Result};

/// One attachment to send.
#[derive(Clone, Copy)]
pub struct AttachmentInput<'a> {
    /// File name.
    pub name: &'a str,
    /// Media type.
    pub media_type: &'a str,
    /// Contents.
    pub data: &'a [u8],
}

impl core::fmt::Debug for AttachmentInput<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentInput")
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Everything the server stores for a message, plus the shares it holds.
#[derive(Debug)]
pub struct SealedMessage {
    /// The message id.
    pub msg_id: MessageId,
    /// The age header.
    pub header: Vec<u8>,
    /// The manifest payload, then one payload per attachment.
    pub payloads: Vec<Vec<u8>>,
    /// The signed seal.
    pub seal: String,
    /// One server share per recipient.
    pub server_shares: Vec<ServerShareFor>,
}

/// Encrypts a message in memory.
pub fn seal_message(
    manifest_subject: &str,
    manifest_body: &str,
    attachments: &[AttachmentInput<'_>],
    policy: &[u8],
    recipients: &[RecipientPublicKey],
    sender: &SymmetricKey,
    rng: &mut impl CryptoRng,
) -> Result<SealedMessage> {
    let msg_id = MessageId::random(rng);
    let file_key = FileKey::random(rng);
    seal_message_with(
        &msg_id,
        &file_key,
        manifest_subject,
        manifest_body,
        attachments,
        policy,
        recipients,
        sender,
        rng,
    )
}

/// As [`seal_message`] with a caller-chosen id and file key (for known-answer vectors).
#[allow(clippy::too_many_arguments)]
pub fn seal_message_with(
    msg_id: &MessageId,
    file_key: &FileKey,
    subject: &str,
    body: &str,
    attachments: &[AttachmentInput<'_>],
    policy: &[u8],
    recipients: &[RecipientPublicKey],
    sender: &SymmetricKey,
    rng: &mut impl CryptoRng,
) -> Result<SealedMessage> {
    let (header, server_shares) = seal_header(file_key, msg_id, recipients, Vec::new(), rng)?;
    let manifest = Manifest::new(
        subject,
        body,
        attachments
            .iter()
            .map(|a| AttachmentInfo {
                name: a.name.to_owned(),
                size: a.data.len() as u64,
                media_type: a.media_type.to_owned(),
            })
            .collect(),
    );
    let manifest_plaintext = zeroize::Zeroizing::new(manifest.encode()?);
    let mut payloads = Vec::with_capacity(1 + attachments.len());
    let mut digests = Vec::with_capacity(1 + attachments.len());
    for plaintext in core::iter::once(manifest_plaintext.as_slice()).chain(attachments.iter().map(|a| a.data)) {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let (payload, digest) = encrypt_payload(file_key, nonce, plaintext)?;
        payloads.push(payload);
        digests.push(digest);
    }
    let seal_body = SealBody {
        msg_id: *msg_id,
        header_sha256: sha256(&[header.as_bytes()]),
        policy_sha256: sha256(&[policy]),
        payloads: digests,
    };
    Ok(SealedMessage {
        msg_id: *msg_id,
        header: header.as_bytes().to_vec(),
        payloads,
        seal: seal_body.sign(sender)?,
        server_shares,
    })
}

/// Encrypts one payload in memory and computes its digest for the seal.
pub fn encrypt_payload(
    file_key: &FileKey,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<(Vec<u8>, PayloadDigest)> {
    let enc = PayloadEncryptor::new(file_key, nonce, plaintext.len() as u64);
    let mut payload = vec![0u8; enc.layout().payload_len() as usize];
    payload[..NONCE_LEN].copy_from_slice(&nonce);
    let leaves = enc.encrypt_chunks_hashed(0, plaintext, &mut payload[NONCE_LEN..])?;
    let digest = PayloadDigest {
        nonce,
        len: payload.len() as u64,
        chunk_root: root_of(&leaves),
    };
    Ok((payload, digest))
}

/// A message whose seal and header have been checked, before any key is available.
#[derive(Debug)]
pub struct Envelope {
    msg_id: MessageId,
    header: Header,
    seal: SealBody,
}

impl Envelope {
    /// Verifies the seal against the sender's Ed25519 key, checks that it names `msg_id`, and
    /// that `header` is the header it binds.
    pub fn verify(
        msg_id: &MessageId,
        header_bytes: &[u8],
        signed_seal: &str,
        sender_public: &[u8; 32],
    ) -> Result<Self> {
        let seal = SealBody::verify(signed_seal, sender_public)?;
        if seal.msg_id != *msg_id {
            return Err(Error::Malformed("seal names another message"));
        }
        if sha256(&[header_bytes]) != seal.header_sha256 {
            return Err(Error::Malformed("header differs from the sealed header"));
        }
        let (header, used) = Header::parse(header_bytes)?;
        if used != header_bytes.len() {
            return Err(Error::Malformed("trailing bytes after the header"));
        }
        Ok(Self {
            msg_id: *msg_id,
            header,
            seal,
        })
    }

    /// The verified seal.
    pub fn seal(&self) -> &SealBody {
        &self.seal
    }

    /// Whether `policy` is the policy the sender sealed.
    pub fn policy_matches(&self, policy: &[u8]) -> bool {
        sha256(&[policy]) == self.seal.policy_sha256
    }

    /// Opens this recipient's share of the header (no server share needed yet).
    pub fn open_share(&self, key: &RecipientSecretKey) -> Result<OpenedShare> {
        key.open_share(&self.header, &self.msg_id)
    }

    /// Combines the server share and verifies the header MAC: the message is now readable.
    pub fn unlock(&self, share: &OpenedShare, server_share: &ServerShare) -> Result<UnlockedMessage> {
        let file_key = share.file_key(server_share, &self.header)?;
        Ok(UnlockedMessage {
            file_key,
            seal: self.seal.clone(),
        })
    }
}

/// A message whose file key is known and verified.
pub struct UnlockedMessage {
    file_key: FileKey,
    seal: SealBody,
}

impl core::fmt::Debug for UnlockedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnlockedMessage")
            .field("msg_id", &self.seal.msg_id)
            .finish_non_exhaustive()
    }
}

impl UnlockedMessage {
    /// Number of payloads (the manifest and the attachments).
    pub fn payload_count(&self) -> usize {
        self.seal.payloads.len()
    }

    /// The seal's statement about payload `index`.
    pub fn payload_digest(&self, index: usize) -> Result<&PayloadDigest> {
        self.seal
            .payloads
            .get(index)
            .ok_or(Error::InvalidArgument("no such payload"))
    }

    /// A decryptor for payload `index`, using the nonce and length the sender sealed, so the
    /// stored length cannot be changed to move the last chunk.
    pub fn payload_decryptor(&self, index: usize) -> Result<PayloadDecryptor> {
        let digest = self.payload_digest(index)?;
        PayloadDecryptor::new(&self.file_key, &digest.nonce, digest.len)
    }

    /// A streaming decryptor for payload `index` that checks the sealed nonce, length, every
    /// chunk and the chunk root as the payload arrives in pieces of any size; for attachments
    /// too large to hold in memory. Its output is complete only once
    /// [`SealedPayloadStream::finish`] succeeds.
    pub fn payload_stream(&self, index: usize) -> Result<SealedPayloadStream> {
        SealedPayloadStream::new(&self.file_key, *self.payload_digest(index)?)
    }

    /// Decrypts a whole payload held in memory, checking nonce, length and chunk root.
    pub fn decrypt_payload(&self, index: usize, payload: &[u8]) -> Result<Vec<u8>> {
        let digest = *self.payload_digest(index)?;
        if payload.len() as u64 != digest.len || payload.get(..NONCE_LEN) != Some(&digest.nonce[..]) {
            return Err(Error::DecryptionFailed);
        }
        let dec = self.payload_decryptor(index)?;
        let layout = dec.layout();
        if !layout.is_well_formed() {
            return Err(Error::DecryptionFailed);
        }
        let mut out = vec![0u8; layout.plaintext_len() as usize];
        let leaves = dec.decrypt_chunks_hashed(0, &payload[NONCE_LEN..], &mut out)?;
        if root_of(&leaves) != digest.chunk_root {
            return Err(Error::DecryptionFailed);
        }
        Ok(out)
    }

    /// Decrypts and parses the manifest (payload 0), checking that it lists exactly one
    /// attachment per further payload with the sealed plaintext sizes.
    pub fn manifest(&self, payload: &[u8]) -> Result<Manifest> {
        let manifest = Manifest::decode(&zeroize::Zeroizing::new(self.decrypt_payload(0, payload)?))?;
        if manifest.attachments.len() + 1 != self.seal.payloads.len() {
            return Err(Error::Malformed("manifest and seal disagree on the attachments"));
        }
        for (i, attachment) in manifest.attachments.iter().enumerate() {
            let layout = self.payload_decryptor(i + 1)?.layout();
            if layout.plaintext_len() != attachment.size || !layout.is_well_formed() {
                return Err(Error::Malformed("manifest and seal disagree on an attachment size"));
            }
        }
        Ok(manifest)
    }
}
