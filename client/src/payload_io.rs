//! Streaming encryption and decryption of one STREAM payload between a reader and a writer, in
//! memory that does not depend on the payload's size.
//!
//! The payload is processed in batches of [`BATCH_CHUNKS`] whole chunks (1 MiB of plaintext).
//! Three things overlap:
//!
//! - a reader thread reads the next batches from the input into a small pool of buffers;
//! - the current batch is encrypted or decrypted by [`sealpost_crypto::stream`]'s batch calls,
//!   which spread its chunks over the current rayon pool;
//! - meanwhile the calling thread writes the previous batch's output.
//!
//! At most [`READ_BUFFERS`] input batches and two output batches exist at any time, so the
//! buffers take about 5 MiB whatever the payload size. The crypto runs in the rayon pool the
//! caller is in: wrap a call in `ThreadPool::install` to choose the number of threads (one
//! thread works too; it then does the crypto and the writing in turn).
//!
//! The input must be exactly as long as declared: a shorter or a longer input is an error. A
//! longer input is detected before the final batch is processed, so its output is never written.
//!
//! **Output written before an error is not valid.** An encryption that fails leaves a partial
//! payload; a decryption that fails may have written a prefix of authenticated plaintext (each
//! chunk's tag verified), but the whole is only the sender's payload once the chunk root matches,
//! which is known when the call returns `Ok`. The final batch is written only after that check.
//! Callers write into a temporary file and rename it on success, or discard the output.

use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

use sealpost_crypto::merkle::{Hash, RootBuilder};
use sealpost_crypto::message::UnlockedMessage;
use sealpost_crypto::seal::PayloadDigest;
use sealpost_crypto::secrets::FileKey;
use sealpost_crypto::stream::{Layout, NONCE_LEN, PayloadDecryptor, PayloadEncryptor};
use zeroize::Zeroizing;

/// Chunks per batch: 16 × 64 KiB = 1 MiB of plaintext. Measured on the 2-core machine of
/// `docs/PERFORMANCE.md`: 1 MiB batches beat 4 MiB ones (up to 13% faster to `/dev/null`, and
/// 2–3× less kernel time writing a new file), presumably because a 1 MiB batch is still in the
/// CPU cache when it is written.
pub const BATCH_CHUNKS: u64 = 16;
/// Input batches that may exist at once (being read, queued, being processed).
pub const READ_BUFFERS: usize = 3;
/// Largest single `write` call. Measured on the machine of `docs/PERFORMANCE.md`: writing a
/// decrypted 1 MiB batch to a new file in one call cost about 1.5× the kernel time of 256 KiB
/// calls (ext4, Linux 6.18), and the calls themselves are cheap either way.
const WRITE_PIECE: usize = 256 * 1024;

/// Everything that can go wrong while streaming a payload. Input and output failures are kept
/// apart from cryptographic ones; the latter say nothing more than the crypto crate does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadIoError {
    /// Reading the input failed.
    #[error("could not read the input")]
    Read(#[source] io::Error),
    /// Writing the output failed.
    #[error("could not write the output")]
    Write(#[source] io::Error),
    /// The input ended before the declared length.
    #[error("the input ended after {read} bytes, but {expected} bytes were expected")]
    InputTooShort {
        /// Bytes the input should have had.
        expected: u64,
        /// Bytes it had.
        read: u64,
    },
    /// The input went on after the declared length.
    #[error("the input is longer than the expected {expected} bytes")]
    InputTooLong {
        /// Bytes the input should have had.
        expected: u64,
    },
    /// Encryption or decryption failed (for decryption: a wrong key, or a modified, truncated or
    /// extended payload).
    #[error(transparent)]
    Crypto(#[from] sealpost_crypto::Error),
}

/// Encrypts `plaintext_len` bytes from `reader` into the payload `nonce ‖ chunks`, written to
/// `writer`, and returns the payload's digest for the seal (nonce, length, chunk root).
///
/// The nonce must be fresh and random for every payload under the same file key.
pub fn encrypt_payload<R: Read + Send, W: Write>(
    file_key: &FileKey,
    nonce: [u8; NONCE_LEN],
    plaintext_len: u64,
    reader: R,
    writer: W,
) -> Result<PayloadDigest, PayloadIoError> {
    encrypt_payload_in(file_key, nonce, plaintext_len, reader, writer, BATCH_CHUNKS)
}

fn encrypt_payload_in<R: Read + Send, W: Write>(
    file_key: &FileKey,
    nonce: [u8; NONCE_LEN],
    plaintext_len: u64,
    reader: R,
    writer: W,
    batch_chunks: u64,
) -> Result<PayloadDigest, PayloadIoError> {
    let encryptor = PayloadEncryptor::new(file_key, nonce, plaintext_len);
    let chunk_root = encrypt(&encryptor, reader, writer, true, batch_chunks)?.root();
    Ok(PayloadDigest {
        nonce,
        len: encryptor.layout().payload_len(),
        chunk_root,
    })
}

/// As [`encrypt_payload`], without the chunk root: for a plain age file, which has no seal.
/// Skips one SHA-256 pass over the ciphertext. Returns the payload length written.
pub fn encrypt_age_payload<R: Read + Send, W: Write>(
    file_key: &FileKey,
    nonce: [u8; NONCE_LEN],
    plaintext_len: u64,
    reader: R,
    writer: W,
) -> Result<u64, PayloadIoError> {
    let encryptor = PayloadEncryptor::new(file_key, nonce, plaintext_len);
    encrypt(&encryptor, reader, writer, false, BATCH_CHUNKS)?;
    Ok(encryptor.layout().payload_len())
}

/// Decrypts the payload that `digest` describes (as the sender's seal states it) from `reader`
/// into `writer`, checking its nonce, its exact length and its chunk root. Returns the plaintext
/// length. See the module documentation about output written before an error.
pub fn decrypt_payload<R: Read + Send, W: Write>(
    file_key: &FileKey,
    digest: &PayloadDigest,
    reader: R,
    writer: W,
) -> Result<u64, PayloadIoError> {
    decrypt_payload_in(file_key, digest, reader, writer, BATCH_CHUNKS)
}

fn decrypt_payload_in<R: Read + Send, W: Write>(
    file_key: &FileKey,
    digest: &PayloadDigest,
    reader: R,
    writer: W,
    batch_chunks: u64,
) -> Result<u64, PayloadIoError> {
    let decryptor = PayloadDecryptor::new(file_key, &digest.nonce, digest.len)?;
    decrypt(&decryptor, Some(digest), digest.len, reader, writer, batch_chunks)
}

/// As [`decrypt_payload`] for payload `index` of an unlocked message, with the nonce, length
/// and chunk root from its verified seal.
pub fn decrypt_message_payload<R: Read + Send, W: Write>(
    message: &UnlockedMessage,
    index: usize,
    reader: R,
    writer: W,
) -> Result<u64, PayloadIoError> {
    let digest = *message.payload_digest(index)?;
    let decryptor = message.payload_decryptor(index)?;
    decrypt(&decryptor, Some(&digest), digest.len, reader, writer, BATCH_CHUNKS)
}

/// Decrypts the payload of a plain age file (no seal, so no chunk root to check) of
/// `payload_len` bytes, nonce included, from `reader` into `writer`. The length must be the
/// real one (the file's length minus its header); every chunk, including the final one, is still
/// authenticated. Returns the plaintext length.
pub fn decrypt_age_payload<R: Read + Send, W: Write>(
    file_key: &FileKey,
    payload_len: u64,
    reader: R,
    writer: W,
) -> Result<u64, PayloadIoError> {
    let mut reader = reader;
    let nonce = read_nonce(&mut reader, payload_len)?;
    let decryptor = PayloadDecryptor::new(file_key, &nonce, payload_len)?;
    decrypt_after_nonce(&decryptor, None, payload_len, reader, writer, BATCH_CHUNKS)
}

fn encrypt<R: Read + Send, W: Write>(
    encryptor: &PayloadEncryptor,
    reader: R,
    mut writer: W,
    hashed: bool,
    batch_chunks: u64,
) -> Result<RootBuilder, PayloadIoError> {
    let layout = encryptor.layout();
    writer.write_all(encryptor.nonce()).map_err(PayloadIoError::Write)?;
    let work = |batch: &Batch, input: &[u8], output: &mut [u8]| {
        if hashed {
            encryptor.encrypt_chunks_hashed(batch.first, input, output)
        } else {
            encryptor
                .encrypt_chunks(batch.first, input, output)
                .map(|()| Vec::new())
        }
    };
    let mut root = RootBuilder::new();
    let plan = Plan {
        layout,
        direction: Direction::Encrypt,
        batch_chunks,
        expected_input: layout.plaintext_len(),
        already_read: 0,
    };
    run(&plan, reader, writer, &work, &mut root, |_| Ok(()))?;
    Ok(root)
}

fn decrypt<R: Read + Send, W: Write>(
    decryptor: &PayloadDecryptor,
    digest: Option<&PayloadDigest>,
    payload_len: u64,
    reader: R,
    writer: W,
    batch_chunks: u64,
) -> Result<u64, PayloadIoError> {
    let mut reader = reader;
    let nonce = read_nonce(&mut reader, payload_len)?;
    if digest.is_some_and(|d| d.nonce != nonce) {
        return Err(sealpost_crypto::Error::DecryptionFailed.into());
    }
    decrypt_after_nonce(decryptor, digest, payload_len, reader, writer, batch_chunks)
}

fn read_nonce<R: Read>(reader: &mut R, payload_len: u64) -> Result<[u8; NONCE_LEN], PayloadIoError> {
    let mut nonce = [0u8; NONCE_LEN];
    let got = read_full(reader, &mut nonce).map_err(PayloadIoError::Read)?;
    if got < NONCE_LEN {
        return Err(PayloadIoError::InputTooShort {
            expected: payload_len,
            read: got as u64,
        });
    }
    Ok(nonce)
}

fn decrypt_after_nonce<R: Read + Send, W: Write>(
    decryptor: &PayloadDecryptor,
    digest: Option<&PayloadDigest>,
    payload_len: u64,
    reader: R,
    writer: W,
    batch_chunks: u64,
) -> Result<u64, PayloadIoError> {
    let layout = decryptor.layout();
    if !layout.is_well_formed() {
        return Err(sealpost_crypto::Error::DecryptionFailed.into());
    }
    let hashed = digest.is_some();
    let work = |batch: &Batch, input: &[u8], output: &mut [u8]| {
        if hashed {
            decryptor.decrypt_chunks_hashed(batch.first, input, output)
        } else {
            decryptor
                .decrypt_chunks(batch.first, input, output)
                .map(|()| Vec::new())
        }
    };
    let plan = Plan {
        layout,
        direction: Direction::Decrypt,
        batch_chunks,
        expected_input: payload_len,
        already_read: NONCE_LEN as u64,
    };
    let mut root = RootBuilder::new();
    // Runs after the final batch is decrypted and before it is written.
    let check_root = |root: &RootBuilder| match digest {
        Some(digest) if root.root() != digest.chunk_root => Err(sealpost_crypto::Error::DecryptionFailed.into()),
        _ => Ok(()),
    };
    run(&plan, reader, writer, &work, &mut root, check_root)?;
    Ok(layout.plaintext_len())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

/// What to stream: the payload's layout, the direction, and the input's length for messages.
struct Plan {
    layout: Layout,
    direction: Direction,
    /// Chunks per batch ([`BATCH_CHUNKS`]; smaller in tests).
    batch_chunks: u64,
    /// Total input length (for decryption, the payload length with its nonce).
    expected_input: u64,
    /// Input bytes consumed before the batches (the nonce, when decrypting).
    already_read: u64,
}

/// One batch: its first chunk and its input and output lengths.
struct Batch {
    first: u64,
    input_len: usize,
    output_len: usize,
}

impl Plan {
    fn batch_count(&self) -> u64 {
        self.layout.chunk_count().div_ceil(self.batch_chunks)
    }

    fn batch(&self, index: u64) -> Batch {
        let first = index * self.batch_chunks;
        let last = (first + self.batch_chunks).min(self.layout.chunk_count()) - 1;
        let plaintext = self.layout.plaintext_range(first).start..self.layout.plaintext_range(last).end;
        let ciphertext = self.layout.chunk_range(first).start..self.layout.chunk_range(last).end;
        // A batch is a few chunks, so these lengths fit in any usize.
        let (plaintext_len, ciphertext_len) = (
            (plaintext.end - plaintext.start) as usize,
            (ciphertext.end - ciphertext.start) as usize,
        );
        match self.direction {
            Direction::Encrypt => Batch {
                first,
                input_len: plaintext_len,
                output_len: ciphertext_len,
            },
            Direction::Decrypt => Batch {
                first,
                input_len: ciphertext_len,
                output_len: plaintext_len,
            },
        }
    }
}

type Buffer = Zeroizing<Vec<u8>>;
type Work<'a> = dyn Fn(&Batch, &[u8], &mut [u8]) -> sealpost_crypto::Result<Vec<Hash>> + Sync + 'a;

/// Streams every batch of `plan` from `reader` through `work` to `writer`. `before_final_write`
/// sees the root of all leaves once the final batch is processed, and may veto its write.
fn run<R: Read + Send, W: Write>(
    plan: &Plan,
    reader: R,
    writer: W,
    work: &Work<'_>,
    root: &mut RootBuilder,
    before_final_write: impl FnOnce(&RootBuilder) -> Result<(), PayloadIoError>,
) -> Result<(), PayloadIoError> {
    let (free_tx, free_rx) = mpsc::channel::<Buffer>();
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<Buffer, PayloadIoError>>(READ_BUFFERS);
    for _ in 0..READ_BUFFERS {
        // The receiver is alive: this cannot fail.
        let _ = free_tx.send(Buffer::default());
    }
    thread::scope(|scope| {
        let reading = scope.spawn(move || read_batches(plan, reader, free_rx, full_tx));
        let result = process_batches(plan, writer, work, root, before_final_write, free_tx, full_rx);
        // Both channel ends the reader waits on are dropped by now, so it stops soon.
        if let Err(panic) = reading.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// The reader thread: fills buffers from the free pool with the input of each batch in turn.
fn read_batches<R: Read>(
    plan: &Plan,
    mut reader: R,
    free: Receiver<Buffer>,
    full: SyncSender<Result<Buffer, PayloadIoError>>,
) {
    let count = plan.batch_count();
    let mut read_so_far = plan.already_read;
    for index in 0..count {
        let Ok(mut buffer) = free.recv() else {
            return; // the pipeline stopped
        };
        let len = plan.batch(index).input_len;
        buffer.resize(len, 0);
        let result = match read_full(&mut reader, &mut buffer) {
            Err(err) => Err(PayloadIoError::Read(err)),
            Ok(got) if got < len => Err(PayloadIoError::InputTooShort {
                expected: plan.expected_input,
                read: read_so_far + got as u64,
            }),
            Ok(_) => {
                read_so_far += len as u64;
                if index + 1 == count {
                    check_end(&mut reader, plan.expected_input).map(|()| buffer)
                } else {
                    Ok(buffer)
                }
            }
        };
        let failed = result.is_err();
        if full.send(result).is_err() || failed {
            return;
        }
    }
}

/// The calling thread: processes each batch in the rayon pool while writing the previous one.
fn process_batches<W: Write>(
    plan: &Plan,
    mut writer: W,
    work: &Work<'_>,
    root: &mut RootBuilder,
    before_final_write: impl FnOnce(&RootBuilder) -> Result<(), PayloadIoError>,
    free: Sender<Buffer>,
    full: Receiver<Result<Buffer, PayloadIoError>>,
) -> Result<(), PayloadIoError> {
    let count = plan.batch_count();
    let mut next = Buffer::default();
    // The previous batch's output, waiting to be written.
    let mut ready: Option<Buffer> = None;
    let mut before_final_write = Some(before_final_write);
    for index in 0..count {
        // The reader sends an error rather than hanging up early; a hang-up means it panicked,
        // which `run` re-raises after this returns.
        let input = full
            .recv()
            .map_err(|_| PayloadIoError::Read(io::Error::other("the reader thread stopped unexpectedly")))??;
        let batch = plan.batch(index);
        next.resize(batch.output_len, 0);
        let mut processed = Err(sealpost_crypto::Error::InvalidArgument("batch not processed"));
        let mut written = Ok(());
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| processed = work(&batch, &input[..], &mut next[..]));
            if let Some(previous) = &ready {
                written = write_in_pieces(&mut writer, previous);
            }
        });
        written.map_err(PayloadIoError::Write)?;
        // The reader may already have finished: then the buffer is simply dropped.
        let _ = free.send(input);
        for leaf in processed? {
            root.push(leaf);
        }
        if index + 1 == count {
            if let Some(check) = before_final_write.take() {
                check(root)?;
            }
        }
        // The buffer just written becomes the next output buffer.
        let written_buffer = ready.replace(next);
        next = written_buffer.unwrap_or_default();
    }
    if let Some(last) = &ready {
        write_in_pieces(&mut writer, last).map_err(PayloadIoError::Write)?;
    }
    writer.flush().map_err(PayloadIoError::Write)
}

fn write_in_pieces<W: Write>(writer: &mut W, buf: &[u8]) -> io::Result<()> {
    buf.chunks(WRITE_PIECE).try_for_each(|piece| writer.write_all(piece))
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Checks that the input has ended.
fn check_end<R: Read>(reader: &mut R, expected: u64) -> Result<(), PayloadIoError> {
    let mut probe = [0u8; 1];
    match read_full(reader, &mut probe).map_err(PayloadIoError::Read)? {
        0 => Ok(()),
        _ => Err(PayloadIoError::InputTooLong { expected }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealpost_crypto::Error as CryptoError;
    use sealpost_crypto::stream::{CHUNK_LEN, ENCRYPTED_CHUNK_LEN};

    /// Tests run with 2-chunk batches, so that many batches cost little in a debug build.
    const TEST_BATCH_CHUNKS: u64 = 2;
    const BATCH: usize = TEST_BATCH_CHUNKS as usize * CHUNK_LEN;

    fn key() -> FileKey {
        FileKey::from_bytes([7; 16])
    }

    fn data(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ len as u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn encrypt_vec(plaintext: &[u8]) -> (Vec<u8>, PayloadDigest) {
        let mut out = Vec::new();
        let len = plaintext.len() as u64;
        let digest = encrypt_payload_in(&key(), [3; 16], len, plaintext, &mut out, TEST_BATCH_CHUNKS).unwrap();
        (out, digest)
    }

    fn decrypt_vec(payload: &[u8], digest: &PayloadDigest) -> Result<Vec<u8>, PayloadIoError> {
        let mut out = Vec::new();
        let len = decrypt_payload_in(&key(), digest, payload, &mut out, TEST_BATCH_CHUNKS)?;
        assert_eq!(len, out.len() as u64);
        Ok(out)
    }

    fn check_round_trip(plaintext: &[u8], encrypted: (Vec<u8>, PayloadDigest), decrypted: Vec<u8>) {
        let len = plaintext.len();
        let (expected, expected_digest) =
            sealpost_crypto::message::encrypt_payload(&key(), [3; 16], plaintext).unwrap();
        assert!(encrypted.0 == expected, "payload bytes, size {len}");
        assert_eq!(encrypted.1, expected_digest, "size {len}");
        assert!(decrypted == plaintext, "size {len}");
    }

    #[test]
    fn round_trips_and_matches_the_in_memory_payload() {
        let sizes = [
            0,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            BATCH,
            BATCH + 1,
            3 * BATCH + 5,
            5 * BATCH + CHUNK_LEN,
        ];
        for len in sizes {
            let plaintext = data(len);
            let (payload, digest) = encrypt_vec(&plaintext);
            let decrypted = decrypt_vec(&payload, &digest).unwrap();
            check_round_trip(&plaintext, (payload, digest), decrypted);
        }
    }

    #[test]
    fn round_trips_with_the_real_batch_size() {
        // Two batches of BATCH_CHUNKS, the second one byte long; in a one-thread pool as well.
        let plaintext = data(BATCH_CHUNKS as usize * CHUNK_LEN + 1);
        let len = plaintext.len() as u64;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut payload = Vec::new();
        let digest = pool
            .install(|| encrypt_payload(&key(), [3; 16], len, &plaintext[..], &mut payload))
            .unwrap();
        let mut decrypted = Vec::new();
        assert_eq!(
            decrypt_payload(&key(), &digest, &payload[..], &mut decrypted).unwrap(),
            len
        );
        check_round_trip(&plaintext, (payload, digest), decrypted);
    }

    #[test]
    fn age_variants_round_trip_and_agree_with_the_sealed_ones() {
        for len in [0, 1, CHUNK_LEN + 1, 2 * CHUNK_LEN] {
            let plaintext = data(len);
            let (sealed, _) = encrypt_vec(&plaintext);
            let mut payload = Vec::new();
            let written = encrypt_age_payload(&key(), [3; 16], len as u64, &plaintext[..], &mut payload).unwrap();
            assert_eq!(written, payload.len() as u64);
            assert!(payload == sealed);
            let mut out = Vec::new();
            let n = decrypt_age_payload(&key(), payload.len() as u64, &payload[..], &mut out).unwrap();
            assert_eq!(n, len as u64);
            assert!(out == plaintext);
            let mut bad = payload.clone();
            bad[NONCE_LEN] ^= 1;
            let result = decrypt_age_payload(&key(), bad.len() as u64, &bad[..], &mut Vec::new());
            assert!(matches!(
                result,
                Err(PayloadIoError::Crypto(CryptoError::DecryptionFailed))
            ));
            let result = decrypt_age_payload(&key(), payload.len() as u64 - 1, &payload[..], &mut Vec::new());
            assert!(result.is_err());
        }
    }

    #[test]
    fn works_in_a_one_thread_pool() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let plaintext = data(4 * BATCH + 3);
        let (payload, digest) = pool.install(|| encrypt_vec(&plaintext));
        assert!(pool.install(|| decrypt_vec(&payload, &digest)).unwrap() == plaintext);
    }

    #[test]
    fn detects_every_kind_of_tampering() {
        let plaintext = data(3 * BATCH + 100);
        let (payload, digest) = encrypt_vec(&plaintext);
        let failed = |result: Result<Vec<u8>, PayloadIoError>| {
            matches!(result, Err(PayloadIoError::Crypto(CryptoError::DecryptionFailed)))
        };
        // A flipped bit in the nonce, the first chunk, a middle batch and the last tag.
        for pos in [0, NONCE_LEN, NONCE_LEN + BATCH + 7, payload.len() - 1] {
            let mut bad = payload.clone();
            bad[pos] ^= 0x10;
            assert!(failed(decrypt_vec(&bad, &digest)), "flip at {pos}");
        }
        // Two chunks swapped.
        let mut swapped = payload.clone();
        let (a, b) = (NONCE_LEN, NONCE_LEN + ENCRYPTED_CHUNK_LEN);
        swapped.copy_within(b..b + ENCRYPTED_CHUNK_LEN, a);
        swapped[b..b + ENCRYPTED_CHUNK_LEN].copy_from_slice(&payload[a..a + ENCRYPTED_CHUNK_LEN]);
        assert!(failed(decrypt_vec(&swapped, &digest)));
        // A digest that names another chunk root: every chunk verifies, the root does not, and
        // the final batch is not written.
        let mut wrong = digest;
        wrong.chunk_root[0] ^= 1;
        let mut out = Vec::new();
        let result = decrypt_payload_in(&key(), &wrong, &payload[..], &mut out, TEST_BATCH_CHUNKS);
        assert!(matches!(
            result,
            Err(PayloadIoError::Crypto(CryptoError::DecryptionFailed))
        ));
        assert_eq!(out.len(), 3 * BATCH);
        // Another nonce, or another length.
        let mut wrong = digest;
        wrong.nonce[3] ^= 1;
        assert!(failed(decrypt_vec(&payload, &wrong)));
        let mut shorter = digest;
        shorter.len -= 1;
        assert!(decrypt_vec(&payload, &shorter).is_err());
        // A wrong file key.
        let mut out = Vec::new();
        let result = decrypt_payload(&FileKey::from_bytes([8; 16]), &digest, &payload[..], &mut out);
        assert!(matches!(
            result,
            Err(PayloadIoError::Crypto(CryptoError::DecryptionFailed))
        ));
    }

    #[test]
    fn rejects_short_and_long_inputs() {
        for len in [0, 1, CHUNK_LEN, BATCH, BATCH + 1, 2 * BATCH] {
            let plaintext = data(len + 1);
            let mut out = Vec::new();
            let long = encrypt_payload_in(&key(), [3; 16], len as u64, &plaintext[..], &mut out, TEST_BATCH_CHUNKS);
            assert!(
                matches!(long, Err(PayloadIoError::InputTooLong { expected }) if expected == len as u64),
                "{long:?}"
            );
            if len > 0 {
                let input = &plaintext[..len - 1];
                let short = encrypt_payload_in(&key(), [3; 16], len as u64, input, &mut out, TEST_BATCH_CHUNKS);
                assert!(
                    matches!(short, Err(PayloadIoError::InputTooShort { expected, read })
                        if expected == len as u64 && read == len as u64 - 1),
                    "{short:?}"
                );
            }
            let (payload, digest) = encrypt_vec(&plaintext[..len]);
            let mut extended = payload.clone();
            extended.push(0);
            let mut out = Vec::new();
            let long = decrypt_payload_in(&key(), &digest, &extended[..], &mut out, TEST_BATCH_CHUNKS);
            assert!(matches!(long, Err(PayloadIoError::InputTooLong { .. })), "{long:?}");
            let final_batch_start = (len.max(1) - 1) / BATCH * BATCH;
            assert!(out.len() <= final_batch_start, "nothing of the final batch is written");
            for cut in [0, 5, NONCE_LEN, payload.len() - 1] {
                let short = decrypt_payload_in(&key(), &digest, &payload[..cut], &mut Vec::new(), TEST_BATCH_CHUNKS);
                assert!(
                    matches!(short, Err(PayloadIoError::InputTooShort { read, .. }) if read == cut as u64),
                    "cut at {cut}: {short:?}"
                );
            }
        }
    }

    /// Returns at most 1000 bytes per call, and is interrupted every other call.
    struct Trickle<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.data.len()).min(1000);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn handles_short_reads() {
        let plaintext = data(BATCH + ENCRYPTED_CHUNK_LEN);
        let reader = Trickle {
            data: &plaintext,
            calls: 0,
        };
        let mut payload = Vec::new();
        let len = plaintext.len() as u64;
        let digest = encrypt_payload_in(&key(), [3; 16], len, reader, &mut payload, TEST_BATCH_CHUNKS).unwrap();
        let reader = Trickle {
            data: &payload,
            calls: 0,
        };
        let mut out = Vec::new();
        decrypt_payload_in(&key(), &digest, reader, &mut out, TEST_BATCH_CHUNKS).unwrap();
        assert!(out == plaintext);
    }

    #[test]
    fn decrypts_the_payloads_of_an_unlocked_message() {
        use sealpost_crypto::keyblob::UserKeys;
        use sealpost_crypto::message::{AttachmentInput, Envelope, seal_message};
        use sealpost_crypto::recipient::RecipientSecretKey;

        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let sender = UserKeys::generate(&mut rng);
        let recipient = RecipientSecretKey::generate(&mut rng);
        let data = data(CHUNK_LEN + 5);
        let file = AttachmentInput {
            name: "a.bin",
            media_type: "application/octet-stream",
            data: &data,
        };
        let sent = seal_message(
            "s",
            "b",
            &[file],
            b"{}",
            &[recipient.public()],
            &sender.signing,
            &mut rng,
        )
        .unwrap();
        let envelope = Envelope::verify(&sent.msg_id, &sent.header, &sent.seal, &sender.signing_public()).unwrap();
        let share = envelope.open_share(&recipient).unwrap();
        let message = envelope.unlock(&share, &sent.server_shares[0].share).unwrap();

        let mut out = Vec::new();
        let len = decrypt_message_payload(&message, 1, &sent.payloads[1][..], &mut out).unwrap();
        assert_eq!(len, data.len() as u64);
        assert!(out == data);
        // The manifest's payload is not the attachment's: its sealed digest differs.
        let result = decrypt_message_payload(&message, 1, &sent.payloads[0][..], &mut Vec::new());
        assert!(result.is_err());
        let result = decrypt_message_payload(&message, 2, &sent.payloads[1][..], &mut Vec::new());
        assert!(matches!(
            result,
            Err(PayloadIoError::Crypto(CryptoError::InvalidArgument(_)))
        ));
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_io_errors_apart_from_crypto_errors() {
        let err = encrypt_payload(&key(), [3; 16], 10, Failing, Vec::new()).unwrap_err();
        assert!(matches!(&err, PayloadIoError::Read(_)));
        assert_eq!(err.to_string(), "could not read the input");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));

        let plaintext = data(3 * BATCH);
        let len = plaintext.len() as u64;
        let err = encrypt_payload_in(&key(), [3; 16], len, &plaintext[..], Failing, TEST_BATCH_CHUNKS).unwrap_err();
        assert!(matches!(err, PayloadIoError::Write(_)), "{err:?}");
        assert_eq!(err.to_string(), "could not write the output");
        let (payload, digest) = encrypt_vec(&plaintext);
        let err = decrypt_payload_in(&key(), &digest, &payload[..], Failing, TEST_BATCH_CHUNKS).unwrap_err();
        assert!(matches!(err, PayloadIoError::Write(_)), "{err:?}");

        let err = decrypt_vec(&payload[..100], &digest).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the input ended after 100 bytes, but {} bytes were expected",
                digest.len
            )
        );
        let mut bad = payload;
        bad[NONCE_LEN] ^= 1;
        assert_eq!(decrypt_vec(&bad, &digest).unwrap_err().to_string(), "decryption failed");
    }
}
