//! The age v1 STREAM payload (C2SP age §"Payload").
//!
//! ```text
//! payload      = nonce(16) ‖ chunk_0 ‖ … ‖ chunk_{n-1}
//! payload_key  = HKDF-SHA256(ikm = file_key, salt = nonce, info = "payload")
//! chunk_k      = ChaCha20-Poly1305(payload_key, BE88(k) ‖ last_k, aad = "", plaintext_k)
//! ```
//!
//! Every plaintext chunk is 64 KiB except the last, which is 1..=64 KiB (0 only when the whole
//! payload is empty); `last_k` is `0x01` for the last chunk and `0x00` otherwise.
//!
//! Unlike a streaming reader that must guess, this module always knows the payload length, so
//! which chunk is last is decided from the length alone: no trial decryption, and a payload can
//! be read from any chunk. Chunks are independent, so batches encrypt and decrypt in parallel on
//! native targets.

use core::ops::Range;

use zeroize::Zeroizing;

use crate::merkle::{Hash, leaf_hash};
use crate::primitives::{TAG_LEN, chacha20poly1305_open_in_place, chacha20poly1305_seal_in_place, hkdf_sha256_32};
use crate::secrets::FileKey;
use crate::{Error, Result};

/// Plaintext bytes per chunk.
pub const CHUNK_LEN: usize = 64 * 1024;
/// Ciphertext bytes per full chunk.
pub const ENCRYPTED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// Length of the payload nonce at the start of every payload.
pub const NONCE_LEN: usize = 16;

const ENC: u64 = ENCRYPTED_CHUNK_LEN as u64;

/// The geometry of a payload: where each chunk lies and which one is last.
///
/// Built from a plaintext length when encrypting, or from the stored payload length when
/// decrypting. A stored length may describe an impossible final chunk (shorter than a tag, or
/// empty after a full chunk); such a payload still yields its earlier chunks, and its last chunk
/// fails to decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    chunks: u64,
    /// Ciphertext length of the last chunk, tag included (may be invalid, see above).
    last_len: u64,
}

impl Layout {
    /// The layout of the payload that encrypts `plaintext_len` bytes.
    pub fn for_plaintext(plaintext_len: u64) -> Self {
        let chunks = plaintext_len.div_ceil(CHUNK_LEN as u64).max(1);
        let last_pt = plaintext_len - (chunks - 1) * CHUNK_LEN as u64;
        Self {
            chunks,
            last_len: last_pt + TAG_LEN as u64,
        }
    }

    /// The layout of a stored payload of `payload_len` bytes, nonce included.
    pub fn for_payload_len(payload_len: u64) -> Result<Self> {
        let body = payload_len
            .checked_sub(NONCE_LEN as u64)
            .ok_or(Error::Malformed("payload shorter than its nonce"))?;
        let chunks = body.div_ceil(ENC).max(1);
        Ok(Self {
            chunks,
            last_len: body - (chunks - 1) * ENC,
        })
    }

    /// Number of chunks (at least one).
    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    /// Whether the final chunk has a possible length. Payloads built by this crate always do.
    pub fn is_well_formed(&self) -> bool {
        let last_pt = self.last_len.checked_sub(TAG_LEN as u64);
        match last_pt {
            None => false,
            Some(0) => self.chunks == 1,
            Some(_) => true,
        }
    }

    /// Plaintext length (0 for a payload that is not well formed).
    pub fn plaintext_len(&self) -> u64 {
        if !self.is_well_formed() {
            return 0;
        }
        (self.chunks - 1) * CHUNK_LEN as u64 + self.last_len - TAG_LEN as u64
    }

    /// Payload length, nonce included.
    pub fn payload_len(&self) -> u64 {
        NONCE_LEN as u64 + (self.chunks - 1) * ENC + self.last_len
    }

    /// Byte range of chunk `k` within the payload (nonce included in the offsets).
    pub fn chunk_range(&self, k: u64) -> Range<u64> {
        let start = NONCE_LEN as u64 + k * ENC;
        let len = if k + 1 == self.chunks { self.last_len } else { ENC };
        start..start + len
    }

    /// Plaintext range of chunk `k`.
    pub fn plaintext_range(&self, k: u64) -> Range<u64> {
        let start = k * CHUNK_LEN as u64;
        let len = if k + 1 == self.chunks {
            self.last_len.saturating_sub(TAG_LEN as u64)
        } else {
            CHUNK_LEN as u64
        };
        start..start + len
    }

    /// The chunk holding plaintext offset `offset`.
    pub fn chunk_of_offset(&self, offset: u64) -> u64 {
        (offset / CHUNK_LEN as u64).min(self.chunks - 1)
    }

    /// Whether `k` is the last chunk.
    pub fn is_last(&self, k: u64) -> bool {
        k + 1 == self.chunks
    }
}

/// The 12-byte chunk nonce: an 11-byte big-endian counter, then the last-chunk flag.
pub fn chunk_nonce(k: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&k.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// The key of one payload.
struct PayloadKey(Zeroizing<[u8; 32]>);

impl PayloadKey {
    fn derive(file_key: &FileKey, nonce: &[u8; NONCE_LEN]) -> Self {
        Self(hkdf_sha256_32(file_key.expose_secret(), nonce, b"payload"))
    }
}

/// Encrypts the chunks of one payload of known length.
pub struct PayloadEncryptor {
    key: PayloadKey,
    nonce: [u8; NONCE_LEN],
    layout: Layout,
}

impl core::fmt::Debug for PayloadEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PayloadEncryptor")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl PayloadEncryptor {
    /// An encryptor for a payload of `plaintext_len` bytes under a fresh random `nonce`.
    /// The nonce must never be reused with the same file key.
    pub fn new(file_key: &FileKey, nonce: [u8; NONCE_LEN], plaintext_len: u64) -> Self {
        Self {
            key: PayloadKey::derive(file_key, &nonce),
            nonce,
            layout: Layout::for_plaintext(plaintext_len),
        }
    }

    /// The payload nonce, which the payload starts with.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The payload's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Encrypts consecutive chunks starting at `first` from `plaintext` into `out`.
    /// `plaintext` must be whole chunks (the payload's last chunk may be short), and `out` exactly
    /// as long as their ciphertext. Runs in parallel on native targets.
    pub fn encrypt_chunks(&self, first: u64, plaintext: &[u8], out: &mut [u8]) -> Result<()> {
        self.encrypt_batch(first, plaintext, out, None)
    }

    /// As [`Self::encrypt_chunks`], also returning the chunk-tree leaf hash of every encrypted
    /// chunk (for the seal's chunk root).
    pub fn encrypt_chunks_hashed(&self, first: u64, plaintext: &[u8], out: &mut [u8]) -> Result<Vec<Hash>> {
        let count = plaintext.len().div_ceil(CHUNK_LEN).max(1);
        let mut hashes = vec![[0u8; 32]; count];
        self.encrypt_batch(first, plaintext, out, Some(&mut hashes))?;
        Ok(hashes)
    }

    fn encrypt_batch(&self, first: u64, plaintext: &[u8], out: &mut [u8], hashes: Option<&mut [Hash]>) -> Result<()> {
        let count = check_batch(&self.layout, first, plaintext.len(), out.len(), Direction::Encrypt)?;
        let key = &self.key.0;
        let layout = self.layout;
        let work = |i: usize, pt: &[u8], ct: &mut [u8], hash: Option<&mut Hash>| {
            let k = first + i as u64;
            let (body, tag) = ct.split_at_mut(pt.len());
            body.copy_from_slice(pt);
            let t = chacha20poly1305_seal_in_place(key, &chunk_nonce(k, layout.is_last(k)), b"", body);
            tag.copy_from_slice(&t);
            if let Some(hash) = hash {
                *hash = leaf_hash(ct);
            }
            Ok(())
        };
        run_batch(count, plaintext, CHUNK_LEN, out, ENCRYPTED_CHUNK_LEN, hashes, work)
    }

    /// Encrypts a whole payload held in memory: `nonce ‖ chunks`. For small payloads (the
    /// manifest); large ones go through [`Self::encrypt_chunks`] in batches.
    pub fn encrypt_all(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() as u64 != self.layout.plaintext_len() {
            return Err(Error::InvalidArgument(
                "plaintext length differs from the declared length",
            ));
        }
        let mut out = vec![0u8; self.layout.payload_len() as usize];
        out[..NONCE_LEN].copy_from_slice(&self.nonce);
        self.encrypt_chunks(0, plaintext, &mut out[NONCE_LEN..])?;
        Ok(out)
    }
}

/// Decrypts the chunks of one stored payload, in any order.
pub struct PayloadDecryptor {
    key: PayloadKey,
    layout: Layout,
}

impl core::fmt::Debug for PayloadDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PayloadDecryptor")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl PayloadDecryptor {
    /// A decryptor for the payload that starts with `nonce` and is `payload_len` bytes long
    /// (nonce included). The length must come from a trusted source (the store's object length,
    /// bound by the seal), since it decides which chunk is last.
    pub fn new(file_key: &FileKey, nonce: &[u8; NONCE_LEN], payload_len: u64) -> Result<Self> {
        Ok(Self {
            key: PayloadKey::derive(file_key, nonce),
            layout: Layout::for_payload_len(payload_len)?,
        })
    }

    /// The payload's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Decrypts consecutive chunks starting at `first` from `ciphertext` into `out`, which must
    /// be exactly as long as their plaintext. On error `out` holds no usable data. Runs in
    /// parallel on native targets. For random access from the end, decrypt the last chunk first:
    /// that authenticates the length.
    pub fn decrypt_chunks(&self, first: u64, ciphertext: &[u8], out: &mut [u8]) -> Result<()> {
        self.decrypt_batch(first, ciphertext, out, None)
    }

    /// As [`Self::decrypt_chunks`], also returning each chunk's leaf hash so the caller can
    /// check the payload against the chunk root in the sender's seal.
    pub fn decrypt_chunks_hashed(&self, first: u64, ciphertext: &[u8], out: &mut [u8]) -> Result<Vec<Hash>> {
        let count = ciphertext.len().div_ceil(ENCRYPTED_CHUNK_LEN).max(1);
        let mut hashes = vec![[0u8; 32]; count];
        self.decrypt_batch(first, ciphertext, out, Some(&mut hashes))?;
        Ok(hashes)
    }

    fn decrypt_batch(&self, first: u64, ciphertext: &[u8], out: &mut [u8], hashes: Option<&mut [Hash]>) -> Result<()> {
        let count = check_batch(&self.layout, first, out.len(), ciphertext.len(), Direction::Decrypt)?;
        let key = &self.key.0;
        let layout = self.layout;
        let work = |i: usize, ct: &[u8], pt: &mut [u8], hash: Option<&mut Hash>| {
            let k = first + i as u64;
            decrypt_one(key, &layout, k, ct, pt)?;
            if let Some(hash) = hash {
                *hash = leaf_hash(ct);
            }
            Ok(())
        };
        run_batch(count, ciphertext, ENCRYPTED_CHUNK_LEN, out, CHUNK_LEN, hashes, work)
    }

    /// Decrypts one chunk; `ciphertext` must be exactly the bytes of [`Layout::chunk_range`].
    /// Returns the plaintext length written to the start of `out`.
    pub fn decrypt_chunk(&self, k: u64, ciphertext: &[u8], out: &mut [u8]) -> Result<usize> {
        if k >= self.layout.chunks {
            return Err(Error::InvalidArgument("chunk index beyond the payload"));
        }
        let range = self.layout.chunk_range(k);
        if ciphertext.len() as u64 != range.end - range.start {
            return Err(Error::DecryptionFailed);
        }
        let pt_len = ciphertext.len().checked_sub(TAG_LEN).ok_or(Error::DecryptionFailed)?;
        let out = out
            .get_mut(..pt_len)
            .ok_or(Error::InvalidArgument("output buffer too small"))?;
        decrypt_one(&self.key.0, &self.layout, k, ciphertext, out)?;
        Ok(pt_len)
    }
}

fn decrypt_one(key: &[u8; 32], layout: &Layout, k: u64, ct: &[u8], pt: &mut [u8]) -> Result<()> {
    let last = layout.is_last(k);
    let pt_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::DecryptionFailed)?;
    // The final chunk may be empty only when it is the only chunk.
    if last && pt_len == 0 && k != 0 {
        return Err(Error::DecryptionFailed);
    }
    let (body, tag) = ct.split_at(pt_len);
    pt.copy_from_slice(body);
    let tag: &[u8; TAG_LEN] = tag.try_into().expect("split leaves the tag");
    let result = chacha20poly1305_open_in_place(key, &chunk_nonce(k, last), b"", pt, tag);
    if result.is_err() {
        pt.fill(0);
    }
    result
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

/// Checks that a batch of chunks starting at `first` has consistent plaintext and ciphertext
/// lengths; returns the chunk count.
fn check_batch(layout: &Layout, first: u64, pt_len: usize, ct_len: usize, dir: Direction) -> Result<usize> {
    let bad = |what| match dir {
        Direction::Encrypt => Error::InvalidArgument(what),
        Direction::Decrypt => Error::DecryptionFailed,
    };
    let count = ct_len.div_ceil(ENCRYPTED_CHUNK_LEN).max(1);
    let end = first.checked_add(count as u64).ok_or(bad("chunk index overflow"))?;
    if end > layout.chunks {
        return Err(bad("batch extends beyond the payload"));
    }
    // A stored length can describe an impossible final chunk (shorter than a tag, or empty after
    // a full chunk). A batch that includes it fails as a whole; chunk-by-chunk readers
    // ([`PayloadDecryptor::decrypt_chunk`], [`StreamDecryptor`]) still get the chunks before it.
    if end == layout.chunks && !layout.is_well_formed() {
        return Err(bad("the payload's final chunk is malformed"));
    }
    let expected_ct = if end == layout.chunks {
        (count as u64 - 1) * ENC + layout.last_len
    } else {
        count as u64 * ENC
    };
    if ct_len as u64 != expected_ct {
        return Err(bad("batch is not whole chunks"));
    }
    let expected_pt = ct_len
        .checked_sub(count * TAG_LEN)
        .ok_or(bad("batch is not whole chunks"))?;
    if pt_len != expected_pt {
        return Err(Error::InvalidArgument("buffer length does not match the batch"));
    }
    Ok(count)
}

/// Runs `work` over the chunks of a batch: chunk `i` is `input[i*in_step..]` and
/// `output[i*out_step..]` (the last may be short). Parallel with rayon on native targets.
fn run_batch<F>(
    count: usize,
    input: &[u8],
    in_step: usize,
    output: &mut [u8],
    out_step: usize,
    hashes: Option<&mut [Hash]>,
    work: F,
) -> Result<()>
where
    F: Fn(usize, &[u8], &mut [u8], Option<&mut Hash>) -> Result<()> + Sync + Send,
{
    // An empty payload is one chunk with an empty plaintext: `chunks()` would yield nothing.
    if input.is_empty() || output.is_empty() {
        if count != 1 {
            return Err(Error::DecryptionFailed);
        }
        let mut hash = hashes;
        return work(0, input, output, hash.as_mut().map(|h| &mut h[0]));
    }
    // `zip` below stops at the shorter side: refuse any batch whose sides do not pair up exactly,
    // so that no chunk can go unprocessed.
    if input.len().div_ceil(in_step) != count
        || output.len().div_ceil(out_step) != count
        || hashes.as_ref().is_some_and(|h| h.len() != count)
    {
        return Err(Error::DecryptionFailed);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        let chunks = input
            .par_chunks(in_step)
            .zip(output.par_chunks_mut(out_step))
            .enumerate();
        match hashes {
            Some(hashes) => chunks
                .zip(hashes.par_iter_mut())
                .try_for_each(|((i, (inp, out)), hash)| work(i, inp, out, Some(hash))),
            None => chunks.try_for_each(|(i, (inp, out))| work(i, inp, out, None)),
        }?;
    }
    #[cfg(target_arch = "wasm32")]
    {
        let chunks = input.chunks(in_step).zip(output.chunks_mut(out_step)).enumerate();
        match hashes {
            Some(hashes) => chunks
                .zip(hashes.iter_mut())
                .try_for_each(|((i, (inp, out)), hash)| work(i, inp, out, Some(hash))),
            None => chunks
                .into_iter()
                .try_for_each(|(i, (inp, out))| work(i, inp, out, None)),
        }?;
    }
    Ok(())
}

/// A sans-IO sequential decryptor: feed the payload's bytes in pieces of any size as they
/// arrive, and receive plaintext chunk by chunk. The plaintext released so far is a verified
/// prefix, but it is not the message until [`StreamDecryptor::finish`] succeeds: callers must
/// not act on it, show it as complete, or rename the output file before then.
pub struct StreamDecryptor {
    file_key: FileKey,
    payload_len: u64,
    decryptor: Option<PayloadDecryptor>,
    received: u64,
    next_chunk: u64,
    pending: Vec<u8>,
    failed: bool,
}

impl core::fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("payload_len", &self.payload_len)
            .field("next_chunk", &self.next_chunk)
            .finish_non_exhaustive()
    }
}

impl StreamDecryptor {
    /// A decryptor for a payload of `payload_len` bytes, nonce included.
    pub fn new(file_key: FileKey, payload_len: u64) -> Result<Self> {
        Layout::for_payload_len(payload_len)?;
        Ok(Self {
            file_key,
            payload_len,
            decryptor: None,
            received: 0,
            next_chunk: 0,
            pending: Vec::with_capacity(ENCRYPTED_CHUNK_LEN),
            failed: false,
        })
    }

    /// Feeds bytes and appends every chunk they complete to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.failed {
            return Err(Error::DecryptionFailed);
        }
        let result = (|| {
            if self.received + input.len() as u64 > self.payload_len {
                return Err(Error::DecryptionFailed);
            }
            self.received += input.len() as u64;
            while !input.is_empty() {
                let want = match &self.decryptor {
                    None => NONCE_LEN,
                    Some(dec) => {
                        let range = dec.layout.chunk_range(self.next_chunk);
                        (range.end - range.start) as usize
                    }
                };
                let take = (want - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.pending.len() == want {
                    self.consume(out)?;
                }
            }
            Ok(())
        })();
        self.failed = result.is_err();
        result
    }

    fn consume(&mut self, out: &mut Vec<u8>) -> Result<()> {
        match &self.decryptor {
            None => {
                let nonce: [u8; NONCE_LEN] = self.pending[..].try_into().expect("pending holds the nonce");
                self.decryptor = Some(PayloadDecryptor::new(&self.file_key, &nonce, self.payload_len)?);
            }
            Some(dec) => {
                let start = out.len();
                out.resize(start + self.pending.len().saturating_sub(TAG_LEN), 0);
                if let Err(err) = dec.decrypt_chunk(self.next_chunk, &self.pending, &mut out[start..]) {
                    out.truncate(start);
                    return Err(err);
                }
                self.next_chunk += 1;
            }
        }
        self.pending.clear();
        Ok(())
    }

    /// Ends the stream: succeeds only if every byte arrived and the final chunk verified.
    pub fn finish(self) -> Result<()> {
        if self.failed || self.received != self.payload_len || !self.pending.is_empty() {
            return Err(Error::DecryptionFailed);
        }
        match &self.decryptor {
            Some(dec) if self.next_chunk == dec.layout.chunks => Ok(()),
            _ => Err(Error::DecryptionFailed),
        }
    }
}

/// Decrypts a whole payload held in memory (`nonce ‖ chunks`), for small payloads.
pub fn decrypt_payload(file_key: &FileKey, payload: &[u8]) -> Result<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = payload
        .get(..NONCE_LEN)
        .ok_or(Error::Malformed("payload shorter than its nonce"))?
        .try_into()
        .expect("16 bytes");
    let dec = PayloadDecryptor::new(file_key, &nonce, payload.len() as u64)?;
    if !dec.layout.is_well_formed() {
        return Err(Error::DecryptionFailed);
    }
    let mut out = vec![0u8; dec.layout.plaintext_len() as usize];
    dec.decrypt_chunks(0, &payload[NONCE_LEN..], &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_arithmetic() {
        let l = Layout::for_plaintext(0);
        assert_eq!((l.chunk_count(), l.payload_len(), l.plaintext_len()), (1, 32, 0));
        let l = Layout::for_plaintext(CHUNK_LEN as u64);
        assert_eq!((l.chunk_count(), l.payload_len()), (1, 16 + ENC));
        let l = Layout::for_plaintext(CHUNK_LEN as u64 + 1);
        assert_eq!((l.chunk_count(), l.payload_len()), (2, 16 + ENC + 17));
        for pt in [0u64, 1, 65535, 65536, 65537, 10 * 65536, 10 * 65536 + 7] {
            let l = Layout::for_plaintext(pt);
            assert_eq!(Layout::for_payload_len(l.payload_len()).unwrap(), l);
            assert_eq!(l.plaintext_len(), pt);
        }
        assert!(Layout::for_payload_len(15).is_err());
        assert!(!Layout::for_payload_len(16).unwrap().is_well_formed());
        assert!(!Layout::for_payload_len(16 + ENC + 16).unwrap().is_well_formed());
    }

    #[test]
    fn batch_refuses_an_empty_final_chunk_after_a_full_one() {
        let key = FileKey::from_bytes([4; 16]);
        let enc = PayloadEncryptor::new(&key, [6; NONCE_LEN], CHUNK_LEN as u64);
        let payload = enc.encrypt_all(&vec![7u8; CHUNK_LEN]).unwrap();
        // Re-encrypt chunk 0 as non-final and append a validly tagged empty final chunk.
        let payload_key = PayloadKey::derive(&key, &[6; NONCE_LEN]);
        let mut forged = payload[..NONCE_LEN].to_vec();
        let mut body = vec![7u8; CHUNK_LEN];
        let tag = chacha20poly1305_seal_in_place(&payload_key.0, &chunk_nonce(0, false), b"", &mut body);
        forged.extend_from_slice(&body);
        forged.extend_from_slice(&tag);
        let empty_tag = chacha20poly1305_seal_in_place(&payload_key.0, &chunk_nonce(1, true), b"", &mut []);
        forged.extend_from_slice(&empty_tag);
        let dec = PayloadDecryptor::new(&key, &[6; NONCE_LEN], forged.len() as u64).unwrap();
        let mut out = vec![0u8; CHUNK_LEN];
        assert_eq!(
            dec.decrypt_chunks(0, &forged[NONCE_LEN..], &mut out),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(decrypt_payload(&key, &forged), Err(Error::DecryptionFailed));
        // Chunk by chunk, the first chunk is still readable and the empty final one is refused.
        assert_eq!(
            dec.decrypt_chunk(0, &forged[NONCE_LEN..NONCE_LEN + ENCRYPTED_CHUNK_LEN], &mut out),
            Ok(CHUNK_LEN)
        );
        assert!(
            dec.decrypt_chunk(1, &forged[NONCE_LEN + ENCRYPTED_CHUNK_LEN..], &mut out)
                .is_err()
        );
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(chunk_nonce(0, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(chunk_nonce(0x0102, false), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0]);
    }
}
