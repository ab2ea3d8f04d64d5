//! # sealpost-client
//!
//! The Sealpost SDK: everything a sender or recipient does on their own machine. All encryption
//! happens here, through `sealpost-crypto`; the server only ever receives ciphertext. The
//! `sealpost` command-line tool is a thin layer over these functions.
//!
//! - [`config`]: the configuration file (server, token, key file) and the resume directory.
//! - [`api`]: the HTTP client of `/api/v1`, errors as one-sentence [`Error`]s.
//! - [`keys`]: the password-protected key file; [`keys::register`] publishes it.
//! - [`send`]: encrypt and upload a message of any size, resumable.
//! - [`messages`]: status, list, revoke, expiry, receipts.
//! - [`open`]: a recipient opens a link (guest by SMS code, registered by password and TOTP).
//! - [`incidents`]: the breach register: incidents about messages sent in error, decisions,
//!   exports.
//! - [`proofs`]: receipts and log exports, checked offline.
//! - [`payload_io`]: the streaming encrypt/decrypt pipeline.

pub mod api;
pub mod checks;
pub mod config;
pub mod error;
pub mod incidents;
pub mod keys;
pub mod messages;
pub mod open;
pub mod payload_io;
pub mod proofs;
pub mod send;

pub use error::{Error, Result};
