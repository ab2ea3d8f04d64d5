//! The SDK's one error type. Every variant reads as one plain sentence fit to show a person,
//! and maps to one of the documented exit codes of the `sealpost` tool ([`Error::exit_code`]).

use std::path::PathBuf;

use crate::keys::KeyFileError;
use crate::payload_io::PayloadIoError;
use crate::proofs::ProofError;

/// The exit codes of `sealpost`, as documented in `docs/cli.md`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed for another reason (including: a receipt or export did not verify).
    pub const FAILED: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// A local problem: no configuration, a file that cannot be read or written, a key file
    /// that the password does not open.
    pub const LOCAL: u8 = 3;
    /// The server could not be reached, or answered with a server-side failure.
    pub const UNREACHABLE: u8 = 4;
    /// The API token was rejected, or it does not allow the operation.
    pub const AUTH: u8 = 5;
    /// No such message, link or address (or not yours to see); also a link whose message was
    /// revoked or has expired, which the server answers exactly like an unknown link.
    pub const NOT_FOUND: u8 = 6;
    /// The message or recipient cannot be changed or opened any more: revoked or expired (the
    /// sender's calls), locked, open limit reached.
    pub const GONE: u8 = 7;
    /// A quota or rate limit was reached.
    pub const LIMIT: u8 = 8;
    /// A verification code or password was wrong.
    pub const WRONG_CODE: u8 = 9;
    /// The server refused the request as invalid (the problem's `code` says why).
    pub const REFUSED: u8 = 10;
    /// The pre-send checks stopped the send: an error, or a warning not confirmed
    /// (`sealpost check`: something reached warning).
    pub const CHECKS: u8 = 11;
}

/// An error of the server, as its problem details state it (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// The stable problem code (`quota_exceeded`, `gone`, …).
    pub code: String,
    /// The server's sentence for people.
    pub detail: String,
    /// Wrong entries left before the link locks (recipient calls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u64>,
    /// Seconds to wait (429 answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Everything that can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No configuration: no server URL or no token.
    #[error("{0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The key file could not be used.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The server could not be reached (or the connection broke).
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The server URL.
        url: String,
        /// Why, in words.
        reason: String,
    },
    /// The server answered with an error.
    #[error("{}", problem_sentence(.0))]
    Api(Problem),
    /// The server answered something this client does not understand.
    #[error("the server's answer to {what} was not understood: {reason}")]
    Protocol {
        /// The request.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// The input was refused before anything was sent.
    #[error("{0}")]
    Invalid(String),
    /// A cryptographic check failed (seal, header, proof, payload).
    #[error("{0}")]
    Verification(String),
    /// Encrypting or decrypting a file failed.
    #[error("{0}")]
    Payload(#[from] PayloadIoError),
    /// A receipt or an export did not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The operation was interrupted (Ctrl-C).
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
    /// The pre-send checks stopped the send.
    #[error("{0}")]
    Stopped(String),
}

/// One sentence for a problem: the well-known codes in the tool's own words, others with the
/// server's detail.
fn problem_sentence(p: &Problem) -> String {
    let detail = p.detail.trim_end_matches('.');
    match (p.status, p.code.as_str()) {
        // A recipient call whose session ended (the server's title is "Verification required").
        (401, _) if p.detail.starts_with("Verify") => {
            "the verification of this link has ended; open the link again to verify anew".into()
        }
        (401, _) => "the server rejected the API token (unknown, revoked or expired); check `sealpost init`".into(),
        (403, "forbidden") => format!("the API token does not allow this: {detail}"),
        (403, "wrong_code" | "wrong_password") => match p.attempts_left {
            Some(0) => format!("{detail} (no attempts left on this code: ask for a new one)"),
            Some(n) => format!("{detail} ({n} attempts left)"),
            None => detail.to_owned(),
        },
        (404, "unknown_link") => "this link cannot be opened: it is incomplete, or the message was withdrawn by its sender or has expired (the server does not say which); check the link, otherwise ask the sender".into(),
        (404, _) => format!("not found: {detail}"),
        (410, "open_limit") => "the message has been opened as many times as its sender allowed".into(),
        (410, _) => format!("the message can no longer be changed or opened: {detail}"),
        (423, _) => "the recipient is locked after too many wrong entries; the sender can unlock it".into(),
        (507, _) => format!("quota reached: {detail}"),
        (429, _) => match p.retry_after {
            Some(s) => format!("{detail} (retry in {s} s)"),
            None => detail.to_owned(),
        },
        (s, _) if s >= 500 => format!("the server failed ({s} {}): {detail}", p.code),
        _ => format!("{detail} ({})", p.code),
    }
}

impl Error {
    /// The exit code of `sealpost` for this error ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::File { .. } | Error::Invalid(_) => exit::LOCAL,
            Error::KeyFile(_) => exit::LOCAL,
            Error::Unreachable { .. } => exit::UNREACHABLE,
            Error::Api(p) => match (p.status, p.code.as_str()) {
                (401, _) | (403, "forbidden") => exit::AUTH,
                (403, _) => exit::WRONG_CODE,
                (404, _) => exit::NOT_FOUND,
                (410 | 423, _) => exit::GONE,
                (429 | 507, _) => exit::LIMIT,
                (s, _) if s >= 500 => exit::UNREACHABLE,
                _ => exit::REFUSED,
            },
            Error::Protocol { .. } | Error::Verification(_) | Error::Payload(_) | Error::Proof(_) => exit::FAILED,
            Error::Interrupted => exit::FAILED,
            Error::Stopped(_) => exit::CHECKS,
        }
    }

    /// A stable machine name for the error (the `error.kind` of `--json` output).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::File { .. } => "file",
            Error::KeyFile(_) => "key_file",
            Error::Unreachable { .. } => "unreachable",
            Error::Api(_) => "api",
            Error::Protocol { .. } => "protocol",
            Error::Invalid(_) => "invalid",
            Error::Verification(_) => "verification",
            Error::Payload(_) => "payload",
            Error::Proof(_) => "proof",
            Error::Interrupted => "interrupted",
            Error::Stopped(_) => "checks",
        }
    }

    /// The server's problem, when the error is one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api(p) => Some(p),
            _ => None,
        }
    }

    /// Whether retrying the same request later can succeed (network trouble, 5xx, 429, 408).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Api(p) => p.status >= 500 && p.status != 507 || p.status == 429 || p.status == 408,
            _ => false,
        }
    }

    pub(crate) fn file(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
