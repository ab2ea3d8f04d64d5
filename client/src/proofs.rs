//! Offline checks of what the server's access log hands out: message receipts and
//! organisation exports. Nothing here talks to the server; the log key is pinned by the caller
//! (from `sealpost init`, `--log-key` or `SEALPOST_LOG_KEY`), never taken from the file checked.

use std::path::{Path, PathBuf};

use sealpost_crypto::note::VerifierKey;
use sealpost_crypto::tlog::{self, CosignerKey, ExportReport, VerifiedReceipt};

/// Why a check failed. Each text is one sentence for the user.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A key given by the user is not a key.
    #[error("{0} is not a valid {1} key (expected name+id+base64 as the server publishes it)")]
    BadKey(String, &'static str),
    /// No log key was given.
    #[error(
        "no log key: run `sealpost init`, pass --log-key (as published at /.well-known/sealpost/log-key) or set SEALPOST_LOG_KEY"
    )]
    NoLogKey,
    /// The receipt does not verify.
    #[error("the receipt is NOT valid: {0}")]
    Receipt(sealpost_crypto::Error),
    /// The export does not verify.
    #[error("the export is NOT valid: {0}")]
    Export(sealpost_crypto::Error),
}

/// The pinned log key: the argument, or `SEALPOST_LOG_KEY`.
pub fn log_key(arg: Option<&str>) -> Result<VerifierKey, ProofError> {
    pinned_log_key(arg, None)
}

/// The pinned log key: the argument, else `SEALPOST_LOG_KEY`, else the key `sealpost init`
/// pinned in the configuration (`configured`).
pub fn pinned_log_key(arg: Option<&str>, configured: Option<&str>) -> Result<VerifierKey, ProofError> {
    let text = match arg {
        Some(t) => t.to_owned(),
        None => match std::env::var("SEALPOST_LOG_KEY") {
            Ok(t) if !t.trim().is_empty() => t,
            _ => configured.ok_or(ProofError::NoLogKey)?.to_owned(),
        },
    };
    let text = text.trim();
    VerifierKey::from_vkey(text).map_err(|_| ProofError::BadKey(text.to_owned(), "log"))
}

/// Witness keys given by the user.
pub fn witness_keys(args: &[String]) -> Result<Vec<CosignerKey>, ProofError> {
    args.iter()
        .map(|t| CosignerKey::from_vkey(t.trim()).map_err(|_| ProofError::BadKey(t.clone(), "witness")))
        .collect()
}

fn read(path: &Path) -> Result<String, ProofError> {
    std::fs::read_to_string(path).map_err(|e| ProofError::Read(path.to_owned(), e))
}

/// Verifies a receipt's text against the pinned log key and the witnesses required.
pub fn verify_receipt_text(
    text: &str,
    log_key: &VerifierKey,
    witnesses: &[CosignerKey],
) -> Result<VerifiedReceipt, ProofError> {
    tlog::verify_receipt(text, log_key, witnesses).map_err(ProofError::Receipt)
}

/// Verifies a receipt file against the pinned log key and the witnesses required.
pub fn verify_receipt_file(
    path: &Path,
    log_key: &VerifierKey,
    witnesses: &[CosignerKey],
) -> Result<VerifiedReceipt, ProofError> {
    let text = read(path)?;
    tlog::verify_receipt(&text, log_key, witnesses).map_err(ProofError::Receipt)
}

/// Verifies an organisation export (JSON lines) against the pinned log key.
pub fn verify_export_file(path: &Path, log_key: &VerifierKey) -> Result<ExportReport, ProofError> {
    let text = read(path)?;
    tlog::verify_export(&text, log_key).map_err(ProofError::Export)
}
