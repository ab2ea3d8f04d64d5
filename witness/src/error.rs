//! The crate's one error type.
//!
//! Each refusal of an add-checkpoint request is its own variant, so that the HTTP layer maps it to
//! the status code c2sp.org/tlog-witness prescribes ([`Error::status`]); the rest are failures of
//! the witness itself (its key, its state file) that the command line reports in one sentence.

use axum::http::StatusCode;

/// Everything that can go wrong in `sealpost-witness`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request body does not follow the protocol (400 Bad Request).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// No log with the checkpoint's origin is configured (404 Not Found).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No trusted key of the checkpoint's log signed it (403 Forbidden).
    #[error("the checkpoint is not signed by a trusted key of its log")]
    BadSignature,
    /// The request's old size is not the size of the latest checkpoint cosigned for this log
    /// (409 Conflict, the body tells the log the right size).
    #[error("the old size is not {known}, the size of the latest cosigned checkpoint")]
    OldSizeMismatch {
        /// The size of the latest cosigned checkpoint, 0 if none.
        known: u64,
    },
    /// The checkpoint has the size of the latest cosigned checkpoint but another root hash: the
    /// log has forked (409 Conflict, evidence recorded).
    #[error("the checkpoint has the size of the latest cosigned checkpoint ({known}) but another root hash")]
    RootMismatch {
        /// The size of the latest cosigned checkpoint.
        known: u64,
    },
    /// The consistency proof does not verify (422 Unprocessable Entity).
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(&'static str),
    /// The state file could not be written or read (500).
    #[error("state file: {0}")]
    Storage(String),
    /// Producing the cosignature failed (500).
    #[error("cosigning failed: {0}")]
    Signing(sealpost_crypto::Error),
    /// The witness cannot start: its name, key file, log keys, state file or address.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The HTTP status code c2sp.org/tlog-witness prescribes for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::UnknownOrigin(_) => StatusCode::NOT_FOUND,
            Self::BadSignature => StatusCode::FORBIDDEN,
            Self::OldSizeMismatch { .. } | Self::RootMismatch { .. } => StatusCode::CONFLICT,
            Self::Inconsistent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Storage(_) | Self::Signing(_) | Self::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error of [`crate::Witness::add_checkpoint`]: the crate's one error type.
pub type AddError = Error;
