//! Streaming decryption of one payload, checked against the sender's seal as it goes.
//!
//! [`crate::message::UnlockedMessage::decrypt_payload`] needs the whole payload in memory, and
//! [`crate::stream::StreamDecryptor`] trusts the nonce it reads and checks no chunk root. A
//! [`SealedPayloadStream`] does both jobs for a payload that arrives in pieces of any size (a
//! browser fetching ranges, a CLI reading a socket):
//!
//! - the 16-byte nonce must equal the sealed nonce (the decryptor is built from the sealed
//!   nonce and length, never from what arrives);
//! - more bytes than the sealed length fail at once, fewer fail in [`SealedPayloadStream::finish`];
//! - every chunk's tag is checked before its plaintext is released;
//! - every chunk's leaf hash goes into an O(log n) RFC 6962 accumulator, and the root is compared
//!   with the sealed chunk root when the final chunk arrives, *before* the final chunk's
//!   plaintext is released.
//!
//! Plaintext released before [`SealedPayloadStream::finish`] succeeds is a verified prefix of
//! the payload, not the payload: a caller that writes it somewhere must discard it unless
//! `finish` returns `Ok`. Any failure is the opaque [`Error::DecryptionFailed`] and poisons the
//! stream.

use crate::merkle::{RootBuilder, leaf_hash};
use crate::primitives::TAG_LEN;
use crate::seal::PayloadDigest;
use crate::secrets::FileKey;
use crate::stream::{ENCRYPTED_CHUNK_LEN, Layout, NONCE_LEN, PayloadDecryptor};
use crate::{Error, Result};

/// Decrypts one sealed payload from consecutive pieces of ciphertext.
pub struct SealedPayloadStream {
    decryptor: PayloadDecryptor,
    layout: Layout,
    digest: PayloadDigest,
    /// Payload bytes received so far, nonce included.
    received: u64,
    /// The next chunk to complete.
    next_chunk: u64,
    /// Ciphertext of the chunk being assembled.
    pending: Vec<u8>,
    root: RootBuilder,
    failed: bool,
}

impl core::fmt::Debug for SealedPayloadStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealedPayloadStream")
            .field("layout", &self.layout)
            .field("received", &self.received)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl SealedPayloadStream {
    /// A stream for the payload the seal describes by `digest`, under `file_key`. A sealed length
    /// that cannot be a payload (shorter than a nonce and a tag, or an empty final chunk after a
    /// full one) fails here.
    pub fn new(file_key: &FileKey, digest: PayloadDigest) -> Result<Self> {
        let decryptor = PayloadDecryptor::new(file_key, &digest.nonce, digest.len)?;
        let layout = decryptor.layout();
        if !layout.is_well_formed() {
            return Err(Error::DecryptionFailed);
        }
        Ok(Self {
            decryptor,
            layout,
            digest,
            received: 0,
            next_chunk: 0,
            pending: Vec::with_capacity(ENCRYPTED_CHUNK_LEN),
            root: RootBuilder::new(),
            failed: false,
        })
    }

    /// The plaintext length the seal promises (what a download's `Content-Length` should say).
    pub fn plaintext_len(&self) -> u64 {
        self.layout.plaintext_len()
    }

    /// The sealed payload length, nonce included (what the store must serve).
    pub fn payload_len(&self) -> u64 {
        self.digest.len
    }

    /// Payload bytes received so far, nonce included (the offset of the next byte to fetch).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Feeds the next `input` bytes of the payload and appends the plaintext of every chunk they
    /// complete to `out`. On error nothing is appended by this call and the stream is dead.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.failed {
            return Err(Error::DecryptionFailed);
        }
        let start = out.len();
        let result = self.push_inner(input, out);
        if result.is_err() {
            // Wipe what this call wrote before dropping it.
            out[start..].fill(0);
            out.truncate(start);
            self.failed = true;
            self.pending.clear();
        }
        result
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let total = self
            .received
            .checked_add(input.len() as u64)
            .ok_or(Error::DecryptionFailed)?;
        if total > self.digest.len {
            return Err(Error::DecryptionFailed);
        }
        // The nonce: compared byte for byte with the sealed one as it arrives.
        if self.received < NONCE_LEN as u64 {
            let at = self.received as usize;
            let take = (NONCE_LEN - at).min(input.len());
            if input[..take] != self.digest.nonce[at..at + take] {
                return Err(Error::DecryptionFailed);
            }
            self.received += take as u64;
            input = &input[take..];
        }
        while !input.is_empty() {
            let range = self.layout.chunk_range(self.next_chunk);
            let want = (range.end - range.start) as usize;
            let take = (want - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            self.received += take as u64;
            input = &input[take..];
            if self.pending.len() == want {
                self.consume(out)?;
            }
        }
        Ok(())
    }

    /// Checks and decrypts the complete chunk in `pending`.
    fn consume(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let k = self.next_chunk;
        self.root.push(leaf_hash(&self.pending));
        let at = out.len();
        out.resize(at + self.pending.len().saturating_sub(TAG_LEN), 0);
        self.decryptor.decrypt_chunk(k, &self.pending, &mut out[at..])?;
        if self.layout.is_last(k) && self.root.root() != self.digest.chunk_root {
            return Err(Error::DecryptionFailed);
        }
        self.next_chunk += 1;
        self.pending.clear();
        Ok(())
    }

    /// Ends the stream: `Ok` only if exactly the sealed number of bytes arrived, every chunk
    /// verified and the chunk root is the sealed one. Only then is the plaintext complete.
    pub fn finish(self) -> Result<()> {
        let complete = !self.failed
            && self.received == self.digest.len
            && self.pending.is_empty()
            && self.next_chunk == self.layout.chunk_count()
            && self.root.root() == self.digest.chunk_root;
        if complete { Ok(()) } else { Err(Error::DecryptionFailed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyblob::UserKeys;
    use crate::message::{AttachmentInput, Envelope, encrypt_payload, seal_message};
    use crate::recipient::RecipientSecretKey;
    use crate::stream::CHUNK_LEN;

    const SIZES: [usize; 5] = [0, 1, CHUNK_LEN, CHUNK_LEN + 1, 3 * CHUNK_LEN + 5];

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    fn run(stream: &mut SealedPayloadStream, payload: &[u8], step: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for piece in payload.chunks(step) {
            stream.push(piece, &mut out)?;
        }
        Ok(out)
    }

    fn decrypt(key: &FileKey, digest: PayloadDigest, payload: &[u8], step: usize) -> Result<Vec<u8>> {
        let mut stream = SealedPayloadStream::new(key, digest)?;
        let out = run(&mut stream, payload, step)?;
        stream.finish()?;
        Ok(out)
    }

    #[test]
    fn byte_identical_to_decrypt_payload_through_the_unlocked_message() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let sender = UserKeys::generate(&mut rng);
        let link = RecipientSecretKey::generate(&mut rng);
        let contents: Vec<Vec<u8>> = SIZES.iter().map(|&n| data(n)).collect();
        let inputs: Vec<AttachmentInput<'_>> = contents
            .iter()
            .map(|d| AttachmentInput {
                name: "f.bin",
                media_type: "application/octet-stream",
                data: d,
            })
            .collect();
        let sent = seal_message("s", "b", &inputs, b"{}", &[link.public()], &sender.signing, &mut rng).unwrap();
        let envelope = Envelope::verify(&sent.msg_id, &sent.header, &sent.seal, &sender.signing_public()).unwrap();
        let share = envelope.open_share(&link).unwrap();
        let message = envelope.unlock(&share, &sent.server_shares[0].share).unwrap();
        for (index, payload) in sent.payloads.iter().enumerate() {
            let whole = message.decrypt_payload(index, payload).unwrap();
            if index > 0 {
                assert_eq!(whole, contents[index - 1]);
            }
            for step in [
                1,
                7,
                16,
                17,
                4096,
                ENCRYPTED_CHUNK_LEN,
                ENCRYPTED_CHUNK_LEN + 3,
                1 << 22,
            ] {
                // One-byte pieces only where they stay quick.
                if step == 1 && payload.len() > 70_000 {
                    continue;
                }
                let mut stream = message.payload_stream(index).unwrap();
                assert_eq!(stream.plaintext_len(), whole.len() as u64);
                assert_eq!(stream.payload_len(), payload.len() as u64);
                let out = run(&mut stream, payload, step).unwrap();
                assert_eq!(stream.received(), payload.len() as u64);
                stream.finish().unwrap();
                assert!(out == whole, "payload {index}, step {step}");
            }
        }
        assert!(message.payload_stream(sent.payloads.len()).is_err());
    }

    fn sealed(len: usize) -> (FileKey, PayloadDigest, Vec<u8>, Vec<u8>) {
        let key = FileKey::from_bytes([9; 16]);
        let plaintext = data(len);
        let (payload, digest) = encrypt_payload(&key, [3; NONCE_LEN], &plaintext).unwrap();
        (key, digest, payload, plaintext)
    }

    #[test]
    fn every_tampering_fails() {
        for len in SIZES {
            let (key, digest, payload, plaintext) = sealed(len);
            assert_eq!(decrypt(&key, digest, &payload, 1000).unwrap(), plaintext);
            let fails = |digest: PayloadDigest, payload: &[u8]| {
                for step in [5, 4096, 1 << 22] {
                    assert_eq!(
                        decrypt(&key, digest, payload, step),
                        Err(Error::DecryptionFailed),
                        "{len}"
                    );
                }
            };
            // A flipped bit in every chunk, in the nonce, and in the last tag.
            for at in (NONCE_LEN..payload.len())
                .step_by(ENCRYPTED_CHUNK_LEN)
                .chain([0, payload.len() - 1])
            {
                let mut bad = payload.clone();
                bad[at] ^= 0x20;
                fails(digest, &bad);
            }
            // Another sealed nonce than the one stored (and a decryptor keyed by it).
            fails(
                PayloadDigest {
                    nonce: [4; NONCE_LEN],
                    ..digest
                },
                &payload,
            );
            // Truncated by one byte or one whole chunk, and one byte too many.
            fails(digest, &payload[..payload.len() - 1]);
            if payload.len() > NONCE_LEN + ENCRYPTED_CHUNK_LEN {
                fails(digest, &payload[..payload.len() - ENCRYPTED_CHUNK_LEN]);
            }
            let mut extended = payload.clone();
            extended.push(0);
            fails(digest, &extended);
            // Valid chunks, wrong sealed root.
            let mut wrong_root = digest;
            wrong_root.chunk_root[0] ^= 1;
            fails(wrong_root, &payload);
            // A sealed length that moves the last chunk.
            fails(
                PayloadDigest {
                    len: digest.len + 1,
                    ..digest
                },
                &payload,
            );
        }
    }

    #[test]
    fn the_final_chunk_is_withheld_when_the_root_is_wrong_and_failure_is_sticky() {
        let (key, mut digest, payload, plaintext) = sealed(2 * CHUNK_LEN + 10);
        digest.chunk_root[5] ^= 1;
        let mut stream = SealedPayloadStream::new(&key, digest).unwrap();
        let mut out = Vec::new();
        let split = NONCE_LEN + 2 * ENCRYPTED_CHUNK_LEN;
        stream.push(&payload[..split], &mut out).unwrap();
        assert_eq!(out, plaintext[..2 * CHUNK_LEN]);
        assert_eq!(stream.push(&payload[split..], &mut out), Err(Error::DecryptionFailed));
        assert_eq!(out.len(), 2 * CHUNK_LEN, "nothing of the final chunk is released");
        assert_eq!(stream.push(&[], &mut out), Err(Error::DecryptionFailed));
        assert_eq!(stream.finish(), Err(Error::DecryptionFailed));
    }

    #[test]
    fn swapped_chunks_fail() {
        let (key, digest, payload, _) = sealed(3 * CHUNK_LEN);
        let mut swapped = payload.clone();
        let (a, b) = (NONCE_LEN, NONCE_LEN + ENCRYPTED_CHUNK_LEN);
        swapped[a..b].copy_from_slice(&payload[b..b + ENCRYPTED_CHUNK_LEN]);
        swapped[b..b + ENCRYPTED_CHUNK_LEN].copy_from_slice(&payload[a..b]);
        assert_eq!(decrypt(&key, digest, &swapped, 9999), Err(Error::DecryptionFailed));
    }

    #[test]
    fn impossible_sealed_lengths_are_refused_up_front() {
        let key = FileKey::from_bytes([1; 16]);
        let digest = |len| PayloadDigest {
            nonce: [0; NONCE_LEN],
            len,
            chunk_root: [0; 32],
        };
        assert!(SealedPayloadStream::new(&key, digest(15)).is_err());
        assert!(SealedPayloadStream::new(&key, digest(NONCE_LEN as u64 + 15)).is_err());
        assert!(SealedPayloadStream::new(&key, digest((NONCE_LEN + ENCRYPTED_CHUNK_LEN + TAG_LEN) as u64)).is_err());
    }
}
