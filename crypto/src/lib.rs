//! # sealpost-crypto
//!
//! The Sealpost message format v1, byte for byte as `docs/format.md` specifies it: an age v1
//! container (header grammar, header MAC, STREAM payload) with a `sealpost.org/v1` recipient
//! stanza that splits each recipient's key-encryption key between the recipient (HPKE, RFC 9180)
//! and the server; a manifest payload; a sender-signed seal; password-protected key blobs.
//!
//! Sans-IO: no async, no clock, no files, no network, and no entropy source of its own — every
//! function that needs randomness takes a [`rand_core::CryptoRng`]. It builds for
//! `wasm32-unknown-unknown`; on native targets chunk batches run in parallel with rayon.
//!
//! ```
//! use sealpost_crypto::keyblob::UserKeys;
//! use sealpost_crypto::message::{AttachmentInput, Envelope, seal_message};
//! use sealpost_crypto::recipient::RecipientSecretKey;
//! # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//!
//! let sender = UserKeys::generate(&mut rng);
//! let link_key = RecipientSecretKey::generate(&mut rng); // its secret goes in the link fragment
//! let file = AttachmentInput { name: "report.pdf", media_type: "application/pdf", data: b"%PDF-1.7" };
//! let sent = seal_message("Results", "See attached.", &[file], b"{}", &[link_key.public()], &sender.signing, &mut rng)?;
//!
//! // The recipient: verify, open their share, then (after 2FA) combine the server share.
//! let envelope = Envelope::verify(&sent.msg_id, &sent.header, &sent.seal, &sender.signing_public())?;
//! let share = envelope.open_share(&link_key)?;
//! let message = envelope.unlock(&share, &sent.server_shares[0].share)?;
//! let manifest = message.manifest(&sent.payloads[0])?;
//! assert_eq!(manifest.subject, "Results");
//! assert_eq!(message.decrypt_payload(1, &sent.payloads[1])?, b"%PDF-1.7");
//! # Ok::<(), sealpost_crypto::Error>(())
//! ```

pub mod age_x25519;
pub mod b64;
pub mod error;
pub mod header;
pub mod identity;
pub mod keyblob;
pub mod manifest;
pub mod merkle;
pub mod message;
pub mod note;
pub mod primitives;
pub mod recipient;
pub mod seal;
pub mod sealed_stream;
pub mod secrets;
pub mod stream;
pub mod tlog;

pub use error::{Error, Result};
