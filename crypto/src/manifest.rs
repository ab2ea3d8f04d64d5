//! The manifest: the message's subject, body and attachment list, encrypted as a payload of its
//! own (the first payload of a message). Its plaintext is JSON, padded with spaces to a multiple
//! of [`MANIFEST_PADDING`] bytes so that the ciphertext length reveals only a coarse size.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Manifest plaintexts are padded to a multiple of this many bytes.
pub const MANIFEST_PADDING: usize = 1024;
/// Largest manifest plaintext accepted (16 MiB).
pub const MAX_MANIFEST_LEN: usize = 16 << 20;

/// Subject, body and attachment list.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version, 1.
    pub v: u32,
    /// Subject line.
    pub subject: String,
    /// Body text, shown as text and never as HTML.
    pub body: String,
    /// Attachments; entry `i` describes payload `i + 1` of the message.
    pub attachments: Vec<AttachmentInfo>,
}

impl core::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Content is confidential: show only its shape.
        f.debug_struct("Manifest")
            .field("subject_len", &self.subject.len())
            .field("body_len", &self.body.len())
            .field("attachments", &self.attachments.len())
            .finish()
    }
}

/// One attachment's metadata.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInfo {
    /// File name as the sender gave it; recipients must sanitise it before saving.
    pub name: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
}

impl Manifest {
    /// A version-1 manifest.
    pub fn new(subject: impl Into<String>, body: impl Into<String>, attachments: Vec<AttachmentInfo>) -> Self {
        Self {
            v: 1,
            subject: subject.into(),
            body: body.into(),
            attachments,
        }
    }

    /// The padded plaintext.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec(self).map_err(|_| Error::InvalidArgument("manifest does not serialise"))?;
        let padded = out.len().div_ceil(MANIFEST_PADDING).max(1) * MANIFEST_PADDING;
        if padded > MAX_MANIFEST_LEN {
            return Err(Error::InvalidArgument("manifest too large"));
        }
        out.resize(padded, b' ');
        Ok(out)
    }

    /// Parses a padded plaintext.
    pub fn decode(plaintext: &[u8]) -> Result<Self> {
        if plaintext.len() > MAX_MANIFEST_LEN || !plaintext.len().is_multiple_of(MANIFEST_PADDING) {
            return Err(Error::Malformed("manifest length is not a padded length"));
        }
        let end = plaintext.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        let manifest: Self =
            serde_json::from_slice(&plaintext[..end]).map_err(|_| Error::Malformed("manifest is not valid JSON"))?;
        if manifest.v != 1 {
            return Err(Error::Malformed("unsupported manifest version"));
        }
        Ok(manifest)
    }
}

impl core::fmt::Debug for AttachmentInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentInfo")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
