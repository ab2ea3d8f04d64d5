//! The decryptor on arbitrary input: an age file (header ‖ payload) opened with a fixed plain
//! X25519 identity and a fixed Sealpost identity with its server share, the payload fed to the
//! streaming decryptor in pieces whose sizes the fuzzer picks, and to the random-access
//! decryptor from the last chunk. Must never panic, and must never report success for a
//! payload whose final chunk did not verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_crypto::age_x25519::X25519Identity;
use sealpost_crypto::header::Header;
use sealpost_crypto::identity::{Identity, unwrap_file_key};
use sealpost_crypto::recipient::{MessageId, RecipientSecretKey, SealpostIdentity};
use sealpost_crypto::secrets::{FileKey, ServerShare};
use sealpost_crypto::stream::{NONCE_LEN, PayloadDecryptor, StreamDecryptor};

fuzz_target!(|data: &[u8]| {
    let (split_seed, data) = match data.split_first() {
        Some((seed, rest)) => (*seed as usize, rest),
        None => return,
    };
    let x25519 = X25519Identity::from_secret([7; 32]);
    let key = RecipientSecretKey::from_bytes([9; 32]);
    let share = ServerShare::from_bytes([3; 32]);
    let sealpost = SealpostIdentity { key: &key, msg_id: MessageId([5; 16]), server_share: &share };

    let Ok((header, used)) = Header::parse(data) else { return };
    let payload = &data[used..];
    for identity in [&x25519 as &dyn Identity, &sealpost] {
        if let Ok(file_key) = unwrap_file_key(&header, identity) {
            decrypt_payload(&file_key, payload, split_seed);
        }
    }
    // Also drive the payload decryptors with a fixed key, so the fuzzer reaches them without
    // having to forge a header MAC.
    decrypt_payload(&FileKey::from_bytes([1; 16]), payload, split_seed);
});

fn decrypt_payload(file_key: &FileKey, payload: &[u8], split_seed: usize) {
    if let Ok(mut stream) = StreamDecryptor::new(FileKey::from_bytes(*file_key.expose_secret()), payload.len() as u64) {
        let mut out = Vec::new();
        let step = 1 + split_seed * 257;
        let mut ok = true;
        for piece in payload.chunks(step) {
            if stream.push(piece, &mut out).is_err() {
                ok = false;
                break;
            }
        }
        if ok && stream.finish().is_ok() {
            // Success means a verified final chunk: the released plaintext is the whole payload.
            let layout = sealpost_crypto::stream::Layout::for_payload_len(payload.len() as u64).expect("length ok");
            assert!(layout.is_well_formed());
            assert_eq!(out.len() as u64, layout.plaintext_len());
        }
    }
    if payload.len() >= NONCE_LEN {
        let nonce: [u8; NONCE_LEN] = payload[..NONCE_LEN].try_into().expect("16 bytes");
        if let Ok(dec) = PayloadDecryptor::new(file_key, &nonce, payload.len() as u64) {
            let layout = dec.layout();
            let last = layout.chunk_count() - 1;
            let range = layout.chunk_range(last);
            let mut out = vec![0u8; 65536];
            let _ = dec.decrypt_chunk(last, &payload[range.start as usize..range.end as usize], &mut out);
        }
    }
}
