//! The Sealpost recipient stanza and the per-recipient 2-of-2 key split.
//!
//! For each recipient `i` of message `msg_id`:
//!
//! ```text
//! rid_i      = SHA-256("sealpost.org/v1/rid" ‖ 0x00 ‖ pk_i)[..16]
//! rshare_i   = random(32)             sealed to the recipient with HPKE, inside the header
//! sshare_i   = random(32)             given to the server alone
//! enc_i, ct_i = HPKE.SealBase(pk_i, info = "sealpost.org/v1/rshare" ‖ 0x00 ‖ msg_id ‖ rid_i, aad = "", rshare_i)
//! KEK_i      = HKDF-SHA256(ikm = rshare_i ‖ sshare_i, salt = msg_id, info = "sealpost.org/v1/kek" ‖ 0x00 ‖ rid_i)
//! wrapped_i  = ChaCha20-Poly1305(KEK_i, nonce = 0¹², aad = "", file_key)
//! stanza     = "-> sealpost.org/v1 " b64(msg_id) " " b64(rid_i) " " b64(enc_i) "\n" b64(ct_i ‖ wrapped_i)
//! ```
//!
//! Neither share alone says anything about `KEK_i`; destroying `sshare_i` makes the message
//! unopenable for recipient `i` forever.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::header::{Header, Stanza};
use crate::identity::Identity;
use crate::primitives::{
    chacha20poly1305_open, chacha20poly1305_seal, hkdf_sha256_32, hpke_open_base, hpke_seal_base, sha256, x25519_base,
};
use crate::secrets::{FileKey, RecipientShare, ServerShare};
use crate::{Error, Result, b64};

/// The stanza type of format v1.
pub const STANZA_TYPE: &str = "sealpost.org/v1";
const RID_LABEL: &[u8] = b"sealpost.org/v1/rid";
const RSHARE_LABEL: &[u8] = b"sealpost.org/v1/rshare";
const KEK_LABEL: &[u8] = b"sealpost.org/v1/kek";
/// HPKE ciphertext of the 32-byte recipient share: 32 + 16.
const SEALED_SHARE_LEN: usize = 48;
/// Wrapped file key: 16 + 16.
const WRAPPED_LEN: usize = 32;
/// Exact stanza body length, checked before any decryption.
pub const STANZA_BODY_LEN: usize = SEALED_SHARE_LEN + WRAPPED_LEN;

/// A 128-bit random message identifier, chosen by the sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// A fresh random id.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        Self(id)
    }

    /// URL-safe unpadded base64, the form used in links and the API.
    pub fn to_text(&self) -> String {
        b64::encode_url(&self.0)
    }

    /// Parses [`MessageId::to_text`].
    pub fn from_text(text: &str) -> Result<Self> {
        b64::decode_url_array(text).map(Self)
    }
}

impl core::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MessageId({})", self.to_text())
    }
}

/// A recipient identifier: a hash of the recipient's X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientId(pub [u8; 16]);

impl RecipientId {
    /// URL-safe unpadded base64.
    pub fn to_text(&self) -> String {
        b64::encode_url(&self.0)
    }
}

impl core::fmt::Debug for RecipientId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RecipientId({})", self.to_text())
    }
}

/// A recipient's X25519 public key: a registered user's key or a one-message link key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientPublicKey(pub [u8; 32]);

impl RecipientPublicKey {
    /// The recipient id of this key.
    pub fn rid(&self) -> RecipientId {
        let digest = sha256(&[RID_LABEL, &[0], &self.0]);
        RecipientId(digest[..16].try_into().expect("16 of 32 bytes"))
    }
}

impl core::fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RecipientPublicKey({})", b64::encode(&self.0))
    }
}

/// A recipient's X25519 secret key.
pub struct RecipientSecretKey {
    secret: Zeroizing<[u8; 32]>,
    public: RecipientPublicKey,
}

impl core::fmt::Debug for RecipientSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecipientSecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl RecipientSecretKey {
    /// A key from its 32-byte secret scalar.
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        let public = RecipientPublicKey(x25519_base(&secret));
        Self {
            secret: Zeroizing::new(secret),
            public,
        }
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::from_bytes(*secret)
    }

    /// The public key.
    pub fn public(&self) -> RecipientPublicKey {
        self.public
    }

    /// The secret scalar. Every call site is a place where the secret leaves its wrapper.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The link-fragment form of a one-message link key: URL-safe unpadded base64.
    pub fn to_link_secret(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode_url(self.secret.as_ref()))
    }

    /// Parses [`RecipientSecretKey::to_link_secret`].
    pub fn from_link_secret(text: &str) -> Result<Self> {
        let mut secret = Zeroizing::new(b64::decode_url_array::<32>(text.trim())?);
        let key = Self::from_bytes(*secret);
        zeroize::Zeroize::zeroize(secret.as_mut());
        Ok(key)
    }

    /// Finds this key's stanza in the header of message `msg_id` and opens its recipient share.
    /// Needs no server share, so a client may do it before verification; it reveals nothing
    /// about the file key.
    pub fn open_share(&self, header: &Header, msg_id: &MessageId) -> Result<OpenedShare> {
        let rid = self.public.rid();
        let mut found = None;
        for stanza in header.stanzas() {
            if stanza.kind() != STANZA_TYPE {
                continue;
            }
            let parsed = ParsedStanza::parse(stanza)?;
            if parsed.msg_id != *msg_id {
                return Err(Error::Malformed("stanza belongs to another message"));
            }
            if parsed.rid == rid && found.is_none() {
                found = Some(parsed);
            }
        }
        open_parsed(self, &found.ok_or(Error::NoMatch)?)
    }
}

/// Opens the recipient share of a stanza already known to be addressed to `key`.
fn open_parsed(key: &RecipientSecretKey, parsed: &ParsedStanza) -> Result<OpenedShare> {
    let info = rshare_info(&parsed.msg_id, &parsed.rid);
    let rshare = hpke_open_base(&key.secret, &parsed.enc, &info, b"", &parsed.body[..SEALED_SHARE_LEN])?;
    Ok(OpenedShare {
        msg_id: parsed.msg_id,
        rid: parsed.rid,
        rshare: RecipientShare::try_from_slice(&rshare).map_err(|_| Error::DecryptionFailed)?,
        wrapped: parsed.body[SEALED_SHARE_LEN..].try_into().expect("body length checked"),
    })
}

/// A recipient share opened from the header, waiting for the server share.
pub struct OpenedShare {
    msg_id: MessageId,
    rid: RecipientId,
    rshare: RecipientShare,
    wrapped: [u8; WRAPPED_LEN],
}

impl core::fmt::Debug for OpenedShare {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenedShare")
            .field("msg_id", &self.msg_id)
            .field("rid", &self.rid)
            .finish_non_exhaustive()
    }
}

impl OpenedShare {
    /// The recipient id the share was addressed to.
    pub fn rid(&self) -> RecipientId {
        self.rid
    }

    /// Combines the server share, unwraps the file key and verifies the header MAC with it.
    pub fn file_key(&self, server_share: &ServerShare, header: &Header) -> Result<FileKey> {
        let file_key = self.unwrap_file_key(server_share)?;
        header.verify_mac(&file_key)?;
        Ok(file_key)
    }

    /// Combines the server share and unwraps the file key, without the header MAC check.
    fn unwrap_file_key(&self, server_share: &ServerShare) -> Result<FileKey> {
        let kek = kek(&self.rshare, server_share, &self.msg_id, &self.rid);
        let file_key = chacha20poly1305_open(&kek, &[0; 12], b"", &self.wrapped)?;
        FileKey::try_from_slice(&file_key).map_err(|_| Error::DecryptionFailed)
    }
}

/// What the sender gives the server for one recipient.
#[derive(Debug)]
pub struct ServerShareFor {
    /// The recipient the share belongs to.
    pub rid: RecipientId,
    /// The share; the server stores it encrypted at rest and destroys it on revoke or expiry.
    pub share: ServerShare,
}

/// Builds the Sealpost stanza for one recipient and returns it with the server's share.
pub fn wrap_for_recipient(
    file_key: &FileKey,
    msg_id: &MessageId,
    recipient: &RecipientPublicKey,
    rng: &mut impl CryptoRng,
) -> Result<(Stanza, ServerShareFor)> {
    let rid = recipient.rid();
    let rshare = RecipientShare::random(rng);
    let sshare = ServerShare::random(rng);
    let info = rshare_info(msg_id, &rid);
    let (enc, sealed_share) = hpke_seal_base(&recipient.0, &info, b"", rshare.expose_secret(), rng)?;
    let kek = kek(&rshare, &sshare, msg_id, &rid);
    let wrapped = chacha20poly1305_seal(&kek, &[0; 12], b"", file_key.expose_secret());
    let mut body = sealed_share;
    body.extend_from_slice(&wrapped);
    debug_assert_eq!(body.len(), STANZA_BODY_LEN);
    let stanza = Stanza::new(
        vec![
            STANZA_TYPE.to_owned(),
            b64::encode(&msg_id.0),
            b64::encode(&rid.0),
            b64::encode(&enc),
        ],
        body,
    )?;
    Ok((stanza, ServerShareFor { rid, share: sshare }))
}

/// Builds the stanzas for every recipient, refusing duplicates and an empty list.
pub fn wrap_for_recipients(
    file_key: &FileKey,
    msg_id: &MessageId,
    recipients: &[RecipientPublicKey],
    rng: &mut impl CryptoRng,
) -> Result<(Vec<Stanza>, Vec<ServerShareFor>)> {
    if recipients.is_empty() {
        return Err(Error::InvalidArgument("a message needs at least one recipient"));
    }
    let mut rids: Vec<RecipientId> = recipients.iter().map(RecipientPublicKey::rid).collect();
    rids.sort_unstable();
    if rids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(Error::InvalidArgument("the same recipient key appears twice"));
    }
    let mut stanzas = Vec::with_capacity(recipients.len());
    let mut shares = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let (stanza, share) = wrap_for_recipient(file_key, msg_id, recipient, rng)?;
        stanzas.push(stanza);
        shares.push(share);
    }
    Ok((stanzas, shares))
}

/// A recipient key together with the server share it was given: the [`Identity`] that opens a
/// Sealpost message in one step.
#[derive(Debug)]
pub struct SealpostIdentity<'a> {
    /// The recipient's secret key.
    pub key: &'a RecipientSecretKey,
    /// The message the stanza must belong to.
    pub msg_id: MessageId,
    /// The share released by the server.
    pub server_share: &'a ServerShare,
}

impl Identity for SealpostIdentity<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        if stanza.kind() != STANZA_TYPE {
            return None;
        }
        let parsed = match ParsedStanza::parse(stanza) {
            Ok(parsed) => parsed,
            Err(err) => return Some(Err(err)),
        };
        if parsed.rid != self.key.public.rid() {
            return None;
        }
        if parsed.msg_id != self.msg_id {
            return Some(Err(Error::Malformed("stanza belongs to another message")));
        }
        Some(open_parsed(self.key, &parsed).and_then(|share| share.unwrap_file_key(self.server_share)))
    }
}

struct ParsedStanza {
    msg_id: MessageId,
    rid: RecipientId,
    enc: [u8; 32],
    body: Vec<u8>,
}

impl ParsedStanza {
    fn parse(stanza: &Stanza) -> Result<Self> {
        if stanza.args.len() != 4 {
            return Err(Error::Malformed(
                "sealpost.org/v1 stanza must have exactly three arguments",
            ));
        }
        let msg_id = MessageId(b64::decode_array(&stanza.args[1])?);
        let rid = RecipientId(b64::decode_array(&stanza.args[2])?);
        let enc = b64::decode_array(&stanza.args[3])?;
        // Exact length before any decryption (partitioning-oracle defence).
        if stanza.body.len() != STANZA_BODY_LEN {
            return Err(Error::Malformed("sealpost.org/v1 stanza body must be 80 bytes"));
        }
        Ok(Self {
            msg_id,
            rid,
            enc,
            body: stanza.body.clone(),
        })
    }
}

/// HPKE `info` for a recipient share: `"sealpost.org/v1/rshare" ‖ 0x00 ‖ msg_id ‖ rid`.
fn rshare_info(msg_id: &MessageId, rid: &RecipientId) -> Vec<u8> {
    [RSHARE_LABEL, &[0], &msg_id.0, &rid.0].concat()
}

fn kek(rshare: &RecipientShare, sshare: &ServerShare, msg_id: &MessageId, rid: &RecipientId) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(rshare.expose_secret());
    ikm[32..].copy_from_slice(sshare.expose_secret());
    hkdf_sha256_32(ikm.as_ref(), &msg_id.0, &[KEK_LABEL, &[0], &rid.0].concat())
}

/// Builds a complete header for `recipients` (plus any extra stanzas, such as a plain age
/// X25519 stanza for interoperability) and returns it with the server shares.
pub fn seal_header(
    file_key: &FileKey,
    msg_id: &MessageId,
    recipients: &[RecipientPublicKey],
    extra: Vec<Stanza>,
    rng: &mut impl CryptoRng,
) -> Result<(Header, Vec<ServerShareFor>)> {
    let (mut stanzas, shares) = wrap_for_recipients(file_key, msg_id, recipients, rng)?;
    stanzas.extend(extra);
    Ok((Header::new(stanzas, file_key)?, shares))
}
