//! The crate's one error type.
//!
//! Authentication failures of any kind (a stanza that does not open, a wrong server share, a bad
//! header MAC, a bad chunk tag, a truncated or extended payload) all surface as the single opaque
//! [`Error::DecryptionFailed`], so that no caller can turn our answers into an oracle. Structural
//! problems, which can be decided without any key, carry a short static reason for local
//! diagnostics; never send that reason to a remote party.

/// Everything that can go wrong in `sealpost-crypto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not follow the format. The reason is for local diagnostics only.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// No recipient stanza in the header is addressed to this key.
    #[error("no recipient stanza matches this key")]
    NoMatch,
    /// Decryption or authentication failed. Deliberately says nothing more.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A signature did not verify against the expected public key.
    #[error("signature verification failed")]
    BadSignature,
    /// Password-hashing parameters are outside the accepted range.
    #[error("password-hashing parameters out of range: {0}")]
    KdfParameters(&'static str),
    /// A value given by the caller is out of range (for example a duplicate recipient).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A transparency-log check failed: an inclusion proof, a chain of log entries, or a receipt
    /// statement that does not follow from its evidence. The reason is for local diagnostics.
    #[error("log proof failed: {0}")]
    Proof(&'static str),
    /// A line of a log export (`tlog::verify_export`) failed verification; line 1 is the header.
    #[error("log export line {line}: {reason}")]
    Export {
        /// 1-based line number in the export.
        line: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
