//! # sealpost-client
//!
//! The Sealpost SDK: everything a sender or recipient does on their own machine. All encryption
//! happens here, through `sealpost-crypto`; the server only ever receives ciphertext. The
//! `sealpost` command-line tool is a thin layer over these functions.

pub mod keys;
pub mod payload_io;
pub mod proofs;
