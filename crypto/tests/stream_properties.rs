//! Properties of whole messages and raw STREAM payloads: round trips at the chunk-boundary sizes,
//! and rejection of every single-byte flip, truncation, reordering, chunk substitution and
//! appended bytes.
//!
//! "Rejected" means the public API returns `Err`, and a [`StreamDecryptor`] never reaches a
//! successful `finish()` (once failed, it also refuses more input and releases nothing more).
//!
//! Flip coverage (patterns `0x01` and `0x80`):
//! * sizes ≤ 65537: every header byte (sealed envelope and raw age unwrap), every manifest
//!   payload byte, and every attachment payload byte, through the whole-message API and through
//!   every raw path (StreamDecryptor, in-memory `decrypt_payload`, random access);
//! * the many-chunk size: the nonce and the first and last 32 bytes of every chunk (so every
//!   tag) through random access, four bytes per chunk through every API, plus proptest samples
//!   (any non-zero pattern) through every API.
//!
//! Cost note: sealpost-crypto (where the generic ChaCha20 code is instantiated) is optimised
//! even in test builds (root Cargo.toml), so the exhaustive flips take tens of seconds. The
//! loops are arranged so each flip is rejected at the first chunk examined.

use getrandom::SysRng;
use proptest::prelude::*;
use rand_core::{Rng, UnwrapErr};

use sealpost_crypto::Error;
use sealpost_crypto::header::Header;
use sealpost_crypto::identity::unwrap_file_key;
use sealpost_crypto::keyblob::UserKeys;
use sealpost_crypto::message::{AttachmentInput, Envelope, SealedMessage, UnlockedMessage, seal_message_with};
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey, SealpostIdentity};
use sealpost_crypto::secrets::FileKey;
use sealpost_crypto::stream::{
    CHUNK_LEN, ENCRYPTED_CHUNK_LEN, Layout, NONCE_LEN, PayloadDecryptor, PayloadEncryptor, StreamDecryptor,
    decrypt_payload,
};

/// Sizes at which every byte of header and payloads is flipped.
const EXHAUSTIVE_SIZES: [usize; 5] = [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1];
/// The many-chunk size: five full chunks and a 3-byte final chunk.
const MANY: usize = 5 * CHUNK_LEN + 3;
/// The two flip patterns: the lowest and the highest bit.
const PATTERNS: [u8; 2] = [0x01, 0x80];

fn rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

fn copy_key(key: &FileKey) -> FileKey {
    FileKey::from_bytes(*key.expose_secret())
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rng().fill_bytes(&mut data);
    data
}

/// A sealed and unlocked message with two attachments of `size` bytes each (so their chunks
/// line up for substitution), plus everything needed to open it at every level.
struct Fixture {
    size: usize,
    data: [Vec<u8>; 2],
    file_key: FileKey,
    msg_id: MessageId,
    link_key: RecipientSecretKey,
    sender_public: [u8; 32],
    sealed: SealedMessage,
    message: UnlockedMessage,
}

impl Fixture {
    fn new(size: usize) -> Self {
        let mut rng = rng();
        let sender = UserKeys::generate(&mut rng);
        let link_key = RecipientSecretKey::generate(&mut rng);
        let msg_id = MessageId::random(&mut rng);
        let file_key = FileKey::random(&mut rng);
        let data = [random_bytes(size), random_bytes(size)];
        let attachments = [
            AttachmentInput {
                name: "a.bin",
                media_type: "application/octet-stream",
                data: &data[0],
            },
            AttachmentInput {
                name: "b.bin",
                media_type: "application/octet-stream",
                data: &data[1],
            },
        ];
        let sealed = seal_message_with(
            &msg_id,
            &file_key,
            "subject",
            "body",
            &attachments,
            b"{}",
            &[link_key.public()],
            &sender.signing,
            &mut rng,
        )
        .unwrap();
        let sender_public = sender.signing_public();
        let envelope = Envelope::verify(&msg_id, &sealed.header, &sealed.seal, &sender_public).unwrap();
        let share = envelope.open_share(&link_key).unwrap();
        let message = envelope.unlock(&share, &sealed.server_shares[0].share).unwrap();
        Self {
            size,
            data,
            file_key,
            msg_id,
            link_key,
            sender_public,
            sealed,
            message,
        }
    }

    /// Attachment payload `i` (0 or 1); message payload index `i + 1`.
    fn payload(&self, i: usize) -> &[u8] {
        &self.sealed.payloads[i + 1]
    }

    fn layout(&self) -> Layout {
        Layout::for_plaintext(self.size as u64)
    }

    fn chunk(&self, i: usize, k: u64) -> &[u8] {
        let r = self.layout().chunk_range(k);
        &self.payload(i)[r.start as usize..r.end as usize]
    }

    fn identity(&self) -> SealpostIdentity<'_> {
        SealpostIdentity {
            key: &self.link_key,
            msg_id: self.msg_id,
            server_share: &self.sealed.server_shares[0].share,
        }
    }

    /// Attachment 0, altered, is rejected by the whole-message API, by a StreamDecryptor that
    /// knows the sealed length, and (when `declared_too`) by every raw path that takes the
    /// length from the altered bytes themselves, as a lying store would.
    fn assert_rejected(&self, altered: &[u8], what: &str, declared_too: bool) {
        assert!(
            self.message.decrypt_payload(1, altered).is_err(),
            "{what}: message API accepted"
        );
        let sealed_len = self.payload(0).len() as u64;
        assert!(
            stream_decrypt(&self.file_key, sealed_len, altered, altered.len()).is_err(),
            "{what}: StreamDecryptor (sealed length) accepted"
        );
        if declared_too {
            let own_len = altered.len() as u64;
            assert!(
                stream_decrypt(&self.file_key, own_len, altered, 4099).is_err(),
                "{what}: StreamDecryptor (own length) accepted"
            );
            assert!(
                decrypt_payload(&self.file_key, altered).is_err(),
                "{what}: decrypt_payload accepted"
            );
        }
    }
}

/// Feeds `bytes` to a StreamDecryptor for a payload declared `declared_len` long, in pieces of
/// `piece` bytes. `Ok` only if every push and `finish()` succeed. A decryptor that fails once
/// must refuse further input and never finish.
fn stream_decrypt(key: &FileKey, declared_len: u64, bytes: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
    let mut dec = StreamDecryptor::new(copy_key(key), declared_len)?;
    let mut out = Vec::new();
    for part in bytes.chunks(piece.max(1)) {
        if let Err(err) = dec.push(part, &mut out) {
            let released = out.len();
            assert_eq!(dec.push(&[], &mut out), Err(Error::DecryptionFailed));
            assert_eq!(dec.push(&[0], &mut out), Err(Error::DecryptionFailed));
            assert_eq!(out.len(), released, "a failed decryptor released more");
            assert_eq!(
                dec.finish(),
                Err(Error::DecryptionFailed),
                "a failed decryptor finished"
            );
            return Err(err);
        }
    }
    dec.finish()?;
    Ok(out)
}

/// Random access from the last chunk to the first, through `PayloadDecryptor::decrypt_chunk`.
fn decrypt_backwards(dec: &PayloadDecryptor, payload: &[u8]) -> Vec<u8> {
    let layout = dec.layout();
    let mut out = vec![0u8; layout.plaintext_len() as usize];
    for k in (0..layout.chunk_count()).rev() {
        let ct = layout.chunk_range(k);
        let pt = layout.plaintext_range(k);
        let n = dec
            .decrypt_chunk(
                k,
                &payload[ct.start as usize..ct.end as usize],
                &mut out[pt.start as usize..],
            )
            .unwrap();
        assert_eq!(n as u64, pt.end - pt.start);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn round_trip_at_boundary_sizes() {
    for size in EXHAUSTIVE_SIZES.into_iter().chain([MANY]) {
        let f = Fixture::new(size);
        let manifest = f.message.manifest(&f.sealed.payloads[0]).unwrap();
        assert_eq!(manifest.attachments.len(), 2);
        assert!(manifest.attachments.iter().all(|a| a.size == size as u64));
        for i in 0..2 {
            let payload = f.payload(i);
            assert_eq!(payload.len() as u64, f.layout().payload_len(), "size {size}");
            assert!(
                f.message.decrypt_payload(i + 1, payload).unwrap() == f.data[i],
                "size {size}"
            );
            let dec = f.message.payload_decryptor(i + 1).unwrap();
            assert!(
                decrypt_backwards(&dec, payload) == f.data[i],
                "size {size}: random access"
            );
        }
        // The raw STREAM paths over the same payload, whole and in irregular pieces.
        let payload = f.payload(0);
        for piece in [payload.len(), 1 + payload.len() / 3, 7919] {
            let out = stream_decrypt(&f.file_key, payload.len() as u64, payload, piece).unwrap();
            assert!(out == f.data[0], "size {size}: stream in pieces of {piece}");
        }
        assert!(
            decrypt_payload(&f.file_key, payload).unwrap() == f.data[0],
            "size {size}"
        );
        // The same payload rebuilt with PayloadEncryptor is byte-identical.
        let nonce: [u8; NONCE_LEN] = payload[..NONCE_LEN].try_into().unwrap();
        let enc = PayloadEncryptor::new(&f.file_key, nonce, size as u64);
        assert!(
            enc.encrypt_all(&f.data[0]).unwrap() == payload,
            "size {size}: re-encryption"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Exhaustive single-byte flips at sizes ≤ 65537.

fn exhaustive_flips(size: usize) {
    let f = Fixture::new(size);

    // Header: the sealed-envelope path, and the raw age path (parse, unwrap, MAC) which does
    // not rely on the seal at all.
    let mut header = f.sealed.header.clone();
    for pos in 0..header.len() {
        for pattern in PATTERNS {
            header[pos] ^= pattern;
            assert!(
                Envelope::verify(&f.msg_id, &header, &f.sealed.seal, &f.sender_public).is_err(),
                "size {size}: header flip at {pos} ^ {pattern:#04x} passed the seal"
            );
            let raw = Header::parse(&header).and_then(|(h, _)| unwrap_file_key(&h, &f.identity()));
            assert!(
                raw.is_err(),
                "size {size}: header flip at {pos} ^ {pattern:#04x} unwrapped"
            );
            header[pos] ^= pattern;
        }
    }
    assert!(unwrap_file_key(&Header::parse(&header).unwrap().0, &f.identity()).unwrap() == f.file_key);

    // Manifest payload.
    let mut manifest = f.sealed.payloads[0].clone();
    for pos in 0..manifest.len() {
        for pattern in PATTERNS {
            manifest[pos] ^= pattern;
            assert!(
                f.message.manifest(&manifest).is_err(),
                "size {size}: manifest flip at {pos}"
            );
            manifest[pos] ^= pattern;
        }
    }

    // Attachment payload: every byte, both patterns, through the whole-message API (the sealed
    // nonce, length and chunk root, then the chunk tags) and through each raw path: the
    // StreamDecryptor, in-memory decrypt_payload, and random access to the chunk holding it.
    let mut payload = f.payload(0).to_vec();
    let len = payload.len() as u64;
    let layout = f.layout();
    let sealed_dec = f.message.payload_decryptor(1).unwrap();
    let mut out = vec![0u8; CHUNK_LEN];
    for pos in 0..payload.len() {
        for pattern in PATTERNS {
            payload[pos] ^= pattern;
            if f.message.decrypt_payload(1, &payload).is_ok() {
                panic!("size {size}: payload flip at {pos} ^ {pattern:#04x} accepted by the message API");
            }
            {
                let what = format!("size {size}: payload flip at {pos} ^ {pattern:#04x}");
                assert!(
                    stream_decrypt(&f.file_key, len, &payload, payload.len()).is_err(),
                    "{what}: stream"
                );
                assert!(
                    decrypt_payload(&f.file_key, &payload).is_err(),
                    "{what}: decrypt_payload"
                );
                if pos >= NONCE_LEN {
                    let k = ((pos - NONCE_LEN) / ENCRYPTED_CHUNK_LEN) as u64;
                    let r = layout.chunk_range(k);
                    let chunk = &payload[r.start as usize..r.end as usize];
                    assert!(
                        sealed_dec.decrypt_chunk(k, chunk, &mut out).is_err(),
                        "{what}: random access"
                    );
                }
            }
            payload[pos] ^= pattern;
        }
    }
    assert!(payload == f.payload(0));
    eprintln!(
        "size {size}: {} payload positions × 2 patterns, each through every API",
        payload.len()
    );
}

#[test]
fn every_flip_rejected_sizes_0_and_1() {
    exhaustive_flips(0);
    exhaustive_flips(1);
}

#[test]
fn every_flip_rejected_size_65535() {
    exhaustive_flips(CHUNK_LEN - 1);
}

#[test]
fn every_flip_rejected_size_65536() {
    exhaustive_flips(CHUNK_LEN);
}

#[test]
fn every_flip_rejected_size_65537() {
    exhaustive_flips(CHUNK_LEN + 1);
}

// ---------------------------------------------------------------------------------------------
// Flips at the many-chunk size.

/// Every nonce byte; the first and last 32 bytes of every chunk, which include every tag.
fn many_chunk_flip_positions(layout: &Layout) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..NONCE_LEN).collect();
    for k in 0..layout.chunk_count() {
        let r = layout.chunk_range(k);
        let (start, end) = (r.start as usize, r.end as usize);
        positions.extend(start..(start + 32).min(end));
        positions.extend((end.saturating_sub(32)).max(start + 32).min(end)..end);
    }
    positions.sort_unstable();
    positions.dedup();
    positions
}

#[test]
fn many_chunk_flips_rejected() {
    let f = Fixture::new(MANY);
    let layout = f.layout();
    assert_eq!(layout.chunk_count(), 6);
    let sealed_dec = f.message.payload_decryptor(1).unwrap();
    let nonce: [u8; NONCE_LEN] = f.payload(0)[..NONCE_LEN].try_into().unwrap();
    let positions = many_chunk_flip_positions(&layout);
    let tags = 16 * layout.chunk_count() as usize;
    assert_eq!(
        positions.len(),
        NONCE_LEN + 5 * 64 + (3 + 16),
        "nonce, 5 full chunks, the short final chunk"
    );
    let mut covered_tags = 0;

    let mut payload = f.payload(0).to_vec();
    for &pos in &positions {
        for pattern in PATTERNS {
            payload[pos] ^= pattern;
            if pos < NONCE_LEN {
                // A changed nonce changes the payload key: every path fails at chunk 0.
                let flipped: [u8; NONCE_LEN] = payload[..NONCE_LEN].try_into().unwrap();
                let dec = PayloadDecryptor::new(&f.file_key, &flipped, payload.len() as u64).unwrap();
                let mut out = vec![0u8; CHUNK_LEN];
                for k in [0, layout.chunk_count() - 1] {
                    let r = layout.chunk_range(k);
                    assert!(
                        dec.decrypt_chunk(k, &payload[r.start as usize..r.end as usize], &mut out)
                            .is_err()
                    );
                }
                f.assert_rejected(&payload, &format!("nonce flip at {pos} ^ {pattern:#04x}"), true);
            } else {
                // Random access to the affected chunk, alone and as a one-chunk batch, with
                // the decryptor the sealed message hands out.
                let k = (pos - NONCE_LEN) as u64 / ENCRYPTED_CHUNK_LEN as u64;
                let r = layout.chunk_range(k);
                let chunk = &payload[r.start as usize..r.end as usize];
                if pos as u64 >= r.end - 16 && pattern == PATTERNS[0] {
                    covered_tags += 1;
                }
                let mut out = vec![0u8; CHUNK_LEN];
                assert!(
                    sealed_dec.decrypt_chunk(k, chunk, &mut out).is_err(),
                    "flip at {pos}: chunk {k}"
                );
                let pt = layout.plaintext_range(k);
                let mut out = vec![0u8; (pt.end - pt.start) as usize];
                assert!(
                    sealed_dec.decrypt_chunks(k, chunk, &mut out).is_err(),
                    "flip at {pos}: batch {k}"
                );
                let fresh = PayloadDecryptor::new(&f.file_key, &nonce, payload.len() as u64).unwrap();
                assert!(fresh.decrypt_chunks_hashed(k, chunk, &mut out).is_err());
            }
            payload[pos] ^= pattern;
        }
    }
    assert_eq!(covered_tags, tags, "every tag byte was flipped");

    // Through every API, including the sequential StreamDecryptor: per chunk, its first byte,
    // its last plaintext byte, and the first and last byte of its tag.
    for k in 0..layout.chunk_count() {
        let r = layout.chunk_range(k);
        let (start, end) = (r.start as usize, r.end as usize);
        for pos in [start, end - 17, end - 16, end - 1] {
            for pattern in PATTERNS {
                payload[pos] ^= pattern;
                f.assert_rejected(
                    &payload,
                    &format!("chunk {k} flip at {pos} ^ {pattern:#04x}"),
                    pattern == 0x01,
                );
                payload[pos] ^= pattern;
            }
        }
    }
    assert!(payload == f.payload(0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Flips at sampled positions of the many-chunk payload, with any non-zero pattern.
    #[test]
    fn many_chunk_sampled_flips_rejected(pos in 0..Layout::for_plaintext(MANY as u64).payload_len() as usize, pattern in 1u8..=255) {
        let f = many_fixture();
        let mut payload = f.payload(0).to_vec();
        payload[pos] ^= pattern;
        f.assert_rejected(&payload, &format!("sampled flip at {pos} ^ {pattern:#04x}"), true);
        if pos >= NONCE_LEN {
            let layout = f.layout();
            let k = (pos - NONCE_LEN) as u64 / ENCRYPTED_CHUNK_LEN as u64;
            let r = layout.chunk_range(k);
            let mut out = vec![0u8; CHUNK_LEN];
            let dec = f.message.payload_decryptor(1).unwrap();
            prop_assert!(dec.decrypt_chunk(k, &payload[r.start as usize..r.end as usize], &mut out).is_err());
        }
    }

    /// Truncation at sampled byte positions of the many-chunk payload.
    #[test]
    fn many_chunk_sampled_truncations_rejected(cut in 0..Layout::for_plaintext(MANY as u64).payload_len() as usize) {
        let f = many_fixture();
        f.assert_rejected(&f.payload(0)[..cut], &format!("truncated to {cut}"), true);
    }
}

/// One many-chunk fixture shared by the proptest cases (building it encrypts ~650 KiB).
fn many_fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| Fixture::new(MANY))
}

// ---------------------------------------------------------------------------------------------
// Truncation, reordering, substitution, extension.

#[test]
fn truncation_rejected_at_every_chunk_boundary() {
    for size in EXHAUSTIVE_SIZES.into_iter().chain([MANY]) {
        let f = if size == MANY { None } else { Some(Fixture::new(size)) };
        let f = f.as_ref().unwrap_or_else(|| many_fixture());
        let payload = f.payload(0);
        let layout = f.layout();
        let mut cuts: Vec<usize> = (0..layout.chunk_count())
            .map(|k| layout.chunk_range(k).start as usize)
            .collect();
        // Around the nonce, inside the last tag, one byte short.
        cuts.extend([0, 1, NONCE_LEN - 1, payload.len() - 16, payload.len() - 1]);
        if payload.len() > NONCE_LEN + ENCRYPTED_CHUNK_LEN {
            cuts.extend([NONCE_LEN + ENCRYPTED_CHUNK_LEN - 1, NONCE_LEN + ENCRYPTED_CHUNK_LEN + 1]);
        }
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            assert!(cut < payload.len());
            f.assert_rejected(&payload[..cut], &format!("size {size}: truncated to {cut}"), true);
        }
    }
}

#[test]
fn reordered_chunks_rejected() {
    // 65537: a full chunk and a 1-byte chunk, swapped.
    let f = Fixture::new(CHUNK_LEN + 1);
    let swapped = [&f.payload(0)[..NONCE_LEN], f.chunk(0, 1), f.chunk(0, 0)].concat();
    assert_eq!(swapped.len(), f.payload(0).len());
    f.assert_rejected(&swapped, "65537: chunks swapped", true);

    let f = many_fixture();
    let n = f.layout().chunk_count();
    let orders: [&[u64]; 5] = [
        &[1, 0, 2, 3, 4, 5],
        &[0, 1, 2, 4, 3, 5],
        &[4, 3, 2, 1, 0, 5],
        &[0, 1, 2, 3, 5, 4],
        &[1, 2, 3, 4, 0, 5],
    ];
    for order in orders {
        assert_eq!(order.len() as u64, n);
        let mut reordered = f.payload(0)[..NONCE_LEN].to_vec();
        for &k in order {
            reordered.extend_from_slice(f.chunk(0, k));
        }
        assert_eq!(reordered.len(), f.payload(0).len());
        f.assert_rejected(&reordered, &format!("many: order {order:?}"), true);
    }
    // A chunk duplicated over its neighbour.
    let mut dup = f.payload(0)[..NONCE_LEN].to_vec();
    for k in [0, 1, 1, 3, 4, 5] {
        dup.extend_from_slice(f.chunk(0, k));
    }
    f.assert_rejected(&dup, "many: chunk 1 duplicated over chunk 2", true);
}

#[test]
fn substituted_chunks_rejected() {
    for size in [0, 1, CHUNK_LEN, CHUNK_LEN + 1, MANY] {
        let own = if size == MANY { None } else { Some(Fixture::new(size)) };
        let f = own.as_ref().unwrap_or_else(|| many_fixture());
        let other = Fixture::new(size); // another message: another file key
        let layout = f.layout();
        for k in 0..layout.chunk_count() {
            let r = layout.chunk_range(k);
            let (start, end) = (r.start as usize, r.end as usize);
            // From another message.
            let mut altered = f.payload(0).to_vec();
            altered[start..end].copy_from_slice(other.chunk(0, k));
            f.assert_rejected(&altered, &format!("size {size}: chunk {k} from another message"), true);
            // From the other payload of the same message (same file key, other nonce).
            altered[start..end].copy_from_slice(f.chunk(1, k));
            f.assert_rejected(&altered, &format!("size {size}: chunk {k} from another payload"), true);
        }
        // The other payload's nonce in front of this payload's chunks.
        let mut altered = f.payload(0).to_vec();
        altered[..NONCE_LEN].copy_from_slice(&f.payload(1)[..NONCE_LEN]);
        f.assert_rejected(&altered, &format!("size {size}: nonce from another payload"), true);
        // Whole payloads in the wrong slot of the message.
        assert!(f.message.decrypt_payload(1, f.payload(1)).is_err());
        assert!(f.message.decrypt_payload(2, f.payload(0)).is_err());
        assert!(f.message.decrypt_payload(1, other.payload(0)).is_err());
        assert!(f.message.decrypt_payload(0, f.payload(0)).is_err());
    }
}

#[test]
fn appended_bytes_rejected() {
    for size in EXHAUSTIVE_SIZES.into_iter().chain([MANY]) {
        let own = if size == MANY { None } else { Some(Fixture::new(size)) };
        let f = own.as_ref().unwrap_or_else(|| many_fixture());
        let payload = f.payload(0);
        let last = f.chunk(0, f.layout().chunk_count() - 1);
        let tails: [(&str, Vec<u8>); 6] = [
            ("one zero byte", vec![0]),
            ("16 random bytes", random_bytes(16)),
            ("17 random bytes", random_bytes(17)),
            ("a copy of the last chunk", last.to_vec()),
            ("a full random chunk", random_bytes(ENCRYPTED_CHUNK_LEN)),
            (
                "the other payload's last chunk",
                f.chunk(1, f.layout().chunk_count() - 1).to_vec(),
            ),
        ];
        for (what, tail) in tails {
            let extended = [payload, &tail].concat();
            f.assert_rejected(&extended, &format!("size {size}: appended {what}"), true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batches vs one-shot.

/// Deterministic filler so that proptest only has to generate a seed, not megabytes.
fn filled(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random sizes and contents encrypt identically in random batches of whole chunks and in
    /// one shot, with the same chunk hashes, and decrypt back in other random batches, by
    /// random access from the end, and as a stream in random pieces.
    #[test]
    fn batches_match_one_shot(
        full_chunks in 0usize..4,
        tail in prop_oneof![Just(0usize), Just(1), Just(CHUNK_LEN - 1), Just(CHUNK_LEN), 0..=CHUNK_LEN],
        seed in any::<u64>(),
        nonce in any::<[u8; NONCE_LEN]>(),
        key in any::<[u8; 16]>(),
        enc_splits in proptest::collection::vec(any::<bool>(), 5),
        dec_splits in proptest::collection::vec(any::<bool>(), 5),
        piece in 1usize..100_000,
    ) {
        let size = full_chunks * CHUNK_LEN + tail;
        let plaintext = filled(size, seed);
        let key = FileKey::from_bytes(key);
        let enc = PayloadEncryptor::new(&key, nonce, size as u64);
        let layout = enc.layout();
        let one_shot = enc.encrypt_all(&plaintext).unwrap();
        prop_assert_eq!(one_shot.len() as u64, layout.payload_len());
        let chunks = layout.chunk_count();

        // Batch boundaries: chunk k starts a new batch when splits[k - 1] is set.
        let batches = |splits: &[bool]| {
            let mut starts = vec![0u64];
            starts.extend((1..chunks).filter(|&k| splits[(k - 1) as usize]));
            starts.push(chunks);
            starts
        };

        let mut batched = vec![0u8; one_shot.len()];
        batched[..NONCE_LEN].copy_from_slice(enc.nonce());
        let mut hashes = Vec::new();
        for pair in batches(&enc_splits).windows(2) {
            let (first, end) = (pair[0], pair[1]);
            let pt = layout.plaintext_range(first).start as usize..layout.plaintext_range(end - 1).end as usize;
            let ct = layout.chunk_range(first).start as usize..layout.chunk_range(end - 1).end as usize;
            hashes.extend(enc.encrypt_chunks_hashed(first, &plaintext[pt], &mut batched[ct]).unwrap());
        }
        prop_assert!(batched == one_shot, "batched encryption differs");
        let mut whole_ct = vec![0u8; one_shot.len() - NONCE_LEN];
        let whole_hashes = enc.encrypt_chunks_hashed(0, &plaintext, &mut whole_ct).unwrap();
        prop_assert_eq!(&whole_hashes, &hashes);
        prop_assert!(whole_ct[..] == one_shot[NONCE_LEN..]);

        let dec = PayloadDecryptor::new(&key, &nonce, one_shot.len() as u64).unwrap();
        prop_assert_eq!(dec.layout(), layout);
        let mut out = vec![0u8; size];
        for pair in batches(&dec_splits).windows(2) {
            let (first, end) = (pair[0], pair[1]);
            let pt = layout.plaintext_range(first).start as usize..layout.plaintext_range(end - 1).end as usize;
            let ct = layout.chunk_range(first).start as usize..layout.chunk_range(end - 1).end as usize;
            dec.decrypt_chunks(first, &one_shot[ct], &mut out[pt]).unwrap();
        }
        prop_assert!(out == plaintext, "batched decryption differs");
        prop_assert!(decrypt_backwards(&dec, &one_shot) == plaintext, "random access differs");
        let streamed = stream_decrypt(&key, one_shot.len() as u64, &one_shot, piece).unwrap();
        prop_assert!(streamed == plaintext, "stream differs");
    }
}
